"""Tell healthy embeddings from complete or dimensional collapse, and explain why.

The statistics come from :class:`~lightning_ssl.metrics.EmbeddingHealth`; this
module turns them into a :class:`CollapseStatus` with thresholds that scale with
the embedding dimension D and the number of samples N, and into advice that
depends on the method being trained.
"""

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import Enum

from lightning_ssl.validation import check_positive_int, check_range


class CollapseStatus(str, Enum):
    """The state of a set of embeddings, from best to worst."""

    HEALTHY = "healthy"
    DIMENSIONAL = "dimensional_collapse"
    COMPLETE = "complete_collapse"

    @property
    def code(self) -> int:
        """0, 1 or 2: the number logged as ``collapse/status``."""
        return list(CollapseStatus).index(self)

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``"complete collapse"``."""
        return self.value.replace("_", " ")


@dataclass(frozen=True)
class CollapseThresholds:
    """Where healthy ends, relative to embedding dimension D and sample count N.

    *Complete collapse.* For l2-normalised embeddings u, the variances of the D
    coordinates add up to ``1 - |mean(u)|^2``, which is about ``1 - c`` for a
    mean pairwise cosine c: 1 when the directions are spread evenly (each
    coordinate then has std ``1 / sqrt(D)``) and 0 when they coincide. The
    embeddings have collapsed completely when they keep less than ``spread^2``
    of that total: mean cosine above ``1 - spread^2`` and normalised std below
    ``spread / sqrt(D)``. With ``spread = 0.2`` (4 % of the isotropic spread)
    the directions stay within about 0.2 rad (11 degrees, root mean square) of
    their mean, and uniformity is above -0.16 where spread-out embeddings reach
    about -4. Embeddings that are (numerically) constant, including all zero,
    count as collapsed whatever their direction.

    *Dimensional collapse.* RankMe is at most ``min(N, D)`` (Garrido et al.,
    2023). The embeddings have collapsed onto a subspace when RankMe stays below
    ``rank_fraction * min(N, D)``, or below ``min_rank`` (capped at half of
    ``min(N, D)`` so that tiny embeddings are not always flagged). Data that
    vary along k directions around an offset have RankMe at most k + 1, so
    ``min_rank = 4`` flags two directions at any width. A RankMe that
    falls steadily, to under half its value over the last ``trend_window``
    checks, is flagged earlier, as soon as it is below twice the threshold.

    Reference values, from ``narrow_resnet18`` on 32x32 CIFAR-10 images over
    150 steps (as in ``tests/callbacks/test_collapse_monitor.py``, run longer):
    healthy SimCLR, BYOL and VICReg kept mean cosine <= 0.46, normalised std
    >= 0.69 / sqrt(D) and RankMe >= 0.29 min(N, D) in features and projections;
    induced collapse drove projections past mean cosine 0.99 with std below
    0.1 / sqrt(D), and a rank-2 linear encoder had RankMe 2.8-3.0.

    Args:
        spread: Fraction (of the isotropic value) of the normalised std below
            which, together with the mean cosine, collapse is complete.
        rank_fraction: Fraction of ``min(N, D)`` below which RankMe signals
            dimensional collapse.
        min_rank: RankMe below which dimensional collapse is declared at any
            width.
        trend_window: Number of consecutive checks over which a falling
            RankMe is examined; 0 disables the trend rule.

    Example:
        >>> thresholds = CollapseThresholds()
        >>> round(thresholds.max_std(dim=100), 4), thresholds.min_cosine()
        (0.02, 0.96)
        >>> thresholds.max_rankme(dim=128, num_samples=2048)
        6.4
    """

    spread: float = 0.2
    rank_fraction: float = 0.05
    min_rank: float = 4.0
    trend_window: int = 3

    def __post_init__(self) -> None:
        check_range("spread", self.spread, low=0.0, high=1.0, low_open=True)
        check_range("rank_fraction", self.rank_fraction, low=0.0, high=1.0)
        check_range("min_rank", self.min_rank, low=0.0)
        if self.trend_window != 0:
            check_positive_int("trend_window", self.trend_window)

    def max_std(self, dim: int) -> float:
        """Normalised std below which collapse may be complete: spread/sqrt(D)."""
        return self.spread / math.sqrt(dim)

    def min_cosine(self) -> float:
        """Mean cosine above which collapse may be complete: 1 - spread^2."""
        return 1.0 - self.spread**2

    def max_rankme(self, dim: int, num_samples: int) -> float:
        """RankMe below which the collapse is dimensional."""
        attainable = min(dim, num_samples)
        return max(self.rank_fraction * attainable, min(self.min_rank, attainable / 2))

    def to_dict(self) -> dict[str, float]:
        """The thresholds as a JSON-friendly dict."""
        return {key: float(value) for key, value in asdict(self).items()}


def classify(
    stats: Mapping[str, float],
    dim: int,
    num_samples: int,
    thresholds: CollapseThresholds | None = None,
    rank_history: Sequence[float] = (),
) -> CollapseStatus:
    """Classify embeddings from their health statistics.

    Args:
        stats: At least ``std``, ``mean_cosine``, ``rankme`` and ``active_dims``
            as computed by :class:`~lightning_ssl.metrics.EmbeddingHealth`.
        dim: Embedding dimension D.
        num_samples: Number of embeddings N the statistics were computed on.
        thresholds: Decision thresholds; the defaults when ``None``.
        rank_history: RankMe at earlier checks, oldest first (without the
            current one), for the trend rule.

    Returns:
        The status.

    Raises:
        ValueError: If a statistic is missing.

    Example:
        >>> stats = {"std": 0.001, "mean_cosine": 0.999, "rankme": 1.1,
        ...          "active_dims": 0.5}
        >>> classify(stats, dim=128, num_samples=512).value
        'complete_collapse'
        >>> classify({**stats, "std": 0.06, "mean_cosine": 0.4}, 128, 512).value
        'dimensional_collapse'
    """
    missing = [
        k for k in ("std", "mean_cosine", "rankme", "active_dims") if k not in stats
    ]
    if missing:
        raise ValueError(f"`stats` lacks {missing}; got keys {sorted(stats)}.")
    thresholds = thresholds or CollapseThresholds()

    narrow = stats["std"] < thresholds.max_std(dim)
    aligned = stats["mean_cosine"] > thresholds.min_cosine()
    constant = stats["active_dims"] == 0
    if (narrow and aligned) or constant:
        return CollapseStatus.COMPLETE

    max_rank = thresholds.max_rankme(dim, num_samples)
    if stats["rankme"] < max_rank:
        return CollapseStatus.DIMENSIONAL
    window = [*rank_history, stats["rankme"]][-thresholds.trend_window :]
    if (
        thresholds.trend_window > 1
        and len(window) == thresholds.trend_window
        and all(later < earlier for earlier, later in itertools.pairwise(window))
        and window[-1] < 0.5 * window[0]
        and window[-1] < 2 * max_rank
    ):
        return CollapseStatus.DIMENSIONAL
    return CollapseStatus.HEALTHY


# Usual causes of collapse, by method family; keys are class names matched
# against the method's class and its bases, so subclasses inherit the advice.
_ADVICE = {
    "SimSiam": (
        "SimSiam collapses without its predictor or without the stop-gradient "
        "on the target branch (Chen & He, 2021, Sec. 4); check both, and lower "
        "the learning rate (the predictor's especially) or raise weight decay."
    ),
    "BYOL": (
        "BYOL collapses when the targets carry gradients (the teacher must be "
        "detached), without the predictor, or with a teacher momentum so low that "
        "the teacher copies the student (Grill et al., 2020, Sec. 3.1); also try "
        "a lower learning rate."
    ),
    "VICReg": (
        "VICReg relies on its variance and covariance terms: check that their "
        "weights are not too weak against the invariance weight (paper: 25/25/1, "
        "Bardes et al., 2022, Sec. 4.3) and that the expander is wide enough."
    ),
    "BarlowTwins": (
        "Barlow Twins needs its off-diagonal weight (lambda 5e-3 in Zbontar et "
        "al., 2021) and a batch-normalised cross-correlation; a lower learning "
        "rate or a wider projector also helps."
    ),
    "TiCo": (
        "TiCo relies on its covariance contrast: check that rho is not too weak "
        "against the invariance term (8 by default, Zhu et al., 2022) and that the "
        "teacher is detached; the running covariance fills over about "
        "1 / (1 - beta) steps, during which the loss rises."
    ),
    "MMCR": (
        "MMCR maximises the nuclear norm of the centroids of each image's views "
        "(Yerxa et al., 2023): check that the embeddings are normalised, that the "
        "views of an image differ, and that the projection dimension, which bounds "
        "the rank, is not far below the batch size; keep the manifold weight "
        "small, as it shrinks each image's manifold."
    ),
    "DINO": (
        "DINO collapses to one dimension without centering and to the uniform "
        "output without sharpening (Caron et al., 2021, Sec. 5.3): check the "
        "teacher temperature (0.04-0.07, with warm-up), the center momentum and "
        "the teacher momentum."
    ),
    "SwAV": (
        "SwAV collapses when the Sinkhorn assignments are not balanced: check "
        "epsilon and the iterations, and freeze the prototypes during the first "
        "epoch (Caron et al., 2020, Appendix A)."
    ),
    "MSN": (
        "MSN's assignments collapse onto few prototypes without ME-MAX: check "
        "that the regularization weight is not 0 (1 in Assran et al., 2022), that "
        "the targets are sharpened and balanced by Sinkhorn, and that the target "
        "network is detached and moves slowly (momentum 0.996 or higher)."
    ),
    "SimCLR": (
        "Contrastive losses rarely collapse completely; check that the temperature "
        "is not too high, the batch not too small for the negatives, and that "
        "the positives of the loss are really two views of the same image. "
        "Strong augmentation with a weak projector causes dimensional collapse "
        "(Jing et al., 2022)."
    ),
}
_ADVICE["MoCo"] = _ADVICE["SimCLR"].replace("the batch", "the queue or batch")
_ADVICE["NNCLR"] = _ADVICE["SimCLR"]
_GENERIC_ADVICE = (
    "Common causes: a learning rate that is too high, too little weight decay, "
    "augmentations so weak that views are nearly identical, or a loss without a "
    "term against collapse (negatives, a predictor with stop-gradient, or a "
    "variance / decorrelation term)."
)


def method_advice(method: object) -> str:
    """What usually causes collapse for a method, or generic advice.

    Args:
        method: The method instance, its class, or a class name.

    Returns:
        One or two sentences of advice.

    Example:
        >>> method_advice("VICReg").startswith("VICReg relies")
        True
        >>> method_advice(object()).startswith("Common causes")
        True
    """
    if isinstance(method, str):
        names = [method]
    else:
        cls = method if isinstance(method, type) else type(method)
        names = [base.__name__ for base in cls.__mro__]
    for name in names:
        for key, advice in _ADVICE.items():
            if name.lower().startswith(key.lower()):
                return advice
    return _GENERIC_ADVICE


def describe(
    stats: Mapping[str, float],
    dim: int,
    num_samples: int,
    thresholds: CollapseThresholds | None = None,
) -> str:
    """One line of evidence: the statistics next to their thresholds.

    Example:
        >>> stats = {"std": 0.001, "mean_cosine": 0.999, "rankme": 1.1,
        ...          "active_dims": 0.01}
        >>> describe(stats, dim=100, num_samples=512)  # doctest: +ELLIPSIS
        'std 0.001 (healthy ~0.1, collapse < 0.02), mean cosine 0.999 ...'
    """
    thresholds = thresholds or CollapseThresholds()
    isotropic = 1 / math.sqrt(dim)
    parts = [
        f"std {stats['std']:.3g} (healthy ~{isotropic:.3g}, collapse < "
        f"{thresholds.max_std(dim):.3g})",
        f"mean cosine {stats['mean_cosine']:.3f} (collapse > "
        f"{thresholds.min_cosine():.3g})",
        f"RankMe {stats['rankme']:.1f} of at most {min(dim, num_samples)} "
        f"(collapse < {thresholds.max_rankme(dim, num_samples):.3g})",
        f"{stats['active_dims']:.0%} of {dim} principal axes active",
    ]
    return ", ".join(parts)
