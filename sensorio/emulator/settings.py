"""What the emulated electrodes pick up: the signal settings, one
definition for the emulator, ``sim://`` query parameters and the flags of
``sensorio emulate`` (this module is light to import: no scipy)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError
from ..faultkinds import check_mains_hz

#: layouts of the electrodes, each with its own EMG spectrum (see signals.EMG_SPECTRA)
LAYOUTS = ("bipolar", "monopolar")

#: the additive terms' values for synthetic EMG; with a source they are 0
#: unless set (a source plays exactly as given)
ADDITIVE_DEFAULTS = {
    "mains_uv": 3.0,
    "drift_uv": 60.0,
    "gain_drift": 0.03,
    "noise_uv": 1.0,
    "offset_uv": 300.0,
}

#: one line of help per signal setting (the command line's flags come from it)
SIGNAL_HELP = {
    "rest_uv": "EMG RMS at rest, uV (default 5)",
    "contraction_uv": "EMG RMS at full contraction, uV (default 250)",
    "rest_s": "mean seconds of rest in the activity schedule (default 2.5)",
    "contraction_s": "mean seconds of contraction in the activity schedule (default 1.5)",
    "mains_hz": "mains frequency, 50 or 60 (0: none; default 50)",
    "mains_uv": "mains hum RMS, uV (default 3; 0 with --source)",
    "drift_uv": "slow baseline drift amplitude, uV (default 60; 0 with --source)",
    "gain_drift": "slow gain drift as a fraction, 0.03 = +-3 %% (default 0.03; 0 with --source)",
    "noise_uv": "amplifier noise RMS, uV (default 1; 0 with --source)",
    "offset_uv": "electrode DC offsets drawn in +-this, uV (default 300; 0 with --source)",
    "layout": "electrode layout, its EMG spectrum: bipolar (default) or monopolar",
    "source": "play this instead of synthetic EMG: a .npy file (samples x channels, uV) "
    "or a sensorio recording (its EMG stream, resampled to the device's rate); "
    "played exactly unless additive terms are set",
}


@dataclass(frozen=True)
class SignalConfig:
    """What the emulated electrodes pick up. Amplitudes are RMS in uV.

    The additive terms (mains_uv, drift_uv, gain_drift, noise_uv, offset_uv)
    left at None take ADDITIVE_DEFAULTS for synthetic EMG and 0 when a source
    is given, so that a source plays exactly as given unless asked otherwise."""

    rest_uv: float = 5.0
    contraction_uv: float = 250.0
    #: mean seconds of rest and of contraction in the activity schedule
    rest_s: float = 2.5
    contraction_s: float = 1.5
    mains_hz: float = 50.0
    mains_uv: float | None = None
    drift_uv: float | None = None
    #: slow gain drift, as a fraction (0.03 = +-3 %)
    gain_drift: float | None = None
    noise_uv: float | None = None
    #: electrode DC offsets are drawn in +-offset_uv
    offset_uv: float | None = None
    #: electrode layout: "bipolar" or "monopolar" (the synthetic EMG's spectrum)
    layout: str = "bipolar"
    #: optional signal used instead of synthetic EMG: a .npy file (samples x
    #: channels, uV, taken at the device's rate) or a sensorio recording
    #: (its EMG stream, calibrated and resampled to the device's rate)
    source: str | None = None

    def __post_init__(self) -> None:
        if self.source is not None and not str(self.source).strip():
            # (it fell back to synthetic EMG, offsets and drift on, without a word)
            raise UsageError("signal source: give a file (a .npy array or a recording), not an empty name")
        if self.layout not in LAYOUTS:
            raise UsageError(f"layout {self.layout!r}: use one of {', '.join(LAYOUTS)}")
        try:
            check_mains_hz(self.mains_hz, none=True)
        except ValueError as exc:
            raise UsageError(f"mains_hz: {exc}") from None

    def additive(self, name: str) -> float:
        """The value in force of an additive term (see the class text)."""
        value = getattr(self, name)
        if value is not None:
            return float(value)
        return 0.0 if self.source else ADDITIVE_DEFAULTS[name]
