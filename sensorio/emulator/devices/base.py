"""What every emulated device has: streams that turn the signal model and
the sensor faults into frames of ADC codes, on the device's sample clock."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ...errors import UsageError
from ..faults import SensorFault, StreamFaults
from ..link import Frame, FrameBatch
from ..profiles import DeviceProfile, StreamProfile
from ..signals import ActivitySchedule, SignalConfig, StreamSignal, to_codes


class StreamState:
    """One stream's sample clock, signal, faults and frame counter."""

    #: device seconds of samples generated at a time
    GEN_BLOCK_S = 0.05
    #: but no more samples than this at a time (memory stays bounded at any rate)
    GEN_BLOCK_MAX = 32768

    def __init__(
        self,
        profile: StreamProfile,
        signal: SignalConfig,
        faults: list[SensorFault],
        seed: int,
        activity: ActivitySchedule,
        frame_samples: int,
    ) -> None:
        self.profile = profile
        self.signal = StreamSignal(profile, signal, seed, activity)
        self.faults = StreamFaults(faults, profile, seed)
        self.n_samp = frame_samples
        self.seq = 0
        self.sample = 0  # samples produced so far
        # sample k is taken at t0 + (k - k0) / rate device seconds
        self.t0 = 0.0
        self.k0 = 0
        self._signal_cfg = signal
        self._buf_codes = np.zeros((0, profile.channels), dtype=np.int64)
        self._buf_leadoff = np.zeros(0, dtype=np.uint64)
        self._buf_t = np.zeros(0)
        self._buf_pos = 0
        self._seed = seed
        self._activity = activity

    @property
    def rate(self) -> float:
        return self.profile.rate_hz

    def sample_time(self, k: int) -> float:
        return self.t0 + (k - self.k0) / self.rate

    def next_frame_end(self) -> float:
        """Device time at which the next frame's last sample is taken."""
        return self.sample_time(self.sample + self.n_samp - 1)

    def frames_due(self, t: float) -> int:
        if t < self.next_frame_end():
            return 0
        last = self.k0 + int(np.floor((t - self.t0) * self.rate + 1e-9))  # last sample taken by t
        return max(0, (last - self.sample + 1) // self.n_samp)

    def produce(self, n_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """codes (rows, ch) int64, per-row lead-off masks, per-row times."""
        n = n_frames * self.n_samp
        while self._buf_codes.shape[0] - self._buf_pos < n:
            self._generate(max(n, min(int(self.GEN_BLOCK_S * self.rate), self.GEN_BLOCK_MAX)))
        rows = slice(self._buf_pos, self._buf_pos + n)
        codes, leadoff, t = self._buf_codes[rows], self._buf_leadoff[rows], self._buf_t[rows]
        self._buf_pos += n
        self.sample += n
        if self.signal.test_mode:
            # the internal test signal replaces the electrode inputs (and their faults)
            square = np.where(
                np.floor(2 * self.signal.test_hz * t) % 2 == 0,
                self.signal.test_uv,
                -self.signal.test_uv,
            )
            codes = to_codes(np.repeat(square[:, None], codes.shape[1], axis=1), self.profile)
        return codes, leadoff, t

    def _generate(self, n: int) -> None:
        """Signal, faults and ADC for the next n samples after the buffered ones.
        Generating ahead in blocks costs less per sample and, the generators
        being chunk-invariant, gives the same samples."""
        k = self.sample + self._buf_codes.shape[0] - self._buf_pos
        t = self.t0 + (np.arange(k, k + n) - self.k0) / self.rate
        values = self.signal.next(n)
        self.faults.apply_physical(values, t)
        codes = to_codes(values, self.profile)
        leadoff = self.faults.apply_codes(codes, t)
        keep = slice(self._buf_pos, None)
        self._buf_codes = np.concatenate([self._buf_codes[keep], codes])
        self._buf_leadoff = np.concatenate([self._buf_leadoff[keep], leadoff])
        self._buf_t = np.concatenate([self._buf_t[keep], t])
        self._buf_pos = 0

    def set_rate(self, rate_hz: float, frame_samples: int) -> None:
        """Change the sample rate at the current sample clock position."""
        t_now = self.sample_time(self.sample)
        self.profile = replace(self.profile, rate_hz=float(rate_hz))
        self.t0, self.k0 = t_now, self.sample
        # samples generated ahead at the old rate are not taken
        index = self.signal.index - (self._buf_codes.shape[0] - self._buf_pos)
        self._buf_codes = self._buf_codes[:0]
        self._buf_leadoff = self._buf_leadoff[:0]
        self._buf_t = self._buf_t[:0]
        self._buf_pos = 0
        self.signal = StreamSignal(self.profile, self._signal_cfg, self._seed, self._activity)
        self.signal.index = index
        self.signal.t_offset = t_now - index / rate_hz
        self.faults.stream = self.profile
        self.n_samp = frame_samples


class Device:
    """Base of the emulated devices. Subclasses encode frames and answer commands.

    The sample clock runs only while the device streams, so device seconds
    (fault times, frame t_us) are the same whatever the host's timing.
    """

    format = ""
    #: bytes that noise must not contain (frame delimiter / start byte)
    garbage_exclude = b""

    def __init__(
        self,
        profile: DeviceProfile,
        signal: SignalConfig,
        faults: list[SensorFault],
        seed: int,
        serial: str,
        keep_codes: bool = False,
        activity: ActivitySchedule | None = None,
    ) -> None:
        self.profile = profile
        self.serial = serial
        self.seed = seed
        self.keep_codes = keep_codes
        #: what the wearer does (a schedule of rest and contraction by default)
        self.activity = activity or ActivitySchedule(seed, signal.rest_s, signal.contraction_s)
        self.streams = [
            StreamState(s, signal, faults, seed, self.activity, self.frame_samples(s)) for s in profile.streams
        ]
        self.streaming = False
        #: records for the ground truth (commands and answers)
        self.events: list[dict[str, Any]] = []
        # a fault on a stream the device does not have is a mistake
        ids = {s.id for s in profile.streams}
        for f in faults:
            if f.stream not in ids:
                raise UsageError(f"fault {f.kind} names stream {f.stream}; the device has streams {sorted(ids)}")

    def frame_samples(self, stream: StreamProfile) -> int:
        """Samples per channel in each frame of this stream (the profile's ``samples_per_frame``)."""
        return stream.samples_per_frame

    # -- to override -------------------------------------------------------
    def power_up(self) -> bytes:
        """Bytes the device sends when it is switched on."""
        return b""

    def handle_input(self, data: bytes) -> bytes:
        """Host bytes in, reply bytes out (may change ``streaming``)."""
        return b""

    def encode_frames(
        self,
        stream: StreamState,
        codes: np.ndarray,
        leadoff: np.ndarray,
        seq0: int,
        t_us: list[int],
    ) -> list[bytes]:
        """Wire bytes of each frame (codes: n_frames * n_samp rows; t_us per frame)."""
        raise NotImplementedError

    def encode_batch(
        self,
        stream: StreamState,
        codes: np.ndarray,
        leadoff: np.ndarray,
        seq0: int,
        t_us: list[int],
    ) -> tuple[bytes, list[int]]:
        """The frames' wire bytes joined, and each frame's size: the same
        bytes as encode_frames (formats override it to encode in bulk)."""
        wires = self.encode_frames(stream, codes, leadoff, seq0, t_us)
        return b"".join(wires), [len(w) for w in wires]

    def corrupt(self, data: bytes, rng: np.random.Generator) -> tuple[bytes, int, int]:
        """Flip one bit; returns (new bytes, offset, bit)."""
        offset = int(rng.integers(len(data)))
        bit = int(rng.integers(8))
        out = bytearray(data)
        out[offset] ^= 1 << bit
        return bytes(out), offset, bit

    # -- frames ------------------------------------------------------------
    def next_frame_time(self) -> float:
        """Device time in seconds at which the next frame of any stream is complete (its last sample taken)."""
        return min(s.next_frame_end() for s in self.streams)

    def frames_until(self, t: float) -> list[Frame]:
        """Every frame completed by device time t, in time order."""
        out: list[Frame] = []
        for st in self.streams:
            k = st.frames_due(t)
            if not k:
                continue
            sample0 = st.sample
            codes, leadoff, times = st.produce(k)
            n = st.n_samp
            t_us = np.rint(times[::n] * 1e6).astype(np.int64).tolist()
            t_end = times[n - 1 :: n].tolist()
            wires = self.encode_frames(st, codes, leadoff, st.seq, t_us)
            sid = st.profile.id
            for i, data in enumerate(wires):
                out.append(
                    Frame(
                        stream=sid,
                        seq=st.seq + i,
                        sample0=sample0 + i * n,
                        n_samp=n,
                        t_us=t_us[i],
                        t_end=t_end[i],
                        data=data,
                        codes=codes[i * n : (i + 1) * n] if self.keep_codes else None,
                    )
                )
            st.seq += k
        out.sort(key=lambda f: f.t_end)
        return out

    def batches_until(self, t: float) -> list[tuple[float, bytes, FrameBatch]]:
        """The frames of frames_until(t), the same bytes in the same order,
        as (device time the first is complete, bytes, FrameBatch): one batch
        per run of frames of one stream (one per stream and step, unless
        streams interleave in time)."""
        per: list[tuple[np.ndarray, bytes, np.ndarray, FrameBatch]] = []
        for st in self.streams:
            k = st.frames_due(t)
            if not k:
                continue
            sample0 = st.sample
            codes, leadoff, times = st.produce(k)
            n = st.n_samp
            t_us = np.rint(times[::n] * 1e6).astype(np.int64).tolist()
            data, sizes = self.encode_batch(st, codes, leadoff, st.seq, t_us)
            batch = FrameBatch(st.profile.id, st.seq, sample0, n, t_us, sizes, codes if self.keep_codes else None)
            per.append((times[n - 1 :: n], data, np.concatenate([[0], np.cumsum(sizes)]), batch))
            st.seq += k
        if len(per) == 1:
            t_end, data, _, batch = per[0]
            return [(float(t_end[0]), data, batch)]
        if not per:
            return []
        # streams interleave: the order frames_until gives (a stable sort by
        # completion time of the frames listed stream by stream), cut into runs
        t_all = np.concatenate([p[0] for p in per])
        which = np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(per)])
        index = np.concatenate([np.arange(len(p[0])) for p in per])
        order = np.argsort(t_all, kind="stable")
        which, index, t_all = which[order], index[order], t_all[order]
        starts = np.flatnonzero(np.diff(which, prepend=-1))
        ends = np.append(starts[1:], len(which))
        out = []
        for a, e in zip(starts.tolist(), ends.tolist(), strict=True):
            t_end, data, offsets, b = per[int(which[a])]
            i, j = int(index[a]), int(index[e - 1]) + 1
            rows = slice(i * b.n_samp, j * b.n_samp)
            part = FrameBatch(
                b.stream,
                b.seq0 + i,
                b.sample0 + i * b.n_samp,
                b.n_samp,
                b.t_us[i:j],
                b.sizes[i:j],
                b.codes[rows] if b.codes is not None else None,
            )
            out.append((float(t_all[a]), data[offsets[i] : offsets[j]], part))
        return out
