from typing import TypeVar

import pytest
import torch

from lightning_ssl.transforms import (
    BatchedColorJitter,
    BatchedGaussianBlur,
    BatchedMSNTransform,
    BatchedNormalize,
    BatchedRandomGrayscale,
    BatchedRandomResizedCrop,
    BatchedRandomVerticalFlip,
    BatchedViewTransform,
)

Op = TypeVar("Op", bound=torch.nn.Module)


def views_of(transform: BatchedMSNTransform) -> list[BatchedViewTransform]:
    views = [v for v in transform.transforms if isinstance(v, BatchedViewTransform)]
    assert len(views) == len(transform.transforms)
    return views


def crop_of(view: BatchedViewTransform) -> BatchedRandomResizedCrop:
    assert view.crop is not None
    return view.crop


def ops_of(view: BatchedViewTransform, op_type: type[Op]) -> list[Op]:
    return [op for op in view.ops if isinstance(op, op_type)]


@pytest.mark.parametrize(("random_views", "focal_views"), [(2, 10), (3, 2), (1, 0)])
def test_random_then_focal_views_with_their_sizes(random_views, focal_views):
    transform = BatchedMSNTransform(
        random_size=32,
        focal_size=(12, 16),
        random_views=random_views,
        focal_views=focal_views,
    )
    images = torch.randint(0, 256, (2, 3, 48, 40), dtype=torch.uint8)
    shapes = [tuple(view.shape) for view in transform(images)]
    assert shapes == [(2, 3, 32, 32)] * random_views + [(2, 3, 12, 16)] * focal_views


def test_defaults_are_lightlys_two_random_and_ten_focal_views():
    transform = BatchedMSNTransform()
    sizes = [crop_of(view).size for view in views_of(transform)]
    scales = [crop_of(view).scale for view in views_of(transform)]
    assert sizes == [(224, 224)] * 2 + [(96, 96)] * 10
    assert scales == [(0.3, 1.0)] * 2 + [(0.05, 0.3)] * 10


def test_arguments_reach_random_and_focal_views_alike():
    transform = BatchedMSNTransform(
        random_crop_scale=(0.5, 1.0),
        focal_crop_scale=(0.1, 0.2),
        focal_views=1,
        cj_prob=0.6,
        cj_strength=0.5,
        cj_bright=0.4,
        cj_contrast=0.2,
        cj_sat=0.6,
        cj_hue=0.1,
        gaussian_blur=0.3,
        sigmas=(0.5, 1.5),
        random_gray_scale=0.1,
        hf_prob=0.0,
        vf_prob=0.25,
        normalize=None,
    )
    random_0, random_1, focal = views_of(transform)
    assert random_0 is random_1
    assert crop_of(random_0).scale == (0.5, 1.0)
    assert crop_of(focal).scale == (0.1, 0.2)
    for view in (random_0, focal):
        (jitter,) = ops_of(view, BatchedColorJitter)
        # Strengths times cj_strength; lightly's focal views ignore cj_bright, ...
        assert jitter.p == 0.6
        assert jitter.brightness == pytest.approx((0.8, 1.2))
        assert jitter.contrast == pytest.approx((0.9, 1.1))
        assert jitter.saturation == pytest.approx((0.7, 1.3))
        assert jitter.hue == pytest.approx((-0.05, 0.05))
        (blur,) = ops_of(view, BatchedGaussianBlur)
        assert (blur.p, blur.sigmas) == (0.3, (0.5, 1.5))
        assert [op.p for op in ops_of(view, BatchedRandomGrayscale)] == [0.1]
        assert [op.p for op in ops_of(view, BatchedRandomVerticalFlip)] == [0.25]
        assert view.hflip is None
        assert ops_of(view, BatchedNormalize) == []


def test_without_blur_or_normalisation_views_stay_in_unit_range():
    transform = BatchedMSNTransform(
        random_size=16, focal_size=8, focal_views=2, gaussian_blur=0.0, normalize=None
    )
    assert all(ops_of(view, BatchedGaussianBlur) == [] for view in views_of(transform))
    views = transform(torch.randint(0, 256, (4, 3, 24, 24), dtype=torch.uint8))
    assert all(view.min() >= 0.0 and view.max() <= 1.0 for view in views)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"random_views": 0}, r"`random_views` must be a positive integer, got 0"),
        ({"random_views": 1.5}, r"`random_views` must be a positive integer, got 1.5"),
        ({"focal_views": -1}, r"`focal_views` must be a non-negative int, got -1"),
        ({"focal_views": True}, r"`focal_views` must be a non-negative int, got True"),
        (
            {"focal_crop_scale": (0.3, 0.05)},
            r"`focal_crop_scale` must be a \(min, max\) pair .*, got \(0.3, 0.05\)",
        ),
        (
            {"random_crop_scale": (0.0, 1.0)},
            r"`random_crop_scale` must be in \(0.0, 1.0\], got 0.0",
        ),
        ({"gaussian_blur": 2.0}, r"`gaussian_blur` must be in \[0.0, 1.0\], got 2.0"),
        ({"cj_prob": -0.1}, r"`cj_prob` must be in \[0.0, 1.0\], got -0.1"),
        ({"focal_size": 0}, r"`focal_size` must be a positive int .*, got 0"),
        ({"random_size": (32, 0)}, r"`random_size` must be a positive int"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchedMSNTransform(**kwargs)
