"""Benchmark data: bulk normalisation equals the datamodules' eval transform."""

import torch
from PIL import Image
from ssl_bench import data

from lightning_ssl.data import DecodedImageDataset, default_eval_transform


def test_normalize_matches_the_eval_transform() -> None:
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    transform = default_eval_transform(image_size=32)
    expected = torch.stack(
        [transform(Image.fromarray(image.permute(1, 2, 0).numpy())) for image in images]
    )
    torch.testing.assert_close(data.normalize(images), expected)


def test_normalized_images_batch_like_single_items() -> None:
    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    dataset = data.NormalizedImages(DecodedImageDataset(images, torch.arange(6) % 3))
    batch = dataset.__getitems__([4, 1])
    image, _ = dataset[4]
    torch.testing.assert_close(batch[0][0], image)
    assert [item[1] for item in batch] == [4 % 3, 1]


def test_balanced_subset_is_seeded_and_class_balanced() -> None:
    images = torch.zeros(100, 3, 4, 4, dtype=torch.uint8)
    dataset = DecodedImageDataset(images, torch.arange(100) % 5)
    first = data.balanced_subset(dataset, 20, seed=3)
    again = data.balanced_subset(dataset, 20, seed=3)
    assert first.targets.bincount().tolist() == [4] * 5
    assert torch.equal(first.targets, again.targets)
    assert data.balanced_subset(dataset, None, seed=0) is dataset
