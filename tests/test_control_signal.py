"""sensorio.control.run() and attach() on a live emulated device that stops
delivering (a stall: nothing for a while, then all at once) or is
unplugged: the safe output comes once, stale decisions are dropped, and
deciding resumes when the signal is back. The library had no such watch
(only `sensorio control` had): a library user's motor went on moving on
the last decision while the signal was gone."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sensorio.capture import open as capture_open
from sensorio.control import Decision, FeatureExtractor, Model, attach, fit_model, label_windows, run
from sensorio.control.bench import synthetic_gestures

RATE = 2000.0
#: the silence that is a loss in these tests: twice the default, so that a
#: loaded machine's hiccup in a real-time device is not taken for one; the
#: stalls below last four times as long
NO_SIGNAL_S = 1.0
STALL_AT_S = 1.0
#: the emulated device (real time): a stall of its stream 0 at STALL_AT_S
#: device seconds, delivered all at once after 4 s; it ends after 6 s
STALL_URL = f"sim://gestures?seed=2&autostart=1&duration=6&link=stall:at={STALL_AT_S},dur=4"
UNPLUG_URL = "sim://gestures?seed=2&duration=6&link=unplug:at=1,dur=2"


@pytest.fixture(scope="module")
def model() -> Model:
    """A small model for the emulated 8-channel 2000 Hz gesture device (which
    gestures it finds does not matter here: only when it decides)."""
    x, row_class = synthetic_gestures(n_channels=8, rate_hz=RATE, n_classes=3, seconds_per_class=1.0)
    fx = FeatureExtractor(RATE, 8)
    win = fx.process(x)
    return fit_model(win, label_windows(win.end_row, fx.window, row_class), ["rest", "open", "close"], fx)


def _check_losses(decisions: list[Decision], reports: list[tuple[bool, str]], reason: str, near_row: float) -> None:
    """A safe output with ``reason`` came near ``near_row`` (where the signal
    stopped); each loss came once, and decisions of new rows followed it;
    the losses and returns were reported in turn."""
    lost = [k for k, d in enumerate(decisions) if d.safe and d.reason.startswith(reason)]
    assert lost, [(d.end_row, d.safe, d.reason) for d in decisions]
    for k in lost:
        safe = decisions[k]
        assert safe.label == "rest" and safe.speed == 0.0
        # once: the next decision is a real one again, made of rows after the loss
        assert k + 1 < len(decisions), "no decision after the signal came back"
        after = decisions[k + 1]
        assert not after.safe and after.end_row > safe.end_row
        assert all(d.end_row > safe.end_row for d in decisions[k + 1 :])  # nothing stale
    # (a loaded machine may add a loss elsewhere; the one under test is where the signal stopped)
    assert any(abs(decisions[k].end_row - near_row) <= 0.25 * RATE for k in lost)
    assert [lost_ for lost_, _ in reports] == [True, False] * len(lost)
    assert all(why.startswith(reason) for lost_, why in reports if lost_)


def test_run_gives_the_safe_output_once_when_the_device_goes_silent(model: Model) -> None:
    """run() waited for the next block for ever: a stall yielded nothing
    until the data came back, and the consumer's motor went on moving."""
    reports: list[tuple[bool, str]] = []
    with capture_open(STALL_URL) as s:
        decisions = list(
            run(s, model, no_signal_s=NO_SIGNAL_S, on_signal=lambda lost, why: reports.append((lost, why)))
        )
    _check_losses(decisions, reports, "no signal for", STALL_AT_S * RATE)
    assert decisions[-1].t_s == pytest.approx(6.0)  # decided to the source's end


def test_attach_gives_the_safe_output_once_when_the_device_goes_silent(model: Model) -> None:
    """attach() had no watch: with no block, no callback ran, and nothing
    noticed the silence."""
    reports: list[tuple[bool, str]] = []
    decisions: list[Decision] = []
    with capture_open(STALL_URL) as s:
        attach(
            s,
            model,
            decisions.append,
            no_signal_s=NO_SIGNAL_S,
            on_signal=lambda lost, why: reports.append((lost, why)),
        )
        s.wait(120)
        assert s.source_ended
    _check_losses(decisions, reports, "no signal for", STALL_AT_S * RATE)
    assert decisions[-1].t_s == pytest.approx(6.0)


@pytest.mark.parametrize("how", ["run", "attach"])
def test_the_safe_output_goes_out_when_the_device_is_unplugged(model: Model, how: str) -> None:
    """An unplug is a loss at once, however long the silence allowed."""
    reports: list[tuple[bool, str]] = []
    decisions: list[Decision] = []
    options: dict[str, Any] = {"no_signal_s": 1000.0, "on_signal": lambda lost, why: reports.append((lost, why))}
    with capture_open(UNPLUG_URL, start_command="START") as s:
        if how == "run":
            decisions = list(run(s, model, **options))
        else:
            attach(s, model, decisions.append, **options)
            s.wait(120)
    _check_losses(decisions, reports, "the device disconnected", 1.0 * RATE)


def test_a_failure_at_the_safe_output_reaches_the_user_of_attach(model: Model) -> None:
    """The safe output is sent while no block comes: a failure of the
    callback given it ends the callbacks and is raised by wait() at once,
    not at the source's end."""
    failed = threading.Event()

    def on_decision(d: Decision) -> None:
        if d.safe:
            failed.set()
            raise RuntimeError("the motor controller is gone")

    s = capture_open(STALL_URL)
    try:
        attach(s, model, on_decision, no_signal_s=NO_SIGNAL_S, on_signal=lambda lost, why: None)
        with pytest.raises(Exception, match="the motor controller is gone"):
            s.wait(120)
        assert failed.is_set() and not s.source_ended  # raised during the stall, long before the end
    finally:
        s.close()


def test_a_slow_consumer_of_run_loses_no_signal(model: Model) -> None:
    """A loop that takes longer than no_signal_s over one decision, while
    the device streams on, has lost nothing: the port's bytes kept coming."""
    no_signal_s = 0.5
    slept_at: list[int] = []
    decisions: list[Decision] = []
    with capture_open("sim://gestures?seed=2&autostart=1&duration=3") as s:
        for d in run(s, model, no_signal_s=no_signal_s, on_signal=lambda lost, why: None):
            decisions.append(d)
            if not slept_at and d.end_row >= RATE:
                slept_at.append(d.end_row)
                threading.Event().wait(3 * no_signal_s)  # the motor took its time
    assert slept_at and decisions[-1].t_s == pytest.approx(3.0)
    # (a loaded machine may stall the device itself elsewhere: only the consumer's wait is checked)
    assert not [d for d in decisions if d.safe and abs(d.end_row - slept_at[0]) <= 0.5 * RATE], decisions


class _Ctl:
    """What SignalWatch needs of a Controller: settle and a safe decision."""

    def __init__(self) -> None:
        self.settled = 0

    def settle(self) -> None:
        self.settled += 1

    def safe_decision(self, end_row: int, reason: str) -> Any:
        return ("safe", end_row, reason)


def test_a_stream_gone_silent_while_another_goes_on_is_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """The port's own quiet time stands for a slow consumer's bytes on their
    way; but when blocks of the device's other streams come (another board
    of the rig, an IMU), this stream's silence is its own: the port was
    never quiet, so the signal was never lost and the motor moved on."""
    from sensorio.control import SignalWatch
    from sensorio.control import watch as watch_module

    now = [100.0]
    monkeypatch.setattr(watch_module.time, "monotonic", lambda: now[0])
    sent: list[Any] = []
    watch = SignalWatch(_Ctl(), lambda: 4000, sent.append, no_signal_s=0.5)
    watch.arrived()
    for _ in range(10):  # the other stream's blocks go on, 0.1 s apart; the port is never quiet
        now[0] += 0.1
        watch.other()
        watch.poll(0.0)
    assert len(sent) == 1 and sent[0][:2] == ("safe", 4000) and sent[0][2].startswith("no signal for")
    # a consumer only slow (nothing decoded since: no other stream's block
    # either) with bytes arriving loses nothing
    sent.clear()
    watch = SignalWatch(_Ctl(), lambda: 4000, sent.append, no_signal_s=0.5)
    watch.arrived()
    now[0] += 2.0
    watch.poll(0.0)
    assert sent == []


def test_run_raises_a_capture_failure_that_comes_as_the_source_ends(model: Model) -> None:
    """The capture's reader may fail as it finishes, after the last read
    looked for a failure: run() ended as if the data had, and the failure
    was lost (iterating the Stream itself raises it)."""
    stream = capture_open("sim://gestures?seed=2&autostart=1&duration=1")
    read = stream.read

    def read_then_fail(timeout: float | None = None) -> Any:
        got = read(timeout)
        reader: Any = stream._reader
        if reader.finished and not got and reader.error is None:
            reader.error = RuntimeError("the port failed as it ended")  # between read()'s two checks
        return got

    stream.read = read_then_fail  # type: ignore[method-assign]
    try:
        with pytest.raises(Exception, match="the port failed as it ended"):
            list(run(stream, model))
    finally:
        stream.close()
