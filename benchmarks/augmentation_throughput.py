"""Throughput of SimCLR augmentation: lightly per image vs. batched, per core.

Compares, on CIFAR-10 images (32x32) held in memory:

- lightly's ``SimCLRTransform(input_size=32)`` on PIL images, through a
  ``DataLoader`` with 0, 1 and 2 workers (each worker uses one thread);
- :class:`lightning_ssl.transforms.BatchedSimCLRTransform` with the same
  arguments on `(B, 3, 32, 32)` uint8 batches, with 1 thread and with all
  cores, and on CUDA when available;
- for reference only, torchvision v2's transforms on a whole uint8 batch, which
  draw ONE set of random parameters per batch and so are not a valid SSL
  augmentation.

Every figure is in source images per second; each source image yields two
views. JPEG decoding is not timed: all images are decoded once up front. Batched
figures are the median over ``--repeats`` timed runs after a warm-up. The
machine may be shared, so the load average before and after is recorded.

Run from the repository root (about a minute or two on 2 cores)::

    python benchmarks/augmentation_throughput.py

On a GPU machine the same command also times the batched transform on CUDA,
for the batch sizes in ``--cuda-batch-sizes`` (images are copied to the device
once, outside the timing, as Lightning does before ``on_after_batch_transfer``)::

    python benchmarks/augmentation_throughput.py --cuda-batch-sizes 256 1024 4096

Results go to ``benchmarks/results/augmentation_throughput.{json,md}``.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torchvision
from lightly.transforms import SimCLRTransform
from lightly.transforms.utils import IMAGENET_NORMALIZE
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from lightning_ssl.transforms import BatchedSimCLRTransform

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "cifar10"
INPUT_SIZE = 32


class _PILDataset(Dataset):
    """In-memory PIL images through a per-image transform."""

    def __init__(self, images: list[Image.Image], transform: Callable) -> None:
        self.images = images
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> list[torch.Tensor]:
        return self.transform(self.images[index])


def load_images(root: Path, count: int) -> list[Image.Image]:
    """The first ``count`` training images, taken round-robin over the classes."""
    class_dirs = sorted(path for path in (root / "train").iterdir() if path.is_dir())
    files = [sorted(path.glob("*.jpg")) for path in class_dirs]
    images = []
    for index in range(count):
        path = files[index % len(files)][index // len(files)]
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    return images


def time_lightly(images: list[Image.Image], workers: int, batch_size: int) -> float:
    """Source images per second of lightly's SimCLRTransform in a DataLoader.

    Timing starts when the first batch arrives, so worker start-up is excluded.
    """
    loader = DataLoader(
        _PILDataset(images, SimCLRTransform(input_size=INPUT_SIZE)),
        batch_size=batch_size,
        num_workers=workers,
    )
    iterator = iter(loader)
    next(iterator)
    start, counted = time.perf_counter(), 0
    for views in iterator:
        counted += len(views[0])
    return counted / (time.perf_counter() - start)


def time_batches(
    transform: Callable[[torch.Tensor], object],
    batches: list[torch.Tensor],
    repeats: int,
    synchronize: Callable[[], None] = lambda: None,
) -> tuple[float, float]:
    """Median and best source images per second of ``transform`` over ``batches``."""
    for batch in batches[:3]:
        transform(batch)
    synchronize()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            transform(batch)
        synchronize()
        rates.append(sum(len(b) for b in batches) / (time.perf_counter() - start))
    return statistics.median(rates), max(rates)


def torchvision_per_batch_simclr() -> Callable[[torch.Tensor], list[torch.Tensor]]:
    """torchvision v2 SimCLR chain applied to whole batches (one draw per batch)."""
    view = v2.Compose(
        [
            v2.RandomResizedCrop(INPUT_SIZE, scale=(0.08, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8),
            v2.RandomGrayscale(p=0.2),
            v2.RandomApply([v2.GaussianBlur(13, sigma=(0.1, 2.0))], p=0.5),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(**IMAGENET_NORMALIZE),
        ]
    )
    return lambda batch: [view(batch), view(batch)]


def machine_info() -> dict[str, object]:
    """CPU model, core counts and library versions."""
    cpu = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info: dict[str, object] = {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "lightly": importlib.metadata.version("lightly"),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
    return info


def write_markdown(path: Path, result: dict) -> None:
    """The results as a short markdown report."""
    machine = result["machine"]
    lines = [
        "# SimCLR augmentation throughput, CIFAR-10 32x32",
        "",
        f"Command: `{result['command']}`",
        "",
        f"Machine: {machine['cpu']}, {machine['usable_cores']} usable cores, "
        f"torch {machine['torch']}, torchvision {machine['torchvision']}, "
        f"lightly {machine['lightly']}, CUDA device: {machine['cuda']}. "
        f"Load average before/after: {result['load_before']} / "
        f"{result['load_after']}.",
        "",
        "Source images per second (two views each); decoding not timed.",
        "",
        "| transform | setting | images/s | images/s per core |",
        "|---|---|---:|---:|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['transform']} | {row['setting']} | {row['images_per_s']:,.0f} | "
            f"{row['per_core']:,.0f} |"
            if row["per_core"] is not None
            else f"| {row['transform']} | {row['setting']} | "
            f"{row['images_per_s']:,.0f} | n/a |"
        )
    lines += [
        "",
        "Per-core speed-up of the batched recipe (1 thread) over lightly "
        f"(0 workers): **{result['speedup_per_core']:.1f}x**, the median over "
        f"{len(result['speedup_per_core_pairs'])} alternating pairs of runs (each "
        "pair timed back to back, so that both see the same machine load).",
        "",
        "torchvision v2 on a batch draws one set of parameters per batch: a "
        "reference for speed only, not a valid SSL augmentation.",
        "",
    ]
    if max(result["load_before"][0], result["load_after"][0]) > machine["usable_cores"]:
        lines += [
            "The machine was shared and oversubscribed during the run (load average "
            "above the core count): all figures are lower bounds, and the "
            "multi-thread and multi-worker ones are the least reliable.",
            "",
        ]
    path.write_text("\n".join(lines))


def main() -> None:
    """Run the comparison and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cuda-batch-sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument(
        "--output-dir", type=Path, default=REPO_ROOT / "benchmarks/results"
    )
    args = parser.parse_args()

    command = " ".join(["python", *sys.argv])
    machine = machine_info()
    load_before = [round(value, 2) for value in os.getloadavg()]
    print(f"$ {command}")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()))
    print(f"load average before: {load_before}")

    images = load_images(args.data, args.images)
    arrays = np.stack([np.asarray(image) for image in images])  # (N, H, W, C)
    uint8 = torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous()
    batches = list(uint8.split(args.batch_size))
    rows: list[dict] = []

    def report(transform: str, setting: str, rate: float, cores: int | None) -> None:
        per_core = rate / cores if cores else None
        rows.append(
            {
                "transform": transform,
                "setting": setting,
                "images_per_s": rate,
                "per_core": per_core,
            }
        )
        core_text = f" ({per_core:,.0f} per core)" if per_core else ""
        print(f"{transform:40s} {setting:32s} {rate:9,.0f} images/s{core_text}")

    # lightly, per image in loader workers; the main process does one thread.
    torch.set_num_threads(1)
    for workers in args.workers:
        rate = time_lightly(images, workers, args.batch_size)
        report(
            "lightly SimCLRTransform (PIL)",
            f"DataLoader workers={workers}",
            rate,
            max(workers, 1),
        )
    lightly_per_core = rows[0]["per_core"]

    batched = BatchedSimCLRTransform(input_size=INPUT_SIZE)
    torchvision_batch = torchvision_per_batch_simclr()
    all_cores = len(os.sched_getaffinity(0))
    for threads in sorted({1, all_cores}):
        torch.set_num_threads(threads)
        median, best = time_batches(batched, batches, args.repeats)
        setting = f"CPU, {threads} thread(s), B={args.batch_size}"
        report("BatchedSimCLRTransform (uint8 batch)", setting, median, threads)
        rows[-1]["best_images_per_s"] = best
        if threads == 1:
            batched_per_core = median
        median, _ = time_batches(torchvision_batch, batches, args.repeats)
        report("torchvision v2, one draw per batch", setting, median, threads)

    if torch.cuda.is_available():
        device_batches = uint8.cuda()
        for batch_size in args.cuda_batch_sizes:
            repeats = max(1, -(-batch_size // len(uint8)))
            on_device = list(device_batches.repeat(repeats, 1, 1, 1).split(batch_size))
            median, best = time_batches(
                batched, on_device, args.repeats, torch.cuda.synchronize
            )
            report(
                "BatchedSimCLRTransform (uint8 batch)",
                f"CUDA, B={batch_size}",
                median,
                None,
            )
            rows[-1]["best_images_per_s"] = best

    # On a shared machine the load changes between the runs above, so the
    # per-core speed-up is measured in alternating pairs of short runs.
    torch.set_num_threads(1)
    ratios = []
    for _ in range(args.repeats):
        # The first batch is not timed: 3 batches time 2 of them.
        lightly_rate = time_lightly(images[: 3 * args.batch_size], 0, args.batch_size)
        batched_rate, _ = time_batches(batched, batches, 1)
        ratios.append(batched_rate / lightly_rate)
    speedup = statistics.median(ratios)
    load_after = [round(value, 2) for value in os.getloadavg()]
    print(f"load average after: {load_after}")
    print(
        "per-core speed-up, batched (1 thread) vs lightly (0 workers), median of "
        f"{args.repeats} alternating pairs: {speedup:.1f}x (from the table: "
        f"{batched_per_core / lightly_per_core:.1f}x)"
    )

    result = {
        "command": command,
        "machine": machine,
        "images": args.images,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "load_before": load_before,
        "load_after": load_after,
        "rows": rows,
        "speedup_per_core": speedup,
        "speedup_per_core_pairs": ratios,
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    stem = args.output_dir / "augmentation_throughput"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(stem.with_suffix(".md"), result)
    print(f"wrote {stem}.json and {stem}.md")


if __name__ == "__main__":
    main()
