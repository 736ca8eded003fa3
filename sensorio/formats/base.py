"""The wire formats built into the frame engine (SIO-1, Cyton, ASCII lines)
and the Format classes, spec formats' included (compiled in spec.py); see
the package's ``resolve()`` for choosing one by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._binding import lib
from ..descriptor import channel_labels
from ..errors import FormatError

#: Block.encoding of a block whose samples are float32 values (ASCII lines
#: with decimals, f32 channels of a spec); Parser gives them as float32.
ENC_F32 = lib.SIO_ENC_F32
#: Block.encoding of plain int32 codes
ENC_INT = lib.SIO_ENC_INT

BOARDS_DIR = Path(__file__).resolve().parent / "boards"


def stream_info(
    id: int,
    name: str,
    channels: int | None,
    rate_hz: float | None,
    enc: int,
    unit: str,
    scale: float,
    zero: float,
    min_code: float | None,
    max_code: float | None,
    labels: list[str] | None = None,
) -> dict[str, Any]:
    """One stream of an INFO-style descriptor (keys as in PROTOCOL.md)."""
    info: dict[str, Any] = {
        "id": id,
        "name": name,
        "channels": channels,
        "rate_hz": rate_hz,
        "enc": enc,
        "unit": unit,
        "scale": scale,
        "zero": zero,
        "min_code": min_code,
        "max_code": max_code,
    }
    if labels is not None:
        info["labels"] = list(labels)
    return info


@dataclass(frozen=True)
class Format:
    """A resolved format: its name and how to set up a C parser for it."""

    name: str
    c_id: int
    #: unit of Block.frame_t_us for this format: "us" for device clocks in
    #: microseconds, "frames" for an unwrapped frame counter or frame index
    time_unit: str = "us"
    #: the frame counter wraps at this value (0 = no counter)
    seq_modulus: int = 65536
    #: Block.frame_t_us wraps at this value: SIO-1's 32-bit µs clock, a
    #: spec's ``[timestamp]`` field at its width (a u16 of ms turns in 65.5
    #: s); a frame count the parser unwraps does not, at any length a
    #: recording reaches, whatever this says
    clock_modulus: int = 1 << 32
    #: what a device of this format needs to hear before it streams (None:
    #: it streams on its own); a spec's ``start_command``
    start_command: str | None = None

    def init_parser(self, parser_ptr: Any) -> None:
        """Set up the C parser at ``parser_ptr`` (a ``sio_parser *``) for this format.

        Raises:
            FormatError: the C core does not know the format."""
        if lib.sio_parser_init(parser_ptr, self.c_id) != 0:
            raise FormatError(f"format {self.name!r}: the C core does not know it")

    def descriptor(self) -> dict[str, Any] | None:
        """INFO-style descriptor of the streams, or None when the device
        sends its own (SIO-1)."""
        return None

    def time_scale_us(self) -> float | None:
        """Microseconds per unit of Block.frame_t_us: 1 for a device clock in
        µs; for a frame count, one period of the fastest stream of
        descriptor() (the stream sent in every frame); None when unknown."""
        scale = _TIME_UNITS_US.get(self.time_unit)
        if scale is not None or self.time_unit != "frames":
            return scale
        streams = [s for s in (self.descriptor() or {}).get("streams", []) if isinstance(s, dict)]
        rates = [float(r) for s in streams if isinstance(r := s.get("rate_hz"), (int, float)) and 0 < r < float("inf")]
        return 1e6 / max(rates) if rates else None

    @property
    def counts_lost_frames(self) -> bool:
        """True when the format has a frame counter, by which the parser counts
        lost frames (SIO-1, Cyton, a spec with ``[counter]``); without one
        (ASCII lines, a spec without it) ``Stats.lost_frames`` stays 0
        whatever was lost. The commands then say "frames lost: not counted"
        and their JSON ``"lost_frames_counted": false``."""
        return self.seq_modulus != 0

    def checks_frames(self) -> bool:
        """True when every frame carries a check that a flipped bit fails (SIO-1's
        CRC-16, a spec's CRC): a recording's damaged record may then be handed to
        the parser, which drops the frames the damage hit. Cyton and ASCII
        frames carry none: a flipped bit there is a wrong sample."""
        return True

    def counter_period_us(self) -> float | None:
        """Microseconds per step of a frame counter that stands in for a
        clock (frame times counted in frames by a counter that wraps: a
        Cyton's 8 bits turn in 1.024 s at 250 Hz), with which host read
        times tell when a gap may hide whole turns of it; None otherwise."""
        if self.time_unit != "frames" or not self.seq_modulus:
            return None
        return self.time_scale_us()


#: microseconds per unit of a device clock, by Format.time_unit
_TIME_UNITS_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}


#: OpenBCI's ADS1299 reference: 4.5 V full scale, 24-bit two's complement
CYTON_VREF = 4.5
#: LIS3DH accelerometer at +-4 g, left-justified 12 bits: g per count
CYTON_ACCEL_SCALE = 0.002 / 16


@dataclass(frozen=True)
class CytonFormat(Format):
    """OpenBCI Cyton: 8 EEG/EMG channels at 250 Hz (stream 0, int24 codes)
    and its accelerometer (stream 1, int16 codes, when the board sends it)."""

    def checks_frames(self) -> bool:
        """False: a Cyton packet has no checksum (see Format.checks_frames)."""
        return False

    name: str = "cyton"
    c_id: int = lib.SIO_FMT_CYTON
    time_unit: str = "frames"
    seq_modulus: int = 256
    start_command: str | None = "b"
    #: programmable gain of the ADS1299 channels (1, 2, 4, 6, 8, 12 or 24)
    gain: int = 24
    rate_hz: float = 250.0

    def __post_init__(self) -> None:
        if self.gain not in (1, 2, 4, 6, 8, 12, 24):
            raise FormatError(f"cyton gain {self.gain!r}: the ADS1299 has 1, 2, 4, 6, 8, 12 or 24")

    @property
    def scale_uv(self) -> float:
        """Microvolts per count: 4.5 V / gain / (2^23 - 1)."""
        return CYTON_VREF / self.gain / (2**23 - 1) * 1e6

    def descriptor(self) -> dict[str, Any]:
        return {
            "device": "OpenBCI Cyton",
            "manufacturer": "OpenBCI",
            "serial": None,
            "fw": None,
            "streams": [
                stream_info(
                    0,
                    "eeg",
                    8,
                    self.rate_hz,
                    lib.SIO1_ENC_I24,
                    "uV",
                    self.scale_uv,
                    0,
                    -(2**23),
                    2**23 - 1,
                    list(channel_labels(None, 8)),
                ),
                stream_info(
                    1,
                    "accel",
                    3,
                    self.rate_hz / 10,
                    lib.SIO1_ENC_I16,
                    "g",
                    CYTON_ACCEL_SCALE,
                    0,
                    -(2**15),
                    2**15 - 1,
                    ["x", "y", "z"],
                ),
            ],
        }


@dataclass(frozen=True)
class AsciiFormat(Format):
    """Text lines of numbers (``512,498,503``, tab or space separated, or
    Serial Plotter ``a:512 b:498``), one row per line on stream 0.

    channels=0 learns the count from the first two lines that agree. Every
    line gives float32 samples, integers and decimals alike, so a device that
    mixes them is one signal (integers beyond 2^24 round to float32). The
    remaining fields only feed descriptor() (there is no INFO on the wire).
    """

    def checks_frames(self) -> bool:
        """False: a line of text has no check (see Format.checks_frames)."""
        return False

    name: str = "ascii"
    c_id: int = lib.SIO_FMT_ASCII
    time_unit: str = "frames"
    seq_modulus: int = 0
    channels: int = 0
    max_line: int = 1024
    rate_hz: float | None = None
    unit: str = ""
    scale: float = 1.0
    zero: float = 0.0
    min_code: float | None = None
    max_code: float | None = None
    labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.channels <= 256:
            raise FormatError(f"ascii channels {self.channels}: must be 0 (learn) to 256")
        if not 2 <= self.max_line <= lib.SIO_ASCII_MAX_LINE:
            raise FormatError(f"ascii max_line {self.max_line}: must be 2 to {lib.SIO_ASCII_MAX_LINE}")

    def init_parser(self, parser_ptr: Any) -> None:
        """Set up the C parser for ASCII lines with this channel count (0: learnt
        from the first lines) and line length limit (FormatError if refused)."""
        super().init_parser(parser_ptr)
        if lib.sio_fmt_ascii_configure(parser_ptr, self.channels, self.max_line) != 0:
            raise FormatError(f"ascii format: the C core refused channels={self.channels}")

    def descriptor(self) -> dict[str, Any]:
        return {
            "device": "ASCII lines",
            "serial": None,
            "fw": None,
            "streams": [
                stream_info(
                    0,
                    "ascii",
                    self.channels or None,
                    self.rate_hz,
                    ENC_F32,
                    self.unit,
                    self.scale,
                    self.zero,
                    self.min_code,
                    self.max_code,
                    list(self.labels) if self.labels else None,
                ),
            ],
        }


@dataclass(frozen=True)
class SpecFormat(Format):
    """A declarative binary format compiled from a TOML spec (see spec.py)."""

    name: str = "spec"
    c_id: int = lib.SIO_FMT_SPEC
    time_unit: str = "frames"
    seq_modulus: int = 0
    #: the compiled C descriptor (sio_spec), shared read-only by parsers
    c_spec: Any = field(default=None, compare=False, repr=False)
    info: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    source: str = ""
    #: every stream has one row per frame (then a frame count ticks once a sample)
    one_row_frames: bool = True

    def time_scale_us(self) -> float | None:
        """As Format's; None for a frame count of frames of several rows (or
        "auto" rows), whose tick is no one sample period."""
        if self.time_unit == "frames" and not self.one_row_frames:
            return None
        return super().time_scale_us()

    def checks_frames(self) -> bool:
        """True for a spec whose frames end in a CRC (a sum or XOR is no
        check of the kind Format.checks_frames means)."""
        crcs = (lib.SIO_CK_CRC8, lib.SIO_CK_CRC16_CCITT, lib.SIO_CK_CRC16_MODBUS, lib.SIO_CK_CRC32)
        return self.c_spec is not None and int(self.c_spec.ck_kind) in crcs

    def init_parser(self, parser_ptr: Any) -> None:
        """Set up the C parser with this spec's compiled frame layout (FormatError if the C core rejects it)."""
        super().init_parser(parser_ptr)
        if lib.sio_fmt_spec_configure(parser_ptr, self.c_spec) != 0:
            raise FormatError(f"{self.source or self.name}: the C core rejected the compiled spec")

    def descriptor(self) -> dict[str, Any]:
        import copy

        return copy.deepcopy(self.info)


SIO = Format("sio", lib.SIO_FMT_SIO1, start_command="START")
CYTON = CytonFormat()
ASCII = AsciiFormat()
