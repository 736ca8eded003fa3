"""Score detected fault events against a ground truth (the emulator's
``--truth`` log, or synthetic faults): precision, recall and detection delay
per fault kind.

Rules. Faults overlap at random in the emulator: an additive fault (spikes,
motion, noise) under a code fault on the same channel (saturation, stuck,
liftoff replace the samples) cannot be seen there, so its onset is the first
moment it is not covered (for spikes, the first uncovered spike); one that is
covered throughout is *occluded* and not counted. Code faults cover each other
in the order the emulator applies them (saturation, then stuck, then liftoff
over both), with the same rule; a stuck fault that starts during a saturation
holds a rail code, so it is saturation in the signal (occluded, and it does
not cover that saturation either). A true fault is *found* when an event of the matching kind on the same
channel overlaps it (with ``slack_s`` either side), and found *in time* when
that event's ``detected_s`` is at most ``deadline_s`` after the fault's
onset (for spikes, the first spike; ``deadlines`` may give a kind its own).
A drift toward a rail is found in time when the warning comes before the
drift's end, the moment the baseline has gone its ``reach`` of the way to
the rail (a warning is worth something only before the rail). The drift
monitor's ``recalibrate`` advice follows another warning and is not scored
by itself. A detected event is *correct* when it
overlaps a true fault of the matching kind on its channel. Recall counts
faults found in time; precision counts correct events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..faultkinds import EMULATED_KINDS as TRUTH_KINDS
from ..faultkinds import TRUTH_OF as KIND_MAP  # detector kind -> ground-truth kind (the emulator's names)

#: kinds found in time when detected before the fault's end, whatever its length
DUE_AT_END = ("drift",)
#: events that are consequences of other events, never scored
NOT_SCORED = ("dropout", "recalibrate")


@dataclass
class TrueFault:
    """One injected fault of the ground truth (a record of the emulator's ``--truth`` log)."""

    kind: str
    channel: int
    start_s: float
    end_s: float
    stream: int = 0
    onset_s: float | None = None  # when the fault first shows (first spike)
    times_s: list[float] = field(default_factory=list)  # spike times

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> TrueFault:
        times = [float(x) for x in rec.get("times_s") or []]
        return cls(
            str(rec["kind"]),
            int(rec["channel"]),
            float(rec["start_s"]),
            float(rec["end_s"]),
            int(rec.get("stream", 0)),
            min(times) if times else None,
            times,
        )

    @property
    def onset(self) -> float:
        return self.onset_s if self.onset_s is not None else self.start_s


#: the old name of TrueFault (emulator.truth.Truth is the unrelated truth-log writer)
Truth = TrueFault

CODE_KINDS = ("saturation", "stuck", "liftoff")
#: the code faults that replace each code fault's samples (the emulator
#: applies saturation, then stuck, then liftoff)
CODE_COVER = {"saturation": ("stuck", "liftoff"), "stuck": ("liftoff",), "liftoff": ()}


def _visible_onset(t: TrueFault, cover: list[tuple[float, float]], spike_times: list[float]) -> float | None:
    """First moment of t not hidden under a code fault; None if never."""

    def covered(x: float) -> bool:
        return any(a <= x < b for a, b in cover)

    if spike_times:
        return next((x for x in sorted(spike_times) if not covered(x)), None)
    x = t.onset
    for a, b in sorted(cover):
        if a <= x < b:
            x = b
    return x if x < t.end_s else None


@dataclass
class KindScore:
    faults: int = 0
    occluded: int = 0
    found: int = 0
    in_time: int = 0
    events: int = 0
    correct: int = 0
    #: false events (events - correct) also raised on the same signal with
    #: no fault injected: the recording's own, which a clean run counts
    own: int = 0
    delays: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.in_time / self.faults if self.faults else float("nan")

    @property
    def precision(self) -> float:
        return self.correct / self.events if self.events else float("nan")

    @property
    def precision_injected(self) -> float:
        """Precision without the false events the signal raises on its own
        (own): how often an event is the injected fault or an echo of it."""
        n = self.events - self.own
        return self.correct / n if n else float("nan")

    def add(self, other: KindScore) -> None:
        self.faults += other.faults
        self.occluded += other.occluded
        self.found += other.found
        self.in_time += other.in_time
        self.events += other.events
        self.correct += other.correct
        self.own += other.own
        self.delays.extend(other.delays)


#: seconds either side of a fault (or an event) within which an event still matches it
SLACK_S = 0.1


@dataclass
class FaultOutcome:
    """How score() judged one true fault: occluded (never visible), missed
    (no event of its kind), or found ``delay_s`` after its visible onset,
    in time or late."""

    fault: TrueFault
    occluded: bool = False
    delay_s: float | None = None
    in_time: bool = False

    def describe(self) -> str:
        """One word and the delay: occluded, missed, found +D s or LATE +D s."""
        if self.occluded:
            return "occluded"
        if self.delay_s is None:
            return "MISSED"
        return f"{'found' if self.in_time else 'LATE'} {self.delay_s:+.3f} s"


def _overlap(a0: float, a1: float, b0: float, b1: float) -> bool:
    return a0 <= b1 and b0 <= a1


def same_event(a: Any, b: Any, slack_s: float = SLACK_S) -> bool:
    """Whether events a and b (DspEvent-like) are one: the same channel and
    kind, their spans overlapping within slack_s (an open end runs on)."""
    a_end = a.end_s if a.end_s is not None else 1e18
    b_end = b.end_s if b.end_s is not None else 1e18
    span = _overlap(a.start_s, a_end, b.start_s - slack_s, b_end + slack_s)
    return bool(a.channel == b.channel and a.kind == b.kind and span)


def score(
    truth: Iterable[TrueFault],
    events: Iterable[Any],
    *,
    stream: int = 0,
    slack_s: float = SLACK_S,
    deadline_s: float = 0.25,
    deadlines: Mapping[str, float] | None = None,
    outcomes: list[FaultOutcome] | None = None,
) -> tuple[dict[str, KindScore], list[Any]]:
    """Per truth kind scores, and the events that matched no fault at all
    (false events; includes kinds outside KIND_MAP such as gain_drift).
    outcomes, when given, gets each true fault's FaultOutcome, in order."""
    judged: list[FaultOutcome] = outcomes if outcomes is not None else []
    faults = [t for t in truth if t.stream == stream]
    evs = [e for e in events if e.stream == stream and e.kind not in NOT_SCORED]
    per_kind = dict(deadlines or {})
    out = {k: KindScore() for k in TRUTH_KINDS}

    def at_rail(s: TrueFault) -> bool:
        return s.kind == "stuck" and any(
            c.kind == "saturation" and c.channel == s.channel and c.start_s <= s.start_s < c.end_s for c in faults
        )

    for t in faults:
        ks = out.setdefault(t.kind, KindScore())
        if at_rail(t):
            ks.occluded += 1
            judged.append(FaultOutcome(t, occluded=True))
            continue
        covering = CODE_COVER.get(t.kind, CODE_KINDS)
        cover = [
            (c.start_s, c.end_s)
            for c in faults
            if c.kind in covering
            and c.channel == t.channel
            and c is not t
            and not (t.kind == "saturation" and at_rail(c))
        ]
        onset = _visible_onset(t, cover, t.times_s)
        if onset is None:
            ks.occluded += 1
            judged.append(FaultOutcome(t, occluded=True))
            continue
        ks.faults += 1
        hits = [
            e
            for e in evs
            if KIND_MAP.get(e.kind) == t.kind
            and e.channel == t.channel
            and _overlap(
                e.start_s,
                e.end_s if e.end_s is not None else 1e18,
                t.start_s - slack_s,
                t.end_s + slack_s,
            )
        ]
        if hits:
            ks.found += 1
            delay = min((e.detected_s if e.detected_s is not None else e.start_s) for e in hits) - onset
            ks.delays.append(delay)
            due = t.end_s - onset if t.kind in DUE_AT_END else per_kind.get(t.kind, deadline_s)
            if delay <= due:
                ks.in_time += 1
            judged.append(FaultOutcome(t, delay_s=delay, in_time=delay <= due))
        else:
            judged.append(FaultOutcome(t))
    false = []
    for e in evs:
        kind = KIND_MAP.get(e.kind)
        end = e.end_s if e.end_s is not None else 1e18
        match = any(
            t.channel == e.channel
            and t.kind == kind
            and _overlap(e.start_s, end, t.start_s - slack_s, t.end_s + slack_s)
            for t in faults
        )
        if kind is not None:
            ks = out.setdefault(kind, KindScore())
            ks.events += 1
            ks.correct += int(match)
        if not match:
            false.append(e)
    return out, false
