"""Backbones: torchvision ResNets and ViTs, and a narrow ResNet for CPU work."""

from lightning_ssl.backbones.factory import (
    BACKBONES,
    build_backbone,
    infer_feature_dim,
    load_backbone_weights,
)
from lightning_ssl.backbones.resnet import NarrowResNet
from lightning_ssl.backbones.vit import vision_transformer

__all__ = [
    "BACKBONES",
    "NarrowResNet",
    "build_backbone",
    "infer_feature_dim",
    "load_backbone_weights",
    "vision_transformer",
]
