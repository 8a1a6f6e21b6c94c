"""``python -m gem_core.interpret``: streaming text, ``--json`` output, backends, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from gem_core.interpret import main
from gem_core.model.tiny import ECG_FILE
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in ("GEM_MODEL", "GEM_ECG_TOWER", "GEM_OPENAI_BASE_URL", "GEM_DEVICE", "GEM_MAX_NEW_TOKENS"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture(scope="module")
def npy_file(tmp_path_factory):
    from gem_core.samples import synthetic_ecg

    path = tmp_path_factory.mktemp("ecg") / "sinus.npy"
    np.save(path, synthetic_ecg(heart_rate=75).signal)  # .npy at 500 Hz (the assumed rate)
    return path


def test_measure_backend_streams_text(npy_file, capsys):
    assert main([str(npy_file), "--backend", "measure"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip()) > 40 and "rhythm" in out.lower()


def test_json_has_text_backend_labels_claims(npy_file, capsys):
    assert main([str(npy_file), "--backend", "measure", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)  # stdout is exactly one JSON object
    assert set(result) == {"text", "backend", "labels", "claims"}
    assert result["backend"] == "measure" and result["text"]
    assert isinstance(result["labels"], list) and isinstance(result["claims"], list)
    assert result["claims"], "the measure text states values, so grounding finds claims"
    assert "warning" not in captured.err  # labels and grounding are both available


LABEL_KEYS = {"label", "statement", "snomed", "snomed_codes", "cpsc"}


def test_json_labels_carry_their_abbreviation_and_snomed_code(tmp_path, capsys):
    from gem_core.labels import CPSC_CLASSES, LABELS, labels_from_text
    from gem_core.samples import synthetic_ecg

    path = tmp_path / "slow.npy"
    np.save(path, synthetic_ecg(heart_rate=50).signal)
    assert main([str(path), "--backend", "measure", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    labels = {lab["label"]: lab for lab in result["labels"]}
    assert labels and all(set(lab) == LABEL_KEYS for lab in result["labels"])
    for abbr, lab in labels.items():
        assert lab["snomed"] == LABELS[abbr].code and lab["snomed_codes"] == list(LABELS[abbr].snomed)
        assert lab["cpsc"] == (abbr in CPSC_CLASSES)
    # 50 bpm: sinus bradycardia is the reading's own label (not a CPSC class), with its code
    assert labels["SB"]["snomed"] == "426177001" and labels["SB"]["cpsc"] is False
    assert set(labels_from_text(result["text"])) <= set(labels)  # every CPSC class the text names


def test_json_labels_of_a_model_text_are_the_cpsc_classes_it_names(npy_file):
    from gem_core.ecg import load_ecg
    from gem_core.interpret import labels_and_claims

    text = "Atrial fibrillation with a right bundle branch block; no ST elevation."
    labels, _ = labels_and_claims(text, load_ecg(npy_file), backend=None)
    assert [(lab["label"], lab["snomed"], lab["cpsc"]) for lab in labels] == [
        ("AF", "164889003", True),
        ("RBBB", "59118001", True),
    ]


def test_gem_backend_with_tiny_model(npy_file, tiny_gem_dir, capsys):
    args = [
        str(npy_file),
        "--backend",
        "gem",
        "--model",
        str(tiny_gem_dir),
        "--ecg-tower",
        str(tiny_gem_dir / ECG_FILE),
    ]
    assert main([*args, "--max-new-tokens", "8", "--question", "Rhythm?"]) == 0
    assert capsys.readouterr().out.strip()
    assert main([*args, "--max-new-tokens", "8", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["backend"] == "gem" and result["text"].strip()
    assert all(set(lab) == LABEL_KEYS for lab in result["labels"])


def test_model_setting_makes_gem_the_default(npy_file, tiny_gem_dir, capsys, monkeypatch):
    monkeypatch.setenv("GEM_MODEL", str(tiny_gem_dir))
    assert main([str(npy_file), "--max-new-tokens", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["backend"] == "gem"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{missing}"], "error:"),
        (["{npy}", "--backend", "gem"], "GEM_MODEL"),
        (["{npy}", "--backend", "openai"], "GEM_OPENAI_BASE_URL"),
        (["{npy}", "--backend", "gem", "--model", "{tiny}", "--ecg-tower", "{tiny}/none.pt"], "ecg_tower"),
    ],
)
def test_errors_exit_2_with_a_message(npy_file, tiny_gem_dir, tmp_path, capsys, args, message):
    fill = {"missing": tmp_path / "nope.npy", "npy": npy_file, "tiny": tiny_gem_dir}
    assert main([a.format(**fill) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_runs_as_a_module(npy_file):
    proc = subprocess.run(
        [sys.executable, "-m", "gem_core.interpret", str(npy_file), "--backend", "measure", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["backend"] == "measure"
