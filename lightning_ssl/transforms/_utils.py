"""Helpers shared by the batched transforms: input checks, dtype, random draws."""

from collections.abc import Callable

import torch
from torch import Tensor

from lightning_ssl.validation import check_range

# ITU-R BT.601 luma weights, the ones torchvision and PIL use for grayscale.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def to_float_images(images: Tensor) -> Tensor:
    """Check a `(B, C, H, W)` batch and return it as floats in ``[0, 1]``.

    uint8 batches are divided by 255 into float32; floating batches are returned
    as they are and are assumed to hold values in ``[0, 1]``.

    Raises:
        ValueError: If ``images`` is not 4-dimensional.
        TypeError: If ``images`` is neither uint8 nor floating point.

    Example:
        >>> to_float_images(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)).max()
        tensor(1.)
    """
    if images.ndim != 4:
        raise ValueError(
            "`images` must be a (B, C, H, W) batch, got a tensor of shape "
            f"{tuple(images.shape)}."
        )
    if images.dtype == torch.uint8:
        return images.to(torch.float32).div_(255)
    if not images.is_floating_point():
        raise TypeError(
            "`images` must be uint8 in [0, 255] or floating point in [0, 1], got "
            f"dtype {images.dtype}."
        )
    return images


def check_channels(images: Tensor, allowed: tuple[int, ...]) -> None:
    """Raise unless the batch has one of the ``allowed`` channel counts."""
    if images.shape[1] not in allowed:
        raise ValueError(
            f"`images` must have {' or '.join(map(str, allowed))} channels "
            f"(B, C, H, W), got shape {tuple(images.shape)}."
        )


def check_interval(
    name: str,
    value: tuple[float, float],
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> tuple[float, float]:
    """Check a ``(min, max)`` pair with ``min <= max``, both within bounds.

    Returns:
        The pair as a tuple of two floats.

    Example:
        >>> check_interval("sigmas", (2.0, 0.1), low=0.0)
        Traceback (most recent call last):
        ...
        ValueError: `sigmas` must be a (min, max) pair with min <= max, got (2.0, 0.1).
    """
    if len(value) != 2 or value[0] > value[1]:
        raise ValueError(
            f"`{name}` must be a (min, max) pair with min <= max, got {value}."
        )
    for bound in value:
        check_range(name, bound, low=low, high=high, low_open=low_open)
    return float(value[0]), float(value[1])


def check_probability(name: str, value: float) -> float:
    """Check that ``value`` is a probability in ``[0, 1]`` and return it."""
    check_range(name, value, low=0.0, high=1.0)
    return float(value)


def check_size(name: str, value: int | tuple[int, int]) -> tuple[int, int]:
    """Check an output size, ``side`` or ``(height, width)``, and return the pair.

    Example:
        >>> check_size("size", 32)
        (32, 32)
        >>> check_size("size", (0, 8))
        Traceback (most recent call last):
        ...
        ValueError: `size` must be a positive int or a (height, width) pair of \
positive ints, got (0, 8).
    """
    pair = (value, value) if isinstance(value, int) else tuple(value)
    valid = len(pair) == 2 and all(
        isinstance(side, int) and not isinstance(side, bool) and side >= 1
        for side in pair
    )
    if not valid:
        raise ValueError(
            f"`{name}` must be a positive int or a (height, width) pair of positive "
            f"ints, got {value!r}."
        )
    return int(pair[0]), int(pair[1])


def random_uniform(
    size: tuple[int, ...],
    low: float,
    high: float,
    generator: torch.Generator | None,
    device: torch.device,
) -> Tensor:
    """Draw float32 values uniformly from ``[low, high)`` onto ``device``.

    The draw happens on the generator's device (the batch's device without a
    generator), so that a CPU generator seeds a CUDA batch reproducibly.
    """
    source = generator.device if generator is not None else device
    values = torch.rand(size, generator=generator, device=source)
    values = values.to(device, non_blocking=True)
    return values.mul_(high - low).add_(low)


def random_mask(
    batch_size: int,
    probability: float,
    generator: torch.Generator | None,
    device: torch.device,
) -> Tensor:
    """Draw a `(B,)` bool mask that is True with ``probability`` for each sample."""
    return random_uniform((batch_size,), 0.0, 1.0, generator, device) < probability


def random_permutation(size: int, generator: torch.Generator | None) -> list[int]:
    """Draw a random permutation of ``range(size)`` as a Python list."""
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.randperm(size, generator=generator, device=device).tolist()


def apply_to_chosen(
    images: Tensor,
    chosen: Tensor,
    function: Callable[[Tensor], Tensor],
    inplace: bool,
) -> Tensor:
    """Replace the samples selected by a `(B,)` bool mask with ``function`` of them.

    Only the chosen samples are gathered and computed, which saves work when a
    transform is applied with a small probability.

    Args:
        images: `(B, C, H, W)` float batch.
        chosen: `(B,)` bool mask.
        function: Maps a `(B', C, H, W)` batch to one of the same shape.
        inplace: Write into ``images`` instead of a copy.

    Returns:
        The batch with the chosen samples replaced.
    """
    if not inplace:
        images = images.clone()
    indices = chosen.to(images.device).nonzero().squeeze(1)
    if len(indices) > 0:
        images.index_copy_(0, indices, function(images.index_select(0, indices)))
    return images
