"""The version of sensorio (one place; the package and every writer of metadata read it here)."""

__version__ = "0.1.0"
