"""The arrays of an NPZ export: samples in physical units with their calibration beside them.

Per device stream (stream 0's names bare, stream k's prefixed ``s<k>_``):

``samples``
    (rows, channels): values in ``unit`` (default), float32 for codes of up to
    24 bits and float64 for wider ones (``sensorio.export.units.physical_dtype``),
    or with ``raw`` the device's codes in their native dtype (int16 and uint16
    stay 16-bit, 24-bit codes are int32). A stream without a calibration
    always holds its codes.
``unit``
    0-d string: the physical unit of the calibration (``uV`` for EMG; ``code``
    when the stream has none).
``samples_unit``
    0-d string: what ``samples`` holds: ``unit``, or ``code`` for raw codes.
``labels``
    (channels,) strings: the channel labels.
``scale``, ``zero``
    (channels,) float64: value = (code - zero) * scale, code = value / scale + zero.
``frame_seq``, ``frame_t_us``, ``frame_leadoff``, ``events``
    as ``sensorio decode`` writes them (``frame_t_us`` unwrapped across the
    wraps of the device clock, as the CSV's ``t_us``: ClockUnwrap; block by
    block, the streams aligned on the one clock: StreamClocks).

Beside them: ``messages`` (the device's text lines), ``device_info`` (the
descriptor as JSON) and ``stats`` (the parser's counters as JSON).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..blocks import CLOCK_WRAP, EVENT_DTYPE, Block, ClockUnwrap, StreamClocks
from ..npystream import NpyAppender, native_dtype
from .units import CODE_UNIT, Calibration, stream_calibration


def _stream_desc(info: Mapping[str, Any] | None, sid: int) -> Mapping[str, Any]:
    for s in (info or {}).get("streams", []) or []:
        if isinstance(s, dict) and s.get("id") == sid:
            return s
    return {}


def npz_arrays(
    streams: Mapping[int, Mapping[str, np.ndarray]],
    info: Mapping[str, Any] | None,
    *,
    raw: bool = False,
    native: Mapping[int, np.dtype] | None = None,
    clock_wrap: int = CLOCK_WRAP,
) -> dict[str, np.ndarray]:
    """The per-stream arrays described in the module docstring, from
    ``concat_blocks`` output and the device descriptor; raw: keep the codes,
    in ``native[stream]`` (``sensorio.npystream.native_dtype`` of the stream's
    blocks) where given; clock_wrap: where frame_t_us wraps
    (``Format.clock_modulus``; each stream unwrapped on its own here: the
    whole arrays do not say which stream's frame came first)."""
    out: dict[str, np.ndarray] = {}
    for sid, arrays in sorted(streams.items()):
        prefix = "" if sid == 0 else f"s{sid}_"
        codes = arrays["samples"]
        n_ch = int(codes.shape[1])
        cal = stream_calibration(_stream_desc(info, sid), n_ch)
        physical = cal.calibrated and not raw
        if physical:
            out[prefix + "samples"] = cal.to_physical(codes)
        else:
            dtype = (native or {}).get(sid, codes.dtype)
            out[prefix + "samples"] = codes if codes.dtype == dtype else codes.astype(dtype)
        out[prefix + "unit"] = np.array(cal.unit)
        out[prefix + "samples_unit"] = np.array(cal.unit if physical else CODE_UNIT)
        out[prefix + "labels"] = np.array(cal.labels, dtype=str).reshape(n_ch)
        out[prefix + "scale"] = np.full(n_ch, cal.scale)
        out[prefix + "zero"] = np.full(n_ch, cal.zero)
        for name in ("frame_seq", "frame_t_us", "frame_leadoff", "events"):
            out[prefix + name] = arrays[name]
        t_us = arrays["frame_t_us"]
        out[prefix + "frame_t_us"] = ClockUnwrap(clock_wrap)(t_us).astype(t_us.dtype)
    return out


class NpzStream:
    """The arrays of ``npz_arrays`` written block by block into growing NPY
    files in ``folder`` (memory: one block, whatever the recording's length):
    ``add`` each Block as it is decoded, then ``close`` with the messages,
    descriptor and parser counters, which gives {array name: NPY path} in
    the order ``npz_arrays`` (and numpy.savez) would store them, for
    ``sensorio.npystream.pack_npz``. The conversion to physical units is
    the same per block as over the whole array, so the values are identical."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        info: Mapping[str, Any] | None,
        *,
        raw: bool = False,
        clock_wrap: int = CLOCK_WRAP,
    ) -> None:
        """Into folder; info: the device descriptor; raw: the codes, not
        physical values; clock_wrap: where frame_t_us wraps (``Format.clock_modulus``)."""
        self.folder = Path(folder)
        self.info = info
        self.raw = raw
        self._clocks = StreamClocks(clock_wrap)
        self._streams: dict[int, tuple[Calibration, bool, dict[str, NpyAppender]]] = {}

    def _open(self, block: Block) -> tuple[Calibration, bool, dict[str, NpyAppender]]:
        prefix = "" if block.stream == 0 else f"s{block.stream}_"
        cal = stream_calibration(_stream_desc(self.info, block.stream), block.n_channels)
        physical = cal.calibrated and not self.raw

        def npy(name: str, dtype: Any, tail: tuple[int, ...] = ()) -> NpyAppender:
            return NpyAppender(self.folder / f"{prefix}{name}.npy", dtype, tail)

        files = {
            "samples": npy("samples", cal.dtype if physical else native_dtype(block), (block.n_channels,)),
            "frame_seq": npy("frame_seq", block.frame_seq.dtype),
            "frame_t_us": npy("frame_t_us", block.frame_t_us.dtype),
            "frame_leadoff": npy("frame_leadoff", block.frame_leadoff.dtype),
            # as np.concatenate gives it (and the whole-array export stored it): without the padding
            "events": npy("events", np.result_type(EVENT_DTYPE)),
        }
        return cal, physical, files

    def add(self, block: Block) -> None:
        """Append one decoded Block of any stream."""
        entry = self._streams.get(block.stream)
        if entry is None:
            entry = self._streams[block.stream] = self._open(block)
        cal, physical, files = entry
        files["samples"].append(cal.to_physical(block.samples) if physical else block.samples)
        files["frame_seq"].append(block.frame_seq)
        files["frame_t_us"].append(self._clocks(block.stream, block.frame_t_us))
        files["frame_leadoff"].append(block.frame_leadoff)
        if block.events.size:
            ev = block.events.copy()
            ev["row"] += np.uint32(block.first_row)
            files["events"].append(ev)

    @property
    def rows(self) -> dict[int, int]:
        """Samples written per stream."""
        return {sid: files["samples"].rows for sid, (_, _, files) in sorted(self._streams.items())}

    def close(
        self, messages: list[str] | None = None, info: Any = None, stats: Mapping[str, Any] | None = None
    ) -> dict[str, Path]:
        """Finish every NPY file; returns every member of the NPZ in order."""
        out: dict[str, Path] = {}

        def small(name: str, arr: np.ndarray) -> None:
            path = self.folder / f"{name}.npy"
            np.save(path, arr, allow_pickle=False)
            out[name] = path

        for sid, (cal, physical, files) in sorted(self._streams.items()):
            prefix = "" if sid == 0 else f"s{sid}_"
            for f in files.values():
                f.close()
            n_ch = files["samples"].tail[0]
            out[prefix + "samples"] = files["samples"].path
            small(prefix + "unit", np.array(cal.unit))
            small(prefix + "samples_unit", np.array(cal.unit if physical else CODE_UNIT))
            small(prefix + "labels", np.array(cal.labels, dtype=str).reshape(n_ch))
            small(prefix + "scale", np.full(n_ch, cal.scale))
            small(prefix + "zero", np.full(n_ch, cal.zero))
            for name in ("frame_seq", "frame_t_us", "frame_leadoff", "events"):
                out[prefix + name] = files[name].path
        if messages is not None:
            small("messages", np.array(messages, dtype=object).astype(str))
            small("device_info", np.array(json.dumps(info)))
            small("stats", np.array(json.dumps(dict(stats or {}))))
        return out


__all__ = ["NpzStream", "npz_arrays"]
