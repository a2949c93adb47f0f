"""`OnlineLinearProbe`: a linear classifier trained alongside self-supervision."""

from typing import Any

import torch
import torch.nn.functional as F
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy
from typing_extensions import override

from lightning_ssl import keys
from lightning_ssl.validation import check_positive_int, check_range

# Accuracies the probe reports, with their top-k.
_METRICS = {
    keys.TRAIN_ONLINE_TOP1: 1,
    keys.TRAIN_ONLINE_TOP5: 5,
    keys.VAL_ONLINE_TOP1: 1,
    keys.VAL_ONLINE_TOP5: 5,
}


class OnlineLinearProbe(Callback):
    """Train a linear classifier on the detached features of every training step.

    The probe reads the ``features`` and ``targets`` that
    :meth:`~lightning_ssl.methods.SSLMethod.training_step` returns, so it costs
    no extra forward pass, and it sees features that are already detached, so
    the self-supervised gradients are exactly those without it. Samples with
    target ``-1`` are ignored. The probe has its own SGD optimizer (momentum,
    constant learning rate, no weight decay) and starts from zero weights, so
    it draws no random numbers and leaves the training run's random stream
    alone. It is scored on the features of the validation loop.

    Metrics (torchmetrics, accumulated over the epoch): ``train/online_top1``,
    ``val/online_top1``, the ``*_top5`` variants when there are more than 5
    classes, and the per-step ``train/online_loss``.

    Probe weights and optimizer state are saved in checkpoints and restored on
    resume. Under distributed training every process computes the probe's
    gradient on its own batch and the gradients are averaged across processes
    (an all-reduce of ``D * C + C`` numbers per step) before the step, so the
    probe stays identical on all of them.

    Note:
        The features move while the backbone trains, so the online accuracy
        trails what a probe on the final, frozen features reaches (see
        :class:`~lightning_ssl.callbacks.linear_probe.LinearProbeEvaluator`).

    Args:
        num_classes: Number of classes; read from the datamodule's
            ``num_classes`` when None.
        lr: Learning rate of the probe's SGD.
        momentum: Momentum of the probe's SGD.

    Raises:
        ValueError: If an argument is out of range, or the number of classes
            is unknown when training starts.

    Example:
        >>> from lightning import Trainer
        >>> from torchvision.datasets import FakeData
        >>> from lightning_ssl.data import SSLDataModule
        >>> from lightning_ssl.methods import SimCLR
        >>> model = SimCLR("narrow_resnet18", cifar_stem=True, optimizer="sgd")
        >>> datamodule = SSLDataModule(
        ...     FakeData(16, image_size=(3, 32, 32), num_classes=4),
        ...     FakeData(8, image_size=(3, 32, 32), num_classes=4, random_offset=16),
        ...     image_size=32,
        ...     batch_size=8,
        ...     num_workers=0,
        ... )
        >>> probe = OnlineLinearProbe(num_classes=4)
        >>> trainer = Trainer(
        ...     max_epochs=1, callbacks=[probe], logger=False,
        ...     enable_checkpointing=False, enable_progress_bar=False,
        ...     enable_model_summary=False,
        ... )
        >>> trainer.fit(model, datamodule)
        >>> sorted(k for k in trainer.callback_metrics if "online_top1" in k)
        ['train/online_top1', 'val/online_top1']
    """

    def __init__(
        self, num_classes: int | None = None, lr: float = 0.1, momentum: float = 0.9
    ) -> None:
        super().__init__()
        if num_classes is not None:
            check_positive_int("num_classes", num_classes)
        check_range("lr", lr, low=0.0, low_open=True)
        check_range("momentum", momentum, low=0.0, high=1.0)
        self.num_classes = num_classes
        self.lr = lr
        self.momentum = momentum
        self.probe: nn.Linear | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self._pending_state: dict[str, Any] | None = None
        self._metrics: dict[str, MulticlassAccuracy] = {}
        self._warned_outputs = False
        self._state_key_arguments = {"num_classes": num_classes, "lr": lr}

    @property
    @override
    def state_key(self) -> str:
        """Key of this probe's entry in checkpoints."""
        return self._generate_state_key(**self._state_key_arguments)

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Build the probe, its optimizer and metrics on the training device."""
        if stage != "fit" or self.probe is not None:
            return
        datamodule = getattr(trainer, "datamodule", None)
        num_classes = self.num_classes or getattr(datamodule, "num_classes", 0)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                "OnlineLinearProbe needs `num_classes`: pass it, or use a datamodule "
                f"with a positive `num_classes` attribute, got {num_classes!r}."
            )
        feature_dim = getattr(pl_module, "feature_dim", None)
        if not isinstance(feature_dim, int):
            raise TypeError(
                "OnlineLinearProbe needs a model with an int `feature_dim` attribute "
                f"(as every SSLMethod has), got {type(pl_module).__name__}."
            )

        device = trainer.strategy.root_device
        self.num_classes = num_classes
        # skip_init: the default initialisation would draw from the global
        # generator and so change the augmentations of the training run.
        self.probe = nn.utils.skip_init(
            nn.Linear, feature_dim, num_classes, device=device
        )
        nn.init.zeros_(self.probe.weight)
        nn.init.zeros_(self.probe.bias)
        self.optimizer = torch.optim.SGD(
            self.probe.parameters(), lr=self.lr, momentum=self.momentum
        )
        self._metrics = self._build_metrics(num_classes, device)
        if self._pending_state is not None:
            self.load_state_dict(self._pending_state)

    @staticmethod
    def _build_metrics(
        num_classes: int, device: torch.device
    ) -> dict[str, MulticlassAccuracy]:
        metrics = {}
        for name, top_k in _METRICS.items():
            # Top-5 says nothing with 5 classes or fewer: it is then always 1.
            if top_k < num_classes:
                metrics[name] = MulticlassAccuracy(
                    num_classes, top_k=top_k, average="micro", ignore_index=-1
                ).to(device)
        return metrics

    def _features_and_targets(self, outputs: Any) -> tuple[Tensor, Tensor] | None:
        """Features `(B, D)` and targets `(B,)` of a step's outputs, if it has them."""
        if isinstance(outputs, dict) and "features" in outputs and "targets" in outputs:
            return outputs["features"].detach().float(), outputs["targets"].long()
        if not self._warned_outputs:
            rank_zero_warn(
                "OnlineLinearProbe expects training and validation steps to return "
                "a dict with 'features' and 'targets' (as SSLMethod's do); got "
                f"{type(outputs).__name__}, so the probe is not updated.",
                category=UserWarning,
            )
            self._warned_outputs = True
        return None

    @override
    def on_train_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """One optimizer step of the probe on the step's detached features."""
        found = self._features_and_targets(outputs)
        if found is None or self.probe is None or self.optimizer is None:
            return
        features, targets = found

        # Each process's gradient is averaged with the others' before the step,
        # so all copies of the probe take the same step. A batch without any
        # label contributes a zero gradient rather than skipping the collective.
        labelled = targets >= 0
        with torch.enable_grad():
            logits = self.probe(features)
            loss = (
                F.cross_entropy(logits[labelled], targets[labelled])
                if labelled.any()
                else logits.sum() * 0.0
            )
            self.optimizer.zero_grad(set_to_none=False)
            loss.backward()
        self._average_gradients(trainer)
        self.optimizer.step()

        for name in (keys.TRAIN_ONLINE_TOP1, keys.TRAIN_ONLINE_TOP5):
            if name in self._metrics:
                self._metrics[name].update(logits.detach(), targets)
        pl_module.log(keys.TRAIN_ONLINE_LOSS, loss.detach(), batch_size=len(targets))

    def _average_gradients(self, trainer: Trainer) -> None:
        if trainer.world_size == 1 or self.probe is None:
            return
        parameters = list(self.probe.parameters())
        gradients = torch.cat(
            [p.grad.flatten() for p in parameters if p.grad is not None]
        )
        gradients = trainer.strategy.reduce(gradients, reduce_op="mean")
        offset = 0
        for parameter in parameters:
            assert parameter.grad is not None  # zero_grad(set_to_none=False)
            count = parameter.numel()
            parameter.grad.copy_(gradients[offset : offset + count].view_as(parameter))
            offset += count

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Log the epoch's training accuracies."""
        self._log_and_reset(pl_module, (keys.TRAIN_ONLINE_TOP1, keys.TRAIN_ONLINE_TOP5))

    @override
    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Score the probe on the validation step's features."""
        if trainer.sanity_checking or self.probe is None:
            return
        found = self._features_and_targets(outputs)
        if found is None:
            return
        features, targets = found
        with torch.no_grad():
            logits = self.probe(features)
        for name in (keys.VAL_ONLINE_TOP1, keys.VAL_ONLINE_TOP5):
            if name in self._metrics:
                self._metrics[name].update(logits, targets)

    @override
    def on_validation_epoch_end(
        self, trainer: Trainer, pl_module: LightningModule
    ) -> None:
        """Log the validation accuracies."""
        if not trainer.sanity_checking:
            self._log_and_reset(pl_module, (keys.VAL_ONLINE_TOP1, keys.VAL_ONLINE_TOP5))

    def _log_and_reset(
        self, pl_module: LightningModule, names: tuple[str, ...]
    ) -> None:
        # compute() already combines all processes' counts (torchmetrics syncs
        # on compute), so the values are logged without another sync.
        for name in names:
            metric = self._metrics.get(name)
            if metric is None or not metric.update_called:
                continue
            pl_module.log(name, metric.compute(), sync_dist=False)
            metric.reset()

    @override
    def state_dict(self) -> dict[str, Any]:
        """Probe weights and optimizer state, for checkpoints."""
        if self.probe is None or self.optimizer is None:
            return dict(self._pending_state or {})
        return {
            "num_classes": self.num_classes,
            "probe": self.probe.state_dict(),
            "optimizer": self.optimizer.state_dict(),
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the probe from a checkpoint (or keep it until it is built)."""
        if not state_dict:
            return
        if self.probe is None or self.optimizer is None:
            self._pending_state = state_dict
            self.num_classes = self.num_classes or state_dict.get("num_classes")
            return
        self.probe.load_state_dict(state_dict["probe"])
        self.optimizer.load_state_dict(state_dict["optimizer"])
        self._pending_state = None
