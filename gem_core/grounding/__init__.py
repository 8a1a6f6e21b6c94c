"""Grounding: from interpretation prose to claims checked against the waveform.

``ground(text, measurements)`` splits GEM's paragraph into sentences and clauses, finds the claims
in them (features, leads, values, comparators, negation, beat events, rhythm statements) and binds
each to evidence spans of the recording with a verdict. Only finished sentences are grounded unless
``final=True``; ids and character spans of a sentence never change as the text grows, and every
sentence is extracted and checked once (cached), so calling ``ground`` on each streamed prefix is
cheap.

Claim schema (``CLAIM_KEYS``)::

    {id, text, char_start, char_end, leads, feature, value, unit, comparator, negated,
     verdict, measured, evidence: [{lead, t_start_ms, t_end_ms, feature, value, unit, measurement_name}]}

- ``text == full_text[char_start:char_end]``; ``leads`` canonical names in standard order;
- ``value``: a number, ``[lo, hi]`` for "between", or None; ``unit``: bpm, ms, mV, deg or None;
- ``comparator``: ``=``, ``~``, ``>``, ``>=``, ``<``, ``<=``, ``between`` with a value, or a
  qualitative word without one (``prolonged``, ``short``, ``narrow``, ``normal``, ``high``, ``low``,
  ``irregular``, ``regular``, ``negative``, ``positive``, ``flat``, ``peaked``), or None;
- ``verdict``: ``supported`` / ``contradicted`` / ``not_checkable``; ``measured``: e.g.
  ``"text: heart rate 121 bpm; measured: 118 bpm"`` (None without measurements).

>>> from gem_core.features import measure
>>> from gem_core.samples import synthetic_ecg
>>> m = measure(synthetic_ecg(heart_rate=75))
>>> [(c["feature"], c["verdict"]) for c in ground("The heart rate is 75 bpm. Rate 140 bpm.", m)]
[('heart_rate', 'supported'), ('heart_rate', 'contradicted')]
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from gem_core.errors import GemError
from gem_core.features import Measurements
from gem_core.grounding.check import (
    CONTRADICTED,
    NOT_CHECKABLE,
    SUPPORTED,
    TOLERANCES,
    Result,
    check,
)
from gem_core.grounding.extract import Draft, extract_sentence, split_sentences

CLAIM_KEYS = (
    "id",
    "text",
    "char_start",
    "char_end",
    "leads",
    "feature",
    "value",
    "unit",
    "comparator",
    "negated",
    "verdict",
    "measured",
    "evidence",
)
EVIDENCE_KEYS = ("lead", "t_start_ms", "t_end_ms", "feature", "value", "unit", "measurement_name")
VERDICTS = (SUPPORTED, CONTRADICTED, NOT_CHECKABLE)

__all__ = [
    "CLAIM_KEYS",
    "EVIDENCE_KEYS",
    "VERDICTS",
    "TOLERANCES",
    "SUPPORTED",
    "CONTRADICTED",
    "NOT_CHECKABLE",
    "ground",
    "extract_claims",
    "split_sentences",
    "clear_cache",
]


class _Ref:
    """Hashable by identity, so a cache can key on a (mutable, unhashable) Measurements object.

    The cache holds the reference, so the id cannot be reused while the entry lives.
    """

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __hash__(self):
        return id(self.obj)

    def __eq__(self, other):
        return isinstance(other, _Ref) and other.obj is self.obj


@lru_cache(maxsize=1024)  # a result can hold hundreds of evidence spans: keep the cache modest
def _checked(draft: Draft, ref: _Ref) -> Result:
    return check(draft, ref.obj)


@lru_cache(maxsize=8192)
def _sentence_key(sentence: str) -> str:
    return hashlib.blake2s(sentence.encode("utf-8"), digest_size=4).hexdigest()


def _claims(text: str, measurements: Measurements | None, final: bool) -> list[dict]:
    if not isinstance(text, str):
        raise GemError(f"grounding needs the interpretation as text (str); got {type(text).__name__}")
    if measurements is not None and not isinstance(measurements, Measurements):
        raise GemError(
            f"grounding needs gem_core.features.Measurements (from measure(ecg)); got {type(measurements).__name__}"
        )
    ref = _Ref(measurements)
    claims = []
    for s_start, s_end in split_sentences(text, final=final):
        sentence = text[s_start:s_end]
        key = _sentence_key(sentence)
        for k, d in enumerate(extract_sentence(sentence)):
            result = _checked(d, ref)
            start, end = s_start + d.start, s_start + d.end
            claims.append(
                {
                    "id": f"c{s_start}-{key}-{k}",
                    "text": text[start:end],
                    "char_start": start,
                    "char_end": end,
                    "leads": list(d.leads),
                    "feature": d.feature,
                    "value": list(d.value) if isinstance(d.value, tuple) else d.value,
                    "unit": d.unit,
                    "comparator": d.comparator,
                    "negated": d.negated,
                    "verdict": result.verdict,
                    "measured": result.measured,
                    "evidence": [dict(e) for e in result.evidence],
                }
            )
    return claims


def ground(text: str, measurements: Measurements | None = None, final: bool = False) -> list[dict]:
    """Claims of ``text`` with evidence and verdicts from ``measurements`` (see the module docstring).

    ``final=False`` (streaming): only finished sentences; ``final=True``: the unterminated tail too.
    Without measurements every verdict is ``not_checkable`` and evidence is empty.
    """
    return _claims(text, measurements, final)


def clear_cache() -> None:
    """Forget cached sentence extractions and checks (benchmarks; after mutating a Measurements)."""
    extract_sentence.cache_clear()
    _checked.cache_clear()
    _sentence_key.cache_clear()


def extract_claims(text: str, final: bool = True) -> list[dict]:
    """The claims of ``text`` without checking them (verdict ``not_checkable``, no evidence)."""
    return _claims(text, None, final)
