import pytest
import torch
import torchvision.transforms.v2.functional as TF

from lightning_ssl.transforms import BatchedRandomGrayscale, GrayscaleParams


def test_gray_rate_matches_p():
    gray = BatchedRandomGrayscale(p=0.2)
    images = torch.empty(1, 1, 1, 1).expand(4096, 3, 8, 8)
    params = gray.sample_params(images, torch.Generator().manual_seed(0))
    assert float(params.gray.float().mean()) == pytest.approx(0.2, abs=0.03)


@pytest.mark.parametrize("inplace", [False, True])
def test_converts_exactly_the_chosen_samples(inplace):
    images = torch.rand(5, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    original = images.clone()
    chosen = torch.tensor([True, False, False, True, False])
    out = BatchedRandomGrayscale(inplace=inplace).apply_params(
        images, GrayscaleParams(chosen)
    )
    # torchvision weighs red 0.2989, PIL (and so lightly) and this op 0.299.
    expected = TF.rgb_to_grayscale(original[chosen], num_output_channels=3)
    torch.testing.assert_close(out[chosen], expected, atol=2e-4, rtol=0)
    torch.testing.assert_close(out[~chosen], original[~chosen])
    if not inplace:
        torch.testing.assert_close(images, original)


def test_single_channel_passes_through():
    images = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(BatchedRandomGrayscale(p=1.0)(images), images)


def test_two_channels_raise():
    with pytest.raises(ValueError, match=r"`images` must have 1 or 3 channels"):
        BatchedRandomGrayscale(p=1.0)(torch.rand(2, 2, 4, 4))


def test_bad_probability_raises():
    with pytest.raises(ValueError, match=r"`p` must be in \[0.0, 1.0\], got 2"):
        BatchedRandomGrayscale(p=2)
