import pytest
import torch
import torchvision.transforms.v2.functional as TF

from lightning_ssl.transforms import BatchedRandomSolarization, SolarizationParams


def test_solarization_rate_matches_p():
    solarize = BatchedRandomSolarization(p=0.2)
    images = torch.empty(1, 1, 1, 1).expand(4096, 3, 8, 8)
    params = solarize.sample_params(images, torch.Generator().manual_seed(0))
    assert float(params.solarize.float().mean()) == pytest.approx(0.2, abs=0.03)


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_matches_torchvision_on_chosen_samples(threshold):
    images = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    chosen = torch.tensor([True, True, False, True, False, False])
    out = BatchedRandomSolarization(threshold=threshold).apply_params(
        images, SolarizationParams(chosen)
    )
    expected = TF.solarize(images[chosen], threshold)
    torch.testing.assert_close(out[chosen], expected)
    torch.testing.assert_close(out[~chosen], images[~chosen])


def test_default_threshold_matches_pil_on_uint8():
    # lightly solarises PIL images: values >= 128 become 255 - value.
    values = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    out = BatchedRandomSolarization(p=1.0)(values)
    expected = torch.where(values >= 128, 255 - values, values).float() / 255
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"p": -1}, r"`p` must be in \[0.0, 1.0\], got -1"),
        ({"threshold": 128}, r"`threshold` must be in \[0.0, 1.0\], got 128"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchedRandomSolarization(**kwargs)
