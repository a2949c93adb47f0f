"""GPU check: short SimCLR and BYOL runs with bf16, channels_last and DDP.

Trains each method for ``--steps`` optimizer steps (100 by default) with a
ResNet-18 (CIFAR stem) on 32x32 images, per-device batch 256, in
``precision="bf16-mixed"`` with the model in ``channels_last`` memory format, on
every visible GPU (``devices=torch.cuda.device_count()``, DDP when there is more
than one). Data: the CIFAR-10 JPEGs in ``../shared/data/cifar10`` when present
(decoded once into lightning_ssl's image cache, then augmented on the GPU with
the batched recipes of :mod:`lightning_ssl.transforms`), otherwise synthetic
images through the same path.

It prints the command, the machine (GPU name and count, driver, CUDA, torch),
and per method the throughput in source images per second (each makes two
views) over the steps after ``--warmup-steps``, the step time, the peak GPU
memory (``torch.cuda.max_memory_allocated`` on rank 0) and the first and last
loss; it writes the same to ``benchmarks/results/gpu_check.{json,md}``. The
whole check takes a few minutes on one GPU.

Run from the repository root::

    python benchmarks/gpu_check.py

On a machine without CUDA it says so and records nothing. ``--cpu`` instead
runs the same code for 2 steps with a narrow ResNet on a small batch on the
CPU in float32, as a smoke test of the script (results only with ``--output-dir``)::

    python benchmarks/gpu_check.py --cpu --synthetic
"""

import argparse
import importlib.metadata
import itertools
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from torchvision.datasets import FakeData

from lightning_ssl.data import CIFAR10DataModule, SSLDataModule
from lightning_ssl.methods import BYOL, SimCLR, SSLMethod

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "cifar10"
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results"
IMAGE_SIZE = 32
METHODS: dict[str, type[SSLMethod]] = {"simclr": SimCLR, "byol": BYOL}
# Enough synthetic images for a few distinct batches; epochs repeat them.
SYNTHETIC_BATCHES = 8


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup-steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256, help="per device")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument(
        "--precision", default=None, help="bf16-mixed on GPUs, 32-true with --cpu"
    )
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--synthetic", action="store_true", help="random images even with CIFAR-10"
    )
    parser.add_argument("--augment-on", choices=("device", "workers"), default="device")
    parser.add_argument("--num-workers", type=int, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--output-dir", type=Path, default=None)
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="smoke test on the CPU: 2 steps, batch 8, narrow_resnet18, float32",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.methods) - set(METHODS))
    if unknown:
        parser.error(f"--methods must be among {sorted(METHODS)}, got {unknown}")
    if args.cpu:
        args.steps, args.warmup_steps = 2, 1
        args.batch_size, args.backbone = 8, "narrow_resnet18"
    if args.precision is None:
        # bf16 convolutions are slow on most CPUs.
        args.precision = "32-true" if args.cpu else "bf16-mixed"
    if not 0 <= args.warmup_steps < args.steps:
        parser.error(
            f"--warmup-steps must be in [0, --steps), got {args.warmup_steps} "
            f"with --steps {args.steps}"
        )
    return args


def machine_info(cpu: bool) -> dict[str, Any]:
    """GPU, driver, CUDA and library versions of this machine."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": importlib.metadata.version("lightning"),
        "lightly": importlib.metadata.version("lightly"),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }
    if cpu:
        info["device"] = "cpu (smoke test)"
        return info
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    info.update(
        gpu=names[0],
        gpu_count=len(names),
        gpus=names,
        gpu_memory_gib=round(
            torch.cuda.get_device_properties(0).total_memory / 2**30, 1
        ),
        cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version(),
        driver=_driver_version(),
        bf16_supported=torch.cuda.is_bf16_supported(),
    )
    return info


def _driver_version() -> str | None:
    try:
        output = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return output.strip().splitlines()[0] if output.strip() else None


def batch_transform(method: str, model: SSLMethod) -> Any:
    """The method's batched augmentation at ``IMAGE_SIZE`` (no blur at 32 px)."""
    return model.default_batch_transform(IMAGE_SIZE)


def datamodule(
    args: argparse.Namespace, method: str, model: SSLMethod, devices: int
) -> tuple[SSLDataModule, str]:
    """CIFAR-10 from ``--data-root`` when present, else synthetic images."""
    kwargs: dict[str, Any] = {
        "batch_size": args.batch_size,
        "num_workers": args.num_workers,
        "augment_on": args.augment_on,
        "cache": args.augment_on == "device",
        "cache_dir": args.cache_dir,
        "seed": 0,
    }
    if args.augment_on == "device":
        kwargs["batch_transform"] = batch_transform(method, model)
    root = args.data_root
    found = (root / "train").is_dir() or (root / "cifar-10-batches-py").is_dir()
    use_cifar = found and not args.synthetic
    if use_cifar:
        return CIFAR10DataModule(
            args.data_root, **kwargs
        ), f"CIFAR-10 ({args.data_root})"
    size = SYNTHETIC_BATCHES * args.batch_size * devices
    images = FakeData(size, image_size=(3, IMAGE_SIZE, IMAGE_SIZE), num_classes=10)
    return (
        SSLDataModule(images, image_size=IMAGE_SIZE, num_classes=10, **kwargs),
        f"synthetic ({size} random images)",
    )


class StepTimer(L.Callback):
    """Wall time of the steps after ``warmup`` (data, augmentation, step); losses."""

    def __init__(self, warmup: int, cuda: bool) -> None:
        self.warmup = warmup
        self.cuda = cuda
        self.starts: list[float] = []
        self.losses: list[float] = []
        self.end = math.nan

    def _now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.warmup and self.cuda:
            torch.cuda.reset_peak_memory_stats()
        self.starts.append(self._now())

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, *args: Any
    ) -> None:
        self.losses.append(float(outputs["loss"]))

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.end = self._now()

    def step_times(self) -> list[float]:
        marks = [*self.starts[self.warmup :], self.end]
        return [later - earlier for earlier, later in itertools.pairwise(marks)]


def run_method(args: argparse.Namespace, method: str) -> dict[str, Any] | None:
    """Train one method; its measurements on rank 0, None on other ranks."""
    cuda = not args.cpu
    devices = torch.cuda.device_count() if cuda else 1
    L.seed_everything(0, workers=True, verbose=False)
    model = METHODS[method](args.backbone, cifar_stem=True)
    # channels_last suits the tensor cores' NHWC convolutions in bf16.
    model = model.to(memory_format=torch.channels_last)
    data, data_name = datamodule(args, method, model, devices)

    timer = StepTimer(args.warmup_steps, cuda)
    trainer = L.Trainer(
        accelerator="cuda" if cuda else "cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        precision=args.precision,
        max_steps=args.steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(model, datamodule=data)
    if not trainer.is_global_zero:
        return None

    step_time = statistics.median(timer.step_times())
    global_batch = args.batch_size * trainer.world_size
    measured_steps = args.steps - args.warmup_steps
    total_time = sum(timer.step_times())
    return {
        "method": method,
        "data": data_name,
        "devices": trainer.world_size,
        "strategy": type(trainer.strategy).__name__,
        "precision": args.precision,
        "global_batch": global_batch,
        "steps": args.steps,
        "measured_steps": measured_steps,
        "images_per_s": round(global_batch * measured_steps / total_time, 1),
        "views_per_s": round(2 * global_batch * measured_steps / total_time, 1),
        "median_step_ms": round(1000 * step_time, 2),
        "peak_memory_gib": (
            round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None
        ),
        "first_loss": timer.losses[0],
        "last_loss": timer.losses[-1],
        "finite": all(math.isfinite(loss) for loss in timer.losses),
    }


def markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    device = (
        f"{machine['gpu_count']} x {machine['gpu']} ({machine['gpu_memory_gib']} GiB), "
        f"driver {machine['driver']}, CUDA {machine['cuda']}, cuDNN {machine['cudnn']}"
        if "gpu" in machine
        else machine["device"]
    )
    lines = [
        "# GPU check",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Machine: {device}; torch {machine['torch']}, lightning "
        f"{machine['lightning']}, lightly {machine['lightly']}, "
        f"{machine['cpu_count']} CPUs.",
        "",
        f"Settings: {report['settings']}.",
        "",
        "| method | devices | global batch | images/s | step (ms) | peak memory "
        "(GiB) | loss first -> last | data |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        lines.append(
            f"| {run['method']} | {run['devices']} | {run['global_batch']} | "
            f"{run['images_per_s']} | {run['median_step_ms']} | "
            f"{run['peak_memory_gib']} | {run['first_loss']:.3f} -> "
            f"{run['last_loss']:.3f} | {run['data']} |"
        )
    lines += [
        "",
        "Images/s counts source images (two views each) over the steps after the "
        "warm-up, data loading and GPU augmentation included; peak memory is "
        "`torch.cuda.max_memory_allocated` on rank 0 after the warm-up.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python", "benchmarks/gpu_check.py", *(argv or sys.argv[1:])])
    if not args.cpu and not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA device on this machine, nothing was run or recorded. "
            "Run it on a GPU machine, or with --cpu for a 2-step smoke test."
        )
        return 0
    if not args.cpu:
        if args.precision == "bf16-mixed" and not torch.cuda.is_bf16_supported():
            args.precision = "16-mixed"  # pre-Ampere GPUs have no bf16 units
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")

    machine = machine_info(args.cpu)
    rank_zero_only(print)(f"$ {command}\n{json.dumps(machine, indent=2)}")
    runs = []
    for method in args.methods:
        result = run_method(args, method)
        if result is not None:
            runs.append(result)
            print(json.dumps(result, indent=2))
    if not runs:  # not rank 0
        return 0

    report = {
        "command": command,
        "machine": machine,
        "settings": (
            f"backbone {args.backbone} (CIFAR stem), {args.batch_size} images per "
            f"device, {args.steps} steps ({args.warmup_steps} warm-up), "
            f"precision {args.precision}, channels_last, augmentation on "
            f"{args.augment_on}"
        ),
        "runs": runs,
    }
    output = (
        args.output_dir
        if args.output_dir is not None
        else (None if args.cpu else DEFAULT_OUTPUT)
    )
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        (output / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
        (output / "gpu_check.md").write_text(markdown(report))
        print(f"Wrote {output / 'gpu_check.json'} and {output / 'gpu_check.md'}")
    return 0 if all(run["finite"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
