"""Batched MMCR augmentations: ``k`` views, each made like BYOL's first view."""

from collections.abc import Mapping, Sequence

from lightly.transforms.utils import IMAGENET_NORMALIZE

from lightning_ssl.transforms.byol import BatchedBYOLView1Transform
from lightning_ssl.transforms.multi_view import BatchedMultiViewTransform
from lightning_ssl.validation import check_positive_int


class BatchedMMCRTransform(BatchedMultiViewTransform):
    """``k`` views of a batch with the augmentations of BYOL's first view.

    Batched counterpart of lightly's ``MMCRTransform``, with the same arguments
    and defaults (Yerxa et al., 2023, who take BYOL's augmentations): ``k``
    views, each drawn independently. Returns ``[x0, x1, ...]``.

    Not supported: lightly's random rotation (``rr_prob``, ``rr_degrees``).

    Args:
        k: Number of views.
        input_size: Side of the output views, or ``(height, width)``.
        cj_prob: Probability that colour jitter is applied.
        cj_strength: Multiplier of the four jitter strengths.
        cj_bright: Brightness jitter strength.
        cj_contrast: Contrast jitter strength.
        cj_sat: Saturation jitter strength.
        cj_hue: Hue jitter strength.
        min_scale: Smallest crop area as a fraction of the image area.
        random_gray_scale: Probability of conversion to grayscale.
        gaussian_blur: Probability of Gaussian blur.
        solarization_prob: Probability of solarisation.
        sigmas: ``(min, max)`` standard deviation of the blur in pixels.
        vf_prob: Probability of a vertical flip.
        hf_prob: Probability of a horizontal flip.
        normalize: ``{"mean": [...], "std": [...]}``; None keeps ``[0, 1]``.

    Raises:
        ValueError: If ``k`` is not a positive int or another argument is out
            of range.

    Example:
        >>> import torch
        >>> transform = BatchedMMCRTransform(k=4, input_size=32)
        >>> images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
        >>> [tuple(view.shape) for view in transform(images)][:2]
        [(8, 3, 32, 32), (8, 3, 32, 32)]
        >>> len(transform(images))
        4
    """

    def __init__(
        self,
        k: int = 8,
        input_size: int | tuple[int, int] = 224,
        cj_prob: float = 0.8,
        cj_strength: float = 1.0,
        cj_bright: float = 0.4,
        cj_contrast: float = 0.4,
        cj_sat: float = 0.2,
        cj_hue: float = 0.1,
        min_scale: float = 0.08,
        random_gray_scale: float = 0.2,
        gaussian_blur: float = 1.0,
        solarization_prob: float = 0.0,
        sigmas: tuple[float, float] = (0.1, 2.0),
        vf_prob: float = 0.0,
        hf_prob: float = 0.5,
        normalize: Mapping[str, Sequence[float]] | None = IMAGENET_NORMALIZE,
    ) -> None:
        check_positive_int("k", k)
        view = BatchedBYOLView1Transform(
            input_size=input_size,
            cj_prob=cj_prob,
            cj_strength=cj_strength,
            cj_bright=cj_bright,
            cj_contrast=cj_contrast,
            cj_sat=cj_sat,
            cj_hue=cj_hue,
            min_scale=min_scale,
            random_gray_scale=random_gray_scale,
            gaussian_blur=gaussian_blur,
            solarization_prob=solarization_prob,
            sigmas=sigmas,
            vf_prob=vf_prob,
            hf_prob=hf_prob,
            normalize=normalize,
        )
        super().__init__([view] * k)
