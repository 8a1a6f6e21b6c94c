"""File-format readers behind ``gem_core.ecg.load_ecg``: WFDB, NumPy, CSV and zip archives.

Each reader turns one record into a ``RawRecord``: the channels as stored (any names, any order, their
units), the sampling rate when the file states it, and de-identified metadata. Mapping to the 12
canonical leads, unit conversion and validation happen in ``gem_core.ecg``; this module knows files.

Every problem a user can cause raises ``GemError`` with a message that names the file and says what to
do. Nothing is written outside a temporary directory (zip archives are extracted into one).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from gem_core.ecg_spec import LEADS, MAX_FS, MIN_FS, canonical_lead
from gem_core.errors import GemError
from gem_core.limits import check_declared_size, check_member_count
from gem_core.settings import Settings, get_settings

# files that start a record; the exported formats' suffixes (.dcm .xml .h5 .hdf5) are gem_core.formats'
RECORD_SUFFIXES = (".hea", ".npy", ".npz", ".csv", ".dcm", ".xml", ".h5", ".hdf5")
SIGNAL_SUFFIXES = (".dat", ".mat")  # WFDB signal files: read through their header
SUPPORTED = (
    ".hea (+ .dat/.mat), .dat/.mat beside their .hea, .npy, .npz, .csv, DICOM ECG .dcm, "
    "HL7 aECG / Philips / GE MUSE .xml, CODE-15% .h5/.hdf5, .zip of these"
)

# Bytes per sample of the WFDB formats whose file size is fixed by the header (for the truncation check).
_WFDB_BYTES = {
    "8": 1,
    "16": 2,
    "24": 3,
    "32": 4,
    "61": 2,
    "80": 1,
    "160": 2,
    "212": 1.5,
    "310": 4 / 3,
    "311": 4 / 3,
}
_NUMBER = r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"
_FS_FIELD = re.compile(rf"^{_NUMBER}(/{_NUMBER})?(\({_NUMBER}\))?$")
_WFDB_FS = re.compile(r"^(\d+\.?\d*|\.\d+)([/(]|$)")  # the rate as wfdb reads it
_SIGNAL_KEYS = ("signal", "signals", "ecg", "data", "x", "arr_0")
_SMALL_ENTRY_BYTES = 1 << 20  # an .npz entry other than the signal (fs, leads, units)
_TIME_COLUMNS = {"t", "time", "times", "time_s", "time_ms", "ms", "s", "sec", "seconds", "timestamp"}


@dataclass
class RawRecord:
    """One record as the file stores it, before mapping to the 12 canonical leads."""

    signal: np.ndarray  # (channels, samples), in ``units``
    names: list[str]  # channel names as written in the file
    fs: float | None  # None: the file does not say
    record_id: str
    source_format: str
    units: list[str] | None = None  # per channel; None: the file does not say
    metadata: dict = field(default_factory=dict)
    dropped_metadata: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- checks


def check_size(paths: list[Path], max_mb: float, what: str) -> None:
    """``GemError`` when the files together are larger than the upload limit (``GEM_MAX_UPLOAD_MB``)."""
    total = sum(p.stat().st_size for p in paths if p.is_file())
    if total > max_mb * 1024 * 1024:
        raise GemError(
            f"{what} is {total / 1024 / 1024:.1f} MB, above the upload limit of {max_mb:g} MB; "
            "send a shorter record or raise GEM_MAX_UPLOAD_MB"
        )


def _check_not_empty(path: Path) -> None:
    if path.stat().st_size == 0:
        raise GemError(f"{path.name} is empty (0 bytes); upload the complete file")


# ------------------------------------------------------------------------------------------------ WFDB


def _header_lines(hea: Path) -> list[str]:
    _check_not_empty(hea)
    try:
        text = hea.read_text(encoding="latin-1")
    except OSError as err:
        raise GemError(f"cannot read {hea.name}: {err.strerror}") from None
    lines = [ln.strip() for ln in text.splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def _check_header(
    hea: Path, lines: list[str], settings: Settings | None = None
) -> list[tuple[str, str, int]]:
    """Validate the record line and return (file name, fmt, byte offset) per signal line.

    wfdb's own parser silently guesses some malformed fields (e.g. a non-numeric rate becomes 250 Hz),
    so the record line is checked here first; it is a few string splits, cheap next to the read.
    """
    if not lines:
        raise GemError(f"{hea.name} has no record line; it is not a WFDB header")
    rec = lines[0].split()
    problem = None
    if len(rec) < 2 or not rec[1].isdigit():
        problem = "the second field (number of signals) must be an integer"
    elif len(rec) > 2 and _FS_FIELD.match(rec[2]) and not _WFDB_FS.match(rec[2]):
        # a sign or an exponent: wfdb's parser reads only plain decimals ('1e6' would become 1 Hz)
        stated = float(re.split(r"[/(]", rec[2])[0])
        if not MIN_FS <= stated <= MAX_FS:
            raise GemError(
                f"sampling rate {stated:g} Hz (stated in the file) for {hea.name} is not plausible "
                "for an ECG; fix the header or pass the right rate with fs=..."
            )
        problem = f"the sampling rate field {rec[2]!r} must be a plain decimal number (e.g. {stated:g})"
    elif len(rec) > 2 and not _FS_FIELD.match(rec[2]):
        problem = f"the sampling rate field {rec[2]!r} is not a number"
    elif len(rec) > 3 and not rec[3].isdigit():
        problem = f"the number-of-samples field {rec[3]!r} is not an integer"
    if problem:
        raise GemError(f"header syntax error in {hea.name}, record line {lines[0]!r}: {problem}")
    n_sig = int(rec[1])
    if n_sig == 0:
        raise GemError(f"{hea.name} declares 0 signals; there is nothing to load")
    stated_fs = float(re.split(r"[/(]", rec[2])[0]) if len(rec) > 2 else None
    check_declared_size(n_sig, int(rec[3]) if len(rec) > 3 else None, stated_fs, hea.name, settings)
    if "/" in rec[0]:  # multi-segment record: the segment headers must sit beside this one
        for line in lines[1 : 1 + n_sig]:
            _check_plain_name(hea, line.split()[0])
        return []
    if len(lines) < 1 + n_sig:
        raise GemError(
            f"header syntax error in {hea.name}: it declares {n_sig} signals but has {len(lines) - 1} signal lines"
        )
    specs = []
    for line in lines[1 : 1 + n_sig]:
        parts = line.split()
        m = re.match(r"^(\d+)(x\d+)?(:\d+)?(\+\d+)?$", parts[1]) if len(parts) > 1 else None
        if not m:
            raise GemError(f"header syntax error in {hea.name}, signal line {line!r}: no valid format field")
        frames = int(m.group(2)[1:]) if m.group(2) else 1
        offset = int(m.group(4)[1:]) if m.group(4) else 0
        specs.append((parts[0], m.group(1), offset, frames, " ".join(parts[8:])))
    sig_len = int(rec[3]) if len(rec) > 3 else None
    return _check_signal_files(hea, specs, sig_len, stated_fs, settings)


def _check_signal_files(hea: Path, specs, sig_len: int | None, fs=None, settings=None) -> list:
    """Every signal file the header names must exist and be long enough for the samples it declares.

    A missing file whose channels are all named and none of them a standard lead (PTB's Frank leads in
    ``.xyz``) is left out when another signal file is present: ``read_wfdb`` reads the other channels.
    """
    by_file: dict[str, list] = {}
    for name, fmt, offset, frames, channel in specs:
        by_file.setdefault(name, []).append((fmt, offset, frames, channel))
    for name, chans in by_file.items():
        if name == "~":
            continue
        _check_plain_name(hea, name)
        path = hea.parent / name
        if not path.is_file() and _optional(chans) and any((hea.parent / n).is_file() for n in by_file):
            continue
        if not path.is_file():
            raise GemError(
                f"{hea.name} names the signal file {name!r}, which is missing; "
                "upload the header together with its signal file (e.g. both in one .zip)"
            )
        fmt, offset = chans[0][0], chans[0][1]
        per_frame = sum(_WFDB_BYTES.get(c[0], 0) * c[2] for c in chans)
        if sig_len is None and per_frame:  # no length stated: wfdb reads the whole file
            frames = (path.stat().st_size - offset) / per_frame
            check_declared_size(len(chans), int(frames), fs, name, settings)
        if sig_len and fmt in _WFDB_BYTES and all(c[0] in _WFDB_BYTES for c in chans):
            need = offset + int(np.ceil(sig_len * per_frame))
            have = path.stat().st_size
            if have < need:
                raise GemError(
                    f"{name} is truncated: {have} bytes, but {hea.name} declares {sig_len} samples of "
                    f"{len(chans)} signal(s) in format {fmt} ({need} bytes); upload the complete file"
                )
    return [hea.parent / n for n in by_file if n != "~" and (hea.parent / n).is_file()]


def _optional(chans: list) -> bool:
    """Whether a signal file's channels are all named and none is one of the 12 standard leads."""
    return all(c[3] and canonical_lead(c[3]) is None for c in chans)


def _left_out_channels(hea: Path, signal_files: list[Path]) -> tuple[list[int] | None, list[str]]:
    """Channel indices to read (None: all) and a warning per signal file left out by ``_check_signal_files``."""
    lines = _header_lines(hea)
    if "/" in lines[0].split()[0]:
        return None, []
    present = {p.name for p in signal_files} | {"~"}
    specs = [ln.split() for ln in lines[1 : 1 + int(lines[0].split()[1])]]
    absent: dict[str, list[str]] = {}
    for parts in specs:
        if parts[0] not in present:
            absent.setdefault(parts[0], []).append(" ".join(parts[8:]))
    if not absent:
        return None, []
    warnings = [
        f"{name} (channels {', '.join(names)}) is missing; those channels are not among the 12 "
        "standard leads and were left out"
        for name, names in absent.items()
    ]
    return [i for i, parts in enumerate(specs) if parts[0] in present], warnings


def _check_plain_name(hea: Path, name: str) -> None:
    """A file a header refers to must sit beside it: no reading of other files through a crafted header."""
    if "/" in name or "\\" in name or name in (".", ".."):
        raise GemError(
            f"{hea.name} names the file {name!r} outside its own folder; WFDB signal files and segments must "
            "sit beside their header (give a plain file name)"
        )


def wfdb_files(hea: Path, settings: Settings | None = None) -> list[Path]:
    """The header and the signal files it names (for size limits and archives).

    Checks the declared size (signals x samples, ``gem_core.limits``) before anything is read.
    """
    return [hea, *_check_header(hea, _header_lines(hea), settings)]


def read_wfdb(hea: Path, *, keep_patient_fields: bool = False, files: list[Path] | None = None) -> RawRecord:
    """Read a WFDB record (``.hea`` with ``.dat`` in any WFDB format, or with a Challenge ``.mat``).

    Physical values are exactly ``wfdb.rdrecord``'s; header comments become de-identified metadata.
    ``files`` is ``wfdb_files(hea)`` when the caller already checked them.
    """
    import wfdb

    signal_files = (files or wfdb_files(hea))[1:]
    record_path = str(hea.with_suffix(""))
    channels, warnings = _left_out_channels(hea, signal_files)
    try:
        rec = wfdb.rdrecord(record_path, channels=channels)
    except wfdb.io.header.HeaderSyntaxError as err:
        raise GemError(f"header syntax error in {hea.name}: {err}") from None
    except FileNotFoundError as err:
        raise GemError(
            f"{hea.name} names a signal file that is missing ({Path(err.filename).name})"
        ) from None
    except (ValueError, IndexError, TypeError, KeyError, OSError) as err:
        raise GemError(
            f"cannot read WFDB record {hea.stem}: {err}; check that the header and signal files belong together "
            "and are complete"
        ) from None
    if rec.p_signal is None:
        raise GemError(f"WFDB record {hea.stem} has no signals")
    metadata, dropped = parse_header_comments(rec.comments or [], keep_patient_fields)
    if rec.base_date is not None or rec.base_time is not None:
        dropped.append("recording date/time")
    kinds = sorted({p.suffix.lower() for p in signal_files})
    return RawRecord(
        signal=rec.p_signal.T,
        names=list(rec.sig_name),
        fs=float(rec.fs) if rec.fs is not None else None,
        record_id=hea.stem,
        source_format="wfdb" + ("+mat" if ".mat" in kinds else ""),
        units=list(rec.units) if rec.units else None,
        metadata=metadata,
        dropped_metadata=dropped,
        warnings=warnings,
    )


def parse_header_comments(comments: list[str], keep_patient_fields: bool = False) -> tuple[dict, list[str]]:
    """Age, sex and diagnosis labels from WFDB/Challenge header comments; everything else is dropped.

    Returns (metadata, names of dropped fields). Free-text fields (history, medication, clinical notes)
    stay out unless ``keep_patient_fields`` (``GEM_STORE_PATIENT_FIELDS``), because they can identify a
    patient and the metadata travels into the ratings store and exports.

    >>> parse_header_comments(["Age: 74", "Sex: Male", "Dx: RBBB,AF", "Rx: Unknown"])
    ({'age': 74, 'sex': 'male', 'labels': ['RBBB', 'AF'], 'label_system': 'CPSC2018'}, ['Rx'])
    >>> parse_header_comments([" Dx: 426783006"])[0]["label_system"]
    'SNOMED CT'
    """
    metadata: dict = {}
    dropped: list[str] = []
    kept: dict = {}
    free_text: list[str] = []
    for raw in comments:
        line = raw.strip().lstrip("#").strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        low = key.lower()
        if sep and low == "age":
            metadata["age"] = _parse_age(value)
        elif sep and low in ("sex", "gender"):
            metadata["sex"] = _parse_sex(value)
        elif sep and low == "dx":
            labels = [v.strip() for v in value.split(",") if v.strip()]
            metadata["labels"] = labels
            metadata["label_system"] = label_system(labels)
        elif sep and key:
            dropped.append(key)
            kept[key] = value
        else:
            free_text.append(line)
    if free_text:
        dropped.append(f"{len(free_text)} free-text comment line(s)")
    if keep_patient_fields and (kept or free_text):
        metadata["patient_fields"] = {**kept, **({"comments": free_text} if free_text else {})}
    return metadata, dropped


def label_system(labels: list[str]) -> str:
    """The coding system of diagnosis labels: SNOMED CT codes are numeric, CPSC 2018 uses abbreviations."""
    if labels and all(lab.isdigit() for lab in labels):
        return "SNOMED CT"
    return "CPSC2018"


def _parse_age(value: str) -> int | float | None:
    try:
        age = float(value)
    except ValueError:
        return None
    if not np.isfinite(age) or age < 0:
        return None
    return int(age) if age.is_integer() else age


def _parse_sex(value: str) -> str | None:
    v = value.strip().lower()
    if v in ("male", "m", "0"):
        return "male"
    if v in ("female", "f", "1"):
        return "female"
    return None


# ----------------------------------------------------------------------------------------------- NumPy


def _numeric_array(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise GemError(
            f"{name} holds {arr.dtype} values, not numbers; save the signal as a float array (12, N) in mV"
        )
    return arr


def _orient(arr: np.ndarray, name: str, n_names: int | None = None) -> np.ndarray:
    """(channels, samples) from (C, L) or (L, C); channels are 8, 12 or 15 (or the given name count)."""
    if arr.ndim != 2:
        raise GemError(
            f"{name} has shape {arr.shape} ({arr.ndim}-D); an ECG array must be 2-D: (12, N) or (N, 12)"
        )
    allowed = {n_names} if n_names else {8, 12, 15}
    rows_ok, cols_ok = arr.shape[0] in allowed, arr.shape[1] in allowed
    if rows_ok and (not cols_ok or arr.shape[1] <= arr.shape[0]):
        return arr
    if cols_ok:
        return arr.T
    raise GemError(
        f"{name} has shape {arr.shape}; expected (12, N) or (N, 12) leads x samples "
        "(8 leads I, II, V1-V6 also work); give lead names in an .npz 'leads' entry for other layouts"
    )


def _default_names(n: int) -> list[str]:
    if n == 12:
        return list(LEADS)
    if n == 8:
        return ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    return [*LEADS, "vx", "vy", "vz"][:n]


def _npy_header(fh, name: str) -> tuple[tuple, np.dtype]:
    """(shape, dtype) from a ``.npy`` header, reading only the header (not the data)."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise GemError(f"{name} is a .npy file of format version {version}; save it with np.save")
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, struct.error) as err:
        raise GemError(f"{name} is not a valid .npy array ({err})") from None
    return tuple(shape), dtype


def _check_npy(fh, name: str, settings: Settings | None, signal: bool = True) -> None:
    """Refuse, from its header, an array that would expand past the limits (``gem_core.limits``).

    A 2-D array is a signal (channels x samples either way round); other entries (``fs``, ``leads``,
    ``units``) are small and may not exceed 1 MB.
    """
    shape, dtype = _npy_header(fh, name)
    if dtype.hasobject:
        raise GemError(
            f"{name} holds Python objects, which cannot be loaded without unpickling; save a numeric array"
        )
    count = int(np.prod(shape, dtype=object)) if shape else 1
    if len(shape) == 2 and dtype.kind in "biuf" and dtype.itemsize <= 8:
        check_declared_size(min(shape), max(shape), None, name, settings)
    elif signal and len(shape) != 2:
        raise GemError(
            f"{name} has shape {shape} ({len(shape)}-D); an ECG array must be 2-D: (12, N) or (N, 12)"
        )
    elif signal or len(shape) == 2:
        raise GemError(
            f"{name} holds {dtype} values, not numbers; save the signal as a float array (12, N) in mV"
        )
    elif count * dtype.itemsize > _SMALL_ENTRY_BYTES:
        raise GemError(
            f"{name} declares {count * dtype.itemsize} bytes; besides the 2-D signal an .npz holds only "
            "small entries (fs, leads, units) (nothing was loaded)"
        )


def read_npy(path: Path, settings: Settings | None = None) -> RawRecord:
    """A ``.npy`` array (12, L) or (L, 12) in canonical lead order; never unpickles.

    The header's shape is checked against the limits before the data is read.
    """
    _check_not_empty(path)
    with path.open("rb") as fh:
        if fh.read(6) == b"\x93NUMPY":  # anything else np.load refuses below without allocating
            fh.seek(0)
            _check_npy(fh, path.name, settings)
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode=None)
    except ValueError as err:
        raise GemError(
            f"{path.name} cannot be loaded without unpickling ({err}); save a plain numeric array with np.save"
        ) from None
    except (OSError, EOFError) as err:
        raise GemError(f"{path.name} is not a valid .npy file ({err})") from None
    if not isinstance(arr, np.ndarray):
        raise GemError(f"{path.name} is not a .npy array file")
    arr = _orient(_numeric_array(arr, path.name), path.name)
    warnings = ["lead order not stated in the file; assumed " + " ".join(_default_names(arr.shape[0]))]
    return RawRecord(arr, _default_names(arr.shape[0]), None, path.stem, "npy", warnings=warnings)


def _check_npz(path: Path, settings: Settings | None) -> None:
    """Every entry's declared size, from the zip directory and each ``.npy`` header, before loading."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            check_member_count(len(infos), path.name, settings)
            for info in infos:
                name = f"{path.name}[{info.filename.removesuffix('.npy')!r}]"
                if not info.filename.endswith(".npy"):
                    if info.file_size > _SMALL_ENTRY_BYTES:
                        raise GemError(f"{name} is not an array and is {info.file_size} bytes; not loaded")
                    continue
                with zf.open(info) as fh:
                    _check_npy(fh, name, settings, signal=False)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as err:
        raise GemError(f"{path.name} is not a valid .npz file ({err})") from None


def read_npz(path: Path, settings: Settings | None = None) -> RawRecord:
    """A ``.npz`` with the signal (key ``signal``/``ecg``/``data``/``x``, or its only array) and optional
    ``fs``, ``leads`` and ``units`` entries; never unpickles. Entry sizes are checked before loading."""
    _check_not_empty(path)
    _check_npz(path, settings)
    try:
        with np.load(path, allow_pickle=False) as npz:
            entries = {key: npz[key] for key in npz.files}
    except ValueError as err:
        raise GemError(
            f"{path.name} cannot be loaded without unpickling ({err}); store numeric arrays and "
            "string arrays only (np.savez(path, signal=..., fs=500, leads=np.array([...])))"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise GemError(f"{path.name} is not a valid .npz file ({err})") from None
    key = next((k for k in _SIGNAL_KEYS if k in entries), None)
    if key is None:
        arrays = [k for k, v in entries.items() if k not in ("fs", "leads", "units") and v.ndim >= 2]
        if len(arrays) != 1:
            raise GemError(f"{path.name} has no 'signal' entry (entries: {', '.join(entries) or 'none'})")
        key = arrays[0]
    names = [str(n) for n in np.atleast_1d(entries["leads"])] if "leads" in entries else None
    arr = _orient(
        _numeric_array(entries[key], f"{path.name}[{key!r}]"), path.name, len(names) if names else None
    )
    warnings = []
    if names is None:
        names = _default_names(arr.shape[0])
        warnings.append("lead order not stated in the file; assumed " + " ".join(names))
    fs = None
    if "fs" in entries:
        fs_arr = np.asarray(entries["fs"])
        if fs_arr.size != 1 or fs_arr.dtype.kind not in "iuf":
            raise GemError(f"{path.name}: 'fs' must be one number (the sampling rate in Hz)")
        fs = float(fs_arr.reshape(()))
    units = None
    if "units" in entries:
        u = [str(x) for x in np.atleast_1d(entries["units"])]
        units = u * arr.shape[0] if len(u) == 1 else u
    return RawRecord(arr, names, fs, path.stem, "npz", units=units, warnings=warnings)


# ------------------------------------------------------------------------------------------------- CSV


def _check_csv_shape(path: Path, settings: Settings | None) -> None:
    """Columns from the first line and rows from a count of line ends, streamed, before parsing."""
    s = settings or get_settings()
    bound = 64 * (s.max_channels + 1)  # generous: a lead name with its unit is a few characters
    with path.open("rb") as fh:
        first = fh.readline(bound + 1)
        if len(first) > bound and not first.endswith(b"\n"):
            raise GemError(
                f"{path.name}'s first line is longer than {bound} bytes: more columns than the limit of "
                f"{s.max_channels} (GEM_MAX_CHANNELS) could hold; a CSV has one column per lead "
                "(nothing was loaded)"
            )
        text = first.decode("utf-8", errors="replace")
        seps = [text.count(sep) for sep in ",;\t|"]
        columns = 1 + (max(seps) if any(seps) else len(text.split()) - 1)
        lines = 0
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
    check_declared_size(columns, lines, None, path.name, s)


def read_csv(path: Path, settings: Settings | None = None) -> RawRecord:
    """A CSV with a header row of lead names and an optional time column (s, or ms when named so).

    Its columns (first line) and rows (line count) are checked against the limits before parsing.
    """
    _check_not_empty(path)
    _check_csv_shape(path, settings)
    import pandas as pd  # its C parser is much faster than np.loadtxt on long records

    try:
        df = pd.read_csv(path, sep=None, engine="python") if _needs_sniff(path) else pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise GemError(f"{path.name} is not a readable CSV ({err})") from None
    columns = [str(c).strip() for c in df.columns]
    if all(_is_number(c) for c in columns):
        raise GemError(f"{path.name} has no header row; its first row must name the leads (I, II, ..., V6)")
    fs = None
    time_col = next((c for c in columns if c.lower() in _TIME_COLUMNS), None)
    if time_col is not None:
        t = pd.to_numeric(df.iloc[:, columns.index(time_col)], errors="coerce").to_numpy(dtype=float)
        fs = _fs_from_time(t, time_col, path.name)
        df = df.drop(columns=df.columns[columns.index(time_col)])
        columns.remove(time_col)
    try:
        arr = df.apply(pd.to_numeric, errors="raise").to_numpy(dtype=np.float64).T
    except (ValueError, TypeError):
        raise GemError(f"{path.name} has non-numeric values below its header row") from None
    names, units = [], []
    for col in columns:
        name, unit = _split_unit(col)
        names.append(name)
        units.append(unit)
    return RawRecord(arr, names, fs, path.stem, "csv", units=units if any(units) and all(units) else None)


def _needs_sniff(path: Path) -> bool:
    """Whether the header separates its columns with something other than commas (";", tabs, spaces).

    A one-column CSV (a header such as ``II`` and one value per line) has no separator at all: it is
    read as it is, not sniffed (the sniffer would split its numbers at the decimal point).
    """
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        first = fh.readline().strip()
    return "," not in first and any(sep in first for sep in (";", "\t", " ", "|"))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _split_unit(column: str) -> tuple[str, str]:
    """``'V1 (uV)'`` or ``'V1_mV'`` -> (``'V1'``, ``'uV'``); no unit -> (name, '')."""
    m = re.match(r"^(.*?)[\s_]*[\(\[]?\s*(mv|uv|µv|μv|v)\s*[\)\]]?$", column, flags=re.IGNORECASE)
    if m and m.group(1) and (column.endswith((")", "]")) or "_" in column):
        return m.group(1).strip(), m.group(2)
    return column, ""


def _fs_from_time(t: np.ndarray, name: str, file: str) -> float:
    dt = np.diff(t[np.isfinite(t)])
    if dt.size == 0 or not np.all(dt > 0):
        raise GemError(f"{file}: the time column {name!r} is not strictly increasing")
    step = float(np.median(dt))
    in_ms = "ms" in name.lower() or (name.lower() in ("t", "time", "times", "timestamp") and step >= 0.5)
    return round(1000.0 / step if in_ms else 1.0 / step, 6)


# ------------------------------------------------------------------------------------------------- zip


def zip_entry_count(path: Path) -> int | None:
    """The number of entries a zip's end-of-central-directory record states (None: not found).

    Read from the file's last 64 KiB, so an archive listing 100,000 members is refused in
    milliseconds instead of after ``zipfile`` has parsed its whole directory.
    """
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(max(0, size - 65_557))
            tail = fh.read()
            at = tail.rfind(b"PK\x05\x06")
            if at < 0 or at + 22 > len(tail):
                return None
            count = struct.unpack("<H", tail[at + 10 : at + 12])[0]
            if count == 0xFFFF and at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":  # zip64
                fh.seek(struct.unpack("<Q", tail[at - 12 : at - 4])[0])
                record = fh.read(56)
                if record[:4] == b"PK\x06\x06":
                    count = struct.unpack("<Q", record[32:40])[0]
            return count
    except (OSError, struct.error):
        return None


@contextlib.contextmanager
def extracted_zip(path: Path, max_mb: float, settings: Settings | None = None) -> Iterator[Path]:
    """Extract a zip into a fresh temporary directory (removed afterwards) after checking its members.

    Rejected before anything is written: archives listing more than ``GEM_MAX_ZIP_MEMBERS`` entries,
    member paths that are absolute or contain ``..``, and archives whose members would expand past
    ``max_mb`` in total (sizes from the zip directory; reading stops at the declared size, so a lying
    directory cannot write more). Members whose paths clash (a file ``x`` and a folder ``x/``) or are
    too long for the file system are refused with a ``GemError``.
    """
    stated = zip_entry_count(path)
    if stated is not None:
        check_member_count(stated, path.name, settings)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise GemError(f"{path.name} is not a valid zip archive ({err})") from None
    with zf, tempfile.TemporaryDirectory(prefix="gem_zip_") as tmp:
        check_member_count(len(zf.infolist()), path.name, settings)
        members = [m for m in zf.infolist() if not m.is_dir()]
        for m in members:
            p = PurePosixPath(m.filename.replace("\\", "/"))
            if p.is_absolute() or ".." in p.parts or re.match(r"^[A-Za-z]:", m.filename):
                raise GemError(
                    f"{path.name} contains the unsafe member path {m.filename!r} (absolute or with '..'); "
                    "nothing was extracted; re-create the archive with relative paths"
                )
        total = sum(m.file_size for m in members)
        if total > max_mb * 1024 * 1024:
            raise GemError(
                f"{path.name} expands to {total / 1024 / 1024:.1f} MB, above the upload limit of {max_mb:g} MB "
                "(GEM_MAX_UPLOAD_MB); nothing was extracted"
            )
        root = Path(tmp)
        for m in members:
            target = root.joinpath(*PurePosixPath(m.filename.replace("\\", "/")).parts)
            shown = m.filename if len(m.filename) <= 80 else m.filename[:77] + "..."
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(m) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                raise GemError(
                    f"{path.name} holds {shown!r} where another member is a file of the same name; "
                    "re-create the archive without clashing paths (nothing was loaded)"
                ) from None
            except OSError as err:  # e.g. ENAMETOOLONG: say why without the server's folder
                raise GemError(
                    f"cannot extract {shown!r} from {path.name} ({err.strerror or type(err).__name__}); "
                    "re-create the archive with short, plain member paths"
                ) from None
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError) as err:
                raise GemError(f"cannot extract {shown!r} from {path.name} ({err})") from None
        yield root


def find_records(folder: Path) -> list[Path]:
    """Files that start a record under ``folder`` (headers, .npy, .npz, .csv), sorted by relative path.

    Hidden files and macOS ``__MACOSX`` resource forks are skipped.
    """
    found = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if any(part.startswith(".") or part == "__MACOSX" for part in rel.parts):
            continue
        if p.is_file() and p.suffix.lower() in RECORD_SUFFIXES:
            found.append(p)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())
