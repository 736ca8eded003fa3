"""A control model (feature settings, decoder, post-processing) and its file.

The file (``.npz``, read with ``allow_pickle=False``) holds plain arrays:

- ``meta``: a 0-d unicode array, JSON text: ``{"format": "sensorio-model",
  "version": 1, "features": {rate_hz, n_channels, window_ms, increment_ms,
  features}, "decoder": {kind, ...}, "proportional": {...} or null,
  "rest": label, "reject_below": p, "vote": n, "pipeline": {...} or null,
  "labels": [...], "info": {...}}``;
- ``thresholds.<zc|ssc|wamp>``: per-channel noise thresholds (µV);
- ``decoder.<name>``: the decoder's arrays (LDA: ``means`` (K, D), ``cov``
  (D, D) shrunk pooled covariance, ``priors`` (K,), ``shrinkage``);
- ``proportional.<name>``: ``rest`` (channels,), ``mvc`` (K, channels).

Every number that defines the model is in an array, so a model saved and
loaded back is bit-identical (see docs/control.md).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SensorioError
from .decoders import DECODERS, LDA, Decoder, LinearRegressor, ProportionalControl, SklearnDecoder
from .features import FeatureExtractor, Windows, resolve_thresholds

FORMAT = "sensorio-model"
VERSION = 1


@dataclass
class Model:
    """Everything the Controller needs: feature settings, a fitted decoder,
    its post-processing, and where the training data came from.

    ``features``: FeatureExtractor settings (rate_hz, n_channels, window_ms,
    increment_ms, features); ``thresholds``: per-channel ZC/SSC/WAMP
    thresholds; ``rest``: the safe class's label; ``reject_below``: a maximum
    posterior below this gives rest; ``vote``: majority vote over that many
    decisions; ``proportional``: the speed model (None: speed 1 for any
    class but rest); ``pipeline``: the dsp pipeline the training data went
    through (``Pipeline.describe()``), so control runs the same;
    ``labels``: channel labels; ``info``: free JSON (sources, date, ...)."""

    features: dict[str, Any]
    thresholds: dict[str, np.ndarray]
    decoder: Decoder
    rest: str = "rest"
    reject_below: float = 0.0
    vote: int = 1
    proportional: ProportionalControl | None = None
    pipeline: dict[str, Any] | None = None
    labels: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def classes(self) -> tuple[str, ...]:
        """The decoder's class labels, in class-index order (empty for a regressor)."""
        return self.decoder.classes

    @property
    def rest_class(self) -> int:
        """Index of the safe class (0 when the labels have no rest)."""
        return self.classes.index(self.rest) if self.rest in self.classes else 0

    @property
    def rate_hz(self) -> float:
        """The sample rate in Hz the model was trained at (the signal must run at it)."""
        return float(self.features["rate_hz"])

    @property
    def n_channels(self) -> int:
        """The number of EMG channels the model's features are computed on."""
        return int(self.features["n_channels"])

    def extractor(self) -> FeatureExtractor:
        """A fresh FeatureExtractor with the model's settings."""
        f = self.features
        return FeatureExtractor(
            f["rate_hz"], f["n_channels"], f["window_ms"], f["increment_ms"], f["features"], self.thresholds
        )

    def feature_index(self, name: str) -> int | None:
        """The position of feature ``name`` (``mav``, ...) on the feature axis; None if the model lacks it."""
        names = list(self.features["features"])
        return names.index(name) if name in names else None


def label_windows(end_row: np.ndarray, window: int, row_labels: np.ndarray) -> np.ndarray:
    """Class index per window from per-row class indices (rows counted from
    0): the label when every row of the window has it, else -1 (a
    transition, or rows without a label, -1)."""
    row_labels = np.asarray(row_labels, dtype=np.int64)
    out = np.full(len(end_row), -1, dtype=np.int64)
    for i, e in enumerate(np.asarray(end_row, dtype=np.int64)):
        s = e - window
        if s < 0 or e > row_labels.shape[0]:
            continue
        seg = row_labels[s:e]
        if seg.size and seg[0] >= 0 and np.all(seg == seg[0]):
            out[i] = seg[0]
    return out


def check_reject(reject_below: float) -> float:
    """The rejection threshold, checked: a probability from 0 to below 1
    (a SensorioError otherwise; fit_model's check)."""
    if not 0.0 <= reject_below < 1.0:
        raise SensorioError(f"rejection threshold {reject_below}: use a probability from 0 to below 1")
    return reject_below


def fit_model(
    windows: Windows,
    y: np.ndarray,
    classes: Sequence[str],
    extractor: FeatureExtractor,
    *,
    decoder: Decoder | None = None,
    rest: str = "rest",
    proportional: ProportionalControl | None = None,
    reject_below: float = 0.0,
    vote: int = 1,
    pipeline: Mapping[str, Any] | None = None,
    labels: Sequence[str] = (),
    info: Mapping[str, Any] | None = None,
) -> Model:
    """Fit a model on feature windows (from ``extractor``). A classifier
    takes a class index per window into ``classes`` (-1: leave out);
    ``decoder`` defaults to ``LDA()`` and ``proportional`` to
    ``ProportionalControl()`` when the features include ``mav``. A regressor
    (``LinearRegressor``, a scikit-learn regressor) takes targets per window
    (n,) or (n, T) and ``classes=()``; it has no proportional stage."""
    decoder = LDA() if decoder is None else decoder
    check_reject(reject_below)
    regression = isinstance(decoder, LinearRegressor) or (
        isinstance(decoder, SklearnDecoder) and not decoder.is_classifier
    )
    fitter: Any = decoder  # each kind of decoder has its own fit
    if regression:
        if classes:
            raise SensorioError("a regressor takes targets, not classes: pass classes=()")
        if proportional is not None:
            raise SensorioError("proportional control follows a classifier; a regressor's outputs are the speeds")
        if isinstance(decoder, LinearRegressor):
            fitter.fit(windows.features, y, windows.valid)
        else:
            fitter.fit(windows.features, y, (), windows.valid)
    else:
        fitter.fit(windows.features, y, classes, windows.valid)
    model = Model(
        features={k: v for k, v in extractor.describe().items() if k != "thresholds_uv"},
        thresholds={k: v.copy() for k, v in extractor.thresholds.items()},
        decoder=decoder,
        rest=rest,
        reject_below=float(reject_below),
        vote=int(vote),
        pipeline=dict(pipeline) if pipeline is not None else None,
        labels=list(labels),
        info=dict(info or {}),
    )
    mav = model.feature_index("mav")
    if regression:
        return model
    if proportional is None and mav is not None:
        proportional = ProportionalControl()
    if proportional is not None:
        if mav is None:
            raise SensorioError("proportional control needs the 'mav' feature")
        proportional.fit(windows.features[..., mav], y, len(classes), model.rest_class, windows.valid)
    model.proportional = proportional
    return model


def save_model(path: str | Path, model: Model) -> None:
    """Write the model file (see the module docstring)."""
    dec_meta, dec_arrays = model.decoder.to_arrays()
    arrays: dict[str, np.ndarray] = {f"decoder.{k}": np.asarray(v) for k, v in dec_arrays.items()}
    prop_meta = None
    if model.proportional is not None:
        prop_meta, prop_arrays = model.proportional.to_arrays()
        arrays.update({f"proportional.{k}": np.asarray(v) for k, v in prop_arrays.items()})
    for k, v in model.thresholds.items():
        arrays[f"thresholds.{k}"] = np.asarray(v, dtype=np.float64)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "features": model.features,
        "decoder": dec_meta,
        "proportional": prop_meta,
        "rest": model.rest,
        "reject_below": model.reject_below,
        "vote": model.vote,
        "pipeline": model.pipeline,
        "labels": list(model.labels),
        "info": model.info,
    }
    try:
        arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    except (TypeError, ValueError) as exc:
        raise SensorioError(f"model metadata is not plain JSON ({exc}): info takes str, numbers, lists") from None
    path = Path(path)
    try:
        with path.open("wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stubs take **kwds as allow_pickle
    except OSError as exc:
        raise SensorioError(f"cannot write model {path}: {exc.strerror or exc}") from None


def load_model(path: str | Path) -> Model:
    """Read a model file written by save_model."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise SensorioError(f"no such model file: {path}") from None
    except (ValueError, zipfile.BadZipFile, EOFError):
        # (numpy's own words are about pickles and allow_pickle: no help here)
        raise SensorioError(f"{path} is not a sensorio model file (not a NumPy .npz archive)") from None
    except OSError as exc:
        raise SensorioError(f"{path} is not a sensorio model file ({exc.strerror or exc})") from None
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except (KeyError, ValueError):
        raise SensorioError(f"{path} is not a sensorio model file (no metadata)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SensorioError(f"{path} is not a sensorio model file")
    if meta.get("version") != VERSION:
        raise SensorioError(f"{path}: model format version {meta.get('version')} (this sensorio reads {VERSION})")
    try:
        dec_meta = meta["decoder"]
        kind = dec_meta["kind"]
        if kind not in DECODERS:
            raise SensorioError(f"{path}: unknown decoder kind {kind!r}")
        part = {k[8:]: v for k, v in arrays.items() if k.startswith("decoder.")}
        decoder = DECODERS[kind].from_arrays(dec_meta, part)  # type: ignore[attr-defined]
        prop = None
        if meta["proportional"] is not None:
            pp = {k[13:]: v for k, v in arrays.items() if k.startswith("proportional.")}
            prop = ProportionalControl.from_arrays(meta["proportional"], pp)
        feats = meta["features"]
        thresholds = resolve_thresholds(
            {k[11:]: v for k, v in arrays.items() if k.startswith("thresholds.")}, int(feats["n_channels"])
        )
        model = Model(
            features=feats,
            thresholds=thresholds,
            decoder=decoder,
            rest=meta["rest"],
            reject_below=float(meta["reject_below"]),
            vote=int(meta["vote"]),
            proportional=prop,
            pipeline=meta["pipeline"],
            labels=list(meta["labels"]),
            info=dict(meta["info"]),
        )
        _check_consistent(model, arrays)  # (which builds its extractor: the settings are usable)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise SensorioError(f"{path}: damaged model file ({type(exc).__name__}: {exc})") from None
    return model


def _check_consistent(model: Model, arrays: Mapping[str, np.ndarray]) -> None:
    """A ValueError when the parts of a loaded model do not fit together
    (each was read on its own): fitted numbers that are not finite, a
    rejection threshold outside 0..1 (1 excluded), proportional levels not
    one per class and channel or for another rest class, a pipeline that does not build, or a decision on
    quiet input that fails or gives other than one finite posterior per class."""
    from ..dsp import Pipeline

    for name, a in arrays.items():
        if name.startswith(("decoder.", "proportional.")) and a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"{name} holds values that are not finite")
    if not 0.0 <= model.reject_below < 1.0:  # (also NaN) as fit_model takes it
        raise ValueError(f"reject_below {model.reject_below} is not a probability from 0 to below 1")
    prop = model.proportional
    if prop is not None and (
        np.shape(prop.mvc) != (len(model.classes), model.n_channels) or np.shape(prop.rest) != (model.n_channels,)
    ):
        raise ValueError("the proportional levels are not one per class and channel")
    if prop is not None and prop.rest_class != model.rest_class:
        raise ValueError(f"the proportional stage's rest class {prop.rest_class} is not the model's")
    if model.pipeline is not None:
        try:
            Pipeline.from_config(dict(model.pipeline))
        except SensorioError as exc:
            raise ValueError(f"its pipeline: {exc}") from None
    extractor = model.extractor()
    quiet = np.random.default_rng(0).normal(0.0, 10.0, (extractor.window, model.n_channels))
    windows = extractor.process(quiet, None)
    everyone = tuple(range(model.n_channels))
    for k in range(len(windows)):
        with np.errstate(all="ignore"):  # (damaged numbers say so below, not as numpy warnings)
            p = np.asarray(model.decoder.scores(windows.features[k], everyone))
        if model.classes and p.shape != (len(model.classes),):
            raise ValueError(f"the decoder gives {p.size} posteriors for {len(model.classes)} classes")
        if not np.isfinite(p).all():
            raise ValueError("the decoder gives posteriors that are not finite")
