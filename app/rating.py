"""Rate, Compare, Campaign and Admin handlers: plain functions over the ratings store.

Each takes the ``Who`` that ``app.auth`` resolved on the server; the store itself enforces that a
rater reads and changes only their own ratings.
"""

from __future__ import annotations

import random
import time

from app.parts import need
from app.state import AppContext, Session
from gem_core.errors import GemError

CHOICES = {"A is better": "a", "B is better": "b", "Tie": "tie", "Both bad": "both_bad"}


def metrics():
    """The seven metrics with their anchored levels (``annotations.metrics.METRICS``)."""
    return need("annotations.metrics", "METRICS", "the rating metrics")


def anchors_markdown() -> str:
    """The anchored description of every level of every metric, as a Markdown table (our own text)."""
    lines = ["| metric | 1 | 2 | 3 | 4 | 5 |", "|---|---|---|---|---|---|"]
    for m in metrics():
        lines.append(
            f"| **{m.label}**<br>{m.question} | " + " | ".join(m.levels[i] for i in range(1, 6)) + " |"
        )
    return "\n".join(lines)


def scores_from(values: list) -> dict[str, int]:
    """Metric name -> score from the form's radios (in ``METRICS`` order); missing ones are a GemError."""
    names = [m.name for m in metrics()]
    missing = [m.label for m, v in zip(metrics(), values, strict=True) if v in (None, "")]
    if missing:
        raise GemError(f"rate every metric before submitting; missing: {', '.join(missing)}")
    return {name: int(v) for name, v in zip(names, values, strict=True)}


def interpretation_id_of(session: Session, explicit=None):
    """The interpretation to rate: an explicit id (API callers), else the one on the Review screen."""
    if explicit not in (None, "", 0):
        return int(explicit)
    interp = session.interpretation
    if interp is None:
        raise GemError("interpret an ECG first (Review tab), then rate the interpretation")
    if interp.interpretation_id is None:
        raise GemError(
            "this interpretation was not saved (no ratings store or still streaming); wait for 'Done'"
        )
    return interp.interpretation_id


def submit_rating(
    ctx: AppContext,
    who,
    interpretation_id: int,
    scores: dict,
    comment: str,
    seconds: float | None,
    key: str,
    assignment_id: int | None = None,
):
    """Save (or edit) ``who``'s rating of an interpretation; the same ``key`` never writes twice."""
    if not key:
        raise GemError("missing idempotency key; reload the page and submit again")
    return ctx.store.submit_rating(
        who,
        int(interpretation_id),
        scores,
        comment or "",
        seconds,
        idempotency_key=key,
        assignment_id=assignment_id,
    )


def previous_rating(ctx: AppContext, who, interpretation_id) -> dict | None:
    """``who``'s current rating of the interpretation as ``{scores, comment, version}``, or None."""
    if who is None or interpretation_id is None or ctx.store is None:
        return None
    rating = ctx.store.my_rating(who, int(interpretation_id))
    if rating is None:
        return None
    return {"scores": dict(rating.scores), "comment": rating.comment or "", "version": rating.version}


# ------------------------------------------------------------------------------------------------ compare
def blind_pair(first, second, rng: random.Random | None = None) -> tuple:
    """The two interpretations in a random order, so labels A and B do not reveal the backend.

    >>> blind_pair("x", "y", random.Random(1))
    ('y', 'x')
    """
    rng = rng or random.Random()
    return (first, second) if rng.random() < 0.5 else (second, first)


def submit_preference(
    ctx: AppContext,
    who,
    a_id,
    b_id,
    choice_label: str,
    rationale: str,
    seconds,
    key: str,
    assignment_id: int | None = None,
):
    """Save ``who``'s choice between the interpretations shown as A and B."""
    if choice_label not in CHOICES:
        raise GemError(f"choose one of: {', '.join(CHOICES)}")
    if a_id is None or b_id is None:
        raise GemError("generate both interpretations before choosing")
    if not key:
        raise GemError("missing idempotency key; reload the page and submit again")
    return ctx.store.submit_preference(
        who,
        int(a_id),
        int(b_id),
        CHOICES[choice_label],
        rationale or "",
        seconds,
        idempotency_key=key,
        assignment_id=assignment_id,
    )


def elapsed(since: float | None) -> float | None:
    return None if not since else round(time.time() - since, 1)
