"""Benchmark: Plotly viewer build time / JSON size, and the model image against a matplotlib reference.

Run: ``python bench/render.py`` (about 30 s). Prints medians of repeated runs on a 10 s, 500 Hz synthetic
12-lead ECG:
1. ``viewer.ecg_figure`` build time and the figure's JSON size per layout (targets: <= 50 ms, <= 600 KB):
   the JSON the app sends (``viewer.figure_json``), and for reference ``fig.to_json()``, the same JSON
   with Plotly's HTML-safe escapes (every "/" of the base64 sample arrays written as 6 bytes, so its size
   varies with the samples);
2. ``gem_core.render.ecg_image`` 3x4+II at 1600x1200 saved to PNG, against a plain matplotlib drawing of the
   same layout (16x12 inches at dpi 100, same grid, traces and labels) saved to PNG; target >= 10x faster.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gem_core.ecg import LEADS
from gem_core.render import (
    MAJOR_MS,
    MAJOR_MV,
    MINOR_MS,
    MINOR_MV,
    ecg_image,
    layout_panels,
    paper_extent,
)
from gem_core.samples import synthetic_ecg
from viewer import ecg_figure, figure_json, update_highlights, with_highlights

HIGHLIGHTS = [
    {
        "lead": lead,
        "t_start_ms": t,
        "t_end_ms": t + 400,
        "verdict": "supported",
        "text": "claim",
        "claim_id": i,
    }
    for i, (lead, t) in enumerate([("V1", 6000), ("II", 1000), ("rhythm", 3000), ("aVL", 2600), ("V5", 8000)])
]


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median wall time (s) of ``repeat`` calls after one warm-up call, and the last result."""
    out = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def matplotlib_reference(ecg, path_or_buffer) -> None:
    """The plain way: one matplotlib axes, the same 3x4+II panels and paper grid, saved to PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    panels = layout_panels("3x4+II")
    x0, y0, x1, y1 = paper_extent(panels)
    fig = plt.figure(figsize=(16, 12), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(400)  # 1 mV takes as much paper as 400 ms
    ax.set_xticks(np.arange(0, x1, MAJOR_MS))
    ax.set_xticks(np.arange(0, x1, MINOR_MS), minor=True)
    ax.set_yticks(np.arange(np.floor(y0), y1, MAJOR_MV))
    ax.set_yticks(np.arange(np.floor(y0), y1, MINOR_MV), minor=True)
    ax.grid(which="major", color=(0.93, 0.5, 0.5), linewidth=0.8)
    ax.grid(which="minor", color=(0.99, 0.82, 0.82), linewidth=0.4)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    t = ecg.times_ms()
    for p in panels:
        sel = (t >= p.t_start_ms) & (t < p.t_end_ms)
        ax.plot(t[sel], ecg.signal[LEADS.index(p.lead)][sel] + p.baseline_mv, color="black", linewidth=0.8)
        ax.text(p.t_start_ms + 80, p.baseline_mv + 0.8 * p.half_height_mv, p.lead, fontsize=12)
    fig.savefig(path_or_buffer, format="png", dpi=100)
    plt.close(fig)


def main() -> None:
    ecg = synthetic_ecg(heart_rate=75, duration_s=10, fs=500)
    print(f"ECG: {ecg.record_id}, {ecg.n_samples} samples x 12 leads at {ecg.fs:g} Hz")
    print("(shared 2-core machine: other work may be running; figures are medians)\n")

    print("1. Plotly viewer (targets: build <= 50 ms, JSON <= 600 KB)")
    for layout in ("12x1", "3x4+II", "6x2"):
        build, fig = timed(lambda layout=layout: ecg_figure(ecg, layout, HIGHLIGHTS), 15)
        to_json, text = timed(fig.to_json, 5)
        sent, compact = timed(lambda fig=fig: figure_json(fig), 5)
        met = "met" if build <= 0.050 and len(compact) <= 600 * 1024 else "NOT met"
        print(
            f"   {layout:7s} build {build * 1000:6.1f} ms   JSON sent {len(compact) / 1024:6.1f} KB"
            f" ({sent * 1000:4.1f} ms; fig.to_json {len(text) / 1024:6.1f} KB, {to_json * 1000:4.1f} ms)"
            f"   traces {len(fig.data)} ({fig.data[0].type}), shapes {len(fig.layout.shapes)}: {met}"
        )

    fig = ecg_figure(ecg, "3x4+II")
    swap, _ = timed(lambda: update_highlights(fig, HIGHLIGHTS), 15)
    copy, _ = timed(lambda: with_highlights(fig, HIGHLIGHTS), 5)
    print(
        f"   new highlight set: update_highlights {swap * 1000:.1f} ms, with_highlights (copy) {copy * 1000:.1f} ms"
    )

    print("\n2. Model image, 3x4+II, 1600x1200 px, saved to PNG")
    render, img = timed(lambda: ecg_image(ecg, "3x4+II", 1600, 1200), 15)

    def ours_png(level: int):
        buf = io.BytesIO()
        ecg_image(ecg, "3x4+II", 1600, 1200).save(buf, format="PNG", compress_level=level)
        return buf

    fast, _ = timed(lambda: ours_png(1), 10)
    default, _ = timed(lambda: ours_png(6), 10)  # Pillow's default zlib level
    ref, _ = timed(lambda: matplotlib_reference(ecg, io.BytesIO()), 3)
    print(f"   gem_core.render.ecg_image (render only)          {render * 1000:7.1f} ms")
    print(f"   gem_core.render.ecg_image + PNG (zlib level 1)   {fast * 1000:7.1f} ms")
    print(f"   gem_core.render.ecg_image + PNG (zlib level 6)   {default * 1000:7.1f} ms")
    print(f"   matplotlib reference + PNG (16x12 in, dpi 100)   {ref * 1000:7.1f} ms")
    print(
        f"   speed-up vs matplotlib (target >= 10x): {ref / default:.1f}x with a default PNG, "
        f"{ref / fast:.1f}x with a fast PNG, {ref / render:.1f}x render only"
    )


if __name__ == "__main__":
    main()
