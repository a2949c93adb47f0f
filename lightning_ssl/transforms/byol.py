"""Batched BYOL augmentations: two views with different blur and solarisation."""

from collections.abc import Mapping, Sequence

from lightly.transforms.utils import IMAGENET_NORMALIZE

from lightning_ssl.transforms.multi_view import BatchedMultiViewTransform
from lightning_ssl.transforms.view import BatchedViewTransform


class BatchedBYOLView1Transform(BatchedViewTransform):
    """First BYOL view of a batch: always blurred, never solarised.

    Batched counterpart of lightly's ``BYOLView1Transform``, same arguments and
    defaults (Grill et al., 2020, Table 6: blur 1.0, solarisation 0.0).

    Args:
        input_size: Side of the output view, or ``(height, width)``.
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
        ValueError: If an argument is out of range.

    Example:
        >>> import torch
        >>> view = BatchedBYOLView1Transform(input_size=32)
        >>> view(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)).shape
        torch.Size([4, 3, 32, 32])
    """

    def __init__(
        self,
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
        super().__init__(
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
            solarization_prob=solarization_prob,
            normalize=normalize,
        )


class BatchedBYOLView2Transform(BatchedViewTransform):
    """Second BYOL view of a batch: rarely blurred, sometimes solarised.

    Batched counterpart of lightly's ``BYOLView2Transform``, same arguments and
    defaults (Grill et al., 2020, Table 6: blur 0.1, solarisation 0.2).

    Args:
        input_size: Side of the output view, or ``(height, width)``.
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
        ValueError: If an argument is out of range.

    Example:
        >>> import torch
        >>> view = BatchedBYOLView2Transform(input_size=32)
        >>> view(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)).shape
        torch.Size([4, 3, 32, 32])
    """

    def __init__(
        self,
        input_size: int | tuple[int, int] = 224,
        cj_prob: float = 0.8,
        cj_strength: float = 1.0,
        cj_bright: float = 0.4,
        cj_contrast: float = 0.4,
        cj_sat: float = 0.2,
        cj_hue: float = 0.1,
        min_scale: float = 0.08,
        random_gray_scale: float = 0.2,
        gaussian_blur: float = 0.1,
        solarization_prob: float = 0.2,
        sigmas: tuple[float, float] = (0.1, 2.0),
        vf_prob: float = 0.0,
        hf_prob: float = 0.5,
        normalize: Mapping[str, Sequence[float]] | None = IMAGENET_NORMALIZE,
    ) -> None:
        super().__init__(
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
            solarization_prob=solarization_prob,
            normalize=normalize,
        )


class BatchedBYOLTransform(BatchedMultiViewTransform):
    """Two asymmetric BYOL views of a batch, ``[x0, x1]``.

    Batched counterpart of lightly's ``BYOLTransform``: ``x0`` comes from
    ``view_1_transform``, ``x1`` from ``view_2_transform``. BYOL's colour jitter
    is weaker than SimCLR's, and its blur and solarisation differ between the
    two views (Grill et al., 2020, Table 6).

    Args:
        view_1_transform: Transform of the first view; None uses the defaults
            of :class:`BatchedBYOLView1Transform`.
        view_2_transform: Transform of the second view; None uses the defaults
            of :class:`BatchedBYOLView2Transform`.

    Example:
        >>> import torch
        >>> transform = BatchedBYOLTransform(
        ...     BatchedBYOLView1Transform(input_size=32),
        ...     BatchedBYOLView2Transform(input_size=32),
        ... )
        >>> images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
        >>> [tuple(x.shape) for x in transform(images)]
        [(4, 3, 32, 32), (4, 3, 32, 32)]
    """

    def __init__(
        self,
        view_1_transform: BatchedBYOLView1Transform | None = None,
        view_2_transform: BatchedBYOLView2Transform | None = None,
    ) -> None:
        super().__init__(
            [
                view_1_transform or BatchedBYOLView1Transform(),
                view_2_transform or BatchedBYOLView2Transform(),
            ]
        )
