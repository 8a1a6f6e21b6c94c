"""The admin Evaluation view's handlers: saved eval runs, one run's report and plots, a compare table.

Read only: runs are listed from ``GEM_EVAL_DIR`` (default ``<GEM_DATA_DIR>/eval``), reports and plots
are read as they are, and a comparison is computed in a temporary folder that is removed afterwards.
Every handler checks on the server that the caller is an admin (``auth.require_admin``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from app import auth
from app.state import AppContext
from gem_core.errors import GemError

RUN_COLUMNS = ["run", "backend", "model", "set", "items", "answered", "status", "macro-F1", "MC accuracy", "grounding supported", "judge failures"]  # fmt: skip


def runs_dir(ctx: AppContext) -> Path:
    return ctx.settings.eval_runs_dir


def run_names(ctx: AppContext) -> list[str]:
    """Run folders (those with a run.json) directly under the runs folder, by name."""
    root = runs_dir(ctx)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "run.json").is_file())


def _run_path(ctx: AppContext, name: str) -> Path:
    """The folder of a listed run; any other name (a path, '..') is refused."""
    if not name or name not in run_names(ctx):
        raise GemError(f"no saved run called {name!r} in {runs_dir(ctx)}; press Refresh to list the runs")
    return runs_dir(ctx) / name


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def runs_table(ctx: AppContext, request=None):
    """(DataFrame of the saved runs with their headline scores, run names) for an admin."""
    import pandas as pd

    auth.require_admin(ctx, request, None)
    rows = []
    names = run_names(ctx)
    for name in names:
        meta = _read_json(runs_dir(ctx) / name / "run.json") or {}
        rep = _read_json(runs_dir(ctx) / name / "report.json") or {}
        c, m = rep.get("classification") or {}, rep.get("multiple_choice") or {}
        g, j = rep.get("grounding") or {}, rep.get("judge") or {}
        rows.append(
            [
                name,
                meta.get("backend"),
                (meta.get("model") or {}).get("model"),
                Path(str((meta.get("set") or {}).get("path", ""))).name,
                meta.get("n_items"),
                meta.get("n_answered"),
                meta.get("status") + ("" if rep else " (not scored)") if meta.get("status") else "unknown",
                _num(c.get("macro_f1")),
                _num(m.get("accuracy")),
                _num(g.get("supported_fraction")),
                j.get("failed", ""),
            ]
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS), names


def _num(x) -> str:
    return "" if x is None else f"{x:.3f}"


def _images(folder: Path) -> list[tuple]:
    """The PNGs of a folder as (PIL image, caption), loaded into memory (the files stay untouched)."""
    from PIL import Image

    out = []
    for png in sorted(folder.glob("*.png")) if folder.is_dir() else []:
        with Image.open(png) as im:
            out.append((im.convert("RGB"), png.stem.replace("_", " ")))
    return out


def show_run(ctx: AppContext, name: str, request=None) -> tuple[str, list]:
    """(report.md, plots) of one saved run; a run not yet scored says how to score it."""
    auth.require_admin(ctx, request, None)
    folder = _run_path(ctx, name)
    report = folder / "report.md"
    if not report.is_file():
        meta = _read_json(folder / "run.json") or {}
        return (
            f"**{name}** is not scored yet ({meta.get('n_answered', '?')} of {meta.get('n_items', '?')} "
            f"answered). Score it with `python -m eval score {folder}`.",
            [],
        )
    return report.read_text(encoding="utf-8"), _images(folder / "plots")


def compare_runs(ctx: AppContext, names: list[str] | None, request=None) -> tuple[str, list]:
    """(compare.md, plots) of the chosen runs, computed in a temporary folder (nothing is written to the runs)."""
    from eval.compare import compare

    auth.require_admin(ctx, request, None)
    names = list(names or [])
    if len(names) < 2:
        raise GemError("choose at least two runs to compare (the first is the base)")
    paths = [_run_path(ctx, n) for n in names]
    tmp = Path(tempfile.mkdtemp(prefix="gem-compare-"))
    try:
        compare(paths, tmp, n_boot=2000)
        return (tmp / "compare.md").read_text(encoding="utf-8"), _images(tmp / "plots")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
