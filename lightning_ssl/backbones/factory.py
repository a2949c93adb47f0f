"""Build backbones by name, infer their feature dimension and load local weights."""

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

from lightning_ssl.backbones.resnet import RESNETS
from lightning_ssl.backbones.vit import VITS

logger = logging.getLogger(__name__)

BACKBONES = {**RESNETS, **VITS}

# Classifier weights in torchvision and timm checkpoints; a backbone has none.
_CLASSIFIER_PREFIXES = ("fc.", "heads.", "head.", "classifier.")


def build_backbone(name: str, **kwargs: Any) -> nn.Module:
    """Create a backbone by name, without classifier.

    Args:
        name: One of :data:`BACKBONES`: ``"resnet18"``, ``"resnet34"``,
            ``"resnet50"``, ``"narrow_resnet18"``, ``"vit_tiny"``,
            ``"vit_small"``, ``"vit_base"``.
        **kwargs: Passed to the constructor: ``cifar_stem`` for ResNets
            (``width`` too for the narrow one); ``image_size`` and
            ``patch_size`` for ViTs.

    Returns:
        A module mapping `(B, 3, H, W)` images to `(B, D)` features.

    Raises:
        ValueError: If ``name`` is unknown.

    Example:
        >>> backbone = build_backbone("narrow_resnet18", cifar_stem=True)
        >>> infer_feature_dim(backbone)
        128
    """
    if name not in BACKBONES:
        raise ValueError(
            f"`backbone` must be one of {sorted(BACKBONES)} or an nn.Module, "
            f"got {name!r}."
        )
    return BACKBONES[name](**kwargs)


@torch.no_grad()
def infer_feature_dim(backbone: nn.Module, probe_size: int = 64) -> int:
    """The dimension D of the `(B, D)` features a backbone returns.

    Read from an ``output_dim`` attribute or a torchvision ViT's ``hidden_dim``
    when present, otherwise measured by a forward pass on random images.

    Args:
        backbone: The feature extractor.
        probe_size: Side of the random `(2, 3, probe_size, probe_size)` batch
            used for the forward pass.

    Raises:
        ValueError: If the forward pass fails.
    """
    output_dim = getattr(backbone, "output_dim", None)
    if isinstance(output_dim, int):
        return output_dim
    if isinstance(backbone, VisionTransformer):
        return backbone.hidden_dim

    was_training = backbone.training
    backbone.eval()
    try:
        device = next(backbone.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    try:
        features = backbone(torch.randn(2, 3, probe_size, probe_size, device=device))
    except Exception as error:
        raise ValueError(
            "Could not infer the feature dimension of the backbone from a forward "
            f"pass on a (2, 3, {probe_size}, {probe_size}) batch ({error}). Pass "
            "`feature_dim` explicitly."
        ) from error
    finally:
        backbone.train(was_training)
    return int(features.flatten(1).shape[1])


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> None:
    """Load local pretrained weights into a backbone, in place.

    Accepts a plain ``state_dict`` (e.g. torchvision's ``resnet18-*.pth``) or a
    Lightning checkpoint of any lightning_ssl method, whose ``backbone.*``
    entries are used. Classifier weights (``fc.*``, ``heads.*``) are ignored.

    Args:
        backbone: The module to load into.
        path: Path to a ``.pth``/``.pt``/``.ckpt`` file.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file holds no matching weights, or weights are
            missing for the backbone.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"`pretrained` weights file not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(state, dict) and "state_dict" in state:
        state = {
            key.removeprefix("backbone."): value
            for key, value in state["state_dict"].items()
            if key.startswith("backbone.")
        }
    if not isinstance(state, dict) or not state:
        raise ValueError(
            f"`pretrained` file {path} holds no backbone weights; expected a "
            "state_dict or a lightning_ssl checkpoint."
        )

    state = {k: v for k, v in state.items() if not k.startswith(_CLASSIFIER_PREFIXES)}
    result = backbone.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"`pretrained` weights in {path} do not match the backbone: missing "
            f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]} "
            f"({len(result.missing_keys)} and {len(result.unexpected_keys)} in all)."
        )
    logger.info("Loaded %d backbone tensors from %s", len(state), path)
