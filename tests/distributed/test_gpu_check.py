"""The GPU check script: its CPU smoke test, and its clean exit without CUDA."""

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_records_nothing(
    gpu_check: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--output-dir", str(tmp_path / "results")]) == 0
    assert "no CUDA device" in capsys.readouterr().out
    assert not (tmp_path / "results").exists()


def test_cpu_smoke_run_writes_the_report(gpu_check: ModuleType, tmp_path: Path) -> None:
    argv = ["--cpu", "--synthetic", "--num-workers", "0", "--output-dir", str(tmp_path)]
    assert gpu_check.main(argv) == 0

    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["command"] == "python benchmarks/gpu_check.py " + " ".join(argv)
    assert [run["method"] for run in report["runs"]] == ["simclr", "byol"]
    for run in report["runs"]:
        assert run["finite"] and run["steps"] == 2 and run["global_batch"] == 8
        assert run["images_per_s"] > 0
        assert run["data"].startswith("synthetic")
    table = (tmp_path / "gpu_check.md").read_text()
    assert "| simclr | 1 | 8 |" in table and "| byol | 1 | 8 |" in table


def test_cpu_smoke_run_on_cifar10(
    gpu_check: ModuleType, cifar10_subset: Path, tmp_path: Path
) -> None:
    """The CIFAR-10 path: decoded-image cache and augmentation on the device."""
    argv = [
        "--cpu",
        "--methods",
        "simclr",
        "--data-root",
        str(cifar10_subset),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--num-workers",
        "0",
        "--output-dir",
        str(tmp_path),
    ]
    assert gpu_check.main(argv) == 0
    (run,) = json.loads((tmp_path / "gpu_check.json").read_text())["runs"]
    assert run["data"].startswith("CIFAR-10") and run["finite"]


def test_arguments_are_checked(gpu_check: ModuleType) -> None:
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--methods", "mae"])
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--steps", "5", "--warmup-steps", "5"])
