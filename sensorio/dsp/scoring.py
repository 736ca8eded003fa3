"""Score detected fault events against a ground truth (the emulator's
``--truth`` log, or synthetic faults): precision, recall and detection delay
per fault kind.

Rules. A true fault is *found* when an event of the matching kind on the same
channel overlaps it (with ``slack_s`` either side), and found *in time* when
that event's ``detected_s`` is at most ``deadline_s`` after the fault's
onset (for spikes, the first spike). A detected event is *correct* when it
overlaps a true fault of the matching kind on its channel. Recall counts
faults found in time; precision counts correct events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: detector kind -> ground-truth kind (the emulator's names)
KIND_MAP = {
    "leadoff": "liftoff",
    "flat": "liftoff",
    "saturation": "saturation",
    "stuck": "stuck",
    "spikes": "spikes",
    "motion": "motion",
    "noise": "noise",
}
TRUTH_KINDS = ("liftoff", "saturation", "spikes", "motion", "stuck", "noise")


@dataclass
class Truth:
    kind: str
    channel: int
    start_s: float
    end_s: float
    stream: int = 0
    onset_s: float | None = None  # when the fault first shows (first spike)

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Truth:
        times = rec.get("times_s") or []
        return cls(str(rec["kind"]), int(rec["channel"]), float(rec["start_s"]), float(rec["end_s"]),
                   int(rec.get("stream", 0)), float(min(times)) if times else None)

    @property
    def onset(self) -> float:
        return self.onset_s if self.onset_s is not None else self.start_s


@dataclass
class KindScore:
    faults: int = 0
    found: int = 0
    in_time: int = 0
    events: int = 0
    correct: int = 0
    delays: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.in_time / self.faults if self.faults else float("nan")

    @property
    def precision(self) -> float:
        return self.correct / self.events if self.events else float("nan")

    def add(self, other: KindScore) -> None:
        self.faults += other.faults
        self.found += other.found
        self.in_time += other.in_time
        self.events += other.events
        self.correct += other.correct
        self.delays.extend(other.delays)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> bool:
    return a0 <= b1 and b0 <= a1


def score(truth: Iterable[Truth], events: Iterable[Any], *, stream: int = 0, slack_s: float = 0.1,
          deadline_s: float = 0.25) -> tuple[dict[str, KindScore], list[Any]]:
    """Per truth kind scores, and the events that matched no fault at all
    (false events; includes kinds outside KIND_MAP such as mains)."""
    faults = [t for t in truth if t.stream == stream]
    evs = [e for e in events if e.stream == stream and e.kind != "dropout"]
    out = {k: KindScore() for k in TRUTH_KINDS}
    for t in faults:
        ks = out.setdefault(t.kind, KindScore())
        ks.faults += 1
        hits = [e for e in evs if KIND_MAP.get(e.kind) == t.kind and e.channel == t.channel
                and _overlap(e.start_s, e.end_s if e.end_s is not None else 1e18,
                             t.start_s - slack_s, t.end_s + slack_s)]
        if hits:
            ks.found += 1
            delay = min((e.detected_s if e.detected_s is not None else e.start_s) for e in hits) - t.onset
            ks.delays.append(delay)
            if delay <= deadline_s:
                ks.in_time += 1
    false = []
    for e in evs:
        kind = KIND_MAP.get(e.kind)
        end = e.end_s if e.end_s is not None else 1e18
        match = any(t.channel == e.channel and t.kind == kind
                    and _overlap(e.start_s, end, t.start_s - slack_s, t.end_s + slack_s) for t in faults)
        if kind is not None:
            ks = out.setdefault(kind, KindScore())
            ks.events += 1
            ks.correct += int(match)
        if not match:
            false.append(e)
    return out, false
