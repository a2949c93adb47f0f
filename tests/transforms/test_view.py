import pytest
import torch

from lightning_ssl.transforms import (
    BatchedColorJitter,
    BatchedGaussianBlur,
    BatchedNormalize,
    BatchedRandomGrayscale,
    BatchedRandomSolarization,
    BatchedRandomVerticalFlip,
    BatchedViewTransform,
)


def op_types(view: BatchedViewTransform) -> list[type]:
    return [type(op) for op in view.ops]


def test_chain_follows_lightly_order_and_skips_disabled_ops():
    view = BatchedViewTransform(input_size=8, vf_prob=0.5, solarization_prob=0.2)
    assert view.crop is not None and view.hflip is not None
    assert op_types(view) == [
        BatchedRandomVerticalFlip,
        BatchedColorJitter,
        BatchedRandomGrayscale,
        BatchedGaussianBlur,
        BatchedRandomSolarization,
        BatchedNormalize,
    ]
    vicreg_order = BatchedViewTransform(
        input_size=8, solarization_prob=0.1, solarize_before_blur=True
    )
    assert op_types(vicreg_order)[2:4] == [
        BatchedRandomSolarization,
        BatchedGaussianBlur,
    ]

    bare = BatchedViewTransform(
        input_size=8,
        hf_prob=0.0,
        cj_prob=0.0,
        random_gray_scale=0.0,
        gaussian_blur=0.0,
        normalize=None,
    )
    assert bare.hflip is None and op_types(bare) == []


def test_jitter_strengths_are_scaled_by_cj_strength():
    view = BatchedViewTransform(
        cj_strength=0.5, cj_bright=0.8, cj_contrast=0.4, cj_sat=0.2, cj_hue=0.2
    )
    jitter = view.ops[0]
    assert isinstance(jitter, BatchedColorJitter)
    assert jitter.brightness == pytest.approx((0.6, 1.4))
    assert jitter.contrast == pytest.approx((0.8, 1.2))
    assert jitter.saturation == pytest.approx((0.9, 1.1))
    assert jitter.hue == pytest.approx((-0.1, 0.1))


def test_without_crop_the_input_is_not_modified():
    view = BatchedViewTransform(input_size=None, cj_prob=1.0, normalize=None)
    images = torch.rand(8, 3, 8, 8)
    original = images.clone()
    out = view(images, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(images, original)
    assert not torch.allclose(out, original)


def test_unnormalised_views_stay_in_unit_range():
    view = BatchedViewTransform(input_size=16, solarization_prob=0.5, normalize=None)
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    out = view(images, generator=torch.Generator().manual_seed(0))
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hf_prob": 1.5}, r"`hf_prob` must be in \[0.0, 1.0\], got 1.5"),
        ({"cj_prob": -0.5}, r"`cj_prob` must be in \[0.0, 1.0\], got -0.5"),
        ({"cj_strength": -1.0}, r"`cj_strength` must be in \[0.0, inf\], got -1.0"),
        ({"cj_hue": 0.6}, r"`cj_hue` times `cj_strength` must be at most 0.5"),
        ({"cj_sat": -0.1}, r"`cj_sat` must be in \[0.0, inf\], got -0.1"),
        ({"random_gray_scale": 2}, r"`random_gray_scale` must be in \[0.0, 1.0\]"),
        ({"input_size": -3}, r"`size` must be a positive int"),
        ({"normalize": {"mean": [0.5]}}, r"`normalize` must be None or have keys"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchedViewTransform(**kwargs)
