"""The command line's words for the library's settings.

Library messages name a setting by its keyword argument (an
:class:`sensorio.errors.Advice`); the command line shows the same advice with
the option that sets it. One table, used for every message a command prints.
"""

from __future__ import annotations

from typing import Any

from ..errors import Advice, SensorioError, library_spelling

#: library setting (keyword argument) -> the command-line option that sets it
FLAGS = {
    "overwrite": "--force",
    "force": "--force",
    "format": "--format",
    "baudrate": "--baud",
    "start_command": "--start",
    "calibrated": "--raw",  # calibrated=False
    "out_dir": "--out",
    "plot": "--plot",
}


def cli_spelling(name: str, value: Any) -> str:
    """A setting as the command line takes it: ``--format cyton``, ``--force``."""
    flag = FLAGS.get(name)
    if flag is None:
        return library_spelling(name, value)
    if value is None or isinstance(value, bool):
        return flag
    return f"{flag} {value}"


def cli_text(message: str | Advice | SensorioError) -> str:
    """A library message in the command line's words."""
    if isinstance(message, (SensorioError, Advice)):
        return message.render(cli_spelling)
    return str(message)
