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
Exit status 1 if any kind is below --target (default 0.95) or the clean rate
is 1 per channel-hour or more.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sensorio import Parser  # noqa: E402
from sensorio.dsp.analyze import analyze_blocks  # noqa: E402
from sensorio.dsp.scoring import TRUTH_KINDS, KindScore, Truth, score  # noqa: E402


def have_emulator() -> bool:
    try:
        import sensorio.emulator.engine  # noqa: F401
    except ImportError:
        return False
    return True


def render_emulator(
    seed: int, seconds: float, n_faults: int, rate: float | None = None
) -> tuple[bytes, list[Truth]]:
    from sensorio.emulator.config import EmulatorConfig
    from sensorio.emulator.engine import render

    data, truth = render(
        EmulatorConfig(
            seed=seed, random_faults=n_faults, duration=seconds, autostart=True, rate=rate
        )
    )
    faults = [Truth.from_record(r) for r in truth.records if r.get("type") == "fault"]
    return data, faults


def render_synthetic(
    seed: int, seconds: float, n_faults: int, rate: float | None = None
) -> tuple[bytes, list[Truth]]:
    sys.path.insert(0, str(ROOT / "tests"))
    import dsp_synth

    data, _info, faults, _ = dsp_synth.recording(
        seconds, 8, rate or 2000.0, seed=seed, n_faults=n_faults
    )
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
    return analyze_blocks(
        blocks, info, config=config, calibration_dir=str(ROOT / ".no-calibration")
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--faults", type=int, default=8, help="random faults per recording")
    ap.add_argument("--clean-minutes", type=float, default=10.0)
    ap.add_argument("--source", choices=("auto", "emulator", "synthetic"), default="auto")
    ap.add_argument(
        "--deadline", type=float, default=0.25, help="seconds from onset (default 0.25)"
    )
    ap.add_argument(
        "--rate", type=float, default=None, help="EMG sample rate, Hz (default: the profile's)"
    )
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a fault-detector setting, e.g. motion_uv=30",
    )
    ap.add_argument(
        "-v", "--verbose", action="store_true", help="list missed faults and false events"
    )
    args = ap.parse_args(argv)
    source = args.source
    if source == "auto":
        source = "emulator" if have_emulator() else "synthetic"
    render = render_emulator if source == "emulator" else render_synthetic
    params = {}
    for item in args.param:
        key, _, value = item.partition("=")
        params[key] = float(value)

    total = {k: KindScore() for k in TRUTH_KINDS}
    false_events = 0
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        data, truth = render(seed, args.seconds, args.faults, args.rate)
        res = analyse(data, params)
        scores, false = score(truth, res.events, deadline_s=args.deadline)
        for k, ks in scores.items():
            total.setdefault(k, KindScore()).add(ks)
        false_events += len(false)
        if args.verbose:
            for t in truth:
                hit = [
                    e
                    for e in res.events
                    if e.channel == t.channel
                    and e.start_s <= t.end_s + 0.1
                    and (e.end_s or 1e9) >= t.start_s - 0.1
                ]
                print(
                    f"seed {seed} truth {t.kind} ch{t.channel} {t.start_s:.3f}-{t.end_s:.3f}: "
                    + ", ".join(
                        f"{e.kind} {e.start_s:.3f}-{e.end_s} det {e.detected_s}" for e in hit
                    )
                )
            for e in false:
                print(f"seed {seed} FALSE {e.kind} ch{e.channel} {e.start_s:.3f}-{e.end_s}")

    clean_ch_hours = 0.0
    clean_false = 0
    if args.clean_minutes > 0:
        per = 60.0
        runs = max(1, int(round(args.clean_minutes * 60 / per)))
        for i in range(runs):
            data, _ = render(10_000 + i, per, 0, args.rate)
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
            f"deadline {args.deadline * 1e3:.0f} ms"
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
