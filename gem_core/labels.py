"""Diagnostic labels: the nine CPSC 2018 classes, their SNOMED CT codes, and scoring free text.

The nine classes of the China Physiological Signal Challenge 2018 are the label set of ECG-Bench's CPSC
task. SNOMED CT codes are those of the PhysioNet/CinC Challenge 2021 mapping tables
(``dx_mapping_scored.csv`` / ``dx_mapping_unscored.csv``); where the challenge scores several codes as
one diagnosis, all of them map to the same class.

``labels_from_text`` scores a text the way ECG-Bench scores a language model: a class counts as
predicted when the text names it (any of its synonyms), unless that mention is negated
("no ST elevation", "without atrial fibrillation", "PVCs are not seen").

>>> labels_from_text("Sinus rhythm with a right bundle branch block and one PVC; no ST elevation.")
['RBBB', 'PVC']
>>> sorted(cpsc_from_snomed(["59118001", "426177001"]))
['RBBB']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class LabelCode:
    """One diagnostic statement: its abbreviation, plain name and SNOMED CT codes (first is preferred)."""

    abbr: str
    name: str
    snomed: tuple[str, ...]

    @property
    def code(self) -> str | None:
        return self.snomed[0] if self.snomed else None


# The nine CPSC 2018 classes in the challenge's order. Codes from the 2021 challenge mapping tables;
# CPSC "Normal" was mapped there to sinus rhythm (426783006) and CPSC "PVC" to ventricular ectopics
# (164884008, unscored); the scored PVC code 427172004 (scored as one with 17338001) comes first.
CPSC_LABELS: tuple[LabelCode, ...] = (
    LabelCode("Normal", "normal ECG (sinus rhythm)", ("426783006",)),
    LabelCode("AF", "atrial fibrillation", ("164889003",)),
    LabelCode("I-AVB", "first-degree atrioventricular block", ("270492004", "164947007")),
    LabelCode("LBBB", "left bundle branch block", ("164909002", "733534002")),
    LabelCode("RBBB", "right bundle branch block", ("59118001", "713427006")),
    LabelCode("PAC", "premature atrial contraction", ("284470004", "63593006")),
    LabelCode("PVC", "premature ventricular contraction", ("427172004", "17338001", "164884008")),
    LabelCode("STD", "ST depression", ("429622005", "704997005")),
    LabelCode("STE", "ST elevation", ("164931005",)),
)
CPSC_CLASSES: tuple[str, ...] = tuple(lab.abbr for lab in CPSC_LABELS)

# Other statements the measurement-based interpreter makes (challenge abbreviations and codes).
OTHER_LABELS: tuple[LabelCode, ...] = (
    LabelCode("SB", "sinus bradycardia", ("426177001",)),
    LabelCode("STach", "sinus tachycardia", ("427084000",)),
    LabelCode("SA", "sinus arrhythmia", ("427393009",)),
    LabelCode("EAR", "ectopic atrial rhythm", ("106068003",)),
    LabelCode("ATach", "atrial tachycardia", ("713422000",)),
    LabelCode("SVT", "supraventricular tachycardia", ("426761007",)),
    LabelCode("SPRI", "short PR interval", ("49578007",)),
    LabelCode("AFL", "atrial flutter", ("164890007",)),
    LabelCode("IRBBB", "incomplete right bundle branch block", ("713426002",)),
    LabelCode("ILBBB", "incomplete left bundle branch block", ("251120003",)),
    LabelCode("NSIVCB", "nonspecific intraventricular conduction delay", ("698252002",)),
    LabelCode("LAD", "left axis deviation", ("39732003",)),
    LabelCode("RAD", "right axis deviation", ("47665007",)),
    LabelCode("LQT", "prolonged QT interval", ("111975006",)),
    LabelCode("LQRSV", "low QRS voltages", ("251146004",)),
    LabelCode("LVH", "left ventricular hypertrophy (voltage criteria)", ("164873001", "55827005")),
    LabelCode("TInv", "T wave inversion", ("59931005",)),
)
LABELS: dict[str, LabelCode] = {lab.abbr: lab for lab in CPSC_LABELS + OTHER_LABELS}
SNOMED_TO_CPSC: dict[str, str] = {code: lab.abbr for lab in CPSC_LABELS for code in lab.snomed}


def label_entries(abbrs: Iterable[str]) -> list[dict]:
    """Labels as JSON: each with its abbreviation, statement, SNOMED CT code(s) and whether it is a CPSC
    class (the schema of ``labels`` in readings and in ``python -m gem_core.interpret --json``).

    >>> label_entries(["I-AVB"])[0]["snomed"], label_entries(["SB"])[0]["cpsc"]
    ('270492004', False)
    """
    return [
        {
            "label": abbr,
            "statement": LABELS[abbr].name,
            "snomed": LABELS[abbr].code,
            "snomed_codes": list(LABELS[abbr].snomed),
            "cpsc": abbr in CPSC_CLASSES,
        }
        for abbr in dict.fromkeys(abbrs)
    ]


def cpsc_from_snomed(codes: Iterable[str | int]) -> set[str]:
    """The CPSC classes among SNOMED CT codes (codes of other diagnoses are ignored)."""
    return {SNOMED_TO_CPSC[str(c).strip()] for c in codes if str(c).strip() in SNOMED_TO_CPSC}


# Synonyms per class, as regular expressions (case-insensitive). Incomplete bundle branch blocks are
# not the CPSC class, hence the look-behinds.
_ST = r"\bst(?:[- ]?segment)?s?[- ]"
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "Normal": (
        r"(?<!ab)\bnormal\s+(?:ecg|ekg|electrocardiogram|tracing)",
        r"\bnormal\s+sinus\s+rhythm",
        r"\bwithin\s+normal\s+limits",
        r"\bnsr\b",
    ),
    "AF": (r"\batrial\s+fibrillation", r"\ba-?fib\b", r"\baf\b"),
    "I-AVB": (
        r"\b(?:first|1st)[- ]degree\s+(?:av|a-v|atrioventricular|heart)\s+block",
        r"\b(?:first|1st)[- ]degree\s+block",
        r"\bi-?avb\b",
        r"\b1-?avb\b",
        r"\bprolonged\s+pr\b",
        r"\bpr(?:[- ]interval)?\s+prolongation",
    ),
    "LBBB": (
        r"(?<!incomplete )\bleft\s+bundle[- ]branch\s+block",
        r"(?<!incomplete )(?<![a-z])c?lbbb\b",
    ),
    "RBBB": (
        r"(?<!incomplete )\bright\s+bundle[- ]branch\s+block",
        r"(?<!incomplete )(?<![a-z])c?rbbb\b",
    ),
    "PAC": (
        r"\bpremature\s+atrial\s+(?:contraction|complex|beat|depolarization)",
        r"\batrial\s+(?:premature|extrasystol|ectopic\s+beat)",
        r"\bsupraventricular\s+(?:premature|extrasystol|ectopic)",
        r"\bpacs?\b",
        r"\bapcs?\b",
        r"\bsvpbs?\b",
    ),
    "PVC": (
        r"\bpremature\s+ventricular\s+(?:contraction|complex|beat|depolarization)",
        r"\bventricular\s+(?:premature|extrasystol|ectopic)",
        r"\bpvcs?\b",
        r"\bvpcs?\b",
        r"\bvpbs?\b",
    ),
    "STD": (
        _ST + r"depression",
        r"\bdepress(?:ed|ion\s+of\s+the)\s+st\b",
        r"\bst\s+(?:segments?\s+)?(?:is|are)\s+depressed",
        r"\bstd\b",
        r"\bst[- ](?:segment\s+)?elevations?\s+(?:or|and|/)\s+depression",
    ),
    "STE": (
        _ST + r"elevation",
        r"\belevat(?:ed|ion\s+of\s+the)\s+st\b",
        r"\bst\s+(?:segments?\s+)?(?:is|are)\s+elevated",
        r"\bste\b",
        r"\bst[- ](?:segment\s+)?depressions?\s+(?:or|and|/)\s+elevation",
    ),
}
_PATTERNS = {cls: re.compile("|".join(f"(?:{p})" for p in pats), re.I) for cls, pats in _SYNONYMS.items()}

# Negation: a cue before the mention in the same clause (within a few words), or a cue right after it.
_CLAUSE_BREAK = re.compile(r"[.;:!?\n]|\b(?:but|however|although|though|whereas|yet|while)\b", re.I)
_NEG_BEFORE = re.compile(
    r"\b(?:no|not|without|absence\s+of|absent|free\s+of|negative\s+for|rules?\s+out|ruled\s+out|"
    r"exclud(?:e|es|ed|ing)|nor|neither|lack\s+of|lacks?|denies)\b",
    re.I,
)
_NEG_AFTER = re.compile(
    r"^[^.;:!?]{0,40}?\b(?:(?:is|are|was|were)\s+(?:not|absent)|not\s+(?:seen|present|observed|identified|"
    r"evident|detected)|absent|ruled\s+out|excluded)\b",
    re.I,
)
_MAX_WORDS_AFTER_CUE = 8


def _clause_start(text: str, pos: int) -> int:
    start = 0
    for m in _CLAUSE_BREAK.finditer(text, 0, pos):
        start = m.end()
    return start


def _negated(text: str, start: int, end: int) -> bool:
    """True when the mention text[start:end] is negated in its clause."""
    before = text[_clause_start(text, start) : start]
    cues = list(_NEG_BEFORE.finditer(before))
    if cues and len(before[cues[-1].end() :].split()) <= _MAX_WORDS_AFTER_CUE:
        return True
    after = text[end:]
    stop = _CLAUSE_BREAK.search(after)
    return bool(_NEG_AFTER.match(after[: stop.start()] if stop else after))


def class_mentions(text: str) -> list[tuple[str, int, int, bool]]:
    """Every mention of a CPSC class: (class, char_start, char_end, negated), in text order."""
    found = []
    for cls, pattern in _PATTERNS.items():
        for m in pattern.finditer(text):
            found.append((cls, m.start(), m.end(), _negated(text, m.start(), m.end())))
    return sorted(found, key=lambda item: (item[1], CPSC_CLASSES.index(item[0])))


def labels_from_text(text: str) -> list[str]:
    """The CPSC classes a text names without negating, in ``CPSC_CLASSES`` order.

    >>> labels_from_text("Atrial fibrillation; no ST depression; incomplete right bundle branch block.")
    ['AF']
    >>> labels_from_text("Normal sinus rhythm. Normal ECG.")
    ['Normal']
    """
    named = {cls for cls, _, _, negated in class_mentions(text or "") if not negated}
    return [cls for cls in CPSC_CLASSES if cls in named]
