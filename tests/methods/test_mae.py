"""MAE specifics: a ViT backbone, masking and the features it embeds."""

from typing import Any

import pytest
import torch

from lightning_ssl.methods import MAE

VIT = {"backbone": "vit_tiny", "backbone_kwargs": {"image_size": 32, "patch_size": 8}}
DECODER = {"decoder_depth": 1, "decoder_dim": 16, "decoder_heads": 2}


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_embed_gives_one_vector_per_image(pooling: str) -> None:
    model = MAE(**VIT, **DECODER, pooling=pooling).eval()
    with torch.no_grad():
        features = model.embed(torch.randn(3, 3, 32, 32))
    assert features.shape == (3, 192) == (3, model.feature_dim)


def test_loss_is_computed_on_masked_patches_only() -> None:
    torch.manual_seed(0)
    model = MAE(**VIT, **DECODER, norm_pix_loss=False)
    images = torch.zeros(2, 3, 32, 32)
    output = model.compute_loss([images])
    assert output["loss"].ndim == 0 and output["features"].shape == (2, 192)
    assert not output["features"].requires_grad
    # The fixed sine-cosine positional embedding of the paper is not trained.
    assert not model.vit.encoder.pos_embedding.requires_grad


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"backbone": "narrow_resnet18", "backbone_kwargs": None},
            TypeError,
            "MAE needs a torchvision VisionTransformer backbone",
        ),
        ({"mask_ratio": 1.5}, ValueError, r"`mask_ratio` must be in \(0.0, 1.0\]"),
        ({"decoder_heads": 3}, ValueError, r"`decoder_heads` must divide"),
        ({"pooling": "max"}, ValueError, r"`pooling` must be one of"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        MAE(**{**VIT, **DECODER, **kwargs})


def test_images_of_another_size_are_rejected() -> None:
    model = MAE(**VIT, **DECODER)
    with pytest.raises(ValueError, match="image_size 32"):
        model.compute_loss([torch.randn(2, 3, 16, 16)])
