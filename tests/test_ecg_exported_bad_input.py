"""Bad exported files: one clear ``GemError`` line naming what was expected; declared sizes checked
before allocating; seeded mutations of every format end in an ECG or a ``GemError``, nothing else;
and patient identifiers in a file reach neither the ratings store, its exports, nor the logs."""

from __future__ import annotations

import base64
import json
import logging
import random
import subprocess
import sys
import time
import uuid
import zlib

import numpy as np
import pytest

from annotations.metrics import METRIC_NAMES
from annotations.store import Store
from gem_core.ecg import ECG, load_ecg, summary
from gem_core.errors import GemError
from gem_core.samples import synthetic_ecg
from gem_core.settings import Settings
from tests.conftest import REPO
from tests.ecg_exports import (
    IDENTIFIERS,
    at_400_hz,
    identifier_strings,
    write_aecg,
    write_code15,
    write_dicom,
    write_muse,
    write_philips,
)


@pytest.fixture(scope="module")
def src() -> ECG:
    return synthetic_ecg(heart_rate=75, duration_s=10, fs=500)


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


# ------------------------------------------------------------------------------- the wrong kind of file


def test_dicom_that_is_not_an_ecg(tmp_path, src):
    path = write_dicom(tmp_path / "ct.dcm", src, sop="1.2.840.10008.5.1.4.1.1.2")  # CT Image Storage
    with pytest.raises(GemError) as err:
        load_ecg(path)
    assert _one_line(err) == (
        "ct.dcm is a DICOM CT Image Storage object, not an ECG waveform; "
        "expected a DICOM 12-Lead ECG or General ECG Waveform Storage object"
    )


def test_pydicom_ct_sample_is_not_an_ecg():
    pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    if path is None:
        pytest.skip("pydicom's test data (CT_small.dcm) is not installed")
    with pytest.raises(
        GemError, match=r"CT_small.dcm is a DICOM CT Image Storage object, not an ECG waveform"
    ):
        load_ecg(path)


def test_dcm_that_is_not_dicom(tmp_path):
    path = tmp_path / "notes.dcm"
    path.write_text("these are not DICOM bytes " * 20)
    with pytest.raises(GemError) as err:
        load_ecg(path)
    assert (
        _one_line(err)
        == "notes.dcm is not a DICOM file; expected a DICOM 12-Lead ECG or General ECG Waveform Storage object"
    )


def test_xml_of_another_schema(tmp_path):
    path = tmp_path / "drawing.xml"
    path.write_text('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>')
    with pytest.raises(GemError) as err:
        load_ecg(path)
    assert _one_line(err) == (
        "drawing.xml is XML of another kind (root element <svg>); expected an ECG export: "
        "HL7 aECG <AnnotatedECG>, Philips <restingecgdata> or GE MUSE <RestingECG>"
    )


def test_hdf5_without_tracings(tmp_path):
    import h5py

    path = tmp_path / "signals.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("signals", data=np.zeros((2, 100, 12), dtype=np.float32))
        f.create_dataset("labels", data=np.zeros(2))
    with pytest.raises(GemError) as err:
        load_ecg(path)
    assert _one_line(err) == (
        "signals.h5 has no 'tracings' dataset (it holds: labels, signals); expected a CODE-15% HDF5 file "
        "with 'tracings' (N, 4096, 12) at 400 Hz and 'exam_id' (N,)"
    )


def test_h5_that_is_not_hdf5(tmp_path):
    path = tmp_path / "x.hdf5"
    path.write_bytes(b"\0" * 64)
    with pytest.raises(GemError, match=r"^x.hdf5 is not an HDF5 file; expected a CODE-15% HDF5 file"):
        load_ecg(path)


def test_tracings_of_the_wrong_shape(tmp_path):
    import h5py

    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("tracings", data=np.zeros((2, 4096, 8), dtype=np.float32))
    with pytest.raises(GemError, match=r"'tracings' is float32 \(2, 4096, 8\); expected a CODE-15%"):
        load_ecg(path)


# --------------------------------------------------------------------------------------- damaged files


def test_xml_with_entities_is_not_expanded(tmp_path):
    path = tmp_path / "lol.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        "<RestingECG>&b;</RestingECG>"
    )
    with pytest.raises(GemError, match=r"lol.xml uses XML entities or a DTD .* not read for safety"):
        load_ecg(path)


def test_truncated_xml(tmp_path, src):
    path = write_muse(tmp_path / "m.xml", src)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(GemError, match=r"m.xml is not well-formed XML .*; upload the complete file"):
        load_ecg(path)


def test_dicom_with_truncated_waveform_data(tmp_path, src):
    import pydicom

    path = write_dicom(tmp_path / "t.dcm", src)
    ds = pydicom.dcmread(path)
    ds.WaveformSequence[0].WaveformData = ds.WaveformSequence[0].WaveformData[:5000]
    ds.save_as(path)
    with pytest.raises(
        GemError, match=r"t.dcm is truncated: waveform group 'RHYTHM' declares 12 channels x 5000 samples"
    ):
        load_ecg(path)


def test_muse_lead_shorter_than_declared(tmp_path, src):
    path = write_muse(tmp_path / "m.xml", src, median=False)
    text = path.read_text(encoding="latin-1")
    first = text.index("<WaveFormData>") + len("<WaveFormData>")
    end = text.index("</WaveFormData>", first)
    text = text[:first] + base64.b64encode(b"\0\0" * 100).decode() + text[end:]
    path.write_text(text, encoding="latin-1")
    with pytest.raises(GemError, match=r"m.xml is truncated or inconsistent: lead 'I' declares 5000 samples"):
        load_ecg(path)


# ------------------------------------------------------------------- declared sizes, before allocating


def _small_limits() -> Settings:
    return Settings(max_samples=20_000, max_record_s=30.0)


def test_dicom_declaring_a_billion_samples(tmp_path, src):
    import pydicom

    path = write_dicom(tmp_path / "big.dcm", src, median=False)
    ds = pydicom.dcmread(path)
    ds.WaveformSequence[0].NumberOfWaveformSamples = 1_000_000_000
    ds.save_as(path)
    with pytest.raises(GemError, match=r"big.dcm declares 1000000000 samples per channel, above the limit"):
        load_ecg(path)


def test_aecg_philips_muse_past_the_limits(tmp_path):
    long = synthetic_ecg(heart_rate=60, duration_s=50, fs=500)  # 25,000 samples > 20,000
    for path in (
        write_aecg(tmp_path / "a.xml", long),
        write_philips(tmp_path / "p.xml", long, compressed=False),
        write_muse(tmp_path / "m.xml", long, median=False),
    ):
        with pytest.raises(
            GemError, match=rf"{path.name} declares 25000 samples per channel, above the limit of 20000"
        ):
            load_ecg(path, settings=_small_limits())


def test_philips_declared_duration_checked_before_decoding(tmp_path, src):
    path = write_philips(tmp_path / "p.xml", src, compressed=True)
    text = path.read_text().replace('durationperchannel="10000"', 'durationperchannel="3600000000"')
    path.write_text(text)
    t0 = time.perf_counter()
    with pytest.raises(GemError, match=r"p.xml declares 1800000000 samples per channel"):
        load_ecg(path)
    assert time.perf_counter() - t0 < 1.0  # refused from the header, nothing decoded


def test_code15_declaring_huge_tracings(tmp_path):
    import h5py

    path = tmp_path / "huge.h5"
    with h5py.File(
        path, "w"
    ) as f:  # 1 exam x 10 million samples x 12, chunked: nothing written, 480 MB declared
        f.create_dataset("tracings", shape=(1, 10_000_000, 12), dtype=np.float32, chunks=(1, 4096, 12))
        f.create_dataset("exam_id", data=np.array([5]))
    with pytest.raises(GemError, match=r"huge.h5 declares 10000000 samples per channel, above the limit"):
        load_ecg(path)


def test_code15_too_many_exams_for_load_ecgs(tmp_path):
    exams = {i: at_400_hz(synthetic_ecg(duration_s=10)) for i in range(1, 4)}
    path = write_code15(tmp_path / "part.h5", exams)
    from gem_core.ecg import load_ecgs

    with pytest.raises(
        GemError, match=r"part.h5 lists 3 entries, above the limit of 2 \(GEM_MAX_ZIP_MEMBERS\)"
    ):
        load_ecgs(path, settings=Settings(max_zip_members=2))
    assert load_ecg(path, settings=Settings(max_zip_members=2), record="3").metadata["exam_id"] == "3"


def test_cli_one_error_line_for_an_xml_of_another_kind(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_text("<rss><channel/></rss>")
    res = subprocess.run(
        [sys.executable, "-m", "gem_core.ecg", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        "error: feed.xml is XML of another kind (root element <rss>); expected an ECG export: "
        "HL7 aECG <AnnotatedECG>, Philips <restingecgdata> or GE MUSE <RestingECG>"
    ]


# ------------------------------------------------------------------------------------------------ fuzz


def _mutants(data: bytes, seed: int, count: int):
    """Seeded mutations: flipped bytes, truncations, a deleted or a repeated span."""
    rng = random.Random(seed)
    for _ in range(count):
        b = bytearray(data)
        kind = rng.choice(("flip", "flip", "truncate", "delete", "repeat"))
        if kind == "flip":
            for _ in range(rng.randint(1, 24)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif kind == "truncate":
            b = b[: rng.randrange(1, len(b))]
        else:
            i = rng.randrange(len(b))
            j = min(len(b), i + rng.randint(1, 400))
            b = b[:i] + b[j:] if kind == "delete" else b[:j] + b[i:j] + b[j:]
        yield bytes(b)


def _short():
    return synthetic_ecg(heart_rate=75, duration_s=4, fs=250)


FUZZ = {
    "dicom": (lambda p: write_dicom(p.with_suffix(".dcm"), _short()), ".dcm"),
    "aecg": (lambda p: write_aecg(p.with_suffix(".xml"), _short()), ".xml"),
    "philips-xli": (lambda p: write_philips(p.with_suffix(".xml"), _short(), compressed=True), ".xml"),
    "muse": (lambda p: write_muse(p.with_suffix(".xml"), _short()), ".xml"),
    "code15": (lambda p: write_code15(p.with_suffix(".h5"), {1: at_400_hz(_short(), 4.0)}), ".h5"),
}


@pytest.mark.parametrize("fmt", list(FUZZ))
def test_fuzzed_files_load_or_fail_cleanly(tmp_path, fmt):
    """60 seeded mutants per format, at most ~20 s: each loads as an ECG or raises GemError."""
    write, suffix = FUZZ[fmt]
    good = write(tmp_path / "good").read_bytes()
    outcomes = {"loaded": 0, "refused": 0}
    deadline = time.monotonic() + 20.0
    for k, data in enumerate(_mutants(good, seed=zlib.crc32(fmt.encode()), count=60)):
        if time.monotonic() > deadline:
            break
        path = tmp_path / f"m{k}{suffix}"
        path.write_bytes(data)
        try:
            ecg = load_ecg(path)
        except GemError as err:
            assert str(err) and "\n" not in str(err)
            outcomes["refused"] += 1
        else:
            assert ecg.signal.shape[0] == 12 and ecg.signal.dtype == np.float32
            outcomes["loaded"] += 1
    assert outcomes["refused"] > 0 and sum(outcomes.values()) >= 20, outcomes


# ------------------------------------------------------------------------------------ patient identifiers

WRITERS = {
    "dicom": lambda d, e: write_dicom(d / "ecg.dcm", e),
    "aecg": lambda d, e: write_aecg(d / "ecg.xml", e),
    "philips": lambda d, e: write_philips(d / "ecg.xml", e),
    "muse": lambda d, e: write_muse(d / "ecg.xml", e),
}


def _everything_written(store: Store, tmp_path, ecg: ECG, caplog) -> str:
    """The store's database file, every export, the logs and what the CLI/app show, as one text."""
    admin = store.create_rater("admin", "admin-password", role="admin")
    case = store.add_case(ecg, source=f"upload:{ecg.record_id}")
    good = store.add_interpretation(case, "gem", "Sinus rhythm at 75 bpm.", question="Interpret this ECG.")
    poor = store.add_interpretation(case, "baseline", "Abnormal ECG.", question="Interpret this ECG.")
    for interp, score in ((good, 5), (poor, 2)):
        store.submit_rating(
            admin, interp, {m: score for m in METRIC_NAMES}, idempotency_key=str(uuid.uuid4())
        )
    outputs = []
    for fmt, name in (("csv", "all.csv"), ("kto", "kto.jsonl"), ("dpo", "dpo.jsonl")):
        res = store.export(admin, fmt, tmp_path / name)
        outputs.append(res.path.read_text(encoding="utf-8"))
    assert json.loads(outputs[2].splitlines()[0])  # the DPO export holds a pair, so case metadata went out
    store.engine.dispose()
    db = b"".join(p.read_bytes() for p in tmp_path.glob("store.sqlite3*"))
    return "\n".join([db.decode("latin-1"), *outputs, caplog.text, json.dumps(summary(ecg)), repr(ecg)])


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_identifiers_reach_no_store_export_or_log(tmp_path, caplog, src, fmt):
    caplog.set_level(logging.DEBUG)
    settings = Settings(data_dir=tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    path = WRITERS[fmt](folder, src)
    named = path.rename(folder / f"{IDENTIFIERS['last']}_{IDENTIFIERS['patient_id']}{path.suffix}")
    ecg = load_ecg(named, settings=settings)
    assert ecg.metadata["age"] == 73 and ecg.metadata["sex"] == "female"  # kept
    assert ecg.record_id.startswith("ecg-") and "file name" in ecg.report["dropped_metadata"]
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}", settings=settings)
    written = _everything_written(store, tmp_path, ecg, caplog).lower()
    leaked = [s for s in identifier_strings() if s.lower() in written]
    assert leaked == []


def test_identifiers_are_stored_when_the_deployment_allows(tmp_path, caplog, src):
    """The same search finds them when GEM_STORE_PATIENT_FIELDS is on (so the check above can fail)."""
    settings = Settings(data_dir=tmp_path, store_patient_fields=True)
    ecg = load_ecg(write_dicom(tmp_path / "ecg.dcm", src), settings=settings)
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}", settings=settings)
    written = _everything_written(store, tmp_path, ecg, caplog).lower()
    assert IDENTIFIERS["last"].lower() in written and IDENTIFIERS["patient_id"].lower() in written


def test_pdf_named_xml(tmp_path):
    path = tmp_path / "ecg.xml"
    path.write_bytes(b"%PDF-1.4 something")
    with pytest.raises(GemError, match=r"^ecg.xml is not well-formed XML \(.*\); upload the complete file$"):
        load_ecg(path)
