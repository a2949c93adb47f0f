"""Tests of FashionMNISTDataModule on the real IDX files."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from lightning_ssl.data import FASHION_MNIST_CLASSES, FashionMNISTDataModule
from lightning_ssl.data.idx import locate_idx_files, read_idx


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fashion_mnist_cache")


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        entry.name: (entry.stat().st_size, entry.stat().st_mtime_ns)
        for entry in os.scandir(folder)
    }


def test_idx_folder_is_unpacked_into_the_cache(
    fashion_mnist_dir: Path, cache_dir: Path
) -> None:
    before = snapshot(fashion_mnist_dir)
    datamodule = FashionMNISTDataModule(
        fashion_mnist_dir,
        cache_dir=cache_dir,
        eval_transform=v2.PILToTensor(),
        eval_batch_size=500,
        num_workers=0,
    )
    datamodule.prepare_data()
    images, targets = next(iter(datamodule.eval_val_dataloader()))

    assert datamodule.layout == "idx"
    assert (datamodule.num_classes, datamodule.image_size) == (10, 28)
    assert datamodule.class_names == list(FASHION_MNIST_CLASSES)
    assert snapshot(fashion_mnist_dir) == before  # the user's files are untouched
    assert datamodule.torchvision_root.parent == cache_dir

    files = locate_idx_files(fashion_mnist_dir)
    expected = torch.from_numpy(read_idx(files["test_images"])[:500])
    assert images.shape == (500, 3, 28, 28)
    assert torch.equal(images[:, 0], expected)
    assert torch.equal(images[:, 2], expected)
    train_targets = datamodule.eval_train_dataset.targets
    assert len(train_targets) == 60000
    np.testing.assert_array_equal(
        train_targets[:500], read_idx(files["train_targets"])[:500]
    )
    assert torch.equal(
        targets, torch.from_numpy(read_idx(files["test_targets"])[:500]).long()
    )


def test_unpacked_cache_is_a_torchvision_root(
    fashion_mnist_dir: Path, cache_dir: Path
) -> None:
    unpacked = FashionMNISTDataModule(fashion_mnist_dir, cache_dir=cache_dir)
    unpacked.prepare_data()
    datamodule = FashionMNISTDataModule(
        unpacked.torchvision_root, channels=1, batch_size=16, num_workers=0
    )
    images, targets = next(iter(datamodule.eval_train_dataloader()))

    assert datamodule.layout == "torchvision"
    assert images.shape == (16, 1, 28, 28)
    assert targets.dtype == torch.long


def test_training_batches(fashion_mnist_dir: Path, cache_dir: Path) -> None:
    flip = v2.Compose(
        [v2.RandomHorizontalFlip(), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    )
    datamodule = FashionMNISTDataModule(
        fashion_mnist_dir,
        cache_dir=cache_dir,
        transform=lambda image: [flip(image), flip(image)],
        batch_size=16,
        num_workers=0,
    )
    views, targets = next(iter(datamodule.train_dataloader()))
    assert [tuple(view.shape) for view in views] == [(16, 3, 28, 28)] * 2
    assert targets.shape == (16,)


def test_wrong_and_missing_roots(tmp_path: Path) -> None:
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(ValueError, match=r"is not a Fashion-MNIST root.*IDX files"):
        FashionMNISTDataModule(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"does not exist.*download=True"):
        FashionMNISTDataModule(tmp_path / "missing")
    assert FashionMNISTDataModule(tmp_path, download=True).layout == "torchvision"
