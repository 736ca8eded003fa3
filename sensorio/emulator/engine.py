"""The emulator core: a device, its link, its ground truth and its clock.

Transports (the pseudo-terminal server, the ``sim://`` port) call
``input()`` with host bytes, ``step()`` to get what is due for delivery,
and report back what they ``delivered()`` or had to ``discard()``.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any

from ..errors import UsageError
from .config import EmulatorConfig
from .devices import DEVICES, AsciiDevice, Device
from .gestures import GestureSchedule
from .link import Frame, FrameBatch, LinkLayer, Outgoing
from .truth import Truth


class Clock:
    """Device seconds from the monotonic clock, running only while the
    device streams; ``speed`` 1 = real time, 0 = driven by the transport."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.dev_base = 0.0
        self.mono_base = 0.0
        self.running = False

    def now(self, mono: float) -> float:
        if self.running and self.speed > 0:
            return self.dev_base + (mono - self.mono_base) * self.speed
        return self.dev_base

    def set_running(self, running: bool, mono: float) -> None:
        if running and not self.running:
            self.mono_base = mono
        elif not running and self.running:
            self.dev_base = self.now(mono)
        self.running = running

    def jump(self, dev_t: float, mono: float) -> None:
        self.dev_base = max(self.dev_base, dev_t)
        self.mono_base = mono

    def mono_of(self, dev_t: float) -> float:
        """Monotonic time at which the device clock reaches dev_t."""
        if not self.running or self.speed <= 0:
            return self.mono_base
        return self.mono_base + (dev_t - self.dev_base) / self.speed


#: how far before a duration's end the last sample may be taken (see _advance)
DURATION_EPS_S = 1e-8


class Emulator:
    """One emulated device with its link faults and ground truth."""

    #: how late (device seconds) producing a frame may be before it counts as falling behind
    LAG_LIMIT_S = 0.05
    #: device seconds generated per step in fast mode, at the least
    FAST_CHUNK_S = 0.05
    #: bytes one fast step aims at: a slow device (a 250 Hz Cyton gives 8 kB
    #: per second) would otherwise pay a step's fixed cost for a few hundred
    #: bytes; the chunk grows to about this many bytes (never beyond
    #: MAX_STEP_SAMPLES), sized from the bytes per device second seen so far
    FAST_STEP_BYTES = 128 * 1024
    #: most samples of its fastest stream one step generates: a device that
    #: falls behind real time catches up in steps of this size, each giving
    #: the transport its turn (stop, timeout, the host's reads), and memory
    #: stays bounded instead of growing with the lag
    MAX_STEP_SAMPLES = 32768
    #: fast steps hand frames on in batches (one Outgoing per stream and
    #: step, link faults aside): the same bytes and truth, far fewer objects
    FAST_BATCHES = True

    def __init__(
        self,
        config: EmulatorConfig,
        truth: Truth | None = None,
        on_lag: Callable[[float, float], None] | None = None,
    ) -> None:
        self.config = config
        self.truth = truth if truth is not None else Truth(keep=False)
        self.profile = config.device_profile()
        faults = config.all_faults(self.profile)
        kw: dict[str, Any] = {"autostart": config.autostart} if config.autostart is not None else {}
        if config.format == "ascii":
            kw.update(labels=config.labels, counter=config.counter)
        #: the wearer's gesture sequence, when the device has one
        self.gestures: GestureSchedule | None = None
        if config.gestures is not None:
            # one spatial pattern over all the EMG channels (of several streams above 64)
            emg_channels = sum(st.channels for st in self.profile.streams if st.kind == "emg")
            self.gestures = GestureSchedule(config.gestures, config.seed, emg_channels)
            kw["activity"] = self.gestures
        cls = DEVICES[config.format]
        self.device: Device = cls(
            self.profile,
            config.signal,
            faults,
            config.seed,
            config.serial_number(),
            keep_codes=config.truth_codes,
            **kw,
        )
        ids = sorted(st.id for st in self.profile.streams)
        for lf in config.link:
            if lf.stream is not None and lf.stream not in ids:
                # (as a sensor fault's: it hit no frame and said nothing)
                raise UsageError(f"link fault {lf.kind} names stream {lf.stream}; the device has streams {ids}")
        self.link = LinkLayer(
            config.link,
            config.seed,
            self.device.corrupt,
            self.device.garbage_exclude,
            self.truth.write,
        )
        self.clock = Clock(config.speed)
        self._queue: list[tuple[float, int, Outgoing]] = []
        self._fast_chunk = self.FAST_CHUNK_S  # device seconds of the next fast step
        self._order = itertools.count()
        self._port_events = self.link.port_events()
        self.finished = False
        self.on_lag = on_lag
        #: False while the output goes nowhere (port unplugged or closed): then
        #: producing frames late delays no one and is not falling behind
        self.output_wanted = True
        self.lag_count = 0
        self.max_lag_s = 0.0
        self._last_lag_record = -1.0
        self.bytes_delivered = 0
        self.frames_delivered: dict[int, int] = {}
        #: per reason, the frames and the bytes that never reached the host
        #: (port_closed, overrun, unplug: never written; unread: written, then
        #: dropped from the pty unread)
        self.frames_discarded: dict[str, int] = {}
        self.bytes_discarded: dict[str, int] = {}
        start: dict[str, Any] = {
            "type": "start",
            "format": config.format,
            "profile": self.profile.name,
            "seed": config.seed,
            "speed": config.speed,
            "serial": config.serial_number(),
            "streams": [s.descriptor() for s in self.profile.streams],
            "frame_samples": {str(st.profile.id): st.n_samp for st in self.device.streams},
            "wall_time": time.time(),
        }
        if hasattr(self.device, "descriptor"):
            start["info"] = self.device.descriptor()
        if isinstance(self.device, AsciiDevice):
            start.update(labels=config.labels, counter=config.counter)
        if self.gestures is not None:
            g = config.gestures
            assert g is not None
            start["gestures"] = {
                "classes": list(self.gestures.classes),
                "subject": g.subject,
                "sequence_s": g.duration_s(),
                "loop": g.loop,
                "order": g.order,
                "variability": g.variability,
                "fatigue": g.fatigue,
                "ramp_s": g.ramp_s,
            }
        self.truth.write(start)
        for f in faults:
            self.truth.write(f.record())
        self._push(Outgoing(0.0, self.device.power_up()))
        self._sync_clock(time.monotonic())

    # -- host side -----------------------------------------------------------
    def input(self, data: bytes, mono: float | None = None) -> None:
        """Bytes the host wrote; the device's answers are due at once."""
        mono = time.monotonic() if mono is None else mono
        self._advance(self.clock.now(mono), mono)
        reply = self.device.handle_input(data)
        if reply:
            self._push(Outgoing(self.clock.now(mono), reply))
        for ev in self.device.events:
            self.truth.write({**ev, "t_s": round(self.clock.now(mono), 6)})
        self.device.events.clear()
        self._sync_clock(mono)

    def _sync_clock(self, mono: float) -> None:
        streaming = self.device.streaming and not self.finished
        if streaming != self.clock.running:
            self.clock.set_running(streaming, mono)
            if not streaming:
                # nothing stays held back while the device is stopped
                self._queue = [(min(d, self.clock.dev_base), o, it) for d, o, it in self._queue]
                heapq.heapify(self._queue)

    def _push(self, item: Outgoing) -> None:
        if item.data or item.control:
            heapq.heappush(self._queue, (item.due, next(self._order), item))

    # -- device side ---------------------------------------------------------
    def _step_span(self) -> float:
        """Device seconds one step may generate (MAX_STEP_SAMPLES of the fastest stream)."""
        return self.MAX_STEP_SAMPLES / max(st.rate for st in self.device.streams)

    def _advance(self, dev_t: float, mono: float, batches: bool = False) -> None:
        if not self.clock.running:
            return
        limit = self.config.duration
        first = self.device.next_frame_time()
        # frames up to dev_t, but at most one step's worth beyond the next one
        t = min(dev_t, first + self._step_span())
        upto = t
        if limit is not None:
            t = min(t, limit)
            # the duration's samples are those taken before it (a sample at
            # the limit itself was one more: 1001 of 1000 Hz in 1 s); 10 ns
            # is under any stream's period and over frames_due's rounding
            upto = min(upto, limit - DURATION_EPS_S)
        if upto >= first:
            lag = dev_t - first
            if self.clock.speed > 0 and lag > self.LAG_LIMIT_S and self.output_wanted:
                self._note_lag(dev_t, lag)
            if batches and not self.link.faults:
                # fast mode: one object per stream and step, not two per frame
                for due, data, batch in self.device.batches_until(upto):
                    self._push(Outgoing(due, data, batch=batch))
            else:
                for item in self.link.process(self.device.frames_until(upto)):
                    self._push(item)
            if self.gestures is not None:
                for rec in self.gestures.take_records():
                    self.truth.write(rec)
        while self._port_events and self._port_events[0][0] <= t:
            at, what = self._port_events.pop(0)
            self._push(Outgoing(at, control=what))
        if limit is not None and t >= limit:
            self.finished = True
            self.device.streaming = False
            self._sync_clock(mono)

    def _note_lag(self, dev_t: float, lag: float) -> None:
        self.lag_count += 1
        self.max_lag_s = max(self.max_lag_s, lag)
        if dev_t - self._last_lag_record >= 1.0:
            self._last_lag_record = dev_t
            self.truth.write({"type": "lag", "t_s": round(dev_t, 6), "lag_s": round(lag, 6)})
            if self.on_lag is not None:
                self.on_lag(dev_t, lag)

    def step(self, mono: float | None = None) -> list[Outgoing]:
        """Everything due by now (real-time pacing)."""
        mono = time.monotonic() if mono is None else mono
        now = self.clock.now(mono)
        self._advance(now, mono)
        out = []
        while self._queue and self._queue[0][0] <= now + 1e-9:
            out.append(heapq.heappop(self._queue)[2])
        return out

    def step_fast(self, mono: float | None = None, until: float | None = None) -> list[Outgoing]:
        """As fast as possible: the next chunk of device time at once (FAST_CHUNK_S
        or more, about FAST_STEP_BYTES of output), not past device time ``until``."""
        mono = time.monotonic() if mono is None else mono
        if self.clock.running:
            chunk = min(max(self.FAST_CHUNK_S, self._fast_chunk), self._step_span())
            start = max(self.clock.dev_base, self.device.next_frame_time())
            limit = self.config.duration
            if limit is not None:
                # the device clock ends at most FAST_CHUNK_S past the duration, as with fixed steps
                chunk = min(chunk, max(self.FAST_CHUNK_S, limit - start))
            target = start + chunk if until is None else max(self.clock.dev_base, min(start + chunk, until))
            self.clock.jump(target, mono)
            self._advance(target, mono, batches=self.FAST_BATCHES)
        out = [it for _, _, it in sorted(self._queue)]
        self._queue.clear()
        if self.clock.running:
            # the next chunk: about FAST_STEP_BYTES at the byte rate of this one
            got = sum(len(it.data) for it in out)
            if got:
                self._fast_chunk = min(4 * chunk, chunk * self.FAST_STEP_BYTES / got)
        return out

    def next_due_mono(self, mono: float) -> float | None:
        """When step() next has something to give (None: nothing scheduled)."""
        times = []
        if self._queue:
            times.append(self.clock.mono_of(self._queue[0][0]))
        if self.clock.running:
            times.append(self.clock.mono_of(self.device.next_frame_time()))
            if self._port_events:
                times.append(self.clock.mono_of(self._port_events[0][0]))
        return min(times) if times else None

    @property
    def idle(self) -> bool:
        """True when the device is not streaming and has nothing left to deliver."""
        return not self.clock.running and not self._queue

    # -- what became of the bytes ----------------------------------------------
    def delivered(self, items: list[Outgoing]) -> None:
        """Count the bytes and frames of ``items`` as delivered to the host, and record the frames in the truth."""
        self.bytes_delivered += sum(len(it.data) for it in items)
        frames: list[Frame | FrameBatch] = []
        for it in items:
            if it.batch is not None:
                frames.append(it.batch)
            elif it.frame is not None:
                frames.append(it.frame)
        self._record_frames(frames)

    def _record_frames(self, frames: list[Frame | FrameBatch]) -> None:
        if not self.truth.active:
            for fr in frames:
                n = len(fr) if isinstance(fr, FrameBatch) else 1
                self.frames_delivered[fr.stream] = self.frames_delivered.get(fr.stream, 0) + n
            return
        # one record per run of frames of one stream (batches and single
        # frames alike: the records do not depend on how frames were handed on)
        groups: list[list[Frame | FrameBatch]] = []
        for fr in frames:
            g = groups[-1] if groups else None
            if g and g[-1].stream == fr.stream and g[-1].n_samp == fr.n_samp:
                g.append(fr)
            else:
                groups.append([fr])
        for g in groups:
            seq: list[int] = []
            t_us: list[int] = []
            codes: list[Any] | None = [] if g[0].codes is not None else None
            for fr in g:
                if isinstance(fr, FrameBatch):
                    seq += range(fr.seq0, fr.seq0 + len(fr))
                    t_us += fr.t_us
                    if codes is not None and fr.codes is not None:
                        codes += fr.codes.reshape(len(fr), fr.n_samp, -1).tolist()
                else:
                    seq.append(fr.seq)
                    t_us.append(fr.t_us)
                    if codes is not None and fr.codes is not None:
                        codes.append(fr.codes.tolist())
            rec: dict[str, Any] = {
                "type": "frames",
                "stream": g[0].stream,
                "n_samp": g[0].n_samp,
                "sample0": g[0].sample0,
                "seq": seq,
                "t_us": t_us,
            }
            if codes is not None:
                rec["codes"] = codes
            self.truth.write(rec)
            self.frames_delivered[g[0].stream] = self.frames_delivered.get(g[0].stream, 0) + len(seq)

    def discard(self, items: list[Outgoing], reason: str, t_s: float | None = None) -> None:
        """Bytes that never reached the host: ``port_closed`` (no one had the
        port open) or ``overrun`` (the host stopped reading, the device's
        buffer filled)."""
        frames = [key for it in items for key in it.frame_keys()]
        nbytes = sum(len(it.data) for it in items)
        if not nbytes:
            return
        self._count_discarded(reason, len(frames), nbytes)
        t = self.clock.now(time.monotonic()) if t_s is None else t_s
        self.truth.write({"type": "link", "kind": reason, "at_s": round(t, 6), "bytes": nbytes, "frames": frames})

    def unread(self, frames: list[list[int]], nbytes: int, reason: str = "unread") -> None:
        """Bytes written to the port that the host never read (the port
        closed, or the device was unplugged or stopped, with them still in
        it; reason ``flushed``: the host threw them away itself, a sim://
        port's reset_input_buffer): ``frames`` are their [stream, seq]. They stay in the delivered
        totals (they were on the wire) and are counted as discarded too, so
        that the end record accounts for every byte the host did not get."""
        if not nbytes:
            return
        self._count_discarded(reason, len(frames), nbytes)
        self.truth.write({"type": "link", "kind": reason, "bytes": nbytes, "frames": frames})

    def _count_discarded(self, reason: str, frames: int, nbytes: int) -> None:
        self.frames_discarded[reason] = self.frames_discarded.get(reason, 0) + frames
        self.bytes_discarded[reason] = self.bytes_discarded.get(reason, 0) + nbytes

    def close(self) -> None:
        """End the run: record the link faults still open and the ``end`` totals in the truth, and flush it."""
        self.link.close()
        self.truth.write(
            {
                "type": "end",
                "device_s": round(self.clock.now(time.monotonic()), 6),
                "frames": {str(k): v for k, v in sorted(self.frames_delivered.items())},
                "bytes": self.bytes_delivered,
                "discarded": self.frames_discarded,
                "discarded_bytes": self.bytes_discarded,
                "lag_count": self.lag_count,
                "max_lag_s": round(self.max_lag_s, 6),
            }
        )
        self.truth.flush()


def render(config: EmulatorConfig, commands: bytes = b"") -> tuple[bytes, Truth]:
    """Run a device with a duration as fast as possible and return every byte
    it put on the wire and its ground truth (records kept in memory).
    ``commands`` are host bytes sent first (e.g. b"START\\n")."""
    if config.duration is None:
        raise ValueError("render() needs a config with a duration")
    fast = EmulatorConfig(**{**config.__dict__, "speed": 0.0})
    truth = Truth(keep=True)
    emu = Emulator(fast, truth)
    if commands:
        emu.input(commands)
    out = bytearray()
    while True:
        items = emu.step_fast()
        data = [it for it in items if not it.control]
        for it in data:
            out += it.data
        emu.delivered(data)
        if emu.idle:
            break
    emu.close()
    return bytes(out), truth
