"""`benchmarks/run.py` end to end on a few hundred real CIFAR-10 images.

Two methods train for 3 steps each on the 300-image subset of the shared
``cifar10_subset`` fixture (30 per class), one of them twice with the same seed,
next to every baseline; about 40 seconds on two CPU cores.
"""

import json
from pathlib import Path
from typing import Any

import pytest
import run

METHODS = ["simclr", "byol"]


@pytest.fixture(scope="module")
def results(
    cifar10_subset: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("results")
    argv = [
        "--dataset=cifar10",
        f"--root={cifar10_subset}",
        f"--cache-dir={output / 'cache'}",
        f"--output-dir={output}",
        "--methods",
        *METHODS,
        "--repeat=simclr",
        "--steps=3",
        "--batch-size=32",
        "--bank-images=200",
        "--linear-epochs=5",
    ]
    run.main(argv)
    document: dict[str, Any] = json.loads((output / "cifar10.json").read_text())
    document["output"] = output
    document["argv"] = argv
    return document


def test_every_planned_row_ran(results: dict[str, Any]) -> None:
    labels = [row["label"] for row in results["rows"]]
    assert labels == [
        "simclr",
        "byol",
        "simclr (repeat)",
        "pixels",
        "random:simclr",
        "supervised",
    ]
    errors = {row["label"]: row["error"] for row in results["rows"] if "error" in row}
    assert not errors


def test_method_rows_report_every_metric(results: dict[str, Any]) -> None:
    for row in results["rows"][:2]:
        assert row["steps"] == 3 and row["batch_size"] == 32
        assert row["train_images"] == 300
        assert row["augment_on"] == "device"
        assert row["eval_images"] == {"bank": 200, "test": 100}
        for key in (
            "val/knn_top1",
            "val/linear_top1_1pct",
            "val/linear_top1_10pct",
            "val/linear_top1_100pct",
        ):
            assert 0.0 <= row[key] <= 1.0, key
        assert 1.0 <= row["collapse/features/rankme"] <= 128.0
        assert row["benchmark/train_images_per_s"] > 0
        assert row["benchmark/peak_rss_mib"] > 100
        assert row["benchmark/wall_s"] > 0


def test_same_seed_gives_the_same_row(results: dict[str, Any]) -> None:
    first, repeat = results["rows"][0], results["rows"][2]
    for key in ("val/knn_top1", "val/linear_top1_100pct", "loss_last"):
        assert repeat[key] == first[key], key


def test_baselines(results: dict[str, Any]) -> None:
    by_label = {row["label"]: row for row in results["rows"]}
    assert by_label["pixels"]["feature_dim"] == 3 * 32 * 32
    assert by_label["random:simclr"]["backbone"] == "narrow_resnet18"
    supervised = by_label["supervised"]
    assert set(supervised["supervised"]) == {
        "val/supervised_top1_1pct",
        "val/supervised_top1_10pct",
        "val/supervised_top1_100pct",
    }
    for details in supervised["supervised"].values():
        assert details["steps"] >= 100  # the baseline's minimum


def test_results_record_how_they_were_made(results: dict[str, Any]) -> None:
    assert results["command"].startswith("python benchmarks/run.py --dataset=cifar10")
    machine = results["machine"]
    assert machine["usable_cores"] >= 1 and len(machine["git_commit"]) == 40
    assert set(machine["versions"]) >= {"torch", "lightning", "lightly"}
    page = (results["output"] / "cifar10.md").read_text()
    assert "| simclr | narrow_resnet18 | 3 x 32 (0.32) |" in page
    assert "## Reproducibility" in page


def test_resume_keeps_finished_rows(results: dict[str, Any]) -> None:
    path = results["output"] / "cifar10.json"
    before = json.loads(path.read_text())["rows"]
    run.main([*results["argv"], "--resume"])
    assert json.loads(path.read_text())["rows"] == before


def test_unknown_method_is_rejected() -> None:
    with pytest.raises(ValueError, match="`method` must be one of"):
        run.planned_rows(run.parse_args(["--methods", "simclr", "nonsense"]))
