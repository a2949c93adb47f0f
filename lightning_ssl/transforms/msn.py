"""Batched MSN augmentations: full-size random views, then small focal views."""

from collections.abc import Mapping, Sequence

from lightly.transforms.utils import IMAGENET_NORMALIZE

from lightning_ssl.transforms._utils import (
    check_interval,
    check_probability,
    check_size,
)
from lightning_ssl.transforms.multi_view import BatchedMultiViewTransform
from lightning_ssl.transforms.view import BatchedViewTransform
from lightning_ssl.validation import check_positive_int


class BatchedMSNTransform(BatchedMultiViewTransform):
    """MSN's views of a batch: ``random_views`` random, then ``focal_views`` focal.

    Batched counterpart of lightly's ``MSNTransform``, with the same arguments
    and defaults (Assran et al., 2022): random views of side ``random_size``
    from crops of ``random_crop_scale`` of the image, and focal views of side
    ``focal_size`` from the smaller ``focal_crop_scale``, all with the same
    flips, colour jitter, grayscale, blur and normalisation.
    Returns ``[random_0, random_1, ..., focal_0, focal_1, ...]``, so
    ``random_views + focal_views`` views (lightly's docstring says twice the
    random views, its code makes them once). MSN takes the first random view
    as the target and masks the other random views.

    Differences from lightly: ``cj_bright``, ``cj_contrast``, ``cj_sat`` and
    ``cj_hue`` apply to the focal views too, whereas lightly's focal views
    always use their defaults (0.8, 0.8, 0.8, 0.2); both scale them by
    ``cj_strength``.

    Args:
        random_size: Side of the random views, or ``(height, width)``.
        focal_size: Side of the focal views, or ``(height, width)``.
        random_views: Number of random views.
        focal_views: Number of focal views.
        random_crop_scale: Area fraction range of the random crops.
        focal_crop_scale: Area fraction range of the focal crops.
        cj_prob: Probability that colour jitter is applied.
        cj_strength: Multiplier of the four jitter strengths.
        cj_bright: Brightness jitter strength.
        cj_contrast: Contrast jitter strength.
        cj_sat: Saturation jitter strength.
        cj_hue: Hue jitter strength.
        gaussian_blur: Probability of Gaussian blur.
        sigmas: ``(min, max)`` standard deviation of the blur in pixels.
        random_gray_scale: Probability of conversion to grayscale.
        hf_prob: Probability of a horizontal flip.
        vf_prob: Probability of a vertical flip.
        normalize: ``{"mean": [...], "std": [...]}``; None keeps ``[0, 1]``.

    Raises:
        ValueError: If ``random_views`` is not a positive int, ``focal_views``
            is not a non-negative int, or another argument is out of range.

    Example:
        >>> import torch
        >>> transform = BatchedMSNTransform(
        ...     random_size=32, focal_size=16, focal_views=3, gaussian_blur=0.0
        ... )
        >>> images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
        >>> [x.shape[-1] for x in transform(images)]
        [32, 32, 16, 16, 16]
        >>> transform(images)[0].shape
        torch.Size([4, 3, 32, 32])
    """

    def __init__(
        self,
        random_size: int | tuple[int, int] = 224,
        focal_size: int | tuple[int, int] = 96,
        random_views: int = 2,
        focal_views: int = 10,
        random_crop_scale: tuple[float, float] = (0.3, 1.0),
        focal_crop_scale: tuple[float, float] = (0.05, 0.3),
        cj_prob: float = 0.8,
        cj_strength: float = 1.0,
        cj_bright: float = 0.8,
        cj_contrast: float = 0.8,
        cj_sat: float = 0.8,
        cj_hue: float = 0.2,
        gaussian_blur: float = 0.5,
        sigmas: tuple[float, float] = (0.1, 2.0),
        random_gray_scale: float = 0.2,
        hf_prob: float = 0.5,
        vf_prob: float = 0.0,
        normalize: Mapping[str, Sequence[float]] | None = IMAGENET_NORMALIZE,
    ) -> None:
        check_positive_int("random_views", random_views)
        if (
            isinstance(focal_views, bool)
            or not isinstance(focal_views, int)
            or focal_views < 0
        ):
            raise ValueError(
                f"`focal_views` must be a non-negative int, got {focal_views!r}."
            )

        # Checked here too, so that errors name which of the two views is wrong.
        check_size("random_size", random_size)
        check_size("focal_size", focal_size)
        check_interval("random_crop_scale", random_crop_scale, 0.0, 1.0, low_open=True)
        check_interval("focal_crop_scale", focal_crop_scale, 0.0, 1.0, low_open=True)
        check_probability("gaussian_blur", gaussian_blur)

        def view(
            size: int | tuple[int, int], scale: tuple[float, float]
        ) -> BatchedViewTransform:
            return BatchedViewTransform(
                input_size=size,
                crop_scale=scale,
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

        random = view(random_size, random_crop_scale)
        focal = view(focal_size, focal_crop_scale)
        super().__init__([*[random] * random_views, *[focal] * focal_views])
