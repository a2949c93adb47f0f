"""``lightning-ssl collapse-report`` on checkpoints, with CIFAR-10 and the sample."""

import json
from pathlib import Path

import pytest
import torch
from lightning import Trainer
from torch import nn

from lightning_ssl.cli import main as lightning_ssl_main
from lightning_ssl.cli.collapse import EXIT_COLLAPSED, main
from lightning_ssl.methods import SimCLR


def save_checkpoint(model: SimCLR, path: Path) -> Path:
    """Write ``model`` as a Trainer checkpoint, without training it."""
    trainer = Trainer(max_steps=0, logger=False, enable_checkpointing=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(path)
    return path


@pytest.fixture(scope="module")
def healthy_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = SimCLR("narrow_resnet18", projection_hidden_dim=64, projection_dim=32)
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "healthy.ckpt")


@pytest.fixture(scope="module")
def collapsed_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ResNet whose batch norms output zero: every image gets zero features."""
    model = SimCLR("narrow_resnet18", projection_hidden_dim=64, projection_dim=32)
    for module in model.backbone.modules():
        if isinstance(module, nn.BatchNorm2d):
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "collapsed.ckpt")


def test_report_on_cifar10_is_printed_and_written_as_json(
    healthy_checkpoint: Path,
    cifar10_subset: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = tmp_path / "report" / "collapse.json"

    status = main(
        [
            f"--checkpoint={healthy_checkpoint}",
            "--data=cifar10",
            f"--root={cifar10_subset}",
            "--num-samples=64",
            "--batch-size=32",
            f"--output={output}",
            "--fail-on-collapse",
        ]
    )

    assert status == 0
    report = json.loads(output.read_text())
    assert report["method"] == "SimCLR" and report["status"] == "healthy"
    assert report["data"] == "cifar10"
    assert report["checkpoint"] == str(healthy_checkpoint)
    features = report["sources"]["features"]
    assert features["num_samples"] == 64 and features["dim"] == 128
    assert {"rankme", "std", "alignment"} <= set(features["metrics"])
    assert report["sources"]["projections"]["dim"] == 32
    assert capsys.readouterr().out.startswith("SimCLR: healthy")


def test_collapsed_checkpoint_fails_when_asked(
    collapsed_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "collapse.json"
    args = [
        f"--checkpoint={collapsed_checkpoint}",
        "--num-samples=32",
        "--no-alignment",
        f"--output={output}",
    ]

    assert main(args) == 0
    assert main([*args, "--fail-on-collapse"]) == EXIT_COLLAPSED
    report = json.loads(output.read_text())
    assert report["data"] == "fashion_mnist_sample"
    assert report["sources"]["features"]["status"] == "complete_collapse"
    assert "alignment" not in report["sources"]["features"]["metrics"]
    assert "complete collapse" in capsys.readouterr().out


def test_the_lightning_ssl_command_dispatches_here(
    healthy_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = lightning_ssl_main(
        ["collapse-report", f"--checkpoint={healthy_checkpoint}", "--num-samples=16"]
    )

    assert status == 0
    assert "features (healthy)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data=cifar10"], "--data cifar10 needs --root"),
        (["--num-samples=1"], "--num-samples must be at least 2, got 1"),
        (["--batch-size=0"], "--batch-size must be positive, got 0"),
        (["--data=mnist"], "invalid choice: 'mnist'"),
    ],
)
def test_invalid_arguments_exit_with_a_message(
    args: list[str],
    message: str,
    healthy_checkpoint: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([f"--checkpoint={healthy_checkpoint}", *args])

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_checkpoint_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([f"--checkpoint={tmp_path / 'missing.ckpt'}"])

    assert "--checkpoint not found" in capsys.readouterr().err
