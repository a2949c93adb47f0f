import pytest
import torch

from lightning_ssl.transforms import (
    BatchedDINOTransform,
    BatchedGaussianBlur,
    BatchedRandomSolarization,
)


def test_global_then_local_views_with_their_sizes():
    transform = BatchedDINOTransform(
        global_crop_size=32, local_crop_size=(12, 16), n_local_views=3
    )
    images = torch.randint(0, 256, (2, 3, 48, 40), dtype=torch.uint8)
    shapes = [tuple(view.shape) for view in transform(images)]
    assert shapes == [(2, 3, 32, 32)] * 2 + [(2, 3, 12, 16)] * 3


def test_no_local_views():
    transform = BatchedDINOTransform(global_crop_size=8, n_local_views=0)
    assert len(transform(torch.rand(2, 3, 16, 16))) == 2


def test_blur_and_solarisation_per_view():
    transform = BatchedDINOTransform(gaussian_blur=(1.0, 0.1, 0.5), n_local_views=2)
    blur = [
        [op.p for op in view.ops if isinstance(op, BatchedGaussianBlur)]
        for view in transform.transforms
    ]
    solarize = [
        [op.p for op in view.ops if isinstance(op, BatchedRandomSolarization)]
        for view in transform.transforms
    ]
    assert blur == [[1.0], [0.1], [0.5], [0.5]]
    assert solarize == [[], [0.2], [], []]
    scales = [view.crop.scale for view in transform.transforms]
    assert scales == [(0.4, 1.0), (0.4, 1.0), (0.05, 0.4), (0.05, 0.4)]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_local_views": -1}, r"`n_local_views` must be a non-negative int, got -1"),
        ({"gaussian_blur": (1.0, 0.5)}, r"`gaussian_blur` must hold 3 probabilities"),
        (
            {"gaussian_blur": (1.0, 0.5, 2.0)},
            r"`gaussian_blur` must be in \[0.0, 1.0\]",
        ),
        ({"local_crop_scale": (0.4, 0.05)}, r"`scale` must be a \(min, max\) pair"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchedDINOTransform(**kwargs)
