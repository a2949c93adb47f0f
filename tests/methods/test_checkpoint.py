"""Every method saves and reloads with `load_method`, queues and centres included,
and trains when subclassed with one hook overridden."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from typing_extensions import override

from lightning_ssl.methods import (
    BYOL,
    DINO,
    IJEPA,
    MAE,
    METHODS,
    MMCR,
    MSN,
    NNCLR,
    BarlowTwins,
    FeatureQueue,
    LeJEPA,
    MoCo,
    MoCoV3,
    SimCLR,
    SimSiam,
    SSLMethod,
    SwAV,
    TiCo,
    VICReg,
    load_method,
)
from lightning_ssl.methods.types import StepOutput, Views

RESNET = {"backbone": "narrow_resnet18", "warmup_epochs": 0.0, "batch_size": 8}
HEAD = {**RESNET, "projection_hidden_dim": 16}
TINY: dict[str, Callable[[], SSLMethod]] = {
    "simclr": lambda: SimCLR(**HEAD, projection_dim=8),
    "byol": lambda: BYOL(**HEAD, projection_dim=8),
    "vicreg": lambda: VICReg(**HEAD, projection_dim=8),
    "moco": lambda: MoCo(**HEAD, projection_dim=8, queue_size=32),
    "mocov3": lambda: MoCoV3(**HEAD, projection_dim=8),
    "simsiam": lambda: SimSiam(**HEAD, projection_dim=8, prediction_hidden_dim=4),
    "barlowtwins": lambda: BarlowTwins(**HEAD, projection_dim=8),
    "nnclr": lambda: NNCLR(
        **HEAD, projection_dim=8, prediction_hidden_dim=8, support_set_size=32
    ),
    "swav": lambda: SwAV(**HEAD, num_prototypes=8, queue_length=16),
    "dino": lambda: DINO(**HEAD, bottleneck_dim=8, output_dim=16),
    "lejepa": lambda: LeJEPA(**HEAD, projection_dim=8, num_slices=16),
    "tico": lambda: TiCo(**HEAD, projection_dim=8),
    "mmcr": lambda: MMCR(**HEAD, projection_dim=8, num_views=2),
    "msn": lambda: MSN(
        "vit_tiny",
        backbone_kwargs={"image_size": 32, "patch_size": 8},
        warmup_epochs=0.0,
        batch_size=8,
        projection_hidden_dim=16,
        projection_dim=8,
        num_prototypes=8,
    ),
    "mae": lambda: MAE(
        "vit_tiny",
        backbone_kwargs={"image_size": 32, "patch_size": 8},
        warmup_epochs=0.0,
        batch_size=8,
        decoder_depth=1,
        decoder_dim=16,
        decoder_heads=2,
    ),
    "ijepa": lambda: IJEPA(
        "vit_tiny",
        backbone_kwargs={"image_size": 32, "patch_size": 8},
        warmup_epochs=0.0,
        batch_size=8,
        predictor_depth=1,
        predictor_dim=16,
        predictor_heads=2,
    ),
}

# State that a resumed run must not lose, by method: key -> expected prefix.
STATEFUL = {
    "moco": "queue.bank",
    "nnclr": "support_set.bank",
    "swav": "queues.0.bank",
    "dino": "criterion.center",
    "tico": "criterion.C",
}


def view_loader(name: str, num_batches: int = 2) -> DataLoader[Any]:
    """Random batches of 8 with the view layout each method expects."""
    sizes = {"mae": [32], "swav": [32, 32, 16, 16], "dino": [32, 32, 16, 16]}
    sizes["lejepa"] = sizes["msn"] = sizes["dino"]
    sizes["ijepa"] = sizes["mae"]
    generator = torch.Generator().manual_seed(0)
    batches = [
        (
            [
                torch.randn(8, 3, s, s, generator=generator)
                for s in sizes.get(name, [32, 32])
            ],
            torch.full((8,), -1),
        )
        for _ in range(num_batches)
    ]
    return DataLoader(batches, batch_size=None)


def fit_two_steps(model: SSLMethod, name: str, tmp_path: Path) -> L.Trainer:
    """Train ``model`` for 2 steps on CPU on the view layout of method ``name``."""
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, view_loader(name))
    return trainer


def test_every_registered_method_is_covered() -> None:
    assert set(TINY) == set(METHODS)


@pytest.mark.parametrize("name", sorted(TINY))
def test_checkpoint_round_trip(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TINY[name]()
    trainer = fit_two_steps(model, name, tmp_path)
    path = tmp_path / f"{name}.ckpt"
    trainer.save_checkpoint(path)

    loaded = load_method(path)
    assert type(loaded) is type(model) and not loaded.training
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    for key, value in state.items():
        assert torch.equal(value, loaded_state[key]), key

    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.eval().embed(images), loaded.embed(images))


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_queues_and_centres_are_saved_after_training(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TINY[name]()
    initial = {
        k: v.clone() for k, v in model.state_dict().items() if STATEFUL[name] in k
    }
    trainer = fit_two_steps(model, name, tmp_path)
    path = tmp_path / f"{name}.ckpt"
    trainer.save_checkpoint(path)

    saved = torch.load(path, weights_only=False)["state_dict"]
    key = STATEFUL[name]
    assert key in saved
    assert not torch.equal(saved[key], initial[key]), f"{key} did not change"
    queues = [m for m in load_method(path).modules() if isinstance(m, FeatureQueue)]
    for queue in queues:
        assert int(queue.bank_ptr) > 0 or bool(queue.full)


@pytest.mark.parametrize("name", sorted(TINY))
def test_a_subclass_overriding_one_hook_trains(name: str, tmp_path: Path) -> None:
    # The pattern the methods are built for: subclass, override one hook, call
    # super(), and the Trainer runs the subclass's hook at every step.
    method = type(TINY[name]())
    losses: list[float] = []

    class Extended(method):  # type: ignore[misc, valid-type]
        @override
        def compute_loss(self, views: Views) -> StepOutput:
            output = super().compute_loss(views)
            losses.append(float(output["loss"]))
            return output

    torch.manual_seed(0)
    model = Extended(**TINY[name]().hparams)
    trainer = fit_two_steps(model, name, tmp_path)
    assert trainer.global_step == 2
    assert len(losses) == 2 and np.isfinite(losses).all()
