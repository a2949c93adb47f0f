"""torchmetrics classes: multi-batch accumulation and DDP gathering equal one pass."""

import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torchmetrics import Metric

from lightning_ssl.metrics import (
    HEALTH_METRICS,
    ActiveDimensionFraction,
    Alignment,
    EmbeddingHealth,
    MeanCosineSimilarity,
    NormalizedStd,
    RankMe,
    Uniformity,
    active_dimension_fraction,
    alignment,
    mean_cosine_similarity,
    normalized_std,
    rankme,
    uniformity,
)

SINGLE = {
    "std": (NormalizedStd, normalized_std),
    "rankme": (RankMe, rankme),
    "active_dims": (ActiveDimensionFraction, active_dimension_fraction),
    "mean_cosine": (MeanCosineSimilarity, mean_cosine_similarity),
    "uniformity": (Uniformity, uniformity),
}


def _embeddings(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    z0 = torch.randn(37, 12, generator=generator) @ torch.randn(
        12, 12, generator=generator
    )
    z1 = z0 + 0.5 * torch.randn(37, 12, generator=generator)
    return z0, z1


def _expected(z0: torch.Tensor, z1: torch.Tensor) -> dict[str, float]:
    expected = {name: function(z0).item() for name, (_, function) in SINGLE.items()}
    expected["alignment"] = alignment(z0, z1).item()
    return expected


@pytest.mark.parametrize("name", sorted(SINGLE))
def test_metric_over_batches_equals_function_on_all(name: str) -> None:
    metric_class, function = SINGLE[name]
    z0, _ = _embeddings()
    metric: Metric = metric_class()

    for chunk in z0.split([5, 1, 20, 11]):
        metric.update(chunk)

    assert metric.compute().item() == pytest.approx(function(z0).item(), rel=1e-5)


def test_alignment_metric_weights_batches_by_size() -> None:
    z0, z1 = _embeddings()
    metric = Alignment()

    for a, b in zip(z0.split([30, 7]), z1.split([30, 7]), strict=True):
        metric.update(a, b)

    assert metric.compute().item() == pytest.approx(alignment(z0, z1).item(), rel=1e-6)


def test_embedding_health_computes_every_statistic_at_once() -> None:
    z0, z1 = _embeddings()
    metric = EmbeddingHealth()

    metric.update(z0[:20], z1[:20])
    metric.update(z0[20:], z1[20:])
    results = metric.compute()

    assert set(results) == {*HEALTH_METRICS, "num_samples"}
    assert results["num_samples"].item() == 37
    for name, value in _expected(z0, z1).items():
        assert results[name].item() == pytest.approx(value, rel=1e-5), name


def test_embedding_health_without_pairs_has_no_alignment() -> None:
    metric = EmbeddingHealth(compute_device="cpu")
    metric.update(torch.randn(8, 4))

    assert "alignment" not in metric.compute()


def test_uniformity_can_use_a_strided_subset() -> None:
    z0, _ = _embeddings()
    metric = EmbeddingHealth(uniformity_samples=10)
    metric.update(z0)

    results = metric.compute()

    assert results["uniformity"].item() == pytest.approx(uniformity(z0[::4]).item())
    assert results["rankme"].item() == pytest.approx(rankme(z0).item())


def test_reset_forgets_the_embeddings() -> None:
    metric = NormalizedStd()
    metric.update(torch.randn(10, 3))
    metric.reset()
    metric.update(torch.ones(4, 3))

    assert metric.compute().item() == 0


@pytest.mark.parametrize("metric_class", [NormalizedStd, Uniformity, EmbeddingHealth])
def test_compute_before_enough_samples_names_the_problem(metric_class: type) -> None:
    metric = metric_class()
    metric.update(torch.ones(1, 3))

    with pytest.raises(ValueError, match="at least 2 embeddings"):
        metric.compute()


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Alignment(alpha=0), "`alpha` must be > 0, got 0"),
        (lambda: Uniformity(t=-1.0), "`t` must be > 0, got -1.0"),
        (lambda: ActiveDimensionFraction(threshold=0), "`threshold` must be > 0"),
        (lambda: EmbeddingHealth(active_threshold=0), "`active_threshold` must"),
        (lambda: EmbeddingHealth(uniformity_samples=1), "`uniformity_samples` must"),
    ],
)
def test_invalid_arguments_are_rejected(build: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()  # type: ignore[operator]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _distributed_worker(rank: int, world_size: int, port: int, out: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    try:
        z0, z1 = _embeddings()
        # Uneven shards, several updates on each process.
        shard = slice(0, 22) if rank == 0 else slice(22, None)
        a, b = z0[shard], z1[shard]
        metrics: dict[str, Metric] = {n: c() for n, (c, _) in SINGLE.items()}
        metrics["alignment"] = Alignment()
        health = EmbeddingHealth()
        for part in (slice(0, 3), slice(3, None)):
            for name, metric in metrics.items():
                args = (a[part], b[part]) if name == "alignment" else (a[part],)
                metric.update(*args)
            health.update(a[part], b[part])
        results = {name: metric.compute().item() for name, metric in metrics.items()}
        results.update({f"health/{k}": v.item() for k, v in health.compute().items()})
        torch.save(results, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_metrics_gather_across_processes(tmp_path: Path) -> None:
    mp.spawn(
        _distributed_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True
    )

    expected = _expected(*_embeddings())
    for rank in range(2):
        results = torch.load(tmp_path / f"rank{rank}.pt")
        assert results["health/num_samples"] == 37
        for name, value in expected.items():
            assert results[name] == pytest.approx(value, rel=1e-5), (rank, name)
            assert results[f"health/{name}"] == pytest.approx(value, rel=1e-5)
