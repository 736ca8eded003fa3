"""The ground truth: JSON lines of everything the emulator sent and injected.

Record types (key ``type``):
- ``start``: format, profile, seed, the INFO descriptor, options;
- ``fault``: a sensor fault: stream, channel, kind, start_s, end_s (device
  seconds) and its parameters (spike ``times_s``);
- ``frames``: frames the device put on the wire, per stream and batch:
  ``seq`` (unwrapped frame counters; the wire carries them modulo 65536 for
  SIO-1, 256 for Cyton), ``t_us`` (device clock at each frame's first
  sample), ``n_samp``, ``sample0`` (stream sample index of the batch's first
  sample) and, if asked for, ``codes`` (the samples, frame by frame);
- ``link``: a link fault: kind, device time, and ``frames`` [[stream, seq]...]
  it touched (dropped, corrupted, delayed or lost while unplugged);
- ``gesture``: a segment of the wearer's gesture sequence (gesture devices):
  ``label``, ``class`` (index into the start record's ``gestures.classes``),
  ``start_s``, ``end_s`` (null: to the end), ``rep``, effort ``level`` and the
  ``ramp_s`` over which it blends in from the segment before; the start
  record's ``gestures`` holds the class names and the sequence's settings;
- ``command``: a host command and the device's answer;
- ``lag``: the emulator fell behind real time by ``lag_s``;
- ``end``: totals: ``frames`` (per stream) and ``bytes`` put on the wire,
  as the ``frames`` records, ``unread`` ones included; ``discarded`` and
  ``discarded_bytes``, per reason the frames and bytes that never reached
  the host (``port_closed``, ``overrun``, ``unplug``: never written;
  ``unread``: written, so also in ``frames`` and ``bytes``, then dropped
  unread; ``flushed``: written, then thrown away by the host's own input
  flush, a sim:// port's reset_input_buffer), so the host was handed
  ``bytes - discarded_bytes["unread"] - discarded_bytes["flushed"]``.
Device seconds count only while the device streams (its sample clock).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np


class Truth:
    """Writes ground-truth records to a file and/or keeps them in memory."""

    def __init__(self, path: str | Path | None = None, *, keep: bool = True) -> None:
        self.path = Path(path) if path else None
        self._file: IO[str] | None = open(self.path, "w", encoding="utf-8") if self.path else None
        self.keep = keep
        self.records: list[dict[str, Any]] = []

    @property
    def active(self) -> bool:
        """False when records go nowhere (no file, not kept)."""
        return self.keep or self._file is not None

    def write(self, record: dict[str, Any]) -> None:
        """Add one record: kept in memory if ``keep``, and written as a JSON line to the file if there is one."""
        if self.keep:
            self.records.append(record)
        if self._file is not None:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        """Push the records written so far to the file."""
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Close the file (the records in memory stay); later records are only kept."""
        if self._file is not None:
            self._file.close()
            self._file = None


class TruthLog:
    """Read side: a truth file (or in-memory records) with the questions tests ask."""

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        self.records = list(records)

    @classmethod
    def load(cls, path: str | Path) -> TruthLog:
        """The records of a truth file (JSON lines, blank lines skipped)."""
        with open(path, encoding="utf-8") as f:
            return cls(json.loads(line) for line in f if line.strip())

    def of(self, rtype: str, **match: Any) -> list[dict[str, Any]]:
        """The records of type ``rtype`` whose fields equal every ``match`` keyword, in file order."""
        return [r for r in self.records if r.get("type") == rtype and all(r.get(k) == v for k, v in match.items())]

    @property
    def start(self) -> dict[str, Any]:
        """The ``start`` record: format, profile, seed, serial, streams and INFO descriptor."""
        return self.of("start")[0]

    def faults(self, **match: Any) -> list[dict[str, Any]]:
        """The injected sensor faults (``fault`` records, ``channel`` counted from 0) matching the keywords."""
        return self.of("fault", **match)

    def link_faults(self, **match: Any) -> list[dict[str, Any]]:
        """The link faults (``link`` records: drop, corrupt, delay, unplug, ...) matching the keywords."""
        return self.of("link", **match)

    def gestures(self) -> list[dict[str, Any]]:
        """The gesture segments, in time order."""
        return sorted(self.of("gesture"), key=lambda r: r["start_s"])

    def gesture_labels(self, t_s: np.ndarray) -> list[str | None]:
        """The gesture label at each device time (None before the first
        segment or on a device without gestures)."""
        segs = self.gestures()
        starts = np.array([r["start_s"] for r in segs], dtype=float)
        i = np.searchsorted(starts, np.asarray(t_s, dtype=float), side="right") - 1
        return [segs[k]["label"] if k >= 0 else None for k in np.atleast_1d(i)]

    def streams(self) -> list[int]:
        """The ids of the streams that put frames on the wire, sorted."""
        return sorted({r["stream"] for r in self.of("frames")})

    def frame_seq(self, stream: int = 0) -> np.ndarray:
        """Unwrapped seq of every frame put on the wire, in order."""
        parts = [r["seq"] for r in self.of("frames", stream=stream)]
        return np.array([s for p in parts for s in p], dtype=np.int64)

    def frame_t_us(self, stream: int = 0) -> np.ndarray:
        """Device clock in µs at the first sample of every frame of ``stream`` put on the wire, in order."""
        parts = [r["t_us"] for r in self.of("frames", stream=stream)]
        return np.array([s for p in parts for s in p], dtype=np.int64)

    def codes(self, stream: int = 0) -> np.ndarray:
        """Samples of every frame on the wire (needs truth codes), (rows, ch)."""
        rows = [np.asarray(fr, dtype=np.int64) for r in self.of("frames", stream=stream) for fr in r["codes"]]
        return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.int64)

    def touched(self, kind: str, stream: int | None = None) -> list[int]:
        """seq of frames a kind of link fault touched (optionally one stream)."""
        return [fr[1] for r in self.link_faults(kind=kind) for fr in r["frames"] if stream is None or fr[0] == stream]

    def frames_generated(self, stream: int = 0) -> int:
        """Frames the device produced: on the wire plus dropped or lost."""
        lost = sum(len(self.touched(k, stream)) for k in ("drop", "unplug", "port_closed", "overrun"))
        return int(self.frame_seq(stream).size) + lost
