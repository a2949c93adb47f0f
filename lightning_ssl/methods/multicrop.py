"""Multi-crop views: split global from local crops, batch equal resolutions."""

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torchvision.models.vision_transformer import VisionTransformer


def split_views(views: list[Tensor], num_global: int = 2) -> tuple[list[Tensor], ...]:
    """Split multi-crop views into the global crops and the local crops.

    Multi-crop transforms (SwAV, Caron et al., 2020, Sec. 3.2; lightly's
    ``DINOTransform`` and ``SwaVTransform``) put the high-resolution global
    crops first. Only these go to a teacher or get assignments computed.

    Args:
        views: `V` tensors of shape `(B, C, H, W)`, global crops first.
        num_global: How many leading views are global crops.

    Returns:
        The lists of global and of local views (the latter possibly empty).

    Raises:
        ValueError: If there are fewer than ``num_global`` views, or the global
            views differ in size.

    Example:
        >>> import torch
        >>> views = [torch.zeros(2, 3, 32, 32)] * 2 + [torch.zeros(2, 3, 16, 16)] * 4
        >>> global_views, local_views = split_views(views)
        >>> len(global_views), len(local_views)
        (2, 4)
    """
    if len(views) < num_global:
        raise ValueError(
            f"Multi-crop methods need at least {num_global} global views per "
            f"batch, got {len(views)} views. Use the method's default_transform or "
            "a multi-crop transform that puts the global crops first."
        )
    global_views, local_views = views[:num_global], views[num_global:]
    sizes = {tuple(view.shape[-2:]) for view in global_views}
    if len(sizes) > 1:
        raise ValueError(
            f"The first {num_global} views must be global crops of one size, got "
            f"sizes {sorted(sizes)}."
        )
    return global_views, local_views


def forward_by_resolution(
    function: Callable[[Tensor], Tensor], views: list[Tensor]
) -> list[Tensor]:
    """Apply ``function`` once per run of consecutive equally sized views.

    Concatenating the views of one resolution into one forward pass is faster
    than a pass per view and is how the multi-crop reference code batches
    them; batch-norm statistics are then shared by those views.

    Args:
        function: Maps a `(n * B, C, H, W)` batch to `(n * B, ...)` outputs.
        views: `V` tensors of shape `(B, C, H, W)`.

    Returns:
        `V` outputs `(B, ...)`, one per view, in the order of ``views``.

    Example:
        >>> import torch
        >>> views = [torch.ones(2, 3, 8, 8), torch.ones(2, 3, 8, 8),
        ...          torch.ones(2, 3, 4, 4)]
        >>> outputs = forward_by_resolution(lambda x: x.mean((1, 2, 3)), views)
        >>> [tuple(output.shape) for output in outputs]
        [(2,), (2,), (2,)]
    """
    outputs: list[Tensor] = []
    start = 0
    while start < len(views):
        end = start + 1
        while end < len(views) and views[end].shape == views[start].shape:
            end += 1
        batch = torch.cat(views[start:end])
        outputs.extend(function(batch).chunk(end - start))
        start = end
    return outputs


def local_crop_size(global_size: int, backbone: nn.Module | None = None) -> int:
    """Default side of local crops: 96/224 of the global side (DINO, SwAV).

    For a torchvision ViT the side is rounded to a multiple of its patch size, so
    the crop splits into whole patches.

    Example:
        >>> local_crop_size(224)
        96
        >>> from lightning_ssl.backbones import vision_transformer
        >>> local_crop_size(32, vision_transformer("vit_tiny", 32, patch_size=4))
        16
    """
    size = max(round(global_size * 96 / 224), 1)
    if isinstance(backbone, VisionTransformer):
        patch = backbone.patch_size
        size = max(round(size / patch), 1) * patch
    return size
