"""Advice when a port delivers nothing useful: silence, another format, or a
baud-rate mismatch, guessed from the first bytes that arrived."""

from __future__ import annotations

from typing import Any

from ..errors import Advice
from ..formats import default_start_command


def _looks_like_cyton(sample: bytes) -> bool:
    # 33-byte packets: 0xA0 start, 0xC0..0xCF stop
    hits = sum(1 for i in range(len(sample) - 32) if sample[i] == 0xA0 and 0xC0 <= sample[i + 32] <= 0xCF)
    return hits >= 3


def _decodes_as_sio(sample: bytes) -> bool:
    """Whether SIO-1 frames or messages (CRC-checked) are among the bytes."""
    from ..parser import Parser

    parser = Parser("sio")
    parser.feed(sample)
    return bool(parser.stats.frames_ok or parser.stats.messages_ok)


def _other_bauds(baudrate: int) -> list[int]:
    """The usual rates of USB-serial EMG boards, but the one in use."""
    return [b for b in (115200, 230400, 460800, 921600) if b != baudrate]


def _printable_share(sample: bytes) -> float:
    ok = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13))
    return ok / len(sample)


def diagnose(
    sample: bytes,
    stats: Any,
    format: str,
    baudrate: int,
    arrived: int | None = None,
    *,
    replay: bool | str = False,
) -> Advice | None:
    """One line of advice (naming the settings ``format``, ``baudrate`` and
    ``start_command``), or None when frames arrived. sample: the first bytes
    that arrived; arrived: how many arrived in all (default: the sample's);
    replay: they come from a recording played back (replay://), which no
    START or power switch makes send more, and no baud rate changes: what it
    holds is said instead (replay may be the recording's name, for the advice
    to name it)."""
    if stats.frames_ok:
        return None
    if replay and stats.messages_ok:
        return Advice(
            f"the recording holds the device's answers ({stats.messages_ok} {format} messages) but no data "
            "frames: it ends before the device streamed"
        )
    if replay and not sample:
        return Advice("the recording holds no bytes from the device")
    if stats.messages_ok:
        # it speaks the format (it answered), but sends no data
        return Advice(
            f"the device answers ({stats.messages_ok} {format} messages) but sends no data frames: "
            "is it streaming? It may need a START command ({start_command})",
            start_command="START",
        )
    if not sample:
        if default_start_command(format) == "b":  # (cyton, or a spec of it)
            return Advice("no bytes arrived: is the device on, streaming and on this port?")
        # a Cyton is silent until it hears 'b', which only --format cyton sends
        return Advice(
            "no bytes arrived: is the device on, streaming (it may need a START command: "
            "{start_command}; an OpenBCI Cyton streams once {format} sends it 'b') and on this port?",
            start_command="START",
            format="cyton",
        )
    n = max(len(sample), arrived or 0)
    head = sample[:24].hex(" ")
    if format not in ("sio", "sio1") and _decodes_as_sio(sample):
        return Advice(f"{n} bytes arrived but no {format} frames; they are SIO-1 frames: try {{format}}", format="sio")
    if format != "cyton" and _looks_like_cyton(sample):
        return Advice(
            f"{n} bytes arrived but no {format} frames; they look like OpenBCI Cyton packets: try {{format}}",
            format="cyton",
        )
    if _printable_share(sample) > 0.95 and (b"\n" in sample or b"\r" in sample):
        text = repr(sample[:40].decode("ascii", errors="replace"))  # repr escapes the line ends, once
        if format != "ascii":
            return Advice(
                f"{n} bytes arrived but no {format} frames; they are text lines ({text}): try {{format}}",
                format="ascii",
            )
        return Advice(f"{n} bytes of text arrived but no valid lines ({text}): check the column layout")
    if replay:
        # a file's bytes are what they are: no baud rate or wiring makes them frames
        name = replay if isinstance(replay, str) else "FILE"
        return Advice(
            f"{n} bytes in the recording but no {format} frames ({head} ...): the format given does not match "
            f"the recorded bytes; see what it holds with `sensorio info {name}`, or give the right {{format}}",
            format=None,
        )
    zeros = sample.count(0)
    if format == "sio" and zeros == 0:
        return Advice(
            f"{n} bytes arrived with no 0x00 frame delimiter, so not SIO-1 ({head} ...): "
            f"check {{format}}, or the baud rate (now {baudrate})",
            format=None,
        )
    if stats.crc_errors + stats.cobs_errors + stats.malformed > 0 or zeros:
        return Advice(
            f"{n} bytes arrived but none formed a valid {format} frame ({head} ...): "
            f"the baud rate is probably wrong (now {baudrate}; try {', '.join(map(str, _other_bauds(baudrate)))}) "
            "or the format is another one ({format})",
            format=None,
        )
    return Advice(
        f"{n} bytes arrived but no {format} frames ({head} ...): check {{format}} and {{baudrate}}",
        format=None,
        baudrate=None,
    )
