"""pyserial URL handlers: module ``protocol_<scheme>`` serves ``<scheme>://``.

sensorio appends this package to ``serial.protocol_handler_packages`` on
import, so ``serial.serial_for_url("sim://...")`` works in any code that has
imported sensorio. The files a port of a scheme reads or writes are told to
the capture here (sensorio.capture.ports.PORT_FILES), before any port opens:
a recording is never written over them.
"""

import urllib.parse

from serial.serialutil import SerialException

from ..capture.ports import PORT_FILES


def url_options(query: str, scheme: str) -> dict[str, str]:
    """A URL's query parameters, name -> value, each given once: a
    SerialException names one given twice (the last would win without a
    word). sim:// reads its own: its ``fault`` and ``link`` repeat."""
    out: dict[str, str] = {}
    for name, values in urllib.parse.parse_qs(query, keep_blank_values=True).items():
        if len(values) > 1:
            raise SerialException(f"{scheme}:// option {name!r} given more than once: give it once")
        out[name] = values[0]
    return out


def replay_file(url: str) -> str | None:
    """The recording a ``replay://`` URL names (as the port reads it), or
    None (another URL, or no file named)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "replay":
        return None
    return urllib.parse.unquote(parts.netloc + parts.path) or None


def truth_file(url: str) -> str | None:
    """The file a sim:// URL's ``truth=`` names (the last one, as the port
    takes it), or None: for a caller to check before the port writes it."""
    try:
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    except ValueError:
        return None
    if parts.scheme != "sim":
        return None
    return query.get("truth", [""])[-1] or None


PORT_FILES["replay"] = lambda url: [(f, "recording")] if (f := replay_file(url)) else []
PORT_FILES["sim"] = lambda url: [(f, "truth= file")] if (f := truth_file(url)) else []
