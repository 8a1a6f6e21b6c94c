"""Sample ECGs for the app's gallery, tests and benchmarks, behind one interface.

A ``SampleSource`` lists ``SampleInfo`` entries (cheaply: no signal is read) and loads one as an ``ECG``:

- ``SyntheticSource``: deterministic simulated 12-lead ECGs (neurokit2) at several heart rates; the
  offline default gallery.
- ``FolderSource``: every record in a folder (``GEM_SAMPLES_DIR``), in any format ``load_ecg`` reads.
- ``PtbxlSource``: a PTB-XL tree (``ptbxl_database.csv`` + ``records500/``/``records100/``) with each
  record's report text and SCP-ECG labels.

Sample ids are ``"<source>:<key>"`` and unique across the sources of ``default_sources``.

>>> sources = default_sources(Settings())
>>> info = sources[0].list()[2]
>>> info.id, info.title
('synthetic:75bpm', 'Synthetic sinus rhythm, 75 bpm')
>>> load_sample(info.id, sources).fs
500.0
"""

from __future__ import annotations

import ast
import csv
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path, PurePosixPath
from typing import Protocol

import numpy as np

from gem_core.ecg import ECG, LEADS, load_ecg
from gem_core.ecg_formats import find_records, parse_header_comments
from gem_core.errors import GemError
from gem_core.settings import Settings, get_settings

SYNTHETIC_RATES = (45, 60, 75, 100, 120, 150)


@dataclass(frozen=True)
class SampleInfo:
    """One gallery entry; ``id`` is what ``SampleSource.load`` takes."""

    id: str
    title: str
    source: str
    labels: tuple[str, ...] = ()
    label_system: str = ""
    description: str = ""  # e.g. the PTB-XL report text
    fs: float | None = None
    duration_s: float | None = None


class SampleSource(Protocol):
    """Where gallery ECGs come from."""

    name: str  # the id prefix
    label: str  # what the UI shows

    def list(self) -> list[SampleInfo]: ...

    def load(self, sample_id: str) -> ECG: ...


def _key(sample_id: str, source: str) -> str:
    prefix, sep, key = sample_id.partition(":")
    if not sep or prefix != source or not key:
        raise GemError(f"sample id {sample_id!r} does not belong to the {source!r} samples")
    return key


# ------------------------------------------------------------------------------------------ synthetic


@lru_cache(maxsize=32)
def _simulate(heart_rate: int, duration_s: float, fs: int, seed: int, noise: float) -> np.ndarray:
    import neurokit2 as nk

    df = nk.ecg_simulate(
        duration=duration_s,
        sampling_rate=fs,
        heart_rate=heart_rate,
        noise=noise,
        method="multileads",
        random_state=seed,
    )
    sig = df[list(LEADS)].to_numpy(dtype=np.float32).T.copy()
    # neurokit2 simulates each lead separately, so its III/aVR/aVL/aVF break Einthoven's and
    # Goldberger's laws (III is even inverted); derive them from I and II as a real recording would have.
    lead_i, lead_ii = sig[0].copy(), sig[1].copy()
    sig[2] = lead_ii - lead_i
    sig[3] = -(lead_i + lead_ii) / 2
    sig[4] = lead_i - lead_ii / 2
    sig[5] = lead_ii - lead_i / 2
    return sig


def synthetic_ecg(
    heart_rate: int = 75, duration_s: float = 10.0, fs: int = 500, seed: int = 0, noise: float = 0.01
) -> ECG:
    """A deterministic simulated 12-lead ECG (neurokit2 ``multileads``) at a known heart rate.

    Limb leads III, aVR, aVL and aVF are derived from I and II (Einthoven/Goldberger).

    >>> ecg = synthetic_ecg(heart_rate=60, duration_s=10)
    >>> ecg.signal.shape, ecg.fs, ecg.record_id
    ((12, 5000), 500.0, 'synthetic-60bpm')
    """
    sig = _simulate(int(heart_rate), float(duration_s), int(fs), int(seed), float(noise))
    return ECG(
        signal=sig.copy(),
        fs=fs,
        record_id=f"synthetic-{heart_rate}bpm",
        metadata={"source": "neurokit2.ecg_simulate (multileads)", "heart_rate_bpm": heart_rate},
        report={
            "source_format": "synthetic",
            "fs_original": fs,
            "len_original": sig.shape[1],
            "original_leads": list(LEADS),
            "derived_leads": ["III", "aVR", "aVL", "aVF"],
            "dropped_channels": [],
            "nan_count": 0,
            "warnings": [],
        },
    )


def _rhythm_name(heart_rate: int) -> str:
    if heart_rate < 60:
        return "sinus bradycardia"
    if heart_rate > 100:
        return "sinus tachycardia"
    return "sinus rhythm"


class SyntheticSource:
    """Simulated sinus rhythm at ``rates`` (bpm): offline, deterministic, no patient data."""

    name = "synthetic"
    label = "Synthetic (neurokit2)"

    def __init__(self, rates: tuple[int, ...] = SYNTHETIC_RATES, duration_s: float = 10.0, fs: int = 500):
        self.rates, self.duration_s, self.fs = tuple(rates), duration_s, fs

    def list(self) -> list[SampleInfo]:
        return [
            SampleInfo(
                id=f"synthetic:{hr}bpm",
                title=f"Synthetic sinus rhythm, {hr} bpm",
                source=self.name,
                labels=(_rhythm_name(hr),),
                label_system="synthetic",
                description=f"neurokit2 simulation, {hr} bpm, {self.duration_s:g} s at {self.fs} Hz",
                fs=float(self.fs),
                duration_s=self.duration_s,
            )
            for hr in self.rates
        ]

    def load(self, sample_id: str) -> ECG:
        key = _key(sample_id, self.name)
        rate = key.removesuffix("bpm")
        if not rate.isdigit() or int(rate) not in self.rates:
            raise GemError(
                f"no synthetic sample {sample_id!r}; rates are {', '.join(map(str, self.rates))} bpm"
            )
        ecg = synthetic_ecg(int(rate), self.duration_s, self.fs)
        ecg.metadata.update(labels=[_rhythm_name(int(rate))], label_system="synthetic")
        return ecg


# --------------------------------------------------------------------------------------------- folder


class FolderSource:
    """Every record under a folder (``GEM_SAMPLES_DIR``): WFDB, .npy, .npz, .csv, .zip (first record)."""

    name = "folder"
    label = "Folder"

    def __init__(self, folder, settings: Settings | None = None):
        self.folder = Path(folder)
        self.settings = settings or get_settings()
        if not self.folder.is_dir():
            raise GemError(
                f"sample folder {self.folder} does not exist; set GEM_SAMPLES_DIR to a folder of records"
            )
        self.label = f"Folder {self.folder.name}"

    def _files(self) -> list[Path]:
        zips = [p for p in self.folder.rglob("*.zip") if not p.name.startswith(".")]
        return sorted(
            [*find_records(self.folder), *zips], key=lambda p: p.relative_to(self.folder).as_posix()
        )

    def list(self) -> list[SampleInfo]:
        infos = []
        for path in self._files():
            rel = path.relative_to(self.folder).as_posix()
            meta = _header_metadata(path) if path.suffix.lower() == ".hea" else {}
            infos.append(
                SampleInfo(
                    id=f"folder:{rel}",
                    title=path.stem,
                    source=self.name,
                    labels=tuple(meta.get("labels", ())),
                    label_system=meta.get("label_system", ""),
                    description=rel,
                )
            )
        return infos

    def load(self, sample_id: str) -> ECG:
        rel = PurePosixPath(_key(sample_id, self.name))
        if rel.is_absolute() or ".." in rel.parts:
            raise GemError(f"sample id {sample_id!r} points outside the sample folder")
        path = self.folder.joinpath(*rel.parts)
        if not path.is_file():
            raise GemError(f"no sample {sample_id!r} in {self.folder}")
        return load_ecg(path, settings=self.settings)


def _header_metadata(hea: Path) -> dict:
    """Labels from a WFDB header's comments, without reading the signal (for listing)."""
    try:
        lines = hea.read_text(encoding="latin-1").splitlines()
    except OSError:
        return {}
    return parse_header_comments([ln[1:] for ln in lines if ln.startswith("#")])[0]


# --------------------------------------------------------------------------------------------- PTB-XL


class PtbxlSource:
    """A PTB-XL tree: ``ptbxl_database.csv`` plus ``records500/`` (or ``records100/``) WFDB records.

    Lists the rows whose record is present, with the report text and SCP-ECG codes (most likely first).
    ``sampling`` picks the 500 Hz (``filename_hr``) or 100 Hz (``filename_lr``) version; when that one is
    absent, the other is used.
    """

    name = "ptbxl"
    label = "PTB-XL"
    DATABASE = "ptbxl_database.csv"

    def __init__(self, root, sampling: int = 500, settings: Settings | None = None):
        self.root = Path(root)
        if sampling not in (100, 500):
            raise GemError(f"PTB-XL sampling must be 100 or 500 Hz, not {sampling}")
        self.sampling = sampling
        self.settings = settings or get_settings()
        if not (self.root / self.DATABASE).is_file():
            raise GemError(
                f"{self.root} is not a PTB-XL tree: {self.DATABASE} is missing (set GEM_PTBXL_DIR)"
            )

    @cached_property
    def _rows(self) -> dict[str, dict]:
        """ecg_id -> database row (read once per source; the full database has ~22k rows)."""
        with (self.root / self.DATABASE).open(newline="", encoding="utf-8") as fh:
            return {str(int(float(row["ecg_id"]))): row for row in csv.DictReader(fh) if row.get("ecg_id")}

    def _record(self, row: dict) -> Path | None:
        order = ("filename_hr", "filename_lr") if self.sampling == 500 else ("filename_lr", "filename_hr")
        for column in order:
            name = (row.get(column) or "").strip()
            if name and (self.root / f"{name}.hea").is_file():
                return self.root / f"{name}.hea"
        return None

    def list(self) -> list[SampleInfo]:
        infos = []
        for ecg_id, row in self._rows.items():
            hea = self._record(row)
            if hea is None:
                continue
            labels = _scp_labels(row.get("scp_codes", ""))
            infos.append(
                SampleInfo(
                    id=f"ptbxl:{ecg_id}",
                    title=f"PTB-XL {ecg_id}" + (f" ({', '.join(labels[:3])})" if labels else ""),
                    source=self.name,
                    labels=tuple(labels),
                    label_system="SCP-ECG",
                    description=(row.get("report") or "").strip(),
                    fs=100.0 if hea.stem.endswith("_lr") else 500.0,
                    duration_s=10.0,
                )
            )
        return infos

    def load(self, sample_id: str) -> ECG:
        key = _key(sample_id, self.name)
        row = self._rows.get(key)
        hea = self._record(row) if row else None
        if hea is None:
            raise GemError(f"no PTB-XL record {sample_id!r} under {self.root}")
        ecg = load_ecg(hea, settings=self.settings)
        ecg.record_id = f"ptbxl-{key}"
        ecg.metadata.update(_ptbxl_metadata(row, self.settings.store_patient_fields))
        return ecg


_PTBXL_PATIENT_COLUMNS = ("patient_id", "height", "weight", "nurse", "site", "device", "recording_date")


def _ptbxl_metadata(row: dict, keep_patient_fields: bool) -> dict:
    sex = (row.get("sex") or "").strip()
    meta = {
        "ecg_id": int(float(row["ecg_id"])),
        "age": _number(row.get("age")),
        "sex": {"0": "male", "1": "female"}.get(sex.split(".")[0]),
        "labels": _scp_labels(row.get("scp_codes", "")),
        "label_system": "SCP-ECG",
        "scp_codes": _scp_codes(row.get("scp_codes", "")),
        "report_text": (row.get("report") or "").strip(),
    }
    if keep_patient_fields:
        meta["patient_fields"] = {c: row[c] for c in _PTBXL_PATIENT_COLUMNS if row.get(c)}
    return meta


def _number(text) -> int | float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(value):
        return None
    return int(value) if value.is_integer() else value


def _scp_codes(text: str) -> dict[str, float]:
    """PTB-XL's ``scp_codes`` column (a Python dict literal, parsed without eval)."""
    try:
        codes = ast.literal_eval(text) if text else {}
    except (ValueError, SyntaxError):
        return {}
    return {str(k): float(v) for k, v in codes.items()} if isinstance(codes, dict) else {}


def _scp_labels(text: str) -> list[str]:
    codes = _scp_codes(text)
    return sorted(codes, key=lambda code: -codes[code])  # stable: file order among equal likelihoods


# ------------------------------------------------------------------------------------------ registry


def default_sources(
    settings: Settings | None = None, problems: list[str] | None = None
) -> list[SampleSource]:
    """The synthetic gallery, plus ``GEM_SAMPLES_DIR`` and ``GEM_PTBXL_DIR`` when they are set.

    A setting that names no usable folder is a ``GemError``; with a ``problems`` list, that source is
    left out and the message (naming the setting) appended there instead, so an app can start with the
    other sources and say what to fix.

    >>> problems = []
    >>> [s.name for s in default_sources(Settings(samples_dir="/no/such/dir"), problems)]
    ['synthetic']
    >>> problems[0].startswith("GEM_SAMPLES_DIR")
    True
    """
    settings = settings or get_settings()
    sources: list[SampleSource] = [SyntheticSource()]
    configured = (
        ("GEM_SAMPLES_DIR", settings.samples_dir, lambda: FolderSource(settings.samples_dir, settings)),
        ("GEM_PTBXL_DIR", settings.ptbxl_dir, lambda: PtbxlSource(settings.ptbxl_dir, settings=settings)),
    )
    for variable, value, make in configured:
        if not value:
            continue
        try:
            sources.append(make())
        except GemError as exc:
            if problems is None:
                raise
            problems.append(f"{variable}={value} left out: {exc}")
    return sources


def load_sample(sample_id: str, sources: list[SampleSource] | None = None) -> ECG:
    """Load a sample by id from whichever source its prefix names."""
    sources = default_sources() if sources is None else sources
    prefix = sample_id.partition(":")[0]
    for source in sources:
        if source.name == prefix:
            return source.load(sample_id)
    raise GemError(f"unknown sample {sample_id!r}; sources are {', '.join(s.name for s in sources)}")
