"""The pytest plugin's fixtures work in a user's test suite."""

from __future__ import annotations

from support import pytest_plugin_args

# imported here so that pytester's in-process runs reuse them (a cffi
# extension cannot be loaded twice in one process)
import sensorio.emulator.pty  # noqa: F401
import sensorio.testing.plugin  # noqa: F401
import sensorio.urlhandler.protocol_sim  # noqa: F401

pytest_plugins = ["pytester"]

USER_TESTS = """
import serial
import sensorio


def test_device_on_a_pty(sensorio_emulator):
    dev = sensorio_emulator(format="sio", profile="emg8", seed=2, link=["drop:at=0.1,count=2"])
    port = serial.Serial(dev.port, timeout=0.05)
    p = sensorio.Parser()
    port.write(b"START\\n")
    while p.stats.frames_ok < 40:
        p.feed(port.read(max(1, port.in_waiting)))
    port.write(b"STOP\\n")
    for _ in range(5):
        p.feed(port.read(100000))
    port.close()
    truth = dev.stop()
    assert truth.touched("drop") == [25, 26]
    assert p.stats.lost_frames == 2
    assert p.stats.frames_ok == truth.frame_seq(0).size
    assert dev.truth_file.exists()


def test_sim_port(sensorio_sim):
    port = sensorio_sim("prosthesis", timeout=0.1, fast=True, autostart=True, duration=0.2)
    p = sensorio.Parser()
    while chunk := port.read(4096):
        p.feed(chunk)
    assert p.stats.frames_ok == sum(port.truth.frame_seq(s).size for s in port.truth.streams())
"""


def test_fixtures_in_a_user_suite(pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_inprocess(*pytest_plugin_args(), "-q")
    result.assert_outcomes(passed=2)


def test_emulator_errors_fail_the_test(pytester) -> None:
    pytester.makepyfile(
        test_bad="""
def test_bad(sensorio_emulator):
    sensorio_emulator(format="sio", fault=["liftoff:channel=100"])
"""
    )
    result = pytester.runpytest_inprocess(*pytest_plugin_args(), "-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*channel 100: stream 0 has channels 1..8*"])
