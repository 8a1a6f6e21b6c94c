"""ECG records: the ``ECG`` type every other module uses, loading from files, and model input.

An ``ECG`` is always a float32 array (12, N) in millivolts in the canonical lead order ``LEADS``,
with its sampling rate, record id, source metadata and a report of what loading did.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from warnings import catch_warnings, simplefilter

import numpy as np

from gem_core import ecg_formats as fmt
from gem_core import formats
from gem_core.ecg_spec import (  # re-exported: gem_core.ecg.LEADS is what the rest of the code reads
    BASE_LEADS,
    DEFAULT_FS,
    LEADS,
    MAX_FS,
    MIN_DURATION_S,
    MIN_FS,
    MODEL_FS,
    MODEL_SAMPLES,
    canonical_lead,
)
from gem_core.ecg_spec import UNIT_SCALE as _UNIT_SCALE
from gem_core.errors import GemError
from gem_core.limits import check_declared_size
from gem_core.settings import Settings, get_settings


@dataclass
class ECG:
    """A 12-lead ECG: ``signal`` (12, N) float32 mV in ``LEADS`` order, sampled at ``fs`` Hz."""

    signal: np.ndarray
    fs: float
    record_id: str = "ecg"
    metadata: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)

    def __post_init__(self):
        sig = np.asarray(self.signal, dtype=np.float32)
        if sig.ndim != 2 or sig.shape[0] != len(LEADS):
            raise GemError(f"an ECG signal must have shape (12, N); got {sig.shape}")
        if not np.isfinite(self.fs) or not (MIN_FS <= float(self.fs) <= MAX_FS):
            raise GemError(
                f"sampling rate {self.fs} Hz is not plausible for an ECG "
                f"(expected {MIN_FS:g}-{MAX_FS:g} Hz); give the right rate with fs=..."
            )
        self.signal = sig
        self.fs = float(self.fs)

    @property
    def leads(self) -> tuple[str, ...]:
        return LEADS

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.n_samples / self.fs

    def lead(self, name: str) -> np.ndarray:
        """The samples of one lead (any spelling); ``GemError`` for an unknown lead."""
        canon = canonical_lead(name)
        if canon is None:
            raise GemError(f"unknown lead {name!r}; leads are {', '.join(LEADS)}")
        return self.signal[LEADS.index(canon)]

    def times_ms(self) -> np.ndarray:
        return np.arange(self.n_samples, dtype=np.float64) * (1000.0 / self.fs)

    @cached_property
    def content_hash(self) -> str:
        """sha256 of the samples and the sampling rate: the identity of a recording (not of its name)."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.signal).tobytes())
        h.update(repr(self.fs).encode())
        return h.hexdigest()

    @classmethod
    def from_array(cls, signal, fs: float, leads=None, record_id: str = "ecg", **kwargs) -> ECG:
        """An ECG from an array (12, N) or (N, 12) in mV, reordering by ``leads`` names when given."""
        arr = np.asarray(signal, dtype=np.float32)
        if arr.ndim == 2 and arr.shape[0] != 12 and arr.shape[1] == 12:
            arr = arr.T
        if leads is not None:
            canon = [canonical_lead(str(n)) for n in leads]
            if sorted(c for c in canon if c) != sorted(LEADS):
                raise GemError(f"lead names {list(leads)} are not the 12 standard leads")
            arr = arr[[canon.index(name) for name in LEADS]]
        return cls(signal=arr, fs=fs, record_id=record_id, **kwargs)


# ------------------------------------------------------------------------------------------- loading


def load_ecg(
    path, fs: float | None = None, *, settings: Settings | None = None, record: str | None = None
) -> ECG:
    """Load one ECG from a file: WFDB (``.hea`` + ``.dat``/``.mat``), ``.npy``, ``.npz``, ``.csv``, ``.zip``,
    and the exported formats of ``gem_core.formats``: DICOM ECG waveforms, HL7 aECG / Philips / GE MUSE
    XML, CODE-15% HDF5.

    ``fs`` gives the sampling rate of files that do not state one (.npy, CSV without a time column;
    500 Hz is assumed otherwise, with a warning) and overrides a stated rate (also with a warning).
    A zip with several records loads the first (sorted by member path), or the member named by
    ``record``; ``report["other_records"]`` lists the rest (``load_ecgs`` loads them all). A file holding
    many ECGs (CODE-15% HDF5) loads the one named by ``record`` (an exam id; the first by default) and
    lists the others the same way.
    Bad input raises ``GemError``.

    >>> ecg = load_ecg("../shared/data/ecg/cpsc2018/A0001.hea")  # doctest: +SKIP
    >>> ecg.signal.shape, ecg.fs, ecg.metadata["labels"]  # doctest: +SKIP
    ((12, 7500), 500.0, ['RBBB'])
    """
    settings = settings or get_settings()
    path = Path(path)
    with _as_gem_error(path):
        if path.suffix.lower() == ".zip":
            with fmt.extracted_zip(_existing(path, settings), settings.max_upload_mb, settings) as root:
                entries = _zip_entries(path, root)
                names = [e.relative_to(root).as_posix() for e in entries]
                if record not in (None, "") and record not in names:
                    raise GemError(f"{path.name} has no record {record!r}; it holds {', '.join(names[:5])}")
                chosen = names.index(record) if record else 0
                ecg = _load_file(entries[chosen], fs, settings, check_size=False)
                _mark_archive(ecg, path, root, entries[chosen])
                ecg.report["other_records"] = names[:chosen] + names[chosen + 1 :]
                return ecg
        return _load_file(path, fs, settings, record=record)


def load_ecgs(path, fs: float | None = None, *, settings: Settings | None = None) -> list[ECG]:
    """Every record in a file: all records of a zip archive (sorted by member path), else ``[load_ecg(path)]``."""
    settings = settings or get_settings()
    path = Path(path)
    if path.suffix.lower() != ".zip":
        if formats.handles(path) and formats.is_multi_record(path):
            return [
                _exported(raw, fs, path, settings)
                for raw in formats.read_all(_existing(path, settings), settings)
            ]
        return [load_ecg(path, fs, settings=settings)]
    with (
        _as_gem_error(path),
        fmt.extracted_zip(_existing(path, settings), settings.max_upload_mb, settings) as root,
    ):
        ecgs = []
        for entry in _zip_entries(path, root):
            if formats.handles(entry) and formats.is_multi_record(entry):
                found = [_exported(raw, fs, entry, settings) for raw in formats.read_all(entry, settings)]
            else:
                found = [_load_file(entry, fs, settings, check_size=False)]
            for ecg in found:
                _mark_archive(ecg, path, root, entry)
            ecgs += found
        return ecgs


@contextlib.contextmanager
def _as_gem_error(path: Path):
    """Loader failures that are not yet a ``GemError`` become one that names the file, not a folder.

    Out of memory (a record too large for this machine under its limits) and operating-system errors
    (a name too long, a path that is not a folder) are problems with the input, said in one line.
    """
    try:
        yield
    except MemoryError:
        raise GemError(
            f"{path.name} is too large to load in the memory available; send a shorter record "
            "or lower GEM_MAX_SAMPLES"
        ) from None
    except OSError as err:
        raise GemError(
            f"cannot read {path.name[:80]}: {err.strerror or type(err).__name__}; check the file name and "
            "upload the file again"
        ) from None


def _existing(path: Path, settings: Settings) -> Path:
    if not path.is_file():
        raise GemError(f"{path} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise GemError(f"{path.name} is empty (0 bytes); upload the complete file")
    fmt.check_size([path], settings.max_upload_mb, path.name)
    return path


def _zip_entries(path: Path, root: Path) -> list[Path]:
    entries = fmt.find_records(root)
    untyped = formats.find_untyped_dicom(root)  # PACS exports name files IM0001, without a suffix
    if untyped:
        entries = sorted([*entries, *untyped], key=lambda p: p.relative_to(root).as_posix())
    if not entries:
        raise GemError(f"{path.name} contains no ECG record (expected {fmt.SUPPORTED})")
    return entries


def _mark_archive(ecg: ECG, archive: Path, root: Path, entry: Path) -> None:
    ecg.report["archive"] = archive.name
    ecg.report["member"] = entry.relative_to(root).as_posix()


def _resolve(path: Path) -> Path:
    """The file that starts the record: a ``.dat``/``.mat``/extension-less path means its ``.hea``."""
    suffix = path.suffix.lower()
    if path.is_file() and formats.handles(path):
        return path
    if suffix in fmt.SIGNAL_SUFFIXES or (suffix not in fmt.RECORD_SUFFIXES and not path.is_file()):
        hea = path.with_suffix(".hea") if suffix in fmt.SIGNAL_SUFFIXES else Path(str(path) + ".hea")
        if hea.is_file():
            return hea
        if suffix in fmt.SIGNAL_SUFFIXES and path.is_file():
            raise GemError(f"{path.name} needs its WFDB header {hea.name} (upload both, e.g. in one .zip)")
    if not path.is_file():
        raise GemError(f"{path} does not exist or is not a file")
    if suffix not in fmt.RECORD_SUFFIXES:
        raise GemError(
            f"unsupported file type {path.suffix or '(no extension)'!r} for {path.name}; use {fmt.SUPPORTED}"
        )
    return path


def _load_file(
    path: Path, fs: float | None, settings: Settings, check_size: bool = True, record: str | None = None
) -> ECG:
    path = _resolve(path)
    suffix = path.suffix.lower()
    if formats.handles(path):
        if check_size and not formats.is_multi_record(path):  # many-record files: one record at a time
            _existing(path, settings)
        raw, others = formats.read(path, settings, record)
        ecg = _exported(raw, fs, path, settings)
        if others:
            ecg.report["records_in_file"] = len(others) + 1
            ecg.report["other_records"] = others
        return ecg
    if record not in (None, ""):
        raise GemError(f"{path.name} holds one record; there is no record {record!r} to choose")
    files = fmt.wfdb_files(path, settings) if suffix == ".hea" else [path]
    if check_size:
        fmt.check_size(files, settings.max_upload_mb, path.name)
    if suffix == ".hea":
        raw = fmt.read_wfdb(path, keep_patient_fields=settings.store_patient_fields, files=files)
    elif suffix == ".npy":
        raw = fmt.read_npy(path, settings)
    elif suffix == ".npz":
        raw = fmt.read_npz(path, settings)
    else:
        raw = fmt.read_csv(path, settings)
    return build_ecg(raw, fs, source_file=path.name, settings=settings)


def _exported(raw: fmt.RawRecord, fs: float | None, path: Path, settings: Settings | None = None) -> ECG:
    """``build_ecg`` for the exported formats; a file name that repeats a patient identifier is replaced
    by the record's de-identified id (``gem_core.formats.common.record_name``)."""
    named = "file name" not in raw.dropped_metadata
    source_file = path.name if named else raw.record_id + path.suffix.lower()
    return build_ecg(raw, fs, source_file=source_file, settings=settings)


def build_ecg(
    raw: fmt.RawRecord, fs: float | None = None, source_file: str = "", settings: Settings | None = None
) -> ECG:
    """Map a ``RawRecord`` to an ``ECG``: canonical leads, mV, validated rate, derived limb leads.

    The record's size is checked against ``gem_core.limits`` (readers check it from the header first).
    """
    warnings = list(raw.warnings)
    rate = _choose_fs(raw, fs, warnings, source_file)
    shape = np.shape(raw.signal)
    if len(shape) == 2:
        check_declared_size(shape[0], shape[1], rate, source_file or raw.record_id, settings)
    sig = np.asarray(raw.signal, dtype=np.float64)
    n = sig.shape[1]
    if n < MIN_DURATION_S * rate:
        raise GemError(
            f"{source_file or raw.record_id} has {n} samples ({n / rate:.2f} s at {rate:g} Hz); "
            f"an ECG needs at least {MIN_DURATION_S:g} s"
        )
    index, dropped = _map_leads(raw.names)
    missing = [lead for lead in BASE_LEADS if lead not in index]
    absent: list[str] = []
    if missing and raw.source_format == "csv" and index:
        # a one- or few-lead CSV (a rhythm strip, a single-lead device) names its leads in the header:
        # keep them, and draw and measure the others as absent (flat zeros), saying so
        absent = [lead for lead in LEADS if lead not in index and not _derivable(lead, index)]
        missing = []
        warnings.append(
            f"only {', '.join(lead for lead in LEADS if lead in index)} in the file; "
            f"{', '.join(absent)} not recorded (drawn flat, not measured)"
        )
    if missing:
        raise GemError(
            f"{source_file or raw.record_id} lacks lead(s) {', '.join(missing)} (channels: {', '.join(raw.names)}); "
            "a 12-lead ECG needs at least I, II and V1-V6 (III, aVR, aVL, aVF can be derived)"
        )
    if dropped:
        repeats = [name for name in dropped if canonical_lead(name)]
        others = [name for name in dropped if not canonical_lead(name)]
        if others:
            warnings.append(f"left out channel(s) {', '.join(others)}: not among the 12 standard leads")
        if repeats:
            warnings.append(f"left out channel(s) {', '.join(repeats)}: a second copy of a lead already read")
    scales = _unit_scales(raw, index, sig, warnings)
    out = np.empty((len(LEADS), n), dtype=np.float32)
    for row, lead in enumerate(LEADS):
        if lead in index:
            ch = index[lead]
            out[row] = sig[ch] * scales[ch] if scales[ch] != 1.0 else sig[ch]
    out[[LEADS.index(lead) for lead in absent]] = 0.0
    derived = [lead for lead in ("III", "aVR", "aVL", "aVF") if lead not in index and lead not in absent]
    _derive_limb_leads(out, derived)
    if derived:
        warnings.append(f"derived {', '.join(derived)} from I and II (Einthoven/Goldberger)")
    finite = np.isfinite(out)
    nan_count = 0 if finite.all() else int(out.size - np.count_nonzero(finite))
    if nan_count:
        bad = ~finite
        out[bad] = np.nan
        empty = [LEADS[i] for i in np.flatnonzero(bad.all(axis=1))]
        if empty:
            raise GemError(
                f"lead(s) {', '.join(empty)} in {source_file or raw.record_id} contain no valid samples "
                "(all NaN); re-export the record with every lead recorded"
            )
        warnings.append(f"{nan_count} missing (NaN) samples; set to 0 in the model input")
    report = {
        "source_format": raw.source_format,
        "source_file": source_file,
        "original_leads": list(raw.names),
        "fs_original": rate,
        "fs_stated": raw.fs,  # what the file says (None: not stated); differs from fs_original when fs= overrides
        "len_original": n,
        "derived_leads": derived,
        "absent_leads": absent,  # not in the file (a few-lead CSV): zeros, flat to the measurements
        "dropped_channels": dropped,
        "nan_count": nan_count,
        "warnings": warnings,
        "dropped_metadata": list(raw.dropped_metadata),
    }
    return ECG(signal=out, fs=rate, record_id=raw.record_id, metadata=dict(raw.metadata), report=report)


def _derivable(lead: str, index: dict) -> bool:
    """Whether a limb lead can be derived from the leads read (III, aVR, aVL, aVF need I and II)."""
    return lead in ("III", "aVR", "aVL", "aVF") and "I" in index and "II" in index


def _choose_fs(raw: fmt.RawRecord, fs: float | None, warnings: list[str], name: str) -> float:
    if fs is not None:
        rate, origin = fs, "given"
        if raw.fs is not None and float(raw.fs) != float(fs):
            warnings.append(f"file states {raw.fs:g} Hz; using the given fs={fs:g} Hz")
    elif raw.fs is not None:
        rate, origin = raw.fs, "stated in the file"
    else:
        rate, origin = DEFAULT_FS, "assumed"
        warnings.append(
            f"sampling rate not stated in the file; assumed {DEFAULT_FS:g} Hz (if wrong, state it in the"
            " file: fs in a .npz, a time column in a CSV; or load_ecg(path, fs=...))"
        )
    try:
        rate = float(rate)
    except (TypeError, ValueError):
        raise GemError(f"sampling rate {rate!r} ({origin}) is not a number") from None
    if not np.isfinite(rate) or not (MIN_FS <= rate <= MAX_FS):
        raise GemError(
            f"sampling rate {rate:g} Hz ({origin}) for {name or raw.record_id} is not plausible for an ECG "
            f"(expected {MIN_FS:g}-{MAX_FS:g} Hz); fix the file or pass the right rate with fs=..."
        )
    return rate


def _map_leads(names: list[str]) -> tuple[dict[str, int], list[str]]:
    """Canonical lead -> channel index (first occurrence wins); channel names that were dropped."""
    index: dict[str, int] = {}
    dropped = []
    for ch, name in enumerate(names):
        canon = canonical_lead(str(name))
        if canon is None or canon in index:
            dropped.append(str(name))
        else:
            index[canon] = ch
    return index, dropped


def _unit_scales(
    raw: fmt.RawRecord, index: dict[str, int], sig: np.ndarray, warnings: list[str]
) -> list[float]:
    """Factor to mV per channel; unitless input in microvolts is recognised by its amplitude."""
    n_ch = sig.shape[0]
    if raw.units is None:
        rows = sig[list(index.values()), :: max(1, sig.shape[1] // 20000)]
        with np.errstate(all="ignore"):
            level = np.nanpercentile(np.abs(rows), 99) if np.isfinite(rows).any() else 0.0
        if level > 50:  # no surface ECG reaches 50 mV; microvolt data routinely does
            warnings.append(
                f"units not stated; amplitudes (99th percentile {level:.0f}) look like uV: converted to mV"
            )
            return [1e-3] * n_ch
        return [1.0] * n_ch
    scales = []
    converted = set()
    for ch in range(n_ch):
        unit = (raw.units[ch] if ch < len(raw.units) else "").strip().lower()
        scale = _UNIT_SCALE.get(unit)
        if scale is None:
            if ch in index.values():
                warnings.append(f"channel {raw.names[ch]!r} has unit {unit or '(none)'!r}; assumed mV")
            scale = 1.0
        elif scale != 1.0 and ch in index.values():
            converted.add(unit)
        scales.append(scale)
    if converted:
        warnings.append(f"converted {', '.join(sorted(converted))} to mV")
    return scales


def _derive_limb_leads(out: np.ndarray, derived: list[str]) -> None:
    """Einthoven (III = II - I) and Goldberger (aVR, aVL, aVF) from leads I and II, in place."""
    lead_i, lead_ii = out[LEADS.index("I")], out[LEADS.index("II")]
    formulas = {
        "III": lambda: lead_ii - lead_i,
        "aVR": lambda: -(lead_i + lead_ii) / 2,
        "aVL": lambda: lead_i - lead_ii / 2,
        "aVF": lambda: lead_ii - lead_i / 2,
    }
    for lead in derived:
        out[LEADS.index(lead)] = formulas[lead]()


# ---------------------------------------------------------------------------------------- model input


def resample_factors(fs: float, target: float = MODEL_FS) -> tuple[int, int]:
    """Exact rational (up, down) with ``fs * up / down == target``, from the decimal value of ``fs``.

    >>> resample_factors(1000), resample_factors(100), resample_factors(360), resample_factors(500)
    ((1, 2), (5, 1), (25, 18), (1, 1))
    """
    if float(fs) == float(target):
        return 1, 1
    ratio = Fraction(str(target)) / Fraction(str(float(fs)))
    return ratio.numerator, ratio.denominator


def to_model_input(ecg: ECG, window: str = "first") -> tuple[np.ndarray, dict]:
    """GEM's signal input: (12, 5000) float32 mV at 500 Hz, NaN set to 0, in ``LEADS`` order.

    The record is resampled with ``scipy.signal.resample_poly`` by the exact rational factor
    500/fs; only the chosen 10 s window (plus the filter's reach on each side, so the values equal
    those of resampling the whole record) is resampled, which keeps hour-long records cheap.
    ``window="first"`` takes the first 10 s; ``window="best"`` the 10 s with the best signal quality
    (see ``best_window_start``). Shorter records are zero-padded at the end.

    Lead order is canonical (aVL before aVF); reordering for a model trained on another order is the
    model configuration's job.

    >>> from gem_core.samples import synthetic_ecg
    >>> x, rep = to_model_input(synthetic_ecg(fs=250, duration_s=12))
    >>> x.shape, rep["resampled"], rep["cropped"], rep["padded"], rep["window_ms"]
    ((12, 5000), True, True, False, [0.0, 10000.0])
    """
    if window not in ("first", "best"):
        raise GemError(f"window must be 'first' or 'best', not {window!r}")
    from scipy.signal import resample_poly

    up, down = resample_factors(ecg.fs)
    n = ecg.n_samples
    n_in = -(-MODEL_SAMPLES * down // up)  # input samples that cover the 10 s window
    start = 0
    if window == "best" and n > n_in:
        start = best_window_start(ecg)
    start = (start // down) * down  # aligned so the window starts on an exact output sample
    reach = 0 if up == down == 1 else down * -(-(10 * max(up, down) // up + 2) // down)  # filter half-length
    a, b = max(0, start - reach), min(n, start + n_in + reach)
    segment = np.nan_to_num(ecg.signal[:, a:b], nan=0.0, posinf=0.0, neginf=0.0)
    if up != down:
        segment = resample_poly(segment.astype(np.float64), up, down, axis=1)
    offset = (start - a) * up // down
    out = np.zeros((len(LEADS), MODEL_SAMPLES), dtype=np.float32)
    piece = segment[:, offset : offset + MODEL_SAMPLES]
    out[:, : piece.shape[1]] = piece
    total_out = -(-n * up // down)
    start_ms = 1000.0 * start / ecg.fs
    report = {
        "fs_original": ecg.fs,
        "len_original": n,
        "resampled": up != down,
        "resample_method": f"scipy.signal.resample_poly(up={up}, down={down})" if up != down else "none",
        "cropped": total_out > MODEL_SAMPLES,
        "padded": piece.shape[1] < MODEL_SAMPLES,
        "padded_samples": MODEL_SAMPLES - piece.shape[1],
        "window": window,
        "window_ms": [start_ms, start_ms + 1000.0 * MODEL_SAMPLES / MODEL_FS],
        "nan_zeroed": int(ecg.report.get("nan_count", 0)),
    }
    return out, report


def best_window_start(ecg: ECG, window_s: float = MODEL_SAMPLES / MODEL_FS) -> int:
    """Start sample of the ``window_s`` window with the best signal quality (windows start on whole seconds).

    Cheap, block-based: each lead is cut into 1 s blocks and a block counts as bad for each of
    missing samples (fraction NaN), a flat line (peak-to-peak < 0.02 mV: electrode off) and an
    implausible excursion (peak-to-peak > 8 mV: motion artifact, saturation). The window with the fewest
    bad lead-seconds wins; ties go to the window with the least high-frequency noise (median over leads
    of the mean absolute first difference), then to the earliest.
    """
    block = max(1, int(round(ecg.fs)))
    n_blocks = ecg.n_samples // block
    per_window = int(round(window_s))
    if n_blocks <= per_window:
        return 0
    x = ecg.signal[:, : n_blocks * block].reshape(len(LEADS), n_blocks, block)
    missing = np.isnan(x)
    if missing.any():  # NaN-aware reductions are several times slower; only pay for them when needed
        with np.errstate(all="ignore"), catch_warnings():
            simplefilter("ignore", RuntimeWarning)  # all-NaN blocks
            nan_frac = missing.mean(axis=2)
            ptp = np.nan_to_num(np.nanmax(x, axis=2) - np.nanmin(x, axis=2), nan=0.0)
            noise = np.nanmean(np.abs(np.diff(x, axis=2)), axis=2)
    else:
        nan_frac = 0.0
        ptp = x.max(axis=2) - x.min(axis=2)
        noise = np.abs(np.diff(x, axis=2)).mean(axis=2)
    bad = (nan_frac + (ptp < 0.02) + (ptp > 8.0)).sum(axis=0)
    noise = np.nan_to_num(np.median(noise, axis=0), nan=np.inf)
    kernel = np.ones(per_window)
    bad_w = np.convolve(bad, kernel, mode="valid")
    noise_w = np.convolve(noise, kernel, mode="valid")
    best = np.lexsort((np.arange(bad_w.size), noise_w, np.round(bad_w, 6)))[0]
    return int(best) * block


# ------------------------------------------------------------------------------------------------ CLI


def summary(ecg: ECG, window: str = "first") -> dict:
    """What ``python -m gem_core.ecg`` prints: the record, its metadata and both reports (no samples)."""
    _, model_report = to_model_input(ecg, window)
    return {
        "record_id": ecg.record_id,
        "fs": ecg.fs,
        "n_samples": ecg.n_samples,
        "duration_ms": ecg.duration_ms,
        "leads": list(ecg.leads),
        "metadata": ecg.metadata,
        "report": ecg.report,
        "model_input": model_report,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m gem_core.ecg PATH [--fs HZ] [--window first|best]``: print the JSON summary.

    Exit status 2 and one ``error: ...`` line on stderr for bad input (no traceback).
    """
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message):
            print(
                f"error: {message} (usage: python -m gem_core.ecg PATH [--fs HZ] [--window first|best])",
                file=sys.stderr,
            )
            raise SystemExit(2)

    parser = Parser(prog="python -m gem_core.ecg", description="Load an ECG file and print what loading did.")
    parser.add_argument("path")
    parser.add_argument(
        "--fs", type=float, default=None, help="sampling rate (Hz) for files that do not state it"
    )
    parser.add_argument("--window", choices=("first", "best"), default="first")
    args = parser.parse_args(argv)
    try:
        ecg = load_ecg(args.path, fs=args.fs)
        text = json.dumps(summary(ecg, args.window), indent=2, default=_json_default)
    except GemError as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    print(text)
    return 0


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


if __name__ == "__main__":
    raise SystemExit(main())
