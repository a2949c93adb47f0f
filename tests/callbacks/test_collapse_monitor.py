"""CollapseMonitor on real CIFAR-10 images: induced collapse is caught, health is not.

Every training run here is capped at STEP_BUDGET = 120 optimizer steps of batch
32 on the 300 training images of the shared CIFAR-10 subset (32x32), with a
``narrow_resnet18`` backbone (or a tiny linear encoder) and small heads. The
monitor checks every 10 steps on a 256-embedding buffer after a 40-step
warm-up and acts after 2 collapsed checks in a row, so the earliest possible
detection is at step 50. Detection steps measured (seed 0, one CPU thread):
constant encoder 50, rank-2 linear encoder 50, VICReg without variance and
covariance terms 60, BYOL without predictor at momentum 0 (SimSiam without
predictor) 80, BYOL without stop-gradient 100; the healthy SimCLR, BYOL and
VICReg runs raise nothing in the same 120 steps.
"""

import socket
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import lightning
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms.v2.functional import pil_to_tensor

from lightning_ssl import keys
from lightning_ssl.callbacks.collapse_monitor import (
    CollapseMonitor,
    CollapseWarning,
    _RingBuffer,
)
from lightning_ssl.methods import BYOL, SimCLR, VICReg
from lightning_ssl.methods.types import StepOutput, Views
from lightning_ssl.metrics import CollapseStatus, EmbeddingHealth

STEP_BUDGET = 120
BATCH_SIZE = 32
MONITOR = {"every_n_steps": 10, "buffer_size": 256, "warmup_steps": 40, "patience": 2}

SMALL_HEAD = {"projection_hidden_dim": 128, "projection_dim": 64}
# LARS at each method's default learning rate without batch scaling (about 8x
# the rate scaled to batch 32), so that 150 steps are enough to learn, or to
# collapse. The ImageNet stem shrinks 32x32 images to 8x8 maps: steps stay
# near 0.1 s on two CPU cores.
COMMON = {
    "cifar_stem": False,
    "warmup_epochs": 1.0,
    "batch_size": BATCH_SIZE,
    "lr_scaling": "none",
}
MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


class ConstantEncoder(nn.Module):
    """Maps every image to the same learned vector."""

    def __init__(self, dim: int = 128) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.randn(dim))
        self.output_dim = dim

    def forward(self, images: Tensor) -> Tensor:
        return self.value.expand(len(images), -1) + 0 * images.mean()


class LinearEncoder(nn.Module):
    """A linear map of the pixels, through a ``rank``-wide bottleneck if given."""

    def __init__(self, dim: int = 128, rank: int | None = None) -> None:
        super().__init__()
        width = rank or dim
        layers: list[nn.Module] = [nn.Flatten(), nn.Linear(3 * 32 * 32, width)]
        if rank is not None:
            layers.append(nn.Linear(rank, dim))
        self.net = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)


class BYOLWithoutPredictor(BYOL):
    """BYOL with an identity predictor; with momentum 0 it is SimSiam without it."""

    def build_predictor(self) -> nn.Module:
        return nn.Identity()


class BYOLWithoutStopGradient(BYOL):
    """BYOL whose targets are the student's own projections, gradients included."""

    def compute_loss(self, views: Views) -> StepOutput:
        x0, x1 = views[:2]
        features = self.embed(x0)
        z0, z1 = self.projection_head(features), self.projection_head(self.embed(x1))
        p0, p1 = self.predictor(z0), self.predictor(z1)
        loss = 0.5 * (self.criterion(p0, z1) + self.criterion(p1, z0))
        return {"loss": loss, "features": features.detach(), "projections": z0.detach()}


class SimCLRWithPairs(SimCLR):
    """SimCLR that also returns view 1's embeddings, for the alignment statistic."""

    def compute_loss(self, views: Views) -> StepOutput:
        x0, x1 = views[:2]
        features, features1 = self.embed(x0), self.embed(x1)
        z0, z1 = self.projection_head(features), self.projection_head(features1)
        output: dict[str, Tensor] = {
            "loss": self.criterion(z0, z1),
            "features": features.detach(),
            "projections": z0.detach(),
            "projections_view1": z1.detach(),
        }
        return output  # type: ignore[return-value]


# Case -> (model factory, source expected to collapse, expected status).
COLLAPSING: dict[str, tuple[Callable[[], LightningModule], str, CollapseStatus]] = {
    "byol_without_predictor": (
        lambda: BYOLWithoutPredictor(
            "narrow_resnet18",
            teacher_momentum=0.0,
            teacher_momentum_end=0.0,
            **SMALL_HEAD,
            **COMMON,
        ),
        "projections",
        CollapseStatus.COMPLETE,
    ),
    "byol_without_stop_gradient": (
        lambda: BYOLWithoutStopGradient("narrow_resnet18", **SMALL_HEAD, **COMMON),
        "projections",
        CollapseStatus.COMPLETE,
    ),
    "vicreg_without_variance_and_covariance": (
        lambda: VICReg(
            "narrow_resnet18",
            variance_weight=0.0,
            covariance_weight=0.0,
            projection_hidden_dim=128,
            projection_dim=128,
            **COMMON,
        ),
        "projections",
        CollapseStatus.COMPLETE,
    ),
    "constant_encoder": (
        lambda: SimCLR(ConstantEncoder(), temperature=0.5, **SMALL_HEAD, **COMMON),
        "features",
        CollapseStatus.COMPLETE,
    ),
    "rank2_linear_encoder": (
        lambda: SimCLR(LinearEncoder(rank=2), temperature=0.5, **SMALL_HEAD, **COMMON),
        "features",
        CollapseStatus.DIMENSIONAL,
    ),
}

HEALTHY: dict[str, Callable[[], LightningModule]] = {
    # Temperature 0.5: SimCLR's CIFAR-10 recipe (Chen et al., 2020, B.9).
    "simclr": lambda: SimCLR(
        "narrow_resnet18", temperature=0.5, **SMALL_HEAD, **COMMON
    ),
    "byol": lambda: BYOL("narrow_resnet18", **SMALL_HEAD, **COMMON),
    "vicreg": lambda: VICReg(
        "narrow_resnet18", projection_hidden_dim=128, projection_dim=128, **COMMON
    ),
}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Train on one intra-op thread, as small batches gain nothing from more.

    On shared CI cores, two spinning OpenMP threads made these runs up to 20x
    slower than one.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cifar_images(cifar10_subset: Path) -> tuple[Tensor, Tensor]:
    """The subset's 300 training images as `(N, 3, 32, 32)` uint8, and targets."""
    files = sorted((cifar10_subset / "train").glob("*/*.jpg"))
    classes = sorted({file.parent.name for file in files})
    images = torch.stack([pil_to_tensor(Image.open(f).convert("RGB")) for f in files])
    targets = torch.tensor([classes.index(file.parent.name) for file in files])
    return images, targets


def augment(images: Tensor) -> Tensor:
    """SimCLR-like views of a uint8 batch, drawn per image, normalised floats.

    Random resized crop (20-100 % area) with horizontal flip, brightness,
    contrast and saturation jitter (0.6-1.4, applied with probability 0.8) and
    grayscale (probability 0.2): vectorised, so two views of a batch cost
    about a millisecond.
    """
    x = images.float() / 255
    batch = len(x)

    def uniform(low: float, high: float, *shape: int) -> Tensor:
        return torch.empty(batch, *shape).uniform_(low, high)

    side = uniform(0.2, 1.0).sqrt()
    flip = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0)
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = side * flip, side
    theta[:, 0, 2], theta[:, 1, 2] = (
        (1 - side) * uniform(-1, 1),
        (1 - side) * uniform(-1, 1),
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False)

    jitter = uniform(0, 1, 1, 1, 1) < 0.8
    x = x * torch.where(jitter, uniform(0.6, 1.4, 1, 1, 1), 1.0)
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    gray = (x * weights).sum(dim=1, keepdim=True)
    mean = gray.mean(dim=(2, 3), keepdim=True)
    x = mean + (x - mean) * torch.where(jitter, uniform(0.6, 1.4, 1, 1, 1), 1.0)
    saturation = torch.where(jitter, uniform(0.6, 1.4, 1, 1, 1), 1.0)
    saturation = torch.where(uniform(0, 1, 1, 1, 1) < 0.2, 0.0, saturation)
    x = gray + (x - gray) * saturation
    return (x.clamp(0, 1) - MEAN) / STD


def two_views(batch: list[tuple[Tensor, Tensor]]) -> tuple[list[Tensor], Tensor]:
    images = torch.stack([image for image, _ in batch])
    targets = torch.stack([target for _, target in batch])
    return [augment(images), augment(images)], targets


def fit(
    model: LightningModule,
    cifar_images: tuple[Tensor, Tensor],
    callbacks: list,
    max_steps: int = STEP_BUDGET,
) -> Trainer:
    """Train on two-view batches of the CIFAR-10 images, cycling the 300."""
    loader = DataLoader(
        TensorDataset(*cifar_images),
        batch_size=BATCH_SIZE,
        shuffle=True,
        drop_last=True,
        collate_fn=two_views,
    )
    trainer = Trainer(
        max_steps=max_steps,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
    )
    trainer.fit(model, loader)
    return trainer


def collapse_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, CollapseWarning)]


@pytest.mark.parametrize("case", sorted(COLLAPSING))
def test_induced_collapse_is_detected_and_stops_the_run(
    case: str,
    cifar_images: tuple[Tensor, Tensor],
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    build, source, expected = COLLAPSING[case]
    lightning.seed_everything(0, verbose=False)
    monitor = CollapseMonitor(**MONITOR, on_collapse="stop", checkpoint_dir=tmp_path)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = fit(build(), cifar_images, [monitor])

    assert monitor.detection is not None, f"{case}: no collapse in {STEP_BUDGET} steps"
    step = monitor.detection.step
    record_property("detection_step", step)
    assert monitor.detection.statuses[source] is expected
    assert trainer.global_step == step < STEP_BUDGET
    (message,) = collapse_warnings(caught)
    assert f"{expected.label} of the {source}" in message
    assert "RankMe@step" in message and "Usual causes" in message
    assert monitor.detection.checkpoint_path == str(
        tmp_path / f"collapse-step={step}.ckpt"
    )
    saved = torch.load(monitor.detection.checkpoint_path, weights_only=False)
    assert saved["global_step"] == step


@pytest.mark.parametrize("case", sorted(HEALTHY))
def test_healthy_methods_raise_no_alarm(
    case: str, cifar_images: tuple[Tensor, Tensor]
) -> None:
    lightning.seed_everything(0, verbose=False)
    monitor = CollapseMonitor(**MONITOR, on_collapse="stop")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = fit(HEALTHY[case](), cifar_images, [monitor])

    assert collapse_warnings(caught) == []
    assert monitor.detection is None
    assert trainer.global_step == STEP_BUDGET
    assert set(monitor.statuses.values()) == {CollapseStatus.HEALTHY}
    assert trainer.callback_metrics[keys.COLLAPSE_STATUS] == 0


def test_model_checkpoint_keeps_the_highest_rankme(
    cifar_images: tuple[Tensor, Tensor], tmp_path: Path
) -> None:
    lightning.seed_everything(0, verbose=False)
    monitor = CollapseMonitor(every_n_steps=5, buffer_size=128)
    checkpoint = ModelCheckpoint(
        dirpath=tmp_path,
        monitor=keys.COLLAPSE_RANKME,
        mode="max",
        every_n_train_steps=5,
        filename="step={step}-rankme={collapse/rankme:.2f}",
        auto_insert_metric_name=False,
    )
    model = SimCLR(LinearEncoder(dim=32), **SMALL_HEAD, **COMMON)

    fit(model, cifar_images, [monitor, checkpoint], max_steps=30)

    logged = [entry["rankme"] for entry in monitor.history["features"]]
    assert checkpoint.best_model_score is not None
    assert checkpoint.best_model_score.item() == pytest.approx(max(logged))
    (saved,) = tmp_path.glob("*.ckpt")
    assert saved.name.endswith(f"rankme={max(logged):.2f}.ckpt")
    assert saved == Path(checkpoint.best_model_path)


def test_warns_once_and_keeps_training_with_on_collapse_warn(
    cifar_images: tuple[Tensor, Tensor],
) -> None:
    monitor = CollapseMonitor(every_n_steps=5, warmup_steps=5, patience=1)
    model = SimCLR(ConstantEncoder(dim=16), **SMALL_HEAD, **COMMON)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = fit(model, cifar_images, [monitor], max_steps=30)

    (message,) = collapse_warnings(caught)
    assert message.startswith("CollapseMonitor: complete collapse of the features")
    assert "Pass on_collapse='stop'" in message
    assert trainer.global_step == 30
    assert monitor.detection is not None and monitor.detection.step == 5
    assert trainer.callback_metrics[keys.COLLAPSE_STATUS] == 2


def test_nothing_is_classified_during_warmup(
    cifar_images: tuple[Tensor, Tensor],
) -> None:
    monitor = CollapseMonitor(every_n_steps=5, warmup_steps=1000)
    model = SimCLR(ConstantEncoder(dim=16), **SMALL_HEAD, **COMMON)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = fit(model, cifar_images, [monitor], max_steps=20)

    assert collapse_warnings(caught) == []
    assert monitor.statuses == {}
    assert keys.COLLAPSE_STATUS not in trainer.callback_metrics
    # Not exactly 0: the buffer spans steps, and the constant moves as it learns.
    assert trainer.callback_metrics[keys.collapse("std", "features")] < 1e-2
    assert len(monitor.history["features"]) == 4


def test_alignment_is_logged_when_the_step_output_has_second_views(
    cifar_images: tuple[Tensor, Tensor],
) -> None:
    monitor = CollapseMonitor(every_n_steps=5)
    model = SimCLRWithPairs(LinearEncoder(dim=32), **SMALL_HEAD, **COMMON)

    trainer = fit(model, cifar_images, [monitor], max_steps=5)

    metrics = trainer.callback_metrics
    assert 0 < metrics[keys.collapse("alignment", "projections")] < 4
    assert keys.collapse("alignment", "features") not in metrics
    for name in ("std", "rankme", "active_dims", "mean_cosine", "uniformity"):
        assert keys.collapse(name, "features") in metrics
    assert metrics[keys.COLLAPSE_RANKME] == metrics[keys.collapse("rankme", "features")]


class _RecordingModule:
    """Stands in for the LightningModule: a device and a ``log`` that records."""

    device = torch.device("cpu")

    def __init__(self) -> None:
        self.logged: dict[str, float] = {}

    def log(self, name: str, value: float, **kwargs: object) -> None:
        self.logged[name] = value


def _distributed_monitor(rank: int, world_size: int, port: int, out: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    try:
        trainer = SimpleNamespace(world_size=world_size, global_step=1)
        module = _RecordingModule()
        monitor = CollapseMonitor(every_n_steps=1, buffer_size=64, warmup_steps=0)
        monitor.on_train_start(trainer, module)  # type: ignore[arg-type]
        features = torch.randn(40, 16, generator=torch.Generator().manual_seed(rank))
        outputs = {"features": features * (rank + 1)}
        monitor.on_train_batch_end(trainer, module, outputs, None, 0)  # type: ignore[arg-type]
        statuses = {k: v.value for k, v in monitor.statuses.items()}
        torch.save({"logged": module.logged, "statuses": statuses}, f"{out}/{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_processes_log_and_decide_alike_on_the_gathered_buffers(
    tmp_path: Path,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    mp.spawn(_distributed_monitor, args=(2, port, str(tmp_path)), nprocs=2)

    # Each process keeps 64 / 2 = 32 rows: the last 32 of its 40.
    union = torch.cat(
        [
            torch.randn(40, 16, generator=torch.Generator().manual_seed(rank))[-32:]
            * (rank + 1)
            for rank in range(2)
        ]
    )
    expected = EmbeddingHealth(uniformity_samples=1024)
    expected.update(union)
    reference = {k: v.item() for k, v in expected.compute().items()}
    results = [torch.load(tmp_path / f"{rank}.pt") for rank in range(2)]
    assert results[0] == results[1]
    assert results[0]["statuses"] == {"features": "healthy"}
    logged = results[0]["logged"]
    for name in ("std", "rankme", "mean_cosine", "uniformity", "active_dims"):
        value = logged[keys.collapse(name, "features")]
        assert value == pytest.approx(reference[name], rel=1e-5), name


def test_state_dict_restores_the_detection() -> None:
    monitor = CollapseMonitor()
    monitor.load_state_dict(
        {
            "history": {"features": [{"step": 50.0, "rankme": 3.0}]},
            "streaks": {"features": 2},
            "detection": {
                "step": 50,
                "statuses": {"features": "dimensional_collapse"},
                "message": "collapsed",
                "checkpoint_path": None,
            },
        }
    )

    restored = CollapseMonitor()
    restored.load_state_dict(monitor.state_dict())

    assert restored.detection is not None
    assert restored.detection.statuses == {"features": CollapseStatus.DIMENSIONAL}
    assert restored.history["features"][0]["rankme"] == 3.0


def test_ring_buffer_keeps_the_most_recent_rows() -> None:
    buffer = _RingBuffer(capacity=5)
    rows = torch.arange(24.0).view(12, 2)

    buffer.add(rows[:3], pairs=-rows[:3])
    buffer.add(rows[3:7], pairs=-rows[3:7])
    contents, pairs = buffer.contents()
    assert len(buffer) == 5
    assert sorted(contents[:, 0].tolist()) == [4.0, 6.0, 8.0, 10.0, 12.0]
    assert pairs is not None and torch.equal(pairs, -contents)

    buffer.add(rows[5:12])  # more than the capacity, and without pairs
    contents, pairs = buffer.contents()
    assert sorted(contents[:, 0].tolist()) == [14.0, 16.0, 18.0, 20.0, 22.0]
    assert pairs is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"every_n_steps": 0}, "`every_n_steps` must be a positive integer, got 0"),
        ({"buffer_size": 1.5}, "`buffer_size` must be a positive integer, got 1.5"),
        ({"on_collapse": "exit"}, r"`on_collapse` must be one of \('warn', 'stop'\)"),
        ({"warmup_steps": -1}, "`warmup_steps` must be an int >= 0, got -1"),
        ({"patience": 0}, "`patience` must be a positive integer, got 0"),
        ({"sources": "features"}, "`sources` must be a non-empty sequence"),
        ({"sources": ()}, r"got \(\)"),
    ],
)
def test_invalid_arguments_are_rejected(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CollapseMonitor(**kwargs)  # type: ignore[arg-type]
