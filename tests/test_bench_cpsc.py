"""bench/interpret_cpsc.py, the scorer the held-back CPSC records are run through: a folder of records as
distributed (no cpsc2018/ subfolder) is read, and a record that cannot be read costs its own score, not
the run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import wfdb

from gem_core.beat_model import conduction_ecg
from gem_core.ecg import LEADS

BENCH = Path(__file__).resolve().parents[1] / "bench" / "interpret_cpsc.py"


def _bench():
    spec = importlib.util.spec_from_file_location("interpret_cpsc", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(folder: Path, name: str, ecg, dx: str) -> None:
    wfdb.wrsamp(
        name,
        fs=ecg.fs,
        units=["mV"] * 12,
        sig_name=list(LEADS),
        p_signal=ecg.signal.T.astype(np.float64),
        fmt=["16"] * 12,
        comments=["Age: 60", "Sex: Male", f"Dx: {dx}"],
        write_dir=str(folder),
    )


def test_a_flat_folder_with_a_broken_record_is_scored(tmp_path, capsys):
    _write(tmp_path, "A9001", conduction_ecg(75, noise=0.01, seed=1)[0], "Normal")
    _write(tmp_path, "A9002", conduction_ecg(80, atrial_fibrillation=0.05, noise=0.01, seed=2)[0], "AF")
    _write(tmp_path, "A9003", conduction_ecg(70, 140, morphology="rsr", noise=0.01, seed=3)[0], "RBBB")
    (tmp_path / "A9004.hea").write_text("A9004 12 500 5000\nA9004.mat 16 1000/mV 16 0 0 0 0 I\n")  # truncated
    out = tmp_path / "scores.json"
    assert _bench().main(["--records", str(tmp_path), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 record(s) could not be read or interpreted" in printed and "A9004:" in printed
    result = json.loads(out.read_text())
    rows = {r["record"]: r for r in result["records"]}
    assert set(rows) == {"A9001", "A9002", "A9003", "A9004"}
    assert rows["A9004"]["predicted"] == [] and "error" in rows["A9004"]
    assert rows["A9001"]["predicted"] == ["Normal"]
    assert rows["A9002"]["predicted"] == ["AF"]
    assert rows["A9003"]["predicted"] == ["RBBB"]
    cpsc = result["summary"]["CPSC 2018"]["result"]
    assert cpsc["Normal"]["tp"] == 1 and cpsc["AF"]["tp"] == 1 and cpsc["RBBB"]["tp"] == 1
    assert "Challenge 2021" not in result["summary"]  # no such records: no empty table


def test_no_records_is_an_error(tmp_path, capsys):
    assert _bench().main(["--records", str(tmp_path)]) == 2
    assert "no records" in capsys.readouterr().err
