"""Per-step schedules of hyperparameters: cosine and linear warmup."""

from lightly.utils.scheduler import cosine_schedule, cosine_warmup_schedule


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


def warmup_cosine_at(
    step: int, warmup_steps: int, total_steps: int, end: float
) -> float:
    """Learning-rate factor at ``step``: linear warmup to 1, then cosine to ``end``.

    The warmup reaches 1 at step ``warmup_steps - 1`` (lightly's convention);
    steps past ``total_steps`` keep ``end``.

    Example:
        >>> [warmup_cosine_at(step, 2, 10, 0.1) for step in (0, 1, 10, 20)]
        [0.5, 1.0, 0.1, 0.1]
    """
    return float(
        cosine_warmup_schedule(
            step=min(step, total_steps),
            max_steps=total_steps,
            start_value=1.0,
            end_value=end,
            warmup_steps=warmup_steps,
            warmup_start_value=0.0,
        )
    )
