"""Datamodule on the Fashion-MNIST sample embedded in the package.

The sample holds the first 1,000 training and 200 test images of each class of
Fashion-MNIST, by Zalando Research (https://github.com/zalandoresearch/fashion-mnist),
MIT license; see :mod:`lightning_ssl.data.sample`.
"""

from pathlib import Path
from typing import Any

from torch.utils.data import Dataset
from typing_extensions import override

from lightning_ssl.data.datamodule import SSLDataModule
from lightning_ssl.data.datasets import ArrayImageDataset
from lightning_ssl.data.sample import SAMPLE_PATH, load_fashion_mnist_sample


class FashionMNISTSampleDataModule(SSLDataModule):
    """Self-supervised training on the embedded 12,000-image Fashion-MNIST sample.

    Needs no download and no root: 10,000 class-balanced training images and 2,000
    validation images (28x28 grayscale, converted to RGB unless ``channels=1``) ship
    inside the package. Meant for examples, tests and quick runs; accuracy numbers
    are lower than on the full 60,000 images.

    Args:
        image_size: Side of the square training and evaluation images.
        **kwargs: Further arguments of :class:`SSLDataModule`, such as
            ``transform``, ``batch_size`` or ``channels``.

    Example:
        >>> datamodule = FashionMNISTSampleDataModule(num_workers=0)
        >>> datamodule.num_classes, datamodule.image_size, datamodule.class_names[9]
        (10, 28, 'Ankle boot')
        >>> len(datamodule.eval_train_dataset), len(datamodule.eval_val_dataset)
        (10000, 2000)
        >>> images, targets = next(iter(datamodule.eval_val_dataloader()))
        >>> images.shape
        torch.Size([256, 3, 28, 28])
    """

    sample_path: Path = SAMPLE_PATH
    """The ``.npz`` file read; see :mod:`lightning_ssl.data.sample`."""

    def __init__(self, *, image_size: int | None = 28, **kwargs: Any) -> None:
        super().__init__(
            train_dataset=None,
            val_dataset=None,
            image_size=image_size,
            num_classes=10,
            **kwargs,
        )

    @override
    def _load_datasets(self) -> tuple[Dataset[Any], Dataset[Any] | None]:
        sample = load_fashion_mnist_sample(self.sample_path)
        return (
            ArrayImageDataset(
                sample.train_images, sample.train_targets, sample.class_names
            ),
            ArrayImageDataset(
                sample.test_images, sample.test_targets, sample.class_names
            ),
        )
