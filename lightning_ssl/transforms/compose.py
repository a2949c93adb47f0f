"""Chain of batched ops sharing one random generator."""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lightning_ssl.transforms._utils import to_float_images


class BatchedCompose(nn.Module):
    """Apply batched ops one after the other to a `(B, C, H, W)` batch.

    Every op is called as ``op(images, generator=generator)``, like the ops of
    this package, so that one generator seeds the whole chain.

    Args:
        ops: The ops, in order.

    Example:
        >>> from lightning_ssl.transforms import (
        ...     BatchedRandomHorizontalFlip,
        ...     BatchedRandomResizedCrop,
        ... )
        >>> chain = BatchedCompose(
        ...     [BatchedRandomResizedCrop(16), BatchedRandomHorizontalFlip()]
        ... )
        >>> images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
        >>> chain(images, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([4, 3, 16, 16])
    """

    def __init__(self, ops: Sequence[nn.Module]) -> None:
        super().__init__()
        self.ops = nn.ModuleList(ops)

    def forward(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Run the ops on a batch.

        Args:
            images: uint8 batch in ``[0, 255]`` or float batch in ``[0, 1]``.
            generator: Source of randomness; None uses torch's global one.

        Returns:
            The output of the last op (the float input if there are none).
        """
        images = to_float_images(images)
        for op in self.ops:
            images = op(images, generator=generator)
        return images
