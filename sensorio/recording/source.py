"""A file as decoded data: its Blocks, the device descriptor that describes
them, the link statistics and the recording's header."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..blocks import Block
from . import decode_any, nothing_decoded, source_descriptor


def read_source(
    path: Path, format: str | None = None
) -> tuple[list[Block], dict[str, Any] | None, dict[str, int], dict[str, Any]]:
    """Decode a file: Blocks, the device descriptor (see
    sensorio.descriptor.resolve_descriptor), link statistics, and the
    recording's header ({} for a raw dump). format: default the recording's
    own, or sio for a raw dump."""
    parser, blocks, messages, reader = decode_any(path, format)
    info = source_descriptor(parser, messages, reader.header if reader is not None else None)
    if not blocks:
        raise nothing_decoded(path, format, reader)
    link = parser.stats.as_dict()
    if reader is not None:  # (the frames counted lost that the file's damage lost, not the link)
        link["file_lost_frames"] = reader.report.file_lost_frames or 0
    return blocks, info, link, dict(reader.header) if reader is not None else {}
