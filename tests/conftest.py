"""Shared test fixtures: locations of the real datasets and small subsets of them.

Real data lives outside the repository: CIFAR-10 as JPEGs in ``shared/data/cifar10``
beside the repository root, and Fashion-MNIST as gzipped IDX files from the Debian
package ``dataset-fashion-mnist``. Fixtures skip the test when the data is absent.
"""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CIFAR10_DIR = REPO_ROOT.parent / "shared" / "data" / "cifar10"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

CIFAR10_TRAIN_PER_CLASS = 30
CIFAR10_TEST_PER_CLASS = 10


@pytest.fixture(scope="session")
def cifar10_dir() -> Path:
    """The full CIFAR-10 JPEG image folder (``train/`` and ``test/``)."""
    if not (CIFAR10_DIR / "train").is_dir() or not (CIFAR10_DIR / "test").is_dir():
        pytest.skip(f"CIFAR-10 JPEGs not found at {CIFAR10_DIR}")
    return CIFAR10_DIR


@pytest.fixture(scope="session")
def cifar10_subset(cifar10_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CIFAR-10 image folder of symlinks, with ``train/`` and ``test/``.

    It holds the first 30 training and 10 test images of each class, in file-name
    order.
    """
    root = tmp_path_factory.mktemp("cifar10_subset")
    for split, per_class in (
        ("train", CIFAR10_TRAIN_PER_CLASS),
        ("test", CIFAR10_TEST_PER_CLASS),
    ):
        for class_dir in sorted((cifar10_dir / split).iterdir()):
            target = root / split / class_dir.name
            target.mkdir(parents=True)
            for name in sorted(os.listdir(class_dir))[:per_class]:
                (target / name).symlink_to(class_dir / name)
    return root


@pytest.fixture(scope="session")
def fashion_mnist_dir() -> Path:
    """The folder of Fashion-MNIST's four gzipped IDX files."""
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(
            f"Fashion-MNIST not found at {FASHION_MNIST_DIR}; "
            "install it with `apt-get install dataset-fashion-mnist`"
        )
    return FASHION_MNIST_DIR
