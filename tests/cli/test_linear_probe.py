"""`lightning-ssl linear-probe`: probes of a checkpoint from the command line."""

import json
from pathlib import Path

import lightning as L
import pytest
import torch

from lightning_ssl import keys
from lightning_ssl.cli.linear_probe import build_datamodule, build_parser, main
from lightning_ssl.data import CIFAR10DataModule, FashionMNISTSampleDataModule
from lightning_ssl.evaluation import supervised
from lightning_ssl.methods import SimCLR


@pytest.fixture(scope="module")
def checkpoint(cifar10_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SimCLR checkpoint after one training step on the CIFAR-10 subset."""
    torch.manual_seed(0)
    model = SimCLR(
        "narrow_resnet18", backbone_kwargs={"width": 8}, projection_hidden_dim=16
    )
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    datamodule = CIFAR10DataModule(cifar10_subset, batch_size=8, num_workers=0)
    trainer.fit(model, datamodule)
    path = tmp_path_factory.mktemp("run") / "simclr.ckpt"
    trainer.save_checkpoint(path)
    return path


def test_probes_cifar10_and_writes_json(
    checkpoint: Path,
    cifar10_subset: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(supervised, "MIN_SUPERVISED_STEPS", 1)
    output = tmp_path / "probe.json"
    status = main(
        [
            f"--checkpoint={checkpoint}",
            "--data=cifar10",
            f"--root={cifar10_subset}",
            "--fractions",
            "0.1",
            "1.0",
            "--epochs=5",
            "--supervised-baseline",
            "--supervised-epochs=1",
            f"--output={output}",
        ]
    )

    assert status == 0
    written = json.loads(output.read_text())
    assert set(written["metrics"]) == {
        keys.val_linear_top1(0.1),
        keys.val_linear_top1(1.0),
        keys.val_supervised_top1(0.1),
        keys.val_supervised_top1(1.0),
    }
    assert all(0.0 <= value <= 1.0 for value in written["metrics"].values())
    assert written["settings"]["checkpoint"] == str(checkpoint)
    assert written["settings"]["fractions"] == [0.1, 1.0]
    printed = capsys.readouterr().out
    assert f"{keys.val_linear_top1(0.1)}: " in printed
    assert f"Results: {output}" in printed


def test_image_folders_and_default_output_beside_the_checkpoint(
    checkpoint: Path, cifar10_subset: Path
) -> None:
    status = main(
        [
            "--checkpoint",
            str(checkpoint),
            "--data",
            "image_folder",
            "--root",
            str(cifar10_subset / "train"),
            "--val-root",
            str(cifar10_subset / "test"),
            "--fractions",
            "1",
            "--epochs",
            "3",
        ]
    )
    assert status == 0
    written = json.loads((checkpoint.parent / "linear_probe.json").read_text())
    assert list(written["metrics"]) == [keys.val_linear_top1(1.0)]


def test_default_data_is_the_embedded_sample() -> None:
    args = build_parser().parse_args(["--checkpoint", "run.ckpt", "--channels", "1"])
    datamodule = build_datamodule(args)
    assert isinstance(datamodule, FashionMNISTSampleDataModule)
    assert datamodule.channels == 1
    assert datamodule.eval_batch_size == 256


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--data", "cifar10"], "--data cifar10 needs --root"),
        (["--data", "image_folder", "--root", "x"], "needs --val-root"),
        (["--fractions", "0"], "`fractions` must be in (0.0, 1.0], got 0.0"),
        (["--epochs", "0"], "--epochs must be positive, got 0"),
        (["--num-workers", "-1"], "--num-workers must be >= 0, got -1"),
    ],
)
def test_bad_arguments_exit_with_a_message(
    checkpoint: Path,
    arguments: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--checkpoint", str(checkpoint), *arguments])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_or_foreign_checkpoints_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["--checkpoint", str(tmp_path / "missing.ckpt")])
    assert "--checkpoint not found" in capsys.readouterr().err

    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(SystemExit):
        main(["--checkpoint", str(foreign)])
    assert "was not written by a lightning_ssl method" in capsys.readouterr().err
