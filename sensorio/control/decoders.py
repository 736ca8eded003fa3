"""Decoders from feature windows to decisions, and what follows them:
rejection, majority vote, proportional speed.

Feature vectors are channel-major: the features of channel c occupy entries
``c*F .. c*F + F - 1`` of the flattened (channels, F) window, so the features
of a channel subset are a fixed set of entries.

:class:`LDA` (linear discriminant analysis, pooled covariance shrunk toward
its diagonal) is fault tolerant: for the channels the fault detector left
valid it uses the Gaussian marginal of the trained model -- class means and
covariance restricted to those channels' features -- which is exactly the LDA
that training on those channels alone (with the same shrinkage) would give;
no retraining pass. The marginal of each channel subset is computed once
(a Cholesky factorisation) and kept. :class:`LinearRegressor` does the same
for regression (the conditional mean of the targets given the valid
channels' features). :class:`SklearnDecoder` wraps any scikit-learn
classifier or regressor (the optional extra ``sensorio[control]``); it is not
fault tolerant and says so: with any channel masked it gives the safe output.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import linalg

from ..errors import SensorioError

#: channel subsets whose marginal model is kept (least recently used dropped)
MARGINAL_CACHE = 256


@dataclass
class Decision:
    """One decision, per feature window.

    ``cls`` and ``label``: the class decided (after rejection and vote);
    ``probabilities``: the decoder's posterior per class (empty for a
    regressor); ``rejected``: the posterior was below the rejection threshold,
    so the rest class was output; ``channels_used``: the channels whose
    features the decoder used; ``speed``: proportional speed 0..1 of the
    decided class (for a regressor: its first output clipped to 0..1);
    ``safe``: the decoder could not decide on the channels left
    and the safe output (rest, zero speed) was taken, ``reason`` says why;
    ``outputs``: a regressor's estimates (empty for a classifier);
    ``end_row``: the absolute row just after the window; ``t_s`` its time.
    """

    cls: int
    label: str
    probabilities: np.ndarray
    rejected: bool
    channels_used: tuple[int, ...]
    speed: float
    safe: bool
    end_row: int
    t_s: float = 0.0
    reason: str = ""
    outputs: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (one JSON line per decision)."""
        return {
            "t_s": round(self.t_s, 6),
            "row": self.end_row,
            "class": self.label,
            "cls": self.cls,
            "speed": round(self.speed, 4),
            "p": [round(float(p), 4) for p in self.probabilities],
            "rejected": self.rejected,
            "safe": self.safe,
            "channels": list(self.channels_used),
            **({"reason": self.reason} if self.reason else {}),
            **({"outputs": [float(v) for v in self.outputs]} if self.outputs.size else {}),
        }


def subset_index(channels: Sequence[int], n_features: int) -> np.ndarray:
    """Entries of the flattened (channels, n_features) vector that belong to
    the given channels (channel-major)."""
    ch = np.asarray(channels, dtype=np.int64)
    return (ch[:, None] * n_features + np.arange(n_features)[None, :]).ravel()


def shrink(cov: np.ndarray, shrinkage: float) -> np.ndarray:
    """(1 - s) cov + s diag(cov): shrinkage toward the diagonal, which keeps
    each feature's variance; the shrunk covariance of a subset of features is
    the subset of the shrunk covariance."""
    out = (1.0 - shrinkage) * cov
    out[np.diag_indices_from(out)] = np.diag(cov)
    return out


def auto_shrinkage(z: np.ndarray) -> float:
    """Schäfer & Strimmer (2005) shrinkage intensity toward the diagonal
    ("target D") for centred data z (n, D): the estimated variance of the
    correlations over their squares, clipped to 0..1."""
    n = z.shape[0]
    if n < 3:
        return 1.0
    sd = z.std(axis=0)
    sd[sd == 0] = 1.0
    zs = z / sd
    m1 = zs.T @ zs / n  # mean of w_kij = zs_ki zs_kj
    m2 = (zs * zs).T @ (zs * zs) / n  # mean of w_kij^2
    var_r = n / (n - 1) ** 3 * n * (m2 - m1 * m1)
    r = m1 * n / (n - 1)
    off = ~np.eye(z.shape[1], dtype=bool)
    den = float(np.sum(r[off] ** 2))
    if den <= 0:
        return 1.0
    return float(np.clip(np.sum(var_r[off]) / den, 0.0, 1.0))


def precision(cov: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive definite matrix (by Cholesky)."""
    factor = linalg.cho_factor(cov, lower=True, check_finite=False)
    return linalg.cho_solve(factor, np.eye(cov.shape[0]), check_finite=False)


def subset_solve(
    cov: np.ndarray, prec: np.ndarray, solved: np.ndarray, rhs: np.ndarray, keep: np.ndarray, drop: np.ndarray
) -> np.ndarray:
    """``inv(cov[keep, keep]) @ rhs[keep]`` for a subset of the features
    (``drop``: the others), given ``prec = inv(cov)`` and ``solved = prec @
    rhs`` of the whole set.

    With few features dropped (F, the rest S) it uses the Schur complement of
    the precision, ``inv(cov_SS) = P_SS - P_SF inv(P_FF) P_FS``: with
    ``t = P @ rhs`` where rhs has its F rows zeroed, the answer is
    ``(t - P[:, F] inv(P_FF) t[F])[S]`` -- a solve of the small P_FF and
    products with D_F columns, instead of factorising cov_SS (D_S**3 / 3);
    with many dropped, a Cholesky factorisation of cov_SS."""
    if drop.size == 0:
        return solved.copy()
    if drop.size <= keep.size:
        g = prec[drop]  # P_F. (symmetric: the columns P[:, F] too)
        t = solved - g.T @ rhs[drop]
        return (t - g.T @ np.linalg.solve(g[:, drop], t[drop]))[keep]
    factor = linalg.cho_factor(cov[np.ix_(keep, keep)], lower=True, check_finite=False)
    return linalg.cho_solve(factor, rhs[keep], check_finite=False)


def _flatten(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise SensorioError(f"feature windows of shape {X.shape}: expected (windows, channels, features)")
    return X.reshape(X.shape[0], -1)


def complete_windows(X: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Windows usable for training: every channel valid and every value finite."""
    ok = np.isfinite(X).all(axis=tuple(range(1, X.ndim)))  # (no reshape: none may be 0 windows)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool).all(axis=1)
    return ok


class Decoder:
    """What every decoder offers: ``classes`` (labels; empty for a
    regressor), ``n_channels``, ``n_features``, ``tolerant`` (copes with
    masked channels), ``min_channels``, ``decide`` and ``to_arrays`` /
    ``from_arrays`` for the model file."""

    kind = ""
    tolerant = False
    classes: tuple[str, ...] = ()
    n_channels = 0
    n_features = 0
    min_channels = 1

    def usable(self, valid: np.ndarray) -> tuple[tuple[int, ...], str]:
        """The channels the decoder will use, or () and why it cannot decide."""
        used = tuple(int(c) for c in np.flatnonzero(valid))
        if not self.tolerant and len(used) < self.n_channels:
            masked = self.n_channels - len(used)
            return (), f"{self.kind} decoder is not fault tolerant and {masked} channel(s) are masked"
        if len(used) < self.min_channels:
            return (), f"{len(used)} valid channel(s), fewer than the {self.min_channels} needed"
        return used, ""

    def scores(self, features: np.ndarray, channels: tuple[int, ...]) -> np.ndarray:
        """Class posteriors (classifier) or estimates (regressor) from the
        given channels' features."""
        raise NotImplementedError

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The fitted decoder for a model file: (JSON-able settings, named arrays);
        the decoder's class ``from_arrays(meta, arrays)`` builds it back."""
        raise NotImplementedError


class _SubsetModel(Decoder):
    """What the Gaussian decoders share: the model on a channel subset is
    ``inv(cov[S, S]) @ rhs[S]`` (subset_solve) from the whole set's
    precision, cached per subset (least recently used out first)."""

    def __init__(self) -> None:
        self._cov = np.zeros((0, 0))
        self._rhs = np.zeros((0, 0))
        self._prec = np.zeros((0, 0))
        self._solved = np.zeros((0, 0))
        self._cache: OrderedDict[tuple[int, ...], Any] = OrderedDict()

    def _derive_from(self, cov: np.ndarray, rhs: np.ndarray) -> None:
        """What every subset starts from: the full precision and its solve."""
        self._cov, self._rhs = cov, rhs
        self._prec = precision(cov)
        self._solved = self._prec @ rhs
        self._cache.clear()

    def _on_subset(self, channels: Sequence[int], build: Callable[[np.ndarray, np.ndarray], Any]) -> Any:
        """``build(solution, feature index)`` for a channel subset, cached."""
        key = tuple(int(c) for c in channels)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        idx = subset_index(key, self.n_features)
        drop = subset_index(sorted(set(range(self.n_channels)) - set(key)), self.n_features)
        out = build(subset_solve(self._cov, self._prec, self._solved, self._rhs, idx, drop), idx)
        self._cache[key] = out
        if len(self._cache) > MARGINAL_CACHE:
            self._cache.popitem(last=False)
        return out

    def forget(self, channels: Sequence[int] | None = None) -> None:
        """Drop the cached model of a channel subset (None: of all)."""
        if channels is None:
            self._cache.clear()
        else:
            self._cache.pop(tuple(int(c) for c in channels), None)


class LDA(_SubsetModel):
    """Linear discriminant analysis with a shrunk pooled covariance.

    ``shrinkage``: a number 0..1 or ``"auto"`` (Schäfer-Strimmer, chosen at
    fit and then kept fixed: the marginal models use the same value).
    ``priors``: class priors (default equal). ``min_channels``: fewer valid
    channels than this give the safe output (default half the channels).
    """

    kind = "lda"
    tolerant = True

    def __init__(
        self,
        shrinkage: float | str = "auto",
        priors: Sequence[float] | None = None,
        min_channels: int | None = None,
    ) -> None:
        if shrinkage != "auto" and not (0.0 <= float(shrinkage) <= 1.0):
            raise SensorioError(f"shrinkage {shrinkage}: use a number from 0 to 1 or 'auto'")
        super().__init__()
        self.shrinkage_setting = shrinkage
        self.shrinkage = 0.0
        self._priors_setting = priors
        self._min_channels_setting = min_channels
        self.means = np.zeros((0, 0))
        self.cov = np.zeros((0, 0))
        self.priors = np.zeros(0)

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        classes: Sequence[str],
        valid: np.ndarray | None = None,
    ) -> LDA:
        """Fit on windows X (n, channels, F) with class indices y (n,) into
        ``classes``; windows with a masked channel or a non-finite value are
        left out."""
        X = np.asarray(X, dtype=np.float64)
        flat = _flatten(X)
        y = np.asarray(y, dtype=np.int64)
        if y.shape != (flat.shape[0],):
            raise SensorioError(f"{y.shape[0]} labels for {flat.shape[0]} windows")
        ok = complete_windows(X, valid) & (y >= 0)
        flat, y = flat[ok], y[ok]
        k = len(classes)
        counts = np.bincount(y, minlength=k) if y.size else np.zeros(k, np.int64)
        if k < 2 or counts.shape[0] != k or np.any(counts < 2):
            raise SensorioError(
                "LDA needs at least 2 clean windows of each of at least 2 classes; got "
                + ", ".join(f"{c}: {n}" for c, n in zip(classes, counts, strict=False))
            )
        self.classes = tuple(str(c) for c in classes)
        self.n_channels, self.n_features = X.shape[1], X.shape[2]
        self.means = np.stack([flat[y == j].mean(axis=0) for j in range(k)])
        z = flat - self.means[y]
        n = z.shape[0]
        cov = z.T @ z / max(n - k, 1)
        self.shrinkage = auto_shrinkage(z) if self.shrinkage_setting == "auto" else float(self.shrinkage_setting)
        self.cov = shrink(cov, self.shrinkage)
        # a feature constant within every class (a dead channel in training):
        # give it a tiny variance so the covariance stays positive definite
        d = np.diag(self.cov)
        floor = 1e-9 * max(float(d.max()), 1e-300)
        self.cov[np.diag_indices_from(self.cov)] = np.maximum(d, floor)
        if self._priors_setting is None:
            self.priors = np.full(k, 1.0 / k)
        else:
            pr = np.asarray(self._priors_setting, dtype=np.float64)
            if pr.shape != (k,) or np.any(pr <= 0):
                raise SensorioError(f"priors: {k} positive numbers, one per class")
            self.priors = pr / pr.sum()
        m = self._min_channels_setting
        self.min_channels = max(1, self.n_channels // 2) if m is None else int(m)
        self._derive()
        return self

    def _derive(self) -> None:
        self._derive_from(self.cov, self.means.T)

    def marginal(self, channels: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The model over a channel subset: (weights (K, D_S), offsets (K,),
        feature index (D_S,)); the discriminant of class k is
        ``weights[k] @ x[index] + offsets[k]``. Cached per subset."""

        def discriminants(solution: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            w = solution.T
            b = -0.5 * np.einsum("kd,kd->k", w, self.means[:, idx]) + np.log(self.priors)
            return w, b, idx

        result: tuple[np.ndarray, np.ndarray, np.ndarray] = self._on_subset(channels, discriminants)
        return result

    def scores(self, features: np.ndarray, channels: tuple[int, ...]) -> np.ndarray:
        w, b, idx = self.marginal(channels)
        g = w @ np.asarray(features, dtype=np.float64).reshape(-1)[idx] + b
        g -= g.max()
        p = np.exp(g)
        return p / p.sum()

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(settings, arrays) for the model file: the class ``means`` (K, D), shrunk
        pooled ``cov`` (D, D), ``priors`` (K,) and the ``shrinkage`` used."""
        meta = {
            "kind": self.kind,
            "shrinkage_setting": self.shrinkage_setting,
            "min_channels": self.min_channels,
            "n_channels": self.n_channels,
            "n_features": self.n_features,
            "classes": list(self.classes),
        }
        return meta, {
            "means": self.means,
            "cov": self.cov,
            "priors": self.priors,
            "shrinkage": np.array(self.shrinkage),
        }

    @classmethod
    def from_arrays(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> LDA:
        """The LDA that :meth:`to_arrays` saved, ready to decide (its subset cache empty)."""
        out = cls(meta["shrinkage_setting"], min_channels=meta["min_channels"])
        out.means, out.cov, out.priors = arrays["means"], arrays["cov"], arrays["priors"]
        out.shrinkage = float(arrays["shrinkage"])
        out.min_channels = int(meta["min_channels"])
        out.n_channels, out.n_features = int(meta["n_channels"]), int(meta["n_features"])
        out.classes = tuple(meta["classes"])
        out._priors_setting = out.priors.tolist()
        out._derive()
        return out


class LinearRegressor(_SubsetModel):
    """Linear regression of continuous targets (force, joint angle, speed)
    on the features, from the joint Gaussian of features and targets: on a
    channel subset the estimate is the conditional mean given those channels'
    features, equal to a regression fitted on that subset alone (with the
    same shrinkage of the feature covariance toward its diagonal, a ridge
    penalty proportional to each feature's variance)."""

    kind = "linear"
    tolerant = True

    def __init__(self, shrinkage: float = 0.01, min_channels: int | None = None, targets: Sequence[str] = ()) -> None:
        if not (0.0 <= float(shrinkage) <= 1.0):
            raise SensorioError(f"shrinkage {shrinkage}: use a number from 0 to 1")
        super().__init__()
        self.shrinkage = float(shrinkage)
        self._min_channels_setting = min_channels
        self.targets = tuple(targets)
        self.mean_x = np.zeros(0)
        self.mean_y = np.zeros(0)
        self.cov_xx = np.zeros((0, 0))
        self.cov_xy = np.zeros((0, 0))

    def fit(self, X: np.ndarray, Y: np.ndarray, valid: np.ndarray | None = None) -> LinearRegressor:
        """Fit on windows X (n, channels, F) and targets Y (n,) or (n, T)."""
        X = np.asarray(X, dtype=np.float64)
        flat = _flatten(X)
        Y = np.asarray(Y, dtype=np.float64)
        Y = Y[:, None] if Y.ndim == 1 else Y
        if Y.shape[0] != flat.shape[0]:
            raise SensorioError(f"{Y.shape[0]} targets for {flat.shape[0]} windows")
        ok = complete_windows(X, valid) & np.isfinite(Y).all(axis=1)
        flat, Y = flat[ok], Y[ok]
        if flat.shape[0] < 3:
            raise SensorioError("linear regression needs at least 3 clean windows")
        self.n_channels, self.n_features = X.shape[1], X.shape[2]
        if not self.targets:
            self.targets = tuple(f"y{j}" for j in range(Y.shape[1]))
        self.mean_x, self.mean_y = flat.mean(axis=0), Y.mean(axis=0)
        zx, zy = flat - self.mean_x, Y - self.mean_y
        n = flat.shape[0]
        cov = zx.T @ zx / (n - 1)
        self.cov_xx = shrink(cov, self.shrinkage)
        d = np.diag(self.cov_xx)
        self.cov_xx[np.diag_indices_from(self.cov_xx)] = np.maximum(d, 1e-9 * max(float(d.max()), 1e-300))
        self.cov_xy = zx.T @ zy / (n - 1)
        m = self._min_channels_setting
        self.min_channels = max(1, self.n_channels // 2) if m is None else int(m)
        self._derive()
        return self

    def _derive(self) -> None:
        self._derive_from(self.cov_xx, self.cov_xy)

    def marginal(self, channels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients (D_S, T) and feature index of the regression on a
        channel subset (cached)."""
        result: tuple[np.ndarray, np.ndarray] = self._on_subset(channels, lambda beta, idx: (beta, idx))
        return result

    def scores(self, features: np.ndarray, channels: tuple[int, ...]) -> np.ndarray:
        beta, idx = self.marginal(channels)
        x = np.asarray(features, dtype=np.float64).reshape(-1)[idx]
        return self.mean_y + (x - self.mean_x[idx]) @ beta

    def predict(self, X: np.ndarray, channels: Sequence[int] | None = None) -> np.ndarray:
        """Estimates (n, T) for windows X (n, channels, F) from the given channels (default all)."""
        used = tuple(range(self.n_channels)) if channels is None else tuple(channels)
        beta, idx = self.marginal(used)
        flat = _flatten(X)[:, idx]
        return self.mean_y + (flat - self.mean_x[idx]) @ beta

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(settings, arrays) for the model file: the ``shrinkage``, the feature and
        target means ``mean_x`` and ``mean_y`` and the covariances ``cov_xx`` and ``cov_xy``."""
        meta = {
            "kind": self.kind,
            "min_channels": self.min_channels,
            "n_channels": self.n_channels,
            "n_features": self.n_features,
            "targets": list(self.targets),
        }
        return meta, {
            "shrinkage": np.array(self.shrinkage),
            "mean_x": self.mean_x,
            "mean_y": self.mean_y,
            "cov_xx": self.cov_xx,
            "cov_xy": self.cov_xy,
        }

    @classmethod
    def from_arrays(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> LinearRegressor:
        """The LinearRegressor that :meth:`to_arrays` saved, ready to predict."""
        out = cls(float(arrays["shrinkage"]), min_channels=meta["min_channels"], targets=meta["targets"])
        out.mean_x, out.mean_y = arrays["mean_x"], arrays["mean_y"]
        out.cov_xx, out.cov_xy = arrays["cov_xx"], arrays["cov_xy"]
        out.min_channels = int(meta["min_channels"])
        out.n_channels, out.n_features = int(meta["n_channels"]), int(meta["n_features"])
        out._derive()
        return out


class MajorityVote:
    """The most frequent class among the last ``n`` decisions (ties go to the
    most recent of the tied classes); n = 1 passes decisions through."""

    def __init__(self, n: int = 1) -> None:
        if int(n) < 1:
            raise SensorioError(f"majority vote over {n} decisions: at least 1")
        self.n = int(n)
        self._last: deque[int] = deque(maxlen=self.n)

    def reset(self) -> None:
        """Forget the past decisions: the next vote counts only what comes after."""
        self._last.clear()

    def __call__(self, cls: int) -> int:
        self._last.append(cls)
        if self.n == 1:
            return cls
        counts = Counter(self._last)
        top = max(counts.values())
        for c in reversed(self._last):
            if counts[c] == top:
                return c
        return cls  # pragma: no cover - the loop always returns


class ProportionalControl:
    """Per-class speed from MVC-normalised amplitude.

    Fitted from training windows: per class k and channel c, the rest level
    ``rest[c]`` (median MAV of the rest windows) and the class's full-effort
    level ``mvc[k, c]`` (the ``percentile`` of its windows' MAV). For a
    decision of class k on channels S::

        a = (sum_S mav[c] - sum_S rest[c]) / (sum_S mvc[k, c] - sum_S rest[c])

    clipped to 0..1 (a subset's ratio, so it survives masked channels), then
    the ``deadband`` (a <= deadband gives 0, above it rescaled to 0..1) and the
    ``ramp_per_s`` limit (the speed changes at most that much per second;
    None: no limit). The rest class always has speed 0.
    """

    def __init__(
        self,
        deadband: float = 0.1,
        ramp_per_s: float | None = 5.0,
        percentile: float = 90.0,
    ) -> None:
        if not 0.0 <= deadband < 1.0:
            raise SensorioError(f"deadband {deadband}: use a number from 0 to below 1")
        if ramp_per_s is not None and not ramp_per_s > 0:
            raise SensorioError(f"ramp limit {ramp_per_s}/s: must be positive")
        self.deadband = float(deadband)
        self.ramp_per_s = None if ramp_per_s is None else float(ramp_per_s)
        self.percentile = float(percentile)
        self.rest = np.zeros(0)
        self.mvc = np.zeros((0, 0))
        self.rest_class = 0
        self._speed = 0.0

    def fit(
        self, mav: np.ndarray, y: np.ndarray, n_classes: int, rest_class: int, valid: np.ndarray | None = None
    ) -> ProportionalControl:
        """mav: (n, channels) MAV per window; y: class per window."""
        mav = np.asarray(mav, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        ok = np.isfinite(mav).all(axis=1) & (y >= 0)
        if valid is not None:
            ok &= np.asarray(valid, dtype=bool).all(axis=1)
        mav, y = mav[ok], y[ok]
        self.rest_class = int(rest_class)
        at_rest = mav[y == rest_class]
        self.rest = np.median(at_rest, axis=0) if at_rest.size else np.zeros(mav.shape[1])
        self.mvc = np.zeros((n_classes, mav.shape[1]))
        for k in range(n_classes):
            mine = mav[y == k]
            self.mvc[k] = np.percentile(mine, self.percentile, axis=0) if mine.size else self.rest
        self._speed = 0.0
        return self

    def reset(self) -> None:
        """Set the speed back to 0, so the ramp starts from standstill (the fitted levels stay)."""
        self._speed = 0.0

    def level(self, mav: np.ndarray, cls: int, channels: Sequence[int]) -> float:
        """Normalised amplitude 0..1 of class cls on the channels (before deadband and ramp)."""
        if cls == self.rest_class or not len(channels):
            return 0.0
        idx = np.asarray(channels, dtype=np.int64)
        rest = float(self.rest[idx].sum())
        span = float(self.mvc[cls, idx].sum()) - rest
        if not span > 0:
            return 0.0
        return float(np.clip((float(np.asarray(mav)[idx].sum()) - rest) / span, 0.0, 1.0))

    def __call__(self, mav: np.ndarray, cls: int, channels: Sequence[int], dt_s: float) -> float:
        """The speed of this decision (dt_s: time since the previous one)."""
        a = self.level(mav, cls, channels)
        target = 0.0 if a <= self.deadband else (a - self.deadband) / (1.0 - self.deadband)
        if self.ramp_per_s is not None:
            step = self.ramp_per_s * dt_s
            target = float(np.clip(target, self._speed - step, self._speed + step))
        self._speed = target
        return target

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(settings, arrays) for the model file: deadband, ramp, percentile and rest
        class; the ``rest`` level (channels,) and the ``mvc`` levels (K, channels)."""
        meta = {
            "deadband": self.deadband,
            "ramp_per_s": self.ramp_per_s,
            "percentile": self.percentile,
            "rest_class": self.rest_class,
        }
        return meta, {"rest": self.rest, "mvc": self.mvc}

    @classmethod
    def from_arrays(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> ProportionalControl:
        """The ProportionalControl that :meth:`to_arrays` saved, its speed at 0."""
        out = cls(meta["deadband"], meta["ramp_per_s"], meta["percentile"])
        out.rest, out.mvc = arrays["rest"], arrays["mvc"]
        out.rest_class = int(meta["rest_class"])
        return out


class SklearnDecoder(Decoder):
    """Any scikit-learn classifier or regressor (``pip install
    sensorio[control]``), trained on the flattened feature windows.

    Not fault tolerant: with any channel masked it gives the safe output and
    says why. In a model file it is stored as the estimator's class (import
    path) and parameters (JSON) with its training set; loading refits it and
    checks that its outputs on the training set are bit for bit those stored,
    so only deterministic estimators (a fixed ``random_state``) can be saved.
    """

    kind = "sklearn"
    tolerant = False

    def __init__(self, estimator: Any, min_channels: int | None = None) -> None:
        self.estimator = estimator
        try:
            from sklearn.base import is_classifier
        except ImportError:
            raise SensorioError("SklearnDecoder needs scikit-learn: pip install sensorio[control]") from None
        self.is_classifier = bool(is_classifier(estimator))
        self.train_X = np.zeros((0, 0))
        self.train_y = np.zeros(0)
        self.min_channels = 1

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        classes: Sequence[str] = (),
        valid: np.ndarray | None = None,
    ) -> SklearnDecoder:
        """Fit on windows X (n, channels, F): class indices y into ``classes``
        for a classifier, targets y for a regressor."""
        X = np.asarray(X, dtype=np.float64)
        flat = _flatten(X)
        y = np.asarray(y)
        ok = complete_windows(X, valid)
        self.n_channels, self.n_features = X.shape[1], X.shape[2]
        self.classes = tuple(str(c) for c in classes) if self.is_classifier else ()
        self.train_X, self.train_y = flat[ok], y[ok]
        self.estimator.fit(self.train_X, self.train_y)
        self.min_channels = self.n_channels
        return self

    def _outputs(self, flat: np.ndarray) -> np.ndarray:
        if self.is_classifier:
            proba = self.estimator.predict_proba(flat)
            out = np.zeros((flat.shape[0], len(self.classes)))
            out[:, np.asarray(self.estimator.classes_, dtype=np.int64)] = proba
            return out
        pred = np.asarray(self.estimator.predict(flat), dtype=np.float64)
        return pred.reshape(flat.shape[0], -1)

    def scores(self, features: np.ndarray, channels: tuple[int, ...]) -> np.ndarray:
        return self._outputs(np.asarray(features, dtype=np.float64).reshape(1, -1))[0]

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(settings, arrays) for the model file, without pickle: the estimator's class
        and parameters, the training windows and targets, and its outputs on them.

        Raises:
            SensorioError: the estimator has a parameter that is not a plain value."""
        est = self.estimator
        params = est.get_params(deep=False)
        try:
            import json

            json.dumps(params)
        except TypeError:
            raise SensorioError(
                f"{type(est).__name__} has parameters that are not plain values: it cannot be saved without pickle"
            ) from None
        meta = {
            "kind": self.kind,
            "estimator": f"{type(est).__module__}.{type(est).__qualname__}",
            "params": params,
            "classifier": self.is_classifier,
            "n_channels": self.n_channels,
            "n_features": self.n_features,
            "classes": list(self.classes),
        }
        return meta, {
            "train_X": self.train_X,
            "train_y": np.asarray(self.train_y),
            "check": self._outputs(self.train_X),
        }

    @classmethod
    def from_arrays(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> SklearnDecoder:
        """The saved decoder: its scikit-learn estimator is built from the class and
        parameters and fitted again on the saved training data.

        Raises:
            SensorioError: the estimator is not scikit-learn's or cannot be
                imported, or the refitted one does not reproduce the saved outputs."""
        import importlib

        path = str(meta["estimator"])
        module, _, name = path.rpartition(".")
        if not module.startswith("sklearn."):
            raise SensorioError(f"model names estimator {path}: only scikit-learn estimators are loaded")
        try:
            est_cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            raise SensorioError(
                f"model needs {path}: install scikit-learn (the optional extra sensorio[control])"
            ) from None
        out = cls(est_cls(**meta["params"]))
        out.is_classifier = bool(meta["classifier"])
        out.n_channels, out.n_features = int(meta["n_channels"]), int(meta["n_features"])
        out.classes = tuple(meta["classes"])
        out.train_X, out.train_y = arrays["train_X"], arrays["train_y"]
        out.estimator.fit(out.train_X, out.train_y)
        out.min_channels = out.n_channels
        if not np.array_equal(out._outputs(out.train_X), arrays["check"]):
            raise SensorioError(
                f"{name} refitted on load does not reproduce the saved outputs (is its random_state fixed?)"
            )
        return out


DECODERS: dict[str, type[Decoder]] = {"lda": LDA, "linear": LinearRegressor, "sklearn": SklearnDecoder}
