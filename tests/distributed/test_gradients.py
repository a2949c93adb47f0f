"""Losses over the global batch: 2 processes give the gradients of 1 process.

Methods whose loss uses negatives or batch statistics gather projections (or
all-reduce statistics) across processes. Under DDP each process backpropagates
its own loss and DDP then averages the parameter gradients over the processes.
Training on ``W`` processes with ``B`` samples each is therefore correct when

    mean over ranks of (gradient on rank r) == gradient of 1 process on W * B,

which is what these tests check, at the level users experience: the method's own
``compute_loss``, the parameters of a small deterministic model, gradients
averaged over ranks exactly as DDP averages them. A gather whose backward pass
sums the gradients of all ranks is what makes this hold; one that is off by the
world size fails here. The tests also check the loss averaged over ranks and
every buffer after the step: queues, support sets, the DINO centre and TiCo's
running covariance.

The models are tiny, in float64 and in eval mode. In eval mode batch norm in the
heads normalises each sample with fixed statistics, so the loss is the only
thing that couples samples; batch norm across processes needs ``SyncBatchNorm``,
which the CPU backend gloo does not implement (see ``test_sync_batchnorm.py``).
In float64 the only differences left are the order of summation, so the
tolerance is tight: relative 1e-9, absolute 1e-12.
"""

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.distributed as dist
from torch import Tensor, nn

from lightning_ssl.methods import METHODS, SSLMethod

from .launch import run_on_ranks

WORLD_SIZE = 2
BATCH_SIZE = 8  # global; 4 per process
IMAGE_SIZE, LOCAL_SIZE = 8, 4
RTOL, ATOL = 1e-9, 1e-12

HEAD = {"projection_hidden_dim": 16, "projection_dim": 8}


def tiny_backbone() -> nn.Module:
    """Conv, ReLU and average pooling: `(B, 3, H, W)` -> `(B, 8)` for any H, W."""
    return nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )


def _fill_queues(model: SSLMethod) -> SSLMethod:
    # SwAV uses its queue only once it is full; fill it with fixed vectors so
    # that this step already exercises the queue.
    generator = torch.Generator().manual_seed(1)
    for queue in getattr(model, "queues", []):
        queue.bank.copy_(torch.randn(queue.bank.shape, generator=generator))
        queue.full.fill_(True)
    return model


# name: (method, constructor arguments, number of local crops). What couples the
# samples of different ranks is noted for each.
CASES: dict[str, tuple[str, dict[str, Any], int]] = {
    # Negatives gathered from all ranks (NT-Xent, DCL); DCLW also weights each
    # positive pair by a softmax over the whole batch.
    "simclr": ("simclr", {**HEAD, "temperature": 0.5}, 0),
    "simclr_dcl": ("simclr", {**HEAD, "temperature": 0.5, "loss": "dcl"}, 0),
    "simclr_dclw": ("simclr", {**HEAD, "temperature": 0.5, "loss": "dclw"}, 0),
    # Negatives from a queue filled with the keys of all ranks.
    "moco": ("moco", {**HEAD, "queue_size": 16}, 0),
    # Keys of all ranks as negatives, no queue.
    "mocov3": ("mocov3", {**HEAD, "temperature": 0.2}, 0),
    # Nearest neighbours from a support set of all ranks, NT-Xent negatives.
    "nnclr": (
        "nnclr",
        {**HEAD, "prediction_hidden_dim": 16, "support_set_size": 16},
        0,
    ),
    # Normalisation and cross-correlation over the global batch.
    "barlowtwins": ("barlowtwins", HEAD, 0),
    # Variance and covariance over the global batch.
    "vicreg": ("vicreg", HEAD, 0),
    # The teacher centre: a mean over the global batch.
    "dino": (
        "dino",
        {"output_dim": 32, "projection_hidden_dim": 16, "bottleneck_dim": 8},
        2,
    ),
    # Sinkhorn-Knopp over the global batch (and the queued projections, once).
    "swav": ("swav", {**HEAD, "num_prototypes": 12}, 2),
    "swav_queue": (
        "swav",
        {**HEAD, "num_prototypes": 12, "queue_length": 16, "queue_start_epoch": 0},
        2,
    ),
    # SIGReg's characteristic function over the global batch.
    "lejepa": ("lejepa", {**HEAD, "num_slices": 32}, 2),
    # Second moment over the global batch, and its running average (a buffer).
    "tico": ("tico", HEAD, 0),
    # Nuclear norm of the matrix of centroids of the global batch.
    "mmcr": ("mmcr", HEAD, 0),
    # Sinkhorn on the targets and ME-MAX on the mean prediction of the global
    # batch; unmasked (mask_ratio 0) on this convolutional backbone.
    "msn": ("msn", {**HEAD, "num_prototypes": 12, "mask_ratio": 0.0}, 2),
}


def build(case: str) -> SSLMethod:
    """The method of ``case``, identical in every process (same seed)."""
    method, kwargs, _ = CASES[case]
    torch.manual_seed(0)
    model = METHODS[method](tiny_backbone(), feature_dim=8, **kwargs)
    return _fill_queues(model).double().eval()


def make_views(case: str) -> list[Tensor]:
    """The global batch: 2 views (and the case's local crops), `(B, 3, H, W)` each."""
    generator = torch.Generator().manual_seed(2)
    sizes = [IMAGE_SIZE] * 2 + [LOCAL_SIZE] * CASES[case][2]
    return [
        torch.randn(BATCH_SIZE, 3, size, size, generator=generator, dtype=torch.float64)
        for size in sizes
    ]


def step(model: SSLMethod, views: list[Tensor]) -> dict[str, Any]:
    """One loss evaluation and backward pass; the gradients and the state after it."""
    torch.manual_seed(3)  # LeJEPA's random slices and MoCo's shuffle draw from it
    loss = model.compute_loss(views)["loss"]
    loss.backward()
    # DINO moves its centre after the optimizer step, from the recorded batch means.
    step_center = getattr(getattr(model, "criterion", None), "step_center", None)
    if step_center is not None:
        step_center()
    parameters = dict(model.named_parameters())
    return {
        "loss": loss.detach(),
        "grads": {
            name: parameter.grad.detach().clone()
            for name, parameter in model.named_parameters()
            if parameter.grad is not None
        },
        # Persistent buffers only: lightly's disabled memory banks keep an
        # uninitialised, non-persistent pointer.
        "buffers": {
            name: value.detach().clone()
            for name, value in model.state_dict().items()
            if name not in parameters
        },
    }


def distributed_steps(rank: int, world_size: int, cases: list[str]) -> dict[str, Any]:
    """Each case on this rank's share of the batch; gradients averaged like DDP."""
    results = {}
    for case in cases:
        model = build(case)
        views = [view.chunk(world_size)[rank] for view in make_views(case)]
        result = step(model, views)
        for grad in result["grads"].values():
            dist.all_reduce(grad)
            grad /= world_size
        dist.all_reduce(result["loss"])
        result["loss"] /= world_size
        results[case] = result
    return results


@pytest.fixture(scope="module")
def distributed_results() -> dict[str, Any]:
    """Results of all cases on 2 processes, computed in one launch."""
    available = [case for case, (method, _, _) in CASES.items() if method in METHODS]
    return run_on_ranks(distributed_steps, available, world_size=WORLD_SIZE)[0]


def _assert_close(actual: dict[str, Tensor], expected: dict[str, Tensor]) -> None:
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        torch.testing.assert_close(
            actual[name], value, rtol=RTOL, atol=ATOL, msg=_prefixed(name)
        )


def _prefixed(name: str) -> Callable[[str], str]:
    """An ``assert_close`` message: the tensor's name, then torch's details."""
    return lambda message: f"{name}: {message}"


@pytest.mark.parametrize("case", list(CASES))
def test_two_processes_match_one_on_the_full_batch(
    case: str, distributed_results: dict[str, Any]
) -> None:
    if CASES[case][0] not in METHODS:
        pytest.skip(f"method {CASES[case][0]!r} is not implemented yet")
    expected = step(build(case), make_views(case))
    actual = distributed_results[case]

    torch.testing.assert_close(actual["loss"], expected["loss"], rtol=RTOL, atol=ATOL)
    _assert_close(actual["grads"], expected["grads"])
    _assert_close(actual["buffers"], expected["buffers"])
    assert expected["grads"], "no parameter received a gradient"


def test_checks_can_fail(distributed_results: dict[str, Any]) -> None:
    """Gradients that were summed instead of averaged over ranks are caught."""
    expected = step(build("simclr"), make_views("simclr"))
    summed = {
        name: grad * WORLD_SIZE
        for name, grad in distributed_results["simclr"]["grads"].items()
    }
    with pytest.raises(AssertionError):
        _assert_close(summed, expected["grads"])
