"""ST elevation on synthetic records whose truth is exact (``gem_core.beat_model``): judged at the J point,
where the Fourth Universal Definition of MI and the Minnesota Code read it. A T wave that rises straight
out of the QRS (no isoelectric ST segment, as at fast rates or with tall T waves) is 0.1-0.25 mV up at
J+60/J+40 ms on a normal heart; read there it was "ST elevation", and the depression of another wall
then passed for its mirror image."""

from __future__ import annotations

import numpy as np
import pytest

from gem_core.beat_model import conduction_ecg
from gem_core.criteria import ste_limit
from gem_core.ecg import ECG
from gem_core.features import clear_cache, measure
from gem_core.grounding import ground
from gem_core.rules import assess, lead_median


@pytest.fixture(autouse=True)
def _fresh():
    clear_cache()


def _verdict(m, text: str, feature: str) -> str:
    (claim,) = [c for c in ground(text, m, final=True) if c["feature"] == feature]
    return claim["verdict"]


@pytest.mark.parametrize("rate", [75, 100, 130, 160])
def test_a_t_wave_rising_out_of_the_j_point_is_not_st_elevation(rate):
    ecg, truth = conduction_ecg(rate, 90.0, 160.0, 0.0, morphology="normal", st_segment_ms=0, seed=rate)
    m = measure(ecg)
    risen = [
        lead for lead in m.leads if (lead_median(m, lead, "st_deviation") or 0) >= ste_limit(lead, None, None)
    ]
    assert len(risen) >= 2, "the T wave's upstroke must reach the limits at J+60/J+40 ms for this test"
    assert all(abs(lead_median(m, lead, "st_j")) <= 0.03 for lead in m.leads)  # the truth: J on the baseline
    a = assess(m)
    assert "STE" not in a.diagnosis_labels
    (st,) = [f for f in a.findings if f.key == "st_normal"]
    assert st.sentence.startswith("The largest ST deviation at the J point is")
    assert f"at J+{40 if rate > 100 else 60} ms)" in st.sentence
    assert _verdict(m, f"ST elevation in leads {risen[0]} and {risen[1]}.", "st_elevation") == "contradicted"


@pytest.mark.parametrize("rate", [60, 110])
def test_st_elevation_at_the_j_point_is_named_with_both_levels(rate):
    ecg, _ = conduction_ecg(rate, 90.0, 160.0, 0.2, ("II",), "normal", seed=5)  # III and aVF follow II
    m = measure(ecg)
    a = assess(m)
    (ste,) = [f for f in a.findings if f.key == "st_elevation"]
    assert "STE" in a.diagnosis_labels and set(ste.leads) == {"II", "III", "aVF"}
    assert ste.sentence.startswith("ST-segment elevation at the J point is seen in leads II, III and aVF")
    assert f"at J+{40 if rate > 100 else 60} ms)" in ste.sentence
    assert abs(ste.value - 0.2) <= 0.03
    assert _verdict(m, "ST elevation in leads II, III and aVF.", "st_elevation") == "supported"
    claims = ground(ste.sentence, m, final=True)
    assert claims and all(c["verdict"] == "supported" for c in claims), claims


@pytest.mark.parametrize(("rate", "leads"), [(75, ("II",)), (100, ("II",)), (100, ("V2", "V3", "V4"))])
def test_depression_is_not_taken_for_the_mirror_of_a_t_wave_upstroke(rate, leads):
    # 0.2 mV of depression where the T wave starts at J: the other walls' J+60 level held T upstrokes,
    # read as elevation, and this depression was called its reciprocal change
    ecg, _ = conduction_ecg(rate, 90.0, 160.0, -0.2, leads, "normal", st_segment_ms=0, seed=rate)
    a = assess(measure(ecg))
    assert "STE" not in a.diagnosis_labels and "STD" in a.diagnosis_labels
    assert not any(f.key == "st_reciprocal" for f in a.findings)


@pytest.mark.parametrize(("mains_hz", "rate"), [(50, 60), (50, 100), (60, 72)])
def test_mains_hum_locked_to_the_beats_is_not_st_elevation(mains_hz, rate):
    """0.3 mV of mains hum whose period divides the RR interval (50 Hz at 60 and 100 bpm, 60 Hz at 72
    bpm) survives in the median beat. The J point, a 10 ms mean, was read on the high-passed lead with the
    hum in it: +0.07 to +0.14 mV in every lead, aVR too, and "ST elevation" on a normal heart."""
    ecg, _ = conduction_ecg(rate, 90.0, 160.0, 0.0, morphology="normal", seed=rate)
    t = np.arange(ecg.signal.shape[1]) / ecg.fs
    hum = 0.3 * np.sin(2 * np.pi * mains_hz * t + 0.7)
    ecg = ECG(signal=(ecg.signal + hum).astype(np.float32), fs=ecg.fs, record_id="hum")
    m = measure(ecg)
    assert all(abs(lead_median(m, lead, "st_j")) <= 0.03 for lead in m.leads), {
        lead: lead_median(m, lead, "st_j") for lead in m.leads
    }
    assert abs(lead_median(m, "V5", "r_amplitude") - 1.5) <= 0.1  # the drawn R, hum taken out
    assert "STE" not in assess(m).diagnosis_labels
