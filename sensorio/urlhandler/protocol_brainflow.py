"""brainflow://BOARD?serial_port=/dev/ttyUSB0&channels=emg : any BrainFlow
board as a sensorio source (needs brainflow: ``pip install 'sensorio[brainflow]'``).

BOARD is a BrainFlow board name (``synthetic``, ``cyton``, ``ganglion``,
``playback_file``...: BoardIds without ``_BOARD``, any case) or its number.
Query options are BrainFlowInputParams fields (``serial_port``, ``mac_address``,
``ip_address``, ``ip_port``, ``ip_protocol``, ``other_info``, ``serial_number``,
``file``, ``master_board``, ``timeout``), plus ``channels`` (the BrainFlow
channel group streamed: emg (default), eeg, exg, ecg, eog, emg...; in µV as
BrainFlow gives them), ``scale`` (µV per code, 0.001) and ``preset``.

Labels come from the board's description, rate and maker from BrainFlow;
BrainFlow's package counter tells lost samples, its timestamps are kept.
See _sample_port for how the samples become SIO-1 frames.
"""

from __future__ import annotations

import importlib
import math
import os
import sys
import time
import types
import urllib.parse
from typing import Any

import numpy as np
from serial.serialutil import SerialException

from . import url_options
from ._sample_port import Pulled, SampleSourcePort, descriptor

_PARAMS = {
    "serial_port", "mac_address", "ip_address", "ip_port", "ip_protocol", "other_info",
    "serial_number", "file", "master_board", "timeout",
}  # fmt: skip
_INT_PARAMS = {"ip_port", "ip_protocol", "master_board", "timeout"}
_OPTIONS = _PARAMS | {"channels", "scale", "preset"}


def load_brainflow() -> Any:
    """The brainflow.board_shim module. brainflow 5.x looks for its library
    through pkg_resources on Python < 3.12, which setuptools >= 81 no longer
    ships: the one call it makes is provided when it is missing."""
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = types.ModuleType("pkg_resources")

        def resource_filename(name: str, path: str) -> str:
            return os.path.join(os.path.dirname(str(importlib.import_module(name).__file__)), path)

        shim.resource_filename = resource_filename  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
    try:
        from brainflow import board_shim
    except ImportError as exc:
        raise SerialException(f"brainflow:// needs brainflow (pip install 'sensorio[brainflow]'): {exc}") from None
    return board_shim


def board_id(name: str, board_ids: Any) -> int:
    """A BrainFlow board id from its name (any case, with or without _BOARD) or number."""
    try:
        return int(name)
    except ValueError:
        pass
    key = name.upper().replace("-", "_")
    for candidate in (key, key + "_BOARD"):
        if candidate in board_ids.__members__:
            return int(board_ids[candidate].value)
    raise SerialException(f"brainflow:// does not know the board {name!r} (BrainFlow's BoardIds name it)")


class BrainFlowSource:
    """One BrainFlow board session (see the module docstring)."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.url = url
        self.query = url_options(parts.query, "brainflow")
        unknown = set(self.query) - _OPTIONS
        if unknown:
            raise SerialException(
                f"brainflow:// does not know the option {sorted(unknown)[0]!r} (known: {', '.join(sorted(_OPTIONS))})"
            )
        self.board_name = urllib.parse.unquote(parts.netloc + parts.path).strip("/")
        if not self.board_name:
            raise SerialException("brainflow:// needs a board: brainflow://BOARD?options (e.g. brainflow://synthetic)")
        try:
            self.scale = float(self.query.get("scale", "0.001"))
        except ValueError:
            self.scale = math.nan
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise SerialException(f"brainflow:// scale= must be a positive number, not {self.query['scale']!r}")
        self._board: Any = None
        self._rows: list[int] = []
        self._ts_row = -1
        self._pkg_row = -1
        self._last_pkg: int | None = None

    def open(self) -> dict[str, Any]:
        bs = load_brainflow()
        bid = board_id(self.board_name, bs.BoardIds)
        params = bs.BrainFlowInputParams()
        for key in _PARAMS & set(self.query):
            value: Any = self.query[key]
            if key in _INT_PARAMS:
                try:
                    value = int(value)
                except ValueError:
                    raise SerialException(f"brainflow:// {key}= must be a whole number, not {value!r}") from None
            setattr(params, key, value)
        preset = int(self.query.get("preset", "0"))
        master = int(self.query["master_board"]) if "master_board" in self.query else bid
        descr_id = master if bid < 0 else bid  # playback/streaming boards describe their master's data
        group = self.query.get("channels", "emg").lower()
        try:
            descr = bs.BoardShim.get_board_descr(descr_id, preset)
        except bs.BrainFlowError as exc:
            raise SerialException(f"brainflow:// {self.board_name}: {exc}") from None
        rows = descr.get(f"{group}_channels")
        if not rows:
            raise SerialException(f"brainflow:// {self.board_name} has no {group} channels")
        names = str(descr.get(f"{group}_names") or descr.get("eeg_names") or "").split(",")
        self._rows = [int(r) for r in rows]
        self._ts_row = int(descr.get("timestamp_channel", -1))
        self._pkg_row = int(descr.get("package_num_channel", -1))
        rate = float(descr["sampling_rate"])
        bs.BoardShim.disable_board_logger()
        self._board = bs.BoardShim(bid, params)
        try:
            self._board.prepare_session()
            self._board.start_stream(450000)
        except bs.BrainFlowError as exc:
            self.close()
            raise SerialException(f"brainflow:// {self.board_name}: {exc}") from None
        self._preset = preset
        return descriptor(
            device=str(descr.get("name", self.board_name)),
            serial=self.query.get("serial_number") or self.query.get("serial_port") or self.board_name,
            manufacturer=f"{descr.get('name', self.board_name)} (via BrainFlow)",
            name=group,
            channels=len(self._rows),
            rate_hz=rate,
            unit="uV",
            scale=self.scale,
            labels=names if len(names) == len(self._rows) and all(names) else None,
            source=self.url,
        )

    def pull(self, timeout: float) -> Pulled | None:
        end = time.monotonic() + timeout
        while True:
            data = self._board.get_board_data(preset=self._preset)
            if data.shape[1] or time.monotonic() >= end:
                break
            time.sleep(min(0.005, max(end - time.monotonic(), 0.0)))
        n = data.shape[1]
        values = data[self._rows].T if n else np.zeros((0, len(self._rows)))
        stamps = data[self._ts_row] if n and self._ts_row >= 0 else np.zeros(n)
        lost = np.zeros(n, np.int64)
        if n and self._pkg_row >= 0:
            pkg = data[self._pkg_row].astype(np.int64)
            prev = np.concatenate([[pkg[0] - 1 if self._last_pkg is None else self._last_pkg], pkg[:-1]])
            lost = (pkg - prev - 1) % 256  # BrainFlow's package counter counts samples mod 256
            self._last_pkg = int(pkg[-1])
        return Pulled(values, stamps, lost)

    def close(self) -> None:
        if self._board is not None:
            try:
                if self._board.is_prepared():
                    self._board.release_session()
            finally:
                self._board = None


class Serial(SampleSourcePort):
    """pyserial port for brainflow:// URLs."""

    def _make_source(self, url: str) -> BrainFlowSource:
        return BrainFlowSource(url)
