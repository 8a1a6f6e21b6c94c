"""Writers of the formats ECG carts export, built from each format's specification, for tests.

Each writes an ``ECG`` (12 canonical leads, mV) to a file the way a cart or an ECG management system
would: DICOM 12-lead ECG waveform objects (pydicom), HL7 aECG XML, Philips Sierra XML (uncompressed or
XLI-compressed: LZW over second-difference codes, limb leads stored as residuals), GE MUSE XML (8 leads,
Base64) and CODE-15% HDF5 (h5py, 4096 samples at 400 Hz, zero padded at both ends). ``IDENTIFIERS``
is what every writer puts in the patient fields; the loaders must leave all of it behind.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from gem_core.ecg import ECG, LEADS

IDENTIFIERS = {
    "last": "Quixwell",
    "first": "Rosamund",
    "patient_id": "MRN-77310942",
    "birth": "19510304",
    "address": "12 Larchmere Crescent, Eastbrook",
    "phone": "555-0143-889",
    "physician": "Okonkwo-Baptiste",
}
AGE, SEX = 73, "female"
STATEMENTS = [
    "Sinus rhythm",
    f"{IDENTIFIERS['first']} {IDENTIFIERS['last']}: repeat in 6 months",  # free text naming the patient
    "Normal ECG",
    f"Confirmed by {IDENTIFIERS['physician']} on 2024-05-06",
]
MEASUREMENTS = {"heart_rate_bpm": 75, "pr_ms": 160, "qrs_ms": 92, "qt_ms": 380, "qtc_ms": 424}


def identifier_strings() -> list[str]:
    """Every identifying string a writer puts in a file (and spellings a loader could produce)."""
    i = IDENTIFIERS
    birth_iso = f"{i['birth'][:4]}-{i['birth'][4:6]}-{i['birth'][6:]}"
    return [
        i["last"],
        i["first"],
        i["patient_id"],
        i["birth"],
        birth_iso,
        "Larchmere",
        i["phone"],
        i["physician"],
    ]


def _ints(x: np.ndarray) -> np.ndarray:
    return np.round(x).astype(np.int64)


# ---------------------------------------------------------------------------------------------- DICOM

SCP_CODES = {"I": 1, "II": 2, "III": 61, "aVR": 62, "aVL": 63, "aVF": 64} | {
    f"V{k}": 2 + k for k in range(1, 7)
}


def write_dicom(
    path: Path,
    ecg: ECG,
    *,
    order: list[str] | None = None,
    unit: str = "uV",
    sensitivity: float = 2.5,
    correction: float = 1.0,
    baseline: float = 0.0,
    median: bool = True,
    identifiers: bool = True,
    sop: str = "1.2.840.10008.5.1.4.1.1.9.1.1",
    mdc_codes: bool = False,
) -> Path:
    """A DICOM 12-Lead ECG Waveform Storage file: a RHYTHM group (and a MEDIAN BEAT group)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    order = order or list(LEADS)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "ECG"
    ds.PatientAge = f"{AGE:03d}Y"
    ds.PatientSex = "F"
    if identifiers:
        i = IDENTIFIERS
        ds.PatientName = f"{i['last']}^{i['first']}"
        ds.PatientID = i["patient_id"]
        ds.PatientBirthDate = i["birth"]
        ds.PatientAddress = i["address"]
        ds.PatientTelephoneNumbers = i["phone"]
        ds.ReferringPhysicianName = f"{i['physician']}^Ada"
        ds.PatientComments = f"{i['first']} {i['last']}, lives at {i['address']}"
    per_unit = {"uV": 1e-3, "mV": 1.0}[unit]  # mV per unit

    def group(label: str, originality: str, sig: np.ndarray, fs: float) -> Dataset:
        g = Dataset()
        g.MultiplexGroupLabel = label
        g.WaveformOriginality = originality
        g.NumberOfWaveformChannels = len(order)
        g.NumberOfWaveformSamples = sig.shape[1]
        g.SamplingFrequency = f"{fs:g}"
        g.WaveformBitsAllocated = 16
        g.WaveformSampleInterpretation = "SS"
        channels = []
        rows = []
        for name in order:
            ch = Dataset()
            src = Dataset()
            if mdc_codes:
                src.CodeValue, src.CodingSchemeDesignator = f"2:{SCP_CODES[name]}", "MDC"
            else:
                src.CodeValue, src.CodingSchemeDesignator = f"5.6.3-9-{SCP_CODES[name]}", "SCPECG"
            src.CodeMeaning = f"Lead {name}"
            ch.ChannelSourceSequence = Sequence([src])
            ch.ChannelSensitivity = f"{sensitivity:g}"
            units = Dataset()
            units.CodeValue, units.CodingSchemeDesignator, units.CodeMeaning = unit, "UCUM", unit
            ch.ChannelSensitivityUnitsSequence = Sequence([units])
            ch.ChannelSensitivityCorrectionFactor = f"{correction:g}"
            ch.ChannelBaseline = f"{baseline:g}"
            ch.WaveformBitsStored = 16
            channels.append(ch)
            physical = sig[LEADS.index(name)] / per_unit  # in `unit`
            rows.append(_ints((physical - baseline) / (sensitivity * correction)))
        g.ChannelDefinitionSequence = Sequence(channels)
        g.WaveformData = np.stack(rows, axis=1).astype("<i2").tobytes()  # interleaved: sample by sample
        return g

    groups = [group("RHYTHM", "ORIGINAL", ecg.signal, ecg.fs)]
    if median:
        beat = ecg.signal[:, : int(ecg.fs)]  # a 1 s stand-in for the median beat
        groups.append(group("MEDIAN BEAT", "DERIVED", beat, ecg.fs))
    ds.WaveformSequence = Sequence(groups)
    annotations = []
    for text in STATEMENTS:
        a = Dataset()
        a.UnformattedTextValue = text
        annotations.append(a)
    names = {
        "heart_rate_bpm": ("Heart Rate", "/min"),
        "pr_ms": ("PR Interval", "ms"),
        "qrs_ms": ("QRS Duration", "ms"),
    }
    names |= {"qt_ms": ("QT Interval", "ms"), "qtc_ms": ("QTc Interval", "ms")}
    for key, value in MEASUREMENTS.items():
        a = Dataset()
        concept, units = Dataset(), Dataset()
        concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = key, "99TEST", names[key][0]
        units.CodeValue, units.CodingSchemeDesignator, units.CodeMeaning = (
            names[key][1],
            "UCUM",
            names[key][1],
        )
        a.ConceptNameCodeSequence = Sequence([concept])
        a.MeasurementUnitsCodeSequence = Sequence([units])
        a.NumericValue = str(value)
        annotations.append(a)
    ds.WaveformAnnotationSequence = Sequence(annotations)
    ds.save_as(str(path), enforce_file_format=True)
    return path


# ------------------------------------------------------------------------------------------- HL7 aECG


def write_aecg(path: Path, ecg: ECG, *, scale_uv: float = 2.5, origin_uv: float = 0.0, order=None) -> Path:
    """An HL7 v3 AnnotatedECG: one RHYTHM series, one sequence per lead (SLIST_PQ origin + scale x digits)."""
    order = order or list(LEADS)
    i = IDENTIFIERS
    seqs = [
        '<component><sequence><code code="TIME_ABSOLUTE" codeSystem="2.16.840.1.113883.5.4"/>'
        '<value xsi:type="GLIST_TS"><head value="20240506101500.000"/>'
        f'<increment value="{1.0 / ecg.fs:.6g}" unit="s"/></value></sequence></component>'
    ]
    for name in order:
        digits = _ints((ecg.signal[LEADS.index(name)] * 1000.0 - origin_uv) / scale_uv)
        code = "MDC_ECG_LEAD_" + name.upper()
        seqs.append(
            f'<component><sequence><code code="{code}" codeSystem="2.16.840.1.113883.6.24"/>'
            f'<value xsi:type="SLIST_PQ"><origin value="{origin_uv:g}" unit="uV"/>'
            f'<scale value="{scale_uv:g}" unit="uV"/><digits>{" ".join(map(str, digits))}</digits></value>'
            "</sequence></component>"
        )
    annotations = "".join(
        f'<component><annotation><code code="MDC_ECG_INTERPRETATION_STATEMENT"/><value xsi:type="ST">'
        f"{escape(s)}</value></annotation></component>"
        for s in STATEMENTS
    )
    mdc = {"heart_rate_bpm": ("MDC_ECG_HEART_RATE", "bpm"), "pr_ms": ("MDC_ECG_TIME_PD_PR", "ms")}
    mdc |= {"qrs_ms": ("MDC_ECG_TIME_PD_QRS", "ms"), "qt_ms": ("MDC_ECG_TIME_PD_QT", "ms")}
    mdc |= {"qtc_ms": ("MDC_ECG_TIME_PD_QTc", "ms")}
    annotations += "".join(
        f'<component><annotation><code code="{mdc[k][0]}"/><value xsi:type="PQ" value="{v}" unit="{mdc[k][1]}"/>'
        "</annotation></component>"
        for k, v in MEASUREMENTS.items()
    )
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <id root="61d1a24f-b47e-41aa-ae95-f8ac302f4eeb"/>
  <code code="93000" codeSystem="2.16.840.1.113883.6.12"/>
  <effectiveTime><low value="20240506101500"/><high value="20240506101510"/></effectiveTime>
  <componentOf><timepointEvent><componentOf><subjectAssignment><subject><trialSubject>
    <id root="2.16.840.1.113883.3.1" extension="{i["patient_id"]}"/>
    <subjectDemographicPerson>
      <name><given>{i["first"]}</given><family>{i["last"]}</family></name>
      <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
      <birthTime value="{i["birth"]}"/>
      <addr>{escape(i["address"])}</addr><telecom value="tel:{i["phone"]}"/>
    </subjectDemographicPerson>
  </trialSubject></subject></subjectAssignment></componentOf></timepointEvent></componentOf>
  <component><series>
    <code code="RHYTHM" codeSystem="2.16.840.1.113883.5.4"/>
    <component><sequenceSet>{"".join(seqs)}</sequenceSet></component>
    <subjectOf><annotationSet>{annotations}</annotationSet></subjectOf>
  </series></component>
</AnnotatedECG>
"""
    path.write_text(xml, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------- Philips Sierra


def lzw_encode(data: bytes, bits: int = 10) -> bytes:
    """LZW with fixed ``bits``-bit codes, MSB first, dictionary frozen at 2**bits - 2 (XLI's variant)."""
    max_code = (1 << bits) - 2
    table = {bytes([b]): b for b in range(256)}
    next_code = 256
    codes, w = [], b""
    for byte in data:
        wc = w + bytes([byte])
        if wc in table:
            w = wc
            continue
        codes.append(table[w])
        if next_code <= max_code:
            table[wc] = next_code
            next_code += 1
        w = bytes([byte])
    if w:
        codes.append(table[w])
    acc, n_bits, out = 0, 0, bytearray()
    for code in codes:
        acc = (acc << bits) | code
        n_bits += bits
        while n_bits >= 8:
            n_bits -= 8
            out.append((acc >> n_bits) & 0xFF)
    if n_bits:
        out.append((acc << (8 - n_bits)) & 0xFF)
    return bytes(out)


def xli_chunk(samples: np.ndarray) -> bytes:
    """One lead XLI-coded: second-difference residuals (+64) as high bytes then low bytes, LZW, 8-byte header."""
    s = samples.astype(np.int64)
    n = s.size
    d = np.zeros(n, dtype=np.int64)
    d[0], d[1] = s[0], s[1]
    d[2 : n - 1] = 2 * s[2 : n - 1] - s[1 : n - 2] - s[3:n] + 64
    start = int(2 * s[1] - s[0] - s[2])
    u = (d & 0xFFFF).astype(np.uint16)
    body = lzw_encode(bytes((u >> 8).astype(np.uint8)) + bytes((u & 0xFF).astype(np.uint8)))
    header = len(body).to_bytes(4, "little", signed=True) + b"\0\0" + start.to_bytes(2, "little", signed=True)
    return header + body


def write_philips(
    path: Path, ecg: ECG, *, compressed: bool = True, resolution_uv: float = 5.0, plain: bool = False
) -> Path:
    """A Philips Sierra ECG XML 1.04 file; XLI stores III, aVR, aVL, aVF as residuals from I and II."""
    units = {name: _ints(ecg.signal[LEADS.index(name)] * 1000.0 / resolution_uv) for name in LEADS}
    n = ecg.n_samples
    duration_ms = int(round(n * 1000.0 / ecg.fs))
    if compressed:
        i, ii, iii = units["I"], units["II"], units["III"]
        stored = dict(units)
        stored["III"] = ii - i - iii
        stored["aVR"] = -units["aVR"] - np.floor((i + ii) / 2).astype(np.int64)
        stored["aVL"] = np.floor((i - iii) / 2).astype(np.int64) - units["aVL"]
        stored["aVF"] = np.floor((ii + iii) / 2).astype(np.int64) - units["aVF"]
        payload = b"".join(xli_chunk(stored[name]) for name in LEADS)
        attrs = 'dataencoding="Base64" compressflag="True" compressmethod="XLI"'
    else:
        payload = np.concatenate([units[name] for name in LEADS]).astype("<i2").tobytes()
        attrs = 'dataencoding="Base64" compressflag="False"'
    data = base64.b64encode(payload).decode()
    if plain and not compressed:  # 'Plain': the integers as text, lead after lead
        data = " ".join(str(v) for name in LEADS for v in units[name])
        attrs = 'dataencoding="Plain" compressflag="False"'
    i = IDENTIFIERS
    statements = "".join(
        f"<statement><statementcode>X</statementcode><leftstatement>{escape(s)}</leftstatement>"
        "<rightstatement></rightstatement></statement>"
        for s in STATEMENTS
    )
    m = MEASUREMENTS
    xml = f"""<?xml version="1.0" encoding="utf-8"?>
<restingecgdata xmlns="http://www3.medical.philips.com">
  <documentinfo><documenttype>PhilipsECG</documenttype><documentversion>1.04</documentversion></documentinfo>
  <reportinfo><reportgain/></reportinfo>
  <orderinfo><orderingclinician>{i["physician"]}</orderingclinician></orderinfo>
  <patient><generalpatientdata>
    <patientid>{i["patient_id"]}</patientid>
    <name><lastname>{i["last"]}</lastname><firstname>{i["first"]}</firstname></name>
    <age><years>{AGE}</years><dateofbirth>{i["birth"]}</dateofbirth></age>
    <sex>Female</sex>
  </generalpatientdata></patient>
  <dataacquisition>
    <signalcharacteristics>
      <samplingrate>{ecg.fs:g}</samplingrate><signalresolution>{resolution_uv:g}</signalresolution>
      <acquisitiontype>STD-12</acquisitiontype><numberchannelsvalid>12</numberchannelsvalid>
      <numberchannelsallocated>12</numberchannelsallocated>
    </signalcharacteristics>
  </dataacquisition>
  <internalmeasurements><crossleadmeasurements/></internalmeasurements>
  <interpretations><interpretation>
    <globalmeasurements><heartrate>{m["heart_rate_bpm"]}</heartrate><print>{m["pr_ms"]}</print>
      <qrsdur>{m["qrs_ms"]}</qrsdur><qtint>{m["qt_ms"]}</qtint><qtcb>{m["qtc_ms"]}</qtcb></globalmeasurements>
    {statements}
  </interpretation></interpretations>
  <waveforms>
    <parsedwaveforms durationperchannel="{duration_ms}" {attrs} numberofleads="12"
      leadlabels="{" ".join(LEADS)}">{data}</parsedwaveforms>
  </waveforms>
</restingecgdata>
"""
    path.write_text(xml, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------- GE MUSE

MUSE_LEADS = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]


def write_muse(path: Path, ecg: ECG, *, per_bit_uv: float = 4.88, median: bool = True) -> Path:
    """A GE MUSE RestingECG XML: Rhythm (and Median) waveforms of 8 leads, Base64 int16 little endian."""
    i = IDENTIFIERS

    def waveform(kind: str, sig: np.ndarray) -> str:
        leads = []
        for name in MUSE_LEADS:
            values = _ints(sig[LEADS.index(name)] * 1000.0 / per_bit_uv).astype("<i2")
            leads.append(
                f"<LeadData><LeadByteCountTotal>{values.size * 2}</LeadByteCountTotal>"
                f"<LeadSampleCountTotal>{values.size}</LeadSampleCountTotal>"
                f"<LeadAmplitudeUnitsPerBit>{per_bit_uv:g}</LeadAmplitudeUnitsPerBit>"
                f"<LeadAmplitudeUnits>MICROVOLTS</LeadAmplitudeUnits><LeadID>{name}</LeadID>"
                f"<WaveFormData>{base64.b64encode(values.tobytes()).decode()}</WaveFormData></LeadData>"
            )
        return (
            f"<Waveform><WaveformType>{kind}</WaveformType><WaveformStartTime>0</WaveformStartTime>"
            f"<NumberofLeads>8</NumberofLeads><SampleType>CONTINUOUS_SAMPLES</SampleType>"
            f"<SampleBase>{ecg.fs:g}</SampleBase><SampleExponent>0</SampleExponent>{''.join(leads)}</Waveform>"
        )

    m = MEASUREMENTS
    stmts = "".join(
        f"<DiagnosisStatement><StmtFlag>ENDSLINE</StmtFlag><StmtText>{escape(s)}</StmtText></DiagnosisStatement>"
        for s in STATEMENTS
    )
    waves = waveform("Rhythm", ecg.signal)
    if median:
        waves = waveform("Median", ecg.signal[:, : int(ecg.fs)]) + waves
    xml = f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<RestingECG>
  <MuseInfo><MuseVersion>9.0.0</MuseVersion></MuseInfo>
  <PatientDemographics>
    <PatientID>{i["patient_id"]}</PatientID><PatientAge>{AGE}</PatientAge><AgeUnits>YEARS</AgeUnits>
    <DateofBirth>{i["birth"][4:6]}-{i["birth"][6:]}-{i["birth"][:4]}</DateofBirth><Gender>FEMALE</Gender>
    <PatientLastName>{i["last"]}</PatientLastName><PatientFirstName>{i["first"]}</PatientFirstName>
  </PatientDemographics>
  <TestDemographics><OrderingMDLastName>{i["physician"]}</OrderingMDLastName>
    <AcquisitionDate>05-06-2024</AcquisitionDate></TestDemographics>
  <RestingECGMeasurements>
    <VentricularRate>{m["heart_rate_bpm"]}</VentricularRate><PRInterval>{m["pr_ms"]}</PRInterval>
    <QRSDuration>{m["qrs_ms"]}</QRSDuration><QTInterval>{m["qt_ms"]}</QTInterval>
    <QTCorrected>{m["qtc_ms"]}</QTCorrected>
  </RestingECGMeasurements>
  <Diagnosis><Modality>RESTING</Modality>{stmts}</Diagnosis>
  {waves}
</RestingECG>
"""
    path.write_text(xml, encoding="latin-1")
    return path


# ------------------------------------------------------------------------------------------- CODE-15%


def write_code15(path: Path, exams: dict[int, ECG], *, filler: bool = True) -> Path:
    """A CODE-15% part: ``tracings`` (N, 4096, 12) float32 at 400 Hz, centred with zero padding, and
    ``exam_id``; like the dataset, a last filler row (exam id 0, all zeros) when ``filler``."""
    import h5py

    rows, ids = [], []
    for exam_id, ecg in exams.items():
        if ecg.fs != 400.0:
            raise ValueError("CODE-15% tracings are sampled at 400 Hz")
        n = min(ecg.n_samples, 4096)
        row = np.zeros((4096, 12), dtype=np.float32)
        start = (4096 - n) // 2
        row[start : start + n] = ecg.signal[:, :n].T
        rows.append(row)
        ids.append(exam_id)
    if filler:
        rows.append(np.zeros((4096, 12), dtype=np.float32))
        ids.append(0)
    with h5py.File(path, "w") as f:
        f.create_dataset("tracings", data=np.stack(rows), compression="gzip")
        f.create_dataset("exam_id", data=np.array(ids, dtype=np.int64))
    return path


def at_400_hz(ecg: ECG, seconds: float = 10.0) -> ECG:
    """``ecg``'s first ``seconds`` resampled to 400 Hz (``resample_poly``, exact rational factor)."""
    from scipy.signal import resample_poly

    from gem_core.ecg import resample_factors

    up, down = resample_factors(ecg.fs, 400)
    x = resample_poly(ecg.signal.astype(np.float64), up, down, axis=1)[:, : int(math.floor(400 * seconds))]
    return ECG(signal=x.astype(np.float32), fs=400.0, record_id=ecg.record_id)
