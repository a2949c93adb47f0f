"""The benchmark datasets: decoded once, then served from uint8 tensors.

Both datasets go through lightning_ssl's decoded-image cache
(:func:`~lightning_ssl.data.load_or_decode`, via the datamodules' ``cache=True``),
so that a row memory-maps `(N, C, H, W)` uint8 arrays instead of decoding JPEGs.
Training batches are gathered from that array and augmented in one batched call
(``augment_on="device"``, here the CPU). Evaluation images are normalised in
bulk exactly as :func:`~lightning_ssl.data.default_eval_transform` does one by
one (the benchmark tests check that the two agree).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightly.transforms.utils import IMAGENET_NORMALIZE
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from lightning_ssl.data import (
    CIFAR10DataModule,
    DecodedImageDataset,
    FashionMNISTDataModule,
    SSLDataModule,
)
from lightning_ssl.evaluation import few_label_indices
from lightning_ssl.validation import check_choice, check_positive_int

REPO_ROOT = Path(__file__).resolve().parents[2]
CIFAR10_ROOT = REPO_ROOT / ".." / "shared" / "data" / "cifar10"
FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("cifar10", "fashion_mnist")
IMAGE_SIZES = {"cifar10": 32, "fashion_mnist": 28}
NUM_CLASSES = 10


def default_root(dataset: str) -> Path:
    """Where the dataset is read from unless ``--root`` says otherwise."""
    check_choice("dataset", dataset, DATASETS)
    return CIFAR10_ROOT if dataset == "cifar10" else FASHION_MNIST_ROOT


def load_splits(
    dataset: str, root: str | Path, cache_dir: str | Path | None = None
) -> tuple[DecodedImageDataset, DecodedImageDataset]:
    """The decoded training and test splits of a benchmark dataset.

    CIFAR-10 may be an image folder with ``train/`` and ``test/`` or a
    torchvision root; Fashion-MNIST the folder of its IDX files or a
    torchvision root. Images are 3-channel (Fashion-MNIST's gray replicated).

    Raises:
        ValueError: If ``dataset`` is unknown.
        FileNotFoundError: If ``root`` does not exist.
    """
    check_choice("dataset", dataset, DATASETS)
    kwargs: dict[str, Any] = {"cache": True, "num_workers": 0, "cache_dir": cache_dir}
    datamodule: SSLDataModule
    if dataset == "cifar10":
        datamodule = CIFAR10DataModule(root, **kwargs)
    else:
        datamodule = FashionMNISTDataModule(root, **kwargs)
    train, test = datamodule.datasets
    assert isinstance(train, DecodedImageDataset)  # cache=True decodes both
    assert isinstance(test, DecodedImageDataset)
    return train, test


def subset(dataset: DecodedImageDataset, indices: Tensor) -> DecodedImageDataset:
    """The samples at ``indices``, copied into memory."""
    return DecodedImageDataset(
        dataset.images[indices].clone(), dataset.targets[indices], dataset.classes
    )


def balanced_subset(
    dataset: DecodedImageDataset, size: int | None, seed: int
) -> DecodedImageDataset:
    """A seeded class-balanced subset of about ``size`` images; all when None.

    Example:
        >>> images = torch.zeros(40, 3, 4, 4, dtype=torch.uint8)
        >>> dataset = DecodedImageDataset(images, torch.arange(40) % 4)
        >>> picked = balanced_subset(dataset, 8, seed=0)
        >>> len(picked), picked.targets.bincount().tolist()
        (8, [2, 2, 2, 2])
    """
    if size is None or size >= len(dataset):
        return dataset
    check_positive_int("size", size)
    indices = few_label_indices(dataset.targets, size / len(dataset), seed)
    return subset(dataset, indices)


def normalize(images: Tensor) -> Tensor:
    """`(B, C, H, W)` uint8 images as float, scaled and normalised for evaluation.

    The same arithmetic as :func:`~lightning_ssl.data.default_eval_transform`
    on images that are already at their final size: ``x / 255``, then lightly's
    ImageNet mean and standard deviation.

    Example:
        >>> normalize(torch.full((1, 3, 2, 2), 255, dtype=torch.uint8))[0, :, 0, 0]
        tensor([2.2489, 2.4286, 2.6400])
    """
    mean = torch.tensor(IMAGENET_NORMALIZE["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(IMAGENET_NORMALIZE["std"]).view(1, -1, 1, 1)
    return (images.float() / 255 - mean) / std


class NormalizedImages(Dataset[tuple[Tensor, int]]):
    """Labelled `(C, H, W)` evaluation images, normalised on access.

    A map-style dataset, so that :func:`~lightning_ssl.evaluation.loader_over`
    can draw few-label subsets of it for the supervised baseline.
    """

    def __init__(self, dataset: DecodedImageDataset) -> None:
        self.images = dataset.images
        self.targets = dataset.targets

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return normalize(self.images[index : index + 1])[0], int(self.targets[index])

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[Tensor, int]]:
        index = torch.as_tensor(indices, dtype=torch.long)
        images = normalize(self.images[index])
        return list(zip(images, self.targets[index].tolist(), strict=True))


def eval_loader(dataset: DecodedImageDataset, batch_size: int) -> DataLoader[Any]:
    """Unshuffled loader of normalised labelled images, in the main process."""
    return DataLoader(NormalizedImages(dataset), batch_size=batch_size, shuffle=False)


@dataclass
class BenchmarkData:
    """The images one benchmark row needs.

    Attributes:
        name: ``"cifar10"`` or ``"fashion_mnist"``.
        image_size: Side of the square images.
        train: Images the self-supervised methods train on (labels unused).
        bank: Labelled training images of the kNN bank and the linear probes;
            label fractions are fractions of these.
        test: Labelled held-out images the accuracies are measured on.
    """

    name: str
    image_size: int
    train: DecodedImageDataset
    bank: DecodedImageDataset
    test: DecodedImageDataset


def benchmark_data(
    dataset: str,
    root: str | Path,
    *,
    train_images: int | None,
    bank_images: int | None,
    test_images: int | None,
    seed: int,
    cache_dir: str | Path | None = None,
) -> BenchmarkData:
    """Load a dataset and draw the class-balanced subsets of a benchmark row.

    The bank is drawn from the training images, with a seed of its own, so it
    is the same for every row whatever ``train_images`` is.
    """
    train, test = load_splits(dataset, root, cache_dir)
    return BenchmarkData(
        name=dataset,
        image_size=IMAGE_SIZES[dataset],
        train=balanced_subset(train, train_images, seed),
        bank=balanced_subset(train, bank_images, seed + 1),
        test=balanced_subset(test, test_images, seed + 2),
    )
