"""Run torchvision vision transformers on any image size and on kept tokens only.

torchvision's `VisionTransformer` asserts that images have the size it was built
for, but multi-crop methods (DINO, SwAV, LeJEPA) feed it smaller local crops and
MAE encodes only the visible patches. These helpers reuse the transformer's own
layers and resample its positional embedding, so the backbone stays a plain
torchvision module: its checkpoints load into any other lightning_ssl method.
"""

import torch
from lightly.models.utils import get_at_index, prepend_class_token
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.models.vision_transformer import VisionTransformer


def is_vit(backbone: nn.Module) -> bool:
    """Whether ``backbone`` is a torchvision `VisionTransformer`."""
    return isinstance(backbone, VisionTransformer)


def vit_tokens(
    vit: VisionTransformer, images: Tensor, idx_keep: Tensor | None = None
) -> Tensor:
    """Encoded tokens of images whose sides are multiples of the patch size.

    Args:
        vit: A torchvision vision transformer.
        images: `(B, C, H, W)` images.
        idx_keep: `(B, K)` indices of the tokens to encode, where index 0 is the
            class token and ``1 + i`` the i-th patch in row-major order (the
            layout of lightly's ``random_token_mask``). All tokens when ``None``.

    Returns:
        `(B, 1 + N, D)` tokens for N patches, or `(B, K, D)` with ``idx_keep``.

    Raises:
        ValueError: If an image side is not a multiple of the patch size.

    Example:
        >>> import torch
        >>> from lightning_ssl.backbones import vision_transformer
        >>> vit = vision_transformer("vit_tiny", image_size=32, patch_size=4)
        >>> vit_tokens(vit, torch.randn(2, 3, 16, 16)).shape
        torch.Size([2, 17, 192])
    """
    height, width = images.shape[-2:]
    if height % vit.patch_size or width % vit.patch_size:
        raise ValueError(
            f"Image sides must be multiples of the ViT patch size {vit.patch_size}, "
            f"got images of shape {tuple(images.shape)}."
        )
    patches = vit.conv_proj(images)  # (B, D, H / p, W / p)
    grid = (patches.shape[-2], patches.shape[-1])
    tokens = patches.flatten(2).transpose(1, 2)  # (B, N, D)
    tokens = prepend_class_token(tokens, vit.class_token)  # (B, 1 + N, D)
    tokens = tokens + position_embedding(vit, grid)

    # Dropping tokens before the transformer is what makes MAE's encoder cheap.
    if idx_keep is not None:
        tokens = get_at_index(tokens, idx_keep)
    encoder = vit.encoder
    out: Tensor = encoder.ln(encoder.layers(encoder.dropout(tokens)))
    return out


def position_embedding(vit: VisionTransformer, grid: tuple[int, int]) -> Tensor:
    """The ViT's positional embedding `(1, 1 + h * w, D)` for an `h x w` patch grid.

    The patch part is resampled bicubically when the grid differs from the
    one the ViT was built for, as DINO does for its local crops (Caron et al.,
    2021, Sec. 3.1 and the ``interpolate_pos_encoding`` of its code).
    """
    embedding: Tensor = vit.encoder.pos_embedding  # (1, 1 + N, D)
    side = vit.image_size // vit.patch_size
    if grid == (side, side):
        return embedding
    class_embedding, patch_embedding = embedding[:, :1], embedding[:, 1:]
    patch_embedding = patch_embedding.reshape(1, side, side, -1).permute(0, 3, 1, 2)
    patch_embedding = F.interpolate(
        patch_embedding, size=grid, mode="bicubic", align_corners=False
    )
    patch_embedding = patch_embedding.flatten(2).transpose(1, 2)  # (1, h * w, D)
    return torch.cat([class_embedding, patch_embedding], dim=1)


def backbone_features(backbone: nn.Module, images: Tensor) -> Tensor:
    """Features `(B, D)` of `(B, C, H, W)` images, at any size for torchvision ViTs.

    A ViT gets its class token; other backbones are called as they are, so they
    must handle the image size themselves (ResNets pool globally and do).

    Example:
        >>> import torch
        >>> from lightning_ssl.backbones import vision_transformer
        >>> vit = vision_transformer("vit_tiny", image_size=32, patch_size=4)
        >>> backbone_features(vit, torch.randn(2, 3, 16, 16)).shape
        torch.Size([2, 192])
    """
    if is_vit(backbone):
        assert isinstance(backbone, VisionTransformer)
        if tuple(images.shape[-2:]) != (backbone.image_size, backbone.image_size):
            return vit_tokens(backbone, images)[:, 0]
    features: Tensor = backbone(images)
    return features.flatten(1)
