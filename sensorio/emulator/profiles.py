"""Device profiles: what an emulated device has (streams, encodings, rates,
scales) and therefore what its INFO descriptor says."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from .. import sio1
from ..descriptor import MAX_GRID_CELLS, ElectrodeGrid
from ..errors import Advice, UsageError

#: ADS1299 (OpenBCI Cyton, many EMG front ends): 4.5 V reference, gain 24, 24 bits
ADS1299_UV_PER_COUNT_G24 = 4.5 / 24 / (2**23 - 1) * 1e6


#: channels one SIO-1 stream carries at most (PROTOCOL.md: n_ch 1..64)
SIO_STREAM_CHANNELS = 64
#: the most EMG channels an emulated SIO-1 device serves, as several streams
#: (high-density EMG: 64 to 256 channels; 4 streams' INFO fits one frame)
MAX_EMG_CHANNELS = 256


def emg_streams(channels: int, rate_hz: float, enc: int) -> tuple[StreamProfile, ...]:
    """``channels`` EMG channels as SIO-1 sends them: one stream up to 64,
    else streams of 64 (the last the rest), ids 0, 1, ... and named emg,
    emg2, ...; labels only for one stream (256 of them overflow the INFO's
    1024-byte frame: a reader numbers them within each stream)."""
    if not 1 <= channels <= MAX_EMG_CHANNELS:
        raise UsageError(f"{channels} EMG channels: the emulator serves 1 to {MAX_EMG_CHANNELS}")
    if channels <= SIO_STREAM_CHANNELS:
        return (emg_stream(channels, rate_hz, enc),)
    out = []
    for sid, c0 in enumerate(range(0, channels, SIO_STREAM_CHANNELS)):
        one = emg_stream(min(SIO_STREAM_CHANNELS, channels - c0), rate_hz, enc)
        out.append(replace(one, id=sid, name="emg" if sid == 0 else f"emg{sid + 1}", labels=(), first_channel=c0))
    return tuple(out)


@dataclass(frozen=True)
class StreamProfile:
    """One device stream. ``kind`` picks the signal model (emg, accel, force,
    position); ``scale`` is physical units per ADC count; codes are
    ``round(value / scale) + zero`` clipped to [min_code, max_code]."""

    id: int
    name: str
    kind: str
    channels: int
    rate_hz: float
    enc: int
    unit: str
    scale: float
    zero: int = 0
    min_code: int | None = None
    max_code: int | None = None
    labels: tuple[str, ...] = ()
    #: where the electrodes sit (the INFO's ``grid``; None: not said)
    grid: ElectrodeGrid | None = None
    #: samples per channel in one DATA frame (0 = choose)
    frame_samples: int = 0
    #: the stream's first channel among the device's EMG channels (a rig of
    #: more than 64 sends them as several streams): where its columns of a
    #: spatial pattern or a signal source begin
    first_channel: int = 0

    @property
    def code_range(self) -> tuple[int, int]:
        """The (lowest, highest) ADC code: min_code and max_code, or the encoding's range where unset."""
        lo, hi = sio1.ENC_RANGE[self.enc]
        return (
            lo if self.min_code is None else self.min_code,
            hi if self.max_code is None else self.max_code,
        )

    @property
    def samples_per_frame(self) -> int:
        """Samples per DATA frame: about 250 frames/s, never over SIO-1's frame size."""
        width = {sio1.ENC_I16: 2, sio1.ENC_I24: 3, sio1.ENC_I32: 4, sio1.ENC_U16: 2}[self.enc]
        fixed = sio1.data_frame_len(self.enc, self.channels, 1) - self.channels * width
        most = min(255, (sio1.MAX_FRAME - fixed) // (self.channels * width))
        want = self.frame_samples or max(1, int(self.rate_hz // 250))
        return max(1, min(most, want))

    def descriptor(self) -> dict[str, Any]:
        """The stream's entry of an INFO descriptor: id, name, channels, rate_hz, enc,
        unit, scale, zero, min_code, max_code and the labels if any."""
        lo, hi = self.code_range
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "channels": self.channels,
            "rate_hz": self.rate_hz,
            "enc": self.enc,
            "unit": self.unit,
            "scale": self.scale,
            "zero": self.zero,
            "min_code": lo,
            "max_code": hi,
        }
        if self.labels:
            out["labels"] = list(self.labels)
        if self.grid is not None:
            g = self.grid
            # row by row from the first cell: the short form
            plain = g.cells == tuple(range(self.channels))
            out["grid"] = [g.rows, g.cols] if plain else {"rows": g.rows, "cols": g.cols, "cells": list(g.cells)}
        return out


@dataclass(frozen=True)
class DeviceProfile:
    """An emulated device model: its name, device string, streams, firmware
    version, TEST signal (``test_uv`` in µV at ``test_hz``), the rates RATE
    accepts and the wire formats it speaks."""

    name: str
    device: str
    streams: tuple[StreamProfile, ...]
    fw: str = "1.0.0"
    test_uv: float = 1000.0
    test_hz: float = 2.0
    #: sample rates the device accepts for RATE (stream 0, and the EMG streams beside it)
    rates: tuple[float, ...] = ()
    formats: tuple[str, ...] = ("sio",)
    #: the wearer performs gestures (sensorio.emulator.gestures) by default
    gestures: bool = False

    def descriptor(self, serial: str) -> dict[str, Any]:
        """The INFO descriptor the device reports, with this serial (the profile's rates, not a RATE change)."""
        return {
            "device": self.device,
            "serial": serial,
            "fw": self.fw,
            "streams": [s.descriptor() for s in self.streams],
            "test_uv": self.test_uv,
            "test_hz": self.test_hz,
        }


def emg_stream(channels: int = 8, rate_hz: float = 2000.0, enc: int = sio1.ENC_I24) -> StreamProfile:
    """A bipolar EMG stream like an ADS1299 front end at gain 24 (int24),
    or a 16-bit ADC at 0.5 uV per count (int16/int32)."""
    if not 1 <= channels <= SIO_STREAM_CHANNELS:
        raise UsageError(
            f"{channels} channels: SIO-1 allows 1 to {SIO_STREAM_CHANNELS} a stream; the emg8 and "
            f"gestures profiles serve up to {MAX_EMG_CHANNELS} as streams of {SIO_STREAM_CHANNELS}"
        )
    if enc == sio1.ENC_I24:
        scale = ADS1299_UV_PER_COUNT_G24
    elif enc == sio1.ENC_U16:
        raise UsageError("EMG streams are bipolar: use enc i16, i24 or i32")
    else:
        scale = 0.5
    return StreamProfile(
        id=0,
        name="emg",
        kind="emg",
        channels=channels,
        rate_hz=float(rate_hz),
        enc=enc,
        unit="uV",
        scale=scale,
        labels=tuple(f"emg{i + 1}" for i in range(channels)),
    )


PROFILES: dict[str, DeviceProfile] = {
    "emg8": DeviceProfile(
        name="emg8",
        device="sensorio-emu EMG8",
        streams=(emg_stream(8, 2000.0),),
        rates=(500.0, 1000.0, 2000.0, 4000.0),
        formats=("sio", "ascii"),
    ),
    # a forearm ring of 8 electrodes on a person performing hand gestures
    "gestures": DeviceProfile(
        name="gestures",
        device="sensorio-emu gestures EMG8",
        streams=(emg_stream(8, 2000.0),),
        rates=(500.0, 1000.0, 2000.0, 4000.0),
        formats=("sio", "ascii"),
        gestures=True,
    ),
    "prosthesis": DeviceProfile(
        name="prosthesis",
        device="sensorio-emu prosthesis",
        rates=(1000.0, 2000.0),
        streams=(
            emg_stream(8, 2000.0),
            # 3-axis accelerometer, +-16 g in int16
            StreamProfile(
                id=1,
                name="imu",
                kind="accel",
                channels=3,
                rate_hz=100.0,
                enc=sio1.ENC_I16,
                unit="g",
                scale=1 / 2048,
                labels=("ax", "ay", "az"),
            ),
            # fingertip and grip force sensors on a 12-bit ADC with an offset
            StreamProfile(
                id=2,
                name="force",
                kind="force",
                channels=5,
                rate_hz=500.0,
                enc=sio1.ENC_U16,
                unit="N",
                scale=0.02,
                zero=200,
                min_code=0,
                max_code=4095,
                labels=("thumb", "index", "middle", "ring", "grip"),
            ),
            # joint angle encoders, 12-bit, mid-scale = 0 deg
            StreamProfile(
                id=3,
                name="position",
                kind="position",
                channels=3,
                rate_hz=500.0,
                enc=sio1.ENC_U16,
                unit="deg",
                scale=0.1,
                zero=2048,
                min_code=0,
                max_code=4095,
                labels=("wrist_rot", "wrist_flex", "grasp"),
            ),
        ),
    ),
    "cyton": DeviceProfile(
        name="cyton",
        device="OpenBCI Cyton (emulated)",
        fw="v3.1.2",
        streams=(emg_stream(8, 250.0),),
        rates=(250.0,),
        formats=("cyton",),
    ),
    "arduino": DeviceProfile(
        name="arduino",
        device="Arduino EMG shield (emulated)",
        streams=(
            StreamProfile(
                id=0,
                name="emg",
                kind="emg",
                channels=4,
                rate_hz=500.0,
                enc=sio1.ENC_U16,
                unit="uV",
                scale=4.9,
                zero=512,
                min_code=0,
                max_code=1023,
                labels=("ch1", "ch2", "ch3", "ch4"),
            ),
        ),
        rates=(250.0, 500.0, 1000.0),
        formats=("ascii",),
    ),
}

#: the highest sample rate the emulator accepts: 1 MHz x 8 channels of int24
#: is 24 MB/s, already beyond what USB-serial links carry (and far beyond
#: what one core generates in real time: the emulator then falls behind,
#: says so, and keeps its memory bounded)
MAX_RATE_HZ = 1e6
#: the lowest: stream 0 is surface EMG, a 20-450 Hz band peaking near 95 Hz;
#: sampled below 100 Hz there is no EMG left to emulate
MIN_RATE_HZ = 100.0
#: the most values an ASCII line may carry (the ASCII parser's limit)
ASCII_MAX_CHANNELS = 256

DEFAULT_PROFILE = {"sio": "emg8", "cyton": "cyton", "ascii": "arduino"}


def resolve_profile(
    name: str | None,
    fmt: str,
    *,
    channels: int | None = None,
    rate_hz: float | None = None,
    enc: str | None = None,
    grid: tuple[int, int] | ElectrodeGrid | None = None,
) -> DeviceProfile:
    """A named profile, with stream 0's channels/rate/encoding overridden if
    given, and its EMG channels on an electrode grid (see :func:`with_grid`)."""
    prof = _resolve_profile(name, fmt, channels=channels, rate_hz=rate_hz, enc=enc)
    return prof if grid is None else with_grid(prof, fmt, grid)


def with_grid(prof: DeviceProfile, fmt: str, grid: tuple[int, int] | ElectrodeGrid) -> DeviceProfile:
    """prof with its EMG channels on an electrode grid, which its INFO then
    gives: (rows, cols), the channels row by row (over several streams of
    64, each stream its own rows of it: a detector runs per stream), or an
    ElectrodeGrid of the channels' cells (one stream).

    Raises:
        UsageError: a format without INFO, no EMG stream, a grid too small,
            or rows that do not split among the streams."""
    if fmt != "sio":
        raise UsageError(f"grid: the {fmt} format has no INFO to describe the electrodes in; use format sio")
    emg = [i for i, st in enumerate(prof.streams) if st.kind == "emg"]
    if not emg:
        raise UsageError(f"grid: profile {prof.name!r} has no EMG stream")
    total = sum(prof.streams[i].channels for i in emg)
    streams = list(prof.streams)
    if isinstance(grid, ElectrodeGrid):
        if len(emg) != 1 or len(grid.cells) != total:
            raise UsageError(f"grid: a grid of cells is for one EMG stream, and gives {len(grid.cells)} of {total}")
        streams[emg[0]] = replace(streams[emg[0]], grid=grid)
        out = replace(prof, streams=tuple(streams))
        try:  # (a cells list over 64 channels may not fit an INFO frame)
            sio1.encode_info(out.descriptor("EMU-SIO-0000"))
        except ValueError as exc:
            raise UsageError(f"grid: the INFO with each channel's cell does not fit one frame ({exc})") from None
        return out
    rows, cols = grid
    if rows * cols < total:
        raise UsageError(f"grid {rows}x{cols}: {rows * cols} cells hold fewer than the {total} EMG channels")
    if rows * cols > MAX_GRID_CELLS:
        raise UsageError(f"grid {rows}x{cols}: more than the {MAX_GRID_CELLS} cells a grid may have")
    if len(emg) > 1 and SIO_STREAM_CHANNELS % cols:
        raise UsageError(
            f"grid {rows}x{cols}: {total} channels come as streams of {SIO_STREAM_CHANNELS}, and rows of {cols} "
            f"do not split among them: give columns that divide {SIO_STREAM_CHANNELS}"
        )
    for i in emg:
        st = streams[i]
        own_rows = rows if len(emg) == 1 else -(-st.channels // cols)
        streams[i] = replace(st, grid=ElectrodeGrid(own_rows, cols, tuple(range(st.channels))))
    return replace(prof, streams=tuple(streams))


def _resolve_profile(
    name: str | None,
    fmt: str,
    *,
    channels: int | None = None,
    rate_hz: float | None = None,
    enc: str | None = None,
) -> DeviceProfile:
    name = name or DEFAULT_PROFILE[fmt]
    if name not in PROFILES:
        raise UsageError(f"unknown device profile {name!r}: use one of {', '.join(sorted(PROFILES))}")
    prof = PROFILES[name]
    if fmt not in prof.formats:
        raise UsageError(
            Advice(f"profile {name!r} does not speak {fmt}: use it with {{format}}", format="/".join(prof.formats))
        )
    if channels is None and rate_hz is None and enc is None:
        return prof
    if rate_hz is not None and not (MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ):  # also refuses nan
        raise UsageError(f"sample rate {rate_hz:g} Hz: the emulated EMG needs {MIN_RATE_HZ:g} Hz to {MAX_RATE_HZ:g} Hz")
    if fmt == "cyton" and (channels not in (None, 8) or rate_hz not in (None, 250.0)):
        raise UsageError("a Cyton has 8 channels at 250 Hz")
    s0 = prof.streams[0]
    if enc is not None and enc not in sio1.ENCODINGS:
        raise UsageError(f"unknown encoding {enc!r}: use one of {', '.join(sio1.ENCODINGS)}")
    channels = s0.channels if channels is None else channels
    rate_hz = s0.rate_hz if rate_hz is None else float(rate_hz)
    if fmt == "ascii" or s0.kind != "emg":
        if not 1 <= channels <= ASCII_MAX_CHANNELS:
            raise UsageError(f"{channels} channels: ASCII lines carry 1 to {ASCII_MAX_CHANNELS}")
        new: tuple[StreamProfile, ...] = (replace(s0, channels=channels, rate_hz=rate_hz),)
    elif channels > SIO_STREAM_CHANNELS and len(prof.streams) > 1:
        raise UsageError(
            f"{channels} channels: SIO-1 allows 1 to {SIO_STREAM_CHANNELS} a stream, and profile {name!r} has "
            "other streams; the emg8 and gestures profiles serve more as several EMG streams"
        )
    else:
        new = emg_streams(channels, rate_hz, sio1.ENCODINGS[enc] if enc else s0.enc)
    rates = tuple(sorted(set(prof.rates) | {rate_hz}))
    return replace(
        prof,
        device=device_name(prof.device, s0.channels, channels),
        streams=new + prof.streams[1:],
        rates=rates,
    )


def device_name(device: str, profile_channels: int, channels: int) -> str:
    """A profile's device name for another channel count: "sensorio-emu EMG8" with 64
    channels is "sensorio-emu EMG64"; a name without its count gets it appended."""
    if channels == profile_channels:
        return device
    counted = re.sub(rf"(?<=EMG){profile_channels}\b", str(channels), device)
    return counted if counted != device else f"{device}, {channels} channels"


__all__ = [
    "MAX_EMG_CHANNELS",
    "SIO_STREAM_CHANNELS",
    "emg_streams",
    "DeviceProfile",
    "PROFILES",
    "StreamProfile",
    "emg_stream",
    "resolve_profile",
    "ADS1299_UV_PER_COUNT_G24",
]
