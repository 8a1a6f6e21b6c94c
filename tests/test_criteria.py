"""The clinical criteria table: its limits pinned as literal values from the guidelines, and the rules
that use them (no normal statement without the measurements behind it)."""

from __future__ import annotations

import pytest

from gem_core import criteria
from gem_core.grounding import ground
from gem_core.rules import assess
from tests.test_grounding_binding import make_measurements


@pytest.mark.parametrize(
    ("qrs", "dominant", "corr", "ventricular"),
    [
        (150.0, 90.0, 0.3, True),  # wide and unlike the dominant beat
        (112.0, 84.0, 0.49, True),  # under 120 ms but 28 ms wider than a narrow dominant QRS
        (82.0, 74.0, 0.38, False),  # the dominant width, another shape: an aberrant PAC
        (150.0, 140.0, 0.95, False),  # a bundle branch block's own shape
        (130.0, None, None, False),  # shape not measured
    ],
)
def test_a_premature_beat_is_ventricular_when_wide_and_unlike_the_dominant_one(
    qrs, dominant, corr, ventricular
):
    assert criteria.premature_is_ventricular(qrs, dominant, corr) is ventricular
    assert (criteria.PVC_MAX_MORPHOLOGY_CORR, criteria.PVC_MIN_EXTRA_QRS_MS) == (0.9, 20.0)


@pytest.mark.parametrize(
    ("lead", "q_ms", "q_mv", "pathological"),
    [
        ("V2", 24.0, 0.05, True),  # V2-V3: any Q over 20 ms
        ("V3", 20.0, 0.5, False),
        ("II", 30.0, 0.1, True),  # elsewhere >= 30 ms and >= 0.1 mV
        ("aVL", 40.0, 0.08, False),
        ("V5", 28.0, 0.4, False),
        ("III", 60.0, 0.5, False),  # III, V1 and aVR never count
        ("V1", 80.0, 1.0, False),
    ],
)
def test_pathological_q_waves_by_the_fourth_udmi(lead, q_ms, q_mv, pathological):
    assert criteria.pathological_q(lead, q_ms, q_mv) is pathological
    assert (criteria.Q_V2_V3_MS, criteria.Q_MS, criteria.Q_MV) == (20.0, 30.0, 0.1)


def test_limits_are_the_guidelines():
    # AHA/ACCF/HRS 2009 Parts I, III, IV, V
    assert (criteria.BRADYCARDIA_BPM, criteria.TACHYCARDIA_BPM) == (60.0, 100.0)
    assert criteria.FIRST_DEGREE_AVB_PR_MS == 200.0
    assert (criteria.COMPLETE_BBB_QRS_MS, criteria.INCOMPLETE_BBB_QRS_MS) == (120.0, 110.0)
    assert (criteria.LBBB_QRS_MALE_MS, criteria.LBBB_QRS_FEMALE_MS) == (140.0, 130.0)  # Strauss 2011
    assert (criteria.QTC_LONG_MALE_MS, criteria.QTC_LONG_FEMALE_MS, criteria.QTC_SHORT_MS) == (
        450.0,
        460.0,
        390.0,
    )
    assert (criteria.LEFT_AXIS_DEG, criteria.RIGHT_AXIS_DEG, criteria.EXTREME_AXIS_DEG) == (
        -30.0,
        90.0,
        -90.0,
    )
    assert (criteria.LOW_VOLTAGE_LIMB_MV, criteria.LOW_VOLTAGE_PRECORDIAL_MV) == (0.5, 1.0)
    assert (criteria.SOKOLOW_LYON_MV, criteria.CORNELL_MALE_MV, criteria.CORNELL_FEMALE_MV) == (3.5, 2.8, 2.0)
    # Fourth UDMI 2018
    assert (criteria.STE_MV, criteria.STD_MV) == (0.1, 0.05)
    # Minnesota Code 4-4: upsloping ST with the J point >= 1 mm (0.1 mV) down; 1 mV/s = 0.06 mV per 60 ms
    assert (criteria.STD_UPSLOPING_J_MV, criteria.ST_UPSLOPE_MV_PER_S) == (0.1, 1.0)
    assert (
        criteria.STE_V2_V3_MEN_40_MV,
        criteria.STE_V2_V3_MEN_UNDER_40_MV,
        criteria.STE_V2_V3_WOMEN_MV,
    ) == (
        0.2,
        0.25,
        0.15,
    )
    # a sinus P wave is upright in II: frontal axis -30 to +150 degrees, read with 15 degrees of margin
    assert (criteria.SINUS_P_AXIS_DEG, criteria.SINUS_P_AXIS_MARGIN_DEG) == ((-30.0, 150.0), 15.0)
    axes = (-126.0, -46.0, -45.0, 60.0, 165.0, 166.0)
    assert [criteria.sinus_p_axis(a) for a in axes] == [False, False, True, True, True, False]
    # ESC 2020 / Dash 2009: one AF irregularity limit for interpreter and checker
    assert criteria.AF_MIN_NORMALISED_RMSSD == 0.10
    assert (criteria.ST_POINT_MS, criteria.ST_POINT_FAST_MS) == (60.0, 40.0)
    # mirror-image leads (AHA/ACCF/HRS 2009 Part VI): inferior <-> I and aVL; anterior, septal and
    # lateral -> inferior; V1-V3 when the posterior wall is involved
    assert criteria.RECIPROCAL_LEADS == {
        "inferior": ("I", "aVL", "V1", "V2", "V3"),
        "lateral": ("II", "III", "aVF", "V1", "V2", "V3"),
        "septal": ("II", "III", "aVF"),
        "anterior": ("II", "III", "aVF"),
    }


def test_the_checker_reads_the_same_table():
    import importlib

    check = importlib.import_module("gem_core.grounding.check")

    assert check.QRS_INCOMPLETE_BBB_MS == 110.0 and check.QRS_WIDE_MS == 120.0
    assert check.AF_RR_IRREGULARITY == 0.10 and check.IRREGULAR_RR == 0.10
    assert check.PR_LONG_MS == 200.0 and check.QTC_LONG_MS == 460.0


@pytest.mark.parametrize(
    "lead, sex, age, limit",
    [("V2", "male", 55, 0.2), ("V3", "male", 30, 0.25), ("V2", "female", 30, 0.15), ("V2", None, None, 0.2)]
    + [("II", s, a, 0.1) for s, a in (("male", 30), ("female", 70), (None, None))],
)
def test_ste_limits_by_sex_and_age(lead, sex, age, limit):
    assert criteria.ste_limit(lead, sex, age) == limit


@pytest.mark.parametrize(
    "deg, category",
    [(-133, "extreme"), (-151, "extreme"), (-168, "extreme"), (-45, "left"), (120, "right"), (60, "normal")],
)
def test_axis_categories(deg, category):
    assert criteria.axis_category(deg) == category


def test_extreme_axis_is_not_called_left_axis_deviation():
    a = assess(make_measurements(axis=-151.0))
    axis = next(f for f in a.findings if f.key == "axis")
    assert "extreme" in axis.sentence and "left axis deviation" not in axis.sentence
    assert "-90 to -180 degrees" in axis.sentence and axis.label is None and not a.normal
    assert "extreme axis deviation" in a.diagnosis


def test_rate_appropriate_qtc():
    qtc, name = criteria.rate_corrected_qt(300.0, 500.0)  # 120 bpm
    assert name == "Fridericia" and qtc == pytest.approx(300.0 / 0.5 ** (1 / 3))
    assert criteria.rate_corrected_qt(400.0, 1000.0) == (400.0, "Bazett")


def _without(m, *keys):
    m.global_values.update(dict.fromkeys(keys))
    return m


@pytest.mark.parametrize(
    "keys, name",
    [
        (("qrs_ms",), "QRS duration"),
        (("qt_ms", "qtc_ms"), "QT interval"),
        (("qrs_axis_deg",), "frontal QRS axis"),
    ],
)
def test_no_normal_without_the_measurements(keys, name):
    """A normal record with one measurement removed is not called normal, says what is missing, and the
    grounding checker supports that sentence (and contradicts it where the value was measured)."""
    full = assess(make_measurements())
    assert full.normal and "Normal" in full.diagnosis_labels
    m = _without(make_measurements(), *keys)
    a = assess(m)
    assert not a.normal and "Normal" not in a.diagnosis_labels
    sentence = next(f.sentence for f in a.findings if f.key.startswith("unmeasured_"))
    assert sentence.startswith(f"The {name} could not be measured")
    assert "normal ECG" not in " ".join(a.diagnosis)
    (claim,) = ground(sentence, m, final=True)
    assert claim["verdict"] == "supported"
    (claim,) = ground(sentence, make_measurements(), final=True)
    assert claim["verdict"] == "contradicted"


def test_a_missing_measurement_is_never_supported():
    m = _without(make_measurements(), "qrs_ms", "pr_ms")
    for beat_list in (lm.beats for lm in m.leads.values()):
        for b in beat_list:
            b.update(qrs_duration=None, pr_interval=None)
    for text in ("The QRS duration is 90 ms.", "The QRS is narrow.", "No first-degree AV block."):
        verdicts = [c["verdict"] for c in ground(text, m, final=True)]
        assert verdicts and all(v == "not_checkable" for v in verdicts), (text, verdicts)


def test_qtc_at_a_fast_rate_is_fridericia_and_judged_on_it():
    """QTc at 118 bpm: Bazett over-corrects, so the interpreter reports Fridericia's value and judges
    prolongation on it; the checker accepts either standard value for a stated QTc."""
    m = make_measurements(rr=(508.0,) * 9, qt=300.0)
    g = m.global_values
    g.update(heart_rate_bpm=118.0, qt_ms=300.0, qtc_ms=421.0, qtc_fridericia_ms=376.0)
    qt = next(f for f in assess(m).findings if f.key == "qt")
    assert qt.value == 376 and "Fridericia" in qt.sentence and qt.label is None
    assert ground("The QTc is 421 ms.", m, final=True)[0]["verdict"] == "supported"  # Bazett's
    assert ground("The QTc is 376 ms.", m, final=True)[0]["verdict"] == "supported"
    assert ground("The QTc is 470 ms.", m, final=True)[0]["verdict"] == "contradicted"
    g.update(qtc_ms=600.0, qtc_fridericia_ms=470.0)
    assert assess(m).findings and "LQT" in assess(m).diagnosis_labels  # 470 >= 460 (sex unknown)
    g.update(qtc_fridericia_ms=430.0)
    assert "LQT" not in assess(m).diagnosis_labels  # Bazett's 600 ms alone does not make it long


def test_a_pause_is_only_called_a_pause_when_it_is_one():
    """One PAC with the next RR 800 ms against a dominant 782 ms: an RR interval, not a pause."""
    rr = (782.0,) * 4 + (600.0, 800.0) + (782.0,) * 4
    pac = {"beat_index": 5, "time_ms": 300.0 + 4 * 782 + 600, "kind": "PAC", "qrs": "narrow"}
    pac.update(coupling_ms=600.0, pause_ms=800.0, compensatory=False)
    m = make_measurements(rr=rr, premature=(pac,))
    sentence = next(f.sentence for f in assess(m).findings if f.key == "pac")
    assert "pause" not in sentence and "RR interval of 800 ms" in sentence, sentence


@pytest.mark.parametrize(
    "j, st, slope, form",
    [
        (-0.02, -0.07, 0.0, "horizontal"),  # UDMI: >= 0.05 mV, not upsloping
        (-0.02, -0.07, -1.5, "downsloping"),
        (-0.02, -0.04, 0.0, None),  # under 0.05 mV
        (-0.12, -0.01, 1.8, "upsloping"),  # Minnesota 4-4: J >= 0.1 mV down, back near baseline by J+60
        (-0.08, -0.01, 1.8, None),  # J-point depression under 0.1 mV with an upsloping ST: normal
        (-0.12, -0.08, 1.8, "upsloping"),
        (None, -0.07, None, "horizontal"),  # slope not measured: judged as not upsloping
        (-0.2, None, 2.0, "upsloping"),
        (None, None, None, None),
    ],
)
def test_st_depression_forms(j, st, slope, form):
    assert criteria.st_depression_form(j, st, slope) == form


def test_the_checker_margin_counts_toward_depression():
    assert criteria.st_depression_form(-0.02, -0.035, 0.0) is None
    assert criteria.st_depression_form(-0.02, -0.035, 0.0, margin_mv=0.02) == "horizontal"
    assert criteria.st_depression_form(-0.085, 0.0, 2.0, margin_mv=0.02) == "upsloping"


def test_a_downsloping_st_into_a_negative_t_is_depression():  # Minnesota 4-3
    assert criteria.st_depression_form(-0.02, -0.03, -1.5, t_mv=-0.12) == "downsloping"
    assert (
        criteria.st_depression_form(-0.02, -0.03, -1.5) is None
    )  # T not given: a lead where T may be negative
    assert criteria.st_depression_form(-0.02, -0.03, -0.5, t_mv=-0.12) is None  # not downsloping
    assert criteria.st_depression_form(-0.02, -0.03, -1.5, t_mv=-0.03) is None  # T nadir too shallow


@pytest.mark.parametrize(
    ("indices", "pattern"),
    [
        ([3, 5, 7], "bigeminy"),  # three premature beats on every other beat
        ([1, 3, 6, 8, 10], "bigeminy"),  # a run of three inside
        ([2, 5, 8, 11], "trigeminy"),
        ([3, 5], None),  # two are a coincidence, not a pattern
        ([3, 5, 9, 11], None),
        ([4, 8, 12], None),  # every fourth beat: named by count, not as a pattern
        ([], None),
    ],
)
def test_bigeminy_and_trigeminy_need_three_premature_beats_in_the_pattern(indices, pattern):
    assert criteria.premature_pattern(indices) == pattern
