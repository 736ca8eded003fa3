"""Growable buffers of the fault detector: the pending samples (channel-major)
and the features of the undecided hops (hop-major), with spare room so that
appending and dropping cost no re-allocation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..._optional_native import native_with

_ffi, _lib = native_with("sio_dsp_rows_move")

ROW_FIELDS = {
    "data": np.float64,
    "valid": np.bool_,
    "codes": np.int32,
    "hard_ok": np.bool_,
    "rail": np.bool_,
    "leadoff": np.bool_,
    "blank": np.bool_,
    "settle": np.bool_,
    "spiky": np.bool_,
    "zero": np.bool_,
    "hp": np.float64,
    "low": np.float64,
    # the spike test's signal, worked out as rows come (C front end only)
    "sd": np.float64,
}


class _SpareRoom:
    """Items (rows or hops) along one axis of a set of arrays, with spare
    room: the live items are [o, n) on that axis; appending and dropping the
    items already used cost no re-allocation (the live ones move to the front
    only when the room at the end runs out)."""

    #: the item axis of every array, and the smallest capacity allocated
    AXIS = 0
    MIN_CAP = 64

    def __init__(self, ch: int) -> None:
        """Empty, for ch channels; the arrays are allocated on the first reserve."""
        self.ch = ch
        self._a: dict[str, NDArray[Any]] = {}
        self.o = 0
        self.n = 0
        self.cap = 0
        #: bumped whenever the arrays are re-allocated (pointers into them go stale)
        self.generation = 0
        #: called before the live items move to the front, over the items
        #: before them (a reader holding views of those copies them then)
        self.on_move: Callable[[], None] | None = None
        self._lead = (slice(None),) * self.AXIS

    def _allocate(self, cap: int) -> dict[str, NDArray[Any]]:
        """Fresh, uninitialised arrays of every field for cap items."""
        raise NotImplementedError

    def _items(self, arr: NDArray[Any], start: int, stop: int) -> NDArray[Any]:
        return arr[tuple(self._lead) + (slice(start, stop),)]

    def __len__(self) -> int:
        """The live items."""
        return self.n - self.o

    def reserve(self, m: int) -> int:
        """Room for m more items; returns the index where they go."""
        if self.n + m > self.cap:
            live = self.n - self.o
            # grow when the live items and the new ones would fill more than 3/4
            # (moving the live ones to the front then stays rare); at twice
            # that, not more: fresh memory costs a page fault per 4 KiB
            if 4 * (live + m) > 3 * self.cap or not self._a:
                cap = max(2 * (live + m), self.MIN_CAP)
                grown = self._allocate(cap)
                for k, old in self._a.items():
                    self._items(grown[k], 0, live)[...] = self._items(old, self.o, self.n)
                self._a, self.cap = grown, cap
                self.generation += 1
            else:
                if self.on_move is not None:
                    self.on_move()
                self._to_front(live)
            self.o, self.n = 0, live
        return self.n

    def _to_front(self, live: int) -> None:
        """Move the live items [o, n) to [0, live) in place (numpy copies
        through a temporary where the two ranges' bounds overlap)."""
        for arr in self._a.values():
            self._items(arr, 0, live)[...] = self._items(arr, self.o, self.n)

    def array(self, name: str) -> NDArray[Any]:
        """The whole storage of a field."""
        return self._a[name]

    def drop(self, items: int) -> None:
        """Forget the first items live items (their room is reused)."""
        self.o += items


class _Rows(_SpareRoom):
    """Pending samples, stored channel-major: (channels, capacity) arrays."""

    AXIS = 1
    MIN_CAP = 4096

    def _allocate(self, cap: int) -> dict[str, NDArray[Any]]:
        return {k: np.empty((self.ch, cap), t) for k, t in ROW_FIELDS.items()}

    def _to_front(self, live: int) -> None:
        """Each channel's live rows to the front in one pass, in C: the
        ranges of a (channels, capacity) array overlap in their bounds, so
        numpy would copy every field twice (through a temporary), 0.9 ms at
        256 channels about once a second."""
        if _lib is None or _ffi is None:  # no C core built
            super()._to_front(live)
            return
        for arr in self._a.values():
            rc = _lib.sio_dsp_rows_move(_ffi.from_buffer(arr), arr.size, arr.itemsize, self.ch, self.cap, self.o, live)
            if rc != 0:  # pragma: no cover - the arguments are the arrays' own
                raise RuntimeError(f"faults: moving {live} pending rows refused")

    def append(self, new: dict[str, NDArray[Any]]) -> None:
        """new: name -> (channels, rows) arrays, every field."""
        m = next(iter(new.values())).shape[1]
        at = self.reserve(m)
        for k, v in new.items():
            self._a[k][:, at : at + m] = v
        self.n += m

    def __getitem__(self, name: str) -> NDArray[Any]:
        """(rows, channels) view."""
        return self._a[name][:, self.o : self.n].T

    def cm(self, name: str) -> NDArray[Any]:
        """(channels, rows) view."""
        return self._a[name][:, self.o : self.n]


HOP_FIELDS = {
    "cond": np.bool_,
    "active": np.bool_,
    "blocked": np.bool_,
    "mad": np.float64,
    "med": np.float64,
    # the largest |spike signal - med| of the hop's rows, worked out before
    # the block that decides it (C only; negative: not known)
    "far": np.float64,
}


class _Hops(_SpareRoom):
    """What the output needs of each featurised, undecided hop, hop-major
    (hops, channels): the masked hop-level conditions and states (any kind),
    what blocks the spike test, the MAD and median, and the hop lengths."""

    def __init__(self, ch: int) -> None:
        """Empty, for ch channels."""
        super().__init__(ch)
        #: False: every median stored since the store was last empty is 0
        self.med_nonzero = False

    def _allocate(self, cap: int) -> dict[str, NDArray[Any]]:
        fields: dict[str, NDArray[Any]] = {k: np.empty((cap, self.ch), t) for k, t in HOP_FIELDS.items()}
        fields["lens"] = np.empty(cap, np.int64)
        return fields

    def append(self, lens: int, m: int, new: dict[str, NDArray[Any]], med_zero: bool = False) -> None:
        """m hops of lens rows; new: name -> (m, channels) arrays, every field
        but "far", which starts unknown (med_zero: new["med"] is known to be
        all 0)."""
        if self.n == self.o:
            self.med_nonzero = False
        if not med_zero and not self.med_nonzero:
            self.med_nonzero = bool(new["med"].any())
        at = self.reserve(m)
        end = at + m
        for k, v in new.items():
            self._a[k][at:end] = v
        self._a["far"][at:end] = -1.0
        self._a["lens"][at:end] = lens
        self.n = end

    def __getitem__(self, name: str) -> NDArray[Any]:
        """(hops, channels) view of a field of the live hops ("lens": (hops,))."""
        return self._a[name][self.o : self.n]
