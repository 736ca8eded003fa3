"""Compute cost of sensorio.control: per-decision time (p50/p99) at 16
channels x 2 kHz with every default feature and an LDA, the time to switch
to a channel subset not seen before, and the feature extractor's share of a
core at full rate (the reason its hot part stays in numpy: under 5 %).

    PYTHONPATH=. python tools/bench_control_compute.py [--channels 16] [--rate 2000] [--json]

A benchmark that prints figures, not a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os

from sensorio.control.bench import measure_compute


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--rate", type=float, default=2000.0)
    ap.add_argument("--classes", type=int, default=6)
    ap.add_argument("--decisions", type=int, default=1000)
    ap.add_argument("--switches", type=int, default=200)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args()
    load_before = os.getloadavg()[0]
    r = measure_compute(a.channels, a.rate, a.classes, a.decisions, a.switches)
    r["load_average"] = [load_before, os.getloadavg()[0]]
    if a.json:
        print(json.dumps(r, indent=2))
        return
    print(
        f"{r['n_channels']} ch x {r['rate_hz']:g} Hz, {r['n_classes']} classes, {r['n_features']} features, "
        f"windows {r['window_ms']:g}/{r['increment_ms']:g} ms; load average {r['load_average'][0]:.1f} -> "
        f"{r['load_average'][1]:.1f} on {os.cpu_count()} cores (wall-clock tails follow it; CPU time does less)"
    )
    for key, what, goal in (("decision", "per decision", 1.0), ("switch", "switch to a new channel subset", 1.0)):
        t = r[key]
        ok = "meets" if t["p99_ms"] <= goal else "MISSES"
        print(
            f"  {what:32s} p50 {t['p50_ms']:.3f} ms  p99 {t['p99_ms']:.3f} ms  max {t['max_ms']:.3f} ms"
            f"  ({ok} p99 <= {goal:g} ms)"
        )
        print(f"  {'':32s} CPU time p50 {t['cpu_p50_ms']:.3f} ms  p99 {t['cpu_p99_ms']:.3f} ms")
    share = r["features_core_share"]
    print(f"  feature extraction at full rate  {100 * share:.2f} % of a core (C only if above 5 %)")


if __name__ == "__main__":
    main()
