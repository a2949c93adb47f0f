"""Random horizontal and vertical flips of a batch, decided for each sample."""

from typing import NamedTuple

import torch
from torch import Tensor, nn

from lightning_ssl.transforms._utils import (
    apply_to_chosen,
    check_probability,
    random_mask,
    to_float_images,
)


class FlipParams(NamedTuple):
    """Which samples of a batch are flipped: a `(B,)` bool tensor."""

    flip: Tensor


class _BatchedRandomFlip(nn.Module):
    """Flip each sample along ``dim`` with probability ``p``."""

    dim: int

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.inplace = inplace

    def sample_params(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> FlipParams:
        """Decide for each sample of a `(B, C, H, W)` batch whether to flip it.

        Args:
            images: The batch; only its size and device are used.
            generator: Source of randomness; None uses torch's global one.

        Returns:
            The `(B,)` decisions.
        """
        return FlipParams(random_mask(len(images), self.p, generator, images.device))

    def apply_params(self, images: Tensor, params: FlipParams) -> Tensor:
        """Flip the chosen samples of a `(B, C, H, W)` batch.

        Args:
            images: uint8 or float batch.
            params: Decisions from :meth:`sample_params`.

        Returns:
            The float batch, same shape.
        """
        images = to_float_images(images)
        return apply_to_chosen(
            images, params.flip, lambda chosen: chosen.flip(self.dim), self.inplace
        )

    def forward(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Flip each sample of a `(B, C, H, W)` batch with probability ``p``.

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


class BatchedRandomHorizontalFlip(_BatchedRandomFlip):
    """Mirror each image left to right with probability ``p``, drawn per sample.

    Args:
        p: Probability that a sample is flipped.
        inplace: Write the result into float input batches instead of a copy.

    Raises:
        ValueError: If ``p`` is not in ``[0, 1]``.

    Example:
        >>> flip = BatchedRandomHorizontalFlip(p=1.0)
        >>> images = torch.arange(4.0).view(1, 1, 1, 4) / 4
        >>> flip(images)
        tensor([[[[0.7500, 0.5000, 0.2500, 0.0000]]]])
    """

    dim = -1


class BatchedRandomVerticalFlip(_BatchedRandomFlip):
    """Mirror each image top to bottom with probability ``p``, drawn per sample.

    Args:
        p: Probability that a sample is flipped.
        inplace: Write the result into float input batches instead of a copy.

    Raises:
        ValueError: If ``p`` is not in ``[0, 1]``.

    Example:
        >>> flip = BatchedRandomVerticalFlip(p=1.0)
        >>> images = torch.arange(2.0).view(1, 1, 2, 1) / 2
        >>> flip(images).flatten()
        tensor([0.5000, 0.0000])
    """

    dim = -2
