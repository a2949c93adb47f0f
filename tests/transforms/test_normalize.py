import pytest
import torch
import torchvision.transforms.v2.functional as TF
from lightly.transforms.utils import IMAGENET_NORMALIZE

from lightning_ssl.transforms import BatchedNormalize


@pytest.mark.parametrize("inplace", [False, True])
def test_matches_torchvision(inplace):
    images = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    original = images.clone()
    normalize = BatchedNormalize(**IMAGENET_NORMALIZE, inplace=inplace)
    expected = TF.normalize(original, **IMAGENET_NORMALIZE)
    torch.testing.assert_close(normalize(images), expected)
    if not inplace:
        torch.testing.assert_close(images, original)


def test_uint8_is_scaled_first_and_buffers_are_not_saved():
    normalize = BatchedNormalize([0.5], [0.5])
    out = normalize(torch.full((1, 2, 1, 1), 255, dtype=torch.uint8))
    torch.testing.assert_close(out, torch.ones(1, 2, 1, 1))
    assert normalize.state_dict() == {}


@pytest.mark.parametrize(
    ("mean", "std", "match"),
    [
        ([0.5, 0.5], [0.5], r"equal length, got 2 and 1 values"),
        ([], [], r"non-empty"),
        ([0.5], [0.0], r"`std` must be positive, got \[0.0\]"),
    ],
)
def test_bad_arguments_raise(mean, std, match):
    with pytest.raises(ValueError, match=match):
        BatchedNormalize(mean, std)


def test_channel_mismatch_raises():
    with pytest.raises(ValueError, match=r"must have 3 channels to match `mean`"):
        BatchedNormalize(**IMAGENET_NORMALIZE)(torch.rand(2, 1, 4, 4))
