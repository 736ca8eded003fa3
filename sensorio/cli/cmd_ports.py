"""sensorio ports: serial ports with VID:PID, serial number, description."""

from __future__ import annotations

import argparse
import json
import warnings

from ..capture.ports import FTDI_DEFAULT_LATENCY_MS, change_latency_timer, list_ports
from ..errors import SensorioError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ports", help="list serial ports (VID:PID, serial number, description)")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.add_argument(
        "--low-latency",
        action="store_true",
        help="set FTDI latency timers to 1 ms where writable (Linux); warns of each it cannot set, and why",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ports = list_ports()
    if args.low_latency:
        for p in ports:
            if p.latency_timer_ms not in (None, 1):
                try:
                    change_latency_timer(p.device, 1)
                except SensorioError as exc:
                    # a warning, not an error: the listing is still wanted, and
                    # the other ports' timers may have been set
                    warnings.warn(str(exc), stacklevel=1)
        ports = list_ports()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "device": p.device,
                        "vid_pid": p.vid_pid,
                        "serial_number": p.serial_number,
                        "description": p.description,
                        "latency_timer_ms": p.latency_timer_ms,
                    }
                    for p in ports
                ]
            )
        )
        return 0
    if not ports:
        print("no serial ports found")
        return 0
    width = max(len(p.device) for p in ports)
    for p in ports:
        latency = ""
        if p.latency_timer_ms is not None:
            latency = f"  latency timer {p.latency_timer_ms} ms"
            if p.latency_timer_ms >= FTDI_DEFAULT_LATENCY_MS:
                # with --low-latency its warning said why it is still slow
                latency += " (slow)" if args.low_latency else " (slow: --low-latency, as root, sets 1 ms)"
        print(f"{p.device:<{width}}  {p.vid_pid:<9}  {p.serial_number or '-':<16}  {p.description}{latency}")
    return 0
