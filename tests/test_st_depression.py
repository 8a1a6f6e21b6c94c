"""ST depression on synthetic records whose truth is exact (``gem_core.beat_model``): horizontal
depression at J+60 ms (UDMI 2018) and upsloping J-point depression (Minnesota Code 4-4) are named as ST
depression by the interpreter and supported by the claim checker; a shallow J-point dip with a rising ST
segment, which healthy hearts show at fast rates, is neither. With ST elevation present, depression in the
elevated wall's mirror-image leads is reciprocal, and depression elsewhere is still ST depression."""

from __future__ import annotations

import numpy as np
import pytest

from gem_core.beat_model import conduction_ecg
from gem_core.ecg import ECG, LEADS
from gem_core.features import clear_cache, measure
from gem_core.grounding import ground
from gem_core.rules import assess

DEPRESSED = ("V4", "V5", "V6")


def upsloping_j_depression(rate: float, j_mv: float, qrs_ms: float = 90.0) -> ECG:
    """A normal record with, in V4-V6, a J point ``j_mv`` under the PR baseline (reached over the QRS's
    last 40%) that rises in a straight line back to the baseline 60 ms after J."""
    ecg, truth = conduction_ecg(rate, qrs_ms, 160.0, 0.0, morphology="normal", seed=3)
    t = np.arange(ecg.signal.shape[1]) * 1000.0 / ecg.fs
    extra = np.zeros_like(t)
    for on in truth["qrs_onsets_ms"] + [truth["qrs_onsets_ms"][0] - 60000.0 / rate]:
        x = t - on
        down = np.clip((x - 0.6 * qrs_ms) / (0.4 * qrs_ms), 0, 1)  # 0 -> 1 inside the QRS
        back = np.clip(1 - (x - qrs_ms) / 60.0, 0, 1)  # 1 at J -> 0 at J+60 ms
        extra += np.where(x <= qrs_ms, down, back) * ((x >= 0.6 * qrs_ms) & (x <= qrs_ms + 60.0))
    signal = ecg.signal.copy()
    for lead in DEPRESSED:
        signal[LEADS.index(lead)] += (j_mv * extra).astype(np.float32)
    return ECG(signal=signal, fs=ecg.fs, record_id=f"upsloping-{rate}-{j_mv}", metadata={})


def horizontal_depression(rate: float, st_mv: float) -> ECG:
    ecg, _ = conduction_ecg(rate, 90.0, 160.0, st_mv, DEPRESSED, "normal", seed=4)
    return ecg


def _verdict(ecg: ECG, text: str) -> str:
    claims = ground(text, measure(ecg), final=True)
    (claim,) = [c for c in claims if c["feature"] == "st_depression"]
    return claim["verdict"]


@pytest.fixture(autouse=True)
def _fresh():
    clear_cache()


@pytest.mark.parametrize("rate", [60, 110])
def test_upsloping_j_point_depression_is_named_and_supported(rate):
    ecg = upsloping_j_depression(rate, -0.2)
    a = assess(measure(ecg))
    (finding,) = [f for f in a.findings if f.key == "st_depression"]
    assert "STD" in a.diagnosis_labels and not a.normal
    assert finding.sentence.startswith("Upsloping ST-segment depression is seen in leads V4, V5 and V6")
    assert set(finding.details["form"].values()) == {"upsloping"}
    assert all(0.14 <= d <= 0.24 for d in finding.details["depth_mv"].values()), finding.details
    assert _verdict(ecg, "There is ST depression in leads V4 to V6.") == "supported"


@pytest.mark.parametrize("rate", [60, 110])
def test_a_shallow_j_point_dip_with_a_rising_st_is_not_st_depression(rate):
    ecg = upsloping_j_depression(rate, -0.06)
    a = assess(measure(ecg))
    assert "STD" not in a.diagnosis_labels and not any(f.key == "st_depression" for f in a.findings)
    assert _verdict(ecg, "There is ST depression in leads V4 to V6.") == "contradicted"


@pytest.mark.parametrize("rate, st", [(60, -0.1), (110, -0.15)])
def test_horizontal_depression_is_read_at_j60_or_j40(rate, st):
    ecg = horizontal_depression(rate, st)
    a = assess(measure(ecg))
    (finding,) = [f for f in a.findings if f.key == "st_depression"]
    point = 40 if rate > 100 else 60
    assert finding.sentence.startswith("ST-segment depression (horizontal) is seen in leads V4, V5 and V6")
    assert finding.sentence.endswith(f"(at J+{point} ms).")
    assert all(abs(d + st) <= 0.03 for d in finding.details["depth_mv"].values()), finding.details
    assert _verdict(ecg, f"ST depression of {abs(st) * 10:.1f} mm in V4-V6.") == "supported"
    assert _verdict(ecg, "ST depression of 3 mm in V4-V6.") == "contradicted"


def test_no_depression_on_a_normal_record():
    ecg = horizontal_depression(75, 0.0)
    a = assess(measure(ecg))
    assert "STD" not in a.diagnosis_labels
    assert _verdict(ecg, "ST depression in V4, V5 and V6.") == "contradicted"


def elevation_with_depression(
    up: tuple[str, ...], up_mv: float, down: tuple[str, ...], down_mv: float
) -> ECG:
    """ST elevation ``up_mv`` in the drawn leads ``up`` and depression ``down_mv`` in ``down`` on one record
    (two records with the same noise, less the record without either: each ST offset is added once)."""
    a, _ = conduction_ecg(70, 90.0, 160.0, up_mv, up, "normal", seed=7)
    b, _ = conduction_ecg(70, 90.0, 160.0, down_mv, down, "normal", seed=7)
    c, _ = conduction_ecg(70, 90.0, 160.0, 0.0, up, "normal", seed=7)
    return ECG(
        signal=a.signal + b.signal - c.signal, fs=a.fs, record_id="elevation-and-depression", metadata={}
    )


def test_depression_facing_the_elevation_is_reciprocal_and_not_labelled():
    # anterior elevation (V2-V4 +0.35 mV) mirrored in II, III and aVF (II -0.15 mV; III and aVF follow)
    a = assess(measure(elevation_with_depression(("V2", "V3", "V4"), 0.35, ("II",), -0.15)), {"sex": "male"})
    (reciprocal,) = [f for f in a.findings if f.key == "st_reciprocal"]
    assert set(reciprocal.leads) == {"II", "III", "aVF"}
    assert reciprocal.sentence.startswith("Reciprocal ST changes are seen in leads II, III and aVF")
    assert "STE" in a.diagnosis_labels and "STD" not in a.diagnosis_labels
    assert not any(f.key == "st_depression" for f in a.findings)


def test_depression_away_from_the_mirror_leads_is_still_st_depression():
    # inferior elevation (II +0.25 mV: III and aVF follow, aVL mirrors it) with lateral precordial
    # depression (V5-V6 -0.1 mV), which does not face the inferior wall
    a = assess(measure(elevation_with_depression(("II",), 0.25, ("V5", "V6"), -0.1)))
    (elevation,) = [f for f in a.findings if f.key == "st_elevation"]
    (depression,) = [f for f in a.findings if f.key == "st_depression"]
    assert set(elevation.leads) == {"II", "III", "aVF"}
    assert set(depression.leads) == {"V5", "V6"}
    assert {"STE", "STD"} <= set(a.diagnosis_labels)
    assert all(abs(d - 0.1) <= 0.03 for d in depression.details["depth_mv"].values()), depression.details
    reciprocal = [f for f in a.findings if f.key == "st_reciprocal"]
    assert all(set(f.leads) <= {"I", "aVL"} for f in reciprocal)
