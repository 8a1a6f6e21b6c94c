"""Highlights: claim evidence spans as the viewer draws them.

A highlight is a plain dict ``{lead, t_start_ms, t_end_ms, verdict, text, claim_id}`` (optionally
``detail``: the measured value behind it). ``lead`` is a lead name, ``"rhythm"`` (the rhythm strip, or
lead II) or ``"all"``.

>>> claims = [{"id": "c1", "text": "QRS is narrow", "verdict": "supported",
...            "evidence": [{"lead": "V1", "t_start_ms": 6000, "t_end_ms": 6090,
...                          "feature": "qrs_duration", "value": 90, "unit": "ms"}]}]
>>> highlights_from_claims(claims)[0]["detail"]
'qrs_duration = 90 ms'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gem_core.errors import GemError

VERDICTS = ("supported", "contradicted", "not_checkable")
# Okabe-Ito colours: readable on pink paper and by colour-blind reviewers; the dash style differs too.
VERDICT_STYLE: dict[str, dict] = {
    "supported": {"color": "#009E73", "dash": "solid", "label": "supported"},
    "contradicted": {"color": "#D55E00", "dash": "solid", "label": "contradicted"},
    "not_checkable": {"color": "#0072B2", "dash": "dot", "label": "not checkable"},
}
_VERDICT_ALIASES = {
    "not checkable": "not_checkable",
    "not-checkable": "not_checkable",
    "unchecked": "not_checkable",
    "none": "not_checkable",
}


def normalize_verdict(verdict) -> str:
    """A verdict in any usual spelling as one of ``VERDICTS``; None counts as not checkable."""
    key = "none" if verdict is None else str(verdict).strip().lower()
    key = _VERDICT_ALIASES.get(key, key)
    if key not in VERDICTS:
        raise GemError(f"unknown verdict {verdict!r}; a highlight's verdict is one of {', '.join(VERDICTS)}")
    return key


def _get(obj, name, default=None):
    """Read a field from a dict or a dataclass-like object (the grounding module may use either)."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _detail(span) -> str:
    feature, value, unit = _get(span, "feature"), _get(span, "value"), _get(span, "unit")
    if feature is None or value is None:
        return ""
    if isinstance(value, float):
        value = f"{value:.3g}"
    return f"{feature} = {value}{' ' + unit if unit else ''}"


def highlights_from_claims(claims: Iterable, claim_id=None) -> list[dict]:
    """One highlight per evidence span of each claim (only claim ``claim_id`` when given).

    Claims are dicts or objects with ``id``, ``text``, ``verdict``, ``evidence`` (spans with ``lead``,
    ``t_start_ms``, ``t_end_ms`` and optionally ``feature``, ``value``, ``unit``) and optionally
    ``measured`` (shown with the span's own value in the hover text), as ``gem_core.grounding`` makes.
    """
    out = []
    for claim in claims:
        cid = _get(claim, "id", _get(claim, "claim_id"))
        if claim_id is not None and str(cid) != str(claim_id):
            continue
        for span in _get(claim, "evidence", None) or ():
            out.append(
                check_highlight(
                    {
                        "lead": _get(span, "lead"),
                        "t_start_ms": _get(span, "t_start_ms"),
                        "t_end_ms": _get(span, "t_end_ms"),
                        "verdict": _get(span, "verdict", None) or _get(claim, "verdict"),
                        "text": str(_get(claim, "text", "") or ""),
                        "claim_id": cid,
                        "detail": "<br>".join(d for d in (_get(claim, "measured"), _detail(span)) if d),
                    }
                )
            )
    return out


def check_highlight(h: Mapping) -> dict:
    """A validated copy of one highlight; ``GemError`` says which field is missing or wrong."""
    if not isinstance(h, Mapping):
        raise GemError(f"a highlight must be a dict with lead, t_start_ms, t_end_ms; got {type(h).__name__}")
    missing = [k for k in ("lead", "t_start_ms", "t_end_ms") if h.get(k) is None]
    if missing:
        raise GemError(f"highlight {dict(h)!r} lacks {', '.join(missing)}")
    try:
        t0, t1 = float(h["t_start_ms"]), float(h["t_end_ms"])
    except (TypeError, ValueError):
        raise GemError(
            f"highlight times must be numbers of ms; got {h['t_start_ms']!r}, {h['t_end_ms']!r}"
        ) from None
    if t1 < t0:
        raise GemError(f"highlight ends ({t1} ms) before it starts ({t0} ms)")
    return {
        "lead": str(h["lead"]),
        "t_start_ms": t0,
        "t_end_ms": t1,
        "verdict": normalize_verdict(h.get("verdict")),
        "text": str(h.get("text") or ""),
        "claim_id": h.get("claim_id"),
        "detail": str(h.get("detail") or ""),
    }
