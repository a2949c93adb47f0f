"""A small Fashion-MNIST sample that ships inside the package.

The file ``fashion_mnist_sample.npz`` holds the first 1,000 training and the first
200 test images of each of the 10 Fashion-MNIST classes, in file order (10,000 and
2,000 images of 28x28 grayscale pixels), so that examples, tests and the default
CLI job run without a download. Rebuild it with::

    python -m lightning_ssl.data.sample.build --source /usr/share/datasets/fashion-mnist

Fashion-MNIST is by Zalando Research (Han Xiao, Kashif Rasul and Roland Vollgraf,
"Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning
Algorithms", 2017, https://github.com/zalandoresearch/fashion-mnist) and is
distributed under the MIT license, Copyright (c) 2017 Zalando SE.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_PATH = Path(__file__).with_name("fashion_mnist_sample.npz")
"""Location of the embedded sample."""

_ARRAYS = ("train_images", "train_targets", "test_images", "test_targets")


@dataclass(frozen=True)
class FashionMNISTSample:
    """The arrays of the embedded Fashion-MNIST sample.

    Attributes:
        train_images: ``(N, 28, 28)`` uint8 training images.
        train_targets: ``(N,)`` uint8 class ids of the training images.
        test_images: ``(M, 28, 28)`` uint8 test images.
        test_targets: ``(M,)`` uint8 class ids of the test images.
        class_names: Class names, indexed by class id.
    """

    train_images: np.ndarray
    train_targets: np.ndarray
    test_images: np.ndarray
    test_targets: np.ndarray
    class_names: tuple[str, ...]


def load_fashion_mnist_sample(path: str | Path = SAMPLE_PATH) -> FashionMNISTSample:
    """Load the embedded Fashion-MNIST sample (or a file built the same way).

    Args:
        path: The ``.npz`` file; the one shipped with the package by default.

    Returns:
        The sample's arrays and class names.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file lacks one of the expected arrays.

    Example:
        >>> sample = load_fashion_mnist_sample()
        >>> sample.train_images.shape, sample.train_images.dtype
        ((10000, 28, 28), dtype('uint8'))
        >>> sample.test_images.shape
        (2000, 28, 28)
        >>> sample.class_names[0]
        'T-shirt/top'
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Fashion-MNIST sample {path} does not exist; build it with "
            "`python -m lightning_ssl.data.sample.build --source DIR`."
        )

    with np.load(path) as archive:
        missing = [name for name in (*_ARRAYS, "class_names") if name not in archive]
        if missing:
            raise ValueError(f"Fashion-MNIST sample {path} lacks arrays {missing}.")
        arrays = {name: archive[name] for name in _ARRAYS}
        class_names = tuple(str(name) for name in archive["class_names"])
    return FashionMNISTSample(**arrays, class_names=class_names)


__all__ = ["SAMPLE_PATH", "FashionMNISTSample", "load_fashion_mnist_sample"]
