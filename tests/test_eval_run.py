"""``eval run``: sets (GEM/ECG-Bench records, WFDB with Dx codes), resumable answers, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import wfdb

from eval.run import ANSWERS, read_answers, run
from eval.sets import classification_question, load_set
from gem_core.ecg import LEADS
from gem_core.errors import GemError
from gem_core.labels import CPSC_CLASSES
from gem_core.prompts import DEFAULT_QUESTION
from gem_core.samples import synthetic_ecg

REPO = Path(__file__).resolve().parents[1]


def write_record(folder: Path, name: str, dx: str, heart_rate: int = 75) -> Path:
    ecg = synthetic_ecg(heart_rate=heart_rate, duration_s=10, fs=500)
    wfdb.wrsamp(
        name, fs=500, units=["mV"] * 12, sig_name=list(LEADS), p_signal=ecg.signal.T.astype(np.float64),
        fmt=["16"] * 12, write_dir=str(folder), comments=["Age: 60", "Sex: Male", f"Dx: {dx}"],
    )  # fmt: skip
    return folder / f"{name}.hea"


@pytest.fixture(scope="module")
def wfdb_set(tmp_path_factory) -> Path:
    """Twelve synthetic records with Challenge headers: SNOMED CT codes and CPSC abbreviations."""
    folder = tmp_path_factory.mktemp("wfdb-set")
    dx = ["426783006", "164889003,59118001", "426177001", "270492004", "AF", "Normal"]
    for k in range(12):
        write_record(folder, f"R{k:02d}", dx[k % len(dx)], heart_rate=60 + 5 * k)
    return folder


def test_wfdb_folder_becomes_ecgbench_multilabel_question(wfdb_set):
    s = load_set(wfdb_set)
    assert s.format == "wfdb" and s.label_set == "cpsc2018" and len(s.items) == 12
    by_id = {it.id: it for it in s.items}
    assert by_id["R00"].gold == ["Normal"]  # sinus rhythm only
    assert by_id["R01"].gold == ["AF", "RBBB"]  # 164889003 AF, 59118001 RBBB
    assert by_id["R02"].gold == ["Normal"]  # sinus bradycardia only: the sinus statements are "Normal"
    assert by_id["R03"].gold == ["I-AVB"]
    assert by_id["R04"].gold == ["AF"] and by_id["R05"].gold == ["Normal"]  # CPSC abbreviations
    assert all(it.question == classification_question(CPSC_CLASSES) for it in s.items)
    assert all(it.options == list(CPSC_CLASSES) and it.task == "classification" for it in s.items)


def test_shared_wfdb_set_with_snomed_codes(shared_ecg_dir):
    s = load_set(shared_ecg_dir / "cinc2021_torch_ecg")
    assert len(s.items) == 51
    e07500 = next(it for it in s.items if it.id == "E07500")  # Dx 67741000119109 (unscored), 426177001 (SB)
    assert e07500.gold == []  # not sinus-only (another code), and no CPSC class among its codes
    cpsc = load_set(shared_ecg_dir / "cpsc2018")
    assert next(it for it in cpsc.items if it.id == "A0001").gold == ["RBBB"]


def test_gem_records_tasks_and_roots(tmp_path, wfdb_set):
    records = [
        {"id": "g1", "image": "img/g1.png", "ecg": "R00", "conversations": [
            {"from": "human", "value": "<image>\n" + DEFAULT_QUESTION}, {"from": "gpt", "value": "Sinus rhythm."}]},
        {"id": "m1", "image": "img/m1.png", "ecg": "R01", "conversations": [
            {"from": "human", "value": "<image>\nWhich rhythm?\nA. Sinus rhythm\nB. Atrial fibrillation"},
            {"from": "gpt", "value": "B"}]},
        {"id": "c1", "image": "img/c1.png", "ecg": "R02", "conversations": [
            {"from": "human", "value": "<image>\nWhich apply? Options: NORM, MI, STTC, CD, HYP. Answer with names."},
            {"from": "gpt", "value": "MI, CD"}]},
        {"id": "r1", "image": "img/r1.png", "ecg": "R03", "conversations": [
            {"from": "human", "value": "<image>\nWrite the report of this ECG."}, {"from": "gpt", "value": "..."}]},
    ]  # fmt: skip
    path = tmp_path / "set.json"
    path.write_text(json.dumps(records))
    s = load_set(path, ecg_root=wfdb_set, image_root=tmp_path / "images")
    tasks = {it.id: (it.task, it.gold) for it in s.items}
    assert tasks == {
        "g1": ("grounding", "Sinus rhythm."),
        "m1": ("mcq", "B"),
        "c1": ("classification", ["MI", "CD"]),
        "r1": ("report", "..."),
    }
    assert s.items[0].ecg == str(wfdb_set / "R00") and s.items[0].image == str(tmp_path / "images/img/g1.png")
    # JSONL of the same records reads the same
    jsonl = tmp_path / "set.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records))
    assert [it.to_dict() for it in load_set(jsonl, wfdb_set, tmp_path / "images").items] == [
        it.to_dict() for it in s.items
    ]


def test_unknown_set_format_names_expected_fields(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "x", "answer": "y"}) + "\n")
    with pytest.raises(GemError, match=r"expected fields id, conversations .*got answer, question"):
        load_set(bad)
    other = tmp_path / "set.csv"
    other.write_text("a,b\n")
    with pytest.raises(GemError, match="unknown set format.*id, conversations"):
        load_set(other)
    with pytest.raises(GemError, match="no WFDB header"):
        load_set(tmp_path)  # a folder without records
    torn = tmp_path / "torn.json"
    torn.write_text('[{"id": 1,')
    with pytest.raises(GemError, match="neither a JSON list nor JSONL"):
        load_set(torn)


def test_run_measure_writes_answers_and_run_json(tmp_path, wfdb_set):
    meta = run(wfdb_set, tmp_path / "run", "measure", limit=3, progress=False)
    answers = read_answers(tmp_path / "run" / ANSWERS)
    assert sorted(answers) == ["R00", "R01", "R02"]
    assert all(a["answer"] and a["error"] is None for a in answers.values())
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert saved == meta and saved["status"] == "complete" and saved["n_answered"] == 3
    assert saved["backend"] == "measure" and saved["decoding"]["greedy"] is True
    assert saved["decoding"]["max_new_tokens"] == 1024  # GEM's evaluation setting
    assert saved["set"]["sha256"] == load_set(wfdb_set).sha256 and saved["set"]["format"] == "wfdb"
    assert len(saved["commit"]) == 40 and saved["started"] and saved["finished"]
    # the same run again asks nothing new; a wider limit asks only the rest
    run(wfdb_set, tmp_path / "run", "measure", limit=5, progress=False)
    lines = (tmp_path / "run" / ANSWERS).read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["R00", "R01", "R02", "R03", "R04"]


def test_missing_ecg_files_are_counted_and_asked_again(tmp_path, wfdb_set):
    records = [
        {"id": f"x{k}", "ecg": name, "conversations": [
            {"from": "human", "value": DEFAULT_QUESTION}, {"from": "gpt", "value": "Sinus rhythm."}]}
        for k, name in enumerate(["R00", "gone/R99", "R01"])
    ]  # fmt: skip
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    meta = run(path, tmp_path / "run", "measure", ecg_root=wfdb_set, progress=False)
    assert (meta["n_answered"], meta["n_failed"], meta["n_missing_files"]) == (2, 1, 1)
    answers = read_answers(tmp_path / "run" / ANSWERS)
    assert answers["x1"]["missing"] == [f"ecg: {wfdb_set / 'gone/R99'}"] and answers["x1"]["answer"] is None
    # the file appears; a rerun asks only that item, and the file holds each id once
    (wfdb_set / "gone").mkdir(exist_ok=True)
    for ext in ("hea", "dat"):
        data = (wfdb_set / f"R00.{ext}").read_bytes()
        (wfdb_set / "gone" / f"R99.{ext}").write_bytes(data.replace(b"R00", b"R99") if ext == "hea" else data)
    try:
        meta = run(path, tmp_path / "run", "measure", ecg_root=wfdb_set, progress=False)
    finally:
        for f in (wfdb_set / "gone").iterdir():
            f.unlink()
        (wfdb_set / "gone").rmdir()
    ids = [json.loads(x)["id"] for x in (tmp_path / "run" / ANSWERS).read_text().splitlines()]
    assert sorted(ids) == ["x0", "x1", "x2"] and meta["n_answered"] == 3 and meta["resumed"] == 1


def test_rerun_with_another_set_is_refused(tmp_path, wfdb_set):
    run(wfdb_set, tmp_path / "run", "measure", limit=1, progress=False)
    other = tmp_path / "other"
    other.mkdir()
    write_record(other, "Z1", "164889003")
    with pytest.raises(GemError, match="another set"):
        run(other, tmp_path / "run", "measure", progress=False)


def test_bad_arguments(tmp_path, wfdb_set):
    with pytest.raises(GemError, match="concurrency must be at least 1"):
        run(wfdb_set, tmp_path / "r", "measure", concurrency=0)
    with pytest.raises(GemError, match="needs GEM_OPENAI_BASE_URL"):
        from gem_core.settings import Settings

        run(wfdb_set, tmp_path / "r", "openai", settings=Settings(openai_base_url=""), progress=False)
    proc = subprocess.run(
        [sys.executable, "-m", "eval", "run", "--backend", "measure", "--set", str(tmp_path / "nope"), "--out", str(tmp_path / "r")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: set ")
    assert "does not exist" in proc.stderr


@pytest.mark.slow
def test_resume_after_killing_the_process(tmp_path, wfdb_set):
    """A real ``python -m eval run`` killed halfway (SIGKILL); the rerun completes with each id once."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "eval", "run", "--backend", "measure", "--set", str(wfdb_set), "--out", str(out), "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    answers = out / ANSWERS
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if answers.exists() and len(answers.read_text().splitlines()) >= 4:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    before = [json.loads(x)["id"] for x in answers.read_text().splitlines() if x.strip()]
    assert 4 <= len(before) < 12, "the run must be stopped halfway"
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    ids = [json.loads(x)["id"] for x in answers.read_text().splitlines()]
    assert sorted(ids) == [f"R{k:02d}" for k in range(12)]  # each id once, none lost
    assert ids[: len(before)] == before  # what was answered before the kill was kept, not asked again
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "complete" and meta["resumed"] == 1 and meta["n_answered"] == 12


def test_run_gem_backend_on_a_tiny_gem(tmp_path, wfdb_set, tiny_gem_dir):
    """``--backend gem`` goes through get_backend('gem') and GemInterpreter.stream, greedy."""
    from gem_core.backends import GenerationParams
    from gem_core.model.tiny import ECG_FILE
    from gem_core.settings import Settings

    settings = Settings(model=str(tiny_gem_dir), ecg_tower=str(tiny_gem_dir / ECG_FILE), device="cpu")
    params = GenerationParams(max_new_tokens=6)
    meta = run(wfdb_set, tmp_path / "a", "gem", limit=2, settings=settings, params=params, progress=False)
    first = read_answers(tmp_path / "a" / ANSWERS)
    assert meta["n_answered"] == 2 and all(isinstance(a["answer"], str) for a in first.values())
    assert meta["model"]["model"] == str(tiny_gem_dir) and meta["model"]["version"].startswith(
        "config sha256 "
    )
    assert meta["decoding"] == {
        "max_new_tokens": 6,
        "temperature": 0.0,
        "top_p": 1.0,
        "seed": None,
        "greedy": True,
    }
    # greedy: a second run gives the same answers
    run(wfdb_set, tmp_path / "b", "gem", limit=2, settings=settings, params=params, progress=False)
    second = read_answers(tmp_path / "b" / ANSWERS)
    assert {k: v["answer"] for k, v in first.items()} == {k: v["answer"] for k, v in second.items()}


def test_inline_lettered_options_are_multiple_choice(tmp_path):
    rec = {"id": "q", "image": "q.png", "conversations": [
        {"from": "human", "value": "<image>\nWhich rhythm? Options: (A) Sinus rhythm (B) Atrial fibrillation"},
        {"from": "gpt", "value": "(B) Atrial fibrillation"}]}  # fmt: skip
    (tmp_path / "s.json").write_text(json.dumps([rec]))
    (item,) = load_set(tmp_path / "s.json").items
    assert (item.task, item.options, item.gold) == ("mcq", ["Sinus rhythm", "Atrial fibrillation"], "B")


def test_cli_help_lists_the_commands():
    proc = subprocess.run(
        [sys.executable, "-m", "eval", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert all(cmd in proc.stdout for cmd in ("run", "score", "rescore-judge", "compare"))
    proc = subprocess.run([sys.executable, "-m", "eval", "run", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert all(
        flag in proc.stdout for flag in ("--backend", "--set", "--out", "--model", "--limit", "--concurrency")
    )
