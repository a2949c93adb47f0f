"""The learning rate is scaled by the global batch of a multi-device, multi-node run.

The global batch is devices x nodes x per-device batch x accumulated batches;
``lr`` applies at ``reference_batch_size`` and is scaled linearly, by the square
root, or not at all (``lr_scaling``). The trainer is mocked, except for the
world size, which comes from a real (not launched) ``Trainer``, so that the
tests also pin how Lightning counts devices and nodes.
"""

import math
from types import SimpleNamespace
from typing import Any

import lightning as L
import pytest
from torch.utils.data import DataLoader

from lightning_ssl.methods import SimCLR, SSLMethod

BASE_LR = 0.3
REFERENCE = 256


def _world_size(devices: int, num_nodes: int) -> int:
    trainer = L.Trainer(
        accelerator="cpu",
        devices=devices,
        num_nodes=num_nodes,
        strategy="ddp",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    return trainer.world_size


def _attach(
    model: SSLMethod, world_size: int, per_device_batch: int, accumulate: int
) -> None:
    """A mocked trainer with what ``configure_optimizers`` reads."""
    loader: DataLoader[Any] = DataLoader(range(10 * per_device_batch), per_device_batch)
    model.trainer = SimpleNamespace(  # type: ignore[assignment]
        world_size=world_size,
        accumulate_grad_batches=accumulate,
        train_dataloader=loader,
        num_training_batches=len(loader),
        estimated_stepping_batches=100,
        max_epochs=10,
    )


@pytest.mark.parametrize(
    ("devices", "num_nodes", "per_device_batch", "accumulate", "rule", "global_batch"),
    [
        (1, 1, 256, 1, "linear", 256),
        (8, 1, 256, 1, "linear", 2048),
        (4, 2, 128, 1, "linear", 1024),
        (2, 2, 64, 4, "linear", 1024),
        (8, 4, 128, 1, "sqrt", 4096),
        (4, 1, 32, 2, "none", 256),
    ],
)
def test_configured_lr_uses_the_global_batch(
    devices: int,
    num_nodes: int,
    per_device_batch: int,
    accumulate: int,
    rule: str,
    global_batch: int,
) -> None:
    world_size = _world_size(devices, num_nodes)
    assert world_size == devices * num_nodes

    model = SimCLR(
        "narrow_resnet18",
        backbone_kwargs={"width": 4},
        projection_hidden_dim=8,
        lr=BASE_LR,
        lr_scaling=rule,
        reference_batch_size=REFERENCE,
    )
    _attach(model, world_size, per_device_batch, accumulate)
    assert model.global_batch_size() == global_batch

    config = model.configure_optimizers()
    assert isinstance(config, dict)
    optimizer = config["optimizer"]
    ratio = global_batch / REFERENCE
    factor = {"linear": ratio, "sqrt": math.sqrt(ratio), "none": 1.0}[rule]
    for group in optimizer.param_groups:
        assert group["initial_lr"] == pytest.approx(BASE_LR * factor)


def test_explicit_batch_size_overrides_the_loader() -> None:
    """``batch_size=`` is the per-device batch when the loader does not tell."""
    model = SimCLR(
        "narrow_resnet18",
        backbone_kwargs={"width": 4},
        projection_hidden_dim=8,
        batch_size=64,
    )
    _attach(model, world_size=8, per_device_batch=16, accumulate=2)
    assert model.global_batch_size() == 64 * 8 * 2
