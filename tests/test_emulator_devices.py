"""The emulated devices speak their protocols: SIO-1 commands and INFO,
multi-stream prosthesis, Cyton packets and commands, ASCII lines."""

from __future__ import annotations

import json

import numpy as np
import pytest
from emulator_util import cyton_codes, cyton_packets, decode, options, run

import sensorio
from sensorio import sio1
from sensorio.emulator import Emulator, Truth, TruthLog, config_from_options
from sensorio.emulator.devices.cyton import UV_PER_COUNT
from sensorio.errors import UsageError

INFO_KEYS = {"device", "serial", "fw", "streams", "test_uv", "test_hz"}
STREAM_KEYS = {
    "id",
    "name",
    "channels",
    "rate_hz",
    "enc",
    "unit",
    "scale",
    "zero",
    "min_code",
    "max_code",
    "labels",
}


def _emulator(**kw):
    truth = Truth(keep=True)
    return Emulator(config_from_options(options(speed=0, **kw)), truth), truth


def _talk(emu, text: bytes, seconds: float = 0.0) -> bytes:
    """Send a command; collect output until `seconds` more device time passed."""
    emu.input(text)
    out = bytearray()
    target = emu.clock.dev_base + seconds
    while True:
        items = [it for it in emu.step_fast() if not it.control]
        emu.delivered(items)
        out += b"".join(it.data for it in items)
        if emu.clock.dev_base >= target or emu.idle:
            return bytes(out)


def test_sio_commands_and_replies() -> None:
    import sensorio

    emu, truth = _emulator(format="sio", profile="emg8")
    p = sensorio.Parser()
    p.feed(_talk(emu, b""))  # power-up: 0x00 then INFO
    [info] = p.read_messages()
    desc = json.loads(info.text)
    assert set(desc) == INFO_KEYS and set(desc["streams"][0]) == STREAM_KEYS
    for cmd, reply in [
        (b"INFO\n", "OK"),
        (b"RATE 1000\r\n", "OK 1000"),
        (b"RATE 123\n", "ERR"),
        (b"TEST ON\n", "OK"),
        (b"bogus\n", "ERR unknown command"),
        (b"X" * 80 + b"\n", "ERR line too long"),
    ]:
        p.feed(_talk(emu, cmd))
        msgs = p.read_messages()
        assert msgs[-1].kind == "reply" and msgs[-1].text.startswith(reply), (cmd, msgs)
    p.feed(_talk(emu, b"INFO\n"))
    assert json.loads(p.read_messages()[0].text)["streams"][0]["rate_hz"] == 1000.0
    p.feed(_talk(emu, b"START\n", 0.5))
    p.feed(_talk(emu, b"RATE 2000\n"))
    assert p.read_messages()[-1].text == "ERR stop streaming first"
    p.feed(_talk(emu, b"STOP\n"))
    samples = sensorio.concat_blocks(p.read())[0]["samples"]
    # TEST ON: the square wave of the INFO's amplitude, at 1000 Hz now
    log = TruthLog(truth.records)
    assert samples.shape[0] == log.frame_seq(0).size * 4 >= 500  # 4 samples per frame at 1 kHz
    amp = round(desc["test_uv"] / desc["streams"][0]["scale"])
    assert set(np.unique(samples)) == {-amp, amp}
    # 2 Hz square wave: 250 samples per half period
    assert (samples[:250] == amp).all() and (samples[250:500] == -amp).all()
    texts = [r["text"] for r in truth.records if r["type"] == "command"]
    assert texts[:2] == ["INFO", "RATE 1000"]
    # after STOP nothing more comes
    assert _talk(emu, b"", 0.2) == b""


def test_prosthesis_streams_at_their_own_rates() -> None:
    data, truth = run(format="sio", profile="prosthesis", autostart=True, duration=2.0, seed=1)
    p, streams = decode(data)
    info = json.loads(p.read_messages()[0].text)
    assert [s["name"] for s in info["streams"]] == ["emg", "imu", "force", "position"]
    assert [s["enc"] for s in info["streams"]] == [
        sio1.ENC_I24,
        sio1.ENC_I16,
        sio1.ENC_U16,
        sio1.ENC_U16,
    ]
    for s in info["streams"]:
        arr = streams[s["id"]]
        assert arr["samples"].shape[1] == s["channels"]
        assert arr["samples"].shape[0] == pytest.approx(2.0 * s["rate_hz"], abs=s["rate_hz"] * 0.01)
        assert arr["samples"].min() >= s["min_code"] and arr["samples"].max() <= s["max_code"]
        # t_us follows the stream's own rate
        dt = np.diff(arr["frame_t_us"].astype(np.int64))
        n_samp = truth.start["frame_samples"][str(s["id"])]
        assert np.allclose(dt, n_samp * 1e6 / s["rate_hz"], atol=1)
    acc = streams[1]["samples"] * info["streams"][1]["scale"]
    assert np.linalg.norm(acc.mean(axis=0)) == pytest.approx(1.0, abs=0.05)  # gravity
    # grip force follows the EMG activity
    force = streams[2]["samples"][:, 4].astype(float)
    assert force.max() - force.min() > 100 or truth.start["seed"] == 1
    assert p.stats.lost_frames == 0 and p.stats.crc_errors == 0


def test_an_hd_emg_rig_of_256_channels_is_four_sio_streams() -> None:
    """channels=256 (high-density EMG) on SIO-1, which carries at most 64 a
    stream: four EMG streams of 64, each its own EMG (not copies), at the
    same rate, which RATE changes together; INFO fits its frame (no labels).
    Before, anything above 64 was refused."""
    data, truth = run(format="sio", profile="emg8", channels=256, rate=1000, autostart=True, duration=1.0, seed=3)
    p, streams = decode(data)
    info = json.loads(p.read_messages()[0].text)
    assert info["device"] == "sensorio-emu EMG256"
    assert [(s["id"], s["name"], s["channels"], s["rate_hz"]) for s in info["streams"]] == [
        (0, "emg", 64, 1000.0), (1, "emg2", 64, 1000.0), (2, "emg3", 64, 1000.0), (3, "emg4", 64, 1000.0)
    ]  # fmt: skip
    assert all("labels" not in s for s in info["streams"])
    shapes = {sid: a["samples"].shape for sid, a in streams.items()}
    assert shapes == {sid: (1000, 64) for sid in range(4)}
    assert not np.array_equal(streams[0]["samples"], streams[1]["samples"])
    assert p.stats.lost_frames == 0 and p.stats.crc_errors == 0
    emu, _ = _emulator(format="sio", profile="emg8", channels=100)
    q = sensorio.Parser()
    q.feed(_talk(emu, b""))
    q.feed(_talk(emu, b"RATE 4000\n"))
    q.feed(_talk(emu, b"INFO\n"))
    infos = [json.loads(m.text) for m in q.read_messages() if m.kind == "info"]
    assert [(s["channels"], s["rate_hz"]) for s in infos[-1]["streams"]] == [(64, 4000.0), (36, 4000.0)]
    # the gestures' spatial pattern spans the rig: each stream its own columns of it
    data, _ = run(format="sio", profile="gestures", channels=100, rate=1000, autostart=True, duration=1.0, seed=3)
    _, hd = decode(data)
    assert hd[0]["samples"].shape == (1000, 64) and hd[1]["samples"].shape == (1000, 36)
    with pytest.raises(UsageError, match="serves 1 to 256"):
        _emulator(format="sio", profile="emg8", channels=257)
    with pytest.raises(UsageError, match="has other streams"):
        _emulator(format="sio", profile="prosthesis", channels=65)


def test_cyton_packets_and_commands() -> None:
    emu, truth = _emulator(format="cyton", truth_codes=True, seed=3)
    assert _talk(emu, b"v").endswith(b"$$$")
    assert _talk(emu, b"d") == b"updating channel settings to default$$$"
    assert _talk(emu, b"x3020000X") == b"Success: Channel set for 3$$$"  # channel 3 at gain 4
    _talk(emu, b"2")  # channel 2 off
    data = _talk(emu, b"b", 1.0)
    _talk(emu, b"s")
    emu.close()
    pk = cyton_packets(data)
    log = TruthLog(truth.records)
    assert pk.shape[0] == log.frame_seq(0).size >= 250
    np.testing.assert_array_equal(pk[:, 1], log.frame_seq(0) & 0xFF)
    codes = cyton_codes(pk)
    np.testing.assert_array_equal(codes, log.codes(0))
    assert not codes[:, 1].any()  # channel 2 is powered down
    # gain 4 instead of 24: a sixth of the codes of the same signal
    ref, _ = run(b"b", format="cyton", seed=3, truth_codes=True, duration=1.0)
    ref_codes = cyton_codes(cyton_packets(ref))
    n = min(codes.shape[0], ref_codes.shape[0])
    np.testing.assert_allclose(codes[:n, 2], ref_codes[:n, 2] / 6, atol=1)
    np.testing.assert_array_equal(codes[:n, 0], ref_codes[:n, 0])
    assert codes[:, 0].std() * UV_PER_COUNT > 1  # microvolts of EMG, not noise in the last bit


def test_cyton_link_faults_in_the_bytes() -> None:
    clean, _ = run(b"b", format="cyton", seed=4, duration=1.0)
    bad, truth = run(
        b"b",
        format="cyton",
        seed=4,
        duration=1.0,
        link=["drop:at=0.2,count=2", "bitflip:at=0.5", "garbage:at=0.7,bytes=40"],
    )
    cp = cyton_packets(clean)
    [garbage] = truth.link_faults(kind="garbage")
    [(_, gseq)] = garbage["frames"]
    # the noise sits just before packet gseq and never contains a start byte
    dropped = truth.touched("drop")
    before = gseq - len(dropped)
    pos = before * 33
    noise = bad[pos : pos + 40]
    assert 0xA0 not in noise
    packets = cyton_packets(bad[:pos] + bad[pos + 40 :])
    keep = [i for i in range(cp.shape[0]) if i not in dropped]
    [(_, fseq, offset, bit)] = truth.link_faults(kind="bitflip")[0]["frames"]
    expect = cp[keep].copy()
    expect[keep.index(fseq), offset] ^= 1 << bit
    np.testing.assert_array_equal(packets, expect)
    assert 2 <= offset < 26  # a sample byte: Cyton has no check, the packet still looks valid


@pytest.mark.parametrize("labels,counter", [(False, False), (True, True), (False, True)])
def test_ascii_lines(labels: bool, counter: bool) -> None:
    data, truth = run(
        format="ascii",
        seed=2,
        duration=0.5,
        truth_codes=True,
        labels=labels,
        counter=counter,
        link=["drop:at=0.2,count=2"],
    )
    lines = data.decode().split("\r\n")
    assert lines[-1] == ""
    rows = []
    for line in lines[:-1]:
        fields = line.split(",")
        if labels:
            names = [f.split(":")[0] for f in fields]
            assert names == (["n"] if counter else []) + ["ch1", "ch2", "ch3", "ch4"]
            fields = [f.split(":")[1] for f in fields]
        rows.append([int(f) for f in fields])
    arr = np.array(rows)
    sent = truth.frame_seq(0)
    if counter:
        np.testing.assert_array_equal(arr[:, 0], sent)
        arr = arr[:, 1:]
    np.testing.assert_array_equal(arr, truth.codes(0))
    assert truth.touched("drop") == [100, 101]
    assert arr.min() >= 0 and arr.max() <= 1023


def test_record_of_an_hd_emg_rig_counts_each_stream(tmp_path) -> None:
    """`sensorio record` of 130 channels (streams of 64, 64 and 2) says
    each stream's samples; it said their sum, three times the samples of
    any channel."""
    import subprocess
    import sys

    out = tmp_path / "hd.sior"
    url = "sim://emg8?channels=130&rate=1000&duration=2&autostart=1&fast=1"
    r = subprocess.run(
        [sys.executable, "-m", "sensorio", "record", url, "-o", str(out), "--quiet"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert "2000 samples in each of 3 streams" in r.stdout, r.stdout
