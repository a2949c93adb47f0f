"""`SSLMethod`: the LightningModule every self-supervised method builds on."""

from typing import Any

import torch
from lightly.models.utils import update_momentum
from lightning import LightningModule
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.types import OptimizerLRScheduler
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR
from typing_extensions import override

from lightning_ssl import keys
from lightning_ssl.backbones import (
    build_backbone,
    infer_feature_dim,
    load_backbone_weights,
)
from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.optim import (
    LR_SCALINGS,
    OPTIMIZERS,
    build_optimizer,
    loader_batch_size,
    parameter_groups,
    scaled_lr,
    steps_per_epoch,
)
from lightning_ssl.methods.schedules import cosine_at, warmup_cosine_at
from lightning_ssl.methods.teacher import frozen_copy
from lightning_ssl.methods.types import (
    BatchTransform,
    MultiViewTransform,
    Projection,
    StepOutput,
    Views,
)
from lightning_ssl.methods.vit import backbone_features
from lightning_ssl.validation import check_choice, check_positive_int, check_range

# Checkpoint entry naming the method class, e.g. "lightning_ssl.methods.SimCLR".
METHOD_CLASS_KEY = "lightning_ssl_method"


class SSLMethod(LightningModule):
    """Base class of every self-supervised method in lightning_ssl.

    It owns what all methods share: the backbone, ``embed`` (what evaluation
    callbacks use), optimizers with batch-scaled learning rate and warmup-cosine
    schedule, teacher networks updated by an exponential moving average, the
    wiring backbone -> projection head -> predictor (:meth:`project`,
    :meth:`project_teacher`) and modules kept frozen for the first epochs
    (:meth:`freeze_early`). A method adds its heads in ``__init__`` and
    implements :meth:`compute_loss`; a user subclass overrides one of the
    ``build_*`` hooks, ``compute_loss`` or :meth:`default_augmentation`.

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
        weight_decay_end: Weight decay at the last step, reached on a cosine
            schedule from ``weight_decay`` (DINO); constant when ``None``.
        momentum: Momentum of SGD and LARS.
        betas: Adam betas of AdamW.
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

    Raises:
        ValueError: If an argument is not an allowed choice or out of range.
        TypeError: If ``backbone`` is neither a name nor a module.

    Example:
        >>> import torch
        >>> from lightning_ssl.methods import SimCLR
        >>> model = SimCLR(backbone="narrow_resnet18", cifar_stem=True)
        >>> model.embed(torch.randn(4, 3, 32, 32)).shape
        torch.Size([4, 128])
    """

    # Set by methods that have them; see `project` and `project_teacher`.
    projection_head: nn.Module
    teacher_backbone: nn.Module
    teacher_projection_head: nn.Module

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
        weight_decay_end: float | None = None,
        momentum: float = 0.9,
        betas: tuple[float, float] = (0.9, 0.999),
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
        if weight_decay_end is not None:
            check_range("weight_decay_end", weight_decay_end, low=0.0)
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
        self.predictor: nn.Module | None = None
        self._teacher_pairs: list[tuple[nn.Module, nn.Module]] = []
        self._frozen_early: list[tuple[nn.Module, float]] = []

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
        probes, embedding plots) and downstream users consume. A torchvision ViT
        accepts any image side that is a multiple of its patch size.
        """
        return backbone_features(self.backbone, images)

    @override
    def forward(self, images: Tensor) -> Tensor:
        """Same as :meth:`embed`."""
        return self.embed(images)

    def project(self, images: Tensor) -> Projection:
        """Backbone, ``projection_head`` and, if the method has one, ``predictor``.

        Args:
            images: `(B, C, H, W)` images.
        """
        features = self.embed(images)
        z = self.projection_head(features)
        p = self.predictor(z) if self.predictor is not None else None
        return Projection(features, z, p)

    @torch.no_grad()
    def project_teacher(self, images: Tensor) -> Tensor:
        """Projection `(B, P)` by the EMA teacher of backbone and projection head.

        Methods with a teacher create ``teacher_backbone`` and
        ``teacher_projection_head`` with :meth:`make_teacher`.
        """
        features = backbone_features(self.teacher_backbone, images)
        projections: Tensor = self.teacher_projection_head(features)
        return projections

    def compute_loss(self, views: Views) -> StepOutput:
        """The method's loss on a list of augmented views.

        Args:
            views: `V` tensors of shape `(B, C, H, W)`.

        Returns:
            The loss and the detached features (and projections) of view 0.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement compute_loss")

    def default_augmentation(self, image_size: int) -> Augmentation:
        """The method's augmentation recipe: a lightly class and its arguments.

        Both :meth:`default_transform` and :meth:`default_batch_transform` are
        built from it, so the two data paths augment alike. Override this to
        change a method's default views.

        Args:
            image_size: Side of the (square) training images.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no default transform; pass `transform` to "
            "the datamodule."
        )

    def default_transform(self, image_size: int) -> MultiViewTransform:
        """Per-sample multi-view transform (PIL image -> views) for this method.

        Datamodules created without a ``transform`` ask the model for this one.

        Args:
            image_size: Side of the (square) training images.
        """
        return self.default_augmentation(image_size).per_sample()

    def default_batch_transform(self, image_size: int) -> BatchTransform:
        """Batched multi-view transform (`(B, C, H, W)` -> views) for this method.

        Used by datamodules with ``augment_on="device"``.

        Args:
            image_size: Side of the (square) training images.

        Raises:
            NotImplementedError: If the method's augmentation has no batched
                recipe in :mod:`lightning_ssl.transforms`.
        """
        try:
            return self.default_augmentation(image_size).batched()
        except ValueError as error:
            raise NotImplementedError(
                f"{type(self).__name__} has no batched transform ({error}); pass "
                "`batch_transform` to the datamodule or use `augment_on='workers'`."
            ) from error

    def make_teacher(
        self, student: nn.Module, blank: nn.Module | None = None
    ) -> nn.Module:
        """Copy ``student`` into a frozen teacher that follows it by EMA.

        The teacher is updated once per optimizer step, after the step, with
        the momentum from :meth:`teacher_momentum_at` (BYOL, Grill et al., 2020,
        Sec. 3.1). Assign the result to an attribute so that it is saved.

        Args:
            student: The module to follow.
            blank: A new module of the same architecture to load the student's
                weights into, for modules that cannot be deep-copied (those with
                ``torch.nn.utils.weight_norm``, such as DINO's head).
        """
        teacher = frozen_copy(student, blank)
        self._teacher_pairs.append((student, teacher))
        return teacher

    def freeze_early(self, module: nn.Module, epochs: float) -> None:
        """Keep ``module`` fixed during the first ``epochs`` of training.

        Its gradients are dropped before each optimizer step until then, so
        neither the update nor weight decay touches it. SwAV freezes its
        prototypes and DINO the last layer of its head for the first epoch,
        which stabilises the start of training (Caron et al., 2020, Appendix A;
        Caron et al., 2021, Sec. 3.1).
        """
        check_range("epochs", epochs, low=0.0)
        self._frozen_early.append((module, epochs))

    def steps_for_epochs(self, epochs: float) -> int:
        """Number of optimizer steps in ``epochs`` epochs of the current run."""
        return round(epochs * steps_per_epoch(self.trainer))

    def teacher_momentum_at(self, step: int) -> float:
        """EMA momentum at an optimizer step: cosine from start to end value."""
        total = int(self.trainer.estimated_stepping_batches)
        hp = self.hparams
        return cosine_at(
            step, total, hp["teacher_momentum"], hp["teacher_momentum_end"]
        )

    def after_optimizer_step(self, step: int) -> None:
        """Runs once per optimizer step, after it; updates teachers.

        Override to add per-step schedules (call ``super()``). With gradient
        accumulation it runs once per accumulated step, not per batch. It also
        moves weight decay along its schedule when ``weight_decay_end`` is set.

        Args:
            step: Index of the optimizer step that just finished, from 0.
        """
        if self._teacher_pairs:
            momentum = self.teacher_momentum_at(step)
            for student, teacher in self._teacher_pairs:
                update_momentum(student, teacher, momentum)
            self.log(keys.TRAIN_MOMENTUM, momentum)

        end = self.hparams["weight_decay_end"]
        optimizer = self.optimizers(use_pl_optimizer=False)
        if end is not None and isinstance(optimizer, Optimizer):
            total = int(self.trainer.estimated_stepping_batches)
            decay = cosine_at(step + 1, total, self.hparams["weight_decay"], end)
            for group in optimizer.param_groups:
                if group.get("initial_weight_decay", 0.0) > 0.0:
                    group["weight_decay"] = decay
            self.log(keys.TRAIN_WEIGHT_DECAY, decay)

    @override
    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        """Drop the gradients of modules registered with :meth:`freeze_early`."""
        step = self.trainer.global_step
        for module, epochs in self._frozen_early:
            if step < self.steps_for_epochs(epochs):
                for parameter in module.parameters():
                    parameter.grad = None

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
        per_device = self.hparams["batch_size"] or loader_batch_size(self.trainer)
        trainer = self.trainer
        return per_device * trainer.world_size * trainer.accumulate_grad_batches

    def trainable_modules(self) -> list[nn.Module]:
        """Modules whose parameters the optimizer updates (teachers excluded)."""
        teachers = {id(teacher) for _, teacher in self._teacher_pairs}
        return [m for m in self.children() if id(m) not in teachers]

    def build_parameter_groups(self) -> list[dict[str, Any]]:
        """Parameter groups of the optimizer; override to treat modules apart.

        The default is two groups over :meth:`trainable_modules` and the
        parameters set on the method itself (such as MAE's mask token): the
        weight-decayed parameters, then biases, norms and tokens without decay.
        Besides the usual optimizer keys a group may set ``"lr_scale"``, a
        factor on the method's scaled learning rate (default 1), and
        ``"fixed_lr"``: ``True`` keeps that learning rate constant instead of
        following the warmup-cosine schedule. Groups with weight decay follow
        ``weight_decay_end`` when it is set.
        """
        return parameter_groups(
            self.trainable_modules(),
            self.hparams["weight_decay"],
            loose=self.named_parameters(recurse=False),
        )

    @override
    def configure_optimizers(self) -> OptimizerLRScheduler:
        """Optimizer with scaled LR and a per-step warmup-cosine schedule."""
        hp = self.hparams
        total_steps = max(int(self.trainer.estimated_stepping_batches), 1)
        global_batch = self.global_batch_size()
        lr = scaled_lr(
            hp["lr"], global_batch, hp["lr_scaling"], hp["reference_batch_size"]
        )

        groups = self.build_parameter_groups()
        for group in groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
            group["initial_weight_decay"] = group.get("weight_decay", 0.0)
        optimizer = build_optimizer(
            hp["optimizer"], groups, lr, hp["momentum"], tuple(hp["betas"])
        )

        # One factor per group: warmup then cosine, or 1 for fixed-LR groups.
        warmup_steps = min(self.steps_for_epochs(hp["warmup_epochs"]), total_steps)
        end = hp["min_lr_ratio"]

        def scheduled(step: int) -> float:
            return warmup_cosine_at(step, warmup_steps, total_steps, end)

        factors = [
            (lambda step: 1.0) if group.get("fixed_lr") else scheduled
            for group in groups
        ]
        scheduler = LambdaLR(optimizer, lr_lambda=factors)
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


def is_small_image(image_size: int) -> bool:
    """Whether images are CIFAR-sized, where recipes usually drop Gaussian blur.

    Blur on 32x32 images removes most of their content; SimCLR (Chen et al.,
    2020, Appendix B.9) and the CIFAR-10 recipes of its successors omit it.
    """
    return image_size <= 64
