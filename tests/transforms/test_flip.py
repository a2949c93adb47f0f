import pytest
import torch

from lightning_ssl.transforms import (
    BatchedRandomHorizontalFlip,
    BatchedRandomVerticalFlip,
    FlipParams,
)

FLIPS = [(BatchedRandomHorizontalFlip, -1), (BatchedRandomVerticalFlip, -2)]


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_flip_rate_matches_p(p):
    flip = BatchedRandomHorizontalFlip(p)
    images = torch.empty(1, 1, 1, 1).expand(4096, 3, 8, 8)
    params = flip.sample_params(images, torch.Generator().manual_seed(0))
    # Binomial standard error is below 0.008; allow five of them.
    assert float(params.flip.float().mean()) == pytest.approx(p, abs=0.04)


@pytest.mark.parametrize(("flip_class", "dim"), FLIPS)
@pytest.mark.parametrize("inplace", [False, True])
def test_flips_exactly_the_chosen_samples(flip_class, dim, inplace):
    images = torch.rand(6, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    original = images.clone()
    chosen = torch.tensor([True, False, True, True, False, False])
    out = flip_class(inplace=inplace).apply_params(images, FlipParams(chosen))
    torch.testing.assert_close(out[chosen], original[chosen].flip(dim))
    torch.testing.assert_close(out[~chosen], original[~chosen])
    assert (out is images) == inplace
    if not inplace:
        torch.testing.assert_close(images, original)


def test_seeded_generator_is_deterministic_and_uint8_matches_float():
    flip = BatchedRandomHorizontalFlip()
    images = torch.randint(0, 256, (64, 3, 4, 4), dtype=torch.uint8)
    first = flip(images, generator=torch.Generator().manual_seed(7))
    again = flip(images / 255, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(first, again)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_bad_probability_raises(p):
    with pytest.raises(ValueError, match=rf"`p` must be in \[0.0, 1.0\], got {p}"):
        BatchedRandomVerticalFlip(p)
