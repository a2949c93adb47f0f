"""The framework-overhead benchmark on a couple of steps."""

import json
from pathlib import Path

import overhead
import pytest


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
    repeats = [{"ratio": value, "cpu_ratio": value / 2} for value in (1.0, 1.3, 1.1)]
    summary = overhead.summarise(repeats)
    assert summary["median_ratio"] == pytest.approx(1.1)
    assert summary["max_cpu_ratio"] == pytest.approx(0.65)
