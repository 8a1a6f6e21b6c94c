"""Human-evaluation tables: per model and metric mean (SD), n and a bootstrap 95% CI; per-rater counts;
inter-rater agreement per metric (Krippendorff's alpha, ordinal).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sqlalchemy.orm import Session

from annotations.exports import Data, load_data
from annotations.metrics import METRIC_NAMES, METRICS, SCALE

N_BOOT = 2000


def bootstrap_ci(
    values: np.ndarray, n_boot: int = N_BOOT, seed: int = 0, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the mean of 1-5 scores.

    Resampling n scores from a 5-point scale is the same as drawing the 5 counts from a multinomial;
    drawing the counts costs O(5) per resample instead of O(n) (scipy.stats.bootstrap resamples rows).

    >>> lo, hi = bootstrap_ci(np.array([3, 4, 4, 5, 2, 4]))
    >>> 2.5 < lo < 3.7 < hi < 4.6
    True
    """
    n = len(values)
    if n < 2:
        return None
    levels = np.array(SCALE, dtype=float)
    counts = np.array([(values == v).sum() for v in SCALE], dtype=float)
    draws = np.random.default_rng(seed).multinomial(n, counts / n, size=n_boot)
    means = draws @ levels / n
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def describe(values: np.ndarray) -> dict:
    n = len(values)
    ci = bootstrap_ci(values)
    return {
        "mean": float(values.mean()) if n else None,
        "sd": float(values.std(ddof=1)) if n > 1 else None,
        "n": n,
        "ci95": list(ci) if ci else None,
    }


def agreement(data: Data) -> dict:
    """Krippendorff's alpha (ordinal) per metric over interpretations rated by >= 2 raters."""
    import krippendorff

    raters = sorted({r[1] for r in data.ratings})
    per_unit: dict[int, int] = defaultdict(int)
    for r in data.ratings:
        per_unit[r[2]] += 1
    units = sorted(u for u, n in per_unit.items() if n >= 2)
    out = {}
    if len(raters) < 2 or not units:
        reason = "needs at least two raters rating the same interpretation"
        return {
            m: {"alpha": None, "units": len(units), "raters": len(raters), "note": reason}
            for m in METRIC_NAMES
        }
    row_of = {r: i for i, r in enumerate(raters)}
    col_of = {u: j for j, u in enumerate(units)}
    for k, name in enumerate(METRIC_NAMES):
        matrix = np.full((len(raters), len(units)), np.nan)
        for r in data.ratings:
            if r[2] in col_of:
                matrix[row_of[r[1]], col_of[r[2]]] = r[3 + k]
        entry = {"alpha": None, "units": len(units), "raters": len(raters)}
        if len(np.unique(matrix[~np.isnan(matrix)])) < 2:
            entry["note"] = "every rating has the same value: alpha is undefined"
        else:
            alpha = krippendorff.alpha(
                reliability_data=matrix, level_of_measurement="ordinal", value_domain=list(SCALE)
            )
            entry["alpha"] = float(alpha)
        out[name] = entry
    return out


def preference_counts(data: Data) -> list[dict]:
    """Per pair of models: how often each won, ties and "both bad" (each rater's latest choice per pair)."""
    latest = {}
    for rater, _case, a, b, choice, _created, _id in data.preferences:
        latest[(rater, frozenset((a, b)))] = (a, b, choice)
    table: dict[tuple[str, str], dict[str, int]] = {}
    for a, b, choice in latest.values():
        ma, mb = data.interps[a].model, data.interps[b].model
        first, second = sorted((ma, mb))
        row = table.setdefault(
            (first, second), {f"{first} wins": 0, f"{second} wins": 0, "tie": 0, "both_bad": 0}
        )
        if choice in ("tie", "both_bad"):
            row[choice] += 1
        else:
            winner = ma if choice == "a" else mb
            row[f"{winner} wins"] += 1
    return [{"models": list(pair), **counts} for pair, counts in sorted(table.items())]


def summarize(s: Session, campaign: str | int | None = None, with_agreement: bool = True) -> dict:
    data = load_data(s, campaign)
    by_model: dict[str, list[tuple]] = defaultdict(list)
    for r in data.ratings:
        by_model[data.interps[r[2]].model].append(r[3 : 3 + len(METRIC_NAMES)])
    models = {}
    for model, rows in sorted(by_model.items()):
        arr = np.asarray(rows, dtype=float)
        models[model] = {name: describe(arr[:, k]) for k, name in enumerate(METRIC_NAMES)}
    per_rater: dict[str, dict[str, int]] = defaultdict(lambda: {"ratings": 0, "preferences": 0})
    for r in data.ratings:
        per_rater[r[1]]["ratings"] += 1
    for p in data.preferences:
        per_rater[p[0]]["preferences"] += 1
    return {
        "campaign": campaign,
        "n_ratings": len(data.ratings),
        "n_preferences": len(data.preferences),
        "identical_preferences": data.identical_preferences,  # left out: both sides had the same text
        "models": models,
        "raters": dict(sorted(per_rater.items())),
        "preferences": preference_counts(data),
        "agreement": agreement(data) if with_agreement else {},
    }


def format_table(summary: dict) -> str:
    """The summary as text: metrics as rows, models as columns, cells ``mean (SD) [lo, hi] n``."""
    models = list(summary["models"])
    lines = [f"ratings: {summary['n_ratings']}, preferences: {summary['n_preferences']}", ""]
    if summary.get("identical_preferences"):
        lines.insert(1, f"left out: {summary['identical_preferences']} A/B choices between identical texts")
    header = ["metric", *models, "alpha (ordinal)"]
    rows = []
    for m in METRICS:
        cells = [m.label]
        for model in models:
            d = summary["models"][model][m.name]
            if d["n"] == 0:
                cells.append("-")
                continue
            sd = f"{d['sd']:.2f}" if d["sd"] is not None else "-"
            ci = f"[{d['ci95'][0]:.2f}, {d['ci95'][1]:.2f}]" if d["ci95"] else "[-]"
            cells.append(f"{d['mean']:.2f} ({sd}) {ci} n={d['n']}")
        alpha = summary["agreement"].get(m.name, {}).get("alpha")
        cells.append(f"{alpha:.3f}" if alpha is not None else "-")
        rows.append(cells)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines += [fmt.format(*header).rstrip(), fmt.format(*["-" * w for w in widths])]
    lines += [fmt.format(*r).rstrip() for r in rows]
    if summary.get("preferences"):
        lines.append("")
    for row in summary.get("preferences", []):
        counts = ", ".join(f"{k} {v}" for k, v in row.items() if k != "models")
        lines.append(f"preferences {row['models'][0]} vs {row['models'][1]}: {counts}")
    lines += [
        "",
        "per rater: "
        + ", ".join(f"{k} {v['ratings']}r/{v['preferences']}p" for k, v in summary["raters"].items()),
    ]
    return "\n".join(lines)
