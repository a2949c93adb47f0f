import pytest
import torch
import torchvision.transforms.v2.functional as TF

from lightning_ssl.transforms import BatchedColorJitter
from lightning_ssl.transforms.color_jitter import (
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
)

# torchvision weighs red 0.2989 in its grayscale, PIL (and lightly) and this
# module 0.299: contrast and saturation may differ by about 1e-4.
GRAY_TOLERANCE = {"atol": 3e-4, "rtol": 0}
REFERENCES = {
    "brightness": (adjust_brightness, TF.adjust_brightness),
    "contrast": (adjust_contrast, TF.adjust_contrast),
    "saturation": (adjust_saturation, TF.adjust_saturation),
    "hue": (adjust_hue, TF.adjust_hue),
}


def random_images(batch: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", list(REFERENCES))
@pytest.mark.parametrize("inplace", [False, True])
def test_adjustments_match_torchvision_per_sample(name, inplace):
    ours, reference = REFERENCES[name]
    images = random_images()
    generator = torch.Generator().manual_seed(1)
    if name == "hue":
        factors = torch.rand(16, generator=generator) - 0.5
    else:
        factors = torch.rand(16, generator=generator) * 2
    expected = torch.stack(
        [reference(image, float(f)) for image, f in zip(images, factors, strict=True)]
    )
    torch.testing.assert_close(
        ours(images, factors, inplace), expected, **GRAY_TOLERANCE
    )


def test_hue_handles_gray_and_saturated_pixels():
    pixels = torch.tensor(
        [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.5, 0.5, 0.5], [1.0, 0.0, 0.0],
         [1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.2, 0.2, 0.9], [0.9, 0.2, 0.9]]
    )  # fmt: skip
    images = pixels.T.reshape(1, 3, 2, 4).expand(5, 3, 2, 4)
    shifts = torch.tensor([-0.5, -0.25, 0.0, 0.3, 0.5])
    expected = torch.stack(
        [
            TF.adjust_hue(image, float(s))
            for image, s in zip(images, shifts, strict=True)
        ]
    )
    out = adjust_hue(images, shifts)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_factors_follow_configured_ranges():
    jitter = BatchedColorJitter(0.4, 0.3, (0.5, 1.5), 0.1, p=0.8)
    images = torch.empty(1, 1, 1, 1).expand(4096, 3, 8, 8)
    params = jitter.sample_params(images, torch.Generator().manual_seed(0))
    applied = params.applied
    assert float(applied.float().mean()) == pytest.approx(0.8, abs=0.03)

    for factors, low, high in (
        (params.brightness, 0.6, 1.4),
        (params.contrast, 0.7, 1.3),
        (params.saturation, 0.5, 1.5),
        (params.hue, -0.1, 0.1),
    ):
        drawn = factors[applied]
        assert drawn.min() >= low and drawn.max() <= high
        # Uniform: close to both ends, mean in the middle, many distinct values.
        assert float(drawn.min()) == pytest.approx(low, abs=0.01 * (high - low))
        assert float(drawn.max()) == pytest.approx(high, abs=0.01 * (high - low))
        assert float(drawn.mean()) == pytest.approx((low + high) / 2, abs=0.02)
        assert len(drawn.unique()) > 0.99 * len(drawn)
    assert params.brightness[~applied].eq(1).all() and params.hue[~applied].eq(0).all()


def test_apply_matches_sequential_torchvision_reference():
    jitter = BatchedColorJitter(0.8, 0.8, 0.8, 0.2, p=0.8)
    images = random_images(32)
    params = jitter.sample_params(images, torch.Generator().manual_seed(3))
    out = jitter.apply_params(images, params)

    functions = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation)
    functions += (TF.adjust_hue,)
    factors = torch.stack(
        [params.brightness, params.contrast, params.saturation, params.hue], dim=1
    )
    for index, image in enumerate(images):
        for op in params.order:
            image = functions[op](image, float(factors[index, op]))
        torch.testing.assert_close(out[index], image, **GRAY_TOLERANCE)


def test_order_is_random_per_call_or_fixed():
    images = random_images(2)
    generator = torch.Generator().manual_seed(0)
    random_order = BatchedColorJitter(0.4, 0.4, 0.4, 0.1)
    orders = {random_order.sample_params(images, generator).order for _ in range(20)}
    assert len(orders) > 5 and all(sorted(order) == [0, 1, 2, 3] for order in orders)

    fixed = BatchedColorJitter(0.4, 0.0, 0.4, 0.1, random_order=False)
    assert fixed.sample_params(images, generator).order == (0, 2, 3)


def test_per_sample_factors_give_different_images(assert_pairwise_distinct):
    # One image repeated: a per-batch draw would give identical outputs.
    image = random_images(1).expand(64, 3, 8, 8)
    out = BatchedColorJitter(0.4, 0.4, 0.4, 0.1, p=1.0)(image)
    assert_pairwise_distinct(out)


def test_single_channel_gets_brightness_and_contrast_only():
    images = random_images(8)[:, :1]
    jitter = BatchedColorJitter(0.5, 0.5, 0.5, 0.2, p=1.0)
    params = jitter.sample_params(images, torch.Generator().manual_seed(0))
    params = params._replace(order=(2, 3))  # saturation and hue only
    torch.testing.assert_close(jitter.apply_params(images, params), images)
    assert jitter(images).shape == images.shape


def test_disabled_jitter_returns_input_values():
    images = random_images(4)
    torch.testing.assert_close(BatchedColorJitter(p=1.0)(images), images)
    torch.testing.assert_close(BatchedColorJitter(0.5, p=0.0)(images), images)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"brightness": -0.1}, r"`brightness` must be in \[0.0, inf\], got -0.1"),
        ({"contrast": (1.5, 0.5)}, r"`contrast` must be a \(min, max\) pair"),
        ({"saturation": (-1.0, 1.0)}, r"`saturation` must be in \[0.0, inf\]"),
        ({"hue": 0.6}, r"`hue` must be in \[0.0, 0.5\], got 0.6"),
        ({"hue": (-0.7, 0.1)}, r"`hue` must be in \[-0.5, 0.5\], got -0.7"),
        ({"p": 1.1}, r"`p` must be in \[0.0, 1.0\], got 1.1"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchedColorJitter(**kwargs)
