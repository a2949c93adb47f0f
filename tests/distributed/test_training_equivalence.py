"""Two DDP processes with batch B train exactly like one process with batch 2B.

End to end, as a user runs it: ``Trainer(strategy="ddp", devices=2)`` on two CPU
processes with a per-device batch of 4, against ``Trainer(devices=1)`` with a
batch of 8. Lightning gives each rank a shuffled half of the data through a
``DistributedSampler``; the single process is fed, step by step, the 8 samples
that the two ranks saw together. The global batch, hence the scaled learning
rate, is the same in both runs. After a few SGD steps the parameters must agree.

This needs a model without batch norm: batch norm normalises with each
process's own statistics unless it is synchronised, and ``SyncBatchNorm`` has
no CPU implementation. The tests therefore give the methods a convolution-only
backbone and an MLP head without batch norm, the way a user overrides
``build_projection_head``. Float32 throughout; the tolerance (relative 1e-5,
absolute 1e-6) covers the different summation order of the all-reduce.
"""

from collections.abc import Callable
from typing import Any

import lightning as L
import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from lightning_ssl.data import collate_views
from lightning_ssl.methods import METHODS, SSLMethod

from .launch import run_on_ranks

WORLD_SIZE = 2
PER_DEVICE_BATCH = 4
STEPS = 3
RTOL, ATOL = 1e-5, 1e-6

CASES = ("simclr", "vicreg", "mocov3")


def build(case: str) -> SSLMethod:
    """The method of ``case`` without batch norm, identical in every process."""
    method = METHODS[case]

    class WithoutBatchNorm(method):  # type: ignore[valid-type, misc]
        def build_projection_head(self) -> nn.Module:
            return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8))

        def build_predictor(self) -> nn.Module:
            return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8))

    torch.manual_seed(0)
    backbone = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )
    return WithoutBatchNorm(
        backbone,
        feature_dim=8,
        projection_dim=8,
        optimizer="sgd",
        lr=0.5,
        warmup_epochs=0.0,
    )


def loader(batch_size: int, order: list[int] | None = None) -> DataLoader[Any]:
    """Two views of ``STEPS * 8`` random 8x8 images; targets are sample indices."""
    generator = torch.Generator().manual_seed(1)
    samples = [
        ([torch.randn(3, 8, 8, generator=generator) for _ in range(2)], index)
        for index in range(STEPS * PER_DEVICE_BATCH * WORLD_SIZE)
    ]
    if order is not None:
        samples = [samples[index] for index in order]
    return DataLoader(samples, batch_size=batch_size, collate_fn=collate_views)


class SeenSamples(L.Callback):
    """Records the sample indices (the targets) of every training batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self.batches.append(batch[1].tolist())


def fit(
    case: str, devices: int, batch_size: int, order: list[int] | None = None
) -> tuple[dict[str, Tensor], list[list[int]]]:
    """Parameters after ``STEPS`` optimizer steps, and the samples of each batch."""
    model = build(case)
    seen = SeenSamples()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        max_steps=STEPS,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[seen],
    )
    trainer.fit(model, loader(batch_size, order))
    parameters = {name: p.detach().clone() for name, p in model.named_parameters()}
    return parameters, seen.batches


def fit_on_rank(rank: int, world_size: int, cases: list[str]) -> dict[str, Any]:
    """Every case trained with DDP; each rank's parameters and batches."""
    return {case: fit(case, world_size, PER_DEVICE_BATCH) for case in cases}


@pytest.fixture(scope="module")
def ddp_runs() -> list[dict[str, Any]]:
    """Every rank's parameters and batches of every case."""
    cases = [case for case in CASES if case in METHODS]
    return run_on_ranks(fit_on_rank, cases, world_size=WORLD_SIZE)


@pytest.mark.parametrize("case", CASES)
def test_ddp_training_matches_one_process(
    case: str, ddp_runs: list[dict[str, Any]]
) -> None:
    if case not in METHODS:
        pytest.skip(f"method {case!r} is not implemented yet")
    # Step k of the single process sees what the ranks saw together in step k.
    batches = zip(*(run[case][1] for run in ddp_runs), strict=True)
    order = [index for step in batches for batch in step for index in batch]
    assert sorted(order) == list(range(len(order)))

    initial = {name: p.detach().clone() for name, p in build(case).named_parameters()}
    global_batch = PER_DEVICE_BATCH * WORLD_SIZE
    expected, _ = fit(case, devices=1, batch_size=global_batch, order=order)
    actual = ddp_runs[0][case][0]

    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        torch.testing.assert_close(
            actual[name],
            value,
            rtol=RTOL,
            atol=ATOL,
            msg=_prefixed(f"{case}: {name}"),
        )
    # The run trained: the check compares moved parameters, not initial ones.
    assert any(not torch.equal(expected[n], initial[n]) for n in expected)


def _prefixed(name: str) -> Callable[[str], str]:
    """An ``assert_close`` message: the tensor's name, then torch's details."""
    return lambda message: f"{name}: {message}"
