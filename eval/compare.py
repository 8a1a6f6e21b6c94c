"""``eval compare``: scored runs side by side, each difference to the first run with a paired bootstrap
95% CI over the items both runs answered, and the published ECG-Bench numbers in their own column.

Writes ``compare.json``, ``compare.md`` and ``plots/compare.png`` into the output folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eval.judge import CRITERIA, REPORT_CRITERIA
from eval.metrics import paired_bootstrap_ci
from eval.report import _f, _pyplot, _table
from eval.run import _write_json
from gem_core.errors import GemError

# Published ECG-Bench numbers (DESIGN.md): measured on the published sets, not on the sets compared here.
PUBLISHED = {
    "cpsc": {"metric": "macro-F1 x100", "PULSE-7B": 57.6, "GEM-7B": 61.1},
    "ptb-xl super": {"metric": "macro-F1 x100", "PULSE-7B": 74.8},
    "code-15": {"metric": "macro-F1 x100", "PULSE-7B": 85.4},
    "csn": {"metric": "accuracy %", "PULSE-7B": 85.2},
    "g12ec": {"metric": "accuracy %", "PULSE-7B": 78.2},
    "mmmu-ecg": {"metric": "accuracy %", "PULSE-7B": 58.0},
}
_SET_KEYS = (
    ("cpsc", "cpsc"),
    ("ptb", "ptb-xl super"),
    ("code15", "code-15"),
    ("code-15", "code-15"),
    ("csn", "csn"),
    ("g12", "g12ec"),
    ("mmmu", "mmmu-ecg"),
)


def published_for(run_set: dict) -> tuple[str, dict] | None:
    """The published ECG-Bench row for a run's set (by label set or file name), if there is one."""
    if run_set.get("label_set") == "cpsc2018":
        return "cpsc", PUBLISHED["cpsc"]
    name = Path(str(run_set.get("path", ""))).name.lower()
    for key, row in _SET_KEYS:
        if key in name:
            return row, PUBLISHED[row]
    return None


def _load(run_dir: Path) -> tuple[dict, dict[str, dict]]:
    rep = run_dir / "report.json"
    scores = run_dir / "scores.jsonl"
    if not rep.is_file() or not scores.is_file():
        raise GemError(
            f"{run_dir} has no report.json/scores.jsonl; score it first: python -m eval score {run_dir}"
        )
    report = json.loads(rep.read_text(encoding="utf-8"))
    rows = {}
    for line in scores.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            rows[str(r["id"])] = r
    return report, rows


def _macro_f1(classes: list[str]):
    def stat(x: np.ndarray) -> float:
        k = len(classes)
        y, yp = x[:, :k], x[:, k:]
        tp = (y & yp).sum(0)
        fp = ((1 - y) & yp).sum(0)
        fn = (y & (1 - yp)).sum(0)
        denom = 2 * tp + fp + fn
        f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
        present = y.sum(0) > 0
        return float(f1[present].mean()) if present.any() else 0.0

    return stat


def _class_matrix(rows: dict, ids: list[str], classes: list[str]) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(ids), 2 * len(classes)), dtype=np.int8)
    for r, i in enumerate(ids):
        for lab in rows[i].get("gold") or []:
            out[r, index[lab]] = 1
        for lab in rows[i].get("predicted") or []:
            out[r, len(classes) + index[lab]] = 1
    return out


def _metrics(base: tuple[dict, dict], other: tuple[dict, dict], n_boot: int, seed: int) -> list[dict]:
    """Each metric both runs have: the value in each and the paired bootstrap CI of other - base."""
    (rep_a, rows_a), (rep_b, rows_b) = base, other
    out = []
    ca, cb = rep_a.get("classification"), rep_b.get("classification")
    if ca and cb and ca["classes"] == cb["classes"]:
        ids = sorted(i for i in rows_a if i in rows_b and rows_a[i]["task"] == "classification")
        if ids:
            gold_a = [rows_a[i]["gold"] for i in ids]
            if gold_a != [rows_b[i]["gold"] for i in ids]:
                raise GemError(
                    "the runs disagree on the gold labels of the same ids; compare runs of one set"
                )
            xa, xb = _class_matrix(rows_a, ids, ca["classes"]), _class_matrix(rows_b, ids, ca["classes"])
            out.append(_entry("classification macro-F1", xa, xb, _macro_f1(ca["classes"]), n_boot, seed))
    if rep_a.get("multiple_choice") and rep_b.get("multiple_choice"):
        ids = sorted(i for i in rows_a if i in rows_b and rows_a[i]["task"] == "mcq")
        if ids:
            xa = np.array([rows_a[i]["predicted"] == rows_a[i]["gold"] for i in ids], dtype=float)
            xb = np.array([rows_b[i]["predicted"] == rows_b[i]["gold"] for i in ids], dtype=float)
            out.append(_entry("multiple-choice accuracy", xa, xb, None, n_boot, seed))
    for key, names, label in (
        ("judge", CRITERIA, "judge"),
        ("report_score", REPORT_CRITERIA, "report score"),
    ):
        for name in names:
            ids = sorted(
                i
                for i in rows_a
                if i in rows_b
                and (rows_a[i].get(key) or {}).get(name) is not None
                and (rows_b[i].get(key) or {}).get(name) is not None
            )
            if ids:
                xa = np.array([rows_a[i][key][name] for i in ids], dtype=float)
                xb = np.array([rows_b[i][key][name] for i in ids], dtype=float)
                out.append(_entry(f"{label} {name}", xa, xb, None, n_boot, seed))
    ids = sorted(
        i
        for i in rows_a
        if i in rows_b
        and (rows_a[i].get("grounding") or {}).get("supported_fraction") is not None
        and (rows_b[i].get("grounding") or {}).get("supported_fraction") is not None
    )
    if ids:
        xa = np.array([rows_a[i]["grounding"]["supported_fraction"] for i in ids], dtype=float)
        xb = np.array([rows_b[i]["grounding"]["supported_fraction"] for i in ids], dtype=float)
        out.append(_entry("grounding supported share (mean per answer)", xa, xb, None, n_boot, seed))
    return out


def _entry(name: str, xa: np.ndarray, xb: np.ndarray, stat, n_boot: int, seed: int) -> dict:
    stat = stat or (lambda x: float(np.mean(x)))
    ci = paired_bootstrap_ci(xa, xb, stat, n_boot=n_boot, seed=seed)
    lo_hi = ci["ci95"]
    return {
        "metric": name,
        "base": stat(xa),
        "other": stat(xb),
        "difference": ci["difference"],
        "ci95": lo_hi,
        "n": ci["n"],
        "significant": bool(lo_hi and (lo_hi[0] > 0 or lo_hi[1] < 0)),
    }


def compare(run_dirs: list[str | Path], out: str | Path, n_boot: int = 2000, seed: int = 0) -> dict:
    """Compare runs (the first is the base); writes compare.json, compare.md and plots/compare.png."""
    if len(run_dirs) < 2:
        raise GemError("compare needs at least two run folders")
    runs = [(Path(d), *_load(Path(d))) for d in run_dirs]
    names = _names([r[0] for r in runs])
    base = runs[0]
    result = {"base": names[0], "runs": [], "comparisons": []}
    for name, (path, rep, _rows) in zip(names, runs, strict=True):
        run = rep.get("run") or {}
        result["runs"].append(
            {
                "name": name,
                "path": str(path),
                "backend": run.get("backend"),
                "model": (run.get("model") or {}).get("model"),
                "set": (run.get("set") or {}).get("path"),
                "protocol": rep.get("protocol"),
                "published": published_for(run.get("set") or {}),
            }
        )
    for name, (_path, rep, rows) in zip(names[1:], runs[1:], strict=True):
        result["comparisons"].append({"run": name, "metrics": _metrics(base[1:], (rep, rows), n_boot, seed)})
    ref = next((r["published"] for r in result["runs"] if r["published"]), None)
    result["published"] = (
        {
            "set": ref[0],
            **ref[1],
            "note": "measured on the published ECG-Bench sets, not on these runs' items",
        }
        if ref
        else None
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "compare.json", result)
    (out / "compare.md").write_text(compare_markdown(result), encoding="utf-8")
    result["plots"] = _plot(result, out / "plots")
    _write_json(out / "compare.json", result)
    return result


def _names(paths: list[Path]) -> list[str]:
    names = [p.name or str(p) for p in paths]
    return [n if names.count(n) == 1 else str(p) for n, p in zip(names, paths, strict=True)]


def compare_markdown(result: dict) -> str:
    lines = [f"# Comparison against {result['base']}", ""]
    lines += _table(
        ["run", "backend", "model", "set", "protocol"],
        [[r["name"], r["backend"], r["model"], r["set"], r["protocol"]] for r in result["runs"]],
    )
    pub = result.get("published")
    for comp in result["comparisons"]:
        lines += ["", f"## {comp['run']} vs {result['base']}", ""]
        rows = []
        for m in comp["metrics"]:
            ci = f"[{_f(m['ci95'][0])}, {_f(m['ci95'][1])}]" if m["ci95"] else "n/a"
            ref = ""
            if pub and m["metric"].startswith(("classification", "multiple-choice")):
                ref = (
                    ", ".join(f"{k} {pub[k]}" for k in ("PULSE-7B", "GEM-7B") if k in pub)
                    + f" ({pub['metric']})"
                )
            rows.append(
                [
                    m["metric"],
                    _f(m["base"]),
                    _f(m["other"]),
                    _f(m["difference"]),
                    ci,
                    "yes" if m["significant"] else "no",
                    m["n"],
                    ref,
                ]
            )
        lines += _table(
            [
                "metric",
                result["base"],
                comp["run"],
                "difference",
                "paired bootstrap 95% CI",
                "CI excludes 0",
                "items",
                "published (measured on the published sets)",
            ],
            rows,
        )
    lines += [
        "",
        "Differences are the second run minus the base, over the items both runs have; the CI resamples "
        "those items jointly (paired bootstrap, 2000 resamples, percentile interval). A CI that excludes 0 "
        "means the difference is unlikely to be resampling noise.",
    ]
    if pub:
        lines += ["", f"Published reference ({pub['set']}): {pub['note']}."]
    return "\n".join(lines) + "\n"


def _plot(result: dict, folder: Path) -> list[str]:
    metrics = [(c["run"], m) for c in result["comparisons"] for m in c["metrics"]]
    if not metrics:
        return []
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(metrics) + 1.2))
    for k, (_run, m) in enumerate(metrics):
        lo, hi = m["ci95"] or (m["difference"], m["difference"])
        ax.errorbar(
            m["difference"],
            k,
            xerr=[[m["difference"] - lo], [hi - m["difference"]]],
            fmt="o",
            color="#0f6e8c",
            capsize=3,
        )
    ax.axvline(0, color="#999999", lw=1)
    ax.set_yticks(range(len(metrics)), [f"{run}: {m['metric']}" for run, m in metrics], fontsize=7)
    ax.set_xlabel(f"difference to {result['base']} (paired bootstrap 95% CI)")
    fig.tight_layout()
    fig.savefig(folder / "compare.png", dpi=100)
    plt.close(fig)
    return ["plots/compare.png"]
