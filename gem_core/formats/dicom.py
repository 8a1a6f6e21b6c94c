"""DICOM ECG waveform objects (12-Lead ECG, General ECG, Ambulatory ECG Waveform Storage) via pydicom.

The rhythm multiplex group is the record; a median-beat group, when present, is kept in the metadata
(``median_beats``). Channels are named from their Channel Source codes (SCP-ECG ``5.6.3-9-N`` or MDC
``2:N``), physical values are pydicom's (sample x Channel Sensitivity x Correction Factor + Baseline)
in the Channel Sensitivity Units (uV, mV). Patient module fields are identifiers and stay out.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
from pathlib import Path

from gem_core.ecg_formats import RawRecord
from gem_core.errors import GemError
from gem_core.formats.common import (
    PatientFields,
    add_measurement,
    exported_record,
    parse_age,
    parse_sex,
    source_reading,
)
from gem_core.limits import check_declared_size
from gem_core.settings import Settings

ECG_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.9.1.1": "12-Lead ECG Waveform Storage",
    "1.2.840.10008.5.1.4.1.1.9.1.2": "General ECG Waveform Storage",
    "1.2.840.10008.5.1.4.1.1.9.1.3": "Ambulatory ECG Waveform Storage",
    "1.2.840.10008.5.1.4.1.1.9.1.4": "General 32-bit ECG Waveform Storage",
}
EXPECTED = "a DICOM 12-Lead ECG or General ECG Waveform Storage object"
# SCP-ECG / MDC lead numbers (the N of '5.6.3-9-N' and 'MDC 2:N') of the 12 standard leads.
LEAD_NUMBERS = {1: "I", 2: "II", 61: "III", 62: "aVR", 63: "aVL", 64: "aVF"} | {
    2 + i: f"V{i}" for i in range(1, 7)
}
_CODE_RE = re.compile(r"^(?:5\.6\.3-9-|2:|MDC_ECG_LEAD_)(\w+)$")
# Identifying elements beyond every person name (VR PN) in the file.
IDENTIFYING = (
    "PatientID",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientBirthTime",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "PatientMotherBirthName",
    "MedicalRecordLocator",
    "PatientComments",
    "AdditionalPatientHistory",
    "AccessionNumber",
    "StudyID",
    "InstitutionName",
    "InstitutionAddress",
    "CurrentPatientLocation",
    "PatientInstitutionResidence",
    "StudyDate",
    "StudyTime",
    "AcquisitionDateTime",
    "ContentDate",
    "ContentTime",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "DeviceSerialNumber",
    "StationName",
)


def is_dicom(path: Path) -> bool:
    """Whether the file has the DICOM preamble's ``DICM`` marker (at byte 128)."""
    try:
        with path.open("rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def read_dicom(path: Path, settings: Settings) -> RawRecord:
    import pydicom
    from pydicom.errors import InvalidDicomError

    with _quiet_pydicom():
        try:
            ds = pydicom.dcmread(str(path))
        except InvalidDicomError:
            raise GemError(f"{path.name} is not a DICOM file; expected {EXPECTED}") from None
        except MemoryError:
            raise
        except (
            Exception
        ) as err:  # pydicom raises many types on damaged data (struct.error, NotImplementedError)
            raise GemError(
                f"{path.name} is a damaged DICOM file ({_short(err)}); expected {EXPECTED}"
            ) from None
        try:
            return _read(ds, path, settings)
        except (GemError, MemoryError):
            raise
        except Exception as err:  # elements are decoded lazily: damage can surface on first access
            raise GemError(
                f"{path.name} is a malformed DICOM ECG ({_short(err)}); export the ECG again from the cart or PACS"
            ) from None


@contextlib.contextmanager
def _quiet_pydicom():
    """pydicom warns and logs about invalid values, quoting them (a birth date, a name): keep them out of
    the logs while reading; a damaged file surfaces as a ``GemError`` instead."""
    logger = logging.getLogger("pydicom")
    before = logger.disabled
    logger.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        logger.disabled = before


def _short(err: Exception) -> str:
    return " ".join(str(err).split())[:160] or type(err).__name__


def _read(ds, path: Path, settings: Settings) -> RawRecord:
    sop = str(ds.get("SOPClassUID", "") or "")
    if sop not in ECG_SOP_CLASSES:
        kind = _sop_name(sop) or f"Modality {ds.get('Modality', '?')}"
        raise GemError(f"{path.name} is a DICOM {kind} object, not an ECG waveform; expected {EXPECTED}")
    groups = list(ds.get("WaveformSequence") or [])
    if not groups:
        raise GemError(
            f"{path.name} is a DICOM ECG without a Waveform Sequence (no samples); expected {EXPECTED}"
        )
    rhythm = _pick(groups, median=False)
    median = _pick(groups, median=True)
    names, units, signal, fs = _group(ds, groups, rhythm, path, settings)
    patient = _patient(ds)
    metadata = {k: v for k, v in (("age", _age(ds)), ("sex", parse_sex(ds.get("PatientSex")))) if v}
    metadata["source_reading"] = source_reading(f"DICOM {ECG_SOP_CLASSES[sop]}", *_annotations(ds), patient)
    return exported_record(
        path,
        signal,
        names,
        fs,
        units,
        "dicom",
        patient,
        metadata,
        settings,
        median=None
        if median is None or median == rhythm
        else lambda: _group(ds, groups, median, path, settings),
    )


def _sop_name(uid: str) -> str:
    from pydicom.uid import UID

    try:
        name = UID(uid).name if uid else ""
    except (ValueError, TypeError):
        return ""
    return name if name and name != uid else ""


def _label(group) -> str:
    return f"{group.get('MultiplexGroupLabel', '')} {group.get('WaveformOriginality', '')}".upper()


def _pick(groups: list, median: bool) -> int | None:
    """Index of the rhythm group (labelled RHYTHM, else ORIGINAL, else the longest) or of the median beat."""
    labels = [_label(g) for g in groups]
    if median:
        return next((i for i, lab in enumerate(labels) if "MEDIAN" in lab or "REPRESENTATIVE" in lab), None)
    for want in ("RHYTHM", "ORIGINAL"):
        hits = [i for i, lab in enumerate(labels) if want in lab and "MEDIAN" not in lab]
        if hits:
            return hits[0]
    return max(range(len(groups)), key=lambda i: int(groups[i].get("NumberOfWaveformSamples", 0) or 0))


def _group(ds, groups: list, index: int, path: Path, settings: Settings):
    from pydicom.waveforms.numpy_handler import WAVEFORM_DTYPES, multiplex_array

    g = groups[index]
    n_ch = int(g.get("NumberOfWaveformChannels", 0) or 0)
    n = int(g.get("NumberOfWaveformSamples", 0) or 0)
    fs = float(g.get("SamplingFrequency", 0) or 0)
    label = g.get("MultiplexGroupLabel", "") or f"group {index + 1}"
    if n_ch <= 0 or n <= 0:
        raise GemError(
            f"{path.name}: waveform group {label!r} declares {n_ch} channels of {n} samples; nothing to read"
        )
    check_declared_size(n_ch, n, fs or None, path.name, settings)
    bits = int(g.get("WaveformBitsAllocated", 0) or 0)
    kind = str(g.get("WaveformSampleInterpretation", ""))
    if (bits, kind) not in WAVEFORM_DTYPES:
        raise GemError(
            f"{path.name}: waveform group {label!r} stores {bits}-bit {kind or '?'} samples, which are not read "
            "(expected 8/16/32-bit signed or unsigned integers)"
        )
    data = g.get("WaveformData") or b""
    need = n * n_ch * bits // 8
    if len(data) < need:
        raise GemError(
            f"{path.name} is truncated: waveform group {label!r} declares {n_ch} channels x {n} samples "
            f"({need} bytes) but holds {len(data)} bytes; export the complete file"
        )
    channels = list(g.get("ChannelDefinitionSequence") or [])
    if len(channels) != n_ch:
        raise GemError(
            f"{path.name}: waveform group {label!r} declares {n_ch} channels but defines {len(channels)}"
        )
    # (samples, channels) x Channel Sensitivity x Correction Factor + Channel Baseline, in the channel units
    arr = multiplex_array(ds, index, as_raw=False)
    names = [_channel_name(ch, i) for i, ch in enumerate(channels)]
    units = [_unit(ch) for ch in channels]
    return names, units, arr.T, fs or None


def _channel_name(ch, i: int) -> str:
    """The lead from the Channel Source code (SCP-ECG or MDC); its code meaning; else ``channel N``."""
    for src in ch.get("ChannelSourceSequence") or []:
        m = _CODE_RE.match(str(src.get("CodeValue", "")).strip())
        if m:
            key = m.group(1)
            if key.isdigit():
                number = int(key)
                number = number - 131072 if number > 131072 else number  # MDC full code 0x20000 + N
                if number in LEAD_NUMBERS:
                    return LEAD_NUMBERS[number]
            elif key.upper() in {v.upper() for v in LEAD_NUMBERS.values()}:
                return key
        meaning = str(src.get("CodeMeaning", "")).strip()
        if meaning:
            return re.sub(r"\s*\(.*\)$", "", meaning)  # 'Lead I (Einthoven)' -> 'Lead I'
    label = str(ch.get("ChannelLabel", "") or "").strip()
    return label or f"channel {i + 1}"


def _unit(ch) -> str:
    seq = ch.get("ChannelSensitivityUnitsSequence") or []
    return str(seq[0].get("CodeValue", "")).strip() if seq else ""


def _age(ds):
    return parse_age(ds.get("PatientAge", ""))


def _patient(ds) -> PatientFields:
    patient = PatientFields()
    for elem in ds:  # the patient, referring, reading and operating people: top-level person names
        if elem.VR == "PN" and elem.value:
            patient.add(elem.keyword or str(elem.tag), str(elem.value), person=True)
    for keyword in IDENTIFYING:
        value = ds.get(keyword)
        if value not in (None, ""):
            patient.add(keyword, str(value))
    return patient


def _annotations(ds) -> tuple[list[str], dict]:
    """The cart's statements (unformatted text) and global measurements (coded numeric values)."""
    from pydicom.multival import MultiValue

    statements, measurements = [], {}
    for item in ds.get("WaveformAnnotationSequence") or []:
        text = item.get("UnformattedTextValue")
        if text:
            statements.append(str(text))
            continue
        concept = item.get("ConceptNameCodeSequence") or []
        value = item.get("NumericValue")
        if concept and value not in (None, ""):
            units = item.get("MeasurementUnitsCodeSequence") or []
            unit = str(units[0].get("CodeValue", "")) if units else ""
            first = value[0] if isinstance(value, MultiValue) else value
            add_measurement(measurements, str(concept[0].get("CodeMeaning", "")), first, unit)
    return statements, measurements
