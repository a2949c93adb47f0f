"""Colour jitter of a batch with brightness, contrast, saturation, hue per sample."""

from typing import NamedTuple

import torch
from torch import Tensor, nn

from lightning_ssl.transforms._utils import (
    check_channels,
    check_interval,
    check_probability,
    random_mask,
    random_permutation,
    random_uniform,
    to_float_images,
)
from lightning_ssl.transforms.grayscale import rgb_to_grayscale
from lightning_ssl.validation import check_range

BRIGHTNESS, CONTRAST, SATURATION, HUE = 0, 1, 2, 3
_OP_NAMES = ("brightness", "contrast", "saturation", "hue")

# Channel offsets of the HSV-to-RGB formula f(n) = V - C * clamp(min(k, 4 - k),
# 0, 1) with k = (n + 6 * hue) mod 6, for n = 5 (red), 3 (green), 1 (blue).
_HSV_CHANNEL_OFFSETS = (5.0, 3.0, 1.0)


def adjust_brightness(images: Tensor, factors: Tensor, inplace: bool = False) -> Tensor:
    """Scale each float image by its factor, clipped to ``[0, 1]``.

    Args:
        images: `(B, C, H, W)` float batch in ``[0, 1]``.
        factors: `(B,)` non-negative factors; 1 keeps an image.
        inplace: Overwrite ``images`` with the result.

    Returns:
        The adjusted batch.

    Example:
        >>> adjust_brightness(torch.full((2, 3, 1, 1), 0.5), torch.tensor([0.5, 3.0]))
        ... # doctest: +NORMALIZE_WHITESPACE
        tensor([[[[0.2500]], [[0.2500]], [[0.2500]]],
                [[[1.0000]], [[1.0000]], [[1.0000]]]])
    """
    factors = factors.view(-1, 1, 1, 1)
    scaled = images.mul_(factors) if inplace else images.mul(factors)
    return scaled.clamp_(0, 1)


def adjust_contrast(images: Tensor, factors: Tensor, inplace: bool = False) -> Tensor:
    """Blend each float image with its mean luma, clipped to ``[0, 1]``.

    Args:
        images: `(B, C, H, W)` float batch in ``[0, 1]`` with 1 or 3 channels.
        factors: `(B,)` non-negative factors; 1 keeps an image, 0 makes it flat.
        inplace: Overwrite ``images`` with the result.

    Returns:
        The adjusted batch.

    Example:
        >>> images = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2)
        >>> adjust_contrast(images, torch.tensor([0.5])).flatten()
        tensor([0.2500, 0.7500])
    """
    mean = rgb_to_grayscale(images).mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
    return _blend(images, mean, factors, inplace)


def adjust_saturation(images: Tensor, factors: Tensor, inplace: bool = False) -> Tensor:
    """Blend each float image with its own grayscale, clipped to ``[0, 1]``.

    One-channel batches are returned unchanged.

    Args:
        images: `(B, C, H, W)` float batch in ``[0, 1]`` with 1 or 3 channels.
        factors: `(B,)` non-negative factors; 1 keeps an image, 0 makes it gray.
        inplace: Overwrite ``images`` with the result.

    Returns:
        The adjusted batch.

    Example:
        >>> images = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
        >>> adjust_saturation(images, torch.tensor([0.0])).flatten()
        tensor([0.2990, 0.2990, 0.2990])
    """
    if images.shape[1] == 1:
        return images
    return _blend(images, rgb_to_grayscale(images), factors, inplace)


def adjust_hue(images: Tensor, shifts: Tensor, inplace: bool = False) -> Tensor:
    """Rotate the HSV hue of each float RGB image by its shift, in turns.

    Equivalent to converting to HSV, adding the shift to the hue modulo 1 and
    converting back, as torchvision does, but without building the HSV image:
    value and chroma do not change, so each channel is rebuilt from them and the
    shifted hue directly. One-channel batches are returned unchanged.

    Args:
        images: `(B, C, H, W)` float batch in ``[0, 1]`` with 1 or 3 channels.
        shifts: `(B,)` shifts in ``[-0.5, 0.5]``; 0 keeps an image.
        inplace: Unused: the result is always a new tensor. Accepted so that the
            four adjustments share a signature.

    Returns:
        The adjusted batch.

    Example:
        >>> red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
        >>> adjust_hue(red, torch.tensor([1 / 3])).flatten()  # red -> green
        tensor([0., 1., 0.])
    """
    if images.shape[1] == 1:
        return images
    red, green, blue = images.unbind(dim=1)
    value = images.amax(dim=1)  # (B, H, W)
    chroma = value - images.amin(dim=1)

    # Hue in sextants, [-1, 5), from whichever channel is the largest. Gray
    # pixels (chroma 0) get any hue: they come back as their value anyway.
    hue = torch.where(
        value == green,
        (blue - red).add_(chroma, alpha=2),
        (red - green).add_(chroma, alpha=4),
    )
    hue = torch.where(value == red, green - blue, hue)
    hue.div_(chroma.clamp_min(torch.finfo(images.dtype).tiny))

    # Per channel: k = (n + hue + 6 * shift) mod 6, then V - C * clamp(...).
    offsets = images.new_tensor(_HSV_CHANNEL_OFFSETS).view(1, 3, 1, 1)
    k = offsets + (hue.unsqueeze(1) + 6 * shifts.view(-1, 1, 1, 1))  # (B, 3, H, W)
    k.sub_(k.div(6).floor_().mul_(6))
    weight = k.sub_(2).abs_().neg_().add_(2).clamp_(0, 1)  # min(k, 4 - k)
    return weight.mul_(chroma.unsqueeze(1)).neg_().add_(value.unsqueeze(1))


def _blend(images: Tensor, other: Tensor, factors: Tensor, inplace: bool) -> Tensor:
    """``factor * images + (1 - factor) * other``, clipped to ``[0, 1]``."""
    difference = images.sub_(other) if inplace else images.sub(other)
    blended = difference.mul_(factors.view(-1, 1, 1, 1)).add_(other)
    return blended.clamp_(0, 1)


_ADJUSTMENTS = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)


class ColorJitterParams(NamedTuple):
    """Colour jitter of a batch.

    ``applied`` is the `(B,)` bool mask of jittered samples. The `(B,)` factors
    (shifts for ``hue``) are the identity (1, or 0 for hue) where not applied or
    where the adjustment is disabled. ``order`` lists the enabled adjustments
    in the order they run, as indices into ``brightness, contrast, saturation,
    hue``.
    """

    applied: Tensor
    brightness: Tensor
    contrast: Tensor
    saturation: Tensor
    hue: Tensor
    order: tuple[int, ...]


class BatchedColorJitter(nn.Module):
    """Jitter brightness, contrast, saturation and hue with per-sample factors.

    Each sample is jittered with probability ``p`` (``RandomApply`` around
    torchvision's ``ColorJitter``), with its own factors, drawn uniformly from
    the configured ranges. The four adjustments follow torchvision's definitions
    on float tensors and clip to ``[0, 1]`` after each.

    .. note::
        torchvision draws a new order of the four adjustments for every image.
        Here, with ``random_order=True``, one random order is drawn per call and
        shared by the batch (a per-sample order would cost up to four times the
        compute); with ``random_order=False`` the order is always brightness,
        contrast, saturation, hue. The factors are per sample either way.

    Args:
        brightness: ``b`` for factors in ``[max(0, 1 - b), 1 + b]``, or a
            ``(min, max)`` range of factors.
        contrast: Same as ``brightness``, for contrast.
        saturation: Same as ``brightness``, for saturation.
        hue: ``h`` in ``[0, 0.5]`` for shifts in ``[-h, h]`` turns, or a
            ``(min, max)`` range within ``[-0.5, 0.5]``.
        p: Probability that a sample is jittered.
        random_order: Draw the order of the adjustments per call (see note).
        inplace: Write the result into float input batches instead of a copy.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        >>> jitter = BatchedColorJitter(0.4, 0.4, 0.2, 0.1, p=0.8)
        >>> images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
        >>> jitter(images).shape
        torch.Size([8, 3, 32, 32])
    """

    def __init__(
        self,
        brightness: float | tuple[float, float] = 0.0,
        contrast: float | tuple[float, float] = 0.0,
        saturation: float | tuple[float, float] = 0.0,
        hue: float | tuple[float, float] = 0.0,
        p: float = 1.0,
        random_order: bool = True,
        inplace: bool = False,
    ) -> None:
        super().__init__()
        self.brightness = _factor_range("brightness", brightness)
        self.contrast = _factor_range("contrast", contrast)
        self.saturation = _factor_range("saturation", saturation)
        if isinstance(hue, int | float):
            check_range("hue", hue, low=0.0, high=0.5)
            hue = (-hue, hue)
        self.hue = check_interval("hue", hue, low=-0.5, high=0.5)
        self.p = check_probability("p", p)
        self.random_order = random_order
        self.inplace = inplace

        identities = ((1.0, 1.0), (1.0, 1.0), (1.0, 1.0), (0.0, 0.0))
        ranges = (self.brightness, self.contrast, self.saturation, self.hue)
        self._enabled = tuple(
            index
            for index, (value, identity) in enumerate(
                zip(ranges, identities, strict=True)
            )
            if value != identity
        )

    def sample_params(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> ColorJitterParams:
        """Draw the jitter of each sample of a `(B, C, H, W)` batch.

        Args:
            images: The batch; only its size and device are used.
            generator: Source of randomness; None uses torch's global one.

        Returns:
            The per-sample factors and the batch's order of adjustments.
        """
        batch_size, device = len(images), images.device
        applied = random_mask(batch_size, self.p, generator, device)

        factors = []
        ranges = (self.brightness, self.contrast, self.saturation, self.hue)
        for index, (low, high) in enumerate(ranges):
            identity = 0.0 if index == HUE else 1.0
            if index in self._enabled:
                drawn = random_uniform((batch_size,), low, high, generator, device)
                factors.append(torch.where(applied, drawn, identity))
            else:
                factors.append(torch.full((batch_size,), identity, device=device))

        order = self._enabled
        if self.random_order and len(order) > 1:
            order = tuple(order[i] for i in random_permutation(len(order), generator))
        brightness, contrast, saturation, hue = factors
        return ColorJitterParams(
            applied, brightness, contrast, saturation, hue, order=order
        )

    def apply_params(self, images: Tensor, params: ColorJitterParams) -> Tensor:
        """Jitter a `(B, C, H, W)` batch with the given factors.

        Args:
            images: uint8 or float batch with 1 or 3 channels.
            params: Jitter from :meth:`sample_params`.

        Returns:
            The float batch, same shape.
        """
        images = to_float_images(images)
        check_channels(images, (1, 3))
        factors = (params.brightness, params.contrast, params.saturation, params.hue)
        inplace = self.inplace
        for index in params.order:
            adjust = _ADJUSTMENTS[index]
            images = adjust(images, factors[index].to(images.dtype), inplace)
            inplace = True  # the batch is now a tensor of our own
        return images

    def forward(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Jitter each sample of a `(B, C, H, W)` batch with probability ``p``.

        Args:
            images: uint8 batch in ``[0, 255]`` or float batch in ``[0, 1]``.
            generator: Source of randomness; None uses torch's global one.

        Returns:
            The float batch, same shape.
        """
        images = to_float_images(images)
        if self.p == 0 or not self._enabled:
            return images
        return self.apply_params(images, self.sample_params(images, generator))

    def extra_repr(self) -> str:
        """Arguments shown by ``print(module)``."""
        ranges = (self.brightness, self.contrast, self.saturation, self.hue)
        parts = [
            f"{name}=({low:g}, {high:g})"
            for name, (low, high) in zip(_OP_NAMES, ranges, strict=True)
        ]
        flags = f"p={self.p}, random_order={self.random_order}, inplace={self.inplace}"
        return ", ".join([*parts, flags])


def _factor_range(name: str, value: float | tuple[float, float]) -> tuple[float, float]:
    """Range of multiplicative factors from a strength or a ``(min, max)`` pair."""
    if isinstance(value, int | float):
        check_range(name, value, low=0.0)
        return max(0.0, 1.0 - value), 1.0 + value
    return check_interval(name, value, low=0.0)
