"""A disk cache of decoded datasets, keyed by their source files, memory-mapped.

Decoding 50,000 CIFAR-10 JPEGs costs seconds to tens of seconds on a few CPU
cores, every run. :func:`load_or_decode` does it once: the images go into a
`(N, C, H, W)` uint8 ``.npy`` file under the cache folder, and later runs
memory-map that file instead of decoding. An entry is named by what the dataset
is (its kind, resolved root and split, ``image_size`` and ``channels``) and
holds a fingerprint of its source files (count, total size, newest modification
time, and digests of the item list and of every file's size and time), so a
changed source is decoded again.
Entries are written under temporary names and renamed when complete, so
concurrent processes never read a partial one. Nothing is written next to the
source files.

Layout of ``cache_dir``::

    decoded/<label>-<key>.json          metadata, fingerprint and targets
    decoded/<label>-<key>-<content>.npy the images, `(N, C, H, W)` uint8
"""

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.lib.format import open_memmap
from torch.utils.data import Dataset
from torchvision.datasets import CIFAR10, KMNIST, MNIST, FashionMNIST

from lightning_ssl.data.datasets import ImageFolderDataset, dataset_classes
from lightning_ssl.data.decoded import (
    DecodedImageDataset,
    Shape,
    decode_images,
    decode_into,
    open_images,
)

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Bumped whenever the decoding or the file layout changes, which orphans entries."""

_MNIST_DATASETS = (MNIST, FashionMNIST, KMNIST)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/lightning_ssl``, or ``~/.cache/lightning_ssl`` without it.

    Example:
        >>> default_cache_dir().name
        'lightning_ssl'
    """
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "lightning_ssl"


@dataclass(frozen=True)
class DatasetSource:
    """What a dataset reads: names its cache entry and tells when it is stale.

    Attributes:
        identity: JSON-compatible description of the dataset (kind, resolved
            root, split) that names the cache entry.
        files: Every file the dataset reads images or targets from.
        listing: Digest of the item list (relative paths and targets, or file
            names), so that renamed or relabelled files change the fingerprint
            even when sizes and times do not.
    """

    identity: dict[str, Any]
    files: tuple[str, ...]
    listing: str

    def fingerprint(self) -> dict[str, Any]:
        """File count, total size, newest modification time and two digests.

        The digests cover the listing and every file's size and modification
        time, so that a file restored with an older time also counts as a change.

        Raises:
            FileNotFoundError: If a source file has disappeared.
        """
        stats = [os.stat(path) for path in self.files]
        lines = (f"{stat.st_size} {stat.st_mtime_ns}" for stat in stats)
        return {
            "num_files": len(stats),
            "total_bytes": sum(stat.st_size for stat in stats),
            "newest_mtime_ns": max((stat.st_mtime_ns for stat in stats), default=0),
            "stats": _digest("\n".join(lines)),
            "listing": self.listing,
        }


def dataset_source(dataset: Dataset[Any]) -> DatasetSource | None:
    """Describe the files behind a dataset, when lightning_ssl knows its kind.

    Known kinds: :class:`~lightning_ssl.data.ImageFolderDataset` and
    torchvision's CIFAR-10/100, MNIST, Fashion-MNIST and KMNIST without their own
    ``transform``. Other datasets (including in-memory arrays) return None: they
    can be decoded, but not cached on disk, since nothing tells when they change.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> Image.new("RGB", (8, 8)).save(root / "0.png")
        >>> source = dataset_source(ImageFolderDataset(root))
        >>> source.identity["kind"], source.fingerprint()["num_files"]
        ('image_folder', 1)
    """
    if isinstance(dataset, ImageFolderDataset):
        # Sample paths start with the root as given; os.path.relpath would give
        # the same names at 100 times the cost, which shows on 50,000 files.
        start = len(os.path.join(dataset.root, ""))
        lines = (f"{path[start:]}\t{target}" for path, target in dataset.samples)
        identity = {"kind": "image_folder", "root": str(dataset.root.resolve())}
        files = tuple(path for path, _ in dataset.samples)
        return DatasetSource(identity, files, _digest("\n".join(lines)))

    if getattr(dataset, "transform", None) or getattr(
        dataset, "target_transform", None
    ):
        return None
    if isinstance(dataset, CIFAR10):  # CIFAR100 too
        folder = Path(dataset.root) / dataset.base_folder
        batches = dataset.train_list if dataset.train else dataset.test_list
        names = [name for name, _ in batches] + [dataset.meta["filename"]]
    elif type(dataset) in _MNIST_DATASETS:
        folder = Path(dataset.raw_folder)  # type: ignore[attr-defined]
        prefix = "train" if dataset.train else "t10k"  # type: ignore[attr-defined]
        names = [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]
    else:
        return None

    if not all((folder / name).is_file() for name in names):
        return None  # e.g. torchvision's legacy processed files
    identity = {
        "kind": type(dataset).__name__.lower(),
        "root": str(folder.resolve()),
        "split": "train" if dataset.train else "test",  # type: ignore[attr-defined]
    }
    files = tuple(str(folder / name) for name in names)
    return DatasetSource(identity, files, _digest("\n".join(names)))


def load_or_decode(
    dataset: Dataset[Any],
    *,
    cache_dir: str | Path | None = None,
    image_size: int | None = None,
    channels: int = 3,
    num_workers: int = 0,
) -> DecodedImageDataset:
    """A decoded copy of ``dataset``, memory-mapped from the cache when it is there.

    On a miss the dataset is decoded as :func:`~lightning_ssl.data.decode_images`
    does, straight into a memory-mapped file (so it need not fit in memory
    twice), and the entry is committed; on a hit nothing is decoded and the
    images are read lazily from the page cache. Datasets that
    :func:`dataset_source` cannot describe are decoded in memory instead, on
    every call.

    Args:
        dataset: The source images; see :func:`dataset_source` for which kinds are
            cached on disk.
        cache_dir: Cache folder; None uses :func:`default_cache_dir`. A read-only
            folder works for entries that already exist.
        image_size: Side of the square images; None keeps the stored size, which
            must then be the same for every image.
        channels: 3 (grayscale is replicated) or 1.
        num_workers: Loader worker processes that decode on a miss.

    Returns:
        The decoded dataset; its ``path`` is the ``.npy`` file, or None when it
        was decoded in memory.

    Raises:
        ValueError: If ``cache_dir`` is not a writable folder with room for the
            entry (on a miss), the dataset is empty, or its images differ in
            size while ``image_size`` is None.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> for name in ("cat", "dog"):
        ...     (root / "images" / name).mkdir(parents=True)
        ...     Image.new("RGB", (40, 30)).save(root / "images" / name / "0.png")
        >>> source = ImageFolderDataset(root / "images")
        >>> first = load_or_decode(source, cache_dir=root / "cache", image_size=16)
        >>> first.images.shape, first.targets
        (torch.Size([2, 3, 16, 16]), tensor([0, 1]))
        >>> again = load_or_decode(source, cache_dir=root / "cache", image_size=16)
        >>> again.path == first.path, torch.equal(again.images, first.images)
        (True, True)
    """
    source = dataset_source(dataset)
    if source is None:
        logger.info(
            "%s is decoded in memory, not cached on disk: only image folders and "
            "torchvision's CIFAR and MNIST datasets can be fingerprinted.",
            type(dataset).__name__,
        )
        return decode_images(
            dataset, image_size=image_size, channels=channels, num_workers=num_workers
        )

    base = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    folder = base / "decoded"
    identity = {
        "format": FORMAT_VERSION,
        **source.identity,
        "image_size": image_size,
        "channels": channels,
    }
    # A readable label, then a digest of the identity; e.g. image_folder-train-1f2e...
    label = f"{identity['kind']}-{Path(identity['root']).name}"
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)
    stem = f"{label}-{_digest(json.dumps(identity, sort_keys=True))}"
    fingerprint = source.fingerprint()

    cached = _read_entry(folder, stem, identity, fingerprint)
    if cached is not None:
        return cached
    return _write_entry(
        dataset, folder, stem, identity, fingerprint, image_size, channels, num_workers
    )


def _read_entry(
    folder: Path, stem: str, identity: dict[str, Any], fingerprint: dict[str, Any]
) -> DecodedImageDataset | None:
    """The committed entry ``stem`` if it matches the source, else None."""
    metadata_path = folder / f"{stem}.json"
    try:
        metadata = json.loads(metadata_path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        logger.warning("Decoding again: cannot read %s (%s).", metadata_path, error)
        return None
    same_source = metadata.get("fingerprint") == fingerprint
    if metadata.get("identity") != identity or not same_source:
        logger.info("Decoding again: the source of %s has changed.", metadata_path)
        return None

    images_path = folder / metadata["images"]
    try:
        images = open_images(images_path)
    except (OSError, ValueError) as error:
        logger.warning("Decoding again: cannot read %s (%s).", images_path, error)
        return None
    if list(images.shape) != metadata["shape"]:
        logger.warning("Decoding again: %s has the wrong shape.", images_path)
        return None
    targets = torch.tensor(metadata["targets"], dtype=torch.long)
    return DecodedImageDataset(images, targets, metadata["classes"], images_path)


def _write_entry(
    dataset: Dataset[Any],
    folder: Path,
    stem: str,
    identity: dict[str, Any],
    fingerprint: dict[str, Any],
    image_size: int | None,
    channels: int,
    num_workers: int,
) -> DecodedImageDataset:
    """Decode into a new entry and commit it: images first, then the metadata."""
    _check_writable(folder)
    images_path = folder / f"{stem}-{_digest(json.dumps(fingerprint))}.npy"
    size = len(dataset)  # type: ignore[arg-type]
    logger.info("Decoding %d images into %s.", size, images_path)
    start = time.perf_counter()

    with _temporary_file(folder, images_path.name) as temporary:

        def allocate(shape: Shape) -> np.ndarray:
            _check_free_space(folder, int(np.prod(shape)))
            return open_memmap(temporary, mode="w+", dtype=np.uint8, shape=shape)

        images, targets = decode_into(
            dataset,
            allocate,
            image_size=image_size,
            channels=channels,
            num_workers=num_workers,
        )
        shape = list(images.shape)
        images.flush()  # type: ignore[attr-defined]
        del images
        os.replace(temporary, images_path)

    classes = dataset_classes(dataset) or []
    metadata = {
        "identity": identity,
        "fingerprint": fingerprint,
        "images": images_path.name,
        "shape": shape,
        "classes": classes,
        "decode_seconds": round(time.perf_counter() - start, 3),
        "targets": targets.tolist(),
    }
    with _temporary_file(folder, f"{stem}.json") as temporary:
        temporary.write_text(json.dumps(metadata))
        os.replace(temporary, folder / f"{stem}.json")
    logger.info("Decoded in %.1f s.", metadata["decode_seconds"])

    # Images of an older fingerprint are stale now; readers that still map
    # them keep their pages until they close them.
    for stale in folder.glob(f"{stem}-*.npy"):
        if stale != images_path:
            with suppress(OSError):
                stale.unlink()
    return DecodedImageDataset(open_images(images_path), targets, classes, images_path)


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ValueError(
            f"`cache_dir` must be a writable folder to decode into, got "
            f"{str(folder.parent)!r} ({error.strerror or error}). Pass another "
            "`cache_dir`, set XDG_CACHE_HOME, or turn the cache off."
        ) from error


def _check_free_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise ValueError(
            f"`cache_dir` {str(folder.parent)!r} has {free / 2**20:,.0f} MiB free, "
            f"but the decoded images need {needed / 2**20:,.0f} MiB. Pass another "
            "`cache_dir`, a smaller `image_size`, or turn the cache off."
        )


@contextmanager
def _temporary_file(folder: Path, name: str) -> Iterator[Path]:
    """A fresh hidden file in ``folder``, removed unless renamed away."""
    handle, path = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.close(handle)
    os.chmod(path, 0o644)  # mkstemp's 0o600 would hide a shared cache from others
    try:
        yield Path(path)
    finally:
        with suppress(FileNotFoundError):
            os.remove(path)


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]
