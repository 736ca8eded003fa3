"""The fault vocabulary: the kinds the emulator injects, the kinds the
detectors report, and which detected kind stands for which injected one.

The emulator names a fault by its cause (``liftoff``: the electrode came
off); the detectors name what they see in the signal (``leadoff``: the
amplifier's lead-off state, ``flat``: a channel with no signal). Every
comparison of the two (the demo's summary, ``sensorio.dsp.scoring``, the
test tools) goes through :data:`TRUTH_OF` and :func:`matches`.
"""

from __future__ import annotations

#: the sensor faults the emulator injects (``--fault KIND:...``; ground-truth ``kind``)
EMULATED_KINDS = ("liftoff", "saturation", "spikes", "motion", "stuck", "noise", "mains", "drift")
#: the emulated kinds a random fault schedule draws from
RANDOM_KINDS = EMULATED_KINDS[:6]

#: the kinds the fault detector (sensorio.dsp.faults) reports, in the order it reports them
DETECTED_KINDS = ("leadoff", "saturation", "stuck", "flat", "spikes", "motion", "noise", "mains", "ramp", "dropout")
#: the kinds the drift monitor (sensorio.dsp.drift) reports
DRIFT_KINDS = ("baseline_near_rail", "gain_drift", "recalibrate")

#: detected kind -> the emulated kind it stands for (detected kinds not listed,
#: e.g. dropout, gain_drift, recalibrate, stand for no injected sensor fault)
TRUTH_OF = {
    "leadoff": "liftoff",
    "flat": "liftoff",
    "saturation": "saturation",
    "stuck": "stuck",
    "spikes": "spikes",
    "motion": "motion",
    "noise": "noise",
    "mains": "mains",
    # a motion event whose baseline runs on in a straight line (its kind at close, or a second on)
    "ramp": "drift",
    "baseline_near_rail": "drift",
}

#: emulated kind -> the detected kind that reports it first and foremost
DETECTED_AS = {
    "liftoff": "leadoff",
    "saturation": "saturation",
    "spikes": "spikes",
    "motion": "motion",
    "stuck": "stuck",
    "noise": "noise",
    "mains": "mains",
    "drift": "baseline_near_rail",
}


def matches(detected: str, emulated: str) -> bool:
    """Whether a detected kind reports an injected (emulated) kind."""
    return TRUTH_OF.get(detected) == emulated


#: the mains frequencies (Hz): the world's grids run at 50 or 60 Hz, and these
#: are the only families the mains detection looks for (the notch's
#: detect_mains, the fault detector's mains test), so the emulator's hum
#: takes one of them too: a 55 Hz hum would be found as something else
MAINS_HZ = (50.0, 60.0)


def check_mains_hz(hz: float | str, *, none: bool = False) -> float:
    """``hz`` as a float if it is one of MAINS_HZ (or 0, no mains at all, with
    ``none``); else ValueError, one line naming the values allowed."""
    value = float(hz)
    if value in MAINS_HZ or (none and value == 0.0):
        return value
    allowed = " or ".join(f"{f:g}" for f in MAINS_HZ)
    raise ValueError(f"mains is {allowed} Hz{' (0: none)' if none else ''}, not {value:g}")
