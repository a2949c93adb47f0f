"""Benchmark every method on CIFAR-10 or Fashion-MNIST within a CPU budget.

Each method of :data:`lightning_ssl.methods.METHODS` pretrains a small backbone
(``narrow_resnet18``, standard stem; MAE: ``vit_tiny`` with 4x4 patches) for a
fixed number of steps, chosen so that its training takes ``--budget-minutes``
on the reference machine (two shared CPU cores, see ``SECONDS_PER_STEP`` in
``ssl_bench/rows.py``); the same command therefore always trains the same
steps, and the wall time it really took is reported. Then, on labelled images:
kNN top-1 (k=200, T=0.1), linear-probe top-1 with 1%, 10% and 100% of the
labels, RankMe of the features, training images per second, peak memory and
wall time. Baselines in the same table: raw pixels, the backbones at random
initialisation, and the backbone trained supervised from scratch on the same
labels, each label fraction within the same budget.

Run from the repository root (about 40 and 15 minutes on two shared CPU
cores)::

    python benchmarks/run.py --dataset cifar10 --budget-minutes 2 --repeat simclr
    python benchmarks/run.py --dataset fashion_mnist --budget-minutes 1.5 \\
        --methods simclr byol vicreg dino

Each row runs in a process of its own, forked from the runner (so its peak
memory is its own, and a failing row does not stop the others). Results go to
``benchmarks/results/<dataset>.json`` and ``.md`` after every row; rerun with
``--resume`` to finish an interrupted run. ``python benchmarks/report.py``
then regenerates the README's benchmark section from the results files.
"""

import argparse
import json
import logging
import multiprocessing
import os
import shlex
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import report
import torch
from ssl_bench.data import DATASETS, benchmark_data, default_root
from ssl_bench.environment import REPO_ROOT, load_average, machine, peak_rss_mib
from ssl_bench.recipes import RECIPES, VIT_BACKBONE
from ssl_bench.rows import Settings, check_row, eval_sizes, run_row

from lightning_ssl.methods import METHODS

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
BASELINES = ("pixels", "random", "supervised")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments; see the module docstring."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--dataset", choices=DATASETS, default="cifar10")
    parser.add_argument(
        "--root",
        help="dataset folder (default: shared/data/cifar10 beside the "
        "repository, or /usr/share/datasets/fashion-mnist)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=sorted(set(METHODS) & set(RECIPES)),
        help="registry names of the methods to pretrain",
    )
    parser.add_argument(
        "--baselines", nargs="*", choices=BASELINES, default=list(BASELINES)
    )
    parser.add_argument(
        "--repeat",
        nargs="*",
        default=[],
        help="methods to run a second time with the same seed (reproducibility)",
    )
    parser.add_argument("--budget-minutes", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--train-images", type=int, help="pretraining subset (default: all)"
    )
    parser.add_argument("--bank-images", type=int, default=10_000)
    parser.add_argument("--test-images", type=int, help="(default: all)")
    parser.add_argument("--vit-bank-images", type=int, default=2_000)
    parser.add_argument("--vit-test-images", type=int, default=1_000)
    parser.add_argument("--mae-batch-size", type=int, default=64)
    parser.add_argument("--linear-epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache-dir", help="decoded-image cache (default: ~/.cache)")
    parser.add_argument(
        "--steps", type=int, help="steps of every row, overriding the budget"
    )
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--name", help="results file name (default: the dataset)")
    parser.add_argument("--resume", action="store_true", help="keep finished rows")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    """The :class:`Settings` the command line asks for."""
    return Settings(
        dataset=args.dataset,
        root=str(args.root or default_root(args.dataset)),
        budget_minutes=args.budget_minutes,
        batch_size=args.batch_size,
        train_images=args.train_images,
        bank_images=args.bank_images,
        test_images=args.test_images,
        vit_bank_images=args.vit_bank_images,
        vit_test_images=args.vit_test_images,
        mae_batch_size=args.mae_batch_size,
        linear_epochs=args.linear_epochs,
        seed=args.seed,
        threads=args.threads,
        cache_dir=args.cache_dir,
        steps=args.steps,
    )


def planned_rows(args: argparse.Namespace) -> list[tuple[str, str]]:
    """``(label, row)`` pairs in table order: methods, repeats, baselines."""
    for method in [*args.methods, *args.repeat]:
        check_row(method)
    rows = [(method, method) for method in args.methods]
    rows += [(f"{method} (repeat)", method) for method in args.repeat]
    if "pixels" in args.baselines:
        rows.append(("pixels", "pixels"))
    if "random" in args.baselines:
        rows.append(("random:simclr", "random:simclr"))
        if any(RECIPES[method].backbone == VIT_BACKBONE for method in args.methods):
            rows.append(("random:mae", "random:mae"))
    if "supervised" in args.baselines:
        rows.append(("supervised", "supervised"))
    return rows


def row_process(row: str, values: dict[str, Any], output: str, log: str) -> None:
    """Body of a row's process: run the row, write its result as JSON."""
    with open(log, "w") as handle:
        os.dup2(handle.fileno(), sys.stdout.fileno())
        os.dup2(handle.fileno(), sys.stderr.fileno())
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    settings = Settings(**{**values, "fractions": tuple(values["fractions"])})
    bank_images, test_images = eval_sizes(row, settings)
    data = benchmark_data(
        settings.dataset,
        settings.root,
        train_images=settings.train_images,
        bank_images=bank_images,
        test_images=test_images,
        seed=settings.seed,
        cache_dir=settings.cache_dir,
    )
    result = run_row(row, data, settings)
    Path(output).write_text(json.dumps(result, indent=2))


def run_in_process(row: str, settings: Settings, log_dir: Path) -> dict[str, Any]:
    """Run one row in a process of its own and return its result.

    The process is forked where the platform allows it, so it starts with the
    libraries already imported (and their memory in its peak RSS, as a fresh
    interpreter would have); its peak RSS is then its own row's.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    stem = row.replace(":", "_")
    output, log = log_dir / f"{stem}.json", log_dir / f"{stem}.log"
    output.unlink(missing_ok=True)
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    process = context.Process(
        target=row_process, args=(row, settings.as_dict(), str(output), str(log))
    )
    start = time.perf_counter()
    process.start()
    process.join()
    elapsed = round(time.perf_counter() - start, 1)
    if process.exitcode != 0 or not output.exists():
        tail = log.read_text().strip().splitlines()[-5:] if log.exists() else []
        error = f"exit code {process.exitcode}: " + " | ".join(tail)
        return {"row": row, "error": error, "process_s": elapsed}
    result: dict[str, Any] = json.loads(output.read_text())
    result["process_s"] = elapsed
    return result


def write_results(path: Path, document: dict[str, Any]) -> None:
    """Write the JSON results and the Markdown table next to them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(document, indent=2) + "\n")
    path.with_suffix(".md").write_text(report.render_dataset(document))


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark rows one by one, saving the results after each."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = settings_from(args)
    rows = planned_rows(args)
    path = args.output_dir / (args.name or args.dataset)
    argv_shown = sys.argv[1:] if argv is None else argv
    document: dict[str, Any] = {
        "dataset": args.dataset,
        "command": shlex.join(["python", "benchmarks/run.py", *argv_shown]),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        # Every row's process is forked from this one and starts with its pages.
        "rss_after_imports_mib": peak_rss_mib(),
        # Through JSON, so that it compares equal to a results file's settings.
        "settings": json.loads(json.dumps(settings.as_dict())),
        "rows": [],
    }
    fast_path = RESULTS_DIR / "fast_data_path.json"
    if fast_path.exists():
        # Why the rows augment batches on the device rather than in workers.
        speedup = json.loads(fast_path.read_text())["throughput"]["speedup"]
        document["fast_data_path_speedup"] = round(speedup, 2)
    done: dict[str, dict[str, Any]] = {}
    earlier_wall_s = 0.0  # the interrupted run's share of the table's wall time
    if args.resume and path.with_suffix(".json").exists():
        previous = json.loads(path.with_suffix(".json").read_text())
        if previous["settings"] == document["settings"]:
            done = {r["label"]: r for r in previous["rows"] if "error" not in r}
            earlier_wall_s = previous.get("wall_s", 0.0)
            document["started"] = previous["started"]

    start = time.perf_counter() - earlier_wall_s
    with tempfile.TemporaryDirectory(prefix="lightning_ssl_bench_") as log_dir:
        for label, row in rows:
            if label in done:
                document["rows"].append(done[label])
                continue
            print(f"[{time.strftime('%H:%M:%S')}] {label} ...", flush=True)
            result = {"label": label, **run_in_process(row, settings, Path(log_dir))}
            document["rows"].append(result)
            summary = result.get("error") or result.get("benchmark/wall_s")
            print(f"[{time.strftime('%H:%M:%S')}] {label}: {summary}", flush=True)
            document["wall_s"] = round(time.perf_counter() - start, 1)
            document["load_average_end"] = load_average()
            write_results(path, document)
    document["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_results(path, document)


if __name__ == "__main__":
    main()
