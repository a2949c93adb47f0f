"""After-the-fact analysis of models and checkpoints on real CIFAR-10 images."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from lightning import Trainer
from torch import Tensor, nn
from torch.utils.data import DataLoader

from lightning_ssl.data import CIFAR10DataModule
from lightning_ssl.methods import SimCLR
from lightning_ssl.metrics import (
    CollapseStatus,
    analyse_checkpoint,
    collapse_report,
    random_crop_flip,
)


class ConstantEncoder(nn.Module):
    """Maps every image to the same learned vector."""

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.randn(dim))

    def forward(self, images: Tensor) -> Tensor:
        return self.value.expand(len(images), -1)


class Rank2Encoder(nn.Module):
    """A linear map through a 2-d bottleneck: its outputs span a plane."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(3 * 32 * 32, 2), nn.Linear(2, dim, bias=False)
        )

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: on shared CI cores two can be many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cifar_loader(cifar10_subset: Path) -> DataLoader[tuple[Tensor, Tensor]]:
    """The 100 CIFAR-10 test images of the shared subset, evaluation transform."""
    datamodule = CIFAR10DataModule(cifar10_subset, num_workers=0, eval_batch_size=50)
    return datamodule.eval_val_dataloader()


@pytest.mark.parametrize(
    ("encoder", "expected"),
    [
        (ConstantEncoder(), CollapseStatus.COMPLETE),
        (Rank2Encoder(), CollapseStatus.DIMENSIONAL),
    ],
    ids=["constant", "rank2"],
)
def test_degenerate_encoders_are_diagnosed(
    encoder: nn.Module, expected: CollapseStatus, cifar_loader: DataLoader
) -> None:
    report = collapse_report(encoder, cifar_loader)

    assert report.status is expected
    assert list(report.sources) == ["features"]
    assert report.sources["features"].num_samples == 100
    assert report.advice.startswith("Common causes")


def test_a_fresh_resnet_is_healthy_and_the_report_serialises(
    cifar_loader: DataLoader,
) -> None:
    torch.manual_seed(0)
    model = SimCLR("narrow_resnet18", projection_hidden_dim=64, projection_dim=32)
    rng_state = torch.random.get_rng_state()

    report = collapse_report(model, cifar_loader, num_samples=64)

    assert torch.equal(torch.random.get_rng_state(), rng_state)
    assert model.training
    assert report.status is CollapseStatus.HEALTHY and report.advice == ""
    assert {name: r.dim for name, r in report.sources.items()} == {
        "features": 128,
        "projections": 32,
    }
    assert report.sources["projections"].num_samples == 64
    assert 0 < report.sources["features"].metrics["alignment"] < 4
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["sources"]["features"]["status"] == "healthy"
    assert as_json["thresholds"]["spread"] == 0.2
    assert report.summary().startswith("SimCLR: healthy")


def test_alignment_is_skipped_without_a_pair_transform(
    cifar_loader: DataLoader,
) -> None:
    report = collapse_report(Rank2Encoder(), cifar_loader, pair_transform=None)

    assert "alignment" not in report.sources["features"].metrics


def test_random_crop_flip_is_reproducible_per_image() -> None:
    images = torch.rand(8, 3, 32, 32)

    first = random_crop_flip(images, torch.Generator().manual_seed(1))
    second = random_crop_flip(images, torch.Generator().manual_seed(1))

    assert torch.equal(first, second)
    assert not torch.allclose(first, images)


def test_analyse_checkpoint_rebuilds_the_method(
    tmp_path: Path, cifar_loader: DataLoader
) -> None:
    model = SimCLR("narrow_resnet18", projection_hidden_dim=32, optimizer="sgd")
    trainer = Trainer(max_steps=0, logger=False, enable_checkpointing=False)
    trainer.strategy.connect(model)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)

    report = analyse_checkpoint(path, cifar_loader, num_samples=50)

    assert report.method == "SimCLR"
    assert report.sources["features"].num_samples == 50


def test_too_few_images_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least 2 images, got 1"):
        collapse_report(Rank2Encoder(), [torch.rand(1, 3, 32, 32)])
    with pytest.raises(ValueError, match="`num_samples` must be a positive integer"):
        collapse_report(Rank2Encoder(), [], num_samples=0)
