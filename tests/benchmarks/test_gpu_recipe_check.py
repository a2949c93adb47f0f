"""The GPU recipe check: every recipe builds; the check runs (here on a CPU)."""

import json
from pathlib import Path

import gpu_recipe_check
import pytest
import torch
import yaml

from lightning_ssl.methods import METHODS


def test_there_is_a_cifar10_recipe_for_every_method() -> None:
    assert set(gpu_recipe_check.recipe_paths()) == set(METHODS)


@pytest.mark.parametrize("name", sorted(gpu_recipe_check.recipe_paths()))
def test_recipe_model_builds(name: str) -> None:
    config = yaml.safe_load(gpu_recipe_check.recipe_paths()[name].read_text())
    model = gpu_recipe_check.build_model(config)
    assert type(model) is METHODS[name]
    assert config["data"]["init_args"]["batch_size"] == 512
    assert config["trainer"]["max_epochs"] == 200


def test_check_runs_a_recipe_on_the_cpu(tmp_path: Path) -> None:
    output = tmp_path / "check.json"
    argv = ["--accelerator=cpu", "--precision=32-true", "--batch-size=4"]
    argv += ["--steps=1", "--warmup-steps=1", "--methods=swav", f"--output={output}"]
    assert gpu_recipe_check.main(argv) == 0
    (row,) = json.loads(output.read_text())["rows"]
    assert row["method"] == "swav" and row["steps"] == 2
    assert row["images_per_s"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only exit")
def test_without_cuda_the_check_exits_cleanly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert gpu_recipe_check.main([]) == 0
    assert "CUDA is not available" in capsys.readouterr().out
