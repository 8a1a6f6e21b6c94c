"""ECG paper: the layouts shared by the viewer and the model's image, and the image renderer.

One coordinate system serves both drawings. Paper coordinates are record time in ms along x and
millivolts along y, with each row shifted down by its own baseline (``Panel.baseline_mv``). At the
clinical scale 25 mm/s and 10 mm/mV, 1 mm is 40 ms across and 0.1 mV up, so 1 mV spans as much paper
as 400 ms (``MS_PER_MV``). In every layout a panel's x position on the paper *is* its record time: the
3x4 column for V1-V3 sits over 5.0-7.5 s, the lead II rhythm strip below runs 0-10 s. A span
``(lead, t_start_ms, t_end_ms)`` therefore has one place on the paper (``span_panels``), and the
Plotly viewer and ``ecg_image`` both draw from it.

>>> [p.lead for p in layout_panels("3x4+II") if p.t_start_ms <= 6000 < p.t_end_ms]
['V1', 'V2', 'V3', 'II']
>>> [(p.lead, a, b) for p, a, b in span_panels(layout_panels("3x4+II"), "V1", 6000, 6400)]
[('V1', 6000.0, 6400.0)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gem_core.ecg import ECG, LEADS, canonical_lead
from gem_core.errors import GemError

# Clinical scale and paper grid.
MM_PER_S = 25.0
MM_PER_MV = 10.0
MS_PER_MM = 1000.0 / MM_PER_S  # 40 ms
MV_PER_MM = 1.0 / MM_PER_MV  # 0.1 mV
MS_PER_MV = MM_PER_MV * MS_PER_MM  # 400: 1 mV takes as much paper as 400 ms
MINOR_MS, MINOR_MV = MS_PER_MM, MV_PER_MM  # 1 mm squares
MAJOR_MS, MAJOR_MV = 5 * MS_PER_MM, 5 * MV_PER_MM  # 5 mm squares: 200 ms, 0.5 mV

# Paper margins (ms of paper) around the traces: the 1 mV calibration pulse sits in the left one.
CAL_MARGIN_MS = 400.0
RIGHT_MARGIN_MS = 80.0
CAL_PULSE = ((0.0, 0.0), (40.0, 0.0), (40.0, 1.0), (240.0, 1.0), (240.0, 0.0), (280.0, 0.0))  # (ms, mV)

# Colours of the model image (RGB): pink 1 mm grid, red 5 mm grid, black trace.
PAPER_RGB = (255, 255, 255)
MINOR_RGB = (252, 210, 210)
MAJOR_RGB = (238, 128, 128)
TRACE_RGB = (0, 0, 0)
MIN_MINOR_PX = 3.0  # below this many pixels per mm only the 5 mm grid is drawn

STANDARD_WINDOW_MS = 10_000.0
RHYTHM = "rhythm"  # a span lead meaning "the rhythm": the rhythm strip, or lead II where there is none
ALL_LEADS = ("all", "*", "global")  # span leads meaning every panel


@dataclass(frozen=True)
class LayoutSpec:
    """A paper layout: ``columns[c]`` lists the leads of column c top to bottom; each column covers an
    equal, consecutive share of the window; ``rhythm`` leads get full-width strips below."""

    name: str
    columns: tuple[tuple[str, ...], ...]
    rhythm: tuple[str, ...]
    row_pitch_mv: float  # paper height of one row

    @property
    def n_rows(self) -> int:
        return max(len(c) for c in self.columns) + len(self.rhythm)


LAYOUTS: dict[str, LayoutSpec] = {
    spec.name: spec
    for spec in (
        LayoutSpec("12x1", (LEADS,), (), 2.5),
        LayoutSpec("3x4", (LEADS[0:3], LEADS[3:6], LEADS[6:9], LEADS[9:12]), (), 4.0),
        LayoutSpec("3x4+II", (LEADS[0:3], LEADS[3:6], LEADS[6:9], LEADS[9:12]), ("II",), 4.0),
        LayoutSpec("6x2", (LEADS[0:6], LEADS[6:12]), (), 3.0),
    )
}


@dataclass(frozen=True)
class Panel:
    """One lead's trace on the paper: samples in [t_start_ms, t_end_ms) drawn about ``baseline_mv``."""

    lead: str
    row: int
    column: int  # -1 for a rhythm strip
    t_start_ms: float
    t_end_ms: float
    baseline_mv: float
    half_height_mv: float

    @property
    def rhythm(self) -> bool:
        return self.column < 0

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) in paper coordinates (ms, mV), y0 below y1."""
        return (
            self.t_start_ms,
            self.baseline_mv - self.half_height_mv,
            self.t_end_ms,
            self.baseline_mv + self.half_height_mv,
        )


def layout_spec(layout: str) -> LayoutSpec:
    try:
        return LAYOUTS[layout]
    except KeyError:
        raise GemError(f"unknown ECG layout {layout!r}; choose one of {', '.join(LAYOUTS)}") from None


def _window(start_ms: float, window_ms: float | None, duration_ms: float | None) -> tuple[float, float]:
    if not math.isfinite(start_ms) or start_ms < 0:
        raise GemError(f"start_ms must be a time >= 0 in ms; got {start_ms}")
    if window_ms is None:
        if duration_ms is None:
            raise GemError("window_ms=None (the whole record) needs the record's duration_ms")
        window_ms = max(duration_ms - start_ms, MINOR_MS)
    if not math.isfinite(window_ms) or window_ms <= 0:
        raise GemError(f"window_ms must be a positive number of ms; got {window_ms}")
    return float(start_ms), float(window_ms)


@lru_cache(maxsize=64)
def layout_panels(
    layout: str, start_ms: float = 0.0, window_ms: float | None = STANDARD_WINDOW_MS, duration_ms=None
) -> tuple[Panel, ...]:
    """The panels of ``layout`` for the window [start_ms, start_ms + window_ms), top row first.

    ``window_ms=None`` shows the whole record (give ``duration_ms``).

    >>> [(p.lead, p.t_start_ms, p.t_end_ms) for p in layout_panels("6x2") if p.row == 0]
    [('I', 0.0, 5000.0), ('V1', 5000.0, 10000.0)]
    """
    spec = layout_spec(layout)
    start, window = _window(start_ms, window_ms, duration_ms)
    pitch = spec.row_pitch_mv
    top = math.ceil(pitch / 2 / MAJOR_MV) * MAJOR_MV  # baselines fall on 5 mm lines
    col_ms = window / len(spec.columns)
    panels = []
    for c, leads in enumerate(spec.columns):
        for r, lead in enumerate(leads):
            t0 = start + c * col_ms
            panels.append(Panel(lead, r, c, t0, t0 + col_ms, -(top + r * pitch), pitch / 2))
    first_strip_row = max(len(c) for c in spec.columns)
    for k, lead in enumerate(spec.rhythm):
        r = first_strip_row + k
        panels.append(Panel(lead, r, -1, start, start + window, -(top + r * pitch), pitch / 2))
    return tuple(sorted(panels, key=lambda p: (p.row, p.column if p.column >= 0 else 99)))


def paper_extent(panels: tuple[Panel, ...]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the whole sheet in paper coordinates, margins included."""
    x0 = min(p.t_start_ms for p in panels) - CAL_MARGIN_MS
    x1 = max(p.t_end_ms for p in panels) + RIGHT_MARGIN_MS
    bottom = min(p.baseline_mv - p.half_height_mv for p in panels)
    top = max(p.baseline_mv + p.half_height_mv for p in panels)
    y0 = math.floor(bottom / MAJOR_MV) * MAJOR_MV - MAJOR_MV  # room for the scale note
    y1 = math.ceil(top / MAJOR_MV) * MAJOR_MV + MAJOR_MV
    return x0, y0, x1, y1


def span_leads(lead: str) -> tuple[str, ...] | None:
    """The canonical leads a span's ``lead`` names: one lead, ``("rhythm",)``, or None for all leads."""
    text = str(lead).strip()
    if text.lower() in ALL_LEADS:
        return None
    if text.lower() == RHYTHM:
        return (RHYTHM,)
    canon = canonical_lead(text)
    if canon is None:
        raise GemError(f"unknown lead {lead!r} in a span; use one of {', '.join(LEADS)}, 'rhythm' or 'all'")
    return (canon,)


def span_panels(
    panels: tuple[Panel, ...], lead: str, t_start_ms: float, t_end_ms: float
) -> list[tuple[Panel, float, float]]:
    """Where a span is drawn: ``(panel, t0, t1)`` for each panel showing it, clipped to the panel.

    A lead's span lands in that lead's panels whose window overlaps it, and in the rhythm strip of the
    same lead. ``"rhythm"`` means the rhythm strip (lead II panels where the layout has none);
    ``"all"`` every panel. A span outside every window lands nowhere.
    """
    t0, t1 = float(t_start_ms), float(t_end_ms)
    if not (math.isfinite(t0) and math.isfinite(t1)) or t1 < t0:
        raise GemError(f"a span needs t_start_ms <= t_end_ms (ms); got {t_start_ms}..{t_end_ms}")
    wanted = span_leads(lead)
    if wanted == (RHYTHM,):
        has_strip = any(p.rhythm for p in panels)
        chosen = [p for p in panels if p.rhythm] if has_strip else [p for p in panels if p.lead == "II"]
    elif wanted is None:
        chosen = list(panels)
    else:
        chosen = [p for p in panels if p.lead == wanted[0]]
    hits = []
    for p in chosen:
        a, b = max(t0, p.t_start_ms), min(t1, p.t_end_ms)
        if a < b or (t0 == t1 and p.t_start_ms <= t0 < p.t_end_ms):
            hits.append((p, a, b))
    return hits


@dataclass(frozen=True)
class Geometry:
    """Paper coordinates to pixels for one layout at one image size (25 mm/s : 10 mm/mV kept).

    >>> g = layout_geometry("3x4+II", (1600, 1200))
    >>> [p.lead for p, box in g.span_boxes("V1", 6000, 6400)]
    ['V1']
    """

    layout: str
    size: tuple[int, int]
    panels: tuple[Panel, ...]
    extent: tuple[float, float, float, float]
    px_per_mm: float
    origin_px: tuple[float, float]  # pixel of the paper's top-left corner (extent x0, y1)

    @property
    def px_per_ms(self) -> float:
        return self.px_per_mm / MS_PER_MM

    @property
    def px_per_mv(self) -> float:
        return self.px_per_mm / MV_PER_MM

    def to_px(self, t_ms, y_mv):
        """Pixel (x, y) of paper point(s) (t_ms, y_mv); works on scalars and numpy arrays."""
        x = self.origin_px[0] + (np.asarray(t_ms, dtype=np.float64) - self.extent[0]) * self.px_per_ms
        y = self.origin_px[1] + (self.extent[3] - np.asarray(y_mv, dtype=np.float64)) * self.px_per_mv
        return x, y

    def box_px(self, box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) pixels of a paper box (x0, y0, x1, y1)."""
        left, bottom = self.to_px(box[0], box[1])
        right, top = self.to_px(box[2], box[3])
        return round(float(left)), round(float(top)), round(float(right)), round(float(bottom))

    def panel_box(self, panel: Panel) -> tuple[int, int, int, int]:
        return self.box_px(panel.box)

    def span_boxes(self, lead: str, t_start_ms: float, t_end_ms: float):
        """``(panel, (left, top, right, bottom))`` pixel boxes where the span is drawn."""
        boxes = []
        for p, a, b in span_panels(self.panels, lead, t_start_ms, t_end_ms):
            _, y0, _, y1 = p.box
            boxes.append((p, self.box_px((a, y0, b, y1))))
        return boxes


def layout_geometry(
    layout: str,
    size: tuple[int, int] | None = None,
    *,
    start_ms: float = 0.0,
    window_ms: float | None = STANDARD_WINDOW_MS,
    duration_ms: float | None = None,
    px_per_mm: float = 4.0,
) -> Geometry:
    """The pixel geometry of ``layout`` in an image of ``size`` (width, height).

    The paper is scaled uniformly (same pixels per mm both ways) to fit the image and centred; without
    ``size`` the image is as large as the paper at ``px_per_mm``.
    """
    panels = layout_panels(layout, float(start_ms), window_ms, duration_ms)
    extent = paper_extent(panels)
    w_mm = (extent[2] - extent[0]) / MS_PER_MM
    h_mm = (extent[3] - extent[1]) / MV_PER_MM
    if size is None:
        size = (round(w_mm * px_per_mm), round(h_mm * px_per_mm))
    width, height = (int(v) for v in size)
    if width < 64 or height < 64:
        raise GemError(f"an ECG image must be at least 64x64 pixels; got {width}x{height}")
    scale = min(width / w_mm, height / h_mm)
    origin = ((width - w_mm * scale) / 2, (height - h_mm * scale) / 2)
    return Geometry(layout, (width, height), panels, extent, scale, origin)


def _grid_lines(start_px: float, step_px: float, n: int, first_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions of grid lines from ``start_px`` every ``step_px`` within [0, n), and their
    indices (line k is major when k % 5 == 0)."""
    k0 = math.ceil(-start_px / step_px)
    k1 = math.floor((n - 1 - start_px) / step_px)
    ks = np.arange(k0, k1 + 1)
    pos = np.round(start_px + ks * step_px).astype(int)
    return pos, ks + first_index


def _paper(geom: Geometry) -> np.ndarray:
    """The gridded sheet as an RGB array, built from three row patterns (numpy row copies are far
    faster than drawing ~600 lines); 5 mm lines are drawn over 1 mm lines, as on printed paper."""
    width, height = geom.size
    step = geom.px_per_mm
    # grid lines sit at multiples of 40 ms and 0.1 mV (paper zero), as in the viewer
    x_zero, y_zero = geom.to_px(0.0, 0.0)
    xs, kx = _grid_lines(float(x_zero), step, width, 0)
    ys, ky = _grid_lines(float(y_zero), step, height, 0)
    x_major, y_major = xs[kx % 5 == 0], ys[ky % 5 == 0]
    if step < MIN_MINOR_PX:  # thumbnails: 1 mm lines would merge into a pink wash
        xs, ys = xs[:0], ys[:0]
    plain = np.empty((width, 3), dtype=np.uint8)  # a row between horizontal lines
    plain[:] = PAPER_RGB
    plain[xs] = MINOR_RGB
    plain[x_major] = MAJOR_RGB
    on_minor = np.empty_like(plain)  # a row on a 1 mm line
    on_minor[:] = MINOR_RGB
    on_minor[x_major] = MAJOR_RGB
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = plain
    img[ys] = on_minor
    img[y_major] = MAJOR_RGB
    return img


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _trace_points(geom: Geometry, panel: Panel, samples: np.ndarray, fs: float) -> list[float]:
    i0 = max(math.ceil(panel.t_start_ms * fs / 1000.0 - 1e-9), 0)
    i1 = min(math.ceil(panel.t_end_ms * fs / 1000.0 - 1e-9), samples.shape[0])
    if i1 - i0 < 2:
        return []
    t = np.arange(i0, i1) * (1000.0 / fs)
    x, y = geom.to_px(t, panel.baseline_mv + np.nan_to_num(samples[i0:i1]))
    pts = np.empty(2 * (i1 - i0), dtype=np.float64)
    pts[0::2], pts[1::2] = x, y
    return pts.tolist()


def _draw_calibration(draw: ImageDraw.ImageDraw, geom: Geometry, line_w: int) -> None:
    x_start = min(p.t_start_ms for p in geom.panels) - CAL_MARGIN_MS + 60.0
    for baseline in sorted({p.baseline_mv for p in geom.panels}):
        x, y = geom.to_px([x_start + t for t, _ in CAL_PULSE], [baseline + v for _, v in CAL_PULSE])
        draw.line(list(zip(x.tolist(), y.tolist(), strict=True)), fill=TRACE_RGB, width=line_w)


def _draw_separators(draw: ImageDraw.ImageDraw, geom: Geometry, line_w: int) -> None:
    """Short bars where one column's window ends and the next begins, as on printed 3x4 sheets."""
    for p in geom.panels:
        if p.column > 0:
            x, y = geom.to_px([p.t_start_ms, p.t_start_ms], [p.baseline_mv - 0.3, p.baseline_mv + 0.3])
            draw.line(list(zip(x.tolist(), y.tolist(), strict=True)), fill=TRACE_RGB, width=line_w)


def ecg_image(
    ecg: ECG,
    layout: str = "12x1",
    width: int | None = None,
    height: int | None = None,
    *,
    start_ms: float = 0.0,
    window_ms: float | None = STANDARD_WINDOW_MS,
    px_per_mm: float = 4.0,
    labels: bool = True,
) -> Image.Image:
    """Draw ``ecg`` on ECG paper as the model sees it: white sheet, pink 1 mm and red 5 mm grid, black
    trace at 25 mm/s and 10 mm/mV, a 1 mV calibration pulse per row and lead labels.

    Give ``width`` and ``height`` for a fixed image size (the paper is fitted, scale kept), or neither
    for ``px_per_mm`` pixels per mm. Same ECG and arguments, same pixels.

    >>> from gem_core.samples import synthetic_ecg
    >>> ecg_image(synthetic_ecg(), "3x4+II", 1600, 1200).size
    (1600, 1200)
    """
    if (width is None) != (height is None):
        raise GemError("give both width and height of the ECG image, or neither")
    size = None if width is None else (int(width), int(height))
    if start_ms >= ecg.duration_ms:
        raise GemError(f"start_ms={start_ms:g} is past the end of the record ({ecg.duration_ms:g} ms)")
    geom = layout_geometry(
        layout, size, start_ms=start_ms, window_ms=window_ms, duration_ms=ecg.duration_ms, px_per_mm=px_per_mm
    )
    img = Image.fromarray(_paper(geom), "RGB")
    draw = ImageDraw.Draw(img)
    line_w = max(1, round(geom.px_per_mm / 4))
    for p in geom.panels:
        pts = _trace_points(geom, p, ecg.signal[LEADS.index(p.lead)], ecg.fs)
        if pts:
            draw.line(pts, fill=TRACE_RGB, width=line_w)
    _draw_calibration(draw, geom, line_w)
    _draw_separators(draw, geom, line_w)
    if labels:
        _draw_labels(draw, geom)
    return img


def _draw_labels(draw: ImageDraw.ImageDraw, geom: Geometry) -> None:
    font = _font(max(8, round(geom.px_per_mm * 3.5)))
    for p in geom.panels:
        x, y = geom.to_px(p.t_start_ms + 2 * MS_PER_MM, p.baseline_mv + 0.8 * p.half_height_mv)
        draw.text((float(x), float(y)), p.lead, fill=TRACE_RGB, font=font, anchor="ls")
    x, y = geom.to_px(geom.extent[0] + 2 * MS_PER_MM, geom.extent[1] + 0.1)
    small = _font(max(8, round(geom.px_per_mm * 2.5)))
    draw.text((float(x), float(y)), "25 mm/s  10 mm/mV", fill=TRACE_RGB, font=small, anchor="ls")
