import pytest
import torch
from lightly.transforms.utils import IMAGENET_NORMALIZE

from lightning_ssl.transforms import (
    BatchedMultiCropTransform,
    BatchedRandomGrayscale,
    BatchedSwaVTransform,
)


def test_groups_in_order_with_their_sizes_and_scales():
    transform = BatchedMultiCropTransform(
        crop_sizes=(16, (6, 8)),
        crop_counts=(1, 2),
        crop_min_scales=(0.5, 0.1),
        crop_max_scales=(1.0, 0.3),
    )
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    views = transform(images)
    assert [tuple(view.shape) for view in views] == [(3, 3, 16, 16)] + [
        (3, 3, 6, 8)
    ] * 2
    crops = [view.ops[0] for view in transform.transforms]
    assert [crop.scale for crop in crops] == [(0.5, 1.0), (0.1, 0.3), (0.1, 0.3)]


def test_default_transforms_only_normalise():
    transform = BatchedMultiCropTransform((8,), (1,), (1.0,), (1.0,))
    images = torch.full((2, 3, 8, 8), 255, dtype=torch.uint8)
    (view,) = transform(images)
    expected = [(1 - m) / s for m, s in zip(*IMAGENET_NORMALIZE.values(), strict=True)]
    torch.testing.assert_close(view[0, :, 0, 0], torch.tensor(expected))


def test_custom_transforms_follow_every_crop():
    transform = BatchedMultiCropTransform(
        (8, 4), (1, 1), (0.5, 0.1), (1.0, 0.5), transforms=BatchedRandomGrayscale(1.0)
    )
    for view in transform(torch.rand(2, 3, 16, 16)):
        torch.testing.assert_close(view[:, 0], view[:, 1])


def test_swav_defaults_make_two_global_and_six_local_views():
    transform = BatchedSwaVTransform(crop_sizes=(16, 8))
    views = transform(torch.randint(0, 256, (2, 3, 24, 24), dtype=torch.uint8))
    assert [view.shape[-1] for view in views] == [16] * 2 + [8] * 6


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (((8, 4), (1,), (0.5, 0.1), (1.0, 0.5)), r"must have equal lengths"),
        (((8,), (-1,), (0.5,), (1.0,)), r"`crop_counts` must be non-negative ints"),
        (
            ((8, 4), (0, 0), (0.5, 0.1), (1.0, 0.5)),
            r"with a positive sum, got \[0, 0\]",
        ),
        (((8,), (1,), (0.5,), (0.2,)), r"`scale` must be a \(min, max\) pair"),
    ],
)
def test_bad_arguments_raise(args, match):
    with pytest.raises(ValueError, match=match):
        BatchedMultiCropTransform(*args)
