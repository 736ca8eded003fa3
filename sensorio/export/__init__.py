"""Exporters to formats other tools read: EDF+/BDF+ (``sensorio.export.edf``)."""

from __future__ import annotations

from .edf import Annotation, EdfSummary, write_edf

__all__ = ["Annotation", "EdfSummary", "write_edf"]
