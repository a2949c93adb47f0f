"""MSN: match prototype assignments of masked views to those of unmasked views."""

from typing import Any

import torch
from lightly.loss import MSNLoss
from lightly.models.modules.heads import MSNProjectionHead
from lightly.models.utils import random_token_mask
from lightly.transforms import MSNTransform
from lightly.utils import dist
from torch import Tensor, nn
from torchvision.models.vision_transformer import VisionTransformer
from typing_extensions import override

from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod, is_small_image
from lightning_ssl.methods.multicrop import forward_by_resolution, local_crop_size
from lightning_ssl.methods.types import StepOutput, Views
from lightning_ssl.methods.vit import vit_tokens
from lightning_ssl.validation import check_positive_int, check_range


class GlobalMEMaxLoss(MSNLoss):
    """lightly's MSN loss with the ME-MAX term on the mean over all devices.

    lightly averages the anchor probabilities of the local batch only; MSN
    maximises the entropy of their mean over the global batch (Assran et al.,
    2022, Sec. 3 and its code), which the gather below restores under DDP.
    """

    @override
    def regularization_loss(self, mean_anchor_probs: Tensor) -> Tensor:
        """Negative entropy of the mean `(K,)` prediction, plus ``log K``."""
        if dist.world_size() > 1:
            mean_anchor_probs = torch.stack(dist.gather(mean_anchor_probs)).mean(0)
        loss: Tensor = super().regularization_loss(mean_anchor_probs)
        return loss


class MSN(SSLMethod):
    """Masked Siamese Networks (Assran et al., 2022, https://arxiv.org/abs/2204.07141).

    An EMA target network embeds the unmasked view 0; the student embeds the
    other (anchor) views, with a random ``mask_ratio`` of the patches of the
    full-size anchors dropped before the transformer. Both embeddings are
    softly assigned to learnable prototypes (cosine similarity, temperature
    ``temperature``); the target assignment is sharpened to ``target_temperature``
    and balanced by Sinkhorn, and the student's cross-entropy to it is
    regularised by ME-MAX, the entropy of the mean prediction (Sec. 3).
    Focal views (small crops, Sec. 3 "focal masking") are anchors that are not
    masked, as in the official code. Defaults follow the ViT-S/16 recipe (Sec. 5,
    Appendix C and the official config): mask ratio 0.15, 1024 prototypes, a
    3-layer head of width 2048 and output 256, temperatures 0.1 / 0.025, ME-MAX
    weight 1, 1 target + 1 anchor view of the full size and 10 focal views,
    colour-jitter strength 0.5, AdamW with learning rate 1e-3 x batch / 1024,
    15 warmup epochs, weight decay 0.04 rising to 0.4 and EMA momentum 0.996
    rising to 1. The prototypes get no weight decay. The official code also
    clips gradients at norm 3 (Trainer ``gradient_clip_val=3.0``).

    With ``mask_ratio > 0`` the backbone must be a torchvision ViT;
    :meth:`embed` returns the class token `(B, D)` of unmasked images. Under DDP
    Sinkhorn and ME-MAX use the global batch (lightly's ``gather_distributed``
    covers Sinkhorn only; :class:`GlobalMEMaxLoss` gathers ME-MAX). With
    ``augment_on="device"`` :meth:`default_batch_transform` makes the same views
    with :class:`~lightning_ssl.transforms.BatchedMSNTransform`.

    Args:
        backbone: Backbone name or module, see :class:`SSLMethod`.
        projection_hidden_dim: Hidden width of the projection head.
        projection_dim: Output dimension P of the head and of the prototypes.
        num_prototypes: Number of learnable prototypes K.
        mask_ratio: Fraction of patches dropped from full-size anchor views.
        temperature: Softmax temperature of the anchor assignments.
        target_temperature: Temperature of the sharpened target assignments.
        regularization_weight: Weight of the ME-MAX term; 0 disables it.
        sinkhorn_iterations: Sinkhorn iterations on the targets; 0 disables it.
        num_focal_views: Focal views made by :meth:`default_transform`.
        focal_crop_size: Side of focal views; 96/224 of the image side when
            ``None`` (a multiple of the patch size for ViTs).
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
        ValueError: If an argument is not an allowed choice or out of range.
        TypeError: If ``mask_ratio > 0`` and the backbone is not a torchvision ViT.

    Example:
        >>> import torch
        >>> model = MSN("vit_tiny", backbone_kwargs={"image_size": 32, "patch_size": 8},
        ...             projection_hidden_dim=32, projection_dim=16, num_prototypes=8)
        >>> views = [torch.randn(4, 3, 32, 32)] * 2 + [torch.randn(4, 3, 16, 16)] * 2
        >>> model.compute_loss(views)["projections"].shape
        torch.Size([4, 16])
        >>> model.embed(views[0]).shape
        torch.Size([4, 192])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "vit_small",
        *,
        projection_hidden_dim: int = 2048,
        projection_dim: int = 256,
        num_prototypes: int = 1024,
        mask_ratio: float = 0.15,
        temperature: float = 0.1,
        target_temperature: float = 0.025,
        regularization_weight: float = 1.0,
        sinkhorn_iterations: int = 3,
        num_focal_views: int = 10,
        focal_crop_size: int | None = None,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        reference_batch_size: int = 1024,
        weight_decay: float = 0.04,
        weight_decay_end: float | None = 0.4,
        warmup_epochs: float = 15.0,
        min_lr_ratio: float = 1e-3,
        teacher_momentum: float = 0.996,
        **kwargs: Any,
    ) -> None:
        for name, value in [
            ("projection_hidden_dim", projection_hidden_dim),
            ("projection_dim", projection_dim),
            ("num_prototypes", num_prototypes),
        ]:
            check_positive_int(name, value)
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"`mask_ratio` must be in [0.0, 1.0), got {mask_ratio}.")
        check_range("temperature", temperature, low=0.0, low_open=True)
        check_range(
            "target_temperature", target_temperature, 0.0, temperature, low_open=True
        )
        check_range("regularization_weight", regularization_weight, low=0.0)
        check_range("sinkhorn_iterations", sinkhorn_iterations, low=0)
        check_range("num_focal_views", num_focal_views, low=0)
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
        if mask_ratio > 0 and not isinstance(self.backbone, VisionTransformer):
            raise TypeError(
                "MSN masks patches and needs a torchvision VisionTransformer "
                f"backbone such as 'vit_small', got {type(self.backbone).__name__}; "
                "pass mask_ratio=0 for other backbones."
            )
        self.projection_head = MSNProjectionHead(
            self.feature_dim, projection_hidden_dim, projection_dim
        )
        self.prototypes = nn.Linear(projection_dim, num_prototypes, bias=False)
        self.teacher_backbone = self.make_teacher(self.backbone)
        self.teacher_projection_head = self.make_teacher(self.projection_head)
        self.criterion = GlobalMEMaxLoss(
            temperature=temperature,
            sinkhorn_iterations=sinkhorn_iterations,
            regularization_weight=regularization_weight,
            gather_distributed=True,
        )

    def anchor_features(self, images: Tensor, mask: bool) -> Tensor:
        """Student class tokens `(B, D)`, with ``mask_ratio`` of patches dropped."""
        mask_ratio = self.hparams["mask_ratio"]
        if not mask or mask_ratio == 0:
            return self.embed(images)
        assert isinstance(self.backbone, VisionTransformer)
        patch = self.backbone.patch_size
        num_tokens = 1 + (images.shape[-2] // patch) * (images.shape[-1] // patch)
        idx_keep, _ = random_token_mask(
            (len(images), num_tokens), mask_ratio, device=images.device
        )
        return vit_tokens(self.backbone, images, idx_keep)[:, 0]

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """Cross-entropy of anchor assignments to the target's, plus ME-MAX.

        The returned features and projections are the student's on view 1
        (masked), which saves an extra unmasked student pass.
        """
        if len(views) < 2:
            raise ValueError(
                "MSN needs a target view and at least one anchor view per batch, "
                f"got {len(views)} views. Use the method's default_transform."
            )
        target_view, anchor_views = views[0], views[1:]
        targets = self.project_teacher(target_view)  # (B, P)

        # Anchors of the target's size are masked, smaller focal crops are not.
        size = target_view.shape[-2:]
        features = forward_by_resolution(
            lambda x: self.anchor_features(x, mask=x.shape[-2:] == size), anchor_views
        )
        anchors = self.projection_head(torch.cat(features))  # (A * B, P)
        loss = self.criterion(
            anchors,
            targets,
            self.prototypes.weight,
            target_sharpen_temperature=(
                self.hparams["target_temperature"] / self.hparams["temperature"]
            ),
        )
        return {
            "loss": loss,
            "features": features[0].detach(),
            "projections": anchors[: len(target_view)].detach(),
        }

    @override
    def build_parameter_groups(self) -> list[dict[str, Any]]:
        """The default groups, with the prototypes moved to the one without decay.

        The official code excludes the prototypes from weight decay.
        """
        decayed, undecayed = super().build_parameter_groups()
        prototypes = self.prototypes.weight
        decayed["params"] = [p for p in decayed["params"] if p is not prototypes]
        undecayed["params"] = [*undecayed["params"], prototypes]
        return [decayed, undecayed]

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """lightly's MSN views: 2 full-size views, ``num_focal_views`` focal ones."""
        hp = self.hparams
        focal_size = hp["focal_crop_size"] or local_crop_size(image_size, self.backbone)
        return Augmentation(
            MSNTransform,
            {
                "random_size": image_size,
                "focal_size": focal_size,
                "random_views": 2,
                "focal_views": hp["num_focal_views"],
                "cj_strength": 0.5,
                "gaussian_blur": 0.0 if is_small_image(image_size) else 0.5,
            },
        )
