"""SignalWatch: the safe output when the EMG signal is lost.

The one rule, for :func:`sensorio.control.run`, :func:`sensorio.control.attach`
and ``sensorio control``: the signal is lost when the device disconnects, or
when, once blocks of the stream have come, none has come for ``no_signal_s``
and the port has delivered no byte for as long (a consumer that is only slow,
with bytes still arriving, has lost nothing) or blocks of the device's other
streams came meanwhile (they would have come after this stream's). Then, once until the signal is
back: the vote and the speed ramp are brought to rest and the safe Decision
(rest, speed 0, ``safe`` set, ``reason`` saying why) goes out at once. Until
a decision is made of rows that came after the loss, decisions made of what
was in the pipeline before it are dropped: their data is stale.

A motor must not keep moving on the last decision while the signal is gone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from .decoders import Decision

#: with no block of the EMG stream for this long (s), and no byte from the
#: port either, the signal is lost
NO_SIGNAL_S = 0.5

#: ``on_signal(lost, why)``: lost True with the reason when the signal is
#: lost, False (why "") when it is back
SignalCallback = Callable[[bool, str], None]

log = logging.getLogger("sensorio.control")


class SignalWatch:
    """Passes decisions on to ``send`` and sends the safe output when the
    signal is lost (see the module's rule).

    ``controller``: the Controller making the decisions (its ``settle`` and
    ``safe_decision``); ``next_row``: the stream row the pipeline takes next
    (called only once a block has come); ``no_signal_s``: silence that is a
    loss; ``on_signal``: told of each loss and return, else they are logged
    on the ``sensorio.control`` logger (a warning, then info).

    Threads: ``disconnected`` and ``on_event`` may be called from any thread
    (a capture's reader); everything else from the one thread that makes
    the decisions."""

    def __init__(
        self,
        controller: Any,
        next_row: Callable[[], int],
        send: Callable[[Decision], None],
        *,
        no_signal_s: float = NO_SIGNAL_S,
        on_signal: SignalCallback | None = None,
    ) -> None:
        self.controller = controller
        self.next_row = next_row
        self._send = send
        self.no_signal_s = float(no_signal_s)
        self.on_signal = on_signal
        self.last: float | None = None  # when the stream's last block was done with (None: none yet)
        self.stale_below: int | None = None  # set while lost: decisions ending at or before it are stale
        # written only by the thread that reports disconnects, read by the
        # deciding one: a count, so that none is lost between the two
        self._disconnects = 0
        self._disconnects_seen = 0
        self._others = False  # a block of another stream came since this one's last
        #: stale decisions dropped (made of data from before a loss), for a closing count
        self.dropped = 0

    @property
    def lost(self) -> bool:
        """The signal is lost (the safe output has gone out, and no decision since)."""
        return self.stale_below is not None

    def arrived(self) -> None:
        """A block of the stream has been processed (call it after its work:
        a long batch is no silence)."""
        self.last = time.monotonic()
        self._others = False

    def other(self) -> None:
        """A block of another stream of the device came. A read hands over
        every block decoded so far, in order: this stream's silence since its
        last block is then its own, whatever the port delivers (another
        board of the rig, or the device's other stream, goes on)."""
        self._others = True

    def disconnected(self) -> None:
        """The device disconnected (from any thread): the next ``poll`` loses the signal."""
        self._disconnects += 1

    def on_event(self, event: Any) -> None:
        """A capture Stream's event callback (``Stream.add_event_callback``):
        a "disconnect" event is a ``disconnected``."""
        if getattr(event, "kind", None) == "disconnect":
            self.disconnected()

    def poll(self, port_quiet_s: float | None) -> None:
        """After a read of the stream (with blocks or none): a disconnect
        reported since loses the signal; so does silence, with
        ``port_quiet_s`` the seconds since the port last delivered a byte
        (None: not to be checked, e.g. once the source has ended)."""
        if self._disconnects != self._disconnects_seen:
            self._disconnects_seen = self._disconnects
            self.lose("the device disconnected")
        if port_quiet_s is None or self.last is None or self.stale_below is not None:
            return
        quiet = time.monotonic() - self.last
        if not self._others:  # nothing decoded since: a slow consumer's bytes may be on their way
            quiet = min(quiet, port_quiet_s)
        if quiet >= self.no_signal_s:
            self.lose(f"no signal for {quiet:.1f} s")

    def send(self, decision: Decision) -> None:
        """A decision from the Controller: passed on, unless it is stale."""
        if self.stale_below is not None:
            if decision.end_row <= self.stale_below:
                self.controller.settle()  # (it went through the vote and the ramp: undone)
                self.dropped += 1
                return
            self.stale_below = None
            self._report(False, "")
        self._send(decision)

    def lose(self, why: str) -> None:
        """The signal is lost: the safe output now (once until it is back;
        nothing before the first block has come)."""
        if self.stale_below is not None or self.last is None:
            return
        row = self.next_row()
        self.stale_below = row
        self.controller.settle()
        self._send(self.controller.safe_decision(row, why))
        self._report(True, why)

    def _report(self, lost: bool, why: str) -> None:
        if self.on_signal is not None:
            self.on_signal(lost, why)
        elif lost:
            log.warning("signal lost (%s): safe output (rest) until it is back", why)
        else:
            log.info("the signal is back: deciding again")
