"""HL7 annotated ECG (aECG, HL7 v3 ``AnnotatedECG``), the FDA's format for ECGs in clinical trials.

A ``series`` (code RHYTHM) holds ``sequenceSet``s of ``sequence``s: one TIME_ABSOLUTE/TIME_RELATIVE
sequence (``GLIST_TS``/``GLIST_PQ``: head and increment, i.e. the sampling interval) and one
``SLIST_PQ`` per lead (code ``MDC_ECG_LEAD_*``; value = origin + scale x digit, in the scale's unit).
A ``derivedSeries`` coded REPRESENTATIVE_BEAT holds the median beats. Annotations give the cart's
statements and global intervals. The subject's identifiers (names, ids, birth time, address) stay out.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import numpy as np

from gem_core.ecg_formats import RawRecord
from gem_core.errors import GemError
from gem_core.formats.common import (
    PatientFields,
    add_measurement,
    child,
    children,
    count_tokens,
    descendants,
    exported_record,
    find,
    local,
    number,
    parse_numbers,
    parse_sex,
    source_reading,
)
from gem_core.limits import check_declared_size
from gem_core.settings import Settings

_TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
# MDC annotation codes of global measurements -> our keys
_MDC_MEASUREMENTS = {
    "MDC_ECG_HEART_RATE": "heart_rate",
    "MDC_ECG_TIME_PD_RR": "rr interval",
    "MDC_ECG_TIME_PD_PR": "pr interval",
    "MDC_ECG_TIME_PD_P": "p duration",
    "MDC_ECG_TIME_PD_QRS": "qrs duration",
    "MDC_ECG_TIME_PD_QT": "qt interval",
    "MDC_ECG_TIME_PD_QTc": "qtc interval",
    "MDC_ECG_TIME_PD_QTcB": "qtc interval",
    "MDC_ECG_ANGLE_P_FRONT": "p axis",
    "MDC_ECG_ANGLE_QRS_FRONT": "qrs axis",
    "MDC_ECG_ANGLE_T_FRONT": "t axis",
}
_STATEMENT_CODES = re.compile(r"INTERPRETATION|STATEMENT|DIAGNOSIS|COMMENT|MDC_ECG_RHY", re.IGNORECASE)
_IDENTIFYING = {"name", "given", "family", "birthTime", "addr", "telecom", "streetAddressLine", "city"}


def read_aecg(root, path: Path, settings: Settings) -> RawRecord:
    series = [s for s in descendants(root, "series")]
    if not series:
        raise GemError(
            f"{path.name} is an HL7 aECG without a <series> (no waveforms); expected a rhythm series"
        )
    rhythm = next((s for s in series if _code(s).upper() == "RHYTHM"), series[0])
    names, units, signal, fs = _sequence_set(rhythm, path, settings)
    patient = _patient(root)
    metadata = {}
    sex = parse_sex(_attr(find_desc(root, "administrativeGenderCode"), "code"))
    age = _age(root)
    if age is not None:
        metadata["age"] = age
    if sex:
        metadata["sex"] = sex
    statements, measurements = _annotations(root)
    metadata["source_reading"] = source_reading("HL7 aECG", statements, measurements, patient)
    beat = next((d for d in descendants(root, "derivedSeries") if "REPRESENTATIVE" in _code(d).upper()), None)
    return exported_record(
        path,
        signal,
        names,
        fs,
        units,
        "hl7-aecg",
        patient,
        metadata,
        settings,
        median=None if beat is None else lambda: _sequence_set(beat, path, settings),
        what="representative beats",
    )


def find_desc(root, name: str):
    return next(iter(descendants(root, name)), None)


def _attr(elem, name: str) -> str:
    return (elem.get(name) or "").strip() if elem is not None else ""


def _code(elem) -> str:
    return _attr(child(elem, "code"), "code")


def _sequence_set(series, path: Path, settings: Settings):
    """(names, units, signal (leads, samples), fs) of a series' first sequence set."""
    seq_set = find_desc(series, "sequenceSet")
    if seq_set is None:
        raise GemError(f"{path.name}: an aECG series has no <sequenceSet>; expected the lead sequences")
    sequences = [find(c, "sequence") for c in children(seq_set, "component")]
    sequences = [s for s in sequences if s is not None]
    fs, names, units, rows, raw_digits = None, [], [], [], []
    for seq in sequences:
        code = _code(seq)
        value = child(seq, "value")
        if value is None:
            continue
        if code.upper().startswith("TIME_"):
            increment = child(value, "increment")
            step = number(_attr(increment, "value"))
            unit = _TIME_UNITS.get(_attr(increment, "unit") or "s")
            if step and step > 0 and unit:
                fs = 1.0 / (step * unit)
            continue
        digits = child(value, "digits")
        if digits is None:
            continue
        raw_digits.append((code, value, digits.text or ""))
    if not raw_digits:
        raise GemError(f"{path.name}: the aECG series has no lead sequences (SLIST_PQ digits)")
    counts = [count_tokens(text) for _, _, text in raw_digits]
    check_declared_size(len(raw_digits), max(counts), fs, path.name, settings)
    if len(set(counts)) != 1:
        raise GemError(
            f"{path.name}: the aECG lead sequences differ in length ({min(counts)}-{max(counts)} samples)"
        )
    for code, value, text in raw_digits:
        try:
            digits = parse_numbers(text)
        except ValueError:
            raise GemError(f"{path.name}: the digits of lead {code!r} are not all numbers") from None
        origin, scale = child(value, "origin"), child(value, "scale")
        o = number(_attr(origin, "value")) or 0.0
        k = number(_attr(scale, "value"))
        unit = _attr(scale, "unit") or _attr(origin, "unit")
        if k is None:
            raise GemError(f"{path.name}: lead {code!r} has no <scale value=...>; expected origin and scale")
        o_unit = _attr(origin, "unit") or unit
        if o and o_unit.lower() != unit.lower():  # origin in another unit than the scale
            from gem_core.ecg_spec import UNIT_SCALE as _UNIT_SCALE

            o = o * _UNIT_SCALE.get(o_unit.lower(), 1.0) / _UNIT_SCALE.get(unit.lower(), 1.0)
        rows.append(o + k * digits)
        names.append(re.sub(r"^MDC_ECG_LEAD_", "", code, flags=re.IGNORECASE) or code)
        units.append(unit)
    return names, units, np.vstack(rows), fs


def _age(root) -> int | None:
    """Age in whole years at the recording, from the birth time and the ECG's effective time."""
    birth = _attr(find_desc(root, "birthTime"), "value")
    low = _attr(find(root, "effectiveTime", "low"), "value") or _attr(
        find(root, "effectiveTime", "center"), "value"
    )
    try:
        born = datetime.strptime(birth[:8], "%Y%m%d")
        when = datetime.strptime(low[:8], "%Y%m%d")
    except ValueError:
        return None
    years = when.year - born.year - ((when.month, when.day) < (born.month, born.day))
    return years if 0 <= years <= 130 else None


def _patient(root) -> PatientFields:
    patient = PatientFields()
    for subject in descendants(root, "trialSubject") + descendants(root, "subject"):
        for ident in children(subject, "id"):
            patient.add("subject id", _attr(ident, "extension") or _attr(ident, "root"))
    for elem in root.iter():
        name = local(elem.tag)
        if name in _IDENTIFYING:
            value = _attr(elem, "value") or " ".join(t.strip() for t in elem.itertext() if t.strip())
            patient.add(name, value, person=name in ("name", "given", "family"))
    return patient


def _annotations(root) -> tuple[list[str], dict]:
    statements, measurements = [], {}
    for ann in descendants(root, "annotation"):
        code = _code(ann)
        value = child(ann, "value")
        if value is None:
            continue
        if code in _MDC_MEASUREMENTS:
            name = _MDC_MEASUREMENTS[code]
            add_measurement(
                measurements,
                "heart rate" if name == "heart_rate" else name,
                _attr(value, "value"),
                _attr(value, "unit"),
            )
        elif _STATEMENT_CODES.search(code):
            text = " ".join(t.strip() for t in value.itertext() if t.strip()) or _attr(value, "displayName")
            if text:
                statements.append(text)
    return statements, measurements
