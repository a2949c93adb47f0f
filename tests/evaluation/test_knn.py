"""Weighted kNN: the chunked search against a naive one-query-at-a-time reference."""

import math

import pytest
import torch
from torch import Tensor

from lightning_ssl import keys
from lightning_ssl.evaluation.knn import knn_accuracy, knn_scores


def naive_knn_votes(
    query: Tensor,
    bank: Tensor,
    bank_targets: Tensor,
    num_classes: int,
    k: int,
    temperature: float,
) -> Tensor:
    """Class votes sum(exp(s / T)) over each query's k most similar bank rows."""
    bank = bank / bank.norm(dim=1, keepdim=True)
    votes = torch.zeros(len(query), num_classes, dtype=torch.float64)
    for row, features in enumerate(query):
        similarity = bank @ (features / features.norm())
        order = similarity.sort(descending=True).indices[:k]
        for index in order.tolist():
            weight = math.exp(similarity[index].item() / temperature)
            votes[row, bank_targets[index]] += weight
    return votes


def random_problem(
    num_queries: int, num_bank: int, num_classes: int, dim: int = 16, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(num_queries, dim, generator=generator)
    bank = torch.randn(num_bank, dim, generator=generator)
    bank_targets = torch.randint(0, num_classes, (num_bank,), generator=generator)
    return query, bank, bank_targets


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 10_000])
@pytest.mark.parametrize(("k", "num_classes"), [(1, 3), (5, 10), (50, 10)])
def test_scores_match_naive_reference(
    chunk_size: int, k: int, num_classes: int
) -> None:
    query, bank, bank_targets = random_problem(60, 300, num_classes)
    temperature = 0.1

    scores = knn_scores(
        query,
        bank,
        bank_targets,
        num_classes,
        k=k,
        temperature=temperature,
        chunk_size=chunk_size,
    )
    votes = naive_knn_votes(query, bank, bank_targets, num_classes, k, temperature)

    assert torch.equal(scores.argmax(1), votes.argmax(1))
    # Scores are the votes times exp(-1 / T), a constant that keeps them finite.
    expected = votes * math.exp(-1.0 / temperature)
    torch.testing.assert_close(scores.double(), expected, rtol=1e-5, atol=1e-12)


def test_small_temperature_stays_finite_in_float32() -> None:
    query, bank, bank_targets = random_problem(20, 100, 4)
    temperature = 0.01  # exp(1 / T) = e^100 overflows float32

    scores = knn_scores(query, bank, bank_targets, 4, k=10, temperature=temperature)
    votes = naive_knn_votes(query, bank, bank_targets, 4, 10, temperature)

    assert torch.isinf(torch.tensor(1 / temperature).exp())
    assert torch.isfinite(scores).all()
    assert torch.equal(scores.argmax(1), votes.argmax(1))


def test_k_larger_than_bank_uses_every_bank_feature() -> None:
    query, bank, bank_targets = random_problem(10, 8, 3)
    scores = knn_scores(query, bank, bank_targets, 3, k=200, temperature=0.5)
    votes = naive_knn_votes(query, bank, bank_targets, 3, 8, 0.5)
    torch.testing.assert_close(
        scores.double(), votes * math.exp(-2.0), rtol=1e-5, atol=0
    )


def test_accuracy_is_top1_and_top5_of_the_scores() -> None:
    query, bank, bank_targets = random_problem(200, 400, 10, dim=4)
    query_targets = torch.randint(
        0, 10, (200,), generator=torch.Generator().manual_seed(1)
    )

    metrics = knn_accuracy(bank, bank_targets, query, query_targets, 10, k=20)

    votes = naive_knn_votes(query, bank, bank_targets, 10, 20, 0.1)
    top5 = votes.topk(5, dim=1).indices
    assert metrics[keys.VAL_KNN_TOP1] == pytest.approx(
        (votes.argmax(1) == query_targets).double().mean().item()
    )
    assert metrics[keys.VAL_KNN_TOP5] == pytest.approx(
        (top5 == query_targets[:, None]).any(1).double().mean().item()
    )


def test_top5_is_left_out_with_five_classes_or_fewer() -> None:
    query, bank, bank_targets = random_problem(10, 50, 5)
    metrics = knn_accuracy(bank, bank_targets, query, bank_targets[:10], 5, k=5)
    assert set(metrics) == {keys.VAL_KNN_TOP1}


def test_well_separated_classes_are_classified_perfectly() -> None:
    centres = torch.eye(4) * 10
    generator = torch.Generator().manual_seed(0)
    bank_targets = torch.arange(4).repeat(25)
    bank = centres[bank_targets] + torch.randn(100, 4, generator=generator)
    query_targets = torch.arange(4).repeat(5)
    query = centres[query_targets] + torch.randn(20, 4, generator=generator)

    metrics = knn_accuracy(bank, bank_targets, query, query_targets, 4, k=10)
    assert metrics[keys.VAL_KNN_TOP1] == 1.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"k": 0}, "`k` must be a positive integer, got 0"),
        ({"temperature": 0.0}, r"`temperature` must be in \(0.0, inf\], got 0.0"),
        ({"chunk_size": -1}, "`chunk_size` must be a positive integer, got -1"),
    ],
)
def test_arguments_are_checked(arguments: dict[str, float], message: str) -> None:
    query, bank, bank_targets = random_problem(4, 10, 2)
    with pytest.raises(ValueError, match=message):
        knn_scores(query, bank, bank_targets, 2, **arguments)  # type: ignore[arg-type]


def test_shapes_and_targets_are_checked() -> None:
    query, bank, bank_targets = random_problem(4, 10, 2)
    with pytest.raises(ValueError, match=r"same D, got \(4, 16\) and \(10, 3\)"):
        knn_scores(query, bank[:, :3], bank_targets, 2)
    with pytest.raises(ValueError, match=r"shape \(10,\) to match `bank`, got \(9,\)"):
        knn_scores(query, bank, bank_targets[:9], 2)
    unlabelled = bank_targets.clone()
    unlabelled[0] = -1
    with pytest.raises(ValueError, match=r"class ids in \[0, 2\), got values from -1"):
        knn_scores(query, bank, unlabelled, 2)
    with pytest.raises(ValueError, match=r"`query_targets` must have shape \(4,\)"):
        knn_accuracy(bank, bank_targets, query, bank_targets, 2)
