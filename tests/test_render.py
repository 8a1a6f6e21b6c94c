"""gem_core.render: the shared paper layouts, span geometry and the model's ECG image."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from gem_core.ecg import ECG, LEADS
from gem_core.errors import GemError
from gem_core.render import (
    LAYOUTS,
    MAJOR_RGB,
    MINOR_RGB,
    MS_PER_MV,
    ecg_image,
    layout_geometry,
    layout_panels,
    span_panels,
)


@pytest.fixture(scope="module")
def ecg():
    from gem_core.samples import synthetic_ecg

    return synthetic_ecg(heart_rate=75)


def _v1_pulse_ecg(t0_ms=6000, t1_ms=6400, fs=500) -> ECG:
    """Flat everywhere except a 2 mV step in V1 over [t0, t1): where the ink must land."""
    sig = np.zeros((12, 10 * fs), dtype=np.float32)
    sig[LEADS.index("V1"), int(t0_ms * fs / 1000) : int(t1_ms * fs / 1000)] = 2.0
    return ECG.from_array(sig, fs=fs, record_id="v1-pulse")


# ---------------------------------------------------------------- layouts and span geometry


def test_3x4_columns_show_consecutive_2500_ms_windows_and_rhythm_strip():
    panels = layout_panels("3x4+II")
    windows = {p.lead: (p.t_start_ms, p.t_end_ms) for p in panels if not p.rhythm}
    assert windows["I"] == windows["II"] == windows["III"] == (0.0, 2500.0)
    assert windows["aVR"] == windows["aVL"] == windows["aVF"] == (2500.0, 5000.0)
    assert windows["V1"] == windows["V2"] == windows["V3"] == (5000.0, 7500.0)
    assert windows["V4"] == windows["V5"] == windows["V6"] == (7500.0, 10000.0)
    strips = [p for p in panels if p.rhythm]
    assert [(p.lead, p.t_start_ms, p.t_end_ms) for p in strips] == [("II", 0.0, 10000.0)]
    assert strips[0].row == 3 and strips[0].baseline_mv < min(p.baseline_mv for p in panels if not p.rhythm)


@pytest.mark.parametrize("layout", ["3x4", "3x4+II"])
def test_v1_span_at_6_s_lands_in_the_v1_panel_only(layout):
    hits = span_panels(layout_panels(layout), "V1", 6000, 6400)
    assert [(p.lead, p.column, a, b) for p, a, b in hits] == [("V1", 2, 6000, 6400)]


def test_lead_ii_span_lands_in_its_panel_and_the_rhythm_strip():
    hits = span_panels(layout_panels("3x4+II"), "ii", 1000, 1400)
    assert sorted((p.lead, p.rhythm) for p, _, _ in hits) == [("II", False), ("II", True)]
    # the same span without a rhythm strip: only the panel
    assert [p.rhythm for p, _, _ in span_panels(layout_panels("3x4"), "II", 1000, 1400)] == [False]


def test_v1_span_at_2_6_s_is_not_drawn_in_the_3x4_v1_panel():
    assert span_panels(layout_panels("3x4+II"), "V1", 2600, 2700) == []
    # ...while 12x1 shows every lead for the whole 10 s, so it is drawn there
    assert len(span_panels(layout_panels("12x1"), "V1", 2600, 2700)) == 1


def test_span_across_a_column_border_is_clipped_to_each_panel():
    hits = span_panels(layout_panels("3x4+II"), "II", 2400, 2600)
    assert sorted((p.rhythm, a, b) for p, a, b in hits) == [(False, 2400, 2500), (True, 2400, 2600)]


def test_rhythm_and_all_spans():
    with_strip = span_panels(layout_panels("3x4+II"), "rhythm", 3000, 5000)
    assert [(p.lead, p.rhythm) for p, _, _ in with_strip] == [("II", True)]
    # no strip in 12x1: the rhythm is shown on lead II
    assert [p.lead for p, _, _ in span_panels(layout_panels("12x1"), "rhythm", 3000, 5000)] == ["II"]
    # "all": every panel whose window overlaps (3 limb leads of column 0 + the strip)
    assert len(span_panels(layout_panels("3x4+II"), "all", 100, 200)) == 4


@pytest.mark.parametrize(
    ("lead", "t0", "t1", "message"),
    [
        ("V7", 0, 10, "unknown lead"),
        ("V1", 500, 100, "t_start_ms <= t_end_ms"),
        ("V1", float("nan"), 1, "t_start_ms"),
    ],
)
def test_bad_spans_raise_gem_error(lead, t0, t1, message):
    with pytest.raises(GemError, match=message):
        span_panels(layout_panels("12x1"), lead, t0, t1)


def test_unknown_layout_and_bad_window_raise_gem_error():
    with pytest.raises(GemError, match="unknown ECG layout"):
        layout_panels("4x3")
    with pytest.raises(GemError, match="window_ms"):
        layout_panels("12x1", 0.0, -5.0)
    with pytest.raises(GemError, match="duration_ms"):
        layout_panels("12x1", 0.0, None)


def test_paging_moves_every_window():
    panels = layout_panels("3x4+II", 20000.0)
    assert min(p.t_start_ms for p in panels) == 20000.0
    assert span_panels(panels, "V1", 26000, 26400)[0][0].column == 2
    assert span_panels(panels, "V1", 6000, 6400) == []


def test_geometry_keeps_clinical_aspect_and_maps_spans_inside_the_panel():
    g = layout_geometry("3x4+II", (1600, 1200))
    assert g.px_per_ms * 40 == pytest.approx(g.px_per_mm)  # 1 mm = 40 ms
    assert g.px_per_mv * 0.1 == pytest.approx(g.px_per_mm)  # 1 mm = 0.1 mV
    assert g.px_per_mv / g.px_per_ms == pytest.approx(MS_PER_MV)
    [(panel, (left, top, right, bottom))] = g.span_boxes("V1", 6000, 6400)
    pl, pt, pr, pb = g.panel_box(panel)
    assert pl <= left < right <= pr and (top, bottom) == (pt, pb)
    assert right - left == pytest.approx(400 * g.px_per_ms, abs=1)
    # the whole paper fits the image
    x0, y0, x1, y1 = g.extent
    (a, b), (c, d) = g.to_px(x0, y1), g.to_px(x1, y0)
    assert a >= -0.5 and b >= -0.5 and c <= 1600.5 and d <= 1200.5


# ---------------------------------------------------------------- the image


def test_ink_of_a_v1_pulse_lands_in_the_span_box():
    ecg = _v1_pulse_ecg()
    img = np.asarray(ecg_image(ecg, "3x4+II", 1600, 1200, labels=False))
    g = layout_geometry("3x4+II", (1600, 1200))
    [(panel, (left, top, right, bottom))] = g.span_boxes("V1", 6000, 6400)
    _, base_y = g.to_px(6200, panel.baseline_mv + 2.0)
    row = img[round(float(base_y))]  # the top of the 2 mV step
    black = np.flatnonzero((row == 0).all(axis=1))
    assert black.size > 0
    assert left - 2 <= black.min() and black.max() <= right + 2


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_images_are_deterministic(ecg, layout):
    a = ecg_image(ecg, layout, 800, 600).tobytes()
    b = ecg_image(ecg, layout, 800, 600).tobytes()
    assert hashlib.sha256(a).hexdigest() == hashlib.sha256(b).hexdigest()
    other = ECG.from_array(ecg.signal * 0.5, fs=ecg.fs)
    assert ecg_image(other, layout, 800, 600).tobytes() != a


def test_image_has_white_paper_red_grid_and_black_trace(ecg, artifacts_dir):
    image = ecg_image(ecg, "12x1", 1000, 1200)
    image.save(artifacts_dir / "render_12x1.png")  # for a human look
    ecg_image(ecg, "3x4+II", 1600, 1200).save(artifacts_dir / "render_3x4II.png")
    img = np.asarray(image)
    colours = {tuple(c) for c in img.reshape(-1, 3)[::7]}
    assert {(255, 255, 255), MINOR_RGB, MAJOR_RGB, (0, 0, 0)} <= colours


def test_grid_spacing_is_1_mm_and_5_mm():
    ecg = ECG.from_array(np.zeros((12, 5000), np.float32), fs=500)
    g = layout_geometry("12x1", None, px_per_mm=6.0)
    img = np.asarray(ecg_image(ecg, "12x1", px_per_mm=6.0, labels=False))
    _, y = g.to_px(0, g.panels[0].baseline_mv + 0.45)  # a paper row clear of traces and labels
    row = img[round(float(y)) + 1]
    majors = np.flatnonzero((row == MAJOR_RGB).all(axis=1))
    minors = np.flatnonzero(((row == MINOR_RGB) | (row == MAJOR_RGB)).all(axis=1))
    assert set(np.diff(majors)) <= {29, 30, 31}  # 5 mm at 6 px/mm
    assert set(np.diff(minors)) <= {5, 6, 7}  # 1 mm
    # a major line falls on t = 0 ms (the record start), as in the viewer
    x0, _ = g.to_px(0.0, 0.0)
    assert np.min(np.abs(majors - float(x0))) <= 1


def test_thumbnails_keep_only_the_5_mm_grid(ecg):
    thumb = np.asarray(ecg_image(ecg, "3x4", 360, 270))
    colours = {tuple(c) for c in thumb.reshape(-1, 3)}
    assert MAJOR_RGB in colours and MINOR_RGB not in colours


def test_image_size_options_and_errors(ecg):
    assert ecg_image(ecg, "6x2", 640, 480).size == (640, 480)
    natural = ecg_image(ecg, "12x1", px_per_mm=2.0)
    g = layout_geometry("12x1", None, px_per_mm=2.0)
    assert natural.size == g.size
    with pytest.raises(GemError, match="both width and height"):
        ecg_image(ecg, "12x1", 640)
    with pytest.raises(GemError, match="at least 64x64"):
        ecg_image(ecg, "12x1", 32, 32)
    with pytest.raises(GemError, match="unknown ECG layout"):
        ecg_image(ecg, "2x6")


def test_image_of_a_short_record_and_of_a_later_page():
    fs = 500
    t = np.arange(30 * fs) / fs
    sig = np.tile(np.where((t > 22.0) & (t < 22.4), 1.5, 0.0).astype(np.float32), (12, 1))
    ecg = ECG.from_array(sig, fs=fs)
    first = np.asarray(ecg_image(ecg, "12x1", 800, 900, labels=False))
    page3 = np.asarray(ecg_image(ecg, "12x1", 800, 900, start_ms=20000, labels=False))
    assert not np.array_equal(first, page3)
    with pytest.raises(GemError, match="past the end"):
        ecg_image(ecg, "12x1", start_ms=30000)
    whole = ecg_image(ecg, "12x1", window_ms=None, px_per_mm=1.0)  # all 30 s on one sheet
    assert whole.size[0] > 3 * ecg_image(ecg, "12x1", px_per_mm=1.0).size[0] - 40
    short = ECG.from_array(np.zeros((12, 2000), np.float32), fs=500)  # 4 s: the rest stays blank paper
    assert ecg_image(short, "3x4+II", 800, 600).size == (800, 600)
