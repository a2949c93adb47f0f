"""Collate functions that batch views and images, and explain size mismatches."""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

_SIZE_HINT = (
    "Set `image_size` on the datamodule so that images are resized to a common "
    "size, or use a transform that crops to a fixed size."
)


def stack_images(images: Sequence[Tensor], what: str = "images") -> Tensor:
    """Stack equally sized tensors, or raise an error that says how to fix sizes.

    Args:
        images: ``(C, H, W)`` tensors.
        what: How to call them in the error message.

    Returns:
        The ``(B, C, H, W)`` batch.

    Raises:
        ValueError: If the shapes differ, naming the first mismatch.

    Example:
        >>> stack_images([torch.zeros(3, 8, 8), torch.ones(3, 8, 8)]).shape
        torch.Size([2, 3, 8, 8])
    """
    first = images[0].shape
    for index, image in enumerate(images):
        if image.shape != first:
            raise ValueError(
                f"Cannot batch {what} of different sizes: sample 0 has shape "
                f"{tuple(first)} but sample {index} has {tuple(image.shape)}. "
                f"{_SIZE_HINT}"
            )
    return torch.stack(list(images))


def _targets(batch: Sequence[tuple[Any, int]]) -> Tensor:
    return torch.tensor([target for _, target in batch], dtype=torch.long)


def collate_views(batch: Sequence[tuple[Any, int]]) -> tuple[list[Tensor], Tensor]:
    """Batch ``(views, target)`` samples into ``(views, targets)``.

    Views are batched per position, so multi-crop transforms whose views differ in
    resolution (e.g. two global and several local crops) work as long as each
    position has one size.

    Args:
        batch: Samples of a list of V ``(C, H, W)`` view tensors (a single tensor
            counts as one view) and an int target.

    Returns:
        ``views``, a list of V ``(B, C, H, W)`` tensors, and ``(B,)`` long
        ``targets``.

    Raises:
        ValueError: If samples have different numbers of views, or the views at one
            position differ in size.

    Example:
        >>> sample = ([torch.zeros(3, 32, 32), torch.zeros(3, 16, 16)], 4)
        >>> views, targets = collate_views([sample, sample])
        >>> [tuple(view.shape) for view in views], targets
        ([(2, 3, 32, 32), (2, 3, 16, 16)], tensor([4, 4]))
    """
    samples = [
        [views] if isinstance(views, Tensor) else list(views) for views, _ in batch
    ]
    num_views = len(samples[0])
    for index, sample in enumerate(samples):
        if len(sample) != num_views:
            raise ValueError(
                "The transform must return the same number of views for every image; "
                f"sample 0 has {num_views} but sample {index} has {len(sample)}."
            )

    views = [
        stack_images([sample[position] for sample in samples], f"view {position}")
        for position in range(num_views)
    ]
    return views, _targets(batch)


def collate_images(batch: Sequence[tuple[Tensor, int]]) -> tuple[Tensor, Tensor]:
    """Batch ``(image, target)`` samples into ``(images, targets)``.

    Args:
        batch: Samples of a ``(C, H, W)`` tensor and an int target.

    Returns:
        ``(B, C, H, W)`` images and ``(B,)`` long targets.

    Raises:
        ValueError: If the images differ in size.

    Example:
        >>> images, targets = collate_images([(torch.zeros(1, 28, 28), -1)] * 3)
        >>> images.shape, targets
        (torch.Size([3, 1, 28, 28]), tensor([-1, -1, -1]))
    """
    return stack_images([image for image, _ in batch]), _targets(batch)
