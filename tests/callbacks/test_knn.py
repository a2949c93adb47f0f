"""`KNNEvaluator`: schedule, agreement with the kNN function, DDP, random state."""

import csv
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from torch import Tensor, nn
from torchvision.transforms import v2

from lightning_ssl import keys
from lightning_ssl.callbacks import knn as knn_module
from lightning_ssl.callbacks.knn import KNNEvaluator
from lightning_ssl.data import ArrayImageDataset, SSLDataModule, default_eval_transform
from lightning_ssl.evaluation import extract_features, knn_accuracy
from lightning_ssl.methods import SimCLR

NUM_CLASSES = 6


def colour_images(size: int, seed: int) -> ArrayImageDataset:
    """Class-coloured noisy 8x8 images; ``size`` need not be a multiple of 6."""
    rng = np.random.default_rng(seed)
    colours = np.random.default_rng(0).integers(40, 215, size=(NUM_CLASSES, 3))
    targets = np.arange(size) % NUM_CLASSES
    noise = rng.integers(-40, 40, size=(size, 8, 8, 3))
    images = np.clip(colours[targets][:, None, None, :] + noise, 0, 255)
    return ArrayImageDataset(images.astype(np.uint8), targets)


def two_flips(image: Any) -> list[Tensor]:
    flip = v2.Compose([v2.RandomHorizontalFlip(), default_eval_transform()])
    return [flip(image), flip(image)]


def colour_datamodule(train_size: int = 24, val_size: int = 18) -> SSLDataModule:
    return SSLDataModule(
        colour_images(train_size, seed=1),
        colour_images(val_size, seed=2),
        transform=two_flips,
        batch_size=8,
        eval_batch_size=10,
        num_workers=0,
    )


def tiny_simclr(frozen: bool = False) -> SimCLR:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, padding=1)]
    # Without batch norm, a frozen backbone embeds the same in every run.
    layers += [nn.ReLU()] if frozen else [nn.BatchNorm2d(16), nn.ReLU()]
    backbone = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    backbone.requires_grad_(not frozen)
    return SimCLR(
        backbone,
        projection_hidden_dim=16,
        projection_dim=8,
        optimizer="sgd",
        lr=0.5,
        warmup_epochs=0,
    )


def trainer(**kwargs: Any) -> L.Trainer:
    options: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "limit_val_batches": 0,
        **kwargs,
    }
    return L.Trainer(**options)


class CountingKNN(KNNEvaluator):
    """Records the global step of every evaluation."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.steps: list[int] = []

    def evaluate(self, trainer: L.Trainer, pl_module: Any) -> dict[str, float]:
        self.steps.append(trainer.global_step)
        return super().evaluate(trainer, pl_module)


def test_accuracy_is_the_knn_of_the_final_features() -> None:
    model, datamodule = tiny_simclr(), colour_datamodule()
    run = trainer(max_epochs=2, callbacks=[KNNEvaluator(k=10)])
    run.fit(model, datamodule)

    bank = extract_features(model, datamodule.eval_train_dataloader())
    query = extract_features(model, datamodule.eval_val_dataloader())
    expected = knn_accuracy(*bank, *query, NUM_CLASSES, k=10)
    assert set(expected) == {keys.VAL_KNN_TOP1, keys.VAL_KNN_TOP5}
    for name, value in expected.items():
        assert run.callback_metrics[name].item() == pytest.approx(value)
    assert expected[keys.VAL_KNN_TOP1] > 0.5  # chance is 1/6


@pytest.mark.parametrize(
    ("every_n_epochs", "max_epochs", "evaluated_after_epochs"),
    [(1, 2, [1, 2]), (2, 3, [2, 3]), (5, 2, [2])],
)
def test_evaluates_every_n_epochs_and_once_at_the_end(
    tmp_path: Path,
    every_n_epochs: int,
    max_epochs: int,
    evaluated_after_epochs: list[int],
) -> None:
    knn = CountingKNN(every_n_epochs=every_n_epochs, k=5)
    run = trainer(
        max_epochs=max_epochs,
        callbacks=[knn],
        logger=CSVLogger(tmp_path),
        log_every_n_steps=1,
    )
    run.fit(tiny_simclr(), colour_datamodule())

    steps_per_epoch = 24 // 8
    assert knn.steps == [epoch * steps_per_epoch for epoch in evaluated_after_epochs]
    # Logged at the last training step before each evaluation, as Lightning
    # logs epoch-end values.
    with open(Path(str(run.log_dir)) / "metrics.csv") as file:
        rows = [row for row in csv.DictReader(file) if row[keys.VAL_KNN_TOP1]]
    assert [int(row["step"]) for row in rows] == [step - 1 for step in knn.steps]


def test_training_is_the_same_with_and_without_the_evaluator() -> None:
    plain, evaluated = tiny_simclr(), tiny_simclr()
    torch.manual_seed(1)
    trainer(max_epochs=2).fit(plain, colour_datamodule())
    torch.manual_seed(1)
    trainer(max_epochs=2, callbacks=[KNNEvaluator(k=5)]).fit(
        evaluated, colour_datamodule()
    )
    trained = plain.state_dict()
    for name, value in evaluated.state_dict().items():
        assert torch.equal(value, trained[name]), name


def test_two_processes_give_the_single_process_accuracy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def recording_knn_accuracy(*args: Any, **kwargs: Any) -> dict[str, float]:
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        bank, bank_targets, query, query_targets = args[:4]
        torch.save((bank, bank_targets, query, query_targets), tmp_path / f"{rank}.pt")
        return knn_accuracy(*args, **kwargs)

    monkeypatch.setattr(knn_module, "knn_accuracy", recording_knn_accuracy)
    # 37 and 19 images do not split evenly in two: no image may count twice.
    single = trainer(max_steps=2, callbacks=[KNNEvaluator(k=5)])
    single.fit(tiny_simclr(frozen=True), colour_datamodule(37, 19))
    expected = torch.load(tmp_path / "0.pt")

    double = trainer(
        max_steps=2, devices=2, strategy="ddp_fork", callbacks=[KNNEvaluator(k=5)]
    )
    double.fit(tiny_simclr(frozen=True), colour_datamodule(37, 19))

    for rank in (0, 1):
        gathered = torch.load(tmp_path / f"{rank}.pt")
        assert gathered[0].shape == (37, 16) and gathered[2].shape == (19, 16)
        for mine, reference in zip(gathered, expected, strict=True):
            torch.testing.assert_close(mine, reference)
    for name in (keys.VAL_KNN_TOP1, keys.VAL_KNN_TOP5):
        assert double.callback_metrics[name] == single.callback_metrics[name]


def test_processes_embed_with_the_batch_norm_statistics_of_rank_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def recording_knn_accuracy(*args: Any, **kwargs: Any) -> dict[str, float]:
        rank = torch.distributed.get_rank()
        torch.save(args[0], tmp_path / f"{rank}.pt")
        return knn_accuracy(*args, **kwargs)

    monkeypatch.setattr(knn_module, "knn_accuracy", recording_knn_accuracy)
    # Each process updates its batch-norm statistics from its own samples.
    model, datamodule = tiny_simclr(), colour_datamodule(37, 19)
    run = trainer(
        max_steps=2, devices=2, strategy="ddp_fork", callbacks=[KNNEvaluator(k=5)]
    )
    run.fit(model, datamodule)

    # The model comes back with rank 0's final weights and statistics.
    expected, _ = extract_features(model, datamodule.eval_train_dataloader())
    for rank in (0, 1):
        torch.testing.assert_close(torch.load(tmp_path / f"{rank}.pt"), expected)


def test_datamodule_must_serve_evaluation_loaders() -> None:
    class PlainData(L.LightningDataModule):
        def train_dataloader(self) -> Any:
            return colour_datamodule().train_dataloader()

    with pytest.raises(TypeError, match="KNNEvaluator needs a datamodule with"):
        trainer(max_steps=1, callbacks=[KNNEvaluator()]).fit(tiny_simclr(), PlainData())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"every_n_epochs": 0}, "`every_n_epochs` must be a positive integer, got 0"),
        ({"k": 0}, "`k` must be a positive integer, got 0"),
        ({"temperature": -1.0}, r"`temperature` must be in \(0.0, inf\], got -1.0"),
        ({"chunk_size": 0}, "`chunk_size` must be a positive integer, got 0"),
    ],
)
def test_arguments_are_checked(arguments: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KNNEvaluator(**arguments)  # type: ignore[arg-type]
