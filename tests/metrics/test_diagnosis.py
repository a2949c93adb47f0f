"""Collapse classification: thresholds scale with D and N; advice follows the method."""

import math

import pytest

from lightning_ssl.methods import BYOL, VICReg
from lightning_ssl.metrics import (
    CollapseStatus,
    CollapseThresholds,
    classify,
    describe,
    method_advice,
)

HEALTHY = {"std": 0.07, "mean_cosine": 0.4, "rankme": 80.0, "active_dims": 1.0}


@pytest.mark.parametrize("dim", [16, 128, 2048])
def test_std_threshold_is_a_fixed_fraction_of_the_isotropic_value(dim: int) -> None:
    thresholds = CollapseThresholds(spread=0.1)

    assert thresholds.max_std(dim) * math.sqrt(dim) == pytest.approx(0.1)
    assert thresholds.min_cosine() == pytest.approx(0.99)


@pytest.mark.parametrize(
    ("dim", "num_samples", "expected"),
    [
        (128, 2048, 6.4),  # 5 % of D
        (2048, 256, 12.8),  # 5 % of N when the buffer is the smaller
        (32, 2048, 4.0),  # the floor: two directions plus an offset
        (6, 2048, 3.0),  # the floor, capped at half of what is attainable
    ],
)
def test_rank_threshold_scales_with_min_of_dim_and_samples(
    dim: int, num_samples: int, expected: float
) -> None:
    assert CollapseThresholds().max_rankme(dim, num_samples) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        (HEALTHY, CollapseStatus.HEALTHY),
        ({**HEALTHY, "std": 0.003, "mean_cosine": 0.995}, CollapseStatus.COMPLETE),
        ({**HEALTHY, "active_dims": 0.0}, CollapseStatus.COMPLETE),
        # Aligned directions alone are not enough: ReLU features are aligned.
        ({**HEALTHY, "mean_cosine": 0.995}, CollapseStatus.HEALTHY),
        ({**HEALTHY, "std": 0.003}, CollapseStatus.HEALTHY),
        ({**HEALTHY, "rankme": 3.0}, CollapseStatus.DIMENSIONAL),
        ({**HEALTHY, "rankme": 6.5}, CollapseStatus.HEALTHY),
    ],
)
def test_classify(stats: dict[str, float], expected: CollapseStatus) -> None:
    assert classify(stats, dim=128, num_samples=2048) is expected


def test_steadily_falling_rank_is_flagged_before_the_threshold() -> None:
    stats = {**HEALTHY, "rankme": 10.0}

    falling = classify(stats, 128, 2048, rank_history=[40.0, 20.0])
    bumpy = classify(stats, 128, 2048, rank_history=[40.0, 9.0])
    slow = classify(stats, 128, 2048, rank_history=[15.0, 12.0])
    no_trend = CollapseThresholds(trend_window=0)
    disabled = classify(stats, 128, 2048, no_trend, rank_history=[40.0, 20.0])

    assert falling is CollapseStatus.DIMENSIONAL
    assert bumpy is slow is disabled is CollapseStatus.HEALTHY


def test_classify_names_missing_statistics() -> None:
    with pytest.raises(ValueError, match=r"lacks \['rankme'\]"):
        classify({"std": 0.1, "mean_cosine": 0.0, "active_dims": 1.0}, 8, 8)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("spread", 0.0, r"`spread` must be in \(0.0, 1.0\], got 0.0"),
        ("rank_fraction", 1.5, r"`rank_fraction` must be in \[0.0, 1.0\], got 1.5"),
        ("trend_window", -1, "`trend_window` must be a positive integer, got -1"),
    ],
)
def test_invalid_thresholds_are_rejected(field: str, value: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CollapseThresholds(**{field: value})


def test_status_codes_order_by_severity() -> None:
    codes = [status.code for status in CollapseStatus]

    assert codes == [0, 1, 2]
    assert CollapseStatus.COMPLETE.label == "complete collapse"


def test_advice_follows_the_method_class_and_its_bases() -> None:
    class BYOLWithoutPredictor(BYOL):
        pass

    assert "teacher" in method_advice(BYOLWithoutPredictor)
    assert "variance and covariance" in method_advice(VICReg)
    assert "temperature" in method_advice("MoCoV3")
    assert "covariance contrast" in method_advice("TiCo")
    assert "centroids" in method_advice("MMCR")
    assert "ME-MAX" in method_advice("MSN")
    assert method_advice("MyMethod").startswith("Common causes")


def test_describe_puts_values_next_to_thresholds() -> None:
    text = describe({**HEALTHY, "rankme": 30.0}, dim=100, num_samples=50)

    assert "std 0.07 (healthy ~0.1, collapse < 0.02)" in text
    assert "RankMe 30.0 of at most 50 (collapse < 4)" in text
