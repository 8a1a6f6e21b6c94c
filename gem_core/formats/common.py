"""What the exported-ECG readers share: patient fields, the cart's own reading, safe XML parsing.

Patient identifiers (names, IDs, birth dates, addresses, free text) are collected only to be left out:
the metadata keeps age and sex, and ``patient_fields`` only when ``GEM_STORE_PATIENT_FIELDS`` allows it.
The cart's reading (its statements and global measurements) is kept under ``source_reading``, with any
statement that repeats an identifier, or names who confirmed, referred or recorded it, left out.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from gem_core.ecg_formats import RawRecord
from gem_core.ecg_spec import UNIT_SCALE, canonical_lead
from gem_core.errors import GemError

# Global measurements as carts label them -> our key (values in ms, bpm or degrees).
_MEASUREMENT_KEYS = {
    "heart_rate_bpm": ("heart rate", "heartrate", "ventricular rate", "ventricularrate", "vent rate", "hr"),
    "atrial_rate_bpm": ("atrial rate", "atrialrate"),
    "rr_ms": ("rr interval", "rr", "rrint"),
    "pr_ms": ("pr interval", "print", "pr", "printerval"),
    "p_ms": ("p duration", "pdur", "p wave duration", "pduration"),
    "qrs_ms": ("qrs duration", "qrsdur", "qrs", "qrsduration"),
    "qt_ms": ("qt interval", "qtint", "qt", "qtinterval"),
    "qtc_ms": ("qtc interval", "qtc", "qtcorrected", "qtcb", "qtcint", "qtcinterval"),
    "p_axis_deg": ("p axis", "paxis", "pfrontaxis", "p front axis"),
    "qrs_axis_deg": ("qrs axis", "qrsaxis", "rfrontaxis", "frontaxis", "qrs front axis", "r axis"),
    "t_axis_deg": ("t axis", "taxis", "tfrontaxis", "t front axis"),
}
_BY_NAME = {
    re.sub(r"[^a-z]", "", alias): key for key, aliases in _MEASUREMENT_KEYS.items() for alias in aliases
}
# Statements that name people rather than the heart (sign-off lines, referring physicians, technicians).
_PERSON_LINE = re.compile(
    r"confirmed|unconfirmed|reviewed|referred|requested|overread|over-read|edited by|signed|technician"
    r"|operator|physician|attending|\bdr\b\.?|\bmd\b|patient|\bname\b|\bid\b|\bdob\b|\bborn\b|address",
    re.IGNORECASE,
)
_AGE_UNITS = {
    "y": 1.0,
    "years": 1.0,
    "year": 1.0,
    "m": 1 / 12,
    "months": 1 / 12,
    "w": 1 / 52,
    "d": 1 / 365.25,
}


def measurement_key(name: str) -> str | None:
    """Our key for a cart's measurement label (``'QRS Duration'``, ``'QTCorrected'``, ``'PR'``), or None.

    >>> measurement_key("QRS Duration"), measurement_key("VentricularRate"), measurement_key("Sokolow")
    ('qrs_ms', 'heart_rate_bpm', None)
    """
    return _BY_NAME.get(re.sub(r"[^a-z]", "", str(name).lower()))


def number(text) -> float | None:
    """A finite float from text, or None."""
    try:
        value = float(str(text).strip())
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def parse_age(value, unit: str = "") -> int | float | None:
    """Age in years from ``'65'``, ``'065Y'`` (DICOM), ``('18', 'months')``; None when not plausible."""
    text = str(value or "").strip()
    m = re.match(r"^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$", text)
    if not m:
        return None
    scale = _AGE_UNITS.get((m.group(2) or unit or "y").strip().lower())
    if scale is None:
        return None
    age = float(m.group(1)) * scale
    if not 0 <= age <= 130:
        return None
    return int(age) if float(age).is_integer() else round(age, 2)


def parse_sex(value) -> str | None:
    v = str(value or "").strip().lower()
    if v in ("m", "male", "1"):
        return "male"
    if v in ("f", "female", "2"):
        return "female"
    return None


class PatientFields:
    """Identifying fields met while reading a file: kept out of the metadata unless allowed.

    ``add(name, value)`` records one (empty values are ignored); ``metadata(keep)`` gives what may be
    kept (``patient_fields`` only with ``keep``); ``dropped`` names what was left out (names, never values).
    """

    def __init__(self):
        self.fields: dict[str, str] = {}
        self._names: set[str] = set()

    def add(self, name: str, value, person: bool = False) -> None:
        """Record a field; ``person``: a person's name, whose parts are each scrubbed from statements."""
        text = " ".join(str(value or "").split())
        if text:
            self.fields[name] = text if name not in self.fields else f"{self.fields[name]}; {text}"
            if person:
                self._names.add(name)

    @property
    def dropped(self) -> list[str]:
        return list(self.fields)

    def values(self) -> list[str]:
        """Each identifying value (and each part of 3+ characters of a person's name), for scrubbing."""
        found = set()
        for name, value in self.fields.items():
            parts = [value, *value.split("; ")]
            if name in self._names:
                parts += re.split(r"[\s,;^/]+", value)
            found.update(p.strip().lower() for p in parts if len(p.strip()) >= 3)
        return sorted(found, key=len, reverse=True)

    def metadata(self, keep: bool) -> dict:
        return {"patient_fields": dict(self.fields)} if keep and self.fields else {}


def record_name(stem: str, patient: PatientFields, keep: bool) -> str:
    """The record id for a file named ``stem``: the stem, unless it repeats a patient identifier (files
    exported as ``DOE_JANE_12345.xml``), then ``ecg-`` and a hash of it; ``patient.dropped`` says so.

    >>> p = PatientFields(); p.add("PatientID", "12345")
    >>> record_name("DOE_12345", p, keep=False)[:4], p.dropped[-1]
    ('ecg-', 'file name')
    """
    low = stem.lower()
    if keep or not any(value in low for value in patient.values()):
        return stem
    patient.fields.setdefault("file name", stem)
    return "ecg-" + hashlib.sha256(stem.encode()).hexdigest()[:10]


def clean_statements(statements: list[str], patient: PatientFields) -> tuple[list[str], int]:
    """The cart's statements without lines that name people or repeat an identifier; (kept, left out).

    >>> p = PatientFields(); p.add("name", "Doe^Jane", person=True)
    >>> clean_statements(["Sinus rhythm", "Confirmed by Smith", "Jane Doe, normal ECG"], p)
    (['Sinus rhythm'], 2)
    """
    secrets = patient.values()
    kept, left = [], 0
    for raw in statements:
        line = " ".join(str(raw or "").split())
        if not line:
            continue
        low = line.lower()
        if _PERSON_LINE.search(line) or any(re.search(rf"\b{re.escape(s)}\b", low) for s in secrets):
            left += 1
            continue
        if line not in kept:
            kept.append(line)
    return kept, left


def source_reading(system: str, statements: list[str], measurements: dict, patient: PatientFields) -> dict:
    """``metadata["source_reading"]``: the cart's own interpretation next to which GEM's is shown."""
    kept, left = clean_statements(statements, patient)
    reading = {"system": system, "statements": kept, "measurements": dict(measurements)}
    if left:
        reading["statements_left_out"] = left
    return reading


def add_measurement(measurements: dict, name: str, value, unit: str = "") -> None:
    """Record one global measurement under our key when the label is known and the value a number."""
    key = measurement_key(name)
    val = number(value)
    if key is None or val is None or key in measurements:
        return
    unit = unit.strip().lower()
    if key.endswith("_ms") and unit in ("s", "sec", "second", "seconds"):
        val *= 1000.0
    measurements[key] = int(val) if float(val).is_integer() else round(val, 3)


# ------------------------------------------------------------------------------------------------ XML

_SPACE = np.frombuffer(b" \t\n\r\x0b\x0c", dtype=np.uint8)


def count_tokens(text: str) -> int:
    """Whitespace-separated values in ``text``, counted without building a list of them (vectorised over
    the bytes): the sample count a text declares, checked against the limits before it is parsed."""
    raw = np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8)
    if raw.size == 0:
        return 0
    word = ~np.isin(raw, _SPACE)
    return int(word[0]) + int(np.count_nonzero(word[1:] & ~word[:-1]))


def parse_numbers(text: str, limit: int | None = None) -> np.ndarray:
    """The first ``limit`` (all: None) whitespace-separated numbers of ``text`` as float64;
    ``ValueError`` when one is not a number."""
    parts = text.split() if limit is None else text.split(None, limit)[:limit]
    return np.array(parts, dtype=np.float64)


def local(tag: str) -> str:
    """An element's tag without its namespace: ``'{urn:hl7-org:v3}code'`` -> ``'code'``."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def parse_xml(path: Path):
    """The root element of an XML file, parsed with ``defusedxml`` (no entities, no DTDs, no network)."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, parse

    try:
        return parse(str(path)).getroot()
    except DefusedXmlException as err:
        raise GemError(
            f"{path.name} uses XML entities or a DTD ({type(err).__name__}), which are not read for safety; "
            "export the ECG again without them"
        ) from None
    except ParseError as err:
        raise GemError(f"{path.name} is not well-formed XML ({err}); upload the complete file") from None
    except OSError as err:
        raise GemError(f"cannot read {path.name}: {err.strerror or err}") from None


def children(elem, name: str) -> list:
    return [c for c in elem if local(c.tag) == name]


def child(elem, name: str):
    if elem is None:
        return None
    return next((c for c in elem if local(c.tag) == name), None)


def find(elem, *path: str):
    """The first element along ``path`` of local names (each step searched among direct children)."""
    for name in path:
        elem = child(elem, name)
        if elem is None:
            return None
    return elem


def text(elem, *path: str) -> str:
    node = find(elem, *path) if path else elem
    return (node.text or "").strip() if node is not None else ""


def descendants(elem, name: str) -> list:
    return [e for e in elem.iter() if local(e.tag) == name]


def median_beats(names: list[str], units: list[str], signal: np.ndarray, fs: float | None) -> dict:
    """A median/representative beat per lead, in mV, as plain lists (JSON-ready) keyed by canonical lead."""
    leads = {}
    for name, unit, row in zip(names, units, np.asarray(signal, dtype=np.float64), strict=False):
        canon = canonical_lead(name)
        scale = UNIT_SCALE.get((unit or "mv").strip().lower(), 1.0)
        if canon and canon not in leads:
            leads[canon] = np.round(row * scale, 5).tolist()
    return {"fs": fs, "units": "mV", "leads": leads}


def exported_record(
    path: Path,
    signal,
    names: list[str],
    fs: float,
    units: list[str],
    source_format: str,
    patient: PatientFields,
    metadata: dict,
    settings,
    median=None,
    what: str = "median beats",
    warnings: list[str] | None = None,
) -> RawRecord:
    """The ``RawRecord`` every exported format ends with: the median (representative) beats when
    ``median`` (a callable giving names, units, signal, fs) reads them, else a warning; the patient fields
    the deployment keeps; a record id that repeats no identifier. ``warnings``: the reader's own."""
    warnings = list(warnings or [])
    if median is not None:
        try:
            metadata["median_beats"] = median_beats(*median())
        except GemError as err:
            warnings.append(f"{what} not read: {err}")
    metadata.update(patient.metadata(settings.store_patient_fields))
    return RawRecord(
        signal=signal,
        names=names,
        fs=fs,
        record_id=record_name(path.stem, patient, settings.store_patient_fields),
        source_format=source_format,
        units=units,
        metadata=metadata,
        dropped_metadata=patient.dropped,
        warnings=warnings,
    )
