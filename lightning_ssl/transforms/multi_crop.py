"""Batched multi-crop: groups of views at different sizes and scales."""

from collections.abc import Sequence

from lightly.transforms.utils import IMAGENET_NORMALIZE
from torch import nn

from lightning_ssl.transforms.compose import BatchedCompose
from lightning_ssl.transforms.multi_view import BatchedMultiViewTransform
from lightning_ssl.transforms.normalize import BatchedNormalize
from lightning_ssl.transforms.random_resized_crop import BatchedRandomResizedCrop


class BatchedMultiCropTransform(BatchedMultiViewTransform):
    """Views of a batch in crop groups, each with its own size and scale range.

    Batched counterpart of lightly's ``MultiCropTranform`` (SwaV's multi-crop,
    Caron et al., 2020, Sec. 3.2): group ``i`` adds ``crop_counts[i]`` views, each
    a random resized crop of side ``crop_sizes[i]`` covering a fraction of the
    image area in ``[crop_min_scales[i], crop_max_scales[i]]``, followed by
    ``transforms``. Views are returned group by group, e.g. two global then six
    local views.

    Args:
        crop_sizes: Output side (or ``(height, width)``) of each group.
        crop_counts: Number of views of each group.
        crop_min_scales: Smallest crop area fraction of each group.
        crop_max_scales: Largest crop area fraction of each group.
        transforms: Batched transform applied after every crop, called as
            ``transforms(images, generator=generator)``; None normalises with
            lightly's ``IMAGENET_NORMALIZE`` only.

    Raises:
        ValueError: If the four sequences differ in length, a count is negative
            or there are no views, or a size or scale is out of range.

    Example:
        >>> import torch
        >>> transform = BatchedMultiCropTransform(
        ...     crop_sizes=(32, 16),
        ...     crop_counts=(2, 3),
        ...     crop_min_scales=(0.4, 0.05),
        ...     crop_max_scales=(1.0, 0.4),
        ... )
        >>> images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
        >>> [x.shape[-1] for x in transform(images)]
        [32, 32, 16, 16, 16]
    """

    def __init__(
        self,
        crop_sizes: Sequence[int | tuple[int, int]],
        crop_counts: Sequence[int],
        crop_min_scales: Sequence[float],
        crop_max_scales: Sequence[float],
        transforms: nn.Module | None = None,
    ) -> None:
        lengths = {
            "crop_sizes": len(crop_sizes),
            "crop_counts": len(crop_counts),
            "crop_min_scales": len(crop_min_scales),
            "crop_max_scales": len(crop_max_scales),
        }
        if len(set(lengths.values())) != 1:
            raise ValueError(
                "`crop_sizes`, `crop_counts`, `crop_min_scales` and "
                f"`crop_max_scales` must have equal lengths, got {lengths}."
            )
        valid_counts = all(
            isinstance(count, int) and not isinstance(count, bool) and count >= 0
            for count in crop_counts
        )
        if not valid_counts or sum(crop_counts) == 0:
            raise ValueError(
                "`crop_counts` must be non-negative ints with a positive sum, got "
                f"{list(crop_counts)}."
            )
        if transforms is None:
            # The crop's output is a new tensor: normalising it in place is safe.
            normalize = IMAGENET_NORMALIZE
            transforms = BatchedNormalize(
                normalize["mean"], normalize["std"], inplace=True
            )

        views: list[nn.Module] = []
        groups = zip(
            crop_sizes, crop_counts, crop_min_scales, crop_max_scales, strict=True
        )
        for size, count, min_scale, max_scale in groups:
            crop = BatchedRandomResizedCrop(size, scale=(min_scale, max_scale))
            views.extend([BatchedCompose([crop, transforms])] * count)
        super().__init__(views)
