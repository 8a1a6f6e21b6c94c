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


NOT_SHOWN = (
    "interpretation {} was not shown in this session; you can rate or compare only interpretations "
    "generated on your screen (Review, Compare) or assigned to you in a campaign"
)


def interpretation_id_of(session: Session, explicit=None):
    """The interpretation to rate: an explicit id (API callers), else the one on the Review screen.

    An explicit id must be one this session was shown (``Session.shown``): nobody rates what they
    never saw.
    """
    if explicit not in (None, "", 0):
        if int(explicit) not in session.shown:
            raise GemError(NOT_SHOWN.format(int(explicit)))
        return int(explicit)
    interp = session.to_rate
    if interp is None:
        raise GemError("interpret an ECG first (Review tab), then rate the interpretation")
    if interp.interpretation_id is None:
        raise GemError(
            "this interpretation was not saved (no ratings store or still streaming); wait for 'Done'"
        )
    return interp.interpretation_id


def scoped_key(who, key: str) -> str:
    """The client's idempotency key, scoped to the rater: another rater's use of it blocks nothing.

    >>> from types import SimpleNamespace as N
    >>> scoped_key(N(id=1), "k") != scoped_key(N(id=2), "k"), len(scoped_key(N(id=1), "k"))
    (True, 64)
    """
    import hashlib

    return hashlib.sha256(f"{who.id}\0{key}".encode()).hexdigest()


def check_shown(session: Session, *interpretation_ids) -> None:
    """``GemError`` unless every id was shown in ``session`` (generated on this tab's screens)."""
    if any(i in (None, "", 0) for i in interpretation_ids):
        raise GemError("generate both interpretations before choosing")
    for interpretation_id in interpretation_ids:
        if int(interpretation_id) not in session.shown:
            raise GemError(NOT_SHOWN.format(interpretation_id))


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
        idempotency_key=scoped_key(who, key),
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


SAME_TEXT = (
    "both interpretations have the same text, so there is nothing to choose between: pick two different "
    "interpreters, or one that samples (GEM or an OpenAI-compatible server) with a temperature above 0"
)


FEWER_THAN_TWO = (
    "fewer than two distinct interpretations of this record: the ones generated now say the same thing "
    "and no interpretation stored for it (another model, an earlier sample, an imported text) differs; "
    "pick two different interpreters, or one that samples (GEM or an OpenAI-compatible server) with a "
    "temperature above 0"
)


def same_text(first: str, second: str) -> bool:
    """Whether two interpretations say the same thing (whitespace aside).

    >>> same_text("Sinus rhythm.", " Sinus  rhythm. "), same_text("Sinus rhythm.", "Sinus tachycardia.")
    (True, False)
    """
    return " ".join(str(first).split()) == " ".join(str(second).split())


def compare_note(ctx: AppContext) -> str:
    """What the Compare tab says up front when this deployment cannot make two distinct readings."""
    from gem_core.backends import available_backends

    names = available_backends(ctx.settings)
    if names == ["measure"]:
        return (
            "Only the measurement-based interpreter is available here, and it reads an ECG the same way "
            "every time: Compare needs two different interpretations, so it pairs its reading with a "
            "different one stored for the same record (e.g. an imported campaign text) when there is one. "
            "Set `GEM_MODEL` (GEM on this machine) or `GEM_OPENAI_BASE_URL` (a served model) to compare "
            "fresh readings."
        )
    return ""


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
    if int(a_id) == int(b_id) or same_text(
        ctx.store.interpretation(int(a_id))["text"], ctx.store.interpretation(int(b_id))["text"]
    ):
        raise GemError(SAME_TEXT)
    if not key:
        raise GemError("missing idempotency key; reload the page and submit again")
    return ctx.store.submit_preference(
        who,
        int(a_id),
        int(b_id),
        CHOICES[choice_label],
        rationale or "",
        seconds,
        idempotency_key=scoped_key(who, key),
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
ALL_RATINGS = "All ratings (every campaign, Rate and Compare tabs)"
KINDS = {
    "rate": "Rate: each interpretation on the seven metrics",
    "compare": "Compare: A/B preference between two interpretations",
}
EXPORT_FORMATS = {
    "dpo": "DPO preference pairs (JSONL + ECG images, zip)",
    "kto": "KTO good/bad answers (JSONL)",
    "csv": "Every rating as a table (CSV)",
    "hf": "DPO pairs as a Hugging Face dataset (zip)",
}
CHART_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")  # Okabe-Ito
ALPHA_GOOD, ALPHA_TENTATIVE = 0.800, 0.667  # Krippendorff (2004): reliable; tentative conclusions only
ALPHA_NOTES = {  # annotations.summary.agreement's notes, short enough for a table cell
    "needs at least two raters rating the same interpretation": "needs 2 raters on one interpretation",
    "every rating has the same value: alpha is undefined": "undefined: every rating is the same",
}


def campaign_filter_choices(ctx: AppContext) -> list[tuple[str, str]]:
    """(label, value) for the Admin campaign pickers: every rating first, then each campaign."""
    return [(ALL_RATINGS, "")] + [(name, name) for name in campaign_choices(ctx)]


def import_campaign(
    ctx: AppContext,
    admin,
    path: str | None,
    name: str,
    guidelines: str,
    kind: str,
    k: int,
    progress=None,
):
    """Import a campaign JSONL file and assign its items to k raters each; returns a status line.

    The name defaults to the file's name. Too few rater accounts for k is refused before anything
    is written, so a failed import leaves no campaign without assignments behind.
    """
    from pathlib import Path

    if not path:
        raise GemError("choose a campaign file (.jsonl with {case, interpretations: [{model, text}]} lines)")
    k = int(k or 0)
    if k < 1:
        raise GemError(f"raters per case must be at least 1; got {k}")
    pool = [r for r in ctx.store.raters(admin) if r.role == "rater" and not r.is_guest]
    if len(pool) < k:
        raise GemError(
            f"{plural(k, 'rater')} per case, but only {plural(len(pool), 'rater account')} in the store; "
            "add raters to the users file (python -m annotations add-user) or lower the number"
        )
    name = (name or "").strip() or Path(path).stem
    camp = ctx.store.import_campaign(
        admin, path, name, guidelines_md=guidelines or "", kind=kind, k_raters=k, progress=progress
    )
    added = ctx.store.assign(admin, camp.name)
    blind = ", ".join(f"{model} as {label}" for model, label in camp.blind_names.items())
    what = "rated on the seven metrics" if camp.kind == "rate" else "compared A/B"
    return (
        f"Imported campaign **{_md(camp.name)}**: {plural(camp.n_items, 'case')}, {what}, each by "
        f"{plural(camp.k_raters, 'rater')}; {plural(added, 'new assignment')}. "
        f"Models are shown blind: {_md(blind)}."
    )


def summary_tables(ctx: AppContext, admin, campaign: str | None, progress: dict | None = None):
    """(per model x metric table with mean, SD, n, 95% CI; agreement table; per-rater table; raw summary).

    The first table is numeric (one row per model and metric, for the chart); the others are for
    reading, with numbers formatted as text. ``progress`` is the campaign's ``store.progress`` when the
    caller already has it (read here otherwise).
    """
    import pandas as pd

    summary = ctx.store.summary(admin, campaign or None)
    rows = []
    for model, per_metric in summary["models"].items():
        for m in metrics():
            d = per_metric[m.name]
            ci = d.get("ci95") or [None, None]
            rows.append([model, m.label, d["mean"], d["sd"], d["n"], ci[0], ci[1]])
    numeric = {"mean": float, "SD": float, "n": int, "CI low": float, "CI high": float}
    table = pd.DataFrame(rows, columns=LONG_COLUMNS).astype(numeric)  # None (n < 2) becomes NaN
    agree = agreement_table(summary)
    if campaign and progress is None:
        progress = ctx.store.progress(admin, campaign)
    return table, agree, raters_table(summary, progress["raters"] if campaign else None), summary


LONG_COLUMNS = ["model", "metric", "mean", "SD", "n", "CI low", "CI high"]
AGREEMENT_COLUMNS = [
    "metric",
    "Krippendorff's α (ordinal)",
    "reading",
    "interpretations",
    "raters",
]
RATER_COLUMNS = ["rater (pseudonym)", "ratings", "A/B preferences"]
PROGRESS_COLUMNS = ["cases assigned", "done", "open", "skipped"]
PREFERENCE_COLUMNS = ["comparison", "outcome", "choices", "share"]


def plural(n: int, word: str) -> str:
    """``n`` and the word, in the plural unless n is 1.

    >>> plural(1, "case"), plural(18, "rating"), plural(2, "A/B choice")
    ('1 case', '18 ratings', '2 A/B choices')
    """
    return f"{n} {word if n == 1 else word + 's'}"


def _num(value, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _md(text: str) -> str:
    from app.present import escape_md

    return escape_md(text)


def metrics_table(summary: dict):
    """Metrics as rows, models as columns; cells ``mean (SD) [95% CI]``, n in the header (as in a paper).

    >>> s = {"models": {"m": {m.name: {"mean": 3.5, "sd": 0.5, "n": 4, "ci95": [3.0, 4.0]} for m in METRICS}}}
    >>> metrics_table(s).iloc[0].tolist()
    ['Analytical Relevance', '3.50 (0.50) [3.00, 4.00]']
    """
    import pandas as pd

    columns, cells = ["metric"], {}
    for model, per_metric in summary.get("models", {}).items():
        ns = {d["n"] for d in per_metric.values()}
        same_n = len(ns) == 1
        columns.append(f"{model} (n = {ns.pop()})" if same_n else model)
        for m in metrics():
            d = per_metric[m.name]
            text = "—"
            if d["n"]:
                ci = f" [{_num(d['ci95'][0])}, {_num(d['ci95'][1])}]" if d.get("ci95") else ""
                text = f"{_num(d['mean'])} ({_num(d['sd'])}){ci}" + ("" if same_n else f" n = {d['n']}")
            cells.setdefault(m.label, []).append(text)
    rows = [[m.label, *cells.get(m.label, [])] for m in metrics()] if len(columns) > 1 else []
    return pd.DataFrame(rows, columns=columns)


def agreement_reading(alpha: float | None, note: str = "") -> str:
    """Krippendorff's reading of an alpha value (or why there is none).

    >>> agreement_reading(0.81), agreement_reading(0.7), agreement_reading(-0.05)
    ('good (≥ 0.800)', 'tentative (0.667–0.800)', 'low (< 0.667)')
    """
    if alpha is None:
        return ALPHA_NOTES.get(note, note) or "not computed"
    if alpha >= ALPHA_GOOD:
        return "good (≥ 0.800)"
    if alpha >= ALPHA_TENTATIVE:
        return "tentative (0.667–0.800)"
    return "low (< 0.667)"


def agreement_table(summary: dict):
    import pandas as pd

    rows = [
        [
            metric_label(name),
            _num(e.get("alpha"), 3),
            agreement_reading(e.get("alpha"), e.get("note", "")),
            e.get("units"),
            e.get("raters"),
        ]
        for name, e in summary.get("agreement", {}).items()
    ]
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)


def raters_table(summary: dict, progress: dict | None = None):
    """Per rater pseudonym: ratings and preferences given; with a campaign, its assignments too.

    A rater with assignments but nothing submitted yet is listed (with zeros).
    """
    import pandas as pd

    counts = summary.get("raters", {})
    names = sorted(set(counts) | set(progress or {}))
    rows = []
    for name in names:
        c = counts.get(name, {"ratings": 0, "preferences": 0})
        row = [name, c["ratings"], c["preferences"]]
        if progress is not None:
            p = progress.get(name, {})
            done, skipped = p.get("done", 0), p.get("skipped", 0)
            open_ = p.get("pending", 0) + p.get("in_progress", 0)
            row += [done + skipped + open_, done, open_, skipped]
        rows.append(row)
    return pd.DataFrame(rows, columns=RATER_COLUMNS + (PROGRESS_COLUMNS if progress is not None else []))


def preferences_table(summary: dict):
    """A/B choices per pair of models (each rater's latest choice per pair of interpretations)."""
    import pandas as pd

    rows = []
    for entry in summary.get("preferences", []):
        first, second = entry["models"]
        outcomes = [
            (f"{first} better", entry.get(f"{first} wins", 0)),
            (f"{second} better", entry.get(f"{second} wins", 0)),
            ("tie", entry.get("tie", 0)),
            ("both bad", entry.get("both_bad", 0)),
        ]
        total = sum(n for _, n in outcomes)
        rows += [
            [f"{first} vs {second}", outcome, n, f"{100 * n / total:.0f}%" if total else "—"]
            for outcome, n in outcomes
        ]
    return pd.DataFrame(rows, columns=PREFERENCE_COLUMNS)


def summary_headline(summary: dict, campaign: str | None, progress: dict | None = None) -> str:
    """One Markdown line: what the tables cover, how many ratings and choices, campaign progress."""
    scope = f"Campaign **{_md(campaign)}**" if campaign else "All ratings"
    raters = len(summary.get("raters", {}))
    models = len(summary.get("models", {}))
    if not summary.get("n_ratings") and not summary.get("n_preferences"):
        line = f"{scope}: no ratings or A/B choices yet. They appear here as raters submit them."
    else:
        line = (
            f"{scope}: {plural(summary['n_ratings'], 'rating')} of {plural(models, 'model')} and "
            f"{plural(summary['n_preferences'], 'A/B choice')}, from {plural(raters, 'rater')}."
        )
    if summary.get("identical_preferences"):
        n = summary["identical_preferences"]
        line += f" Left out: {plural(n, 'A/B choice')} between two identical texts."
    if progress:
        t = progress["total"]
        assigned = sum(t.values())
        line += f" Assignments: {t['done']} of {assigned} done" + (
            f", {t['skipped']} skipped." if t["skipped"] else "."
        )
    return line


def metric_label(name: str) -> str:
    return next((m.label for m in metrics() if m.name == name), name)


SCALE_FLOOR = 1  # the lowest score of the 1-5 scale: a bar's length is its distance from it


def summary_chart(table):
    """Mean per model and metric with bootstrap 95% CI error bars (Plotly); a note when empty."""
    import html

    import pandas as pd
    import plotly.graph_objects as go

    fig = go.Figure()
    if table.empty:
        fig.add_annotation(
            text="No ratings yet", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font_size=16
        )
        fig.update_layout(
            xaxis_visible=False, yaxis_visible=False, height=200, template="plotly_white", margin={"t": 10}
        )
        return fig
    for i, (name, part) in enumerate(table.groupby("model", sort=False)):
        model = html.escape(str(name))  # Plotly reads tags in text: a model name is shown as text
        hover = [
            f"<b>{model}</b> · {r['metric']}<br>mean {r['mean']:.2f}"
            + (f" (SD {r['SD']:.2f})" if pd.notna(r["SD"]) else "")
            + (f"<br>95% CI {r['CI low']:.2f}–{r['CI high']:.2f}" if pd.notna(r["CI low"]) else "")
            + f"<br>n = {r['n']}"
            for r in part.to_dict("records")
        ]
        ns = sorted(set(part["n"]))
        fig.add_bar(
            name=f"{model} (n = {ns[0]})" if len(ns) == 1 else model,
            x=[label.replace(" ", "<br>", 1) for label in part["metric"]],
            y=part["mean"] - SCALE_FLOOR,  # bars rise from 1, the scale's lowest score, not from 0
            base=SCALE_FLOOR,
            marker_color=CHART_COLORS[i % len(CHART_COLORS)],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": (part["CI high"] - part["mean"]).astype(float).fillna(0),
                "arrayminus": (part["mean"] - part["CI low"]).astype(float).fillna(0),
                "color": "#333",
                "thickness": 1.5,
                "width": 6,
            },
            hovertext=hover,
            hoverinfo="text",
        )
    fig.update_layout(
        barmode="group",
        title={"text": "Mean rating per metric · error bars: bootstrap 95% CI", "font_size": 14},
        yaxis={"range": [SCALE_FLOOR, 5.25], "dtick": 1, "title": "mean rating (1 = worst, 5 = best)"},
        legend={
            "title": "Model",
            "orientation": "h",
            "y": 1.02,
            "yanchor": "bottom",
            "x": 1,
            "xanchor": "right",
        },
        height=400,
        margin={"l": 60, "r": 10, "t": 60, "b": 60},
        template="plotly_white",
    )
    return fig


EXPORT_NAME = r"gem-(?:dpo|kto|csv|hf)-\d{8}-\d{6}"  # what an export's file name starts with


def export_dir(ctx: AppContext, admin):
    """``<data_dir>/exports/<admin>-<random>``: a 0700 folder per admin under an unguessable name.

    Exports hold every rater's comments: their files are 0600, their folder cannot be guessed from
    the admin's name, and ``remove_old_exports`` deletes them after ``GEM_EXPORT_TTL_S``.
    """
    import hashlib
    import os
    import secrets
    from pathlib import Path

    root = Path(ctx.settings.data_dir) / "exports"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    remove_old_exports(root, ctx.settings.export_ttl_s)
    owner = hashlib.sha256(f"{admin.id}:{admin.username}".encode()).hexdigest()[:12]
    folder = root / f"{owner}-{secrets.token_urlsafe(18)}"
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)  # whatever the umask
    return folder


def remove_old_exports(root, ttl_s: float) -> int:
    """Delete export folders (and loose files) under ``root`` older than ``ttl_s``; returns how many."""
    import shutil

    cutoff, removed = time.time() - ttl_s, 0
    for entry in list(root.iterdir()) if root.is_dir() else []:
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
                removed += 1
        except OSError:  # removed meanwhile by another export
            continue
    return removed


def export(ctx: AppContext, admin, fmt: str, campaign: str | None):
    """Write an export under ``<data_dir>/exports`` (``export_dir``); returns (path or None, status).

    DPO, KTO and HF exports come as one zip with their ECG images and signals (paths inside relative to
    the zip's root), so the download works on another machine; CSV is a single file. Files are 0600.
    """
    import os
    import shutil
    from pathlib import Path

    if fmt not in EXPORT_FORMATS:
        raise GemError(f"choose an export format: {', '.join(EXPORT_FORMATS)}")
    out_dir = export_dir(ctx, admin)
    suffix = {"dpo": ".jsonl", "kto": ".jsonl", "csv": ".csv", "hf": ""}[fmt]
    bundle = fmt in ("dpo", "kto", "hf")  # written into a folder of their own, handed over as its zip
    base = stem = f"gem-{fmt}-{time.strftime('%Y%m%d-%H%M%S')}"
    for n in range(2, 1000):  # two exports within one second: keep both
        if not any((out_dir / f"{stem}{end}").exists() for end in ("", suffix, ".zip")):
            break
        stem = f"{base}-{n}"
    folder = out_dir / stem if bundle else out_dir
    folder.mkdir(exist_ok=True)
    options = {"image_root": folder} if bundle else {}
    result = ctx.store.export(admin, fmt, folder / f"{stem}{suffix}", campaign=campaign or None, **options)
    scope = f"campaign {_md(campaign)}" if campaign else "all ratings"
    notes = f" Notes: {_md('; '.join(result.notes))}." if result.notes else ""
    if result.rows == 0:  # nothing to hand over: leave no empty file behind
        shutil.rmtree(out_dir, ignore_errors=True)
        return None, f"Nothing to export ({scope}): {EMPTY_EXPORT[fmt]}.{notes}"
    path = Path(shutil.make_archive(str(folder), "zip", folder)) if bundle else Path(result.path)
    os.chmod(path, 0o600)
    images = f" with {plural(result.images, 'ECG image')}" if result.images else ""
    return str(path), (
        f"Exported {plural(result.rows, EXPORT_ROWS[fmt])}{images} ({scope}) to {_md(path.name)}. "
        f"Raters appear by pseudonym only.{notes}"
    )


EXPORT_ROWS = {"dpo": "preference pair", "hf": "preference pair", "kto": "labelled answer", "csv": "rating"}
EMPTY_EXPORT = {
    "dpo": "no A/B choice has a majority and no two answers to one ECG differ by 1 point or more in "
    "Overall Satisfaction",
    "kto": "no answer has a mean Overall Satisfaction of 4 or more, or of 2 or less",
    "csv": "there are no ratings yet",
}
EMPTY_EXPORT["hf"] = EMPTY_EXPORT["dpo"]
