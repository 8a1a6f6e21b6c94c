"""Acceptance: GEM-style paragraphs (written for this project) grounded on simulated and real ECGs,
checked claim by claim (feature, leads, value, verdict), with deliberately wrong claims that must come
out ``contradicted``; the streaming path agrees with the one-shot path; the CLI prints JSON.

Verdicts are asserted exactly where the measurement is unambiguous for the record (rate, rhythm,
premature beats, bundle-branch width, clear ST shifts); "*" marks a claim whose verdict depends on a
borderline measurement, where only "checked, not skipped" is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gem_core.ecg import load_ecg
from gem_core.features import measure
from gem_core.grounding import ground
from gem_core.samples import synthetic_ecg
from tests.conftest import REPO, SHARED_ECG

S, C, N = "supported", "contradicted", "not_checkable"
CHECKED = "*"


def _leads(spec: str) -> list[str]:
    return spec.split() if spec else []


# (record, paragraph, [(feature, leads, value, verdict), ...]) -- every claim of the paragraph, in order.
PARAGRAPHS = [
    (
        "synthetic:75",
        "Upon review of the tracing and the computed measurements, the rhythm is regular at a heart rate of "
        "approximately 75 bpm. The RR intervals are consistent at about 800 ms. No premature ventricular "
        "contractions or pauses are identified, and there is no evidence of atrial fibrillation. A heart rate "
        "of 130 bpm indicates tachycardia.",
        [
            ("rhythm", "", None, S),
            ("heart_rate", "", 75.0, S),
            ("rr_interval", "", 800.0, S),
            ("pvc", "", None, S),  # negated: none found
            ("pause", "", None, S),  # negated
            ("atrial_fibrillation", "", None, S),  # negated
            ("heart_rate", "", 130.0, C),
            ("tachycardia", "", None, C),
        ],
    ),
    (
        "synthetic:45",
        "The ECG shows bradycardia with a ventricular rate of 45 bpm. The RR intervals are prolonged, "
        "measuring around 1330 ms, and the rhythm is regular without premature beats. A rapid ventricular "
        "rate above 100 bpm is present.",
        [
            ("bradycardia", "", None, S),
            ("heart_rate", "", 45.0, S),
            ("rr_interval", "", 1330.0, S),
            ("rhythm", "", None, S),
            ("premature_beat", "", None, S),
            ("tachycardia", "", None, C),
            ("heart_rate", "", 100.0, C),
        ],
    ),
    (
        "synthetic:120",
        "The heart rate is elevated at 120 bpm with regular RR intervals of 500 ms. The rate is not slow. "
        "A long RR interval of 900 ms follows a premature atrial contraction.",
        [
            ("heart_rate", "", 120.0, S),
            ("rr_interval", "", 500.0, S),  # "regular RR intervals of 500 ms": the number is the claim
            ("heart_rate", "", None, S),  # "not slow"
            ("rr_interval", "", 900.0, C),
            ("pac", "", None, C),
        ],
    ),
    (
        "synthetic:100",
        "The ventricular rate is 100 bpm. The rhythm is irregular. Sinus bradycardia is noted.",
        [
            ("heart_rate", "", 100.0, S),
            ("rhythm", "", None, C),
            ("sinus_bradycardia", "", None, C),
        ],
    ),
    (
        "cpsc2018/A0003",
        "The ECG shows atrial fibrillation with a rapid ventricular response, the heart rate averaging about "
        "145 bpm. The RR intervals are irregularly irregular and distinct P waves are absent throughout. "
        "The QRS complexes in lead V1 are wide, exceeding 120 ms. The heart rate is 60 bpm. Normal sinus "
        "rhythm is present.",
        [
            ("atrial_fibrillation", "", None, S),
            ("tachycardia", "", None, S),
            ("heart_rate", "", 145.0, S),
            ("rr_interval", "", None, S),
            ("p_wave", "", None, S),  # negated: P waves absent
            ("qrs_duration", "V1", 120.0, CHECKED),  # borderline in this record
            ("heart_rate", "", 60.0, C),
            ("normal_sinus_rhythm", "", None, C),
        ],
    ),
    (
        "cpsc2018/A0005",
        "The heart rate is approximately 120 bpm. A premature ventricular contraction is seen near the end of "
        "the recording, followed by a compensatory pause. The heart rate is 70 bpm, and there are no "
        "premature beats.",
        [
            ("heart_rate", "", 120.0, S),
            ("pvc", "", None, S),
            ("pause_compensatory", "", None, S),
            ("heart_rate", "", 70.0, C),
            ("premature_beat", "", None, C),
        ],
    ),
    (
        "cpsc2018/A0001",
        "The heart rate is about 100 bpm. A right bundle branch block is present, as seen in the prolonged "
        "QRS duration (>120 ms, particularly in leads I, aVL, and V6), with an rsR' pattern in V1. The QRS "
        "complexes are narrow, measuring 80 ms.",
        [
            ("heart_rate", "", 100.0, S),
            ("rbbb", "", None, S),
            ("qrs_duration", "I aVL V6", 120.0, S),
            ("rsr_pattern", "V1", None, N),
            ("qrs_duration", "", 80.0, C),
        ],
    ),
    (
        "cpsc2018/A0011",
        "Sinus rhythm with left bundle branch block is observed; the QRS duration exceeds 120 ms in the "
        "lateral leads. The heart rate is 67 bpm. There is tachycardia at 110 bpm.",
        [
            ("sinus_rhythm", "", None, CHECKED),
            ("lbbb", "", None, S),
            ("qrs_duration", "I aVL V5 V6", 120.0, S),
            ("heart_rate", "", 67.0, S),
            ("tachycardia", "", None, C),
            ("heart_rate", "", 110.0, C),
        ],
    ),
    (
        "cpsc2018/A0021",
        "The heart rate is 67 bpm. ST elevation is present in V1 through V4, most marked in V3, and peaked T "
        "waves are seen in lead V3. There is ST depression in V2 and V3. No ST elevation is seen in the "
        "anterior leads.",
        [
            ("heart_rate", "", 67.0, S),
            ("st_elevation", "V1 V2 V3 V4", None, S),
            ("t_peaked", "V3", None, S),
            ("st_depression", "V2 V3", None, C),
            ("st_elevation", "V3 V4", None, C),  # negated, but V3 and V4 are elevated
        ],
    ),
    (
        "cinc2021_torch_ecg/E07509",
        "The rhythm is sinus bradycardia at 48 bpm. A right bundle branch block is present, with T wave "
        "inversion in V1 and V2. A first-degree AV block is seen, with a PR interval of 260 ms.",
        [
            ("sinus_bradycardia", "", None, S),  # "the rhythm" alone is no claim
            ("heart_rate", "", 48.0, S),
            ("rbbb", "", None, S),
            ("t_inversion", "V1 V2", None, S),
            ("first_degree_av_block", "", None, C),
            ("pr_interval", "", 260.0, C),
        ],
    ),
    (
        "cinc2021_torch_ecg/E07512",
        "Sinus bradycardia at 58 bpm with a regular rhythm. Atrial fibrillation is present, and the rhythm "
        "is irregularly irregular.",
        [
            ("sinus_bradycardia", "", None, S),
            ("heart_rate", "", 58.0, S),
            ("rhythm", "", None, S),
            ("atrial_fibrillation", "", None, C),
            ("rhythm", "", None, C),
        ],
    ),
    (
        "cinc2021_torch_ecg/E07514",
        "The ECG demonstrates sinus tachycardia at approximately 115 bpm. The rhythm is regular, without "
        "premature beats. The heart rate is below 60 bpm.",
        [
            ("sinus_tachycardia", "", None, S),
            ("heart_rate", "", 115.0, S),
            ("rhythm", "", None, S),
            ("premature_beat", "", None, S),
            ("heart_rate", "", 60.0, C),
        ],
    ),
    (
        "cpsc2018/A0049",
        "The heart rate is 80 bpm. A premature atrial contraction (PAC) makes the rhythm irregular; no "
        "premature ventricular contractions are seen. A premature ventricular "
        "contraction is seen.",
        [
            ("heart_rate", "", 80.0, S),
            ("pac", "", None, S),
            ("rhythm", "", None, S),
            ("pvc", "", None, S),  # negated
            ("pvc", "", None, C),
        ],
    ),
    (
        "cpsc2018/A0024",
        "Frequent premature ventricular contractions are present, making the rhythm irregular, and the heart "
        "rate is approximately 60 bpm. No premature beats are seen. The heart rate is 95 bpm.",
        [
            ("pvc", "", None, S),
            ("rhythm", "", None, S),
            ("heart_rate", "", 60.0, S),
            ("premature_beat", "", None, C),
            ("heart_rate", "", 95.0, C),
        ],
    ),
    (
        "cpsc2018/A0001",
        "The ECG demonstrates sinus rhythm with occasional premature ventricular contractions (PVCs), as "
        "evidenced by irregular RR intervals, particularly the shorter interval at 255 ms and the "
        "compensatory pause following it at 517 ms.",
        [
            ("sinus_rhythm", "", None, CHECKED),
            ("pvc", "", None, C),
            ("rr_interval", "", None, C),
            ("rr_interval", "", 255.0, C),
            ("pause_compensatory", "", 517.0, C),
        ],
    ),
    (
        "cpsc2018/A0021",
        "In the precordial leads, particularly V2 through V4, the QRS voltage is not low. ST-T changes are seen "
        "in V1 to V3. The heart rate is regular at 67 bpm.",
        [
            ("qrs_amplitude", "V2 V3 V4", None, S),  # "not low"
            ("st_t_changes", "V1 V2 V3", None, S),
            ("heart_rate", "", 67.0, S),
        ],
    ),
    (
        "cpsc2018/A0044",
        "A left bundle branch block is present: the QRS duration is prolonged at about 150 ms, with upright R "
        "waves in leads I, aVL, V5 and V6 and a deep S wave in lead V1. A dominant R wave in lead V1 and S "
        "waves in leads I and V6 are also seen. Low QRS voltage is present in the limb leads.",
        [
            ("lbbb", "", None, S),
            ("qrs_duration", "", 150.0, S),
            ("r_waves", "I aVL V5 V6", None, S),
            ("s_waves", "V1", None, S),
            ("r_waves", "V1", None, C),  # the right bundle branch pattern, not this record's
            ("s_waves", "I V6", None, C),
            ("low_voltage", "I II III aVR aVL aVF", None, S),
        ],
    ),
]


def _load(record: str):
    if record.startswith("synthetic:"):
        return synthetic_ecg(heart_rate=int(record.split(":")[1]))
    path = SHARED_ECG / f"{record}.hea"
    if not path.exists():
        pytest.skip(f"real record {path} not found (a fresh clone has no ../shared)")
    return load_ecg(path)


@pytest.fixture(scope="module")
def measured():
    """Each ECG measured once for the whole module."""
    cache: dict = {}

    def get(record: str):
        if record not in cache:
            cache[record] = measure(_load(record))
        return cache[record]

    return get


def test_there_are_enough_paragraphs_and_wrong_claims():
    assert len(PARAGRAPHS) >= 15
    assert sum(v == C for _, _, exp in PARAGRAPHS for *_, v in exp) >= 15
    assert any(r.startswith("synthetic") for r, _, _ in PARAGRAPHS)
    assert any(not r.startswith("synthetic") for r, _, _ in PARAGRAPHS)


@pytest.mark.parametrize(
    "record, text, expected", PARAGRAPHS, ids=[f"{i:02d}-{p[0]}" for i, p in enumerate(PARAGRAPHS)]
)
def test_paragraph_claim_by_claim(measured, record, text, expected):
    m = measured(record)
    claims = ground(text, m, final=True)
    got = [(c["feature"], c["leads"], c["value"]) for c in claims]
    assert got == [(f, _leads(leads), v) for f, leads, v, _ in expected], "\n".join(
        c["measured"] or c["text"] for c in claims
    )
    for c, (_, _, _, verdict) in zip(claims, expected, strict=True):
        detail = f"{c['text']!r}: {c['measured']}"
        if verdict == CHECKED:
            assert c["verdict"] in (S, C), detail
        else:
            assert c["verdict"] == verdict, detail
        if c["verdict"] != N:
            assert c["measured"].startswith("text: ") and "; measured: " in c["measured"]
            assert c["evidence"], detail
        for e in c["evidence"]:
            assert 0 <= e["t_start_ms"] < e["t_end_ms"] <= m.duration_ms
        assert text[c["char_start"] : c["char_end"]] == c["text"]


def test_streaming_prefixes_end_with_the_one_shot_result(measured):
    record, text, _ = PARAGRAPHS[4]
    m = measured(record)
    seen: dict[str, dict] = {}
    for n in range(1, len(text) + 1, 7):
        for c in ground(text[:n], m):
            if c["id"] in seen:
                assert c == seen[c["id"]]
            seen[c["id"]] = c
    final = ground(text, m, final=True)
    assert all(seen.get(c["id"], c) == c for c in final)
    assert {c["id"] for c in final} >= set(seen)


_SENTENCES = st.sampled_from([text for _, text, _ in PARAGRAPHS] + ["(", ",", "no", "V1-V6", "0.", "e.g."])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_SENTENCES, max_size=4).map(" ".join), st.integers(min_value=0, max_value=2000))
def test_real_measurements_any_prefix_spans_inside(measured, text, cut):
    m = measured("synthetic:75")
    prefix = text[:cut]
    claims = ground(prefix, m)
    assert claims == ground(prefix, m)
    for c in claims:
        assert 0 <= c["char_start"] < c["char_end"] <= len(prefix)
        for e in c["evidence"]:
            assert 0 <= e["t_start_ms"] < e["t_end_ms"] <= m.duration_ms


def test_evidence_of_a_pvc_claim_is_on_the_premature_beat(measured):
    m = measured("cpsc2018/A0005")
    (c,) = [c for c in ground("A premature ventricular contraction is seen.", m) if c["feature"] == "pvc"]
    times = [float(pb["time_ms"]) for pb in m.premature_beats if pb["kind"] == "PVC"]
    assert times
    for e in c["evidence"]:
        assert any(e["t_start_ms"] - 200 <= t <= e["t_end_ms"] + 200 for t in times)


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "gem_core.grounding", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_cli_prints_claims_json(tmp_path):
    path = SHARED_ECG / "cpsc2018" / "A0003.hea"
    if not path.exists():
        pytest.skip("real records not found")
    text = tmp_path / "gem.txt"
    text.write_text(PARAGRAPHS[4][1], encoding="utf-8")
    out = _cli("--ecg", str(path), "--text", str(text))
    assert out.returncode == 0, out.stderr
    claims = json.loads(out.stdout)["claims"]
    assert [c["feature"] for c in claims][:3] == ["atrial_fibrillation", "tachycardia", "heart_rate"]
    assert claims[0]["verdict"] == S and claims[0]["evidence"]


def test_cli_without_ecg_extracts_only(tmp_path):
    text = tmp_path / "gem.txt"
    text.write_text("ST elevation in V1-V3.", encoding="utf-8")
    out = _cli("--text", str(text))
    assert out.returncode == 0, out.stderr
    (c,) = json.loads(out.stdout)["claims"]
    assert (c["feature"], c["leads"], c["verdict"]) == ("st_elevation", ["V1", "V2", "V3"], N)


@pytest.mark.parametrize("which", ["text", "ecg"])
def test_cli_bad_paths_are_clear_errors(tmp_path, which):
    text = tmp_path / "gem.txt"
    text.write_text("Rate 75 bpm.", encoding="utf-8")
    args = (
        ["--text", str(tmp_path / "missing.txt")]
        if which == "text"
        else ["--ecg", str(tmp_path / "no.hea"), "--text", str(text)]
    )
    out = _cli(*args)
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and "Traceback" not in out.stderr
