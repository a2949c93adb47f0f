"""Health statistics against naive NumPy references, on random and degenerate inputs."""

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from lightning_ssl.metrics import (
    active_dimension_fraction,
    alignment,
    mean_cosine_similarity,
    normalized_std,
    rankme,
    uniformity,
)
from lightning_ssl.metrics.functional import principal_variances


def _unit(z: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    return z / np.maximum(norms, 1e-12)


def ref_std(z: np.ndarray) -> float:
    return float(np.std(_unit(z), axis=0, ddof=1).mean())


def ref_rankme(z: np.ndarray, eps: float = 1e-7) -> float:
    s = np.linalg.svd(z, compute_uv=False)
    p = (s / s.sum() if s.sum() > 0 else np.zeros_like(s)) + eps
    return float(np.exp(-(p * np.log(p)).sum()))


def ref_active(z: np.ndarray, threshold: float = 0.01) -> float:
    eigenvalues = np.linalg.eigvalsh(np.atleast_2d(np.cov(z, rowvar=False)))
    if eigenvalues.sum() <= 1e-8 * (z**2).sum(axis=1).mean():
        return 0.0
    return float((eigenvalues > threshold * eigenvalues.mean()).mean())


def ref_mean_cosine(z: np.ndarray) -> float:
    u = _unit(z)
    gram = u @ u.T
    n = len(z)
    return float((gram.sum() - np.trace(gram)) / (n * (n - 1)))


def ref_uniformity(z: np.ndarray, t: float = 2.0) -> float:
    u = _unit(z)
    values = [
        math.exp(-t * float(((u[i] - u[j]) ** 2).sum()))
        for i in range(len(u))
        for j in range(i + 1, len(u))
    ]
    return math.log(sum(values) / len(values))


def ref_alignment(z0: np.ndarray, z1: np.ndarray, alpha: float = 2.0) -> float:
    return float((np.linalg.norm(_unit(z0) - _unit(z1), axis=1) ** alpha).mean())


def _inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    direction = rng.normal(size=12)
    rows = rng.normal(size=(4, 12))
    with_zero_row = rng.normal(size=(10, 6))
    with_zero_row[3] = 0
    return {
        "random": rng.normal(size=(64, 16)),
        "random_wide": rng.normal(size=(8, 32)),
        "shifted": rng.normal(size=(50, 8)) + 5.0,
        "constant": np.tile(rng.normal(size=(1, 12)), (20, 1)),
        "zeros": np.zeros((6, 5)),
        "rank1": rng.normal(size=(30, 1)) * direction,
        "rank2": rng.normal(size=(40, 2)) @ rng.normal(size=(2, 24)),
        "duplicated_rows": np.tile(rows, (8, 1)),
        "tiny_batch": rng.normal(size=(2, 3)),
        "zero_row": with_zero_row,
    }


INPUTS = _inputs()
FUNCTIONS = {
    "normalized_std": (normalized_std, ref_std),
    "rankme": (rankme, ref_rankme),
    "active_dimension_fraction": (active_dimension_fraction, ref_active),
    "mean_cosine_similarity": (mean_cosine_similarity, ref_mean_cosine),
    "uniformity": (uniformity, ref_uniformity),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("function", sorted(FUNCTIONS))
@pytest.mark.parametrize("case", sorted(INPUTS))
def test_statistic_matches_numpy_reference(
    case: str, function: str, dtype: torch.dtype
) -> None:
    ours, reference = FUNCTIONS[function]
    z = INPUTS[case]

    value = ours(torch.tensor(z, dtype=dtype))

    expected = reference(z)
    tolerance = 1e-9 if dtype == torch.float64 else 2e-5
    assert value.dtype == dtype
    assert value.item() == pytest.approx(expected, rel=tolerance * 10, abs=tolerance)


@pytest.mark.parametrize("case", sorted(INPUTS))
def test_alignment_matches_numpy_reference(case: str) -> None:
    z0 = INPUTS[case]
    z1 = z0 + np.random.default_rng(1).normal(scale=0.3, size=z0.shape)

    for alpha in (1.0, 2.0):
        value = alignment(torch.tensor(z0), torch.tensor(z1), alpha=alpha)
        assert value.item() == pytest.approx(ref_alignment(z0, z1, alpha), abs=1e-9)


def test_degenerate_inputs_reach_the_bounds() -> None:
    constant = torch.tensor(INPUTS["constant"], dtype=torch.float32)
    rank2 = torch.tensor(INPUTS["rank2"])
    isotropic = torch.randn(4096, 16, generator=torch.Generator().manual_seed(0))

    assert normalized_std(constant).item() == 0
    assert mean_cosine_similarity(constant).item() == pytest.approx(1.0)
    assert uniformity(constant).item() == pytest.approx(0.0, abs=1e-6)
    assert rankme(constant).item() == pytest.approx(1.0, abs=1e-4)
    assert active_dimension_fraction(constant).item() == 0
    assert rankme(rank2).item() <= 2.0 + 1e-4
    assert active_dimension_fraction(rank2).item() == pytest.approx(2 / 24)
    assert normalized_std(isotropic).item() == pytest.approx(1 / 4, rel=0.02)
    assert rankme(isotropic).item() == pytest.approx(16, rel=0.02)
    assert active_dimension_fraction(isotropic).item() == 1.0
    assert mean_cosine_similarity(isotropic).item() == pytest.approx(0, abs=0.01)


def test_principal_variances_are_covariance_eigenvalues_padded_to_dim() -> None:
    z = INPUTS["random_wide"]

    variances = principal_variances(torch.tensor(z))

    expected = np.sort(np.linalg.eigvalsh(np.cov(z, rowvar=False)))[::-1]
    assert variances.shape == (32,)
    np.testing.assert_allclose(variances.numpy(), expected, atol=1e-9)


def test_half_precision_is_upcast() -> None:
    z = torch.randn(16, 8).to(torch.bfloat16)

    assert rankme(z).dtype == torch.float32


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: rankme(torch.zeros(3)),
            ValueError,
            r"`embeddings` must be a \(B, D\)",
        ),
        (lambda: normalized_std(torch.zeros(1, 4)), ValueError, "B >= 2"),
        (lambda: uniformity([[1.0, 2.0]]), TypeError, "got list"),
        (lambda: uniformity(torch.ones(3, 2), t=0), ValueError, "`t` must be > 0"),
        (
            lambda: active_dimension_fraction(torch.ones(3, 2), threshold=-1),
            ValueError,
            "`threshold` must be > 0, got -1",
        ),
        (
            lambda: alignment(torch.ones(3, 2), torch.ones(2, 2)),
            ValueError,
            r"same shape, got \(3, 2\) and \(2, 2\)",
        ),
    ],
)
def test_invalid_arguments_are_rejected(
    call: Callable[[], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        call()
