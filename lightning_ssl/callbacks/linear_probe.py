"""`LinearProbeEvaluator`: few-label linear probes of the final model."""

from pathlib import Path
from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override

from lightning_ssl.evaluation.features import check_evaluation_datamodule
from lightning_ssl.evaluation.linear import (
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_WEIGHT_DECAY,
)
from lightning_ssl.evaluation.probe import (
    DEFAULT_FRACTIONS,
    check_fractions,
    linear_probe,
    write_results,
)
from lightning_ssl.validation import check_positive_int, check_range


class LinearProbeEvaluator(Callback):
    """Fit linear classifiers to the frozen final features with few labels.

    When training ends, :func:`~lightning_ssl.evaluation.linear_probe` embeds
    the datamodule's labelled training and validation images once and, for
    each fraction of the training labels (a class-balanced subset drawn with
    ``seed``), fits a linear classifier to the frozen features and scores its
    top-1 accuracy on the validation images: ``val/linear_top1_1pct``,
    ``val/linear_top1_10pct``, ``val/linear_top1_100pct`` for the default
    fractions. With ``supervised_baseline`` the same backbone architecture is
    also trained from scratch on each subset (``val/supervised_top1_*``).

    Results go to the trainer's loggers, to ``trainer.callback_metrics``, to
    :attr:`results` and, from process 0, to the JSON file ``output``.

    The classifiers are trained by mini-batch SGD on standardised features
    (see :func:`~lightning_ssl.evaluation.train_linear_classifier`), which
    takes seconds; the supervised baseline trains a whole network and costs
    about ``supervised_epochs`` epochs of supervised training per fraction.
    Under distributed training the features are shared among processes, and
    every process fits the same classifiers (and baselines).

    Args:
        fractions: Fractions of the training labels, each in ``(0, 1]``.
        epochs: Epochs of each linear classifier.
        lr: Peak SGD learning rate of the linear classifiers.
        weight_decay: SGD weight decay of the linear classifiers.
        seed: Seed of the subsets, classifiers and baselines.
        supervised_baseline: Also train the backbone architecture from scratch
            on each subset.
        supervised_epochs: Epochs of each supervised baseline.
        output: JSON file of the results; a relative path is taken inside the
            run directory (``trainer.log_dir``).

    Raises:
        ValueError: If an argument is out of range, or at the start of
            training if the datamodule has no validation split.
        TypeError: At the start of training, if the datamodule does not serve
            the evaluation loaders.

    Example:
        >>> import tempfile
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
        >>> evaluator = LinearProbeEvaluator(fractions=[0.5, 1.0], epochs=5)
        >>> trainer = Trainer(
        ...     max_epochs=1, callbacks=[evaluator], logger=False,
        ...     limit_val_batches=0, enable_checkpointing=False,
        ...     enable_progress_bar=False, enable_model_summary=False,
        ...     default_root_dir=tempfile.mkdtemp(),
        ... )
        >>> trainer.fit(model, datamodule)
        >>> sorted(evaluator.results)
        ['val/linear_top1_100pct', 'val/linear_top1_50pct']
        >>> evaluator.output_path.name
        'linear_probe.json'
    """

    def __init__(
        self,
        fractions: tuple[float, ...] | list[float] = DEFAULT_FRACTIONS,
        epochs: int = DEFAULT_EPOCHS,
        lr: float = DEFAULT_LR,
        weight_decay: float = DEFAULT_WEIGHT_DECAY,
        seed: int = 0,
        supervised_baseline: bool = False,
        supervised_epochs: int = 30,
        output: str | Path = "linear_probe.json",
    ) -> None:
        super().__init__()
        self.fractions = check_fractions(fractions)
        check_positive_int("epochs", epochs)
        check_range("lr", lr, low=0.0, low_open=True)
        check_range("weight_decay", weight_decay, low=0.0)
        check_positive_int("supervised_epochs", supervised_epochs)
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.seed = seed
        self.supervised_baseline = supervised_baseline
        self.supervised_epochs = supervised_epochs
        self.output = Path(output)
        self.results: dict[str, float] = {}
        self.output_path: Path | None = None

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Check that the datamodule serves the evaluation loaders."""
        if stage == "fit":
            check_evaluation_datamodule(_datamodule(trainer), "LinearProbeEvaluator")

    @override
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Run the probes on the final model and report the results."""
        self.results = linear_probe(
            pl_module,
            _datamodule(trainer),
            self.fractions,
            epochs=self.epochs,
            lr=self.lr,
            weight_decay=self.weight_decay,
            seed=self.seed,
            supervised_baseline=self.supervised_baseline,
            supervised_epochs=self.supervised_epochs,
            context=trainer.precision_plugin.forward_context,
        )
        trainer.callback_metrics.update(
            {name: torch.tensor(value) for name, value in self.results.items()}
        )
        for logger in trainer.loggers:
            logger.log_metrics(self.results, step=max(trainer.global_step - 1, 0))

        self.output_path = (
            Path(trainer.log_dir or trainer.default_root_dir) / self.output
        )
        if trainer.is_global_zero:
            write_results(self.output_path, self.results, self._settings(trainer))
        rank_zero_info(
            "Linear probes: "
            + ", ".join(f"{name} = {value:.4f}" for name, value in self.results.items())
            + f" (written to {self.output_path})"
        )

    def _settings(self, trainer: Trainer) -> dict[str, Any]:
        return {
            "fractions": list(self.fractions),
            "epochs": self.epochs,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "seed": self.seed,
            "supervised_baseline": self.supervised_baseline,
            "supervised_epochs": self.supervised_epochs,
            "global_step": trainer.global_step,
            "datamodule": type(_datamodule(trainer)).__name__,
        }


def _datamodule(trainer: Trainer) -> Any:
    """The trainer's datamodule (an attribute Lightning sets at run time)."""
    return getattr(trainer, "datamodule", None)
