"""The ECG tracing component: ``viewer`` figures drawn in place by plotly.js, sized to their column.

Why not ``gr.Plot``: Gradio's Plot re-creates its plot element for every new figure, so each figure is
drawn twice (in the old element, then in a fresh one): ~0.1-0.2 s of browser main-thread time per
record in headless Chromium, and every claim click re-decoded and re-drew all samples twice.
``tracing()`` is a ``gr.HTML`` whose template never changes (Gradio leaves its DOM alone) and whose
value is the figure's JSON; its script keeps ONE Plotly plot and updates it with ``Plotly.react``:
- the ECG traces of the record already on screen are reused as they are (same record, layout and
  page: ``layout.meta.gem_viewer.traces_key``), so a new highlight set or beat markers are not decoded
  and recomputed again (a new zoom still redraws what is in view);
- the plot takes its column's width and the height that keeps the paper's aspect (25 mm/s : 10 mm/mV,
  ``yaxis.scaleratio``) at the view's ranges, and follows the column when the window is resized.

plotly.js is the copy shipped with plotly.py (the version its figure JSON is written for), served by
Gradio as a static file and loaded once per page.
"""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

from gem_core.errors import GemError
from viewer import figure_json

PLOTLY_CONFIG = {"displaylogo": False, "responsive": False, "scrollZoom": False}

JS_ON_LOAD = """
const box = element.querySelector('.gem-tracing');
const CONFIG = %(config)s;
const isEcg = (t) => t && t.meta && t.meta.role === 'ecg';
const traceId = (t) => [t.name, t.meta.rhythm, t.x0, t.dx].join('|');
let base = null;  // {key, ranges} of the figure as sent: what a resize keeps

function fit(layout) {
  // the column's width; the height that keeps the paper aspect at the view's ranges
  const m = layout.margin || {l: 0, r: 0, t: 0, b: 0};
  const x = (layout.xaxis || {}).range, y = (layout.yaxis || {}).range;
  const ratio = (layout.yaxis || {}).scaleratio;
  const width = box.clientWidth;
  if (!width || !x || !y || !ratio) return;
  layout.width = width;
  layout.height = Math.round(m.t + m.b + (width - m.l - m.r) * (y[1] - y[0]) * ratio / (x[1] - x[0]));
  layout.autosize = false;
}

function draw() {
  if (!window.Plotly) return;
  const value = props.value;
  if (!value) {
    window.Plotly.purge(box);
    base = null;
    return;
  }
  const fig = typeof value === 'string' ? JSON.parse(value) : value;
  const layout = fig.layout || {};
  const key = ((layout.meta || {}).gem_viewer || {}).traces_key;
  if (key && box.data && base && base.key === key) {
    // same record, layout and page: keep the decoded ECG traces (Plotly.react sees them unchanged)
    const old = new Map(box.data.filter(isEcg).map((t) => [traceId(t), t]));
    fig.data = fig.data.map((t) => (isEcg(t) && old.get(traceId(t))) || t);
  }
  base = {key: key, ranges: [layout.xaxis && layout.xaxis.range, layout.yaxis && layout.yaxis.range]};
  fit(layout);
  window.Plotly.react(box, fig.data, layout, CONFIG);
}

let lastWidth = 0;
new ResizeObserver(() => {
  const width = box.clientWidth;
  if (!box.data || !base || !width || Math.abs(width - lastWidth) < 2) return;
  lastWidth = width;
  const L = box.layout;
  const layout = {margin: L.margin, xaxis: {range: base.ranges[0]}, yaxis: {range: base.ranges[1],
                  scaleratio: L.yaxis && L.yaxis.scaleratio}};
  fit(layout);
  if (layout.width && Math.abs(layout.width - (box._fullLayout || {}).width) >= 2) {
    window.Plotly.relayout(box, {width: layout.width, height: layout.height});
  }
}).observe(box);

draw();
watch('value', draw);
"""


def plotly_js() -> Path:
    """plotly.js as shipped with plotly.py: the version its figure JSON targets."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():  # a broken plotly install
        raise GemError(f"plotly.js not found at {path}: reinstall plotly (pip install -r requirements.txt)")
    return path


def tracing(elem_id: str, min_height: int = 360) -> gr.HTML:
    """The tracing component; give it ``figure_value(fig)`` (``None`` clears it).

    A factory rather than a ``gr.HTML`` subclass: Gradio writes a ``.pyi`` stub beside the source
    file of every component subclass it sees, at import time.
    """
    js = plotly_js()
    gr.set_static_paths([js])  # served at gradio_api/file=<path>, relative to the page (root_path)
    return gr.HTML(
        None,
        html_template='<div class="gem-tracing"></div>',
        css_template=f".gem-tracing {{width: 100%; min-height: {int(min_height)}px;}}",
        js_on_load=JS_ON_LOAD % {"config": json.dumps(PLOTLY_CONFIG)},
        head=f'<script src="gradio_api/file={js}"></script>',
        elem_id=elem_id,
        apply_default_css=False,
    )


def figure_value(fig):
    """What the tracing component (and the API) gets for a figure: its compact JSON; passes None and
    ``gr.skip()`` through."""
    if fig is None or not hasattr(fig, "to_plotly_json"):
        return fig
    return figure_json(fig)
