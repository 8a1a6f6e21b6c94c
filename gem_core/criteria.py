"""The clinical criteria: one table of limits, each with its source, shared by the interpreter
(``gem_core.rules``) and the claim checker (``gem_core.grounding.check``).

Every number a diagnosis turns on lives here. The two readers must not disagree: a QRS of 105 ms is
not an incomplete bundle branch block for either. The only leniency the checker adds is the
measurement tolerance at a category's threshold (``CHECKER_CATEGORY_MARGIN`` of the feature's
tolerance, counted in the text's favour), stated in ``gem_core.grounding.check``; it never moves a limit.

Sources (cited by short name below):
- AHA/ACCF/HRS 2009: Recommendations for the Standardization and Interpretation of the ECG.
  Part III intraventricular conduction (Surawicz et al., Circulation 2009;119:e235);
  Part IV ST segment, T/U waves, QT (Rautaharju et al., Circulation 2009;119:e241);
  Part V hypertrophy (Hancock et al., Circulation 2009;119:e251);
  Part VI acute ischemia/infarction (Wagner et al., Circulation 2009;119:e262).
- UDMI 2018: Fourth Universal Definition of Myocardial Infarction (Thygesen et al., Eur Heart J 2019;
  40:237), ECG manifestations of acute ischaemia, Table 3.
- Minnesota Code: Prineas, Crow & Zhang, The Minnesota Code Manual of Electrocardiographic Findings,
  2nd ed., Springer 2010; 4-codes (ST junction and segment depression).
- ESC 2020 AF: Hindricks et al., Eur Heart J 2021;42:373 (irregularly irregular RR, no distinct P).
- Dash et al. 2009: Ann Biomed Eng 37:1701 (normalised RMSSD of RR > 0.1 in AF).
- Strauss 2011: Strauss, Selvester & Wagner, Am J Cardiol 2011;107:927 (strict LBBB).
- Sokolow & Lyon 1949, Am Heart J 37:161; Casale et al. 1985 (Cornell), Circulation 1985;71:565.
- Fridericia 1920 / Framingham (Sagie et al., Am J Cardiol 1992;70:797): rate corrections of QT;
  Bazett over-corrects above ~90 bpm (AHA/ACCF/HRS 2009 Part IV recommends a linear or other
  non-Bazett correction at rates away from 60 bpm).
"""

from __future__ import annotations

# --- rate and rhythm -----------------------------------------------------------------------------
# Sinus rate limits, AHA/ACCF/HRS 2009 Part I (60-100 bpm).
BRADYCARDIA_BPM = 60.0
TACHYCARDIA_BPM = 100.0
# Sinus rhythm: a P wave before (nearly) every conducted QRS; measured P waves on >= 70% of the dominant
# beats (allowing beats where the P wave is not measurable).
SINUS_MIN_P_WAVE_FRACTION = 0.7
# Junctional rhythm: a regular rhythm of narrow QRS complexes (< COMPLETE_BBB_QRS_MS) with no P wave
# before them, or an inverted one with a short PR (retrograde atrial activation), and no atrial waves of
# their own. The AV junction paces at 40-60 bpm (a junctional escape rhythm); faster, up to 100 bpm, is an
# accelerated junctional rhythm, above 100 a junctional tachycardia (junctional rhythms as the AHA/ACCF/HRS
# 2007 Part II statement list groups them; the rate bands here are the sinus rate's limits above). A wide
# regular rhythm without P waves may be junctional with a bundle branch block or ventricular: not named.
# Nor a narrow one above 100 bpm: AV nodal or AV re-entry are likelier there than a junctional focus.
# Supraventricular tachycardia (ACC/AHA/HRS 2015 SVT guideline): a rate over TACHYCARDIA_BPM from the His
# bundle or above, AF excluded (named apart), sinus tachycardia named for itself. A regular tachycardia of
# narrow QRS complexes (< COMPLETE_BBB_QRS_MS) with no P wave before them is named so; with P waves
# before them whose axis is not a sinus P wave's it is an (ectopic) atrial tachycardia. A wide one is VT
# until proven otherwise (rules.wide_complex_tachycardia).
# A sinus P wave is upright in leads I and II (AHA/ACCF/HRS 2009 Part I). Judged here on lead II only:
# its P is upright while the frontal P axis lies within 90 degrees of the lead's +60, -30 to +150. P waves
# inverted in II (and aVF) before every beat come from a low atrial focus (ectopic atrial rhythm), not the
# sinus node. A P wave inverted in I with II upright (axis over +90) is left alone: a vertical P axis is
# common in chronic lung disease, and such a P wave more often means swapped arm electrodes or
# dextrocardia than an atrial focus. The P axis from the limb leads' P areas errs by 10-15 degrees on
# small P waves: the sector is widened by SINUS_P_AXIS_MARGIN_DEG before P waves count as not sinus.
SINUS_P_AXIS_DEG = (-30.0, 150.0)
SINUS_P_AXIS_MARGIN_DEG = 15.0
# Atrial fibrillation (ESC 2020 AF): no consistent P waves (fewer than half of the beats with a
# time-locked one) and irregular RR: normalised RMSSD > 0.10 (Dash et al. 2009).
AF_MAX_P_WAVE_FRACTION = 0.5
AF_MIN_NORMALISED_RMSSD = 0.10
# "Irregular rhythm": the same RR irregularity as AF, computed on the dominant beats (premature beats and
# the RR intervals around them left out), so that one PVC in sinus rhythm is not "irregular".
IRREGULAR_NORMALISED_RMSSD = AF_MIN_NORMALISED_RMSSD
# Sinus arrhythmia: P waves before the beats as in sinus rhythm, the dominant RR intervals irregular by
# that measure, and no premature beats (beside ectopy the irregularity left may be ectopy missed). A normal
# variant, chiefly respiratory: named beside the sinus rate ("sinus bradycardia with sinus arrhythmia"), as
# the programs on cardiologists' carts do, and not counted as abnormal.
# A pause: an RR interval of at least 2 s (sinus pause/arrest as usually reported) or at least 1.5 times
# the dominant RR (a pause after a premature beat); RR intervals merely a few percent over the mean are
# not pauses.
PAUSE_MIN_MS = 2000.0
PAUSE_RATIO = 1.5
# 2:1 atrial flutter: a regular ventricular rate of 140-160 bpm without time-locked P waves (ESC 2019 SVT).
FLUTTER_2TO1_BPM = (140.0, 160.0)

# --- intervals -----------------------------------------------------------------------------------
# PR: normal 120-200 ms; first-degree AV block PR > 200 ms (AHA/ACCF/HRS 2009 Part I/III).
PR_SHORT_MS = 120.0
FIRST_DEGREE_AVB_PR_MS = 200.0
# QRS (AHA/ACCF/HRS 2009 Part III): complete RBBB/LBBB >= 120 ms; incomplete RBBB/LBBB 110-119 ms;
# nonspecific intraventricular conduction delay: >= 120 ms without a bundle branch pattern (Part III
# says > 110 ms; 120 ms keeps a +-10 ms measurement error on a normal QRS from reading as a defect).
COMPLETE_BBB_QRS_MS = 120.0
INCOMPLETE_BBB_QRS_MS = 110.0
# Strict LBBB (Strauss 2011): QRS >= 140 ms in men, >= 130 ms in women. Used only when the sex is known;
# when it is not, the AHA/ACCF/HRS 2009 limit (120 ms) applies.
LBBB_QRS_MALE_MS = 140.0
LBBB_QRS_FEMALE_MS = 130.0
LBBB_QRS_UNKNOWN_SEX_MS = COMPLETE_BBB_QRS_MS
# QTc (AHA/ACCF/HRS 2009 Part IV): prolonged >= 450 ms in men, >= 460 ms in women (460 ms when the sex
# is unknown); short <= 390 ms. Not judged with QRS >= 120 ms (QT then reflects the conduction delay).
QTC_LONG_MALE_MS = 450.0
QTC_LONG_FEMALE_MS = 460.0
QTC_LONG_UNKNOWN_SEX_MS = QTC_LONG_FEMALE_MS
QTC_SHORT_MS = 390.0
# Rate-appropriate QTc: Bazett is kept between 60 and 90 bpm; outside, Fridericia (Part IV; Bazett
# over-corrects at fast and under-corrects at slow rates).
QTC_BAZETT_MIN_BPM = 60.0
QTC_BAZETT_MAX_BPM = 90.0
# Uncorrected QT above this is long at any rate (used only for claims that name QT, not QTc).
QT_LONG_MS = 450.0
# P-wave duration: > 120 ms is prolonged (left atrial abnormality; AHA/ACCF/HRS 2009 Part V).
P_LONG_MS = 120.0
# Right atrial abnormality: a P wave of 0.25 mV or more in II, or a positive P of 0.15 mV or more in V1
# (AHA/ACCF/HRS 2009 Part V). Left atrial abnormality: P_LONG_MS in II, or a deep, broad terminal negative
# P in V1 (the P terminal force, not measured here).
RAE_P_II_MV = 0.25
RAE_P_V1_MV = 0.15
# The Brugada ECG pattern needs a J point (or r' take-off) of 0.2 mV or more in V1 or V2, coved (type 1) or
# saddleback (type 2) (2013 HRS/EHRA/APHRS expert consensus; Bayes de Luna et al., J Electrocardiol 2012).
BRUGADA_J_MV = 0.2
# Poor R-wave progression: an R wave of 0.3 mV (3 mm) or less in V3, the usual definition (MacKenzie,
# J Insur Med 2005, reviewing the criteria in use).
POOR_R_PROGRESSION_V3_MV = 0.3
# Right ventricular hypertrophy by voltage (AHA/ACCF/HRS 2009 Part V lists these among its criteria): R in
# V1 >= 0.7 mV with R/S in V1 >= 1, or R in V1 + the deeper S of V5/V6 > 1.05 mV (Sokolow-Lyon) with right
# axis deviation; none of them apply beside a right bundle branch block.
RVH_R_V1_MV = 0.7
RVH_SOKOLOW_MV = 1.05
# Early repolarization pattern: a J point (end-QRS notch or slur) of 0.1 mV or more in two contiguous
# inferior and/or lateral leads (Macfarlane et al., JACC 2015 consensus; V1-V3 are left out there).
EARLY_REPOLARIZATION_J_MV = 0.1
EARLY_REPOLARIZATION_LEADS = ("I", "II", "III", "aVL", "aVF", "V4", "V5", "V6")
# RR limits matching the sinus rate limits: RR < 600 ms is > 100 bpm, RR > 1000 ms is < 60 bpm.
RR_SHORT_MS = 60000.0 / TACHYCARDIA_BPM
RR_LONG_MS = 60000.0 / BRADYCARDIA_BPM

# --- frontal QRS axis (AHA/ACCF/HRS 2009 Part I/III) ------------------------------------------------
# Normal -30 to +90; left axis deviation -30 to -90 (left anterior fascicular block -45 to -90); right
# axis deviation +90 to +180; extreme (northwest) axis -90 to -180.
LEFT_AXIS_DEG = -30.0
RIGHT_AXIS_DEG = 90.0
LAFB_AXIS_DEG = -45.0
EXTREME_AXIS_DEG = -90.0
# Left anterior fascicular block (AHA/ACCF/HRS 2009 Part III): frontal axis -45 to -90 degrees, an rS
# complex in II, III and aVF (an r wave, then a deeper S: the QS or Qr of an inferior infarct is not
# LAFB) and a QRS under 120 ms; beside a right bundle branch block, bifascicular block. The qR in aVL
# and its R-peak time (>= 45 ms) are not measured here. ``left_anterior_fascicular_block``.

# --- QRS morphology ------------------------------------------------------------------------------
# A deflection worth naming: 0.1 mV (1 mm), the smallest read on standard paper.
WAVE_PRESENT_MV = 0.1
RBBB_V1_R_MV = WAVE_PRESENT_MV
RBBB_LATERAL_S_MV = WAVE_PRESENT_MV
# A terminal R' in V1/V2 (AHA/ACCF/HRS 2009 Part III: rsr', rsR' or rSR'): a second positive wave after an
# S, at least WAVE_PRESENT_MV above the S nadir. A broad terminal S in I/V6: an S wave (>= 0.1 mV) lasting
# >= 40 ms (Part III: "S wave of greater duration than R wave or greater than 40 ms in leads I and V6").
TERMINAL_S_MIN_MS = 40.0
# LBBB in V1: QS or rS, the negative wave more than twice the r (so that an RS is not read as rS).
LBBB_V1_NEGATIVE_RATIO = 2.0
BBB_MIN_UPRIGHT_LATERAL = 2
# A premature beat of ventricular origin (PVC; AHA/ACCF/HRS 2009 Part III: a premature QRS that is wide
# and unlike the dominant one): broad, that is >= 120 ms or, where the dominant QRS is narrow, at least
# 20 ms wider than it (a single beat's width reads short more often than long), and unlike the dominant
# QRS (correlation < 0.9). A premature beat of the dominant width, however different its shape, is
# supraventricular (aberrant or not). ``premature_is_ventricular``.
PVC_MAX_MORPHOLOGY_CORR = 0.9
PVC_MIN_EXTRA_QRS_MS = 20.0

# --- Q waves of a prior myocardial infarction (Fourth UDMI 2018, in the absence of QRS confounders:
# left bundle branch block, other wide complexes, LVH) -----------------------------------------------
# Any Q wave in V2-V3 over 20 ms (or a QS complex); a Q wave >= 30 ms and >= 0.1 mV deep (or a QS
# complex) in I, II, aVL, aVF or V4-V6; in any two leads of a contiguous group (I, aVL; V1-V6; II, III,
# aVF). III and V1 (and aVR) never count: a Q wave or QS there is common on normal hearts.
Q_V2_V3_MS = 20.0
Q_MS = 30.0
Q_MV = 0.1
Q_GROUPS: dict[str, tuple[str, ...]] = {
    "lateral": ("I", "aVL"),
    "anterior": ("V2", "V3", "V4", "V5", "V6"),
    "inferior": ("II", "aVF"),
}

# --- voltage (AHA/ACCF/HRS 2009 Part V) ----------------------------------------------------------
LOW_VOLTAGE_LIMB_MV = 0.5
LOW_VOLTAGE_PRECORDIAL_MV = 1.0
# Increased (high) QRS voltage: an R or S wave of 2.0 mV or more in a limb lead, or 3.0 mV or more in a
# precordial lead (Romhilt & Estes 1968, the voltage item of their LVH score).
HIGH_VOLTAGE_LIMB_MV = 2.0
HIGH_VOLTAGE_PRECORDIAL_MV = 3.0
SOKOLOW_LYON_MV = 3.5
CORNELL_MALE_MV = 2.8
CORNELL_FEMALE_MV = 2.0

# --- ST segment (UDMI 2018; AHA/ACCF/HRS 2009 Part VI) ---------------------------------------------
# New ST elevation at the J point in two contiguous leads: >= 0.1 mV in all leads other than V2-V3;
# in V2-V3 >= 0.2 mV in men >= 40 years, >= 0.25 mV in men < 40 years, >= 0.15 mV in women.
# When the sex is unknown the men's >= 40 limit (0.2 mV) is used and the text says so; when only the age
# is unknown in a man, the same 0.2 mV. Elevation is judged at the J point, where UDMI (and Minnesota
# Code 9-2) measure it: where the T wave rises straight out of the QRS (a short ST segment at fast
# rates, tall T waves in young men) the level at J+60 ms is the T wave's upstroke, not the ST segment.
STE_MV = 0.1
STE_V2_V3_MEN_40_MV = 0.2
STE_V2_V3_MEN_UNDER_40_MV = 0.25
STE_V2_V3_WOMEN_MV = 0.15
STE_V2_V3_UNKNOWN_MV = STE_V2_V3_MEN_40_MV
# New horizontal or downsloping ST depression >= 0.05 mV in two contiguous leads (UDMI 2018; Minnesota
# Code 4-1/4-2: horizontal or downward ST; 4-3: a downward ST falling >= 0.05 mV below the PR baseline).
# Judged at J+60 ms (J+40 ms at fast rates), where the level is stable: the J point itself moves with
# where the QRS offset is placed, and in V2-V3 a J point read a few ms early sits on the S wave.
STD_MV = 0.05
# Upsloping (junctional) ST depression: the J point >= 0.1 mV below the PR baseline with an upsloping ST
# segment (Minnesota Code 4-4, a minor ST change), in two contiguous leads. The ST level may be back at
# baseline by J+60 ms, so this is judged at the J point.
STD_UPSLOPING_J_MV = 0.1
# ST slope over J+20..J+80 ms above this (mV/s) is upsloping, below minus this downsloping.
ST_UPSLOPE_MV_PER_S = 1.0
# Where the ST level is read: J+60 ms, or J+40 ms when the heart rate exceeds 100 bpm (the ST segment
# shortens; AHA/ACCF/HRS 2009 Part VI recommends stating the point used). ST depression is judged
# there; ST elevation at the J point (above).
ST_POINT_MS = 60.0
ST_POINT_FAST_MS = 40.0
ST_FAST_BPM = TACHYCARDIA_BPM
# Secondary ST-T changes: after a QRS >= 120 ms (bundle branch block, ventricular beats) or in atrial
# fibrillation faster than 100 bpm ST changes follow the depolarisation / rate and are reported as
# secondary, not as ST elevation/depression (AHA/ACCF/HRS 2009 Part IV, "secondary ST-T changes").
# A secondary change is directed opposite to the terminal QRS deflection (Part IV): in right bundle
# branch block, depression under the terminal R' of V1-V3 and slight elevation under the broad S of I,
# aVL, V5-V6. So ST elevation in leads whose QRS ends on an R wave is not the block's and is judged by the
# limits above (the Fourth UDMI 2018 reads ST elevation in RBBB by the usual criteria, unlike in LBBB);
# depression stays secondary in every lead. In left bundle branch block the discordant changes are large
# (elevation in V1-V3, depression in I, aVL, V5-V6); the concordant ones are Sgarbossa's criteria of
# acute MI (Sgarbossa et al., N Engl J Med 1996;334:481; cited by the Fourth UDMI 2018): ST elevation
# >= 0.1 mV where the QRS is positive, and ST depression >= 0.1 mV in V1-V3.
SECONDARY_QRS_MS = COMPLETE_BBB_QRS_MS
SGARBOSSA_V1_V3_STD_MV = 0.1
SECONDARY_AF_BPM = TACHYCARDIA_BPM

# --- T waves (AHA/ACCF/HRS 2009 Part IV; Minnesota Code 5) --------------------------------------------
# Inversion: T <= -0.1 mV in two contiguous leads where T is normally upright (T may be negative in aVR,
# III and V1 in health).
T_INVERSION_MV = -0.1
# A T wave described as "negative" or "inverted" (a description, not the diagnosis): at or below -0.05 mV.
T_NEGATIVE_MV = -0.05
T_UPRIGHT_LEADS = ("I", "II", "aVF", "V2", "V3", "V4", "V5", "V6")
T_FLAT_MV = 0.1
T_PEAKED_MV = 1.0

# Anatomically contiguous lead groups (UDMI 2018); aVR is read on its own.
TERRITORIES: dict[str, tuple[str, ...]] = {
    "inferior": ("II", "III", "aVF"),
    "lateral": ("I", "aVL", "V5", "V6"),
    "septal": ("V1", "V2"),
    "anterior": ("V3", "V4"),
}


# Reciprocal (mirror-image) leads of each territory's ST elevation: the leads that look at the injured
# wall from the opposite side, where the same injury current shows as ST depression (AHA/ACCF/HRS 2009
# Part VI; Birnbaum & Drew, Postgrad Med J 2003;79:490). Inferior elevation is mirrored in I and aVL, and
# in V1-V3 when the posterior wall is involved; high-lateral (I, aVL) and lateral elevation in the inferior
# leads, and with a posterolateral injury in V1-V3; septal and anterior elevation in the inferior leads.
# Depression outside these leads is ST depression in its own right, even when elevation is present.
RECIPROCAL_LEADS: dict[str, tuple[str, ...]] = {
    "inferior": ("I", "aVL", "V1", "V2", "V3"),
    "lateral": ("II", "III", "aVF", "V1", "V2", "V3"),
    "septal": ("II", "III", "aVF"),
    "anterior": ("II", "III", "aVF"),
}


# Swapped left and right arm electrodes: lead I is inverted (its P wave and QRS complex negative) while
# V6, which faces the same left lateral wall, is upright; aVR and aVL trade places, and so do II and III
# (Batchvarov, Malik & Camm, Europace 2007;9:1081). In sinus rhythm a P wave inverted in lead I is rare
# otherwise: in dextrocardia V6 is not upright either, and a left atrial focus does not invert the QRS.
# The P wave counts as inverted from ARM_REVERSAL_P_MV under the baseline (the smallest wave the P-wave
# search counts, features.P_VISIBLE_MV).
ARM_REVERSAL_P_MV = 0.03


def arm_electrodes_swapped(
    p_i: float | None, qrs_i: tuple[float | None, float | None], qrs_v6: tuple[float | None, float | None]
) -> bool:
    """Whether lead I's P wave (signed mV) and QRS (R height, deepest negative wave) against V6's QRS
    show swapped arm electrodes by the rule above.

    >>> arm_electrodes_swapped(-0.07, (0.17, 0.82), (1.2, 0.14))
    True
    >>> arm_electrodes_swapped(0.07, (0.8, 0.2), (1.2, 0.1))  # correctly wired
    False
    >>> arm_electrodes_swapped(-0.07, (0.17, 0.82), (0.2, 0.9))  # V6 not upright: dextrocardia, not a swap
    False
    """
    (r_i, neg_i), (r6, neg6) = qrs_i, qrs_v6
    if None in (p_i, r_i, neg_i, r6, neg6):
        return False
    return p_i <= -ARM_REVERSAL_P_MV and neg_i > r_i and r6 > neg6


# Swapped right arm and left leg electrodes: lead II (LL - RA) is inverted whole, its P wave, QRS complex
# and T wave pointing down, while V6's QRS is upright; I becomes -III, III becomes -I, aVR and
# aVF trade places, aVL is unchanged (Batchvarov, Malik & Camm, Europace 2007;9:1081). A low atrial focus
# inverts the P wave in II but not the QRS, an inferior infarction the QRS (a QS) but not the P wave.
def arm_leg_electrodes_swapped(
    p_ii: float | None,
    qrs_ii: tuple[float | None, float | None],
    t_ii: float | None,
    qrs_v6: tuple[float | None, float | None],
    qrs_ms: float | None = None,
) -> bool:
    """Whether lead II's P wave, QRS (R height, deepest negative wave) and T wave (signed mV) against V6's
    QRS show swapped right arm and left leg electrodes by the rule above. After a QRS of ``qrs_ms`` >=
    COMPLETE_BBB_QRS_MS the T wave is not asked for: it points away from the QRS there (secondary).

    >>> arm_leg_electrodes_swapped(-0.12, (0.1, 0.9), -0.3, (1.2, 0.1))
    True
    >>> arm_leg_electrodes_swapped(-0.12, (0.9, 0.1), 0.3, (1.2, 0.1))  # low atrial rhythm
    False
    >>> arm_leg_electrodes_swapped(-0.12, (0.0, 0.6), 0.2, (1.2, 0.0), qrs_ms=150)  # with a bundle branch block
    True
    """
    (r_ii, neg_ii), (r6, neg6) = qrs_ii, qrs_v6
    wide = qrs_ms is not None and qrs_ms >= COMPLETE_BBB_QRS_MS
    if None in (p_ii, r_ii, neg_ii, r6, neg6) or (t_ii is None and not wide):
        return False
    inverted_t = wide or t_ii <= T_NEGATIVE_MV
    return p_ii <= -ARM_REVERSAL_P_MV and neg_ii > r_ii and inverted_t and r6 > neg6


def sinus_p_axis(axis_deg: float | None) -> bool | None:
    """Whether a frontal P axis (degrees) fits a sinus P wave by the sector above, with its margin; None
    where the axis was not measured.

    >>> sinus_p_axis(60), sinus_p_axis(-126), sinus_p_axis(120), sinus_p_axis(-50), sinus_p_axis(None)
    (True, False, True, False, None)
    """
    if axis_deg is None:
        return None
    low, high = SINUS_P_AXIS_DEG
    return low - SINUS_P_AXIS_MARGIN_DEG <= axis_deg <= high + SINUS_P_AXIS_MARGIN_DEG


def ste_limit(lead: str, sex: str | None, age: float | None) -> float:
    """UDMI 2018 ST-elevation limit (mV) for one lead.

    >>> ste_limit("II", None, None), ste_limit("V2", "female", 60), ste_limit("V3", "male", 30)
    (0.1, 0.15, 0.25)
    >>> ste_limit("V2", None, None)
    0.2
    """
    if lead not in ("V2", "V3"):
        return STE_MV
    if sex == "female":
        return STE_V2_V3_WOMEN_MV
    if sex == "male" and age is not None and age < 40:
        return STE_V2_V3_MEN_UNDER_40_MV
    return STE_V2_V3_MEN_40_MV if sex == "male" else STE_V2_V3_UNKNOWN_MV


def left_anterior_fascicular_block(
    axis_deg: float | None, inferior: dict[str, tuple[float | None, float | None]]
) -> bool:
    """LAFB by the axis and the inferior leads' (R height, deepest negative wave) in mV, the rule above
    less its QRS width, which the caller judges with the bundle branch block.

    >>> rs = {"II": (0.2, 0.8), "III": (0.15, 1.0), "aVF": (0.2, 0.9)}
    >>> left_anterior_fascicular_block(-60, rs), left_anterior_fascicular_block(-40, rs)
    (True, False)
    >>> left_anterior_fascicular_block(-60, {**rs, "III": (0.0, 1.0)})  # QS in III: an inferior infarct?
    False
    """
    if axis_deg is None or not EXTREME_AXIS_DEG <= axis_deg <= LAFB_AXIS_DEG:
        return False
    shapes = [inferior.get(lead, (None, None)) for lead in ("II", "III", "aVF")]
    return all(r is not None and neg is not None and WAVE_PRESENT_MV <= r < neg for r, neg in shapes)


def pathological_q(lead: str, q_ms: float | None, q_mv: float | None) -> bool:
    """Whether one lead's Q wave meets the UDMI 2018 limits above (a QS complex is a Q wave the length
    of the QRS, so its duration meets them).

    >>> pathological_q("V2", 24, 0.05), pathological_q("II", 40, 0.3), pathological_q("II", 24, 0.3)
    (True, True, False)
    >>> pathological_q("III", 60, 0.5), pathological_q("aVF", 40, 0.08)
    (False, False)
    """
    if q_ms is None or q_mv is None or q_mv <= 0:
        return False
    if lead in ("V2", "V3"):
        return q_ms > Q_V2_V3_MS
    return any(lead in group for group in Q_GROUPS.values()) and q_ms >= Q_MS and q_mv >= Q_MV


# Bigeminy / trigeminy: premature beats of one kind alternating with conducted ones (every 2nd beat) or
# every 3rd beat, over at least PATTERN_MIN_BEATS premature beats in a row of the pattern (three cycles,
# as the run a reader needs to call a pattern rather than a coincidence).
PATTERN_MIN_BEATS = 3
PATTERNS = {2: "bigeminy", 3: "trigeminy"}


def premature_pattern(indices) -> str | None:
    """ "bigeminy" or "trigeminy" when the premature beats (their beat indices) fall on every 2nd or 3rd
    beat for PATTERN_MIN_BEATS in a row, else None.

    >>> premature_pattern([3, 5, 7]), premature_pattern([2, 5, 8, 11]), premature_pattern([3, 5, 9])
    ('bigeminy', 'trigeminy', None)
    """
    idx = sorted(set(int(i) for i in indices))
    for every, name in PATTERNS.items():
        run = 1
        for a, b in zip(idx, idx[1:], strict=False):
            run = run + 1 if b - a == every else 1
            if run >= PATTERN_MIN_BEATS:
                return name
    return None


def premature_is_ventricular(qrs_ms: float | None, dominant_qrs_ms: float | None, corr: float | None) -> bool:
    """Whether a premature beat is ventricular (a PVC) by the rule above; a width or correlation that
    was not measured does not count for it.

    >>> premature_is_ventricular(150, 90, 0.3), premature_is_ventricular(112, 84, 0.5)
    (True, True)
    >>> premature_is_ventricular(82, 74, 0.38), premature_is_ventricular(150, 140, 0.95)  # aberrant PACs
    (False, False)
    """
    broad = qrs_ms is not None and (
        qrs_ms >= COMPLETE_BBB_QRS_MS
        or (dominant_qrs_ms is not None and qrs_ms >= dominant_qrs_ms + PVC_MIN_EXTRA_QRS_MS)
    )
    return broad and corr is not None and corr < PVC_MAX_MORPHOLOGY_CORR


def st_elevated(j_mv: float | None, lead: str, sex: str | None, age: float | None) -> bool:
    """Whether a lead's J point is at or above its UDMI elevation limit (``ste_limit``).

    >>> st_elevated(0.12, "II", None, None), st_elevated(0.15, "V3", None, None)
    (True, False)
    """
    return j_mv is not None and j_mv >= ste_limit(lead, sex, age)


def st_depression_form(
    j_mv: float | None,
    st_mv: float | None,
    slope_mv_per_s: float | None,
    margin_mv: float = 0.0,
    t_mv: float | None = None,
) -> str | None:
    """How a lead's ST segment is depressed by the criteria above ("horizontal", "downsloping" or
    "upsloping"), or None when it is not. ``j_mv``: the J-point level, ``st_mv``: the level at J+60/J+40
    ms, both against the PR baseline; ``slope_mv_per_s``: J+20..J+80 ms (None: not measured, judged as
    not upsloping). ``t_mv``: the T wave's signed peak, given only for leads where T is normally upright:
    a downsloping ST that ends in a T nadir >= 0.05 mV under the baseline is depressed (Minnesota 4-3)
    even when the J+60 level is not yet that deep. ``margin_mv``: the checker's measurement tolerance,
    counted toward depression.

    >>> st_depression_form(-0.02, -0.07, 0.0), st_depression_form(-0.12, -0.01, 1.8)
    ('horizontal', 'upsloping')
    >>> st_depression_form(-0.08, 0.0, 1.8) is None  # J 0.08 mV down, upsloping: under the 4-4 limit
    True
    """
    if slope_mv_per_s is not None and slope_mv_per_s > ST_UPSLOPE_MV_PER_S:
        ok = j_mv is not None and j_mv <= -(STD_UPSLOPING_J_MV - margin_mv)
        return "upsloping" if ok else None
    down = slope_mv_per_s is not None and slope_mv_per_s < -ST_UPSLOPE_MV_PER_S
    limit = -(STD_MV - margin_mv)
    if st_mv is not None and st_mv <= limit:
        return "downsloping" if down else "horizontal"
    if down and t_mv is not None and t_mv <= limit:
        return "downsloping"
    return None


def qtc_long_limit(sex: str | None) -> float:
    """Prolonged-QTc limit (ms) by sex (AHA/ACCF/HRS 2009 Part IV).

    >>> qtc_long_limit("male"), qtc_long_limit("female"), qtc_long_limit(None)
    (450.0, 460.0, 460.0)
    """
    return {"male": QTC_LONG_MALE_MS, "female": QTC_LONG_FEMALE_MS}.get(sex or "", QTC_LONG_UNKNOWN_SEX_MS)


def lbbb_qrs_limit(sex: str | None) -> float:
    """Complete-LBBB QRS limit (ms): Strauss 2011 by sex when it is known, else AHA/ACCF/HRS 2009.

    >>> lbbb_qrs_limit("male"), lbbb_qrs_limit("female"), lbbb_qrs_limit(None)
    (140.0, 130.0, 120.0)
    """
    return {"male": LBBB_QRS_MALE_MS, "female": LBBB_QRS_FEMALE_MS}.get(sex or "", LBBB_QRS_UNKNOWN_SEX_MS)


def axis_category(deg: float) -> str:
    """'normal' | 'left' | 'right' | 'extreme' for a frontal QRS axis in degrees (-180..180].

    >>> [axis_category(d) for d in (0, -45, 120, -133, 180, 90, -30)]
    ['normal', 'left', 'right', 'extreme', 'right', 'normal', 'normal']
    """
    if LEFT_AXIS_DEG <= deg <= RIGHT_AXIS_DEG:
        return "normal"
    if EXTREME_AXIS_DEG <= deg < LEFT_AXIS_DEG:
        return "left"
    if deg > RIGHT_AXIS_DEG:
        return "right"
    return "extreme"


AXIS_RANGE_TEXT = {
    "normal": "-30 to +90 degrees",
    "left": "-30 to -90 degrees",
    "right": "+90 to +180 degrees",
    "extreme": "-90 to -180 degrees",
}


def rate_corrected_qt(qt_ms: float, rr_ms: float) -> tuple[float, str]:
    """(QTc, formula name): Bazett between 60 and 90 bpm, Fridericia outside (Part IV).

    >>> rate_corrected_qt(400, 1000)
    (400.0, 'Bazett')
    >>> q, name = rate_corrected_qt(300, 500); round(q), name
    (378, 'Fridericia')
    """
    rr_s = rr_ms / 1000.0
    bpm = 60.0 / rr_s
    if QTC_BAZETT_MIN_BPM <= bpm <= QTC_BAZETT_MAX_BPM:
        return qt_ms / rr_s**0.5, "Bazett"
    return qt_ms / rr_s ** (1.0 / 3.0), "Fridericia"


def qtc_formula(heart_rate_bpm: float | None) -> str:
    """'Bazett' between 60 and 90 bpm (or when the rate is unknown), 'Fridericia' outside.

    >>> qtc_formula(75), qtc_formula(118), qtc_formula(45)
    ('Bazett', 'Fridericia', 'Fridericia')
    """
    if heart_rate_bpm is None or QTC_BAZETT_MIN_BPM <= heart_rate_bpm <= QTC_BAZETT_MAX_BPM:
        return "Bazett"
    return "Fridericia"
