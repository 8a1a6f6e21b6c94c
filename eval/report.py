"""Reports people read: ``report.md`` and PNG plots (matplotlib) from a ``report.json`` dict."""

from __future__ import annotations

from pathlib import Path

DEFINITIONS = {
    "classification": (
        "Multi-label classification: an answer predicts the options it names (whole words; for CPSC 2018 "
        "classes also their synonyms, and a class mentioned only negated is not predicted); an answer "
        "naming none is unparsed and predicts nothing. Per class: precision TP/(TP+FP), recall TP/(TP+FN), "
        "F1 2PR/(P+R), each 0 when its denominator is 0; support = gold positives. Macro-F1 = mean F1 over "
        "classes with at least one gold positive (classes without are listed and left out). Hamming loss = "
        "share of wrong (item, class) decisions. AUC only from scores the backend gives, else n/a."
    ),
    "multiple_choice": (
        "Multiple choice: a strict parser reads one option letter (an explicit 'answer is X', or the one "
        "option letter standing alone) or the text of exactly one option; anything else is unparsed and "
        "counts as wrong. Accuracy = correct / items; parse rate = parsed / items."
    ),
    "ecgbench_protocol": (
        "--protocol ecgbench reproduces ECG-Bench's published scoring for comparison with its numbers: "
        "macro-F1 over all classes (classes without positives count as F1 0), AUC from 0/1 predictions, "
        "and unparsed multiple-choice answers replaced by a random letter (random.seed(42)), which inflates "
        "accuracy."
    ),
    "judge": (
        "Grounding judge (GEM's eight criteria, the project's prompt, temperature 0, JSON answers; per "
        "criterion a list of {Score, Explanation}). Per item: DiagnosisAccuracy = 100 x share of listed "
        "diagnoses with Score > 0; AnalysisCompleteness, AnalysisRelevance = sum of scores; "
        "LeadAssessmentCoverage = 100 x min(sum, 12)/12; LeadAssessmentAccuracy = 100 x min(sum, 24)/24; "
        "GroundedECGUnderstanding, EvidenceBasedReasoning, RealisticDiagnosticProcess = their 0-100 score. "
        "Numeric strings count as numbers; a missing criterion or non-numeric, negative or out-of-range "
        "score is a failure for that item and criterion: left out of the mean and counted in 'failed'."
    ),
    "report_score": (
        "Report score (ECG-Bench): Diagnosis, Waveform, Rhythm, 0-10 each from the judge, x10; overall = "
        "their mean. An unparsable judge answer is a failure (counted), never the previous answer's score."
    ),
    "grounding": (
        "Automatic grounding (gem_core.grounding, no LLM): each answer's claims checked against the "
        "measurements of its ECG: share supported, contradicted, not checkable (overall: over all claims; "
        "also the mean of per-answer shares), and the leads the claims name."
    ),
    "human": (
        "Human evaluation (ratings store, annotations.summary): per model and metric mean (SD), n, bootstrap "
        "95% CI of the mean; Krippendorff's alpha (ordinal) per metric over interpretations rated by two or "
        "more raters."
    ),
}


def _f(x, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    return f"{x:.{digits}f}"


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines


def markdown(report: dict) -> str:
    run = report.get("run") or {}
    model = run.get("model") or {}
    s = run.get("set") or {}
    items = report.get("items") or {}
    out = [
        f"# Evaluation report: {model.get('label', run.get('backend'))}",
        "",
        f"- backend `{run.get('backend')}`, model `{model.get('model')}` ({model.get('version')})",
        f"- decoding: {run.get('decoding')}",
        f"- set `{s.get('path')}` ({s.get('format')}, {s.get('n_items')} items, sha256 {str(s.get('sha256'))[:12]}…)",
        f"- commit `{run.get('commit')}`{' (uncommitted changes)' if run.get('dirty') else ''}; "
        f"run {run.get('started')} → {run.get('finished')} ({run.get('status')})",
        f"- scoring protocol: **{report.get('protocol')}**"
        + (
            " (ECG-Bench's published procedure, for comparison with its numbers)"
            if report.get("protocol") == "ecgbench"
            else ""
        ),
        f"- items: {items.get('total')} total, {items.get('answered')} answered, "
        f"{len(items.get('not_answered') or [])} not answered, {items.get('n_missing_files', 0)} missing files",
        "",
    ]
    if items.get("missing_files"):
        out += ["## Missing files", ""] + [f"- {m}" for m in items["missing_files"][:200]] + [""]
    c = report.get("classification")
    if c:
        out += [
            "## Multi-label classification",
            "",
            f"Macro-F1 **{_f(c['macro_f1'])}** over {len(c['macro_over'])} classes; hamming loss {_f(c['hamming_loss'])}; "
            f"macro AUC {_f(c['macro_auc']) if c['auc'] != 'n/a' else 'n/a (the backend gives no scores)'}"
            f"{'' if c['auc'] in ('n/a', 'scores') else ' (' + c['auc'] + ')'}; parse rate {_f(c['parse_rate'])} "
            f"({c['unparsed']} unparsed); exact match {_f(c['exact_match'])}; n = {c['n']}.",
            "",
        ]
        rows = [
            [
                k,
                _f(v["precision"]),
                _f(v["recall"]),
                _f(v["f1"]),
                v["support"],
                v["tp"],
                v["fp"],
                v["fn"],
                _f(v["auc"]),
            ]
            for k, v in c["per_class"].items()
        ]
        out += _table(["class", "precision", "recall", "F1", "support", "TP", "FP", "FN", "AUC"], rows)
        if c["no_positive_classes"]:
            out += [
                "",
                "Classes without positives in the set (left out of the macro mean): "
                + ", ".join(c["no_positive_classes"]),
            ]
        out += ["", DEFINITIONS["classification"], ""]
    m = report.get("multiple_choice")
    if m:
        out += [
            "## Multiple choice",
            "",
            f"Accuracy **{_f(m['accuracy'])}** ({m['correct']} of {m['n']}); parse rate {_f(m['parse_rate'])} "
            f"({m['unparsed']} unparsed).",
            "",
            DEFINITIONS["multiple_choice"],
            "",
        ]
    if report.get("protocol") == "ecgbench":
        out += [DEFINITIONS["ecgbench_protocol"], ""]
    j = report.get("judge")
    if j:
        out += ["## Grounding judge", ""]
        if "note" in j:
            out += [j["note"], ""]
        if "n_items" in j:
            from eval.judge import CRITERIA

            rows = [[k, _f(j[k]["mean"], 2), _f(j[k]["sd"], 2), j[k]["n"], j[k]["failed"]] for k in CRITERIA]
            out += _table(["criterion", "mean", "SD", "n", "failed"], rows)
            usage = j.get("usage") or {}
            out += [
                "",
                f"Judge `{j.get('model')}`; {j['n_items']} items judged, {j.get('not_judged', 0)} not judged; "
                f"{j['failed']} item-criterion failures; tokens: {usage.get('prompt_tokens', 'n/a')} prompt, "
                f"{usage.get('completion_tokens', 'n/a')} completion.",
            ]
        if j.get("error"):
            out += ["", f"**The judge stopped:** {j['error']}"]
        out += ["", DEFINITIONS["judge"], ""]
    r = report.get("report_score")
    if r:
        from eval.judge import REPORT_CRITERIA

        rows = [
            [k, _f(r[k]["mean"], 1), _f(r[k]["sd"], 1), r[k]["n"], r[k]["failed"]] for k in REPORT_CRITERIA
        ]
        out += ["## Report score", ""] + _table(["part", "mean (0-100)", "SD", "n", "failed"], rows)
        out += [
            "",
            f"Overall {_f(r['overall']['mean'], 1)} (n = {r['overall']['n']}).",
            "",
            DEFINITIONS["report_score"],
            "",
        ]
    g = report.get("grounding")
    if g:
        leads = ", ".join(f"{k} {v}" for k, v in list(g["leads_named"].items())[:12]) or "none"
        out += [
            "## Automatic grounding",
            "",
            f"{g['claims']} claims in {g['answers']} answers: supported {_f(g['supported_fraction'])}, "
            f"contradicted {_f(g['contradicted_fraction'])}, not checkable {_f(g['not_checkable_fraction'])}; "
            f"mean per answer supported {_f(g['mean_supported_fraction_per_answer'])}; "
            f"{g['answers_without_claims']} answers without claims.",
            "",
            f"Leads named (answers naming each): {leads}.",
            "",
            DEFINITIONS["grounding"],
            "",
        ]
    h = report.get("human") or {}
    out += ["## Human evaluation", ""]
    if h.get("available") and h.get("models"):
        models = list(h["models"])
        rows = []
        for metric in h["metrics"]:
            cells = [
                f"{metric['label']} ({'reliability' if metric['group'] == 'analytical' else 'usefulness'})"
            ]
            for model_name in models:
                d = h["models"][model_name][metric["name"]]
                ci = f"[{d['ci95'][0]:.2f}, {d['ci95'][1]:.2f}]" if d.get("ci95") else "[-]"
                cells.append(f"{_f(d['mean'], 2)} ({_f(d['sd'], 2)}) {ci} n={d['n']}" if d["n"] else "-")
            cells.append(_f((h["agreement"].get(metric["name"]) or {}).get("alpha")))
            rows.append(cells)
        out += _table(["metric", *models, "Krippendorff's alpha"], rows)
        out += ["", DEFINITIONS["human"], ""]
    else:
        out += [h.get("reason", "no ratings"), ""]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------- plots
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(report: dict, rows: dict, folder: Path) -> list[str]:
    """PNG plots of a run: per-class F1, confusion counts, judge criteria, score distributions."""
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(folder / name, dpi=100)
        plt.close(fig)
        written.append(f"plots/{name}")

    c = report.get("classification")
    if c:
        names = list(c["per_class"])
        f1 = [c["per_class"][k]["f1"] for k in names]
        fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(names) + 2), 3.2))
        colors = ["#0f6e8c" if c["per_class"][k]["support"] else "#bbbbbb" for k in names]
        ax.bar(names, f1, color=colors)
        ax.set_ylim(0, 1)
        ax.set_ylabel("F1")
        ax.set_title(f"Per-class F1 (macro {_f(c['macro_f1'])}; grey: no positives)")
        ax.tick_params(axis="x", rotation=45)
        save(fig, "class_f1.png")
        fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(names) + 2), 3.2))
        bottom = [0] * len(names)
        for key, color in (("tp", "#2a9d8f"), ("fn", "#e9c46a"), ("fp", "#e76f51")):
            vals = [c["per_class"][k][key] for k in names]
            ax.bar(names, vals, bottom=bottom, color=color, label=key.upper())
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.set_ylabel("items")
        ax.set_title("Confusion counts per class")
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", rotation=45)
        save(fig, "confusion.png")
    m = report.get("multiple_choice")
    if m:
        letters = sorted(
            {str(r["gold"]) for r in rows.values() if r["task"] == "mcq"}
            | {str(r["predicted"]) for r in rows.values() if r["task"] == "mcq"}
        )
        index = {k: i for i, k in enumerate(letters)}
        import numpy as np

        mat = np.zeros((len(letters), len(letters)), dtype=int)
        for r in rows.values():
            if r["task"] == "mcq":
                mat[index[str(r["gold"])], index[str(r["predicted"])]] += 1
        fig, ax = plt.subplots(figsize=(3 + 0.4 * len(letters), 3 + 0.4 * len(letters)))
        ax.imshow(mat, cmap="Blues")
        ax.set_xticks(range(len(letters)), letters)
        ax.set_yticks(range(len(letters)), letters)
        ax.set_xlabel("predicted (None = unparsed)")
        ax.set_ylabel("gold")
        for i in range(len(letters)):
            for k in range(len(letters)):
                ax.text(k, i, str(mat[i, k]), ha="center", va="center", fontsize=8)
        ax.set_title(f"Multiple choice (accuracy {_f(m['accuracy'])})")
        save(fig, "mcq_confusion.png")
    j = report.get("judge") or {}
    if "n_items" in j:
        from eval.judge import CRITERIA

        means = [j[k]["mean"] or 0 for k in CRITERIA]
        sds = [j[k]["sd"] or 0 for k in CRITERIA]
        fig, ax = plt.subplots(figsize=(8, 3.5))
        ax.bar(range(len(CRITERIA)), means, yerr=sds, color="#0f6e8c", capsize=3)
        ax.set_xticks(range(len(CRITERIA)), CRITERIA, rotation=35, ha="right", fontsize=8)
        ax.set_title(f"Judge criteria: mean (SD); {j['failed']} failures")
        save(fig, "judge_criteria.png")
        fig, axes = plt.subplots(2, 4, figsize=(10, 4.5))
        for ax, name in zip(axes.flat, CRITERIA, strict=True):
            vals = [
                r["judge"][name] for r in rows.values() if r.get("judge") and r["judge"].get(name) is not None
            ]
            ax.hist(vals, bins=10, color="#0f6e8c")
            ax.set_title(name, fontsize=7)
        save(fig, "judge_distributions.png")
    g = report.get("grounding")
    if g:
        vals = [
            r["grounding"]["supported_fraction"]
            for r in rows.values()
            if r.get("grounding") and r["grounding"]["supported_fraction"] is not None
        ]
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.hist(vals, bins=10, range=(0, 1), color="#2a9d8f")
        ax.set_xlabel("share of an answer's claims supported")
        ax.set_ylabel("answers")
        ax.set_title(f"Automatic grounding (overall {_f(g['supported_fraction'])})")
        save(fig, "grounding_supported.png")
    return written
