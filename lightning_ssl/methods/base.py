"""`SSLMethod`: the LightningModule every self-supervised method builds on."""

import copy
import math
from collections.abc import Callable
from typing import Any, TypedDict

from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.utils.scheduler import CosineWarmupScheduler, cosine_schedule
from lightning import LightningModule
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.types import OptimizerLRScheduler
from torch import Tensor, nn
from torch.optim import Optimizer
from typing_extensions import NotRequired, override

from lightning_ssl import keys
from lightning_ssl.backbones import (
    build_backbone,
    infer_feature_dim,
    load_backbone_weights,
)
from lightning_ssl.methods.optim import (
    LR_SCALINGS,
    OPTIMIZERS,
    build_optimizer,
    parameter_groups,
    scaled_lr,
)
from lightning_ssl.validation import check_choice, check_positive_int, check_range

Views = list[Tensor]
MultiViewTransform = Callable[[Any], list[Tensor]]
BatchTransform = Callable[[Tensor], list[Tensor]]


# Checkpoint entry naming the method class, e.g. "lightning_ssl.methods.SimCLR".
METHOD_CLASS_KEY = "lightning_ssl_method"


class StepOutput(TypedDict):
    """What `SSLMethod.training_step` returns; callbacks read it.

    ``features`` are the backbone features `(B, D)` of the first view and
    ``projections`` the head outputs `(B, P)` the loss saw for that view, both
    detached. Collapse monitors and online probes use them without another
    forward pass.
    """

    loss: Tensor
    features: Tensor
    projections: NotRequired[Tensor]
    targets: NotRequired[Tensor]


class SSLMethod(LightningModule):
    """Base class of every self-supervised method in lightning_ssl.

    It owns what all methods share: the backbone, ``embed`` (what evaluation
    callbacks use), optimizers with batch-scaled learning rate and warmup-cosine
    schedule, and teacher networks updated by an exponential moving average.
    A method adds its heads in ``__init__`` and implements :meth:`compute_loss`;
    a user subclass overrides one of the ``build_*`` hooks, ``compute_loss`` or
    :meth:`default_transform`.

    A training batch is ``(views, targets)``: ``views`` a list of `(B, C, H, W)`
    tensors (one per augmented view; sizes may differ for multi-crop) and
    ``targets`` a `(B,)` tensor of class ids, ``-1`` where unknown. A validation
    batch is ``(images, targets)`` with un-augmented `(B, C, H, W)` images.

    Args:
        backbone: Name from :data:`lightning_ssl.backbones.BACKBONES` or any
            module mapping `(B, C, H, W)` images to `(B, D)` (or `(B, D, 1, 1)`)
            features.
        cifar_stem: With a ResNet name: 3x3 stride-1 stem without max-pool, for
            32x32 images.
        backbone_kwargs: Further arguments of the named backbone, e.g.
            ``{"image_size": 32, "patch_size": 4}`` for ViTs.
        pretrained: Path to local weights for the backbone (a state dict or a
            lightning_ssl checkpoint).
        feature_dim: Backbone feature dimension D; inferred when ``None``.
        optimizer: ``"sgd"``, ``"adamw"`` or ``"lars"``.
        lr: Learning rate at ``reference_batch_size``; scaled to the global batch
            by ``lr_scaling``.
        lr_scaling: ``"linear"``, ``"sqrt"`` or ``"none"``.
        reference_batch_size: Batch size at which ``lr`` applies.
        weight_decay: Weight decay; biases, norms and tokens get none.
        momentum: Momentum of SGD and LARS.
        warmup_epochs: Epochs of linear learning-rate warmup before the cosine
            decay (fractions allowed).
        min_lr_ratio: Final learning rate as a fraction of the peak.
        teacher_momentum: EMA momentum of teacher networks at the first step;
            it follows a cosine schedule to ``teacher_momentum_end``.
        teacher_momentum_end: EMA momentum at the last step.
        batch_size: Per-device batch size used for LR scaling; read from the
            training loader when ``None``.
        sync_batchnorm: Convert batch norms to synchronised ones. ``None``: only
            when training on more than one GPU.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import SimCLR
        >>> model = SimCLR(backbone="narrow_resnet18", cifar_stem=True)
        >>> model.embed(torch.randn(4, 3, 32, 32)).shape
        torch.Size([4, 128])
    """

    def __init__(
        self,
        backbone: str | nn.Module = "resnet18",
        *,
        cifar_stem: bool = False,
        backbone_kwargs: dict[str, Any] | None = None,
        pretrained: str | None = None,
        feature_dim: int | None = None,
        optimizer: str = "sgd",
        lr: float = 0.05,
        lr_scaling: str = "linear",
        reference_batch_size: int = 256,
        weight_decay: float = 1e-4,
        momentum: float = 0.9,
        warmup_epochs: float = 10.0,
        min_lr_ratio: float = 0.0,
        teacher_momentum: float = 0.99,
        teacher_momentum_end: float = 1.0,
        batch_size: int | None = None,
        sync_batchnorm: bool | None = None,
    ) -> None:
        super().__init__()
        check_choice("optimizer", optimizer, OPTIMIZERS)
        check_choice("lr_scaling", lr_scaling, LR_SCALINGS)
        check_range("lr", lr, low=0.0, low_open=True)
        check_range("weight_decay", weight_decay, low=0.0)
        check_range("warmup_epochs", warmup_epochs, low=0.0)
        check_range("min_lr_ratio", min_lr_ratio, low=0.0, high=1.0)
        check_range("teacher_momentum", teacher_momentum, low=0.0, high=1.0)
        check_range("teacher_momentum_end", teacher_momentum_end, low=0.0, high=1.0)
        if batch_size is not None:
            check_positive_int("batch_size", batch_size)
        self.save_hyperparameters(
            ignore=["backbone"] if isinstance(backbone, nn.Module) else []
        )

        self.backbone = self.build_backbone(backbone, cifar_stem, backbone_kwargs or {})
        if pretrained is not None:
            load_backbone_weights(self.backbone, pretrained)
        self.feature_dim = feature_dim or infer_feature_dim(self.backbone)
        self._teacher_pairs: list[tuple[nn.Module, nn.Module]] = []

    def build_backbone(
        self, backbone: str | nn.Module, cifar_stem: bool, kwargs: dict[str, Any]
    ) -> nn.Module:
        """Create the backbone; override to build a custom one from a name."""
        if isinstance(backbone, nn.Module):
            return backbone
        if not isinstance(backbone, str):
            raise TypeError(
                f"`backbone` must be a name or an nn.Module, got {type(backbone)}."
            )
        if backbone.startswith(("resnet", "narrow_resnet")):
            kwargs = {"cifar_stem": cifar_stem, **kwargs}
        return build_backbone(backbone, **kwargs)

    def embed(self, images: Tensor) -> Tensor:
        """Backbone features of `(B, C, H, W)` images, as `(B, D)`.

        This is the representation that evaluation callbacks (kNN, linear
        probes, embedding plots) and downstream users consume.
        """
        return self.backbone(images).flatten(1)

    @override
    def forward(self, images: Tensor) -> Tensor:
        """Same as :meth:`embed`."""
        return self.embed(images)

    def compute_loss(self, views: Views) -> StepOutput:
        """The method's loss on a list of augmented views.

        Args:
            views: `V` tensors of shape `(B, C, H, W)`.

        Returns:
            The loss and the detached features (and projections) of view 0.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement compute_loss")

    def default_transform(self, image_size: int) -> MultiViewTransform:
        """Per-sample multi-view transform (PIL image -> views) for this method.

        Datamodules created without a ``transform`` ask the model for this one.

        Args:
            image_size: Side of the (square) training images.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no default transform; pass `transform` to "
            "the datamodule."
        )

    def default_batch_transform(self, image_size: int) -> BatchTransform:
        """Batched multi-view transform (`(B, C, H, W)` -> views) for this method.

        Used by datamodules with ``augment_on="device"``.

        Args:
            image_size: Side of the (square) training images.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no batched transform; pass `batch_transform` "
            "to the datamodule or use `augment_on='workers'`."
        )

    def make_teacher(self, student: nn.Module) -> nn.Module:
        """Copy ``student`` into a frozen teacher that follows it by EMA.

        The teacher is updated once per optimizer step, after the step, with
        the momentum from :meth:`teacher_momentum_at` (BYOL, Grill et al., 2020,
        Sec. 3.1). Assign the result to an attribute so that it is saved.
        """
        teacher = copy.deepcopy(student)
        deactivate_requires_grad(teacher)
        self._teacher_pairs.append((student, teacher))
        return teacher

    def teacher_momentum_at(self, step: int) -> float:
        """EMA momentum at an optimizer step: cosine from start to end value."""
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        return cosine_schedule(
            min(step, total),
            total,
            self.hparams["teacher_momentum"],
            self.hparams["teacher_momentum_end"],
        )

    def after_optimizer_step(self, step: int) -> None:
        """Runs once per optimizer step, after it; updates teachers.

        Override to add per-step schedules (call ``super()``). With gradient
        accumulation it runs once per accumulated step, not per batch.

        Args:
            step: Index of the optimizer step that just finished, from 0.
        """
        if not self._teacher_pairs:
            return
        momentum = self.teacher_momentum_at(step)
        for student, teacher in self._teacher_pairs:
            update_momentum(student, teacher, momentum)
        self.log(keys.TRAIN_MOMENTUM, momentum)

    @override
    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """Step the optimizer, then run :meth:`after_optimizer_step`."""
        step = self.trainer.global_step
        super().optimizer_step(*args, **kwargs)
        self.after_optimizer_step(step)

    @override
    def training_step(self, batch: tuple[Views, Tensor], batch_idx: int) -> StepOutput:
        """Compute and log the loss of one batch of views."""
        views, targets = batch
        if not isinstance(views, list | tuple) or not views:
            raise TypeError(
                "A training batch must be (views, targets) with views a non-empty "
                f"list of (B, C, H, W) tensors, got views of type {type(views)}."
            )
        output = self.compute_loss(list(views))
        output["targets"] = targets

        # Per-step values come from rank 0 only: syncing them would cost an
        # all-reduce every step for a curve that is already smooth enough.
        batch_size = len(targets)
        self.log(keys.TRAIN_LOSS, output["loss"], prog_bar=True, batch_size=batch_size)
        optimizer = self.optimizers(use_pl_optimizer=False)
        if isinstance(optimizer, Optimizer):
            lr = optimizer.param_groups[0]["lr"]
            self.log(keys.TRAIN_LR, lr, batch_size=batch_size)
        return output

    @override
    def validation_step(
        self, batch: tuple[Tensor, Tensor], batch_idx: int
    ) -> dict[str, Tensor]:
        """Embed a labelled batch; evaluation callbacks consume the features."""
        images, targets = batch
        if not isinstance(images, Tensor):
            raise TypeError(
                "A validation batch must be (images, targets) with images a "
                f"(B, C, H, W) tensor, got {type(images)}. Serve the validation "
                "split with the evaluation transform, not the multi-view one."
            )
        return {"features": self.embed(images), "targets": targets}

    @override
    def setup(self, stage: str) -> None:
        """Convert batch norms to synchronised ones when requested."""
        sync = self.hparams["sync_batchnorm"]
        if sync is None:
            # On CPU (gloo) SyncBatchNorm is not implemented, and on one device
            # it only adds overhead; multi-GPU runs need it for the batch
            # statistics that contrastive losses are sensitive to.
            sync = self.trainer.world_size > 1 and self.device.type == "cuda"
        if sync and self.trainer.world_size > 1:
            nn.SyncBatchNorm.convert_sync_batchnorm(self)

    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Record the method's class so :func:`load_method` can rebuild it."""
        cls = type(self)
        checkpoint[METHOD_CLASS_KEY] = f"{cls.__module__}.{cls.__qualname__}"

    def global_batch_size(self) -> int:
        """Samples per optimizer step: per-device batch x devices x accumulation."""
        per_device = self.hparams["batch_size"] or _loader_batch_size(self.trainer)
        trainer = self.trainer
        return per_device * trainer.world_size * trainer.accumulate_grad_batches

    def trainable_modules(self) -> list[nn.Module]:
        """Modules whose parameters the optimizer updates (teachers excluded)."""
        teachers = {id(teacher) for _, teacher in self._teacher_pairs}
        return [m for m in self.children() if id(m) not in teachers]

    @override
    def configure_optimizers(self) -> OptimizerLRScheduler:
        """Optimizer with scaled LR and a per-step warmup-cosine schedule."""
        hp = self.hparams
        total_steps = max(int(self.trainer.estimated_stepping_batches), 1)
        global_batch = self.global_batch_size()
        lr = scaled_lr(
            hp["lr"], global_batch, hp["lr_scaling"], hp["reference_batch_size"]
        )

        groups = parameter_groups(self.trainable_modules(), hp["weight_decay"])
        optimizer = build_optimizer(hp["optimizer"], groups, lr, hp["momentum"])
        warmup_steps = min(
            round(hp["warmup_epochs"] * _steps_per_epoch(self.trainer)), total_steps
        )
        scheduler = CosineWarmupScheduler(
            optimizer,
            warmup_epochs=warmup_steps,
            max_epochs=total_steps,
            end_value=hp["min_lr_ratio"],
        )
        rank_zero_info(
            f"{type(self).__name__}: {hp['optimizer']} with lr {lr:.4g} (base "
            f"{hp['lr']} at batch {hp['reference_batch_size']}, global batch "
            f"{global_batch}, {hp['lr_scaling']} scaling), {warmup_steps} warmup of "
            f"{total_steps} steps."
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def _loader_batch_size(trainer: Any) -> int:
    loader = trainer.train_dataloader
    size = getattr(loader, "batch_size", None)
    if size is None:
        size = getattr(getattr(loader, "batch_sampler", None), "batch_size", None)
    if not isinstance(size, int):
        raise ValueError(
            "Could not read the per-device batch size from the training loader "
            f"({type(loader).__name__}); pass `batch_size` to the method for "
            "learning-rate scaling."
        )
    return size


def _steps_per_epoch(trainer: Any) -> float:
    batches = trainer.num_training_batches
    if math.isinf(batches):
        return float(trainer.estimated_stepping_batches) / max(
            trainer.max_epochs or 1, 1
        )
    return batches / trainer.accumulate_grad_batches


def is_small_image(image_size: int) -> bool:
    """Whether images are CIFAR-sized, where recipes usually drop Gaussian blur.

    Blur on 32x32 images removes most of their content; SimCLR (Chen et al.,
    2020, Appendix B.9) and the CIFAR-10 recipes of its successors omit it.
    """
    return image_size <= 64
