"""Emulated devices, one module per wire format."""

from __future__ import annotations

from .ascii import AsciiDevice
from .base import Device
from .cyton import CytonDevice
from .sio import SioDevice

DEVICES: dict[str, type[Device]] = {"sio": SioDevice, "cyton": CytonDevice, "ascii": AsciiDevice}

__all__ = ["DEVICES", "AsciiDevice", "CytonDevice", "Device", "SioDevice"]
