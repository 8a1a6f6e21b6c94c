"""gem_core.ecg: loading every format into the canonical 12-lead ECG, and GEM's model input."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import wfdb
from scipy.signal import resample_poly

from gem_core.ecg import (
    ECG,
    LEADS,
    MODEL_SAMPLES,
    canonical_lead,
    load_ecg,
    load_ecgs,
    resample_factors,
    to_model_input,
)
from gem_core.errors import GemError
from gem_core.samples import synthetic_ecg
from gem_core.settings import Settings
from tests.conftest import SHARED_ECG, shared_records

SHUFFLED = ["V6", "avr", "II", "AVL", "v1", "I", "aVF", "V2", "III", "V3", "V4", "V5"]
SPACED = [
    "V6",
    "avr",
    "II",
    "AVL",
    "V1 ",
    "lead I",
    "aVF",
    "V2",
    "III",
    "V3",
    "V4",
    "V5",
]  # not allowed in WFDB


@pytest.fixture(scope="module")
def ecg75() -> ECG:
    return synthetic_ecg(heart_rate=75, duration_s=10, fs=500)


def write_wfdb(folder, name, ecg: ECG, names=None, fmt="16", units="mV", scale=1.0):
    """Write ``ecg`` (optionally renamed/reordered leads, other units) with wfdb.wrsamp; return the .hea."""
    names = names or list(LEADS)
    order = [LEADS.index(canonical_lead(n)) if canonical_lead(n) else 0 for n in names]
    sig = ecg.signal[order].T.astype(np.float64) * scale
    wfdb.wrsamp(
        name,
        fs=ecg.fs,
        units=[units] * len(names),
        sig_name=names,
        p_signal=sig,
        fmt=[fmt] * len(names),
        write_dir=str(folder),
    )
    return folder / f"{name}.hea"


# ------------------------------------------------------------------------------------- real records


@pytest.mark.parametrize("hea", shared_records(), ids=lambda p: p.stem)
def test_every_shared_record_matches_wfdb(hea):
    """Each real record: 12 canonical leads, wfdb's rate, and wfdb's physical values in the matching lead."""
    ecg = load_ecg(hea)
    rec = wfdb.rdrecord(str(hea.with_suffix("")))
    assert ecg.signal.shape == (12, rec.sig_len) and ecg.signal.dtype == np.float32
    assert ecg.leads == LEADS and ecg.fs == rec.fs
    seen = set()
    for ch, name in enumerate(rec.sig_name):
        lead = canonical_lead(name)
        if lead is None:
            continue
        seen.add(lead)
        np.testing.assert_allclose(ecg.lead(lead), rec.p_signal[:, ch], rtol=0, atol=1e-5)
    assert seen == set(LEADS)
    assert ecg.report["fs_original"] == rec.fs and ecg.report["len_original"] == rec.sig_len


def test_shared_folder_has_104_records(shared_ecg_dir):
    assert len(shared_records()) == 104


def test_ptb_15_channels_keep_the_12_leads(shared_ecg_dir):
    ecg = load_ecg(shared_ecg_dir / "ptbdb_wfdb_python" / "s0010_re.hea")
    assert ecg.signal.shape == (12, 38400) and ecg.fs == 1000
    assert ecg.report["dropped_channels"] == ["vx", "vy", "vz"]
    assert ecg.metadata == {"age": 81, "sex": "female"}  # clinical free text is not kept by default
    assert "Medication pre admission" in ecg.report["dropped_metadata"]


def test_ptb_clinical_fields_kept_only_when_allowed(shared_ecg_dir):
    ecg = load_ecg(
        shared_ecg_dir / "ptbdb_wfdb_python" / "s0010_re.hea", settings=Settings(store_patient_fields=True)
    )
    assert ecg.metadata["patient_fields"]["Smoker"] == "no"


def test_ptbxl_native_record_at_100_hz(shared_ecg_dir):
    ecg = load_ecg(shared_ecg_dir / "ecg_image_kit" / "00001_lr.hea")
    assert ecg.fs == 100 and ecg.n_samples == 1000
    assert ecg.report["original_leads"][3:6] == ["AVR", "AVL", "AVF"]
    x, rep = to_model_input(ecg)
    assert x.shape == (12, 5000) and rep["resampled"] and rep["resample_method"].endswith("(up=5, down=1)")
    assert not rep["cropped"] and not rep["padded"]


def test_cpsc_and_snomed_labels(shared_ecg_dir):
    cpsc = load_ecg(shared_ecg_dir / "cpsc2018" / "A0001.hea")
    assert cpsc.metadata == {"age": 74, "sex": "male", "labels": ["RBBB"], "label_system": "CPSC2018"}
    assert {"Rx", "Hx", "Sx", "recording date/time"} <= set(cpsc.report["dropped_metadata"])
    snomed = load_ecg(shared_ecg_dir / "cinc2021_torch_ecg" / "E07500.hea")
    assert snomed.metadata["labels"] == ["67741000119109", "426177001"]
    assert snomed.metadata["label_system"] == "SNOMED CT"


def test_signal_file_path_loads_through_its_header(shared_ecg_dir):
    by_mat = load_ecg(shared_ecg_dir / "cpsc2018" / "A0002.mat")
    by_stem = load_ecg(shared_ecg_dir / "cpsc2018" / "A0002")
    assert (
        by_mat.content_hash
        == by_stem.content_hash
        == load_ecg(SHARED_ECG / "cpsc2018" / "A0002.hea").content_hash
    )


# ------------------------------------------------------------------------------------------ round trips


WRSAMP_FORMATS = ["16", "212", "24", "32", "80", "508", "516", "524"]  # what wfdb.wrsamp can write


@pytest.mark.parametrize("fmt", WRSAMP_FORMATS)
def test_wfdb_roundtrip_every_format(tmp_path, ecg75, fmt):
    hea = write_wfdb(tmp_path, f"rt{fmt}", ecg75, names=SHUFFLED, fmt=fmt)
    ecg = load_ecg(hea)
    rec = wfdb.rdrecord(str(hea.with_suffix("")))
    for ch, name in enumerate(SHUFFLED):
        np.testing.assert_allclose(ecg.lead(name), rec.p_signal[:, ch], atol=1e-5)
    step = 1 / min(rec.adc_gain)  # quantisation of the format
    np.testing.assert_allclose(ecg.signal, ecg75.signal, atol=step)
    assert ecg.report["source_format"] == "wfdb" and ecg.report["original_leads"] == SHUFFLED


def _pack(frames: np.ndarray, fmt: str) -> bytes:
    """Frame-interleaved digital samples in a WFDB format that wfdb.wrsamp cannot write."""
    if fmt == "61":  # 16-bit big-endian two's complement
        return frames.astype(">i2").tobytes()
    if fmt == "160":  # 16-bit offset binary
        return (frames + 32768).astype("<u2").tobytes()
    u = (frames & 0x3FF).astype(np.uint32).reshape(-1, 3)  # 311: three 10-bit samples per 32-bit word
    return (u[:, 0] | (u[:, 1] << 10) | (u[:, 2] << 20)).astype("<u4").tobytes()


@pytest.mark.parametrize("fmt", ["61", "160", "311"])
def test_wfdb_roundtrip_hand_packed_formats(tmp_path, ecg75, fmt):
    digital = np.round(ecg75.signal.T * 200).astype(np.int64)  # 5 uV steps fit in 10 bits
    wfdb.wrsamp(
        "p", fs=500, units=["mV"] * 12, sig_name=list(LEADS), d_signal=digital.astype(np.int16),
        fmt=["16"] * 12, adc_gain=[200.0] * 12, baseline=[0] * 12, write_dir=str(tmp_path),
    )  # fmt: skip
    hea = tmp_path / "p.hea"
    hea.write_text(hea.read_text().replace("p.dat 16 ", f"p.dat {fmt} "))
    (tmp_path / "p.dat").write_bytes(_pack(digital.reshape(-1), fmt))
    ecg = load_ecg(hea)
    np.testing.assert_allclose(ecg.signal, wfdb.rdrecord(str(tmp_path / "p")).p_signal.T, atol=1e-5)
    np.testing.assert_allclose(ecg.signal, ecg75.signal, atol=0.0026)


def test_wfdb_microvolts_are_converted(tmp_path, ecg75):
    hea = write_wfdb(tmp_path, "uv", ecg75, units="uV", scale=1000.0)
    ecg = load_ecg(hea)
    np.testing.assert_allclose(ecg.signal, ecg75.signal, atol=2e-3)
    assert any("uv to mV" in w for w in ecg.report["warnings"])


def test_wfdb_challenge_comments_roundtrip(tmp_path, ecg75):
    wfdb.wrsamp(
        "dx",
        fs=500,
        units=["mV"] * 12,
        sig_name=list(LEADS),
        p_signal=ecg75.signal.T.astype(float),
        fmt=["16"] * 12,
        comments=["Age: 55", "Sex: Female", "Dx: AF,PVC", "Hx: diabetes"],
        write_dir=str(tmp_path),
    )
    ecg = load_ecg(tmp_path / "dx.hea")
    assert ecg.metadata == {"age": 55, "sex": "female", "labels": ["AF", "PVC"], "label_system": "CPSC2018"}
    assert "diabetes" not in repr(ecg.metadata) and ecg.report["dropped_metadata"] == ["Hx"]


def test_npy_both_orientations(tmp_path, ecg75):
    np.save(tmp_path / "a.npy", ecg75.signal)
    np.save(tmp_path / "b.npy", ecg75.signal.T.copy())
    for name in ("a.npy", "b.npy"):
        ecg = load_ecg(tmp_path / name, fs=500)
        np.testing.assert_array_equal(ecg.signal, ecg75.signal)
        assert ecg.report["source_format"] == "npy"


def test_npy_without_rate_assumes_500_and_warns(tmp_path, ecg75):
    np.save(tmp_path / "a.npy", ecg75.signal)
    ecg = load_ecg(tmp_path / "a.npy")
    assert ecg.fs == 500 and any("assumed 500 Hz" in w for w in ecg.report["warnings"])


def test_npy_microvolts_recognised(tmp_path, ecg75):
    np.save(tmp_path / "uv.npy", (ecg75.signal * 1000).astype(np.int16))
    ecg = load_ecg(tmp_path / "uv.npy", fs=500)
    np.testing.assert_allclose(ecg.signal, ecg75.signal, atol=1e-3)
    assert any("look like uV" in w for w in ecg.report["warnings"])


def test_npz_with_fs_and_lead_names(tmp_path, ecg75):
    order = [LEADS.index(canonical_lead(n)) for n in SPACED]
    np.savez(tmp_path / "r.npz", signal=ecg75.signal[order], fs=np.float64(500), leads=np.array(SPACED))
    ecg = load_ecg(tmp_path / "r.npz")
    np.testing.assert_array_equal(ecg.signal, ecg75.signal)
    assert ecg.fs == 500 and ecg.report["original_leads"] == SPACED and not ecg.report["warnings"]


def test_npz_compressed_single_array(tmp_path, ecg75):
    np.savez_compressed(tmp_path / "c.npz", ecg75.signal.T)
    ecg = load_ecg(tmp_path / "c.npz", fs=500)
    np.testing.assert_array_equal(ecg.signal, ecg75.signal)


def test_csv_with_time_column_in_seconds(tmp_path, ecg75):
    t = np.arange(ecg75.n_samples) / 500
    table = np.column_stack([t, ecg75.signal.T])
    np.savetxt(
        tmp_path / "r.csv", table, delimiter=",", header="time," + ",".join(LEADS), comments="", fmt="%.7g"
    )
    ecg = load_ecg(tmp_path / "r.csv")
    assert ecg.fs == 500 and ecg.report["source_format"] == "csv"
    np.testing.assert_allclose(ecg.signal, ecg75.signal, atol=1e-6)


def test_csv_time_in_ms_and_odd_spellings(tmp_path, ecg75):
    sig = ecg75.signal[:, ::2]  # 250 Hz
    order = [LEADS.index(canonical_lead(n)) for n in SHUFFLED]
    table = np.column_stack([np.arange(sig.shape[1]) * 4.0, sig[order].T])
    np.savetxt(tmp_path / "r.csv", table, delimiter=",", header="time_ms," + ",".join(SHUFFLED), comments="")
    ecg = load_ecg(tmp_path / "r.csv")
    assert ecg.fs == 250
    np.testing.assert_allclose(ecg.signal, sig, atol=1e-6)


def test_csv_without_time_uses_given_rate(tmp_path, ecg75):
    np.savetxt(tmp_path / "r.csv", ecg75.signal.T, delimiter=",", header=",".join(LEADS), comments="")
    assert load_ecg(tmp_path / "r.csv", fs=500).fs == 500


def test_csv_microvolt_column_units(tmp_path, ecg75):
    header = ",".join(f"{lead} (uV)" for lead in LEADS)
    np.savetxt(tmp_path / "r.csv", ecg75.signal.T * 1000, delimiter=",", header=header, comments="")
    ecg = load_ecg(tmp_path / "r.csv", fs=500)
    np.testing.assert_allclose(ecg.signal, ecg75.signal, atol=1e-5)


def test_eight_leads_derive_the_limb_leads(tmp_path, ecg75):
    eight = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    hea = write_wfdb(tmp_path, "eight", ecg75, names=eight, fmt="32")
    ecg = load_ecg(hea)
    assert ecg.report["derived_leads"] == ["III", "aVR", "aVL", "aVF"]
    i, ii = ecg.lead("I"), ecg.lead("II")
    np.testing.assert_allclose(ecg.lead("III"), ii - i, atol=1e-6)
    np.testing.assert_allclose(ecg.lead("aVR"), -(i + ii) / 2, atol=1e-6)
    np.testing.assert_allclose(ecg.lead("aVL"), i - ii / 2, atol=1e-6)
    np.testing.assert_allclose(ecg.lead("aVF"), ii - i / 2, atol=1e-6)
    # neurokit2's simulated limb leads obey the same laws, so the derived leads match the originals
    np.testing.assert_allclose(ecg.signal, ecg75.signal, atol=1e-3)


def test_zip_of_one_wfdb_record(tmp_path, ecg75):
    hea = write_wfdb(tmp_path, "z1", ecg75)
    with zipfile.ZipFile(tmp_path / "one.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(hea, "inner/z1.hea")
        zf.write(tmp_path / "z1.dat", "inner/z1.dat")
    ecg = load_ecg(tmp_path / "one.zip")
    assert ecg.record_id == "z1" and ecg.report["archive"] == "one.zip" and ecg.report["other_records"] == []
    np.testing.assert_allclose(ecg.signal, load_ecg(hea).signal)


def test_zip_of_many_records(tmp_path, ecg75):
    write_wfdb(tmp_path, "w", ecg75)
    np.save(tmp_path / "n.npy", ecg75.signal)
    np.savetxt(tmp_path / "c.csv", ecg75.signal.T, delimiter=",", header=",".join(LEADS), comments="")
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as zf:
        for name in ("w.hea", "w.dat", "n.npy", "c.csv"):
            zf.write(tmp_path / name, f"recs/{name}")
        zf.writestr("__MACOSX/recs/._w.hea", b"junk")
    first = load_ecg(tmp_path / "many.zip", fs=500)
    assert first.record_id == "c" and first.report["other_records"] == ["recs/n.npy", "recs/w.hea"]
    ecgs = load_ecgs(tmp_path / "many.zip", fs=500)
    assert [e.record_id for e in ecgs] == ["c", "n", "w"]
    for e in ecgs:
        np.testing.assert_allclose(e.signal, ecg75.signal, atol=1e-3)


def test_load_ecgs_of_a_plain_file(tmp_path, ecg75):
    np.save(tmp_path / "a.npy", ecg75.signal)
    assert len(load_ecgs(tmp_path / "a.npy", fs=500)) == 1


def test_partial_nan_is_counted_and_zeroed_for_the_model(tmp_path, ecg75):
    sig = ecg75.signal.copy()
    sig[3, 100:150] = np.nan
    np.save(tmp_path / "nan.npy", sig)
    ecg = load_ecg(tmp_path / "nan.npy", fs=500)
    assert ecg.report["nan_count"] == 50 and np.isnan(ecg.signal).sum() == 50
    x, rep = to_model_input(ecg)
    assert np.isfinite(x).all() and (x[3, 100:150] == 0).all() and rep["nan_zeroed"] == 50


# ---------------------------------------------------------------------------------------- model input


def test_model_input_500_hz_is_the_signal_itself(ecg75):
    x, rep = to_model_input(ecg75)
    np.testing.assert_array_equal(x, ecg75.signal)
    assert rep == {
        "fs_original": 500.0, "len_original": 5000, "resampled": False, "resample_method": "none",
        "cropped": False, "padded": False, "padded_samples": 0, "window": "first",
        "window_ms": [0.0, 10000.0], "nan_zeroed": 0,
    }  # fmt: skip


def noise_ecg(fs: float, duration_s: float, seed: int = 0) -> ECG:
    """A cheap deterministic test signal at any rate (resampling equivalence needs no ECG morphology)."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * fs)
    return ECG(np.cumsum(rng.standard_normal((12, n)), axis=1) * 0.01, fs=fs, record_id=f"noise-{fs:g}")


@pytest.mark.parametrize(("fs", "up", "down"), [(1000, 1, 2), (250, 2, 1), (360, 25, 18), (257, 500, 257)])
def test_resampling_matches_resample_poly_of_the_whole_record(fs, up, down):
    ecg = noise_ecg(fs, 25)
    assert resample_factors(fs) == (up, down)
    x, rep = to_model_input(ecg)
    whole = resample_poly(ecg.signal.astype(np.float64), up, down, axis=1)
    np.testing.assert_allclose(x, whole[:, :MODEL_SAMPLES], atol=1e-5)
    assert rep["resampled"] and rep["cropped"] and not rep["padded"]
    assert rep["resample_method"] == f"scipy.signal.resample_poly(up={up}, down={down})"


def test_short_record_is_zero_padded(ecg75):
    ecg = ECG(ecg75.signal[:, :2000], fs=500)
    x, rep = to_model_input(ecg)
    assert rep["padded"] and rep["padded_samples"] == 3000 and not rep["cropped"]
    np.testing.assert_array_equal(x[:, :2000], ecg.signal)
    assert not x[:, 2000:].any()


def test_best_window_avoids_artifacts(ecg75):
    sig = np.tile(ecg75.signal, (1, 3))  # 30 s
    sig[4, : 12 * 500] = 0.0  # aVL flat (electrode off) for the first 12 s
    sig[7, 25 * 500 :] += 20.0 * np.sign(np.sin(np.arange(5 * 500)))  # huge artifact in the last 5 s
    noisy = ECG(sig, fs=500, record_id="artifact")
    x, rep = to_model_input(noisy, window="best")
    start_s = rep["window_ms"][0] / 1000
    assert 12 <= start_s <= 15 and start_s.is_integer() and rep["cropped"]  # clean seconds 12-25
    np.testing.assert_array_equal(x, sig[:, int(start_s) * 500 : int(start_s) * 500 + 5000])
    assert to_model_input(noisy)[1]["window_ms"] == [0.0, 10000.0]


def test_best_window_on_a_clean_record_resampled_exactly(ecg75):
    ecg = ECG(np.repeat(np.tile(ecg75.signal, (1, 2)), 2, axis=1), fs=1000)  # 20 s at 1000 Hz
    x, rep = to_model_input(ecg, window="best")
    start = int(rep["window_ms"][0] / 2)
    whole = resample_poly(ecg.signal.astype(np.float64), 1, 2, axis=1)
    np.testing.assert_allclose(x, whole[:, start : start + MODEL_SAMPLES], atol=1e-5)


def test_best_window_avoids_missing_samples(ecg75):
    sig = np.tile(ecg75.signal, (1, 3))
    sig[7, : 11 * 500] = np.nan  # V2 missing for the first 11 s
    x, rep = to_model_input(ECG(sig, fs=500), window="best")
    assert rep["window_ms"][0] >= 11000 and np.isfinite(x).all()
    np.testing.assert_array_equal(x[7], sig[7, int(rep["window_ms"][0] / 2) :][:MODEL_SAMPLES])


@pytest.mark.parametrize(
    ("leads", "time_column"),
    [(["II"], False), (["II"], True), (["II", "V1"], False), (["I", "II", "V5"], False)],
)
def test_one_and_few_lead_csvs_load_with_their_leads_named(tmp_path, ecg75, leads, time_column):
    """A one-column CSV headed ``II`` (no separator on any line) loads as lead II; a few-lead CSV keeps
    its leads; the rest are absent (flat), said in the report, and not measured."""
    from gem_core.features import measure

    columns = [ecg75.lead(n) for n in leads]
    header = list(leads)
    if time_column:
        columns.insert(0, np.arange(ecg75.n_samples) / ecg75.fs)
        header.insert(0, "time")
    path = tmp_path / "few.csv"
    np.savetxt(path, np.stack(columns, axis=1), delimiter=",", header=",".join(header), comments="")
    ecg = load_ecg(path)
    for name in leads:
        np.testing.assert_allclose(ecg.lead(name), ecg75.lead(name), atol=1e-6)
    derived = {"III", "aVR", "aVL", "aVF"} if {"I", "II"} <= set(leads) else set()
    absent = [n for n in LEADS if n not in leads and n not in derived]
    assert ecg.report["absent_leads"] == absent
    assert all(not ecg.lead(n).any() for n in absent)
    assert any(f"only {', '.join(leads)} in the file" in w for w in ecg.report["warnings"])
    m = measure(ecg)
    assert m.global_values["heart_rate_bpm"] == pytest.approx(75, abs=2)
    assert all(m.leads[n].quality == "flat" for n in absent) and m.leads["II"].quality == "ok"


def test_a_csv_naming_no_lead_is_still_refused(tmp_path, ecg75):
    path = tmp_path / "nolead.csv"
    np.savetxt(path, ecg75.lead("II")[:, None], delimiter=",", header="pressure", comments="")
    with pytest.raises(GemError, match="lacks lead"):
        load_ecg(path)
