"""The method registry, the package exports and the YAML recipes of every method."""

from pathlib import Path

import pytest
import yaml
from jsonargparse import ArgumentParser
from lightning import LightningDataModule, Trainer

import lightning_ssl.methods as methods
from lightning_ssl.methods import METHODS, SSLMethod, method_class

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
EXPECTED = {
    "barlowtwins",
    "byol",
    "dino",
    "ijepa",
    "lejepa",
    "mae",
    "mmcr",
    "moco",
    "mocov3",
    "msn",
    "nnclr",
    "simclr",
    "simsiam",
    "swav",
    "tico",
    "vicreg",
}


def test_registry_names_every_method_by_lower_case_class_name() -> None:
    assert set(METHODS) == EXPECTED
    for name, cls in METHODS.items():
        assert issubclass(cls, SSLMethod) and cls.__name__.lower() == name
        assert cls.__name__ in methods.__all__
        assert getattr(methods, cls.__name__) is cls


def test_method_class_lookup() -> None:
    assert method_class("SwAV") is METHODS["swav"]
    with pytest.raises(ValueError, match=r"`method` must be one of .*'mocov9'"):
        method_class("mocov9")


def _parser() -> ArgumentParser:
    # The layout of a LightningCLI `fit` config, checked without instantiating.
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--seed_everything", type=int)
    parser.add_subclass_arguments(SSLMethod, "model")
    parser.add_subclass_arguments(LightningDataModule, "data")
    parser.add_class_arguments(Trainer, "trainer")
    return parser


@pytest.fixture(scope="module")
def parser() -> ArgumentParser:
    return _parser()


@pytest.mark.parametrize("dataset", ["cifar10", "imagenet"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_is_a_valid_lightning_cli_config(
    name: str, dataset: str, parser: ArgumentParser
) -> None:
    path = CONFIGS / dataset / f"{name}.yaml"
    assert path.is_file(), f"missing recipe {path}"
    config = parser.parse_path(path)
    assert config.model.class_path == f"lightning_ssl.methods.{METHODS[name].__name__}"

    raw = yaml.safe_load(path.read_text())
    model_args = raw["model"]["init_args"]
    if dataset == "cifar10":
        assert raw["data"]["class_path"] == "lightning_ssl.data.CIFAR10DataModule"
        assert model_args["backbone"] in ("resnet18", "vit_small")
        assert model_args.get("cifar_stem", True) is True
    else:
        assert raw["data"]["class_path"] == "lightning_ssl.data.ImageFolderDataModule"
        assert raw["data"]["init_args"]["image_size"] == 224
        assert model_args["backbone"] in ("resnet50", "vit_small", "vit_base")
