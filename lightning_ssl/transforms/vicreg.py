"""Batched VICReg augmentations."""

from collections.abc import Mapping, Sequence

from lightly.transforms.utils import IMAGENET_NORMALIZE

from lightning_ssl.transforms.multi_view import BatchedMultiViewTransform
from lightning_ssl.transforms.view import BatchedViewTransform


class BatchedVICRegTransform(BatchedMultiViewTransform):
    """Two views of a batch with VICReg's augmentations, drawn per sample.

    Batched counterpart of lightly's ``VICRegTransform``, same arguments and
    defaults (Bardes et al., 2022, Appendix C.1): BYOL-like augmentations with
    solarisation 0.1 and blur 0.5 in both views. As in lightly, solarisation
    comes before the blur. Returns ``[x0, x1]``.

    Args:
        input_size: Side of the output views, or ``(height, width)``.
        cj_prob: Probability that colour jitter is applied.
        cj_strength: Multiplier of the four jitter strengths.
        cj_bright: Brightness jitter strength.
        cj_contrast: Contrast jitter strength.
        cj_sat: Saturation jitter strength.
        cj_hue: Hue jitter strength.
        min_scale: Smallest crop area as a fraction of the image area.
        random_gray_scale: Probability of conversion to grayscale.
        solarize_prob: Probability of solarisation.
        gaussian_blur: Probability of Gaussian blur.
        sigmas: ``(min, max)`` standard deviation of the blur in pixels.
        vf_prob: Probability of a vertical flip.
        hf_prob: Probability of a horizontal flip.
        normalize: ``{"mean": [...], "std": [...]}``; None keeps ``[0, 1]``.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        >>> import torch
        >>> transform = BatchedVICRegTransform(input_size=32)
        >>> images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
        >>> len(transform(images))
        2
    """

    def __init__(
        self,
        input_size: int | tuple[int, int] = 224,
        cj_prob: float = 0.8,
        cj_strength: float = 0.5,
        cj_bright: float = 0.8,
        cj_contrast: float = 0.8,
        cj_sat: float = 0.4,
        cj_hue: float = 0.2,
        min_scale: float = 0.08,
        random_gray_scale: float = 0.2,
        solarize_prob: float = 0.1,
        gaussian_blur: float = 0.5,
        sigmas: tuple[float, float] = (0.1, 2.0),
        vf_prob: float = 0.0,
        hf_prob: float = 0.5,
        normalize: Mapping[str, Sequence[float]] | None = IMAGENET_NORMALIZE,
    ) -> None:
        view = BatchedViewTransform(
            input_size=input_size,
            crop_scale=(min_scale, 1.0),
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
            solarization_prob=solarize_prob,
            solarize_before_blur=True,
            normalize=normalize,
        )
        super().__init__([view, view])
