"""Metric keys: every name lightning_ssl logs is defined here, and only here.

Keys are slash-namespaced by phase (``train/``, ``val/``) or by topic
(``collapse/``), so loggers such as Weights & Biases group them into panels.
"""

TRAIN_LOSS = "train/loss"
TRAIN_LR = "train/lr"
TRAIN_MOMENTUM = "train/momentum"
TRAIN_WEIGHT_DECAY = "train/weight_decay"

TRAIN_ONLINE_TOP1 = "train/online_top1"
TRAIN_ONLINE_TOP5 = "train/online_top5"
TRAIN_ONLINE_LOSS = "train/online_loss"
VAL_ONLINE_TOP1 = "val/online_top1"
VAL_ONLINE_TOP5 = "val/online_top5"

VAL_KNN_TOP1 = "val/knn_top1"
VAL_KNN_TOP5 = "val/knn_top5"


def val_linear_top1(fraction: float) -> str:
    """Key of the few-label linear-probe accuracy, e.g. ``val/linear_top1_10pct``.

    Args:
        fraction: Fraction of the training labels used, in ``(0, 1]``.

    Returns:
        The metric key.

    Example:
        >>> val_linear_top1(0.01)
        'val/linear_top1_1pct'
        >>> val_linear_top1(1.0)
        'val/linear_top1_100pct'
    """
    return f"val/linear_top1_{fraction * 100:g}pct"


def val_supervised_top1(fraction: float) -> str:
    """Key of the supervised-from-scratch baseline on the same labels.

    Example:
        >>> val_supervised_top1(0.1)
        'val/supervised_top1_10pct'
    """
    return f"val/supervised_top1_{fraction * 100:g}pct"


def collapse(metric: str, source: str) -> str:
    """Key of a representation-health metric, e.g. ``collapse/features/rankme``.

    Args:
        metric: Metric name, such as ``"rankme"`` or ``"std"``.
        source: What was measured: ``"features"`` or ``"projections"``.

    Example:
        >>> collapse("rankme", "features")
        'collapse/features/rankme'
    """
    return f"collapse/{source}/{metric}"


COLLAPSE_RANKME = "collapse/rankme"
COLLAPSE_STATUS = "collapse/status"

TRAIN_TEACHER_TEMPERATURE = "train/teacher_temperature"

VAL_EMBEDDINGS = "val/embeddings"
"""Image key of the 2-D projection of validation embeddings."""

BENCHMARK_TRAIN_IMAGES_PER_S = "benchmark/train_images_per_s"
"""Source images per second of a training run (each counted once, all views)."""
BENCHMARK_PEAK_RSS_MIB = "benchmark/peak_rss_mib"
"""Peak resident memory of a benchmark row's process, in MiB."""
BENCHMARK_WALL_S = "benchmark/wall_s"
"""Wall time of a benchmark row, training and evaluation, in seconds."""
