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
import pickle
import threading
from collections import OrderedDict
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


def _fingerprint(measurements: Measurements | None) -> str:
    """A key for the measurements' content (not their identity): a changed value is a new key."""
    if measurements is None:
        return ""
    return hashlib.blake2b(
        pickle.dumps(measurements, protocol=pickle.HIGHEST_PROTOCOL), digest_size=16
    ).hexdigest()


class _CheckCache:
    """LRU of check results keyed by (draft, measurements fingerprint); locked for the app's threads.

    It holds results only (never a Measurements), and ``_claims`` copies what it hands out.
    """

    def __init__(self, max_items: int = 1024):  # a result can hold hundreds of evidence spans
        self.max_items = max_items
        self._items: OrderedDict[tuple[Draft, str], Result] = OrderedDict()
        self._lock = threading.Lock()

    def checked(self, draft: Draft, fingerprint: str, measurements: Measurements | None) -> Result:
        key = (draft, fingerprint)
        with self._lock:
            result = self._items.get(key)
            if result is not None:
                self._items.move_to_end(key)
                return result
        result = check(draft, measurements)  # outside the lock: threads check in parallel
        with self._lock:
            self._items[key] = result
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return result

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


_CHECKS = _CheckCache()


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
    fingerprint = _fingerprint(measurements)
    claims = []
    for s_start, s_end in split_sentences(text, final=final):
        sentence = text[s_start:s_end]
        key = _sentence_key(sentence)
        for k, d in enumerate(extract_sentence(sentence)):
            result = _CHECKS.checked(d, fingerprint, measurements)
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
    _CHECKS.clear()
    _sentence_key.cache_clear()


def extract_claims(text: str, final: bool = True) -> list[dict]:
    """The claims of ``text`` without checking them (verdict ``not_checkable``, no evidence)."""
    return _claims(text, None, final)
