"""Calls into the other packages, shaped for the components (tables, highlighted-text tokens, figures).

Every function here either delegates to ``gem_core`` / ``viewer`` / ``annotations`` or turns their
results into what a Gradio component displays; none re-implements their logic.
"""

from __future__ import annotations

import logging
import math
import threading

import pandas as pd

from app.state import AppContext, Session
from gem_core import grounding
from gem_core.errors import GemError
from gem_core.render import ecg_image
from gem_core.samples import default_sources, load_sample
from viewer import claim_figure, ecg_figure, highlights_from_claims, update_highlights

log = logging.getLogger(__name__)

PLOT_WIDTH_PX = 900  # about the tracing column on a 1600-1920 px screen; sets the paper height
VERDICT_COLORS = {"supported": "#2e7d32", "contradicted": "#c62828", "not_checkable": "#9e9e9e"}
VERDICT_LABELS = {"supported": "supported", "contradicted": "contradicted", "not_checkable": "not checkable"}
VERDICT_MARKS = {"supported": "✓", "contradicted": "✗", "not_checkable": "?"}  # readable without colour
SELECTED = "selected claim"
CLAIM_COLUMNS = ["#", "verdict", "claim", "leads", "measured"]
EVIDENCE_COLUMNS = ["lead", "from (ms)", "to (ms)", "feature", "measured", "unit"]
# Per lead, the lead's own values (medians over its dominant beats); the intervals shared by every lead
# (HR, PR, QRS, QT/QTc) are in the global table only, not repeated in twelve rows.
PER_LEAD_FEATURES = (
    ("qrs_amplitude", "QRS p-p mV"),
    ("q_amplitude", "Q mV"),
    ("q_duration", "Q ms"),
    ("r_amplitude", "R mV"),
    ("s_amplitude", "S mV"),
    ("r_prime_amplitude", "R' mV"),
    ("st_j", "J mV"),  # where ST elevation is judged (gem_core.criteria.st_elevated)
    ("st_deviation", "ST mV"),  # at J+60 ms, J+40 ms above 100 bpm (the global table says which)
    ("st_slope", "ST slope mV/s"),
    ("t_amplitude", "T mV"),
)
_DECIMALS = {"q_duration": 0, "st_slope": 1}


# ----------------------------------------------------------------------------------------------- samples
def sources(ctx: AppContext) -> list:
    """The deployment's sample sources (``gem_core.samples.default_sources``), built once.

    A setting that names no usable folder leaves that source out: the app starts with the others,
    logs a warning and keeps the message in ``ctx.samples_error`` for the page to show.
    """
    if "sources" not in ctx.cache:
        problems: list[str] = []
        ctx.cache["sources"] = default_sources(ctx.settings, problems=problems)
        for problem in problems:
            log.warning("sample source unavailable: %s", problem)
        ctx.samples_error = "; ".join(problems)
    return ctx.cache["sources"]


def samples(ctx: AppContext) -> list[dict]:
    """The gallery's samples as ``[{id, label, caption}]``, default source first."""
    if "samples" not in ctx.cache:
        found = []
        for source in sources(ctx):
            try:
                found += [_sample_dict(info) for info in source.list()]
            except GemError as exc:  # one unreadable source must not empty the gallery
                log.warning("sample source %s skipped: %s", getattr(source, "name", source), exc)
        ctx.cache["samples"] = found
    return ctx.cache["samples"]


GALLERY_CAPTION_CHARS = 60  # two lines under a thumbnail; the picker's label has the rest


def _sample_dict(info) -> dict:
    """The picker's label (title and labels) and the gallery's caption (the title, whole when short)."""
    labels = ", ".join(info.labels)
    title = info.title
    caption = title if len(title) <= GALLERY_CAPTION_CHARS else title[: GALLERY_CAPTION_CHARS - 1] + "…"
    return {"id": info.id, "label": title + (f" — {labels}" if labels else ""), "caption": caption}


def load_sample_ecg(ctx: AppContext, sample_id: str):
    return load_sample(sample_id, sources(ctx))


def thumbnail(ctx: AppContext, sample_id: str):
    """A small rendered image of a sample for the gallery (cached per app)."""
    key = ("thumb", sample_id)
    if key not in ctx.cache:
        ctx.cache[key] = ecg_image(load_sample_ecg(ctx, sample_id), layout="3x4", width=360, height=270)
    return ctx.cache[key]


# ------------------------------------------------------------------------------------------ measurements
def _fmt(value, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:.{digits}f}"
    return str(value)


def _unit(value, unit: str) -> str:
    """A value with its unit, or the dash alone where it was not measured (not "— ms")."""
    text = _fmt(value)
    return text if text == "—" else text + unit


def global_table(measurements) -> pd.DataFrame:
    """Global measurements as (measurement, value) rows, in the order a reader scans them."""
    from gem_core.criteria import qtc_formula

    if measurements is None:
        return pd.DataFrame(columns=["measurement", "value"])
    g = measurements.global_values
    formula = qtc_formula(g.get("heart_rate_bpm"))
    rate_qtc = g.get("qtc_ms") if formula == "Bazett" else g.get("qtc_fridericia_ms")
    st_point = g.get("st_point_ms")
    rows = [
        ("Heart rate", _unit(g.get("heart_rate_bpm"), " bpm")),
        ("RR mean (SD)", f"{_fmt(g.get('rr_ms'))} ({_fmt(g.get('rr_sd_ms'))}) ms"),
        ("P wave", _unit(g.get("p_ms"), " ms")),
        ("PR", _unit(g.get("pr_ms"), " ms")),
        ("QRS", _unit(g.get("qrs_ms"), " ms")),
        ("QT", _unit(g.get("qt_ms"), " ms")),
        (f"QTc ({formula}, for this rate)", _unit(rate_qtc, " ms")),
        # Bazett's beside the rate's own correction; where that is Bazett's, one row, not two alike
        *([] if formula == "Bazett" else [("QTc (Bazett)", _unit(g.get("qtc_ms"), " ms"))]),
        ("P axis", _unit(g.get("p_axis_deg"), "°")),
        ("QRS axis", _unit(g.get("qrs_axis_deg"), "°")),
        ("T axis", _unit(g.get("t_axis_deg"), "°")),
        ("ST read at", f"J+{_fmt(st_point)} ms" if st_point else "—"),
        ("P-wave fraction", _fmt(g.get("p_wave_fraction"), 2)),
        ("Beats", _fmt(g.get("n_beats"))),
        ("Premature beats", str(len(measurements.premature_beats))),
    ]
    if g.get("dissociated_atrial_rate_bpm") is not None:  # complete AV block: the atria at their own rate
        rows.insert(1, ("Atrial rate (dissociated)", _fmt(g["dissociated_atrial_rate_bpm"]) + " /min"))
    if g.get("flutter_conduction"):  # atrial flutter locked at n:1: the atrial rate is n times the QRS rate
        rate = g.get("heart_rate_bpm")
        atrial = "" if rate is None else f", atria at about {_fmt(rate * g['flutter_conduction'])} /min"
        rows.insert(1, ("Atrial flutter", f"{g['flutter_conduction']}:1 conduction{atrial}"))
    if g.get("blocked_p_wave_ms") is not None:  # 2:1 AV block: the second, non-conducted P wave
        rows.insert(4, ("Non-conducted P wave", f"{_fmt(g['blocked_p_wave_ms'])} ms before the QRS onset"))
    if not measurements.enough_beats and measurements.message:
        rows.insert(0, ("Warning", measurements.message))
    return pd.DataFrame(rows, columns=["measurement", "value"])


def lead_table(measurements) -> pd.DataFrame:
    """Each lead's own values: medians over its dominant beats (premature beats left out) of the QRS
    amplitudes, the Q wave, R' (terminal R), the J point, ST level and slope and T amplitude, with the
    lead's quality verdict."""
    from gem_core.rules import lead_median

    columns = ["lead", "quality", *[label for _, label in PER_LEAD_FEATURES]]
    if measurements is None:
        return pd.DataFrame(columns=columns)
    rows = []
    for name, lm in measurements.leads.items():
        values = [_fmt(lead_median(measurements, name, f), _DECIMALS.get(f, 2)) for f, _ in PER_LEAD_FEATURES]
        rows.append([name, lm.quality, *values])
    return pd.DataFrame(rows, columns=columns)


def measure_status(measurements) -> str:
    """One status line after measuring: beats found, or why measuring fell short."""
    if measurements is None:
        return ""
    if not measurements.enough_beats:
        return f"⚠ {escape_md(measurements.message or 'not enough beats to measure')}"
    noisy = [lead for lead, lm in measurements.leads.items() if lm.quality != "ok"]
    note = f" · poor quality: {', '.join(noisy)}" if noisy else ""
    return f"Measured {len(measurements.r_peaks_ms)} beats{note}."


def record_info(session: Session) -> str:
    """A one-line Markdown header for the loaded record (escaped: metadata can come from any file)."""
    if not session.loaded:
        return "No record loaded."
    ecg = session.ecg
    meta = ecg.metadata or {}
    bits = [f"**{escape_md(ecg.record_id)}**", f"{ecg.fs:g} Hz", f"{ecg.duration_ms / 1000:.1f} s"]
    for key in ("age", "sex"):
        if meta.get(key) not in (None, ""):
            bits.append(f"{key} {escape_md(str(meta[key]))}")
    labels = meta.get("labels") or meta.get("dx_names")
    if labels:
        bits.append(
            "labels: " + escape_md(", ".join(map(str, labels)) if isinstance(labels, list) else str(labels))
        )
    warnings = (ecg.report or {}).get("warnings") or []
    text = " · ".join(bits)
    cart = source_reading_md(meta.get("source_reading"))
    if cart:
        text += "\n\n" + cart
    if warnings:
        text += "\n\n⚠ " + escape_md("; ".join(map(str, warnings)))
    return text


_CART_MEASURES = (
    ("heart_rate_bpm", "HR", "bpm"),
    ("pr_ms", "PR", "ms"),
    ("qrs_ms", "QRS", "ms"),
    ("qt_ms", "QT", "ms"),
    ("qtc_ms", "QTc", "ms"),
    ("qrs_axis_deg", "QRS axis", "°"),
)


def source_reading_md(reading: dict | None) -> str:
    """The cart's own reading of an exported ECG (``metadata["source_reading"]``) as one Markdown line,
    shown beside GEM's: its statements and intervals, escaped (they come from the file)."""
    if not reading:
        return ""
    values = reading.get("measurements") or {}
    measures = [f"{label} {_fmt(values[key])} {unit}" for key, label, unit in _CART_MEASURES if key in values]
    statements = "; ".join(map(str, reading.get("statements") or []))
    body = " · ".join(bit for bit in (statements, ", ".join(measures)) if bit)
    if not body:
        return ""
    return f"**Cart's reading** ({escape_md(str(reading.get('system', 'source file')))}): {escape_md(body)}"


def escape_md(text: str) -> str:
    """Escape Markdown and HTML special characters so file metadata renders as plain text.

    >>> escape_md("<img src=x> *a*")
    '&lt;img src=x&gt; \\\\*a\\\\*'
    """
    import html

    out = html.escape(str(text), quote=True)
    for ch in "\\`*_{}[]()#+-!|~":
        out = out.replace(ch, "\\" + ch)
    return out


# ----------------------------------------------------------------------------------------------- viewer
def ecg_plot(session: Session, layout: str, beats: bool, claims: list[dict]):
    """The whole tracing (``viewer.ecg_figure``, the page at ``session.start_ms``) with ``claims``'
    evidence highlighted."""
    fig = ecg_figure(
        session.ecg,
        layout=layout,
        highlights=highlights_for(claims),
        beats=session.measurements if beats else None,
        start_ms=session.start_ms,
        width=PLOT_WIDTH_PX,
    )
    # keep 25 mm/s : 10 mm/mV by shrinking the plot area, not by widening the ranges past the paper
    fig.update_xaxes(constrain="domain")
    fig.update_yaxes(constrain="domain")
    return fig


def claim_plot(session: Session, claim: dict, beats: bool):
    """The close-up of one claim (``viewer.claim_figure``): the leads it names, stacked, a beat of context
    each side at the record's median RR; None when the claim has no evidence on the tracing."""
    highlights = highlights_for([claim])
    if not highlights:
        return None
    rr = (session.measurements.global_values or {}).get("rr_ms") if session.measurements else None
    fig = claim_figure(
        session.ecg,
        highlights,
        beats=session.measurements if beats else None,
        rr_ms=rr,
        width=PLOT_WIDTH_PX,
    )
    fig.update_xaxes(constrain="domain")
    fig.update_yaxes(constrain="domain")
    return fig


def reading_figure(ecg, claims: list[dict], layout: str = "12x1"):
    """The whole tracing with every claim's evidence highlighted: what a rater rates a reading against
    (Rate, Compare and campaign items; the same viewer as Review)."""
    return with_claim_highlights(ecg_plot(Session(ecg=ecg), layout, False, []), claims)


def with_claim_highlights(fig, claims: list[dict]):
    """``fig`` showing every claim's evidence (``viewer.update_highlights``), not zoomed."""
    if not claims:
        return fig
    return update_highlights(fig, highlights_for(claims))


def highlights_for(claims: list[dict]) -> list:
    if not claims:
        return []
    return list(highlights_from_claims(claims))


# --------------------------------------------------------------------------------------- backends/ground
def backend_choices(ctx: AppContext) -> list[tuple[str, str]]:
    """(label, name) for each backend this deployment offers; labels say plainly which are not GEM."""
    from gem_core.backends import available_backends

    labels = {
        "measure": "measurement-based interpreter (rule-based, not GEM)",
        "gem": "GEM (local model)",
        "openai": f"OpenAI-compatible server ({ctx.settings.openai_model})",
    }
    return [(labels.get(n, n), n) for n in available_backends(ctx.settings)]


def backend(ctx: AppContext, name: str, progress=None):
    """The named backend, built once per app (model weights load on first use, not at startup).

    Each backend is built under its own lock: while GEM's weights load (minutes), the other
    backends and every other handler keep working. ``progress`` hears the loading steps.
    """
    from gem_core.backends import get_backend

    with ctx.lock:
        if name in ctx.backends:
            return ctx.backends[name]
        building = ctx.backend_locks.setdefault(name, threading.Lock())
    with building:
        if name not in ctx.backends:  # another request may have built it while this one waited
            ctx.backends[name] = get_backend(name, ctx.settings, progress=progress)
        return ctx.backends[name]


def start_backend(ctx: AppContext, name: str) -> tuple[threading.Thread, list[str], list[BaseException]]:
    """Build the named backend in a thread; returns it with the progress messages and errors so far."""
    messages: list[str] = []
    errors: list[BaseException] = []

    def build():
        try:
            backend(ctx, name, progress=messages.append)
        except BaseException as exc:  # reported to the caller, who shows it
            errors.append(exc)

    thread = threading.Thread(target=build, name=f"load-{name}", daemon=True)
    thread.start()
    return thread, messages, errors


def ground(text: str, measurements, final: bool = False) -> list[dict]:
    """Claims of ``text`` checked against the measurements (``gem_core.grounding.ground``).

    ``final=False`` while text streams in (finished sentences only); ``final=True`` once the answer
    is complete, so an unterminated last sentence is checked too.
    """
    if not text.strip() or measurements is None:
        return []
    result = grounding.ground(text, measurements, final=final)
    return list(result["claims"] if isinstance(result, dict) else result)


def text_spans(text: str, claims: list[dict]) -> list[tuple[str, str | None]]:
    """Split ``text`` into (segment, claim id or None) along the claims' character spans, in order.

    >>> text_spans("Sinus rhythm. QRS 90 ms.", [{"id": "c1", "char_start": 14, "char_end": 24}])
    [('Sinus rhythm. ', None), ('QRS 90 ms.', 'c1')]
    """
    out, pos = [], 0
    for c in sorted(claims, key=lambda c: (c["char_start"], c["char_end"])):
        start, end = int(c["char_start"]), int(c["char_end"])
        if start < pos or end <= start or end > len(text):
            continue  # overlapping or out of range: leave as plain text rather than duplicate it
        if start > pos:
            out.append((text[pos:start], None))
        out.append((text[start:end], str(c["id"])))
        pos = end
    if pos < len(text):
        out.append((text[pos:], None))
    return out


def highlighted_text(
    text: str, claims: list[dict], selected: str | None = None
) -> list[tuple[str, str | None]]:
    """Tokens for ``gr.HighlightedText``: each claim's text labelled with its verdict.

    The component renders text as text (never as HTML), so model output cannot inject markup.
    """
    verdicts = {str(c["id"]): c.get("verdict", "not_checkable") for c in claims}
    tokens = []
    for segment, claim_id in text_spans(text, claims):
        if claim_id is None:
            tokens.append((segment, None))
        else:
            label = VERDICT_LABELS.get(verdicts[claim_id], verdicts[claim_id])
            tokens.append((segment, SELECTED if claim_id == selected else label))
    return tokens


def color_map() -> dict[str, str]:
    return {**{VERDICT_LABELS[k]: v for k, v in VERDICT_COLORS.items()}, SELECTED: "#1565c0"}


def claims_frame(claims: list[dict]) -> pd.DataFrame:
    rows = [
        [
            i + 1,
            f"{VERDICT_MARKS.get(c.get('verdict'), '')} {VERDICT_LABELS.get(c.get('verdict'), c.get('verdict'))}",
            c.get("text", ""),
            ", ".join(c.get("leads") or []),
            _measured(c.get("measured")),
        ]
        for i, c in enumerate(claims)
    ]
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


MEASURED_CHARS = 60  # the claims table shows a summary; the evidence table has every value


def _measured(measured) -> str:
    """What the signal shows for a claim: grounding's "text: <claimed>; measured: <found>" without the
    claimed half (the claim column has it).

    >>> _measured("text: heart rate 121 bpm; measured: 118 bpm")
    '118 bpm'
    """
    if measured is None:
        return ""
    if isinstance(measured, dict):
        text = ", ".join(f"{k}: {_fmt(v, 2) if isinstance(v, float) else v}" for k, v in measured.items())
    else:
        text = str(measured)
        text = (
            text.split("; measured: ", 1)[1] if text.startswith("text: ") and "; measured: " in text else text
        )
    return text if len(text) <= MEASURED_CHARS else text[: MEASURED_CHARS - 1] + "…"


def evidence_frame(claim: dict | None) -> pd.DataFrame:
    rows = [
        [
            e.get("lead"),
            _fmt(e.get("t_start_ms")),
            _fmt(e.get("t_end_ms")),
            e.get("feature") or e.get("measurement_name") or "",
            _fmt(e.get("value"), 2) if isinstance(e.get("value"), float) else _fmt(e.get("value")),
            e.get("unit") or "",
        ]
        for e in (claim or {}).get("evidence", [])
    ]
    return pd.DataFrame(rows, columns=EVIDENCE_COLUMNS)


# ------------------------------------------------------------------------------------------------- store
def store_case(ctx: AppContext, session: Session):
    """Record the loaded ECG as a case in the store (None when no store is configured)."""
    if ctx.store is None:
        return None
    return ctx.store.add_case(session.ecg, source=session.sample_id)


def store_interpretation(ctx: AppContext, session: Session):
    """Save the finished interpretation with its grounding; None when no store is configured."""
    interp = session.interpretation
    if ctx.store is None or interp is None or not interp.text.strip():
        return None
    if session.case_id is None:
        session.case_id = store_case(ctx, session)
    try:
        return ctx.store.add_interpretation(
            session.case_id,
            interp.backend,
            interp.text,
            question=interp.question,
            params=interp.params,
            grounding={"claims": interp.claims},
        )
    except GemError:
        raise
    except Exception:  # the reading stays on screen; the rating step will say it was not saved
        log.exception("could not store the interpretation")
        return None
