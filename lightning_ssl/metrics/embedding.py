"""torchmetrics versions of the representation-health statistics.

Each metric accumulates `(B, D)` embeddings over batches and, under DDP, over
processes: statistics that decompose into sums (normalised std, mean cosine,
alignment) keep float64 sums reduced with ``"sum"``; those that need every
sample at once (RankMe, principal variances, uniformity) keep the embeddings
themselves, concatenated across processes with ``"cat"``, so memory grows as
N x D. :class:`EmbeddingHealth` computes all of them from one gathered state.
"""

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat
from typing_extensions import override

from lightning_ssl.metrics import functional
from lightning_ssl.metrics.functional import check_embeddings


class NormalizedStd(Metric):
    """Std of l2-normalised embeddings, see :func:`functional.normalized_std`.

    Example:
        >>> import torch
        >>> from lightning_ssl.metrics import NormalizedStd
        >>> metric = NormalizedStd()
        >>> metric.update(torch.ones(4, 8))
        >>> metric.update(torch.ones(4, 8))
        >>> metric.compute().item()
        0.0
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    sum: Tensor
    sum_squares: Tensor
    count: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Scalars until the first update broadcasts them to (D,).
        zero = torch.zeros((), dtype=torch.float64)
        self.add_state("sum", default=zero.clone(), dist_reduce_fx="sum")
        self.add_state("sum_squares", default=zero.clone(), dist_reduce_fx="sum")
        self.add_state("count", default=zero.clone(), dist_reduce_fx="sum")

    @override
    def update(self, embeddings: Tensor) -> None:
        """Add a batch of `(B, D)` embeddings."""
        embeddings = check_embeddings("embeddings", embeddings)
        unit = F.normalize(embeddings.double(), dim=1)
        self.sum = self.sum + unit.sum(dim=0)
        self.sum_squares = self.sum_squares + unit.square().sum(dim=0)
        self.count = self.count + unit.shape[0]

    @override
    def compute(self) -> Tensor:
        """The mean over dimensions of the (unbiased) std."""
        _require_samples(self.count, 2)
        variance = (self.sum_squares - self.sum.square() / self.count) / (
            self.count - 1
        )
        return variance.clamp_min(0).sqrt().mean().float()


class MeanCosineSimilarity(Metric):
    """Mean pairwise cosine, see :func:`functional.mean_cosine_similarity`.

    Pairs are taken over everything accumulated, across batches and processes.

    Example:
        >>> import torch
        >>> from lightning_ssl.metrics import MeanCosineSimilarity
        >>> metric = MeanCosineSimilarity()
        >>> metric.update(torch.tensor([[1.0, 0.0]]))
        >>> metric.update(torch.tensor([[0.0, 1.0], [0.0, 1.0]]))
        >>> round(metric.compute().item(), 4)
        0.3333
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    sum: Tensor
    sum_square_norms: Tensor
    count: Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        zero = torch.zeros((), dtype=torch.float64)
        self.add_state("sum", default=zero.clone(), dist_reduce_fx="sum")
        self.add_state("sum_square_norms", default=zero.clone(), dist_reduce_fx="sum")
        self.add_state("count", default=zero.clone(), dist_reduce_fx="sum")

    @override
    def update(self, embeddings: Tensor) -> None:
        """Add a batch of `(B, D)` embeddings."""
        embeddings = check_embeddings("embeddings", embeddings)
        unit = F.normalize(embeddings.double(), dim=1)
        self.sum = self.sum + unit.sum(dim=0)
        self.sum_square_norms = self.sum_square_norms + unit.square().sum()
        self.count = self.count + unit.shape[0]

    @override
    def compute(self) -> Tensor:
        """The mean cosine over ordered pairs of distinct samples."""
        _require_samples(self.count, 2)
        pair_sum = self.sum.square().sum() - self.sum_square_norms
        return (pair_sum / (self.count * (self.count - 1))).float()


class Alignment(Metric):
    """Alignment of positive pairs, see :func:`functional.alignment`.

    Args:
        alpha: Exponent of the distance, > 0.
        **kwargs: torchmetrics ``Metric`` arguments.

    Example:
        >>> import torch
        >>> from lightning_ssl.metrics import Alignment
        >>> metric = Alignment()
        >>> metric.update(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]))
        >>> metric.update(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]]))
        >>> round(metric.compute().item(), 4)
        1.0
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    sum: Tensor
    count: Tensor

    def __init__(self, alpha: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not alpha > 0:
            raise ValueError(f"`alpha` must be > 0, got {alpha}.")
        self.alpha = alpha
        zero = torch.zeros((), dtype=torch.float64)
        self.add_state("sum", default=zero.clone(), dist_reduce_fx="sum")
        self.add_state("count", default=zero.clone(), dist_reduce_fx="sum")

    @override
    def update(self, z0: Tensor, z1: Tensor) -> None:
        """Add `(B, D)` embeddings of first views and of their second views."""
        batch_mean = functional.alignment(z0.double(), z1.double(), self.alpha)
        self.sum = self.sum + batch_mean * z0.shape[0]
        self.count = self.count + z0.shape[0]

    @override
    def compute(self) -> Tensor:
        """The mean ``|u0 - u1|^alpha`` over all pairs seen."""
        _require_samples(self.count, 1)
        return (self.sum / self.count).float()


class _EmbeddingsMetric(Metric):
    """Base of the metrics that keep every embedding (``"cat"`` state)."""

    is_differentiable = False
    full_state_update = False

    embeddings: list[Tensor] | Tensor

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("embeddings", default=[], dist_reduce_fx="cat")

    @override
    def update(self, embeddings: Tensor) -> None:
        """Add a batch of `(B, D)` embeddings."""
        embeddings = check_embeddings("embeddings", embeddings)
        assert isinstance(self.embeddings, list)  # a tensor only while synced
        self.embeddings.append(embeddings)

    def _gathered(self, min_rows: int) -> Tensor:
        embeddings = dim_zero_cat(self.embeddings)
        _require_samples(torch.tensor(embeddings.shape[0]), min_rows)
        return embeddings


class RankMe(_EmbeddingsMetric):
    """RankMe effective rank, see :func:`functional.rankme`.

    Example:
        >>> import torch
        >>> from lightning_ssl.metrics import RankMe
        >>> metric = RankMe()
        >>> metric.update(torch.eye(3)[:2])
        >>> metric.update(torch.eye(3)[2:])
        >>> round(metric.compute().item(), 3)
        3.0
    """

    higher_is_better = True

    @override
    def compute(self) -> Tensor:
        """RankMe of all embeddings seen."""
        return functional.rankme(self._gathered(1))


class ActiveDimensionFraction(_EmbeddingsMetric):
    """Fraction of active principal axes, see :func:`active_dimension_fraction`.

    Args:
        threshold: Variance, relative to the mean per axis, above which an axis
            counts as active.
        **kwargs: torchmetrics ``Metric`` arguments.

    Example:
        >>> import torch
        >>> from lightning_ssl.metrics import ActiveDimensionFraction
        >>> metric = ActiveDimensionFraction()
        >>> metric.update(torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]))
        >>> round(metric.compute().item(), 4)
        0.3333
    """

    higher_is_better = True

    def __init__(self, threshold: float = 0.01, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not threshold > 0:
            raise ValueError(f"`threshold` must be > 0, got {threshold}.")
        self.threshold = threshold

    @override
    def compute(self) -> Tensor:
        """The fraction over all embeddings seen."""
        return functional.active_dimension_fraction(self._gathered(2), self.threshold)


class Uniformity(_EmbeddingsMetric):
    """Uniformity over all pairs seen, see :func:`functional.uniformity`.

    Args:
        t: Temperature of the Gaussian potential, > 0.
        **kwargs: torchmetrics ``Metric`` arguments.

    Example:
        >>> import torch
        >>> from lightning_ssl.metrics import Uniformity
        >>> metric = Uniformity()
        >>> metric.update(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        >>> metric.compute().item()
        -8.0
    """

    higher_is_better = False

    def __init__(self, t: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not t > 0:
            raise ValueError(f"`t` must be > 0, got {t}.")
        self.t = t

    @override
    def compute(self) -> Tensor:
        """The uniformity of all embeddings seen."""
        return functional.uniformity(self._gathered(2), self.t)


class EmbeddingHealth(_EmbeddingsMetric):
    """All representation-health statistics from one gathered state.

    :class:`~lightning_ssl.callbacks.collapse_monitor.CollapseMonitor` and
    :func:`~lightning_ssl.metrics.analysis.collapse_report` use it, so that
    under DDP the embeddings cross the network once, not once per statistic.
    ``compute`` returns a dict with the keys of :data:`HEALTH_METRICS`
    (``alignment`` only after updates with second views) plus
    ``num_samples``; every process gets the same values.

    Args:
        active_threshold: See :func:`functional.active_dimension_fraction`.
        t: See :func:`functional.uniformity`.
        alpha: See :func:`functional.alignment`.
        compute_device: Device the statistics are computed on, after the
            embeddings are gathered; ``None`` keeps them where they are. The
            CPU's LAPACK is more robust than GPU solvers on the ill-conditioned
            matrices that collapse produces.
        uniformity_samples: Compute uniformity on an evenly strided subset
            of at most this many embeddings; ``None`` uses all. Its cost grows
            as N^2 (for N = 2048 it is most of the total), and half a million
            pairs estimate it well.
        **kwargs: torchmetrics ``Metric`` arguments.

    Example:
        >>> import torch
        >>> from lightning_ssl.metrics import EmbeddingHealth
        >>> metric = EmbeddingHealth()
        >>> metric.update(torch.randn(32, 8))
        >>> sorted(metric.compute())  # doctest: +NORMALIZE_WHITESPACE
        ['active_dims', 'mean_cosine', 'num_samples', 'rankme', 'std',
         'uniformity']
    """

    higher_is_better = None

    alignment_sum: Tensor
    alignment_count: Tensor

    def __init__(
        self,
        active_threshold: float = 0.01,
        t: float = 2.0,
        alpha: float = 2.0,
        compute_device: str | torch.device | None = None,
        uniformity_samples: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value in [
            ("active_threshold", active_threshold),
            ("t", t),
            ("alpha", alpha),
        ]:
            if not value > 0:
                raise ValueError(f"`{name}` must be > 0, got {value}.")
        self.active_threshold = active_threshold
        self.t = t
        self.alpha = alpha
        if uniformity_samples is not None and uniformity_samples < 2:
            raise ValueError(
                "`uniformity_samples` must be None or an int >= 2, got "
                f"{uniformity_samples!r}."
            )
        self.compute_device = compute_device
        self.uniformity_samples = uniformity_samples
        zero = torch.zeros((), dtype=torch.float64)
        self.add_state("alignment_sum", default=zero.clone(), dist_reduce_fx="sum")
        self.add_state("alignment_count", default=zero.clone(), dist_reduce_fx="sum")

    @override
    def update(self, embeddings: Tensor, pairs: Tensor | None = None) -> None:
        """Add `(B, D)` embeddings and, optionally, those of their second views.

        Args:
            embeddings: `(B, D)` embeddings.
            pairs: `(B, D)` embeddings of other views of the same images, for
                the alignment statistic.
        """
        super().update(embeddings)
        if pairs is not None:
            batch_mean = functional.alignment(
                embeddings.double(), pairs.double(), self.alpha
            )
            self.alignment_sum = self.alignment_sum + batch_mean * len(embeddings)
            self.alignment_count = self.alignment_count + len(embeddings)

    @override
    def compute(self) -> dict[str, Tensor]:
        """Every statistic of all embeddings seen, as 0-d tensors."""
        embeddings = self._gathered(2)
        if self.compute_device is not None:
            embeddings = embeddings.to(self.compute_device)
        results = {
            "std": functional.normalized_std(embeddings),
            "rankme": functional.rankme(embeddings),
            "active_dims": functional.active_dimension_fraction(
                embeddings, self.active_threshold
            ),
            "mean_cosine": functional.mean_cosine_similarity(embeddings),
            "uniformity": functional.uniformity(self._subset(embeddings), self.t),
            "num_samples": embeddings.new_tensor(float(embeddings.shape[0])),
        }
        if self.alignment_count > 0:
            alignment = self.alignment_sum / self.alignment_count
            results["alignment"] = alignment.to(embeddings)
        return results

    def _subset(self, embeddings: Tensor) -> Tensor:
        """Every k-th row, at most ``uniformity_samples`` of them."""
        limit = self.uniformity_samples
        if limit is None or len(embeddings) <= limit:
            return embeddings
        return embeddings[:: math.ceil(len(embeddings) / limit)]


HEALTH_METRICS = (
    "std",
    "rankme",
    "active_dims",
    "mean_cosine",
    "uniformity",
    "alignment",
)
"""Names of the statistics :class:`EmbeddingHealth` computes, as logged."""


def _require_samples(count: Tensor, minimum: int) -> None:
    if count < minimum:
        raise ValueError(
            f"The metric needs at least {minimum} embeddings before `compute`, "
            f"got {int(count)}; call `update` with more samples."
        )
