"""End-to-end SimCLR on CIFAR-10: the per-sample data path vs the fast one.

Compares two ways of feeding SimCLR (``narrow_resnet18``, standard ResNet stem,
32x32 images, batch 256) in a Lightning ``Trainer``:

- **per-sample**: JPEGs decoded and augmented one by one with lightly's
  ``SimCLRTransform(input_size=32, gaussian_blur=0.0)`` in loader workers
  (``augment_on="workers"``); timed with 0, 1 and 2 workers, the best is kept;
- **batched**: JPEGs decoded once into the decoded-image cache
  (``cache=True``), batches gathered straight from the memory-mapped uint8
  array, and augmented per sample but in one batched call by
  :class:`lightning_ssl.transforms.BatchedSimCLRTransform` (same arguments)
  on the training device (``augment_on="device"``).

Three parts, each optional (``--parts``):

1. ``cache``: time to decode the 60,000 JPEGs into a fresh cache, and to load
   that cache again (folder scan, fingerprint, memory map).
2. ``throughput``: training images per second over ``--steps`` steps after
   ``--warmup-steps`` warm-up steps, on the 50,000 training images. Rounds of
   all settings alternate (``--rounds``) so that both see the same machine
   load; each setting's best round is reported.
3. ``knn``: kNN top-1 (k=200, T=0.1, cosine; :mod:`lightning_ssl.evaluation`)
   of the backbone features after ``--knn-epochs`` epochs on a class-balanced
   subset, for each seed and each path, with mean and spread.

Augmentation-only throughput (no network) is measured by
``benchmarks/augmentation_throughput.py``; its headline is quoted in the report
when its results exist.

Run from the repository root (about 20-25 minutes on 2 shared CPU cores)::

    python benchmarks/fast_data_path.py

On a GPU machine the same script runs unchanged with ``--accelerator cuda``:
the model trains on the GPU, the batched path augments there (in
``on_after_batch_transfer``), and the per-sample path keeps augmenting in CPU
workers; give it the worker counts the machine has, e.g.::

    python benchmarks/fast_data_path.py --accelerator cuda --workers 0 4 8

Results go to ``benchmarks/results/fast_data_path.{json,md}`` (``--output``).
The machine may be shared: load averages before and after each part are
recorded. On an oversubscribed CPU, multi-threaded torch can slow down several
times over (its threads wait for each other); ``--threads 1`` gives steadier
figures there, and is what a machine with more jobs than cores should use.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from lightly.transforms import SimCLRTransform
from lightning import Callback, LightningModule, Trainer, seed_everything

from lightning_ssl.data import CIFAR10DataModule, ImageFolderDataset, load_or_decode
from lightning_ssl.evaluation import extract_features, knn_accuracy
from lightning_ssl.keys import VAL_KNN_TOP1
from lightning_ssl.methods import SimCLR
from lightning_ssl.transforms import BatchedSimCLRTransform

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "cifar10"
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "fast_data_path"
IMAGE_SIZE = 32
PER_SAMPLE, BATCHED = "per-sample", "batched"
PARTS = ("cache", "throughput", "knn")


class StepTimer(Callback):
    """Wall time at the end of every training batch, the device synchronised."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def on_train_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        self.ends.append(time.perf_counter())


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def machine_info(accelerator: str) -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True
        )
        return result.stdout.strip()

    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "torch_threads": torch.get_num_threads(),
        "accelerator": accelerator,
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        **{
            name: importlib.metadata.version(name)
            for name in ("torch", "torchvision", "lightning", "lightly")
        },
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def make_datamodule(
    root: Path, path: str, workers: int, cache_dir: Path, seed: int
) -> CIFAR10DataModule:
    if path == PER_SAMPLE:
        return CIFAR10DataModule(
            root,
            transform=SimCLRTransform(input_size=IMAGE_SIZE, gaussian_blur=0.0),
            batch_size=256,
            num_workers=workers,
            seed=seed,
        )
    return CIFAR10DataModule(
        root,
        augment_on="device",
        batch_transform=BatchedSimCLRTransform(
            input_size=IMAGE_SIZE, gaussian_blur=0.0
        ),
        cache=True,
        cache_dir=cache_dir,
        batch_size=256,
        num_workers=workers,
        seed=seed,
    )


def make_model() -> SimCLR:
    # Temperature 0.5 is SimCLR's CIFAR-10 choice (Chen et al., 2020, B.9); one
    # warm-up epoch suits runs of a few epochs.
    return SimCLR("narrow_resnet18", temperature=0.5, warmup_epochs=1.0)


def make_trainer(accelerator: str, callbacks: list[Callback], **limits: Any) -> Trainer:
    return Trainer(
        accelerator=accelerator,
        devices=1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
        **limits,
    )


def time_cache(root: Path, cache_dir: Path, workers: int) -> dict[str, Any]:
    """Decode both splits into an empty cache, then load them from it."""
    result: dict[str, Any] = {"decode_workers": workers, "load_before": load_average()}
    for split in ("train", "test"):
        start = time.perf_counter()
        source = ImageFolderDataset(root / split)
        scanned = time.perf_counter()
        decoded = load_or_decode(
            source, cache_dir=cache_dir, image_size=IMAGE_SIZE, num_workers=workers
        )
        decoded_at = time.perf_counter()

        source = ImageFolderDataset(root / split)
        rescanned = time.perf_counter()
        loaded = load_or_decode(source, cache_dir=cache_dir, image_size=IMAGE_SIZE)
        loaded_at = time.perf_counter()
        assert loaded.path == decoded.path
        result[split] = {
            "images": len(decoded),
            "bytes": decoded.images.numel(),
            "scan_s": scanned - start,
            "decode_s": decoded_at - scanned,
            "load_s": loaded_at - rescanned,
        }
        print(
            f"cache {split}: {len(decoded)} images, scan {scanned - start:.2f} s, "
            f"decode {decoded_at - scanned:.1f} s, load {loaded_at - rescanned:.3f} s",
            flush=True,
        )
    result["load_after"] = load_average()
    return result


def time_training(
    root: Path, path: str, workers: int, cache_dir: Path, args: argparse.Namespace
) -> float:
    """Training images per second after warm-up, for one setting."""
    seed_everything(0, workers=True, verbose=False)
    timer = StepTimer()
    trainer = make_trainer(
        args.accelerator, [timer], max_steps=args.warmup_steps + args.steps
    )
    datamodule = make_datamodule(root, path, workers, cache_dir, seed=0)
    trainer.fit(make_model(), datamodule=datamodule)
    elapsed = timer.ends[-1] - timer.ends[args.warmup_steps - 1]
    return args.steps * 256 / elapsed


def time_throughput(
    root: Path, cache_dir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    settings = [(PER_SAMPLE, workers) for workers in args.workers]
    settings.append((BATCHED, args.batched_workers))
    rates: dict[str, list[float]] = {}
    load_before = load_average()
    for round_index in range(args.rounds):
        # Alternate the order, so that neither path always runs first.
        order = settings if round_index % 2 == 0 else settings[::-1]
        for path, workers in order:
            rate = time_training(root, path, workers, cache_dir, args)
            key = f"{path}, workers={workers}"
            rates.setdefault(key, []).append(rate)
            print(
                f"throughput round {round_index}: {key}: {rate:.0f} images/s",
                flush=True,
            )

    best = {key: max(values) for key, values in rates.items()}
    per_sample = {k: v for k, v in best.items() if k.startswith(PER_SAMPLE)}
    best_per_sample = max(per_sample, key=per_sample.__getitem__)
    batched = f"{BATCHED}, workers={args.batched_workers}"
    return {
        "steps": args.steps,
        "warmup_steps": args.warmup_steps,
        "rounds": args.rounds,
        "rates": rates,
        "best": best,
        "best_per_sample": best_per_sample,
        "speedup": best[batched] / best[best_per_sample],
        "load_before": load_before,
        "load_after": load_average(),
    }


def make_subset(root: Path, target: Path, train: int, test: int) -> Path:
    """A CIFAR-10 folder of links: the first ``train``/``test`` images per class."""
    for split, per_class in (("train", train), ("test", test)):
        for class_dir in sorted((root / split).iterdir()):
            (target / split / class_dir.name).mkdir(parents=True)
            for name in sorted(os.listdir(class_dir))[:per_class]:
                (target / split / class_dir.name / name).symlink_to(class_dir / name)
    return target


def knn_run(
    root: Path, path: str, workers: int, cache_dir: Path, seed: int, args: Any
) -> dict[str, float]:
    seed_everything(seed, workers=True, verbose=False)
    datamodule = make_datamodule(root, path, workers, cache_dir, seed)
    model = make_model()
    trainer = make_trainer(args.accelerator, [], max_epochs=args.knn_epochs)
    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule)
    train_s = time.perf_counter() - start

    bank, bank_targets = extract_features(model, datamodule.eval_train_dataloader())
    query, query_targets = extract_features(model, datamodule.eval_val_dataloader())
    top1 = knn_accuracy(bank, bank_targets, query, query_targets, 10)[VAL_KNN_TOP1]
    return {"knn_top1": top1, "train_s": train_s}


def run_knn(
    root: Path, cache_dir: Path, work: Path, workers: int, args: argparse.Namespace
) -> dict[str, Any]:
    subset = make_subset(
        root, work / "subset", args.knn_train_per_class, args.knn_test_per_class
    )
    runs: dict[str, list[dict[str, float]]] = {PER_SAMPLE: [], BATCHED: []}
    load_before = load_average()
    for seed in args.seeds:
        for path in (PER_SAMPLE, BATCHED):
            path_workers = workers if path == PER_SAMPLE else args.batched_workers
            run = knn_run(subset, path, path_workers, cache_dir, seed, args)
            runs[path].append({"seed": seed, **run})
            print(
                f"knn seed {seed}, {path}: top-1 {run['knn_top1']:.4f}, "
                f"trained in {run['train_s']:.0f} s",
                flush=True,
            )

    summary = {}
    for path, path_runs in runs.items():
        top1 = [run["knn_top1"] for run in path_runs]
        summary[path] = {
            "mean": statistics.mean(top1),
            "std": statistics.stdev(top1) if len(top1) > 1 else 0.0,
            "min": min(top1),
            "max": max(top1),
            "mean_train_s": statistics.mean(run["train_s"] for run in path_runs),
        }
    difference = summary[BATCHED]["mean"] - summary[PER_SAMPLE]["mean"]
    return {
        "train_images": args.knn_train_per_class * 10,
        "test_images": args.knn_test_per_class * 10,
        "epochs": args.knn_epochs,
        "per_sample_workers": workers,
        "runs": runs,
        "summary": summary,
        "difference": difference,
        # The rule: the gap of the means is at most two seed-to-seed standard
        # deviations of the per-sample path.
        "within_spread": abs(difference) <= 2 * summary[PER_SAMPLE]["std"],
        "load_before": load_before,
        "load_after": load_average(),
    }


def augmentation_headline() -> str | None:
    path = REPO_ROOT / "benchmarks" / "results" / "augmentation_throughput.json"
    if not path.exists():
        return None
    rows = json.loads(path.read_text())["rows"]
    lightly = max(r["per_core"] for r in rows if r["transform"].startswith("lightly"))
    batched = max(
        r["per_core"]
        for r in rows
        if r["transform"].startswith("Batched") and "1 thread" in r["setting"]
    )
    return (
        f"lightly SimCLRTransform {lightly:,.0f} images/s per core vs "
        f"BatchedSimCLRTransform {batched:,.0f} images/s per core "
        "(benchmarks/results/augmentation_throughput.md)"
    )


def write_markdown(path: Path, result: dict[str, Any]) -> None:
    machine = result["machine"]
    dirty = " (with local changes)" if machine["git_dirty"] else ""
    lines = [
        "# Fast data path: SimCLR on CIFAR-10, per-sample vs batched",
        "",
        "Commands: "
        + ", ".join(f"`{command}`" for command in _commands(result))
        + " (each part below names its own).",
        "",
        f"Machine: {machine['cpu']}, {machine['usable_cores']} usable cores, "
        f"torch threads: {machine['torch_threads']}, accelerator "
        f"{machine['accelerator']} (GPU: {machine['gpu']}); torch {machine['torch']}, "
        f"lightning {machine['lightning']}, lightly {machine['lightly']}; commit "
        f"{machine['git_commit'][:12]}{dirty}.",
        "",
    ]
    if result.get("augmentation"):
        lines += [f"Augmentation alone: {result['augmentation']}.", ""]

    cache = result.get("cache")
    if cache:
        lines += [
            f"## Decoded-image cache ({cache['decode_workers']} decode workers)",
            "",
            f"Command: `{cache['command']}`",
            "",
            "| split | images | size | folder scan | decode (miss) | load (hit) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for split in ("train", "test"):
            row = cache[split]
            lines.append(
                f"| {split} | {row['images']:,} | {row['bytes'] / 2**20:.0f} MiB | "
                f"{row['scan_s']:.2f} s | {row['decode_s']:.1f} s | "
                f"{row['load_s']:.3f} s |"
            )
        lines += [
            "",
            "The load (hit) column includes fingerprinting every source file (one "
            "`stat` each) and the memory map; the folder scan is needed with or "
            "without a cache. Load average before/after: "
            f"{cache['load_before']} / {cache['load_after']}.",
            "",
        ]

    throughput = result.get("throughput")
    if throughput:
        lines += [
            "## Training throughput (50,000 images, batch 256)",
            "",
            f"Command: `{throughput['command']}`",
            "",
            f"Images/s over {throughput['steps']} steps after "
            f"{throughput['warmup_steps']} warm-up steps; best of "
            f"{throughput['rounds']} alternating rounds (all rounds in the JSON).",
            "",
            "| path | images/s (best) | rounds |",
            "|---|---:|---|",
        ]
        for key, rate in throughput["best"].items():
            rounds = ", ".join(f"{value:.0f}" for value in throughput["rates"][key])
            lines.append(f"| {key} | {rate:.0f} | {rounds} |")
        lines += [
            "",
            f"Speed-up of the batched path over the best per-sample setting "
            f"({throughput['best_per_sample']}): **{throughput['speedup']:.2f}x**. "
            f"Load average before/after: {throughput['load_before']} / "
            f"{throughput['load_after']}.",
            "",
        ]

    knn = result.get("knn")
    if knn:
        summary = knn["summary"]
        lines += [
            f"## kNN top-1 after {knn['epochs']} epochs "
            f"({knn['train_images']:,} train / {knn['test_images']:,} test images)",
            "",
            f"Command: `{knn['command']}`",
            "",
            "k=200, T=0.1, cosine similarity, on backbone features. Per-sample "
            f"path with {knn['per_sample_workers']} workers.",
            "",
            "| path | seeds | top-1 per seed | mean ± std | min-max | train time |",
            "|---|---|---|---:|---:|---:|",
        ]
        for name, runs in knn["runs"].items():
            stats = summary[name]
            seeds = ", ".join(str(run["seed"]) for run in runs)
            per_seed = ", ".join(f"{100 * run['knn_top1']:.2f}" for run in runs)
            lines.append(
                f"| {name} | {seeds} | {per_seed} | {100 * stats['mean']:.2f} ± "
                f"{100 * stats['std']:.2f} | {100 * stats['min']:.2f}-"
                f"{100 * stats['max']:.2f} | {stats['mean_train_s']:.0f} s |"
            )
        verdict = "within" if knn["within_spread"] else "outside"
        lines += [
            "",
            f"Batched minus per-sample mean: {100 * knn['difference']:+.2f} points, "
            f"**{verdict}** the per-sample seed-to-seed spread (rule: at most two "
            "standard deviations of the per-sample seeds). Load average "
            f"before/after: {knn['load_before']} / {knn['load_after']}.",
            "",
        ]

    if machine["torch_threads"] < (machine["usable_cores"] or 1):
        lines += [
            f"Training used {machine['torch_threads']} torch thread(s) of "
            f"{machine['usable_cores']} cores (`--threads`): on an oversubscribed "
            "CPU more threads wait for each other and slow every step down.",
            "",
        ]
    if max(load[0] for load in _loads(result)) > (machine["usable_cores"] or 1):
        lines += [
            "The machine was shared with other jobs during the run (load average "
            "above the core count): absolute figures are lower bounds, and "
            "settings that need more cores (loader workers) suffer most.",
            "",
        ]
    path.write_text("\n".join(lines))


def _commands(result: dict[str, Any]) -> list[str]:
    commands = [result[part]["command"] for part in PARTS if result.get(part)]
    return list(dict.fromkeys(commands)) or [result["command"]]


def _loads(result: dict[str, Any]) -> list[list[float]]:
    parts = [result[name] for name in PARTS if result.get(name)]
    return [part[key] for part in parts for key in ("load_before", "load_after")]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads of the training process; default: torch's choice",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        default=list(PARTS),
        choices=PARTS,
        help="parts to run; the others are kept from the existing results",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="do not keep parts of earlier results"
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="loader workers of the per-sample path to try",
    )
    parser.add_argument(
        "--batched-workers",
        type=int,
        default=0,
        help="loader workers of the batched path",
    )
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--knn-epochs", type=int, default=4)
    parser.add_argument("--knn-train-per-class", type=int, default=1000)
    parser.add_argument("--knn-test-per-class", type=int, default=200)
    parser.add_argument(
        "--knn-workers",
        type=int,
        default=None,
        help="per-sample workers for the kNN part; default: the "
        "fastest in the throughput part, else 2",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="cache folder; default: a temporary one, so that "
        "the decode is timed from scratch",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if not (args.data / "train").is_dir():
        sys.exit(f"CIFAR-10 JPEG folder not found at {args.data}; pass --data.")
    command = "python " + " ".join(
        [os.path.relpath(sys.argv[0], REPO_ROOT), *sys.argv[1:]]
    )
    result: dict[str, Any] = {
        "command": command,
        "machine": machine_info(args.accelerator),
        "augmentation": augmentation_headline(),
    }
    print(json.dumps(result, indent=2), flush=True)

    # Parts not run this time are kept from the last results, so that the timing
    # can be redone alone when the machine is quieter.
    json_path = args.output.with_suffix(".json")
    if json_path.exists() and not args.fresh:
        previous = json.loads(json_path.read_text())
        for part in sorted(set(PARTS) - set(args.parts)):
            if part in previous:
                result[part] = previous[part]
                result[part].setdefault("command", previous["command"])
                print(f"kept part {part!r} from {json_path}", flush=True)

    with tempfile.TemporaryDirectory(prefix="fast_data_path_") as temporary:
        work = Path(temporary)
        cache_dir = args.cache_dir or work / "cache"
        if "cache" in args.parts:
            result["cache"] = time_cache(args.data, cache_dir, max(args.workers))
        if "throughput" in args.parts:
            result["throughput"] = time_throughput(args.data, cache_dir, args)
        if "knn" in args.parts:
            workers = args.knn_workers
            if workers is None:
                best = result.get("throughput", {}).get("best_per_sample")
                workers = int(best.rsplit("=", 1)[1]) if best else 2
            result["knn"] = run_knn(args.data, cache_dir, work, workers, args)
        for part in args.parts:
            result[part]["command"] = command
            result[part]["git_commit"] = result["machine"]["git_commit"]

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(args.output.with_suffix(".md"), result)
    print(args.output.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
