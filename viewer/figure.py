"""The interactive ECG: a Plotly figure on ECG paper with claim highlights and beat markers.

Design: one figure, ONE x-axis (record time, ms) and ONE y-axis (mV, each row shifted down by its
baseline), using the panel layout of ``gem_core.render`` so a span lands where it does in the model's
image. Why not one subplot per lead:
- true paper aspect is a single constraint (``yaxis.scaleanchor="x"``, ``scaleratio=400``: 1 mV and
  400 ms are both 10 mm), kept by Plotly at any figure size and zoom;
- zoom and pan are linked by construction (one pair of axes), and zooming works like a magnifier over
  the sheet instead of clipping each lead inside its own box;
- the pink/red grid is the axes' own major/minor gridlines, continuous over the sheet like real paper;
- the JSON stays small: one axis pair, traces sampled evenly (``x0``/``dx``, no x arrays), y in float32.
The price is that y holds the offset, so hover reads the true amplitude from ``customdata`` (int16 µV:
half the bytes of float32 mV, same precision as the signal's 3 decimals).

>>> from gem_core.samples import synthetic_ecg
>>> fig = ecg_figure(synthetic_ecg(), "3x4+II",
...                  highlights=[{"lead": "V1", "t_start_ms": 6000, "t_end_ms": 6400,
...                               "verdict": "supported", "text": "rS in V1", "claim_id": "c1"}])
>>> [s.name for s in fig.layout.shapes]
['highlight:c1']
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable

import numpy as np
import plotly.graph_objects as go

from gem_core.ecg import ECG, LEADS
from gem_core.errors import GemError
from gem_core.features import Measurements
from gem_core.render import (
    CAL_MARGIN_MS,
    CAL_PULSE,
    MAJOR_MS,
    MAJOR_MV,
    MINOR_MS,
    MINOR_MV,
    MS_PER_MV,
    RHYTHM,
    RIGHT_MARGIN_MS,
    STANDARD_WINDOW_MS,
    Panel,
    layout_panels,
    paper_extent,
    span_leads,
    span_panels,
)
from viewer.highlights import VERDICT_STYLE, check_highlight

VIEWER_LAYOUTS = ("12x1", "3x4+II", "3x4", "6x2")
SVG_MAX_POINTS = 150_000  # samples in a figure drawn as SVG; more (a long record on one sheet): WebGL
# Hover amplitude in mV from int16 µV (half the bytes of float32 mV; plotly's hover format cannot
# divide): "+05," groups the µV digits in thousands, zero-filled, with a sign ("+1,230", "-0,050"), and
# the figure's separators swap decimal point and thousands mark, so it reads "+1.230" mV. No other
# number in the figure uses grouping or decimals (times are "%{x:.0f}", axis labels are off).
HOVER_MV = "%{customdata:+05,}"
SEPARATORS = ",."  # decimal mark, thousands mark (see HOVER_MV)
MINOR_GRID = "#f6caca"
MAJOR_GRID = "#e58a8a"
TRACE_COLOR = "#111111"
HIGHLIGHT_OPACITY = 0.28
HIGHLIGHT_INSET_MV = 2 * MINOR_MV  # 2 mm between the bands of adjacent rows
HIGHLIGHT_PREFIX = "highlight:"
# What the live view states about itself, as the printed image does: the paper speed and gain, and
# that the samples are drawn as recorded (measurements filter their own copy: features.clean_signal).
SETTINGS_NOTE = "25 mm/s · 10 mm/mV · no filter (as recorded)"
BEAT_MARKER_SIZE = 9  # px: visible over a 1.2 px trace at any zoom
# Claim views: this many median RR intervals of tracing each side of the evidence (a whole beat at
# least), and paper above/below each lead's largest deflection so a complex is never clipped.
CLAIM_CONTEXT_RR = 1.2
CLAIM_DEFAULT_RR_MS = 1000.0  # when the rate is unknown
CLAIM_PAD_MV = 0.3
# Beat markers: fiducial -> (label, colour, symbol).
BEAT_MARKS = {
    "p_onset_ms": ("P onset", "#0072B2", "triangle-right"),
    "p_offset_ms": ("P offset", "#0072B2", "triangle-left"),
    "qrs_onset_ms": ("QRS onset", "#CC79A7", "triangle-right"),
    "qrs_offset_ms": ("QRS offset", "#CC79A7", "triangle-left"),
    "t_onset_ms": ("T onset", "#009E73", "triangle-right"),
    "t_offset_ms": ("T offset", "#009E73", "triangle-left"),
}


def _panels(ecg_duration_ms: float, layout: str, start_ms: float, window_ms: float | None):
    if layout not in VIEWER_LAYOUTS:
        raise GemError(f"unknown viewer layout {layout!r}; choose one of {', '.join(VIEWER_LAYOUTS)}")
    if start_ms >= ecg_duration_ms:
        raise GemError(
            f"start_ms={start_ms:g} is past the end of the record ({ecg_duration_ms:g} ms); page within it"
        )
    return layout_panels(layout, float(start_ms), window_ms, float(ecg_duration_ms))


def _sample_range(ecg: ECG, panel: Panel) -> tuple[int, int]:
    i0 = max(math.ceil(panel.t_start_ms * ecg.fs / 1000.0 - 1e-9), 0)
    i1 = min(math.ceil(panel.t_end_ms * ecg.fs / 1000.0 - 1e-9), ecg.n_samples)
    return i0, i1


def trace_type(n_points: int) -> str:
    """SVG ("scatter") up to ``SVG_MAX_POINTS`` samples in the figure, WebGL ("scattergl") above.

    A 10 s page (60 000 samples in 12x1) draws in ~0.1 s as SVG, where WebGL without a GPU
    (software rendering: a VM, a remote desktop, a locked-down hospital PC, headless Chromium) took
    1.7-2.5 s for the same figure; SVG also prints and exports sharply. A whole long record on one
    sheet is where WebGL's speed is needed.
    """
    return "scatter" if n_points <= SVG_MAX_POINTS else "scattergl"


def _lead_trace(ecg: ECG, panel: Panel, kind: str) -> dict | None:
    """One panel's samples: evenly spaced, so x is x0 + i*dx and never stored."""
    i0, i1 = _sample_range(ecg, panel)
    if i1 - i0 < 1:
        return None
    mv = np.nan_to_num(ecg.signal[LEADS.index(panel.lead)][i0:i1])
    return {
        "type": kind,
        "x0": i0 * 1000.0 / ecg.fs,
        "dx": 1000.0 / ecg.fs,
        "y": (mv + np.float32(panel.baseline_mv)).astype(np.float32),
        "customdata": np.clip(np.round(mv * 1000.0), -32767, 32767).astype(np.int16),
        "mode": "lines",
        "line": {"color": TRACE_COLOR, "width": 1.2},
        "name": panel.lead,
        "hovertemplate": f"<b>{panel.lead}</b>  %{{x:.0f}} ms  {HOVER_MV} mV<extra></extra>",
        "showlegend": False,
        "meta": {"role": "ecg", "lead": panel.lead, "rhythm": panel.rhythm},
    }


def _paper_marks(panels: tuple[Panel, ...]) -> dict:
    """Calibration pulses (1 mV, 200 ms) at each row start and bars between 3x4 columns."""
    x0 = min(p.t_start_ms for p in panels) - CAL_MARGIN_MS + 60.0
    xs: list = []
    ys: list = []
    for baseline in sorted({p.baseline_mv for p in panels}, reverse=True):
        xs += [x0 + t for t, _ in CAL_PULSE] + [None]
        ys += [baseline + v for _, v in CAL_PULSE] + [None]
    for p in panels:
        if p.column > 0:
            xs += [p.t_start_ms, p.t_start_ms, None]
            ys += [p.baseline_mv - 0.3, p.baseline_mv + 0.3, None]
    return {
        "type": "scatter",
        "x": xs,
        "y": ys,
        "mode": "lines",
        "line": {"color": TRACE_COLOR, "width": 1.5},
        "hoverinfo": "skip",
        "showlegend": False,
        "name": "calibration",
        "meta": {"role": "paper"},
    }


def _settings_note(extent: tuple[float, float, float, float], text: str = SETTINGS_NOTE) -> dict:
    """The paper speed, gain and filter, bottom left on the sheet (as on the printed image)."""
    x0, y0, _, _ = extent
    return {
        "x": x0 + 2 * MINOR_MS,
        "y": y0 + MINOR_MV,
        "text": text,
        "showarrow": False,
        "xanchor": "left",
        "yanchor": "bottom",
        "font": {"size": 11, "color": TRACE_COLOR},
        "name": "settings",
    }


def _labels(panels: tuple[Panel, ...], start_ms: float) -> list[dict]:
    notes = [
        {
            "x": p.t_start_ms + 2 * MINOR_MS,
            "y": p.baseline_mv + 0.8 * p.half_height_mv,
            "text": f"<b>{p.lead}</b>",
            "showarrow": False,
            "xanchor": "left",
            "yanchor": "bottom",
            "font": {"size": 13, "color": TRACE_COLOR},
            "name": f"lead:{p.lead}",
        }
        for p in panels
    ]
    return notes


def _axis(dtick: float, minor: float, **extra) -> dict:
    return {
        "tick0": 0,
        "dtick": dtick,
        "showgrid": True,
        "gridcolor": MAJOR_GRID,
        "gridwidth": 1,
        "minor": {"tick0": 0, "dtick": minor, "showgrid": True, "gridcolor": MINOR_GRID, "gridwidth": 0.5},
        "zeroline": False,
        "showticklabels": False,
        "ticks": "",
        "showline": False,
        **extra,
    }


def ecg_figure(
    ecg: ECG,
    layout: str = "3x4+II",
    highlights: Iterable[dict] = (),
    beats: Measurements | None = None,
    *,
    start_ms: float = 0.0,
    window_ms: float | None = STANDARD_WINDOW_MS,
    width: int | None = None,
    height: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """The ECG on paper as an interactive Plotly figure.

    ``layout``: "12x1", "3x4+II" (2.5 s per column and a full lead II strip), "3x4" or "6x2".
    ``start_ms``/``window_ms`` choose the page of a long record (``window_ms=None``: the whole record
    on one page, first 10 s in view, pan for the rest). ``highlights``: dicts as made by
    ``highlights_from_claims``. ``beats``: ``Measurements`` whose P/QRS/T onsets and offsets are marked.
    Without ``width`` the figure fills its container (Plotly keeps the paper aspect by showing more
    paper); without ``height`` it is as tall as the paper needs at ``width`` (or at 1100 px).
    """
    if not isinstance(ecg, ECG):
        raise GemError(f"ecg_figure needs an ECG; got {type(ecg).__name__}")
    panels = _panels(ecg.duration_ms, layout, start_ms, window_ms)
    x0, y0, x1, y1 = paper_extent(panels)
    x1_view = min(x1, float(start_ms) + STANDARD_WINDOW_MS + (x1 - panels[-1].t_end_ms))
    margin = {"l": 8, "r": 8, "t": 36 if title or beats is not None else 8, "b": 8}
    if height is None:
        plot_w = (width or 1100) - margin["l"] - margin["r"]
        height = round(plot_w * (y1 - y0) * MS_PER_MV / (x1_view - x0)) + margin["t"] + margin["b"]
    kind = trace_type(sum(max(0, i1 - i0) for i0, i1 in (_sample_range(ecg, p) for p in panels)))
    traces = [t for t in (_lead_trace(ecg, p, kind) for p in panels) if t is not None]
    traces.append(_paper_marks(panels))
    if beats is not None:
        traces += _beat_traces(ecg, panels, beats, kind)
    page = f"{ecg.content_hash[:16]}:{layout}:{float(start_ms):g}:{window_ms}"
    shapes, hovers = highlight_parts(panels, highlights)
    return _figure(
        traces + hovers,
        {
            "template": {"data": {"scatter": [{"type": "scatter"}]}},  # plotly's "none": no theme
            "width": width,
            "autosize": width is None,
            "height": height,
            "margin": margin,
            "title": {"text": title} if title else None,
            "plot_bgcolor": "white",
            "paper_bgcolor": "white",
            "showlegend": beats is not None,  # the beat markers' legend (P, QRS, T)
            "legend": BEAT_LEGEND,
            "separators": SEPARATORS,
            "hovermode": "closest",
            "dragmode": "zoom",
            "xaxis": _axis(MAJOR_MS, MINOR_MS, range=[x0, x1_view], hoverformat=".0f"),
            "yaxis": _axis(MAJOR_MV, MINOR_MV, range=[y0, y1], scaleanchor="x", scaleratio=MS_PER_MV),
            "annotations": [*_labels(panels, start_ms), _settings_note((x0, y0, x1, y1))],
            "shapes": shapes,
            "uirevision": page,
            "meta": {
                "gem_viewer": {
                    "traces_key": page,  # same key, same ECG traces: a display may reuse them
                    "layout": layout,
                    "start_ms": float(start_ms),
                    "window_ms": None if window_ms is None else float(window_ms),
                    "duration_ms": float(ecg.duration_ms),
                    "record_id": ecg.record_id,
                }
            },
        },
    )


BEAT_LEGEND = {
    "orientation": "h",
    "x": 1.0,
    "xanchor": "right",
    "y": 1.0,
    "yanchor": "bottom",
    "title": {"text": "Beat markers:"},
    "font": {"size": 11},
    "itemclick": False,
    "itemdoubleclick": False,
}


def claim_leads(highlights: Iterable[dict]) -> tuple[str, ...]:
    """The leads a claim's evidence names, in canonical order ("rhythm" is lead II, "all" every lead).

    >>> claim_leads([{"lead": "V2", "t_start_ms": 0, "t_end_ms": 1}, {"lead": "rhythm", "t_start_ms": 0, "t_end_ms": 1}])
    ('II', 'V2')
    """
    named: set[str] = set()
    for h in highlights:
        wanted = span_leads(check_highlight(h)["lead"])
        named.update(LEADS if wanted is None else ("II",) if wanted == (RHYTHM,) else wanted)
    return tuple(lead for lead in LEADS if lead in named)


def claim_window(ecg: ECG, highlights: Iterable[dict], rr_ms: float | None = None) -> tuple[float, float]:
    """[start, end) in ms of a claim view: the evidence and ``CLAIM_CONTEXT_RR`` RR intervals each side
    (a whole beat before and after it), within the record."""
    spans = [check_highlight(h) for h in highlights]
    if not spans:
        raise GemError("a claim view needs the claim's evidence spans; this claim has none")
    rr = float(rr_ms) if rr_ms and math.isfinite(float(rr_ms)) and rr_ms > 0 else CLAIM_DEFAULT_RR_MS
    context = CLAIM_CONTEXT_RR * rr
    start = max(0.0, min(h["t_start_ms"] for h in spans) - context)
    end = min(float(ecg.duration_ms), max(h["t_end_ms"] for h in spans) + context)
    return start, end


def claim_figure(
    ecg: ECG,
    highlights: Iterable[dict],
    beats: Measurements | None = None,
    *,
    rr_ms: float | None = None,
    width: int | None = None,
) -> go.Figure:
    """A close-up of a claim on ECG paper: only the leads its evidence names, stacked, each with its
    name, calibration pulse and whole amplitude, at least one beat of context each side
    (``claim_window``), time in seconds along the bottom, 25 mm/s : 10 mm/mV kept.

    Each lead's row is as tall as its largest deflection in the window needs (a PVC's peak is never
    cut and never runs into the next lead), on 5 mm lines like the full sheet.
    """
    if not isinstance(ecg, ECG):
        raise GemError(f"claim_figure needs an ECG; got {type(ecg).__name__}")
    highlights = [check_highlight(h) for h in highlights]
    start, end = claim_window(ecg, highlights, rr_ms)
    panels, top = [], 0.0
    for row, lead in enumerate(claim_leads(highlights)):
        probe = Panel(lead, row, 0, start, end, 0.0, 0.0)
        i0, i1 = _sample_range(ecg, probe)
        seg = np.nan_to_num(ecg.signal[LEADS.index(lead)][i0:i1]) if i1 > i0 else np.zeros(1)
        reach = max(float(seg.max()), CAL_PULSE[2][1], -float(seg.min())) + CLAIM_PAD_MV
        half = math.ceil(reach / MAJOR_MV) * MAJOR_MV  # baselines on 5 mm lines
        panels.append(Panel(lead, row, 0, start, end, top - half, half))
        top -= 2 * half
    panels = tuple(panels)
    x0, y0, _, y1 = paper_extent(panels)
    x1 = end + RIGHT_MARGIN_MS
    margin = {"l": 8, "r": 8, "t": 36 if beats is not None else 8, "b": 44}
    plot_w = (width or 900) - margin["l"] - margin["r"]
    height = round(plot_w * (y1 - y0) * MS_PER_MV / (x1 - x0)) + margin["t"] + margin["b"]
    kind = trace_type(sum(max(0, i1 - i0) for i0, i1 in (_sample_range(ecg, p) for p in panels)))
    traces = [t for t in (_lead_trace(ecg, p, kind) for p in panels) if t is not None]
    traces.append(_paper_marks(panels))
    if beats is not None:
        traces += _beat_traces(ecg, panels, beats, kind)
    shapes, hovers = highlight_parts(panels, highlights)
    ticks = [t for t in np.arange(math.ceil(start / MAJOR_MS) * MAJOR_MS, end + 1e-6, MAJOR_MS)]
    leads = ", ".join(p.lead for p in panels)
    key = f"{ecg.content_hash[:16]}:claim:{leads}:{start:g}:{end:g}"
    return _figure(
        traces + hovers,
        {
            "template": {"data": {"scatter": [{"type": "scatter"}]}},
            "width": width,
            "autosize": width is None,
            "height": height,
            "margin": margin,
            "plot_bgcolor": "white",
            "paper_bgcolor": "white",
            "showlegend": beats is not None,
            "legend": BEAT_LEGEND,
            "separators": SEPARATORS,
            "hovermode": "closest",
            "dragmode": "zoom",
            "xaxis": _axis(
                MAJOR_MS,
                MINOR_MS,
                range=[x0, x1],
                hoverformat=".0f",
                tickmode="array",
                tickvals=[float(t) for t in ticks],
                ticktext=[_seconds(t, end - start) for t in ticks],
                showticklabels=True,
                ticks="outside",
                ticklen=4,
                tickfont={"size": 10, "color": TRACE_COLOR},
                title={"text": "time (s)", "font": {"size": 11}, "standoff": 4},
            ),
            "yaxis": _axis(MAJOR_MV, MINOR_MV, range=[y0, y1], scaleanchor="x", scaleratio=MS_PER_MV),
            "annotations": [
                *_labels(panels, start),
                _settings_note((x0, y0, x1, y1), f"{SETTINGS_NOTE} · claim view: {leads}"),
            ],
            "shapes": shapes,
            "uirevision": key,
            "meta": {
                "gem_viewer": {
                    "traces_key": key,
                    "view": "claim",
                    "leads": [p.lead for p in panels],
                    "start_ms": start,
                    "end_ms": end,
                    "duration_ms": float(ecg.duration_ms),
                    "record_id": ecg.record_id,
                }
            },
        },
    )


CLAIM_LABEL_EVERY_S_MS = 4000.0  # wider claim views label whole seconds only (the 5 mm grid stays)


def _seconds(t_ms: float, window_ms: float) -> str:
    """A time-axis label in seconds: every 5 mm line (0.2 s) in a short view, whole seconds in a long one.

    >>> _seconds(5200, 3000), _seconds(5200, 9000), _seconds(5000, 9000)
    ('5.2', '', '5')
    """
    if window_ms <= CLAIM_LABEL_EVERY_S_MS:
        return f"{t_ms / 1000:.1f}"
    return f"{t_ms / 1000:.0f}" if abs(t_ms / 1000 - round(t_ms / 1000)) < 1e-6 else ""


def figure_json(fig: go.Figure) -> str:
    """The figure as compact JSON for a display that parses it (``JSON.parse``, Gradio's API).

    ``fig.to_json()`` makes JSON safe to paste into HTML: every "/" becomes "\\u002f", and "/" is
    common in base64 sample data (negative int16 values are "//..."), ~20% more bytes for nothing.
    """
    from plotly.utils import PlotlyJSONEncoder

    return json.dumps(fig.to_plotly_json(), cls=PlotlyJSONEncoder, separators=(",", ":"))


def _figure(data: list[dict], layout: dict) -> go.Figure:
    """A Figure from trusted dicts. Plotly's per-property validation costs ~30 ms for 13 traces, more
    than half the build budget; everything here is built by this module (tests check the output
    validates), so it is skipped when plotly allows it."""
    try:
        return go.Figure(data=data, layout=layout, _validate=False)
    except (TypeError, ValueError):  # a plotly without the private switch: validate
        return go.Figure(data=data, layout=layout)


def _viewer_panels(fig: go.Figure) -> tuple[Panel, ...]:
    meta = (fig.layout.meta or {}).get("gem_viewer") if isinstance(fig.layout.meta, dict) else None
    if not meta or meta.get("view") == "claim":
        raise GemError(
            "this figure was not made by viewer.ecg_figure (a claim view is rebuilt with claim_figure)"
        )
    return layout_panels(meta["layout"], meta["start_ms"], meta["window_ms"], meta["duration_ms"])


def highlight_parts(panels: tuple[Panel, ...], highlights: Iterable[dict]) -> tuple[list[dict], list[dict]]:
    """Shapes (translucent rectangles over each panel the span reaches) and hover areas (invisible
    filled polygons carrying the claim text) for a set of highlights."""
    shapes, hovers = [], []
    for raw in highlights:
        h = check_highlight(raw)
        style = VERDICT_STYLE[h["verdict"]]
        hover = f"<b>{style['label']}</b>: {_escape(h['text'])}" + (
            f"<br>{_escape(h['detail'])}" if h["detail"] else ""
        )
        for panel, a, b in span_panels(panels, h["lead"], h["t_start_ms"], h["t_end_ms"]):
            if b <= a:  # an instant: give it 1 mm so it can be seen
                a, b = a - MINOR_MS / 2, a + MINOR_MS / 2
            _, bottom, _, top = panel.box
            # inset from the panel's edges: rows touch, and a band must show which lead it marks
            bottom, top = bottom + HIGHLIGHT_INSET_MV, top - HIGHLIGHT_INSET_MV
            shapes.append(
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "y",
                    "x0": a,
                    "x1": b,
                    "y0": bottom,
                    "y1": top,
                    "fillcolor": style["color"],
                    "opacity": HIGHLIGHT_OPACITY,
                    "line": {"color": style["color"], "width": 2, "dash": style["dash"]},
                    "layer": "between",
                    "name": f"{HIGHLIGHT_PREFIX}{h['claim_id']}",
                }
            )
            hovers.append(
                {
                    "type": "scatter",
                    "x": [a, b, b, a, a],
                    "y": [bottom, bottom, top, top, bottom],
                    "fill": "toself",
                    "fillcolor": "rgba(0,0,0,0)",
                    "mode": "lines",
                    "line": {"width": 0},
                    "hoveron": "fills",
                    "hoverinfo": "text",
                    "hoverlabel": {"bgcolor": style["color"]},
                    "text": hover,
                    "showlegend": False,
                    "name": f"{HIGHLIGHT_PREFIX}{h['claim_id']}",
                    "meta": {"role": "highlight", "claim_id": h["claim_id"], "verdict": h["verdict"]},
                }
            )
    return shapes, hovers


def _escape(text: str) -> str:
    """Model text is shown as Plotly's small HTML subset: escape it, keep our own line breaks."""
    return html.escape(text, quote=False).replace("&lt;br&gt;", "<br>")


def update_highlights(fig: go.Figure, highlights: Iterable[dict]) -> go.Figure:
    """Replace the figure's highlights IN PLACE (ECG traces untouched) and return it."""
    shapes, hovers = highlight_parts(_viewer_panels(fig), highlights)
    keep = [s for s in fig.layout.shapes if not str(s.name or "").startswith(HIGHLIGHT_PREFIX)]
    with fig.batch_update():
        fig.data = [t for t in fig.data if (t.meta or {}).get("role") != "highlight"]
        fig.layout.shapes = keep + shapes
    if hovers:
        fig.add_traces(hovers)
    return fig


def with_highlights(fig: go.Figure, highlights: Iterable[dict]) -> go.Figure:
    """A copy of ``fig`` showing ``highlights`` instead of its current ones; ``fig`` is unchanged."""
    parts = fig.to_dict()
    return update_highlights(_figure(parts["data"], parts["layout"]), highlights)


def _beat_traces(ecg: ECG, panels: tuple[Panel, ...], beats: Measurements, kind: str) -> list[dict]:
    if not isinstance(beats, Measurements):
        raise GemError(f"beats must be gem_core.features.Measurements; got {type(beats).__name__}")
    points: dict[str, tuple[list, list]] = {k: ([], []) for k in BEAT_MARKS}
    for p in panels:
        lm = beats.leads.get(p.lead)
        if lm is None:
            continue
        signal = ecg.signal[LEADS.index(p.lead)]
        for beat in lm.beats:
            for key, (xs, ys) in points.items():
                t = beat.get(key)
                if t is None or not (p.t_start_ms <= t < p.t_end_ms):
                    continue
                i = min(max(round(t * ecg.fs / 1000.0), 0), ecg.n_samples - 1)
                xs.append(float(t))
                ys.append(float(signal[i]) + p.baseline_mv)
    traces = []
    for key, (xs, ys) in points.items():
        if not xs:
            continue
        label, color, symbol = BEAT_MARKS[key]
        traces.append(
            {
                "type": kind,
                "x": xs,
                "y": ys,
                "mode": "markers",
                "marker": {
                    "color": color,
                    "size": BEAT_MARKER_SIZE,
                    "symbol": symbol,
                    "opacity": 0.85,
                    "line": {"color": "white", "width": 1},
                },
                "name": label,
                "showlegend": True,
                "legendgroup": label.split()[0],  # P, QRS, T
                "hovertemplate": f"{label} %{{x:.0f}} ms<extra></extra>",
                "meta": {"role": "beats", "fiducial": key},
            }
        )
    return traces
