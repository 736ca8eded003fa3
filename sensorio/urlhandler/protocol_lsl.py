"""lsl://[NAME]?type=EMG&source_id=ID : a Lab Streaming Layer stream as a
sensorio source (needs pylsl: ``pip install 'sensorio[lsl]'``).

The stream is resolved by name (the URL's host part or ``name=``), ``type``
and/or ``source_id`` (all given must match), waiting up to ``timeout``
seconds (5). Its own metadata gives the channel count, rate, labels and
unit (``desc/channels/channel/label`` and ``unit``, as the XDF conventions
put them) and the maker (``desc/acquisition/manufacturer``). Samples keep
their LSL timestamps (clock-synchronised to this machine, not dejittered,
so a gap stays a gap); a step of more than ``gap`` sample periods (2.5)
between timestamps counts the rows it spans as lost. Values go out as int32
codes of ``scale`` units (default: 0.001 of a µV-like unit, 1 for integer
streams). See _sample_port for how the stream becomes SIO-1 frames.
"""

from __future__ import annotations

import math
import urllib.parse
from typing import Any

import numpy as np
from serial.serialutil import SerialException

from ..descriptor import volt_unit
from . import url_options
from ._sample_port import Pulled, SampleSourcePort, descriptor, gaps_from_timestamps

#: LSL's spelled-out units and the short names sensorio uses (others: volt_unit)
_UNITS = {"microvolts": "uV", "millivolts": "mV", "volts": "V"}
#: default code size: 1 nV, whatever the voltage unit
_VOLT_SCALE = {"uV": 1e-3, "mV": 1e-6, "V": 1e-9}
_OPTIONS = {"name", "type", "source_id", "timeout", "scale", "gap"}


def _pylsl() -> Any:
    try:
        import pylsl
    except (ImportError, RuntimeError) as exc:
        raise SerialException(f"lsl:// needs pylsl (pip install 'sensorio[lsl]'): {exc}") from None
    return pylsl


def _child_text(node: Any, *path: str) -> str:
    for name in path:
        node = node.child(name)
        if node.empty():
            return ""
    return str(node.child_value()).strip()


class LslSource:
    """Resolves and reads one LSL stream (see the module docstring)."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        query = url_options(parts.query, "lsl")
        unknown = set(query) - _OPTIONS
        if unknown:
            raise SerialException(f"lsl:// does not know the option {sorted(unknown)[0]!r} (known: {sorted(_OPTIONS)})")
        self.url = url
        self.match = {k: query[k] for k in ("name", "type", "source_id") if query.get(k)}
        host = urllib.parse.unquote(parts.netloc + parts.path).strip("/")
        if host:
            self.match.setdefault("name", host)
        if not self.match:
            raise SerialException("lsl:// needs a stream name, type= or source_id=")
        self.timeout = self._number(query, "timeout", 5.0)
        self.gap = self._number(query, "gap", 2.5)
        self.scale = self._number(query, "scale", None) if "scale" in query else None
        self._inlet: Any = None
        self._rate = 0.0
        self._last: float | None = None

    @staticmethod
    def _number(query: dict[str, str], key: str, default: float | None) -> float:
        if key not in query:
            assert default is not None
            return default
        try:
            value = float(query[key])
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise SerialException(f"lsl:// {key}= must be a positive number, not {query[key]!r}")
        return value

    def open(self) -> dict[str, Any]:
        pylsl = _pylsl()
        pred = " and ".join(f"{k}='{v}'" for k, v in self.match.items())
        found = pylsl.resolve_bypred(pred, 1, self.timeout)
        if not found:
            wanted = ", ".join(f"{k} {v!r}" for k, v in self.match.items())
            raise SerialException(f"no LSL stream with {wanted} found within {self.timeout:g} s")
        self._inlet = pylsl.StreamInlet(found[0], max_buflen=360, recover=False, processing_flags=pylsl.proc_clocksync)
        info = self._inlet.info(timeout=self.timeout)
        n_ch = info.channel_count()
        self._rate = float(info.nominal_srate())
        labels: list[str] = []
        units: list[str] = []
        ch = info.desc().child("channels").child("channel")
        while not ch.empty() and len(labels) < n_ch:
            labels.append(_child_text(ch, "label"))
            units.append(_child_text(ch, "unit"))
            ch = ch.next_sibling("channel")
        unit_names = {_UNITS.get(u.lower()) or volt_unit(u) or u for u in units if u}
        unit = unit_names.pop() if len(unit_names) == 1 else ""
        integer = info.channel_format() in (pylsl.cf_int8, pylsl.cf_int16, pylsl.cf_int32)
        scale = self.scale or (1.0 if integer else _VOLT_SCALE.get(unit, 1e-3))
        maker = _child_text(info.desc(), "acquisition", "manufacturer")
        return descriptor(
            device=info.name(),
            serial=info.source_id() or info.uid(),
            manufacturer=maker or "unknown (via Lab Streaming Layer)",
            name=(info.type() or "lsl").lower(),
            channels=n_ch,
            rate_hz=self._rate,
            unit=unit,
            scale=scale,
            labels=labels if len(labels) == n_ch and all(labels) else None,
            source=self.url,
        )

    def pull(self, timeout: float) -> Pulled | None:
        pylsl = _pylsl()
        try:
            values, stamps = self._inlet.pull_chunk(timeout=timeout, max_samples=4096)
        except pylsl.LostError:
            return None  # the outlet went away: the source has ended
        if not stamps:
            return Pulled(np.zeros((0, 1)), np.zeros(0))
        ts = np.asarray(stamps, np.float64)
        lost = gaps_from_timestamps(ts, self._last, self._rate, self.gap)
        self._last = float(ts[-1])
        return Pulled(np.asarray(values, np.float64), ts, lost)

    def close(self) -> None:
        if self._inlet is not None:
            self._inlet.close_stream()
            self._inlet = None


class Serial(SampleSourcePort):
    """pyserial port for lsl:// URLs."""

    def _make_source(self, url: str) -> LslSource:
        return LslSource(url)
