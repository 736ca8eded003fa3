"""Myoelectric control that survives sensor failure (see docs/control.md).

Features over sliding windows -> a decoder (LDA with shrinkage, tolerant of
masked channels through its Gaussian marginal; a linear regressor; any
scikit-learn estimator through an adapter) -> rejection, majority vote and
proportional speed -> one Decision per window, saying which channels it used.

>>> from sensorio.control import FeatureExtractor, fit_model, save_model, load_model, Controller
>>> fx = FeatureExtractor(2000, 8)
>>> win = fx.process(train_uv, train_valid)              # Windows
>>> model = fit_model(win, labels, ["rest", "open", "close"], fx)
>>> ctl = Controller(model)
>>> for d in ctl.process(samples_uv, valid): print(d.label, d.speed, d.channels_used)
"""

from __future__ import annotations

from .controller import Controller, attach, control_pipeline, run
from .decoders import (
    LDA,
    Decision,
    Decoder,
    LinearRegressor,
    MajorityVote,
    ProportionalControl,
    SklearnDecoder,
)
from .features import (
    DEFAULT_FEATURES,
    FEATURES,
    FeatureExtractor,
    Windows,
    noise_thresholds,
    reference_features,
)
from .model import Model, fit_model, label_windows, load_model, save_model
from .watch import NO_SIGNAL_S, SignalWatch

__all__ = [
    "DEFAULT_FEATURES",
    "FEATURES",
    "LDA",
    "NO_SIGNAL_S",
    "Controller",
    "Decision",
    "Decoder",
    "FeatureExtractor",
    "LinearRegressor",
    "MajorityVote",
    "Model",
    "ProportionalControl",
    "SignalWatch",
    "SklearnDecoder",
    "Windows",
    "attach",
    "control_pipeline",
    "fit_model",
    "label_windows",
    "load_model",
    "noise_thresholds",
    "reference_features",
    "run",
    "save_model",
]
