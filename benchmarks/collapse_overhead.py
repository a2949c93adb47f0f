"""Overhead of :class:`CollapseMonitor` on a short SimCLR run on CIFAR-10.

Trains SimCLR (``narrow_resnet18``, 128-d features, a 512-wide projection head
to 128 dimensions) on 32x32 CIFAR-10 training images with and without the
monitor at its default settings (a 2,048-embedding buffer per source, features
and projections, checked every 50 steps on the CPU in float32). After an
untimed first run, runs alternate (off-on, on-off, ...) so that both settings
see the same machine load; each times ``--steps`` optimizer steps after
``--warmup-steps`` untimed ones, so that the timed steps hold ``steps / 50``
checks.

Two figures of the overhead:

- end to end: steps per second without the monitor over steps per second
  with it, minus one, from the medians and from the best run of each. On a
  shared machine this is as noisy as the load, and can come out negative;
- in the hook: the time spent inside the monitor's ``on_train_batch_end``
  (buffering every step, computing every 50th) as a fraction of the timed
  wall time of the same run; the median over runs. This is the monitor's own
  cost, free of the noise of the other runs.

The default ImageNet stem shrinks the images to 8x8 maps, which makes steps
fast and the monitor's share of them larger than with ``--cifar-stem``: the
figure is an upper bound for this backbone. JPEGs are decoded once up front
and augmented per sample, batched, with lightning_ssl's
``BatchedSimCLRTransform`` in the loader's main process.

Run from the repository root (5-9 minutes on 2 shared CPU cores, with load)::

    python benchmarks/collapse_overhead.py

Results go to ``benchmarks/results/collapse_overhead.{json,md}``. On an
oversubscribed CPU multi-threaded torch can slow down many times over, so the
default is ``--threads 1``; load averages before and after are recorded.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import lightning
import torch
from lightning import Callback, LightningModule, Trainer
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms.v2.functional import pil_to_tensor

from lightning_ssl.callbacks.collapse_monitor import CollapseMonitor
from lightning_ssl.methods import SimCLR
from lightning_ssl.transforms import BatchedSimCLRTransform

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "cifar10"
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "collapse_overhead"


class StepTimer(Callback):
    """Wall time of the optimizer steps after the first ``skip``."""

    def __init__(self, skip: int) -> None:
        self.skip = skip
        self.start: float | None = None
        self.end = 0.0

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, *args: Any
    ) -> None:
        if trainer.global_step == self.skip:
            self.start = time.perf_counter()
        self.end = time.perf_counter()

    @property
    def seconds(self) -> float:
        assert self.start is not None, "fewer steps than the warm-up"
        return self.end - self.start


class TimedCollapseMonitor(CollapseMonitor):
    """The monitor, with the time spent in its per-step hook and its checks."""

    def __init__(self, skip: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.skip = skip
        self.hook_seconds = 0.0
        self.check_seconds: list[float] = []

    def on_train_batch_end(self, trainer: Trainer, *args: Any) -> None:
        start = time.perf_counter()
        super().on_train_batch_end(trainer, *args)
        if trainer.global_step > self.skip:
            self.hook_seconds += time.perf_counter() - start

    def check(self, *args: Any) -> None:
        start = time.perf_counter()
        super().check(*args)
        self.check_seconds.append(time.perf_counter() - start)


def load_images(root: Path, count: int, seed: int) -> Tensor:
    """``count`` random training JPEGs as a `(N, 3, 32, 32)` uint8 tensor."""
    files = sorted((root / "train").glob("*/*.jpg"))
    if len(files) < count:
        sys.exit(f"Need {count} CIFAR-10 training JPEGs under {root}/train.")
    chosen = random.Random(seed).sample(files, count)
    return torch.stack([pil_to_tensor(Image.open(f).convert("RGB")) for f in chosen])


def make_loader(images: Tensor, batch_size: int) -> DataLoader[Any]:
    # SimCLR's CIFAR-10 augmentations: colour strength 0.5, no blur (Chen et
    # al., 2020, Appendix B.9).
    transform = BatchedSimCLRTransform(
        input_size=32, cj_strength=0.5, gaussian_blur=0.0
    )

    def collate(batch: list[tuple[Tensor, ...]]) -> tuple[list[Tensor], Tensor]:
        stacked = torch.stack([item[0] for item in batch])
        return list(transform(stacked)), torch.full((len(batch),), -1)

    return DataLoader(
        TensorDataset(images),
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        collate_fn=collate,
    )


def run(args: argparse.Namespace, images: Tensor, monitored: bool) -> dict[str, Any]:
    """One training run; returns its timings."""
    lightning.seed_everything(args.seed, verbose=False)
    model = SimCLR(
        "narrow_resnet18",
        cifar_stem=args.cifar_stem,
        projection_hidden_dim=512,
        projection_dim=128,
        temperature=0.5,
        batch_size=args.batch_size,
        warmup_epochs=0.0,
    )
    timer = StepTimer(skip=args.warmup_steps)
    callbacks: list[Callback] = [timer]
    monitor = None
    if monitored:
        monitor = TimedCollapseMonitor(skip=args.warmup_steps)
        callbacks.append(monitor)
    trainer = Trainer(
        max_steps=args.warmup_steps + args.steps,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )
    trainer.fit(model, make_loader(images, args.batch_size))

    result: dict[str, Any] = {
        "monitor": monitored,
        "seconds": round(timer.seconds, 3),
        "steps_per_second": round(args.steps / timer.seconds, 4),
    }
    if monitor is not None:
        checks = monitor.check_seconds
        result.update(
            hook_seconds=round(monitor.hook_seconds, 4),
            hook_fraction=round(monitor.hook_seconds / timer.seconds, 5),
            checks=len(checks),
            check_ms=[round(1000 * s, 1) for s in checks],
            detection=None if monitor.detection is None else monitor.detection.step,
        )
    return result


def machine_info() -> dict[str, Any]:
    def git(*args: str) -> str:
        completed = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True
        )
        return completed.stdout.strip()

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": importlib.metadata.version("lightning"),
        "torchmetrics": importlib.metadata.version("torchmetrics"),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    off = [r["steps_per_second"] for r in runs if not r["monitor"]]
    on = [r["steps_per_second"] for r in runs if r["monitor"]]
    fractions = [r["hook_fraction"] for r in runs if r["monitor"]]
    check_ms = [ms for r in runs if r["monitor"] for ms in r["check_ms"]]
    median_off, median_on = statistics.median(off), statistics.median(on)
    return {
        "steps_per_second_without": round(median_off, 4),
        "steps_per_second_with": round(median_on, 4),
        "end_to_end_overhead": round(median_off / median_on - 1, 4),
        "best_steps_per_second_without": round(max(off), 4),
        "best_steps_per_second_with": round(max(on), 4),
        "end_to_end_overhead_best": round(max(off) / max(on) - 1, 4),
        "hook_fraction_median": round(statistics.median(fractions), 5),
        "hook_fraction_max": round(max(fractions), 5),
        "check_ms_median": round(statistics.median(check_ms), 1),
        "step_ms_without": round(1000 / median_off, 1),
    }


def write_markdown(path: Path, report: dict[str, Any]) -> None:
    s, config, machine = report["summary"], report["config"], report["machine"]
    lines = [
        "# CollapseMonitor overhead",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Machine: {machine['processor']}, {machine['usable_cpus']} usable CPUs, "
        f"torch {machine['torch']}, {config['threads']} thread(s); load average "
        f"{report['load_before']} before, {report['load_after']} after.",
        "",
        f"SimCLR narrow_resnet18 ({'CIFAR' if config['cifar_stem'] else 'ImageNet'}"
        f" stem), batch {config['batch_size']}, {config['steps']} timed steps "
        f"after {config['warmup_steps']}, {config['repeats']} runs each; monitor "
        "defaults (buffer 2048 per source, features and projections, every 50 "
        "steps, CPU float32).",
        "",
        "| | value |",
        "|---|---|",
        f"| steps/s without monitor (median) | {s['steps_per_second_without']} |",
        f"| steps/s with monitor (median) | {s['steps_per_second_with']} |",
        f"| end-to-end overhead from medians (noisy) | "
        f"{s['end_to_end_overhead']:.1%} |",
        f"| steps/s, best run without / with | {s['best_steps_per_second_without']}"
        f" / {s['best_steps_per_second_with']} |",
        f"| end-to-end overhead from best runs (noisy) | "
        f"{s['end_to_end_overhead_best']:.1%} |",
        f"| time in the monitor's hook, median | {s['hook_fraction_median']:.2%} |",
        f"| time in the monitor's hook, worst run | {s['hook_fraction_max']:.2%} |",
        f"| one check (both sources), median | {s['check_ms_median']} ms |",
        f"| one step without monitor | {s['step_ms_without']} ms |",
        "",
        "Runs, in order:",
        "",
        "| monitor | steps/s | hook share | checks (ms) |",
        "|---|---|---|---|",
    ]
    for r in report["runs"]:
        share = f"{r['hook_fraction']:.2%}" if r["monitor"] else "-"
        checks = ", ".join(str(ms) for ms in r.get("check_ms", [])) or "-"
        lines.append(
            f"| {'on' if r['monitor'] else 'off'} | {r['steps_per_second']} | "
            f"{share} | {checks} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--num-images", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cifar-stem", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    command = shlex.join(["python", "benchmarks/collapse_overhead.py", *sys.argv[1:]])
    print(f"Command: {command}")
    machine = machine_info()
    print(f"Machine: {json.dumps(machine)}")
    images = load_images(args.data, args.num_images, args.seed)
    load_before = [round(v, 2) for v in os.getloadavg()]

    # An untimed first run pays the process's one-off costs (allocator, lazy
    # initialisation), which would otherwise slow whichever setting came first;
    # the order then alternates (off-on, on-off, ...) to cancel drifts in load.
    run(args, images, monitored=True)
    runs = []
    for repeat in range(args.repeats):
        order = (False, True) if repeat % 2 == 0 else (True, False)
        for monitored in order:
            result = run(args, images, monitored)
            runs.append(result)
            print(f"repeat {repeat}: {json.dumps(result)}", flush=True)
    load_after = [round(v, 2) for v in os.getloadavg()]

    summary = summarise(runs)
    report = {
        "command": command,
        "machine": machine,
        "config": {
            key: str(value) if isinstance(value, Path) else value
            for key, value in vars(args).items()
        },
        "load_before": load_before,
        "load_after": load_after,
        "runs": runs,
        "summary": summary,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(args.output.with_suffix(".md"), report)
    print(f"Summary: {json.dumps(summary)}")
    print(f"Wrote {args.output.with_suffix('.json')} and .md")


if __name__ == "__main__":
    main()
