"""Short GPU check of the CIFAR-10 recipes: a few bf16 steps each, speed and memory.

For every ``configs/benchmarks/cifar10_<method>.yaml`` the model is built from
the recipe's ``model`` section exactly as ``lightning-ssl fit`` would, and
trained for ``--warmup-steps`` + ``--steps`` steps at the recipe's batch size
(512) with ``--precision`` (bf16-mixed) on one CUDA device, through the fast
data path: uint8 images gathered as whole batches and augmented on the GPU by
the method's batched recipe (:mod:`lightning_ssl.transforms`). The images are
random unless ``--cifar10-root`` points at CIFAR-10 (decoded once into
lightning_ssl's cache). It prints, and writes to
``benchmarks/results/gpu_recipe_check.json``, the training images per second
after warm-up, the peak GPU memory and the first and last losses, so that a
recipe that fails, diverges or does not fit shows up before a 200-epoch run.

Without CUDA it says so and exits with status 0. About 3 minutes on one GPU::

    python benchmarks/gpu_recipe_check.py

``--accelerator cpu --precision 32-true --batch-size 4 --steps 1`` runs the same
code path on a CPU (the benchmark tests do that).
"""

import argparse
import importlib
import json
import logging
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import lightning as L
import report
import torch
import yaml
from ssl_bench.data import load_splits
from ssl_bench.environment import REPO_ROOT, machine
from ssl_bench.recipes import batch_transform

from lightning_ssl.data import DecodedImageDataset, SSLDataModule
from lightning_ssl.methods import SSLMethod

CONFIGS = REPO_ROOT / "configs" / "benchmarks"
RESULTS = REPO_ROOT / "benchmarks" / "results" / "gpu_recipe_check.json"
IMAGE_SIZE = 32


def recipe_paths(methods: list[str] | None = None) -> dict[str, Path]:
    """Registry name -> path of each CIFAR-10 recipe, optionally filtered.

    Example:
        >>> "simclr" in recipe_paths()
        True
    """
    paths = {
        path.stem.removeprefix("cifar10_"): path
        for path in sorted(CONFIGS.glob("cifar10_*.yaml"))
    }
    if methods is not None:
        unknown = sorted(set(methods) - set(paths))
        if unknown:
            raise ValueError(
                f"`methods` must be among {sorted(paths)}, got unknown {unknown}."
            )
        paths = {name: paths[name] for name in methods}
    return paths


def build_model(config: dict[str, Any]) -> SSLMethod:
    """Instantiate the recipe's ``model`` section (``class_path`` + ``init_args``)."""
    module_name, class_name = config["model"]["class_path"].rsplit(".", 1)
    cls = getattr(importlib.import_module(module_name), class_name)
    model: SSLMethod = cls(**config["model"].get("init_args", {}))
    return model


class CudaStepTimer(L.Callback):
    """End time of every training batch (after the device finished) and its loss."""

    def __init__(self) -> None:
        self.ends: list[float] = []
        self.losses: list[float] = []

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Synchronise the device, then record the time and the loss."""
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        self.ends.append(time.perf_counter())
        if isinstance(outputs, dict) and "loss" in outputs:
            self.losses.append(float(outputs["loss"]))


def images(count: int, cifar10_root: Path | None) -> DecodedImageDataset:
    """``count`` training images: CIFAR-10's first ones, or random uint8 noise."""
    if cifar10_root is not None:
        train, _ = load_splits("cifar10", cifar10_root)
        index = torch.arange(min(count, len(train)))
        return DecodedImageDataset(train.images[index].clone(), train.targets[index])
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(
        0, 256, (count, 3, IMAGE_SIZE, IMAGE_SIZE), generator=generator
    ).to(torch.uint8)
    return DecodedImageDataset(pixels, torch.full((count,), -1))


def check_recipe(name: str, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Train one recipe for a few steps; return speed, memory and losses."""
    config = yaml.safe_load(path.read_text())
    batch_size = args.batch_size or config["data"]["init_args"]["batch_size"]
    row: dict[str, Any] = {
        "method": name,
        "config": str(path.relative_to(REPO_ROOT)),
        "batch_size": batch_size,
        "precision": args.precision,
    }
    L.seed_everything(0, verbose=False)
    model = build_model(config)
    total = args.warmup_steps + args.steps
    datamodule = SSLDataModule(
        images(batch_size * total, args.cifar10_root),
        augment_on="device",
        batch_transform=batch_transform(name, model, IMAGE_SIZE),
        batch_size=batch_size,
        num_workers=0,
        image_size=IMAGE_SIZE,
    )
    timer = CudaStepTimer()
    trainer = L.Trainer(
        accelerator=args.accelerator,
        devices=1,
        precision=args.precision,
        max_steps=total,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[timer],
    )
    cuda = args.accelerator == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.fit(model, datamodule)

    timed = timer.ends[args.warmup_steps - 1 :] if args.warmup_steps else timer.ends
    if len(timed) >= 2:
        row["images_per_s"] = batch_size * (len(timed) - 1) / (timed[-1] - timed[0])
    row["steps"] = trainer.global_step
    row["loss_first"], row["loss_last"] = timer.losses[0], timer.losses[-1]
    if cuda:
        row["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return row


def main(argv: list[str] | None = None) -> int:
    """Check every recipe; print a table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", help="default: every recipe")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, help="default: the recipe's")
    parser.add_argument("--precision", default="bf16-mixed")
    parser.add_argument("--accelerator", default="cuda")
    parser.add_argument("--cifar10-root", type=Path)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.accelerator == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available: no GPU recipe to check here.")
        return 0
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    argv_shown = sys.argv[1:] if argv is None else argv
    document: dict[str, Any] = {
        "command": shlex.join(
            ["python", "benchmarks/gpu_recipe_check.py", *argv_shown]
        ),
        "machine": machine(),
        "rows": [],
    }
    for name, path in recipe_paths(args.methods).items():
        try:
            row = check_recipe(name, path, args)
        except Exception as error:  # a failing recipe must not hide the others
            row = {"method": name, "error": f"{type(error).__name__}: {error}"}
            traceback.print_exc()
        document["rows"].append(row)
        speed = row.get("images_per_s", float("nan"))
        memory = row.get("peak_memory_gib", float("nan"))
        status = row.get("error") or (
            f"{speed:8.0f} img/s  {memory:5.1f} GiB  loss "
            f"{row['loss_first']:.3f} -> {row['loss_last']:.3f}"
        )
        print(f"{name:12s} {status}", flush=True)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    if args.output == RESULTS:
        report.main([])  # gpu_reference.md and the README show the new figures
    failed = [row["method"] for row in document["rows"] if "error" in row]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
