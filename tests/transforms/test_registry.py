import pytest
from lightly import transforms as lightly_transforms

from lightning_ssl.transforms import (
    BATCHED_TRANSFORMS,
    BatchedBYOLTransform,
    BatchedBYOLView1Transform,
    BatchedMMCRTransform,
    BatchedMoCoV2Transform,
    BatchedMSNTransform,
    BatchedMultiCropTransform,
    BatchedSimCLRTransform,
    batched_transform_for,
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("simclr", BatchedSimCLRTransform),
        ("SimCLRTransform", BatchedSimCLRTransform),
        (lightly_transforms.SimCLRTransform, BatchedSimCLRTransform),
        (lightly_transforms.BYOLTransform(), BatchedBYOLTransform),
        ("MoCo-v2", BatchedMoCoV2Transform),
        ("moco", BatchedMoCoV2Transform),
        ("MultiCropTranform", BatchedMultiCropTransform),
        ("multi_crop", BatchedMultiCropTransform),
        (lightly_transforms.MMCRTransform, BatchedMMCRTransform),
        ("TiCo", BatchedBYOLTransform),
        (lightly_transforms.TiCoView1Transform, BatchedBYOLView1Transform),
        (lightly_transforms.MSNTransform, BatchedMSNTransform),
    ],
)
def test_finds_the_batched_recipe(query, expected):
    assert batched_transform_for(query) is expected


def test_every_lightly_counterpart_is_found():
    for key, recipe in BATCHED_TRANSFORMS.items():
        lightly_name = recipe.__name__.removeprefix("Batched")
        assert batched_transform_for(lightly_name) is recipe, key


def test_unknown_name_raises_with_the_choices():
    with pytest.raises(ValueError, match=r"one of \('byol', .*\), got 'barlowtwins'"):
        batched_transform_for("barlowtwins")
