"""Tests of the embedded Fashion-MNIST sample, its builder and its datamodule."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from lightning_ssl.data import (
    FASHION_MNIST_CLASSES,
    FashionMNISTSampleDataModule,
    load_fashion_mnist_sample,
)
from lightning_ssl.data.idx import locate_idx_files, read_idx
from lightning_ssl.data.sample import SAMPLE_PATH
from lightning_ssl.data.sample.build import build_sample, first_per_class, main


def test_embedded_sample_is_class_balanced() -> None:
    sample = load_fashion_mnist_sample()

    assert sample.train_images.shape == (10000, 28, 28)
    assert sample.test_images.shape == (2000, 28, 28)
    arrays = (sample.train_images, sample.train_targets, sample.test_images)
    for array in (*arrays, sample.test_targets):
        assert array.dtype == np.uint8
    assert np.bincount(sample.train_targets).tolist() == [1000] * 10
    assert np.bincount(sample.test_targets).tolist() == [200] * 10
    assert sample.class_names == FASHION_MNIST_CLASSES
    assert sample.train_images.std() > 50  # real images, not blanks


def test_embedded_sample_is_the_first_images_of_each_class(
    fashion_mnist_dir: Path,
) -> None:
    sample = load_fashion_mnist_sample()
    files = locate_idx_files(fashion_mnist_dir)
    images, targets = read_idx(files["test_images"]), read_idx(files["test_targets"])

    for class_id in range(10):
        original = images[targets == class_id][:200]
        np.testing.assert_array_equal(
            sample.test_images[sample.test_targets == class_id], original
        )


def test_build_reproduces_the_embedded_sample(
    fashion_mnist_dir: Path, tmp_path: Path
) -> None:
    output = build_sample(fashion_mnist_dir, tmp_path / "sample.npz")
    built, shipped = load_fashion_mnist_sample(output), load_fashion_mnist_sample()
    for name, array in vars(shipped).items():
        np.testing.assert_array_equal(getattr(built, name), array)


def test_build_command_line(fashion_mnist_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "small.npz"
    main(
        [
            f"--source={fashion_mnist_dir}",
            f"--output={output}",
            "--train-per-class=3",
            "--test-per-class=2",
        ]
    )
    sample = load_fashion_mnist_sample(output)
    assert sample.train_images.shape == (30, 28, 28)
    assert np.bincount(sample.train_targets).tolist() == [3] * 10
    assert np.bincount(sample.test_targets).tolist() == [2] * 10


def test_first_per_class() -> None:
    targets = np.array([2, 0, 2, 1, 0, 2, 1])
    assert first_per_class(targets, 1).tolist() == [0, 1, 3]
    assert first_per_class(targets, 2).tolist() == [0, 1, 2, 3, 4, 6]
    with pytest.raises(ValueError, match=r"per_class must be at most 2.*got 3"):
        first_per_class(targets, 3)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"python -m lightning_ssl\.data\.sample"
    ):
        load_fashion_mnist_sample(tmp_path / "missing.npz")
    np.savez_compressed(tmp_path / "partial.npz", train_images=np.zeros(1))
    with pytest.raises(ValueError, match=r"lacks arrays.*train_targets"):
        load_fashion_mnist_sample(tmp_path / "partial.npz")


def test_sample_datamodule() -> None:
    assert SAMPLE_PATH.is_file()
    crop = v2.Compose(
        [v2.RandomResizedCrop(28), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
    )
    datamodule = FashionMNISTSampleDataModule(
        transform=lambda image: [crop(image), crop(image)],
        batch_size=32,
        num_workers=0,
    )
    views, targets = next(iter(datamodule.train_dataloader()))
    images, val_targets = next(iter(datamodule.eval_val_dataloader()))

    assert (datamodule.num_classes, datamodule.image_size) == (10, 28)
    assert datamodule.class_names == list(FASHION_MNIST_CLASSES)
    assert [tuple(view.shape) for view in views] == [(32, 3, 28, 28)] * 2
    assert targets.dtype == torch.long
    assert len(datamodule.train_dataloader()) == 10000 // 32
    assert images.shape == (32, 3, 28, 28)
    sample = load_fashion_mnist_sample()
    assert val_targets.tolist() == sample.test_targets[:32].tolist()
