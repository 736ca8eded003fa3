"""libEMG interop: sensorio as a live source for libEMG, recordings as libEMG offline data.

libEMG (https://github.com/libemg/libemg) is a myoelectric-control library. It
reads live data through ``OnlineDataHandler(shared_memory_items)``, where a
"streamer" writes each modality into named shared memory: ``emg`` (buffer
rows x channels, float64, the newest sample in row 0) and ``emg_count``
(1 x 1, int32, samples written so far), each item ``[tag, shape, dtype, lock]``.
:func:`sensorio_streamer` is such a streamer for any sensorio source (a serial
port, ``sim://``, ``replay://``, ``lsl://``, ``brainflow://``), so libEMG gets
sensorio's framing, gap detection, calibration and recording::

    from sensorio.bridges.libemg import sensorio_streamer
    from libemg.data_handler import OnlineDataHandler

    streamer, items = sensorio_streamer("/dev/ttyUSB0", record="session.sior")
    odh = OnlineDataHandler(items)
    ...
    streamer.stop()

Samples are in the stream's physical unit (µV for EMG), calibrated as in the
rest of sensorio. libEMG has no notion of lost samples: a gap's samples are
written as 0 so that libEMG's windows keep their timing (``streamer.lost_samples``
counts them).

Offline, :func:`export_libemg` writes recordings as the CSV files libEMG's
``OfflineDataHandler.get_data`` reads, one file per gesture prompt of a
``sensorio train`` recording, named ``C_<class>_R_<rep>.csv``, and
:func:`regex_filters` gives the matching libEMG ``RegexFilter`` list.

libEMG is never imported by sensorio itself (it pins numpy<2): only
:func:`regex_filters` imports it.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

import numpy as np

from ..descriptor import volt_unit
from ..errors import SensorioError, UsageError
from ..export.units import exact_format
from ..formats import default_start_command

#: the tags libEMG's handlers and classifiers look for
EMG_TAG = "emg"
#: the metadata file written next to the CSV files
META_NAME = "sensorio_libemg.json"
#: the class of a recording without gesture markers
UNLABELLED = "unlabelled"


# -- live: a libEMG streamer ---------------------------------------------------------------
def _create_shared(tag: str, shape: tuple[int, ...], dtype: Any) -> tuple[shared_memory.SharedMemory, np.ndarray]:
    """Shared memory named ``tag`` (an older one of that name is replaced, as libEMG does)."""
    try:
        old = shared_memory.SharedMemory(tag, create=False)
    except FileNotFoundError:
        pass
    else:
        old.close()
        old.unlink()
    size = int(np.dtype(dtype).itemsize * int(np.prod(shape)))
    try:
        shm = shared_memory.SharedMemory(tag, create=True, size=size)
    except OSError as exc:
        raise SensorioError(f"cannot create shared memory {tag!r} for libEMG: {exc}") from None
    arr: np.ndarray = np.ndarray(shape, dtype=dtype, buffer=shm.buf)
    arr.fill(0)
    return shm, arr


class SensorioStreamer:
    """Feeds one stream of a sensorio source into libEMG's shared memory.

    Made by :func:`sensorio_streamer`; runs a thread in this process (libEMG's
    own streamers are processes; its handlers find the memory by name either
    way). ``stop()`` ends it, closes the source and frees the memory.
    """

    def __init__(
        self,
        source: Any,
        stream: int,
        items: list[list[Any]],
        arrays: list[np.ndarray],
        shms: list[shared_memory.SharedMemory],
        pending: list[Any],
        calibration_dir: str | None,
    ) -> None:
        from ..dsp.calibrate import Calibrate

        self.source = source
        self.stream = stream
        self.shared_memory_items = items
        self._emg, self._count = arrays
        self._shms = shms
        self._pending = pending
        self._cal = Calibrate(source.info, stream=stream, calibration_dir=calibration_dir)
        self._next_row: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sensorio-libemg", daemon=True)
        #: samples written so far (as emg_count), lost samples written as 0, and
        #: the exception that ended the thread, if any
        self.samples = 0
        self.lost_samples = 0
        self.error: BaseException | None = None

    @property
    def channels(self) -> int:
        return int(self._emg.shape[1])

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        """The thread still runs (False once the source ended or failed)."""
        return self._thread.is_alive()

    def _write(self, rows: np.ndarray) -> None:
        n = rows.shape[0]
        if not n:
            return
        size = self._emg.shape[0]
        newest_first = rows[::-1][:size]
        k = newest_first.shape[0]
        with self.shared_memory_items[0][3]:
            self._emg[k:] = self._emg[: size - k].copy()
            self._emg[:k] = newest_first
        with self.shared_memory_items[1][3]:
            self._count[0, 0] += n
        self.samples += n

    def _feed(self, blocks: Iterable[Any]) -> None:
        for block in blocks:
            for sb in self._cal.process_raw(block):
                if self._next_row is not None and sb.start > self._next_row:
                    lost = sb.start - self._next_row  # a long gap or restart: samples never seen
                    self.lost_samples += lost
                    self._write(np.zeros((lost, self.channels)))
                data = np.asarray(sb.data, dtype=np.float64)
                holes = ~np.isfinite(data)
                if holes.any():  # a short gap's filled rows
                    self.lost_samples += int(holes.all(axis=1).sum())
                    data = np.where(holes, 0.0, data)
                self._write(data)
                self._next_row = sb.start + len(sb)

    def _run(self) -> None:
        try:
            self._feed(self._pending)
            self._pending = []
            while not self._stop.is_set():
                blocks = [b for b in self.source.read(0.1) if b.stream == self.stream]
                self._feed(blocks)
                if not blocks and self.source.ended:
                    break
        except BaseException as exc:  # handed to the caller by stop()
            self.error = exc

    def wait(self, timeout: float | None = None) -> None:
        """Wait until the source ends (a replay or a sim:// duration), at most timeout seconds."""
        self._thread.join(timeout)

    def stop(self) -> None:
        """End the thread, close the source and free the shared memory; raises
        what ended the thread early, if anything did."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        try:
            self.source.close()
        finally:
            for shm in self._shms:
                shm.close()
                try:
                    shm.unlink()
                except FileNotFoundError:
                    pass
            self._shms = []
        if self.error is not None:
            err, self.error = self.error, None
            raise err

    def __enter__(self) -> SensorioStreamer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def sensorio_streamer(
    port_or_url: str,
    format: str = "sio",  # noqa: A002 - the name sensorio.open uses
    *,
    stream: int | None = None,
    buffer_samples: int = 5000,
    tag: str = EMG_TAG,
    calibration_dir: str | None = None,
    timeout: float = 10.0,
    **open_options: Any,
) -> tuple[SensorioStreamer, list[list[Any]]]:
    """Open a sensorio source and stream it into libEMG's shared memory.

    Returns ``(streamer, shared_memory_items)``, as libEMG's own streamers do:
    pass the items to ``libemg.data_handler.OnlineDataHandler``. stream: the
    device stream to publish (default: the first in volts, i.e. the EMG, else
    the first). buffer_samples: rows of the ``emg`` buffer. open_options go to
    ``sensorio.open`` (``record="x.sior"`` records what libEMG sees;
    ``start_command`` defaults to what ``sensorio record`` sends). Waits up
    to timeout seconds for the device's descriptor and first samples.
    """
    if buffer_samples < 1:
        raise UsageError("buffer_samples must be at least 1")
    from ..capture import open as open_source

    # a device that streams on request is asked to, as `sensorio record` does
    open_options.setdefault("start_command", default_start_command(format))
    source = open_source(port_or_url, format, **open_options)
    try:
        pending: list[Any] = []
        deadline = time.monotonic() + timeout
        chosen: int | None = None
        while chosen is None:
            pending += source.read(0.1)
            info = source.info
            seen = {b.stream for b in pending}
            if info is not None and seen:
                chosen = _choose_stream(info, seen, stream)
                if chosen is None and (source.ended or time.monotonic() > deadline):
                    raise SensorioError(f"{port_or_url}: no samples of stream {stream} arrived")
            if chosen is None and (source.ended or time.monotonic() > deadline):
                what = "no device descriptor" if info is None else "no samples"
                raise SensorioError(f"{port_or_url}: {what} within {timeout:g} s, nothing to give libEMG")
        channels = next(b.n_channels for b in pending if b.stream == chosen)
        lock, count_lock = multiprocessing.Lock(), multiprocessing.Lock()
        shm, emg = _create_shared(tag, (buffer_samples, channels), np.float64)
        try:
            cshm, count = _create_shared(f"{tag}_count", (1, 1), np.int32)
        except BaseException:
            shm.close()
            shm.unlink()
            raise
        items = [[tag, (buffer_samples, channels), np.float64, lock], [f"{tag}_count", (1, 1), np.int32, count_lock]]
        streamer = SensorioStreamer(
            source,
            chosen,
            items,
            [emg, count],
            [shm, cshm],
            [b for b in pending if b.stream == chosen],
            calibration_dir,
        )
    except BaseException:
        source.close()
        raise
    streamer.start()
    return streamer, items


def _choose_stream(info: dict[str, Any], seen: set[int], stream: int | None) -> int | None:
    if stream is not None:
        return stream if stream in seen else None
    volts = [
        s.get("id")
        for s in info.get("streams", []) or []
        if isinstance(s, dict) and volt_unit(str(s.get("unit", ""))) is not None
    ]
    for sid in volts:
        if sid in seen:
            return int(sid)
    return min(seen)


# -- offline: files for libEMG's OfflineDataHandler ------------------------------------------
@dataclass
class LibemgExport:
    """What :func:`export_libemg` wrote."""

    directory: Path
    classes: list[str]
    files: list[Path] = field(default_factory=list)
    reps: int = 0
    rate_hz: float = 0.0
    channels: int = 0
    lost_samples: int = 0


def _calibrated(path: Path, stream: int | None) -> tuple[np.ndarray, float, tuple[str, ...], str, int]:
    """A recording's stream, calibrated, indexed by stream row (NaN where lost)."""
    from ..dsp.analyze import read_source
    from ..dsp.calibrate import Calibrate, Calibration

    blocks, info, _, header = read_source(path)
    if stream is None:
        stream = _choose_stream(info or {}, {b.stream for b in blocks}, None)
    cal = Calibrate(info, stream=stream, calibration=Calibration.of_recording(header, path), auto=False)
    pieces = [sb for b in blocks if b.stream == stream for sb in cal.process_raw(b)]
    if not pieces:
        raise SensorioError(f"{path}: no samples of stream {stream}")
    n = max(sb.start + len(sb) for sb in pieces)
    data = np.full((n, pieces[0].n_channels), np.nan)
    for sb in pieces:
        data[sb.start : sb.start + len(sb)] = sb.data
    unit = pieces[0].units[0] if pieces[0].units else ""
    return data, float(pieces[0].rate_hz), tuple(pieces[0].labels), unit, int(stream)  # type: ignore[arg-type]


def _segments(path: Path, n_rows: int) -> tuple[int | None, list[tuple[str, int, int]]]:
    """(stream of the markers, [(label, first row, end row)]) from gesture markers, or
    the whole recording as one unlabelled segment."""
    from ..training import recording_prompts

    try:
        stream, marks = recording_prompts(path)
    except SensorioError as exc:
        if "no gesture markers" not in str(exc):
            raise
        return None, [(UNLABELLED, 0, n_rows)]
    out = []
    for (row, label), nxt in zip(marks, [*marks[1:], (n_rows, None)], strict=True):
        if label is not None:
            out.append((label, max(row, 0), min(nxt[0], n_rows)))
    return stream, out


def export_libemg(
    recordings: str | Path | Sequence[str | Path],
    directory: str | Path,
    *,
    stream: int | None = None,
    overwrite: bool = False,
) -> LibemgExport:
    """Recordings as CSV files that libEMG's OfflineDataHandler reads.

    One file per gesture prompt of ``sensorio train`` recordings
    (``C_<class>_R_<rep>.csv``: class index in order of first appearance,
    rep = how many times that class came before, over all the recordings), or
    one file per recording (class ``unlabelled``) without gesture markers.
    Rows are samples, columns channels, in the stream's physical unit (each
    value to as many digits as read back to it exactly: float64, 17), no
    header; lost samples are 0 (counted in ``lost_samples``).
    ``sensorio_libemg.json`` beside them names the classes, rate, channels
    and unit. Load with
    ``odh.get_data(str(directory), regex_filters(directory))``.
    """
    paths = [Path(recordings)] if isinstance(recordings, (str, Path)) else [Path(p) for p in recordings]
    if not paths:
        raise UsageError("give at least one recording")
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise SensorioError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.glob("C_*_R_*.csv")) and not overwrite:
        raise SensorioError(f"{out} already holds libEMG files: choose another directory or pass overwrite")
    result = LibemgExport(out, [])
    reps: dict[str, int] = {}
    writes: list[tuple[Path, np.ndarray]] = []
    labels: tuple[str, ...] = ()
    unit = ""
    for path in paths:
        mark_stream, _ = _segments(path, 0)
        data, rate, labels, unit, sid = _calibrated(path, stream if stream is not None else mark_stream)
        if result.rate_hz and (rate != result.rate_hz or data.shape[1] != result.channels):
            raise SensorioError(f"{path}: {data.shape[1]} channels at {rate:g} Hz, unlike the recordings before it")
        result.rate_hz, result.channels = rate, data.shape[1]
        for label, a, b in _segments(path, data.shape[0])[1]:
            if b <= a:
                continue
            if label not in result.classes:
                result.classes.append(label)
            rep = reps.get(label, 0)
            reps[label] = rep + 1
            piece = data[a:b]
            lost = ~np.isfinite(piece)
            result.lost_samples += int(lost.all(axis=1).sum())
            writes.append((out / f"C_{result.classes.index(label)}_R_{rep}.csv", np.where(lost, 0.0, piece)))
    if not writes:
        raise SensorioError("no labelled samples to export")
    out.mkdir(parents=True, exist_ok=True)
    for target, piece in writes:
        # every value reads back to the float it was: 6 digits lost a 24-bit
        # code's last bits once a value passed a few thousand uV (a DC offset)
        np.savetxt(target, piece, delimiter=",", fmt=exact_format(piece.dtype))
        result.files.append(target)
    result.reps = max(reps.values())
    meta = {
        "classes": result.classes,
        "reps": result.reps,
        "rate_hz": result.rate_hz,
        "channels": result.channels,
        "labels": list(labels),
        "unit": unit,
        "lost_samples_as_zero": result.lost_samples,
        "recordings": [str(p) for p in paths],
        "files": "C_<class index>_R_<rep>.csv: rows are samples, columns channels, no header",
    }
    (out / META_NAME).write_text(json.dumps(meta, indent=1) + "\n")
    return result


def regex_filters(directory: str | Path) -> list[Any]:
    """libEMG RegexFilters (classes, reps) for a directory written by export_libemg."""
    try:
        meta = json.loads((Path(directory) / META_NAME).read_text())
    except (OSError, ValueError) as exc:
        raise SensorioError(f"{directory}: no readable {META_NAME} (write it with export_libemg): {exc}") from None
    try:
        from libemg.data_handler import RegexFilter
    except ImportError as exc:
        raise SensorioError(f"libEMG is not installed (pip install libemg, in its own environment): {exc}") from None
    return [
        RegexFilter(
            left_bound="C_",
            right_bound="_R_",
            values=[str(i) for i in range(len(meta["classes"]))],
            description="classes",
        ),
        RegexFilter(
            left_bound="_R_", right_bound=".csv", values=[str(r) for r in range(int(meta["reps"]))], description="reps"
        ),
    ]
