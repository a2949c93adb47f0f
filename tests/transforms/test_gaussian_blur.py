import pytest
import torch
import torchvision.transforms.v2.functional as TF

from lightning_ssl.transforms import BatchedGaussianBlur, BlurParams


def test_sigmas_and_rate_follow_configuration():
    blur = BatchedGaussianBlur(p=0.5, sigmas=(0.1, 2.0))
    images = torch.empty(1, 1, 1, 1).expand(4096, 3, 32, 32)
    params = blur.sample_params(images, torch.Generator().manual_seed(0))
    assert float(params.blurred.float().mean()) == pytest.approx(0.5, abs=0.04)
    sigma = params.sigma[params.blurred]
    assert sigma.min() >= 0.1 and sigma.max() <= 2.0
    assert float(sigma.mean()) == pytest.approx(1.05, abs=0.04)
    assert float(sigma.std()) == pytest.approx(1.9 / 12**0.5, abs=0.03)
    assert params.sigma[~params.blurred].eq(0).all()


@pytest.mark.parametrize(("size", "kernel_size"), [(32, None), (16, 5), (9, None)])
@pytest.mark.parametrize("inplace", [False, True])
def test_matches_torchvision_per_sample(size, kernel_size, inplace):
    images = torch.rand(6, 3, size, size, generator=torch.Generator().manual_seed(0))
    original = images.clone()
    sigma = torch.tensor([0.0, 0.3, 1.0, 0.0, 1.7, 2.0])
    blur = BatchedGaussianBlur(
        sigmas=(0.1, 2.0), kernel_size=kernel_size, inplace=inplace
    )
    out = blur.apply_params(images, BlurParams(sigma > 0, sigma))

    k = blur.kernel_size_for(size, size)
    for index, s in enumerate(sigma.tolist()):
        expected = original[index]
        if s > 0:
            expected = TF.gaussian_blur(expected, [k, k], [s, s])
        torch.testing.assert_close(out[index], expected, atol=1e-5, rtol=1e-5)
    if not inplace:
        torch.testing.assert_close(images, original)


def test_kernel_size_grows_with_sigma_and_fits_the_image():
    assert BatchedGaussianBlur(sigmas=(0.1, 2.0)).kernel_size_for(224, 224) == 13
    assert BatchedGaussianBlur(sigmas=(0.1, 0.5)).kernel_size_for(224, 224) == 5
    assert BatchedGaussianBlur(sigmas=(0.1, 2.0)).kernel_size_for(10, 12) == 9
    assert BatchedGaussianBlur(kernel_size=7).kernel_size_for(32, 32) == 7


def test_blur_spreads_an_impulse_by_sigma():
    images = torch.zeros(2, 1, 31, 31)
    images[:, :, 15, 15] = 1.0
    sigma = torch.tensor([1.0, 1.5])
    out = BatchedGaussianBlur().apply_params(images, BlurParams(sigma > 0, sigma))
    profile = out[:, 0, 15] / out[:, 0, 15].sum(dim=1, keepdim=True)
    offsets = torch.arange(31.0) - 15
    spread = (profile * offsets.square()).sum(dim=1).sqrt()
    torch.testing.assert_close(spread, sigma, atol=0.02, rtol=0)
    torch.testing.assert_close(out.sum(dim=(1, 2, 3)), torch.ones(2))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"p": 1.5}, r"`p` must be in \[0.0, 1.0\], got 1.5"),
        ({"sigmas": (2.0, 0.1)}, r"`sigmas` must be a \(min, max\) pair"),
        ({"sigmas": (0.0, 1.0)}, r"`sigmas` must be in \(0.0, inf\], got 0.0"),
        (
            {"kernel_size": 4},
            r"`kernel_size` must be a positive odd int or None, got 4",
        ),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchedGaussianBlur(**kwargs)


def test_kernel_larger_than_image_raises():
    blur = BatchedGaussianBlur(p=1.0, kernel_size=9)
    with pytest.raises(ValueError, match=r"`kernel_size` must be at most 7 .* got 9"):
        blur(torch.rand(2, 3, 8, 8))
