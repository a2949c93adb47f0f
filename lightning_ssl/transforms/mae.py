"""Batched MAE augmentations: crop and flip only."""

from collections.abc import Mapping, Sequence

from lightly.transforms.utils import IMAGENET_NORMALIZE

from lightning_ssl.transforms.multi_view import BatchedMultiViewTransform
from lightning_ssl.transforms.view import BatchedViewTransform


class BatchedMAETransform(BatchedMultiViewTransform):
    """One view of a batch with MAE's augmentations: crop, flip, normalise.

    Batched counterpart of lightly's ``MAETransform``, with the same arguments
    and defaults (He et al., 2022, Appendix A.1: no colour augmentation). Returns
    ``[x0]``, a list of one view, as lightly does. lightly resizes bicubically,
    this transform bilinearly.

    Args:
        input_size: Side of the output view, or ``(height, width)``.
        min_scale: Smallest crop area as a fraction of the image area.
        normalize: ``{"mean": [...], "std": [...]}``; None keeps ``[0, 1]``.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        >>> import torch
        >>> transform = BatchedMAETransform(input_size=32)
        >>> images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
        >>> [tuple(x.shape) for x in transform(images)]
        [(4, 3, 32, 32)]
    """

    def __init__(
        self,
        input_size: int | tuple[int, int] = 224,
        min_scale: float = 0.2,
        normalize: Mapping[str, Sequence[float]] | None = IMAGENET_NORMALIZE,
    ) -> None:
        view = BatchedViewTransform(
            input_size=input_size,
            crop_scale=(min_scale, 1.0),
            hf_prob=0.5,
            cj_prob=0.0,
            random_gray_scale=0.0,
            gaussian_blur=0.0,
            normalize=normalize,
        )
        super().__init__([view])
