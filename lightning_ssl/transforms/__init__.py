"""Batched augmentations: `(B, C, H, W)` batches in, views out, on any device.

Each op draws its random parameters per sample and processes the whole batch in
a few vectorised calls, so augmentation can run on the accelerator (or on the
main process's CPU) instead of per image in loader workers. The recipes mirror
lightly's multi-view transforms, with the same argument names and defaults.
"""

from lightning_ssl.transforms.byol import (
    BatchedBYOLTransform,
    BatchedBYOLView1Transform,
    BatchedBYOLView2Transform,
)
from lightning_ssl.transforms.color_jitter import BatchedColorJitter, ColorJitterParams
from lightning_ssl.transforms.compose import BatchedCompose
from lightning_ssl.transforms.dino import BatchedDINOTransform
from lightning_ssl.transforms.fast_siam import BatchedFastSiamTransform
from lightning_ssl.transforms.flip import (
    BatchedRandomHorizontalFlip,
    BatchedRandomVerticalFlip,
    FlipParams,
)
from lightning_ssl.transforms.gaussian_blur import BatchedGaussianBlur, BlurParams
from lightning_ssl.transforms.grayscale import BatchedRandomGrayscale, GrayscaleParams
from lightning_ssl.transforms.mae import BatchedMAETransform
from lightning_ssl.transforms.mmcr import BatchedMMCRTransform
from lightning_ssl.transforms.moco import BatchedMoCoV2Transform
from lightning_ssl.transforms.msn import BatchedMSNTransform
from lightning_ssl.transforms.multi_crop import BatchedMultiCropTransform
from lightning_ssl.transforms.multi_view import BatchedMultiViewTransform
from lightning_ssl.transforms.normalize import BatchedNormalize
from lightning_ssl.transforms.random_resized_crop import (
    BatchedRandomResizedCrop,
    CropParams,
)
from lightning_ssl.transforms.registry import BATCHED_TRANSFORMS, batched_transform_for
from lightning_ssl.transforms.simclr import BatchedSimCLRTransform
from lightning_ssl.transforms.simsiam import BatchedSimSiamTransform
from lightning_ssl.transforms.solarization import (
    BatchedRandomSolarization,
    SolarizationParams,
)
from lightning_ssl.transforms.swav import BatchedSwaVTransform
from lightning_ssl.transforms.vicreg import BatchedVICRegTransform
from lightning_ssl.transforms.view import BatchedViewTransform

__all__ = [
    "BATCHED_TRANSFORMS",
    "BatchedBYOLTransform",
    "BatchedBYOLView1Transform",
    "BatchedBYOLView2Transform",
    "BatchedColorJitter",
    "BatchedCompose",
    "BatchedDINOTransform",
    "BatchedFastSiamTransform",
    "BatchedGaussianBlur",
    "BatchedMAETransform",
    "BatchedMMCRTransform",
    "BatchedMSNTransform",
    "BatchedMoCoV2Transform",
    "BatchedMultiCropTransform",
    "BatchedMultiViewTransform",
    "BatchedNormalize",
    "BatchedRandomGrayscale",
    "BatchedRandomHorizontalFlip",
    "BatchedRandomResizedCrop",
    "BatchedRandomSolarization",
    "BatchedRandomVerticalFlip",
    "BatchedSimCLRTransform",
    "BatchedSimSiamTransform",
    "BatchedSwaVTransform",
    "BatchedVICRegTransform",
    "BatchedViewTransform",
    "BlurParams",
    "ColorJitterParams",
    "CropParams",
    "FlipParams",
    "GrayscaleParams",
    "SolarizationParams",
    "batched_transform_for",
]
