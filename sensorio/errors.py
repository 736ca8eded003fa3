"""Exceptions that reach users: each carries a one-line message that names
the problem and, where there is one, what to do about it.

A message that advises changing a setting names it in the library's words
(its keyword argument: ``overwrite=True``); the command line spells the same
advice with its own flag (``--force``). Such a message is an :class:`Advice`:
text with ``{name}`` slots, one per setting, filled in by whoever shows it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

#: spells a setting (its keyword argument name and the value advised; None: any value)
Speller = Callable[[str, Any], str]


def library_spelling(name: str, value: Any) -> str:
    """A setting as the Python API takes it: ``format='cyton'``, ``overwrite=True``, ``the format argument``."""
    return f"the {name} argument" if value is None else f"{name}={value!r}"


def cannot_create(path: str | os.PathLike[str]) -> str:
    """Why a file or folder cannot be made at path when the system says its
    folder is not there (ENOENT, ENOTDIR): the folder is missing, a file is
    where a folder should be, or the folder takes no new files (/proc). Each
    said as it is: "its folder does not exist" was said for all three."""
    where = Path(path).parent
    up = where
    while not os.path.lexists(up) and up != up.parent:
        up = up.parent
    if os.path.lexists(up) and not os.path.isdir(up):
        return f"cannot create {path}: {up} is a file, not a folder"
    if up == where and os.path.isdir(where):
        return f"cannot create {path}: {where} takes no new files"
    return f"cannot create {path}: its folder {where} does not exist"


def same_file(a: Path | str, b: Path | str) -> bool:
    """a and b name one file, by any name (relative, through links, hard
    links; a file not there yet too, where its name leads)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False  # one is not there (and leads elsewhere)


def input_clash(out: Path | str, inputs: Iterable[Path | str]) -> str | None:
    """The error when writing ``out`` writes over one of ``inputs`` (the
    same file by any name), with --force or not: the input was gone. None
    when it does not."""
    if not os.path.exists(out):
        return None
    for src in inputs:
        if os.path.exists(src) and same_file(out, src):
            return f"{out} is the input {src}: give the output another name"
    return None


class Advice:
    """A message that names settings: ``Advice("... try {format}", format="cyton")``.
    ``str()`` spells them as keyword arguments; :meth:`render` with another speller
    (the command line's) spells them as that caller's options."""

    def __init__(self, text: str, **settings: Any) -> None:
        self.text = text
        self.settings = settings

    def render(self, spell: Speller = library_spelling) -> str:
        out = self.text
        for name, value in self.settings.items():
            out = out.replace("{" + name + "}", spell(name, value))
        return out

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Advice({self.text!r}, **{self.settings!r})"


class SensorioError(Exception):
    """Base class; the command line prints the message on one line and exits 1.
    The message may be an :class:`Advice` (kept as ``advice``)."""

    exit_code = 1

    def __init__(self, message: str | Advice = "", *args: Any) -> None:
        self.advice = message if isinstance(message, Advice) else None
        super().__init__(str(message), *args)

    def render(self, spell: Speller = library_spelling) -> str:
        """The message with its settings spelt by ``spell``."""
        return self.advice.render(spell) if self.advice is not None else str(self)


class FormatError(SensorioError, ValueError):
    """A format name or format spec is not valid."""


class UsageError(SensorioError):
    """Command-line options that do not fit together."""

    exit_code = 2
