"""Exceptions that reach users: each carries a one-line message that names
the problem and, where there is one, what to do about it."""

from __future__ import annotations


class SensorioError(Exception):
    """Base class; the command line prints str(exc) on one line and exits 1."""

    exit_code = 1


class FormatError(SensorioError, ValueError):
    """A format name or format spec is not valid."""


class UsageError(SensorioError):
    """Command-line options that do not fit together."""

    exit_code = 2
