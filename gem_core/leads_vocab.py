"""Lead and feature vocabulary of ECG prose: lead names, lists, ranges and anatomical lead groups.

GEM names leads one at a time ("lead II", "aVL"), as lists ("leads II, III, and aVF"), as ranges
("V1 through V4", "V2 to V6", "V5-V6", "I-III") and as anatomical groups ("inferior leads", "lateral
precordial leads"). ``find_leads`` turns every such mention in a piece of text into a ``LeadMention``
with canonical lead names (``gem_core.ecg.LEADS``) and character offsets.

Choices (contiguous-territory conventions; texts differ, these are ours):

- anterior = V3, V4 (some texts use V1-V4; we call that "anteroseptal")
- septal = V1, V2; anteroseptal = V1-V4; anterolateral = V3-V6 (I and aVL only when the text lists them)
- lateral = I, aVL, V5, V6; high lateral = I, aVL; lateral precordial / left precordial = V5, V6
- right precordial = V1, V2; inferior = II, III, aVF; inferolateral = inferior + lateral
- precordial / chest = V1-V6; limb = I, II, III, aVR, aVL, aVF; "all leads" = the 12 leads

>>> [m.leads for m in find_leads("ST elevation in V1 through V3 and the inferior leads")]
[('V1', 'V2', 'V3'), ('II', 'III', 'aVF')]
>>> find_leads("leads II, III, and aVF")[0].leads
('II', 'III', 'aVF')
>>> find_leads("I said so")  # a lone "I" is a pronoun unless "lead" or another lead is beside it
[]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gem_core.ecg import LEADS

LIMB_LEADS = LEADS[:6]
PRECORDIAL_LEADS = LEADS[6:]

LEAD_GROUPS: dict[str, tuple[str, ...]] = {
    "inferolateral": ("I", "II", "III", "aVL", "aVF", "V5", "V6"),
    "inferior": ("II", "III", "aVF"),
    "high lateral": ("I", "aVL"),
    "lateral precordial": ("V5", "V6"),
    "left precordial": ("V5", "V6"),
    "right precordial": ("V1", "V2"),
    "anteroseptal": ("V1", "V2", "V3", "V4"),
    "anterolateral": ("V3", "V4", "V5", "V6"),
    "septal": ("V1", "V2"),
    "anterior": ("V3", "V4"),
    "lateral": ("I", "aVL", "V5", "V6"),
    "precordial": PRECORDIAL_LEADS,
    "chest": PRECORDIAL_LEADS,
    "limb": LIMB_LEADS,
    "all": LEADS,
}
# Words after a group name that make it a lead group ("inferior leads", "anterior wall").
_GROUP_NOUN = r"(?:leads?|wall|territory|regions?|distribution)"
# Adjectival use without a noun is also common ("anterolateral ST-T changes", "inferior ST elevation").
_ADJECTIVE_OK = {
    "inferior",
    "inferolateral",
    "anterolateral",
    "anteroseptal",
    "high lateral",
    "lateral",
    "septal",
    "anterior",
}

_LEAD_TOKEN = r"(?:aV[RLF]|AV[RLF]|av[rlf]|V[1-6]|III|II|I)(?![A-Za-z0-9'])"
_LEAD_RE = re.compile(r"(?<![A-Za-z0-9'])" + _LEAD_TOKEN)
_RANGE_SEP = re.compile(r"\s*(?:-|–|—|\bthrough\b|\bthru\b|\bto\b)\s*$")
_LIST_SEP = re.compile(r"^\s*(?:,|/|&|\band\b|\bor\b|,\s*and\b|,\s*or\b)\s*$")
_LEAD_WORD_BEFORE = re.compile(r"\bleads?\s*(?:\(?\s*)$", re.IGNORECASE)
_GROUP_RE = re.compile(
    r"\b(?P<name>"
    + "|".join(re.escape(g).replace(r"\ ", r"[\s-]+") for g in sorted(LEAD_GROUPS, key=len, reverse=True))
    + r")(?:\s+and\s+(?P<name2>"
    + "|".join(re.escape(g).replace(r"\ ", r"[\s-]+") for g in sorted(LEAD_GROUPS, key=len, reverse=True))
    + r"))?(?P<noun>\s+(?:\d+\s+)?"
    + _GROUP_NOUN
    + r")?\b",
    re.IGNORECASE,
)


# "left anterior fascicular block", "anterior hemiblock", "left anterior descending (artery)": a fascicle
# or an artery, not the anterior leads
_NOT_A_GROUP_AFTER = re.compile(r"[\s-]+(?:fascic|hemiblock|descending)", re.IGNORECASE)


@dataclass(frozen=True)
class LeadMention:
    """Leads named at ``text[start:end]``; ``group`` is the group name when the mention is a group."""

    start: int
    end: int
    leads: tuple[str, ...]
    group: str | None = None


def _canonical(token: str) -> str:
    up = token.upper()
    return {"AVR": "aVR", "AVL": "aVL", "AVF": "aVF"}.get(up, up)


def lead_range(first: str, last: str) -> tuple[str, ...]:
    """Leads from ``first`` to ``last`` inclusive, in ``LEADS`` order (limb and precordial apart).

    >>> lead_range("V2", "V5"), lead_range("I", "III")
    (('V2', 'V3', 'V4', 'V5'), ('I', 'II', 'III'))
    """
    i, j = LEADS.index(first), LEADS.index(last)
    if i > j:
        i, j = j, i
    return LEADS[i : j + 1]


def order_leads(leads) -> tuple[str, ...]:
    """Unique leads in canonical ``LEADS`` order."""
    wanted = set(leads)
    return tuple(name for name in LEADS if name in wanted)


def _explicit_mentions(text: str) -> list[LeadMention]:
    """Single leads, lists and ranges; a chain of tokens joined by separators is one mention."""
    tokens = [(m.start(), m.end(), _canonical(m.group())) for m in _LEAD_RE.finditer(text)]
    chains: list[list[tuple[int, int, str, str]]] = []  # (start, end, lead, joiner-before)
    for start, end, lead in tokens:
        if chains:
            gap = text[chains[-1][-1][1] : start]
            if _RANGE_SEP.match(gap) and len(gap) <= 12:
                chains[-1].append((start, end, lead, "range"))
                continue
            if _LIST_SEP.match(gap):
                chains[-1].append((start, end, lead, "list"))
                continue
        chains.append([(start, end, lead, "")])
    mentions = []
    for chain in chains:
        leads: list[str] = []
        for k, (_, _, lead, joiner) in enumerate(chain):
            if joiner == "range" and leads:
                leads.extend(lead_range(chain[k - 1][2], lead))
            else:
                leads.append(lead)
        start, end = chain[0][0], chain[-1][1]
        roman_only = all(t[2] in ("I", "II", "III") for t in chain)
        has_lead_word = bool(_LEAD_WORD_BEFORE.search(text[max(0, start - 12) : start]))
        if roman_only and len(chain) == 1 and not has_lead_word:
            continue  # "I", "type II", "Mobitz II": not a lead without the word "lead" beside it
        mentions.append(LeadMention(start, end, order_leads(leads)))
    return mentions


def _group_mentions(text: str) -> list[LeadMention]:
    """Lead groups named in ``text``; not the "anterior" of the left anterior fascicle (fascicular block,
    hemiblock) or of the left anterior descending artery.

    >>> [m.leads for m in _group_mentions("left anterior fascicular block; anterior ST elevation")]
    [('V3', 'V4')]
    """
    mentions = []
    for m in _GROUP_RE.finditer(text):
        names = [m.group("name"), m.group("name2")]
        names = [re.sub(r"[\s-]+", " ", n.lower()) for n in names if n]
        if not m.group("noun") and not all(n in _ADJECTIVE_OK for n in names):
            continue  # "precordial", "limb", "chest", "all" need "leads" after them
        if not m.group("noun") and _NOT_A_GROUP_AFTER.match(text, m.end()):
            continue
        leads = [lead for n in names for lead in LEAD_GROUPS[n]]
        mentions.append(LeadMention(m.start(), m.end(), order_leads(leads), group=" and ".join(names)))
    return mentions


def _labels_a_list(text: str, group: LeadMention, explicit: list[LeadMention]) -> bool:
    """Whether ``group`` sits in a parenthesis opened just after an explicit lead list."""
    opened = text.rfind("(", 0, group.start)
    if opened < 0 or ")" in text[opened : group.start]:
        return False
    return any(0 <= opened - e.end <= 2 for e in explicit)


# "all leads except aVR", "the precordial leads other than V1": the leads after the cue are taken out
_EXCEPT_GAP = re.compile(
    r"\s*,?\s*(?:except(?:\s+for|\s+in)?|other\s+than|apart\s+from|excluding|save\s+for|but\s+not)"
    r"(?:\s+(?:in\s+)?(?:leads?|the))?\s*$",
    re.IGNORECASE,
)


def _take_out_exceptions(text: str, mentions: list[LeadMention]) -> list[LeadMention]:
    """A mention followed by "except" (or "other than", "apart from", ...) and another mention: one mention
    over both, with the second's leads taken out of the first's.

    >>> [m.leads for m in _take_out_exceptions("all leads except aVR", find_leads("all leads except aVR"))]
    [('I', 'II', 'III', 'aVL', 'aVF', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6')]
    """
    out: list[LeadMention] = []
    for mention in mentions:
        if out and _EXCEPT_GAP.fullmatch(text[out[-1].end : mention.start]):
            first = out.pop()
            kept = tuple(lead for lead in first.leads if lead not in mention.leads)
            mention = LeadMention(first.start, mention.end, kept, first.group)
        out.append(mention)
    return out


def find_leads(text: str) -> list[LeadMention]:
    """Every lead mention in ``text`` (single, list, range, group), in text order.

    A group immediately followed by a parenthesised list ("lateral leads (I, aVL, V6)") keeps only
    the list: the text said exactly which leads it meant. Group names in parentheses right after a
    list ("leads I, II and aVF (inferior, lateral)") only label it and add no leads. "All leads except aVR"
    is one mention of the other eleven.

    >>> [m.leads for m in find_leads("depression in leads II and aVF (inferior)")]
    [('II', 'aVF')]
    """
    explicit = _explicit_mentions(text)
    groups = []
    for g in _group_mentions(text):
        if any(e.start <= g.start < e.end for e in explicit):
            continue
        after = text[g.end : g.end + 4]
        if "(" in after and any(0 <= e.start - g.end <= 6 for e in explicit):
            continue
        if _labels_a_list(text, g, explicit):
            continue
        groups.append(g)
    return _take_out_exceptions(text, sorted(explicit + groups, key=lambda m: (m.start, m.end)))
