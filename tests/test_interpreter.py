"""The measurement-based interpreter end to end: simulated and real ECGs, streaming, claims, grounding."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from gem_core.backends import Interpreter, get_backend
from gem_core.backends.measure import LABEL, MeasureInterpreter
from gem_core.ecg import ECG
from gem_core.ecg import LEADS as ECG_LEADS
from gem_core.errors import GemError
from gem_core.features import measure
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


# (P, Q, R, S, T) amplitudes in mV per lead of a plausible normal 12-lead ECG (axis about +50 degrees,
# normal R-wave progression). Kept independent of gem_core.samples' model (tests/test_samples.py checks
# that one), so the label tests here do not rest on the gallery's simulation.
NORMAL_WAVES = {
    "I": (0.08, 0.05, 0.7, 0.1, 0.25), "II": (0.15, 0.05, 1.1, 0.15, 0.35), "III": (0.07, 0.03, 0.45, 0.2, 0.12),
    "aVR": (-0.1, 0.0, 0.1, 0.85, -0.3), "aVL": (0.03, 0.04, 0.3, 0.15, 0.08), "aVF": (0.1, 0.04, 0.75, 0.15, 0.22),
    "V1": (0.06, 0.0, 0.25, 1.0, 0.1), "V2": (0.07, 0.0, 0.5, 1.4, 0.5), "V3": (0.07, 0.0, 0.9, 0.9, 0.55),
    "V4": (0.07, 0.05, 1.4, 0.5, 0.5), "V5": (0.07, 0.07, 1.5, 0.25, 0.4), "V6": (0.06, 0.06, 1.2, 0.1, 0.3),
}  # fmt: skip


def simulated_sinus(rate: int, duration_s: float = 10.0, fs: int = 500, seed: int = 0) -> ECG:
    """A simulated normal sinus 12-lead ECG: Gaussian P, Q, R, S and T waves per beat (PR about 130 ms,
    QRS about 95 ms, QTc 410 ms by Bazett), 0.01 mV noise. Hand-written because no library simulates a
    lead-consistent normal 12-lead morphology at a chosen rate."""
    rr = 60.0 / rate
    t = np.arange(int(duration_s * fs)) / fs
    beats = np.arange(0.4, duration_s - 0.3, rr)
    qt = 0.410 * np.sqrt(rr)

    def wave(centre_s, width_s):
        return np.exp(-0.5 * ((t[None, :] - beats[:, None] - centre_s) / width_s) ** 2).sum(axis=0)

    shapes = (wave(-0.12, 0.02), -wave(-0.025, 0.008), wave(0.0, 0.01), -wave(0.025, 0.009))
    shapes += (wave(qt - 0.1, 0.045 * np.sqrt(rr / 0.8)),)
    rows = [sum(a * shape for a, shape in zip(NORMAL_WAVES[lead], shapes, strict=True)) for lead in ECG_LEADS]
    signal = np.array(rows) + np.random.default_rng(seed).normal(0, 0.01, (12, t.size))
    return ECG.from_array(signal.astype(np.float32), fs, record_id=f"simulated-sinus-{rate}bpm")


@pytest.fixture(scope="module")
def readings(interpreter):
    """Readings of simulated sinus ECGs at 50, 75 and 120 bpm (computed once)."""
    return {rate: interpreter.interpret(simulated_sinus(rate)) for rate in (50, 75, 120)}


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


@pytest.mark.parametrize("rate", [40, 45, 50, 75, 120])
def test_simulated_pr_interval_does_not_stretch_at_slow_rates(rate):
    """``simulated_sinus`` puts the P wave 120 ms before R at every rate (PR about 130 ms); at 50 bpm the
    P onset was once found ~300 ms before R, which read as first-degree AV block."""
    pr = measure(simulated_sinus(rate)).global_values["pr_ms"]
    assert pr == pytest.approx(130, abs=15)


@pytest.mark.parametrize(
    ("rate", "rhythm"),
    [
        (50, "sinus bradycardia"),
        (75, "normal sinus rhythm"),
        (120, "sinus tachycardia"),
    ],
)
def test_simulated_sinus(readings, rate, rhythm):
    reading = readings[rate]
    labels = labels_from_text(reading.text)
    pr = measure(simulated_sinus(rate)).global_values["pr_ms"]
    assert ("I-AVB" in labels) == (pr > 200), (pr, reading.text)  # the reading follows the measured PR
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
    assert len(reading.claims) == len(reading.sentences)  # one claim per sentence, diagnosis included
    assert reading.claims[-1]["feature"] == "diagnosis" and reading.claims[-1]["evidence"]
    for claim in reading.claims:
        assert reading.text[claim["char_start"] : claim["char_end"]] == claim["text"]
        assert claim["verdict"] == "supported"
        for span in claim["evidence"]:
            assert 0 <= span["t_start_ms"] < span["t_end_ms"] <= duration_ms + 1
            assert span["lead"] in ECG.from_array(np.zeros((12, 10)), 500).leads


def test_reading_is_json_safe(readings):
    data = json.loads(json.dumps(readings[75].to_dict()))
    assert set(data) == {"text", "labels", "claims", "findings"}
    assert data["labels"] == [
        {"label": "Normal", "statement": "normal ECG (sinus rhythm)", "snomed": "426783006",
         "snomed_codes": ["426783006"], "cpsc": True}
    ]  # fmt: skip
    assert [f["key"] for f in data["findings"]][:2] == ["heart_rate", "rhythm"]


def test_stream_yields_the_paragraph_sentence_by_sentence(interpreter, readings):
    chunks = list(interpreter.stream(simulated_sinus(75), DEFAULT_QUESTION))
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


def test_noisy_leads_are_named_and_left_out(interpreter):
    ecg = simulated_sinus(75)
    signal = ecg.signal.copy()
    signal[7:10] += np.random.default_rng(1).normal(0, 0.5, (3, signal.shape[1])).astype(np.float32)
    reading = interpreter.interpret(ECG.from_array(signal, ecg.fs))
    assert reading.sentences[0] == "Leads V2, V3 and V4 are noisy and were left out of the analysis."
    assert labels_from_text(reading.text) == ["Normal"]
    assert not any({"V2", "V3", "V4"} & set(c["leads"]) for c in reading.claims[1:])


def test_noise_only_record_does_not_guess(interpreter):
    rng = np.random.default_rng(0)
    reading = interpreter.interpret(ECG.from_array(rng.normal(0, 1.0, (12, 5000)).astype(np.float32), 500))
    assert "cannot be interpreted reliably" in reading.text
    assert reading.labels == [] and "Overall" not in reading.text


def test_record_with_too_few_clean_leads_says_so_instead_of_guessing(interpreter):
    """Beats are found (lead II is clean) but 8 leads are noisy: the noisy leads are named and no
    diagnosis is offered."""
    ecg = simulated_sinus(75)
    signal = ecg.signal.copy()
    noisy = [0, 2, 3, 4, 5, 6, 7, 8]  # I, III, aVR, aVL, aVF, V1, V2, V3
    signal[noisy] += np.random.default_rng(1).normal(0, 0.5, (len(noisy), signal.shape[1])).astype(np.float32)
    reading = interpreter.interpret(ECG.from_array(signal, ecg.fs))
    assert reading.sentences[0] == (
        "Leads I, III, aVR, aVL, aVF, V1, V2 and V3 are noisy and were left out of the analysis."
    )
    assert "cannot be interpreted reliably (only 4 of 12 leads are of usable quality)" in reading.sentences[1]
    assert reading.labels == [] and len(reading.sentences) == 2


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


# Recall each class must reach on the shared CPSC records: half, except ST depression, which the ST
# level at J+60 ms finds in 1 of the 6 shared records (subtle depressions under 0.05 mV: a known
# weakness, stated rather than hidden), and ST elevation, judged at the J point by the UDMI limits: 2 of
# the 5 shared records reach them there; the others rise over them only at J+60 ms, as normal ST
# segments running into tall T waves do. The precision that buys is pinned below.
MIN_RECALL = {"STD": 1 / 6, "STE": 2 / 5}


@pytest.mark.slow
@pytest.mark.parametrize("cls", CPSC_CLASSES)
def test_real_records_of_each_class(shared_ecg_dir, interpreter, cls):
    """On the CPSC records of each class, the class is named in at least MIN_RECALL of them (a share, so
    that naming it once in eight records does not pass) and, where named, no contradicting class is
    named with it."""
    records = _cpsc_records(shared_ecg_dir, cls)
    if not records:
        pytest.skip(f"no CPSC record of class {cls}")
    named = 0
    for ecg in records:
        labels = set(labels_from_text(interpreter.interpret(ecg).text))
        truth = set(ecg.metadata.get("labels", []))
        if cls in labels:
            named += 1
            assert not (labels & CONTRADICTS[cls]) - truth, (ecg.record_id, labels)
    assert named >= 1 and named >= MIN_RECALL.get(cls, 0.5) * len(records), (cls, named, len(records))


@pytest.mark.slow
def test_st_elevation_is_not_named_on_cpsc_records_without_it(shared_ecg_dir, interpreter):
    """ST elevation read at J+60 ms was named on 2 of the 45 shared CPSC records not labelled with it
    (first-degree AV block and PVCs in men with tall anterior T waves); at the J point on none. At most
    one may slip back."""
    from gem_core.ecg import load_ecg

    named = []
    for header in sorted((shared_ecg_dir / "cpsc2018").glob("*.hea")):
        ecg = load_ecg(header)
        text = interpreter.interpret(ecg).text
        if "STE" not in ecg.metadata.get("labels", []) and "STE" in labels_from_text(text):
            named.append(ecg.record_id)
    assert len(named) <= 1, named


@pytest.mark.slow
def test_every_claim_is_supported_by_the_grounding_checker(shared_ecg_dir, interpreter):
    """The grounding checker reads the interpreter's own text against the same measurements: every claim
    it finds is supported, on every shared record and the simulated ECGs. Each sentence's claim names
    the leads the sentence names, and a sentence that names leads names those its finding was read on."""
    from gem_core.backends.measure import named_leads
    from gem_core.ecg import load_ecg
    from gem_core.grounding import ground
    from gem_core.samples import synthetic_ecg
    from tests.conftest import shared_records

    ecgs = [simulated_sinus(rate) for rate in (50, 75, 120)] + [synthetic_ecg(75)]
    ecgs += [load_ecg(path) for path in shared_records()]
    assert len(ecgs) >= 4 + 104
    not_supported = []
    for ecg in ecgs:
        reading = interpreter.interpret(ecg)
        claims = ground(reading.text, measure(ecg), final=True)
        assert claims, ecg.record_id
        not_supported += [
            (ecg.record_id, c["text"], c["verdict"], c["measured"])
            for c in claims
            if c["verdict"] != "supported"
        ]
        for claim, finding in zip(reading.claims, reading.findings, strict=False):
            assert claim["leads"] == named_leads(claim["text"]), claim["text"]
            if claim["leads"]:
                assert set(claim["leads"]) == set(finding["leads"]), (ecg.record_id, claim["text"])
        for claim in claims:  # grounding finds no lead the sentence does not name
            sentence = next(
                c for c in reading.claims if c["char_start"] <= claim["char_start"] < c["char_end"]
            )
            assert set(claim["leads"]) <= set(sentence["leads"]), (ecg.record_id, claim["text"])
    assert not_supported == []
