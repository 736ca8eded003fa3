"""Score sensorio's fault detection against ground truth over many seeds.

Source of truth: the emulator (sensorio.emulator.engine.render, its --truth
records) when it is installed, else the synthetic generator in
tests/dsp_synth.py (--source synthetic forces it). For each seed a recording
with random sensor faults is rendered, decoded and analysed with the default
pipeline; precision and recall (found within the deadline of onset) are
printed per fault kind, with detection delays. A clean run (no faults) gives
the false-event rate per channel-hour.

Usage: python3 tools/score_faults.py [--seeds 40] [--seconds 30] [--faults 8]
       [--clean-minutes 10] [--source emulator|synthetic] [--json]

Found within the deadline: --deadline (250 ms) of onset, a motion artifact
--motion-deadline (300 ms), as issue 13 sets them, in both modes.
Exit status 1 if any kind is below --target (default 0.95) or the clean rate
is 1 per channel-hour or more.

With ``--real`` it scores on real surface EMG instead (tools/real_emg.py; the
corpus is fetched into its cache first): every recording of the corpus, in
both layouts (monopolar, bipolar) and at 1, 2 and 4 kHz (``--rate`` picks
one), is played through the emulator as its signal source, exactly as
recorded. (a) clean: the whole recording, every channel: fault events per
channel-hour and the share of samples left valid; (b) faults injected into
the real signal, one of each kind (liftoff, saturation, stuck, spikes,
motion, noise, mains, drift toward a rail) per seed and recording, on
channels and at times drawn from the seed, never two on one channel at
once, amplitudes scaled to the channel's own RMS: precision and recall per
kind, onset within --deadline (motion --motion-deadline; a drift must be
warned of before the baseline gets 90 % of the way to the rail). A false
event that the same window raises with no fault injected is the
recording's own (its clean run counts such events per channel-hour): the
precision stays as scored, and is printed without those beside it.
``--gain G`` multiplies every recording by G first: the thresholds must
hold for muscles and electrodes that give more or less signal than these.
``--ecg UV`` adds a real ECG (MIT-BIH record 208, fetched like the
corpus), its median beat UV uV on one channel and 0.3-1 x that on the
others: electrodes over a trunk muscle pick up the heart, a physiological
signal that is not a fault.
``--quick`` is the short budget for CI (2 seeds, 20 s windows, at most 16
channels per clean recording), still every kind, layout and rate.
``--check`` exits 1 when a target is missed: clean, at most
--clean-max-per-hour events per channel-hour and at least --min-valid of the
samples valid on every recording at every rate; injected, precision and
recall at least --target per kind in each layout, or, for a kind named by
``--known-miss KIND=P,R`` (or ``KIND:LAYOUT=P,R``, one layout's), at least those floors (what CI holds the known
misses to, so that they cannot get worse unseen); likewise
``--known-clean-miss NAME=PER_HOUR,VALID`` for one recording's clean figures
and ``--known-real-miss NAME=FOUND`` for the share of channels on which a
recording's real fault is found (NAME: ``name:layout``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path
from typing import cast

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sensorio import Parser  # noqa: E402
from sensorio.descriptor import ElectrodeGrid  # noqa: E402
from sensorio.dsp.analyze import analyze_blocks  # noqa: E402
from sensorio.dsp.faults import FaultDetector  # noqa: E402
from sensorio.dsp.scoring import (  # noqa: E402
    KIND_MAP,
    TRUTH_KINDS,
    FaultOutcome,
    KindScore,
    Truth,
    same_event,
    score,
)
from sensorio.errors import SensorioError  # noqa: E402


def have_emulator() -> bool:
    try:
        import sensorio.emulator.engine  # noqa: F401
    except ImportError:
        return False
    return True


def render_emulator(
    seed: int, seconds: float, n_faults: int, rate: float | None = None, layout: str | None = None
) -> tuple[bytes, list[Truth]]:
    from sensorio.emulator.config import EmulatorConfig
    from sensorio.emulator.engine import render
    from sensorio.emulator.settings import SignalConfig

    data, truth = render(
        EmulatorConfig(
            seed=seed,
            random_faults=n_faults,
            duration=seconds,
            autostart=True,
            rate=rate,
            signal=SignalConfig(layout=layout or "bipolar"),
        )
    )
    faults = [Truth.from_record(r) for r in truth.records if r.get("type") == "fault"]
    return data, faults


def render_synthetic(
    seed: int, seconds: float, n_faults: int, rate: float | None = None, layout: str | None = None
) -> tuple[bytes, list[Truth]]:
    sys.path.insert(0, str(ROOT / "tests"))
    import dsp_synth

    data, _info, faults, _ = dsp_synth.recording(seconds, 8, rate or 2000.0, seed=seed, n_faults=n_faults)
    return data, [
        Truth(
            f.kind,
            f.channel,
            f.start_s,
            f.end_s,
            onset_s=min(f.times_s) if f.times_s else None,
            times_s=list(f.times_s),
        )
        for f in faults
    ]


def analyse(data: bytes, params: dict | None = None):
    parser = Parser()
    info = None
    blocks = []
    for i in range(0, len(data), 1 << 20):
        parser.feed(data[i : i + (1 << 20)])
        blocks.extend(parser.read())
        for m in parser.read_messages():
            if m.kind == "info" and info is None:
                info = json.loads(m.text)
    config = None
    if params:
        from sensorio.dsp.stages import Pipeline

        desc = Pipeline.default(info).describe()
        for st in desc["stage"]:
            if st["type"] == "faults":
                st.update(params)
        config = desc
    return analyze_blocks(blocks, info, config=config, calibration_dir=str(ROOT / ".no-calibration"))


# -- real EMG ------------------------------------------------------------------------------

#: fault amplitudes as multiples of the channel's own RMS (uniform in the range)
REAL_AMPLITUDE = {
    "spikes": (10.0, 30.0),
    "motion": (4.0, 12.0),
    "noise": (1.0, 3.0),
    "mains": (1.0, 3.0),
}
#: the shortest window of a real recording that holds one fault of each kind
#: on a single channel (up to 1 s each, 0.3 s apart, and a drift over the
#: last 30-40 %)
REAL_MIN_SECONDS = 20.0
REAL_KINDS = ("liftoff", "saturation", "stuck", "spikes", "motion", "noise", "mains", "drift")


def render_source(
    uv: np.ndarray, rate: float, seed: int, faults: list | None = None, grid: ElectrodeGrid | None = None
) -> tuple[bytes, list[Truth]]:
    """Play uv (samples x channels, microvolts) through an emulated emg8
    device at rate, with these sensor faults, its INFO giving the electrode
    grid when there is one; the bytes and the true faults."""
    import tempfile

    from sensorio.emulator.config import EmulatorConfig
    from sensorio.emulator.engine import render
    from sensorio.emulator.settings import SignalConfig

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "source.npy"
        np.save(path, np.ascontiguousarray(uv, dtype=np.float64))
        cfg = EmulatorConfig(
            profile="emg8",
            channels=uv.shape[1],
            rate=rate,
            seed=seed,
            duration=uv.shape[0] / rate,
            autostart=True,
            faults=list(faults or []),
            signal=SignalConfig(source=str(path)),
            grid=grid,
        )
        data, truth = render(cfg)
    return data, [Truth.from_record(r) for r in truth.records if r.get("type") == "fault"]


def real_faults(rng: np.random.Generator, uv: np.ndarray, seconds: float) -> list:
    """One fault of each kind on channels and at times drawn from rng, never
    two on one channel at once (0.3 s apart at least); the drift ends with
    the window. Amplitudes are multiples of the channel's RMS."""
    from sensorio.emulator.faults import DEFAULTS, SensorFault

    n_ch = uv.shape[1]
    rms = np.sqrt(np.mean((uv - uv.mean(axis=0)) ** 2, axis=0))
    busy: dict[int, list[tuple[float, float]]] = {c: [] for c in range(n_ch)}
    out = []
    drift_s = float(rng.uniform(0.3, 0.4)) * seconds
    c = int(rng.integers(n_ch))
    busy[c].append((seconds - drift_s, seconds))
    drift = {"to": "high" if rng.random() < 0.5 else "low", "reach": 0.9}
    out.append(SensorFault("drift", c, round(seconds - drift_s, 3), seconds, 0, drift))
    for kind in REAL_KINDS:
        if kind == "drift":
            continue
        for _try in range(200):
            c = int(rng.integers(n_ch))
            dur = float(rng.uniform(0.3, 1.0))
            start = round(float(rng.uniform(0.5, seconds - dur - 0.5)), 3)
            end = round(start + dur, 3)
            if all(end + 0.3 <= a or start >= b + 0.3 for a, b in busy[c]):
                break
        else:
            raise RuntimeError(f"no room for a {kind} fault in {seconds:g} s")
        busy[c].append((start, end))
        params = dict(DEFAULTS[kind])
        if kind in REAL_AMPLITUDE:
            lo, hi = REAL_AMPLITUDE[kind]
            params["amp"] = round(float(rng.uniform(lo, hi) * max(rms[c], 1.0)), 3)
        if kind == "motion":
            params["hz"] = round(float(rng.uniform(1.0, 4.0)), 3)
        if kind == "mains":
            params["hz"] = 50.0 if rng.random() < 0.5 else 60.0
        if kind == "liftoff":
            params["mode"] = "rail" if rng.random() < 0.5 else "flat"
        out.append(SensorFault(kind, c, start, end, 0, params))
    return out


def grid_patch(rng: np.random.Generator, grid: ElectrodeGrid, k: int) -> list[int]:
    """k channels of a grid around one drawn from rng: its own and the
    nearest others (by cells: Chebyshev distance, then Euclidean, then
    channel), so that the faults injected into them have neighbours among
    them (--grid-patch)."""
    on = [c for c, cell in enumerate(grid.cells) if cell is not None]
    r0, c0 = divmod(cast(int, grid.cells[on[int(rng.integers(len(on)))]]), grid.cols)

    def distance(c: int) -> tuple[int, int, int]:
        r, k_ = divmod(cast(int, grid.cells[c]), grid.cols)
        return max(abs(r - r0), abs(k_ - c0)), (r - r0) ** 2 + (k_ - c0) ** 2, c

    return sorted(sorted(on, key=distance)[:k])


def _spread(n: int, k: int) -> list[int]:
    """k channel indices spread evenly over n."""
    if k >= n:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, k)})


def main_real(args: argparse.Namespace, params: dict[str, float]) -> int:
    import warnings

    sys.path.insert(0, str(ROOT / "tools"))
    import real_emg

    # real recordings without mains hum: the notch says so once per run
    warnings.filterwarnings("ignore", message="no mains hum found")

    rates = [args.rate] if args.rate else list(real_emg.RATES)
    layouts = [args.layout] if args.layout else list(real_emg.LAYOUTS)
    seeds = 2 if args.quick and args.seeds is None else (args.seeds or 20)
    window_s = 20.0 if args.quick and args.seconds is None else (args.seconds or 30.0)
    clean_ch = args.clean_channels or (16 if args.quick else None)
    unknown = sorted(set(args.recording) - set(real_emg.CORPUS))
    if unknown:  # (before anything is fetched)
        print(f"score_faults: no recording {unknown[0]!r} in the corpus (tools/real_emg.py list)", file=sys.stderr)
        return 1
    try:
        real_emg.fetch({pf for e in real_emg.CORPUS.values() for pf in e.files})
        chosen = [k for k in real_emg.keys(layouts) if not args.recording or k.split(":")[0] in args.recording]
        recs = [real_emg.load(k) for k in chosen]
        faulty = [
            real_emg.load(k)
            for k in real_emg.keys(layouts, faulty=True)
            if not args.recording or k.split(":")[0] in args.recording
        ]
        if args.gain != 1.0:
            recs = [dataclasses.replace(r, uv=r.uv * args.gain) for r in recs]
            faulty = [dataclasses.replace(r, uv=r.uv * args.gain) for r in faulty]
        if args.ecg:
            # the ECG filtered and resampled once per recording rate
            ecgs = {rate: real_emg.ecg_beats(rate) for rate in {r.rate_hz for r in recs}}
            recs = [real_emg.with_ecg(r, args.ecg, ecgs[r.rate_hz], seed=i) for i, r in enumerate(recs)]
        for r in recs + faulty:  # a rate the recordings cannot be resampled to: said before any work
            for rate in rates:
                real_emg.resample_ratio(r.rate_hz, rate)
    except real_emg.CorpusError as exc:
        print(f"score_faults: {exc}", file=sys.stderr)
        return 1
    deadlines = {"motion": args.motion_deadline}
    real: dict[tuple[str, float], dict] = {}
    for rec in faulty:
        for rate in rates:
            real[(rec.key, rate)] = real_fault_figures(rec.resampled(rate), real_emg.CORPUS[rec.name].fault, params)
            if args.verbose:
                for line in real[(rec.key, rate)]["missed"]:
                    print(f"real fault {rec.key} {rate:g} missed {line}")
                for line in real[(rec.key, rate)]["false_beside"]:
                    print(f"real fault {rec.key} {rate:g} beside it: {line}")
    clean: dict[tuple[str, float], dict] = {}
    kinds: dict[tuple[str, str, float], KindScore] = {}
    false_inj: dict[str, int] = {}
    for rec in recs:
        for rate in rates:
            r = rec.resampled(rate)
            # (a) clean: the whole recording
            sel = r.select(_spread(r.uv.shape[1], clean_ch)) if clean_ch else r
            data, _ = render_source(sel.uv, rate, seed=0, grid=sel.grid)
            res = analyse(data, params)
            st = res.streams[0]
            n = min(st.valid.shape[0], sel.uv.shape[0])
            faults_ev = [e for e in res.events if e.severity == "fault"]
            warn_ev = [e for e in res.events if e.severity != "fault"]
            ch_hours = sel.uv.shape[1] * n / rate / 3600
            clean[(rec.key, rate)] = {
                "channels": sel.uv.shape[1],
                "seconds": n / rate,
                "channel_hours": ch_hours,
                "fault_events": len(faults_ev),
                "per_channel_hour": len(faults_ev) / ch_hours,
                "warnings": len(warn_ev),
                "valid": float(st.valid[:n].mean()),
                "by_kind": _count(e.kind for e in faults_ev),
            }
            if args.verbose:
                for e in faults_ev + warn_ev:
                    print(f"clean {rec.key} {rate:g} {e.kind} ch{e.channel} {e.start_s:.3f}-{e.end_s}")
            # (b) injected faults, per seed
            for seed in range(args.first_seed, args.first_seed + seeds):
                rng = np.random.default_rng([seed, 0x5EA1, int(rate)])
                w = min(window_s, r.seconds)
                start = float(rng.uniform(0, r.seconds - w))
                win = r.window(start, w)
                if args.grid_patch and win.grid is not None:
                    win = win.select(grid_patch(rng, win.grid, min(8, win.uv.shape[1])))
                else:
                    win = win.select(sorted(rng.choice(win.uv.shape[1], min(8, win.uv.shape[1]), replace=False)))
                faults = real_faults(rng, win.uv, win.seconds)
                data, truth = render_source(win.uv, rate, seed, faults, grid=win.grid)
                res = analyse(data, params)
                outcomes: list[FaultOutcome] = []
                scores, false = score(
                    truth, res.events, deadline_s=args.deadline, deadlines=deadlines, outcomes=outcomes
                )
                own = _own_events(win.uv, rate, seed, params, false, grid=win.grid)
                for e in own:
                    kind = KIND_MAP.get(e.kind)
                    if kind in scores:
                        scores[kind].own += 1
                for k, ks in scores.items():
                    kinds.setdefault((rec.layout, k, rate), KindScore()).add(ks)
                    kinds.setdefault((rec.key, k, 0.0), KindScore()).add(ks)
                false_inj[rec.key] = false_inj.get(rec.key, 0) + len(false)
                if args.verbose:
                    for o in outcomes:
                        t = o.fault
                        where = f"{rec.key} {rate:g} seed {seed}"
                        print(f"{where} truth {t.kind} ch{t.channel} {t.start_s:.3f}-{t.end_s:.3f} {o.describe()}")
                    for e in false:
                        tag = " (also with no fault injected)" if any(e is o for o in own) else ""
                        where = f"{rec.key} {rate:g} seed {seed}"
                        print(f"{where} FALSE {e.kind} ch{e.channel} {e.start_s:.3f}-{e.end_s}{tag}")
    return report_real(args, recs, rates, layouts, seeds, window_s, clean, kinds, false_inj, real)


#: a fault the recording carries from its start is found when an event of
#: its kind opens on the channel this soon (the detector's start-up) and
#: its events cover this share of the recording
REAL_FAULT_ONSET_S = 1.0
REAL_FAULT_COVER = 0.9


def real_fault_figures(rec, fault: str, params: dict[str, float]) -> dict:
    """How the detector meets a recording whose channels (its fault_channels,
    or every one) carry a real fault of one kind: the share of them found
    (an event of that kind within REAL_FAULT_ONSET_S of the start, covering
    REAL_FAULT_COVER of the recording) and what was missed."""
    data, _ = render_source(rec.uv, rec.rate_hz, seed=0, grid=rec.grid)
    res = analyse(data, params)
    seconds = rec.seconds
    missed = []
    faulty = rec.fault_channels or range(len(rec.channels))
    for c in faulty:
        name = rec.channels[c]
        own = sorted((e.start_s, e.end_s) for e in res.events if e.channel == c and KIND_MAP.get(e.kind) == fault)
        covered, reach = 0.0, 0.0
        for a, b in own:
            b = min(b, seconds)
            covered += max(0.0, b - max(a, reach))
            reach = max(reach, b)
        if not own or own[0][0] > REAL_FAULT_ONSET_S or covered < REAL_FAULT_COVER * seconds:
            others = sorted({e.kind for e in res.events if e.channel == c})
            first = f"first at {own[0][0]:.2f} s, " if own else ""
            missed.append(f"{fault} ch{c} ({name}): {first}{covered / seconds:.0%} covered; other events: {others}")
    n = len(faulty)
    where = "every channel" if not rec.fault_channels else ", ".join(rec.channels[c] for c in faulty)
    # the channels beside the faulty ones (a grid played whole) are clean EMG:
    # a fault event there is a false one, held to the clean target
    beside = len(rec.channels) - n
    false = [e for e in res.events if e.severity == "fault" and e.channel not in set(faulty)]
    return {
        "fault": fault,
        "channels": n,
        "found": (n - len(missed)) / n,
        "missed": missed,
        "false_beside": [f"FALSE {e.kind} ch{e.channel} {e.start_s:.3f}-{e.end_s}" for e in false],
        "where": where,
        "beside": beside,
        "beside_events": len(false),
        "beside_per_channel_hour": len(false) / (beside * seconds / 3600) if beside else 0.0,
    }


def _own_events(
    uv: np.ndarray, rate: float, seed: int, params: dict[str, float], false: list, grid: ElectrodeGrid | None = None
) -> list:
    """The false events (of an injected run on uv) that the same signal
    raises with no fault injected (scoring.same_event), warnings as well as
    faults: the recording's own, which its clean run reports."""
    if not false:
        return []
    data, _ = render_source(uv, rate, seed, grid=grid)
    base = analyse(data, params).events
    return [e for e in false if any(same_event(e, b) for b in base)]


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in items:
        out[k] = out.get(k, 0) + 1
    return out


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None or v != v else format(v, spec)


def parse_known_miss(specs: list[str], ap: argparse.ArgumentParser) -> dict[str, tuple[float, float]]:
    """--known-miss KIND=P,R or KIND:LAYOUT=P,R: the precision and recall
    floors a kind that misses the target is held to instead (a regression
    guard), in every layout or in one (which comes first)."""
    import real_emg

    out = {}
    for spec in specs:
        key, _, floors = spec.partition("=")
        try:
            p, r = (float(v) for v in floors.split(","))
        except ValueError:
            ap.error(f"--known-miss {spec!r}: give KIND=P,R or KIND:LAYOUT=P,R, e.g. motion:bipolar=0.40,0.90")
        if not (0 <= p <= 1 and 0 <= r <= 1):  # (NaN too)
            ap.error(f"--known-miss {spec!r}: precision and recall are shares, 0 to 1")
        kind, _, layout = key.partition(":")
        if kind not in REAL_KINDS:
            ap.error(f"--known-miss: no fault kind {kind!r} (one of {', '.join(REAL_KINDS)})")
        if layout and layout not in real_emg.LAYOUTS:
            ap.error(f"--known-miss: no layout {layout!r} (one of {', '.join(real_emg.LAYOUTS)})")
        out[key] = (p, r)
    return out


def parse_known_recording_miss(specs: list[str], faulty: bool, flag: str, ap: argparse.ArgumentParser) -> dict:
    """--known-clean-miss NAME=PER_HOUR,VALID (faulty False: a clean
    recording) and --known-real-miss NAME=FOUND (faulty True: a recording
    with a real fault): a recording's floors by its key."""
    import real_emg

    form = "FOUND" if faulty else "PER_HOUR,VALID"
    out = {}
    for spec in specs:
        key, _, values = spec.partition("=")
        try:
            floors = tuple(float(v) for v in values.split(","))
        except ValueError:
            floors = ()
        if not key or len(floors) != form.count(",") + 1:
            ap.error(f"{flag} {spec!r}: give NAME:LAYOUT={form}")
        # a share (FOUND, VALID) is 0 to 1, a rate (PER_HOUR) 0 or more (NaN neither)
        shares = floors if faulty else floors[1:]
        if not all(0 <= v <= 1 for v in shares) or not (faulty or floors[0] >= 0 and np.isfinite(floors[0])):
            what = "FOUND a share, 0 to 1" if faulty else "PER_HOUR 0 or more, VALID a share, 0 to 1"
            ap.error(f"{flag} {spec!r}: {what}")
        names = real_emg.keys(faulty=faulty)
        if key not in names:
            ap.error(f"{flag}: no recording {key!r} (one of {', '.join(names)})")
        out[key] = floors
    return out


def report_real(args, recs, rates, layouts, seeds, window_s, clean, kinds, false_inj, real) -> int:
    misses = []
    known = args.known_floors
    held = []  # known misses within their floors
    for (key, rate), r in real.items():
        if r["found"] < args.target:
            text = f"real {r['fault']} on {key} at {rate:g} Hz (found on {r['found']:.0%})"
            floor = args.known_real.get(key)
            if floor is not None and r["found"] >= floor[0]:
                held.append(text)
            else:
                misses.append(text + (f" below its floor {floor[0]:g}" if floor else ""))
        if r["beside_per_channel_hour"] > args.clean_max_per_hour:
            misses.append(
                f"clean channels beside the real fault on {key} at {rate:g} Hz "
                f"({r['beside_per_channel_hour']:.1f} per channel-hour)"
            )
    for (key, rate), c in clean.items():
        if c["per_channel_hour"] > args.clean_max_per_hour or c["valid"] < args.min_valid:
            text = f"clean {key} at {rate:g} Hz ({c['per_channel_hour']:.1f} per channel-hour, {c['valid']:.1%} valid)"
            limit = args.known_clean.get(key)
            if limit is not None and c["per_channel_hour"] <= limit[0] and c["valid"] >= limit[1]:
                held.append(text)
            else:
                misses.append(text + (f" beyond its limits {limit[0]:g}, {limit[1]:g}" if limit else ""))
    # each layout's scores per kind, over every rate
    pooled: dict[tuple[str, str], KindScore] = {}
    for lay in layouts:
        for k in REAL_KINDS:
            tot = pooled[(lay, k)] = KindScore()
            for rate in rates:
                tot.add(kinds.get((lay, k, rate), KindScore()))
    for (lay, k), tot in pooled.items():
        if tot.faults and (tot.recall < args.target or not tot.precision >= args.target):
            text = f"{k} on {lay} (P {_fmt(tot.precision)}, R {_fmt(tot.recall)})"
            key = f"{k}:{lay}" if f"{k}:{lay}" in known else k
            floor_p, floor_r = known.get(key, (args.target, args.target))
            if tot.recall >= floor_r and tot.precision >= floor_p:
                held.append(text)
            else:
                misses.append(text + (f" below its floors P {floor_p:g}, R {floor_r:g}" if key in known else ""))
    ok = not misses
    if args.json:
        json.dump(
            {
                "seeds": seeds,
                "gain": args.gain,
                "ecg_uv": args.ecg,
                "window_s": window_s,
                "rates": rates,
                "clean": [{"recording": k, "rate_hz": r, **v} for (k, r), v in clean.items()],
                "real_faults": [{"recording": k, "rate_hz": r, **v} for (k, r), v in real.items()],
                "injected": [
                    {
                        "where": w,
                        "kind": k,
                        "rate_hz": r or None,
                        "faults": ks.faults,
                        "recall": ks.recall,
                        "precision": ks.precision,
                        "events": ks.events,
                        "own_events": ks.own,
                        "precision_without_own": ks.precision_injected,
                    }
                    for (w, k, r), ks in kinds.items()
                ],
                "false_events_injected_runs": false_inj,
                "misses": misses,
                "known_misses_held": held,
            },
            sys.stdout,
            indent=1,
        )
        print()
        return 0 if ok or not args.check else 1
    gain = f", every one x {args.gain:g} (--gain)" if args.gain != 1.0 else ""
    gain += f", with a real ECG of {args.ecg:g} uV beats (--ecg)" if args.ecg else ""
    print(f"real EMG: {len(recs)} recordings x {len(rates)} rates{gain}; clean = whole recordings")
    print(f"{'recording':<32} {'rate':>5} {'ch':>3} {'ch-h':>6} {'events':>6} {'/ch-h':>7} {'valid':>6}  kinds")
    for (key, rate), c in clean.items():
        kinds_txt = ", ".join(f"{k} {n}" for k, n in sorted(c["by_kind"].items()))
        print(
            f"{key:<32} {rate:>5g} {c['channels']:>3} {c['channel_hours']:>6.3f} {c['fault_events']:>6} "
            f"{c['per_channel_hour']:>7.1f} {c['valid'] * 100:>5.1f}%  {kinds_txt}"
        )
    print(
        f"targets: at most {args.clean_max_per_hour:g} fault events per channel-hour, "
        f"at least {args.min_valid * 100:g} % valid"
    )
    for (key, rate), r in real.items():
        print(
            f"real fault: {key} at {rate:g} Hz, {r['fault']} on {r['where']}: found on "
            f"{r['found']:.0%} of {r['channels']} (an event within {REAL_FAULT_ONSET_S:g} s, "
            f"covering {REAL_FAULT_COVER:.0%})"
            + (
                f"; {r['beside_events']} fault events on the {r['beside']} clean channels beside it "
                f"({r['beside_per_channel_hour']:.1f} per channel-hour)"
                if r["beside"]
                else ""
            )
        )
    print()
    print(
        f"injected faults: {seeds} seeds x {window_s:g} s windows, one fault of each kind per seed; "
        f"onset within {args.deadline * 1e3:.0f} ms (motion {args.motion_deadline * 1e3:.0f} ms)"
    )
    head = " ".join(f"{k[:9]:>9}" for k in REAL_KINDS)
    print(f"{'P / R':<32} {'rate':>5} {head}")
    rows = [(lay, r) for lay in layouts for r in rates] + [(rec.key, 0.0) for rec in recs]
    for where, rate in rows:
        cells = []
        for k in REAL_KINDS:
            ks = kinds.get((where, k, rate))
            cells.append(
                "-" if ks is None or not ks.faults and not ks.events else f"{_fmt(ks.precision)}/{_fmt(ks.recall)}"
            )
        label = where if rate else where
        print(f"{label:<32} {(f'{rate:g}' if rate else 'all'):>5} " + " ".join(f"{c:>9}" for c in cells))
    print(f"false events outside any fault in the injected runs: {sum(false_inj.values())}")
    # the recording's own events: raised in the same window with no fault
    # injected too (the clean figures above count them, per channel-hour)
    for (lay, k), tot in pooled.items():
        if tot.own:
            print(
                f"  {k} on {lay}: {tot.events - tot.correct} false, {tot.own} of them also with no fault "
                f"injected (the recording's own); precision without those {_fmt(tot.precision_injected)}"
            )
    if held:
        print("targets missed, within the floors --known-miss (and -clean-, -real-) holds them to: " + "; ".join(held))
    if misses:
        print("targets missed: " + "; ".join(misses))
    elif not held:
        print("every target met")
    return 0 if ok or not args.check else 1


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT / "tools"))
    from real_emg import rate_option

    from sensorio.cli import (
        OneLineParser,
        non_negative_integer,
        non_negative_number,
        positive_integer,
        positive_number,
    )
    from sensorio.cli._options import probability

    ap = OneLineParser(prog="score_faults.py", description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=positive_integer, default=None, help="seeds (default 40; --real 20, --quick 2)")
    ap.add_argument("--first-seed", type=non_negative_integer, default=1)
    ap.add_argument(
        "--seconds", type=window_seconds, default=None, help="seconds per run (default 30; --real --quick 20)"
    )
    ap.add_argument("--faults", type=non_negative_integer, default=8, help="random faults per recording")
    ap.add_argument("--clean-minutes", type=non_negative_number, default=10.0)
    ap.add_argument("--source", choices=("auto", "emulator", "synthetic"), default="auto")
    ap.add_argument("--deadline", type=positive_number, default=0.25, help="seconds from onset (default 0.25)")
    ap.add_argument("--rate", type=rate_option, default=None, help="EMG sample rate, Hz (default: the profile's)")
    ap.add_argument("--target", type=probability, default=0.95)
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a fault-detector setting, e.g. motion_uv=30",
    )
    ap.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="list every injected fault with how it was scored (found, LATE, MISSED, occluded) and the false events",
    )
    ap.add_argument(
        "--motion-deadline",
        type=positive_number,
        default=0.3,
        help="seconds from a motion artifact's onset (default 0.3)",
    )
    real = ap.add_argument_group("real EMG (tools/real_emg.py)")
    real.add_argument("--real", action="store_true", help="score on the real-EMG corpus")
    real.add_argument(
        "--layout",
        choices=("monopolar", "bipolar"),
        help="only this layout (--real); the emulator's EMG spectrum (default bipolar)",
    )
    real.add_argument(
        "--quick",
        action="store_true",
        help="a short budget for a first look (2 seeds, 20 s windows; also without --real)",
    )
    real.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    real.add_argument(
        "--recording",
        action="append",
        default=[],
        metavar="NAME",
        help="only this recording of the corpus (repeat for more; tools/real_emg.py list names them)",
    )
    real.add_argument(
        "--known-miss",
        action="append",
        default=[],
        metavar="KIND[:LAYOUT]=P,R",
        help="a kind known to miss the target (in every layout, or in one): --check holds it to these precision "
        "and recall floors instead",
    )
    real.add_argument(
        "--known-clean-miss",
        action="append",
        default=[],
        metavar="NAME:LAYOUT=PER_HOUR,VALID",
        help="a recording known to miss the clean targets: --check holds it to these instead",
    )
    real.add_argument(
        "--known-real-miss",
        action="append",
        default=[],
        metavar="NAME:LAYOUT=FOUND",
        help="a recording whose real fault is known to be missed on some channels: --check holds it to this share",
    )
    real.add_argument(
        "--grid-patch",
        action="store_true",
        help="on a recording on an electrode grid, inject into 8 neighbouring channels (a patch around one "
        "drawn), not 8 drawn anywhere: the faults then have neighbours, which the grid test compares",
    )
    real.add_argument(
        "--gain",
        type=positive_number,
        default=1.0,
        help="multiply every recording by this (a muscle or electrodes giving that much more or less signal)",
    )
    real.add_argument(
        "--ecg",
        type=non_negative_number,
        default=0.0,
        metavar="UV",
        help="add a real ECG (tools/real_emg.py ECG_MITBIH), its median beat UV uV: a trunk muscle's recording",
    )
    real.add_argument(
        "--clean-channels", type=positive_integer, help="channels per clean recording (default all; --quick 16)"
    )
    real.add_argument("--clean-max-per-hour", type=non_negative_number, default=10.0)
    real.add_argument("--min-valid", type=probability, default=0.98)
    args = ap.parse_args(argv)
    params: dict[str, float] = {}
    for item in args.param:
        key, _, value = item.partition("=")
        try:
            params[key] = float(value)
        except ValueError:
            ap.error(f"--param {item!r}: give KEY=NUMBER, e.g. motion_uv=30")
        if not np.isfinite(params[key]):
            ap.error(f"--param {item!r}: give a finite number")
    settings = set(FaultDetector().describe()) - {"type", "mask"}
    unknown = sorted(set(params) - settings)
    if unknown:
        names = ", ".join(sorted(settings))
        ap.error(f"--param: no fault-detector setting {', '.join(unknown)}; the settings: {names}")
    try:  # a value out of its range, said before any work
        FaultDetector(**params)  # type: ignore[arg-type]
    except ValueError as exc:
        print(f"score_faults.py: error: --param: {exc}", file=sys.stderr)
        return 2
    if args.real and args.seconds is not None and args.seconds < REAL_MIN_SECONDS:
        ap.error(
            f"--seconds {args.seconds:g}: give {REAL_MIN_SECONDS:g} or more with --real "
            "(a one-channel recording holds a window's faults one after another)"
        )
    args.known_floors = parse_known_miss(args.known_miss, ap)
    args.known_clean = parse_known_recording_miss(args.known_clean_miss, False, "--known-clean-miss", ap)
    args.known_real = parse_known_recording_miss(args.known_real_miss, True, "--known-real-miss", ap)
    try:
        if args.real:
            return main_real(args, params)
        return main_synthetic(args, params)
    except SensorioError as exc:  # a setting the detector refuses (--param hop_s=0)
        print(f"score_faults.py: error: {exc}", file=sys.stderr)
        return 2


def window_seconds(text: str) -> float:
    """argparse type: a run's length, at least 5 s (faults of up to 2 s are
    placed half a second from either end, and the detector settles for most
    of the first second)."""
    from sensorio.cli._options import _option
    from sensorio.numbers import parse_number

    return float(_option(parse_number, text, "a number of seconds, 5 or more", minimum=5.0))


def main_synthetic(args: argparse.Namespace, params: dict[str, float]) -> int:
    """Score on the emulator's (or the synthetic generator's) EMG: see the module's docstring."""
    import warnings

    # the notch's word when a window has no hum, once per run: not the scorer's output
    warnings.filterwarnings("ignore", message="no mains hum found")
    if args.seeds is None:
        args.seeds = 2 if args.quick else 40
    if args.seconds is None:
        args.seconds = 20.0 if args.quick else 30.0
    source = args.source
    if source == "auto":
        source = "emulator" if have_emulator() else "synthetic"
    render = render_emulator if source == "emulator" else render_synthetic

    total = {k: KindScore() for k in TRUTH_KINDS}
    false_events = 0
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        data, truth = render(seed, args.seconds, args.faults, args.rate, args.layout)
        res = analyse(data, params)
        outcomes: list[FaultOutcome] = []
        scores, false = score(
            truth, res.events, deadline_s=args.deadline, deadlines={"motion": args.motion_deadline}, outcomes=outcomes
        )
        for k, ks in scores.items():
            total.setdefault(k, KindScore()).add(ks)
        false_events += len(false)
        if args.verbose:
            for o in outcomes:
                t = o.fault
                hit = [
                    e
                    for e in res.events
                    if e.channel == t.channel and e.start_s <= t.end_s + 0.1 and (e.end_s or 1e9) >= t.start_s - 0.1
                ]
                print(
                    f"seed {seed} truth {t.kind} ch{t.channel} {t.start_s:.3f}-{t.end_s:.3f} {o.describe()}: "
                    + ", ".join(f"{e.kind} {e.start_s:.3f}-{e.end_s} det {e.detected_s}" for e in hit)
                )
            for e in false:
                print(f"seed {seed} FALSE {e.kind} ch{e.channel} {e.start_s:.3f}-{e.end_s}")

    clean_ch_hours = 0.0
    clean_false = 0
    if args.clean_minutes > 0:
        per = 60.0
        runs = max(1, int(round(args.clean_minutes * 60 / per)))
        for i in range(runs):
            data, _ = render(10_000 + i, per, 0, args.rate, args.layout)
            res = analyse(data, params)
            n_ch = next(iter(res.streams.values())).raw.shape[1]
            clean_ch_hours += n_ch * per / 3600
            bad = [e for e in res.events if e.severity == "fault"]
            clean_false += len(bad)
            if args.verbose:
                for e in bad:
                    print(f"clean {i} FALSE {e.kind} ch{e.channel} {e.start_s:.3f}-{e.end_s}")

    rows = {}
    ok = True
    for k in TRUTH_KINDS:
        ks = total[k]
        d = sorted(ks.delays)
        rows[k] = {
            "faults": ks.faults,
            "occluded": ks.occluded,
            "found": ks.found,
            "in_time": ks.in_time,
            "events": ks.events,
            "correct": ks.correct,
            "recall": ks.recall,
            "precision": ks.precision,
            "delay_median_s": statistics.median(d) if d else None,
            "delay_p95_s": float(np.quantile(d, 0.95)) if d else None,
        }
        if ks.faults and (ks.recall < args.target or ks.precision < args.target):
            ok = False
    rate = clean_false / clean_ch_hours if clean_ch_hours else float("nan")
    if clean_ch_hours and rate >= 1.0:
        ok = False
    if args.json:
        json.dump(
            {
                "source": source,
                "seeds": args.seeds,
                "kinds": rows,
                "false_events": false_events,
                "clean_channel_hours": clean_ch_hours,
                "clean_false_events": clean_false,
                "clean_false_per_channel_hour": rate,
            },
            sys.stdout,
            indent=1,
        )
        print()
    else:
        print(
            f"source {source}: {args.seeds} seeds x {args.seconds:g} s, {args.faults} faults each; "
            f"deadline {args.deadline * 1e3:.0f} ms (motion {args.motion_deadline * 1e3:.0f} ms)"
        )
        print(
            f"{'kind':<11} {'faults':>6} {'hidden':>6} {'recall':>7} {'precision':>9} {'events':>6} "
            f"{'delay p50':>9} {'p95':>7}"
        )
        for k, r in rows.items():

            def fmt(v: float | None, scale: float = 1.0, spec: str = ".3f") -> str:
                return "-" if v is None or v != v else format(v * scale, spec)

            print(
                f"{k:<11} {r['faults']:>6} {r['occluded']:>6} {fmt(r['recall']):>7} {fmt(r['precision']):>9} "
                f"{r['events']:>6} {fmt(r['delay_median_s'], 1e3, '.0f'):>7}ms "
                f"{fmt(r['delay_p95_s'], 1e3, '.0f'):>5}ms"
            )
        print(f"false events outside any fault (all kinds): {false_events}")
        if clean_ch_hours:
            print(
                f"clean EMG: {clean_false} fault event(s) in {clean_ch_hours:.2f} channel-hours "
                f"= {rate:.2f} per channel-hour (target < 1)"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
