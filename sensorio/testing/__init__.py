"""Helpers for testing code that reads sensor devices, without hardware.

The pytest plugin (``sensorio.testing.plugin``, loaded automatically once
sensorio is installed) provides the fixtures ``sensorio_emulator`` (a device
on a pseudo-terminal) and ``sensorio_sim`` (a ``sim://`` pyserial port).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from typing import Any


def sim_url(profile: str | None = None, **options: Any) -> str:
    """A ``sim://`` URL from keyword options; lists repeat (fault=[...], link=[...]).

    >>> sim_url("emg8", seed=1, fast=True, link=["drop:at=1"])
    'sim://emg8?seed=1&fast=1&link=drop%3Aat%3D1'
    """
    pairs: list[tuple[str, str]] = []
    for key, value in options.items():
        values: Iterable[Any] = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if v is None:
                continue
            pairs.append((key, "1" if v is True else "0" if v is False else str(v)))
    return f"sim://{profile or ''}?{urllib.parse.urlencode(pairs)}"


__all__ = ["sim_url"]
