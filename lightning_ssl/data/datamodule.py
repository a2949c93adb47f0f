"""The generic self-supervised datamodule: multi-view training batches, eval loaders."""

import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from lightly.transforms.utils import IMAGENET_NORMALIZE
from lightning.pytorch import LightningDataModule
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2
from typing_extensions import override

from lightning_ssl.data.cache import default_cache_dir, load_or_decode
from lightning_ssl.data.collate import collate_images, collate_views
from lightning_ssl.data.datasets import (
    ImageFolderDataset,
    TransformDataset,
    dataset_classes,
    resize_and_crop,
    uint8_transform,
)
from lightning_ssl.data.decoded import DecodedImageDataset

AugmentOn = Literal["workers", "device"]
_AUGMENT_ON = ("workers", "device")

ViewTransform = Callable[[Image.Image], Sequence[Tensor] | Tensor]
"""Per-sample transform: a PIL image to its list of ``(C, H, W)`` views."""

BatchTransform = Callable[[Tensor], Sequence[Tensor]]
"""Batched transform: ``(B, C, H, W)`` uint8 images to a list of V view batches."""


def _default_num_workers() -> int:
    """``min(4, usable CPUs)``: enough to keep a GPU fed on small images."""
    if hasattr(os, "sched_getaffinity"):
        return min(4, len(os.sched_getaffinity(0)))
    return min(4, os.cpu_count() or 1)


def _check_int(name: str, value: Any, minimum: int = 1, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        allowed = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        allowed += " or None" if optional else ""
        raise ValueError(f"{name} must be {allowed}; got {value!r}.")


def _check_choice(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")


def default_eval_transform(
    image_size: int | None = None, channels: int = 3
) -> Callable[[Image.Image], Tensor]:
    """The transform of evaluation images: resize, center-crop and normalise.

    Images are resized (shorter side) and center-cropped to ``image_size`` when it
    is given, converted to float in ``[0, 1]`` and normalised with lightly's
    ``IMAGENET_NORMALIZE`` statistics (their channel mean for grayscale).

    Args:
        image_size: Side of the square output; None keeps the size of each image.
        channels: Channels of the input images, 3 or 1.

    Returns:
        A callable from a PIL image to a ``(C, H, W)`` float tensor.

    Example:
        >>> transform = default_eval_transform(image_size=16)
        >>> transform(Image.new("RGB", (40, 32))).shape
        torch.Size([3, 16, 16])
    """
    mean, std = IMAGENET_NORMALIZE["mean"], IMAGENET_NORMALIZE["std"]
    if channels == 1:
        mean, std = [sum(mean) / 3], [sum(std) / 3]
    return v2.Compose(
        [
            *resize_and_crop(image_size),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=mean, std=std),
            v2.ToPureTensor(),
        ]
    )


class SSLDataModule(LightningDataModule):
    """Multi-view batches for self-supervised training, labelled batches for eval.

    Training batches are ``(views, targets)``: ``views`` is a list of V
    ``(B, C, H, W)`` float tensors, one per augmented view (their resolutions may
    differ, as in multi-crop), and ``targets`` a ``(B,)`` long tensor of class ids,
    ``-1`` where the class is unknown. Augmentation runs in one of two places:

    - ``augment_on="workers"``: ``transform`` turns each PIL image into its list
      of views inside the loader workers.
    - ``augment_on="device"``: the training loader yields ``(images, targets)``
      where ``images`` is a ``(B, C, H, W)`` **uint8** tensor with values in
      ``[0, 255]``, neither augmented nor normalised (only resized and
      center-cropped to ``image_size`` when that is given). Once Lightning has moved
      the batch to the accelerator, :meth:`on_after_batch_transfer` calls
      ``batch_transform(images)`` to make the views there.

    When ``transform`` (or, on the device, ``batch_transform``) is None,
    :meth:`setup` asks the model being trained for its default through
    ``default_transform(image_size)`` (or ``default_batch_transform(image_size)``),
    methods of :class:`lightning_ssl.methods.SSLMethod`; ``image_size`` must then
    be set.

    With ``cache=True`` both splits are decoded once into `(N, C, H, W)` uint8
    arrays (:func:`~lightning_ssl.data.cache.load_or_decode`): image folders and
    torchvision's CIFAR and MNIST files into a file under ``cache_dir``, which
    later runs memory-map instead of decoding; other datasets in memory, every
    run. The device path then batches straight from that array, without PIL;
    per-sample transforms and the evaluation loaders read their PIL images from
    it too. Images must share a size, or ``image_size`` be set. Decoding happens
    in :meth:`prepare_data` (once per node under DDP) or at first use; it takes
    about as long as one epoch of loading the images.

    Note:
        The cache stores each image resized and center-cropped to
        ``image_size``, so training crops are drawn from that square only. That
        loses nothing for datasets stored at their training size (CIFAR,
        Fashion-MNIST), but for large photos (ImageNet-style random crops of
        the full image) keep ``cache=False``. The file takes ``N * C * H * W``
        bytes: 150 MB for the CIFAR-10 training set.

    :meth:`val_dataloader`, :meth:`eval_train_dataloader` and
    :meth:`eval_val_dataloader` yield labelled ``(images, targets)`` batches through
    ``eval_transform``, in dataset order, for validation, kNN and linear probes.

    Args:
        train_dataset: Training images: a dataset whose items are
            ``(image, target)`` or a bare image (PIL image, ``(C, H, W)`` tensor or
            ``(H, W, C)`` numpy array), or a folder of images, either in class
            subfolders or flat and unlabelled.
        val_dataset: Labelled evaluation images in the same forms; None for none.
        transform: Per-sample multi-view transform from a PIL image to a list of
            ``(C, H, W)`` tensors, e.g. lightly's ``SimCLRTransform``; None asks the
            model. Unused with ``augment_on="device"``.
        eval_transform: Transform of evaluation images from a PIL image to a
            ``(C, H, W)`` tensor; None uses :func:`default_eval_transform`.
        batch_size: Training batch size per device.
        eval_batch_size: Batch size of the evaluation loaders; None uses
            ``batch_size``.
        num_workers: Loader worker processes; None uses ``min(4, CPU count)``.
        image_size: Side of the square training and evaluation images, passed to
            the model's default transforms; None keeps the dataset's sizes, which
            must then agree for the evaluation and device loaders.
        channels: 3 converts grayscale images to RGB, so that 3-channel backbones
            work; 1 converts every image to grayscale.
        augment_on: ``"workers"`` or ``"device"``, see above.
        batch_transform: Batched transform from ``(B, C, H, W)`` uint8 images to a
            list of view batches, used with ``augment_on="device"``; None asks the
            model.
        drop_last: Drop the last incomplete training batch. It is kept anyway,
            with a warning, when the dataset is smaller than one batch.
        seed: Seed of the training shuffle; None uses torch's global generator,
            which ``lightning.seed_everything`` sets.
        num_classes: Number of classes; None infers it from a ``classes``
            attribute of the training dataset (or from the class folders).
        cache: Decode every image once and keep the pixels, see above.
        cache_dir: Folder of the decoded-image cache; None uses
            ``$XDG_CACHE_HOME/lightning_ssl`` (by default
            ``~/.cache/lightning_ssl``). Never a folder of the dataset itself.

    Raises:
        ValueError: If an argument is out of range, or ``train_dataset`` is None.
            With ``cache=True``, when the datasets are first built: if
            ``cache_dir`` is not writable (and holds no entry yet) or images
            differ in size while ``image_size`` is None.
        TypeError: If ``cache`` is not a bool.
        FileNotFoundError: If a dataset folder does not exist.

    Example:
        >>> from torchvision.datasets import FakeData
        >>> from torchvision.transforms import v2
        >>> flip = v2.Compose([v2.RandomHorizontalFlip(), default_eval_transform()])
        >>> datamodule = SSLDataModule(
        ...     train_dataset=FakeData(size=12, image_size=(3, 8, 8), num_classes=2),
        ...     transform=lambda image: [flip(image), flip(image)],
        ...     batch_size=4,
        ...     num_workers=0,
        ... )
        >>> views, targets = next(iter(datamodule.train_dataloader()))
        >>> len(views), views[0].shape, targets.dtype
        (2, torch.Size([4, 3, 8, 8]), torch.int64)
    """

    def __init__(
        self,
        train_dataset: Dataset[Any] | str | Path | None = None,
        val_dataset: Dataset[Any] | str | Path | None = None,
        *,
        transform: ViewTransform | None = None,
        eval_transform: Callable[[Image.Image], Tensor] | None = None,
        batch_size: int = 256,
        eval_batch_size: int | None = None,
        num_workers: int | None = None,
        image_size: int | None = None,
        channels: int = 3,
        augment_on: AugmentOn = "workers",
        batch_transform: BatchTransform | None = None,
        drop_last: bool = True,
        seed: int | None = None,
        num_classes: int | None = None,
        cache: bool = False,
        cache_dir: str | Path | None = None,
    ) -> None:
        super().__init__()
        _check_int("batch_size", batch_size)
        _check_int("eval_batch_size", eval_batch_size, optional=True)
        _check_int("num_workers", num_workers, minimum=0, optional=True)
        _check_int("image_size", image_size, optional=True)
        _check_int("seed", seed, minimum=0, optional=True)
        _check_int("num_classes", num_classes, optional=True)
        _check_choice("channels", channels, (1, 3))
        _check_choice("augment_on", augment_on, _AUGMENT_ON)
        if not isinstance(cache, bool):
            raise TypeError(f"cache must be True or False; got {cache!r}.")

        if train_dataset is None and not self._builds_datasets():
            raise ValueError(
                "train_dataset is required: pass a torch Dataset or an image "
                "folder; got None."
            )
        for name, source in (
            ("train_dataset", train_dataset),
            ("val_dataset", val_dataset),
        ):
            if isinstance(source, str | Path) and not Path(source).is_dir():
                raise FileNotFoundError(f"{name} folder {source} does not exist.")

        if augment_on == "device" and transform is not None:
            rank_zero_warn(
                "transform is ignored with augment_on='device': batch_transform "
                "makes the views on the device."
            )
        if augment_on == "workers" and batch_transform is not None:
            rank_zero_warn(
                "batch_transform is ignored with augment_on='workers': transform "
                "makes the views in the loader workers."
            )

        self.train_dataset = train_dataset
        self.val_dataset = val_dataset
        self.transform = transform
        self.batch_transform = batch_transform
        self.augment_on: AugmentOn = augment_on
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = (
            _default_num_workers() if num_workers is None else num_workers
        )
        self.image_size = image_size
        self.channels = channels
        self.eval_transform = eval_transform or default_eval_transform(
            image_size, channels
        )
        self.drop_last = drop_last
        self.seed = seed
        self.cache = cache
        self.cache_dir = (
            Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        )

        self._num_classes = num_classes
        self._class_names: list[str] | None = None
        self._datasets: tuple[Dataset[Any], Dataset[Any] | None] | None = None
        self._eval_datasets: dict[str, TransformDataset] = {}
        self._resolved_transform: Callable[..., Any] | None = None

    def _builds_datasets(self) -> bool:
        """Whether a subclass overrides :meth:`_load_datasets`."""
        return type(self)._load_datasets is not SSLDataModule._load_datasets

    def _load_datasets(self) -> tuple[Dataset[Any], Dataset[Any] | None]:
        """Build the raw training and validation datasets; subclasses override this.

        Called once, lazily, after :meth:`prepare_data`. Raw items are
        ``(image, target)`` or bare images, as described for ``train_dataset``.
        """
        assert self.train_dataset is not None  # checked in __init__
        train = self._as_dataset(self.train_dataset)
        if self.val_dataset is None:
            return train, None

        class_to_idx = getattr(train, "class_to_idx", None) or None
        return train, self._as_dataset(self.val_dataset, class_to_idx)

    @staticmethod
    def _as_dataset(
        source: Dataset[Any] | str | Path, class_to_idx: dict[str, int] | None = None
    ) -> Dataset[Any]:
        if isinstance(source, str | Path):
            return ImageFolderDataset(source, class_to_idx)
        return source

    @property
    def datasets(self) -> tuple[Dataset[Any], Dataset[Any] | None]:
        """The raw ``(train, val)`` datasets, built on first access.

        With ``cache=True`` they are :class:`~lightning_ssl.data.DecodedImageDataset`
        copies of what :meth:`_load_datasets` returns.
        """
        if self._datasets is None:
            train, val = self._load_datasets()
            if self.cache:
                train = self._decoded(train, "train")
                val = self._decoded(val, "val") if val is not None else None
            self._datasets = (train, val)
        return self._datasets

    def _decoded(self, dataset: Dataset[Any], split: str) -> DecodedImageDataset:
        if isinstance(dataset, DecodedImageDataset):
            return dataset
        start = time.perf_counter()
        decoded = load_or_decode(
            dataset,
            cache_dir=self.cache_dir,
            image_size=self.image_size,
            channels=self.channels,
            num_workers=self.num_workers,
        )
        where = f"memory-mapped from {decoded.path}" if decoded.path else "in memory"
        rank_zero_info(
            f"Decoded {split} images {tuple(decoded.images.shape)} uint8, {where} "
            f"({time.perf_counter() - start:.1f} s)."
        )
        return decoded

    @override
    def prepare_data(self) -> None:
        """With ``cache=True``, decode the datasets into the cache if needed.

        Lightning calls this on one process per node before :meth:`setup`, so
        only that process decodes; the others memory-map its files.
        """
        if self.cache:
            _ = self.datasets

    @property
    def class_names(self) -> list[str] | None:
        """Class names indexed by class id, or None when unknown."""
        if self._class_names is None:
            self._class_names = dataset_classes(self.datasets[0])
        return self._class_names

    @property
    def num_classes(self) -> int | None:
        """Number of classes, or None when unknown (e.g. unlabelled data)."""
        if self._num_classes is None and self.class_names:
            self._num_classes = len(self.class_names)
        return self._num_classes

    @override
    def setup(self, stage: str) -> None:
        """Build the datasets and, for ``stage="fit"``, the training transform.

        Raises:
            ValueError: If the training transform is None and the model being
                trained has no default for it.
        """
        _ = self.datasets
        if stage == "fit":
            # Ask again on every fit: the model may have changed since the last one.
            self._resolved_transform = None
            self._training_transform()

    def _training_transform(self) -> Callable[..., Any]:
        """The transform of the training path, given or asked from the model."""
        if self._resolved_transform is None:
            if self.augment_on == "workers":
                self._resolved_transform = self.transform
                method, argument = "default_transform", "transform"
            else:
                self._resolved_transform = self.batch_transform
                method, argument = "default_batch_transform", "batch_transform"
            if self._resolved_transform is None:
                self._resolved_transform = self._model_default(method, argument)
        return self._resolved_transform

    def _model_default(self, method: str, argument: str) -> Any:
        model = self.trainer.lightning_module if self.trainer is not None else None
        default = getattr(model, method, None)
        required = f"`{argument}` is required with augment_on={self.augment_on!r}"
        if not callable(default):
            source = (
                f"the model {type(model).__name__} has no `{method}` method"
                if model is not None
                else "no model is being trained to provide a default"
            )
            raise ValueError(
                f"{required}: {source}. Pass `{argument}=...` to the datamodule, or "
                f"train a model that defines `{method}(image_size)` (as "
                "lightning_ssl's SSLMethod does)."
            )
        if self.image_size is None:
            raise ValueError(
                f"{required} or `image_size` must be set: the model's "
                f"`{method}(image_size)` needs the training image size; got "
                "image_size=None."
            )

        try:
            transform = default(self.image_size)
        except NotImplementedError as error:
            raise ValueError(f"{required}: {error}") from error
        if not callable(transform):
            raise TypeError(
                f"{type(model).__name__}.{method}({self.image_size}) must return a "
                f"callable; got {type(transform).__name__}."
            )
        return transform

    @property
    def eval_train_dataset(self) -> TransformDataset:
        """Training images as ``(image, target)`` through ``eval_transform``.

        Its ``targets`` attribute gives the ``(N,)`` class ids without decoding
        images, to pick (e.g. class-balanced) subsets with
        :class:`~torch.utils.data.Subset`.
        """
        return self._eval_dataset("train")

    @property
    def eval_val_dataset(self) -> TransformDataset | None:
        """Validation images as ``(image, target)`` through ``eval_transform``.

        None when there is no validation split.
        """
        return self._eval_dataset("val") if self.datasets[1] is not None else None

    def _eval_dataset(self, split: str) -> TransformDataset:
        if split not in self._eval_datasets:
            raw = self.datasets[0] if split == "train" else self.datasets[1]
            assert raw is not None  # callers check
            self._eval_datasets[split] = TransformDataset(
                raw, self.eval_transform, self.channels
            )
        return self._eval_datasets[split]

    @override
    def train_dataloader(self) -> DataLoader[Any]:
        """Shuffled training batches, ``(views, targets)``.

        With ``augment_on="device"`` the loader yields ``(images, targets)`` with
        uint8 images, which :meth:`on_after_batch_transfer` turns into views.

        Raises:
            ValueError: If the training transform is missing (see :meth:`setup`).
        """
        train = self.datasets[0]
        dataset: Dataset[Any]
        if self.augment_on == "workers":
            transform = self._training_transform()
            dataset = TransformDataset(train, transform, self.channels)
            collate: Callable[..., Any] = collate_views
        elif isinstance(train, DecodedImageDataset):
            self._training_transform()
            dataset, collate = _GatheredBatches(train), _gathered_batch
        else:
            self._training_transform()
            transform = uint8_transform(self.image_size)
            dataset = TransformDataset(train, transform, self.channels)
            collate = collate_images

        drop_last = self.drop_last
        size = len(train)  # type: ignore[arg-type]
        world_size = self.trainer.world_size if self.trainer is not None else 1
        if drop_last and math.ceil(size / world_size) < self.batch_size:
            rank_zero_warn(
                f"The training set has {size} images, fewer than one batch "
                f"of batch_size={self.batch_size} on each of {world_size} device(s); "
                "drop_last is disabled so that each epoch trains on one smaller "
                "batch instead of none. Lower batch_size to silence this warning."
            )
            drop_last = False

        generator = None
        if self.seed is not None:
            generator = torch.Generator().manual_seed(self.seed)
        return self._loader(
            dataset,
            self.batch_size,
            collate,
            shuffle=True,
            drop_last=drop_last,
            generator=generator,
        )

    @override
    def val_dataloader(self) -> DataLoader[Any] | list[DataLoader[Any]]:
        """Labelled validation batches ``(images, targets)`` in dataset order.

        Returns:
            The loader, or an empty list when there is no validation split.
        """
        if self.eval_val_dataset is None:
            return []
        return self.eval_val_dataloader()

    def eval_train_dataloader(self) -> DataLoader[Any]:
        """Labelled training batches ``(images, targets)``, unshuffled, all kept.

        Example:
            >>> from torchvision.datasets import FakeData
            >>> datamodule = SSLDataModule(
            ...     FakeData(size=10, image_size=(3, 8, 8)), eval_batch_size=4,
            ...     num_workers=0,
            ... )
            >>> [len(targets) for _, targets in datamodule.eval_train_dataloader()]
            [4, 4, 2]
        """
        return self._eval_loader(self.eval_train_dataset)

    def eval_val_dataloader(self) -> DataLoader[Any]:
        """Labelled validation batches ``(images, targets)``, unshuffled, all kept.

        Raises:
            ValueError: If there is no validation split.
        """
        dataset = self.eval_val_dataset
        if dataset is None:
            raise ValueError(
                f"{type(self).__name__} has no validation split; pass val_dataset."
            )
        return self._eval_loader(dataset)

    def _eval_loader(self, dataset: Dataset[Any]) -> DataLoader[Any]:
        return self._loader(
            dataset,
            self.eval_batch_size,
            collate_images,
            shuffle=False,
            drop_last=False,
        )

    def _loader(
        self,
        dataset: Dataset[Any],
        batch_size: int,
        collate: Callable[..., Any],
        *,
        shuffle: bool,
        drop_last: bool,
        generator: torch.Generator | None = None,
    ) -> DataLoader[Any]:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            generator=generator,
        )

    @override
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """With ``augment_on="device"``, turn training images into views.

        Applies ``batch_transform`` to the ``(B, C, H, W)`` uint8 images of a
        training batch, on the device the batch is on, and returns
        ``(views, targets)``. Batches of the evaluation loops, and every batch with
        ``augment_on="workers"``, pass unchanged. Without a trainer, batches are
        treated as training batches.
        """
        training = self.trainer is None or self.trainer.training
        if self.augment_on != "device" or not training:
            return batch

        images, targets = batch
        batch_transform = self._training_transform()
        if isinstance(batch_transform, nn.Module):
            batch_transform.to(images.device)
        return list(batch_transform(images)), targets


class _GatheredBatches(Dataset[tuple[Tensor, Tensor]]):
    """Decoded images that a loader fetches one batch per indexing operation.

    ``DataLoader`` calls ``__getitems__`` with a batch's indices when a dataset
    has it; the batch comes back already stacked, for :func:`_gathered_batch`.
    """

    def __init__(self, decoded: DecodedImageDataset) -> None:
        self.decoded = decoded

    def __len__(self) -> int:
        return len(self.decoded)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        image, target = self.decoded[index]
        return image, torch.tensor(target)

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, Tensor]:
        return self.decoded.gather(indices)


def _gathered_batch(batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
    """Collate of :class:`_GatheredBatches`: its batches are stacked already."""
    return batch
