"""Tests of the datasets behind the datamodules."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset, Subset
from torchvision.transforms import v2

from lightning_ssl.data import (
    ArrayImageDataset,
    ImageFolderDataset,
    TransformDataset,
    dataset_targets,
)
from lightning_ssl.data.datasets import (
    dataset_classes,
    resize_and_crop,
    split_item,
    to_pil,
    uint8_transform,
)


def save_image(path: Path, size: tuple[int, int] = (8, 8), mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size).save(path)


def test_image_folder_reads_real_cifar10(cifar10_subset: Path) -> None:
    dataset = ImageFolderDataset(cifar10_subset / "train")
    image, target = dataset[35]

    assert len(dataset) == 300
    assert dataset.classes[:3] == ["airplane", "automobile", "bird"]
    assert dataset.targets == sorted(dataset.targets)  # class by class
    assert (image.mode, image.size, target) == ("RGB", (32, 32), 1)


def test_image_folder_scans_nested_folders_and_skips_hidden_ones(
    tmp_path: Path,
) -> None:
    save_image(tmp_path / "b" / "nested" / "deep" / "0.jpg")
    save_image(tmp_path / "a" / "0.PNG")
    save_image(tmp_path / ".ipynb_checkpoints" / "0.png")
    _ = (tmp_path / "a" / "readme.txt").write_text("not an image")

    dataset = ImageFolderDataset(tmp_path)
    assert dataset.classes == ["a", "b"]
    assert [Path(path).name for path, _ in dataset.samples] == ["0.PNG", "0.jpg"]
    assert dataset.targets == [0, 1]


def test_image_folder_with_given_class_ids(tmp_path: Path) -> None:
    save_image(tmp_path / "dog" / "0.png")
    dataset = ImageFolderDataset(tmp_path, class_to_idx={"cat": 0, "dog": 1})
    assert dataset.targets == [1]
    assert dataset.classes == ["cat", "dog"]

    with pytest.raises(ValueError, match=r"classes \['dog'\] that the training"):
        ImageFolderDataset(tmp_path, class_to_idx={"cat": 0})


def test_image_folder_flat_is_unlabelled(tmp_path: Path) -> None:
    for name in ("b.png", "a.png"):
        save_image(tmp_path / name, mode="L")
    dataset = ImageFolderDataset(tmp_path)
    assert dataset.classes == []
    assert dataset.targets == [-1, -1]
    assert dataset[0][0].mode == "L"


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolderDataset(tmp_path / "missing")
    with pytest.raises(ValueError, match="holds no image"):
        ImageFolderDataset(tmp_path)
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ValueError, match=r"holds no image.*class subfolders"):
        ImageFolderDataset(tmp_path)


def test_array_dataset_validates_its_arrays() -> None:
    images = np.zeros((3, 4, 4), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"images must be a uint8 array.*float64"):
        ArrayImageDataset(images.astype(float), np.zeros(3))
    with pytest.raises(ValueError, match=r"targets must have shape \(3,\)"):
        ArrayImageDataset(images, np.zeros(4))

    rgb = ArrayImageDataset(np.zeros((2, 4, 4, 3), dtype=np.uint8), np.zeros(2))
    assert rgb[0][0].mode == "RGB"


@pytest.mark.parametrize(
    ("image", "channels", "mode"),
    [
        (torch.rand(3, 5, 5), 3, "RGB"),
        (torch.rand(3, 5, 5), 1, "L"),
        (torch.zeros(1, 5, 5, dtype=torch.uint8), 3, "RGB"),
        (torch.zeros(5, 5, dtype=torch.uint8), 1, "L"),
        (np.zeros((5, 5, 3), dtype=np.uint8), 3, "RGB"),
        (Image.new("RGBA", (5, 5)), 3, "RGB"),
        (Image.new("P", (5, 5)), 1, "L"),
    ],
)
def test_to_pil_converts_channels(image: object, channels: int, mode: str) -> None:
    converted = to_pil(image, channels)
    assert converted.mode == mode
    assert converted.size == (5, 5)


def test_to_pil_rejects_other_types() -> None:
    with pytest.raises(TypeError, match=r"must return PIL images.*got str"):
        to_pil("image.png", 3)


def test_split_item() -> None:
    assert split_item((1, torch.tensor(4))) == (1, 4)
    assert split_item([1, None]) == (1, -1)
    assert split_item((1, 2, 3)) == ((1, 2, 3), -1)


class NoTargetsAttribute(Dataset[tuple[Image.Image, int]]):
    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        return Image.new("L", (2, 2)), 2 - index


def test_dataset_targets_from_attribute_subset_or_items() -> None:
    arrays = ArrayImageDataset(np.zeros((4, 2, 2), np.uint8), np.array([3, 1, 2, 0]))
    assert dataset_targets(arrays).tolist() == [3, 1, 2, 0]
    assert dataset_targets(Subset(arrays, [3, 0])).tolist() == [0, 3]
    assert dataset_targets(NoTargetsAttribute()).tolist() == [2, 1, 0]
    assert dataset_classes(Subset(NoTargetsAttribute(), [0])) is None


def test_transform_dataset_applies_transform_after_channel_conversion() -> None:
    raw = ArrayImageDataset(np.full((2, 4, 4), 7, np.uint8), np.array([5, 6]))
    dataset = TransformDataset(raw, lambda image: image.mode, channels=3)
    assert len(dataset) == 2
    assert dataset[1] == ("RGB", 6)
    assert dataset.targets.tolist() == [5, 6]


@pytest.mark.parametrize(
    ("mode", "size", "image_size"),
    [
        ("RGB", (32, 32), 32),  # already at the size: resizing is skipped
        ("L", (32, 32), 32),
        ("RGB", (32, 32), None),
        ("RGB", (40, 30), 24),  # resized and cropped by torchvision
        ("L", (30, 40), 24),
        ("RGB", (32, 32), 16),
    ],
)
def test_uint8_transform_matches_torchvision(
    mode: str, size: tuple[int, int], image_size: int | None
) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3))
    image = Image.fromarray(pixels.astype(np.uint8)).convert(mode)
    reference = v2.Compose([*resize_and_crop(image_size), v2.PILToTensor()])

    output = uint8_transform(image_size)(image)
    assert output.dtype == torch.uint8
    assert torch.equal(output, reference(image))
