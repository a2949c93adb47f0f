"""DINO: self-distillation from a momentum teacher with multi-crop views."""

from typing import Any

import torch
from lightly.models.modules import DINOProjectionHead
from lightly.transforms import DINOTransform
from torch import nn
from typing_extensions import override

from lightning_ssl import keys
from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.base import SSLMethod, is_small_image
from lightning_ssl.methods.dino_loss import StepCenteredDINOLoss
from lightning_ssl.methods.multicrop import (
    forward_by_resolution,
    local_crop_size,
    split_views,
)
from lightning_ssl.methods.schedules import linear_warmup
from lightning_ssl.methods.types import StepOutput, Views
from lightning_ssl.validation import check_range


class DINO(SSLMethod):
    """DINO (Caron et al., 2021, https://arxiv.org/abs/2104.14294).

    A student (backbone and head with a K-way softmax) matches the output
    distribution of a momentum teacher. The teacher sees only the two global
    crops, the student also the local ones (multi-crop), so the student learns
    local-to-global correspondences. The teacher's outputs are centred and
    sharpened (low temperature) to avoid collapse; the centre and the
    temperature warmup advance once per optimizer step. Torchvision ViTs accept
    the smaller local crops through an interpolated positional embedding.
    Defaults follow the paper's ViT-S/16 recipe (Sec. 3 and Appendix): AdamW
    with learning rate 5e-4 x batch / 256, 10 warmup epochs, weight decay 0.04
    rising to 0.4, teacher momentum 0.996 rising to 1, student temperature 0.1,
    teacher temperature warmed up from 0.04 to 0.07 over 30 epochs, centre
    momentum 0.9, a 65,536-way head with a 256-d bottleneck whose last layer
    stays frozen during the first epoch, and 2 global + 6 local crops. The paper
    also clips gradients at norm 3 (Trainer ``gradient_clip_val=3.0``).

    Args:
        backbone: Backbone name or module, see :class:`SSLMethod`.
        output_dim: Number of output dimensions K of the head.
        projection_hidden_dim: Hidden width of the head's MLP.
        bottleneck_dim: Dimension before the head's last layer.
        head_batch_norm: Batch norm in the head's MLP (for ResNets).
        norm_last_layer: Keep the last layer weight-normalised with norm 1.
        student_temperature: Softmax temperature of the student.
        teacher_temperature: Teacher temperature after the warmup.
        warmup_teacher_temperature: Teacher temperature at the first step.
        warmup_teacher_temperature_epochs: Epochs of linear temperature warmup.
        center_momentum: EMA momentum of the teacher centre.
        freeze_last_layer_epochs: Epochs during which the last layer is fixed.
        num_local_views: Local crops made by :meth:`default_transform`.
        local_crop_size: Side of local crops; 96/224 of the global side when
            ``None`` (a multiple of the patch size for ViTs).
        optimizer: See :class:`SSLMethod`.
        lr: See :class:`SSLMethod`.
        weight_decay: See :class:`SSLMethod`.
        weight_decay_end: See :class:`SSLMethod`.
        teacher_momentum: See :class:`SSLMethod`.
        min_lr_ratio: See :class:`SSLMethod`.
        **kwargs: Further :class:`SSLMethod` arguments.

    Raises:
        ValueError: If an argument is not an allowed choice or out of range.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import DINO
        >>> model = DINO("narrow_resnet18", output_dim=256, projection_hidden_dim=64,
        ...              bottleneck_dim=32)
        >>> views = [torch.randn(4, 3, 32, 32)] * 2 + [torch.randn(4, 3, 16, 16)] * 4
        >>> model.compute_loss(views)["projections"].shape
        torch.Size([4, 256])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "vit_small",
        *,
        output_dim: int = 65536,
        projection_hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        head_batch_norm: bool = False,
        norm_last_layer: bool = True,
        student_temperature: float = 0.1,
        teacher_temperature: float = 0.07,
        warmup_teacher_temperature: float = 0.04,
        warmup_teacher_temperature_epochs: float = 30.0,
        center_momentum: float = 0.9,
        freeze_last_layer_epochs: float = 1.0,
        num_local_views: int = 6,
        local_crop_size: int | None = None,
        optimizer: str = "adamw",
        lr: float = 5e-4,
        weight_decay: float = 0.04,
        weight_decay_end: float | None = 0.4,
        teacher_momentum: float = 0.996,
        min_lr_ratio: float = 2e-3,
        **kwargs: Any,
    ) -> None:
        for name, value in [
            ("student_temperature", student_temperature),
            ("teacher_temperature", teacher_temperature),
            ("warmup_teacher_temperature", warmup_teacher_temperature),
        ]:
            check_range(name, value, low=0.0, low_open=True)
        check_range("center_momentum", center_momentum, low=0.0, high=1.0)
        check_range("num_local_views", num_local_views, low=0)
        super().__init__(
            backbone,
            optimizer=optimizer,
            lr=lr,
            weight_decay=weight_decay,
            weight_decay_end=weight_decay_end,
            teacher_momentum=teacher_momentum,
            min_lr_ratio=min_lr_ratio,
            **kwargs,
        )
        self.projection_head: DINOProjectionHead = self.build_projection_head()
        self.teacher_backbone = self.make_teacher(self.backbone)
        self.teacher_projection_head = self.make_teacher(
            self.projection_head, blank=self.build_projection_head()
        )
        self.criterion = self.build_criterion()
        self.freeze_early(self.projection_head.last_layer, freeze_last_layer_epochs)
        self.teacher_temperature = warmup_teacher_temperature

    def build_projection_head(self) -> DINOProjectionHead:
        """MLP, L2 norm and weight-normalised K-way layer: `(B, D) -> (B, K)`."""
        hp = self.hparams
        return DINOProjectionHead(
            self.feature_dim,
            hp["projection_hidden_dim"],
            hp["bottleneck_dim"],
            hp["output_dim"],
            batch_norm=hp["head_batch_norm"],
            norm_last_layer=hp["norm_last_layer"],
        )

    def build_criterion(self) -> nn.Module:
        """lightly's DINO loss, its centre moved in :meth:`after_optimizer_step`."""
        hp = self.hparams
        return StepCenteredDINOLoss(
            hp["output_dim"],
            student_temp=hp["student_temperature"],
            center_momentum=hp["center_momentum"],
        )

    def teacher_temperature_at(self, step: int) -> float:
        """Teacher temperature at an optimizer step: linear warmup, then constant."""
        hp = self.hparams
        warmup = self.steps_for_epochs(hp["warmup_teacher_temperature_epochs"])
        start, end = hp["warmup_teacher_temperature"], hp["teacher_temperature"]
        return linear_warmup(step, warmup, start, end)

    @override
    def on_train_start(self) -> None:
        """Set the teacher temperature of the first step (also when resuming)."""
        self.teacher_temperature = self.teacher_temperature_at(self.trainer.global_step)

    @override
    def after_optimizer_step(self, step: int) -> None:
        """Update teachers, the teacher centre and the teacher temperature."""
        super().after_optimizer_step(step)
        if isinstance(self.criterion, StepCenteredDINOLoss):
            self.criterion.step_center()
        self.teacher_temperature = self.teacher_temperature_at(step + 1)
        self.log(keys.TRAIN_TEACHER_TEMPERATURE, self.teacher_temperature)

    @override
    def compute_loss(self, views: Views) -> StepOutput:
        """Cross-entropy of student views against teacher global views."""
        global_views, _ = split_views(views, num_global=2)
        teacher_out = forward_by_resolution(self.project_teacher, global_views)

        # The head runs once on all views, as the student sees them together.
        features = forward_by_resolution(self.embed, views)
        student_out = self.projection_head(torch.cat(features)).chunk(len(views))
        loss = self.criterion(
            teacher_out, list(student_out), teacher_temp=self.teacher_temperature
        )
        return {
            "loss": loss,
            "features": features[0].detach(),
            "projections": student_out[0].detach(),
        }

    @override
    def default_augmentation(self, image_size: int) -> Augmentation:
        """lightly's DINO multi-crop: 2 global and ``num_local_views`` local crops."""
        hp = self.hparams
        local_size = hp["local_crop_size"] or local_crop_size(image_size, self.backbone)
        blur = (0.0, 0.0, 0.0) if is_small_image(image_size) else (1.0, 0.1, 0.5)
        return Augmentation(
            DINOTransform,
            {
                "global_crop_size": image_size,
                "local_crop_size": local_size,
                "n_local_views": hp["num_local_views"],
                "gaussian_blur": blur,
            },
        )
