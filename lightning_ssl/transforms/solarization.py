"""Random solarisation of a batch, decided for each sample."""

from typing import NamedTuple

import torch
from torch import Tensor, nn

from lightning_ssl.transforms._utils import (
    apply_to_chosen,
    check_probability,
    random_mask,
    to_float_images,
)
from lightning_ssl.validation import check_range


class SolarizationParams(NamedTuple):
    """Which samples of a batch are solarised: a `(B,)` bool tensor."""

    solarize: Tensor


class BatchedRandomSolarization(nn.Module):
    """Invert the pixels at or above ``threshold`` with probability ``p`` per sample.

    A solarised pixel ``x >= threshold`` becomes ``1 - x``, as PIL's
    ``ImageOps.solarize`` (used by lightly's ``RandomSolarization``) does on
    ``[0, 255]``; the default threshold 0.5 is its 128 on the ``[0, 1]`` scale.

    Args:
        p: Probability that a sample is solarised.
        threshold: Threshold in ``[0, 1]``.
        inplace: Write the result into float input batches instead of a copy.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        >>> solarize = BatchedRandomSolarization(p=1.0)
        >>> solarize(torch.tensor([0.2, 0.5, 0.9]).view(1, 1, 1, 3)).flatten()
        tensor([0.2000, 0.5000, 0.1000])
    """

    def __init__(
        self, p: float = 0.5, threshold: float = 0.5, inplace: bool = False
    ) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        check_range("threshold", threshold, low=0.0, high=1.0)
        self.threshold = float(threshold)
        self.inplace = inplace

    def sample_params(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> SolarizationParams:
        """Decide for each sample of a `(B, C, H, W)` batch whether to solarise it.

        Args:
            images: The batch; only its size and device are used.
            generator: Source of randomness; None uses torch's global one.

        Returns:
            The `(B,)` decisions.
        """
        return SolarizationParams(
            random_mask(len(images), self.p, generator, images.device)
        )

    def apply_params(self, images: Tensor, params: SolarizationParams) -> Tensor:
        """Solarise the chosen samples of a `(B, C, H, W)` batch.

        Args:
            images: uint8 or float batch.
            params: Decisions from :meth:`sample_params`.

        Returns:
            The float batch, same shape.
        """
        images = to_float_images(images)
        return apply_to_chosen(images, params.solarize, self._solarize, self.inplace)

    def forward(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Solarise each sample of a `(B, C, H, W)` batch with probability ``p``.

        Args:
            images: uint8 batch in ``[0, 255]`` or float batch in ``[0, 1]``.
            generator: Source of randomness; None uses torch's global one.

        Returns:
            The float batch, same shape.
        """
        images = to_float_images(images)
        if self.p == 0:
            return images
        return self.apply_params(images, self.sample_params(images, generator))

    def _solarize(self, images: Tensor) -> Tensor:
        """Invert every pixel at or above the threshold."""
        return torch.where(images >= self.threshold, 1 - images, images)

    def extra_repr(self) -> str:
        """Arguments shown by ``print(module)``."""
        return f"p={self.p}, threshold={self.threshold}, inplace={self.inplace}"
