"""Emulator options, one definition for ``sensorio emulate`` and ``sim://``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

from ..descriptor import ElectrodeGrid
from ..errors import UsageError
from ..faultkinds import check_mains_hz
from ..numbers import parse_integer, parse_number
from .faults import SensorFault, parse_fault, random_faults
from .gestures import OPTION_NAMES as GESTURE_OPTIONS
from .gestures import GestureConfig, gesture_config
from .link import LinkFault, parse_link_fault
from .profiles import PROFILES, DeviceProfile, resolve_profile
from .settings import SignalConfig

FORMATS = ("sio", "cyton", "ascii")


@dataclass
class EmulatorConfig:
    """Everything that defines an emulated device run: format, device profile and
    its overrides, seed, signal model, sensor and link faults, duration and pace.

    Built by :func:`config_from_options` from ``sensorio emulate``'s options or a
    ``sim://`` URL's query. Fault channels in ``faults`` count from 0 (the
    ``channel=N`` people type counts from 1 and is converted when parsed)."""

    format: str = "sio"
    profile: str | None = None
    channels: int | None = None
    rate: float | None = None
    enc: str | None = None
    seed: int = 0
    serial: str | None = None
    signal: SignalConfig = field(default_factory=SignalConfig)
    faults: list[SensorFault] = field(default_factory=list)
    link: list[LinkFault] = field(default_factory=list)
    #: random sensor faults drawn from the seed, within the first `duration` s
    random_faults: int = 0
    #: device seconds after which the device stops streaming (None = never)
    duration: float | None = None
    #: 1.0 = real time; 0 = as fast as the reader takes it
    speed: float = 1.0
    #: start streaming without waiting for START / b (SIO-1 and Cyton wait by default)
    autostart: bool | None = None
    #: put every frame's samples in the ground truth
    truth_codes: bool = False
    #: ASCII: Serial Plotter labels, leading sample counter
    labels: bool = False
    counter: bool = False
    #: the wearer performs gestures (the ``gestures`` profile, or any gesture option)
    gestures: GestureConfig | None = None
    #: the EMG electrodes' grid, which the INFO gives: (rows, cols), the
    #: channels row by row, or the cell of each channel (profiles.with_grid)
    grid: tuple[int, int] | ElectrodeGrid | None = None

    def device_profile(self) -> DeviceProfile:
        """The device profile to emulate: the named ``profile`` (the format's default
        when None) with stream 0's channels, rate and encoding overridden where set.

        Raises:
            UsageError: unknown profile, a format it does not speak, or overrides
                it cannot take."""
        return resolve_profile(
            self.profile, self.format, channels=self.channels, rate_hz=self.rate, enc=self.enc, grid=self.grid
        )

    def all_faults(self, profile: DeviceProfile) -> list[SensorFault]:
        """The sensor faults to inject on ``profile``: the given ones, then
        ``random_faults`` more drawn from the seed within the duration (30 s if none)."""
        extra = (
            random_faults(self.random_faults, self.seed, list(profile.streams), self.duration or 30.0)
            if self.random_faults
            else []
        )
        return list(self.faults) + extra

    def serial_number(self) -> str:
        """The device serial: ``serial`` if given, else ``EMU-<FORMAT>-<seed>`` (seed in four digits)."""
        return self.serial or f"EMU-{self.format.upper()}-{self.seed:04d}"


def parse_grid(text: str) -> tuple[int, int]:
    """ROWSxCOLS (such as 8x8) as (rows, cols)."""
    rows, x, cols = text.strip().lower().partition("x")
    if not x:
        raise ValueError("give the electrode grid as ROWSxCOLS, such as 8x8")
    return parse_integer(rows, minimum=1), parse_integer(cols, minimum=1)


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on", ""):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"{text!r} is not a yes/no value")


_SIGNAL_KEYS = {f.name for f in fields(SignalConfig)}
#: signal settings that take text, not a number
_SIGNAL_TEXT = {"source", "layout"}
#: every option name ``config_from_options`` takes (sim:// query parameters;
#: ``sensorio emulate`` has a flag for each, with dashes), besides the
#: transports' own (``truth``)
OPTION_NAMES = (
    "format",
    "profile",
    "channels",
    "rate",
    "enc",
    "seed",
    "serial",
    "fault",
    "link",
    "random_faults",
    "duration",
    "speed",
    "fast",
    "autostart",
    "truth_codes",
    "labels",
    "counter",
    "grid",
    *(f.name for f in fields(SignalConfig)),
    *GESTURE_OPTIONS,
)


#: random faults at most: more than one per second over a quarter of an hour
MAX_RANDOM_FAULTS = 1000
#: largest signal amplitude, uV: 1 V, beyond any EMG front end's input range
#: (larger ones only overflow the arithmetic on their way to the rails)
MAX_AMPLITUDE_UV = 1e6


def _signal_maximum(key: str) -> float | None:
    if key.endswith("_uv"):
        return MAX_AMPLITUDE_UV
    if key == "gain_drift":
        return 1.0  # a fraction: +-100 %
    return None


#: the options that may be given more than once (each adds one)
REPEATABLE_OPTIONS = ("fault", "link")


def config_from_options(options: Mapping[str, Sequence[str]]) -> EmulatorConfig:
    """Build a config from ``name -> [values]`` (URL query or CLI), names as in
    ``sensorio emulate --help`` with dashes or underscores; ``fault`` and
    ``link`` may repeat; signal options (``mains_hz``, ``contraction_uv``...)
    set the SignalConfig."""
    cfg = EmulatorConfig()
    signal: dict[str, object] = {}
    gesture_opts: dict[str, str] = {}
    given: dict[str, str] = {}
    for raw_key, values in options.items():
        key = raw_key.replace("-", "_")
        if not values:
            continue
        if key not in REPEATABLE_OPTIONS:
            # one value each: the last of two would win without a word
            twice = given.get(key)
            if len(values) > 1 or twice is not None:
                named = f"{twice} and {raw_key}" if twice is not None and twice != raw_key else repr(raw_key)
                raise UsageError(f"emulator option {named} given more than once: give it once")
            given[key] = raw_key
        value = values[-1]
        try:
            if key == "format":
                if value not in FORMATS:
                    raise UsageError(f"unknown emulator format {value!r}: use one of {', '.join(FORMATS)}")
                cfg.format = value
            elif key == "profile":
                cfg.profile = value
            elif key == "channels":
                cfg.channels = parse_integer(value, minimum=1)
            elif key == "random_faults":
                cfg.random_faults = parse_integer(value, minimum=0, maximum=MAX_RANDOM_FAULTS)
            elif key == "seed":
                cfg.seed = parse_integer(value, minimum=0)
            elif key in ("rate", "duration"):
                setattr(cfg, key, parse_number(value, minimum=0, above=True))
            elif key == "speed":
                cfg.speed = parse_number(value, minimum=0)
            elif key == "fast":
                if _bool(value):
                    cfg.speed = 0.0
            elif key in ("enc", "serial"):
                setattr(cfg, key, value)
            elif key in ("autostart", "truth_codes", "labels", "counter"):
                setattr(cfg, key, _bool(value))
            elif key == "grid":
                cfg.grid = parse_grid(value)
            elif key == "fault":
                cfg.faults += [parse_fault(v) for v in values]
            elif key == "link":
                cfg.link += [parse_link_fault(v) for v in values]
            elif key in GESTURE_OPTIONS:
                gesture_opts[key] = value
            elif key in _SIGNAL_TEXT:
                signal[key] = value
            elif key == "mains_hz":  # (SignalConfig's rule, said with the option as given)
                signal[key] = check_mains_hz(parse_number(value), none=True)
            elif key in _SIGNAL_KEYS:
                signal[key] = parse_number(value, minimum=0, maximum=_signal_maximum(key))
            else:
                raise UsageError(f"unknown emulator option {raw_key!r}")
        except ValueError as exc:
            raise UsageError(f"emulator option {raw_key}={value!r}: {exc}") from None
    if {"fast", "speed"} <= given.keys():  # both set the pace: the last read would win
        raise UsageError(f"emulator options {given['fast']} and {given['speed']} both set the pace: give one")
    if cfg.duration is not None:
        # a fault due when the device has stopped never happens, and nothing said so
        late = [f"fault {f.kind} starts at {f.start_s:g} s" for f in cfg.faults if f.start_s >= cfg.duration]
        late += [f"link fault {f.kind} comes at {f.at:g} s" for f in cfg.link if f.at >= cfg.duration]
        if late:
            raise UsageError(
                f"{late[0]}, when the device has stopped (duration {cfg.duration:g} s): it would never happen"
            )
    if signal:
        cfg.signal = SignalConfig(**signal)  # type: ignore[arg-type]
    if not any(k.replace("-", "_") == "format" and v for k, v in options.items()):
        # a profile that does not speak sio (a Cyton) speaks its own format
        # unless told otherwise: "use it with --format cyton" could not be
        # followed where the format is given apart (train, record of sim://cyton)
        own = PROFILES.get(cfg.profile or "")
        if own is not None and "sio" not in own.formats:
            cfg.format = own.formats[0]
    profile = cfg.device_profile()  # validate the profile options now
    if gesture_opts or profile.gestures:
        if not any(st.kind == "emg" for st in profile.streams):
            raise UsageError(f"profile {profile.name!r} has no EMG stream to perform gestures on")
        cfg.gestures = gesture_config(gesture_opts)
    return cfg
