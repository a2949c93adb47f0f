"""Tests of ImageFolderDataModule on CIFAR-10 JPEGs and handmade folders."""

from pathlib import Path

import pytest
import torch
from PIL import Image

from lightning_ssl.data import ImageFolderDataModule


def test_labelled_train_and_val(cifar10_subset: Path) -> None:
    datamodule = ImageFolderDataModule(
        cifar10_subset / "train",
        cifar10_subset / "test",
        eval_batch_size=50,
        num_workers=0,
    )
    images, targets = next(iter(datamodule.val_dataloader()))

    assert datamodule.image_size is None
    assert datamodule.num_classes == 10
    assert images.shape == (50, 3, 32, 32)
    assert targets.tolist() == [0] * 10 + [1] * 10 + [2] * 10 + [3] * 10 + [4] * 10


def test_val_classes_follow_the_training_ids(tmp_path: Path) -> None:
    for split, name in [("train", "a"), ("train", "b"), ("train", "c"), ("val", "c")]:
        (tmp_path / split / name).mkdir(parents=True)
        Image.new("RGB", (12, 10)).save(tmp_path / split / name / "0.png")
    datamodule = ImageFolderDataModule(
        tmp_path / "train", tmp_path / "val", image_size=8, num_workers=0
    )

    images, targets = next(iter(datamodule.eval_val_dataloader()))
    assert targets.tolist() == [2]
    assert images.shape == (1, 3, 8, 8)

    (tmp_path / "val" / "d").mkdir()
    datamodule = ImageFolderDataModule(tmp_path / "train", tmp_path / "val")
    with pytest.raises(ValueError, match=r"classes \['d'\] that the training split"):
        datamodule.eval_val_dataloader()


def test_unlabelled_train_with_labelled_val(tmp_path: Path) -> None:
    for path in (tmp_path / "unlabelled", tmp_path / "val" / "x"):
        path.mkdir(parents=True)
        Image.new("L", (8, 8)).save(path / "0.png")
        Image.new("L", (8, 8)).save(path / "1.png")
    datamodule = ImageFolderDataModule(
        tmp_path / "unlabelled", tmp_path / "val", num_workers=0
    )

    assert datamodule.num_classes is None
    assert datamodule.eval_train_dataset.targets.tolist() == [-1, -1]
    images, targets = next(iter(datamodule.eval_val_dataloader()))
    assert images.shape == (2, 3, 8, 8)
    assert torch.equal(targets, torch.zeros(2, dtype=torch.long))


def test_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train_dataset folder"):
        ImageFolderDataModule(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="val_dataset folder"):
        ImageFolderDataModule(tmp_path, val_root=tmp_path / "missing")
