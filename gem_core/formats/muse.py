"""GE MUSE XML (``RestingECG``): Base64 16-bit leads per ``Waveform``, rhythm and median.

Each ``Waveform`` (``WaveformType`` Rhythm or Median) has ``SampleBase`` x 10^``SampleExponent`` Hz and
``LeadData`` blocks (``LeadID``, ``LeadAmplitudeUnitsPerBit``, ``LeadAmplitudeUnits``,
``LeadSampleCountTotal``, Base64 little-endian ``WaveFormData``). MUSE usually stores I, II and V1-V6;
III, aVR, aVL and aVF are derived by ``gem_core.ecg.build_ecg``. The cart's measurements
(``RestingECGMeasurements``) and diagnosis statements are kept; ``PatientDemographics`` identifiers
(names, ID, birth date) and the ordering/confirming people stay out.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

import numpy as np

from gem_core.ecg_formats import RawRecord
from gem_core.errors import GemError
from gem_core.formats.common import (
    PatientFields,
    add_measurement,
    child,
    children,
    exported_record,
    local,
    number,
    parse_age,
    parse_sex,
    source_reading,
    text,
)
from gem_core.limits import check_declared_size
from gem_core.settings import Settings

_UNITS = {"MICROVOLTS": "uV", "MILLIVOLTS": "mV", "UV": "uV", "MV": "mV"}
_AGE_UNITS = {"YEARS": "y", "MONTHS": "m", "WEEKS": "w", "DAYS": "d"}
_NOT_IDENTIFYING = {
    "PatientAge",
    "AgeUnits",
    "Gender",
    "Race",
    "HeightIN",
    "HeightCM",
    "WeightLBS",
    "WeightKG",
}
_PEOPLE = ("LastName", "FirstName", "MiddleName", "Name")


def read_muse(root, path: Path, settings: Settings) -> RawRecord:
    waveforms = children(root, "Waveform")
    if not waveforms:
        raise GemError(f"{path.name} is GE MUSE XML without a <Waveform>; export the ECG with its waveforms")
    kinds = [text(w, "WaveformType").lower() for w in waveforms]
    rhythm = next((w for w, k in zip(waveforms, kinds, strict=True) if k == "rhythm"), None)
    if rhythm is None:
        rhythm = next((w for w, k in zip(waveforms, kinds, strict=True) if k != "median"), waveforms[0])
    median = next((w for w, k in zip(waveforms, kinds, strict=True) if k == "median"), None)
    names, units, signal, fs = _waveform(rhythm, path, settings)
    patient = _patient(root)
    demo = child(root, "PatientDemographics")
    metadata = {}
    age = parse_age(text(demo, "PatientAge"), _AGE_UNITS.get(text(demo, "AgeUnits").upper(), "y"))
    sex = parse_sex(text(demo, "Gender"))
    if age is not None:
        metadata["age"] = age
    if sex:
        metadata["sex"] = sex
    metadata["source_reading"] = source_reading("GE MUSE", *_reading(root), patient)
    return exported_record(
        path,
        signal,
        names,
        fs,
        units,
        "ge-muse-xml",
        patient,
        metadata,
        settings,
        median=None if median is None or median is rhythm else lambda: _waveform(median, path, settings),
    )


def _waveform(wave, path: Path, settings: Settings):
    base = number(text(wave, "SampleBase"))
    exponent = number(text(wave, "SampleExponent")) or 0.0
    if not base or base <= 0 or not -3 <= exponent <= 3:
        raise GemError(f"{path.name}: a <Waveform> has no valid <SampleBase> (the sampling rate)")
    fs = base * 10.0**exponent
    leads = children(wave, "LeadData")
    if not leads:
        raise GemError(f"{path.name}: a <Waveform> has no <LeadData>")
    counts = [int(number(text(lead, "LeadSampleCountTotal")) or 0) for lead in leads]
    check_declared_size(len(leads), max(counts), fs, path.name, settings)
    names, units, rows = [], [], []
    n = max(counts)
    for lead, count in zip(leads, counts, strict=True):
        name = text(lead, "LeadID") or f"channel {len(names) + 1}"
        body = "".join(text(lead, "WaveFormData").split())
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise GemError(f"{path.name}: the waveform of lead {name!r} is not valid Base64") from None
        values = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2")
        if count <= 0 or values.size < count or count != n:
            raise GemError(
                f"{path.name} is truncated or inconsistent: lead {name!r} declares {count} samples "
                f"(others {n}) and holds {values.size}"
            )
        per_bit = number(text(lead, "LeadAmplitudeUnitsPerBit"))
        if per_bit is None:
            per_bit = 4.88
        unit = _UNITS.get(text(lead, "LeadAmplitudeUnits").upper(), "uV")
        offset = number(text(lead, "LeadOffsetFirstSample")) or 0.0
        rows.append(values[:count].astype(np.float64) * per_bit + offset)
        names.append(name)
        units.append(unit)
    return names, units, np.vstack(rows), fs


def _patient(root) -> PatientFields:
    patient = PatientFields()
    demo = child(root, "PatientDemographics")
    if demo is not None:
        for elem in demo.iter():
            name = local(elem.tag)
            if elem is demo or name in _NOT_IDENTIFYING or not (elem.text or "").strip():
                continue
            patient.add(name, elem.text, person=name.endswith(_PEOPLE))
    tests = child(root, "TestDemographics")
    if tests is not None:
        for elem in tests.iter():
            name = local(elem.tag)
            if (
                name.endswith(_PEOPLE)
                or name.endswith("ID")
                or name in ("Site", "SiteName", "LocationName", "AcquisitionDate", "AcquisitionTime")
            ):
                patient.add(name, elem.text, person=name.endswith(_PEOPLE))
    return patient


def _reading(root) -> tuple[list[str], dict]:
    diagnosis = child(root, "Diagnosis")
    if diagnosis is None:
        diagnosis = child(root, "OriginalDiagnosis")
    statements, line = [], []
    if diagnosis is not None:
        for stmt in children(diagnosis, "DiagnosisStatement"):
            piece = text(stmt, "StmtText")
            if piece:
                line.append(piece)
            if any((f.text or "").strip().upper() == "ENDSLINE" for f in children(stmt, "StmtFlag")):
                statements.append(" ".join(line))
                line = []
    if line:
        statements.append(" ".join(line))
    measurements: dict = {}
    block = child(root, "RestingECGMeasurements")
    if block is not None:
        for elem in block:
            add_measurement(measurements, local(elem.tag), (elem.text or "").strip(), elem.get("units") or "")
    return statements, measurements
