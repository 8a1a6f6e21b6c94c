"""Rate, Compare, Campaign and Admin handlers: plain functions over the ratings store.

Each takes the ``Who`` that ``app.auth`` resolved on the server; the store itself enforces that a
rater reads and changes only their own ratings.
"""

from __future__ import annotations

import random
import time

from annotations.metrics import METRICS
from app.state import AppContext, Session
from gem_core.errors import GemError

CHOICES = {"A is better": "a", "B is better": "b", "Tie": "tie", "Both bad": "both_bad"}


def metrics():
    """The seven metrics with their anchored levels (``annotations.metrics.METRICS``)."""
    return METRICS


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
    interp = session.to_rate
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

    >>> blind_pair("x", "y", random.Random(1)), blind_pair("x", "y", random.Random(0))
    (('x', 'y'), ('y', 'x'))
    """
    rng = rng or random.Random()
    return (first, second) if rng.random() < 0.5 else (second, first)


def blinded(interp, label: str):
    """A copy of ``interp`` shown only as "Interpretation A/B": for rating a Compare side blind."""
    from dataclasses import replace

    return replace(interp, backend="hidden", label=f"Interpretation {label} (blind)", is_gem=False)


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


# ----------------------------------------------------------------------------------------------- campaign
def campaign_choices(ctx: AppContext) -> list[str]:
    """Names of the campaigns in the store (empty without a store)."""
    return [] if ctx.store is None else [c.name for c in ctx.store.campaigns()]


def campaign_next(ctx: AppContext, who, campaign: str):
    """The rater's next unfinished item of ``campaign`` (their own order), or None when all are done."""
    if not campaign:
        raise GemError("choose a campaign")
    return ctx.store.next_item(who, campaign)


def campaign_progress(ctx: AppContext, who, campaign: str) -> str:
    """'n of m done' for the rater on ``campaign``."""
    totals = ctx.store.progress(who, campaign)["total"]
    total = sum(totals.values())
    return f"{totals['done']} of {total} done" + (
        f" · {totals['skipped']} skipped" if totals["skipped"] else ""
    )


def item_interpretation(ctx: AppContext, item, label: str) -> dict:
    """The interpretation shown under blind ``label`` in a campaign item, with its stored grounding."""
    match = next((i for i in item.interpretations if i["label"] == label), None)
    if match is None:
        raise GemError(f"no interpretation labelled {label!r} in this item")
    stored = ctx.store.interpretation(match["id"])
    claims = (stored.get("grounding") or {}).get("claims") or []
    return {"id": match["id"], "label": label, "text": match["text"], "claims": claims}


# -------------------------------------------------------------------------------------------------- admin
def import_campaign(ctx: AppContext, admin, path: str | None, name: str, guidelines: str, kind: str, k: int):
    """Import a campaign JSONL file and assign its items to k raters each; returns a status line."""
    if not path:
        raise GemError("choose a campaign file (.jsonl with {case, interpretations: [{model, text}]} lines)")
    camp = ctx.store.import_campaign(
        admin, path, (name or "").strip(), guidelines_md=guidelines or "", kind=kind, k_raters=int(k)
    )
    added = ctx.store.assign(admin, camp.name)
    return f"Imported {camp.name!r}: {camp.n_items} items ({camp.kind}), {added} new assignments."


def summary_tables(ctx: AppContext, admin, campaign: str | None):
    """(per model x metric table with mean, SD, n, 95% CI; agreement table; per-rater table; raw summary)."""
    import pandas as pd

    summary = ctx.store.summary(admin, campaign or None)
    rows = []
    for model, per_metric in summary["models"].items():
        for m in metrics():
            d = per_metric[m.name]
            ci = d.get("ci95") or [None, None]
            rows.append([model, m.label, d["mean"], d["sd"], d["n"], ci[0], ci[1]])
    table = pd.DataFrame(rows, columns=["model", "metric", "mean", "SD", "n", "CI low", "CI high"]).round(2)
    agree = pd.DataFrame(
        [
            [metric_label(name), e.get("alpha"), e.get("units"), e.get("raters"), e.get("note", "")]
            for name, e in summary["agreement"].items()
        ],
        columns=["metric", "Krippendorff alpha (ordinal)", "items", "raters", "note"],
    ).round(3)
    raters = pd.DataFrame(
        [[r, c["ratings"], c["preferences"]] for r, c in summary["raters"].items()],
        columns=["rater (pseudonym)", "ratings", "preferences"],
    )
    return table, agree, raters, summary


def metric_label(name: str) -> str:
    return next((m.label for m in metrics() if m.name == name), name)


def summary_chart(table):
    """Mean per model and metric with 95% CI error bars (Plotly)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for model, part in table.groupby("model", sort=False):
        fig.add_bar(
            name=str(model),
            x=part["metric"],
            y=part["mean"],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (part["CI high"] - part["mean"]).astype(float).fillna(0),
                "arrayminus": (part["mean"] - part["CI low"]).astype(float).fillna(0),
            },
        )
    fig.update_layout(
        barmode="group",
        yaxis={"range": [0, 5.2], "title": "mean rating (1-5), 95% CI"},
        height=360,
        margin={"l": 50, "r": 10, "t": 20, "b": 80},
        template="plotly_white",
    )
    return fig


def export(ctx: AppContext, admin, fmt: str, campaign: str | None):
    """Write an export under ``<data_dir>/exports`` and return its path (admins only, checked by the store)."""
    from pathlib import Path

    out_dir = Path(ctx.settings.data_dir) / "exports"
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = {"dpo": ".jsonl", "kto": ".jsonl", "csv": ".csv", "hf": ""}.get(fmt, "")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result = ctx.store.export(admin, fmt, out_dir / f"gem-{fmt}-{stamp}{suffix}", campaign=campaign or None)
    path = Path(result.path)
    if path.is_dir():  # the hf format writes a folder: hand it over as a zip
        import shutil

        path = Path(shutil.make_archive(str(path), "zip", path))
    return str(path), f"Exported {result.rows} rows to {path.name}." + (
        f" Notes: {'; '.join(result.notes)}" if result.notes else ""
    )
