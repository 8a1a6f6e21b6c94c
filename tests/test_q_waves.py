"""Q waves on synthetic records with known QRS lobes (``gem_core.beat_model``): the septal q of a normal
heart is measured and is not pathological; an inferior or anterior infarct's Q waves meet the Fourth
UDMI limits in two leads of a group and are named, and the claim checker reads "Q waves" and
"pathological Q waves" claims on the same measurements instead of calling them not checkable."""

from __future__ import annotations

import pytest

from gem_core import beat_model
from gem_core.beat_model import conduction_ecg
from gem_core.features import clear_cache, measure
from gem_core.grounding import ground
from gem_core.rules import assess, lead_median

NORMAL = beat_model._QRS["normal"]
INFARCTS = {
    # a Q of 0.4 mV for the first 40-45% of the QRS in II (III and aVF follow II)
    "inferior": {**NORMAL, "II": ((-0.4, 0.0, 0.45), (0.7, 0.35, 0.8), (-0.1, 0.7, 1.0))},
    # QS complexes in V2-V3, a Q in V4
    "anterior": {
        **NORMAL,
        "V2": ((-1.4, 0.0, 1.0),),
        "V3": ((-1.0, 0.0, 1.0),),
        "V4": ((-0.3, 0.0, 0.4), (1.0, 0.3, 0.8), (-0.2, 0.7, 1.0)),
    },
}


@pytest.fixture(autouse=True)
def _fresh():
    clear_cache()


def _record(monkeypatch, wall: str, rate: float = 70):
    monkeypatch.setitem(beat_model._QRS, wall, INFARCTS[wall])
    monkeypatch.setitem(beat_model._T, wall, beat_model._T["normal"])
    ecg, _ = conduction_ecg(rate, 100.0, 160.0, 0.0, morphology=wall, seed=3)
    return measure(ecg)


def _verdicts(text: str, m) -> list[str]:
    return [c["verdict"] for c in ground(text, m, final=True) if c["feature"].startswith("q_waves")]


def test_the_septal_q_of_a_normal_heart_is_measured_and_not_pathological():
    ecg, _ = conduction_ecg(70, 100.0, 160.0, 0.0, morphology="normal", seed=3)
    m = measure(ecg)
    for lead in ("I", "V5", "V6"):  # drawn with a 0.05-0.08 mV q over the QRS's first quarter
        assert 0.04 <= lead_median(m, lead, "q_amplitude") <= 0.1
        assert 5 <= lead_median(m, lead, "q_duration") <= 25
    assert lead_median(m, "V2", "q_amplitude") == 0  # rS: the r comes first
    assert not any(f.key == "q_waves" for f in assess(m).findings)
    assert _verdicts("Small q waves in leads V5 and V6.", m) == ["supported"]
    assert _verdicts("No pathological Q waves.", m) == ["supported"]
    assert _verdicts("Pathological Q waves in leads V5 and V6.", m) == ["contradicted"]


@pytest.mark.parametrize(
    ("wall", "leads", "where"),
    [("inferior", ["II", "aVF"], "(inferior)"), ("anterior", ["V2", "V3", "V4"], "(anterior)")],
)
def test_the_q_waves_of_an_infarct_are_named_and_supported(monkeypatch, wall, leads, where):
    m = _record(monkeypatch, wall)
    a = assess(m)
    (q,) = [f for f in a.findings if f.key == "q_waves"]
    assert q.leads == leads and not a.normal
    assert q.sentence.startswith(f"Pathological Q waves are seen in leads {leads[0]}")
    assert where in q.sentence
    assert "pathological Q waves" in a.diagnosis
    claims = ground(q.sentence, m, final=True)
    assert claims and all(c["verdict"] == "supported" for c in claims), claims
    assert _verdicts("No pathological Q waves.", m) == ["contradicted"]
    # the checker's evidence is the Q wave itself (QRS onset + Q duration), as the interpreter's is
    (claim,) = [c for c in claims if c["feature"] == "q_waves_pathological"]
    beats = {(lead, b["index"]): b for lead in leads for b in m.leads[lead].beats}
    shown = [e for e in claim["evidence"] if e["lead"] in leads]
    assert shown
    for e in shown:
        b = min(
            (b for (lead, _), b in beats.items() if lead == e["lead"] and b.get("qrs_onset_ms") is not None),
            key=lambda b: abs(b["qrs_onset_ms"] - e["t_start_ms"]),
        )
        assert e["t_end_ms"] - e["t_start_ms"] == pytest.approx(b["q_duration"], abs=1.0)
        assert e["t_end_ms"] <= b["qrs_offset_ms"]  # a QS complex: the whole QRS


def test_q_waves_are_not_read_beside_left_bundle_branch_block():
    ecg, _ = conduction_ecg(70, 150.0, 160.0, 0.0, morphology="slurred_s", seed=3)  # QS in III
    m = measure(ecg)
    a = assess(m)
    assert "LBBB" in a.diagnosis_labels and not any(f.key == "q_waves" for f in a.findings)


@pytest.mark.parametrize("qrs", [130, 170])
def test_a_single_beats_noise_is_not_read_as_a_q_wave(qrs):
    # 0.04 mV of noise on a left bundle branch block (no q drawn in I, V5, V6): the lowest noise dip
    # before the R wave read as a 0.05-0.06 mV "q" in the median of the beats
    ecg, _ = conduction_ecg(60, qrs, 160.0, 0.0, morphology="slurred_s", noise=0.04, seed=60 + qrs)
    m = measure(ecg)
    assert all(lead_median(m, lead, "q_amplitude") == 0 for lead in ("I", "V5", "V6"))
