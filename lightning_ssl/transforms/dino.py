"""Batched DINO augmentations: two global and several local views."""

from collections.abc import Mapping, Sequence

from lightly.transforms.utils import IMAGENET_NORMALIZE

from lightning_ssl.transforms._utils import check_probability
from lightning_ssl.transforms.multi_view import BatchedMultiViewTransform
from lightning_ssl.transforms.view import BatchedViewTransform


class BatchedDINOTransform(BatchedMultiViewTransform):
    """DINO's views of a batch: two global crops, then ``n_local_views`` local.

    Batched counterpart of lightly's ``DINOTransform``, with the same arguments
    and defaults (Caron et al., 2021, Appendix D, after BYOL): global views of
    side ``global_crop_size`` from crops of ``global_crop_scale``, local views of
    side ``local_crop_size`` from ``local_crop_scale``. The first global view is
    always blurred, the second rarely but may be solarised, the local views are
    blurred half of the time (``gaussian_blur`` holds the three probabilities).

    Differences from lightly: crops are resized bilinearly, not bicubically,
    and ``cj_strength`` applies to all views, whereas lightly's second global
    view always uses its default strength of 0.5. Random rotation is not
    supported.

    Args:
        global_crop_size: Side of the global views, or ``(height, width)``.
        global_crop_scale: Area fraction range of the global crops.
        local_crop_size: Side of the local views, or ``(height, width)``.
        local_crop_scale: Area fraction range of the local crops.
        n_local_views: Number of local views.
        hf_prob: Probability of a horizontal flip.
        vf_prob: Probability of a vertical flip.
        cj_prob: Probability that colour jitter is applied.
        cj_strength: Multiplier of the four jitter strengths.
        cj_bright: Brightness jitter strength.
        cj_contrast: Contrast jitter strength.
        cj_sat: Saturation jitter strength.
        cj_hue: Hue jitter strength.
        random_gray_scale: Probability of conversion to grayscale.
        gaussian_blur: Blur probabilities of the first global view, the second
            global view and the local views.
        sigmas: ``(min, max)`` standard deviation of the blur in pixels.
        solarization_prob: Solarisation probability of the second global view.
        normalize: ``{"mean": [...], "std": [...]}``; None keeps ``[0, 1]``.

    Raises:
        ValueError: If ``n_local_views`` is negative, ``gaussian_blur`` does not
            hold three probabilities, or another argument is out of range.

    Example:
        >>> import torch
        >>> transform = BatchedDINOTransform(
        ...     global_crop_size=32, local_crop_size=16, n_local_views=4
        ... )
        >>> images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
        >>> [x.shape[-1] for x in transform(images)]
        [32, 32, 16, 16, 16, 16]
    """

    def __init__(
        self,
        global_crop_size: int | tuple[int, int] = 224,
        global_crop_scale: tuple[float, float] = (0.4, 1.0),
        local_crop_size: int | tuple[int, int] = 96,
        local_crop_scale: tuple[float, float] = (0.05, 0.4),
        n_local_views: int = 6,
        hf_prob: float = 0.5,
        vf_prob: float = 0.0,
        cj_prob: float = 0.8,
        cj_strength: float = 0.5,
        cj_bright: float = 0.8,
        cj_contrast: float = 0.8,
        cj_sat: float = 0.4,
        cj_hue: float = 0.2,
        random_gray_scale: float = 0.2,
        gaussian_blur: tuple[float, float, float] = (1.0, 0.1, 0.5),
        sigmas: tuple[float, float] = (0.1, 2.0),
        solarization_prob: float = 0.2,
        normalize: Mapping[str, Sequence[float]] | None = IMAGENET_NORMALIZE,
    ) -> None:
        if (
            isinstance(n_local_views, bool)
            or not isinstance(n_local_views, int)
            or n_local_views < 0
        ):
            raise ValueError(
                f"`n_local_views` must be a non-negative int, got {n_local_views!r}."
            )
        if len(gaussian_blur) != 3:
            raise ValueError(
                "`gaussian_blur` must hold 3 probabilities (global view 1, global "
                f"view 2, local views), got {gaussian_blur!r}."
            )
        for probability in gaussian_blur:
            check_probability("gaussian_blur", probability)

        def view(
            size: int | tuple[int, int],
            scale: tuple[float, float],
            blur: float,
            solarization: float = 0.0,
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
                gaussian_blur=blur,
                sigmas=sigmas,
                solarization_prob=solarization,
                normalize=normalize,
            )

        global_0 = view(global_crop_size, global_crop_scale, gaussian_blur[0])
        global_1 = view(
            global_crop_size, global_crop_scale, gaussian_blur[1], solarization_prob
        )
        local = view(local_crop_size, local_crop_scale, gaussian_blur[2])
        super().__init__([global_0, global_1, *[local] * n_local_views])
