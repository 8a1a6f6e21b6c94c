"""Philips Sierra ECG XML (PageWriter / IntelliSpace ECG ``restingecgdata``, versions 1.03-1.04.02).

XLI-compressed waveforms (what carts write) are decoded by the ``sierraecg`` package, which also
rebuilds III, aVR, aVL and aVF from the residuals XLI stores; uncompressed Base64 or Plain waveforms
are 16-bit leads read directly. Samples are in units of ``signalresolution`` microvolts. The
interpretation statements and global measurements are kept as the cart's reading; the patient block
(names, ID, birth date) stays out.
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
    descendants,
    exported_record,
    find,
    local,
    number,
    parse_age,
    parse_numbers,
    parse_sex,
    source_reading,
    text,
)
from gem_core.limits import check_declared_size
from gem_core.settings import Settings

VERSIONS = ("1.03", "1.04", "1.04.01", "1.04.02")
STD12 = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
_PATIENT_TAGS = {
    "patientid": False,
    "lastname": True,
    "firstname": True,
    "middlename": True,
    "name": True,
    "dateofbirth": False,
    "address": False,
    "mrn": False,
    "medicalrecordnumber": False,
    "operatorid": False,
    "operator": True,
    "orderingclinician": True,
    "referringclinician": True,
    "editorname": True,
    "acquisitiondate": False,
    "documentname": False,
}


def read_philips(root, path: Path, settings: Settings) -> RawRecord:
    version = text(root, "documentinfo", "documentversion")
    if version and version not in VERSIONS:
        raise GemError(
            f"{path.name} is Philips ECG XML version {version}, which is not read (expected {', '.join(VERSIONS)})"
        )
    chars = find(root, "dataacquisition", "signalcharacteristics")
    fs = number(text(chars, "samplingrate")) if chars is not None else None
    waves = next(iter(descendants(root, "parsedwaveforms")), None)
    if waves is None or fs is None:
        raise GemError(
            f"{path.name} is Philips ECG XML without <parsedwaveforms> or <samplingrate>; export it with waveforms"
        )
    duration_ms = number(waves.get("durationperchannel"))
    labels = (waves.get("leadlabels") or "").split()
    n_leads = int(number(waves.get("numberofleads")) or len(labels) or 12)
    labels = labels[:n_leads] if labels else STD12[:n_leads]
    n = int(round((duration_ms or 0) * fs / 1000.0))
    check_declared_size(n_leads, n, fs, path.name, settings)
    if n <= 0:
        raise GemError(f"{path.name}: <parsedwaveforms> declares no samples (durationperchannel)")
    signal = _waveforms(waves, path, labels, n)
    resolution = number(text(chars, "signalresolution")) or number(text(chars, "resolution"))
    warnings = []
    if not resolution:
        resolution = 5.0
        warnings.append("signal resolution not stated; assumed 5 uV per unit (the Philips default)")
    patient = _patient(root)
    metadata = {}
    age = parse_age(text(root, "patient", "generalpatientdata", "age", "years"))
    sex = parse_sex(text(root, "patient", "generalpatientdata", "sex"))
    if age is not None:
        metadata["age"] = age
    if sex:
        metadata["sex"] = sex
    metadata["source_reading"] = source_reading("Philips", *_reading(root), patient)
    return exported_record(
        path,
        signal * resolution,
        labels,
        fs,
        ["uV"] * len(labels),
        "philips-xml",
        patient,
        metadata,
        settings,
        warnings=warnings,
    )


def _compressed(waves) -> bool:
    flag = (waves.get("compressflag") or "").strip().lower()
    method = (waves.get("compressmethod") or waves.get("compression") or "").strip().upper()
    if flag in ("false", "0", "no"):
        return False
    return flag in ("true", "1", "yes") or method == "XLI"


def _waveforms(waves, path: Path, labels: list[str], n: int) -> np.ndarray:
    encoding = (waves.get("dataencoding") or "Base64").strip()
    body = "".join((waves.text or "").split())
    if _compressed(waves):
        method = (waves.get("compressmethod") or waves.get("compression") or "").strip().upper()
        if method != "XLI" or encoding != "Base64":
            raise GemError(
                f"{path.name}: waveform compression {method or '?'} ({encoding}) is not read (expected XLI)"
            )
        _check_xli_size(body, path, labels, n)
        return _xli(path, labels, n)
    if encoding == "Plain":
        try:
            values = parse_numbers(waves.text or "", n * len(labels))  # no more than declared
        except ValueError:
            raise GemError(f"{path.name}: <parsedwaveforms> holds values that are not numbers") from None
    elif encoding == "Base64":
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise GemError(f"{path.name}: <parsedwaveforms> is not valid Base64") from None
        values = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.float64)
    else:
        raise GemError(f"{path.name}: waveform encoding {encoding!r} is not read (expected Base64 or Plain)")
    if values.size < n * len(labels):
        raise GemError(
            f"{path.name} is truncated: {len(labels)} leads x {n} samples declared, {values.size} values present"
        )
    return values[: n * len(labels)].reshape(len(labels), n)


def _check_xli_size(body: str, path: Path, labels: list[str], n: int) -> None:
    """Refuse compressed data larger than the raw samples it declares: LZW output grows up to ~770x its
    input, so the compressed size is what bounds the memory the decoder can be made to use."""
    limit = 4 * n * max(len(labels), 16) + 1024
    if len(body) * 3 // 4 > limit:
        raise GemError(
            f"{path.name}: the XLI waveform data ({len(body) * 3 // 4} bytes) is larger than {len(labels)} leads "
            f"of {n} samples can take; the file is damaged or not a Philips ECG"
        )


def _xli(path: Path, labels: list[str], n: int) -> np.ndarray:
    """XLI-compressed leads through ``sierraecg`` (LZW + second-difference coding, limb-lead residuals)."""
    import sierraecg

    try:
        with np.errstate(
            all="ignore"
        ):  # its int16 limb-lead arithmetic wraps on damaged data, as carts' does
            ecg = sierraecg.read_file(str(path))
    except (
        sierraecg.UnsupportedXmlFileError,
        sierraecg.MissingXmlElementError,
        sierraecg.MissingXmlAttributeError,
    ) as err:
        raise GemError(
            f"{path.name}: Philips ECG XML not read by sierraecg ({type(err).__name__}: {err})"
        ) from None
    except (ValueError, IndexError, KeyError, TypeError, OverflowError, binascii.Error) as err:
        raise GemError(
            f"{path.name}: the XLI-compressed waveforms are damaged ({type(err).__name__})"
        ) from None
    leads = ecg.leads[: len(labels)]
    if len(leads) < len(labels) or any(len(lead.samples) < n for lead in leads):
        raise GemError(
            f"{path.name} is truncated: {len(labels)} XLI leads of {n} samples declared, "
            f"{len(leads)} decoded ({min((len(x.samples) for x in leads), default=0)} samples)"
        )
    return np.vstack([np.asarray(lead.samples[:n], dtype=np.float64) for lead in leads])


def _patient(root) -> PatientFields:
    patient = PatientFields()
    block = child(root, "patient")
    for scope in (
        block,
        find(root, "dataacquisition", "acquirer"),
        child(root, "orderinfo"),
        child(root, "reportinfo"),
    ):
        if scope is None:
            continue
        for elem in scope.iter():
            name = local(elem.tag).lower()
            if name in _PATIENT_TAGS and elem.text and elem.text.strip():
                patient.add(name, elem.text, person=_PATIENT_TAGS[name])
    return patient


def _reading(root) -> tuple[list[str], dict]:
    statements = []
    for stmt in descendants(root, "statement"):
        line = " ".join(x for x in (text(stmt, "leftstatement"), text(stmt, "rightstatement")) if x)
        if line:
            statements.append(line)
    measurements: dict = {}
    for block in descendants(root, "globalmeasurements"):
        for elem in block:
            add_measurement(measurements, local(elem.tag), (elem.text or "").strip(), elem.get("unit") or "")
    return statements, measurements
