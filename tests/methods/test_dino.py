"""DINO specifics: multi-crop with a ViT, per-step centre and temperature."""

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lightning_ssl.methods import DINO
from lightning_ssl.methods.dino_loss import StepCenteredDINOLoss

HEAD = {"projection_hidden_dim": 32, "bottleneck_dim": 16, "output_dim": 64}


def quiet_trainer(tmp_path: Path, **kwargs: Any) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **kwargs,
    )


def test_vit_tiny_trains_on_two_global_and_four_local_crops(
    cifar: Any, train: Any
) -> None:
    # A ViT built for 32 px images gets 16 px local crops: 4x4 instead of 8x8
    # patches, through the interpolated positional embedding.
    torch.manual_seed(0)
    model = DINO(
        "vit_tiny",
        backbone_kwargs={"image_size": 32, "patch_size": 4},
        num_local_views=4,
        lr_scaling="none",
        warmup_epochs=0.0,
        **HEAD,
    )
    loader = cifar.loader(model, batch_size=8, num_batches=2)
    views, _ = next(iter(loader))
    assert [tuple(view.shape[-2:]) for view in views] == [(32, 32)] * 2 + [(16, 16)] * 4

    teacher_before = model.teacher_backbone.conv_proj.weight.clone()
    losses = train(model, loader, 3)
    assert len(losses) == 3 and np.isfinite(losses).all()
    assert not torch.equal(model.teacher_backbone.conv_proj.weight, teacher_before)


def test_centre_and_temperature_advance_once_per_optimizer_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded: list[int] = []
    original = StepCenteredDINOLoss.step_center

    def recording_step_center(self: StepCenteredDINOLoss) -> None:
        recorded.append(self.pending_count)
        original(self)

    monkeypatch.setattr(StepCenteredDINOLoss, "step_center", recording_step_center)
    model = DINO(
        "narrow_resnet18",
        warmup_epochs=0.0,
        batch_size=4,
        warmup_teacher_temperature_epochs=1.0,
        **HEAD,
    )
    last_layer_before = model.projection_head.last_layer.weight_v.clone()
    generator = torch.Generator().manual_seed(0)
    batches = [
        (
            [torch.randn(4, 3, s, s, generator=generator) for s in (32, 32, 16, 16)],
            torch.full((4,), -1),
        )
        for _ in range(4)
    ]
    trainer = quiet_trainer(tmp_path, max_epochs=1, accumulate_grad_batches=2)
    trainer.fit(model, DataLoader(batches, batch_size=None))

    # 4 batches accumulated in pairs: 2 steps, each centring on 2 batch means.
    assert recorded == [2, 2]
    assert model.criterion.center.abs().sum() > 0
    # One epoch of 2 steps: the temperature has warmed up to its final value,
    # and the last layer was frozen throughout.
    assert model.teacher_temperature == pytest.approx(0.07)
    assert torch.equal(model.projection_head.last_layer.weight_v, last_layer_before)


def test_teacher_temperature_warmup_values() -> None:
    model = DINO("narrow_resnet18", warmup_teacher_temperature_epochs=2.0, **HEAD)
    model.trainer = SimpleNamespace(  # 10 steps per epoch
        train_dataloader=object(), num_training_batches=10, accumulate_grad_batches=1
    )
    values = [model.teacher_temperature_at(step) for step in (0, 10, 20, 100)]
    assert values == pytest.approx([0.04, 0.055, 0.07, 0.07])


def test_default_transform_makes_global_then_local_crops(cifar: Any) -> None:
    model = DINO("narrow_resnet18", num_local_views=3, **HEAD)
    views = model.default_transform(32)(cifar.train_images[0])
    assert [tuple(view.shape) for view in views] == [(3, 32, 32)] * 2 + [
        (3, 14, 14)
    ] * 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"student_temperature": 0.0}, r"`student_temperature` must be in \(0.0"),
        ({"center_momentum": 1.5}, r"`center_momentum` must be in \[0.0, 1.0\]"),
        ({"num_local_views": -1}, r"`num_local_views` must be in \[0"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        DINO("narrow_resnet18", **HEAD, **kwargs)
