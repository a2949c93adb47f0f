"""Fixtures of the transform tests: a few hundred real CIFAR-10 images."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor

# CI clones the repository next to shared/, as on the development machines.
CIFAR_ROOT = Path(__file__).resolve().parents[2].parent / "shared/data/cifar10"
IMAGES_PER_CLASS = 32


@pytest.fixture(scope="session")
def cifar_pil() -> list[Image.Image]:
    """The first 32 training images of each CIFAR-10 class, as RGB PIL images."""
    train = CIFAR_ROOT / "train"
    if not train.is_dir():
        pytest.skip(f"CIFAR-10 images not found under {train}")
    images = []
    for class_dir in sorted(path for path in train.iterdir() if path.is_dir()):
        for path in sorted(class_dir.glob("*.jpg"))[:IMAGES_PER_CLASS]:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
    if not images:
        pytest.skip(f"no CIFAR-10 JPEGs under {train}")
    return images


@pytest.fixture(scope="session")
def cifar_uint8(cifar_pil: list[Image.Image]) -> Tensor:
    """The same images as a `(N, 3, 32, 32)` uint8 batch."""
    arrays = np.stack([np.asarray(image) for image in cifar_pil])  # (N, H, W, C)
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous()


def _assert_pairwise_distinct(images: Tensor) -> None:
    """Every two samples of a batch differ somewhere by more than 1e-3."""
    flat = images.flatten(1)
    gaps = (flat.unsqueeze(0) - flat.unsqueeze(1)).abs().amax(dim=2)
    off_diagonal = ~torch.eye(len(flat), dtype=torch.bool)
    assert (gaps[off_diagonal] > 1e-3).all()


@pytest.fixture
def assert_pairwise_distinct() -> Callable[[Tensor], None]:
    """Check that no two samples of a batch are (nearly) equal."""
    return _assert_pairwise_distinct
