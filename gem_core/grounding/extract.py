"""Claims from ECG prose: sentences, clauses, features, leads, values, comparators and negation.

This is the text half of grounding; it needs no measurements. A *claim* is one feature mention
("QRS duration", "atrial fibrillation", "PVCs") with the leads, value, comparator and negation that
the surrounding clause gives it. Offsets are characters in the text.

>>> [(d.feature, d.leads, d.value, d.unit, d.comparator) for d in extract_sentence(
...     "Prolonged QRS duration (>120 ms, particularly in leads I, aVL, and V6).")]
[('qrs_duration', ('I', 'aVL', 'V6'), 120.0, 'ms', '>')]
>>> [(d.feature, d.negated) for d in extract_sentence("There is no ST elevation or depression.")]
[('st_elevation', True), ('st_depression', True)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from gem_core.leads_vocab import LeadMention, find_leads, order_leads

# --- features -----------------------------------------------------------------------------------
_BEATS = r"(?:contractions?|complex(?:es)?|beats?|depolari[sz]ations?|systoles?)"


def _swapped(limb: str) -> str:
    """Swapped electrodes of the arms or limbs: "arm electrodes (appear) swapped", "reversed limb leads"."""
    verb = r"(?:reversal|reversed|swap(?:ped)?|interchange[d]?|misplace(?:d|ment))"
    cables = rf"{limb}[- ](?:lead|electrode)s?"
    return rf"{cables}(?:\s+\w+){{0,2}}?\s+{verb}|(?:reversed|swapped|interchanged|misplaced)\s+{cables}"


# (feature, pattern), most specific first (see _FEATURE_RE); abbreviations are case-sensitive via (?-i:...).
FEATURE_PATTERNS: tuple[tuple[str, str], ...] = (
    ("sinus_tachycardia", r"sinus\s+tachycardi\w*"),
    ("sinus_bradycardia", r"sinus\s+bradycardi\w*"),
    ("sinus_arrhythmia", r"sinus\s+arrhythmi\w*"),
    ("ecg_abnormal", r"abnormal\s+(?:ECG|EKG|electrocardiogram|tracing)"),
    ("ecg_normal", r"normal\s+(?:ECG|EKG|electrocardiogram|tracing)"),
    ("normal_sinus_rhythm", r"normal\s+sinus\s+rhythm|(?-i:NSR)"),
    ("sinus_rhythm", r"sinus\s+rhythm|sinus\s+mechanism"),
    ("ectopic_atrial_rhythm", r"(?:ectopic|low)\s+atrial\s+rhythm"),
    ("accelerated_junctional_rhythm", r"accelerated\s+junctional\s+rhythm"),
    ("junctional_tachycardia", r"junctional\s+tachycardi\w*"),
    ("junctional_rhythm", r"junctional\s+(?:escape\s+)?rhythm|junctional\s+escape"),
    (
        "atrial_fibrillation",
        r"atrial\s+fibrillation|(?-i:AF|AFib|A-fib|AFIB)|fibrillatory\s+waves?|(?-i:f)[\s-]waves?",
    ),
    (
        "atrial_flutter",
        r"atrial\s+flutter|(?-i:AFL)|flutter\s+waves?|saw-?\s?tooth(?:\s+(?:pattern|waves?))?",
    ),
    # tachycardias by mechanism before the bare word; "ventricular" is not matched inside
    # "supraventricular" (the look-behind of _FEATURE_RE)
    (
        "ventricular_fibrillation",
        r"ventricular\s+(?:fibrillation|flutter)|(?-i:VF|VFib)|torsades?\s+de\s+pointes|(?-i:TdP)"
        r"|polymorphic\s+(?:ventricular\s+tachycardi\w*|(?-i:VT))",
    ),
    (
        "idioventricular_rhythm",
        r"(?:accelerated\s+)?idioventricular\s+rhythm|(?-i:AIVR)|ventricular\s+escape",
    ),
    (
        "pre_excitation",
        r"wolff[\s-]+parkinson[\s-]+white|(?-i:WPW)|(?:ventricular\s+)?pre-?\s?excitation|delta\s+waves?",
    ),
    ("nonsustained_vt", r"non-?\s?sustained\s+(?:ventricular\s+tachycardi\w*|(?-i:VT))|(?-i:NSVT)"),
    ("ventricular_tachycardia", r"ventricular\s+tachycardi\w*|(?-i:VT)"),
    ("supraventricular_tachycardia", r"supraventricular\s+tachycardi\w*|(?-i:P?SVT)"),
    (
        "av_reentrant_tachycardia",
        r"(?:atrioventricular|AV)\s+(?:nodal\s+)?re-?entr\w*\s+tachycardi\w*|(?-i:AVN?RT)",
    ),
    ("multifocal_atrial_tachycardia", r"multifocal\s+atrial\s+tachycardi\w*|(?-i:MAT)"),
    ("atrial_tachycardia", r"(?:(?:ectopic|focal|unifocal)\s+)?atrial\s+tachycardi\w*"),
    ("narrow_complex_tachycardia", r"narrow[\s-]+(?:QRS[\s-]+)?(?:complex\s+)?tachycardi\w*"),
    ("wide_complex_tachycardia", r"(?:wide|broad)[\s-]+(?:QRS[\s-]+)?(?:complex\s+)?tachycardi\w*"),
    ("tachycardia", r"tachycardi\w*|rapid\s+ventricular\s+(?:response|rate)|(?-i:RVR)"),
    ("bradycardia", r"bradycardi\w*"),
    ("ventricular_bigeminy", r"ventricular\s+bigemin\w*"),
    ("ventricular_trigeminy", r"ventricular\s+trigemin\w*"),
    ("atrial_bigeminy", r"(?:atrial|supraventricular)\s+bigemin\w*"),
    ("atrial_trigeminy", r"(?:atrial|supraventricular)\s+trigemin\w*"),
    ("bigeminy", r"bigemin\w*"),
    ("trigeminy", r"trigemin\w*"),
    (
        "pvc",
        rf"premature\s+ventricular\s+{_BEATS}|ventricular\s+(?:premature|ectopic|extra)\s*{_BEATS}"
        r"|ventricular\s+ectopy|(?-i:PVCs?|VPCs?|VEBs?)",
    ),
    (
        "pac",
        rf"premature\s+atrial\s+{_BEATS}|(?:atrial|supraventricular)\s+(?:premature|ectopic|extra)\s*{_BEATS}"
        r"|atrial\s+ectopy|(?-i:PACs?|APCs?|SVEs?)",
    ),
    ("premature_beat", rf"premature\s+{_BEATS}|ectopic\s+{_BEATS}|ectopy|extrasystol\w*"),
    # what follows a premature beat, by whether the two RRs around it add up to two cycles
    (
        "pause_noncompensatory",
        r"(?:non-?\s?|in)compensatory\s+pauses?|(?:incomplete(?:ly)?|less\s+than\s+(?:fully\s+)?)\s*compensatory\s+pauses?",
    ),
    ("pause_compensatory", r"(?:full(?:y)?\s+)?compensatory\s+pauses?"),
    (
        "pvc_couplet",
        r"(?:ventricular\s+|PVC\s+)?couplets?|pairs?\s+of\s+(?:PVCs|premature\s+ventricular\s+\w+)",
    ),
    # what the premature-beat measurements do not read: blocked PACs, PVCs of several shapes
    (
        "premature_unread",
        r"(?:blocked|non-?\s?conducted)\s+(?:(?-i:PACs?|APCs?)|premature\s+atrial\s+\w+)"
        r"|(?:multifocal|multiform|polymorphic)\s+(?:(?-i:PVCs?|VPCs?)|premature\s+ventricular\s+\w+|ventricular\s+ectopy)",
    ),
    (
        "pause",
        r"(?:compensatory\s+)?pauses?|sinus\s+arrest|sino-?atrial\s+(?:exit\s+)?block|(?-i:SA)\s+(?:exit\s+)?block",
    ),
    ("incomplete_rbbb", r"incomplete\s+right\s+bundle\s+branch\s+block|incomplete\s+(?-i:RBBB)|(?-i:IRBBB)"),
    ("incomplete_lbbb", r"incomplete\s+left\s+bundle\s+branch\s+block|incomplete\s+(?-i:LBBB)|(?-i:ILBBB)"),
    ("rbbb", r"(?:complete\s+)?right\s+bundle\s+branch\s+block|(?-i:RBBB)"),
    ("lbbb", r"(?:complete\s+)?left\s+bundle\s+branch\s+block|(?-i:LBBB)"),
    (
        "bundle_branch_block",
        r"bundle\s+branch\s+blocks?|(?-i:BBB)|intraventricular\s+conduction\s+(?:delay|defect)|(?-i:IVCD)",
    ),
    ("arm_lead_reversal", _swapped("arm")),
    ("limb_lead_reversal", _swapped("limb")),
    ("bifascicular_block", r"bi[\s-]*fascicular\s+block"),
    ("trifascicular_block", r"tri[\s-]*fascicular\s+block"),
    # the Brugada ECG pattern, not the criteria of Brugada et al. for wide-complex tachycardia
    (
        "brugada",
        r"Brugada[\s-]+(?:(?:type\s+(?:1|2|I|II)|coved|saddle-?back)\s+)?(?:pattern|syndrome|like|ECG)"
        r"|(?:coved|saddle-?back|type\s+(?:1|2|I|II))[\s-]+Brugada(?:[\s-]+pattern)?",
    ),
    ("lafb", r"left\s+anterior\s+(?:fascicular\s+block|hemiblock)|(?-i:LAFB|LAHB)"),
    ("lpfb", r"left\s+posterior\s+(?:fascicular\s+block|hemiblock)|(?-i:LPFB|LPHB)"),
    (
        "first_degree_av_block",
        r"(?:first|1st)[\s-]+degree\s+(?:AV\s+|A-V\s+|atrioventricular\s+|heart\s+)?block|(?-i:I-AVB|1AVB)",
    ),
    (
        "complete_av_block",
        r"complete\s+(?:AV\s+|A-V\s+|atrioventricular\s+|heart\s+)block"
        r"|(?:third|3rd)[\s-]+degree\s+(?:AV\s+|A-V\s+|atrioventricular\s+|heart\s+)?block|AV\s+dissociation"
        r"|P\s+waves?\s+march\w*\s+through",
    ),
    ("av_block_2to1", r"2\s*:\s*1\s+(?:AV\s+|A-V\s+|atrioventricular\s+|heart\s+)?block"),
    # P waves the ventricles skip: second-degree (Mobitz I or II, 2:1) and high-grade AV block
    (
        "second_degree_av_block",
        r"(?:second|2nd)[\s-]+degree\s+(?:AV\s+|A-V\s+|atrioventricular\s+|heart\s+)?block"
        r"(?:\s+(?:with|of)\s+2\s*:\s*1\s+(?:conduction|block))?"
        r"|(?:high[\s-]+grade|advanced)\s+(?:AV\s+|A-V\s+|atrioventricular\s+|heart\s+)?block",
    ),
    # said of the tracing but not measured: listed as not checkable rather than passed over
    (
        "unmeasured_finding",
        r"(?:prominent\s+|inverted\s+)?(?-i:U)[\s-]+waves?|electrical\s+alternans|borderline\s+(?:ECG|EKG|electrocardiogram)"
        r"|digoxin\s+effect|hyper(?:kal|calc)a?emi\w*|hypo(?:kal|calc)a?emi\w*",
    ),
    ("dextrocardia", r"dextrocardia|situs\s+inversus|mirror[\s-]+image\s+dextrocardia"),
    (
        "ventricular_pacing",
        r"(?:ventricular(?:ly)?|V|RV|bi-?ventricular(?:ly)?)[\s-]+pac(?:ed|ing)(?:\s+rhythm)?|(?-i:VVI|DDD)\s+pacing",
    ),
    (
        "pacing",
        r"(?:atrial(?:ly)?|A|AV|dual[\s-]+chamber)[\s-]+pac(?:ed|ing)(?:\s+rhythm)?|paced\s+rhythm"
        r"|pacemaker(?:\s+(?:rhythm|spikes?))?|pacing\s+spikes?",
    ),
    ("mobitz_av_block", r"Mobitz(?:\s+type)?\s+(?:I{1,2}|[12])|Wenckebach\w*"),
    (
        "blocked_p_waves",
        r"(?:non-?\s?conducted|blocked|dropped)\s+P[\s-]+waves?|P\s+waves?\s+(?:that\s+are\s+)?not\s+conducted"
        r"|dropped\s+(?:beats?|QRS(?:\s+complex(?:es)?)?)",
    ),
    (
        "higher_degree_av_block",
        r"(?:second|third|2nd|3rd)[\s-]+degree\s+(?:AV\s+|A-V\s+|atrioventricular\s+|heart\s+)?block"
        r"|complete\s+heart\s+block|Mobitz(?:\s+type)?\s+(?:I{1,2}|[12])|Wenckebach",
    ),
    (
        "axis_deviation",
        r"(?:left\s+(?:or|and|/)\s+right|right\s+(?:or|and|/)\s+left)\s+axis\s+deviation|axis\s+deviation",
    ),
    (
        "extreme_axis",
        r"(?:extreme|north-?\s?west|indeterminate|no\s+man'?s\s+land)\s+(?:QRS\s+)?axis(?:\s+deviation)?",
    ),
    (
        "left_axis_deviation",
        r"left(?:ward)?\s+(?:QRS\s+)?axis(?:\s+deviation)?|left[\s-]+deviated\s+axis"
        r"|axis\s+(?:is\s+)?(?:deviated\s+)?(?:to\s+the\s+)?left(?:ward)?(?![\s-]+(?:bundle|atri|ventric))",
    ),
    (
        "right_axis_deviation",
        r"right(?:ward)?\s+(?:QRS\s+)?axis(?:\s+deviation)?|right[\s-]+deviated\s+axis"
        r"|axis\s+(?:is\s+)?(?:deviated\s+)?(?:to\s+the\s+)?right(?:ward)?(?![\s-]+(?:bundle|atri|ventric))",
    ),
    ("axis", r"(?:(?:mean\s+)?(?:QRS|electrical|frontal(?:\s+plane)?|cardiac)\s+)?axis"),
    ("low_voltage", r"low(?:\s+QRS)?\s+voltages?(?:\s+QRS)?|low[\s-]+amplitude\s+QRS(?:\s+complex(?:es)?)?"),
    ("lvh", r"left\s+ventricular\s+hypertrophy|(?-i:LVH)|voltage\s+criteria"),
    ("sokolow_lyon", r"Sokolow[\s-]+Lyon(?:\s+(?:index|criteri(?:on|a)|voltage|sum))?"),
    ("cornell", r"Cornell(?:\s+(?:index|criteri(?:on|a)|voltage|sum))?"),
    ("rvh", r"right\s+ventricular\s+hypertrophy|(?-i:RVH)"),
    (
        "left_atrial_enlargement",
        r"left[\s-]*atrial\s+(?:enlargement|abnormality|hypertrophy|overload)|(?-i:LAE)|P\s+mitrale",
    ),
    (
        "right_atrial_enlargement",
        r"right[\s-]*atrial\s+(?:enlargement|abnormality|hypertrophy|overload)|(?-i:RAE)|P\s+pulmonale",
    ),
    ("atrial_enlargement", r"(?:bi[\s-]*)?atrial\s+(?:enlargement|abnormality|hypertrophy|overload)"),
    (
        "early_repolarization",
        r"(?:benign\s+)?early\s+repolari[sz]ation(?:\s+(?:pattern|changes?|variant))?|(?-i:BER)",
    ),
    (
        "st_t_changes",
        r"(?-i:ST)[\s-]*(?-i:T)(?:[\s-]+wave)?(?:\s+(?:segment\s+)?(?:changes?|abnormalit(?:y|ies)|alterations?))?"
        r"|repolari[sz]ation\s+(?:changes?|abnormalit(?:y|ies))",
    ),
    (
        "st_elevation",
        r"(?-i:ST)[\s-]*(?:segments?\s+)?elevations?|(?<=\bor\s)elevations?|(?<=\band\s)elevations?",
    ),
    # the form named with it: upsloping apart from horizontal or downsloping (criteria.st_depression_form)
    ("st_depression_upsloping", r"up-?\s?sloping\s+(?-i:ST)[\s-]*(?:segments?\s+)?depressions?"),
    (
        "st_depression_flat",
        r"(?:horizontal|flat|down-?\s?sloping)\s+(?-i:ST)[\s-]*(?:segments?\s+)?depressions?",
    ),
    (
        "st_depression",
        r"(?-i:ST)[\s-]*(?:segments?\s+)?depressions?|(?<=\bor\s)depressions?|(?<=\band\s)depressions?",
    ),
    ("st_segment", r"(?-i:ST)(?:[\s-]+segments?)?"),
    (
        "t_inversion",
        r"(?-i:T)[\s-]*wave\s+inversions?|inverted\s+(?-i:T)[\s-]*waves?|inversions?\s+of\s+(?:the\s+)?(?-i:T)[\s-]*waves?",
    ),
    ("t_wave", r"(?-i:T)[\s-]*waves?"),
    ("p_wave", r"(?-i:P)[\s-]*waves?"),
    ("qt_qtc", r"(?-i:QT)\s*/\s*(?-i:QTc|QTC)(?:\s+intervals?)?"),
    ("qtc_interval", r"(?-i:QTc|QTC|QT_c)(?:\s+intervals?)?|corrected\s+(?-i:QT)(?:\s+intervals?)?"),
    ("qt_interval", r"(?-i:QT)(?:\s+intervals?)?"),
    ("pr_interval", r"(?-i:PR|P-R)(?:\s+intervals?)?"),
    ("rr_interval", r"(?-i:RR|R-R|R–R)(?:\s+intervals?)?|cycle\s+lengths?"),
    ("qrs_duration", r"QRS\s+(?:complex\s+)?(?:duration|width|interval)s?"),
    (
        "r_amplitude",
        r"(?-i:R)[\s-]*wave\s+(?:amplitude|height|voltage)s?|(?:amplitude|height)\s+of\s+the\s+(?-i:R)[\s-]*waves?",
    ),
    (
        "s_amplitude",
        r"(?-i:S)[\s-]*wave\s+(?:amplitude|depth)s?|(?:amplitude|depth)\s+of\s+the\s+(?-i:S)[\s-]*waves?",
    ),
    ("qrs_amplitude", r"QRS\s+(?:voltage|amplitude)s?|voltages?"),
    ("qrs", r"QRS(?:\s+complex(?:es)?)?"),
    ("heart_rate", r"(?:heart|ventricular)\s+rates?|(?-i:HR)|rate"),
    ("rhythm", r"rhythm"),
    ("interval", r"intervals?"),
    (
        "q_waves_pathological",
        r"(?:pathologic(?:al)?|significant|infarct)\s+(?:(?-i:Q)[\s-]*|(?-i:q)[\s-]+)waves?",
    ),
    ("q_waves", r"(?:(?-i:Q)[\s-]*|(?-i:q)[\s-]+)waves?"),
    # not "a QS or rS complex" (the left bundle branch block's V1: either)
    ("qs_complex", r"(?-i:QS)(?!\s+or\s+(?-i:rS))(?:[\s-]+(?:complex(?:es)?|waves?|patterns?|morphology))?"),
    ("rsr_pattern", r"(?-i:[rR]?[sS][rR]['’′])|M[\s-]shaped"),
    ("poor_r_progression", r"poor\s+(?-i:R)[\s-]*wave\s+progression"),
    ("s_waves", r"(?-i:S)[\s-]*waves?"),
    ("r_waves", r"(?-i:R)[\s-]*waves?"),
    (
        "ischemia",
        r"isch(?:a)?emi\w*|myocardial\s+injury|(?:myocardial\s+)?infarct\w*|(?-i:STEMI|NSTEMI|MI)",
    ),
)
# One alternation, tried left to right at each position: the list above is ordered specific-first,
# so "ST-T changes" wins over "ST" and "QRS duration" over "QRS" (and one scan is ~50x faster than 60).
_FEATURE_RE = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    + "|".join(rf"(?P<f{i}>(?:{pat})(?![A-Za-z0-9]))" for i, (_, pat) in enumerate(FEATURE_PATTERNS))
    + ")",
    re.IGNORECASE,
)
_FEATURE_OF_GROUP = {f"f{i}": name for i, (name, _) in enumerate(FEATURE_PATTERNS)}
# Features measured once for the whole record: no lead inheritance from the clause.
GLOBAL_FEATURES = frozenset(
    {
        "heart_rate",
        "rhythm",
        "sinus_rhythm",
        "normal_sinus_rhythm",
        "ecg_normal",
        "ecg_abnormal",
        "ectopic_atrial_rhythm",
        "junctional_rhythm",
        "accelerated_junctional_rhythm",
        "junctional_tachycardia",
        "arm_lead_reversal",
        "limb_lead_reversal",
        "sinus_tachycardia",
        "sinus_bradycardia",
        "sinus_arrhythmia",
        "atrial_fibrillation",
        "atrial_flutter",
        "ventricular_fibrillation",
        "idioventricular_rhythm",
        "pre_excitation",
        "nonsustained_vt",
        "ventricular_tachycardia",
        "supraventricular_tachycardia",
        "av_reentrant_tachycardia",
        "multifocal_atrial_tachycardia",
        "atrial_tachycardia",
        "narrow_complex_tachycardia",
        "wide_complex_tachycardia",
        "tachycardia",
        "bradycardia",
        "axis",
        "axis_deviation",
        "left_axis_deviation",
        "right_axis_deviation",
        "extreme_axis",
        "lafb",
        "lpfb",
        "first_degree_av_block",
        "higher_degree_av_block",
        "second_degree_av_block",
        "mobitz_av_block",
        "dextrocardia",
        "unmeasured_finding",
        "ventricular_pacing",
        "pacing",
        "blocked_p_waves",
        "av_block_2to1",
        "complete_av_block",
        "rr_interval",
        "pause",
        "pause_compensatory",
        "pause_noncompensatory",
        "pvc_couplet",
        "premature_unread",
        "ventricular_bigeminy",
        "ventricular_trigeminy",
        "atrial_bigeminy",
        "atrial_trigeminy",
        "bigeminy",
        "trigeminy",
    }
)
# Words that claim nothing without a value or a qualifier ("the rhythm is sinus bradycardia").
_NEEDS_CONTENT = frozenset(
    {
        "rhythm",
        "heart_rate",
        "rr_interval",
        "pr_interval",
        "qt_interval",
        "qtc_interval",
        "qrs_duration",
        "qrs_amplitude",
        "axis",
        "p_duration",
        "t_duration",
    }
)
# Morphology words that claim nothing without leads, a value or a qualifier ("each QRS complex").
_NEEDS_LEADS = frozenset({"qrs_complex", "t_wave"})
# Intervals are usually stated for the whole record: leads only when their own phrase names some.
_STATED_GLOBALLY = frozenset({"pr_interval", "qt_interval", "qtc_interval"})
_INTERVALS = ("rr_interval", "pr_interval", "qt_interval", "qtc_interval", "qrs_duration")

# --- qualifiers (what the text says about a feature without a number) -----------------------------
QUALIFIER_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "unmeasured",
        r"(?:could|can)\s*not\s+be\s+measured|not\s+measurable|unmeasurable|not\s+measured",
    ),
    # a shape the measurements do not read: "notched P waves" are not "P waves present"
    ("shape", r"notch\w*|bifid|biphasic|diphasic|slurr\w*|M[\s-]shaped|camel[\s-]hump\w*"),
    ("normal", r"normal|within\s+normal\s+limits|unremarkable|preserved|isoelectric"),
    ("prolonged", r"prolong\w*|long|lengthened|wide(?:ned|ning)?|broad(?:ened)?"),
    ("short", r"short(?:ened)?"),
    ("narrow", r"narrow"),
    ("irregular", r"irregular(?:ly)?(?:\s+irregular)?"),
    ("regular", r"regular"),
    ("inverted", r"invert\w*|inversions?"),
    ("negative", r"negative"),
    ("positive", r"positive|upright|dominant"),
    ("flat", r"flat\w*"),
    ("peaked", r"peaked|hyperacute|tall"),
    ("elevated", r"elevat\w*|raised"),
    ("depressed", r"depress\w*"),
    ("high", r"increased|high|rapid|fast|accelerated|prominent"),
    ("low", r"low|reduced|decreased|diminished|slow|small|attenuated"),
)
_QUALIFIER_RE = re.compile(
    r"(?<![A-Za-z])(?:"
    + "|".join(rf"(?P<{name}>(?:{pat})(?![A-Za-z]))" for name, pat in QUALIFIER_PATTERNS)
    + ")",
    re.IGNORECASE,
)

# --- values ---------------------------------------------------------------------------------------
_CMP_WORDS = {
    ">": r">|greater\s+than|more\s+than|longer\s+than|higher\s+than|wider\s+than|above|over|exceed(?:ing|s)?|in\s+excess\s+of",
    ">=": r">=|≥|at\s+least|no\s+less\s+than",
    "<": r"<|less\s+than|shorter\s+than|lower\s+than|below|under",
    "<=": r"<=|≤|at\s+most|up\s+to|no\s+more\s+than",
    "~": r"~|≈|approximately|approx\.?|about|around|roughly|nearly|almost|close\s+to|some",
    "between": r"between|ranging\s+from|from",
}
_CMP_RE = "|".join(f"(?P<c{i}>{pat})" for i, pat in enumerate(_CMP_WORDS.values()))
_UNITS = {
    "bpm": r"bpm|beats?\s*(?:per|/)\s*min(?:ute)?|/\s*min",
    "ms": r"ms|msec|milliseconds?",
    "s": r"s|sec|seconds?",
    "mV": r"mV|millivolts?",
    "mm": r"mm",
    "deg": r"°|degrees?|deg",
    "pct": r"%|per\s*cent",
}
_UNIT_RE = "|".join(f"(?P<u_{name}>{pat})" for name, pat in _UNITS.items())
_NUM = r"\d+(?:\.\d+)?"
# A number with a unit; the comparator words before it are read separately (numbers are rare, so
# anchoring the scan on digits keeps it fast).
_VALUE_RE = re.compile(
    rf"(?<![A-Za-z0-9.])(?P<sign>[-−+])?(?P<a>{_NUM})(?:\s*/\s*(?P<second>{_NUM}))?"
    rf"(?:\s*(?:-|–|to|and)\s*(?P<sign2>[-−+])?(?P<b>{_NUM}))?\s*(?:{_UNIT_RE})(?![A-Za-z])",
    re.IGNORECASE,
)
_CMP_BEFORE = re.compile(rf"(?<![A-Za-z])(?:{_CMP_RE})\s*(?:of\s+)?$", re.IGNORECASE)
_UNIT_SCALE = {"s": ("ms", 1000.0), "mm": ("mV", 0.1)}  # 1 mm = 0.1 mV at standard gain
_SIGNED_UNITS = frozenset({"mV", "mm", "deg"})  # amplitudes and angles: a leading "-" is a minus sign
# Which value units each feature takes (values go to the nearest feature that takes their unit).
FEATURE_UNITS: dict[str, tuple[str, ...]] = {
    "heart_rate": ("bpm",),
    "rr_interval": ("ms",),
    "pause": ("ms",),
    "pause_compensatory": ("ms",),
    "pause_noncompensatory": ("ms",),
    "interval": ("ms",),
    "pr_interval": ("ms",),
    "qrs_duration": ("ms",),
    "qrs": ("ms", "mV"),
    "qrs_amplitude": ("mV",),
    "low_voltage": ("mV",),
    "qt_interval": ("ms",),
    "qtc_interval": ("ms",),
    "p_wave": ("ms", "mV", "pct"),  # "P waves precede 80% of the beats"
    "t_wave": ("ms", "mV"),
    "t_inversion": ("mV",),
    "st_segment": ("mV",),
    "st_elevation": ("mV",),
    "st_depression": ("mV",),
    "st_depression_upsloping": ("mV",),
    "st_depression_flat": ("mV",),
    "st_t_changes": ("mV",),
    "r_waves": ("mV",),
    "r_amplitude": ("mV",),
    "s_amplitude": ("mV",),
    "qt_qtc": ("ms",),
    "sokolow_lyon": ("mV",),
    "cornell": ("mV",),
    "s_waves": ("mV",),
    "axis": ("deg",),
    "left_axis_deviation": ("deg",),
    "right_axis_deviation": ("deg",),
    "extreme_axis": ("deg",),
    "lafb": ("deg",),
}
# Features a following clause without its own feature may continue ("..., and inverted in aVR").
_INHERITABLE = frozenset(
    {
        "t_wave",
        "t_inversion",
        "st_segment",
        "st_elevation",
        "st_depression",
        "qrs",
        "p_wave",
        "q_waves",
        "q_waves_pathological",
    }
)
_IMPLICIT_FEATURE = {"bpm": "heart_rate", "deg": "axis"}  # a bare "121 bpm" is a heart-rate claim

# --- negation -------------------------------------------------------------------------------------
_NEG_BEFORE = re.compile(
    r"\b(?:no|not|without|absence\s+of|absent|lack\s+of|lacks|lacking|free\s+of|negative\s+for"
    r"|rules?\s+out|ruled\s+out|no\s+evidence\s+of|neither|nor|nor\s+any)\b",
    re.IGNORECASE,
)
_NEG_BREAK = re.compile(
    r"\b(?:but|however|although|though|yet|presence\s+of|present|while|whereas|instead|rather)\b|[;:]"
    r"|,\s*(?=(?:the|a|an|there|this|these|which|and\s+the)\b)",
    re.IGNORECASE,
)
_NEG_AFTER = re.compile(
    r"^[^.;,]{0,25}?\b(?:not|absent|no\s+longer|never|cannot\s+be\s+(?:seen|identified))\b", re.IGNORECASE
)
_NARROWING = re.compile(
    r"\b(?:particularly|especially|notably|most\s+(?:prominent|marked|evident|pronounced)(?:ly)?|predominantly"
    r"|mainly|primarily|chiefly|specifically)\b[^.;]{0,20}$",
    re.IGNORECASE,
)

# --- sentences and clauses ------------------------------------------------------------------------
_ABBREVIATIONS = {"e.g", "i.e", "approx", "vs", "etc", "dr", "ca", "cf", "fig"}
_SENT_END = re.compile(r"[.!?](?=\s|$)|\n")
_CLAUSE_BREAK = re.compile(
    r";|:\s|,\s*(?=(?:and|but|while|whereas|although|though|which|indicating|suggesting|suggestive"
    r"|consistent|compatible|as\s+evidenced|as\s+seen|as\s+shown|with|without|likely|possibly|representing"
    r"|reflecting|raising|in\s+keeping)\b)"
    r"|\s(?=(?:while|whereas|but|although)\s)|\s(?=and\s+(?:the|there|a|an)\s(?!(?:[\w-]+\s+){1,2}leads?\b))"
    r"|\s(?=and\s+(?:(?:is|are)\s+)?(?:negative|positive|upright|inverted|flat\w*|peaked|normal|wide|narrow)\s+in\s)",
    re.IGNORECASE,
)
_LEAD_AFTER_AND = re.compile(r",\s*(?:and|or)\s+(?:leads?\s+)?(?:aV[RLF]|V[1-6]|I{1,3})\b", re.IGNORECASE)


@dataclass(frozen=True)
class Draft:
    """One claim found in a sentence, offsets relative to that sentence; checked later."""

    start: int
    end: int
    feature: str
    leads: tuple[str, ...]
    value: float | tuple[float, float] | None
    unit: str | None
    comparator: str | None
    negated: bool


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    feature: str


@dataclass(frozen=True)
class _Value:
    start: int
    end: int
    value: float | tuple[float, float]
    unit: str
    comparator: str


def split_sentences(text: str, final: bool = True) -> list[tuple[int, int]]:
    """(start, end) of each finished sentence; with ``final`` the unterminated tail counts too.

    A sentence ends at ``.``/``!``/``?`` followed by white space or the end of the text, or at a line
    break; "e.g." and friends do not end one, nor does a "." right after a digit at the very end of
    a streaming text (it may be "0.2" arriving).

    >>> split_sentences("Rate 75 bpm. QRS 0.", final=False)
    [(0, 12)]
    >>> split_sentences("Rate 75 bpm. QRS 0.", final=True)
    [(0, 12), (13, 19)]
    """
    spans = []
    start = 0
    for m in _SENT_END.finditer(text):
        if m.group() == ".":
            word = re.search(r"([A-Za-z.]+)$", text[start : m.start()])
            if word and word.group(1).lower().rstrip(".") in _ABBREVIATIONS:
                continue
            if not final and m.end() == len(text) and m.start() > 0 and text[m.start() - 1].isdigit():
                continue
        _append_span(text, start, m.end(), spans)
        start = m.end()
    if final:
        _append_span(text, start, len(text), spans)
    return spans


def _append_span(text: str, start: int, end: int, spans: list) -> None:
    piece = text[start:end]
    stripped = piece.lstrip()
    if stripped.strip():
        s = start + len(piece) - len(stripped)
        e = s + len(stripped.rstrip())
        spans.append((s, e))


def split_clauses(sentence: str) -> list[tuple[int, int]]:
    """(start, end) of the clauses of one sentence; commas inside parentheses and lead lists stay."""
    depth_at = _paren_depths(sentence)
    cuts = []
    for m in _CLAUSE_BREAK.finditer(sentence):
        if depth_at[m.start()] > 0 or _LEAD_AFTER_AND.match(sentence, m.start()):
            continue
        cuts.append((m.start(), m.end()))
    spans, start = [], 0
    for s, e in cuts:
        if s > start:
            spans.append((start, s))
        start = e
    spans.append((start, len(sentence)))
    return [(s, e) for s, e in spans if sentence[s:e].strip()]


def _paren_depths(text: str) -> list[int]:
    depth, out = 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        out.append(depth)
        if ch in ")]" and depth:
            depth -= 1
    out.append(depth)
    return out


def _find_features(clause: str) -> list[_Mention]:
    return [
        _Mention(m.start(), m.end(), _FEATURE_OF_GROUP[m.lastgroup]) for m in _FEATURE_RE.finditer(clause)
    ]


def _find_values(clause: str) -> list[_Value]:
    values = []
    for m in _VALUE_RE.finditer(clause):
        unit = next(name[2:] for name, v in m.groupdict().items() if name.startswith("u_") and v)
        comparator, start = "=", m.start()
        before = _CMP_BEFORE.search(clause, max(0, m.start() - 40), m.start())
        if before:
            start = before.start()
            comparator = next(name for i, name in enumerate(_CMP_WORDS) if before.group(f"c{i}"))
        a = _signed(m.group("a"), m.group("sign"), unit)
        scale_unit, scale = _UNIT_SCALE.get(unit, (unit, 1.0))
        value: float | tuple[float, float] = round(a * scale, 6)
        if m.group("b") is not None:
            b = _signed(m.group("b"), m.group("sign2"), unit)
            value = (min(value, round(b * scale, 6)), max(value, round(b * scale, 6)))
            comparator = "between"
        elif comparator == "between":
            comparator = "="
        if m.group("second") is not None:  # "380/420 ms" (QT/QTc): two values, one unit
            values.append(_Value(start, m.end("a"), value, scale_unit, comparator))
            second = round(float(m.group("second")) * scale, 6)
            values.append(_Value(m.start("second"), m.end(), second, scale_unit, comparator))
            continue
        values.append(_Value(start, m.end(), value, scale_unit, comparator))
    return values


def _signed(digits: str, sign: str | None, unit: str) -> float:
    """The number with the sign the text gives it, for quantities that have one ("-0.61 mV", "-45°");
    durations and rates have none (a "-" there is punctuation)."""
    x = float(digits)
    return -x if sign in ("-", "−") and unit in _SIGNED_UNITS else x


_BEFORE_BREAK = re.compile(r"\b(?:and|or|but|with|without|of)\b|[,;()]", re.IGNORECASE)
_COPULA_GAP = re.compile(
    r"^(?:\s*\([^)]*\))?[^,;.]{0,40}?\b(?:is|are|was|were|appears?|appearing|seems?|remains?|looks?|being|becomes?)\b"
    r"(?:\s+\w+){0,2}?\s+$",
    re.IGNORECASE,
)


def _qualifier(
    clause: str, mention: _Mention, seg_end: int, others: list[_Mention]
) -> tuple[str | None, int, int]:
    """The nearest qualifier word: up to 3 words before the feature ("prolonged QRS duration"), or
    after it behind a copula ("the QTc intervals are prolonged"); never inside another feature."""
    floor = max([m.end for m in others if m.end <= mention.start], default=0)
    # A qualifier before the feature does not reach across a conjunction or a bracket.
    floor = max([floor] + [b.end() for b in _BEFORE_BREAK.finditer(clause, floor, mention.start)])
    words = list(re.finditer(r"\S+", clause[floor : mention.start]))
    before_start = floor + words[max(0, len(words) - 3)].start() if words else mention.start
    taken = [(m.start, m.end) for m in others if m is not mention]
    best, best_dist = (None, 0, 0), 10**9
    for m in _QUALIFIER_RE.finditer(clause, before_start, mention.start):
        if mention.start - m.end() < best_dist and not _inside(m, taken):
            best, best_dist = (m.lastgroup, m.start(), m.end()), mention.start - m.end()
    for m in _QUALIFIER_RE.finditer(clause, mention.end, min(seg_end, mention.end + 60)):
        gap = clause[mention.end : m.start()]
        if len(gap) < best_dist and (_COPULA_GAP.match(gap) or not gap.strip()) and not _inside(m, taken):
            best, best_dist = (m.lastgroup, m.start(), m.end()), len(gap)
            break  # the first one after the feature is the nearest
    return best


def _inside(match, spans) -> bool:
    return any(s <= match.start() < e for s, e in spans)


def _negated(clause: str, mention: _Mention, seg_end: int) -> bool:
    before = clause[: mention.start]
    cues = list(_NEG_BEFORE.finditer(before))
    if cues:
        last = cues[-1]
        if not _NEG_BREAK.search(before, last.end()):
            return True
    return bool(_NEG_AFTER.search(clause[mention.end : seg_end]))


def _resolve(
    feature: str, qualifier: str | None, unit: str | None, previous_interval: str | None
) -> str | None:
    """Turn generic mentions ("QRS", "T waves", "ST segment", "interval") into checkable features."""
    if feature == "interval":
        return previous_interval
    if feature == "r_waves" and unit == "mV":
        return "r_amplitude"
    if feature == "s_waves" and unit == "mV":
        return "s_amplitude"
    if feature == "qrs":
        if unit == "ms" or qualifier in ("prolonged", "short", "narrow"):
            return "qrs_duration"
        if unit == "mV" or qualifier in ("low", "high"):
            return "qrs_amplitude"
        if qualifier in ("negative", "positive"):
            return "qrs_polarity"
        return "qrs_complex"
    if feature == "p_wave":
        return {"ms": "p_duration", "mV": "p_amplitude"}.get(unit or "", "p_wave")
    if feature == "t_wave":
        if unit == "ms":
            return "t_duration"
        if qualifier in ("inverted", "negative"):
            return "t_inversion"
        if qualifier == "flat":
            return "t_flattening"
        if qualifier == "peaked":
            return "t_peaked"
        if qualifier == "positive":
            return "t_upright"
        return "t_amplitude" if unit == "mV" else "t_wave"
    if feature == "st_segment":
        if qualifier in ("elevated", "high"):
            return "st_elevation"
        if qualifier in ("depressed", "low"):
            return "st_depression"
        return "st_segment"
    return feature


_QUALITATIVE_COMPARATOR = {
    "elevated": "high",
    "inverted": "negative",
}
# Qualifiers that the resolved feature name already says (no comparator left to carry).
_ABSORBED = {
    "st_elevation": {"elevated", "high"},
    "st_depression": {"depressed", "low"},
    "t_inversion": {"inverted", "negative"},
    "t_flattening": {"flat"},
    "t_peaked": {"peaked"},
    "t_upright": {"positive"},
    "qrs_polarity": set(),
    "low_voltage": {"low"},
}


@lru_cache(maxsize=8192)
def extract_sentence(sentence: str) -> tuple[Draft, ...]:
    """Every claim in one sentence (offsets relative to it). Pure and cached: streaming re-asks often."""
    drafts: list[Draft] = []
    previous_interval: str | None = None
    inherit: str | None = None
    for c_start, c_end in split_clauses(sentence):
        clause = sentence[c_start:c_end]
        for d in _clause_drafts(clause, previous_interval, inherit):
            drafts.append(
                Draft(
                    d.start + c_start,
                    d.end + c_start,
                    d.feature,
                    d.leads,
                    d.value,
                    d.unit,
                    d.comparator,
                    d.negated,
                )
            )
            if d.feature in _INTERVALS:
                previous_interval = d.feature
        for m in _find_features(clause):
            if m.feature in _INTERVALS:
                previous_interval = m.feature
            if m.feature in _INHERITABLE:
                inherit = m.feature
    return tuple(_without_overlaps(sentence, [_trimmed(sentence, d) for d in _dedupe(drafts)]))


def _without_overlaps(sentence: str, drafts: list[Draft]) -> list[Draft]:
    """Make claim spans disjoint, so a text highlighter can show them all: trim the later claim's start
    past the earlier one's end, else (a claim nested inside another) end the earlier one where the later
    begins; a claim that fits neither way (same start, nested) is dropped."""
    out: list[Draft] = []
    for d in sorted(drafts, key=lambda d: (d.start, -d.end)):
        if out and d.start < out[-1].end:
            prev = out[-1]
            start = prev.end
            while start < d.end and not sentence[start].isalnum():
                start += 1
            end = d.start
            while end > prev.start and not sentence[end - 1].isalnum():
                end -= 1
            if start < d.end:
                d = _respan(d, start, d.end)
            elif end > prev.start:
                out[-1] = _respan(prev, prev.start, end)
            else:
                continue
        out.append(d)
    return out


def _trimmed(sentence: str, d: Draft) -> Draft:
    """No white space at either end of a claim's span, and no bracket without its partner: a span that
    opens "(" or "[" runs to the matching close ("premature ventricular contraction (PVC)", not
    "... (PVC"); a bracket whose partner lies outside the sentence is left out of the span."""
    start, end = _bracketed(sentence, d.start, d.end)
    while start < end and sentence[start].isspace():
        start += 1
    while end > start and sentence[end - 1].isspace():
        end -= 1
    return d if (start, end) == (d.start, d.end) or start == end else _respan(d, start, end)


_BRACKETS = {"(": ")", "[": "]"}


def _bracketed(sentence: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) widened to whole bracket pairs (or narrowed past an unmatched one).

    >>> text = "axis [about 50 degrees] is normal"
    >>> text[slice(*_bracketed(text, 0, 22))]
    'axis [about 50 degrees]'
    >>> text = "normal) rhythm"
    >>> text[slice(*_bracketed(text, 0, 14))]
    ' rhythm'
    """
    for opening, closing in _BRACKETS.items():
        opens: list[int] = []
        for i in range(start, end):
            if sentence[i] == opening:
                opens.append(i)
            elif sentence[i] == closing:
                if opens:
                    opens.pop()
                else:  # closes something before the span: take that in, or leave the bracket out
                    before = sentence.rfind(opening, 0, start)
                    if before >= 0 and sentence.find(closing, before, start) < 0:
                        start = before
                    else:
                        start = max(start, i + 1)
        if opens:  # opened in the span: run to its partner, or start after an unmatched opening
            depth, j = len(opens), end
            while j < len(sentence) and depth:
                depth += {opening: 1, closing: -1}.get(sentence[j], 0)
                j += 1
            if depth == 0:
                end = j
    return start, end


def _respan(d: Draft, start: int, end: int) -> Draft:
    return Draft(start, end, d.feature, d.leads, d.value, d.unit, d.comparator, d.negated)


def _dedupe(drafts: list[Draft]) -> list[Draft]:
    """Drop repeats in one sentence ("premature ventricular contractions (PVCs)"); a counted premature
    beat's repeat without a count ("two premature atrial contractions (PACs)") is the same claim."""

    def key(d: Draft) -> tuple:
        if d.feature in _COUNTED:
            return (d.feature, d.leads, d.negated)
        return (d.feature, d.leads, d.value, d.comparator, d.negated)

    out: list[Draft] = []
    for d in drafts:
        twin = next((i for i, o in enumerate(out) if key(o) == key(d)), None)
        if twin is None:
            out.append(d)
        else:
            o = out[twin]
            kept = o if o.value is not None or d.value is None else d
            out[twin] = Draft(
                min(o.start, d.start),
                max(o.end, d.end),
                o.feature,
                o.leads,
                kept.value,
                kept.unit,
                kept.comparator,
                o.negated,
            )
    return out


# Premature beats counted in words or digits right before them ("three PVCs", "a single PAC"); "a PVC"
# or "PVCs" says at least one and is no count.
_COUNTED = frozenset({"pvc", "pac", "premature_beat"})
_NUMBER_WORDS = {"single": 1, "solitary": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_COUNT_BEFORE = re.compile(
    r"(?<![A-Za-z0-9.])(?P<n>\d{1,2}|"
    + "|".join(_NUMBER_WORDS)
    + r")\s+(?:(?:isolated|unifocal|uniform|ventricular|atrial|narrow|wide|narrow-complex|wide-complex)\s+)*$",
    re.IGNORECASE,
)


# A rate stated without its unit right after the word: "rate 72", "heart rate of about 100" (2-3 digits,
# no other unit after them)
_BARE_RATE = re.compile(
    r"\s*(?:is|was|of|at|:|=)?\s*(?P<cmp>approximately|about|around|roughly|~)?\s*(?P<n>\d{2,3})"
    r"(?!\d|\.\d|\s*(?:ms|msec|mV|mm|%|s\b|sec|seconds?|bpm|beats?|/|:))",
    re.IGNORECASE,
)


def _bare_rate_after(clause: str, end: int) -> _Value | None:
    m = _BARE_RATE.match(clause, end)
    if m is None:
        return None
    return _Value(m.start("n"), m.end("n"), float(m.group("n")), "bpm", "~" if m.group("cmp") else "=")


def _count_before(clause: str, start: int) -> _Value | None:
    m = _COUNT_BEFORE.search(clause, max(0, start - 60), start)
    if m is None:
        return None
    n = m.group("n").lower()
    count = float(n) if n.isdigit() else float(_NUMBER_WORDS[n])
    return _Value(m.start("n"), m.end("n"), count, "beats", "=")


def _clause_drafts(clause: str, previous_interval: str | None, inherit: str | None = None) -> list[Draft]:
    mentions = _find_features(clause)
    values = _find_values(clause)
    # A value's digits must not be read as a feature ("255 ms" has none, but "0.1 mV" could hold "mV").
    mentions = [m for m in mentions if not any(v.start <= m.start < v.end for v in values)]
    lead_mentions = find_leads(clause)
    if not mentions and inherit and lead_mentions:
        # "T waves are upright in I and II, and inverted in aVR": the second clause's feature is implied.
        # "ST elevation in V1-V4 but not in the inferior leads": so is a negated one.
        q = _QUALIFIER_RE.search(clause)
        neg = _NEG_BEFORE.search(clause)
        if q and q.start() < lead_mentions[0].start:
            mentions = [_Mention(q.start(), q.start(), inherit)]
        elif neg and neg.end() <= lead_mentions[0].start:
            mentions = [_Mention(neg.end(), neg.end(), inherit)]
    lead_mentions = [lm for lm in lead_mentions if not any(m.start <= lm.start < m.end for m in mentions)]
    bounds = _segments(mentions, len(clause))
    owner = _assign_values(mentions, values)
    drafts: list[Draft] = []
    seen_interval = previous_interval
    for i, mention in enumerate(mentions):
        seg_start, seg_end = bounds[i]
        qualifier, q_start, q_end = _qualifier(clause, mention, seg_end, mentions)
        # "could not be measured" says the measurement is missing; its "not" negates nothing
        negated = qualifier != "unmeasured" and _negated(clause, mention, seg_end)
        own_leads = [lm for lm in lead_mentions if seg_start <= lm.start < seg_end]
        mine = [v for v, o in zip(values, owner, strict=True) if o == i]
        if not mine and mention.feature in _COUNTED:  # "two PVCs", "a single premature atrial beat"
            mine = [v for v in [_count_before(clause, mention.start)] if v is not None]
        if not mine and mention.feature == "heart_rate":  # "rate 72", "ventricular rate of about 100"
            mine = [v for v in [_bare_rate_after(clause, mention.end)] if v is not None]
        for k, value in enumerate(mine or [None]):
            unit = value.unit if value else None
            # "QT is not prolonged at 410 ms": the negation is about the qualifier, the number stands.
            value_negated = negated and not (value and value.comparator in ("=", "~"))
            base = mention.feature
            if base == "qt_qtc":  # "QT/QTc 380/420 ms": first value QT, second QTc
                base = "qt_interval" if value is not None and k == 0 and len(mine) > 1 else "qtc_interval"
            feature = _resolve(base, qualifier, unit, seen_interval)
            if feature is None or (feature in _NEEDS_CONTENT and value is None and qualifier is None):
                continue  # "the rhythm", "the PR interval" alone claim nothing
            if feature in _NEEDS_LEADS and value is None and qualifier is None and not own_leads:
                continue
            leads_used = _leads_for(feature, own_leads, lead_mentions, value, mine, clause)
            comparator = value.comparator if value else _qualitative(feature, qualifier)
            # A second value of the same feature ("and 140 ms in V6") is its own span: spans never overlap.
            parts = [] if k > 0 else [(mention.start, mention.end)]
            parts += [(lm.start, lm.end) for lm in leads_used if lm in own_leads]
            if value:
                parts.append((value.start, value.end))
            if qualifier and not value:
                parts.append((q_start, q_end))
            drafts.append(
                Draft(
                    start=min(p[0] for p in parts),
                    end=max(p[1] for p in parts),
                    feature=feature,
                    leads=order_leads(lead for lm in leads_used for lead in lm.leads),
                    value=value.value if value else None,
                    unit=unit,
                    comparator=comparator,
                    negated=value_negated,
                )
            )
        if mention.feature in _INTERVALS:
            seen_interval = mention.feature
    for j, value in enumerate(values):
        if owner[j] is None and value.unit in _IMPLICIT_FEATURE:
            drafts.append(
                Draft(
                    value.start,
                    value.end,
                    _IMPLICIT_FEATURE[value.unit],
                    (),
                    value.value,
                    value.unit,
                    value.comparator,
                    False,
                )
            )
    return sorted(drafts, key=lambda d: (d.start, d.end, d.feature))


def _qualitative(feature: str, qualifier: str | None) -> str | None:
    if qualifier is None or qualifier in _ABSORBED.get(feature, ()):
        return None
    return _QUALITATIVE_COMPARATOR.get(qualifier, qualifier)


def _segments(mentions: list[_Mention], length: int) -> list[tuple[int, int]]:
    """Each feature owns the text from its start to the next feature; the first also owns the prefix."""
    bounds = []
    for i, m in enumerate(mentions):
        start = 0 if i == 0 else m.start
        end = mentions[i + 1].start if i + 1 < len(mentions) else length
        bounds.append((start, end))
    return bounds


def _assign_values(mentions: list[_Mention], values: list[_Value]) -> list[int | None]:
    """Index of the feature each value belongs to: nearest preceding feature taking its unit, else next."""
    owners: list[int | None] = []
    for v in values:
        takers = [i for i, m in enumerate(mentions) if v.unit in FEATURE_UNITS.get(m.feature, ())]
        before = [i for i in takers if mentions[i].end <= v.start]
        after = [i for i in takers if mentions[i].start >= v.end]
        owners.append(before[-1] if before else (after[0] if after else None))
    return owners


def _leads_for(feature, own_leads, clause_leads, value, values, clause) -> list[LeadMention]:
    leads = list(own_leads)
    if not leads and feature not in GLOBAL_FEATURES and feature not in _STATED_GLOBALLY:
        leads = list(clause_leads)
    narrowed = [
        k for k, lm in enumerate(leads) if _NARROWING.search(clause[max(0, lm.start - 60) : lm.start])
    ]
    if narrowed and narrowed[0] > 0 and all(lm.group for lm in leads[: narrowed[0]]):
        # "in the precordial leads, particularly V1 through V4": the named leads, not the whole group
        # (but "in V1 through V4, most marked in V3" keeps V1-V4).
        leads = leads[narrowed[0] :]
    if value is not None and len(values) > 1 and leads:
        # "150 ms in V1 and 140 ms in V6": each lead mention goes to its nearest value.
        def nearest(lm):
            return min(values, key=lambda v: min(abs(lm.start - v.end), abs(v.start - lm.end)))

        leads = [lm for lm in leads if nearest(lm) is value]
    return leads
