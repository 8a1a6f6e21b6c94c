"""Evidence and verdicts: bind each claim to spans of the waveform and check it against measurements.

Each claim gets ``evidence`` items ``{lead, t_start_ms, t_end_ms, feature, value, unit,
measurement_name}`` (``measurement_name``: the GEM+ beat-feature name, e.g. ``qrs_duration``), a
``verdict`` (``supported`` / ``contradicted`` / ``not_checkable``) and ``measured``, a line like
``"text: heart rate 121 bpm; measured: 118 bpm"``.

Rules: a measured value agrees with the text when it satisfies the text's comparator with the
feature's tolerance counted in the text's favour (``TOLERANCES``); qualitative words compare with the
named thresholds below ("prolonged QRS" means QRS >= ``QRS_WIDE_MS``), and qualitative or categorical
claims ("prolonged", "first-degree AV block") get only ``CATEGORY_MARGIN`` of the tolerance at those
thresholds. A bundle branch block of a named side ("RBBB", "incomplete LBBB") needs the QRS width and
that side's V1 and lateral-lead morphology, read as the measurement-based interpreter reads it
(``gem_core.rules.bbb_pattern``): "RBBB" on a record with the left pattern is contradicted. A negated
claim is supported when the finding is clearly absent. Claims over several leads are supported when at
least half of the checkable leads agree; when no lead is named a finding needs one lead, and a negated
finding ("no ST elevation") is contradicted by any lead that shows it. Leads whose quality is not ``ok``
are never used to contradict: a claim that only they could check is ``not_checkable``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from statistics import median

from gem_core import criteria
from gem_core.features import Measurements
from gem_core.grounding.extract import Draft
from gem_core.leads_vocab import LIMB_LEADS
from gem_core.rules import (
    arm_reversal,
    assess,
    bbb_pattern,
    dominance,
    lead_median,
    lead_quality,
    normalised_rmssd,
    st_depression,
    wct_morphology,
)

SUPPORTED, CONTRADICTED, NOT_CHECKABLE = "supported", "contradicted", "not_checkable"

# --- tolerances (measurement uncertainty, counted in the text's favour) ---------------------------
HEART_RATE_TOL_BPM = 5.0
RR_TOL_MS = 40.0
RR_TOL_FRACTION = 0.10  # RR tolerance is the larger of RR_TOL_MS and this share of the value
PR_TOL_MS = 20.0
QRS_TOL_MS = 10.0
QT_TOL_MS = 25.0
P_DURATION_TOL_MS = 20.0
T_DURATION_TOL_MS = 30.0
AMPLITUDE_TOL_MV = 0.1
P_AMPLITUDE_TOL_MV = 0.05  # a P wave's height (atrial enlargement): a tenth of a QRS's is too coarse there
ST_TOL_MV = 0.02  # at the elevation / depression thresholds
ST_VALUE_TOL_MV = 0.05  # against a stated amount ("ST depression of 1 mm")
T_TOL_MV = 0.03
AXIS_TOL_DEG = 15.0
CATEGORY_MARGIN = 0.5  # qualitative and categorical claims get this share of the tolerance at thresholds
TOLERANCES: dict[str, float] = {
    "heart_rate": HEART_RATE_TOL_BPM,
    "rr_interval": RR_TOL_MS,
    "pause": RR_TOL_MS,
    "pause_compensatory": RR_TOL_MS,
    "pause_noncompensatory": RR_TOL_MS,
    "pr_interval": PR_TOL_MS,
    "qrs_duration": QRS_TOL_MS,
    "qt_interval": QT_TOL_MS,
    "qtc_interval": QT_TOL_MS,
    "p_duration": P_DURATION_TOL_MS,
    "t_duration": T_DURATION_TOL_MS,
    "p_amplitude": AMPLITUDE_TOL_MV / 2,
    "qrs_amplitude": AMPLITUDE_TOL_MV,
    "r_amplitude": AMPLITUDE_TOL_MV,
    "s_amplitude": AMPLITUDE_TOL_MV,
    "t_amplitude": AMPLITUDE_TOL_MV,
    "low_voltage": AMPLITUDE_TOL_MV,
    "st_segment": ST_TOL_MV,
    "st_elevation": ST_TOL_MV,
    "st_depression": ST_TOL_MV,
    "st_depression_upsloping": ST_TOL_MV,
    "st_depression_flat": ST_TOL_MV,
    "axis": AXIS_TOL_DEG,
}

# --- thresholds of qualitative and categorical findings -------------------------------------------
# Every clinical limit is gem_core.criteria's, the table the interpreter (gem_core.rules) reads too; the
# checker's only leniency is the measurement tolerance above (CATEGORY_MARGIN of it at a category's
# threshold, in the text's favour), plus the two stated below where the checker lacks what the
# interpreter knows (the patient's sex and age) or reads descriptive words ("negative T wave").
BRADYCARDIA_BPM, TACHYCARDIA_BPM = criteria.BRADYCARDIA_BPM, criteria.TACHYCARDIA_BPM
PR_SHORT_MS, PR_LONG_MS = criteria.PR_SHORT_MS, criteria.FIRST_DEGREE_AVB_PR_MS
QRS_WIDE_MS = criteria.COMPLETE_BBB_QRS_MS  # bundle branch block, "prolonged"/"wide" QRS
QRS_INCOMPLETE_BBB_MS = criteria.INCOMPLETE_BBB_QRS_MS  # incomplete RBBB or LBBB: 110 <= QRS < 120
QT_LONG_MS = criteria.QT_LONG_MS
# The sex is not known here: "prolonged QTc" is read against the limit used when it is unknown (460 ms).
QTC_SHORT_MS, QTC_LONG_MS = criteria.QTC_SHORT_MS, criteria.QTC_LONG_UNKNOWN_SEX_MS
P_LONG_MS = criteria.P_LONG_MS
RR_SHORT_MS, RR_LONG_MS = criteria.RR_SHORT_MS, criteria.RR_LONG_MS
AXIS_LEFT_DEG, AXIS_RIGHT_DEG = criteria.LEFT_AXIS_DEG, criteria.RIGHT_AXIS_DEG
# "Left anterior fascicular block" is read on the axis criterion alone (criteria: -45 to -90 degrees);
# the rS complexes in II, III and aVF the interpreter also asks for are not required (stated leniency).
AXIS_LAFB_DEG = criteria.LAFB_AXIS_DEG
AXIS_EXTREME_DEG = criteria.EXTREME_AXIS_DEG
LOW_VOLTAGE_LIMB_MV = criteria.LOW_VOLTAGE_LIMB_MV
LOW_VOLTAGE_PRECORDIAL_MV = criteria.LOW_VOLTAGE_PRECORDIAL_MV
# LVH voltage criteria: Sokolow-Lyon; Cornell by sex. The sex is not known here, so the limit that favours
# the text is used: the women's for "LVH", the men's for "no LVH" (stated leniency).
SOKOLOW_LYON_MV = criteria.SOKOLOW_LYON_MV
CORNELL_MV, CORNELL_FEMALE_MV = criteria.CORNELL_MALE_MV, criteria.CORNELL_FEMALE_MV
# ST elevation, read at the J point as the interpreter reads it (criteria.st_elevated): the UDMI 2018
# limit of leads other than V2-V3 (0.1 mV) in every lead: the sex and age that
# set the V2-V3 limit are not known here, and 0.1 mV is the lowest of them (stated leniency for
# "ST elevation"; "no ST elevation" is read against the same 0.1 mV, so it is strict there).
ST_ELEVATION_MV, ST_DEPRESSION_MV = criteria.STE_MV, -criteria.STD_MV
WAVE_PRESENT_MV = criteria.WAVE_PRESENT_MV
ST_T_CHANGE_MV = criteria.STD_MV  # |ST deviation| that counts as an ST-T change
# "Inverted"/"negative" T as a description (-0.05 mV) is read more leniently than the diagnostic
# T-wave inversion of the interpreter (criteria.T_INVERSION_MV, -0.1 mV): stated leniency.
T_INVERTED_MV = criteria.T_NEGATIVE_MV
T_FLAT_MV, T_PEAKED_MV, T_UPRIGHT_MV = criteria.T_FLAT_MV, criteria.T_PEAKED_MV, 0.05
T_UPRIGHT_LEADS = criteria.T_UPRIGHT_LEADS
SINUS_P_FRACTION = criteria.SINUS_MIN_P_WAVE_FRACTION
AF_P_FRACTION = criteria.AF_MAX_P_WAVE_FRACTION
P_FRACTION_TOL = 0.1  # a stated share of beats with P waves: dominant beats or all beats may be counted
AF_RR_IRREGULARITY = criteria.AF_MIN_NORMALISED_RMSSD
IRREGULAR_RR = criteria.IRREGULAR_NORMALISED_RMSSD
PAUSE_RATIO = criteria.PAUSE_RATIO
RHYTHM_LEAD = "II"

# (beat key, global key, span start, span end, GEM+ measurement name, unit, normal range)
_NUMERIC = {
    "pr_interval": (
        "pr_interval",
        "pr_ms",
        "p_onset_ms",
        "qrs_onset_ms",
        "pr_interval",
        "ms",
        (PR_SHORT_MS, PR_LONG_MS),
    ),
    "qrs_duration": (
        "qrs_duration",
        "qrs_ms",
        "qrs_onset_ms",
        "qrs_offset_ms",
        "qrs_duration",
        "ms",
        (None, QRS_WIDE_MS),
    ),
    "qt_interval": (
        "qt_interval",
        "qt_ms",
        "qrs_onset_ms",
        "t_offset_ms",
        "qt_interval",
        "ms",
        (None, QT_LONG_MS),
    ),
    "qtc_interval": (
        "qtc_interval",
        "qtc_ms",
        "qrs_onset_ms",
        "t_offset_ms",
        "qtc_interval",
        "ms",
        (QTC_SHORT_MS, QTC_LONG_MS),
    ),
    "p_duration": ("p_duration", None, "p_onset_ms", "p_offset_ms", "p_duration", "ms", (None, P_LONG_MS)),
    "p_amplitude": ("p_amplitude", None, "p_onset_ms", "p_offset_ms", "p_amplitude", "mV", (None, 0.25)),
    "qrs_amplitude": ("qrs_amplitude", None, "qrs_onset_ms", "qrs_offset_ms", "qrs_amplitude", "mV", None),
    "t_amplitude": ("t_amplitude", None, "t_onset_ms", "t_offset_ms", "t_amplitude", "mV", None),
    "r_amplitude": ("r_amplitude", None, "qrs_onset_ms", "qrs_offset_ms", "qrs_amplitude", "mV", None),
    "s_amplitude": ("s_amplitude", None, "qrs_onset_ms", "qrs_offset_ms", "qrs_amplitude", "mV", None),
    "t_duration": ("t_duration", None, "t_onset_ms", "t_offset_ms", "t_duration", "ms", None),
    "st_segment": (
        "st_deviation",
        None,
        "qrs_offset_ms",
        "t_onset_ms",
        "st_form",
        "mV",
        (ST_DEPRESSION_MV, ST_ELEVATION_MV),
    ),
}
# Length of an ST (to T onset) or ST-T (to T offset) span from the J point when the T wave was not delineated.
SPAN_AFTER_J_MS = {"t_onset_ms": 80.0, "t_offset_ms": 250.0}
# Spans that illustrate findings the measurements cannot check (morphology, diagnoses).
_SPAN_OF = {
    "qrs": ("qrs_onset_ms", "qrs_offset_ms", "qrs_duration", "qrs_duration", "ms"),
    "st": ("qrs_offset_ms", "t_onset_ms", "st_deviation", "st_form", "mV"),
    "st_t": ("qrs_offset_ms", "t_offset_ms", "st_deviation", "st_form", "mV"),
    "t": ("t_onset_ms", "t_offset_ms", "t_amplitude", "t_amplitude", "mV"),
    "p": ("p_onset_ms", "p_offset_ms", "p_amplitude", "p_amplitude", "mV"),
    "pr": ("p_onset_ms", "qrs_onset_ms", "pr_interval", "pr_interval", "ms"),
}
_UNCHECKED_SPANS = {
    "qrs_complex": "qrs",
    "rsr_pattern": "qrs",
    "atrial_enlargement": "p",
}
_DEFAULT_LEADS = {
    "rbbb": ("V1", "V6"),
    "lbbb": ("V1", "V6"),
    "incomplete_rbbb": ("V1", "V6"),
    "incomplete_lbbb": ("V1", "V6"),
    "bundle_branch_block": ("V1", "V6"),
    "axis": ("I", "aVF"),
    "left_axis_deviation": ("I", "aVF"),
    "axis_deviation": ("I", "aVF"),
    "right_axis_deviation": ("I", "aVF"),
    "extreme_axis": ("I", "aVF"),
    "lafb": ("I", "aVF"),
    "lpfb": ("I", "aVF"),
    "lvh": ("aVL", "V1", "V5", "V6"),
    "rvh": ("V1", "V2"),
    "poor_r_progression": ("V1", "V2", "V3", "V4"),
}
_RHYTHM_FEATURES = {
    "heart_rate",
    "rhythm",
    "sinus_rhythm",
    "normal_sinus_rhythm",
    "ectopic_atrial_rhythm",
    "sinus_tachycardia",
    "sinus_bradycardia",
    "sinus_arrhythmia",
    "atrial_fibrillation",
    "atrial_flutter",
    "ventricular_tachycardia",
    "ventricular_fibrillation",
    "idioventricular_rhythm",
    "nonsustained_vt",
    "supraventricular_tachycardia",
    "av_reentrant_tachycardia",
    "atrial_tachycardia",
    "multifocal_atrial_tachycardia",
    "narrow_complex_tachycardia",
    "wide_complex_tachycardia",
    "tachycardia",
    "bradycardia",
    "higher_degree_av_block",
    "second_degree_av_block",
    "blocked_p_waves",
    "mobitz_av_block",
    "ventricular_pacing",
    "pacing",
}
_UNIT_LABEL = {"bpm": "bpm", "ms": "ms", "mV": "mV", "deg": "°", "pct": "%"}
_LABEL = {
    "first_degree_av_block": "first-degree AV block",
    "lafb": "left anterior fascicular block",
    "lpfb": "left posterior fascicular block",
    "lvh": "LVH",
    "rvh": "RVH",
    "brugada": "Brugada pattern",
    "ecg_normal": "normal ECG",
    "ecg_abnormal": "abnormal ECG",
    "unmeasured_finding": "finding",
    "qs_complex": "QS complexes",
    "pvc_couplet": "PVC couplets",
    "premature_unread": "blocked PACs or multiform PVCs",
    "poor_r_progression": "poor R-wave progression",
    "left_atrial_enlargement": "left atrial enlargement",
    "right_atrial_enlargement": "right atrial enlargement",
    "rbbb": "RBBB",
    "lbbb": "LBBB",
    "incomplete_rbbb": "incomplete RBBB",
    "incomplete_lbbb": "incomplete LBBB",
    "pvc": "PVCs",
    "nonsustained_vt": "non-sustained VT",
    "supraventricular_tachycardia": "SVT",
    "pre_excitation": "pre-excitation (WPW)",
    "av_reentrant_tachycardia": "AV re-entrant tachycardia",
    "pac": "PACs",
    "qrs_polarity": "QRS polarity",
    "st_t_changes": "ST-T changes",
    "p_wave": "P waves",
    "t_wave": "T waves",
    "q_waves": "Q waves",
    "q_waves_pathological": "pathological Q waves",
}


@dataclass(frozen=True)
class Result:
    verdict: str
    measured: str | None
    evidence: tuple[dict, ...]


# ----------------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------------


def fmt(value, unit: str | None) -> str:
    """A value the way the ``measured`` line shows it: ``fmt(118.4, "bpm") -> '118 bpm'``."""
    if value is None:
        return "n/a"
    if isinstance(value, (tuple, list)):
        return f"{fmt(value[0], None)}-{fmt(value[1], unit)}"
    if unit == "mV" or (unit is None and abs(value) < 10 and value != int(value)):
        text = f"{value:.2f}"
    else:
        text = f"{value:.0f}"
    if text.lstrip("-").strip("0.") == "":
        text = text.lstrip("-")  # no "-0.00"
    label = _UNIT_LABEL.get(unit or "", unit or "")
    return text + ("" if not label else (label if label in ("°", "%") else f" {label}"))


_ABBREV = {
    "rr": "RR",
    "pr": "PR",
    "qrs": "QRS",
    "qt": "QT",
    "qtc": "QTc",
    "st": "ST",
    "t": "T",
    "p": "P",
    "av": "AV",
}


def label(feature: str) -> str:
    """Human name of a feature: ``label("st_t_changes") -> 'ST T changes'``."""
    return _LABEL.get(feature) or " ".join(_ABBREV.get(w, w) for w in feature.split("_"))


def _text_side(d: Draft) -> str:
    label_ = label(d.feature)
    neg = "no " if d.negated else ""
    if d.value is not None:
        cmp = (
            "" if d.comparator in ("=", None) else ("between " if d.comparator == "between" else d.comparator)
        )
        return f"{neg}{label_} {cmp}{fmt(d.value, d.unit)}".strip()
    if d.comparator:
        return f"{neg}{d.comparator} {label_}"
    return f"{neg}{label_}"


def compare(measured: float, comparator: str, value, tol: float) -> bool:
    """Does ``measured`` satisfy ``comparator value`` with ``tol`` in its favour (negative: against)?

    >>> compare(118, "=", 121, 5), compare(112, ">", 120, 10), compare(112, ">", 120, -10)
    (True, True, False)
    """
    if comparator == "between":
        lo, hi = value
        return lo - tol <= measured <= hi + tol
    if comparator in (">", ">="):
        return measured >= value - tol
    if comparator in ("<", "<="):
        return measured <= value + tol
    return abs(measured - value) <= max(tol, 0.0)


def _limits(comparator: str, normal) -> tuple[str, object] | None:
    """A qualitative comparator as a numeric one: "prolonged" with normal (120, 200) -> (">", 200)."""
    if normal is None:
        return None
    lo, hi = normal
    table = {
        "prolonged": (">", hi),
        "high": (">", hi),
        "elevated": (">", hi),
        "short": ("<", lo),
        "low": ("<", lo),
        "narrow": ("<", hi),
        "normal": ("between", (lo if lo is not None else -1e9, hi if hi is not None else 1e9)),
    }
    cmp_value = table.get(comparator)
    if cmp_value is None or cmp_value[1] is None:
        return None
    return cmp_value


def _ok_leads(m: Measurements, leads) -> list[str]:
    return [
        name for name in leads if name in m.leads and m.leads[name].quality == "ok" and m.leads[name].beats
    ]


def _lead_median(m: Measurements, lead: str, key: str) -> float | None:
    """Median over the lead's dominant beats (premature beats left out), as the interpreter reads it."""
    if lead not in m.leads:
        return None
    return lead_median(m, lead, key)


def _clip(m: Measurements, start, end) -> tuple[float, float] | None:
    if start is None or end is None:
        return None
    s, e = max(0.0, float(start)), min(float(m.duration_ms), float(end))
    return (round(s, 1), round(e, 1)) if e > s else None


def _item(m, lead, span, feature, value, unit, name) -> dict | None:
    span = _clip(m, *span)
    if span is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        value = None
    return {
        "lead": lead,
        "t_start_ms": span[0],
        "t_end_ms": span[1],
        "feature": feature,
        "value": value,
        "unit": unit,
        "measurement_name": name,
    }


def beat_spans(
    m: Measurements, leads, start_key, end_key, value_key, name, unit, feature, beats=None, length_key=None
) -> list[dict]:
    """One evidence item per beat and lead: ``start_key..end_key`` with the beat's ``value_key``.

    Where the end was not delineated but the start was (a T wave missed at a fast rate), spans that
    start at the J point (ST, ST-T) use ``SPAN_AFTER_J_MS`` instead. With ``length_key`` a beat whose
    value there is over 0 ends that many ms after its start instead (a Q wave: the QRS onset plus the Q
    wave's duration, as the interpreter's own evidence shows it).
    """
    out = []
    fallback = SPAN_AFTER_J_MS.get(end_key) if start_key == "qrs_offset_ms" else None
    for lead in leads:
        if lead not in m.leads:
            continue
        for b in m.leads[lead].beats:
            if beats is not None and b.get("index") not in beats:
                continue
            start, end = b.get(start_key), b.get(end_key)
            if length_key and start is not None and (b.get(length_key) or 0) > 0:
                end = start + b[length_key]
            if end is None and start is not None and fallback:
                end = start + fallback
            item = _item(m, lead, (start, end), feature, b.get(value_key), unit, name)
            if item:
                out.append(item)
    return out


def _record_item(m: Measurements, feature, value, unit, name) -> list[dict]:
    item = _item(m, RHYTHM_LEAD, (0.0, m.duration_ms), feature, value, unit, name)
    return [item] if item else []


def _rr_list(m: Measurements) -> list[tuple[float, float, float]]:
    """(start R, end R, RR ms) for every pair of consecutive beats."""
    r = [float(x) for x in m.r_peaks_ms]
    return [(a, b, b - a) for a, b in zip(r, r[1:], strict=False)]


def _depth(value):
    """A depression or inversion as a depth: the text may say "0.61 mV" or "-0.61 mV" for the same thing."""
    if isinstance(value, (tuple, list)):
        lo, hi = sorted(abs(v) for v in value)
        return (lo, hi)
    return abs(value)


def _verdict(ok: bool | None, negated: bool) -> str:
    if ok is None:
        return NOT_CHECKABLE
    return SUPPORTED if ok != negated else CONTRADICTED


def _tol(d: Draft, tol: float) -> float:
    """A number in the text: the measurement tolerance, in the text's favour."""
    return -tol if d.negated else tol


def _margin(d: Draft, tol: float) -> float:
    """A category in the text ("first-degree AV block", "prolonged"): a smaller margin at its threshold."""
    return _tol(d, tol * CATEGORY_MARGIN)


# ----------------------------------------------------------------------------------------------------
# the checks
# ----------------------------------------------------------------------------------------------------


def check(d: Draft, m: Measurements | None) -> Result:
    """Verdict, measured line and evidence for one claim."""
    text = _text_side(d)
    if m is None:
        return Result(NOT_CHECKABLE, None, ())
    if not m.enough_beats:
        return Result(NOT_CHECKABLE, f"text: {text}; measured: not measurable ({m.message})", ())
    if d.comparator == "unmeasured":
        verdict, measured, evidence = _unmeasured(d, m)
        return Result(verdict, f"text: {text}; measured: {measured}", tuple(e for e in evidence if e))
    handler = _HANDLERS.get(d.feature)
    if handler is None:
        return _unchecked(d, m, text)
    verdict, measured, evidence = handler(d, m)
    line = f"text: {text}; measured: {measured}" if measured else None
    return Result(verdict, line, tuple(e for e in evidence if e))


# The record-level value behind "the X could not be measured".
_GLOBAL_OF = {
    "heart_rate": ("heart_rate_bpm", "bpm"),
    "pr_interval": ("pr_ms", "ms"),
    "qrs_duration": ("qrs_ms", "ms"),
    "qt_interval": ("qt_ms", "ms"),
    "qtc_interval": ("qtc_ms", "ms"),
    "axis": ("qrs_axis_deg", "deg"),
}


def _unmeasured(d: Draft, m: Measurements):
    """ "The QRS duration could not be measured": supported when the record's value is indeed missing,
    contradicted when it was measured."""
    key, unit = _GLOBAL_OF.get(d.feature, (None, None))
    if key is None:
        return NOT_CHECKABLE, "not a record-level measurement", []
    value = m.global_values.get(key)
    evidence = _record_item(m, d.feature, value, unit, d.feature)
    return _verdict(value is None, d.negated), "not measured" if value is None else fmt(value, unit), evidence


def _unchecked(d: Draft, m: Measurements, text: str) -> Result:
    kind = _UNCHECKED_SPANS.get(d.feature)
    evidence: list[dict] = []
    leads = d.leads or _DEFAULT_LEADS.get(d.feature, ())
    if kind:
        start, end, value_key, name, unit = _SPAN_OF[kind]
        evidence = beat_spans(m, leads or (RHYTHM_LEAD,), start, end, value_key, name, unit, d.feature)
    elif d.feature in _RHYTHM_FEATURES:
        evidence = _record_item(m, d.feature, m.global_values.get("heart_rate_bpm"), "bpm", "heart_rate")
    return Result(
        NOT_CHECKABLE,
        f"text: {text}; measured: not measured from the signal (shown for review)",
        tuple(evidence),
    )


def _qrs_amplitude_spans(m: Measurements, leads, feature: str) -> list[dict]:
    """Evidence for a QRS-voltage or QRS-shape claim: each beat's QRS in ``leads``, valued by its amplitude."""
    return beat_spans(
        m, leads, "qrs_onset_ms", "qrs_offset_ms", "qrs_amplitude", "qrs_amplitude", "mV", feature
    )


def _per_lead(d: Draft, m: Measurements, key, test, unit: str | None):
    """Apply ``test(value, lead) -> bool|None`` to each named (or every) ok lead's median ``key`` (a beat
    feature, or a function of the lead giving the value)."""
    leads = d.leads or tuple(m.leads)
    checkable = _ok_leads(m, leads)
    results, shown = [], []
    for lead in checkable:
        value = key(lead) if callable(key) else _lead_median(m, lead, key)
        if value is None:
            continue
        ok = test(value, lead)
        if ok is None:
            continue
        results.append(ok)
        shown.append(f"{lead} {fmt(value, unit)}")
    skipped = [lead for lead in leads if lead not in checkable]
    measured = ", ".join(shown) if shown else "no measurable beats in the named leads"
    if skipped:
        measured += f" ({', '.join(skipped)} not checkable: poor signal)"
    if not results:
        return None, measured
    if not d.leads or d.negated:  # unnamed leads: the finding anywhere; "no X": X in no lead
        return any(results), measured
    return sum(results) / len(results) >= 0.5, measured


def _numeric(d: Draft, m: Measurements, per_lead=None):
    """A numeric claim against the measurement of ``_NUMERIC``; ``per_lead``: a function of the lead
    that gives the value instead of the beats' median of the beat feature."""
    beat_key, global_key, start, end, name, unit, normal = _NUMERIC[d.feature]
    tol = TOLERANCES.get(d.feature, 0.0)
    if d.value is not None:
        cmp_value = (d.comparator or "=", d.value)
    else:
        cmp_value = _limits(d.comparator or "", normal) if d.comparator else None
        tol *= CATEGORY_MARGIN
    evidence_leads = d.leads or (RHYTHM_LEAD,)
    evidence = beat_spans(m, evidence_leads, start, end, beat_key, name, unit, d.feature)
    if d.feature == "qrs_amplitude" and d.value is None and d.comparator in ("low", "high"):
        return _low_voltage(d, m)
    if cmp_value is None:
        return NOT_CHECKABLE, _describe(d, m, beat_key, global_key, unit), evidence
    comparator, value = cmp_value
    if not d.leads and d.feature == "qtc_interval" and m.global_values.get(global_key) is not None:
        return _qtc(d, m, comparator, value, tol, evidence)
    if not d.leads and global_key in ("pr_ms", "p_ms") and m.global_values.get(global_key) is None:
        # the record has no consistent P waves (features._global_values): a beat or two where a P wave was
        # delineated are no PR of the record
        return NOT_CHECKABLE, "not measured (no consistent P waves)", evidence
    if not d.leads and global_key and m.global_values.get(global_key) is not None:
        measured_value = float(m.global_values[global_key])
        ok = compare(measured_value, comparator, value, _tol(d, tol))
        return _verdict(ok, d.negated), fmt(measured_value, unit), evidence
    ok, measured = _per_lead(
        d, m, per_lead or beat_key, lambda v, _lead: compare(v, comparator, value, _tol(d, tol)), unit
    )
    return _verdict(ok, d.negated), measured, evidence


def _qtc(d: Draft, m: Measurements, comparator: str, value, tol: float, evidence):
    """A QTc claim: a stated value may be either standard correction (Bazett or Fridericia); whether the
    QTc is prolonged or normal is judged on the rate-appropriate one (criteria.qtc_formula)."""
    g = m.global_values
    bazett, fridericia = g.get("qtc_ms"), g.get("qtc_fridericia_ms")
    formula = criteria.qtc_formula(g.get("heart_rate_bpm"))
    rate_qtc = bazett if formula == "Bazett" or fridericia is None else fridericia
    measured = f"{fmt(rate_qtc, 'ms')} ({formula}; Bazett {fmt(bazett, 'ms')})"
    if d.value is None:
        return (
            _verdict(compare(float(rate_qtc), comparator, value, _tol(d, tol)), d.negated),
            measured,
            evidence,
        )
    values = [float(v) for v in (bazett, fridericia) if v is not None]
    ok = any(compare(v, comparator, value, _tol(d, tol)) for v in values)
    if d.negated:
        ok = all(compare(v, comparator, value, _tol(d, tol)) for v in values)
    return _verdict(ok, d.negated), measured, evidence


def _describe(d, m, beat_key, global_key, unit) -> str:
    if not d.leads and global_key and m.global_values.get(global_key) is not None:
        return fmt(m.global_values[global_key], unit)
    shown = [
        f"{lead} {fmt(v, unit)}"
        for lead in (d.leads or (RHYTHM_LEAD,))
        if (v := _lead_median(m, lead, beat_key)) is not None
    ]
    return ", ".join(shown) or "n/a"


def _heart_rate(d: Draft, m: Measurements):
    hr = m.global_values.get("heart_rate_bpm")
    evidence = _record_item(m, "heart_rate", hr, "bpm", "heart_rate")
    if hr is None:
        return NOT_CHECKABLE, "n/a", evidence
    if d.value is not None:
        ok = compare(hr, d.comparator or "=", d.value, _tol(d, HEART_RATE_TOL_BPM))
    else:
        limits = _limits(d.comparator or "", (BRADYCARDIA_BPM, TACHYCARDIA_BPM)) if d.comparator else None
        if limits is None:
            return NOT_CHECKABLE, fmt(hr, "bpm"), evidence
        ok = compare(hr, limits[0], limits[1], _margin(d, HEART_RATE_TOL_BPM))
    return _verdict(ok, d.negated), fmt(hr, "bpm"), evidence


def _rate_category(threshold_cmp: str, threshold: float, sinus: bool):
    def handler(d: Draft, m: Measurements):
        hr = m.global_values.get("heart_rate_bpm")
        evidence = _record_item(m, d.feature, hr, "bpm", "heart_rate")
        if hr is None:
            return NOT_CHECKABLE, "n/a", evidence
        ok = compare(hr, threshold_cmp, threshold, _margin(d, HEART_RATE_TOL_BPM))
        measured = fmt(hr, "bpm")
        if sinus:
            is_sinus, rhythm = _sinus(m)
            measured += f"; {rhythm}"
            ok = ok and bool(is_sinus) if is_sinus is not None else None
        return _verdict(ok, d.negated), measured, evidence

    return handler


def _p_fraction(m: Measurements) -> tuple[float | None, str]:
    """Share of beats with a P wave, counting only the non-premature beats when there are premature ones
    (a PVC has no P wave of its own: sinus rhythm with ventricular bigeminy is still sinus)."""
    pfrac = m.global_values.get("p_wave_fraction")
    premature = {pb.get("beat_index") for pb in m.premature_beats} - {None}
    if not premature:
        return pfrac, "beats"
    # P onsets are shared by every lead; the rhythm lead first, else any lead with beats
    leads = [RHYTHM_LEAD] + [name for name in m.leads if name != RHYTHM_LEAD]
    beats = next((m.leads[name].beats for name in leads if name in m.leads and m.leads[name].beats), [])
    dominant = [b for b in beats if b.get("index") not in premature]
    if not dominant:
        return pfrac, "beats"
    return sum(b.get("p_onset_ms") is not None for b in dominant) / len(dominant), "non-premature beats"


def _dominant_irregularity(m: Measurements) -> float | None:
    """RMSSD / mean RR of the dominant beats (the interpreter's reading, gem_core.rules.normalised_rmssd);
    the record's value over all beats when too few dominant intervals are left."""
    irr = normalised_rmssd(m)
    return irr if irr is not None else m.global_values.get("rr_irregularity")


def _rhythm_numbers(m: Measurements) -> tuple[float | None, float | None, str]:
    irr = _dominant_irregularity(m)
    pfrac, counted = _p_fraction(m)
    parts = []
    if irr is not None:
        parts.append(f"RR irregularity {irr:.2f}")
    if pfrac is not None:
        parts.append(f"P waves in {100 * pfrac:.0f}% of {counted}")
    return irr, pfrac, ", ".join(parts) or "n/a"


def _is_af(m: Measurements) -> bool | None:
    irr, pfrac, _ = _rhythm_numbers(m)
    if irr is None or pfrac is None:
        return None
    return irr > AF_RR_IRREGULARITY and pfrac < AF_P_FRACTION


def _sinus(m: Measurements) -> tuple[bool | None, str]:
    """Sinus rhythm: P waves before the beats (criteria.SINUS_MIN_P_WAVE_FRACTION), not AF, and a P axis
    that fits a sinus P wave where it was measured (criteria.sinus_p_axis)."""
    irr, pfrac, text = _rhythm_numbers(m)
    if pfrac is None:
        return None, text
    af = _is_af(m)
    axis, fits = _p_axis_fit(m)
    if fits is False:
        text += f", P axis {axis:.0f} degrees (not a sinus P wave's)"
    return (pfrac >= SINUS_P_FRACTION and not af and fits is not False), text


def _p_axis_fit(m: Measurements) -> tuple[float | None, bool | None]:
    """(P axis, whether it fits a sinus P wave: criteria.sinus_p_axis); None for the fit where the axis was
    not measured or the arm electrodes appear swapped (the interpreter reads no P axis then either)."""
    axis = m.global_values.get("p_axis_deg")
    if axis is None or arm_reversal(m, lead_quality(m)[0]) is not None:
        return axis, None
    return axis, criteria.sinus_p_axis(axis)


def _lead_reversal(arm: bool):
    """Swapped limb electrodes, by the interpreter's own test (rules.arm_reversal: lead I mirrored against
    V6 for the arms, lead II inverted whole for the right arm and left leg). A claim about the arm
    electrodes is contradicted where lead I is upright like V6, and not checkable where the right arm and
    left leg appear swapped instead; one about the limb electrodes is supported by either swap, else not
    checkable (a swap of the left arm and leg is not looked for)."""

    def handler(d: Draft, m: Measurements):
        usable = lead_quality(m)[0]
        found = arm_reversal(m, usable)
        leads = found.leads if found is not None else ["I", "V6"]
        evidence = _qrs_amplitude_spans(m, leads, d.feature)
        if found is not None and found.details["swap"] == "arm_leg":
            if arm:
                return (
                    NOT_CHECKABLE,
                    "the right arm and left leg electrodes appear swapped (II inverted)",
                    evidence,
                )
            return _verdict(True, d.negated), "lead II inverted whole against V6", evidence
        if found is not None:
            return _verdict(True, d.negated), "lead I mirrored against V6", evidence
        p_i, (r_i, neg_i), (r6, neg6) = (
            lead_median(m, "I", "p_amplitude"),
            dominance(m, "I"),
            dominance(m, "V6"),
        )
        if not arm or not {"I", "V6"} <= set(usable) or None in (p_i, r_i, neg_i, r6, neg6):
            return (
                NOT_CHECKABLE,
                "no sign of swapped arm electrodes; a swap of the left arm and leg is not looked for",
                evidence,
            )
        return _verdict(False, d.negated), f"lead I P {p_i:+.2f} mV, not mirrored against V6", evidence

    return handler


def _ectopic_atrial_rhythm(d: Draft, m: Measurements):
    """P waves before the beats whose frontal axis is outside a sinus P wave's (criteria.sinus_p_axis)."""
    _, pfrac, text = _rhythm_numbers(m)
    axis, fits = _p_axis_fit(m)
    ev = _rhythm_evidence(m, d.feature)
    if pfrac is None or (fits is None and pfrac >= SINUS_P_FRACTION):
        return NOT_CHECKABLE, text, ev
    ok = pfrac >= SINUS_P_FRACTION and not _is_af(m) and fits is False
    return _verdict(ok, d.negated), text + ("" if axis is None else f", P axis {axis:.0f} degrees"), ev


def _junctional(low: float, high: float):
    """A junctional rhythm in a rate band (criteria: junctional rhythm): regular, narrow QRS complexes,
    no sinus P wave before them (none, or one inverted in II with a short PR) and no atrial fibrillation.
    Atrial waves of their own (complete AV block) do not contradict it: the escape may be junctional.
    Contradicted by sinus rhythm, AF, irregular RRs or a rate outside the band (heart-rate tolerance); not
    checkable with a wide QRS without such P waves (junctional with a bundle branch block, or
    ventricular?), nor beside
    premature beats or a limb tremor (the interpreter names no junctional rhythm there either)."""

    def handler(d: Draft, m: Measurements):
        irr, pfrac, text = _rhythm_numbers(m)
        g = m.global_values
        hr, qrs, pr = g.get("heart_rate_bpm"), g.get("qrs_ms"), g.get("pr_ms")
        ev = _rhythm_evidence(m, d.feature)
        if None in (irr, pfrac, hr, qrs):
            return NOT_CHECKABLE, text, ev
        text += f", {hr:.0f} bpm, QRS {qrs:.0f} ms"
        sinus, _ = _sinus(m)
        retrograde = pfrac >= SINUS_P_FRACTION and _p_axis_fit(m)[1] is False and pr is not None
        retrograde = retrograde and pr < criteria.PR_SHORT_MS
        if sinus or _is_af(m) or irr > IRREGULAR_RR or (pfrac >= SINUS_P_FRACTION and not retrograde):
            return _verdict(False, d.negated), text, ev
        wide = qrs >= QRS_WIDE_MS and not retrograde  # retrograde P waves before it: not ventricular
        if wide or m.premature_beats or g.get("electrode_tremor") is not None:
            return NOT_CHECKABLE, text, ev  # P waves may hide in ectopic beats' T waves or under a tremor
        margin = _margin(d, HEART_RATE_TOL_BPM)
        return _verdict(low - margin <= hr <= high + margin, d.negated), text, ev

    return handler


def _atrial_flutter(d: Draft, m: Measurements):
    """Atrial flutter: flutter waves locked at n:1 (features._flutter_conduction). Not found is
    "contradicted" only over sinus rhythm; otherwise it says nothing (2:1 and 3:1 conduction leave too
    little between the QRS-T complexes, and variable conduction is irregular)."""
    n, ev = m.global_values.get("flutter_conduction"), _rhythm_evidence(m, d.feature)
    if n:
        return _verdict(True, d.negated), f"flutter waves at {n}:1, no baseline between them", ev
    sinus, text = _sinus(m)
    if sinus:
        return _verdict(False, d.negated), text, ev
    return (
        NOT_CHECKABLE,
        "no flutter waves found (not looked for at 2:1; at 3:1 only where a T-Q stretch is left)",
        ev,
    )


def _tachycardia_of(kind: str):
    """A tachycardia named by its mechanism or its QRS width. A rate not over TACHYCARDIA_BPM (heart-rate
    tolerance) contradicts each of them but a non-sustained VT, which is a run inside a record. Before
    these existed every such claim was read as the bare word "tachycardia" and supported by the rate
    alone: "ventricular tachycardia" over sinus tachycardia at 115 bpm.

    - "narrow" / "wide" complex: the QRS duration against QRS_WIDE_MS (QRS tolerance).
    - "ventricular": contradicted by narrow QRS complexes or by sinus rhythm (P waves before the beats: a
      sinus tachycardia, with a bundle branch block where wide). A regular wide-QRS tachycardia without
      P waves supports it (VT until proven otherwise, as the interpreter says) unless its QRS has a
      typical right bundle branch block's shape (rules.wct_morphology, Brugada et al.: SVT with the block
      favoured), where it is not checkable, as it is with irregular RRs (AF with a bundle branch block, or
      polymorphic VT?).
    - "nonsustained" (a run of three or more ventricular beats): contradicted where no PVC was found at
      all; else not checkable (runs are not measured).
    - "supraventricular", as the ACC/AHA/HRS 2015 SVT guideline uses the word (from the His bundle or
      above; AF named apart, and sinus tachycardia is named as such): supported by a regular narrow-QRS
      tachycardia without sinus P waves (none seen, an ectopic atrial focus, flutter waves);
      contradicted by sinus rhythm or AF; not checkable with a wide QRS (aberrant conduction or VT?) or
      irregular RRs without AF.
    - "reentrant" (AV nodal or AV re-entry): one kind of SVT, contradicted as SVT is; else not checkable
      (the circuit is not seen on one surface ECG: an atypical AV nodal re-entry also puts inverted P
      waves before the beats).
    - "atrial" (focal): supported by P waves before the beats whose axis is not the sinus node's
      (criteria.sinus_p_axis); contradicted by sinus rhythm or AF; not checkable without P waves (hidden
      in the T waves, or conducted 2:1) or without a P axis.
    - "multifocal" (three or more P-wave shapes, irregular RRs): contradicted by regular RRs; else not
      checkable (P-wave shapes are not compared, and its irregularity can read as AF)."""

    def handler(d: Draft, m: Measurements):
        irr, pfrac, text = _rhythm_numbers(m)
        g = m.global_values
        hr, qrs = g.get("heart_rate_bpm"), g.get("qrs_ms")
        ev = _rhythm_evidence(m, d.feature)
        if kind == "nonsustained":
            pvcs = [pb for pb in m.premature_beats if pb.get("kind") == "PVC"]
            return (NOT_CHECKABLE if pvcs else _verdict(False, d.negated)), f"{len(pvcs)} PVCs", ev
        if hr is None:
            return NOT_CHECKABLE, text, ev
        text = f"{hr:.0f} bpm" + ("" if qrs is None else f", QRS {qrs:.0f} ms") + f"; {text}"
        if not compare(hr, ">", TACHYCARDIA_BPM, _margin(d, HEART_RATE_TOL_BPM)):
            return _verdict(False, d.negated), text, ev
        if kind in ("narrow", "wide"):
            if qrs is None:
                return NOT_CHECKABLE, text, ev
            wide = qrs >= QRS_WIDE_MS - _margin(d, QRS_TOL_MS) * (1 if kind == "wide" else -1)
            return _verdict(wide == (kind == "wide"), d.negated), text, ev
        sinus, _ = _sinus(m)
        af, (_, fits) = _is_af(m), _p_axis_fit(m)
        if kind == "multifocal":
            regular = irr is not None and irr <= IRREGULAR_RR
            return (_verdict(False, d.negated) if regular else NOT_CHECKABLE), text, ev
        if sinus or (af and kind != "ventricular"):
            return _verdict(False, d.negated), text, ev
        if kind == "ventricular":
            if qrs is not None and not compare(qrs, ">=", QRS_WIDE_MS, _margin(d, QRS_TOL_MS)):
                return _verdict(False, d.negated), text, ev
            favours = wct_morphology(m, lead_quality(m)[0])[0]
            if qrs is None or irr is None or irr > IRREGULAR_RR or favours == "svt" or sinus is None:
                return NOT_CHECKABLE, text + ("; QRS shape favours SVT" if favours == "svt" else ""), ev
            return _verdict(True, d.negated), text + "; a regular wide-QRS tachycardia without P waves", ev
        if kind == "reentrant":
            return NOT_CHECKABLE, text, ev
        if kind == "atrial":
            ectopic = pfrac is not None and pfrac >= SINUS_P_FRACTION and fits is False
            return (_verdict(True, d.negated) if ectopic else NOT_CHECKABLE), text, ev
        # supraventricular: not sinus, not AF
        if qrs is None or irr is None or qrs >= QRS_WIDE_MS or irr > IRREGULAR_RR or sinus is None:
            return NOT_CHECKABLE, text, ev
        return _verdict(True, d.negated), text, ev

    return handler


def _ventricular_rhythm(kind: str):
    """Ventricular rhythms the measurements can rule out but not prove.

    - "fibrillation" (VF, ventricular flutter, torsades de pointes, polymorphic VT): contradicted by an
      organised rhythm, sinus rhythm or regular narrow QRS complexes; else not checkable.
    - "idioventricular" (a ventricular escape or accelerated idioventricular rhythm, up to about 110
      bpm): contradicted by narrow QRS complexes, sinus rhythm, AF or a rate over 120 bpm (heart-rate
      tolerance); else not checkable (a junctional escape with a bundle branch block looks the same)."""

    def handler(d: Draft, m: Measurements):
        irr, _, text = _rhythm_numbers(m)
        hr, qrs = m.global_values.get("heart_rate_bpm"), m.global_values.get("qrs_ms")
        ev = _rhythm_evidence(m, d.feature)
        if qrs is not None:
            text = f"QRS {qrs:.0f} ms; {text}"
        sinus, _ = _sinus(m)
        narrow = qrs is not None and not compare(qrs, ">=", QRS_WIDE_MS, _margin(d, QRS_TOL_MS))
        if kind == "fibrillation":
            organised = sinus or (narrow and irr is not None and irr <= IRREGULAR_RR)
            return (_verdict(False, d.negated) if organised else NOT_CHECKABLE), text, ev
        fast = hr is not None and compare(hr, ">", 120.0, _margin(d, HEART_RATE_TOL_BPM))
        if narrow or sinus or _is_af(m) or fast:
            return _verdict(False, d.negated), text, ev
        return NOT_CHECKABLE, text, ev

    return handler


def _pre_excitation(d: Draft, m: Measurements):
    """Ventricular pre-excitation (WPW pattern: a short PR, a delta wave, a wide QRS; AHA/ACCF/HRS 2009
    Part III). The delta wave is not measured: supported by the intervals, a PR under PR_SHORT_MS and a
    QRS of INCOMPLETE_BBB_QRS_MS or more (where the interpreter raises it); contradicted by a PR that is
    not short (PR tolerance); not checkable without a PR or with a narrow QRS (minimal pre-excitation)."""
    g = m.global_values
    pr, qrs = g.get("pr_ms"), g.get("qrs_ms")
    ev = _record_item(m, d.feature, pr, "ms", "pr_interval")
    if pr is None or qrs is None:
        return NOT_CHECKABLE, f"PR {fmt(pr, 'ms')}, QRS {fmt(qrs, 'ms')}", ev
    text = f"PR {fmt(pr, 'ms')}, QRS {fmt(qrs, 'ms')} (delta wave not measured)"
    if not compare(pr, "<", PR_SHORT_MS, _margin(d, PR_TOL_MS)):
        return _verdict(False, d.negated), text, ev
    if pr < PR_SHORT_MS and qrs >= criteria.INCOMPLETE_BBB_QRS_MS:
        return _verdict(True, d.negated), text, ev
    return NOT_CHECKABLE, text, ev


# The patient as the interpreter may know them (sex and age change its LVH, QTc and ST limits); the
# measurements carry neither, so the whole-ECG verdicts are read under each and counted in the text's favour.
_PATIENTS = (None, *({"sex": sex, "age": age} for sex in ("male", "female") for age in (30, 70)))


def _ecg_verdict(normal: bool):
    """ "Normal ECG" / "abnormal ECG" against the interpreter's own verdict on the same measurements
    (rules.assess: normal only with rhythm, PR, QRS, QT/QTc and axis measured and normal), read for each
    patient of _PATIENTS: supported where some reading says what the text says, contradicted where every
    reading says the opposite, not checkable where a measurement is missing and nothing abnormal was
    found."""

    def handler(d: Draft, m: Measurements):
        readings = [assess(m, patient) for patient in _PATIENTS]
        ev = _rhythm_evidence(m, d.feature)
        # each reading: True normal, False abnormal (a finding), None neither (a measurement missing);
        # "not a normal ECG" is read as "abnormal ECG" and the other way round
        kinds = [
            True if a.normal else (False if any(f.abnormal for f in a.findings) else None) for a in readings
        ]
        want = normal != d.negated
        text = "; ".join(readings[kinds.index(want)].diagnosis if want in kinds else readings[0].diagnosis)
        if want in kinds:
            return SUPPORTED, text, ev
        if all(k == (not want) for k in kinds):
            return CONTRADICTED, text, ev
        return NOT_CHECKABLE, text, ev

    return handler


def _rhythm_evidence(m: Measurements, feature: str) -> list[dict]:
    """Rhythm claims point at lead II over the whole record, valued by RR irregularity (RMSSD / mean RR)."""
    return _record_item(m, "rr_irregularity", m.global_values.get("rr_irregularity"), None, "rr_interval_1")


def _atrial_fibrillation(d: Draft, m: Measurements):
    _, _, text = _rhythm_numbers(m)
    return _verdict(_is_af(m), d.negated), text, _rhythm_evidence(m, d.feature)


def _sinus_rhythm(d: Draft, m: Measurements):
    ok, text = _sinus(m)
    return _verdict(ok, d.negated), text, _rhythm_evidence(m, d.feature)


def _normal_sinus_rhythm(d: Draft, m: Measurements):
    """Normal sinus rhythm: sinus rhythm at a rate within the sinus limits (60-100 bpm, heart-rate
    tolerance); at 50 bpm it is sinus bradycardia, which the interpreter names instead."""
    ok, text = _sinus(m)
    hr = m.global_values.get("heart_rate_bpm")
    if ok and hr is not None:
        text += f", {hr:.0f} bpm"
        ok = compare(hr, "between", (BRADYCARDIA_BPM, TACHYCARDIA_BPM), _margin(d, HEART_RATE_TOL_BPM))
    return _verdict(ok, d.negated), text, _rhythm_evidence(m, d.feature)


def _sinus_arrhythmia(d: Draft, m: Measurements):
    """Sinus rhythm whose dominant beats' RR intervals are irregular (criteria: sinus arrhythmia)."""
    sinus, text = _sinus(m)
    irr = _dominant_irregularity(m)
    ok = None if sinus is None or irr is None else sinus and irr > IRREGULAR_RR
    return _verdict(ok, d.negated), text, _rhythm_evidence(m, d.feature)


def _av_block_2to1(d: Draft, m: Measurements):
    """2:1 AV block: a second P wave half an RR before the conducted one (features._blocked_p_wave). Not
    found is "contradicted" only where the conducted P wave was measured (a 2:1 block's second P wave can
    hide in the T wave at higher rates; the measurements then say nothing)."""
    at, ev = m.global_values.get("blocked_p_wave_ms"), _rhythm_evidence(m, d.feature)
    if at is not None:
        return _verdict(True, d.negated), f"second P wave {at:.0f} ms before the QRS onset", ev
    if m.global_values.get("pr_ms") is None:
        return NOT_CHECKABLE, "no conducted P wave measured", ev
    return _verdict(False, d.negated), "no second P wave between the conducted ones", ev


def _skipped_p_waves(kind: str):
    """P waves the ventricles skip. "second" (second-degree, Mobitz I or II, 2:1, high-grade AV block):
    supported by a blocked P wave midway between the conducted ones (2:1, features._blocked_p_wave);
    "mobitz" (type I or II, Wenckebach) is not checkable there, the type being unknowable at 2:1;
    "p" (non-conducted P waves, dropped beats) by that or by atrial waves at their own rate (complete AV
    block). Contradicted by sinus rhythm conducted one to one: P waves before the beats, no premature
    beat, no RR of 1.3 dominant RRs or more where a beat could have dropped. Otherwise not checkable
    (Mobitz I and II are not told apart; a single dropped beat is not looked for)."""

    def handler(d: Draft, m: Measurements):
        g = m.global_values
        ev = _rhythm_evidence(m, d.feature)
        if g.get("blocked_p_wave_ms") is not None:
            text = f"a blocked P wave {g['blocked_p_wave_ms']:.0f} ms before the QRS (2:1)"
            # at 2:1 the type cannot be told: every other P wave is blocked either way
            return (NOT_CHECKABLE if kind == "mobitz" else _verdict(True, d.negated)), text, ev
        dissociated = g.get("dissociated_atrial_rate_bpm")
        if dissociated is not None and kind == "p":
            return _verdict(True, d.negated), f"atrial waves at {dissociated:.0f}/min of their own", ev
        sinus, text = _sinus(m)
        rrs = [x[2] for x in _rr_list(m)]
        long_rr = bool(rrs) and max(rrs) >= 1.3 * median(rrs)
        if sinus and not long_rr and not m.premature_beats and dissociated is None:
            return _verdict(False, d.negated), text + ", every P wave conducted", ev
        return NOT_CHECKABLE, text, ev

    return handler


def _dextrocardia(d: Draft, m: Measurements):
    """Dextrocardia: lead I upside down, its P wave and QRS negative (with limb electrodes in place).
    Contradicted where lead I has an upright P wave and a dominant R; otherwise not checkable (a swap of
    the arm electrodes inverts lead I too, and the precordial R-wave regression is not read)."""
    p1, (r1, neg1) = _lead_median(m, "I", "p_amplitude"), dominance(m, "I")
    ev = _qrs_amplitude_spans(m, ("I",), d.feature)
    if p1 is None or r1 is None or neg1 is None:
        return NOT_CHECKABLE, "lead I n/a", ev
    text = f"lead I P {fmt(p1, 'mV')}, R {fmt(r1, 'mV')}, deepest Q/S {fmt(neg1, 'mV')}"
    upright = p1 > T_UPRIGHT_MV - abs(_margin(d, P_AMPLITUDE_TOL_MV)) and r1 > neg1
    return (_verdict(False, d.negated) if upright else NOT_CHECKABLE), text, ev


def _ventricular_pacing(d: Draft, m: Measurements):
    """Ventricular pacing makes wide QRS complexes (the right ventricle's apex or septum activated first):
    contradicted by narrow ones (QRS tolerance); otherwise not checkable (pacing spikes are not looked
    for, and a bundle branch block is as wide)."""
    qrs = m.global_values.get("qrs_ms")
    _, ev = _qrs_and_spans(d, m)
    if qrs is None:
        return NOT_CHECKABLE, "QRS n/a", ev
    narrow = not compare(qrs, ">=", QRS_WIDE_MS, _margin(d, QRS_TOL_MS))
    return (_verdict(False, d.negated) if narrow else NOT_CHECKABLE), f"QRS {fmt(qrs, 'ms')}", ev


def _complete_av_block(d: Draft, m: Measurements):
    """Complete AV block / AV dissociation: atrial waves at their own, faster rate, unrelated to the QRS
    (features._dissociated_atrial_rate). Where P waves are locked to the QRS (sinus rhythm) it is
    contradicted; otherwise not finding such waves says nothing (they can hide in the QRS-T)."""
    rate, ev = m.global_values.get("dissociated_atrial_rate_bpm"), _rhythm_evidence(m, d.feature)
    if rate is not None:
        return _verdict(True, d.negated), f"atrial waves at {rate:.0f}/min, unrelated to the QRS", ev
    sinus, text = _sinus(m)
    if sinus:
        return _verdict(False, d.negated), text, ev
    return NOT_CHECKABLE, "no atrial waves of their own found", ev


def _irregular(m: Measurements) -> bool | None:
    """Irregular: the dominant beats' RR irregularity above the limit, or premature beats interrupting them."""
    irr = _dominant_irregularity(m)
    if irr is None:
        return None
    return irr > IRREGULAR_RR or bool(m.premature_beats)


def _rhythm(d: Draft, m: Measurements):
    irr, _, text = _rhythm_numbers(m)
    if m.premature_beats:
        text += f", {len(m.premature_beats)} premature beat(s)"
    irregular = _irregular(m)
    if d.comparator == "irregular":
        ok = irregular
    elif d.comparator == "regular":
        ok = None if irregular is None else not irregular
    else:
        return NOT_CHECKABLE, text, _rhythm_evidence(m, d.feature)
    return _verdict(ok, d.negated), text, _rhythm_evidence(m, d.feature)


def _rr_interval(d: Draft, m: Measurements):
    """Numeric RR claims point at the RR intervals closest to the value; qualitative ones at rhythm."""
    if d.value is None:
        if d.comparator in ("irregular", "regular"):
            return _rhythm(d, m)
        rr = m.global_values.get("rr_ms")
        limits = _limits(d.comparator or "", (RR_SHORT_MS, RR_LONG_MS)) if d.comparator else None
        evidence = _rr_items(m, d, _rr_list(m))
        if rr is None or limits is None:
            return NOT_CHECKABLE, f"mean RR {fmt(rr, 'ms')}", evidence
        return (
            _verdict(compare(rr, *limits, _margin(d, RR_TOL_MS)), d.negated),
            f"mean RR {fmt(rr, 'ms')}",
            evidence,
        )
    rrs = _rr_list(m)
    if not rrs:
        return NOT_CHECKABLE, "no RR intervals", []
    comparator = d.comparator or "="
    if comparator in ("=", "~"):
        tol = max(RR_TOL_MS, RR_TOL_FRACTION * float(d.value))
        closest = sorted(rrs, key=lambda x: abs(x[2] - d.value))
        within = [x for x in closest if abs(x[2] - d.value) <= tol]
        shown = within or closest[:1]
        measured = f"closest RR {fmt(closest[0][2], 'ms')} at {closest[0][0]:.0f} ms"
        if len(within) > 1:
            measured += f" ({len(within)} RR intervals within {tol:.0f} ms)"
        return _verdict(bool(within), d.negated), measured, _rr_items(m, d, shown)
    tol = RR_TOL_MS
    matching = [x for x in rrs if compare(x[2], comparator, d.value, _tol(d, tol))]
    ok = len(matching) / len(rrs) >= 0.5
    measured = (
        f"{len(matching)} of {len(rrs)} RR intervals; mean {fmt(sum(x[2] for x in rrs) / len(rrs), 'ms')}"
    )
    return _verdict(ok, d.negated), measured, _rr_items(m, d, matching or rrs)


def _rr_items(m: Measurements, d: Draft, rrs) -> list[dict]:
    leads = d.leads or (RHYTHM_LEAD,)
    return [
        _item(m, lead, (a, b), "rr_interval", round(rr, 1), "ms", "rr_interval_1")
        for lead in leads
        for a, b, rr in rrs
    ]


def _pause(d: Draft, m: Measurements):
    if d.value is not None:
        return _rr_interval(d, m)
    rrs = _rr_list(m)
    if not rrs:
        return NOT_CHECKABLE, "no RR intervals", []
    med = median(x[2] for x in rrs)
    long_rr = [x for x in rrs if x[2] >= PAUSE_RATIO * med]
    after_premature = []
    for pb in m.premature_beats:
        t = float(pb["time_ms"])
        after_premature += [x for x in rrs if abs(x[0] - t) < 1.0]
    found = sorted(set(long_rr + after_premature))
    measured = f"{len(found)} pause(s); median RR {fmt(med, 'ms')}"
    if found:
        measured += f", longest {fmt(max(x[2] for x in found), 'ms')}"
        evidence = _rr_items(m, d, found)
    else:  # nothing found: the evidence is the whole rhythm strip that was searched
        evidence = _record_item(m, d.feature, 0, None, "rr_interval_1")
    return _verdict(bool(found), d.negated), measured, evidence


def _premature_pattern(kinds: tuple[str, ...], pattern: str):
    """Bigeminy / trigeminy of premature beats of ``kinds`` (``criteria.premature_pattern``); the evidence
    is those premature beats, as for a PVC or PAC claim."""
    count = _premature(kinds)

    def handler(d: Draft, m: Measurements):
        _, measured, evidence = count(d, m)
        found = criteria.premature_pattern(
            pb["beat_index"] for pb in m.premature_beats if pb.get("kind") in kinds
        )
        measured += f"; pattern: {found or 'none'}"
        return _verdict(found == pattern, d.negated), measured, evidence

    return handler


def _premature(kinds: tuple[str, ...]):
    def handler(d: Draft, m: Measurements):
        beats = [pb for pb in m.premature_beats if pb.get("kind") in kinds]
        indices = {pb["beat_index"] for pb in beats}
        leads = d.leads or (RHYTHM_LEAD,)
        evidence = beat_spans(
            m,
            leads,
            "qrs_onset_ms",
            "qrs_offset_ms",
            "qrs_duration",
            "qrs_duration",
            "ms",
            d.feature,
            indices,
        )
        covered = {(e["lead"], round(e["t_start_ms"])) for e in evidence}
        for pb in beats:  # beats whose fiducials were not delineated still get a span around R
            t = float(pb["time_ms"])
            for lead in leads:
                if not any(lead == cl and abs(cs - t) < 200 for cl, cs in covered):
                    evidence.append(
                        _item(
                            m,
                            lead,
                            (t - 60, t + 60),
                            d.feature,
                            pb.get("qrs_duration_ms"),
                            "ms",
                            "qrs_duration",
                        )
                    )
        if beats:
            times = ", ".join(f"{float(pb['time_ms']):.0f}" for pb in beats[:6])
            measured = f"{len(beats)} {'/'.join(kinds)} at {times} ms"
        else:  # nothing found: the evidence is the whole rhythm strip that was searched
            measured = f"no {'/'.join(kinds)} detected"
            evidence = _record_item(m, d.feature, 0, None, "rr_interval_1")
        ok = bool(beats)
        if d.unit == "beats" and d.value is not None:  # "two PVCs": as many; one fewer may stand at an edge
            ok = bool(beats) and d.value - 1 <= len(beats) <= d.value
            measured += f" (the text says {d.value:.0f})"
        return _verdict(ok, d.negated), measured, evidence

    return handler


def _after_premature(kind: str):
    """What premature beats come with: "couplet" (two PVCs in a row), or the pause after them,
    "compensatory" (the RRs around the beat add up to two dominant cycles, features._premature_beats) or
    "noncompensatory" (less: a PAC resets the sinus node). A pause is first checked as any pause is (its
    length where stated; its evidence the RR after the beat), then by the kind: supported where some
    premature beat shows it, contradicted where none does."""
    premature = _premature(("PVC", "PAC"))

    def handler(d: Draft, m: Measurements):
        beats = m.premature_beats
        if kind == "couplet":
            _, measured, evidence = premature(replace(d, unit=None, value=None), m)
            pvcs = sorted(pb["beat_index"] for pb in beats if pb.get("kind") == "PVC")
            ok = any(b - a == 1 for a, b in zip(pvcs, pvcs[1:], strict=False))
            return _verdict(ok, d.negated), measured, evidence
        verdict, measured, evidence = _pause(replace(d, feature="pause", negated=False), m)
        if verdict != SUPPORTED:
            return (_verdict(False, d.negated) if verdict == CONTRADICTED else verdict), measured, evidence
        ok = any(bool(pb.get("compensatory")) == (kind == "compensatory") for pb in beats)
        shown = ", ".join(
            f"{'compensatory' if pb.get('compensatory') else 'not compensatory'} after the {pb.get('kind')}"
            for pb in beats[:4]
        )
        return _verdict(ok, d.negated), f"{measured}; {shown}" if shown else measured, evidence

    return handler


def _qrs_and_spans(d: Draft, m: Measurements) -> tuple[float | None, list[dict]]:
    """The record's QRS duration and the QRS complexes of the claim's leads (V1 and V6 by default)."""
    leads = d.leads or _DEFAULT_LEADS.get(d.feature, ("V1", "V6"))
    evidence = beat_spans(
        m, leads, "qrs_onset_ms", "qrs_offset_ms", "qrs_duration", "qrs_duration", "ms", d.feature
    )
    return m.global_values.get("qrs_ms"), evidence


def _qrs_width(low: float | None, high: float | None):
    """A bundle branch block of either side ("bundle branch block", "IVCD"): only the QRS width."""

    def handler(d: Draft, m: Measurements):
        qrs, evidence = _qrs_and_spans(d, m)
        if qrs is None:
            return NOT_CHECKABLE, "QRS n/a", evidence
        tol = _margin(d, QRS_TOL_MS)
        ok = (low is None or qrs >= low - tol) and (high is None or qrs < high + tol)
        return _verdict(ok, d.negated), f"QRS {fmt(qrs, 'ms')} (width only; morphology not checked)", evidence

    return handler


# Which side a bundle branch block is on (AHA/ACCF/HRS 2009 Part III, Surawicz et al., Circulation
# 2009;119:e235): RBBB has an rsR' / dominant terminal R in V1 and an S wave in I and V6; LBBB a QS or rS in
# V1 and broad upright R waves in I, aVL, V5, V6. The morphology is read from the R and S amplitudes by
# gem_core.rules.bbb_pattern, the reading the measurement-based interpreter names the block from. A claim
# of a side is:
# - contradicted when the QRS width is outside the claim's range (as before: >= QRS_WIDE_MS, or
#   QRS_INCOMPLETE_BBB_MS up to QRS_WIDE_MS for "incomplete"), whatever the morphology;
# - supported when the width fits and V1 and the lateral leads show the claimed pattern;
# - contradicted when they show the other side's complex (_BBB_OPPOSITE): RBBB by the whole left pattern
#   (V1 alone is not enough: an rSr' whose r' is smaller than half the S reads like an rS), LBBB by a
#   dominant R in V1 (never part of LBBB); incomplete RBBB never (its small r' reads like a normal rS);
# - not_checkable otherwise (V1 and V2 noisy or flat, an RS in V1, lateral leads that do not confirm): a
#   cardiologist does not name the side of a block from a wide QRS alone. Negated claims ("no RBBB") are
#   the same reading turned round: supported by a narrow QRS or the other side's pattern.
_BBB_SIDE = {"rbbb": "right", "incomplete_rbbb": "right", "lbbb": "left", "incomplete_lbbb": "left"}
_BBB_OPPOSITE = {
    "rbbb": lambda bbb: bbb["pattern"] == "left",
    "lbbb": lambda bbb: bbb["v1_shape"] == "R",
    "incomplete_rbbb": lambda bbb: False,
    "incomplete_lbbb": lambda bbb: bbb["v1_shape"] == "R",
}
_V1_SHAPE_TEXT = {"R": "dominant R", "QS": "QS", "rS": "rS", "RS": "RS", "flat": "flat"}


def _bbb_morphology(bbb: dict) -> str:
    """The V1 and lateral reading of ``bbb_pattern``, as the ``measured`` line shows it."""
    if bbb["v1_shape"] is None:
        return "V1 and V2 not readable (poor signal)"
    v1 = (
        f"{bbb['v1']} {_V1_SHAPE_TEXT[bbb['v1_shape']]} "
        f"(R {fmt(bbb['r1'], 'mV')} / Q or S {fmt(bbb['s1'], 'mV')})"
    )
    if not bbb["lateral"]:
        return f"{v1}, lateral leads not readable"
    upright = f"dominant R in {'/'.join(bbb['upright'])}" if bbb["upright"] else "no dominant lateral R"
    with_s = f"S wave in {'/'.join(bbb['with_s'])}" if bbb["with_s"] else "no lateral S wave"
    return f"{v1}, {upright}, {with_s}"


def _bundle_branch_side(low: float, high: float | None):
    """RBBB / LBBB (complete or incomplete): the QRS width, then the morphology of that side."""

    def handler(d: Draft, m: Measurements):
        qrs, evidence = _qrs_and_spans(d, m)
        if qrs is None:
            return NOT_CHECKABLE, "QRS n/a", evidence
        tol = _margin(d, QRS_TOL_MS)
        # the margin stops short of the threshold: at 105 ms, 5 ms under 110, no incomplete block is supported
        wide_enough = qrs > low - tol if tol > 0 else qrs >= low - tol
        narrow_enough = high is None or qrs < high + tol
        width = fmt(qrs, "ms")
        if qrs < low:
            width += f" (< {low:.0f} ms)"
        elif high is not None and qrs >= high:
            width += f" (>= {high:.0f} ms: complete)"
        bbb = bbb_pattern(m, lead_quality(m)[0])
        side = _BBB_SIDE[d.feature]
        if bbb["pattern"]:
            reading = f"{bbb['pattern']} pattern"
        elif bbb["v1_shape"] in (None, "flat") or not bbb["lateral"]:
            reading = "side not readable"
        else:
            reading = "neither pattern"
        measured = f"QRS {width}; {_bbb_morphology(bbb)}: {reading}"
        if not (wide_enough and narrow_enough):
            present = False
        elif bbb["pattern"] == side:
            present = True
        elif _BBB_OPPOSITE[d.feature](bbb):
            present = False
        else:
            present = None
        return _verdict(present, d.negated), measured, evidence

    return handler


def _axis_rule(comparator: str, threshold):
    def handler(d: Draft, m: Measurements):
        axis = m.global_values.get("qrs_axis_deg")
        leads = d.leads or _DEFAULT_LEADS["axis"]
        evidence = _qrs_amplitude_spans(m, leads, d.feature)
        for e in evidence:
            e.update(value=axis, unit="deg", measurement_name="qrs_axis")
        if axis is None:
            return NOT_CHECKABLE, "axis n/a", evidence
        if arm_reversal(m, lead_quality(m)[0]) is not None:  # the interpreter reads no axis then either
            return NOT_CHECKABLE, f"axis {fmt(axis, 'deg')}, but limb electrodes appear swapped", evidence
        if d.value is not None:
            ok = compare(axis, d.comparator or "=", d.value, _tol(d, AXIS_TOL_DEG))
        elif comparator == "outside":  # "axis deviation", either way
            ok = not compare(axis, "between", threshold, -_margin(d, AXIS_TOL_DEG))
        elif comparator:
            ok = compare(axis, comparator, threshold, _margin(d, AXIS_TOL_DEG))
        elif d.comparator == "normal":
            ok = compare(axis, "between", (AXIS_LEFT_DEG, AXIS_RIGHT_DEG), _margin(d, AXIS_TOL_DEG))
        else:
            return NOT_CHECKABLE, fmt(axis, "deg"), evidence
        return _verdict(ok, d.negated), f"QRS axis {fmt(axis, 'deg')}", evidence

    return handler


def _first_degree_av_block(d: Draft, m: Measurements):
    pr = m.global_values.get("pr_ms")
    evidence = beat_spans(
        m,
        d.leads or (RHYTHM_LEAD,),
        "p_onset_ms",
        "qrs_onset_ms",
        "pr_interval",
        "pr_interval",
        "ms",
        d.feature,
    )
    if pr is None:
        return NOT_CHECKABLE, "PR n/a (no P waves measured)", evidence
    ok = compare(pr, ">", PR_LONG_MS, _margin(d, PR_TOL_MS))
    return _verdict(ok, d.negated), f"PR {fmt(pr, 'ms')}", evidence


def _low_voltage(d: Draft, m: Measurements):
    leads = d.leads
    evidence = _qrs_amplitude_spans(m, leads or tuple(m.leads), d.feature)
    tol = _tol(d, AMPLITUDE_TOL_MV)
    if d.comparator == "high":
        return _high_voltage(d, m, evidence)

    def limit(lead):
        return LOW_VOLTAGE_LIMB_MV if lead in LIMB_LEADS else LOW_VOLTAGE_PRECORDIAL_MV

    if leads:
        ok, measured = _per_lead(d, m, "qrs_amplitude", lambda v, lead: v < limit(lead) + tol, "mV")
        return _verdict(ok, d.negated), measured, evidence
    v = m.global_values.get("voltage") or {}
    limb, prec = v.get("limb_max_qrs_mv"), v.get("precordial_max_qrs_mv")
    if limb is None and prec is None:
        return NOT_CHECKABLE, "QRS voltage n/a", evidence
    ok = (limb is not None and limb < LOW_VOLTAGE_LIMB_MV + tol) or (
        prec is not None and prec < LOW_VOLTAGE_PRECORDIAL_MV + tol
    )
    return _verdict(ok, d.negated), f"max QRS limb {fmt(limb, 'mV')}, precordial {fmt(prec, 'mV')}", evidence


def _high_voltage(d: Draft, m: Measurements, evidence):
    """Increased QRS voltage (it was read as "not low"): an R or S wave of criteria.HIGH_VOLTAGE_LIMB_MV in
    a limb lead or HIGH_VOLTAGE_PRECORDIAL_MV in a precordial one, in the named leads (any lead where none
    are named, where the LVH voltage criteria count too: ``_lvh``). Amplitude tolerance in the claim's
    favour."""
    tol = _tol(d, AMPLITUDE_TOL_MV)

    def wave(lead):
        r, s = _lead_median(m, lead, "r_amplitude"), _lead_median(m, lead, "s_amplitude")
        return None if r is None and s is None else max(r or 0.0, s or 0.0)

    def test(v, lead):
        limit = criteria.HIGH_VOLTAGE_LIMB_MV if lead in LIMB_LEADS else criteria.HIGH_VOLTAGE_PRECORDIAL_MV
        return v >= limit - tol

    ok, measured = _per_lead(d, m, wave, test, "mV")
    if not d.leads and not ok and not d.negated:
        lvh, lvh_text, _ = _lvh(replace(d, feature="lvh"), m)
        ok = True if lvh == SUPPORTED else ok
        measured += f"; {lvh_text}"
    return _verdict(ok, d.negated), "largest R or S " + measured, evidence


def _lvh(d: Draft, m: Measurements):
    v = m.global_values.get("voltage") or {}
    sok, corn = v.get("sokolow_lyon_mv"), v.get("cornell_mv")
    evidence = _qrs_amplitude_spans(m, d.leads or _DEFAULT_LEADS["lvh"], d.feature)
    if sok is None and corn is None:
        return NOT_CHECKABLE, "voltage criteria n/a", evidence
    tol = _tol(d, AMPLITUDE_TOL_MV)
    ok = (sok is not None and sok >= SOKOLOW_LYON_MV - tol) or (
        corn is not None and corn >= _cornell_limit(d) - tol
    )
    return (
        _verdict(ok, d.negated),
        f"Sokolow-Lyon {fmt(sok, 'mV')}, Cornell {fmt(corn, 'mV')} (voltage criteria only)",
        evidence,
    )


def _rvh(d: Draft, m: Measurements):
    """Right ventricular hypertrophy by voltage (criteria.RVH_R_V1_MV, RVH_SOKOLOW_MV): supported by a tall
    dominant R in V1 (R >= 0.7 mV and R/S >= 1), or R V1 + S V5/V6 over 1.05 mV with the axis over +90;
    contradicted where no voltage criterion comes near; not checkable with a wide QRS (a right bundle
    branch block makes V1 dominant by itself) or V1 unread. Amplitude tolerance in the claim's favour."""
    evidence = _qrs_amplitude_spans(m, ("V1", "V5", "V6"), d.feature)
    g = m.global_values
    qrs, axis = g.get("qrs_ms"), g.get("qrs_axis_deg")
    r1, s1 = _lead_median(m, "V1", "r_amplitude"), _lead_median(m, "V1", "s_amplitude")
    if r1 is None or s1 is None or qrs is None:
        return NOT_CHECKABLE, "V1 n/a", evidence
    s56 = [_lead_median(m, lead, "s_amplitude") for lead in ("V5", "V6")]
    sum_mv = r1 + max((v for v in s56 if v is not None), default=0.0)
    measured = (
        f"V1 R {fmt(r1, 'mV')} S {fmt(s1, 'mV')}; R V1 + S V5/V6 {fmt(sum_mv, 'mV')}; axis {fmt(axis, 'deg')}"
    )
    if qrs >= QRS_WIDE_MS:
        return NOT_CHECKABLE, measured + " (wide QRS: the criteria do not apply)", evidence
    tol = abs(_margin(d, AMPLITUDE_TOL_MV))
    dominant = r1 >= criteria.RVH_R_V1_MV - tol and r1 + tol >= s1
    sokolow = sum_mv >= criteria.RVH_SOKOLOW_MV - tol
    right_axis = axis is not None and axis > criteria.RIGHT_AXIS_DEG
    if dominant or (sokolow and right_axis):
        return _verdict(True, d.negated), measured, evidence
    if not sokolow and r1 < criteria.RVH_R_V1_MV - tol:
        return _verdict(False, d.negated), measured, evidence
    return NOT_CHECKABLE, measured, evidence


def _cornell_limit(d: Draft) -> float:
    """The Cornell limit in the text's favour (the sex is not known): women's for "met", men's for "not"."""
    return CORNELL_MV if d.negated else CORNELL_FEMALE_MV


def _voltage_index(key: str, threshold: float | None, leads: tuple[str, ...]):
    """Sokolow-Lyon / Cornell sums: a value in the text, or "met" (>= threshold) without one; a
    ``threshold`` of None is Cornell's, which depends on the sex (``_cornell_limit``)."""

    def handler(d: Draft, m: Measurements):
        v = (m.global_values.get("voltage") or {}).get(key)
        evidence = _qrs_amplitude_spans(m, d.leads or leads, d.feature)
        if v is None:
            return NOT_CHECKABLE, "n/a", evidence
        limit = threshold if threshold is not None else _cornell_limit(d)
        cmp_value = (d.comparator or "=", d.value) if d.value is not None else (">=", limit)
        ok = compare(v, cmp_value[0], cmp_value[1], _tol(d, AMPLITUDE_TOL_MV))
        return _verdict(ok, d.negated), fmt(v, "mV"), evidence

    return handler


def _st_levels(m: Measurements, lead: str) -> list[float]:
    """A lead's ST levels, at the J point and at J+60/J+40 ms (those measured): a stated level may be
    either, as texts seldom say where they read it and the interpreter states both."""
    return [v for k in ("st_j", "st_deviation") if (v := _lead_median(m, lead, k)) is not None]


def _st(kind: str, form: str | None = None):
    """ST elevation / normal ST per lead from the median J level; depression by the interpreter's reading
    (criteria.st_depression_form), of the ``form`` named ("upsloping", or "flat": horizontal or
    downsloping, whose border the slope's noise blurs); ST-T changes from the level at J+60/J+40 ms."""

    def handler(d: Draft, m: Measurements):
        span = "st_t" if kind == "st_t" else "st"
        start, end, value_key, name, unit = _SPAN_OF[span]
        leads = d.leads or tuple(m.leads)
        evidence = beat_spans(m, leads, start, end, value_key, name, unit, d.feature)
        tol = _tol(d, ST_TOL_MV)
        value_tol = _tol(d, ST_VALUE_TOL_MV)
        if kind == "elevation":  # at the J point, as the interpreter (criteria.st_elevated)

            def test(v, lead):
                present = v >= ST_ELEVATION_MV - tol
                # "elevation of 2 mm" / "up to 2 mm": elevation present, and as high as the text says
                return present and (
                    d.value is None
                    or any(compare(x, d.comparator or "=", d.value, value_tol) for x in _st_levels(m, lead))
                )

            ok, measured = _per_lead(d, m, "st_j", test, "mV")
            return _verdict(ok, d.negated), "ST at the J point " + measured, evidence
        elif kind == "depression":  # the interpreter's reading (rules.st_depression), with the tolerance

            def depth(lead):
                found = st_depression(m, lead, margin_mv=tol)
                if found and (form is None or (form == "upsloping") == (found[0] == "upsloping")):
                    return found[1]
                measured = any(_lead_median(m, lead, k) is not None for k in ("st_j", "st_deviation"))
                return 0.0 if measured else None

            def test(v, _lead):
                return v > 0 and (
                    d.value is None or compare(v, d.comparator or "=", _depth(d.value), value_tol)
                )

            ok, measured = _per_lead(d, m, depth, test, "mV")
            return _verdict(ok, d.negated), "ST depression " + measured, evidence
        elif kind == "normal":

            def test(v, _lead):
                return abs(v) < ST_ELEVATION_MV + tol

            ok, measured = _per_lead(d, m, "st_j", test, "mV")
            return _verdict(ok, d.negated), "ST at the J point " + measured, evidence
        return _st_t_changes(d, m, evidence)

    return handler


def _st_t_abnormal(m: Measurements, lead: str) -> bool | None:
    """An ST-T change in ``lead``: ST off the baseline by ST_T_CHANGE_MV at J+60/J+40 ms, ST depression by
    the interpreter's reading, or a T wave inverted or flat where it is normally upright; None where
    neither ST nor T was measured."""
    st, t = _lead_median(m, lead, "st_deviation"), _lead_median(m, lead, "t_amplitude")
    if st is None and t is None:
        return None
    bad = st is not None and abs(st) >= ST_T_CHANGE_MV
    bad = bad or st_depression(m, lead) is not None
    if t is not None and lead in T_UPRIGHT_LEADS:
        bad = bad or t <= T_INVERTED_MV or abs(t) < T_FLAT_MV / 2
    return bad


def _st_t_changes(d: Draft, m: Measurements, evidence):
    leads = d.leads or tuple(m.leads)
    checkable = _ok_leads(m, leads)
    flags = {lead: _st_t_abnormal(m, lead) for lead in checkable}
    flags = {k: v for k, v in flags.items() if v is not None}
    if not flags:
        return NOT_CHECKABLE, "no measurable ST-T in the named leads", evidence
    shown = ", ".join(
        f"{lead} ST {fmt(_lead_median(m, lead, 'st_deviation'), 'mV')} T {fmt(_lead_median(m, lead, 't_amplitude'), 'mV')}"
        for lead in flags
    )
    ok = any(flags.values())
    return _verdict(ok, d.negated), shown, evidence


def _ischemia(d: Draft, m: Measurements):
    """Ischemia, injury or infarction: diagnoses the ECG suggests but does not make. Their ECG signs in the
    named leads (every lead where none are named): ST elevation at the J point, an ST-T change
    (``_st_t_abnormal``: ST depression, T inversion or flattening included), pathological Q waves (UDMI
    2018 limits; QRS and amplitude tolerances in the claim's favour). Contradicted where every measurable
    lead shows none of them; not checkable where one does (the ECG is consistent with the claim, which it
    cannot prove: bundle branch blocks and hypertrophy make the same changes) or nothing was measured."""
    leads = d.leads or tuple(m.leads)
    evidence = beat_spans(m, leads, *_SPAN_OF["st_t"], d.feature)
    margin_ms, margin_mv = abs(_margin(d, QRS_TOL_MS)), abs(_margin(d, AMPLITUDE_TOL_MV))
    signs, measured = {}, 0
    for lead in _ok_leads(m, leads):
        j, q_ms, q_mv = (_lead_median(m, lead, k) for k in ("st_j", "q_duration", "q_amplitude"))
        st_t = _st_t_abnormal(m, lead)
        if j is None and st_t is None:
            continue
        measured += 1
        found = []
        if j is not None and j >= ST_ELEVATION_MV - ST_TOL_MV:
            found.append("ST elevation")
        if st_t:
            found.append("ST-T change")
        if q_ms and q_mv and criteria.pathological_q(lead, q_ms + margin_ms, q_mv + margin_mv):
            found.append("pathological Q")
        if found:
            signs[lead] = found
    if not measured:
        return NOT_CHECKABLE, "no measurable ST-T in the named leads", evidence
    if not signs:
        return (
            _verdict(False, d.negated),
            f"no ST elevation, ST-T change or pathological Q in {measured} leads",
            evidence,
        )
    shown = "; ".join(f"{lead} {', '.join(found)}" for lead, found in signs.items())
    return NOT_CHECKABLE, f"signs consistent with it: {shown}", evidence


def _st_segment(d: Draft, m: Measurements):
    if d.comparator == "normal":
        return _st("normal")(d, m)
    if d.value is not None:
        # the lead's level (``_st_levels``) nearer the stated one is compared
        stated = sum(d.value) / 2 if isinstance(d.value, tuple) else d.value

        def level(lead):
            found = _st_levels(m, lead)
            return min(found, key=lambda v: abs(v - stated)) if found else None

        return _numeric(d, m, per_lead=level)
    return _st("st_t")(d, m)


def _q_waves(pathological: bool):
    """Q waves in the named (or any) leads: present (a Q wave of criteria depth, features.Q_MIN_MV), or
    pathological by the interpreter's UDMI 2018 limits (``criteria.pathological_q``, duration and depth
    read with the QRS and amplitude tolerances). III, V1 and aVR, where those limits do not apply, are
    not judged for "pathological"."""

    def handler(d: Draft, m: Measurements):
        leads = d.leads or tuple(m.leads)
        evidence = beat_spans(
            m,
            leads,
            "qrs_onset_ms",
            "qrs_offset_ms",
            "q_amplitude",
            "q_waves",
            "mV",
            d.feature,
            None,
            "q_duration",
        )

        def test(ms, lead):
            depth = _lead_median(m, lead, "q_amplitude")
            if not pathological:
                return ms > 0
            if not any(lead in group for group in criteria.Q_GROUPS.values()) and lead not in ("V2", "V3"):
                return None
            margin_ms, margin_mv = _margin(d, QRS_TOL_MS), _margin(d, AMPLITUDE_TOL_MV)
            return (
                depth is not None
                and depth > 0
                and criteria.pathological_q(lead, ms + margin_ms, depth + margin_mv)
            )

        ok, measured = _per_lead(d, m, "q_duration", test, "ms")
        return _verdict(ok, d.negated), "Q wave duration " + measured, evidence

    return handler


def _t_rule(kind: str):
    def handler(d: Draft, m: Measurements):
        leads = d.leads or tuple(m.leads)
        evidence = beat_spans(
            m, leads, "t_onset_ms", "t_offset_ms", "t_amplitude", "t_amplitude", "mV", d.feature
        )
        if kind == "inverted":

            def test(v, lead):
                present = v <= T_INVERTED_MV + _tol(d, T_TOL_MV)
                # "T wave inversion of 0.3 mV" (or "of -0.3 mV"): inverted, and as deep as the text says
                return present and (
                    d.value is None
                    or compare(-v, d.comparator or "=", _depth(d.value), _tol(d, TOLERANCES["t_amplitude"]))
                )
        elif kind == "flat":

            def test(v, lead):
                return abs(v) < T_FLAT_MV + _tol(d, T_TOL_MV)
        elif kind == "upright":  # it read as "peaked" (>= 1 mV) before: normal T waves came out contradicted

            def test(v, lead):
                return v >= T_UPRIGHT_MV - _tol(d, T_TOL_MV)
        else:

            def test(v, lead):
                return v >= T_PEAKED_MV - _tol(d, AMPLITUDE_TOL_MV)

        ok, measured = _per_lead(d, m, "t_amplitude", test, "mV")
        return _verdict(ok, d.negated), "T " + measured, evidence

    return handler


def _t_wave(d: Draft, m: Measurements):
    """ "Normal T waves": in the named leads (those where T is normally upright, criteria.T_UPRIGHT_LEADS,
    where none are named) no T wave inverted or flat where it should be upright, none peaked
    (T_PEAKED_MV); tolerances in the claim's favour. Other things said of T waves (their shape) are not
    measured: not checkable."""
    leads = d.leads or T_UPRIGHT_LEADS
    evidence = beat_spans(
        m, leads, "t_onset_ms", "t_offset_ms", "t_amplitude", "t_amplitude", "mV", d.feature
    )
    if d.comparator != "normal":
        return NOT_CHECKABLE, "T-wave shape not measured", evidence
    tol = abs(_tol(d, T_TOL_MV))
    values = {lead: _lead_median(m, lead, "t_amplitude") for lead in _ok_leads(m, leads)}
    values = {lead: v for lead, v in values.items() if v is not None}
    if not values:
        return NOT_CHECKABLE, "no measurable T waves in the named leads", evidence
    abnormal = [
        lead
        for lead, v in values.items()
        if v >= T_PEAKED_MV + tol or (lead in T_UPRIGHT_LEADS and v < T_FLAT_MV - tol)
    ]
    measured = ", ".join(f"{lead} {fmt(v, 'mV')}" for lead, v in values.items())
    return _verdict(not abnormal, d.negated), "T " + measured, evidence


def _qs_complex(d: Draft, m: Measurements):
    """QS complexes: no R wave (under WAVE_PRESENT_MV, amplitude tolerance) in the named leads."""
    margin = _margin(d, AMPLITUDE_TOL_MV)
    ok, measured = _per_lead(d, m, "r_amplitude", lambda v, _lead: v < WAVE_PRESENT_MV + margin, "mV")
    return (
        _verdict(ok, d.negated),
        "R " + measured,
        _qrs_amplitude_spans(m, d.leads or tuple(m.leads), d.feature),
    )


def _p_wave(d: Draft, m: Measurements):
    pfrac, counted = _p_fraction(m)
    leads = d.leads or (RHYTHM_LEAD,)
    evidence = beat_spans(
        m, leads, "p_onset_ms", "p_offset_ms", "p_amplitude", "p_amplitude", "mV", d.feature
    )
    if not evidence:
        evidence = _record_item(m, "p_wave", pfrac, None, "p_amplitude")
    if pfrac is None:
        return NOT_CHECKABLE, "P waves n/a", evidence
    measured = f"P waves in {100 * pfrac:.0f}% of {counted}"
    if d.unit == "pct" and isinstance(d.value, float):  # a stated share: "P waves precede 0% of ..."
        ok = abs(d.value / 100.0 - pfrac) <= P_FRACTION_TOL
        return _verdict(ok, d.negated), measured, evidence
    if d.comparator in (None, "normal", "positive", "present", "regular"):
        return _verdict(pfrac >= AF_P_FRACTION, d.negated), measured, evidence
    return NOT_CHECKABLE, measured, evidence


def _atrial_enlargement(side: str):
    """Left or right atrial enlargement (abnormality) by the P wave (criteria: RAE_P_II_MV, RAE_P_V1_MV,
    P_LONG_MS; AHA/ACCF/HRS 2009 Part V). Right: supported by a P wave of RAE_P_II_MV in II or
    RAE_P_V1_MV in V1, contradicted where both are measured and lower (P-amplitude tolerance). Left:
    supported by a P duration of P_LONG_MS; otherwise not checkable, since a deep, broad terminal negative
    P in V1 (not measured) also counts. Not checkable without consistent P waves (AF, flutter)."""

    def handler(d: Draft, m: Measurements):
        evidence = beat_spans(
            m, ("II", "V1"), "p_onset_ms", "p_offset_ms", "p_amplitude", "p_amplitude", "mV", d.feature
        )
        pfrac, _ = _p_fraction(m)
        if pfrac is None or pfrac < SINUS_P_FRACTION:
            return NOT_CHECKABLE, "no consistent P waves", evidence
        if side == "left":
            p = m.global_values.get("p_ms")
            if p is None:
                return NOT_CHECKABLE, "P duration n/a", evidence
            text = f"P duration {fmt(p, 'ms')} (the P terminal force in V1 is not measured)"
            broad = compare(p, ">=", P_LONG_MS, _margin(d, P_DURATION_TOL_MS))
            return (_verdict(True, d.negated) if broad else NOT_CHECKABLE), text, evidence
        p2, p1 = _lead_median(m, "II", "p_amplitude"), _lead_median(m, "V1", "p_amplitude")
        if p2 is None and p1 is None:
            return NOT_CHECKABLE, "P amplitude n/a", evidence
        margin = _margin(d, P_AMPLITUDE_TOL_MV)
        tall = (p2 is not None and compare(p2, ">=", criteria.RAE_P_II_MV, margin)) or (
            p1 is not None and compare(p1, ">=", criteria.RAE_P_V1_MV, margin)
        )
        text = f"P {fmt(p2, 'mV')} in II, {fmt(p1, 'mV')} in V1"
        if tall or (p2 is not None and p1 is not None):
            return _verdict(tall, d.negated), text, evidence
        return NOT_CHECKABLE, text, evidence

    return handler


def _fascicular_block(d: Draft, m: Measurements):
    """Bifascicular block (RBBB with left anterior or posterior fascicular block) and trifascicular block
    (loosely, that with a long PR): supported by the RBBB and fascicular claims' own checks; contradicted
    where an RBBB claim is (narrow QRS, or another bundle branch pattern); not checkable otherwise (the
    words are also used for LBBB, and a third fascicle is not seen on one ECG)."""
    # (left posterior fascicular block claims are not checked: an RBBB with LPFB stays not checkable)
    rbbb, lafb = (_HANDLERS[f](replace(d, feature=f, negated=False), m) for f in ("rbbb", "lafb"))
    fascicles = [lafb]
    measured = "; ".join(r[1] for r in (rbbb, *fascicles) if r[1])
    if rbbb[0] == CONTRADICTED:
        return _verdict(False, d.negated), measured, rbbb[2]
    both = rbbb[0] == SUPPORTED and any(r[0] == SUPPORTED for r in fascicles)
    if both and d.feature == "bifascicular_block":
        return _verdict(True, d.negated), measured, rbbb[2]
    return NOT_CHECKABLE, measured, rbbb[2]


def _poor_r_progression(d: Draft, m: Measurements):
    """Poor R-wave progression: the R wave in V3 at most criteria.POOR_R_PROGRESSION_V3_MV (amplitude
    tolerance in the claim's favour); not checkable without V3."""
    evidence = beat_spans(
        m,
        ("V1", "V2", "V3", "V4"),
        "qrs_onset_ms",
        "qrs_offset_ms",
        "r_amplitude",
        "qrs_amplitude",
        "mV",
        d.feature,
    )
    r3 = _lead_median(m, "V3", "r_amplitude") if "V3" in _ok_leads(m, ("V3",)) else None
    if r3 is None:
        return NOT_CHECKABLE, "R in V3 n/a", evidence
    shown = ", ".join(
        f"{lead} R {fmt(r, 'mV')}"
        for lead in ("V1", "V2", "V3", "V4")
        if (r := _lead_median(m, lead, "r_amplitude")) is not None
    )
    ok = compare(r3, "<=", criteria.POOR_R_PROGRESSION_V3_MV, _margin(d, AMPLITUDE_TOL_MV))
    return _verdict(ok, d.negated), shown, evidence


def _raised_j_point(limit_mv: float, default_leads: tuple[str, ...]):
    """A pattern that needs a J point raised by ``limit_mv`` or more in one of the named leads
    (``default_leads`` where none are named) and a shape the measurements do not read: contradicted
    where no lead's J point comes near the limit (ST tolerance, in the text's favour), otherwise not
    checkable. The early repolarization pattern (criteria.EARLY_REPOLARIZATION_J_MV in the inferior and
    lateral leads, its end-QRS notch or slur unread; Macfarlane et al. 2015) and the Brugada pattern
    (criteria.BRUGADA_J_MV in V1-V2, coved or saddleback; 2013 HRS/EHRA/APHRS consensus, Bayes de Luna et
    al. 2012; leads placed higher are not recorded)."""

    def handler(d: Draft, m: Measurements):
        leads = [lead for lead in (d.leads or default_leads) if lead in m.leads]
        evidence = beat_spans(
            m, leads, "qrs_offset_ms", "t_onset_ms", "st_deviation", "st_form", "mV", d.feature
        )
        levels = {lead: _lead_median(m, lead, "st_j") for lead in _ok_leads(m, leads)}
        levels = {lead: v for lead, v in levels.items() if v is not None}
        if not levels:
            return NOT_CHECKABLE, "J point n/a", evidence
        measured = ", ".join(f"{lead} J {fmt(v, 'mV')}" for lead, v in levels.items())
        raised = compare(max(levels.values()), ">=", limit_mv, _margin(d, ST_TOL_MV))
        return (NOT_CHECKABLE if raised else _verdict(False, d.negated)), measured, evidence

    return handler


def _wave(kind: str):
    """R or S waves in the named leads: "S waves in I and V6" (there: >= ``WAVE_PRESENT_MV``), "upright
    / dominant R waves" (R taller than the deepest negative wave). Width and notching are not measured."""

    def handler(d: Draft, m: Measurements):
        leads = d.leads or tuple(m.leads)
        key = "r_amplitude" if kind == "r" else "s_amplitude"
        evidence = beat_spans(
            m, leads, "qrs_onset_ms", "qrs_offset_ms", key, "qrs_amplitude", "mV", d.feature
        )
        margin = _margin(d, AMPLITUDE_TOL_MV)
        if d.comparator in (None, "high"):  # "S waves in I and V6", "prominent R waves": there

            def test(v, _lead):  # 1 mm is already the least one reads: no margin below it for "there"
                return v >= WAVE_PRESENT_MV - min(margin, 0.0)

            ok, measured = _per_lead(d, m, key, test, "mV")
            return _verdict(ok, d.negated), f"{kind.upper()} {measured}", evidence
        if kind == "r" and d.comparator in ("positive", "negative"):  # "upright", "dominant"
            depths = {lead: dominance(m, lead) for lead in _ok_leads(m, leads)}
            depths = {lead: rs for lead, rs in depths.items() if None not in rs}
            if not depths:
                return NOT_CHECKABLE, "R and S n/a", evidence
            upright = [(r - neg >= -margin) == (d.comparator == "positive") for r, neg in depths.values()]
            measured = ", ".join(
                f"{lead} R {fmt(r, 'mV')} / Q or S {fmt(neg, 'mV')}" for lead, (r, neg) in depths.items()
            )
            ok = any(upright) if not d.leads or d.negated else sum(upright) / len(upright) >= 0.5
            return _verdict(ok, d.negated), measured, evidence
        if kind == "s" and d.comparator == "prolonged":  # "broad (terminal) S waves in I and V6"

            def test(v, _lead):
                return v >= criteria.TERMINAL_S_MIN_MS - _margin(d, QRS_TOL_MS)

            ok, measured = _per_lead(d, m, "s_duration", test, "ms")
            return _verdict(ok, d.negated), f"S wave width {measured}", evidence
        return NOT_CHECKABLE, f"{kind.upper()} wave amplitude only (shape not measured)", evidence

    return handler


def _rsr(d: Draft, m: Measurements):
    """An rSR' (terminal R' after an S): the lead's median terminal R' at least 1 mm (0.1 mV)."""
    leads = d.leads or ("V1", "V2")
    evidence = beat_spans(
        m, leads, "qrs_onset_ms", "qrs_offset_ms", "r_prime_amplitude", "qrs_amplitude", "mV", d.feature
    )
    d = Draft(d.start, d.end, d.feature, tuple(leads), d.value, d.unit, d.comparator, d.negated)

    def test(v, lead):
        if v >= criteria.WAVE_PRESENT_MV - _margin(d, AMPLITUDE_TOL_MV):
            return True
        # no separate R' measured: a notch on a broad dominant R (rsR' whose s stays above the baseline) is
        # not measured, so only an rS or QS complex, whose negative wave dominates, rules the R' out
        r, neg = dominance(m, lead)
        if r is None or neg is None:
            return None
        return False if neg > criteria.LBBB_V1_NEGATIVE_RATIO * r else None

    ok, measured = _per_lead(d, m, "r_prime_amplitude", test, "mV")
    return _verdict(ok, d.negated), f"terminal R' {measured}", evidence


def _qrs_polarity(d: Draft, m: Measurements):
    leads = d.leads or tuple(m.leads)
    evidence = _qrs_amplitude_spans(m, leads, d.feature)
    want_negative = d.comparator == "negative"

    def net(lead):
        r, s = _lead_median(m, lead, "r_amplitude"), _lead_median(m, lead, "s_amplitude")
        return None if r is None or s is None else r - s

    checkable = [lead for lead in _ok_leads(m, leads) if net(lead) is not None]
    if not checkable:
        return NOT_CHECKABLE, "QRS polarity n/a", evidence
    results = [(net(lead) < 0) == want_negative for lead in checkable]
    measured = ", ".join(f"{lead} R-S {fmt(net(lead), 'mV')}" for lead in checkable)
    return _verdict(sum(results) / len(results) >= 0.5, d.negated), measured, evidence


_HANDLERS = {
    "heart_rate": _heart_rate,
    "tachycardia": _rate_category(">", TACHYCARDIA_BPM, sinus=False),
    "bradycardia": _rate_category("<", BRADYCARDIA_BPM, sinus=False),
    "sinus_tachycardia": _rate_category(">", TACHYCARDIA_BPM, sinus=True),
    "sinus_bradycardia": _rate_category("<", BRADYCARDIA_BPM, sinus=True),
    "sinus_rhythm": _sinus_rhythm,
    "ecg_normal": _ecg_verdict(True),
    "ecg_abnormal": _ecg_verdict(False),
    "normal_sinus_rhythm": _normal_sinus_rhythm,
    "sinus_arrhythmia": _sinus_arrhythmia,
    "ectopic_atrial_rhythm": _ectopic_atrial_rhythm,
    "atrial_flutter": _atrial_flutter,
    "ventricular_fibrillation": _ventricular_rhythm("fibrillation"),
    "idioventricular_rhythm": _ventricular_rhythm("idioventricular"),
    "pre_excitation": _pre_excitation,
    "ventricular_tachycardia": _tachycardia_of("ventricular"),
    "nonsustained_vt": _tachycardia_of("nonsustained"),
    "supraventricular_tachycardia": _tachycardia_of("supraventricular"),
    "av_reentrant_tachycardia": _tachycardia_of("reentrant"),
    "atrial_tachycardia": _tachycardia_of("atrial"),
    "multifocal_atrial_tachycardia": _tachycardia_of("multifocal"),
    "narrow_complex_tachycardia": _tachycardia_of("narrow"),
    "wide_complex_tachycardia": _tachycardia_of("wide"),
    # "junctional rhythm" (or "junctional escape") up to 100 bpm: used loosely for the accelerated one too
    "junctional_rhythm": _junctional(0.0, TACHYCARDIA_BPM),
    "accelerated_junctional_rhythm": _junctional(BRADYCARDIA_BPM, TACHYCARDIA_BPM),
    "junctional_tachycardia": _junctional(TACHYCARDIA_BPM, math.inf),
    "arm_lead_reversal": _lead_reversal(arm=True),
    "limb_lead_reversal": _lead_reversal(arm=False),
    "av_block_2to1": _av_block_2to1,
    "complete_av_block": _complete_av_block,
    "second_degree_av_block": _skipped_p_waves("second"),
    "blocked_p_waves": _skipped_p_waves("p"),
    "mobitz_av_block": _skipped_p_waves("mobitz"),
    "dextrocardia": _dextrocardia,
    "ventricular_pacing": _ventricular_pacing,
    "atrial_fibrillation": _atrial_fibrillation,
    "rhythm": _rhythm,
    "rr_interval": _rr_interval,
    "pause": _pause,
    "pause_compensatory": _after_premature("compensatory"),
    "pause_noncompensatory": _after_premature("noncompensatory"),
    "pvc_couplet": _after_premature("couplet"),
    "bifascicular_block": _fascicular_block,
    "trifascicular_block": _fascicular_block,
    "brugada": _raised_j_point(criteria.BRUGADA_J_MV, ("V1", "V2")),
    "t_wave": _t_wave,
    "qs_complex": _qs_complex,
    "rvh": _rvh,
    "early_repolarization": _raised_j_point(
        criteria.EARLY_REPOLARIZATION_J_MV, criteria.EARLY_REPOLARIZATION_LEADS
    ),
    "poor_r_progression": _poor_r_progression,
    "left_atrial_enlargement": _atrial_enlargement("left"),
    "right_atrial_enlargement": _atrial_enlargement("right"),
    "pvc": _premature(("PVC",)),
    "pac": _premature(("PAC",)),
    "premature_beat": _premature(("PVC", "PAC")),
    "ventricular_bigeminy": _premature_pattern(("PVC",), "bigeminy"),
    "ventricular_trigeminy": _premature_pattern(("PVC",), "trigeminy"),
    "atrial_bigeminy": _premature_pattern(("PAC",), "bigeminy"),
    "atrial_trigeminy": _premature_pattern(("PAC",), "trigeminy"),
    "bigeminy": _premature_pattern(("PVC", "PAC"), "bigeminy"),
    "trigeminy": _premature_pattern(("PVC", "PAC"), "trigeminy"),
    "rbbb": _bundle_branch_side(QRS_WIDE_MS, None),
    "lbbb": _bundle_branch_side(QRS_WIDE_MS, None),
    "bundle_branch_block": _qrs_width(QRS_WIDE_MS, None),
    "incomplete_rbbb": _bundle_branch_side(QRS_INCOMPLETE_BBB_MS, QRS_WIDE_MS),
    "incomplete_lbbb": _bundle_branch_side(QRS_INCOMPLETE_BBB_MS, QRS_WIDE_MS),
    "axis": _axis_rule("", None),
    "axis_deviation": _axis_rule("outside", (AXIS_LEFT_DEG, AXIS_RIGHT_DEG)),
    # the AHA/ACCF/HRS ranges the interpreter names: left -30 to -90, right +90 to +180, extreme (northwest)
    # -90 to -180 (an axis of -150 was "left axis deviation" here)
    "left_axis_deviation": _axis_rule("between", (AXIS_EXTREME_DEG, AXIS_LEFT_DEG)),
    "right_axis_deviation": _axis_rule("between", (AXIS_RIGHT_DEG, 180.0)),
    "extreme_axis": _axis_rule("between", (-180.0, AXIS_EXTREME_DEG)),
    # -45 to -90 (criteria.left_anterior_fascicular_block): an axis of -149 was supported as LAFB
    "lafb": _axis_rule("between", (AXIS_EXTREME_DEG, AXIS_LAFB_DEG)),
    "first_degree_av_block": _first_degree_av_block,
    "low_voltage": _low_voltage,
    "lvh": _lvh,
    "sokolow_lyon": _voltage_index("sokolow_lyon_mv", SOKOLOW_LYON_MV, ("V1", "V5", "V6")),
    "cornell": _voltage_index("cornell_mv", None, ("aVL", "V3")),
    "st_elevation": _st("elevation"),
    "ischemia": _ischemia,
    "st_depression": _st("depression"),
    "st_depression_upsloping": _st("depression", "upsloping"),
    "st_depression_flat": _st("depression", "flat"),
    "st_t_changes": _st("st_t"),
    "st_segment": _st_segment,
    "t_inversion": _t_rule("inverted"),
    "t_flattening": _t_rule("flat"),
    "t_peaked": _t_rule("peaked"),
    "t_upright": _t_rule("upright"),
    "p_wave": _p_wave,
    "qrs_polarity": _qrs_polarity,
    "rsr_pattern": _rsr,
    "q_waves": _q_waves(pathological=False),
    "q_waves_pathological": _q_waves(pathological=True),
    "r_waves": _wave("r"),
    "s_waves": _wave("s"),
    **{name: _numeric for name in _NUMERIC if name != "st_segment"},
}
