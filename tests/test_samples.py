"""gem_core.samples: the synthetic gallery, a folder of records and a PTB-XL tree behind one interface."""

from __future__ import annotations

import csv
import shutil
import zipfile

import numpy as np
import pytest
import wfdb

from gem_core.ecg import LEADS, load_ecg
from gem_core.errors import GemError
from gem_core.samples import (
    SYNTHETIC_RATES,
    FolderSource,
    PtbxlSource,
    SampleInfo,
    SyntheticSource,
    default_sources,
    load_sample,
    synthetic_ecg,
)
from gem_core.settings import Settings

PTBXL_COLUMNS = [
    "ecg_id",
    "patient_id",
    "age",
    "sex",
    "nurse",
    "report",
    "scp_codes",
    "filename_lr",
    "filename_hr",
]


def wrsamp(folder, name, ecg, comments=None):
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(
        name, fs=ecg.fs, units=["mV"] * 12, sig_name=list(LEADS), p_signal=ecg.signal.T.astype(np.float64),
        fmt=["16"] * 12, comments=comments or [], write_dir=str(folder),
    )  # fmt: skip
    return folder / f"{name}.hea"


# ------------------------------------------------------------------------------------------ synthetic


def test_synthetic_gallery_lists_several_heart_rates():
    infos = SyntheticSource().list()
    assert [i.id for i in infos] == [f"synthetic:{hr}bpm" for hr in SYNTHETIC_RATES]
    assert all(isinstance(i, SampleInfo) and i.source == "synthetic" and i.fs == 500 for i in infos)
    assert infos[0].labels == ("sinus bradycardia",) and infos[-1].labels == ("sinus tachycardia",)


def test_synthetic_samples_are_deterministic_and_at_their_rate():
    import neurokit2 as nk

    source = SyntheticSource(rates=(60, 120))
    a, b = source.load("synthetic:120bpm"), source.load("synthetic:120bpm")
    assert a.content_hash == b.content_hash and a.signal is not b.signal
    for hr in (60, 120):
        ecg = source.load(f"synthetic:{hr}bpm")
        peaks = nk.ecg_peaks(ecg.lead("I"), sampling_rate=500)[1]["ECG_R_Peaks"]
        assert abs(60 / np.median(np.diff(peaks) / 500) - hr) < 0.1 * hr
        assert ecg.metadata["labels"] and ecg.signal.shape == (12, 5000)


def test_synthetic_limb_leads_obey_einthoven_and_goldberger():
    ecg = synthetic_ecg(heart_rate=75)
    i, ii = ecg.lead("I"), ecg.lead("II")
    np.testing.assert_allclose(ecg.lead("III"), ii - i, atol=1e-6)
    np.testing.assert_allclose(ecg.lead("aVR") + ecg.lead("aVL") + ecg.lead("aVF"), 0, atol=1e-5)


def test_synthetic_unknown_id():
    with pytest.raises(GemError, match="no synthetic sample 'synthetic:33bpm'"):
        SyntheticSource().load("synthetic:33bpm")
    with pytest.raises(GemError, match="does not belong to the 'synthetic' samples"):
        SyntheticSource().load("ptbxl:1")


# --------------------------------------------------------------------------------------------- folder


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "samples"
    wrsamp(root / "wfdb", "af1", synthetic_ecg(heart_rate=120), ["Age: 60", "Sex: Male", "Dx: AF"])
    np.save(root / "arr.npy", synthetic_ecg(heart_rate=60).signal)
    with zipfile.ZipFile(root / "pack.zip", "w") as zf:
        zf.writestr("x.csv", ",".join(LEADS) + "\n" + "\n".join(",".join(["0.1"] * 12) for _ in range(600)))
    (root / "wfdb" / "notes.txt").write_text("not a record")
    return root


def test_folder_lists_records_without_reading_signals(folder):
    infos = FolderSource(folder).list()
    assert [i.id for i in infos] == ["folder:arr.npy", "folder:pack.zip", "folder:wfdb/af1.hea"]
    af = infos[2]
    assert af.labels == ("AF",) and af.label_system == "CPSC2018" and af.title == "af1"


def test_folder_loads_each_listed_record(folder):
    source = FolderSource(folder)
    ecgs = {info.id: source.load(info.id) for info in source.list()}
    assert ecgs["folder:wfdb/af1.hea"].metadata["labels"] == ["AF"]
    assert ecgs["folder:arr.npy"].fs == 500 and ecgs["folder:pack.zip"].n_samples == 600
    np.testing.assert_array_equal(ecgs["folder:arr.npy"].signal, synthetic_ecg(heart_rate=60).signal)


def test_folder_rejects_ids_outside_it(folder):
    with pytest.raises(GemError, match="outside the sample folder"):
        FolderSource(folder).load("folder:../secret.npy")
    with pytest.raises(GemError, match="no sample 'folder:gone.npy'"):
        FolderSource(folder).load("folder:gone.npy")


def test_folder_must_exist(tmp_path):
    with pytest.raises(GemError, match="set GEM_SAMPLES_DIR"):
        FolderSource(tmp_path / "nowhere")


# --------------------------------------------------------------------------------------------- PTB-XL


def write_database(root, rows):
    root.mkdir(parents=True, exist_ok=True)
    with (root / "ptbxl_database.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=PTBXL_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def ptbxl(tmp_path):
    """A two-record PTB-XL tree (plus a row whose files are absent) written by the test."""
    root = tmp_path / "ptbxl"
    rows = []
    for ecg_id, hr, report, codes in [
        (1, 60, "sinusrhythmus normales ekg", "{'NORM': 100.0, 'SR': 0.0}"),
        (2, 120, "sinus tachycardia. lvh.", "{'SR': 0.0, 'LVH': 50.0, 'STACH': 100.0}"),
        (3, 60, "no files for this one", "{'NORM': 100.0}"),
    ]:
        name = f"{ecg_id:05d}"
        rows.append(
            dict(ecg_id=ecg_id, patient_id=1000 + ecg_id, age=50 + ecg_id, sex=ecg_id % 2, nurse=3, report=report,
                 scp_codes=codes, filename_lr=f"records100/00000/{name}_lr", filename_hr=f"records500/00000/{name}_hr")
        )  # fmt: skip
        if ecg_id < 3:
            ecg = synthetic_ecg(heart_rate=hr, fs=500)
            wrsamp(root / "records500" / "00000", f"{name}_hr", ecg)
            low = type(ecg)(ecg.signal[:, ::5], fs=100)
            wrsamp(root / "records100" / "00000", f"{name}_lr", low)
    write_database(root, rows)
    return root


def test_ptbxl_lists_present_records_with_report_and_labels(ptbxl):
    infos = PtbxlSource(ptbxl).list()
    assert [i.id for i in infos] == ["ptbxl:1", "ptbxl:2"]
    assert infos[1].labels == ("STACH", "LVH", "SR") and infos[1].label_system == "SCP-ECG"
    assert infos[1].description == "sinus tachycardia. lvh." and infos[1].fs == 500


def test_ptbxl_loads_500_or_100_hz(ptbxl):
    ecg = PtbxlSource(ptbxl).load("ptbxl:2")
    assert ecg.fs == 500 and ecg.record_id == "ptbxl-2"
    assert ecg.metadata["report_text"] == "sinus tachycardia. lvh."
    assert ecg.metadata["scp_codes"] == {"SR": 0.0, "LVH": 50.0, "STACH": 100.0}
    assert ecg.metadata["age"] == 52 and ecg.metadata["sex"] == "male"
    assert "patient_fields" not in ecg.metadata and "patient_id" not in repr(ecg.metadata)
    low = PtbxlSource(ptbxl, sampling=100).load("ptbxl:2")
    assert low.fs == 100 and low.n_samples == 1000


def test_ptbxl_keeps_patient_fields_only_when_allowed(ptbxl):
    ecg = PtbxlSource(ptbxl, settings=Settings(store_patient_fields=True)).load("ptbxl:1")
    assert ecg.metadata["patient_fields"]["patient_id"] == "1001" and ecg.metadata["sex"] == "female"


def test_ptbxl_falls_back_to_the_other_rate(ptbxl):
    shutil.rmtree(ptbxl / "records500")
    assert PtbxlSource(ptbxl).load("ptbxl:1").fs == 100


def test_ptbxl_bad_ids_and_trees(ptbxl, tmp_path):
    with pytest.raises(GemError, match="no PTB-XL record 'ptbxl:3'"):
        PtbxlSource(ptbxl).load("ptbxl:3")
    with pytest.raises(GemError, match="ptbxl_database.csv is missing"):
        PtbxlSource(tmp_path)
    with pytest.raises(GemError, match="100 or 500"):
        PtbxlSource(ptbxl, sampling=250)


def test_ptbxl_with_the_real_record_and_metadata(shared_ecg_dir, tmp_path):
    """The real PTB-XL rows and the native 100 Hz record 00001_lr, arranged as a PTB-XL tree."""
    root = tmp_path / "ptbxl"
    (root / "records100" / "00000").mkdir(parents=True)
    shutil.copy(shared_ecg_dir / "ptbxl_metadata" / "ptbxl_database_subset.csv", root / "ptbxl_database.csv")
    for suffix in (".hea", ".dat"):
        shutil.copy(shared_ecg_dir / "ecg_image_kit" / f"00001_lr{suffix}", root / "records100" / "00000")
    source = PtbxlSource(root)
    [info] = source.list()
    assert info.id == "ptbxl:1" and info.labels == ("NORM", "LVOLT", "SR")
    assert info.description == "sinusrhythmus periphere niederspannung"
    ecg = source.load(info.id)
    assert ecg.fs == 100 and ecg.metadata["age"] == 56 and ecg.metadata["sex"] == "female"
    np.testing.assert_array_equal(
        ecg.signal, load_ecg(shared_ecg_dir / "ecg_image_kit" / "00001_lr.hea").signal
    )


# ------------------------------------------------------------------------------------------ registry


def test_default_sources_follow_settings(folder, ptbxl):
    assert [s.name for s in default_sources(Settings())] == ["synthetic"]
    sources = default_sources(Settings(samples_dir=str(folder), ptbxl_dir=str(ptbxl)))
    assert [s.name for s in sources] == ["synthetic", "folder", "ptbxl"]
    ids = [info.id for s in sources for info in s.list()]
    assert len(ids) == len(set(ids))
    assert load_sample("ptbxl:1", sources).record_id == "ptbxl-1"
    assert load_sample("folder:arr.npy", sources).record_id == "arr"
    with pytest.raises(GemError, match="unknown sample 'mimic:1'"):
        load_sample("mimic:1", sources)


def test_default_sources_read_the_environment(monkeypatch, folder):
    monkeypatch.setenv("GEM_SAMPLES_DIR", str(folder))
    monkeypatch.delenv("GEM_PTBXL_DIR", raising=False)
    assert [s.name for s in default_sources()] == ["synthetic", "folder"]


def test_a_bad_source_setting_raises_or_is_reported(tmp_path, folder):
    bad = Settings(samples_dir=str(tmp_path / "missing"), ptbxl_dir=str(folder))  # folder: not a PTB-XL tree
    with pytest.raises(GemError, match="does not exist"):
        default_sources(bad)
    problems: list[str] = []
    assert [s.name for s in default_sources(bad, problems=problems)] == ["synthetic"]
    assert [p.split("=")[0] for p in problems] == ["GEM_SAMPLES_DIR", "GEM_PTBXL_DIR"]
    assert "does not exist" in problems[0] and "ptbxl_database.csv is missing" in problems[1]
