"""Argument checks shared by methods, datamodules, callbacks and the CLI.

Each raises a ``ValueError`` that names the parameter, what is allowed and the
value received.
"""

from collections.abc import Iterable


def check_choice(name: str, value: object, allowed: Iterable[object]) -> None:
    """Raise unless ``value`` is one of ``allowed``.

    Example:
        >>> check_choice("optimizer", "adam", ("sgd", "lars"))
        Traceback (most recent call last):
        ...
        ValueError: `optimizer` must be one of ('sgd', 'lars'), got 'adam'.
    """
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {allowed}, got {value!r}.")


def check_range(
    name: str,
    value: float,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> None:
    """Raise unless ``low <= value <= high`` (``low < value`` with ``low_open``).

    Example:
        >>> check_range("lr", 0.0, low=0.0, low_open=True)
        Traceback (most recent call last):
        ...
        ValueError: `lr` must be in (0.0, inf], got 0.0.
    """
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        opening = "(" if low_open else "["
        upper = "inf" if high is None else high
        lower = "-inf" if low is None else low
        raise ValueError(
            f"`{name}` must be in {opening}{lower}, {upper}], got {value}."
        )


def check_positive_int(name: str, value: object) -> None:
    """Raise unless ``value`` is an integer >= 1.

    Example:
        >>> check_positive_int("batch_size", 0)
        Traceback (most recent call last):
        ...
        ValueError: `batch_size` must be a positive integer, got 0.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
