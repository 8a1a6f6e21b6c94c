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
    SYNTHETIC_SOURCE,
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


# What a normal ECG measures (AHA/ACCF/HRS 2009): PR 120-200 ms, QRS under 110 ms, QTc 380-450 ms, QRS
# axis 0-90 degrees. The measurement-based interpreter may name the rate (SB < 60 bpm, STach > 100 bpm,
# its own limits) and nothing else: no AV block, bundle branch block, ST/T change, hypertrophy, ...
EXPECTED_LABELS = {
    45: ["SB", "Normal"],
    60: ["Normal"],
    75: ["Normal"],
    100: ["Normal"],
    120: ["STach", "Normal"],
    150: ["STach", "Normal"],
}


def test_expected_labels_cover_the_gallery():
    assert set(EXPECTED_LABELS) == set(SYNTHETIC_RATES)


@pytest.mark.parametrize("rate", SYNTHETIC_RATES)
def test_synthetic_ecg_measures_as_normal_sinus_rhythm(rate):
    from gem_core.features import measure

    m = measure(synthetic_ecg(rate))
    g = m.global_values
    assert abs(g["heart_rate_bpm"] - rate) <= 2.0, g["heart_rate_bpm"]
    assert 120 <= g["pr_ms"] <= 200, g["pr_ms"]
    assert 70 <= g["qrs_ms"] <= 110, g["qrs_ms"]
    assert 380 <= g["qtc_ms"] <= 450, g["qtc_ms"]
    assert 0 <= g["qrs_axis_deg"] <= 90, g["qrs_axis_deg"]
    assert set(g["quality"].values()) == {"ok"}, g["quality"]
    assert g["p_wave_fraction"] >= 0.85 and g["rr_irregularity"] < 0.05
    assert m.premature_beats == []
    assert not g["voltage"]["low_voltage_limb"] and not g["voltage"]["low_voltage_precordial"]
    assert g["voltage"]["sokolow_lyon_mv"] < 3.5 and g["voltage"]["cornell_mv"] < 2.0


@pytest.mark.parametrize("rate", [45, 75, 120])
def test_synthetic_ecg_has_a_normal_morphology(rate):
    """Upright P in I, II, aVF and inverted in aVR; T upright in I, II, V2-V6 and inverted in aVR; R-wave
    progression from rS in V1 to qR in V6 with the transition (R = S) at V3/V4; ST near the baseline."""
    from gem_core.features import measure
    from gem_core.rules import lead_median

    m = measure(synthetic_ecg(rate))

    def med(lead, feature):
        return lead_median(m, lead, feature)

    assert all(med(lead, "p_amplitude") >= 0.05 for lead in ("I", "II", "aVF"))
    assert med("aVR", "p_amplitude") <= -0.05 and med("aVR", "t_amplitude") <= -0.1
    assert all(med(lead, "t_amplitude") >= 0.15 for lead in ("I", "II", "V2", "V3", "V4", "V5", "V6"))
    ratio = {
        lead: med(lead, "r_amplitude") / med(lead, "s_amplitude") for lead in ("V1", "V2", "V3", "V4", "V6")
    }
    assert ratio["V1"] < 0.5 and ratio["V2"] < 0.5 and 0.7 <= ratio["V3"] <= 1.3 and ratio["V4"] > 2
    assert ratio["V6"] > 5
    r = [med(lead, "r_amplitude") for lead in ("V1", "V2", "V3", "V4")]
    assert r == sorted(r)
    assert all(abs(v) < 0.1 for v in m.global_values["st_deviation_mv"].values())
    assert 30 <= m.global_values["p_axis_deg"] <= 75 and 15 <= m.global_values["t_axis_deg"] <= 75


@pytest.mark.parametrize("rate", SYNTHETIC_RATES)
def test_interpreter_reads_synthetic_ecgs_as_normal_and_grounding_supports_it(rate):
    from gem_core.backends.measure import MeasureInterpreter
    from gem_core.features import measure
    from gem_core.grounding import ground
    from gem_core.rules import BRADYCARDIA_BPM, TACHYCARDIA_BPM

    ecg = synthetic_ecg(rate)
    reading = MeasureInterpreter().interpret(ecg)
    labels = [entry["label"] for entry in reading.labels]
    assert labels == EXPECTED_LABELS[rate], reading.text
    hr = measure(ecg).global_values["heart_rate_bpm"]  # the rate label follows the interpreter's limits
    assert ("SB" in labels) == (hr < BRADYCARDIA_BPM) and ("STach" in labels) == (hr > TACHYCARDIA_BPM)
    claims = ground(reading.text, measure(ecg), final=True)
    assert claims and {c["verdict"] for c in claims} == {"supported"}, [
        (c["text"], c["verdict"], c["measured"]) for c in claims if c["verdict"] != "supported"
    ]


def test_synthetic_ecg_is_deterministic_with_an_exact_mean_rate():
    from gem_core.samples import _simulate

    first = synthetic_ecg(75).signal
    _simulate.cache_clear()
    assert np.array_equal(first, synthetic_ecg(75).signal)  # recomputed, not the cached array
    assert not np.array_equal(first, synthetic_ecg(75, seed=1).signal)  # the seed moves RR and noise
    assert synthetic_ecg(75).metadata["source"] == SYNTHETIC_SOURCE
    for fs, duration in ((250, 10.0), (500, 25.0), (1000, 7.5)):
        ecg = synthetic_ecg(64, duration_s=duration, fs=fs)
        assert ecg.signal.shape == (12, round(fs * duration)) and ecg.fs == fs
    with pytest.raises(GemError, match="10-300 bpm"):
        synthetic_ecg(0)


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
    assert [s.name for s in default_sources(Settings())] == ["synthetic", "demo"]
    sources = default_sources(Settings(samples_dir=str(folder), ptbxl_dir=str(ptbxl)))
    assert [s.name for s in sources] == ["synthetic", "demo", "folder", "ptbxl"]
    ids = [info.id for s in sources for info in s.list()]
    assert len(ids) == len(set(ids))
    assert load_sample("ptbxl:1", sources).record_id == "ptbxl-1"
    assert load_sample("folder:arr.npy", sources).record_id == "arr"
    with pytest.raises(GemError, match="unknown sample 'mimic:1'"):
        load_sample("mimic:1", sources)


def test_default_sources_read_the_environment(monkeypatch, folder):
    monkeypatch.setenv("GEM_SAMPLES_DIR", str(folder))
    monkeypatch.delenv("GEM_PTBXL_DIR", raising=False)
    assert [s.name for s in default_sources()] == ["synthetic", "demo", "folder"]


def test_a_bad_source_setting_raises_or_is_reported(tmp_path, folder):
    bad = Settings(samples_dir=str(tmp_path / "missing"), ptbxl_dir=str(folder))  # folder: not a PTB-XL tree
    with pytest.raises(GemError, match="does not exist"):
        default_sources(bad)
    problems: list[str] = []
    assert [s.name for s in default_sources(bad, problems=problems)] == ["synthetic", "demo"]
    assert [p.split("=")[0] for p in problems] == ["GEM_SAMPLES_DIR", "GEM_PTBXL_DIR"]
    assert "does not exist" in problems[0] and "ptbxl_database.csv is missing" in problems[1]


# ------------------------------------------------------------------ demo records of findings
DEMO_EXPECT = {  # kind -> (labels the rules must give, labels they may add)
    "af": ({"AF"}, set()),
    "pvc": ({"PVC"}, set()),
    "pac": ({"PAC"}, set()),
    "rbbb": ({"RBBB"}, set()),
    "lbbb": ({"LBBB"}, set()),
    "avb1": ({"I-AVB"}, set()),
    "ste": ({"STE"}, set()),
    "std": ({"STD"}, set()),
    "brady": ({"SB"}, {"Normal"}),
    "tachy": ({"STach"}, {"Normal"}),
    "lowv": ({"LQRSV"}, set()),
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", sorted(DEMO_EXPECT))
def test_each_demo_record_measures_as_what_it_was_built_to_show(kind, seed):
    """gem_core.features.measure and gem_core.rules find the finding each record was built for, and
    nothing else."""
    from gem_core.features import measure
    from gem_core.rules import assess
    from gem_core.samples import DEMO_RECORDS, demo_ecg

    ecg = demo_ecg(kind, seed=seed)
    assert ecg.signal.shape == (12, 5000) and ecg.metadata["synthetic"] is True
    assert ecg.metadata["labels"] == list(DEMO_RECORDS[kind][1])
    m = measure(ecg)
    labels = set(assess(m).diagnosis_labels)
    must, may = DEMO_EXPECT[kind]
    assert must <= labels <= must | may, labels
    g = m.global_values
    if kind == "af":
        assert g["p_wave_fraction"] < 0.5 and g["rr_sd_ms"] / g["rr_ms"] > 0.1
    if kind in ("pvc", "pac"):
        found = [(b["kind"], b["qrs"]) for b in m.premature_beats]
        assert found == [(kind.upper(), "wide" if kind == "pvc" else "narrow")] * 2
    if kind == "rbbb":
        assert g["qrs_ms"] >= 120
    if kind == "lbbb":
        assert g["qrs_ms"] >= 140
    if kind == "avb1":
        assert g["pr_ms"] > 200
    if kind == "brady":
        assert g["heart_rate_bpm"] < 60
    if kind == "tachy":
        assert g["heart_rate_bpm"] > 100
    if kind == "lowv":
        v = m.voltage if hasattr(m, "voltage") else g
        assert v.get("low_voltage_limb", True) and v.get("low_voltage_precordial", True)


def test_the_gallery_offers_the_demo_records_labelled_synthetic():
    from gem_core.samples import DEMO_RECORDS, default_sources, load_sample

    sources = default_sources(Settings())
    infos = [i for s in sources for i in s.list() if i.source == "demo"]
    assert {i.id for i in infos} == {f"demo:{k}" for k in DEMO_RECORDS}
    assert all(i.title.startswith("Synthetic") and "not a patient" in i.description for i in infos)
    assert load_sample("demo:af", sources).record_id == "synthetic-af"
    with pytest.raises(GemError, match="no demo record"):
        load_sample("demo:nope", sources)
