"""I-JEPA: predict the target encoder's view of image blocks from a context block."""

from functools import partial
from typing import Any

import torch
from lightly.models.utils import get_at_index, initialize_positional_embedding
from lightly.transforms import MAETransform
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.models.vision_transformer import EncoderBlock, VisionTransformer
from typing_extensions import override

from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod
from lightning_ssl.methods.masking import multi_block_masks
from lightning_ssl.methods.types import StepOutput, Views
from lightning_ssl.methods.vit import vit_tokens
from lightning_ssl.validation import check_positive_int


def patch_tokens(
    vit: nn.Module, images: Tensor, idx_patches: Tensor | None = None
) -> Tensor:
    """Encoded patch tokens `(B, K, D)` at `(B, K)` patch indices, no class token.

    I-JEPA's ViTs have no class token, so it is left out of the sequence.
    """
    assert isinstance(vit, VisionTransformer)
    if idx_patches is None:
        side = vit.patch_size
        num_patches = (images.shape[-2] // side) * (images.shape[-1] // side)
        idx_patches = torch.arange(num_patches, device=images.device)
        idx_patches = idx_patches.expand(len(images), -1)
    return vit_tokens(vit, images, idx_patches + 1)


class JEPAPredictor(nn.Module):
    """Narrow transformer from context tokens to the tokens of one target block.

    Context tokens are embedded to the predictor width and get its fixed
    sine-cosine positional embedding; a shared learnt mask token plus the
    positional embedding of each target patch queries the target positions.

    Args:
        grid_side: Side of the square patch grid.
        input_dim: Width D of the encoder tokens, in and out.
        dim: Width of the predictor.
        depth: Transformer blocks.
        heads: Attention heads; must divide ``dim``.
    """

    def __init__(
        self, grid_side: int, input_dim: int, dim: int, depth: int, heads: int
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(input_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.pos_embedding = nn.Parameter(torch.zeros(1, grid_side**2, dim))
        initialize_positional_embedding(
            self.pos_embedding, strategy="sincos", num_prefix_tokens=0
        )
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.Sequential(
            *(EncoderBlock(heads, dim, 4 * dim, 0.0, 0.0, norm) for _ in range(depth))
        )
        self.norm = norm(dim)
        self.proj = nn.Linear(dim, input_dim)

    @override
    def forward(
        self, context: Tensor, idx_context: Tensor, idx_target: Tensor
    ) -> Tensor:
        """Predict `(B, K_t, D)` from `(B, K_c, D)` tokens and their patch indices."""
        positions = self.pos_embedding.expand(len(context), -1, -1)
        x = self.embed(context) + get_at_index(positions, idx_context)
        queries = self.mask_token + get_at_index(positions, idx_target)

        # Under autocast x is bf16 or fp16 and the queries float32.
        x = torch.cat([x, queries.to(x.dtype)], dim=1)  # (B, K_c + K_t, dim)
        x = self.norm(self.blocks(x))
        predictions: Tensor = self.proj(x[:, context.shape[1] :])
        return predictions


class IJEPA(SSLMethod):
    """Image-based Joint-Embedding Predictive Architecture (Assran et al., 2023,
    https://arxiv.org/abs/2301.08243).

    The context encoder (the backbone) sees one large block of the image with
    the target blocks removed; a narrow predictor gets its tokens plus mask
    tokens at the patches of each target block and predicts what an EMA copy of
    the encoder (the target encoder, run on the whole image) outputs there. The
    targets are the target encoder's patch tokens normalised by a layer norm
    without affine parameters, as in the official code. The loss is the mean
    squared error (the paper's L2, Eq. 1; the official code uses smooth L1),
    averaged over the target blocks. Masks follow Sec. 3 and are drawn inside
    :meth:`compute_loss`, per sample (see :func:`multi_block_masks`): 4 target
    blocks of scale 0.15-0.2 and aspect ratio 0.75-1.5, one context block of
    scale 0.85-1. Defaults follow the official ViT-H/14 configuration
    (``in1k_vith14_ep300``): a predictor of depth 12 and width 384 (the
    official code gives it the encoder's head count; 12 here), AdamW with
    learning rate 1e-3 at batch 2048 after 40 warmup epochs (warming up from
    2e-4 there, from 0 here) and down to 1e-6, weight decay 0.04 rising to 0.4,
    EMA momentum 0.996 rising to 1 (linear schedules there, cosine here), 300
    epochs, fixed sine-cosine positional embeddings, and one view: a random
    resized crop of scale 0.3-1 without colour jitter or blur. The crop here
    is lightly's ``MAETransform``, which also flips; the official run does not.

    The backbone must be a torchvision ViT (e.g. ``"vit_base"``, or
    ``"vit_tiny"`` with ``backbone_kwargs={"image_size": 32, "patch_size": 4}``)
    and training images must have its ``image_size``; its class token is not
    used. :meth:`embed` returns the mean patch token `(B, D)` of the unmasked
    image, the average-pooled features I-JEPA is evaluated with.

    Args:
        backbone: Name or instance of a torchvision ViT.
        predictor_depth: Transformer blocks of the predictor.
        predictor_dim: Token width of the predictor.
        predictor_heads: Attention heads of the predictor; must divide its width.
        num_targets: Target blocks per image.
        optimizer: See :class:`SSLMethod`.
        lr: See :class:`SSLMethod`.
        reference_batch_size: See :class:`SSLMethod`.
        weight_decay: See :class:`SSLMethod`.
        weight_decay_end: See :class:`SSLMethod`.
        warmup_epochs: See :class:`SSLMethod`.
        min_lr_ratio: See :class:`SSLMethod`.
        teacher_momentum: See :class:`SSLMethod`.
        **kwargs: Further :class:`SSLMethod` arguments.

    Raises:
        ValueError: If an argument is out of range.
        TypeError: If the backbone is not a torchvision `VisionTransformer`.

    Example:
        >>> import torch
        >>> vit = {"image_size": 32, "patch_size": 4}
        >>> model = IJEPA("vit_tiny", backbone_kwargs=vit, predictor_depth=1,
        ...               predictor_dim=32, predictor_heads=2)
        >>> model.compute_loss([torch.randn(2, 3, 32, 32)])["loss"].shape
        torch.Size([])
        >>> model.embed(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 192])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "vit_base",
        *,
        predictor_depth: int = 12,
        predictor_dim: int = 384,
        predictor_heads: int = 12,
        num_targets: int = 4,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        reference_batch_size: int = 2048,
        weight_decay: float = 0.04,
        weight_decay_end: float | None = 0.4,
        warmup_epochs: float = 40.0,
        min_lr_ratio: float = 1e-3,
        teacher_momentum: float = 0.996,
        **kwargs: Any,
    ) -> None:
        for name, value in [
            ("predictor_depth", predictor_depth),
            ("predictor_dim", predictor_dim),
            ("predictor_heads", predictor_heads),
            ("num_targets", num_targets),
        ]:
            check_positive_int(name, value)
        if predictor_dim % predictor_heads:
            raise ValueError(
                f"`predictor_heads` must divide `predictor_dim` ({predictor_dim}), "
                f"got {predictor_heads}."
            )
        super().__init__(
            backbone,
            optimizer=optimizer,
            lr=lr,
            reference_batch_size=reference_batch_size,
            weight_decay=weight_decay,
            weight_decay_end=weight_decay_end,
            warmup_epochs=warmup_epochs,
            min_lr_ratio=min_lr_ratio,
            teacher_momentum=teacher_momentum,
            **kwargs,
        )
        if not isinstance(self.backbone, VisionTransformer):
            raise TypeError(
                "IJEPA needs a torchvision VisionTransformer backbone such as "
                f"'vit_base', got {type(self.backbone).__name__}."
            )
        initialize_positional_embedding(
            self.vit.encoder.pos_embedding, strategy="sincos", num_prefix_tokens=1
        )
        self.teacher_backbone = self.make_teacher(self.backbone)
        self.predictor = JEPAPredictor(
            self.vit.image_size // self.vit.patch_size,
            self.vit.hidden_dim,
            predictor_dim,
            predictor_depth,
            predictor_heads,
        )

    @property
    def vit(self) -> VisionTransformer:
        """The backbone, typed as the torchvision ViT it must be."""
        assert isinstance(self.backbone, VisionTransformer)
        return self.backbone

    @override
    def embed(self, images: Tensor) -> Tensor:
        """Mean patch token `(B, D)` of unmasked `(B, C, H, W)` images."""
        return patch_tokens(self.vit, images).mean(dim=1)

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """Mean squared error of predicted target-block tokens, on view 0.

        The returned features pool the context tokens, which saves a second,
        unmasked student pass.
        """
        images, vit = views[0], self.vit
        if images.shape[-1] != vit.image_size or images.shape[-2] != vit.image_size:
            raise ValueError(
                f"IJEPA trains on images of the ViT's image_size {vit.image_size}, "
                f"got shape {tuple(images.shape)}."
            )
        side = vit.image_size // vit.patch_size
        idx_context, idx_targets = multi_block_masks(
            len(images), (side, side), self.hparams["num_targets"], device=images.device
        )  # (B, K_c), (M, B, K_t)

        # Targets: the EMA encoder's layer-normed tokens of the whole image.
        with torch.no_grad():
            targets = patch_tokens(self.teacher_backbone, images)  # (B, N, D)
            targets = F.layer_norm(targets, targets.shape[-1:])

        # One predictor pass per target block, the blocks stacked on the batch.
        context = patch_tokens(vit, images, idx_context)  # (B, K_c, D)
        num_targets = len(idx_targets)
        assert isinstance(self.predictor, JEPAPredictor)
        predictions = self.predictor(
            context.repeat(num_targets, 1, 1),
            idx_context.repeat(num_targets, 1),
            idx_targets.flatten(0, 1),
        )  # (M * B, K_t, D)
        targets = torch.cat([get_at_index(targets, idx) for idx in idx_targets])
        loss = F.mse_loss(predictions.float(), targets.float())
        return {"loss": loss, "features": context.mean(dim=1).detach()}

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """One view: random resized crop (scale 0.3-1) and flip, no colour jitter."""
        return Augmentation(MAETransform, {"input_size": image_size, "min_scale": 0.3})
