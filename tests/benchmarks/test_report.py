"""The benchmark report: README section and Markdown pages come from the results."""

import copy
import doctest
from typing import Any

import gpu_recipe_check
import overhead
import pytest
import report
from ssl_bench import anchors, data, environment, recipes, rows

MACHINE = {
    "cpu": "Test CPU",
    "usable_cores": 2,
    "logical_cores": 2,
    "torch_threads": 1,
    "cuda_device": None,
    "python": "3.11",
    "versions": {"torch": "2", "lightning": "2", "lightly": "1"},
    "git_commit": "0123456789abcdef",
    "git_dirty": False,
    "load_average": [1.0, 1.0, 1.0],
}


def method_row(label: str, knn: float, linear_1pct: float) -> dict[str, Any]:
    return {
        "label": label,
        "row": label.removesuffix(" (repeat)"),
        "backbone": "narrow_resnet18",
        "steps": 150,
        "batch_size": 256,
        "epochs": 0.768,
        "train_images": 50_000,
        "augment_on": "device",
        "train_s": 120.0,
        "loss_first": 6.2,
        "loss_last": 5.9,
        "settings": recipes.describe("simclr"),
        "val/knn_top1": knn,
        "val/linear_top1_1pct": linear_1pct,
        "val/linear_top1_10pct": 0.4,
        "val/linear_top1_100pct": 0.45,
        "collapse/features/rankme": 60.0,
        "benchmark/train_images_per_s": 320.0,
        "benchmark/peak_rss_mib": 900.0,
        "benchmark/wall_s": 140.0,
        "eval_images": {"bank": 10_000, "test": 10_000},
    }


def document(simclr_knn: float = 0.40, simclr_1pct: float = 0.30) -> dict[str, Any]:
    random_init = method_row("random:simclr", 0.30, 0.20)
    for key in ("steps", "batch_size", "epochs", "train_s", "settings"):
        del random_init[key]
    supervised = {
        "label": "supervised",
        "row": "supervised",
        "backbone": "narrow_resnet18",
        "batch_size": 256,
        "val/supervised_top1_1pct": 0.25,
        "val/supervised_top1_10pct": 0.35,
        "val/supervised_top1_100pct": 0.55,
        "supervised": {
            "val/supervised_top1_1pct": {"labels": 100, "epochs": 300, "steps": 300}
        },
    }
    return {
        "dataset": "cifar10",
        "command": "python benchmarks/run.py --dataset cifar10",
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T01:00:00+00:00",
        "machine": MACHINE,
        "settings": rows.Settings("cifar10", "root").as_dict(),
        "rows": [
            method_row("simclr", simclr_knn, simclr_1pct),
            method_row("simclr (repeat)", simclr_knn, simclr_1pct),
            random_init,
            supervised,
        ],
        "wall_s": 3600.0,
        "load_average_end": [1.0, 1.0, 1.0],
    }


def test_committed_readme_and_pages_match_the_results() -> None:
    # `report.py --check` compares README.md's section and every generated page
    # with what the committed JSON results produce: none may be edited by hand.
    assert report.main(["--check"]) == 0, (
        "README.md or benchmarks/results/*.md are out of date; run "
        "`python benchmarks/report.py`"
    )


def test_readme_section_replaces_only_the_text_between_markers() -> None:
    text = f"intro\n{report.START}\nold table\n{report.END}\noutro\n"
    updated = report.replace_section(text, "new table")
    assert updated == f"intro\n{report.START}\nnew table\n{report.END}\noutro\n"
    assert report.replace_section(updated, "new table") == updated


@pytest.mark.parametrize(
    "text", ["no markers", f"{report.END}\n{report.START}", f"{report.START} only"]
)
def test_missing_or_reversed_markers_are_an_error(text: str) -> None:
    with pytest.raises(ValueError, match="must contain"):
        report.replace_section(text, "section")


def test_rows_that_beat_both_baselines_pass() -> None:
    page = report.render_dataset(document())
    assert "simclr: kNN 40.0 vs 30.0 at random init -> pass" in page
    assert "simclr: linear 1% 30.0 vs 25.0 supervised on 1% -> pass" in page
    assert "Every method row passes both criteria." in page


def test_failing_rows_are_listed_with_their_numbers() -> None:
    page = report.render_dataset(document(simclr_knn=0.25, simclr_1pct=0.2))
    assert "Rows that fail a criterion, and why:" in page
    assert (
        "- **simclr** fails kNN 25.0 vs 30.0 at random init; linear 1% 20.0 vs "
        "25.0 supervised on 1%. 150 steps (0.768 epochs); loss 6.200 -> 5.900"
    ) in page
    assert "RankMe 60.0 vs 60.0 at random init." in page
    section = report.readme_section({"cifar10": document(simclr_knn=0.25)}, None)
    assert "Rows failing a criterion (kNN above random init" in section
    assert "1% linear above supervised on 1%): simclr;" in section


def test_failure_notes_quote_the_row_and_show_only_while_it_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    note = "kNN {knn:.1f} of {random_knn:.1f}; loss ended at {loss_last:.2f}."
    monkeypatch.setitem(report.NOTES, ("cifar10", "simclr"), note)
    page = report.render_dataset(document(simclr_knn=0.25))
    assert "kNN 25.0 of 30.0; loss ended at 5.90." in page
    assert "loss ended at" not in report.render_dataset(document())


def test_repeated_rows_report_their_difference() -> None:
    doc = document()
    repeat = doc["rows"][1]
    repeat["val/knn_top1"] += 0.005
    page = report.render_dataset(doc)
    assert "simclr (repeat) minus simclr (same seed, same command): " in page
    assert "knn_top1 +0.50 points, linear_top1_1pct +0.00 points" in page


def test_errors_are_rows_of_their_own() -> None:
    doc = document()
    doc["rows"].insert(1, {"label": "dino", "row": "dino", "error": "exit code 1"})
    page = report.render_dataset(doc)
    assert "| dino | failed: exit code 1 |" in page
    section = report.readme_section({"cifar10": doc}, None)
    assert "dino" not in section


def test_readme_section_lists_rows_without_repeats() -> None:
    section = report.readme_section({"cifar10": document()}, None)
    assert "| simclr | 40.0 | 30.0 | 40.0 | 45.0 | 60.0 | 320 |" in section
    assert "(repeat)" not in section
    assert "| supervised from scratch | - | 25.0 | 35.0 | 55.0 | - | - |" in section
    assert "python benchmarks/run.py --dataset cifar10" in section


def test_gpu_reference_shows_anchors_and_missing_measurements() -> None:
    page = report.render_gpu_reference(None, None)
    assert "| simclr | 84.8 | not measured yet | 90.7 | not measured yet |" in page
    assert "| byol | 86.8 | not measured yet | 92.6 | not measured yet |" in page
    check = {"rows": [{"method": "simclr", "images_per_s": 5000.0}]}
    runs = {"cifar10": {"simclr": {"knn_top1": 0.85, "linear_top1": 0.9}}}
    page = report.render_gpu_reference(runs, check)
    assert "| simclr | 84.8 | 85.0 | 90.7 | 90.0 | 5,000 |" in page


def test_render_does_not_modify_the_document() -> None:
    doc = document(simclr_knn=0.1)
    before = copy.deepcopy(doc)
    report.render_dataset(doc)
    report.readme_section({"cifar10": doc}, None)
    assert doc == before


@pytest.mark.parametrize(
    "module",
    [report, overhead, gpu_recipe_check, anchors, data, environment, recipes, rows],
    ids=lambda module: module.__name__,
)
def test_docstring_examples_run(module: Any) -> None:
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0


@pytest.mark.parametrize("key", sorted(report.NOTES), ids=lambda key: "/".join(key))
def test_every_note_formats_with_the_fields_of_a_row(key: tuple[str, str]) -> None:
    doc = document()
    rows = {row["label"]: row for row in doc["rows"]}
    fields = report.note_fields(
        rows["simclr"], rows["random:simclr"], rows["supervised"]
    )
    assert report.NOTES[key].format(**fields)
    assert key[0] in report.DATASETS
