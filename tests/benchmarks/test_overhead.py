"""The framework-overhead benchmark on a couple of steps."""

import json
from pathlib import Path

import overhead
import pytest
import report


def test_overhead_writes_ratios_and_a_page(tmp_path: Path) -> None:
    output = tmp_path / "overhead.json"
    argv = ["--repeats=2", "--steps=2", "--warmup-steps=1", f"--output={output}"]
    overhead.main(argv)
    document = json.loads(output.read_text())
    assert [pair["first"] for pair in document["repeats"]] == [
        "plain",
        "lightning_ssl",
    ]
    summary = document["summary"]
    assert summary["min_ratio"] <= summary["median_ratio"] <= summary["max_ratio"]
    assert 0.2 < summary["median_cpu_ratio"] < 5
    assert (
        "Median ratio (plain / lightning_ssl)" in output.with_suffix(".md").read_text()
    )


def test_summary_takes_medians() -> None:
    repeats = [
        {"ratio": ratio, "cpu_ratio": ratio / 2, "plain": plain, "lightning_ssl": 4.0}
        for ratio, plain in ((1.0, 4.0), (1.3, 5.2), (1.1, 4.4))
    ]
    summary = overhead.summarise(repeats)
    assert summary["median_ratio"] == pytest.approx(1.1)
    assert summary["max_cpu_ratio"] == pytest.approx(0.65)
    assert summary["best_ratio"] == pytest.approx(5.2 / 4.0)


def test_profile_separates_bookkeeping_from_the_model() -> None:
    profile = {
        "run_training_batch": {"calls": 10, "mean_ms": 300.0},
        "[LightningModule]SimCLR.optimizer_step": {"calls": 10, "mean_ms": 299.0},
        "[Strategy]SingleDeviceStrategy.training_step": {"calls": 10, "mean_ms": 120.0},
        "[Strategy]SingleDeviceStrategy.backward": {"calls": 10, "mean_ms": 170.0},
        "[Strategy]SingleDeviceStrategy.batch_to_device": {"calls": 10, "mean_ms": 0.5},
        "[LightningModule]SimCLR.optimizer_zero_grad": {"calls": 10, "mean_ms": 0.4},
    }
    summary = {"target": 1.02, "median_ratio": 1.05, "min_ratio": 0.9}
    summary |= {"max_ratio": 1.2, "best_ratio": 0.98}
    text = "\n".join(report.profile_lines(profile, summary))
    assert "adds up to 0.90 ms per step, 0.30% of a 300 ms step" in text
    assert "run-to-run noise" in text
    summary["median_ratio"] = 1.01
    assert "noise" not in "\n".join(report.profile_lines(profile, summary))
