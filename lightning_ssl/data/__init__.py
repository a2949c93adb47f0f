"""Datamodules that serve multi-view batches for self-supervised learning."""

from lightning_ssl.data.cache import (
    DatasetSource,
    dataset_source,
    default_cache_dir,
    load_or_decode,
)
from lightning_ssl.data.cifar10 import CIFAR10DataModule
from lightning_ssl.data.classes import CIFAR10_CLASSES, FASHION_MNIST_CLASSES
from lightning_ssl.data.collate import collate_images, collate_views
from lightning_ssl.data.datamodule import (
    AugmentOn,
    BatchTransform,
    SSLDataModule,
    ViewTransform,
    default_eval_transform,
)
from lightning_ssl.data.datasets import (
    UNKNOWN_TARGET,
    ArrayImageDataset,
    ImageFolderDataset,
    TransformDataset,
    dataset_targets,
)
from lightning_ssl.data.decoded import DecodedImageDataset, decode_images
from lightning_ssl.data.fashion_mnist import FashionMNISTDataModule
from lightning_ssl.data.fashion_mnist_sample import FashionMNISTSampleDataModule
from lightning_ssl.data.image_folder import ImageFolderDataModule
from lightning_ssl.data.sample import load_fashion_mnist_sample

__all__ = [
    "CIFAR10_CLASSES",
    "FASHION_MNIST_CLASSES",
    "UNKNOWN_TARGET",
    "ArrayImageDataset",
    "AugmentOn",
    "BatchTransform",
    "CIFAR10DataModule",
    "DatasetSource",
    "DecodedImageDataset",
    "FashionMNISTDataModule",
    "FashionMNISTSampleDataModule",
    "ImageFolderDataModule",
    "ImageFolderDataset",
    "SSLDataModule",
    "TransformDataset",
    "ViewTransform",
    "collate_images",
    "collate_views",
    "dataset_source",
    "dataset_targets",
    "decode_images",
    "default_cache_dir",
    "default_eval_transform",
    "load_fashion_mnist_sample",
    "load_or_decode",
]
