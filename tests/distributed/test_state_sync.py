"""State outside the gradients stays identical on every rank of a DDP run.

DDP keeps the trained parameters in step by averaging gradients, but teachers,
queues, centres and schedules are updated by the methods themselves, and the
online linear probe is trained by a callback. Each test
here trains for a few steps with a real ``Trainer(strategy="ddp", devices=2)``
on two CPU processes (gloo, as under ``torchrun``), collects every rank's state
in the test process and compares it.

Batch-norm running statistics are left out of the comparison: each rank updates
them from its own samples, and DDP overwrites them with rank 0's at the start of
every forward pass (``broadcast_buffers``), so they differ only after the last
step, and checkpoints are written by rank 0.
"""

from typing import Any

import lightning as L
import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from lightning_ssl.callbacks.online_probe import OnlineLinearProbe
from lightning_ssl.data import collate_views
from lightning_ssl.methods import METHODS, FeatureQueue, SSLMethod

from .launch import run_on_ranks

WORLD_SIZE = 2
PER_DEVICE_BATCH = 4
NUM_SAMPLES = 32  # 4 steps per epoch on each of 2 ranks
MAX_STEPS = 4
IMAGE_SIZE, LOCAL_SIZE = 16, 8

SMALL = {
    "backbone": "narrow_resnet18",
    "cifar_stem": True,
    "backbone_kwargs": {"width": 8},
    "projection_hidden_dim": 16,
}

# name: (constructor arguments, number of local crops, accumulate_grad_batches)
CASES: dict[str, tuple[dict[str, Any], int, int]] = {
    "byol": ({**SMALL, "projection_dim": 8}, 0, 1),
    # The running covariance moves with the embeddings of all ranks.
    "tico": ({**SMALL, "projection_dim": 8}, 0, 1),
    "mmcr": ({**SMALL, "projection_dim": 8}, 0, 1),
    # The target network; the focal views are the local crops.
    "msn": (
        {**SMALL, "projection_dim": 8, "num_prototypes": 10, "mask_ratio": 0.0},
        2,
        1,
    ),
    "moco": ({**SMALL, "projection_dim": 8, "queue_size": 16}, 0, 1),
    "mocov3": ({**SMALL, "projection_dim": 8}, 0, 1),
    "nnclr": (
        {
            **SMALL,
            "projection_dim": 8,
            "prediction_hidden_dim": 16,
            "support_set_size": 16,
        },
        0,
        1,
    ),
    # The queue (16 = two global batches) is full and in use from the third step.
    "swav": (
        {
            **SMALL,
            "projection_dim": 8,
            "num_prototypes": 10,
            "queue_length": 16,
            "queue_start_epoch": 0,
        },
        2,
        1,
    ),
    # With accumulation: the centre and schedules move once per optimizer step.
    "dino": (
        {
            **SMALL,
            "output_dim": 32,
            "bottleneck_dim": 8,
            "warmup_teacher_temperature_epochs": 4.0,
        },
        2,
        2,
    ),
}


def _random_views(num_local: int) -> DataLoader[Any]:
    generator = torch.Generator().manual_seed(0)
    sizes = [IMAGE_SIZE] * 2 + [LOCAL_SIZE] * num_local
    samples = [
        ([torch.randn(3, size, size, generator=generator) for size in sizes], index % 4)
        for index in range(NUM_SAMPLES)
    ]
    return DataLoader(samples, batch_size=PER_DEVICE_BATCH, collate_fn=collate_views)


def _is_running_statistic(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in (
        "running_mean",
        "running_var",
        "num_batches_tracked",
    )


def train_and_collect(rank: int, world_size: int, cases: list[str]) -> dict[str, Any]:
    """Train each case on this rank; return its state and schedule values."""
    results = {}
    for case in cases:
        kwargs, num_local, accumulate = CASES[case]
        torch.manual_seed(0)
        model: SSLMethod = METHODS[case](**kwargs)
        probe = OnlineLinearProbe(num_classes=4)
        trainer = L.Trainer(
            accelerator="cpu",
            devices=world_size,
            strategy="ddp",
            max_steps=MAX_STEPS,
            accumulate_grad_batches=accumulate,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[probe],
        )
        trainer.fit(model, _random_views(num_local))

        optimizer = trainer.optimizers[0]
        step = trainer.global_step
        results[case] = {
            "world_size": trainer.world_size,
            "global_step": step,
            "sync_batchnorm": any(
                isinstance(module, nn.SyncBatchNorm) for module in model.modules()
            ),
            "state": {
                name: value.detach().clone()
                for name, value in model.state_dict().items()
                if not _is_running_statistic(name)
            },
            # The online probe trains outside DDP and averages its own gradients.
            "probe": {
                name: value.detach().clone()
                for name, value in probe.state_dict()["probe"].items()
            },
            "schedules": {
                "lr": optimizer.param_groups[0]["lr"],
                "initial_lr": optimizer.param_groups[0]["initial_lr"],
                "weight_decay": optimizer.param_groups[0]["weight_decay"],
                "teacher_momentum": model.teacher_momentum_at(step),
                "teacher_temperature": getattr(model, "teacher_temperature", None),
            },
        }
    return results


@pytest.fixture(scope="module")
def ranks() -> list[dict[str, Any]]:
    """Every rank's results of all cases, trained in one launch."""
    available = [case for case in CASES if case in METHODS]
    return run_on_ranks(train_and_collect, available, world_size=WORLD_SIZE)


@pytest.mark.parametrize("case", list(CASES))
def test_state_is_identical_on_every_rank(
    case: str, ranks: list[dict[str, Any]]
) -> None:
    if case not in METHODS:
        pytest.skip(f"method {case!r} is not implemented yet")
    first, second = ranks[0][case], ranks[1][case]
    assert first["world_size"] == WORLD_SIZE
    assert first["global_step"] == second["global_step"] == MAX_STEPS
    # SyncBatchNorm is for GPUs only (gloo lacks it); see test_sync_batchnorm.py.
    assert not first["sync_batchnorm"]

    assert first["state"].keys() == second["state"].keys()
    for name, value in first["state"].items():
        torch.testing.assert_close(
            second["state"][name], value, rtol=0, atol=0, msg=f"{case}: {name}"
        )
    assert first["schedules"] == second["schedules"]
    for name, value in first["probe"].items():
        torch.testing.assert_close(second["probe"][name], value, rtol=0, atol=0)
    assert any(value.abs().sum() > 0 for value in first["probe"].values())


@pytest.mark.parametrize("case", list(CASES))
def test_teachers_and_queues_moved(case: str, ranks: list[dict[str, Any]]) -> None:
    """The compared state is live: it differs from a freshly built model."""
    if case not in METHODS:
        pytest.skip(f"method {case!r} is not implemented yet")
    torch.manual_seed(0)
    initial = METHODS[case](**CASES[case][0]).state_dict()
    trained = ranks[0][case]["state"]
    watched = [
        name
        for name in trained
        if name.startswith(("teacher_", "queue", "support_set", "criterion.center"))
        and not _is_running_statistic(name)
        and trained[name].is_floating_point()
    ]
    assert watched, f"{case} has no teacher, queue or centre"
    assert any(not torch.equal(trained[name], initial[name]) for name in watched)


def test_schedules_follow_the_optimizer_steps(ranks: list[dict[str, Any]]) -> None:
    """DINO with accumulation: schedules count optimizer steps, not batches."""
    if "dino" not in METHODS:
        pytest.skip("DINO is not implemented yet")
    # Per rank: 32 / 2 = 16 samples, 4 batches of 4, 2 optimizer steps per epoch.
    steps_per_epoch = NUM_SAMPLES // WORLD_SIZE // PER_DEVICE_BATCH // 2
    warmup_steps = 4 * steps_per_epoch  # warmup_teacher_temperature_epochs=4
    start, end = 0.04, 0.07
    expected = start + (end - start) * MAX_STEPS / warmup_steps
    schedules = ranks[0]["dino"]["schedules"]
    assert schedules["teacher_temperature"] == pytest.approx(expected)
    assert schedules["teacher_momentum"] == pytest.approx(1.0)  # the last step


def test_learning_rate_is_scaled_by_the_global_batch(
    ranks: list[dict[str, Any]],
) -> None:
    """The global batch counts every rank and every accumulated batch."""
    for case, (_, _, accumulate) in CASES.items():
        if case not in METHODS:
            continue
        model = METHODS[case](**CASES[case][0])
        base, reference = model.hparams["lr"], model.hparams["reference_batch_size"]
        global_batch = PER_DEVICE_BATCH * WORLD_SIZE * accumulate
        expected = base * global_batch / reference  # every case scales linearly
        assert ranks[0][case]["schedules"]["initial_lr"] == pytest.approx(expected)


def push_distinct_batches(rank: int, world_size: int) -> Tensor:
    """Each rank enqueues its own batch (filled with its rank) into a queue."""
    queue = FeatureQueue(size=8, dim=2)  # gathers by default
    queue.push(torch.full((2, 2), float(rank)))
    return queue.features[:4]


def test_feature_queue_holds_the_batches_of_all_ranks() -> None:
    """MoCo, NNCLR and SwAV queues see the global batch, in rank order."""
    ranks = run_on_ranks(push_distinct_batches, world_size=WORLD_SIZE)
    expected = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    for features in ranks:
        torch.testing.assert_close(features, expected)
