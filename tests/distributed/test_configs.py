"""The distributed config snippets compose with the recipes and say what they mean."""

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonargparse import ArgumentParser
from lightning.pytorch.strategies import FSDPStrategy
from torch.distributed.fsdp.wrap import ModuleWrapPolicy
from torchvision.models.vision_transformer import EncoderBlock, VisionTransformer

from lightning_ssl.cli.main import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DISTRIBUTED = CONFIGS / "distributed"
# snippet: (recipe it is composed with, expected devices, num_nodes, strategy)
SNIPPETS = {
    "multi_gpu.yaml": ("imagenet/simclr.yaml", 8, 1, "ddp"),
    "multi_node_torchrun.yaml": ("imagenet/simclr.yaml", 8, 2, "ddp"),
    "slurm.yaml": ("imagenet/simclr.yaml", 8, 2, "ddp"),
    "fsdp_vit.yaml": ("imagenet/dino.yaml", 8, 1, FSDPStrategy.__name__),
}


def test_every_snippet_is_covered() -> None:
    assert {path.name for path in DISTRIBUTED.glob("*.yaml")} == set(SNIPPETS)


@pytest.mark.parametrize("snippet", list(SNIPPETS))
def test_snippet_composes_with_a_recipe(
    snippet: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe, devices, num_nodes, strategy = SNIPPETS[snippet]
    if not (CONFIGS / recipe).is_file():
        pytest.skip(f"recipe {recipe} does not exist yet")
    monkeypatch.setattr(sys, "argv", ["lightning-ssl"])  # not pytest's arguments
    argv = ["fit", "--config", str(CONFIGS / recipe)]
    argv += ["--config", str(DISTRIBUTED / snippet), "--print_config"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code in (0, None)

    config: dict[str, Any] = yaml.safe_load(capsys.readouterr().out)
    trainer = config["trainer"]
    assert (trainer["devices"], trainer["num_nodes"]) == (devices, num_nodes)
    chosen = trainer["strategy"]
    assert strategy in (chosen if isinstance(chosen, str) else chosen["class_path"])
    # The recipe's method survives the overlay; batch norm is the method's call.
    assert config["model"]["class_path"].startswith("lightning_ssl.methods.")
    assert config["model"]["init_args"]["sync_batchnorm"] is None
    assert trainer["sync_batchnorm"] is False


def fsdp_wrap_classes() -> set[type]:
    """The wrap policy of ``fsdp_vit.yaml``, instantiated as Lightning would."""
    strategy = yaml.safe_load((DISTRIBUTED / "fsdp_vit.yaml").read_text())
    parser = ArgumentParser()
    parser.add_argument("--strategy", type=FSDPStrategy)
    namespace = parser.parse_object({"strategy": strategy["trainer"]["strategy"]})
    policy = parser.instantiate_classes(namespace).strategy.kwargs["auto_wrap_policy"]
    assert isinstance(policy, ModuleWrapPolicy)
    return set(policy._module_classes)


def test_fsdp_policy_wraps_blocks_backbones_and_heads() -> None:
    classes = fsdp_wrap_classes()
    assert {EncoderBlock, VisionTransformer} <= classes
    assert {cls.__name__ for cls in classes} >= {"DINOProjectionHead"}


def test_sbatch_script_matches_the_trainer() -> None:
    script = (DISTRIBUTED / "slurm.sbatch").read_text()
    trainer = yaml.safe_load((DISTRIBUTED / "slurm.yaml").read_text())["trainer"]
    directives = dict(re.findall(r"^#SBATCH --([\w-]+)=(\S+)", script, re.MULTILINE))
    assert int(directives["ntasks-per-node"]) == trainer["devices"]
    assert int(directives["nodes"]) == trainer["num_nodes"]
    assert "srun lightning-ssl fit" in script
    if shutil.which("bash"):
        subprocess.run(["bash", "-n", str(DISTRIBUTED / "slurm.sbatch")], check=True)
