"""The device description, and what it says about a stream: one rule each.

A device describes itself in a JSON *descriptor* (SIO-1 INFO; ``Format.descriptor()``
for formats whose devices send none; a recording's header keeps a copy as
``device_info``). Every part of sensorio that needs one asks here:

- :func:`resolve_descriptor`: which descriptor describes decoded data (the
  recording header's copy, else the first INFO in the data, else the format's
  own: a rule that can be applied while the data streams in, since INFO comes
  before the samples it describes; sensorio writes the header's copy from the
  device's first INFO, so for its recordings the first two agree);
- :func:`stream_descriptor`: one stream's entry in it;
- :func:`is_emg`: whether a stream carries EMG (and so gets the EMG pipeline,
  the LSL type ``EMG`` and the live view's EMG figures);
- :func:`electrode_grid`: where a stream's electrodes sit on a grid (the
  fault detector compares each with its neighbours; the plot draws it);
- :func:`volt_unit`, :func:`volts_per_unit`, :func:`microvolts_per_unit`:
  whether a unit is a voltage, its name in ASCII and its scale (every export,
  bridge and sink asks these, from the one table ``VOLT_UNITS``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import Advice, SensorioError

#: the voltage units (lower case) a stream may be in: their name in ASCII (as
#: EDF, BIDS and MNE write it) and microvolts per unit. The one list: the
#: exports kept their own, and a stream in the Greek "μV" was volts to some
#: (EDF) and an unscaled misc channel to others (MNE, BIDS, LSL).
VOLT_UNITS: dict[str, tuple[str, float]] = {
    "uv": ("uV", 1.0),
    "µv": ("uV", 1.0),  # the micro sign, U+00B5
    "μv": ("uV", 1.0),  # the Greek mu, U+03BC (what many keyboards give)
    "mv": ("mV", 1e3),
    "v": ("V", 1e6),
}
#: microvolts per unit of the voltage units (lower case) an EMG stream may be in
MICROVOLTS_PER_UNIT = {unit: uv for unit, (_, uv) in VOLT_UNITS.items()}
#: units (lower case) of a stream whose values are a voltage at the electrode
EMG_UNITS = tuple(VOLT_UNITS)


def parse_info(text: str) -> dict[str, Any] | None:
    """An INFO message's JSON object; None when it is not one (unreadable INFO is skipped)."""
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def resolve_descriptor(
    header: Mapping[str, Any] | None,
    infos: Iterable[str | Mapping[str, Any] | None] = (),
    format: Any = None,
) -> dict[str, Any] | None:
    """The device descriptor of decoded data: the ``device_info`` a recording's
    ``header`` kept, else the first readable INFO in ``infos`` (INFO texts or
    already parsed dicts, in the order the device sent them), else
    ``format.descriptor()`` (the formats whose devices send no INFO: Cyton,
    ASCII lines, board specs); None when there is none. A file that holds
    more than one device's INFO is described by its first (``sensorio info``
    lists them all and reports the mix)."""
    info: Any = (header or {}).get("device_info")
    if isinstance(info, Mapping):
        return dict(info)
    for item in infos:
        obj = parse_info(item) if isinstance(item, str) else item
        if isinstance(obj, Mapping):
            return dict(obj)
    described = getattr(format, "descriptor", None)
    return described() if callable(described) else None


def described_streams(info: Mapping[str, Any] | None) -> dict[int, Mapping[str, Any]]:
    """A device descriptor's stream entries by id, the id read as the
    calibration reads it (int()); entries that are no table or have no
    such id are left out, and none without a descriptor."""
    out: dict[int, Mapping[str, Any]] = {}
    for st in (info or {}).get("streams") or []:
        if isinstance(st, Mapping):
            try:
                out.setdefault(int(st.get("id")), st)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
    return out


def stream_descriptor(info: Mapping[str, Any], stream: int) -> dict[str, Any]:
    """The entry of ``stream`` in a device descriptor's ``streams`` list."""
    for s in info.get("streams", []) or []:
        if isinstance(s, dict) and s.get("id") == stream:
            return s
    raise SensorioError(f"the device descriptor has no stream {stream}")


def timed_stream(info: Mapping[str, Any], stream: int, port: str) -> dict[str, Any]:
    """The entry of ``stream`` for what needs its channel count and sample
    rate (training, control): a SensorioError when the device has no such
    stream, or does not say them (an ASCII device sends no INFO)."""
    desc = stream_descriptor(info, stream)
    try:
        rate, channels = float(desc["rate_hz"]), int(desc["channels"])
    except (KeyError, TypeError, ValueError):
        rate, channels = float("nan"), 0
    if not (rate > 0 and channels > 0):  # (also NaN)
        raise SensorioError(
            f"{port}: stream {stream} does not say its sample rate and channels "
            "(a device without an INFO descriptor, such as an ASCII one): training and control need them"
        )
    return desc


def channel_labels(labels: Any, n_channels: int) -> tuple[str, ...]:
    """The ``n_channels`` labels of a stream: those its descriptor gives (a
    list, its ``labels``), the rest ``ch1``, ``ch2``, ... counted from 1 as
    every channel name people read (docs/architecture.md, channel numbers)."""
    given = [str(x) for x in labels] if isinstance(labels, (list, tuple)) else []
    return tuple(given[i] if i < len(given) else f"ch{i + 1}" for i in range(n_channels))


#: the most cells a grid may have: 256 x 256, far beyond any electrode grid
#: (a plot draws every cell: a typo's 100000 x 100000 would be 75 GB)
MAX_GRID_CELLS = 65536


@dataclass(frozen=True)
class ElectrodeGrid:
    """Where a stream's electrodes sit: a grid of ``rows`` x ``cols`` cells,
    counted row by row from 0, and ``cells``, the cell of each channel in
    channel order (None: a channel off the grid)."""

    rows: int
    cols: int
    cells: tuple[int | None, ...]

    def neighbours(self) -> list[list[int]]:
        """Per channel, the channels in the 8 cells around its own (none for
        a channel off the grid), in channel order."""
        at = {cell: c for c, cell in enumerate(self.cells) if cell is not None}
        out: list[list[int]] = []
        for cell in self.cells:
            if cell is None:
                out.append([])
                continue
            r, k = divmod(cell, self.cols)
            near = [
                at[(r + dr) * self.cols + k + dk]
                for dr in (-1, 0, 1)
                for dk in (-1, 0, 1)
                if (dr or dk) and 0 <= r + dr < self.rows and 0 <= k + dk < self.cols
                if (r + dr) * self.cols + k + dk in at
            ]
            out.append(sorted(near))
        return out


def electrode_grid(desc: Mapping[str, Any], n_channels: int) -> ElectrodeGrid | None:
    """The electrode grid a stream's descriptor entry gives (``"grid"``), or
    None when it gives none. ``"grid": [rows, cols]`` puts the channels on
    it row by row; ``{"rows": R, "cols": C, "cells": [...]}`` gives each
    channel's cell (``row * cols + col``, null: off the grid), for a grid
    whose channel map is not row by row or that has empty cells.

    Raises:
        SensorioError: a grid that is not one of those, too small for the
            channels or over MAX_GRID_CELLS, or with a cell outside it or
            given twice."""
    grid = desc.get("grid")
    if grid is None:
        return None
    what = f"stream {desc.get('id', 0)}'s electrode grid"
    cells_given: Any = None
    try:
        if isinstance(grid, Mapping):
            rows, cols, cells_given = grid["rows"], grid["cols"], grid.get("cells")
        else:
            rows, cols = grid
        if isinstance(rows, bool) or isinstance(cols, bool) or rows != int(rows) or cols != int(cols):
            raise ValueError
        rows, cols = int(rows), int(cols)
    except (KeyError, TypeError, ValueError, OverflowError):  # (JSON's Infinity overflows int())
        raise SensorioError(
            f"{what} {json.dumps(grid)[:80]}: give [rows, cols] or {{'rows', 'cols', 'cells'}}"
        ) from None
    if rows < 1 or cols < 1:
        raise SensorioError(f"{what}: {rows} x {cols} has no cells")
    if rows * cols > MAX_GRID_CELLS:
        raise SensorioError(f"{what}: {rows} x {cols} cells, more than the {MAX_GRID_CELLS} a grid may have")
    if cells_given is None:
        if rows * cols < n_channels:
            raise SensorioError(f"{what}: {rows} x {cols} cells hold fewer than its {n_channels} channels")
        return ElectrodeGrid(rows, cols, tuple(range(n_channels)))
    if not isinstance(cells_given, (list, tuple)) or len(cells_given) != n_channels:
        raise SensorioError(f"{what}: 'cells' must list one cell (or null) for each of its {n_channels} channels")
    cells: list[int | None] = []
    for c, cell in enumerate(cells_given):
        if cell is None:
            cells.append(None)
            continue
        if isinstance(cell, bool) or not isinstance(cell, int) or not 0 <= cell < rows * cols:
            raise SensorioError(f"{what}: channel {c + 1}'s cell {cell!r} is not one of 0 to {rows * cols - 1}")
        if cell in cells:
            raise SensorioError(f"{what}: cell {cell} is given to channels {cells.index(cell) + 1} and {c + 1}")
        cells.append(cell)
    return ElectrodeGrid(rows, cols, tuple(cells))


def is_emg(desc: Mapping[str, Any]) -> bool:
    """Whether a stream (its descriptor entry: ``name``, ``unit``) is EMG:
    its name starts with "emg", or its unit is a voltage (µV, μV, mV or V)."""
    name = str(desc.get("name") or "").lower()
    unit = str(desc.get("unit") or "").lower()
    return name.startswith("emg") or unit in EMG_UNITS


def volt_unit(unit: str) -> str | None:
    """A voltage unit's name in ASCII: ``uV`` (for uV, µV and the Greek μV),
    ``mV`` or ``V``, in any case; None for any other unit."""
    entry = VOLT_UNITS.get(str(unit).lower())
    return entry[0] if entry else None


def microvolts_per_unit(unit: str) -> float | None:
    """The factor from a voltage unit (µV, μV, mV, V) to µV; None for any other unit."""
    return MICROVOLTS_PER_UNIT.get(str(unit).lower())


def volts_per_unit(unit: str) -> float | None:
    """The factor from a voltage unit (µV, μV, mV, V) to volts; None for any other unit."""
    uv = microvolts_per_unit(unit)
    return None if uv is None else uv / 1e6


def capture_descriptor(capture: Any) -> dict[str, Any]:
    """The descriptor of an open capture (``sensorio.open``): the INFO its device
    sent most recently (the device as it is now; after a reconnect, the device
    that came back), else its format's own; a SensorioError when there is none
    with streams."""
    info = resolve_descriptor(None, [capture.info], capture.format)
    if not info or not info.get("streams"):
        raise SensorioError(
            Advice(
                f"{capture.port} sent no device descriptor (INFO): check {{format}}, or that the device is running",
                format=None,
            )
        )
    return info
