"""The measurement-based interpreter end to end: simulated and real ECGs, streaming, claims, grounding."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from gem_core.backends import Interpreter, get_backend
from gem_core.backends.measure import LABEL, MeasureInterpreter
from gem_core.ecg import ECG
from gem_core.errors import GemError
from gem_core.labels import CPSC_CLASSES, labels_from_text
from gem_core.prompts import DEFAULT_QUESTION
from gem_core.settings import get_settings

# Classes that contradict each other or a normal reading.
CONTRADICTS = {
    "Normal": set(CPSC_CLASSES) - {"Normal"},
    "AF": {"Normal", "PAC", "I-AVB"},
    "LBBB": {"Normal", "RBBB"},
    "RBBB": {"Normal", "LBBB"},
    "I-AVB": {"Normal", "AF"},
    "PAC": {"Normal", "AF"},
    "PVC": {"Normal"},
    "STD": {"Normal"},
    "STE": {"Normal"},
}


@pytest.fixture(scope="module")
def interpreter():
    return MeasureInterpreter()


@pytest.fixture(scope="module")
def readings(interpreter):
    """Readings of simulated sinus ECGs at 50, 75 and 120 bpm (computed once)."""
    from gem_core.samples import synthetic_ecg

    return {rate: interpreter.interpret(synthetic_ecg(rate)) for rate in (50, 75, 120)}


def test_protocol_and_registry(interpreter):
    assert isinstance(interpreter, Interpreter)
    assert (interpreter.name, interpreter.label, interpreter.is_gem, interpreter.device) == (
        "measure",
        "measurement-based interpreter (rule-based, not GEM)",
        False,
        "cpu",
    )
    assert interpreter.label == LABEL
    assert isinstance(get_backend("measure", get_settings()), MeasureInterpreter)


@pytest.mark.parametrize(
    ("rate", "rhythm"), [(50, "sinus bradycardia"), (75, "normal sinus rhythm"), (120, "sinus tachycardia")]
)
def test_simulated_sinus(readings, rate, rhythm):
    reading = readings[rate]
    labels = labels_from_text(reading.text)
    assert "Normal" in labels, reading.text
    assert not set(labels) & CONTRADICTS["Normal"], reading.text
    assert rhythm in reading.text
    assert (
        f"{rate} bpm" in reading.text
        or f"{rate - 1} bpm" in reading.text
        or f"{rate + 1} bpm" in reading.text
    )
    codes = {lab["label"]: lab["snomed"] for lab in reading.labels}
    assert codes["Normal"] == "426783006"
    if rate == 50:
        assert codes["SB"] == "426177001"
    if rate == 120:
        assert codes["STach"] == "427084000"


def test_claims_cover_sentences_and_evidence_is_inside_the_record(readings):
    reading = readings[75]
    duration_ms = 10_000
    assert len(reading.claims) == len(reading.sentences) - 1  # every sentence but the diagnosis
    for claim in reading.claims:
        assert reading.text[claim["char_start"] : claim["char_end"]] == claim["text"]
        assert claim["verdict"] == "supported"
        for span in claim["evidence"]:
            assert 0 <= span["t_start_ms"] < span["t_end_ms"] <= duration_ms + 1
            assert span["lead"] in ECG.from_array(np.zeros((12, 10)), 500).leads


def test_stream_yields_the_paragraph_sentence_by_sentence(interpreter, readings):
    from gem_core.samples import synthetic_ecg

    chunks = list(interpreter.stream(synthetic_ecg(75), DEFAULT_QUESTION))
    assert "".join(chunks) == readings[75].text
    assert len(chunks) == len(readings[75].sentences) >= 5


def test_stream_honours_stop(interpreter):
    from gem_core.samples import synthetic_ecg

    stop = threading.Event()
    chunks = []
    for chunk in interpreter.stream(synthetic_ecg(75), DEFAULT_QUESTION, stop=stop):
        chunks.append(chunk)
        stop.set()
    assert len(chunks) == 1
    stop_first = threading.Event()
    stop_first.set()
    assert list(interpreter.stream(synthetic_ecg(75), DEFAULT_QUESTION, stop=stop_first)) == []


def test_not_an_ecg_is_a_gem_error(interpreter):
    with pytest.raises(GemError, match="needs an ECG"):
        interpreter.interpret(np.zeros((12, 5000)))


def test_flat_record_says_it_cannot_be_read(interpreter):
    reading = interpreter.interpret(ECG.from_array(np.zeros((12, 5000), dtype=np.float32), 500))
    assert "cannot be interpreted reliably" in reading.text
    assert labels_from_text(reading.text) == []


def test_noise_only_record_does_not_guess(interpreter):
    rng = np.random.default_rng(0)
    reading = interpreter.interpret(ECG.from_array(rng.normal(0, 1.0, (12, 5000)).astype(np.float32), 500))
    assert labels_from_text(reading.text) == [] or "cannot be interpreted" in reading.text


# --- real records (skip without ../shared) -------------------------------------------------------
def _cpsc_records(root, cls):
    from gem_core.ecg import load_ecg

    out = []
    for header in sorted((root / "cpsc2018").glob("*.hea")):
        text = header.read_text()
        dx = next((ln.split(":", 1)[1] for ln in text.splitlines() if ln.startswith("#Dx")), "")
        if cls in [d.strip() for d in dx.split(",")]:
            out.append(load_ecg(header))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("cls", CPSC_CLASSES)
def test_real_records_of_each_class(shared_ecg_dir, interpreter, cls):
    """On the CPSC records of each class, the class is named in at least one record and, where named,
    no contradicting class is named with it."""
    records = _cpsc_records(shared_ecg_dir, cls)[:4]
    if not records:
        pytest.skip(f"no CPSC record of class {cls}")
    named = 0
    for ecg in records:
        labels = set(labels_from_text(interpreter.interpret(ecg).text))
        truth = set(ecg.metadata.get("labels", []))
        if cls in labels:
            named += 1
            assert not (labels & CONTRADICTS[cls]) - truth, (ecg.record_id, labels)
    assert named >= 1, f"{cls} named in none of {[e.record_id for e in records]}"


@pytest.mark.slow
def test_every_claim_is_supported_by_the_grounding_checker(shared_ecg_dir, interpreter, readings):
    grounding = pytest.importorskip("gem_core.grounding", reason="gem_core.grounding has not landed yet")
    from gem_core.ecg import load_ecg
    from gem_core.features import measure
    from gem_core.samples import synthetic_ecg

    ecgs = [synthetic_ecg(rate) for rate in (50, 75, 120)]
    ecgs += [
        load_ecg(shared_ecg_dir / "cpsc2018" / f"{rid}.hea") for rid in ("A0001", "A0003", "A0011", "A0021")
    ]
    for ecg in ecgs:
        reading = interpreter.interpret(ecg)
        result = grounding.ground(reading.text, measure(ecg))
        claims = result["claims"] if isinstance(result, dict) else result
        for claim in claims:
            claim = claim if isinstance(claim, dict) else claim.to_dict()
            assert claim["verdict"] != "contradicted", (ecg.record_id, claim)
