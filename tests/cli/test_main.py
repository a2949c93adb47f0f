"""The `lightning-ssl` command: the default job, model choice, configs, W&B."""

import subprocess
import sys
from pathlib import Path

import pytest
import wandb
import yaml

from lightning_ssl.cli import main
from lightning_ssl.methods import BYOL, SimCLR, load_method

REPO = Path(__file__).resolve().parents[2]

# A few optimizer steps of the default job, without data-loader workers.
FAST = [
    "--trainer.max_steps=3",
    "--trainer.log_every_n_steps=1",
    "--trainer.limit_val_batches=1",
    "--trainer.num_sanity_val_steps=0",
    "--trainer.enable_progress_bar=false",
    "--data.num_workers=0",
    "--data.batch_size=32",
]


def test_fit_without_arguments_trains_simclr_on_the_embedded_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["fit", *FAST, f"--trainer.default_root_dir={tmp_path}"])

    checkpoints = list(tmp_path.rglob("*.ckpt"))
    assert len(checkpoints) == 1
    printed = capsys.readouterr().out
    assert f"Checkpoint: {checkpoints[0]}" in printed
    assert "Logs: " in printed
    model = load_method(checkpoints[0])
    assert isinstance(model, SimCLR)
    assert model.hparams["backbone"] == "narrow_resnet18"
    metrics = (checkpoints[0].parents[1] / "metrics.csv").read_text()
    assert "train/loss" in metrics and "train/lr" in metrics


def test_choosing_a_model_starts_from_its_own_defaults(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["fit", "--model=BYOL", "--print_config"])

    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["class_path"] == "lightning_ssl.methods.BYOL"
    assert config["model"]["init_args"]["teacher_momentum"] == 0.996
    assert "temperature" not in config["model"]["init_args"]
    assert config["data"]["class_path"].endswith("FashionMNISTSampleDataModule")


def test_trained_byol_checkpoint_validates(tmp_path: Path) -> None:
    main(
        [
            "fit",
            "--model=BYOL",
            "--model.backbone=narrow_resnet18",
            "--model.projection_hidden_dim=64",
            *FAST,
            f"--trainer.default_root_dir={tmp_path}",
        ]
    )
    (checkpoint,) = tmp_path.rglob("*.ckpt")
    assert isinstance(load_method(checkpoint), BYOL)

    main(
        [
            "validate",
            "--model=BYOL",
            "--model.backbone=narrow_resnet18",
            "--model.projection_hidden_dim=64",
            "--data.num_workers=0",
            "--trainer.limit_val_batches=2",
            f"--trainer.default_root_dir={tmp_path}",
            f"--ckpt_path={checkpoint}",
        ]
    )


def test_wandb_logger_writes_an_offline_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    main(
        [
            "fit",
            *FAST,
            "--trainer.logger=WandbLogger",
            f"--trainer.logger.init_args.save_dir={tmp_path}",
            "--trainer.logger.init_args.project=lightning-ssl-tests",
        ]
    )

    wandb.finish()
    wandb.teardown()  # waits until the service has written the run file

    # An offline run keeps config and history as records in its .wandb file.
    (run,) = (tmp_path / "wandb").glob("offline-run-*")
    (records,) = run.glob("run-*.wandb")
    data = records.read_bytes()
    assert b"narrow_resnet18" in data
    assert b"train/loss" in data


# Full recipes only: configs/distributed/ holds snippets that are combined
# with a recipe (tests/distributed/test_configs.py checks those).
RECIPES = sorted(
    path
    for path in (REPO / "configs").rglob("*.yaml")
    if path.parent.name != "distributed"
)


@pytest.mark.parametrize("config", RECIPES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_bundled_config_parses(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["fit", f"--config={config}", "--print_config"])
    parsed = yaml.safe_load(capsys.readouterr().out)
    assert parsed["model"]["class_path"].startswith("lightning_ssl.methods.")


def test_console_script_is_installed() -> None:
    executable = Path(sys.executable).with_name("lightning-ssl")
    assert executable.is_file()
    result = subprocess.run(
        [executable, "--help"], capture_output=True, text=True, check=True
    )
    assert "linear-probe" in result.stdout
    assert "fit" in result.stdout


def test_unknown_model_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["fit", "--model=NotAMethod"])
    assert "NotAMethod" in capsys.readouterr().err
