"""`KNNEvaluator`: weighted kNN accuracy of the backbone features during training."""

from typing import Any

import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override

from lightning_ssl.evaluation.features import (
    check_evaluation_datamodule,
    extract_features_distributed,
    preserved_rng,
    resolve_num_classes,
)
from lightning_ssl.evaluation.knn import DEFAULT_CHUNK_SIZE, knn_accuracy
from lightning_ssl.validation import check_positive_int, check_range


class KNNEvaluator(Callback):
    """Classify validation images by their nearest training images, every N epochs.

    Every ``every_n_epochs`` training epochs, and once more when training ends
    (unless the last epoch was just evaluated), the model embeds the
    datamodule's ``eval_train_dataloader()`` (the labelled bank; unlabelled
    images are left out) and ``eval_val_dataloader()`` (the queries) in eval
    mode, and each query is classified by the weighted vote of its ``k``
    nearest bank features (:func:`~lightning_ssl.evaluation.knn_scores`, after
    Wu et al., 2018). Defaults ``k=200, temperature=0.1`` are those of the
    common CIFAR-10 and ImageNet kNN monitors (InstDisc used ``k=200``).

    Logs ``val/knn_top1`` and, with more than 5 classes, ``val/knn_top5``.
    After an epoch they are logged through the LightningModule (so
    ``ModelCheckpoint(monitor="val/knn_top1")`` works); at the end of training,
    where Lightning does not allow that, straight to the trainer's loggers and
    ``trainer.callback_metrics``.

    Under distributed training each process embeds every ``W``-th image and the
    features are all-gathered without the repeats a ``DistributedSampler``
    would add (:func:`~lightning_ssl.evaluation.extract_features_distributed`),
    so every process computes the same accuracy as a single process would.
    Torch's global random state is left as it was, so adding the callback does
    not change the training run.

    Note:
        Memory for the bank is ``N * D * 4`` bytes on the training device
        (100 MB for CIFAR-10 with 512-d features) and the search adds about
        ``chunk_size * N * 4`` bytes; lower ``chunk_size`` if that is too much.

    Args:
        every_n_epochs: Evaluate after every this many training epochs.
        k: Neighbours that vote.
        temperature: Softness of the vote weights ``exp(similarity / T)``.
        chunk_size: Queries classified at once.
        num_classes: Number of classes; from the datamodule or the targets when
            None.

    Raises:
        ValueError: If an argument is out of range, or at the start of
            training if the datamodule has no validation split.
        TypeError: At the start of training, if the datamodule does not serve
            the evaluation loaders.

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
        >>> trainer = Trainer(
        ...     max_epochs=1, callbacks=[KNNEvaluator(k=5)], logger=False,
        ...     limit_val_batches=0, enable_checkpointing=False,
        ...     enable_progress_bar=False, enable_model_summary=False,
        ... )
        >>> trainer.fit(model, datamodule)
        >>> "val/knn_top1" in trainer.callback_metrics
        True
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        k: int = 200,
        temperature: float = 0.1,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("every_n_epochs", every_n_epochs)
        check_positive_int("k", k)
        check_range("temperature", temperature, low=0.0, low_open=True)
        check_positive_int("chunk_size", chunk_size)
        if num_classes is not None:
            check_positive_int("num_classes", num_classes)
        self.every_n_epochs = every_n_epochs
        self.k = k
        self.temperature = temperature
        self.chunk_size = chunk_size
        self.num_classes = num_classes
        self.last_metrics: dict[str, float] = {}
        self._evaluated_at_step: int | None = None

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Check that the datamodule serves the evaluation loaders."""
        if stage == "fit":
            check_evaluation_datamodule(_datamodule(trainer), "KNNEvaluator")

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Evaluate and log every ``every_n_epochs`` epochs."""
        if (trainer.current_epoch + 1) % self.every_n_epochs != 0:
            return
        for name, value in self.evaluate(trainer, pl_module).items():
            pl_module.log(name, value, sync_dist=False)

    @override
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Evaluate the final model unless its last epoch was just evaluated."""
        if self._evaluated_at_step == trainer.global_step:
            return
        metrics = self.evaluate(trainer, pl_module)
        # Every process holds the same values: nothing to synchronise. Like
        # Lightning's epoch-end values, they go to the last training step.
        trainer.callback_metrics.update(
            {name: torch.tensor(value) for name, value in metrics.items()}
        )
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=max(trainer.global_step - 1, 0))

    def evaluate(
        self, trainer: Trainer, pl_module: LightningModule
    ) -> dict[str, float]:
        """Embed both splits and return the kNN accuracies (on every process).

        Args:
            trainer: The trainer, whose datamodule serves the evaluation loaders.
            pl_module: The model; its ``embed`` gives the features.

        Returns:
            ``{"val/knn_top1": ..., "val/knn_top5": ...}`` as fractions.
        """
        datamodule = _datamodule(trainer)
        check_evaluation_datamodule(datamodule, "KNNEvaluator")
        context = trainer.precision_plugin.forward_context
        with preserved_rng(pl_module.device):
            bank, bank_targets = extract_features_distributed(
                pl_module, datamodule.eval_train_dataloader(), context=context
            )
            query, query_targets = extract_features_distributed(
                pl_module, datamodule.eval_val_dataloader(), context=context
            )
        num_classes = resolve_num_classes(
            self.num_classes, datamodule, bank_targets, query_targets
        )

        labelled_bank = bank_targets >= 0
        labelled_query = query_targets >= 0
        metrics = knn_accuracy(
            bank[labelled_bank],
            bank_targets[labelled_bank],
            query[labelled_query],
            query_targets[labelled_query],
            num_classes,
            k=self.k,
            temperature=self.temperature,
            chunk_size=self.chunk_size,
        )
        self.last_metrics = metrics
        self._evaluated_at_step = trainer.global_step
        rank_zero_info(
            f"kNN (k={self.k}) at step {trainer.global_step}: "
            + ", ".join(f"{name} = {value:.4f}" for name, value in metrics.items())
        )
        return metrics


def _datamodule(trainer: Trainer) -> Any:
    """The trainer's datamodule (an attribute Lightning sets at run time)."""
    return getattr(trainer, "datamodule", None)
