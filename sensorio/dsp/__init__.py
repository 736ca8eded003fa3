"""Signal conditioning: calibration, streaming filters, sensor-fault
detection, drift, and offline analysis (see docs/dsp.md).

>>> from sensorio.dsp import Pipeline
>>> pipe = Pipeline.default(info)          # info: the device's INFO dict
>>> for block in parser.read():
...     for out in pipe.process(block):    # SignalBlocks, uV, with a validity mask
...         ...
>>> pipe.flush(); pipe.events               # DspEvents: channel, kind, start_s, end_s
"""

from __future__ import annotations

from .calibrate import Calibrate, Calibration, CalibrationStore, StreamCalibration, StreamInfo
from .drift import DriftMonitor, Normalise
from .faults import FaultDetector
from .filters import BandPass, Decimate, Envelope, HighPass, LowPass, Notch, detect_mains
from .stages import DspEvent, Latency, Pipeline, Stage, register_stage, stage_types

__all__ = [
    "BandPass",
    "Calibrate",
    "Calibration",
    "CalibrationStore",
    "Decimate",
    "DriftMonitor",
    "DspEvent",
    "Envelope",
    "FaultDetector",
    "HighPass",
    "Latency",
    "LowPass",
    "Normalise",
    "Notch",
    "Pipeline",
    "Stage",
    "StreamCalibration",
    "StreamInfo",
    "detect_mains",
    "register_stage",
    "stage_types",
]
