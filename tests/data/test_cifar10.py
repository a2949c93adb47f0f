"""Tests of CIFAR10DataModule on both layouts: image folder and torchvision files."""

from pathlib import Path

import pytest
import torch
from torchvision.transforms import v2

from lightning_ssl.data import CIFAR10_CLASSES, CIFAR10DataModule
from lightning_ssl.data.cifar10 import detect_cifar10_layout

TO_UINT8 = v2.Compose([v2.PILToTensor()])


def test_image_folder_layout(cifar10_subset: Path) -> None:
    datamodule = CIFAR10DataModule(cifar10_subset, batch_size=32, num_workers=0)
    images, targets = next(iter(datamodule.eval_val_dataloader()))

    assert datamodule.layout == "folder"
    assert (datamodule.num_classes, datamodule.image_size) == (10, 32)
    assert datamodule.class_names == list(CIFAR10_CLASSES)
    assert len(datamodule.eval_train_dataset) == 300
    assert images.shape == (32, 3, 32, 32)
    assert targets.tolist() == [0] * 10 + [1] * 10 + [2] * 10 + [3] * 2


def test_torchvision_layout_matches_the_jpegs(
    torchvision_root: Path, cifar10_subset: Path
) -> None:
    datamodule = CIFAR10DataModule(
        torchvision_root, eval_transform=TO_UINT8, eval_batch_size=100, num_workers=0
    )
    jpegs = CIFAR10DataModule(
        cifar10_subset, eval_transform=TO_UINT8, eval_batch_size=100, num_workers=0
    )

    assert datamodule.layout == "torchvision"
    assert datamodule.class_names == list(CIFAR10_CLASSES)
    for ours, theirs in (
        (datamodule.eval_train_dataloader(), jpegs.eval_train_dataloader()),
        (datamodule.eval_val_dataloader(), jpegs.eval_val_dataloader()),
    ):
        for (images, targets), (jpeg_images, jpeg_targets) in zip(
            ours, theirs, strict=True
        ):
            assert images.dtype == torch.uint8
            assert torch.equal(images, jpeg_images)
            assert torch.equal(targets, jpeg_targets)


def test_root_may_be_the_batches_folder(torchvision_root: Path) -> None:
    datamodule = CIFAR10DataModule(torchvision_root / "cifar-10-batches-py")
    assert datamodule.root == torchvision_root
    assert datamodule.layout == "torchvision"


def test_corrupt_torchvision_files(torchvision_root: Path) -> None:
    (torchvision_root / "cifar-10-batches-py" / "test_batch").write_bytes(b"broken")
    datamodule = CIFAR10DataModule(torchvision_root)
    with pytest.raises(ValueError, match=r"missing or corrupt.*download=True"):
        datamodule.eval_train_dataloader()


def test_wrong_and_missing_roots(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(ValueError, match=r"is not a CIFAR-10 root.*train/ and test/"):
        CIFAR10DataModule(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"does not exist.*download=True"):
        CIFAR10DataModule(tmp_path / "missing")
    assert (
        detect_cifar10_layout(tmp_path / "missing", download=True)[1] == "torchvision"
    )


def test_image_folder_must_have_ten_classes(
    cifar10_subset: Path, tmp_path: Path
) -> None:
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        for name in CIFAR10_CLASSES[:3]:
            (tmp_path / split / name).symlink_to(cifar10_subset / split / name)
    datamodule = CIFAR10DataModule(tmp_path)
    with pytest.raises(ValueError, match="must hold 10 class folders; got 3"):
        datamodule.eval_train_dataloader()
