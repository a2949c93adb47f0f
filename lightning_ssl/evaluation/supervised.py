"""Supervised training from scratch on few labels: the baseline of linear probes."""

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from lightning_ssl.backbones import infer_feature_dim
from lightning_ssl.evaluation.features import (
    extract_features,
    loader_over,
    preserved_rng,
)
from lightning_ssl.evaluation.knn import top_k_accuracies
from lightning_ssl.methods.optim import parameter_groups
from lightning_ssl.validation import check_positive_int, check_range

MIN_SUPERVISED_STEPS = 100
"""Fewest optimizer steps of a baseline, so that 1% subsets get some training."""


def fresh_backbone(model: nn.Module) -> nn.Module:
    """A newly initialised backbone of the same architecture as ``model``'s.

    A method built from a backbone name builds it again, with the same
    initialisation as at the start of pretraining; otherwise the backbone is
    copied and every submodule with ``reset_parameters`` is reset. Draws from
    torch's global random generator; seed it for a reproducible result.

    Args:
        model: A :class:`~lightning_ssl.methods.SSLMethod`, or any module with a
            ``backbone`` attribute, or a backbone itself.

    Returns:
        The new backbone, on the CPU, in train mode.

    Example:
        >>> from lightning_ssl.methods import SimCLR
        >>> model = SimCLR("narrow_resnet18", projection_hidden_dim=32)
        >>> backbone = fresh_backbone(model)
        >>> type(backbone) is type(model.backbone)
        True
    """
    hparams = getattr(model, "hparams", {})
    build = getattr(model, "build_backbone", None)
    name = hparams.get("backbone")
    if callable(build) and isinstance(name, str):
        backbone: nn.Module = build(
            name,
            hparams.get("cifar_stem", False),
            dict(hparams["backbone_kwargs"] or {}),
        )
        return backbone.cpu().train()

    source = getattr(model, "backbone", model)
    backbone = copy.deepcopy(source).cpu().train()
    for module in backbone.modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
    return backbone


def _flip_and_crop(images: Tensor, generator: torch.Generator) -> Tensor:
    """Random horizontal flips and padded random crops of `(B, C, H, W)` images.

    The standard augmentation of supervised CIFAR training: 4 pixels of zero
    padding on 32x32 images (He et al., 2016, Sec. 4.2), scaled to other sizes.
    """
    batch, _, height, width = images.shape
    pad = max(1, height // 8)
    flip = (torch.rand(batch, generator=generator) < 0.5).view(-1, 1, 1, 1)
    images = torch.where(flip.to(images.device), images.flip(3), images)

    padded = F.pad(images, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (batch, 2), generator=generator)
    crops = [
        padded[index, :, top : top + height, left : left + width]
        for index, (top, left) in enumerate(offsets.tolist())
    ]
    return torch.stack(crops)


def train_supervised_baseline(
    model: nn.Module,
    train_loader: DataLoader[Any],
    train_indices: Sequence[int] | Tensor,
    val_loader: DataLoader[Any],
    num_classes: int,
    *,
    epochs: int = 30,
    lr: float = 0.1,
    weight_decay: float = 5e-4,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> float:
    """Train ``model``'s backbone architecture from scratch on labelled samples.

    A new backbone (see :func:`fresh_backbone`) and a linear layer are trained
    with cross-entropy on the samples ``train_indices`` of ``train_loader``'s
    dataset, with random flips and padded crops, by SGD with Nesterov momentum
    0.9, learning rate ``lr * batch_size / 256`` (Goyal et al., 2017) decayed
    by a cosine, and weight decay on weights only. The budget is ``epochs``
    passes over the subset but at least :data:`MIN_SUPERVISED_STEPS` steps.
    Torch's global random state is left as it was.

    Args:
        model: The self-supervised model whose backbone architecture is used;
            its weights are not touched.
        train_loader: Unshuffled loader of labelled `(B, C, H, W)` training
            images; its batch size, collate function and workers are reused.
        train_indices: Indices of the labelled training samples to use.
        val_loader: Loader of labelled validation images.
        num_classes: Number of classes C.
        epochs: Passes over the labelled subset.
        lr: Learning rate at batch size 256.
        weight_decay: Weight decay of weights (not of biases and norms).
        seed: Seed of initialisation, sample order and augmentation.
        device: Where to train; the model's device by default.

    Returns:
        Top-1 accuracy on the labelled validation images, in ``[0, 1]``.

    Raises:
        ValueError: If an argument is out of range.
    """
    check_positive_int("epochs", epochs)
    check_range("lr", lr, low=0.0, low_open=True)
    check_range("weight_decay", weight_decay, low=0.0)
    indices = torch.as_tensor(train_indices, dtype=torch.long).cpu()
    if len(indices) == 0:
        raise ValueError("`train_indices` must select at least one sample, got none.")
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)

    with preserved_rng(device):
        torch.manual_seed(seed)
        backbone = fresh_backbone(model)
        head = nn.Linear(infer_feature_dim(backbone), num_classes)
        network = nn.Sequential(backbone, nn.Flatten(), head).to(device)
        _fit(network, train_loader, indices, epochs, lr, weight_decay, seed)

        features, targets = extract_features(network, val_loader, device=device)
    labelled = targets >= 0
    return top_k_accuracies(features[labelled], targets[labelled], "top1")["top1"]


@torch.enable_grad()
def _fit(
    network: nn.Module,
    train_loader: DataLoader[Any],
    indices: Tensor,
    epochs: int,
    lr: float,
    weight_decay: float,
    seed: int,
) -> None:
    device = next(network.parameters()).device
    batch_size = train_loader.batch_size or 256
    steps_per_epoch = math.ceil(len(indices) / batch_size)
    epochs = max(epochs, math.ceil(MIN_SUPERVISED_STEPS / steps_per_epoch))
    optimizer = torch.optim.SGD(
        parameter_groups([network], weight_decay),
        lr=lr * batch_size / 256,
        momentum=0.9,
        nesterov=True,
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, epochs * steps_per_epoch
    )

    generator = torch.Generator().manual_seed(seed)
    network.train()
    for _ in range(epochs):
        order = indices[torch.randperm(len(indices), generator=generator)]
        for images, targets in loader_over(train_loader, order.tolist()):
            # Batch norm cannot train on one sample; a last batch of one is
            # skipped (at most one sample per epoch).
            if len(targets) < 2:
                continue
            images = _flip_and_crop(images, generator).to(device)
            loss = F.cross_entropy(network(images), targets.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    network.eval()
