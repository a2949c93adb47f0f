"""`LinearProbeEvaluator`: probes of the final model, logged and written as JSON."""

import csv
import json
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
from lightning_ssl.callbacks.linear_probe import LinearProbeEvaluator
from lightning_ssl.data import ArrayImageDataset, SSLDataModule, default_eval_transform
from lightning_ssl.evaluation import linear_probe, supervised
from lightning_ssl.methods import SimCLR

NUM_CLASSES = 4
FRACTIONS = (0.25, 1.0)


def colour_images(per_class: int, seed: int) -> ArrayImageDataset:
    rng = np.random.default_rng(seed)
    colours = np.array([[220, 30, 30], [30, 220, 30], [30, 30, 220], [220, 220, 30]])
    targets = np.repeat(np.arange(NUM_CLASSES), per_class)
    noise = rng.integers(-60, 60, size=(len(targets), 8, 8, 3))
    images = np.clip(colours[targets][:, None, None, :] + noise, 0, 255)
    return ArrayImageDataset(images.astype(np.uint8), targets)


def two_flips(image: Any) -> list[Tensor]:
    flip = v2.Compose([v2.RandomHorizontalFlip(), default_eval_transform()])
    return [flip(image), flip(image)]


def colour_datamodule() -> SSLDataModule:
    return SSLDataModule(
        colour_images(8, seed=1),
        colour_images(5, seed=2),
        transform=two_flips,
        batch_size=8,
        num_workers=0,
    )


def tiny_simclr() -> SimCLR:
    torch.manual_seed(0)
    backbone = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    return SimCLR(backbone, projection_hidden_dim=16, projection_dim=8, optimizer="sgd")


def trainer(**kwargs: Any) -> L.Trainer:
    options: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "max_epochs": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "limit_val_batches": 0,
        **kwargs,
    }
    return L.Trainer(**options)


def test_results_are_logged_written_and_those_of_the_function(tmp_path: Path) -> None:
    evaluator = LinearProbeEvaluator(fractions=FRACTIONS, epochs=10, seed=3)
    model, datamodule = tiny_simclr(), colour_datamodule()
    run = trainer(callbacks=[evaluator], logger=CSVLogger(tmp_path))
    run.fit(model, datamodule)

    expected = linear_probe(model, datamodule, FRACTIONS, epochs=10, seed=3)
    assert evaluator.results == expected
    assert list(expected) == [keys.val_linear_top1(0.25), keys.val_linear_top1(1.0)]
    assert expected[keys.val_linear_top1(1.0)] > 0.5  # chance is 1/4

    assert evaluator.output_path == Path(str(run.log_dir)) / "linear_probe.json"
    written = json.loads(evaluator.output_path.read_text())
    assert written["metrics"] == expected
    assert written["settings"]["fractions"] == list(FRACTIONS)
    assert written["settings"]["seed"] == 3

    for name, value in expected.items():
        assert run.callback_metrics[name].item() == pytest.approx(value)
    with open(Path(str(run.log_dir)) / "metrics.csv") as file:
        (row,) = [row for row in csv.DictReader(file) if row[keys.val_linear_top1(1.0)]]
    assert float(row[keys.val_linear_top1(0.25)]) == pytest.approx(
        expected[keys.val_linear_top1(0.25)]
    )


def test_output_may_be_an_absolute_path(tmp_path: Path) -> None:
    output = tmp_path / "elsewhere" / "probe.json"
    evaluator = LinearProbeEvaluator(fractions=[1.0], epochs=2, output=output)
    trainer(callbacks=[evaluator], default_root_dir=tmp_path / "run").fit(
        tiny_simclr(), colour_datamodule()
    )
    assert evaluator.output_path == output
    assert json.loads(output.read_text())["metrics"] == evaluator.results


def test_supervised_baseline_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervised, "MIN_SUPERVISED_STEPS", 1)
    evaluator = LinearProbeEvaluator(
        fractions=[0.5], epochs=2, supervised_baseline=True, supervised_epochs=1
    )
    trainer(callbacks=[evaluator], default_root_dir=tmp_path).fit(
        tiny_simclr(), colour_datamodule()
    )
    assert set(evaluator.results) == {
        keys.val_linear_top1(0.5),
        keys.val_supervised_top1(0.5),
    }


def test_datamodule_must_serve_evaluation_loaders() -> None:
    class PlainData(L.LightningDataModule):
        def train_dataloader(self) -> Any:
            return colour_datamodule().train_dataloader()

    with pytest.raises(TypeError, match="LinearProbeEvaluator needs a datamodule"):
        trainer(callbacks=[LinearProbeEvaluator()]).fit(tiny_simclr(), PlainData())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"fractions": ()}, "at least one fraction"),
        ({"fractions": (0.0,)}, r"`fractions` must be in \(0.0, 1.0\], got 0.0"),
        ({"epochs": 0}, "`epochs` must be a positive integer, got 0"),
        ({"lr": 0.0}, r"`lr` must be in \(0.0, inf\], got 0.0"),
        ({"supervised_epochs": 0}, "`supervised_epochs` must be a positive integer"),
    ],
)
def test_arguments_are_checked(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LinearProbeEvaluator(**arguments)
