"""Random resized crop of a batch, with a different crop box for each sample."""

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lightning_ssl.transforms._utils import (
    check_interval,
    check_size,
    random_uniform,
    to_float_images,
)
from lightning_ssl.validation import check_choice

# Candidate boxes drawn per sample before falling back to a central crop, as in
# torchvision's RandomResizedCrop.
_ATTEMPTS = 10
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


class CropParams(NamedTuple):
    """Crop boxes of a batch in source pixels, each a `(B,)` int64 tensor."""

    top: Tensor
    left: Tensor
    height: Tensor
    width: Tensor


class BatchedRandomResizedCrop(nn.Module):
    """Crop a random box of each image and resize it to ``size``.

    The box of each sample is drawn as in torchvision's ``RandomResizedCrop``: an
    area fraction uniform in ``scale`` and an aspect ratio log-uniform in
    ``ratio``, rounded to whole pixels, at a uniformly random position; up to ten
    candidates per sample, then a central crop. All samples are drawn at once and
    resampled in one ``grid_sample`` call.

    Resampling interpolates at the centres of the output pixels (half-pixel
    convention, ``align_corners=False``). Pixels next to the box edge blend with
    the pixels just outside the box rather than repeating the edge, and there is
    no antialiasing, so downscaling by large factors aliases.

    Args:
        size: Output side, or ``(height, width)``.
        scale: Range of the box area as a fraction of the image area.
        ratio: Range of the box aspect ratio, width over height.
        interpolation: ``"bilinear"``, ``"bicubic"`` (clamped to ``[0, 1]``) or
            ``"nearest"``.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        >>> crop = BatchedRandomResizedCrop(size=16, scale=(0.2, 1.0))
        >>> images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
        >>> crop(images).shape
        torch.Size([4, 3, 16, 16])
    """

    def __init__(
        self,
        size: int | tuple[int, int],
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__()
        self.size = check_size("size", size)
        self.scale = check_interval("scale", scale, low=0.0, high=1.0, low_open=True)
        self.ratio = check_interval("ratio", ratio, low=0.0, low_open=True)
        check_choice("interpolation", interpolation, INTERPOLATIONS)
        self.interpolation = interpolation

    def sample_params(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> CropParams:
        """Draw one crop box per sample of a `(B, C, H, W)` batch.

        Args:
            images: The batch; only its shape and device are used.
            generator: Source of randomness; None uses torch's global one.

        Returns:
            The boxes, in pixels of ``images``.
        """
        batch_size, _, height, width = images.shape
        device = images.device

        # Candidate boxes, (B, attempts) each; keep the first that fits.
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        shape = (batch_size, _ATTEMPTS)
        area = random_uniform(shape, *self.scale, generator, device) * height * width
        aspect = random_uniform(shape, *log_ratio, generator, device).exp_()
        box_w = torch.sqrt(area * aspect).round_()
        box_h = torch.sqrt(area / aspect).round_()
        fits = (box_w >= 1) & (box_w <= width) & (box_h >= 1) & (box_h <= height)
        first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)
        box_w = box_w.gather(1, first).squeeze(1)
        box_h = box_h.gather(1, first).squeeze(1)

        # Samples without a fitting candidate get the central crop closest to
        # the allowed ratios.
        fallback_h, fallback_w = self._fallback_box(height, width)
        found = fits.any(dim=1)
        box_w = torch.where(found, box_w, float(fallback_w))
        box_h = torch.where(found, box_h, float(fallback_h))

        # Uniform integer position; the central one for fallback boxes.
        u_top = random_uniform((batch_size,), 0.0, 1.0, generator, device)
        u_left = random_uniform((batch_size,), 0.0, 1.0, generator, device)
        top = torch.minimum(torch.floor(u_top * (height - box_h + 1)), height - box_h)
        left = torch.minimum(torch.floor(u_left * (width - box_w + 1)), width - box_w)
        top = torch.where(found, top, float((height - fallback_h) // 2))
        left = torch.where(found, left, float((width - fallback_w) // 2))
        return CropParams(top.long(), left.long(), box_h.long(), box_w.long())

    def apply_params(
        self, images: Tensor, params: CropParams, hflip: Tensor | None = None
    ) -> Tensor:
        """Crop ``images`` to the given boxes and resize them to ``size``.

        Args:
            images: `(B, C, H, W)` uint8 or float batch.
            params: Boxes from :meth:`sample_params`.
            hflip: Optional `(B,)` bool mask of crops to mirror left to right,
                which costs nothing extra here.

        Returns:
            The `(B, C, size[0], size[1])` float batch.
        """
        images = to_float_images(images)
        batch_size, _, height, width = images.shape
        out_h, out_w = self.size
        dtype, device = images.dtype, images.device

        # Output pixel centres as positions in the box, in source pixel-edge
        # coordinates, then mapped to grid_sample's [-1, 1] range.
        steps_x = (torch.arange(out_w, dtype=dtype, device=device) + 0.5) / out_w
        steps_y = (torch.arange(out_h, dtype=dtype, device=device) + 0.5) / out_h
        left, top, box_w, box_h = (
            value.to(dtype).unsqueeze(1)
            for value in (params.left, params.top, params.width, params.height)
        )
        grid_x = (left + box_w * steps_x).mul_(2 / width).sub_(1)  # (B, W')
        if hflip is not None:
            flip = hflip.to(device).unsqueeze(1)
            grid_x = torch.where(flip, grid_x.flip(1), grid_x)
        grid_y = (top + box_h * steps_y).mul_(2 / height).sub_(1)  # (B, H')
        grid = torch.stack(
            (
                grid_x.unsqueeze(1).expand(batch_size, out_h, out_w),
                grid_y.unsqueeze(2).expand(batch_size, out_h, out_w),
            ),
            dim=-1,
        )  # (B, H', W', 2)

        crops = F.grid_sample(
            images,
            grid,
            mode=self.interpolation,
            padding_mode="border",
            align_corners=False,
        )
        return crops.clamp_(0, 1) if self.interpolation == "bicubic" else crops

    def forward(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Crop each image of a `(B, C, H, W)` batch to its own random box.

        Args:
            images: uint8 batch in ``[0, 255]`` or float batch in ``[0, 1]``.
            generator: Source of randomness; None uses torch's global one.

        Returns:
            The `(B, C, size[0], size[1])` float batch.
        """
        images = to_float_images(images)
        return self.apply_params(images, self.sample_params(images, generator))

    def _fallback_box(self, height: int, width: int) -> tuple[int, int]:
        """Central box ``(height, width)`` used when no candidate fits."""
        image_ratio = width / height
        if image_ratio < self.ratio[0]:
            return round(width / self.ratio[0]), width
        if image_ratio > self.ratio[1]:
            return height, round(height * self.ratio[1])
        return height, width

    def extra_repr(self) -> str:
        """Arguments shown by ``print(module)``."""
        return (
            f"size={self.size}, scale={self.scale}, ratio={self.ratio}, "
            f"interpolation={self.interpolation!r}"
        )
