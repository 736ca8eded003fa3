"""The sensorio recording file layout (``.sior``), shared by writer and reader.

A file is the 8-byte MAGIC followed by records. Every record is

    offset size  field
    0      4     SYNC (b"\\xa5SR\\x5a"), lets a reader find the next record after damage
    4      1     kind: HEADER, DATA, EVENT or END
    5      3     reserved, zero
    8      4     payload length (u32 little-endian), at most MAX_PAYLOAD
    12     4     record number, counting from 0 (u32)
    16     8     host time when the record was written, ns since the Unix epoch (i64)
    24     n     payload
    24+n   4     CRC-32 (zlib) of bytes 0 .. 24+n

The first record is a HEADER (JSON: format, port settings, device INFO,
calibration, software version, flush policy). DATA payloads hold the raw
port bytes of one flush interval with the host arrival time of every read:

    u32 n_reads, then n_reads x (u32 end offset in the raw bytes, i64 arrival ns),
    then the raw bytes.

EVENT payloads are JSON objects with a ``kind`` (connect, disconnect, stall,
resume, gap, info, marker, error, foreign_device: another device answered at
the port after a reconnect and was kept out of the file). Record 1 is an
EVENT of kind ``header_copy`` whose ``header`` holds the header again: a
reader uses it when the HEADER record does not check out (recordings written
before it existed have none, and readers that do not know it see one
harmless event). END (JSON summary) is written by a clean close;
its absence means the writer died, and the reader reports what was cut.
Records are only ever appended, so a file is readable while it grows.
"""

from __future__ import annotations

import struct

MAGIC = b"SIOREC\r\n"
SYNC = b"\xa5SR\x5a"
VERSION = 1

KIND_HEADER = 1
KIND_DATA = 2
KIND_EVENT = 3
KIND_END = 4
KIND_NAMES = {KIND_HEADER: "header", KIND_DATA: "data", KIND_EVENT: "event", KIND_END: "end"}
#: the EVENT kind of the redundant copy of the header (record 1)
HEADER_COPY = "header_copy"

RECORD_HEAD = struct.Struct("<4sB3xIIq")
RECORD_CRC = struct.Struct("<I")
READ_ENTRY = struct.Struct("<Iq")
COUNT = struct.Struct("<I")
#: a payload larger than this is damage, not data (a flush holds far less)
MAX_PAYLOAD = 64 << 20
#: the fixed bytes around every payload
RECORD_OVERHEAD = RECORD_HEAD.size + RECORD_CRC.size

SUFFIX = ".sior"
