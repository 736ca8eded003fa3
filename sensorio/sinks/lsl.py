"""Lab Streaming Layer outlet (pylsl, an optional extra: ``pip install 'sensorio[lsl]'``).

``LslOutlet(info, stream=0)`` publishes one device stream: type ``EMG`` for EMG
streams (else the stream's name), one channel per device channel with its
label, unit (``microvolts`` for uV, as the LSL meta-data conventions spell it)
and type, the nominal rate, and a ``source_id`` made from the device serial
number (for a device that has none, such as a Cyton, the ``port`` given) and
stream id, so that an inlet re-finds the same stream when the device is
replugged or the program restarted. Its name is the device model and the
stream's name, or the ``name`` given (``outlet_name``: ``sensorio stream
--name`` puts its name before each stream's name when it publishes several).
Calibrated samples are float32, double64 for codes wider than 24 bits
(``sensorio.export.units.physical_dtype``); raw codes int32. A second,
irregular-rate string stream (type ``Markers``) carries gap, restart, fault and calibration
events as small JSON objects.

Timestamps: give ``push_block`` the host time of every row (the capture's
fitted device clock, ``Stream.host_times``), which is mapped onto the LSL
clock; without it the device clock is anchored to the LSL clock at the first
block and followed from there. A sensor-fault marker is stamped at the
fault's onset (its end, for an end marker) on the LSL clock, found from the
stamps of the samples pushed, not at the moment the fault was detected.

The acquisition meta-data (``desc/acquisition``) name the device's maker and
model from its INFO (``manufacturer``, ``device``); a device that does not
say who made it gets ``unknown``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..blocks import CLOCK_WRAP, EV_GAP, EV_OVERFLOW, EV_RESTART, EV_RESYNC, Block, ClockUnwrap
from ..descriptor import channel_labels, is_emg, stream_descriptor, volt_unit
from ..errors import Advice, SensorioError
from ..export.units import physical_dtype

#: units as the LSL/XDF meta-data conventions write them (a voltage by its
#: ASCII name, sensorio.descriptor.volt_unit: µV and μV are "uv" here)
LSL_UNITS = {
    "uv": "microvolts",
    "mv": "millivolts",
    "v": "volts",
    "deg": "degrees",
    "g": "g",
    "n": "newtons",
    "code": "counts",
}


def lsl_unit(unit: str) -> str:
    """A stream's unit as the LSL/XDF meta-data conventions write it
    (``microvolts`` for uV, µV and μV); a unit they do not name stays as it is."""
    return LSL_UNITS.get((volt_unit(unit) or unit).lower(), unit)


#: the LSL channel format of each dtype pushed
LSL_FORMATS = {"float32": "float32", "float64": "double64", "int32": "int32"}
EVENT_KINDS = {EV_GAP: "gap", EV_RESTART: "restart", EV_OVERFLOW: "overflow", EV_RESYNC: "resync"}


def import_pylsl() -> Any:
    try:
        import pylsl
    except (ImportError, RuntimeError, OSError) as exc:
        # pylsl raises RuntimeError when it cannot find the liblsl shared library
        raise SensorioError(f"LSL needs pylsl and liblsl: pip install 'sensorio[lsl]' ({exc})") from None
    return pylsl


def _liblsl_config_file() -> Path | None:
    """The configuration file liblsl would read (its documented search order), if any."""
    env = os.environ.get("LSLAPICFG")
    candidates = [Path(env)] if env else []
    candidates += [Path("lsl_api.cfg"), Path.home() / "lsl_api" / "lsl_api.cfg", Path("/etc/lsl_api/lsl_api.cfg")]
    return next((c for c in candidates if c.is_file()), None)


def quiet_liblsl(level: int = -1) -> None:
    """Have liblsl log only its warnings and errors (level -1; -2 is errors only;
    by default it prints INFO lines on stderr).

    Uses pylsl's ``set_config_content`` (liblsl >= 1.17.7), which must come before liblsl's
    first use; later it has no effect. The user's own lsl_api.cfg (LSLAPICFG, ./lsl_api.cfg,
    ~/lsl_api/lsl_api.cfg, /etc/lsl_api/lsl_api.cfg) is kept: its content is passed on, with
    the log level added only when it has no [log] section. Without pylsl, or with an older
    liblsl, nothing happens."""
    try:
        pylsl = import_pylsl()
    except SensorioError:
        return
    content = ""
    cfg = _liblsl_config_file()
    if cfg is not None:
        try:
            content = cfg.read_text(encoding="utf-8", errors="replace")
        except OSError:
            content = ""
    if re.search(r"(?mi)^\s*\[log\]", content):
        return  # the user chose their own logging
    try:
        pylsl.set_config_content(f"{content}\n[log]\nlevel = {level}\n")
    except (AttributeError, NotImplementedError):
        pass


def prepare_lsl(*, info_lines: bool = False) -> Any:
    """pylsl, for a program about to publish to LSL: a one-line SensorioError
    now when pylsl or liblsl is missing (before a port is opened), and
    liblsl's INFO lines kept off stderr (quiet_liblsl: its warnings and
    errors still show) unless ``info_lines``. Call it before liblsl's first use."""
    pylsl = import_pylsl()
    if not info_lines:
        quiet_liblsl()
    return pylsl


def outlet_name(info: Mapping[str, Any], stream: int, name: str | None = None, *, alone: bool = False) -> str:
    """The LSL name of a device stream's outlet: ``"<name> <stream name>"``, the
    device model standing for ``name`` when none is given; ``name`` itself when
    the stream is ``alone`` (the only one published), since nothing needs telling
    apart then. Several outlets published under one bare name could not be told
    apart by it (an inlet resolving that name would get any of them)."""
    if name and alone:
        return name
    desc = stream_descriptor(info, stream)
    return f"{name or info.get('device') or 'sensorio device'} {desc.get('name', stream)}"


class LslOutlet:
    """Publish one device stream, and its events, to Lab Streaming Layer."""

    def __init__(
        self,
        info: Mapping[str, Any],
        stream: int = 0,
        *,
        calibrated: bool = True,
        name: str | None = None,
        markers: bool = True,
        chunk_size: int = 0,
        max_buffered_s: int = 360,
        calibration_dir: str | None = None,
        port: str | None = None,
        time_scale_us: float | None = 1.0,
        clock_modulus: int = CLOCK_WRAP,
    ) -> None:
        from ..dsp import Calibrate

        pylsl = import_pylsl()
        self._pylsl = pylsl
        try:
            desc = stream_descriptor(info, stream)
        except SensorioError as e:
            raise SensorioError(f"{e}: cannot describe it to LSL") from None
        self.stream = stream
        self.channels = int(desc["channels"])
        self.rate_hz = float(desc.get("rate_hz") or 0.0)
        self.calibrated = calibrated
        if calibrated and not isinstance(desc.get("scale"), (int, float)):
            raise SensorioError(
                Advice(
                    f"stream {stream} has no scale in its descriptor: stream it raw ({{calibrated}})", calibrated=False
                )
            )
        # the same calibration as the dsp pipeline: INFO scale/zero, then the user's
        # saved offset/gain for this device serial, if any
        #: (zero, scale) of a stream the calibration stage cannot take (no rails
        #: or rate: an ASCII-lines device, its values already in their unit);
        #: any other flaw of the descriptor the calibration says
        self._affine: tuple[float, float] | None = None
        self._calibrate = None
        if calibrated and any(desc.get(k) is None for k in ("rate_hz", "min_code", "max_code")):
            self._affine = (float(desc.get("zero") or 0.0), float(desc["scale"]))
        elif calibrated:
            self._calibrate = Calibrate(info, stream=stream, calibration_dir=calibration_dir)
        self._time_scale_us = time_scale_us
        # as the exports: float32 holds 24-bit codes apart, not wider ones
        self._dtype = physical_dtype(desc) if calibrated else np.dtype(np.int32)
        unit = str(desc.get("unit", "")) if calibrated else "code"
        self.labels = list(channel_labels(desc.get("labels"), self.channels))
        # a device without a serial (a Cyton) is told apart by the port it is on:
        # two boards would otherwise publish the same source_id
        serial = str(info.get("serial") or (f"port={port}" if port else "unknown"))
        self.source_id = f"sensorio:{serial}:{stream}"
        self.type = "EMG" if is_emg(desc) else str(desc.get("name", f"stream{stream}"))
        device = str(info.get("device") or "sensorio device")
        self.name = name or outlet_name(info, stream)

        sinfo = pylsl.StreamInfo(
            self.name, self.type, self.channels, self.rate_hz, LSL_FORMATS[self._dtype.name], self.source_id
        )
        chans = sinfo.desc().append_child("channels")
        for label in self.labels:
            ch = chans.append_child("channel")
            ch.append_child_value("label", label)
            ch.append_child_value("unit", lsl_unit(unit))
            ch.append_child_value("type", self.type)
        acq = sinfo.desc().append_child("acquisition")
        acq.append_child_value("manufacturer", str(info.get("manufacturer") or "unknown"))
        acq.append_child_value("model", device)
        acq.append_child_value("serial_number", serial)
        acq.append_child_value("firmware", str(info.get("fw", "")))
        cal = sinfo.desc().append_child("sensorio")
        cal.append_child_value("stream", str(stream))
        cal.append_child_value("calibrated", "true" if calibrated else "false")
        user_cal = self._calibrate is not None and self._calibrate.calibration is not None
        cal.append_child_value("user_calibration", "true" if user_cal else "false")
        for key in ("scale", "zero", "min_code", "max_code", "unit"):
            if key in desc:
                cal.append_child_value(key, str(desc[key]))
        self.outlet = pylsl.StreamOutlet(sinfo, chunk_size, max_buffered_s)
        self.marker_outlet = None
        if markers:
            minfo = pylsl.StreamInfo(
                f"{self.name} markers", "Markers", 1, pylsl.IRREGULAR_RATE, "string", f"{self.source_id}:markers"
            )
            self.marker_outlet = pylsl.StreamOutlet(minfo)
        if self._calibrate is not None and self._calibrate.calibration is not None:
            self.push_calibration({"source": "saved", "serial": serial})
        self._epoch_to_lsl = 0.0
        self._offset_checked = -1e9
        self._anchor: tuple[float, int] | None = None  # (LSL time, unwrapped device µs) of the first row
        self._clock = ClockUnwrap(clock_modulus)
        # (stream sample index, LSL time) of pushed rows: the first of each block and
        # each row after a gap; sample indices count lost samples, as sensorio.dsp does
        self._next_index = 0
        self._anchors: deque[tuple[int, float]] = deque(maxlen=100_000)

    # -- clocks ---------------------------------------------------------------------------
    def lsl_time(self, epoch_s: Any) -> Any:
        """Host epoch seconds (time.time()) on the LSL clock (pylsl.local_clock())."""
        now = time.monotonic()
        if now - self._offset_checked > 5.0:
            # the two clocks read back to back; the smallest spread of a few tries is the best
            best = None
            for _ in range(5):
                a = time.time()
                b = self._pylsl.local_clock()
                c = time.time()
                if best is None or c - a < best[0]:
                    best = (c - a, b - (a + c) / 2)
            assert best is not None
            self._epoch_to_lsl = best[1]
            self._offset_checked = now
        return epoch_s + self._epoch_to_lsl

    def _device_times(self, block: Block) -> np.ndarray:
        """Per-row LSL times from the device clock, anchored at the first block;
        the time of arrival when the clock's unit or the rate is unknown."""
        if self._time_scale_us is None or not self.rate_hz:
            return np.full(len(block), self._pylsl.local_clock())
        period = 1.0 / self.rate_hz
        unwrapped = self._clock(block.frame_t_us)
        counts = np.diff(np.append(block.frame_row.astype(np.int64), len(block)))
        ticks_us = unwrapped * self._time_scale_us  # (a frame count's ticks to µs)
        starts = np.repeat(ticks_us - block.frame_row.astype(np.int64) * period * 1e6, counts)
        row_us = starts + np.arange(len(block)) * period * 1e6
        if self._anchor is None:
            now = self._pylsl.local_clock()
            self._anchor = (now - (row_us[-1] - row_us[0]) / 1e6, int(row_us[0]))
        return self._anchor[0] + (row_us - self._anchor[1]) / 1e6

    # -- data -----------------------------------------------------------------------------
    def values(self, block: Block) -> np.ndarray:
        """The samples pushed for a block: calibrated (code - zero) * scale, or raw codes."""
        if self._affine is not None:
            zero, scale = self._affine
            return np.ascontiguousarray((block.samples - zero) * scale, dtype=self._dtype)
        if self._calibrate is None:
            return np.ascontiguousarray(block.samples, dtype=np.int32)
        si = self._calibrate.stream_info(block)
        return np.ascontiguousarray(self._calibrate.to_physical(si, block.samples), dtype=self._dtype)

    def push_block(self, block: Block, host_times: np.ndarray | None = None) -> None:
        """Push a Block of this stream (others are ignored); host_times: epoch seconds per row."""
        if block.stream != self.stream or not len(block):
            return
        stamps = self._device_times(block) if host_times is None else self.lsl_time(np.asarray(host_times))
        for ev in block.events:
            kind = EVENT_KINDS.get(int(ev["kind"]), str(int(ev["kind"])))
            row = min(int(ev["row"]), len(block) - 1)
            self.push_marker(
                {
                    "event": kind,
                    "stream": self.stream,
                    "lost_frames": int(ev["lost_frames"]),
                    "lost_samples": int(ev["lost_samples"]),
                    "lost_bytes": int(ev["lost_bytes"]),
                },
                float(stamps[row]),
            )
        self._remember_times(block, stamps)
        self.outlet.push_chunk(self.values(block), [float(t) for t in stamps])

    def _remember_times(self, block: Block, stamps: np.ndarray) -> None:
        rows = [0]
        lost_at: dict[int, int] = {}
        for ev in block.events:
            if int(ev["kind"]) == EV_GAP and int(ev["lost_samples"]) > 0:
                row = min(int(ev["row"]), len(block) - 1)
                lost_at[row] = lost_at.get(row, 0) + int(ev["lost_samples"])
                rows.append(row)
        lost = 0
        for row in sorted(set(rows)):
            lost += lost_at.get(row, 0)
            self._anchors.append((self._next_index + row + lost, float(stamps[row])))
        self._next_index += len(block) + lost

    def stream_time(self, seconds: float) -> float | None:
        """The LSL time of the sample ``seconds`` after this stream's first sample
        pushed (the time base of sensorio.dsp events); None before any was pushed."""
        if not self._anchors or not self.rate_hz:
            return None
        index = seconds * self.rate_hz
        best = self._anchors[0]
        for anchor in reversed(self._anchors):
            if anchor[0] <= index:
                best = anchor
                break
        return best[1] + (index - best[0]) / self.rate_hz

    def push_marker(self, event: Mapping[str, Any], timestamp: float | None = None) -> None:
        """A marker (a JSON object as text) on the marker stream; timestamp on the LSL clock."""
        if self.marker_outlet is not None:
            self.marker_outlet.push_sample(
                [json.dumps(dict(event), sort_keys=True)],
                timestamp if timestamp is not None else self._pylsl.local_clock(),
            )

    def push_fault(self, event: Any, timestamp: float | None = None) -> None:
        """A sensor fault (a sensorio.dsp DspEvent: stream, channel, kind, start_s, end_s),
        stamped by default at its onset (its end, once it ended) on the LSL clock."""
        label = self.labels[event.channel] if 0 <= event.channel < self.channels else None
        if timestamp is None:
            timestamp = self.stream_time(float(event.start_s if event.end_s is None else event.end_s))
        self.push_marker(
            {
                "event": "fault",
                "kind": event.kind,
                "stream": event.stream,
                "channel": event.channel,
                "label": label,
                "start_s": round(float(event.start_s), 6),
                "end_s": None if event.end_s is None else round(float(event.end_s), 6),
                "state": "start" if event.end_s is None else "end",
            },
            timestamp,
        )

    def push_calibration(self, detail: Mapping[str, Any], timestamp: float | None = None) -> None:
        self.push_marker({"event": "calibration", "stream": self.stream, **detail}, timestamp)

    def have_consumers(self) -> bool:
        return bool(self.outlet.have_consumers())

    def close(self) -> None:
        # pylsl destroys an outlet when the object goes away
        self.outlet = None
        self.marker_outlet = None

    def __enter__(self) -> LslOutlet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
