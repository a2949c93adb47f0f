"""Base of the batched recipes: one batch in, a list of views out."""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lightning_ssl.transforms._utils import to_float_images


class BatchedMultiViewTransform(nn.Module):
    """Make a list of views of a `(B, C, H, W)` batch, one transform per view.

    The batched counterpart of lightly's ``MultiViewTransform``: where lightly
    maps one image to ``[view_0, view_1, ...]`` in the loader workers, this maps
    a batch to ``[x0, x1, ...]``, each a `(B, C, H', W')` batch, on the batch's
    device. uint8 input is converted to float once and shared by the views.
    Runs without autograd.

    Args:
        transforms: One batched transform per view, each called as
            ``transform(images, generator=generator)``; the same module may be
            listed several times.

    Example:
        >>> from lightning_ssl.transforms import BatchedViewTransform
        >>> view = BatchedViewTransform(input_size=16)
        >>> transform = BatchedMultiViewTransform([view, view, view])
        >>> images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
        >>> [tuple(x.shape) for x in transform(images)]
        [(4, 3, 16, 16), (4, 3, 16, 16), (4, 3, 16, 16)]
    """

    def __init__(self, transforms: Sequence[nn.Module]) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(transforms)

    @torch.no_grad()
    def forward(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> list[Tensor]:
        """Make the views of a batch.

        Args:
            images: `(B, C, H, W)` uint8 batch in ``[0, 255]`` or float batch in
                ``[0, 1]``, on any device.
            generator: Source of randomness; None uses torch's global one. A
                CPU generator also seeds batches on other devices.

        Returns:
            The views, float `(B, C, H', W')` batches, in the order of
            ``transforms``.
        """
        images = to_float_images(images)
        return [transform(images, generator=generator) for transform in self.transforms]
