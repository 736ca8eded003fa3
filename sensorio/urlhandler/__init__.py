"""pyserial URL handlers: module ``protocol_<scheme>`` serves ``<scheme>://``.

sensorio appends this package to ``serial.protocol_handler_packages`` on
import, so ``serial.serial_for_url("sim://...")`` works in any code that has
imported sensorio.
"""

import urllib.parse

from serial.serialutil import SerialException


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
