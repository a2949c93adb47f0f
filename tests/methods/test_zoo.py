"""Every method learns on real CIFAR-10 images within 50 CPU training steps.

Each method trains once per module (the runs are cached) for 50 optimizer
steps of batch 32 on a pool of 800 augmented views of 1,000 training images
(the pool's 25 batches are reused), with small heads on ``narrow_resnet18``
(for MAE and I-JEPA, a 2-block ViT on 8x8 and 4x4 patches). Two things are
checked: the mean loss of the last 10 steps is below that of the first 10
(counted from ``LOSS_FROM`` for MoCo, once its queue is full), and the
weighted kNN top-1 (k=20) of 1,000 held-out test images, with the 1,000
training images as the bank, beats the same network at its random
initialisation. The multi-crop cases (SwAV, DINO, LeJEPA) use 2 global crops
of 32 px and 4 local crops of 16 px. MSN, and the kNN checks of MAE and
I-JEPA, run longer in their own test files.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

from lightning_ssl.methods import (
    BYOL,
    DINO,
    IJEPA,
    MAE,
    MMCR,
    NNCLR,
    BarlowTwins,
    LeJEPA,
    MoCo,
    MoCoV3,
    SimCLR,
    SimSiam,
    SSLMethod,
    SwAV,
    TiCo,
    VICReg,
)

from .vits import tiny_vit

STEPS = 50

# Short runs need an optimizer that moves fast from the first step: LARS (whose
# per-layer trust ratio copes with the different loss scales) at a fixed
# learning rate of 1.0, without warmup or batch scaling, for the ResNet cases.
RESNET = {
    "backbone": "narrow_resnet18",
    "optimizer": "lars",
    "lr": 1.0,
    "lr_scaling": "none",
    "weight_decay": 1e-6,
    "warmup_epochs": 0.0,
    "projection_hidden_dim": 128,
}
# DINO's and LeJEPA's losses learn better features with plain SGD here.
SGD = {**RESNET, "optimizer": "sgd", "lr": 0.5, "weight_decay": 5e-4}
MULTI_CROP = {"num_local_views": 4, "local_crop_size": 16}

CASES: dict[str, Callable[[], SSLMethod]] = {
    "simclr": lambda: SimCLR(**RESNET, projection_dim=64, temperature=0.2),
    "dcl": lambda: SimCLR(**RESNET, projection_dim=64, loss="dcl", temperature=0.2),
    "dclw": lambda: SimCLR(**RESNET, projection_dim=64, loss="dclw", temperature=0.2),
    "byol": lambda: BYOL(**RESNET, projection_dim=64, teacher_momentum=0.99),
    "vicreg": lambda: VICReg(**RESNET, projection_dim=128),
    "moco": lambda: MoCo(
        **RESNET,
        projection_dim=64,
        queue_size=128,
        teacher_momentum=0.996,
        teacher_momentum_end=0.996,
    ),
    "mocov3": lambda: MoCoV3(**RESNET, projection_dim=64, temperature=0.5),
    "simsiam": lambda: SimSiam(**RESNET, projection_dim=128, prediction_hidden_dim=32),
    "barlowtwins": lambda: BarlowTwins(**RESNET, projection_dim=128),
    "nnclr": lambda: NNCLR(
        **RESNET, projection_dim=64, prediction_hidden_dim=128, support_set_size=512
    ),
    "swav": lambda: SwAV(
        **RESNET, **MULTI_CROP, projection_dim=64, num_prototypes=64, queue_length=0
    ),
    # Batch norm in the head and an unnormalised last layer, as DINO's ResNet
    # runs use; a slower centre suits the small batch.
    "dino": lambda: DINO(
        **{**SGD, "lr": 0.1},
        **MULTI_CROP,
        bottleneck_dim=32,
        output_dim=1024,
        head_batch_norm=True,
        norm_last_layer=False,
        center_momentum=0.99,
        warmup_teacher_temperature_epochs=0,
        teacher_momentum=0.996,
        weight_decay_end=None,
    ),
    "lejepa": lambda: LeJEPA(**SGD, **MULTI_CROP, projection_dim=32, num_slices=256),
    "ijepa": lambda: IJEPA(
        tiny_vit(patch_size=4),
        predictor_depth=1,
        predictor_dim=64,
        predictor_heads=4,
        lr=1e-3,
        lr_scaling="none",
        warmup_epochs=0.0,
        weight_decay=0.05,
        weight_decay_end=None,
        teacher_momentum=0.99,
    ),
    "mae": lambda: MAE(
        tiny_vit(),
        decoder_depth=1,
        decoder_dim=64,
        decoder_heads=4,
        pooling="mean",
        lr=1e-3,
        lr_scaling="none",
        warmup_epochs=0.0,
    ),
    # C starts at zero: a shorter average (beta 0.5) fills it in the first steps,
    # so that its growth does not hide the fall of the loss; a stronger contrast
    # (rho 16) and a faster teacher suit 50 steps.
    "tico": lambda: TiCo(
        **RESNET,
        projection_dim=64,
        covariance_momentum=0.5,
        covariance_weight=16.0,
        teacher_momentum=0.96,
    ),
    # 4 views instead of 8 halve the cost; 8 learn as well (measured kNN top-1
    # 0.194 -> 0.272).
    "mmcr": lambda: MMCR(**RESNET, projection_dim=64, num_views=4),
}

# Cases whose kNN accuracy did not beat random initialisation in this budget,
# with the numbers measured (kNN top-1 at init -> after 50 steps).
KNN_XFAIL: dict[str, str] = {}

# Cases whose kNN accuracy is checked after a longer run elsewhere: the
# predictive ViT methods. MAE's frozen features first lose to a random ViT
# (kNN top-1 0.257 at init -> 0.230 after 50 steps; no ViT size, pooling, lr,
# mask ratio or decoder tried gained more than seed noise in 50 steps) and
# beat it after a few hundred; I-JEPA's move little at first.
KNN_ELSEWHERE: dict[str, str] = {
    "mae": "tests/methods/test_mae.py::test_learns_on_cifar10 (1,000 steps)",
    "ijepa": "tests/methods/test_ijepa.py::test_learns_on_cifar10 (600 steps)",
}


@dataclass
class Run:
    """One cached training run."""

    model: SSLMethod
    losses: list[float]
    knn_at_init: float
    knn_trained: float


@pytest.fixture(scope="module")
def runs(cifar: Any, train: Callable[..., list[float]]) -> Callable[[str], Run]:
    """Train each case once per module, on first use."""
    cache: dict[str, Run] = {}

    def get(name: str) -> Run:
        if name not in cache:
            torch.manual_seed(0)
            model = CASES[name]()
            loader = cifar.loader(model)
            evaluate = name not in KNN_ELSEWHERE
            knn_at_init = cifar.knn_top1(model) if evaluate else float("nan")
            losses = train(model, loader, STEPS)
            knn_trained = cifar.knn_top1(model) if evaluate else float("nan")
            cache[name] = Run(model, losses, knn_at_init, knn_trained)
        return cache[name]

    return get


# Steps after which a case's loss is comparable from step to step. MoCo's loss
# counts only the queue slots written so far, so it rises while its 128-key
# queue fills (4 batches of 32) and is compared from the first full step on.
LOSS_FROM: dict[str, int] = {"moco": 4}

# Cases whose loss does not fall within 50 steps, with the numbers measured.
LOSS_XFAIL: dict[str, str] = {}


def _loss_case(name: str) -> Any:
    if name in LOSS_XFAIL:
        return pytest.param(
            name, marks=pytest.mark.xfail(reason=LOSS_XFAIL[name], strict=False)
        )
    return name


@pytest.mark.parametrize("name", [_loss_case(name) for name in CASES])
def test_loss_falls(name: str, runs: Callable[[str], Run]) -> None:
    losses = runs(name).losses
    assert len(losses) == STEPS and np.isfinite(losses).all()
    start = LOSS_FROM.get(name, 0)
    first, last = np.mean(losses[start : start + 10]), np.mean(losses[-10:])
    assert last < first, f"{name}: mean loss {first:.4f} -> {last:.4f}"


def _knn_case(name: str) -> Any:
    if name in KNN_XFAIL:
        return pytest.param(
            name, marks=pytest.mark.xfail(reason=KNN_XFAIL[name], strict=False)
        )
    return name


@pytest.mark.parametrize(
    "name", [_knn_case(name) for name in CASES if name not in KNN_ELSEWHERE]
)
def test_knn_beats_random_initialisation(name: str, runs: Callable[[str], Run]) -> None:
    run = runs(name)
    assert run.knn_trained > run.knn_at_init, (
        f"{name}: kNN top-1 {run.knn_at_init:.3f} at init, "
        f"{run.knn_trained:.3f} after {STEPS} steps"
    )


@pytest.mark.parametrize("name", CASES)
def test_embed_returns_flat_features(
    name: str, runs: Callable[[str], Run], cifar: Any
) -> None:
    model = runs(name).model.eval()
    with torch.no_grad():
        features = model.embed(cifar.test_tensors[:5])
    assert features.shape == (5, model.feature_dim)
