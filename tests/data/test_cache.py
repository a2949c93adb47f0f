"""Tests of the decoded-image cache and of the datamodules' ``cache=True``."""

import json
import logging
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.datasets import CIFAR10
from torchvision.transforms import v2

import lightning_ssl.data.cache as cache_module
from lightning_ssl.data import (
    ArrayImageDataset,
    CIFAR10DataModule,
    DecodedImageDataset,
    FashionMNISTDataModule,
    FashionMNISTSampleDataModule,
    ImageFolderDataset,
    SSLDataModule,
    TransformDataset,
    dataset_source,
    decode_images,
    default_cache_dir,
    load_fashion_mnist_sample,
    load_or_decode,
)
from lightning_ssl.data.datasets import resize_and_crop, uint8_transform


def direct_decode(
    dataset: Dataset[Any], image_size: int | None = None, channels: int = 3
) -> tuple[Tensor, Tensor]:
    """The reference: every image through PIL and torchvision, one by one."""
    reference = v2.Compose([*resize_and_crop(image_size), v2.PILToTensor()])
    items = TransformDataset(dataset, reference, channels)
    images = torch.stack([items[i][0] for i in range(len(items))])
    return images, items.targets


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path below ``folder`` (links not followed) with its size and mtime."""
    entries = {}
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            stat = os.lstat(os.path.join(parent, name))
            entries[os.path.join(parent, name)] = (stat.st_size, stat.st_mtime_ns)
    return entries


class DecodeSpy:
    """Counts the decodes that `load_or_decode` starts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.original = cache_module.decode_into
        monkeypatch.setattr(cache_module, "decode_into", self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.original(*args, **kwargs)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> DecodeSpy:
    return DecodeSpy(monkeypatch)


@pytest.fixture
def folder(cifar10_subset: Path, tmp_path: Path) -> Path:
    """A small labelled image folder of real copies (not links), free to change."""
    root = tmp_path / "images"
    for name in ("airplane", "cat", "ship"):
        (root / name).mkdir(parents=True)
        for path in sorted((cifar10_subset / "train" / name).iterdir())[:8]:
            shutil.copy(path, root / name / path.name)
    return root


def test_miss_then_hit_memory_maps_without_decoding(
    cifar10_subset: Path, tmp_path: Path, spy: DecodeSpy
) -> None:
    source = ImageFolderDataset(cifar10_subset / "train")
    first = load_or_decode(source, cache_dir=tmp_path, image_size=32)
    second = load_or_decode(source, cache_dir=tmp_path, image_size=32)

    assert spy.calls == 1
    assert first.path is not None and first.path == second.path
    assert first.path.parent == tmp_path / "decoded"
    assert first.path.stat().st_size == 300 * 3 * 32 * 32 + 128  # .npy header
    maps = Path("/proc/self/maps")
    if maps.exists():  # Linux: the pixels are a mapping of the file, not a copy
        assert str(first.path) in maps.read_text()
    assert torch.equal(first.images, second.images)
    assert torch.equal(second.targets, torch.tensor(source.targets))
    assert second.classes == source.classes
    (metadata_path,) = (tmp_path / "decoded").glob("*.json")
    metadata = json.loads(metadata_path.read_text())
    assert metadata["images"] == first.path.name
    assert metadata["fingerprint"]["num_files"] == 300
    assert metadata["identity"]["root"] == str((cifar10_subset / "train").resolve())


@pytest.mark.parametrize(("image_size", "channels"), [(None, 3), (24, 3), (32, 1)])
def test_pixels_match_direct_decoding(
    cifar10_subset: Path, tmp_path: Path, image_size: int | None, channels: int
) -> None:
    source = ImageFolderDataset(cifar10_subset / "test")
    decoded = load_or_decode(
        source, cache_dir=tmp_path, image_size=image_size, channels=channels
    )
    images, targets = direct_decode(source, image_size, channels)

    assert decoded.images.shape == (100, channels, image_size or 32, image_size or 32)
    assert torch.equal(decoded.images, images)
    assert torch.equal(decoded.targets, targets)


def test_worker_processes_decode_the_same_pixels(
    cifar10_subset: Path, tmp_path: Path
) -> None:
    source = ImageFolderDataset(cifar10_subset / "test")
    decoded = load_or_decode(source, cache_dir=tmp_path, num_workers=2)
    assert torch.equal(decoded.images, direct_decode(source)[0])


def rewrite_first(root: Path) -> None:
    path = sorted((root / "cat").iterdir())[0]
    Image.open(path).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(path)


def touch_first(root: Path) -> None:
    path = sorted((root / "cat").iterdir())[0]
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def rename_first(root: Path) -> None:
    path = sorted((root / "cat").iterdir())[0]
    path.rename(root / "ship" / "moved.jpg")  # same bytes, another class


CHANGES: dict[str, Callable[[Path], None]] = {
    "added": lambda root: shutil.copy(
        sorted((root / "cat").iterdir())[0], root / "cat" / "copy.jpg"
    ),
    "removed": lambda root: sorted((root / "cat").iterdir())[0].unlink(),
    "rewritten": rewrite_first,
    "touched": touch_first,
    "relabelled": rename_first,
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_changed_source_is_decoded_again(
    folder: Path, tmp_path: Path, spy: DecodeSpy, change: str
) -> None:
    cache_dir = tmp_path / "cache"
    load_or_decode(ImageFolderDataset(folder), cache_dir=cache_dir)
    CHANGES[change](folder)
    source = ImageFolderDataset(folder)
    decoded = load_or_decode(source, cache_dir=cache_dir)
    again = load_or_decode(source, cache_dir=cache_dir)

    assert spy.calls == 2
    assert again.path == decoded.path
    images, targets = direct_decode(source)
    assert torch.equal(decoded.images, images)
    assert torch.equal(decoded.targets, targets)
    # The entry was replaced: one metadata file, one image file.
    assert len(list((cache_dir / "decoded").glob("*.json"))) == 1
    assert list((cache_dir / "decoded").glob("*.npy")) == [decoded.path]


def test_size_and_channels_name_separate_entries(
    folder: Path, tmp_path: Path, spy: DecodeSpy
) -> None:
    source = ImageFolderDataset(folder)
    settings = [(None, 3), (16, 3), (None, 1), (None, 3), (16, 3)]
    paths = {
        load_or_decode(source, cache_dir=tmp_path, image_size=size, channels=ch).path
        for size, ch in settings
    }
    assert len(paths) == 3
    assert spy.calls == 3


def test_source_folder_is_never_written(
    cifar10_subset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    before = snapshot(cifar10_subset)
    datamodule = CIFAR10DataModule(cifar10_subset, cache=True, num_workers=0)
    datamodule.prepare_data()
    next(iter(datamodule.eval_train_dataloader()))

    assert snapshot(cifar10_subset) == before
    assert (
        datamodule.cache_dir
        == default_cache_dir()
        == tmp_path / "xdg" / "lightning_ssl"
    )
    assert len(list((datamodule.cache_dir / "decoded").glob("*.npy"))) == 2


def save_images(folder: Path, sizes: list[tuple[int, int]]) -> None:
    folder.mkdir(parents=True)
    for index, size in enumerate(sizes):
        Image.new("RGB", size, color=(index * 40, 0, 0)).save(folder / f"{index}.png")


def test_mixed_sizes_need_image_size(tmp_path: Path) -> None:
    save_images(tmp_path / "images", [(32, 32), (32, 32), (40, 24)])
    source = ImageFolderDataset(tmp_path / "images")
    with pytest.raises(
        ValueError, match=r"image 2 has \(3, 24, 40\).*Set `image_size`"
    ):
        load_or_decode(source, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache" / "decoded").iterdir())  # nothing left over

    decoded = load_or_decode(source, cache_dir=tmp_path / "cache", image_size=16)
    assert decoded.images.shape == (3, 3, 16, 16)


def test_unwritable_cache_dir_is_reported(folder: Path, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(
        ValueError, match=r"`cache_dir` must be a writable folder.*file"
    ):
        load_or_decode(ImageFolderDataset(folder), cache_dir=not_a_folder)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to read-only folders")
def test_read_only_cache_dir_serves_existing_entries(
    folder: Path, tmp_path: Path
) -> None:
    source = ImageFolderDataset(folder)
    first = load_or_decode(source, cache_dir=tmp_path / "cache")
    (tmp_path / "cache" / "decoded").chmod(0o555)
    try:
        second = load_or_decode(source, cache_dir=tmp_path / "cache")
        assert torch.equal(first.images, second.images)
        with pytest.raises(ValueError, match="must be a writable folder"):
            load_or_decode(source, cache_dir=tmp_path / "cache", image_size=8)
    finally:
        (tmp_path / "cache" / "decoded").chmod(0o755)


def test_corrupt_entry_is_decoded_again(
    folder: Path, tmp_path: Path, spy: DecodeSpy, caplog: pytest.LogCaptureFixture
) -> None:
    source = ImageFolderDataset(folder)
    first = load_or_decode(source, cache_dir=tmp_path)
    assert first.path is not None
    first.path.write_bytes(b"not an array")

    with caplog.at_level(logging.WARNING, logger="lightning_ssl.data.cache"):
        second = load_or_decode(source, cache_dir=tmp_path)
    assert "Decoding again: cannot read" in caplog.text
    assert spy.calls == 2
    assert torch.equal(second.images, direct_decode(source)[0])


def test_torchvision_cifar_root_is_cached(
    torchvision_root: Path, cifar10_subset: Path, tmp_path: Path, spy: DecodeSpy
) -> None:
    source = CIFAR10(torchvision_root, train=True)
    decoded = load_or_decode(source, cache_dir=tmp_path / "cache")
    assert decoded.path is not None and decoded.path.name.startswith("cifar10-")
    # Built from the JPEG subset: the same pixels as decoding the JPEGs.
    jpegs = direct_decode(ImageFolderDataset(cifar10_subset / "train"))
    assert torch.equal(decoded.images, jpegs[0])
    assert torch.equal(decoded.targets, jpegs[1])
    assert decoded.classes[0] == "airplane"

    load_or_decode(source, cache_dir=tmp_path / "cache")
    # An older time than every other file's: the newest time stays the same.
    first_batch = torchvision_root / "cifar-10-batches-py" / "data_batch_1"
    os.utime(first_batch, ns=(0, 10**9))
    load_or_decode(source, cache_dir=tmp_path / "cache")
    assert spy.calls == 2


@pytest.mark.parametrize(("channels", "rgb"), [(3, False), (1, False), (1, True)])
def test_in_memory_arrays_match_pil(channels: int, rgb: bool) -> None:
    sample = load_fashion_mnist_sample()
    images = sample.test_images[:64]
    if rgb:  # RGB to gray takes PIL's rounding, not a copy
        images = np.stack([images, images // 2, 255 - images], axis=-1)
    source = ArrayImageDataset(images, sample.test_targets[:64])

    decoded = decode_images(source, channels=channels)
    expected, targets = direct_decode(source, channels=channels)
    assert decoded.path is None
    assert torch.equal(decoded.images, expected)
    assert torch.equal(decoded.targets, targets)


def test_unknown_datasets_are_decoded_in_memory(tmp_path: Path) -> None:
    sample = load_fashion_mnist_sample()
    source = ArrayImageDataset(sample.test_images[:10], sample.test_targets[:10])
    decoded = load_or_decode(source, cache_dir=tmp_path)
    assert dataset_source(source) is None
    assert decoded.path is None
    assert not (tmp_path / "decoded").exists()


def test_file_backed_dataset_pickles_as_its_path(folder: Path, tmp_path: Path) -> None:
    decoded = load_or_decode(ImageFolderDataset(folder), cache_dir=tmp_path)
    payload = pickle.dumps(decoded)
    restored = pickle.loads(payload)
    assert len(payload) < 4096
    assert torch.equal(restored.images, decoded.images)


def test_bad_dataset_arguments() -> None:
    with pytest.raises(ValueError, match=r"`images` must be a \(N, C, H, W\) uint8"):
        DecodedImageDataset(torch.zeros(2, 3, 4, 4), torch.zeros(2))
    with pytest.raises(ValueError, match=r"`targets` must have shape \(2,\)"):
        DecodedImageDataset(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(3))
    with pytest.raises(ValueError, match=r"`channels` must be one of \(1, 3\)"):
        decode_images(
            ArrayImageDataset(np.zeros((1, 4, 4), np.uint8), np.zeros(1)), channels=2
        )
    with pytest.raises(ValueError, match="empty dataset"):
        decode_images(ArrayImageDataset(np.zeros((0, 4, 4), np.uint8), np.zeros(0)))


def flip_twice(images: Tensor) -> list[Tensor]:
    images = images.float() / 255
    return [images, images.flip(-1)]


def test_device_batches_match_without_cache(
    cifar10_subset: Path, tmp_path: Path
) -> None:
    def first_batch(cache: bool) -> tuple[Tensor, Tensor]:
        datamodule = CIFAR10DataModule(
            cifar10_subset,
            augment_on="device",
            batch_transform=flip_twice,
            batch_size=64,
            num_workers=0,
            seed=3,
            cache=cache,
            cache_dir=tmp_path,
        )
        return next(iter(datamodule.train_dataloader()))

    # The same seed shuffles alike, and the cache holds the pixels PIL decodes.
    images, targets = first_batch(cache=True)
    reference_images, reference_targets = first_batch(cache=False)
    assert images.dtype == torch.uint8 and images.shape == (64, 3, 32, 32)
    assert torch.equal(images, reference_images)
    assert torch.equal(targets, reference_targets)
    assert not torch.equal(targets, targets.sort().values)


def test_cached_datamodule_serves_every_path(
    cifar10_subset: Path, tmp_path: Path, spy: DecodeSpy
) -> None:
    def make(**kwargs: Any) -> CIFAR10DataModule:
        return CIFAR10DataModule(
            cifar10_subset, batch_size=32, num_workers=0, cache_dir=tmp_path, **kwargs
        )

    cached, plain = make(cache=True), make()
    cached.prepare_data()
    assert spy.calls == 2  # train and val
    assert isinstance(cached.datasets[0], DecodedImageDataset)
    assert cached.num_classes == 10 and cached.class_names == plain.class_names

    # Evaluation loaders read PIL images from the cached arrays.
    for loader_fn in ("eval_train_dataloader", "eval_val_dataloader"):
        for (images, targets), (expected, expected_targets) in zip(
            getattr(cached, loader_fn)(), getattr(plain, loader_fn)(), strict=True
        ):
            assert torch.equal(images, expected)
            assert torch.equal(targets, expected_targets)

    # So do per-sample training transforms.
    workers = make(cache=True, transform=lambda image: [uint8_transform(None)(image)])
    views, _ = next(iter(workers.train_dataloader()))
    assert views[0].shape == (32, 3, 32, 32) and views[0].dtype == torch.uint8
    assert spy.calls == 2  # the second datamodule found the cache


def test_embedded_sample_is_decoded_in_memory(tmp_path: Path) -> None:
    datamodule = FashionMNISTSampleDataModule(
        cache=True, cache_dir=tmp_path, augment_on="device", batch_transform=flip_twice
    )
    train, val = datamodule.datasets
    assert isinstance(train, DecodedImageDataset) and train.path is None
    assert train.images.shape == (10000, 3, 28, 28)
    assert val is not None and len(val) == 2000
    assert not (tmp_path / "decoded").exists()


def test_fashion_mnist_idx_files_are_cached(
    fashion_mnist_dir: Path, tmp_path: Path
) -> None:
    datamodule = FashionMNISTDataModule(
        fashion_mnist_dir, cache=True, cache_dir=tmp_path, channels=1, num_workers=0
    )
    datamodule.prepare_data()
    train, val = datamodule.datasets
    assert isinstance(train, DecodedImageDataset) and train.path is not None
    assert train.path.parent == tmp_path / "decoded"
    assert train.images.shape == (60000, 1, 28, 28)
    assert val is not None and len(val) == 10000
    assert datamodule.torchvision_root.parent == tmp_path  # unpacked IDX files


def test_cache_must_be_a_bool(cifar10_subset: Path) -> None:
    with pytest.raises(TypeError, match="cache must be True or False; got 'yes'"):
        SSLDataModule(cifar10_subset / "train", cache="yes")  # type: ignore[arg-type]
