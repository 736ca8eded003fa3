"""Counts to physical units, and the user's own calibration per device.

The device descriptor (SIO-1 INFO, or ``Format.descriptor()`` for the other
formats: the same dict) gives per stream ``scale``, ``zero``, ``unit``,
``min_code`` and ``max_code``: ``physical = (code - zero) * scale``. On top of
that a user calibration (per device serial, see CalibrationStore) may set per
channel an ``offset`` (subtracted, in physical units) and a ``gain``
(multiplied): ``value = ((code - zero) * scale - offset) * gain``.

Procedures (offset at rest, gain from the TEST signal or a known external
signal, MVC) work on any iterable of raw Blocks, so they run the same on a
recording and on a live stream.
"""

from __future__ import annotations

import datetime as _dt
import json
import mmap
import os
import sys
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..blocks import EV_GAP, EV_RESTART, Block, Pushback, SignalBlock, cut_block
from ..descriptor import ElectrodeGrid, channel_labels, electrode_grid
from ..errors import SensorioError
from ..sio1 import ENC_RANGE
from .stages import Stage, register_stage

CALIBRATION_FORMAT = "sensorio-calibration"
CALIBRATION_VERSION = 1


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a device descriptor, checked."""

    id: int
    name: str
    channels: int
    rate_hz: float
    unit: str
    scale: float
    zero: float
    min_code: int
    max_code: int
    labels: tuple[str, ...]
    #: where the electrodes sit, when the descriptor says (its ``grid``)
    grid: ElectrodeGrid | None = None

    @classmethod
    def from_descriptor(cls, info: Mapping[str, Any], stream: int = 0) -> StreamInfo:
        """The stream with id ``stream`` of a device descriptor (INFO dict), labels
        padded to ``ch1``, ``ch2``, ... where the device gives none. A grid
        it cannot read is left out, with a warning: the signal is still
        calibrated, without what the grid gives (the fault detector's
        comparison of neighbours).

        Raises:
            SensorioError: no ``streams`` list, no such stream, or a stream without
                channels, rate_hz, scale, min_code or max_code."""
        streams = info.get("streams")
        if not isinstance(streams, list):
            raise SensorioError("device descriptor has no 'streams' list: cannot calibrate")
        for s in streams:
            if int(s.get("id", -1)) == stream:
                break
        else:
            raise SensorioError(f"device descriptor has no stream {stream}")
        missing = [k for k in ("channels", "rate_hz", "scale", "min_code", "max_code") if s.get(k) is None]
        if missing:
            # (an ASCII-lines device sends no INFO: its descriptor knows no rate or rails)
            why = " (ASCII lines carry none)" if info.get("device") == "ASCII lines" else ""
            raise SensorioError(
                f"device descriptor stream {stream} gives no {', '.join(missing)}{why}: it cannot be "
                "calibrated, analysed or written to EDF/BDF (decode, and export to .npz or .csv, give its values)"
            )
        try:
            channels = int(s["channels"])
            labels = channel_labels(s.get("labels"), channels)
            try:
                grid = electrode_grid(s, channels)
            except SensorioError as exc:
                warnings.warn(f"{exc}: left out", stacklevel=2)
                grid = None
            return cls(
                id=stream,
                name=str(s.get("name", f"stream{stream}")),
                channels=channels,
                rate_hz=float(s["rate_hz"]),
                unit=str(s.get("unit", "")),
                scale=float(s["scale"]),
                zero=float(s.get("zero", 0)),
                min_code=int(s["min_code"]),
                max_code=int(s["max_code"]),
                labels=labels,
                grid=grid,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SensorioError(
                f"device descriptor stream {stream}: missing or bad {exc}; it needs channels, "
                "rate_hz, scale, min_code, max_code"
            ) from None

    @classmethod
    def raw_codes(cls, stream: int, channels: int, rate_hz: float, encoding: int = 0) -> StreamInfo:
        """No descriptor: identity scale, unit "code", rails of the encoding."""
        lo, hi = ENC_RANGE.get(encoding, (-(1 << 31), (1 << 31) - 1))
        return cls(
            stream,
            f"stream{stream}",
            channels,
            rate_hz,
            "code",
            1.0,
            0.0,
            lo,
            hi,
            channel_labels(None, channels),
        )

    def to_physical(self, codes: np.ndarray) -> np.ndarray:
        """(code - zero) * scale, as float64 (rows, channels); the result is
        channel-major in memory (a transposed view), which the filters want."""
        ct = codes.T
        xt = _fresh(ct.shape, np.float64)  # channel-major, whatever the codes' layout
        if self.zero:
            np.subtract(ct, self.zero, out=xt)
            xt *= self.scale
        else:  # one pass; (code - 0) * scale is the same number
            np.multiply(ct, self.scale, out=xt)
        return xt.T

    @property
    def rails(self) -> tuple[float, float]:
        """The rails in physical units (low, high)."""
        a, b = (self.min_code - self.zero) * self.scale, (self.max_code - self.zero) * self.scale
        return (min(a, b), max(a, b))


def _all_true(shape: tuple[int, ...]) -> np.ndarray:
    """A (rows, channels) mask of True, channel-major in memory like the data
    (np.empty + fill: half the cost of np.ones on small blocks)."""
    out = _fresh(shape[::-1], np.bool_)
    out.fill(True)
    return out.T


#: glibc's malloc maps anew every allocation above its largest mmap
#: threshold (32 MiB on 64-bit systems): an array this big is fresh memory
#: on every call whatever is done
_FRESH_FROM = 1 << 25


def _fresh(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """np.empty(shape, dtype); from 32 MiB (a big block's whole-block
    arrays, made anew on every call), in an anonymous mapping of its own,
    unmapped when the array is freed as glibc's would be, but without the
    huge-page request numpy makes on arrays of 4 MiB and more (madvise
    MADV_HUGEPAGE): the kernel then zeroes 4 kB pages as they are first
    written, instead of finding 2 MB ones, compacting memory for them when
    it has none free. A block of 40000 rows x 256 channels cost 30-60 %
    more CPU with the request, in the runs where the kernel compacted
    (docs/performance.md, "Fresh pages on big blocks"); the values are the
    same. Smaller arrays stay numpy's: glibc reuses its heap for them."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape)) * dt.itemsize
    if n < _FRESH_FROM:
        return np.empty(shape, dt)
    return np.frombuffer(mmap.mmap(-1, n), dt).reshape(shape)


# -- user calibration files --------------------------------------------------


@dataclass
class StreamCalibration:
    """Per-channel corrections of one stream (lists, one value per channel)."""

    offset: list[float] | None = None
    gain: list[float] | None = None
    #: maximum voluntary contraction: envelope level taken as 1.0 when normalising
    mvc: list[float] | None = None
    #: envelope (RMS) at rest, the reference for gain-drift checks
    noise_floor: list[float] | None = None
    #: measured amplitude of the device's TEST signal, the other gain reference
    test_amplitude: list[float] | None = None
    #: the frequency (Hz) of the known reference sine the gain was measured on
    #: (``sensorio calibrate --known-uv``), as found in the signal
    reference_hz: list[float] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The corrections that are set, as a dict of lists (the stream's entry in a calibration file)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Calibration:
    """A calibration of one device (by serial), as saved on disk."""

    serial: str
    device: str = ""
    streams: dict[int, StreamCalibration] = field(default_factory=dict)
    created: str = ""
    software: str = ""
    version: int = CALIBRATION_VERSION

    def stream(self, sid: int) -> StreamCalibration:
        """The corrections of stream ``sid``, added empty if the calibration has none yet."""
        return self.streams.setdefault(sid, StreamCalibration())

    def to_json(self) -> dict[str, Any]:
        """The calibration as the JSON object of a calibration file (a dict, streams sorted by id)."""
        return {
            "format": CALIBRATION_FORMAT,
            "version": self.version,
            "serial": self.serial,
            "device": self.device,
            "created": self.created,
            "software": self.software,
            "streams": {str(k): v.as_dict() for k, v in sorted(self.streams.items())},
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], where: str = "calibration") -> Calibration:
        """A calibration from the JSON object of a calibration file; ``where`` names it in errors.

        Raises:
            SensorioError: not a sensorio calibration, written by a newer sensorio,
                or damaged."""
        if not isinstance(obj, Mapping) or obj.get("format") != CALIBRATION_FORMAT:
            raise SensorioError(f"{where} is not a sensorio calibration file")
        try:
            return cls._from_json(obj, where)
        except (TypeError, ValueError, AttributeError) as exc:
            raise SensorioError(f"{where} is damaged ({exc}): save it again") from None

    @classmethod
    def of_recording(cls, header: Mapping[str, Any] | None, path: str | os.PathLike[str]) -> Calibration | None:
        """The user calibration a recording was made with (saved in its
        header), or None; ``path`` names the recording in errors."""
        saved = (header or {}).get("calibration")
        return cls.from_json(saved, f"{path}: its calibration") if saved else None

    @classmethod
    def _from_json(cls, obj: Mapping[str, Any], where: str) -> Calibration:
        if int(obj.get("version", 0)) > CALIBRATION_VERSION:
            raise SensorioError(f"{where} has version {obj.get('version')}: upgrade sensorio to read it")
        streams = {}
        for k, v in (obj.get("streams") or {}).items():
            known = {f: v.get(f) for f in StreamCalibration.__dataclass_fields__}
            streams[int(k)] = StreamCalibration(**known)
        return cls(
            serial=str(obj.get("serial", "")),
            device=str(obj.get("device", "")),
            streams=streams,
            created=str(obj.get("created", "")),
            software=str(obj.get("software", "")),
            version=int(obj.get("version", 1)),
        )


def default_calibration_dir() -> Path:
    """$SENSORIO_CALIBRATION_DIR, else the user's config dir + sensorio/calibration."""
    env = os.environ.get("SENSORIO_CALIBRATION_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "sensorio" / "calibration"


def _safe_name(serial: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in serial)
    if not keep or keep.startswith("."):
        raise SensorioError(f"device serial {serial!r} cannot name a calibration file")
    return keep


class CalibrationStore:
    """Calibration files, one ``<serial>.json`` per device, in a directory."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_calibration_dir()

    def path(self, serial: str) -> Path:
        """The file of the device with this serial: ``<directory>/<serial>.json``, characters
        other than letters, digits, ``-_.`` replaced by ``_`` (SensorioError if nothing usable is left)."""
        return self.directory / f"{_safe_name(serial)}.json"

    def load(self, serial: str) -> Calibration | None:
        """The saved calibration of the device with this serial, or None when there is none.

        Raises:
            SensorioError: the file cannot be read or is not a usable calibration."""
        path = self.path(serial)
        try:
            obj = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise SensorioError(f"cannot read calibration {path}: {exc}") from None
        return Calibration.from_json(obj, str(path))

    def save(self, cal: Calibration) -> Path:
        """Write atomically (a crash never leaves half a file); stamps the time
        and the software version."""
        cal.created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        cal.software = f"sensorio {__version__}"
        path = self.path(cal.serial)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".cal-", dir=self.directory)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(cal.to_json(), f, indent=2)
                f.write("\n")
            os.replace(tmp, path)
        except OSError as exc:
            raise SensorioError(f"cannot save calibration in {self.directory}: {exc}") from None
        return path


# -- the calibration stage -----------------------------------------------------


@register_stage
class Calibrate(Stage):
    """Raw Blocks in, SignalBlocks out: physical units, uniform time axis.

    Gaps: a gap of up to ``max_fill_s`` is filled with invalid (NaN) rows so
    the time axis stays uniform and filters hold their state across it; a
    longer gap or a device restart starts a new block with ``reset=True``
    (its ``start`` still counts the lost samples when they are known).
    The user calibration for the device's serial is loaded from ``store``
    when the descriptor arrives (``auto=True``) unless one is given.
    """

    kind = "calibrate"

    def __init__(
        self,
        info: Mapping[str, Any] | None = None,
        stream: int | None = None,
        *,
        calibration: Calibration | None = None,
        calibration_dir: str | None = None,
        auto: bool = True,
        max_fill_s: float = 1.0,
    ) -> None:
        super().__init__()
        self.stream = stream
        self.calibration = calibration
        self.store = CalibrationStore(calibration_dir)
        self.auto = auto
        self.max_fill_s = float(max_fill_s)
        self.info: Mapping[str, Any] | None = None
        self._streams: dict[int, StreamInfo] = {}
        self._next: dict[int, int] = {}  # next sample index per stream
        self._warned: set[int] = set()
        if info is not None:
            self.set_descriptor(info)

    def describe(self) -> dict[str, Any]:
        """``{"type": "calibrate", "max_fill_s": ..., "auto": ...}``."""
        return {"type": self.kind, "max_fill_s": self.max_fill_s, "auto": self.auto}

    def set_descriptor(self, info: Mapping[str, Any]) -> None:
        """Use this device descriptor from now on (the streams are read from it again)
        and, with ``auto``, load the user calibration saved for its serial unless one was given."""
        self.info = info
        self._streams = {}
        serial = info.get("serial")
        if self.auto and self.calibration is None and serial:
            self.calibration = self.store.load(str(serial))

    @property
    def streams_seen(self) -> dict[int, StreamInfo]:
        """The streams this stage has calibrated so far, by id, in the order it met them."""
        return dict(self._streams)

    def stream_info(self, block: Block) -> StreamInfo:
        """The checked StreamInfo of the block's stream, read from the descriptor once and kept.

        Without a descriptor the values stay ADC codes at an assumed 1000 Hz (with a
        warning per stream).

        Raises:
            SensorioError: the descriptor does not describe the stream, or gives it
                another channel count than the block has."""
        sid = block.stream
        si = self._streams.get(sid)
        if si is None:
            if self.info is not None:
                si = StreamInfo.from_descriptor(self.info, sid)
                if si.channels != block.n_channels:
                    raise SensorioError(
                        f"stream {sid}: descriptor says {si.channels} channels, data has {block.n_channels}"
                    )
            else:
                if sid not in self._warned:
                    warnings.warn(
                        f"stream {sid}: no device descriptor, values stay in ADC codes at an assumed 1000 Hz",
                        stacklevel=3,
                    )
                    self._warned.add(sid)
                si = StreamInfo.raw_codes(sid, block.n_channels, 1000.0, block.encoding)
            self._streams[sid] = si
        return si

    def _corrections(self, si: StreamInfo) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self.calibration is None or si.id not in self.calibration.streams:
            return None, None
        sc = self.calibration.streams[si.id]

        def vec(v: list[float] | None) -> np.ndarray | None:
            if v is None:
                return None
            a = np.asarray(v, dtype=np.float64)
            if a.shape != (si.channels,):
                raise SensorioError(
                    f"calibration for stream {si.id} has {a.size} values, "
                    f"the device has {si.channels} channels: recalibrate"
                )
            return a

        return vec(sc.offset), vec(sc.gain)

    def to_physical(self, si: StreamInfo, codes: np.ndarray) -> np.ndarray:
        """Codes (rows, channels) to physical units: ``(code - zero) * scale``, minus the
        user calibration's offset, times its gain (float64, channel-major).

        Raises:
            SensorioError: the user calibration has another channel count than the stream."""
        x = si.to_physical(codes)
        offset, gain = self._corrections(si)
        if offset is not None:
            x -= offset
        if gain is not None:
            x *= gain
        return x

    def process(self, block: SignalBlock) -> SignalBlock:
        """The block unchanged: a SignalBlock is calibrated already (raw Blocks go to :meth:`process_raw`)."""
        return block  # already calibrated

    def next_row(self, stream: int) -> int:
        """The sample index the next raw sample of stream gets (the rows
        taken in so far, a gap's fill rows included)."""
        return self._next.get(stream, 0)

    def process_raw(self, block: Block) -> list[SignalBlock]:
        """One raw Block to SignalBlocks in physical units, with sample indices counted on from the last block.

        Blocks of other streams than ``stream`` (when set) give an empty list. A gap
        of up to ``max_fill_s`` is filled with invalid NaN rows; a longer gap or a
        device restart starts a new SignalBlock with ``reset=True``."""
        if self.stream is not None and block.stream != self.stream:
            return []
        si = self.stream_info(block)
        # channel-major copies (transposed views): the layout the filters use
        st = block.samples.T
        if st.flags.c_contiguous:
            codes = block.samples
        else:
            ct = _fresh(st.shape, st.dtype)
            np.copyto(ct, st)
            codes = ct.T
        x = self.to_physical(si, codes)
        leadoff = block.leadoff_rows() if block.frame_leadoff.any() else None
        start = self._next.get(block.stream, 0)
        if block.events.size == 0:  # the common case
            self._next[block.stream] = start + len(block)
            return [
                SignalBlock(
                    stream=block.stream,
                    data=x,
                    valid=_all_true(x.shape),
                    rate_hz=si.rate_hz,
                    start=start,
                    units=(si.unit,) * si.channels,
                    labels=si.labels,
                    grid=si.grid,
                    events=block.events,
                    leadoff=leadoff,
                    codes=codes,
                    code_range=(si.min_code, si.max_code),
                    code_zero=si.zero,
                )
            ]
        if leadoff is None:
            leadoff = np.zeros(len(block), dtype=np.uint64)
        # cut at discontinuities; fill short gaps with invalid rows
        cuts = [0]
        fills: dict[int, int] = {}
        resets: dict[int, int] = {}
        max_fill = int(round(self.max_fill_s * si.rate_hz))
        for ev in block.events:
            row = int(ev["row"])
            if ev["kind"] == EV_GAP and 0 < int(ev["lost_samples"]) <= max_fill:
                fills[row] = fills.get(row, 0) + int(ev["lost_samples"])
            elif ev["kind"] == EV_GAP or ev["kind"] == EV_RESTART:
                resets[row] = resets.get(row, 0) + int(ev["lost_samples"])
                cuts.append(row)
        cuts = sorted(set(cuts)) + [len(block)]
        out = []
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            if a == b and a not in resets:
                continue
            reset = a in resets
            if reset:
                start += resets[a]
            pieces = sorted(r for r in fills if a <= r < b)
            sb = self._segment(si, block, x, codes, leadoff, a, b, pieces, fills, start, reset)
            out.append(sb)
            start += len(sb)
        self._next[block.stream] = start
        return [sb for sb in out if len(sb) or sb.reset or sb.events.size]

    def _segment(
        self,
        si: StreamInfo,
        block: Block,
        x: np.ndarray,
        codes: np.ndarray,
        leadoff: np.ndarray,
        a: int,
        b: int,
        pieces: list[int],
        fills: dict[int, int],
        start: int,
        reset: bool,
    ) -> SignalBlock:
        evs = block.events[(block.events["row"] >= a) & (block.events["row"] < max(b, a + 1))].copy()
        if not pieces:
            data, cod, lo = x[a:b], codes[a:b], leadoff[a:b]
            valid = np.ones(data.shape, dtype=bool)
            evs["row"] -= a
        else:
            n_extra = sum(fills[r] for r in pieces)
            n = b - a + n_extra
            data = np.full((n, si.channels), np.nan)
            cod = np.zeros((n, si.channels), dtype=codes.dtype)
            lo = np.zeros(n, dtype=np.uint64)
            valid = np.zeros((n, si.channels), dtype=bool)
            src, dst = a, 0
            shift = {}
            for r in pieces + [b]:
                k = r - src
                data[dst : dst + k], cod[dst : dst + k], lo[dst : dst + k] = (
                    x[src:r],
                    codes[src:r],
                    leadoff[src:r],
                )
                valid[dst : dst + k] = True
                dst += k
                src = r
                if r in fills:
                    dst += fills[r]
                shift[r] = dst
            for e in evs:
                r = int(e["row"])
                e["row"] = shift[r] if r in shift else r - a + sum(fills[p] for p in pieces if p <= r)
        return SignalBlock(
            stream=block.stream,
            data=data,
            valid=valid,
            rate_hz=si.rate_hz,
            start=start,
            units=(si.unit,) * si.channels,
            labels=si.labels,
            grid=si.grid,
            events=evs,
            leadoff=lo,
            codes=cod,
            code_range=(si.min_code, si.max_code),
            code_zero=si.zero,
            reset=reset,
        )


# -- procedures ------------------------------------------------------------------


#: a channel at a rail (the amplifier saturated) for more than this share of
#: a measurement is refused: a median or a level taken there is the rail's
#: (a rest step saturated for 1 s of 3 moved the offset by 31 uV; for all of
#: it the offset saved was the rail, -187,500 uV)
RAIL_SHARE_MAX = 0.02
#: codes within this share of the code range from a rail count as at it
RAIL_BAND = 0.005


def _collect(
    blocks: Iterable[Block],
    info: Mapping[str, Any],
    stream: int,
    seconds: float,
    calibration: Calibration | None = None,
) -> tuple[np.ndarray, float]:
    """Up to ``seconds`` of physical samples of one stream (gaps dropped).
    From a Pushback, the rows of the last block past the step's end are
    handed back (unread): the next step starts with them. A plain
    iterator's are lost with the block.

    Raises:
        SensorioError: too little data, or a channel at a rail for more than
            RAIL_SHARE_MAX of it (named)."""
    cal = Calibrate(info, stream=stream, calibration=calibration or Calibration(""), auto=False)
    parts: list[np.ndarray] = []
    have = 0
    si = StreamInfo.from_descriptor(info, stream)
    rate = si.rate_hz
    need = int(round(seconds * rate))
    band = RAIL_BAND * (si.max_code - si.min_code)
    at_rail = np.zeros(si.channels)
    rows = 0
    for block in blocks:
        codes = block.samples
        if block.stream == stream and codes.shape[1] == si.channels:
            # the step's rows only: a big block's rows past them are not
            # measured, and are the next step's (a step read from a fast
            # source's 5024-row block used what it needed and dropped the rest)
            take = max(need - rows, 0)
            if 0 < take < len(block) and isinstance(blocks, Pushback):
                block, rest = cut_block(block, take)
                blocks.unread(rest)
            codes = block.samples[:take]
            at_rail += ((codes <= si.min_code + band) | (codes >= si.max_code - band)).sum(axis=0)
            rows += len(codes)
        for sb in cal.process_raw(block):
            keep = sb.data[sb.valid.all(axis=1)]
            parts.append(keep)
            have += len(keep)
        if have >= need:
            break
    if have < max(need // 2, 1):
        raise SensorioError(
            f"only {have / rate:.2f} s of data for stream {stream}, {seconds:.2f} s needed: record longer"
        )
    share = at_rail / max(rows, 1)
    railed = np.flatnonzero(share > RAIL_SHARE_MAX)
    if railed.size:
        names = ", ".join(f"{si.labels[c]} ({share[c]:.0%})" for c in railed)
        raise SensorioError(
            f"{names}: at a rail (the amplifier saturated) for that share of the {seconds:g} s measured, "
            "which no offset or level survives: fix the contact or lower the gain and measure again"
        )
    return np.concatenate(parts)[:need], rate


def measure_offset(
    blocks: Iterable[Block], info: Mapping[str, Any], stream: int = 0, seconds: float = 2.0
) -> np.ndarray:
    """Offset at rest: the median of each channel while the person relaxes."""
    return measure_rest(blocks, info, stream, seconds)[0]


def measure_rest(
    blocks: Iterable[Block], info: Mapping[str, Any], stream: int = 0, seconds: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """(offset, level) at rest per channel: the median (measure_offset's)
    and the RMS about the mean (what a reference signal must stand well
    above, see measure_gain_from_known)."""
    x, _ = _collect(blocks, info, stream, seconds)
    return np.median(x, axis=0), np.std(x, axis=0)


def square_wave_amplitude(x: np.ndarray, rate_hz: float, freq_hz: float) -> np.ndarray:
    """Peak amplitude (half the step) of a square wave in x, per channel:
    the median of the upper half minus the median of the lower half (split
    halfway between the 10th and 90th percentiles), halved (robust to edges
    and noise)."""
    return square_wave_levels(x)[0]


#: a square wave's two levels are steady: this share of its samples at
#: least lies within SQUARE_LEVEL_BAND x the amplitude of one of them (the
#: rest are edges). Noise or EMG without a square wave in it has about a
#: fifth of its samples there (the halves of a bell curve), and a signal of
#: a few codes (rest on a coarse ADC) has its middle code between the levels
SQUARE_ON_LEVELS = 0.8
SQUARE_LEVEL_BAND = 0.25


def square_wave_levels(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(amplitude, on_levels) per channel of a square wave in x (rows,
    channels): the amplitude as square_wave_amplitude's, on_levels the share
    of the samples within SQUARE_LEVEL_BAND x the amplitude of either level
    (at least SQUARE_ON_LEVELS where a square wave is there; 0 for a flat
    channel)."""
    # centred between the levels whatever share of the time each takes (a
    # window of a period and a half, a duty cycle not a half)
    p10, p90 = np.percentile(x, [10, 90], axis=0)
    x = x - (p10 + p90) / 2
    hi = np.where(x > 0, x, np.nan)
    lo = np.where(x < 0, x, np.nan)
    with warnings.catch_warnings():  # a channel without one half: its amplitude is nan, refused below
        warnings.simplefilter("ignore", RuntimeWarning)
        hi_level, lo_level = np.nanmedian(hi, axis=0), np.nanmedian(lo, axis=0)
    amp = (hi_level - lo_level) / 2.0
    band = SQUARE_LEVEL_BAND * np.abs(amp)
    with np.errstate(invalid="ignore"):
        near = (np.abs(x - hi_level) <= band) | (np.abs(x - lo_level) <= band)
    on_levels = np.where(amp > 0, near.mean(axis=0), 0.0)
    return amp, on_levels


def measure_gain_from_test(
    blocks: Iterable[Block], info: Mapping[str, Any], stream: int = 0, seconds: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Gain from the device's TEST square wave (``test_uv``, ``test_hz`` in
    INFO): returns (gain, measured amplitude); gain = test_uv / measured."""
    if "test_uv" not in info:
        raise SensorioError("the device descriptor has no test_uv: use a known external signal instead")
    x, _ = _collect(blocks, info, stream, seconds)
    amp, on_levels = square_wave_levels(x)
    _two_levels(on_levels, "the TEST signal", StreamInfo.from_descriptor(info, stream).labels)
    return _gain(float(info["test_uv"]), amp), amp


def _two_levels(on_levels: np.ndarray, what: str, labels: tuple[str, ...]) -> None:
    """SensorioError naming the channels whose signal is no square wave (less
    than SQUARE_ON_LEVELS of it on two steady levels): any signal has an
    upper and a lower half, and a rest recording taken for the TEST signal
    gave gains of 22-79, saved and applied to every later recording."""
    bad = np.flatnonzero(~(on_levels >= SQUARE_ON_LEVELS))
    if bad.size:
        names = ", ".join(labels[c] for c in bad)
        raise SensorioError(
            f"no square wave on {names} (at most {np.max(on_levels[bad]):.0%} of the samples on two steady "
            f"levels): {what} was not there; check TEST ON and the connections"
        )


#: a reference sine has at least this share of its (linearly detrended)
#: power within SINE_PEAK_BINS periodogram bins of its peak; EMG, whose
#: spectrum is broad, has a few percent there (plain EMG taken for the
#: reference gave gains of 0.87-1.60, saved and applied to every later
#: recording), and a square wave 8 / pi^2 = 81 % (its amplitude is no
#: sine's: a gain 21 % off)
SINE_PEAK_SHARE = 0.9
#: the half-width of the peak's band, in bins of 1/T Hz (the Hann window's
#: main lobe is 2 bins either side)
SINE_PEAK_BINS = 3
#: the reference sine's RMS is at least this many times the channel's RMS at
#: rest: hum at rest is a sine too, and a gain taken from it is no gain
SINE_ABOVE_REST = 5.0
#: the gain step holds this many cycles of the sine at least: fewer, and
#: its peak is not told from the trend (a 0.5 Hz sine over 1 s)
SINE_MIN_CYCLES = 2.0


def sine_peaks(x: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequency, share, amplitude) per channel of the strongest sine in x
    (rows, channels): the frequency of the periodogram's highest bin (Hann
    window, linear trend removed), the share of the power within
    SINE_PEAK_BINS bins of it, and the sine's peak amplitude, fitted by
    least squares with an offset and a linear trend (the noise, the offset
    and a drift beside it left out) at the frequency near that bin whose
    fit is largest (a bin is 1 / T wide: the sine seldom sits on one)."""
    from scipy.signal import periodogram

    f, p = periodogram(x, fs=rate_hz, window="hann", detrend="linear", axis=0)
    total = p.sum(axis=0)
    peak = np.argmax(p[1:], axis=0) + 1  # not the DC bin
    bins = np.arange(len(f))[:, None]
    band = (np.abs(bins - peak[None, :]) <= SINE_PEAK_BINS) & (bins > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, (p * band).sum(axis=0) / total, 0.0)
    n = x.shape[0]
    t = np.arange(n) / rate_hz
    trend = np.stack([np.ones(n), t - t.mean()], axis=1)
    step = f[1] - f[0] if len(f) > 1 else 0.0
    amp = np.zeros(x.shape[1])
    for c in range(x.shape[1]):
        for fc in f[peak[c]] + step * np.linspace(-0.5, 0.5, 21):
            w = 2.0 * np.pi * fc * t
            design = np.column_stack([np.sin(w), np.cos(w), trend])
            coef = np.linalg.lstsq(design, x[:, c], rcond=None)[0]
            amp[c] = max(amp[c], float(np.hypot(coef[0], coef[1])))
    return f[peak], share, amp


@dataclass(frozen=True)
class KnownReference:
    """What measure_known_reference found, per channel: the ``gain``, the
    measured peak ``amplitude`` and, for a sine, ``frequency_hz`` (the
    periodogram peak's, to its bin of 1 / step seconds; None for a square wave)."""

    gain: np.ndarray
    amplitude: np.ndarray
    frequency_hz: np.ndarray | None = None


def measure_known_reference(
    blocks: Iterable[Block],
    info: Mapping[str, Any],
    amplitude: float,
    stream: int = 0,
    seconds: float = 2.0,
    shape: str = "sine",
    rest_level: np.ndarray | None = None,
) -> KnownReference:
    """Gain from an external signal of known peak amplitude (sine or square),
    with the amplitude measured and the sine's frequency found in the signal
    (so that a user can check it is the reference they connected).

    A sine must be one: most of its power in one narrow spectral peak
    (SINE_PEAK_SHARE), SINE_MIN_CYCLES of it in the step at least, and,
    given ``rest_level`` (the channels' RMS at rest, measure_rest's), well
    above it (SINE_ABOVE_REST).

    Raises:
        SensorioError: naming the channels where no such signal is seen."""
    x, rate = _collect(blocks, info, stream, seconds)
    labels = StreamInfo.from_descriptor(info, stream).labels
    freq = None
    if shape == "square":
        amp, on_levels = square_wave_levels(x)
        _two_levels(on_levels, "the reference square wave", labels)
    else:
        freq, share, amp = sine_peaks(x, rate)
        _one_sine(freq, share, amp, rest_level, labels, x.shape[0] / rate)
    return KnownReference(_gain(amplitude, amp), amp, freq)


def measure_gain_from_known(
    blocks: Iterable[Block],
    info: Mapping[str, Any],
    amplitude: float,
    stream: int = 0,
    seconds: float = 2.0,
    shape: str = "sine",
    rest_level: np.ndarray | None = None,
) -> np.ndarray:
    """The gain of measure_known_reference (same checks, same errors)."""
    return measure_known_reference(blocks, info, amplitude, stream, seconds, shape, rest_level).gain


def _one_sine(
    freq: np.ndarray,
    share: np.ndarray,
    amp: np.ndarray,
    rest_level: np.ndarray | None,
    labels: tuple[str, ...],
    seconds: float,
) -> None:
    """SensorioError naming the channels whose reference is no sine (less than
    SINE_PEAK_SHARE of the power at one peak), no more than SINE_ABOVE_REST
    times their rest level, or too slow for the step (fewer than
    SINE_MIN_CYCLES of it: a slow sine and no sine at all look alike there)."""
    cycles = freq * seconds
    rms = amp / np.sqrt(2.0)
    above = rms / np.maximum(rest_level, 1e-300) if rest_level is not None else np.full(amp.shape, np.inf)
    bad = np.flatnonzero(~(share >= SINE_PEAK_SHARE) | ~(above >= SINE_ABOVE_REST) | (cycles < SINE_MIN_CYCLES))
    if bad.size:
        names = ", ".join(
            f"{labels[c]} ({share[c]:.0%} of its power at {freq[c]:.3g} Hz"
            + (f", {above[c]:.2g} x its rest level" if rest_level is not None else "")
            + (f", {cycles[c]:.1f} cycles in the {seconds:g} s step" if cycles[c] < SINE_MIN_CYCLES else "")
            + ")"
            for c in bad
        )
        raise SensorioError(
            f"no reference sine on {names}: it needs {SINE_PEAK_SHARE:.0%} of the power in one peak at "
            f"{SINE_ABOVE_REST:g} x the rest level or more, {SINE_MIN_CYCLES:g} cycles of it in the step; "
            "connect the reference (a slow one: measure a longer step) and calibrate again (nothing saved)"
        )


def _gain(expected: float, measured: np.ndarray) -> np.ndarray:
    bad = ~(np.abs(measured) > 0)
    if bad.any():
        raise SensorioError(
            f"no test signal seen on channel(s) {np.nonzero(bad)[0].tolist()}: check TEST ON and the connections"
        )
    return expected / measured


#: the filters of measure_envelope_level are warmed on this much of the
#: step's start, mirrored (a quarter of the step at most): the band-pass's
#: 20 Hz edge and the 50 ms moving RMS have settled well within it
ENVELOPE_WARM_S = 0.2


def measure_envelope_level(
    blocks: Iterable[Block],
    info: Mapping[str, Any],
    stream: int = 0,
    seconds: float = 3.0,
    calibration: Calibration | None = None,
    quantile: float = 0.95,
) -> np.ndarray:
    """A high quantile of the 20-450 Hz moving-RMS envelope per channel: the
    MVC level during a maximal contraction, the noise floor at rest (with a
    low quantile). Every sample of the step is measured: the filters are
    warmed first on its first ENVELOPE_WARM_S played backwards."""
    from .filters import BandPass, Envelope

    x, rate = _collect(blocks, info, stream, seconds, calibration)
    # the band-pass and the moving RMS start empty: warm them on the step's
    # own start mirrored (as filtfilt pads a signal), whose envelope is not
    # measured. Dropping that stretch of the step instead left 0.2 s of it
    # out of the level (200 samples at 1 kHz) without a word: a contraction
    # at the start of the MVC step was not seen
    warm = min(len(x) // 4, int(ENVELOPE_WARM_S * rate))
    padded = np.concatenate([x[warm:0:-1], x]) if warm else x
    sb = SignalBlock(stream=stream, data=padded, valid=np.ones(padded.shape, bool), rate_hz=rate)
    env = Envelope().process(BandPass().process(sb))
    return np.quantile(env.data[warm:], quantile, axis=0)
