"""The ``lightning-ssl`` command: LightningCLI for training plus evaluation tools.

``fit``, ``validate`` and ``--print_config`` come from Lightning's
``LightningCLI``: any method of :mod:`lightning_ssl.methods` (``--model``) and
any ``LightningDataModule`` (``--data``) can be chosen, and YAML recipes from
``configs/`` are passed with ``--config``. With no other argument, ``fit`` runs
the packaged default job (``default.yaml`` beside this file). The commands in
:data:`TOOLS` work on a trained checkpoint and are dispatched to their modules.
"""

import importlib
import sys
from pathlib import Path

from lightning import LightningDataModule
from lightning.pytorch.cli import LightningCLI

from lightning_ssl.methods import SSLMethod

# Packaged defaults of the main job, one file per part so that choosing another
# model keeps the default data and vice versa.
DEFAULTS = Path(__file__).with_name("defaults")

# Commands that evaluate a checkpoint rather than train: name -> (module, help).
TOOLS = {
    "linear-probe": (
        "lightning_ssl.cli.linear_probe",
        "train linear classifiers on frozen features with few labels",
    ),
    "collapse-report": (
        "lightning_ssl.cli.collapse",
        "diagnose complete or dimensional collapse of a checkpoint",
    ),
}


class SSLCLI(LightningCLI):
    """LightningCLI that reports where the run's logs and checkpoints went."""

    def after_fit(self) -> None:
        """Print the log folder and the checkpoint of the finished run."""
        trainer = self.trainer
        if not trainer.is_global_zero:
            return
        lines = [f"Logs: {trainer.log_dir}"]
        checkpoint = trainer.checkpoint_callback
        path = getattr(checkpoint, "best_model_path", "") or getattr(
            checkpoint, "last_model_path", ""
        )
        if path:
            lines.append(f"Checkpoint: {path}")
        sys.stdout.write("\n".join(lines) + "\n")


def _tools_epilog() -> str:
    listing = "; ".join(f"{name} ({text})" for name, (_, text) in TOOLS.items())
    return f"Evaluation commands, each with its own --help: {listing}."


def _with_default_job(args: list[str]) -> list[str]:
    """Insert the packaged default model, data and trainer where none is chosen.

    Defaults are config files rather than parser defaults so that choosing
    another model (``--model BYOL``) starts from that model's own defaults
    instead of inheriting SimCLR's values. A ``--config`` replaces them all.
    """
    if not args or args[0] not in ("fit", "validate"):
        return args
    chosen = {arg.split("=")[0] for arg in args[1:]}
    if chosen & {"--config", "-c"}:
        return args
    defaults = [DEFAULTS / "trainer.yaml"]
    defaults += [] if "--model" in chosen else [DEFAULTS / "model.yaml"]
    defaults += [] if "--data" in chosen else [DEFAULTS / "data.yaml"]
    configs = [item for path in defaults for item in ("--config", str(path))]
    return [args[0], *configs, *args[1:]]


def main(argv: list[str] | None = None) -> int:
    """Run ``lightning-ssl`` with ``argv`` (default: the process arguments).

    Returns:
        The exit status.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] in TOOLS:
        module = importlib.import_module(TOOLS[args[0]][0])
        return int(module.main(args[1:]) or 0)

    args = _with_default_job(args)
    if argv is None:
        # LightningCLI reads sys.argv itself when given no args; hand it the
        # completed command line that way instead of passing both.
        sys.argv = [sys.argv[0], *args]
    SSLCLI(
        SSLMethod,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        parser_kwargs={"epilog": _tools_epilog()},
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        args=None if argv is None else args,
    )
    return 0
