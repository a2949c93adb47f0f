"""Small vision transformers built on torchvision's `VisionTransformer`."""

from collections.abc import Callable
from functools import partial

from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

# (layers, heads, hidden dim); the MLP is 4x the hidden dim (Dosovitskiy et al.,
# 2021). "tiny" and "small" follow DeiT (Touvron et al., 2021, Table 1).
_VIT_SIZES: dict[str, tuple[int, int, int]] = {
    "vit_tiny": (12, 3, 192),
    "vit_small": (12, 6, 384),
    "vit_base": (12, 12, 768),
}


def vision_transformer(
    size: str, image_size: int = 224, patch_size: int = 16
) -> VisionTransformer:
    """A torchvision ViT without classifier; returns `(B, hidden_dim)` class tokens.

    Args:
        size: ``"vit_tiny"``, ``"vit_small"`` or ``"vit_base"``.
        image_size: Side of the square input images; must be divisible by
            ``patch_size``.
        patch_size: Side of the square patches (use 4 for 32x32 images).

    Example:
        >>> import torch
        >>> vit = vision_transformer("vit_tiny", image_size=32, patch_size=4)
        >>> vit(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 192])
    """
    if size not in _VIT_SIZES:
        raise ValueError(f"`size` must be one of {sorted(_VIT_SIZES)}, got {size!r}.")
    if image_size % patch_size != 0:
        raise ValueError(
            f"`image_size` ({image_size}) must be divisible by `patch_size` "
            f"({patch_size})."
        )
    layers, heads, hidden_dim = _VIT_SIZES[size]
    vit = VisionTransformer(
        image_size=image_size,
        patch_size=patch_size,
        num_layers=layers,
        num_heads=heads,
        hidden_dim=hidden_dim,
        mlp_dim=4 * hidden_dim,
    )
    vit.heads = nn.Identity()
    return vit


VITS: dict[str, Callable[..., nn.Module]] = {
    name: partial(vision_transformer, name) for name in _VIT_SIZES
}
