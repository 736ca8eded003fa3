"""Declarative binary formats: a TOML spec (or the same as a dict) compiled
once into the C descriptor ``sio_spec`` (csrc/sio_formats.h).

The spec language is documented in docs/formats.md. A wrong spec raises
FormatError naming the field and the problem, e.g.
``board.toml: streams[0].type: unknown type 'i12' (use u8, i8, ...)``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from .._binding import ffi, lib
from ..descriptor import channel_labels
from ..errors import FormatError
from .base import SpecFormat, stream_info

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

NO_FIELD = -(2**31)
MAX_FRAME = lib.SIO_SPEC_MAX_FRAME

_BASE_TYPES = {
    "u8": lib.SIO_FT_U8,
    "i8": lib.SIO_FT_I8,
    "u16": lib.SIO_FT_U16,
    "i16": lib.SIO_FT_I16,
    "u24": lib.SIO_FT_U24,
    "i24": lib.SIO_FT_I24,
    "u32": lib.SIO_FT_U32,
    "i32": lib.SIO_FT_I32,
    "f32": lib.SIO_FT_F32,
}
CHANNEL_TYPES = ("u8", "i8", "u16", "i16", "u24", "i24", "i32", "f32")
FIELD_TYPES = ("u8", "u16", "u24", "u32")

CHECKSUMS = {
    "xor8": (lib.SIO_CK_XOR8, 1, "le"),
    "sum8": (lib.SIO_CK_SUM8, 1, "le"),
    "crc8": (lib.SIO_CK_CRC8, 1, "le"),
    "crc16-ccitt-false": (lib.SIO_CK_CRC16_CCITT, 2, "be"),
    "crc16-modbus": (lib.SIO_CK_CRC16_MODBUS, 2, "le"),
    "crc32": (lib.SIO_CK_CRC32, 4, "le"),
}

#: block enc tag of a stream whose channels all have one type (as SIO-1 tags them)
_ENC_OF = {"i16": lib.SIO1_ENC_I16, "u16": lib.SIO1_ENC_U16, "i24": lib.SIO1_ENC_I24}

_TOP_KEYS = {
    "name",
    "description",
    "rate_hz",
    "byte_order",
    "start_command",
    "frame",
    "counter",
    "timestamp",
    "checksum",
    "streams",
}
_FRAME_KEYS = {"sync", "size", "length", "trailer", "last_byte_in", "confirm"}
_LENGTH_KEYS = {"offset", "type", "adjust", "min", "max"}
_COUNTER_KEYS = {"offset", "type", "modulus"}
_TIMESTAMP_KEYS = {"offset", "type", "unit"}
_CHECKSUM_KEYS = {"kind", "offset", "start", "end", "order"}
_STREAM_KEYS = {
    "id",
    "name",
    "start",
    "rows",
    "end",
    "stride",
    "channels",
    "type",
    "rate_hz",
    "unit",
    "scale",
    "offset",
    "min_code",
    "max_code",
    "when",
    "skip_if_zero",
}
_CHANNEL_KEYS = {"name", "type", "offset"}


class _Ctx:
    """Names the spec and the field being read, for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> FormatError:
        return FormatError(f"{self.source}: {where}: {problem}")

    def table(self, value: Any, where: str, keys: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a table, not {type(value).__name__}")
        unknown = sorted(set(value) - keys)
        if unknown:
            raise self.fail(
                f"{where}.{unknown[0]}" if where else unknown[0],
                f"unknown key (known: {', '.join(sorted(keys))})",
            )
        return value

    def int_(self, value: Any, where: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"must be an integer, not {value!r}")
        if not lo <= value <= hi:
            raise self.fail(where, f"{value} is out of range {lo}..{hi}")
        return value

    def number(self, value: Any, where: str, positive: bool = False) -> float:
        """A finite number (TOML also has nan and inf); with ``positive``, above 0."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"must be a number, not {value!r}")
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            number = math.inf
        if not math.isfinite(number):
            raise self.fail(where, f"must be a finite number, not {value!r}")
        if positive and not number > 0:
            raise self.fail(where, f"must be above 0, not {value!r}")
        return number

    def str_(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"must be a string, not {value!r}")
        return value

    def bytes_(self, value: Any, where: str, max_len: int, min_len: int = 1) -> bytes:
        """A byte string: a list of integers 0..255, or hex text ("AA 55")."""
        if isinstance(value, str):
            try:
                data = bytes.fromhex(value)
            except ValueError:
                raise self.fail(where, f'{value!r} is not hex bytes (e.g. "AA 55")') from None
        elif isinstance(value, list):
            data = bytes(self.int_(v, f"{where}[{i}]", 0, 255) for i, v in enumerate(value))
        else:
            raise self.fail(where, "must be a list of bytes (e.g. [0xAA, 0x55]) or hex text")
        if not min_len <= len(data) <= max_len:
            raise self.fail(where, f"must have {min_len} to {max_len} bytes, not {len(data)}")
        return data

    def type_(self, value: Any, where: str, allowed: tuple[str, ...], byte_order: str) -> tuple[str, int]:
        """A type name like "i24be" -> (base name, C type code)."""
        name = self.str_(value, where).lower()
        base, order = name, byte_order
        if name[-2:] in ("le", "be"):
            base, order = name[:-2], name[-2:]
        if base not in allowed:
            raise self.fail(
                where,
                f"unknown type {value!r} (use {', '.join(allowed)}, with le/be for multi-byte types)",
            )
        code = _BASE_TYPES[base]
        if order == "be" and (code & 7) > 1:
            code |= lib.SIO_FT_BE
        return base, code


def _width(code: int) -> int:
    return code & 7


def _code_range(base: str) -> tuple[float | None, float | None]:
    if base == "f32":
        return None, None
    bits = int(base[1:])
    if base[0] == "i":
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def load_spec(path: Path) -> SpecFormat:
    """Compile a .toml spec file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FormatError(f"no such format spec: {path}") from None
    except OSError as exc:
        raise FormatError(f"cannot read format spec {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not UTF-8 text (byte {exc.start}): a spec is TOML") from None
    return compile_spec(parse_toml(text, str(path)), source=str(path))


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """TOML text to a dict; FormatError naming ``source`` if it is not valid
    TOML or nests too deeply to read (the parser recurses per level)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FormatError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise FormatError(f"{source}: not usable TOML: nested too deeply") from None


def compile_spec(spec: dict[str, Any], source: str = "spec") -> SpecFormat:
    """Check a spec (as parsed from TOML) and compile it into a SpecFormat."""
    cx = _Ctx(source)
    top = cx.table(spec, "", _TOP_KEYS)
    if "name" not in top:
        raise cx.fail("name", "missing: give the format a name")
    name = cx.str_(top["name"], "name")
    byte_order = cx.str_(top.get("byte_order", "little"), "byte_order")
    if byte_order not in ("little", "big"):
        raise cx.fail("byte_order", f'{byte_order!r}: use "little" or "big"')
    order = "le" if byte_order == "little" else "be"
    rate = cx.number(top["rate_hz"], "rate_hz", positive=True) if "rate_hz" in top else None
    start_command = cx.str_(top["start_command"], "start_command") if "start_command" in top else None

    d = ffi.new("sio_spec *")

    # -- frame ---------------------------------------------------------
    if "frame" not in top:
        raise cx.fail("frame", "missing: say at least sync and size (or length)")
    fr = cx.table(top["frame"], "frame", _FRAME_KEYS)
    if "sync" not in fr:
        raise cx.fail("frame.sync", "missing: the bytes every frame starts with")
    sync = cx.bytes_(fr["sync"], "frame.sync", lib.SIO_SPEC_MAX_SYNC)
    d.sync_len = len(sync)
    for i, b in enumerate(sync):
        d.sync[i] = b
    if ("size" in fr) == ("length" in fr):
        raise cx.fail("frame", "give exactly one of size (fixed frames) or length (a length field)")
    if "size" in fr:
        size = cx.int_(fr["size"], "frame.size", len(sync) + 1, MAX_FRAME)
        d.fixed_size = size
        lo = hi = size
    else:
        ln = cx.table(fr["length"], "frame.length", _LENGTH_KEYS)
        for key in ("offset", "type"):
            if key not in ln:
                raise cx.fail(f"frame.length.{key}", "missing")
        _, ltype = cx.type_(ln["type"], "frame.length.type", FIELD_TYPES, order)
        d.len_type = ltype
        d.len_offset = cx.int_(ln["offset"], "frame.length.offset", 0, MAX_FRAME)
        d.len_adjust = cx.int_(ln.get("adjust", 0), "frame.length.adjust", -MAX_FRAME, MAX_FRAME)
        lo = cx.int_(ln.get("min", d.len_offset + _width(ltype)), "frame.length.min", 1, MAX_FRAME)
        hi = cx.int_(ln.get("max", MAX_FRAME), "frame.length.max", 1, MAX_FRAME)
        if lo > hi:
            raise cx.fail("frame.length", f"min {lo} is above max {hi}")
        if lo < d.len_offset + _width(ltype) or lo < len(sync):
            raise cx.fail("frame.length.min", f"{lo} is too small to hold the sync and length field")
        d.min_size, d.max_size = lo, hi
    trailer = b""
    if "trailer" in fr:
        trailer = cx.bytes_(fr["trailer"], "frame.trailer", lib.SIO_SPEC_MAX_TRAILER)
        if len(trailer) > lo - len(sync):
            raise cx.fail("frame.trailer", "does not fit in the smallest frame after the sync bytes")
        d.trailer_len = len(trailer)
        for i, b in enumerate(trailer):
            d.trailer[i] = b
    if "last_byte_in" in fr:
        allowed = cx.bytes_(fr["last_byte_in"], "frame.last_byte_in", 256)
        d.use_end_set = 1
        for b in allowed:
            d.end_set[b >> 3] |= 1 << (b & 7)

    def field_offset(value: Any, where: str, width: int) -> int:
        off = cx.int_(value, where, -MAX_FRAME, MAX_FRAME - 1)
        if off >= 0 and off + width > lo:
            raise cx.fail(where, f"{off} (+{width} bytes) is beyond the end of a {lo}-byte frame")
        if off < 0 and (-off < width or -off > lo):
            raise cx.fail(where, f"{off} from the end does not fit a {width}-byte field in a {lo}-byte frame")
        return off

    # -- counter and timestamp -------------------------------------------
    d.seq_offset = NO_FIELD
    d.time_offset = NO_FIELD
    seq_modulus = 0
    if "counter" in top:
        ct = cx.table(top["counter"], "counter", _COUNTER_KEYS)
        if "offset" not in ct:
            raise cx.fail("counter.offset", "missing")
        _, ctype = cx.type_(ct.get("type", "u8"), "counter.type", FIELD_TYPES, order)
        d.seq_type = ctype
        d.seq_offset = field_offset(ct["offset"], "counter.offset", _width(ctype))
        span = 2 ** (8 * _width(ctype))
        seq_modulus = cx.int_(ct.get("modulus", min(span, 2**32 - 1)), "counter.modulus", 2, min(span, 2**32 - 1))
        d.seq_modulus = seq_modulus
    time_unit = "frames"
    clock_modulus = 1 << 32  # (a frame count, unwrapped)
    one_row_frames = True  # every stream one row per frame: a frame count is a sample count
    if "timestamp" in top:
        ts = cx.table(top["timestamp"], "timestamp", _TIMESTAMP_KEYS)
        if "offset" not in ts:
            raise cx.fail("timestamp.offset", "missing")
        _, ttype = cx.type_(ts.get("type", "u32"), "timestamp.type", FIELD_TYPES, order)
        d.time_type = ttype
        d.time_offset = field_offset(ts["offset"], "timestamp.offset", _width(ttype))
        time_unit = cx.str_(ts.get("unit", "us"), "timestamp.unit")
        clock_modulus = 1 << (8 * _width(ttype))

    # -- checksum ----------------------------------------------------------
    strong_check = False
    if "checksum" in top:
        ck = cx.table(top["checksum"], "checksum", _CHECKSUM_KEYS)
        kind_name = cx.str_(ck.get("kind", ""), "checksum.kind").lower()
        if kind_name not in CHECKSUMS:
            raise cx.fail("checksum.kind", f"{kind_name!r}: use one of {', '.join(CHECKSUMS)}")
        kind, width, default_order = CHECKSUMS[kind_name]
        d.ck_kind = kind
        d.ck_offset = field_offset(ck.get("offset", -(width + len(trailer))), "checksum.offset", width)
        d.ck_start = cx.int_(ck.get("start", 0), "checksum.start", 0, lo)
        default_end = d.ck_offset  # everything before the checksum
        end = cx.int_(ck.get("end", default_end), "checksum.end", -MAX_FRAME, MAX_FRAME)
        for size in (lo, hi):
            e = end if end > 0 else size + end
            if not d.ck_start <= e <= size:
                raise cx.fail("checksum.end", f"coverage [{d.ck_start}, {e}) does not fit a {size}-byte frame")
        d.ck_end = end
        ck_order = cx.str_(ck.get("order", default_order), "checksum.order")
        if ck_order not in ("le", "be"):
            raise cx.fail("checksum.order", f'{ck_order!r}: use "le" or "be"')
        d.ck_big_endian = ck_order == "be"
        strong_check = width >= 2
    confirm = fr.get("confirm", not strong_check)
    if not isinstance(confirm, bool):
        raise cx.fail("frame.confirm", "must be true or false")
    d.confirm = confirm

    # -- streams -----------------------------------------------------------
    streams = top.get("streams")
    if not isinstance(streams, list) or not streams:
        raise cx.fail("streams", "missing: add at least one [[streams]] table")
    if len(streams) > lib.SIO_SPEC_MAX_STREAMS:
        raise cx.fail("streams", f"{len(streams)} streams; at most {lib.SIO_SPEC_MAX_STREAMS}")
    d.n_streams = len(streams)
    infos = []
    seen_ids: set[int] = set()
    for k, raw in enumerate(streams):
        w = f"streams[{k}]"
        st = cx.table(raw, w, _STREAM_KEYS)
        sid = cx.int_(st.get("id", k), f"{w}.id", 0, 255)
        if sid in seen_ids:
            raise cx.fail(f"{w}.id", f"stream id {sid} is used twice")
        seen_ids.add(sid)
        if "channels" not in st:
            raise cx.fail(f"{w}.channels", "missing: a count, or a list of names or tables")
        default_type = st.get("type")
        chans = st["channels"]
        if isinstance(chans, int) and not isinstance(chans, bool):
            n = cx.int_(chans, f"{w}.channels", 1, lib.SIO_SPEC_MAX_CH)
            chans = [{} for _ in range(n)]
        if not isinstance(chans, list) or not chans:
            raise cx.fail(f"{w}.channels", "must be a count or a non-empty list")
        if len(chans) > lib.SIO_SPEC_MAX_CH:
            raise cx.fail(f"{w}.channels", f"{len(chans)} channels; at most {lib.SIO_SPEC_MAX_CH}")
        labels, bases, pos = [], [], 0
        c_st = d.streams[k]
        for c, ch in enumerate(chans):
            cw = f"{w}.channels[{c}]"
            if isinstance(ch, str):
                ch = {"name": ch}
            ch = cx.table(ch, cw, _CHANNEL_KEYS)
            tname = ch.get("type", default_type)
            if tname is None:
                raise cx.fail(f"{cw}.type", "missing: give the channel or its stream a type")
            base, code = cx.type_(tname, f"{cw}.type" if "type" in ch else f"{w}.type", CHANNEL_TYPES, order)
            off = cx.int_(ch.get("offset", pos), f"{cw}.offset", 0, MAX_FRAME)
            pos = off + _width(code)
            c_st.types[c] = code
            c_st.offsets[c] = off
            bases.append(base)
            labels.append(cx.str_(ch.get("name", channel_labels(None, c + 1)[c]), f"{cw}.name"))
        if ("f32" in bases) and set(bases) != {"f32"}:
            raise cx.fail(f"{w}.channels", "mixes f32 with integer types: put them in separate streams")
        packed = max(int(c_st.offsets[c]) + _width(int(c_st.types[c])) for c in range(len(chans)))
        stride = cx.int_(st.get("stride", packed), f"{w}.stride", 1, MAX_FRAME)
        if stride < packed:
            raise cx.fail(f"{w}.stride", f"{stride} is shorter than a row of its channels ({packed} bytes)")
        if "start" not in st:
            raise cx.fail(f"{w}.start", "missing: the byte offset of the stream's first row")
        start = cx.int_(st["start"], f"{w}.start", 0, MAX_FRAME)
        rows = st.get("rows", 1)
        one_row_frames = one_row_frames and rows == 1
        c_st.id = sid
        c_st.n_ch = len(chans)
        c_st.data_offset = start
        c_st.stride = stride
        if rows == "auto":
            end = cx.int_(
                st.get(
                    "end",
                    -(len(trailer) + (CHECKSUMS.get(str(top.get("checksum", {}).get("kind", "")).lower(), (0, 0))[1])),
                ),
                f"{w}.end",
                -MAX_FRAME,
                MAX_FRAME,
            )
            for size in (lo, hi):
                e = end if end > 0 else size + end
                if not start <= e <= size:
                    raise cx.fail(f"{w}.end", f"rows [{start}, {e}) do not fit a {size}-byte frame")
            c_st.n_rows = 0
            c_st.data_end = end
        else:
            n_rows = cx.int_(rows, f"{w}.rows", 1, MAX_FRAME)
            if "end" in st:
                raise cx.fail(f"{w}.end", 'only with rows = "auto"')
            if start + n_rows * stride > lo:
                raise cx.fail(
                    f"{w}.start",
                    f"{n_rows} row(s) of {stride} bytes from {start} overrun a {lo}-byte frame",
                )
            c_st.n_rows = n_rows
        c_st.cond_offset = NO_FIELD
        if "when" in st:
            wh = cx.table(st["when"], f"{w}.when", {"offset", "equals"})
            if "offset" not in wh or "equals" not in wh:
                raise cx.fail(f"{w}.when", "needs offset and equals")
            c_st.cond_offset = field_offset(wh["offset"], f"{w}.when.offset", 1)
            c_st.cond_value = cx.int_(wh["equals"], f"{w}.when.equals", 0, 255)
        skip = st.get("skip_if_zero", False)
        if not isinstance(skip, bool):
            raise cx.fail(f"{w}.skip_if_zero", "must be true or false")
        c_st.skip_if_zero = skip
        c_st.is_float = bases[0] == "f32"
        enc = _ENC_OF.get(bases[0], lib.SIO_ENC_INT) if len(set(bases)) == 1 else lib.SIO_ENC_INT
        c_st.enc = enc
        scale = cx.number(st.get("scale", 1.0), f"{w}.scale")
        if scale == 0:
            raise cx.fail(f"{w}.scale", "must not be 0")
        phys_offset = cx.number(st.get("offset", 0.0), f"{w}.offset")
        lo_code, hi_code = _code_range(bases[0])
        if len(set(bases)) > 1:
            ranges = [_code_range(b) for b in bases]
            lo_code = min(r[0] for r in ranges)  # type: ignore[type-var]
            hi_code = max(r[1] for r in ranges)  # type: ignore[type-var]
        min_code = cx.number(st["min_code"], f"{w}.min_code") if "min_code" in st else lo_code
        max_code = cx.number(st["max_code"], f"{w}.max_code") if "max_code" in st else hi_code
        srate = cx.number(st["rate_hz"], f"{w}.rate_hz", positive=True) if "rate_hz" in st else rate
        infos.append(
            stream_info(
                sid,
                cx.str_(st.get("name", f"stream{sid}"), f"{w}.name"),
                len(chans),
                srate,
                lib.SIO_ENC_F32 if c_st.is_float else enc,
                cx.str_(st.get("unit", ""), f"{w}.unit"),
                scale,
                -phys_offset / scale,
                min_code,
                max_code,
                labels,
            )
        )

    if lib.sio_spec_check(d) != 0:  # pragma: no cover - the checks above should catch it
        raise cx.fail("spec", "the C core rejected the compiled descriptor (a sensorio bug: please report)")
    info = {
        "device": name,
        "description": str(top.get("description", "")),
        "serial": None,
        "fw": None,
        "streams": infos,
    }
    return SpecFormat(
        name=name,
        time_unit=time_unit,
        seq_modulus=seq_modulus,
        clock_modulus=clock_modulus,
        start_command=start_command,
        one_row_frames=one_row_frames,
        c_spec=d,
        info=info,
        source=source,
    )


__all__ = ["CHANNEL_TYPES", "CHECKSUMS", "FIELD_TYPES", "compile_spec", "load_spec"]
