"""Render the benchmark results files as Markdown, and the README's section.

Everything here is generated from the JSON files in ``benchmarks/results/``;
nothing is typed by hand. Run from the repository root after a benchmark::

    python benchmarks/report.py          # rewrite the .md files and README
    python benchmarks/report.py --check  # exit 1 if anything is out of date

It writes ``<dataset>.md`` for each ``<dataset>.json`` written by
``benchmarks/run.py``, ``overhead.md`` from ``overhead.json``
(``benchmarks/overhead.py``), ``gpu_reference.md`` (the anchors' published
figures beside our GPU measurements, when there are any), and the text between
``<!-- benchmarks:start -->`` and ``<!-- benchmarks:end -->`` in README.md.
"""

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from ssl_bench.anchors import (
    LIGHTLY_CIFAR10_KNN_200,
    LIGHTLY_IMAGENET_100,
    LIGHTLY_SOURCE,
    SOLO_LEARN_CIFAR10_LINEAR_1000,
    SOLO_LEARN_SOURCE,
)
from ssl_bench.notes import ANALYSIS, NOTES

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
README = REPO_ROOT / "README.md"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
DATASETS = {"cifar10": "CIFAR-10", "fashion_mnist": "Fashion-MNIST"}

KNN = "val/knn_top1"
RANKME = "collapse/features/rankme"
IMAGES_PER_S = "benchmark/train_images_per_s"
PEAK_RSS = "benchmark/peak_rss_mib"
WALL = "benchmark/wall_s"
FRACTIONS = (0.01, 0.1, 1.0)
NOT_MEASURED = "not measured yet"


def linear_key(fraction: float) -> str:
    """Key of the linear-probe accuracy (as in ``lightning_ssl.keys``)."""
    return f"val/linear_top1_{fraction * 100:g}pct"


def supervised_key(fraction: float) -> str:
    """Key of the supervised-from-scratch accuracy."""
    return f"val/supervised_top1_{fraction * 100:g}pct"


def percent(value: Any) -> str:
    """An accuracy in ``[0, 1]`` as a percentage with one decimal, or a dash.

    Example:
        >>> percent(0.4567), percent(None)
        ('45.7', '-')
    """
    if not isinstance(value, int | float) or math.isnan(value):
        return "-"
    return f"{100 * value:.1f}"


def number(value: Any, digits: int = 0) -> str:
    """A number with thousands separators, or a dash.

    Example:
        >>> number(1234.5), number(3.14159, 1), number(None)
        ('1,234', '3.1', '-')
    """
    if not isinstance(value, int | float) or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def row_title(row: dict[str, Any]) -> str:
    """How a row is named in the tables."""
    label = row["label"]
    if label == "pixels":
        return "raw pixels"
    if label.startswith("random:"):
        return f"random init ({row.get('backbone', '?')})"
    if label == "supervised":
        return "supervised from scratch"
    return label


def is_method(row: dict[str, Any]) -> bool:
    """Whether a row pretrains a self-supervised method."""
    return row["label"] not in ("pixels", "supervised") and not row["label"].startswith(
        "random:"
    )


def random_row_for(rows: list[dict[str, Any]], row: dict[str, Any]) -> Any:
    """The random-initialisation row with the same backbone as ``row``."""
    for other in rows:
        random_init = other["label"].startswith("random:") and "error" not in other
        if random_init and other.get("backbone") == row.get("backbone"):
            return other
    return None


def results_table(rows: list[dict[str, Any]]) -> list[str]:
    """The main table: one line per row, accuracies in percent."""
    lines = [
        "| row | backbone | steps x batch (epochs) | kNN top-1 | linear 1% | "
        "linear 10% | linear 100% | RankMe | train img/s | peak RSS MiB | "
        "train s | wall s |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(
                f"| {row_title(row)} | failed: {row['error'][:80]} |" + 10 * " |"
            )
            continue
        supervised = row["label"] == "supervised"
        key = supervised_key if supervised else linear_key
        budget = "-"
        if "steps" in row:
            budget = f"{row['steps']} x {row['batch_size']} ({row['epochs']:g})"
        elif supervised:
            steps = {v["steps"] for v in row["supervised"].values()}
            budget = f"{'/'.join(str(s) for s in sorted(steps))} x {row['batch_size']}"
        cells = [
            row_title(row),
            row.get("backbone", "-"),
            budget,
            percent(row.get(KNN)),
            *(percent(row.get(key(fraction))) for fraction in FRACTIONS),
            number(row.get(RANKME), 1),
            number(row.get(IMAGES_PER_S)),
            number(row.get(PEAK_RSS)),
            number(row.get("train_s")),
            number(row.get(WALL)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def criteria(document: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Check every method row against two criteria; return (lines, failures).

    1. kNN top-1 above the same backbone at random initialisation.
    2. Linear top-1 with 1% of the labels above the backbone trained from
       scratch on the same 1% (same backbone architecture only).

    ``failures`` holds one entry per failing row: the criteria it fails, the
    facts of its run and the analysis note of :data:`ssl_bench.notes.NOTES`.
    """
    rows = document["rows"]
    supervised = next(
        (r for r in rows if r["label"] == "supervised" and "error" not in r), None
    )
    lines, failures = [], []
    for row in rows:
        if not is_method(row) or "error" in row or row["label"].endswith("(repeat)"):
            continue
        label, failed = row["label"], []
        reference = random_row_for(rows, row)
        if reference is not None:
            ours, theirs = row[KNN], reference[KNN]
            verdict = "pass" if ours > theirs else "FAIL"
            check = f"kNN {percent(ours)} vs {percent(theirs)} at random init"
            lines.append(f"{label}: {check} -> {verdict}")
            failed += [check] if verdict == "FAIL" else []
        if supervised is not None and row.get("backbone") == supervised.get("backbone"):
            ours, theirs = row[linear_key(0.01)], supervised[supervised_key(0.01)]
            verdict = "pass" if ours > theirs else "FAIL"
            check = f"linear 1% {percent(ours)} vs {percent(theirs)} supervised on 1%"
            lines.append(f"{label}: {check} -> {verdict}")
            failed += [check] if verdict == "FAIL" else []
        if failed:
            facts = diagnose(row, reference, supervised, document)
            failures.append(f"**{label}** fails {'; '.join(failed)}. {facts}")
    return lines, failures


def note_fields(
    row: dict[str, Any], reference: Any, supervised: Any
) -> dict[str, float]:
    """Values a note may quote, e.g. ``{loss_last:.3f}``; accuracies in percent."""
    fields = {
        "steps": row.get("steps", 0),
        "epochs": row.get("epochs", 0.0),
        "loss_first": row.get("loss_first", math.nan),
        "loss_last": row.get("loss_last", math.nan),
        "knn": 100 * row[KNN],
        "linear_1pct": 100 * row[linear_key(0.01)],
        "rankme": row[RANKME],
    }
    fields["images_per_s"] = row.get(IMAGES_PER_S, math.nan)
    if reference is not None:
        fields["random_knn"] = 100 * reference[KNN]
        fields["random_rankme"] = reference[RANKME]
        fields["knn_gain"] = fields["knn"] - fields["random_knn"]
    if supervised is not None:
        fields["supervised_1pct"] = 100 * supervised[supervised_key(0.01)]
        fields["supervised_gap"] = fields["supervised_1pct"] - fields["linear_1pct"]
    return fields


def diagnose(
    row: dict[str, Any], reference: Any, supervised: Any, document: dict[str, Any]
) -> str:
    """Facts that explain a failed criterion, and the analysis note if any."""
    facts = [f"{row['steps']} steps ({row['epochs']:g} epochs)"]
    if "loss_first" in row:
        facts.append(
            f"loss {row['loss_first']:.3f} -> {row['loss_last']:.3f} "
            "(means of the first and last 10 steps)"
        )
    if reference is not None and RANKME in reference:
        facts.append(
            f"RankMe {row[RANKME]:.1f} vs {reference[RANKME]:.1f} at random init"
        )
    note = NOTES.get((document["dataset"], row["label"]))
    if note:
        try:
            note = note.format(**note_fields(row, reference, supervised))
        except KeyError:
            # The results are rewritten after every row; until the baseline a
            # note quotes has run, the note waits.
            note = None
    return "; ".join(facts) + (f". {note}" if note else ".")


def reproducibility(rows: list[dict[str, Any]]) -> list[str]:
    """Differences between a method's row and its repeat with the same seed."""
    lines = []
    by_label = {row["label"]: row for row in rows if "error" not in row}
    for label, repeat in by_label.items():
        if not label.endswith(" (repeat)"):
            continue
        first = by_label.get(label.removesuffix(" (repeat)"))
        if first is None:
            continue
        diffs = []
        for key in (KNN, *(linear_key(f) for f in FRACTIONS)):
            delta = 100 * (repeat[key] - first[key])
            diffs.append(f"{key.split('/')[-1]} {delta:+.2f} points")
        delta_rank = repeat[RANKME] - first[RANKME]
        diffs.append(f"RankMe {delta_rank:+.3f}")
        speed = repeat[IMAGES_PER_S] / first[IMAGES_PER_S] - 1
        lines.append(
            f"- {label} minus {first['label']} (same seed, same command): "
            + ", ".join(diffs)
            + f"; training throughput {100 * speed:+.0f}% (machine load)."
        )
    return lines


def settings_table(rows: list[dict[str, Any]]) -> list[str]:
    """Per-method hyperparameters, as the rows ran them."""
    lines = ["| row | constructor arguments | scaled to the run | note |"]
    lines.append("|---|---|---|---|")
    for row in rows:
        settings = row.get("settings")
        if not settings or row["label"].endswith("(repeat)"):
            continue
        kwargs = ", ".join(f"{k}={v}" for k, v in settings["kwargs"].items())
        fractions = ", ".join(
            f"{k}={v:g} x epochs" for k, v in settings["epoch_fractions"].items()
        )
        lines.append(
            f"| {row['label']} | {kwargs} | {fractions} | {settings['note']} |"
        )
    return lines


def header(document: dict[str, Any]) -> list[str]:
    """Command, commit, versions, machine and timing of a benchmark run."""
    machine = document["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    dirty = " (with uncommitted changes)" if machine["git_dirty"] else ""
    wall = document.get("wall_s", 0) / 60
    return [
        f"Command: `{document['command']}`",
        "",
        f"Commit: `{machine['git_commit'][:12]}`{dirty}; {versions}; "
        f"Python {machine['python']}.",
        "",
        f"Machine: {machine['cpu']}, {machine['usable_cores']} usable cores "
        f"({machine['logical_cores']} logical), {machine['torch_threads']} torch "
        f"thread(s), CUDA: {machine['cuda_device'] or 'none'}. Load average at "
        f"start {machine['load_average']}, at end "
        f"{document.get('load_average_end', '-')} (the machine is shared).",
        "",
        f"Started {document['started']}, finished {document.get('finished', '-')};"
        f" total wall time {wall:.1f} min.",
    ]


def protocol(document: dict[str, Any]) -> list[str]:
    """How the rows were trained and evaluated, from the recorded settings."""
    s = document["settings"]
    rows = [row for row in document["rows"] if "error" not in row]
    trained = next((row for row in rows if "train_images" in row), {})
    vit = next((row for row in rows if row.get("feature_precision")), None)
    bank = next((row["eval_images"] for row in rows if "eval_images" in row), {})
    budget = (
        f"{s['steps']} steps per row (fixed)"
        if s["steps"]
        else f"{s['budget_minutes']:g} min of training per method on the "
        "reference machine, as a fixed step count per method "
        "(`SECONDS_PER_STEP` in `benchmarks/ssl_bench/rows.py`, measured at a "
        "load average of about 9; the `train s` column is what it took in this "
        "run)"
    )
    lines = [
        f"- Pretraining: {budget}; batch {s['batch_size']} (MAE "
        f"{s['mae_batch_size']}); {number(trained.get('train_images'))} training "
        "images, labels unused; seed "
        f"{s['seed']}. Data path: decoded-image cache, batches gathered from the "
        f"uint8 array and augmented in one batched call on the CPU "
        f'(`augment_on="{trained.get("augment_on", "device")}"`); no blur at '
        f"this resolution.{fast_path_reason(document)}",
        f"- Evaluation: bank of {number(bank.get('bank'))} labelled training "
        f"images and {number(bank.get('test'))} test images (class-balanced, "
        f"seeded); weighted kNN k={s['knn_k']}, T={s['knn_temperature']:g} "
        "(cosine); linear probes on standardised frozen features, AdamW, "
        f"{s['linear_epochs']} epochs, on 1%, 10% and 100% of the bank's labels "
        "(nested class-balanced subsets); RankMe of the bank features "
        "(at most the feature dimension: 128 for narrow_resnet18, 192 for "
        "vit_tiny).",
        "- Baselines: raw pixels (flattened, normalised as the eval transform "
        "does); each backbone at random initialisation (the very weights the "
        "methods start from, as every row seeds the same way); the backbone "
        "trained from scratch with flips and padded crops on the same 1%, 10% "
        "and 100% labels, each fraction for the step budget of one SimCLR-like "
        "row (its steps are listed per fraction).",
        "- Train img/s: source images per second during pretraining (after "
        "warm-up steps; each image counted once whatever its number of views). "
        "Peak RSS: the row's own process (forked from the runner), including "
        f"the {number(document.get('rss_after_imports_mib'))} MiB resident "
        "after importing torch, Lightning and lightly.",
    ]
    if vit is not None:
        sizes = vit["eval_images"]
        lines.append(
            "- ViT rows (MAE, I-JEPA and their random init): features computed under "
            f"bfloat16 autocast on a smaller bank of {number(sizes['bank'])} and "
            f"{number(sizes['test'])} test images, as ViT-Tiny "
            "with 4x4 patches embeds about 20 images/s on one loaded core; "
            "compare them with each other, not with the ResNet rows."
        )
    return lines


def fast_path_reason(document: dict[str, Any]) -> str:
    """Why the device path was used, from ``benchmarks/fast_data_path.py``."""
    speedup = document.get("fast_data_path_speedup")
    if speedup is None:
        return ""
    return (
        f" It trains SimCLR {speedup:.2f}x faster here than the best per-sample "
        "loader setting (`benchmarks/results/fast_data_path.md`)."
    )


def render_dataset(document: dict[str, Any]) -> str:
    """The Markdown page of one dataset's results."""
    name = DATASETS.get(document["dataset"], document["dataset"])
    rows = document["rows"]
    checks, failures = criteria(document)
    lines = [
        f"# lightning_ssl CPU benchmark: {name}",
        "",
        "Generated by `python benchmarks/report.py` from "
        f"`{document['dataset']}.json`; do not edit by hand.",
        "",
        *header(document),
        "",
        "## Protocol",
        "",
        *protocol(document),
        "",
        "## Results",
        "",
        "Accuracies in percent on the test images. For the supervised row the "
        "linear columns hold its accuracy trained from scratch on that label "
        "fraction.",
        "",
        *results_table(rows),
        "",
        "## Criteria",
        "",
        "Each method should beat its backbone at random initialisation on kNN, "
        "and its 1% linear probe should beat the same backbone trained from "
        "scratch on the same 1% of labels.",
        "",
        *(f"- {line}" for line in checks),
        "",
    ]
    if failures:
        lines += ["Rows that fail a criterion, and why:", ""]
        lines += [f"- {failure}" for failure in failures]
    else:
        lines.append("Every method row passes both criteria.")
    analysis = ANALYSIS.get(document["dataset"])
    if analysis:
        lines += ["", "## Analysis", "", analysis]
    repeats = reproducibility(rows)
    if repeats:
        lines += ["", "## Reproducibility", "", *repeats]
    lines += ["", "## Per-row settings", "", *settings_table(rows), ""]
    return "\n".join(lines)


def render_overhead(document: dict[str, Any]) -> str:
    """The Markdown page of the framework-overhead measurement."""
    s = document["summary"]
    lines = [
        "# Framework overhead: lightning_ssl + Lightning vs plain PyTorch",
        "",
        "Generated by `python benchmarks/report.py` from `overhead.json`; do "
        "not edit by hand.",
        "",
        f"Command: `{document['command']}`",
        "",
        *header_short(document),
        "",
        document["description"],
        "",
        "| repeat | run first | plain steps/s | lightning_ssl steps/s | ratio | "
        "CPU-time ratio | ratio, Trainer defaults |",
        "|--:|---|--:|--:|--:|--:|--:|",
    ]
    for index, pair in enumerate(document["repeats"], start=1):
        defaults = pair.get("defaults_ratio")
        lines.append(
            f"| {index} | {pair['first']} | {pair['plain']:.3f} | "
            f"{pair['lightning_ssl']:.3f} | {pair['ratio']:.3f} | "
            f"{pair['cpu_ratio']:.3f} | {number(defaults, 3)} |"
        )
    met = s["median_ratio"] <= s["target"]
    lines += [
        "",
        "Median ratio (plain / lightning_ssl) by wall time "
        f"**{s['median_ratio']:.3f}** (min {s['min_ratio']:.3f}, max "
        f"{s['max_ratio']:.3f}); by CPU time **{s['median_cpu_ratio']:.3f}** (min "
        f"{s['min_cpu_ratio']:.3f}, max {s['max_cpu_ratio']:.3f}); "
        f"{len(document['repeats'])} repeats, the order rotating. Target <= "
        f"{s['target']:.2f}: {'met' if met else 'NOT met'} (wall time).",
    ]
    lines += [
        "",
        "Ratio of the fastest run of each (the least disturbed by other "
        f"processes on this shared machine): **{s['best_ratio']:.3f}**.",
    ]
    if "median_defaults_ratio" in s:
        lines += [
            "",
            "With the Trainer's defaults instead of the lean flags "
            "(`logger=False, enable_checkpointing=False, enable_progress_bar="
            "False, enable_model_summary=False`): median ratio "
            f"{s['median_defaults_ratio']:.3f} by wall time, "
            f"{s['median_defaults_cpu_ratio']:.3f} by CPU time; "
            f"{s['best_defaults_ratio']:.3f} between the fastest runs.",
        ]
    profile = document.get("profile")
    if profile:
        lines += ["", "## Where the time goes", "", *profile_lines(profile, s)]
    return "\n".join(lines) + "\n"


# Actions of a Lightning step that hold the model's own work: the closure's
# forward and backward inside the optimizer step, and the batch as a whole.
_MODEL_WORK = (
    "run_training_batch",
    "optimizer_step",
    "training_step",
    "backward",
)


def profile_lines(profile: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    """Lightning's per-step actions, their total, and what it says of the ratio."""
    batch = profile["run_training_batch"]["mean_ms"]
    lines = [
        "Lightning's `SimpleProfiler` over one lean run; actions that run every "
        "step, mean milliseconds per call:",
        "",
        "| action | calls | mean ms | share of a step |",
        "|---|--:|--:|--:|",
    ]
    ordered = sorted(profile.items(), key=lambda item: -item[1]["mean_ms"])
    for name, action in ordered[:12]:
        share = 100 * action["mean_ms"] / batch
        lines.append(
            f"| `{name}` | {action['calls']} | {action['mean_ms']:.2f} | {share:.1f}% |"
        )
    bookkeeping = sum(
        action["mean_ms"]
        for name, action in profile.items()
        if not name.endswith(_MODEL_WORK)
    )
    share = 100 * bookkeeping / batch
    lines += [
        "",
        "Everything but the model's work (`training_step`, `backward` and the "
        f"optimizer step around them) adds up to {bookkeeping:.2f} ms per step, "
        f"{share:.2f}% of a {batch:.0f} ms step. The self.log calls of "
        "`training_step` are inside its share.",
    ]
    spread = summary["max_ratio"] - summary["min_ratio"]
    excess = summary["median_ratio"] - 1
    if excess > summary["target"] - 1 and share < 100 * excess < 100 * spread:
        lines += [
            "",
            f"The median ratio is above the {summary['target']:.2f} target while "
            f"the profiled bookkeeping is {share:.2f}% of a step; the repeats "
            f"range from {summary['min_ratio']:.3f} to {summary['max_ratio']:.3f} "
            "and the fastest runs give "
            f"{summary['best_ratio']:.3f}, so the excess is the run-to-run noise "
            "of this shared machine rather than a cost that a Trainer flag "
            "removes. The lean flags above are the ones that matter: "
            "`enable_progress_bar=False` and `logger=False` drop the per-step "
            "progress-bar refresh and logger writes.",
        ]
    return lines


def header_short(document: dict[str, Any]) -> list[str]:
    """Commit, versions and machine in two lines."""
    machine = document["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    dirty = " (with uncommitted changes)" if machine["git_dirty"] else ""
    return [
        f"Commit: `{machine['git_commit'][:12]}`{dirty}; {versions}.",
        "",
        f"Machine: {machine['cpu']}, {machine['usable_cores']} usable cores, "
        f"{machine['torch_threads']} torch thread(s); load average at start "
        f"{machine['load_average']}, at end {document.get('load_average_end')}.",
    ]


def render_gpu_reference(
    gpu_runs: dict[str, Any] | None, gpu_check: dict[str, Any] | None
) -> str:
    """Anchors' published figures beside our GPU runs of the same recipes."""
    runs = (gpu_runs or {}).get("cifar10", {})
    checks = {row["method"]: row for row in (gpu_check or {}).get("rows", [])}
    methods = sorted(
        set(LIGHTLY_CIFAR10_KNN_200) | set(SOLO_LEARN_CIFAR10_LINEAR_1000) | set(runs)
    )
    lines = [
        "# GPU reference: published CIFAR-10 and ImageNet figures beside ours",
        "",
        "Generated by `python benchmarks/report.py`; do not edit by hand. Our "
        "columns come from `gpu_runs.json` (full runs of "
        "`configs/benchmarks/cifar10_<method>.yaml`) and `gpu_recipe_check.json` "
        "(`python benchmarks/gpu_recipe_check.py`), when present.",
        "",
        f"Sources: {LIGHTLY_SOURCE}; {SOLO_LEARN_SOURCE}.",
        "",
        "The CIFAR-10 recipes follow lightly's protocol (batch 512, 200 epochs, "
        "SGD 0.06 x batch / 128, kNN k=200, T=0.1) with each method's default "
        "augmentations, without blur; lightly's benchmark lowers the colour "
        "jitter strength to 0.5 for SimCLR, MoCo, NNCLR, SwAV and DINO, which "
        "the recipes leave at the methods' defaults. solo-learn's linear "
        "figures come from its own 1000-epoch recipes.",
        "",
        "## CIFAR-10, ResNet-18 with CIFAR stem",
        "",
        "| method | lightly kNN, 200 ep, batch 512 | ours kNN, 200 ep | "
        "solo-learn linear, 1000 ep | ours linear | ours img/s (bf16) | "
        "ours peak GPU GiB |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for method in methods:
        run = runs.get(method, {})
        check = checks.get(method, {})
        lines.append(
            "| "
            + " | ".join(
                [
                    method,
                    percent(LIGHTLY_CIFAR10_KNN_200.get(method)),
                    percent(run.get("knn_top1")) if run else NOT_MEASURED,
                    percent(SOLO_LEARN_CIFAR10_LINEAR_1000.get(method)),
                    percent(run.get("linear_top1")) if run else NOT_MEASURED,
                    number(check.get("images_per_s")) if check else NOT_MEASURED,
                    number(check.get("peak_memory_gib"), 1) if check else NOT_MEASURED,
                ]
            )
            + " |"
        )
    lines += [
        "",
        "## ImageNet-1k, 100 epochs (lightly)",
        "",
        "| method | backbone | batch | linear top-1 | kNN top-1 | ours |",
        "|---|---|--:|--:|--:|---|",
    ]
    imagenet = (gpu_runs or {}).get("imagenet", {})
    for method, (backbone, batch, linear, knn) in sorted(LIGHTLY_IMAGENET_100.items()):
        ours = imagenet.get(method)
        shown = f"linear {percent(ours['linear_top1'])}" if ours else NOT_MEASURED
        lines.append(
            f"| {method} | {backbone} | {batch} | {percent(linear)} | "
            f"{percent(knn)} | {shown} |"
        )
    return "\n".join(lines) + "\n"


def readme_section(
    documents: dict[str, dict[str, Any]], overhead: dict[str, Any] | None
) -> str:
    """The README's benchmark section (without the markers)."""
    minutes = sum(document.get("wall_s", 0) for document in documents.values()) / 60
    lines = [
        "Every figure below is generated by `python benchmarks/report.py` from "
        "the files in `benchmarks/results/`. To rerun the CPU benchmark "
        f"({minutes:.0f} minutes for both tables on the two shared CPU cores "
        "they were measured on; each row runs in its own process and is saved "
        "when it ends, and `--resume` continues an interrupted run):",
        "",
        "```bash",
    ]
    lines += [document["command"] for document in documents.values()]
    if overhead is not None:
        lines.append(overhead["command"])
    lines += [
        "python benchmarks/report.py",
        "```",
        "",
        "Each method pretrains `narrow_resnet18` (MAE and I-JEPA: `vit_tiny`, 4x4 "
        "patches) for a fixed number of steps worth the stated CPU minutes; the tables "
        "show kNN and linear-probe top-1 (%) on the test images with 1%, 10% "
        "and 100% of a labelled bank of training images (sizes in each results "
        "file), next to raw pixels, random initialisation "
        "and supervised training from scratch on the same labels. Such short "
        "runs rank methods by how fast they start to learn, not by their final "
        "accuracy; `configs/benchmarks/` holds the GPU recipes for that, and "
        "`benchmarks/results/gpu_reference.md` the published figures they are "
        "to be compared with.",
    ]
    for dataset, document in documents.items():
        name = DATASETS.get(dataset, dataset)
        budget = document["settings"]["budget_minutes"]
        wall = document.get("wall_s", 0) / 60
        lines += [
            "",
            f"**{name}** (pretraining budgeted at {budget:g} minutes per method on "
            f"the reference machine; {wall:.0f} min for the whole table; details in "
            f"[`benchmarks/results/{dataset}.md`](benchmarks/results/{dataset}.md))",
            "",
            "| row | kNN | linear 1% | linear 10% | linear 100% | RankMe | "
            "train img/s |",
            "|---|--:|--:|--:|--:|--:|--:|",
        ]
        for row in document["rows"]:
            if "error" in row or row["label"].endswith("(repeat)"):
                continue
            key = supervised_key if row["label"] == "supervised" else linear_key
            title = row_title(row)
            if row.get("backbone") == "vit_tiny" and is_method(row):
                title += " (vit_tiny)"
            cells = [
                title,
                percent(row.get(KNN)),
                *(percent(row.get(key(fraction))) for fraction in FRACTIONS),
                number(row.get(RANKME), 1),
                number(row.get(IMAGES_PER_S)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        _, failures = criteria(document)
        if failures:
            labels = [failure.split("**")[1] for failure in failures]
            lines += [
                "",
                f"Rows failing a criterion (kNN above random init, 1% linear "
                f"above supervised on 1%): {', '.join(labels)}; the reasons are "
                "in the results file.",
            ]
    if overhead is not None:
        s = overhead["summary"]
        lines += [
            "",
            "**Framework overhead**: a plain PyTorch loop runs the same SimCLR "
            f"step {s['median_ratio']:.3f} times as fast as `SimCLR` in a "
            f"`lightning.Trainer` (median of {len(overhead['repeats'])} repeats by "
            f"wall time; {s['median_cpu_ratio']:.3f} by CPU time; "
            f"{s['best_ratio']:.3f} between the fastest runs; target <= "
            f"{s['target']:.2f}; "
            "[`benchmarks/results/overhead.md`](benchmarks/results/overhead.md)).",
        ]
    return "\n".join(lines)


def load_json(path: Path) -> Any:
    """The parsed JSON file, or None when it does not exist."""
    return json.loads(path.read_text()) if path.exists() else None


def replace_section(text: str, section: str) -> str:
    """``text`` with everything between the markers replaced by ``section``.

    Raises:
        ValueError: If the markers are missing or out of order.

    Example:
        >>> replace_section("a\\n<!-- benchmarks:start -->\\nold\\n"
        ...                 "<!-- benchmarks:end -->\\nb", "new")
        'a\\n<!-- benchmarks:start -->\\nnew\\n<!-- benchmarks:end -->\\nb'
    """
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(
            f"README.md must contain {START!r} followed by {END!r}; found "
            f"start at {start} and end at {end}."
        )
    return text[: start + len(START)] + "\n" + section + "\n" + text[end:]


def generated_files(results_dir: Path = RESULTS_DIR) -> dict[str, str]:
    """File name -> content of every Markdown file this script generates."""
    documents = {
        dataset: document
        for dataset in DATASETS
        if (document := load_json(results_dir / f"{dataset}.json")) is not None
    }
    files = {f"{dataset}.md": render_dataset(doc) for dataset, doc in documents.items()}
    overhead = load_json(results_dir / "overhead.json")
    if overhead is not None:
        files["overhead.md"] = render_overhead(overhead)
    files["gpu_reference.md"] = render_gpu_reference(
        load_json(results_dir / "gpu_runs.json"),
        load_json(results_dir / "gpu_recipe_check.json"),
    )
    files["README section"] = readme_section(documents, overhead)
    return files


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) every generated file."""
    parser = argparse.ArgumentParser(description="Regenerate benchmark reports.")
    parser.add_argument("--check", action="store_true", help="only compare")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)

    files = generated_files(args.results_dir)
    section = files.pop("README section")
    targets = {args.results_dir / name: content for name, content in files.items()}
    readme = args.readme.read_text()
    targets[args.readme] = replace_section(readme, section)

    stale = [
        path
        for path, content in targets.items()
        if not path.exists() or path.read_text() != content
    ]
    if args.check:
        for path in stale:
            print(f"out of date: {path}", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(targets[path])
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
