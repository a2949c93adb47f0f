"""MAE: reconstruct the pixels of masked patches from the visible ones."""

from typing import Any

import torch
from lightly.models.modules import MAEDecoder
from lightly.models.utils import (
    get_at_index,
    initialize_positional_embedding,
    normalize_mean_var,
    patchify,
    random_token_mask,
    repeat_token,
    set_at_index,
)
from lightly.transforms import MAETransform
from torch import Tensor, nn
from torch.nn import functional as F
from torchvision.models.vision_transformer import VisionTransformer
from typing_extensions import override

from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod
from lightning_ssl.methods.types import StepOutput, Views
from lightning_ssl.methods.vit import backbone_features, vit_tokens
from lightning_ssl.validation import check_choice, check_positive_int, check_range


class MAE(SSLMethod):
    """Masked autoencoder (He et al., 2022, https://arxiv.org/abs/2111.06377).

    A ViT encoder sees a random 25% of the patches of each image; a light
    transformer decoder gets the encoded patches plus a shared mask token at
    the masked positions and predicts the masked patches' pixels, normalised
    per patch. Only the encoder (the backbone) is kept. Defaults follow the
    paper (Sec. 4 and Table 8): mask ratio 0.75, a decoder of depth 8 and width
    512, AdamW with betas (0.9, 0.95), learning rate 1.5e-4 x batch / 256,
    weight decay 0.05, 40 warmup epochs, fixed sine-cosine positional
    embeddings, and random-resized-crop and flip augmentations only.

    The backbone must be a torchvision ViT (e.g. ``"vit_base"``, or
    ``"vit_tiny"`` with ``backbone_kwargs={"image_size": 32, "patch_size": 4}``)
    and training images must have its ``image_size``. :meth:`embed` returns the
    class token of the unmasked image, or the mean of its patch tokens with
    ``pooling="mean"``.

    Args:
        backbone: Name or instance of a torchvision ViT.
        mask_ratio: Fraction of patches hidden from the encoder.
        decoder_depth: Transformer blocks in the decoder.
        decoder_dim: Token width of the decoder.
        decoder_heads: Attention heads of the decoder; must divide its width.
        norm_pix_loss: Normalise each target patch to zero mean and unit
            variance, which improves the features (Table 1c).
        pooling: ``"cls"`` or ``"mean"``: how :meth:`embed` pools tokens.
        optimizer: See :class:`SSLMethod`.
        lr: See :class:`SSLMethod`.
        weight_decay: See :class:`SSLMethod`.
        betas: See :class:`SSLMethod`.
        warmup_epochs: See :class:`SSLMethod`.
        **kwargs: Further :class:`SSLMethod` arguments.

    Raises:
        ValueError: If an argument is not an allowed choice or out of range.
        TypeError: If the backbone is not a torchvision `VisionTransformer`.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import MAE
        >>> model = MAE("vit_tiny", backbone_kwargs={"image_size": 32, "patch_size": 4},
        ...             decoder_depth=1, decoder_dim=32, decoder_heads=2)
        >>> model.compute_loss([torch.randn(2, 3, 32, 32)])["loss"].shape
        torch.Size([])
        >>> model.embed(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 192])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "vit_base",
        *,
        mask_ratio: float = 0.75,
        decoder_depth: int = 8,
        decoder_dim: int = 512,
        decoder_heads: int = 16,
        norm_pix_loss: bool = True,
        pooling: str = "cls",
        optimizer: str = "adamw",
        lr: float = 1.5e-4,
        weight_decay: float = 0.05,
        betas: tuple[float, float] = (0.9, 0.95),
        warmup_epochs: float = 40.0,
        **kwargs: Any,
    ) -> None:
        check_range("mask_ratio", mask_ratio, low=0.0, high=1.0, low_open=True)
        check_positive_int("decoder_depth", decoder_depth)
        check_positive_int("decoder_dim", decoder_dim)
        check_positive_int("decoder_heads", decoder_heads)
        if decoder_dim % decoder_heads:
            raise ValueError(
                f"`decoder_heads` must divide `decoder_dim` ({decoder_dim}), got "
                f"{decoder_heads}."
            )
        check_choice("pooling", pooling, ("cls", "mean"))
        super().__init__(
            backbone,
            optimizer=optimizer,
            lr=lr,
            weight_decay=weight_decay,
            betas=betas,
            warmup_epochs=warmup_epochs,
            **kwargs,
        )
        if not isinstance(self.backbone, VisionTransformer):
            raise TypeError(
                "MAE needs a torchvision VisionTransformer backbone such as "
                f"'vit_base', got {type(self.backbone).__name__}."
            )
        initialize_positional_embedding(
            self.vit.encoder.pos_embedding, strategy="sincos", num_prefix_tokens=1
        )
        self.decoder = self.build_decoder()
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        nn.init.normal_(self.mask_token, std=0.02)

    @property
    def vit(self) -> VisionTransformer:
        """The backbone, typed as the torchvision ViT it must be."""
        assert isinstance(self.backbone, VisionTransformer)
        return self.backbone

    def build_decoder(self) -> MAEDecoder:
        """lightly's torchvision-based decoder: tokens `(B, 1 + N, D)` to pixels."""
        hp = self.hparams
        return MAEDecoder(
            seq_length=self.vit.seq_length,
            num_layers=hp["decoder_depth"],
            num_heads=hp["decoder_heads"],
            embed_input_dim=self.vit.hidden_dim,
            hidden_dim=hp["decoder_dim"],
            mlp_dim=4 * hp["decoder_dim"],
            out_dim=self.vit.patch_size**2 * 3,
        )

    @override
    def embed(self, images: Tensor) -> Tensor:
        """Class token, or mean patch token, `(B, D)` of unmasked images."""
        if self.hparams["pooling"] == "cls":
            return backbone_features(self.vit, images)
        return vit_tokens(self.vit, images)[:, 1:].mean(dim=1)

    def pool(self, tokens: Tensor) -> Tensor:
        """Pool encoded tokens `(B, 1 + K, D)` into features `(B, D)`."""
        if self.hparams["pooling"] == "cls":
            return tokens[:, 0]
        return tokens[:, 1:].mean(dim=1)

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """Mean squared error on the masked patches of the first view.

        The returned features pool the visible tokens only, which saves a
        second, unmasked encoder pass.
        """
        images = views[0]
        if images.shape[-1] != self.vit.image_size:
            raise ValueError(
                f"MAE trains on images of the ViT's image_size {self.vit.image_size}, "
                f"got shape {tuple(images.shape)}."
            )
        batch_size, sequence_length = len(images), self.vit.seq_length
        idx_keep, idx_mask = random_token_mask(
            (batch_size, sequence_length),
            self.hparams["mask_ratio"],
            device=images.device,
        )
        tokens = vit_tokens(self.vit, images, idx_keep)  # (B, 1 + K, D)

        # Decoder input: encoded tokens where kept, the mask token elsewhere.
        # Under autocast the embedded tokens are bf16 or fp16 while the mask
        # token stays float32, and the scatter needs one dtype.
        embedded = self.decoder.embed(tokens)  # (B, 1 + K, decoder_dim)
        dtype = torch.promote_types(embedded.dtype, self.mask_token.dtype)
        x = repeat_token(self.mask_token.to(dtype), (batch_size, sequence_length))
        x = set_at_index(x, idx_keep, embedded.to(dtype))
        x = self.decoder.decode(x)  # (B, 1 + N, decoder_dim)
        predictions = self.decoder.predict(get_at_index(x, idx_mask))

        # Pixel targets of the masked patches; index 0 is the class token.
        targets = patchify(images, self.vit.patch_size)  # (B, N, p * p * 3)
        targets = get_at_index(targets, idx_mask - 1)
        if self.hparams["norm_pix_loss"]:
            targets = normalize_mean_var(targets, dim=-1)
        loss = F.mse_loss(predictions, targets)
        return {"loss": loss, "features": self.pool(tokens).detach()}

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """lightly's MAE view: random resized crop (scale 0.2-1) and flip."""
        return Augmentation(MAETransform, {"input_size": image_size})
