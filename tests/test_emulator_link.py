"""Each link fault is in the bytes as the ground truth says, and sensorio's
parser reports exactly the loss and corruption that was injected."""

from __future__ import annotations

import time

import numpy as np
import pytest
import serial
from emulator_util import decode, run

import sensorio  # noqa: F401 - registers sim://
from sensorio.testing import sim_url

KW = {"format": "sio", "seed": 11, "autostart": True, "duration": 1.0}


def _frames(data: bytes) -> list[bytes]:
    """Split an SIO-1 byte stream at its delimiters (each frame keeps its 0x00)."""
    parts = data.split(b"\x00")
    return [p + b"\x00" for p in parts[:-1]]


def _data_frames(data: bytes) -> list[bytes]:
    # skip the start-up 0x00 and the INFO frame
    return [f for f in _frames(data) if len(f) > 1][1:]


def test_drop_removes_exactly_the_frames_listed() -> None:
    clean, ct = run(**KW)
    bad, truth = run(link=["drop:at=0.25,count=3"], **KW)
    [rec] = truth.link_faults(kind="drop")
    lost = [seq for _, seq in rec["frames"]]
    # 8 samples per frame at 2 kHz: frame 62 is the first one complete at 0.25 s (sample 503)
    assert truth.start["frame_samples"]["0"] == 8
    assert lost == [62, 63, 64]
    cf = _data_frames(clean)
    assert _data_frames(bad) == [f for i, f in enumerate(cf) if i not in lost]
    p, streams = decode(bad)
    assert p.stats.lost_frames == 3 and p.stats.crc_errors == 0
    assert p.stats.frames_ok == truth.frame_seq(0).size == ct.frame_seq(0).size - 3
    ev = streams[0]["events"]
    assert ev["lost_frames"].tolist() == [3] and ev["seq_before"].tolist() == [61]


def test_bitflip_flips_one_bit_where_the_truth_says() -> None:
    clean, _ = run(**KW)
    bad, truth = run(link=["bitflip:at=0.5,count=2"], **KW)
    [rec] = truth.link_faults(kind="bitflip")
    cf, bf = _data_frames(clean), _data_frames(bad)
    assert len(cf) == len(bf)
    for _stream, seq, offset, bit in rec["frames"]:
        a, b = np.frombuffer(cf[seq], np.uint8), np.frombuffer(bf[seq], np.uint8)
        assert np.flatnonzero(a != b).tolist() == [offset]
        assert a[offset] ^ b[offset] == 1 << bit
    assert sum(x != y for x, y in zip(cf, bf, strict=True)) == 2
    p, _ = decode(bad)
    assert (p.stats.crc_errors, p.stats.lost_frames) == (2, 2)
    # the corrupted frames are on the wire (in the truth), only not accepted
    assert p.stats.frames_ok == truth.frame_seq(0).size - 2


def test_garbage_is_inserted_before_the_frame_it_spoils() -> None:
    clean, _ = run(**KW)
    bad, truth = run(link=["garbage:at=0.3,bytes=25"], **KW)
    [rec] = truth.link_faults(kind="garbage")
    [(_, seq)] = rec["frames"]
    cf = _data_frames(clean)
    pos = clean.index(cf[seq])
    assert bad[:pos] == clean[:pos] and bad[pos + 25 :] == clean[pos:]
    assert 0 not in bad[pos : pos + 25]
    p, _ = decode(bad)
    errors = p.stats.crc_errors + p.stats.cobs_errors + p.stats.malformed + p.stats.oversized
    assert (errors, p.stats.lost_frames) == (1, 1)


def test_random_drops_and_flips_on_every_stream_are_counted_exactly() -> None:
    data, truth = run(
        format="sio",
        profile="prosthesis",
        seed=2,
        autostart=True,
        duration=2.0,
        link=["drop:rate=0.02", "bitflip:rate=0.02"],
    )
    p, streams = decode(data)
    flipped = truth.touched("bitflip")
    dropped = truth.touched("drop")
    assert flipped and dropped
    assert p.stats.crc_errors == len(flipped)
    for s in truth.streams():
        sent = truth.frame_seq(s)
        got = streams[s]["frame_seq"].astype(np.int64)
        bad = set(truth.touched("bitflip", s))
        # every frame on the wire but the flipped ones arrives, in order
        np.testing.assert_array_equal(got, [q for q in sent if q not in bad])
        generated = truth.frames_generated(s)
        assert generated == int(sent.max()) + 1
    # whatever was dropped or spoilt between two good frames is reported lost
    missing = 0
    for s in truth.streams():
        got = streams[s]["frame_seq"].astype(np.int64)
        missing += int(got[-1] - got[0] + 1 - got.size)
    assert p.stats.lost_frames == missing


def _arrivals(url: str, seconds: float) -> list[tuple[float, int]]:
    port = serial.serial_for_url(url, timeout=0.01)
    out = []
    t0 = time.monotonic()
    port.write(b"START\n")
    while time.monotonic() - t0 < seconds:
        n = len(port.read(65536))
        if n:
            out.append((time.monotonic() - t0, n))
    port.finish()
    return out


def test_stall_holds_everything_back_then_delivers_it() -> None:
    # Bounds that a slow or loaded machine cannot break: a late reader only
    # lengthens gaps and merges deliveries, it never shortens the stall.
    url = sim_url("emg8", link=["stall:at=0.2,dur=0.3"])
    got = _arrivals(url, 0.8)
    times = np.array([t for t, _ in got])
    sizes = np.array([n for _, n in got])
    i = int(np.argmax(sizes))
    held = 0.3 * 2000 / 10 * 100  # bytes of the frames the stall holds back
    assert sizes[i] > 0.8 * held  # all that was held back comes at once
    assert i > 0 and times[i] - times[i - 1] >= 0.25  # after a silence as long as the stall
    assert sizes[:i].sum() > 0  # and the link delivered before it


def test_burst_delivery_comes_in_packets() -> None:
    url = sim_url("emg8", link=["burst:at=0.1,dur=0.6,period=0.1"])
    got = _arrivals(url, 0.8)
    inside = [(t, n) for t, n in got if 0.15 < t < 0.65]
    # every 0.1 s one burst of ~20 frames, nothing in between: a read inside
    # the window gets whole bursts (a late reader gets several at once)
    assert 1 <= len(inside) <= 7
    assert min(n for _, n in inside) > 10 * 250


def test_sim_unplug_fails_reads_until_reopened_after_replug() -> None:
    port = serial.serial_for_url(sim_url("emg8", link=["unplug:at=0.2,dur=0.3"]), timeout=0.05)
    port.write(b"START\n")
    t0 = time.monotonic()
    with pytest.raises(serial.SerialException, match="disconnected"):
        while time.monotonic() - t0 < 1.0:
            port.read(4096)
    port.close()
    with pytest.raises(serial.SerialException, match="unplugged"):
        port.open()
    time.sleep(0.35)
    port.open()
    time.sleep(0.1)
    assert port.read(4096)
    port.finish()
    truth = port.truth
    [rec] = truth.link_faults(kind="unplug")
    lost = {s for _, s in rec["frames"]} | set(truth.touched("port_closed"))
    sent = set(truth.frame_seq(0).tolist())
    assert lost and not lost & sent
    assert sorted(lost | sent) == list(range(max(lost | sent) + 1))
