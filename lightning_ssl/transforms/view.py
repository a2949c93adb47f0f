"""The standard augmentation chain of one view, built from lightly-style arguments."""

from collections.abc import Mapping, Sequence

import torch
from lightly.transforms.utils import IMAGENET_NORMALIZE
from torch import Tensor, nn

from lightning_ssl.transforms._utils import check_probability, to_float_images
from lightning_ssl.transforms.color_jitter import BatchedColorJitter
from lightning_ssl.transforms.flip import (
    BatchedRandomHorizontalFlip,
    BatchedRandomVerticalFlip,
)
from lightning_ssl.transforms.gaussian_blur import BatchedGaussianBlur
from lightning_ssl.transforms.grayscale import BatchedRandomGrayscale
from lightning_ssl.transforms.normalize import BatchedNormalize
from lightning_ssl.transforms.random_resized_crop import BatchedRandomResizedCrop
from lightning_ssl.transforms.solarization import BatchedRandomSolarization
from lightning_ssl.validation import check_range

_JITTER_NAMES = ("cj_strength", "cj_bright", "cj_contrast", "cj_sat", "cj_hue")


class BatchedViewTransform(nn.Module):
    """Crop, flip, colour jitter, grayscale, blur, solarise and normalise a batch.

    The batched counterpart of lightly's view transforms (``SimCLRViewTransform``,
    ``BYOLView1Transform``, ``DINOViewTransform``, ...), with the same argument
    names and the same order of ops. Every sample gets its own random crop, flip,
    jitter factors, grayscale and blur decisions, sigma and solarisation. Ops
    whose probability is 0 are left out of the chain. The ops after the crop
    work in place on the crop's output, and the horizontal flip is folded into
    the crop's sampling grid.

    Colour jitter factors are ``cj_strength`` times ``cj_bright``, ... as in
    lightly; see :class:`BatchedColorJitter` for how the order of the four
    adjustments is drawn. Random rotations (lightly's ``rr_prob``) are not
    supported.

    Args:
        input_size: Output side or ``(height, width)``; None skips the crop.
        crop_scale: Range of the crop area as a fraction of the image area.
        crop_ratio: Range of the crop aspect ratio, width over height.
        hf_prob: Probability of a horizontal flip.
        vf_prob: Probability of a vertical flip.
        cj_prob: Probability that colour jitter is applied.
        cj_strength: Multiplier of the four jitter strengths below.
        cj_bright: Brightness jitter strength.
        cj_contrast: Contrast jitter strength.
        cj_sat: Saturation jitter strength.
        cj_hue: Hue jitter strength, at most 0.5 once multiplied.
        random_gray_scale: Probability of conversion to grayscale.
        gaussian_blur: Probability of Gaussian blur.
        sigmas: ``(min, max)`` range of the blur's standard deviation in pixels.
        kernel_size: Odd blur kernel size; None derives it from ``sigmas`` and
            the image size (see :class:`BatchedGaussianBlur`).
        solarization_prob: Probability of solarisation.
        solarize_before_blur: Solarise before blurring (VICReg's order) instead
            of after (BYOL's and DINO's).
        normalize: ``{"mean": [...], "std": [...]}`` for the final normalisation;
            None keeps values in ``[0, 1]``.
        interpolation: Resampling of the crop, see
            :class:`BatchedRandomResizedCrop`.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        >>> view = BatchedViewTransform(input_size=32, cj_strength=0.5)
        >>> images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
        >>> view(images).shape
        torch.Size([8, 3, 32, 32])
    """

    def __init__(
        self,
        input_size: int | tuple[int, int] | None = 224,
        crop_scale: tuple[float, float] = (0.08, 1.0),
        crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
        hf_prob: float = 0.5,
        vf_prob: float = 0.0,
        cj_prob: float = 0.8,
        cj_strength: float = 1.0,
        cj_bright: float = 0.8,
        cj_contrast: float = 0.8,
        cj_sat: float = 0.8,
        cj_hue: float = 0.2,
        random_gray_scale: float = 0.2,
        gaussian_blur: float = 0.5,
        sigmas: tuple[float, float] = (0.1, 2.0),
        kernel_size: int | None = None,
        solarization_prob: float = 0.0,
        solarize_before_blur: bool = False,
        normalize: Mapping[str, Sequence[float]] | None = IMAGENET_NORMALIZE,
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__()
        self.crop: BatchedRandomResizedCrop | None = None
        if input_size is not None:
            self.crop = BatchedRandomResizedCrop(
                input_size, crop_scale, crop_ratio, interpolation
            )
        self.hflip: BatchedRandomHorizontalFlip | None = None
        if check_probability("hf_prob", hf_prob) > 0:
            self.hflip = BatchedRandomHorizontalFlip(hf_prob, inplace=True)

        # The rest of the chain, in lightly's order, each op in place.
        ops: list[nn.Module] = []
        if check_probability("vf_prob", vf_prob) > 0:
            ops.append(BatchedRandomVerticalFlip(vf_prob, inplace=True))
        strengths = (cj_bright, cj_contrast, cj_sat, cj_hue)
        for name, value in zip(_JITTER_NAMES, (cj_strength, *strengths), strict=True):
            check_range(name, value, low=0.0)
        if cj_strength * cj_hue > 0.5:
            raise ValueError(
                "`cj_hue` times `cj_strength` must be at most 0.5 (half a turn), got "
                f"{cj_hue} * {cj_strength}."
            )
        if check_probability("cj_prob", cj_prob) > 0 and cj_strength > 0:
            bright, contrast, sat, hue = (cj_strength * s for s in strengths)
            ops.append(
                BatchedColorJitter(bright, contrast, sat, hue, cj_prob, inplace=True)
            )
        if check_probability("random_gray_scale", random_gray_scale) > 0:
            ops.append(BatchedRandomGrayscale(random_gray_scale, inplace=True))

        blur = BatchedGaussianBlur(gaussian_blur, sigmas, kernel_size, inplace=True)
        solarize = BatchedRandomSolarization(solarization_prob, inplace=True)
        order = (solarize, blur) if solarize_before_blur else (blur, solarize)
        ops.extend(op for op in order if op.p > 0)
        if normalize:
            missing = {"mean", "std"} - set(normalize)
            if missing:
                raise ValueError(
                    "`normalize` must be None or have keys 'mean' and 'std', got "
                    f"keys {sorted(normalize)}."
                )
            ops.append(
                BatchedNormalize(normalize["mean"], normalize["std"], inplace=True)
            )
        self.ops = nn.ModuleList(ops)

    def forward(
        self, images: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Make one view of a batch.

        Args:
            images: `(B, C, H, W)` uint8 batch in ``[0, 255]`` or float batch in
                ``[0, 1]``; it is not modified.
            generator: Source of randomness; None uses torch's global one.

        Returns:
            The float view, `(B, C, H', W')` with ``(H', W')`` the ``input_size``.
        """
        images = to_float_images(images)
        if self.crop is not None:
            boxes = self.crop.sample_params(images, generator)
            flip = None
            if self.hflip is not None:
                flip = self.hflip.sample_params(images, generator).flip
            images = self.crop.apply_params(images, boxes, hflip=flip)
        else:
            # The ops below work in place: never on the caller's batch.
            images = images.clone()
            if self.hflip is not None:
                images = self.hflip(images, generator=generator)

        for op in self.ops:
            images = op(images, generator=generator)
        return images
