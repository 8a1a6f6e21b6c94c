"""The formats hospitals export: DICOM ECG waveforms, HL7 aECG, Philips Sierra and GE MUSE XML, CODE-15% HDF5.

Every file is written by ``tests/ecg_exports.py`` from the format's specification (or is a sample file
that an installed library ships). Each format is checked against its source: lead order, millivolts,
sampling rate, and the heart rate ``gem_core.features.measure`` finds on the loaded record against the
one it finds on the source record.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from gem_core.ecg import LEADS, load_ecg, load_ecgs, summary
from gem_core.errors import GemError
from gem_core.features import measure
from gem_core.samples import synthetic_ecg
from gem_core.settings import Settings
from tests.conftest import SHARED_ECG
from tests.ecg_exports import (
    AGE,
    MEASUREMENTS,
    MUSE_LEADS,
    SEX,
    at_400_hz,
    write_aecg,
    write_code15,
    write_dicom,
    write_muse,
    write_philips,
)

SHUFFLED = ["V6", "aVR", "II", "aVL", "V1", "I", "aVF", "V2", "III", "V3", "V4", "V5"]
SHARED_RECORD = SHARED_ECG / "cpsc2018" / "A0001.hea"


def _source(kind: str):
    """The record written into each format: a synthetic ECG, or a real shared one (first 10 s)."""
    if kind == "synthetic":
        return synthetic_ecg(heart_rate=72, duration_s=10, fs=500)
    if not SHARED_RECORD.is_file():
        pytest.skip(f"real records not found at {SHARED_ECG} (a fresh clone has no ../shared)")
    ecg = load_ecg(SHARED_RECORD)
    ecg.signal = ecg.signal[:, : int(10 * ecg.fs)]
    return ecg


@pytest.fixture(scope="module", params=["synthetic", "shared"])
def source(request):
    return _source(request.param)


@pytest.fixture(scope="module")
def source_hr(source):
    return measure(source).global_values["heart_rate_bpm"]


def _same_record(loaded, source, tol_mv: float, source_hr: float):
    """Lead order, mV, rate and heart rate of ``loaded`` against ``source``."""
    assert loaded.leads == LEADS
    assert loaded.fs == source.fs
    assert loaded.signal.shape == source.signal.shape
    # lead by lead within one quantisation step: each loaded lead is its own source lead (lead order, mV)
    err = np.abs(loaded.signal - source.signal).max(axis=1)
    assert err.max() <= tol_mv, dict(zip(LEADS, err.round(4), strict=True))
    hr = measure(loaded).global_values["heart_rate_bpm"]
    assert hr == pytest.approx(source_hr, abs=0.5)


# ---------------------------------------------------------------------------------------------- DICOM


def test_dicom_shuffled_channels_load_in_canonical_order(tmp_path, source, source_hr):
    path = write_dicom(tmp_path / "ecg.dcm", source, order=SHUFFLED, sensitivity=2.5)
    ecg = load_ecg(path)
    _same_record(ecg, source, 2.5e-3 / 2 + 1e-6, source_hr)
    assert ecg.report["source_format"] == "dicom"
    assert ecg.report["original_leads"] == SHUFFLED


@pytest.mark.parametrize(
    "unit, sensitivity, correction, baseline",
    [("uV", 5.0, 1.0, 0.0), ("mV", 0.001, 1.0, 0.0), ("uV", 2.0, 1.25, 0.0), ("uV", 2.5, 1.0, 40.0)],
)
def test_dicom_units_correction_factor_and_baseline(tmp_path, unit, sensitivity, correction, baseline):
    src = synthetic_ecg(heart_rate=80, duration_s=10, fs=500)
    path = write_dicom(
        tmp_path / "ecg.dcm",
        src,
        unit=unit,
        sensitivity=sensitivity,
        correction=correction,
        baseline=baseline,
    )
    ecg = load_ecg(path)
    step_mv = sensitivity * correction * (1e-3 if unit == "uV" else 1.0)
    assert np.abs(ecg.signal - src.signal).max() <= step_mv / 2 + 1e-6
    # a wrong reading of any of the three would be off by far more than one step
    assert np.abs(ecg.signal - src.signal).max() < 0.01


@pytest.mark.parametrize("fs", [250.0, 1000.0])
def test_dicom_any_sampling_rate_and_mdc_codes(tmp_path, fs):
    src = synthetic_ecg(heart_rate=66, duration_s=10, fs=int(fs))
    ecg = load_ecg(write_dicom(tmp_path / "ecg.dcm", src, mdc_codes=True, order=SHUFFLED))
    assert ecg.fs == fs and ecg.n_samples == src.n_samples
    assert np.abs(ecg.signal - src.signal).max() <= 1.25e-3 + 1e-6
    assert measure(ecg).global_values["heart_rate_bpm"] == pytest.approx(66, abs=1.5)


def test_dicom_rhythm_not_median_beat_and_median_kept(tmp_path):
    src = synthetic_ecg(heart_rate=75, duration_s=10, fs=500)
    ecg = load_ecg(write_dicom(tmp_path / "ecg.dcm", src))
    assert ecg.n_samples == 5000  # the 10 s rhythm, not the 1 s median beat
    beats = ecg.metadata["median_beats"]
    assert beats["fs"] == 500.0 and beats["units"] == "mV" and list(beats["leads"]) == list(LEADS)
    assert np.abs(np.array(beats["leads"]["V2"]) - src.lead("V2")[:500]).max() <= 1.25e-3 + 1e-6


def test_dicom_cart_reading_kept_as_source_metadata(tmp_path):
    ecg = load_ecg(write_dicom(tmp_path / "ecg.dcm", synthetic_ecg(heart_rate=75, duration_s=10, fs=500)))
    reading = ecg.metadata["source_reading"]
    # the line naming the patient and the sign-off line naming the physician are left out
    assert reading["statements"] == ["Sinus rhythm", "Normal ECG"]
    assert reading["statements_left_out"] == 2
    assert reading["measurements"] == MEASUREMENTS
    assert ecg.metadata["age"] == AGE and ecg.metadata["sex"] == SEX


def test_pydicom_sample_ecg_matches_pydicom_and_its_cart(tmp_path):
    """pydicom's own 12-lead sample: our loader against pydicom's multiplex array, and the cart's RR."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    path = get_testdata_file("waveform_ecg.dcm")
    if path is None:
        pytest.skip("pydicom's test data (waveform_ecg.dcm) is not installed")
    ecg = load_ecg(path)
    ds = pydicom.dcmread(path)
    raw = ds.waveform_array(0)  # (samples, channels) in the channels' units (uV here), file order
    names = [
        ch.ChannelSourceSequence[0].CodeMeaning for ch in ds.WaveformSequence[0].ChannelDefinitionSequence
    ]
    assert ecg.fs == float(ds.WaveformSequence[0].SamplingFrequency) == 1000.0
    for k, name in enumerate(names):
        lead = name.replace("Lead ", "").split(" (")[0]
        assert np.allclose(ecg.lead(lead), raw[:, k] / 1000.0, atol=1e-6), lead
    reading = ecg.metadata["source_reading"]
    assert reading["statements"] == ["RITMO SINUSALE", "ECG NORMALE"]
    hr = measure(ecg).global_values["heart_rate_bpm"]
    assert hr == pytest.approx(60000.0 / reading["measurements"]["rr_ms"], abs=2.0)
    assert len(ecg.metadata["median_beats"]["leads"]["II"]) == 1200
    assert "PatientName" in ecg.report["dropped_metadata"] and "patient_fields" not in ecg.metadata


def test_dicom_without_extension_is_recognised_alone_and_in_a_zip(tmp_path):
    src = synthetic_ecg(heart_rate=75, duration_s=10, fs=500)
    folder = tmp_path / "export" / "DICOM"
    folder.mkdir(parents=True)
    path = write_dicom(folder / "IM0001", src)
    write_dicom(folder / "IM0002", synthetic_ecg(heart_rate=90, duration_s=10, fs=500))
    assert load_ecg(path).report["source_format"] == "dicom"
    archive = tmp_path / "pacs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"DICOM/{f.name}")
        zf.writestr("DICOMDIR", b"\0" * 128 + b"DICM")  # the index file is not a record
    ecgs = load_ecgs(archive)
    assert [e.report["member"] for e in ecgs] == ["DICOM/IM0001", "DICOM/IM0002"]
    assert [round(measure(e).global_values["heart_rate_bpm"]) for e in ecgs] == [75, 90]


# ------------------------------------------------------------------------------------------- HL7 aECG


def test_aecg_shuffled_sequences_origin_and_scale(tmp_path, source, source_hr):
    path = write_aecg(tmp_path / "ecg.xml", source, scale_uv=2.5, origin_uv=-100.0, order=SHUFFLED)
    ecg = load_ecg(path)
    _same_record(ecg, source, 1.25e-3 + 1e-6, source_hr)
    assert ecg.report["source_format"] == "hl7-aecg"
    assert ecg.report["original_leads"] == [n.upper() for n in SHUFFLED]
    assert ecg.metadata["age"] == AGE and ecg.metadata["sex"] == SEX
    assert ecg.metadata["source_reading"]["measurements"] == MEASUREMENTS
    assert ecg.metadata["source_reading"]["statements"] == ["Sinus rhythm", "Normal ECG"]


def test_aecg_rate_from_the_increment(tmp_path):
    src = synthetic_ecg(heart_rate=90, duration_s=10, fs=1000)
    ecg = load_ecg(write_aecg(tmp_path / "ecg.xml", src))
    assert ecg.fs == 1000.0
    assert measure(ecg).global_values["heart_rate_bpm"] == pytest.approx(90, abs=1.5)


# --------------------------------------------------------------------------------------- Philips Sierra


@pytest.mark.parametrize("compressed", [True, False], ids=["xli", "uncompressed"])
def test_philips_xml(tmp_path, source, source_hr, compressed):
    path = write_philips(tmp_path / "ecg.xml", source, compressed=compressed, resolution_uv=5.0)
    ecg = load_ecg(path)
    _same_record(ecg, source, 2.5e-3 + 1e-6, source_hr)
    assert ecg.report["source_format"] == "philips-xml"
    reading = ecg.metadata["source_reading"]
    assert reading["measurements"] == MEASUREMENTS and reading["statements"] == ["Sinus rhythm", "Normal ECG"]
    assert ecg.metadata["age"] == AGE and ecg.metadata["sex"] == SEX


def test_philips_xli_equals_uncompressed_and_plain(tmp_path):
    """The XLI path (sierraecg: LZW, second differences, limb-lead residuals) gives the stored integers."""
    src = synthetic_ecg(heart_rate=110, duration_s=10, fs=500)
    a = load_ecg(write_philips(tmp_path / "a.xml", src, compressed=True))
    b = load_ecg(write_philips(tmp_path / "b.xml", src, compressed=False))
    c = load_ecg(write_philips(tmp_path / "c.xml", src, compressed=False, plain=True))
    assert np.array_equal(a.signal, b.signal) and np.array_equal(b.signal, c.signal)
    assert np.abs(a.signal - src.signal).max() <= 2.5e-3 + 1e-6


# --------------------------------------------------------------------------------------------- GE MUSE


def test_muse_xml_eight_leads_and_derived_limb_leads(tmp_path, source, source_hr):
    path = write_muse(tmp_path / "ecg.xml", source, per_bit_uv=4.88)
    ecg = load_ecg(path)
    assert ecg.report["original_leads"] == MUSE_LEADS
    assert ecg.report["derived_leads"] == ["III", "aVR", "aVL", "aVF"]
    stored = [LEADS.index(n) for n in MUSE_LEADS]
    step = 4.88e-3
    assert np.abs(ecg.signal[stored] - source.signal[stored]).max() <= step / 2 + 1e-6
    # the derived leads follow Einthoven/Goldberger from the stored I and II
    i, ii = ecg.lead("I"), ecg.lead("II")
    assert np.allclose(ecg.lead("aVF"), ii - i / 2, atol=1e-6)
    assert ecg.fs == source.fs
    assert measure(ecg).global_values["heart_rate_bpm"] == pytest.approx(source_hr, abs=0.5)
    reading = ecg.metadata["source_reading"]
    assert reading["measurements"] == MEASUREMENTS
    assert reading["statements"] == ["Sinus rhythm", "Normal ECG"]
    assert ecg.n_samples == source.n_samples  # rhythm, not the median written first
    assert len(ecg.metadata["median_beats"]["leads"]["V5"]) == int(source.fs)


# ------------------------------------------------------------------------------------------- CODE-15%


def test_code15_exams_padding_trimmed_and_values(tmp_path, source, source_hr):
    exam = at_400_hz(source, seconds=10.0)
    other = at_400_hz(synthetic_ecg(heart_rate=50, duration_s=10, fs=500), seconds=7.0)
    path = write_code15(tmp_path / "exams_part0.hdf5", {4211: exam, 98765: other})
    ecg = load_ecg(path)
    assert ecg.record_id == "exams_part0-4211" and ecg.metadata["exam_id"] == "4211"
    assert ecg.fs == 400.0 and ecg.n_samples == 4000  # 48 zeros trimmed at each end
    assert ecg.report["other_records"] == ["98765"]  # the filler row (exam id 0) is not offered
    assert np.abs(ecg.signal - exam.signal).max() < 1e-5
    hr_src = measure(exam).global_values["heart_rate_bpm"]
    assert measure(ecg).global_values["heart_rate_bpm"] == pytest.approx(hr_src, abs=0.5)
    assert hr_src == pytest.approx(source_hr, abs=1.0)  # the 400 Hz copy is the same rhythm
    short = load_ecg(path, record="98765")
    assert short.n_samples == 2800 and short.report["other_records"] == ["4211"]
    assert "648 samples at the start and 648 at the end" in " ".join(short.report["warnings"])


def test_code15_load_ecgs_gives_every_exam(tmp_path):
    exams = {i: at_400_hz(synthetic_ecg(heart_rate=60 + 10 * i, duration_s=10, fs=500)) for i in (1, 2, 3)}
    ecgs = load_ecgs(write_code15(tmp_path / "part.h5", exams))
    assert [e.metadata["exam_id"] for e in ecgs] == ["1", "2", "3"]
    rates = [measure(e).global_values["heart_rate_bpm"] for e in ecgs]
    assert rates == pytest.approx([70, 80, 90], abs=1.5)


def test_code15_unknown_exam(tmp_path):
    path = write_code15(tmp_path / "part.h5", {7: at_400_hz(synthetic_ecg(duration_s=10))})
    with pytest.raises(GemError, match=r"part.h5 has no exam '8'; it holds 1 exam\(s\), e.g. 7"):
        load_ecg(path, record="8")


# ------------------------------------------------------------------------------------ zips and listings


def test_zip_of_exported_files_loads_each(tmp_path):
    src = synthetic_ecg(heart_rate=75, duration_s=10, fs=500)
    files = [
        write_dicom(tmp_path / "a.dcm", src),
        write_aecg(tmp_path / "b.xml", src),
        write_philips(tmp_path / "c.xml", src),
        write_muse(tmp_path / "d.xml", src),
        write_code15(tmp_path / "e.h5", {11: at_400_hz(src), 12: at_400_hz(src)}),
    ]
    archive = tmp_path / "exports.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in files:
            zf.write(f, f.name)
    ecgs = load_ecgs(archive)
    assert [e.report["source_format"] for e in ecgs] == [
        "dicom",
        "hl7-aecg",
        "philips-xml",
        "ge-muse-xml",
        "code15-hdf5",
        "code15-hdf5",
    ]
    assert all(e.report["archive"] == "exports.zip" for e in ecgs)
    first = load_ecg(archive)
    assert first.report["member"] == "a.dcm" and first.report["other_records"] == [
        "b.xml",
        "c.xml",
        "d.xml",
        "e.h5",
    ]


def test_summary_json_of_an_export_is_plain_json(tmp_path):
    ecg = load_ecg(write_dicom(tmp_path / "a.dcm", synthetic_ecg(duration_s=10)))
    text = json.dumps(summary(ecg))
    assert '"source_reading"' in text


def test_settings_keep_patient_fields_when_allowed(tmp_path):
    src = synthetic_ecg(duration_s=10)
    allowed = Settings(store_patient_fields=True)
    for path in (
        write_dicom(tmp_path / "a.dcm", src),
        write_aecg(tmp_path / "b.xml", src),
        write_philips(tmp_path / "c.xml", src),
        write_muse(tmp_path / "d.xml", src),
    ):
        assert "Quixwell" in json.dumps(load_ecg(path, settings=allowed).metadata["patient_fields"])
        assert "patient_fields" not in load_ecg(path, settings=Settings()).metadata


def test_sample_folder_lists_exported_files_and_each_code15_exam(tmp_path):
    from gem_core.samples import FolderSource

    src = synthetic_ecg(heart_rate=75, duration_s=10, fs=500)
    write_dicom(tmp_path / "rest.dcm", src)
    write_muse(tmp_path / "muse.xml", src)
    sub = tmp_path / "code15"
    sub.mkdir()
    write_code15(sub / "exams_part1.hdf5", {501: at_400_hz(src), 502: at_400_hz(src)})
    source = FolderSource(tmp_path)
    ids = [info.id for info in source.list()]
    assert ids == [
        "folder:code15/exams_part1.hdf5#501",
        "folder:code15/exams_part1.hdf5#502",
        "folder:muse.xml",
        "folder:rest.dcm",
    ]
    assert source.load(ids[1]).metadata["exam_id"] == "502"
    assert source.load("folder:rest.dcm").report["source_format"] == "dicom"
    with pytest.raises(GemError, match="has no exam '503'"):
        source.load("folder:code15/exams_part1.hdf5#503")
