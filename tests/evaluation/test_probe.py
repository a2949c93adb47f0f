"""Few-label linear probes of a model and the supervised baseline."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lightning_ssl import keys
from lightning_ssl.data import ArrayImageDataset, SSLDataModule
from lightning_ssl.evaluation import supervised
from lightning_ssl.evaluation.probe import linear_probe, write_results
from lightning_ssl.evaluation.subsets import few_label_indices
from lightning_ssl.evaluation.supervised import (
    fresh_backbone,
    train_supervised_baseline,
)
from lightning_ssl.methods import SimCLR

NUM_CLASSES = 4
# One dominant colour per class: even a random convolution separates them.
COLOURS = np.array([[220, 30, 30], [30, 220, 30], [30, 30, 220], [220, 220, 30]])


def colour_images(per_class: int, seed: int) -> ArrayImageDataset:
    rng = np.random.default_rng(seed)
    targets = np.repeat(np.arange(NUM_CLASSES), per_class)
    noise = rng.integers(-60, 60, size=(len(targets), 8, 8, 3))
    images = np.clip(COLOURS[targets][:, None, None, :] + noise, 0, 255)
    return ArrayImageDataset(images.astype(np.uint8), targets)


def colour_datamodule() -> SSLDataModule:
    return SSLDataModule(
        colour_images(20, seed=0),
        colour_images(10, seed=1),
        num_workers=0,
        eval_batch_size=16,
        num_classes=NUM_CLASSES,
    )


def tiny_model() -> SimCLR:
    torch.manual_seed(0)
    backbone = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    return SimCLR(backbone, projection_hidden_dim=16, projection_dim=8)


def test_probe_reports_one_accuracy_per_fraction() -> None:
    results = linear_probe(
        tiny_model(), colour_datamodule(), fractions=[0.1, 0.5, 1.0], epochs=20
    )

    assert list(results) == [
        keys.val_linear_top1(0.1),
        keys.val_linear_top1(0.5),
        keys.val_linear_top1(1.0),
    ]
    assert results[keys.val_linear_top1(1.0)] >= 0.9
    assert all(0.0 <= value <= 1.0 for value in results.values())


def test_probe_is_reproducible_and_leaves_the_random_state_alone() -> None:
    model, datamodule = tiny_model(), colour_datamodule()
    torch.manual_seed(0)
    expected = torch.rand(2)

    torch.manual_seed(0)
    first = linear_probe(model, datamodule, fractions=[0.25], epochs=5)
    assert torch.equal(torch.rand(2), expected)
    assert linear_probe(model, datamodule, fractions=[0.25], epochs=5) == first


def test_supervised_baseline_adds_its_accuracies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(supervised, "MIN_SUPERVISED_STEPS", 1)
    results = linear_probe(
        tiny_model(),
        colour_datamodule(),
        fractions=[0.5],
        epochs=5,
        supervised_baseline=True,
        supervised_epochs=1,
    )
    assert set(results) == {keys.val_linear_top1(0.5), keys.val_supervised_top1(0.5)}


def test_supervised_baseline_learns_and_leaves_the_model_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(supervised, "MIN_SUPERVISED_STEPS", 1)
    model, datamodule = tiny_model(), colour_datamodule()
    datamodule.eval_batch_size = 40
    before = {name: value.clone() for name, value in model.state_dict().items()}

    accuracy = train_supervised_baseline(
        model,
        datamodule.eval_train_dataloader(),
        few_label_indices(datamodule.eval_train_dataset.targets, 0.5),
        datamodule.eval_val_dataloader(),
        NUM_CLASSES,
        epochs=30,
        lr=2.0,
    )

    assert accuracy > 0.5  # chance is 0.25
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)


def test_fresh_backbone_rebuilds_named_backbones() -> None:
    model = SimCLR(
        "narrow_resnet18",
        cifar_stem=True,
        backbone_kwargs={"width": 8},
        projection_hidden_dim=16,
    )
    with torch.no_grad():
        for parameter in model.backbone.parameters():
            parameter.add_(1.0)  # as if trained

    torch.manual_seed(0)
    first = fresh_backbone(model)
    torch.manual_seed(0)
    second = fresh_backbone(model)

    assert type(first) is type(model.backbone)
    trained, new = model.backbone.state_dict(), first.state_dict()
    assert new.keys() == trained.keys()
    assert all(new[name].shape == trained[name].shape for name in new)
    assert not torch.equal(new["stem.0.weight"], trained["stem.0.weight"])
    assert all(torch.equal(new[name], second.state_dict()[name]) for name in new)


def test_fresh_backbone_resets_custom_modules() -> None:
    model = tiny_model()
    model.state_dict()["backbone.0.weight"].fill_(5.0)  # shares the storage
    backbone = fresh_backbone(model)
    assert backbone.state_dict()["0.weight"].abs().max() < 1.0
    assert model.state_dict()["backbone.0.weight"].eq(5.0).all()


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        ([], "at least one fraction"),
        ([0.1, 2.0], r"`fractions` must be in \(0.0, 1.0\], got 2.0"),
    ],
)
def test_fractions_are_checked(fractions: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        linear_probe(tiny_model(), colour_datamodule(), fractions=fractions)


def test_datamodule_must_serve_evaluation_loaders() -> None:
    with pytest.raises(TypeError, match="linear_probe needs a datamodule"):
        linear_probe(tiny_model(), object(), fractions=[1.0])


def test_results_are_written_as_json(tmp_path: Path) -> None:
    path = write_results(
        tmp_path / "deep" / "probe.json", {"val/linear_top1_1pct": 0.25}, {"seed": 3}
    )
    assert json.loads(path.read_text()) == {
        "metrics": {"val/linear_top1_1pct": 0.25},
        "settings": {"seed": 3},
    }
