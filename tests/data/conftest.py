"""Fixtures of the data tests: CIFAR-10 in torchvision's layout, from the JPEGs."""

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
from torchvision.datasets import CIFAR10

from lightning_ssl.data import CIFAR10_CLASSES, ImageFolderDataset


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def torchvision_root(
    cifar10_subset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A torchvision CIFAR-10 root made from the JPEG subset, md5 lists patched."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()

    def write(name: str, content: dict[str, object]) -> list[str]:
        with open(folder / name, "wb") as file:
            pickle.dump(content, file)
        return [name, md5(folder / name)]

    def batch(split: str, indices: range) -> dict[str, object]:
        dataset = ImageFolderDataset(cifar10_subset / split)
        # Rows hold the channels one after the other, as in the original files.
        data = [np.asarray(dataset[i][0]).transpose(2, 0, 1).ravel() for i in indices]
        return {"data": np.stack(data), "labels": [dataset.targets[i] for i in indices]}

    train_list = [
        write(f"data_batch_{i + 1}", batch("train", range(60 * i, 60 * (i + 1))))
        for i in range(5)
    ]
    test_list = [write("test_batch", batch("test", range(100)))]
    meta_name, meta_md5 = write("batches.meta", {"label_names": list(CIFAR10_CLASSES)})

    monkeypatch.setattr(CIFAR10, "train_list", train_list)
    monkeypatch.setattr(CIFAR10, "test_list", test_list)
    monkeypatch.setattr(
        CIFAR10, "meta", {"filename": meta_name, "key": "label_names", "md5": meta_md5}
    )
    return tmp_path
