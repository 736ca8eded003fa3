"""Arrays too big for memory, written as they come: NPY files that grow.

``NpyAppender`` writes one ``.npy`` file (the format numpy.save writes, read
by numpy.load, also with ``mmap_mode``) whose first axis grows as rows are
appended; the header reserves room for any row count and is rewritten with
the final one at close. ``BlockArrays`` keeps one NPY per stream and array
(the names ``sensorio decode`` gives: ``samples``, ``frame_seq``,
``frame_t_us``, ``frame_leadoff``, ``events``; stream k prefixed ``s<k>_``),
fed Block by Block; ``pack_npz`` joins NPY files into one ``.npz`` without
loading them. Memory stays at one block whatever the output's size.

Why NPY and not HDF5 or Zarr: it is numpy's own format (no new dependency),
``numpy.load(mmap_mode="r")`` opens a 3 GB array without reading it, and
``.npz`` (a zip of NPY files) is what ``decode`` and ``export --format npz``
already promise. The header is written here (the NPY 1.0 layout: magic,
version, header length, a Python-literal dict padded to 64 bytes) because
numpy's own writer sizes it for a shape known in advance.
"""

from __future__ import annotations

import os
import shutil
import struct
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.lib import format as npformat

from .blocks import CLOCK_WRAP, EVENT_DTYPE, Block, StreamClocks
from .errors import SensorioError

#: digits reserved for the row count in a growing NPY header (any int64)
_COUNT_WIDTH = 20

#: Block.encoding -> the narrowest dtype that holds its codes (sio1 ENC_*:
#: 1 i16, 2 i24, 3 i32 / plain int, 4 u16; 32 float32)
NATIVE_DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.int16),
    2: np.dtype(np.int32),
    3: np.dtype(np.int32),
    4: np.dtype(np.uint16),
    32: np.dtype(np.float32),
}


def native_dtype(block: Block) -> np.dtype:
    """The dtype a stream's samples keep in outputs: int16 codes stay int16,
    int24 become int32 (numpy has no 3-byte integer), float32 stays float32."""
    return NATIVE_DTYPES.get(int(block.encoding), block.samples.dtype)


class NpyAppender:
    """One NPY file whose first axis grows: ``append`` arrays of shape
    (rows, *tail) and dtype ``dtype`` (cast when it fits; SensorioError when
    a value does not), ``close`` writes the final row count into the header."""

    def __init__(self, path: str | os.PathLike[str], dtype: Any, tail: tuple[int, ...] = ()) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.tail = tuple(int(x) for x in tail)
        self.rows = 0
        self._f: BinaryIO | None = open(self.path, "wb")  # noqa: SIM115 (closed by close())
        self._f.write(self._header())
        self._data_start = self._f.tell()

    def _header(self) -> bytes:
        dims = "".join(f"{d}, " for d in self.tail).rstrip(", ")
        shape = f"({self.rows:<{_COUNT_WIDTH}d},{' ' + dims if dims else ''})"
        text = f"{{'descr': {npformat.dtype_to_descr(self.dtype)!r}, 'fortran_order': False, 'shape': {shape}, }}"
        head_len = len(npformat.MAGIC_PREFIX) + 2 + 2  # magic, version, uint16 length
        pad = -(head_len + len(text) + 1) % 64
        body = (text + " " * pad + "\n").encode("latin1")
        if len(body) > 0xFFFF:
            raise SensorioError(f"{self.path}: the array's dtype is too complex for an NPY 1.0 header")
        return npformat.magic(1, 0) + struct.pack("<H", len(body)) + body

    def append(self, arr: np.ndarray) -> None:
        if self._f is None:
            raise SensorioError(f"{self.path} is already closed")
        arr = np.asarray(arr)
        if arr.shape[1:] != self.tail:
            raise SensorioError(f"{self.path}: rows of shape {arr.shape[1:]} cannot follow rows of shape {self.tail}")
        if arr.dtype != self.dtype:
            if arr.size and self.dtype.kind in "iu" and arr.dtype.kind in "iu":
                info = np.iinfo(self.dtype)
                if arr.min() < info.min or arr.max() > info.max:
                    raise SensorioError(
                        f"{self.path}: values beyond {self.dtype} (the stream's encoding changed within the file)"
                    )
            arr = arr.astype(self.dtype)
        self._f.write(np.ascontiguousarray(arr).tobytes())
        self.rows += arr.shape[0]

    def close(self) -> None:
        """Write the row count into the header and close the file."""
        if self._f is None:
            return
        try:
            self._f.seek(0)
            self._f.write(self._header())
        finally:
            self._f.close()
            self._f = None

    def __enter__(self) -> NpyAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: the arrays of one stream, as ``sensorio decode`` names them
ARRAY_NAMES = ("samples", "frame_seq", "frame_t_us", "frame_leadoff", "events")


def array_name(stream: int, name: str) -> str:
    """The decode contract's name: stream 0 bare, stream k prefixed 's<k>_'."""
    return name if stream == 0 else f"s{stream}_{name}"


class BlockArrays:
    """Per-stream NPY files in ``folder``, fed one Block at a time (``add``):
    samples in the stream's native dtype, per-frame arrays (``frame_t_us``
    unwrapped across the device clock's wraps, the streams aligned on it:
    blocks.StreamClocks), and
    events with their rows counted from the stream's start. ``close`` returns
    {array name: path} in stream order. Also counts what it wrote
    (``streams``: {stream: {"samples", "channels", "frames"}})."""

    def __init__(self, folder: str | os.PathLike[str], clock_wrap: int = CLOCK_WRAP) -> None:
        """Into folder; clock_wrap: where frame_t_us wraps (``Format.clock_modulus``)."""
        self.folder = Path(folder)
        self._clocks = StreamClocks(clock_wrap)
        self._files: dict[int, dict[str, NpyAppender]] = {}

    def add(self, block: Block) -> None:
        files = self._files.get(block.stream)
        if files is None:
            files = self._files[block.stream] = self._open(block)
        files["samples"].append(block.samples)
        files["frame_seq"].append(block.frame_seq)
        files["frame_t_us"].append(self._clocks(block.stream, block.frame_t_us))
        files["frame_leadoff"].append(block.frame_leadoff)
        if block.events.size:
            ev = block.events.copy()
            ev["row"] += np.uint32(block.first_row)
            files["events"].append(ev)

    def _open(self, block: Block) -> dict[str, NpyAppender]:
        def npy(name: str, dtype: Any, tail: tuple[int, ...] = ()) -> NpyAppender:
            return NpyAppender(self.folder / f"{array_name(block.stream, name)}.npy", dtype, tail)

        return {
            "samples": npy("samples", native_dtype(block), (block.n_channels,)),
            "frame_seq": npy("frame_seq", block.frame_seq.dtype),
            "frame_t_us": npy("frame_t_us", block.frame_t_us.dtype),
            "frame_leadoff": npy("frame_leadoff", block.frame_leadoff.dtype),
            "events": npy("events", EVENT_DTYPE),
        }

    @property
    def streams(self) -> dict[int, dict[str, int]]:
        return {
            sid: {
                "samples": f["samples"].rows,
                "channels": f["samples"].tail[0],
                "frames": f["frame_seq"].rows,
            }
            for sid, f in sorted(self._files.items())
        }

    def close(self) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for sid, files in sorted(self._files.items()):
            for name in ARRAY_NAMES:
                files[name].close()
                out[array_name(sid, name)] = files[name].path
        return out


def pack_npz(members: dict[str, Path], out: str | os.PathLike[str], extra: dict[str, np.ndarray] | None = None) -> None:
    """Write an uncompressed .npz (as numpy.savez) of NPY files, copied in
    pieces (never loaded whole), plus small in-memory arrays ``extra``."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, path in members.items():
            with open(path, "rb") as src, zf.open(f"{name}.npy", "w", force_zip64=True) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        for name, arr in (extra or {}).items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as dst:
                npformat.write_array(dst, np.asanyarray(arr), allow_pickle=False)
