"""Per-step schedules of hyperparameters: cosine and linear warmup."""

from lightly.utils.scheduler import cosine_schedule


def cosine_at(step: int, total_steps: int, start: float, end: float) -> float:
    """Value at ``step`` of a cosine schedule from ``start`` to ``end``.

    Steps past ``total_steps`` keep the end value.

    Example:
        >>> cosine_at(0, 100, 0.996, 1.0), cosine_at(100, 100, 0.996, 1.0)
        (0.996, 1.0)
    """
    total_steps = max(total_steps, 1)
    return float(cosine_schedule(min(step, total_steps), total_steps, start, end))


def linear_warmup(step: int, warmup_steps: int, start: float, end: float) -> float:
    """Value at ``step`` of a linear ramp from ``start`` to ``end``, then ``end``.

    Example:
        >>> round(linear_warmup(5, 10, 0.04, 0.07), 4)
        0.055
        >>> linear_warmup(12, 10, 0.04, 0.07)
        0.07
    """
    if step >= warmup_steps:
        return end
    return start + (end - start) * step / warmup_steps
