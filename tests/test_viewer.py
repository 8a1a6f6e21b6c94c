"""viewer: the Plotly ECG on paper, highlights, beat markers, paging; and one real-browser check."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from gem_core.ecg import ECG, LEADS
from gem_core.errors import GemError
from gem_core.features import LeadMeasurements, Measurements
from gem_core.render import layout_panels
from viewer import (
    VERDICT_STYLE,
    ecg_figure,
    figure_json,
    highlights_from_claims,
    update_highlights,
    with_highlights,
)
from viewer.figure import HIGHLIGHT_INSET_MV, HOVER_MV, SEPARATORS

V1_SPAN = {
    "lead": "V1",
    "t_start_ms": 6000,
    "t_end_ms": 6400,
    "verdict": "supported",
    "text": "rS in V1",
    "claim_id": "c1",
}
II_SPAN = {
    "lead": "II",
    "t_start_ms": 1000,
    "t_end_ms": 1400,
    "verdict": "contradicted",
    "text": "PR 240 ms",
    "claim_id": "c2",
}
RHYTHM_SPAN = {
    "lead": "rhythm",
    "t_start_ms": 3000,
    "t_end_ms": 5000,
    "verdict": "not checkable",
    "text": "sinus rhythm",
    "claim_id": "c3",
}


@pytest.fixture(scope="module")
def ecg():
    from gem_core.samples import synthetic_ecg

    return synthetic_ecg(heart_rate=75)


def _ecg_traces(fig):
    return [t for t in fig.data if (t.meta or {}).get("role") == "ecg"]


def _shapes(fig):
    return [s for s in fig.layout.shapes if str(s.name).startswith("highlight:")]


# ---------------------------------------------------------------- the figure


@pytest.mark.parametrize(
    ("layout", "n_traces", "points"), [("12x1", 12, 60000), ("3x4+II", 13, 20000), ("6x2", 12, 30000)]
)
def test_traces_are_svg_evenly_sampled_and_small(ecg, layout, n_traces, points):
    fig = ecg_figure(ecg, layout)
    traces = _ecg_traces(fig)
    # a 10 s page is SVG: fast without a GPU (software WebGL took seconds), sharp in print
    assert len(traces) == n_traces and all(isinstance(t, go.Scatter) for t in traces)
    assert all(t.x is None and t.dx == 2.0 for t in traces)  # 500 Hz: no x arrays
    assert sum(len(t.y) for t in traces) == points
    assert all(np.asarray(t.y).dtype == np.float32 for t in traces)
    # plotly's HTML-safe escapes ("/" -> "\\u002f", 6 bytes) depend on the samples (negative int16 values
    # are "//" in base64), not on the figure's size: count them as the one byte they stand for
    assert len(fig.to_json().replace("\\u002f", "/")) <= 600 * 1024
    compact = figure_json(fig)  # what the app sends: no HTML-safe escapes of "/" in base64
    assert len(compact) <= 500 * 1024 and json.loads(compact) == json.loads(fig.to_json())


def test_trace_values_hover_and_offsets(ecg):
    fig = ecg_figure(ecg, "3x4+II")
    panels = {(p.lead, p.rhythm): p for p in layout_panels("3x4+II")}
    v1 = next(t for t in _ecg_traces(fig) if t.name == "V1")
    p = panels[("V1", False)]
    assert v1.x0 == p.t_start_ms == 5000.0
    true_mv = ecg.lead("V1")[2500:3750]
    np.testing.assert_allclose(np.asarray(v1.y) - p.baseline_mv, true_mv, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(v1.customdata), np.round(true_mv * 1000).astype(np.int16))
    assert "V1" in v1.hovertemplate and "%{x:.0f} ms" in v1.hovertemplate
    assert f"{HOVER_MV} mV" in v1.hovertemplate and fig.layout.separators == SEPARATORS  # µV shown as mV
    strip = [t for t in _ecg_traces(fig) if t.meta["rhythm"]]
    assert [(t.name, len(t.y)) for t in strip] == [("II", 5000)]


def test_paper_grid_and_true_aspect(ecg):
    lay = ecg_figure(ecg, "12x1", width=1100).layout
    assert (lay.xaxis.dtick, lay.xaxis.minor.dtick) == (200, 40)  # 5 mm and 1 mm at 25 mm/s
    assert (lay.yaxis.dtick, lay.yaxis.minor.dtick) == (0.5, 0.1)  # 5 mm and 1 mm at 10 mm/mV
    assert lay.xaxis.tick0 == 0 and lay.yaxis.tick0 == 0
    assert lay.yaxis.scaleanchor == "x" and lay.yaxis.scaleratio == 400
    # one x-axis and one y-axis: zoom and pan are shared by every lead
    axes = [k for k in lay.to_plotly_json() if k.startswith(("xaxis", "yaxis"))]
    assert sorted(axes) == ["xaxis", "yaxis"]
    # the default height gives the plot area the paper's own aspect
    (x0, x1), (y0, y1) = lay.xaxis.range, lay.yaxis.range
    plot_w = lay.width - lay.margin.l - lay.margin.r
    plot_h = lay.height - lay.margin.t - lay.margin.b
    assert (plot_h / (y1 - y0)) / (plot_w / (x1 - x0)) == pytest.approx(400, rel=0.01)


def test_labels_and_calibration_pulse(ecg):
    fig = ecg_figure(ecg, "3x4+II")
    labels = [a.text for a in fig.layout.annotations if a.name != "settings"]
    assert sorted(labels) == sorted(f"<b>{lead}</b>" for lead in [*LEADS, "II"])
    cal = next(t for t in fig.data if (t.meta or {}).get("role") == "paper")
    ys = [y for y in cal.y if y is not None]
    rows = sorted({p.baseline_mv for p in layout_panels("3x4+II")})
    # every row has a 1 mV pulse above its baseline
    for base in rows:
        assert base in ys and base + 1.0 in ys


# ---------------------------------------------------------------- highlights


def test_highlights_land_in_the_same_panels_as_the_image(ecg):
    fig = ecg_figure(ecg, "3x4+II", highlights=[V1_SPAN, II_SPAN, RHYTHM_SPAN])
    panels = layout_panels("3x4+II")
    v1 = next(p for p in panels if p.lead == "V1")
    [s1] = [s for s in _shapes(fig) if s.name == "highlight:c1"]
    inset = HIGHLIGHT_INSET_MV  # bands of adjacent rows stay apart
    assert (s1.x0, s1.x1) == (6000, 6400) and (s1.y0, s1.y1) == (v1.box[1] + inset, v1.box[3] - inset)
    assert s1.fillcolor == VERDICT_STYLE["supported"]["color"]
    s2 = [s for s in _shapes(fig) if s.name == "highlight:c2"]
    strip = next(p for p in panels if p.rhythm)
    assert sorted(s.y0 for s in s2) == sorted(
        [strip.box[1] + inset, next(p for p in panels if p.lead == "II").box[1] + inset]
    )
    [s3] = [s for s in _shapes(fig) if s.name == "highlight:c3"]
    assert s3.y0 == strip.box[1] + inset and s3.line.dash == "dot"
    below = next(p for p in panels if p.row == v1.row + 1 and p.column == v1.column)  # V2
    assert s1.y0 - (below.box[3] - inset) == pytest.approx(2 * inset)  # 4 mm to V2's bands
    hovers = [t for t in fig.data if (t.meta or {}).get("role") == "highlight"]
    assert len(hovers) == 4 and any("PR 240 ms" in t.text and "contradicted" in t.text for t in hovers)


def test_span_outside_the_panel_window_is_not_drawn(ecg):
    late = {**V1_SPAN, "t_start_ms": 2600, "t_end_ms": 2700}
    assert _shapes(ecg_figure(ecg, "3x4+II", highlights=[late])) == []
    assert len(_shapes(ecg_figure(ecg, "12x1", highlights=[late]))) == 1


def test_update_highlights_keeps_the_traces(ecg):
    fig = ecg_figure(ecg, "3x4+II", highlights=[V1_SPAN])
    before = [id(t) for t in _ecg_traces(fig)]
    copy = with_highlights(fig, [II_SPAN, RHYTHM_SPAN])
    assert [s.name for s in _shapes(fig)] == ["highlight:c1"]  # the original is unchanged
    assert sorted(s.name for s in _shapes(copy)) == ["highlight:c2", "highlight:c2", "highlight:c3"]
    same = update_highlights(fig, [])
    assert same is fig and _shapes(fig) == [] and [id(t) for t in _ecg_traces(fig)] == before
    assert not [t for t in fig.data if (t.meta or {}).get("role") == "highlight"]
    with pytest.raises(GemError, match="not made by viewer"):
        update_highlights(go.Figure(), [V1_SPAN])


def test_highlights_from_claims():
    claims = [
        {
            "id": "c1",
            "text": "QRS duration is normal",
            "verdict": "supported",
            "evidence": [
                {
                    "lead": "V1",
                    "t_start_ms": 6000,
                    "t_end_ms": 6090,
                    "feature": "qrs_duration",
                    "value": 90.0,
                    "unit": "ms",
                },
                {"lead": "II", "t_start_ms": 800, "t_end_ms": 890},
            ],
        },
        {"id": "c2", "text": "no evidence", "verdict": "not_checkable", "evidence": []},
        {
            "id": "c3",
            "text": "AF",
            "verdict": "contradicted",
            "evidence": [{"lead": "rhythm", "t_start_ms": 0, "t_end_ms": 10000}],
        },
    ]
    hl = highlights_from_claims(claims)
    assert [(h["claim_id"], h["lead"], h["verdict"]) for h in hl] == [
        ("c1", "V1", "supported"),
        ("c1", "II", "supported"),
        ("c3", "rhythm", "contradicted"),
    ]
    assert hl[0]["detail"] == "qrs_duration = 90 ms" and hl[0]["text"] == "QRS duration is normal"
    assert [h["claim_id"] for h in highlights_from_claims(claims, claim_id="c3")] == ["c3"]
    bad = [{**claims[0], "verdict": "maybe"}]
    with pytest.raises(GemError, match="unknown verdict"):
        highlights_from_claims(bad)


def test_grounded_claims_end_to_end(ecg):
    """Real claims from gem_core.grounding land on the figure, one rectangle per visible span."""
    from gem_core.features import measure
    from gem_core.grounding import ground

    claims = ground("The heart rate is 75 bpm. The QRS duration in V1 is 90 ms.", measure(ecg), final=True)
    hl = highlights_from_claims(claims)
    assert {h["claim_id"] for h in hl} == {c["id"] for c in claims if c["evidence"]}
    fig = ecg_figure(ecg, "3x4+II", highlights=hl)
    rate = next(c for c in claims if c["feature"] == "heart_rate")
    shapes = [s for s in _shapes(fig) if s.name == f"highlight:{rate['id']}"]
    assert len(shapes) == 2  # lead II 0-10 s: the II panel (0-2.5 s) and the rhythm strip
    hover = next(t.text for t in fig.data if (t.meta or {}).get("claim_id") == rate["id"])
    assert "measured" in hover and "heart_rate" in hover


def test_hover_text_is_escaped(ecg):
    fig = ecg_figure(ecg, "12x1", highlights=[{**V1_SPAN, "text": "QT <b>long</b> & QRS < 120 ms"}])
    hover = next(t.text for t in fig.data if (t.meta or {}).get("role") == "highlight")
    assert "QT &lt;b&gt;long&lt;/b&gt; &amp; QRS &lt; 120 ms" in hover


@pytest.mark.parametrize(
    ("highlight", "message"),
    [
        ({"t_start_ms": 0, "t_end_ms": 10}, "lacks lead"),
        ({"lead": "V9", "t_start_ms": 0, "t_end_ms": 10}, "unknown lead"),
        ({"lead": "V1", "t_start_ms": "soon", "t_end_ms": 10}, "numbers of ms"),
        ({"lead": "V1", "t_start_ms": 50, "t_end_ms": 10}, "before it starts"),
        ("V1 0-10", "must be a dict"),
    ],
)
def test_bad_highlights_raise_gem_error(ecg, highlight, message):
    with pytest.raises(GemError, match=message):
        ecg_figure(ecg, "12x1", highlights=[highlight])


# ---------------------------------------------------------------- beats, paging, errors


def _hand_measurements(ecg: ECG) -> Measurements:
    beats = [
        {
            "index": 0,
            "p_onset_ms": 5600.0,
            "qrs_onset_ms": 5750.0,
            "qrs_offset_ms": 5840.0,
            "t_offset_ms": 6200.0,
        }
    ]
    leads = {lead: LeadMeasurements(lead=lead, quality="ok", beats=beats) for lead in LEADS}
    return Measurements(ecg.record_id, ecg.fs, ecg.duration_ms, [5800.0], {}, leads)


def test_beat_markers_from_hand_made_measurements(ecg):
    fig = ecg_figure(ecg, "3x4+II", beats=_hand_measurements(ecg))
    marks = {t.meta["fiducial"]: t for t in fig.data if (t.meta or {}).get("role") == "beats"}
    assert set(marks) == {"p_onset_ms", "qrs_onset_ms", "qrs_offset_ms", "t_offset_ms"}
    # 5.6-6.2 s is shown by V1-V3 (column 3) and the lead II strip: 4 markers per fiducial
    assert list(marks["qrs_onset_ms"].x) == [5750.0] * 4
    v1 = next(p for p in layout_panels("3x4+II") if p.lead == "V1")
    i = round(5750 * ecg.fs / 1000)
    assert float(ecg.lead("V1")[i]) + v1.baseline_mv in list(marks["qrs_onset_ms"].y)
    with pytest.raises(GemError, match="Measurements"):
        ecg_figure(ecg, "12x1", beats={"r_peaks_ms": []})


def test_beat_markers_from_measure(ecg):
    from gem_core.features import measure

    m = measure(ecg)
    fig = ecg_figure(ecg, "12x1", beats=m)
    qrs = next(t for t in fig.data if (t.meta or {}).get("fiducial") == "qrs_onset_ms")
    assert 12 * 8 <= len(qrs.x) <= 12 * 16  # ~12 beats in 10 s at 75 bpm, in each of 12 leads


def test_long_record_paging_and_full_view():
    fs = 500
    ecg = ECG.from_array(np.random.default_rng(0).normal(0, 0.1, (12, 30 * fs)).astype(np.float32), fs=fs)
    page = ecg_figure(ecg, "3x4+II", start_ms=20000)
    strip = next(t for t in _ecg_traces(page) if t.meta["rhythm"])
    assert strip.x0 == 20000.0 and len(strip.y) == 5000
    full = ecg_figure(ecg, "12x1", window_ms=None)
    assert all(len(t.y) == 30 * fs for t in _ecg_traces(full))
    assert all(t.type == "scattergl" for t in _ecg_traces(full))  # 180 000 samples: WebGL
    assert all(t.type == "scatter" for t in _ecg_traces(page))
    assert full.layout.xaxis.range[1] < 11000  # the first 10 s in view; pan for the rest
    last = ecg_figure(ecg, "12x1", start_ms=25000)
    assert all(len(t.y) == 5 * fs for t in _ecg_traces(last))  # a short last page
    with pytest.raises(GemError, match="past the end"):
        ecg_figure(ecg, "12x1", start_ms=30000)


def test_bad_arguments_raise_gem_error(ecg):
    with pytest.raises(GemError, match="unknown viewer layout"):
        ecg_figure(ecg, "4x3")
    with pytest.raises(GemError, match="needs an ECG"):
        ecg_figure(np.zeros((12, 5000)), "12x1")


def test_figure_passes_plotly_validation(ecg):
    """ecg_figure skips plotly's slow per-property checks; the full validator must accept its output."""
    for layout in ("12x1", "3x4+II", "6x2"):
        fig = ecg_figure(ecg, layout, [V1_SPAN, II_SPAN, RHYTHM_SPAN], beats=_hand_measurements(ecg))
        checked = go.Figure(fig.to_dict())  # raises ValueError on any invalid property
        assert len(checked.data) == len(fig.data)


def test_figure_json_round_trips(ecg):
    fig = ecg_figure(ecg, "6x2", highlights=[V1_SPAN])
    data = json.loads(fig.to_json())
    assert data["layout"]["meta"]["gem_viewer"]["layout"] == "6x2"
    assert data["data"][0]["y"]["dtype"] == "f4" and data["data"][0]["customdata"]["dtype"] == "i2"


# ---------------------------------------------------------------- a real browser


@pytest.mark.browser
def test_figure_renders_in_chromium(ecg, browser, artifacts_dir, tmp_path):
    fig = ecg_figure(
        ecg, "3x4+II", highlights=[V1_SPAN, II_SPAN, RHYTHM_SPAN], title="synthetic 75 bpm", width=1100
    )
    page_file = tmp_path / "viewer.html"
    page_file.write_text(fig.to_html(include_plotlyjs="inline", full_html=True), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1160, "height": 760})
    try:
        page.goto(page_file.as_uri())
        page.wait_for_selector(".js-plotly-plot .shapelayer path", timeout=20000)
        n_traces = page.evaluate("document.querySelector('.js-plotly-plot')._fullData.length")
        assert n_traces == len(fig.data)
        assert page.locator(".js-plotly-plot .scatterlayer .trace").count() == len(fig.data)  # SVG traces
        assert page.locator(".shapelayer path").count() == len(_shapes(fig)) == 4
        # hover inside the supported V1 highlight shows the claim
        x, y = page.evaluate(
            """() => { const gd = document.querySelector('.js-plotly-plot');
                       const L = gd._fullLayout, r = gd.getBoundingClientRect();
                       return [r.left + L._size.l + L.xaxis.l2p(6200),
                               r.top + L._size.t + L.yaxis.l2p(%f)]; }"""
            % (next(p for p in layout_panels("3x4+II") if p.lead == "V1").baseline_mv - 1.7)
        )
        page.mouse.move(x, y)
        page.wait_for_selector(".hoverlayer .hovertext", timeout=5000)
        assert "rS in V1" in page.locator(".hoverlayer").text_content()
        # a sample's hover: lead, time in ms, amplitude in mV (int16 µV shown with 3 decimals)
        v1 = next(i for i, t in enumerate(fig.data) if t.name == "V1")
        for k in (0, 137, 600):
            page.evaluate(
                "([i, k]) => { const gd = document.querySelector('.js-plotly-plot'); Plotly.Fx.unhover(gd);"
                " Plotly.Fx.hover(gd, [{curveNumber: i, pointNumber: k}]); }",
                [v1, k],
            )
            uv = int(np.asarray(fig.data[v1].customdata)[k])
            want = f"V1  {5000 + 2 * k} ms  {'-' if uv < 0 else '+'}{abs(uv) / 1000:.3f} mV"
            page.wait_for_function(
                "w => document.querySelector('.hoverlayer')?.textContent.replace(/\\s+/g, ' ') === w",
                arg=" ".join(want.split()),
                timeout=5000,
            )
        page.screenshot(path=str(artifacts_dir / "viewer_3x4II.png"), full_page=True)
    finally:
        page.close()


def test_other_sampling_rates_keep_time_in_ms():
    ecg = ECG.from_array(np.zeros((12, 2500), np.float32), fs=250)
    v1 = next(t for t in _ecg_traces(ecg_figure(ecg, "3x4+II")) if t.name == "V1")
    assert (v1.x0, v1.dx, len(v1.y)) == (5000.0, 4.0, 625)


def test_a_real_15_s_record_pages(shared_ecg_dir):
    from gem_core.ecg import load_ecg
    from gem_core.render import ecg_image

    ecg = load_ecg(shared_ecg_dir / "cpsc2018" / "A0001.hea")
    assert ecg.duration_ms == 15000
    second = ecg_figure(ecg, "3x4+II", start_ms=10000)  # a short last page: 10-15 s
    strip = next(t for t in _ecg_traces(second) if t.meta["rhythm"])
    assert strip.x0 == 10000.0 and len(strip.y) == 2500
    assert [t.name for t in _ecg_traces(second)].count("V1") == 0  # V1's column (15-17.5 s) is empty
    assert ecg_image(ecg, "3x4+II", 800, 600, start_ms=5000).size == (800, 600)


# ---------------------------------------------------------------- settings, legend, claim views


def test_the_tracing_states_its_settings_and_the_beat_legend(ecg):
    """The live view says "25 mm/s, 10 mm/mV" and what filter it shows; beat markers have a legend."""
    fig = ecg_figure(ecg, "12x1")
    note = next(a for a in fig.layout.annotations if a.name == "settings")
    assert "25 mm/s" in note.text and "10 mm/mV" in note.text and "filter" in note.text
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert x0 <= note.x <= x1 and y0 <= note.y <= y1  # on the sheet
    assert not fig.layout.showlegend  # nothing to explain without markers
    marked = ecg_figure(ecg, "12x1", beats=_hand_measurements(ecg))
    assert marked.layout.showlegend
    shown = [t for t in marked.data if t.showlegend is not False]
    assert shown and all((t.meta or {}).get("role") == "beats" for t in shown)
    assert {t.legendgroup for t in shown} == {"P", "QRS", "T"}
    assert all(t.marker.size >= 8 for t in shown)


def _with_pvc(ecg, at_ms: float = 5000.0) -> ECG:
    """``ecg`` with a tall, wide ectopic complex in V2 and V5 (3.2 mV up in V2, 2.6 mV down in V5)."""
    sig = ecg.signal.copy()
    t = np.arange(sig.shape[1]) * 1000.0 / ecg.fs
    bump = np.exp(-0.5 * ((t - at_ms) / 30.0) ** 2)
    sig[LEADS.index("V2")] += 3.2 * bump
    sig[LEADS.index("V5")] -= 2.6 * bump
    return ECG(signal=sig, fs=ecg.fs, record_id="pvc")


def test_claim_view_shows_the_named_leads_whole_with_context(ecg):
    from viewer import claim_figure

    pvc = _with_pvc(ecg)
    spans = [
        {"lead": "V5", "t_start_ms": 4900, "t_end_ms": 5100, "verdict": "supported", "claim_id": "p"},
        {"lead": "V2", "t_start_ms": 4900, "t_end_ms": 5100, "verdict": "supported", "claim_id": "p"},
    ]
    fig = claim_figure(pvc, spans, rr_ms=800.0, width=900)
    traces = _ecg_traces(fig)
    assert [t.meta["lead"] for t in traces] == ["V2", "V5"]  # canonical order, stacked, only these
    labels = {a.text for a in fig.layout.annotations}
    assert {"<b>V2</b>", "<b>V5</b>"} <= labels
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert x0 < 4900 - 800 and x1 > 5100 + 800  # more than one beat each side
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 400  # paper aspect
    # the whole complex of each lead lies inside its own row (the rows do not overlap)
    rows = sorted(((s.y0, s.y1) for s in _shapes(fig)), reverse=True)
    assert rows[0][0] >= rows[1][1]
    for t, (lo, hi) in zip(traces, rows, strict=True):
        y = np.asarray(t.y, dtype=float)
        assert lo - 0.3 <= y.min() and y.max() <= hi + 0.3 and y0 < y.min() and y.max() < y1
    v2 = np.asarray(traces[0].y, dtype=float)
    assert v2.max() - v2.min() > 3.0  # the peak is there, not clipped
    # time in seconds along the bottom, calibration pulse at the left of each row
    assert fig.layout.xaxis.showticklabels and fig.layout.xaxis.title.text == "time (s)"
    assert "5.0" in fig.layout.xaxis.ticktext and len(fig.layout.xaxis.tickvals) >= 10
    cal = next(t for t in fig.data if t.name == "calibration")
    assert sum(1 for v in cal.y if v is None) >= 2  # one 1 mV pulse per row
    assert any("25 mm/s" in a.text for a in fig.layout.annotations)
    go.Figure(fig.to_dict())  # valid for plotly


def test_claim_view_of_all_leads_and_rhythm_and_bad_input(ecg):
    from viewer import claim_figure
    from viewer.figure import claim_leads

    assert claim_leads([RHYTHM_SPAN]) == ("II",)
    assert claim_leads([dict(V1_SPAN, lead="all")]) == LEADS
    fig = claim_figure(ecg, [dict(V1_SPAN, t_start_ms=0, t_end_ms=50)])
    assert fig.layout.meta["gem_viewer"]["start_ms"] == 0.0  # context stops at the record's edges
    with pytest.raises(GemError, match="evidence"):
        claim_figure(ecg, [])
    with pytest.raises(GemError, match="claim view"):
        update_highlights(fig, [V1_SPAN])
