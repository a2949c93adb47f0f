"""Datasets behind the datamodules: image folders, in-memory arrays, transforms."""

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset, Subset
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms import v2
from torchvision.transforms.functional import to_pil_image

UNKNOWN_TARGET = -1
"""Target of a sample whose class is unknown."""


def _is_image_file(name: str) -> bool:
    return name.lower().endswith(IMG_EXTENSIONS)


def _images_below(folder: Path) -> list[str]:
    """Sorted paths of the image files in ``folder`` and its subfolders."""
    paths: list[str] = []
    for parent, _, files in os.walk(folder, followlinks=True):
        paths.extend(
            os.path.join(parent, name) for name in files if _is_image_file(name)
        )
    return sorted(paths)


class ImageFolderDataset(Dataset[tuple[Image.Image, int]]):
    """Images on disk, labelled by class subfolder, or unlabelled in a flat folder.

    With class subfolders (``root/<class>/**/<image>``) classes are the sorted
    subfolder names. Without any, the images directly in ``root`` are used and every
    target is ``-1``. Images are decoded on access and returned as stored (any PIL
    mode); the datamodules convert them to the wanted number of channels.

    Args:
        root: The folder.
        class_to_idx: Class ids to use instead of numbering the subfolders, e.g. the
            training split's, so that a validation split agrees with it.

    Raises:
        FileNotFoundError: If ``root`` is not a directory.
        ValueError: If ``root`` holds no image, or a class that ``class_to_idx``
            does not know.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> for name in ("cat", "dog"):
        ...     (root / name).mkdir()
        ...     Image.new("RGB", (8, 8)).save(root / name / "0.png")
        >>> dataset = ImageFolderDataset(root)
        >>> dataset.classes, dataset.targets, len(dataset)
        (['cat', 'dog'], [0, 1], 2)
        >>> image, target = dataset[1]
        >>> image.size, target
        ((8, 8), 1)
    """

    def __init__(self, root: str | Path, class_to_idx: dict[str, int] | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"Image folder {self.root} does not exist.")

        # Hidden folders such as .ipynb_checkpoints are not classes.
        class_dirs = sorted(
            entry
            for entry in self.root.iterdir()
            if entry.is_dir() and not entry.name.startswith(".")
        )
        self.classes: list[str] = []
        self.class_to_idx: dict[str, int] = {}
        self.samples: list[tuple[str, int]] = []
        if class_dirs:
            self._scan_classes(class_dirs, class_to_idx)
        else:
            self.samples = [
                (str(path), UNKNOWN_TARGET)
                for path in sorted(self.root.iterdir())
                if path.is_file() and _is_image_file(path.name)
            ]

        if not self.samples:
            raise ValueError(
                f"Image folder {self.root} holds no image: expected files ending in "
                f"{', '.join(IMG_EXTENSIONS)} either in class subfolders "
                "(root/<class>/<image>) or directly in the folder (unlabelled)."
            )
        self.targets = [target for _, target in self.samples]

    def _scan_classes(
        self, class_dirs: list[Path], class_to_idx: dict[str, int] | None
    ) -> None:
        names = [entry.name for entry in class_dirs]
        if class_to_idx is None:
            class_to_idx = {name: index for index, name in enumerate(names)}
        unknown = sorted(set(names) - set(class_to_idx))
        if unknown:
            raise ValueError(
                f"Image folder {self.root} has classes {unknown} that the training "
                f"split lacks; known classes: {sorted(class_to_idx)}."
            )

        self.classes = sorted(class_to_idx, key=class_to_idx.__getitem__)
        self.class_to_idx = dict(class_to_idx)
        for entry in class_dirs:
            target = class_to_idx[entry.name]
            self.samples.extend((path, target) for path in _images_below(entry))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        path, target = self.samples[index]
        with Image.open(path) as image:
            image.load()
        return image, target


class ArrayImageDataset(Dataset[tuple[Image.Image, int]]):
    """Images held in memory as a uint8 array, returned as PIL images.

    Args:
        images: ``(N, H, W)`` grayscale or ``(N, H, W, C)`` RGB uint8 images.
        targets: ``(N,)`` class ids.
        classes: Class names, indexed by class id.

    Raises:
        ValueError: If the arrays do not fit together.

    Example:
        >>> images = np.zeros((4, 28, 28), dtype=np.uint8)
        >>> dataset = ArrayImageDataset(images, np.array([0, 1, 1, 0]))
        >>> image, target = dataset[2]
        >>> image.mode, image.size, target
        ('L', (28, 28), 1)
    """

    def __init__(
        self,
        images: np.ndarray,
        targets: np.ndarray,
        classes: Sequence[str] | None = None,
    ):
        if images.dtype != np.uint8 or images.ndim not in (3, 4):
            raise ValueError(
                "images must be a uint8 array of shape (N, H, W) or (N, H, W, C); "
                f"got {images.dtype} of shape {images.shape}."
            )
        if targets.shape != (len(images),):
            raise ValueError(
                f"targets must have shape ({len(images)},) to match images; "
                f"got {targets.shape}."
            )
        self.images = images
        self.targets = [int(target) for target in targets]
        self.classes = list(classes) if classes is not None else []

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        return Image.fromarray(self.images[index]), self.targets[index]


def to_pil(image: Any, channels: int) -> Image.Image:
    """Convert an image to a PIL image with ``channels`` channels.

    Args:
        image: A PIL image, a ``(C, H, W)`` or ``(H, W)`` tensor (uint8, or float
            in ``[0, 1]``), or an ``(H, W, C)`` or ``(H, W)`` numpy array.
        channels: 3 for RGB (grayscale is replicated), 1 for grayscale.

    Returns:
        The image in mode ``"RGB"`` or ``"L"``.

    Raises:
        TypeError: If ``image`` is of another type.

    Example:
        >>> to_pil(torch.zeros(1, 4, 4), channels=3).mode
        'RGB'
    """
    if isinstance(image, Tensor | np.ndarray):
        image = to_pil_image(image)
    if not isinstance(image, Image.Image):
        raise TypeError(
            "datasets must return PIL images, tensors or numpy arrays (alone or "
            f"as (image, target)); got {type(image).__name__}."
        )
    mode = "RGB" if channels == 3 else "L"
    return image if image.mode == mode else image.convert(mode)


def resize_and_crop(image_size: int | None) -> list[v2.Transform]:
    """Resize the shorter side to ``image_size`` and center-crop a square of it.

    Args:
        image_size: Side of the square output; None for no resizing (empty list).

    Returns:
        The torchvision transforms to apply first.
    """
    if image_size is None:
        return []
    return [v2.Resize(image_size), v2.CenterCrop(image_size)]


def uint8_transform(image_size: int | None) -> Callable[[Image.Image], Tensor]:
    """PIL image to a ``(C, H, W)`` uint8 tensor, resized as `resize_and_crop` does.

    The images of the device augmentation path, and those stored by the
    decoded-image cache, go through this one transform, so both hold the same
    pixels.

    Example:
        >>> uint8_transform(8)(Image.new("RGB", (16, 12))).shape
        torch.Size([3, 8, 8])
    """
    return _UInt8Transform(image_size)


class _UInt8Transform:
    """See `uint8_transform`; images already at the size skip the resizing.

    Resizing to the same size and center-cropping the whole image leave the
    pixels as they are, but torchvision's transforms cost as much per image as
    decoding a CIFAR-10 JPEG, so they are skipped when there is nothing to do.
    """

    def __init__(self, image_size: int | None) -> None:
        self.image_size = image_size
        self.resize = v2.Compose([*resize_and_crop(image_size), v2.PILToTensor()])

    def __call__(self, image: Image.Image) -> Tensor:
        size = self.image_size
        if size is not None and image.size != (size, size):
            return self.resize(image)
        pixels = torch.from_numpy(np.array(image))  # (H, W, C), or (H, W) if gray
        return pixels.permute(2, 0, 1) if pixels.ndim == 3 else pixels[None]


def split_item(item: Any) -> tuple[Any, int]:
    """Split a dataset item into its image and target (``-1`` when unknown).

    Example:
        >>> split_item(("image", 3)), split_item("image"), split_item(("image", None))
        (('image', 3), ('image', -1), ('image', -1))
    """
    if isinstance(item, tuple | list) and len(item) == 2:
        image, target = item
        return image, UNKNOWN_TARGET if target is None else int(target)
    return item, UNKNOWN_TARGET


def dataset_targets(dataset: Dataset[Any]) -> Tensor:
    """Targets of a dataset as a ``(N,)`` long tensor, ``-1`` where unknown.

    Reads a ``targets`` attribute when the dataset (or the dataset under a
    :class:`~torch.utils.data.Subset`) has one, which is cheap; otherwise loads
    every item, which decodes every image.

    Example:
        >>> images = np.zeros((2, 4, 4), np.uint8)
        >>> dataset_targets(ArrayImageDataset(images, np.ones(2)))
        tensor([1, 1])
    """
    if isinstance(dataset, Subset):
        parent = dataset_targets(dataset.dataset)
        return parent[torch.as_tensor(list(dataset.indices), dtype=torch.long)]

    targets = getattr(dataset, "targets", None)
    size = len(dataset)  # type: ignore[arg-type]
    if targets is not None and len(targets) == size:
        return torch.as_tensor(np.asarray(targets), dtype=torch.long).reshape(size)
    return torch.tensor([split_item(dataset[i])[1] for i in range(size)])


def dataset_classes(dataset: Dataset[Any]) -> list[str] | None:
    """Class names from a dataset's ``classes`` attribute, if it has a non-empty one.

    Example:
        >>> dataset_classes(ArrayImageDataset(np.zeros((1, 4, 4), np.uint8),
        ...                                   np.zeros(1), classes=["a", "b"]))
        ['a', 'b']
    """
    if isinstance(dataset, Subset):
        return dataset_classes(dataset.dataset)
    classes = getattr(dataset, "classes", None)
    return [str(name) for name in classes] if classes else None


class TransformDataset(Dataset[tuple[Any, int]]):
    """Wrap a dataset so that it returns ``(transform(image), target)``.

    Items of the wrapped dataset may be ``(image, target)`` or a bare image (its
    target is then ``-1``); images may be PIL images, tensors or numpy arrays. They
    are converted to PIL images with ``channels`` channels before ``transform``.

    Args:
        dataset: The dataset to wrap.
        transform: Applied to each PIL image; returns a tensor or a list of views.
        channels: 3 (grayscale images are converted to RGB) or 1.

    Example:
        >>> from torchvision.transforms import v2
        >>> raw = ArrayImageDataset(np.zeros((3, 8, 8), np.uint8), np.arange(3))
        >>> to_tensor = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32)])
        >>> dataset = TransformDataset(raw, to_tensor, channels=3)
        >>> image, target = dataset[2]
        >>> image.shape, target
        (torch.Size([3, 8, 8]), 2)
        >>> dataset.targets
        tensor([0, 1, 2])
    """

    def __init__(
        self,
        dataset: Dataset[Any],
        transform: Callable[[Image.Image], Any],
        channels: int = 3,
    ):
        self.dataset = dataset
        self.transform = transform
        self.channels = channels
        self._targets: Tensor | None = None

    @property
    def targets(self) -> Tensor:
        """``(N,)`` long class ids, ``-1`` where unknown (see `dataset_targets`)."""
        if self._targets is None:
            self._targets = dataset_targets(self.dataset)
        return self._targets

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, target = split_item(self.dataset[index])
        return self.transform(to_pil(image, self.channels)), target
