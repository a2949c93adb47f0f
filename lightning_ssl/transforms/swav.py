"""Batched SwaV augmentations: multi-crop with SimCLR's colour augmentations."""

from collections.abc import Mapping, Sequence

from lightly.transforms.utils import IMAGENET_NORMALIZE

from lightning_ssl.transforms.multi_crop import BatchedMultiCropTransform
from lightning_ssl.transforms.view import BatchedViewTransform


class BatchedSwaVTransform(BatchedMultiCropTransform):
    """SwaV's multi-crop views of a batch: two global and six local by default.

    Batched counterpart of lightly's ``SwaVTransform``, with the same arguments
    and defaults (Caron et al., 2020, Sec. 3.2 and Appendix A): multi-crop
    groups, then flip, colour jitter, grayscale, blur and normalisation as in
    SimCLR. Views are returned group by group.

    Not supported: lightly's random rotation (``rr_prob``, ``rr_degrees``).

    Args:
        crop_sizes: Output side (or ``(height, width)``) of each crop group.
        crop_counts: Number of views of each group.
        crop_min_scales: Smallest crop area fraction of each group.
        crop_max_scales: Largest crop area fraction of each group.
        hf_prob: Probability of a horizontal flip.
        vf_prob: Probability of a vertical flip.
        cj_prob: Probability that colour jitter is applied.
        cj_strength: Multiplier of the four jitter strengths.
        cj_bright: Brightness jitter strength.
        cj_contrast: Contrast jitter strength.
        cj_sat: Saturation jitter strength.
        cj_hue: Hue jitter strength.
        random_gray_scale: Probability of conversion to grayscale.
        gaussian_blur: Probability of Gaussian blur.
        sigmas: ``(min, max)`` standard deviation of the blur in pixels.
        normalize: ``{"mean": [...], "std": [...]}``; None keeps ``[0, 1]``.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        >>> import torch
        >>> transform = BatchedSwaVTransform(crop_sizes=(32, 16))
        >>> images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
        >>> [x.shape[-1] for x in transform(images)]
        [32, 32, 16, 16, 16, 16, 16, 16]
    """

    def __init__(
        self,
        crop_sizes: Sequence[int | tuple[int, int]] = (224, 96),
        crop_counts: Sequence[int] = (2, 6),
        crop_min_scales: Sequence[float] = (0.14, 0.05),
        crop_max_scales: Sequence[float] = (1.0, 0.14),
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
        normalize: Mapping[str, Sequence[float]] | None = IMAGENET_NORMALIZE,
    ) -> None:
        transforms = BatchedViewTransform(
            input_size=None,
            hf_prob=hf_prob,
            vf_prob=vf_prob,
            cj_prob=cj_prob,
            cj_strength=cj_strength,
            cj_bright=cj_bright,
            cj_contrast=cj_contrast,
            cj_sat=cj_sat,
            cj_hue=cj_hue,
            random_gray_scale=random_gray_scale,
            gaussian_blur=gaussian_blur,
            sigmas=sigmas,
            normalize=normalize,
        )
        super().__init__(
            crop_sizes, crop_counts, crop_min_scales, crop_max_scales, transforms
        )
