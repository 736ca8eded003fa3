"""Running the stages after a look-ahead stage ahead of it (the Pipeline's
helper; see RunAhead).

The fault detector holds its rows back a hop (its look-ahead) and lets them
out a whole hop at a time, so without this every stage after it would work
only on the block that completes a hop, and that block would carry the whole
hop's filtering. A look-ahead stage changes no value it lets through, only
validity (and the policy's value of an invalid sample, which no filter
reads): so the stages after it can filter the rows as they arrive, as if
every row were let through with the validity it came with. When the rows do
come out, with the same validity, what was computed ahead is their output;
where the validity differs (a fault was masked), the stages go back to the
state saved where those rows begin and run on them again. Either way the
output is the same as without running ahead: the stages are
chunk-invariant, and their state is restored exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..blocks import SignalBlock

if TYPE_CHECKING:
    from .stages import Stage

#: a call runs ahead at most this many times the rows that came in since the
#: filters last ran (after a fault it catches up over a few blocks, not all on one)
CATCH_UP = 2
#: samples (rows x channels) a call brings for the filters to run ahead on
#: them: on smaller blocks a stage call's fixed cost outweighs the work, and
#: the block completing a hop carries little (the fault detector's front
#: end waits for the hop then too, see faults._native.DEFER_BELOW)
RUN_AHEAD_MIN = 4096


class RunAhead:
    """The stages chain[...] after the look-ahead stage src, run ahead of it.

    chain: the indices of the stages that follow src, each either able to
    run ahead (its ``snapshot`` gives its state) or transparent (its output
    is its input block, such as the drift monitor: it runs on the rows when
    they come out, as without running ahead). The Pipeline hands over every
    block src takes (``took``), src's output blocks (``outputs``, which
    returns them as the last stage of the chain outputs them) and then, on
    a block that let no rows out (the block completing a hop has enough to
    do), lets it run ahead (``advance``)."""

    def __init__(self, stages: list[Stage], src: int, chain: list[int]) -> None:
        """Run the stages chain (indices into stages) ahead of stages[src]."""
        self.stages = list(stages)  # these objects (the Pipeline's list may be edited)
        self.src = src
        self.chain = chain
        self.filters = [j for j in chain if not stages[j].transparent]
        # the filters whose output is read when taken: the chain's last and
        # those before a transparent stage (the others' only reader is the
        # next filter, whose output is taken too)
        self.read = {
            j for i, j in enumerate(chain) if j in self.filters and (j == chain[-1] or j + 1 not in self.filters)
        }
        self._inputs: list[SignalBlock] = []  # src's input rows not yet output
        self._new_rows = 0  # rows src took in this call
        self._await_reset = False  # src took a reset block and has not output its first row yet
        self._resync = False  # src holds rows taken while not followed (see detach)
        self._done: int | None = None  # the stream row of src's next output
        self._front: int | None = None  # rows run ahead up to here (None: none)
        self._snaps: list[tuple[int, list[Any]]] = []  # (row, each filter's state there)
        self._snap_due = False  # the state at _front is to be saved before going on
        # src's input validity of the rows run ahead: (row, as given, a copy
        # in row-major memory for _take's comparison with src's output
        # validity, row-major: made here, on a block that completes no hop,
        # it spares that block the strided copy, 3 us a 10 ms block at 256
        # channels)
        self._valid: list[tuple[int, np.ndarray, np.ndarray]] = []
        # per filter: (row, rows, valid) of each piece run ahead, valid None
        # where it is the input's validity (as a filter gives it on)
        self._outs: dict[int, list[tuple[int, int, np.ndarray | None]]] = {j: [] for j in self.filters}
        # per filter read: its output run ahead, channel-major, one fresh array
        # per stretch between cuts (start row, end row, array), filled as the
        # rows are run (so the block that completes a stretch copies no more
        # than its own rows)
        self._bufs: dict[int, list[tuple[int, int, np.ndarray]]] = {j: [] for j in self.read}
        # per filter read: the transparent stages right after it, shown the
        # rows run ahead (Stage.watch_ahead)
        self._watchers: dict[int, list[int]] = {j: [] for j in self.read}
        for j in self.read:
            for t in chain[chain.index(j) + 1 :]:
                if not stages[t].transparent:
                    break
                self._watchers[j].append(t)
        #: src's output blocks taken from what was run ahead, and those run again
        self.accepted = self.rejected = 0

    # -- bookkeeping --------------------------------------------------------------
    def took(self, block: SignalBlock) -> None:
        """src is given block (before it runs on it)."""
        if block.reset:
            # src flushes what it held and starts afresh: so do the rows here
            # (its next output is that tail, in the old segment's rows; the
            # new segment's rows start with its output flagged reset)
            self.abandon()
            self._inputs, self._done, self._await_reset = [], None, True
        if self._done is None and not self._await_reset and not self._resync:
            self._done = block.start
        self._inputs.append(block)
        self._new_rows += len(block)

    def abandon(self) -> None:
        """Forget what was run ahead; the filters go back to their state at
        the start of src's next output (as if they had never run ahead)."""
        if self._front is None:
            return
        self._restore(self._done)
        self._clear()

    def detach(self) -> None:
        """Not followed for a while (run-ahead off, or a tap set): forget
        everything; the rows src takes meanwhile are not seen here."""
        self.abandon()
        self._inputs, self._done, self._new_rows = [], None, 0
        self._await_reset, self._resync = False, True

    def _clear(self) -> None:
        self._front = None
        self._snaps = []
        self._snap_due = False
        self._valid = []
        for pieces in self._outs.values():
            pieces.clear()
        for bufs in self._bufs.values():
            bufs.clear()

    def _restore(self, row: int | None) -> None:
        """The filters' state at row (saved, or the current one)."""
        for at, states in self._snaps:
            if at == row:
                for j, state in zip(self.filters, states, strict=True):
                    self.stages[j].restore(state)
                return
        if row != self._front:  # pragma: no cover - a saved state is kept for every row output can start at
            raise RuntimeError(f"run-ahead: no state saved at row {row}")

    # -- src's output ---------------------------------------------------------------
    def outputs(self, block: SignalBlock) -> dict[int, tuple[np.ndarray, np.ndarray] | None] | None:
        """Per filter of the chain, its output (data, valid) for src's output
        block, from what was run ahead; None for a filter whose output only
        the next filter reads (None for all: not run ahead, or with another
        validity; the filters are then back at the block's start and the
        caller runs the chain on it). The transparent stages are the
        caller's to run on the block."""
        s, e = block.start, block.start + len(block)
        accepted = None
        if self._resync and not self._await_reset:
            # rows src took while not followed come out first: follow again
            # once its output reaches the rows taken since
            self.rejected += 1
            self._done = e
            self._inputs = [b for b in self._inputs if b.start + len(b) > e]
            if not self._inputs or self._inputs[0].start <= e:
                self._resync = False
            return None
        if self._await_reset:
            if not block.reset:  # the tail src flushed: not run ahead
                self.rejected += 1
                return None
            self._await_reset, self._done = False, s
        if self._front is not None:
            if self._done != s:  # pragma: no cover - src's outputs follow each other
                raise RuntimeError(f"run-ahead: output at row {s}, expected {self._done}")
            if not block.reset:
                accepted = self._take(s, e, block.valid)
        if accepted is None:
            self.abandon()
            self.rejected += 1
        else:
            self.accepted += 1
        self._done = e
        self._inputs = [b for b in self._inputs if b.start + len(b) > e]
        return accepted

    def _take(self, s: int, e: int, valid: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray] | None] | None:
        """The chain's output over rows [s, e) if it was run ahead with this validity."""
        assert self._front is not None
        if self._front < e or not (self._front == e or any(at == e for at, _ in self._snaps)):
            return None
        ahead = [(at, v, vc) for at, v, vc in self._valid if s <= at < e]
        if not _tiles([(at, len(v)) for at, v, _ in ahead], s, e) or not all(
            _same_flags(vc, valid[at - s : at - s + len(vc)]) for at, _, vc in ahead
        ):
            return None
        outs: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}
        for j in self.filters:
            pieces = [p for p in self._outs[j] if s <= p[0] < e]
            if not _tiles([(at, n) for at, n, _ in pieces], s, e):  # pragma: no cover - cut where outputs end
                return None
            if j not in self.read:
                outs[j] = None
                continue
            bufs = [(a, z, buf) for a, z, buf in self._bufs[j] if s <= a < e]
            if not _tiles([(a, z - a) for a, z, _ in bufs], s, e):  # pragma: no cover - cut where outputs end
                return None
            ok = [v for _, _, v in pieces]
            if all(v is None for v in ok):
                ok_rows = valid  # the block's own (equal to what was run ahead)
            else:
                ok_rows = _join([a if v is None else v for (_, a, _), v in zip(ahead, ok, strict=True)])
            data = bufs[0][2] if len(bufs) == 1 else np.concatenate([buf for _, _, buf in bufs], axis=1)
            outs[j] = (data.T, ok_rows)
        # forget the rows now output
        self._snaps = [(at, st) for at, st in self._snaps if at >= e]
        self._valid = [p for p in self._valid if p[0] >= e]
        for j in self.filters:
            self._outs[j][:] = [p for p in self._outs[j] if p[0] >= e]
        for j in self.read:
            self._bufs[j][:] = [p for p in self._bufs[j] if p[0] >= e]
        return outs

    # -- running ahead --------------------------------------------------------------
    def advance(self, cut_after: Any) -> None:
        """Run the filters ahead over the rows src holds (at most CATCH_UP x
        the rows it took in this call); cut_after(row): the first stream row
        after row where src's output may end (None: unknown, do not run)."""
        budget = CATCH_UP * self._new_rows
        new, self._new_rows = self._new_rows, 0
        if (
            self._done is None
            or self._await_reset
            or self._resync
            or not self._inputs
            or new * self._inputs[-1].n_channels < RUN_AHEAD_MIN
        ):
            return
        if self._front is None:
            self._front = self._done
            self._snap_due = True
        for b in self._inputs:
            end = b.start + len(b)
            while self._front < end and budget > 0:
                cut = cut_after(self._front)
                if cut is None:
                    return
                if self._snap_due:
                    states = [self.stages[j].snapshot() for j in self.filters]
                    if any(st is None for st in states):
                        self.abandon()
                        return
                    self._snaps.append((self._front, states))
                    self._snap_due = False
                a = self._front - b.start
                z = min(len(b), cut - b.start, a + budget)
                if a < 0:  # pragma: no cover - inputs are contiguous
                    raise RuntimeError("run-ahead: a gap in the rows taken")
                self._run(b, a, z, cut)
                budget -= z - a
                self._front = b.start + z
                self._snap_due = self._front == cut

    def _run(self, b: SignalBlock, a: int, z: int, cut: int) -> None:
        """Rows a..z of src's input block b through the filters (cut: where
        the stretch they are in ends)."""
        x = b.replace(
            data=b.data[a:z],
            valid=b.valid[a:z],
            start=b.start + a,
            events=b.events[:0],
            leadoff=None,
            codes=None,
            reset=False,
        )
        row = x.start
        given = x.valid
        self._valid.append((row, given, np.ascontiguousarray(given)))
        codes = b.codes[a:z] if b.codes is not None and b.codes.dtype == np.int32 else None
        for j in self.filters:
            x = self.stages[j].process(x)
            self._outs[j].append((row, len(x), None if x.valid is given else x.valid))
            if j in self.read:
                bufs = self._bufs[j]
                if not bufs or bufs[-1][1] <= row:
                    bufs.append((row, cut, np.empty((x.n_channels, cut - row))))
                at, end, buf = bufs[-1]
                buf[:, row - at : row - at + len(x)] = x.data.T
                for t in self._watchers[j]:
                    self.stages[t].watch_ahead(row, codes, (at, buf) if row + len(x) == end else None)


def _tiles(pieces: list[tuple[int, int]], s: int, e: int) -> bool:
    """Whether pieces (start row, rows) follow each other from s to e exactly."""
    at = s
    for start, n in pieces:
        if start != at:
            return False
        at += n
    return at == e and bool(pieces)


def _same_flags(a: np.ndarray, b: np.ndarray) -> bool:
    """numpy.array_equal of two boolean arrays, by their bytes (a fifth of
    its cost on a 10 ms block of 256 channels; a True stored as another
    byte than 1 only makes them differ, and the chain is then run again)."""
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _join(parts: list[np.ndarray]) -> np.ndarray:
    """(rows, channels) parts one after the other, in the layout the filters
    give (channel-major memory)."""
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([p.T for p in parts], axis=1).T
