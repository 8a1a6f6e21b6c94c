"""gem_core.ecg on bad input: each case gets a clear GemError (or, for long records, a chosen window).

Every file is written by the test into tmp_path; loading writes nothing outside a temporary directory.
"""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import wfdb

from gem_core.ecg import ECG, LEADS, MODEL_SAMPLES, load_ecg, load_ecgs, to_model_input
from gem_core.errors import GemError
from gem_core.samples import synthetic_ecg
from gem_core.settings import Settings
from tests.conftest import REPO


@pytest.fixture(scope="module")
def ecg75() -> ECG:
    return synthetic_ecg(heart_rate=75, duration_s=10, fs=500)


@pytest.fixture
def record(tmp_path, ecg75) -> Path:
    """A valid 12-lead WFDB record (format 16) in tmp_path; returns its header."""
    wfdb.wrsamp(
        "rec", fs=500, units=["mV"] * 12, sig_name=list(LEADS), p_signal=ecg75.signal.T.astype(np.float64),
        fmt=["16"] * 12, write_dir=str(tmp_path),
    )  # fmt: skip
    return tmp_path / "rec.hea"


def edit_header(hea: Path, old: str, new: str) -> Path:
    text = hea.read_text()
    assert old in text
    hea.write_text(text.replace(old, new, 1))
    return hea


def test_truncated_dat(record):
    dat = record.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[: 24 * 1000])  # 1000 of 5000 frames
    with pytest.raises(GemError, match=r"rec\.dat is truncated: 24000 bytes.*5000 samples"):
        load_ecg(record)


def test_truncated_mid_frame(record):
    dat = record.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:-7])
    with pytest.raises(GemError, match="is truncated"):
        load_ecg(record)


def test_header_naming_a_missing_signal_file(record):
    record.with_suffix(".dat").unlink()
    with pytest.raises(GemError, match=r"names the signal file 'rec\.dat', which is missing"):
        load_ecg(record)


@pytest.fixture
def record_with_xyz(record, ecg75) -> Path:
    """``record`` plus three Frank leads in a second signal file, rec.xyz (as PTB-DB stores them)."""
    folder = record.parent
    wfdb.wrsamp(
        "xyz", fs=500, units=["mV"] * 3, sig_name=["vx", "vy", "vz"], p_signal=ecg75.signal[:3].T.astype(np.float64),
        fmt=["16"] * 3, write_dir=str(folder),
    )  # fmt: skip
    (folder / "xyz.dat").rename(folder / "rec.xyz")
    xyz_lines = [
        ln.replace("xyz.dat", "rec.xyz", 1) for ln in (folder / "xyz.hea").read_text().splitlines()[1:]
    ]
    lines = record.read_text().splitlines()
    lines[0] = lines[0].replace(" 12 ", " 15 ", 1)
    record.write_text("\n".join(lines[:13] + xyz_lines + lines[13:]) + "\n")
    (folder / "xyz.hea").unlink()
    return record


def test_extra_channels_are_left_out_with_a_warning(record_with_xyz):
    ecg = load_ecg(record_with_xyz)
    assert ecg.report["dropped_channels"] == ["vx", "vy", "vz"]
    assert "left out channel(s) vx, vy, vz: not among the 12 standard leads" in ecg.report["warnings"]


def test_missing_file_of_extra_channels_loads_the_12_leads(record_with_xyz, ecg75):
    """A header with .dat (12 leads) and .xyz (Frank leads) uploaded without the .xyz still loads."""
    record_with_xyz.with_suffix(".xyz").unlink()
    ecg = load_ecg(record_with_xyz)
    np.testing.assert_allclose(ecg.signal, ecg75.signal, atol=1e-3)
    assert any("rec.xyz (channels vx, vy, vz) is missing" in w for w in ecg.report["warnings"])


def test_missing_file_of_standard_leads_is_still_an_error(record_with_xyz):
    record_with_xyz.with_suffix(".dat").unlink()
    with pytest.raises(GemError, match=r"names the signal file 'rec\.dat', which is missing"):
        load_ecg(record_with_xyz)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("rec 12 500", "rec 12 abc", "sampling rate field 'abc' is not a number"),
        ("rec 12 500", "rec 12 5e2", "sampling rate field '5e2' must be a plain decimal number (e.g. 500)"),
        ("rec 12 500", "rec twelve 500", "number of signals"),
        ("rec 12 500 5000", "rec 12 500 5k", "number-of-samples field '5k'"),
        ("rec.dat 16 ", "rec.dat sixteen ", "no valid format field"),
        ("rec 12 500", "rec 13 500", "declares 13 signals but has 12 signal lines"),
    ],
)
def test_header_syntax_errors(record, old, new, message):
    edit_header(record, old, new)
    with pytest.raises(GemError, match="header syntax error in rec.hea") as err:
        load_ecg(record)
    assert message in str(err.value)


@pytest.mark.parametrize("name", ["../rec.dat", "/etc/hostname", "sub\\rec.dat"])
def test_header_pointing_outside_its_folder(record, name):
    edit_header(record, "rec.dat 16 ", f"{name} 16 ")
    with pytest.raises(GemError, match="outside its own folder"):
        load_ecg(record)


def test_multisegment_header_pointing_outside_its_folder(tmp_path):
    (tmp_path / "multi.hea").write_text("multi/2 12 500 10000\n../seg1 5000\nseg2 5000\n")
    with pytest.raises(GemError, match=r"names the file '\.\./seg1' outside its own folder"):
        load_ecg(tmp_path / "multi.hea")


def test_given_rate_overrides_the_header_with_a_warning(record):
    ecg = load_ecg(record, fs=250)
    assert ecg.fs == 250 and ecg.report["fs_original"] == 250 and ecg.report["fs_stated"] == 500
    assert "file states 500 Hz; using the given fs=250 Hz" in ecg.report["warnings"]


def test_header_without_record_line(tmp_path):
    (tmp_path / "c.hea").write_text("# only a comment\n")
    with pytest.raises(GemError, match="has no record line"):
        load_ecg(tmp_path / "c.hea")


def test_signal_file_without_header(record):
    record.unlink()
    with pytest.raises(GemError, match=r"rec\.dat needs its WFDB header rec\.hea"):
        load_ecg(record.with_suffix(".dat"))


@pytest.mark.parametrize("shape", [(5, 100), (5, 5000), (12, 50, 2), (6000,)])
def test_npy_of_wrong_shape(tmp_path, shape):
    np.save(tmp_path / "bad.npy", np.zeros(shape, dtype=np.float32))
    with pytest.raises(GemError, match=r"bad\.npy has shape") as err:
        load_ecg(tmp_path / "bad.npy", fs=500)
    assert ("-D" in str(err.value)) == (len(shape) != 2)


def test_npy_too_short(tmp_path):
    np.save(tmp_path / "short.npy", np.zeros((12, 100), dtype=np.float32))
    with pytest.raises(GemError, match=r"100 samples \(0\.20 s at 500 Hz\); an ECG needs at least 1 s"):
        load_ecg(tmp_path / "short.npy")


def test_npy_of_objects_is_never_unpickled(tmp_path):
    arr = np.empty((12, 5000), dtype=object)
    arr[:] = 0.0
    np.save(tmp_path / "obj.npy", arr, allow_pickle=True)
    with pytest.raises(GemError, match="cannot be loaded without unpickling"):
        load_ecg(tmp_path / "obj.npy", fs=500)


class Boom:
    """Unpickling this would run code; the loader must never do it."""

    def __reduce__(self):
        return (Path("/tmp/gem-pickle-ran").touch, ())


def test_pickle_disguised_as_npy(tmp_path):
    (tmp_path / "evil.npy").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(GemError, match="cannot be loaded without unpickling"):
        load_ecg(tmp_path / "evil.npy")
    assert not Path("/tmp/gem-pickle-ran").exists()


def test_npz_with_object_entry(tmp_path, ecg75):
    np.savez(tmp_path / "obj.npz", signal=ecg75.signal, leads=np.array(list(LEADS), dtype=object))
    with pytest.raises(GemError, match="without unpickling"):
        load_ecg(tmp_path / "obj.npz")


def test_string_array(tmp_path):
    np.save(tmp_path / "s.npy", np.full((12, 5000), "x"))
    with pytest.raises(GemError, match="not numbers"):
        load_ecg(tmp_path / "s.npy")


def test_lead_all_nan(tmp_path, ecg75):
    sig = ecg75.signal.copy()
    sig[LEADS.index("V3")] = np.nan
    np.save(tmp_path / "nan.npy", sig)
    with pytest.raises(GemError, match=r"lead\(s\) V3 in nan\.npy contain no valid samples"):
        load_ecg(tmp_path / "nan.npy", fs=500)


@pytest.mark.parametrize("fs", [0, -500, 1e6, float("nan")])
def test_implausible_rate_given(tmp_path, ecg75, fs):
    np.save(tmp_path / "a.npy", ecg75.signal)
    with pytest.raises(GemError, match=r"sampling rate .* \(given\) .* is not plausible"):
        load_ecg(tmp_path / "a.npy", fs=fs)


@pytest.mark.parametrize(("fs", "hz"), [("0", "0"), ("-500", "-500"), ("1000000", "1e+06"), ("1e6", "1e+06")])
def test_implausible_rate_in_header(record, fs, hz):
    edit_header(record, "rec 12 500", f"rec 12 {fs}")  # wfdb alone reads '1e6' as 1 Hz
    with pytest.raises(
        GemError, match=rf"rate {re.escape(hz)} Hz \(stated in the file\) for rec\.hea is not plausible"
    ):
        load_ecg(record)


@pytest.mark.parametrize("fs", [0, -500, 1e6])
def test_implausible_rate_in_npz(tmp_path, ecg75, fs):
    np.savez(tmp_path / "r.npz", signal=ecg75.signal, fs=fs)
    with pytest.raises(GemError, match="is not plausible"):
        load_ecg(tmp_path / "r.npz")


def test_one_hour_record_loads_and_a_window_is_chosen(tmp_path, ecg75):
    fs, n = 250, 3600 * 250
    ten_s = ecg75.signal[:, ::2]  # 10 s at 250 Hz
    sig = np.tile(ten_s, (1, n // ten_s.shape[1]))
    sig[:, : 20 * fs] = 0.0  # leads off for the first 20 s
    digital = np.round(sig.T * 1000).astype(np.int16)
    wfdb.wrsamp(
        "hour", fs=fs, units=["mV"] * 12, sig_name=list(LEADS), d_signal=digital, fmt=["16"] * 12,
        adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(tmp_path),
    )  # fmt: skip
    ecg = load_ecg(tmp_path / "hour.hea")
    assert ecg.n_samples == n and ecg.duration_ms == 3_600_000
    x, rep = to_model_input(ecg)
    assert x.shape == (12, MODEL_SAMPLES) and rep["cropped"] and rep["window_ms"] == [0.0, 10000.0]
    assert not x.any()  # the first 10 s are flat
    x, rep = to_model_input(ecg, window="best")
    assert rep["cropped"] and rep["window_ms"][0] >= 20000 and np.ptp(x, axis=1).min() > 0.1


def test_empty_file(tmp_path):
    for name in ("e.npy", "e.csv", "e.hea", "e.zip", "e.npz"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(GemError, match=f"{name} is empty"):
            load_ecg(tmp_path / name)


def test_zip_with_parent_member_path(tmp_path, record):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.write(record, "rec.hea")
        zf.write(record.with_suffix(".dat"), "../rec.dat")
    with pytest.raises(GemError, match=r"unsafe member path '\.\./rec\.dat'.*nothing was extracted"):
        load_ecg(tmp_path / "evil.zip")
    assert not (tmp_path.parent / "rec.dat").exists()


def test_zip_with_absolute_member_path(tmp_path, record):
    with zipfile.ZipFile(tmp_path / "abs.zip", "w") as zf:
        zf.writestr("/etc/gem-test.hea", "x")
    with pytest.raises(GemError, match="unsafe member path"):
        load_ecgs(tmp_path / "abs.zip")


def test_zip_expanding_past_the_limit(tmp_path):
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.npy", b"\0" * (3 * 1024 * 1024))  # compresses to a few kB
    assert (tmp_path / "bomb.zip").stat().st_size < 100_000
    with pytest.raises(GemError, match=r"expands to 3\.0 MB, above the upload limit of 2 MB"):
        load_ecg(tmp_path / "bomb.zip", settings=Settings(max_upload_mb=2))


def test_zip_without_records(tmp_path):
    with zipfile.ZipFile(tmp_path / "none.zip", "w") as zf:
        zf.writestr("notes.txt", "hello")
    with pytest.raises(GemError, match="contains no ECG record"):
        load_ecg(tmp_path / "none.zip")


def test_not_a_zip(tmp_path):
    (tmp_path / "fake.zip").write_bytes(b"not a zip at all")
    with pytest.raises(GemError, match="not a valid zip archive"):
        load_ecg(tmp_path / "fake.zip")


def test_file_above_upload_limit(tmp_path, ecg75):
    np.save(tmp_path / "big.npy", np.tile(ecg75.signal, (1, 8)))  # ~1.9 MB
    with pytest.raises(GemError, match=r"big\.npy is 1\.8 MB, above the upload limit of 1 MB"):
        load_ecg(tmp_path / "big.npy", settings=Settings(max_upload_mb=1))


def test_wfdb_record_above_upload_limit_counts_its_signal_file(record):
    with pytest.raises(GemError, match="above the upload limit"):
        load_ecg(record, settings=Settings(max_upload_mb=0.05))


@pytest.mark.parametrize("name", ["scan.pdf", "ecg.json", "record", "x.edf"])
def test_unknown_extension(tmp_path, name):
    (tmp_path / name).write_bytes(b"%PDF-1.4 something")
    with pytest.raises(GemError, match="unsupported file type"):
        load_ecg(tmp_path / name)


def test_missing_file(tmp_path):
    with pytest.raises(GemError, match="does not exist"):
        load_ecg(tmp_path / "nope.npy")


def test_too_few_leads(tmp_path, ecg75):
    names = ["I", "II", "III", "V1", "V2", "V3"]
    np.savez(tmp_path / "six.npz", signal=ecg75.signal[:6], leads=np.array(names), fs=500)
    with pytest.raises(GemError, match=r"lacks lead\(s\) V4, V5, V6 .*at least I, II and V1-V6"):
        load_ecg(tmp_path / "six.npz")


def test_csv_without_header(tmp_path, ecg75):
    np.savetxt(tmp_path / "nohead.csv", ecg75.signal.T, delimiter=",")
    with pytest.raises(GemError, match="has no header row"):
        load_ecg(tmp_path / "nohead.csv", fs=500)


def test_csv_with_text_values(tmp_path):
    (tmp_path / "t.csv").write_text(",".join(LEADS) + "\n" + ",".join(["a"] * 12) + "\n")
    with pytest.raises(GemError, match="non-numeric values"):
        load_ecg(tmp_path / "t.csv")


def test_csv_with_decreasing_time(tmp_path):
    rows = [",".join(["time", *LEADS])] + [",".join([str(1 - i / 500)] + ["0.1"] * 12) for i in range(1000)]
    (tmp_path / "t.csv").write_text("\n".join(rows))
    with pytest.raises(GemError, match="not strictly increasing"):
        load_ecg(tmp_path / "t.csv")


def test_bad_window_name(ecg75):
    with pytest.raises(GemError, match="window must be 'first' or 'best'"):
        to_model_input(ecg75, window="middle")


# ------------------------------------------------------------------------------------------------ CLI


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gem_core.ecg", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_cli_prints_a_json_summary(record):
    import json

    done = run_cli(str(record), "--window", "best")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["fs"] == 500 and summary["leads"] == list(LEADS) and summary["n_samples"] == 5000
    assert summary["report"]["source_format"] == "wfdb"
    assert summary["model_input"]["window"] == "best" and summary["model_input"]["window_ms"] == [
        0.0,
        10000.0,
    ]
    assert len(done.stdout) < 5000  # a summary, no signal values


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.npy", "does not exist"),
        (lambda d: ((d / "e.npy").write_bytes(b""), d / "e.npy")[1], "e.npy is empty"),
        (lambda d: np.save(d / "w.npy", np.zeros((5, 100))) or d / "w.npy", "has shape (5, 100)"),
        (lambda d: ((d / "x.pdf").write_text("x"), d / "x.pdf")[1], "unsupported file type '.pdf'"),
    ],
)
def test_cli_bad_input_exits_2_with_one_error_line(tmp_path, make, message):
    done = run_cli(str(make(tmp_path)))
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in done.stderr


def test_cli_bad_arguments_exit_2():
    done = run_cli()
    assert done.returncode == 2 and done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1
