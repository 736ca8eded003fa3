"""Numbers given as text (command-line options, ``sim://`` URL queries):
parsed and range-checked in one place, so that ``nan``, ``inf``, a negative
count or a zero rate is refused with the same words everywhere."""

from __future__ import annotations

import math


def parse_number(
    text: str | float,
    *,
    minimum: float | None = None,
    above: bool = False,
    maximum: float | None = None,
) -> float:
    """A finite float from ``text``; with ``minimum``, at least that (or above
    it, when ``above``); with ``maximum``, at most that. Raises ValueError
    with a one-line reason."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    if minimum is not None and (value <= minimum if above else value < minimum):
        raise ValueError(f"{text} is {'not above' if above else 'below'} {minimum:g}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{text} is above {maximum:g}")
    return value


def parse_integer(text: str | int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer from ``text`` (decimal digits, no fraction); with
    ``minimum``/``maximum``, within them. Raises ValueError with a one-line reason."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a whole number")
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{text} is below {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{text} is above {maximum}")
    return value


__all__ = ["parse_integer", "parse_number"]
