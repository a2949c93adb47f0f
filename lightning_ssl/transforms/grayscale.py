"""Random conversion to grayscale of a batch, decided for each sample."""

from typing import NamedTuple

import torch
from torch import Tensor, nn

from lightning_ssl.transforms._utils import (
    LUMA_WEIGHTS,
    apply_to_chosen,
    check_channels,
    check_probability,
    random_mask,
    to_float_images,
)


def rgb_to_grayscale(images: Tensor) -> Tensor:
    """Luma of a `(B, 3, H, W)` float batch, `(B, 1, H, W)`; 1 channel is kept.

    Uses the ITU-R BT.601 weights, like torchvision and PIL.

    Args:
        images: Float batch with 1 or 3 channels.

    Returns:
        The `(B, 1, H, W)` grayscale batch.

    Example:
        >>> rgb_to_grayscale(torch.ones(2, 3, 4, 4)).shape
        torch.Size([2, 1, 4, 4])
    """
    if images.shape[1] == 1:
        return images
    red, green, blue = images.unbind(dim=1)
    gray = torch.mul(red, LUMA_WEIGHTS[0])
    gray.add_(green, alpha=LUMA_WEIGHTS[1]).add_(blue, alpha=LUMA_WEIGHTS[2])
    return gray.unsqueeze(1)


class GrayscaleParams(NamedTuple):
    """Which samples of a batch become grayscale: a `(B,)` bool tensor."""

    gray: Tensor


class BatchedRandomGrayscale(nn.Module):
    """Turn each image to grayscale with probability ``p``, drawn per sample.

    The luma is copied to the three channels, so the output keeps `(B, 3, H, W)`.
    One-channel batches are returned unchanged (as floats).

    Args:
        p: Probability that a sample becomes grayscale.
        inplace: Write the result into float input batches instead of a copy.

    Raises:
        ValueError: If ``p`` is not in ``[0, 1]``.

    Example:
        >>> gray = BatchedRandomGrayscale(p=1.0)
        >>> images = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
        >>> gray(images).flatten()
        tensor([0.2990, 0.2990, 0.2990])
    """

    def __init__(self, p: float = 0.1, inplace: bool = False) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.inplace = inplace

    def sample_params(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> GrayscaleParams:
        """Decide for each sample of a `(B, C, H, W)` batch whether to convert it.

        Args:
            images: The batch; only its size and device are used.
            generator: Source of randomness; None uses torch's global one.

        Returns:
            The `(B,)` decisions.
        """
        return GrayscaleParams(
            random_mask(len(images), self.p, generator, images.device)
        )

    def apply_params(self, images: Tensor, params: GrayscaleParams) -> Tensor:
        """Convert the chosen samples of a `(B, C, H, W)` batch.

        Args:
            images: uint8 or float batch with 1 or 3 channels.
            params: Decisions from :meth:`sample_params`.

        Returns:
            The float batch, same shape.
        """
        images = to_float_images(images)
        check_channels(images, (1, 3))
        if images.shape[1] == 1:
            return images
        return apply_to_chosen(
            images,
            params.gray,
            lambda chosen: rgb_to_grayscale(chosen).expand_as(chosen),
            self.inplace,
        )

    def forward(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Turn each sample of a `(B, C, H, W)` batch to grayscale with prob. ``p``.

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

    def extra_repr(self) -> str:
        """Arguments shown by ``print(module)``."""
        return f"p={self.p}, inplace={self.inplace}"
