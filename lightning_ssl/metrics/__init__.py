"""Representation-health metrics, collapse diagnosis and after-the-fact analysis."""

from lightning_ssl.metrics.analysis import (
    CollapseReport,
    SourceReport,
    analyse_checkpoint,
    collapse_report,
    random_crop_flip,
)
from lightning_ssl.metrics.diagnosis import (
    CollapseStatus,
    CollapseThresholds,
    classify,
    describe,
    method_advice,
)
from lightning_ssl.metrics.embedding import (
    HEALTH_METRICS,
    ActiveDimensionFraction,
    Alignment,
    EmbeddingHealth,
    MeanCosineSimilarity,
    NormalizedStd,
    RankMe,
    Uniformity,
)
from lightning_ssl.metrics.functional import (
    active_dimension_fraction,
    alignment,
    mean_cosine_similarity,
    normalized_std,
    rankme,
    uniformity,
)

__all__ = [
    "HEALTH_METRICS",
    "ActiveDimensionFraction",
    "Alignment",
    "CollapseReport",
    "CollapseStatus",
    "CollapseThresholds",
    "EmbeddingHealth",
    "MeanCosineSimilarity",
    "NormalizedStd",
    "RankMe",
    "SourceReport",
    "Uniformity",
    "active_dimension_fraction",
    "alignment",
    "analyse_checkpoint",
    "classify",
    "collapse_report",
    "describe",
    "mean_cosine_similarity",
    "method_advice",
    "normalized_std",
    "random_crop_flip",
    "rankme",
    "uniformity",
]
