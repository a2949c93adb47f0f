"""Tests of `SSLMethod`: optimizers, schedules, teachers, hooks and checkpoints."""

import itertools
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning as L
import pytest
import torch
from lightly.loss import DCLLoss
from lightly.transforms import SimCLRTransform
from lightly.transforms.multi_view_transform import MultiViewTransform
from torch import Tensor, nn
from torch.utils.data import DataLoader

from lightning_ssl.methods import (
    BYOL,
    BarlowTwins,
    SimCLR,
    SimSiam,
    SSLMethod,
    load_method,
)
from lightning_ssl.methods import base as base_module
from lightning_ssl.methods.augmentation import Augmentation
from lightning_ssl.methods.optim import parameter_groups, scaled_lr
from lightning_ssl.transforms import BatchedColorJitter, BatchedSimCLRTransform

SMALL_HEAD = {"projection_hidden_dim": 32, "projection_dim": 16}


def random_loader(num_batches: int, batch_size: int = 8) -> DataLoader[Any]:
    """Batches of two random 32x32 views and unknown targets."""
    generator = torch.Generator().manual_seed(0)
    samples = [
        ([torch.randn(3, 32, 32, generator=generator) for _ in range(2)], -1)
        for _ in range(num_batches * batch_size)
    ]
    return DataLoader(
        samples,
        batch_size=batch_size,
        collate_fn=lambda batch: (
            [
                torch.stack(view)
                for view in zip(*(views for views, _ in batch), strict=True)
            ],
            torch.tensor([target for _, target in batch]),
        ),
    )


def mock_trainer(
    total_steps: int = 100,
    world_size: int = 1,
    accumulate: int = 1,
    loader_batches: int = 10,
    batch_size: int = 32,
) -> Any:
    """A stand-in for the attributes of `Trainer` that `configure_optimizers` reads."""
    return SimpleNamespace(
        estimated_stepping_batches=total_steps,
        world_size=world_size,
        accumulate_grad_batches=accumulate,
        train_dataloader=SimpleNamespace(batch_size=batch_size),
        num_training_batches=loader_batches,
        max_epochs=10,
    )


def configured(model: SSLMethod, trainer: Any) -> tuple[Any, Any]:
    model.trainer = trainer
    config = model.configure_optimizers()
    assert isinstance(config, dict)
    return config["optimizer"], config["lr_scheduler"]["scheduler"]


@pytest.mark.parametrize(
    ("rule", "world_size", "accumulate", "expected"),
    [
        ("linear", 1, 1, 0.3 * 32 / 256),
        ("linear", 4, 2, 0.3),  # 32 per device x 4 devices x 2 accumulated
        ("sqrt", 8, 4, 0.3 * 2),  # global batch 1024 = 4 x 256
        ("none", 8, 4, 0.3),
    ],
)
def test_learning_rate_is_scaled_by_the_global_batch(
    rule: str, world_size: int, accumulate: int, expected: float
) -> None:
    model = SimCLR(
        "narrow_resnet18", lr=0.3, lr_scaling=rule, warmup_epochs=0, **SMALL_HEAD
    )
    trainer = mock_trainer(world_size=world_size, accumulate=accumulate)
    optimizer, _ = configured(model, trainer)
    assert model.global_batch_size() == 32 * world_size * accumulate
    assert optimizer.param_groups[0]["initial_lr"] == pytest.approx(expected)
    assert scaled_lr(0.3, 32 * world_size * accumulate, rule) == pytest.approx(expected)


def test_warmup_then_cosine_schedule_per_step() -> None:
    # 10 batches per epoch accumulated by 2: 5 steps per epoch, 2 warmup epochs.
    model = SimCLR(
        "narrow_resnet18",
        lr=0.2,
        lr_scaling="none",
        warmup_epochs=2,
        min_lr_ratio=0.1,
        **SMALL_HEAD,
    )
    trainer = mock_trainer(total_steps=50, accumulate=2, loader_batches=10)
    optimizer, scheduler = configured(model, trainer)
    lrs = []
    for _ in range(50):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()

    warmup = [0.2 * (step + 1) / 10 for step in range(10)]
    assert lrs[:10] == pytest.approx(warmup)
    assert lrs[-1] == pytest.approx(0.02)
    # Half-way through the decay the cosine is at the mean of peak and end.
    assert lrs[10 + 20] == pytest.approx(0.11, abs=0.01)
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:]))


def _lrs_by_step(optimizer: Any, scheduler: Any, steps: int) -> list[list[float]]:
    """Each group's learning rate at every step, as `steps` lists."""
    history = []
    for _ in range(steps):
        history.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return history


def test_simsiam_predictor_keeps_its_learning_rate() -> None:
    model = SimSiam(
        "narrow_resnet18",
        lr=0.1,
        lr_scaling="none",
        prediction_hidden_dim=8,
        **SMALL_HEAD,
    )
    optimizer, scheduler = configured(model, mock_trainer(total_steps=20))
    predictor = {id(p) for p in model.predictor.parameters()}
    fixed = [
        all(id(p) in predictor for p in group["params"])
        for group in optimizer.param_groups
    ]
    assert fixed == [False, False, True, True]

    history = _lrs_by_step(optimizer, scheduler, 20)
    assert [lrs[2] for lrs in history] == pytest.approx([0.1] * 20)
    assert [lrs[3] for lrs in history] == pytest.approx([0.1] * 20)
    assert history[-1][0] < 0.01 and history[-1][1] == history[-1][0]


def test_simsiam_predictor_can_follow_the_schedule() -> None:
    model = SimSiam(
        "narrow_resnet18",
        lr=0.1,
        lr_scaling="none",
        fixed_predictor_lr=False,
        prediction_hidden_dim=8,
        **SMALL_HEAD,
    )
    optimizer, scheduler = configured(model, mock_trainer(total_steps=20))
    assert len(optimizer.param_groups) == 2
    assert _lrs_by_step(optimizer, scheduler, 20)[-1][0] < 0.01


def test_barlow_twins_biases_and_norms_learn_slower() -> None:
    model = BarlowTwins("narrow_resnet18", lr=0.2, lr_scaling="none", **SMALL_HEAD)
    optimizer, scheduler = configured(model, mock_trainer(total_steps=20))
    _, exempt = optimizer.param_groups
    assert exempt["weight_decay"] == 0.0 and exempt["lr_scale"] == 0.024
    for lrs in _lrs_by_step(optimizer, scheduler, 20):
        assert lrs[1] == pytest.approx(0.024 * lrs[0])


def test_barlow_twins_rejects_a_non_positive_bias_lr_scale() -> None:
    with pytest.raises(ValueError, match="bias_lr_scale"):
        BarlowTwins("narrow_resnet18", bias_lr_scale=0.0, **SMALL_HEAD)


def test_weight_decay_schedule_reaches_every_decayed_group() -> None:
    model = SimSiam(
        "narrow_resnet18",
        weight_decay=0.04,
        weight_decay_end=0.4,
        prediction_hidden_dim=8,
        **SMALL_HEAD,
    )
    optimizer, _ = configured(model, mock_trainer(total_steps=10))
    model.optimizers = lambda use_pl_optimizer=True: optimizer  # type: ignore[method-assign]
    model.log = lambda *args, **kwargs: None  # type: ignore[method-assign]
    model.after_optimizer_step(9)
    decays = [group["weight_decay"] for group in optimizer.param_groups]
    assert decays == pytest.approx([0.4, 0.0, 0.4, 0.0])


def test_weight_decay_skips_biases_norms_and_vit_tokens() -> None:
    model = SimCLR(
        "vit_tiny",
        backbone_kwargs={"image_size": 32, "patch_size": 4},
        weight_decay=0.05,
        **SMALL_HEAD,
    )
    decay, no_decay = parameter_groups(model.trainable_modules(), 0.05)
    parameters = dict(model.named_parameters())
    names = {id(parameter): name for name, parameter in parameters.items()}
    decayed = {names[id(p)] for p in decay["params"]}
    exempt = {names[id(p)] for p in no_decay["params"]}
    tokens = {"backbone.class_token", "backbone.encoder.pos_embedding"}

    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert tokens <= exempt and "backbone.conv_proj.weight" in decayed
    # Matrices are decayed; biases and norm parameters (vectors) are not.
    assert all(parameters[name].ndim > 1 for name in decayed)
    assert all(parameters[name].ndim == 1 for name in exempt - tokens)
    assert decayed | exempt == set(parameters)


def test_teacher_is_updated_once_per_optimizer_step(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[float] = []
    original = base_module.update_momentum

    def counting_update(student: nn.Module, teacher: nn.Module, m: float) -> None:
        calls.append(m)
        original(student, teacher, m)

    monkeypatch.setattr(base_module, "update_momentum", counting_update)
    model = BYOL("narrow_resnet18", warmup_epochs=0, **SMALL_HEAD)
    before = model.teacher_backbone.stages[0][0].conv1.weight.clone()
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        accumulate_grad_batches=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, random_loader(num_batches=6))

    # 6 batches accumulated in pairs: 3 optimizer steps, 2 teachers each.
    assert trainer.global_step == 3
    assert len(calls) == 3 * 2
    assert calls[0] == pytest.approx(0.996)
    after = model.teacher_backbone.stages[0][0].conv1.weight
    assert not torch.equal(before, after)


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: SimCLR(optimizer="adam"), r"`optimizer` must be one of .*'adam'"),
        (lambda: SimCLR(lr=0.0), r"`lr` must be in \(0.0, inf\], got 0.0"),
        (lambda: SimCLR(lr_scaling="cubic"), r"`lr_scaling` must be one of"),
        (lambda: SimCLR(weight_decay=-1.0), r"`weight_decay` must be in"),
        (lambda: SimCLR(min_lr_ratio=2.0), r"`min_lr_ratio` must be in \[0.0, 1.0\]"),
        (lambda: SimCLR(teacher_momentum=1.5), r"`teacher_momentum` must be in"),
        (lambda: SimCLR(batch_size=0), r"`batch_size` must be a positive integer"),
        (lambda: SimCLR(weight_decay_end=-0.1), r"`weight_decay_end` must be in"),
        (lambda: SimCLR(backbone="resnet7"), r"`backbone` must be one of .*'resnet7'"),
    ],
)
def test_bad_arguments_are_rejected(factory: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        factory()


def test_backbone_of_wrong_type_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"`backbone` must be a name or an nn\.Module"):
        SimCLR(backbone=3)  # type: ignore[arg-type]


def test_validation_batch_of_views_is_rejected() -> None:
    model = SimCLR("narrow_resnet18", **SMALL_HEAD)
    views = [torch.randn(2, 3, 32, 32)] * 2
    with pytest.raises(TypeError, match="evaluation transform"):
        model.validation_step((views, torch.zeros(2)), 0)  # type: ignore[arg-type]


class CosineSimCLR(SimCLR):
    """A user subclass that swaps only the criterion."""

    def build_criterion(self) -> nn.Module:
        return DCLLoss(temperature=0.5)


def test_subclass_overriding_only_build_criterion_trains(tmp_path: Path) -> None:
    model = CosineSimCLR("narrow_resnet18", warmup_epochs=0, **SMALL_HEAD)
    losses = []

    class Recorder(L.Callback):
        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, *_: Any):
            losses.append(float(outputs["loss"]))

    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Recorder()],
        default_root_dir=tmp_path,
    )
    trainer.fit(model, random_loader(num_batches=3))
    assert isinstance(model.criterion, DCLLoss)
    assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses)


def test_checkpoint_round_trip_with_load_method(tmp_path: Path) -> None:
    model = BYOL("narrow_resnet18", warmup_epochs=0, **SMALL_HEAD)
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, random_loader(num_batches=2))
    path = tmp_path / "byol.ckpt"
    trainer.save_checkpoint(path)

    loaded = load_method(path)
    assert type(loaded) is BYOL and not loaded.training
    assert loaded.hparams["projection_dim"] == 16
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    images = torch.randn(4, 3, 32, 32)
    assert torch.allclose(model.eval().embed(images), loaded.embed(images))


def test_load_method_rejects_foreign_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ValueError, match="not written by a lightning_ssl method"):
        load_method(path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_method(tmp_path / "missing.ckpt")


class FrozenHeadSimCLR(SimCLR):
    """Keeps its projection head fixed during the first epoch."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.freeze_early(self.projection_head, epochs=1)


def test_freeze_early_and_weight_decay_schedule(tmp_path: Path) -> None:
    model = FrozenHeadSimCLR(
        backbone="narrow_resnet18",
        optimizer="sgd",
        warmup_epochs=0,
        weight_decay=0.1,
        weight_decay_end=0.3,
        **SMALL_HEAD,
    )
    head_before = model.projection_head.layers[0].weight.clone()
    backbone_before = model.backbone.stem[0].weight.clone()
    decays: list[float] = []

    class Recorder(L.Callback):
        def on_train_batch_end(self, trainer: Any, module: Any, *_: Any) -> None:
            optimizer = trainer.optimizers[0]
            decays.append(optimizer.param_groups[0]["weight_decay"])
            if trainer.global_step == 2:  # end of the first epoch of 2 steps
                assert torch.equal(module.projection_head.layers[0].weight, head_before)

    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Recorder()],
        default_root_dir=tmp_path,
    )
    trainer.fit(model, random_loader(num_batches=2))

    assert not torch.equal(model.backbone.stem[0].weight, backbone_before)
    assert not torch.equal(model.projection_head.layers[0].weight, head_before)
    # Cosine from 0.1 to 0.3 over 4 steps, read after steps 1 to 4.
    expected = [0.1 + 0.2 * (1 - math.cos(math.pi * s / 3)) / 2 for s in (1, 2, 3)]
    assert decays == pytest.approx([*expected, 0.3])


def test_vit_backbone_embeds_other_image_sizes() -> None:
    model = SimCLR(
        "vit_tiny", backbone_kwargs={"image_size": 32, "patch_size": 4}, **SMALL_HEAD
    )
    features: Tensor = model.embed(torch.randn(2, 3, 16, 16))
    assert features.shape == (2, 192)


class WeakColourSimCLR(SimCLR):
    """A user subclass that changes only the augmentation recipe."""

    def default_augmentation(self, image_size: int) -> Augmentation:
        kwargs = {"input_size": image_size, "cj_strength": 0.25, "gaussian_blur": 0.0}
        return Augmentation(SimCLRTransform, kwargs)


def test_default_augmentation_drives_both_data_paths() -> None:
    model = WeakColourSimCLR("narrow_resnet18", **SMALL_HEAD)
    per_sample, batched = model.default_transform(32), model.default_batch_transform(32)
    assert isinstance(per_sample, SimCLRTransform)
    assert isinstance(batched, BatchedSimCLRTransform)
    jitter = batched.transforms[0].ops[0]
    assert isinstance(jitter, BatchedColorJitter)
    assert jitter.brightness == pytest.approx((0.8, 1.2))  # 1 +- 0.8 x 0.25


def test_methods_without_a_batched_recipe_say_so() -> None:
    class PlainViews(SimCLR):
        def default_augmentation(self, image_size: int) -> Augmentation:
            return Augmentation(MultiViewTransform, {"transforms": [lambda x: x] * 2})

    with pytest.raises(NotImplementedError, match="no batched transform"):
        PlainViews("narrow_resnet18", **SMALL_HEAD).default_batch_transform(32)
