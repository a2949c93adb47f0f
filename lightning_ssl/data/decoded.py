"""Datasets decoded once into one `(N, C, H, W)` uint8 tensor."""

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision.datasets import CIFAR10, CIFAR100, KMNIST, MNIST, FashionMNIST

from lightning_ssl.data.datasets import (
    ArrayImageDataset,
    TransformDataset,
    dataset_classes,
    dataset_targets,
    uint8_transform,
)
from lightning_ssl.validation import check_choice

logger = logging.getLogger(__name__)

Shape = tuple[int, int, int, int]
Allocate = Callable[[Shape], np.ndarray]
"""Returns a writable `(N, C, H, W)` uint8 array to decode into (e.g. a memmap)."""

# Images per loader batch while decoding, and per copy on the array fast path.
_CHUNK = 512

# torchvision datasets whose `data` array is exactly what `__getitem__` turns into
# a PIL image; subclasses with other layouts (EMNIST, QMNIST) are not included.
_ARRAY_DATASETS = (CIFAR10, CIFAR100, MNIST, FashionMNIST, KMNIST)


def open_images(path: str | Path) -> Tensor:
    """Memory-map a `(N, C, H, W)` uint8 ``.npy`` file as a tensor, without reading it.

    The mapping is copy-on-write: the tensor is writable, but writes stay in this
    process and never reach the file.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "images.npy"
        >>> np.save(path, np.zeros((2, 3, 4, 4), np.uint8))
        >>> open_images(path).shape
        torch.Size([2, 3, 4, 4])
    """
    return torch.from_numpy(np.load(path, mmap_mode="c"))


class DecodedImageDataset(Dataset[tuple[Tensor, int]]):
    """Images decoded once, held as one `(N, C, H, W)` uint8 tensor with targets.

    Items are ``(image, target)`` with ``image`` a `(C, H, W)` uint8 tensor, which
    the datamodules' per-sample transforms turn into a PIL image like any other
    tensor. :meth:`gather` returns a whole batch with one indexing operation,
    which the device augmentation path uses instead of loading item by item.
    Built by :func:`decode_images` (in memory) or by
    :func:`~lightning_ssl.data.cache.load_or_decode` (memory-mapped from a cache
    file).

    Args:
        images: `(N, C, H, W)` uint8 images.
        targets: `(N,)` class ids, ``-1`` where unknown.
        classes: Class names indexed by class id; None when unknown.
        path: The ``.npy`` file ``images`` is memory-mapped from, or None when
            they live in memory. A dataset with a path is pickled (e.g. for
            spawned loader workers) as that path rather than as its pixels.

    Raises:
        ValueError: If ``images`` is not a 4-d uint8 tensor or ``targets`` does not
            match it.

    Example:
        >>> images = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
        >>> targets = torch.tensor([0, 1, 1, 0])
        >>> dataset = DecodedImageDataset(images, targets, classes=["a", "b"])
        >>> image, target = dataset[1]
        >>> image.shape, target
        (torch.Size([3, 8, 8]), 1)
        >>> batch, targets = dataset.gather([3, 0])
        >>> batch.shape, targets
        (torch.Size([2, 3, 8, 8]), tensor([0, 0]))
    """

    def __init__(
        self,
        images: Tensor,
        targets: Tensor,
        classes: Sequence[str] | None = None,
        path: str | Path | None = None,
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                "`images` must be a (N, C, H, W) uint8 tensor, got "
                f"{images.dtype} of shape {tuple(images.shape)}."
            )
        if targets.shape != (len(images),):
            raise ValueError(
                f"`targets` must have shape ({len(images)},) to match `images`, got "
                f"{tuple(targets.shape)}."
            )
        self.images = images
        self.targets = targets.long()
        self.classes = list(classes or [])
        self.class_to_idx = {name: index for index, name in enumerate(self.classes)}
        self.path = Path(path) if path is not None else None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        return self.images[index], int(self.targets[index])

    def gather(self, indices: Sequence[int]) -> tuple[Tensor, Tensor]:
        """The `(B, C, H, W)` images and `(B,)` targets at ``indices``, in order."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.images[index], self.targets[index]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self.path is not None:
            del state["images"]  # reopened from the file, see __setstate__
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "images" not in state:
            self.images = open_images(state["path"])


def decode_images(
    dataset: Dataset[Any],
    *,
    image_size: int | None = None,
    channels: int = 3,
    num_workers: int = 0,
) -> DecodedImageDataset:
    """Decode every image of a dataset into memory, as one uint8 tensor.

    Images go through the same conversion as the datamodules' device path: to a
    PIL image with ``channels`` channels, then, with ``image_size``, a resize of
    the shorter side and a center crop. Datasets that already hold their images
    as a uint8 array (torchvision's CIFAR and MNIST families,
    :class:`~lightning_ssl.data.ArrayImageDataset`) are copied without PIL when
    that gives the same pixels. For a cache on disk use
    :func:`~lightning_ssl.data.cache.load_or_decode`.

    Args:
        dataset: Items ``(image, target)`` or bare images, as the datamodules take.
        image_size: Side of the square images; None keeps the stored size, which
            must then be the same for every image.
        channels: 3 (grayscale is replicated) or 1.
        num_workers: Loader worker processes that decode; 0 decodes here.

    Returns:
        The decoded dataset, with the source's targets and class names.

    Raises:
        ValueError: If the dataset is empty, or its images differ in size while
            ``image_size`` is None.

    Example:
        >>> from lightning_ssl.data import load_fashion_mnist_sample
        >>> sample = load_fashion_mnist_sample()
        >>> source = ArrayImageDataset(sample.test_images, sample.test_targets)
        >>> decoded = decode_images(source, channels=3)
        >>> decoded.images.shape, decoded.images.dtype
        (torch.Size([2000, 3, 28, 28]), torch.uint8)
    """
    array, targets = decode_into(
        dataset,
        lambda shape: np.empty(shape, dtype=np.uint8),
        image_size=image_size,
        channels=channels,
        num_workers=num_workers,
    )
    return DecodedImageDataset(
        torch.from_numpy(array), targets, dataset_classes(dataset)
    )


def decode_into(
    dataset: Dataset[Any],
    allocate: Allocate,
    *,
    image_size: int | None,
    channels: int,
    num_workers: int,
) -> tuple[np.ndarray, Tensor]:
    """Decode a dataset into the array that ``allocate(shape)`` returns.

    The decoding of :func:`decode_images`, for callers that choose where the
    pixels go (the disk cache allocates a memory-mapped file).

    Returns:
        The filled `(N, C, H, W)` array and the `(N,)` long targets.

    Raises:
        ValueError: As :func:`decode_images`.
    """
    check_choice("channels", channels, (1, 3))
    size = len(dataset)  # type: ignore[arg-type]
    if size == 0:
        raise ValueError("Cannot decode an empty dataset: it has no image.")

    raw = _raw_array(dataset)
    if raw is not None and _copies_exactly(raw, image_size, channels):
        output = allocate(_output_shape(raw, channels))
        for start in range(0, size, _CHUNK):
            output[start : start + _CHUNK] = _to_nchw(
                raw[start : start + _CHUNK], channels
            )
        return output, dataset_targets(dataset)

    return _decode_with_pil(dataset, allocate, image_size, channels, num_workers)


def _decode_with_pil(
    dataset: Dataset[Any],
    allocate: Allocate,
    image_size: int | None,
    channels: int,
    num_workers: int,
) -> tuple[np.ndarray, Tensor]:
    images = TransformDataset(dataset, uint8_transform(image_size), channels)
    first = images[0][0]
    _, height, width = first.shape
    output = allocate((len(images), channels, height, width))
    targets = torch.empty(len(images), dtype=torch.long)

    loader = DataLoader(
        images, batch_size=_CHUNK, num_workers=num_workers, collate_fn=_stack
    )
    start = 0
    for batch, batch_targets in loader:
        if isinstance(batch, list) or batch.shape[1:] != first.shape:
            shapes = [image.shape for image in batch]
            offset = next(i for i, shape in enumerate(shapes) if shape != first.shape)
            raise ValueError(
                "Cannot decode images of different sizes into one array: image 0 "
                f"has shape {tuple(first.shape)} but image {start + offset} has "
                f"{tuple(shapes[offset])}. Set `image_size` so that images are "
                "resized and center-cropped to a common size."
            )
        output[start : start + len(batch)] = batch.numpy()
        targets[start : start + len(batch)] = batch_targets
        start += len(batch)
    return output, targets


def _stack(batch: list[tuple[Tensor, int]]) -> tuple[Tensor | list[Tensor], Tensor]:
    """Collate images into one tensor, or keep them apart if their sizes differ.

    One tensor per batch is cheap to send from a loader worker; the list lets
    the caller name the odd image in its error.
    """
    images = [image for image, _ in batch]
    targets = torch.tensor([target for _, target in batch], dtype=torch.long)
    if any(image.shape != images[0].shape for image in images):
        return images, targets
    return torch.stack(images), targets


def _raw_array(dataset: Dataset[Any]) -> np.ndarray | None:
    """The uint8 array behind a dataset whose items are PIL images of its rows."""
    if isinstance(dataset, ArrayImageDataset):
        return dataset.images
    if type(dataset) in _ARRAY_DATASETS:
        if getattr(dataset, "transform", None) or getattr(
            dataset, "target_transform", None
        ):
            return None
        data = dataset.data  # type: ignore[attr-defined]
        return data.numpy() if isinstance(data, Tensor) else np.asarray(data)
    return None


def _copies_exactly(raw: np.ndarray, image_size: int | None, channels: int) -> bool:
    """Whether copying ``raw`` gives the pixels the PIL path would.

    True for grayscale `(N, H, W)` rows (PIL replicates gray into RGB) and RGB
    `(N, H, W, 3)` rows kept in RGB, already at ``image_size``. Converting RGB to
    gray uses PIL's rounding of the luma weights, so it takes the PIL path.
    """
    if raw.dtype != np.uint8:
        return False
    gray = raw.ndim == 3
    rgb = raw.ndim == 4 and raw.shape[-1] == 3 and channels == 3
    height, width = raw.shape[1:3]
    sized = image_size is None or height == width == image_size
    return (gray or rgb) and sized


def _output_shape(raw: np.ndarray, channels: int) -> Shape:
    return (raw.shape[0], channels, raw.shape[1], raw.shape[2])


def _to_nchw(rows: np.ndarray, channels: int) -> np.ndarray:
    if rows.ndim == 3:  # grayscale (n, H, W)
        return np.repeat(rows[:, None], channels, axis=1)
    return rows.transpose(0, 3, 1, 2)  # (n, H, W, 3) -> (n, 3, H, W)
