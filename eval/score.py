"""``eval score``: score a run's answers and write ``scores.jsonl``, ``report.json``, ``report.md``, plots.

Each kind of score applies to the items of its task: classification and multiple choice to theirs,
the grounding judge to grounding items, the report judge to report items (both only with a judge
server), automatic grounding (``gem_core.grounding``, no LLM) to every answer with a readable ECG, and
the human table to the ratings store. Definitions are in ``eval.metrics``, ``eval.judge`` and the
report itself (``eval.report.DEFINITIONS``).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from eval import judge as judging
from eval.metrics import PROTOCOLS, classification_metrics, mcq_metrics, predicted_labels
from eval.run import ANSWERS, RUN_JSON, _write_json, file_exists, read_answers
from eval.sets import EvalSet, Item, load_set
from gem_core.errors import GemError

SCORES = "scores.jsonl"
REPORT_JSON = "report.json"
JUDGE_FILE = "judge.jsonl"
REPORT_JUDGE_FILE = "report_judge.jsonl"
SCHEMA_VERSION = 1


def load_run(run_dir: str | Path) -> tuple[dict, dict[str, dict]]:
    """``run.json`` and the answers of a run folder; ``GemError`` when it is not one."""
    run_dir = Path(run_dir)
    meta_path = run_dir / RUN_JSON
    if not meta_path.is_file():
        raise GemError(f"{run_dir} is not a run folder (no {RUN_JSON}); make one with python -m eval run")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise GemError(f"{meta_path} is not valid JSON ({err.msg})") from None
    return meta, read_answers(run_dir / ANSWERS)


def run_set(meta: dict) -> EvalSet:
    s = meta.get("set") or {}
    eval_set = load_set(s.get("path", ""), s.get("ecg_root"), s.get("image_root"))
    if s.get("sha256") and eval_set.sha256 != s["sha256"]:
        raise GemError(
            f"the set {s.get('path')} changed since the run (sha256 differs); score against the set the "
            "run asked, or make a new run"
        )
    limit = s.get("limit")
    if limit:
        eval_set.items = eval_set.items[:limit]
    return eval_set


# ---------------------------------------------------------------------------------------- pieces
def _classification(items: list[Item], answers: dict, protocol: str, rows: dict) -> dict | None:
    groups: dict[tuple, list[Item]] = {}
    for it in items:
        if it.task == "classification":
            groups.setdefault(tuple(it.options), []).append(it)
    if not groups:
        return None
    results = []
    for options, group in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        gold, pred, scores = [], [], []
        for it in group:
            ans = answers.get(it.id) or {}
            p = predicted_labels(ans.get("answer"), options)
            gold.append(list(it.gold))
            pred.append(p)
            scores.append(ans.get("label_scores"))
            rows[it.id].update(gold=list(it.gold), predicted=p or [], parsed=p is not None)
        have_scores = all(isinstance(s, dict) for s in scores)
        results.append(
            classification_metrics(gold, pred, list(options), scores if have_scores else None, protocol)
        )
    main = results[0]
    if len(results) > 1:
        main = main | {"other_label_sets": results[1:]}
    return main


def _mcq(items: list[Item], answers: dict, protocol: str, rows: dict) -> dict | None:
    group = [it for it in items if it.task == "mcq"]
    if not group:
        return None
    texts = [(answers.get(it.id) or {}).get("answer") for it in group]
    result = mcq_metrics([str(it.gold) for it in group], texts, [it.options for it in group], protocol)
    for it, pred, parsed in zip(group, result["predicted"], result["parsed"], strict=True):
        rows[it.id].update(gold=it.gold, predicted=pred, parsed=parsed is not None)
    return {k: v for k, v in result.items() if k not in ("predicted", "parsed")}


def _judge(
    items: list[Item], answers: dict, run_dir: Path, client, concurrency: int, rows: dict, progress: bool
) -> tuple[dict | None, dict | None]:
    grounding = [it for it in items if it.task == "grounding" and (answers.get(it.id) or {}).get("answer")]
    reports = [it for it in items if it.task == "report" and (answers.get(it.id) or {}).get("answer")]
    g_raw = _stored(run_dir / JUDGE_FILE)
    r_raw = _stored(run_dir / REPORT_JUDGE_FILE)
    if client is not None:
        bar = _bar(len(grounding) + len(reports), progress)
        try:
            g_jobs = [
                (
                    it.id,
                    judging.GROUNDING_PROMPT.format(
                        question=it.question, reference=it.gold, answer=answers[it.id]["answer"]
                    ),
                )
                for it in grounding
            ]
            r_jobs = [
                (it.id, judging.REPORT_PROMPT.format(reference=it.gold, answer=answers[it.id]["answer"]))
                for it in reports
            ]
            g_raw = {
                k: v["results"]
                for k, v in judging.judge_items(
                    g_jobs, run_dir / JUDGE_FILE, client, concurrency, bar.update
                ).items()
            }
            r_raw = {
                k: v["results"]
                for k, v in judging.judge_items(
                    r_jobs, run_dir / REPORT_JUDGE_FILE, client, concurrency, bar.update
                ).items()
            }
        finally:
            bar.close()
    g_ids = {it.id for it in grounding}
    r_ids = {it.id for it in reports}
    g_items = {i: judging.aggregate_grounding(t) for i, t in g_raw.items() if i in g_ids}
    r_items = {i: judging.aggregate_report(t) for i, t in r_raw.items() if i in r_ids}
    for i, agg in g_items.items():
        rows[i]["judge"] = agg["values"]
        rows[i]["judge_failures"] = agg["failures"]
    for i, agg in r_items.items():
        rows[i]["report_score"] = agg["values"]
        rows[i]["report_score_failures"] = agg["failures"]
    judge = report = None
    usage = getattr(client, "usage", None)
    if g_items or (client is not None and grounding):
        judge = judging.summarize(g_items, judging.CRITERIA)
        judge.update(not_judged=len(g_ids - set(g_items)), model=getattr(client, "model", None), usage=usage)
    if r_items or (client is not None and reports):
        report = judging.summarize(r_items, judging.REPORT_CRITERIA)
        vals = [
            sum(r["values"][c] for c in judging.REPORT_CRITERIA) / 3
            for r in r_items.values()
            if all(r["values"][c] is not None for c in judging.REPORT_CRITERIA)
        ]
        report["overall"] = {"mean": sum(vals) / len(vals) if vals else None, "n": len(vals)}
        report["not_judged"] = len(r_ids - set(r_items))
    return judge, report


def _stored(path: Path) -> dict[str, str]:
    return {k: v["results"] for k, v in judging.read_judged(path).items()}


def _grounding(items: list[Item], answers: dict, rows: dict, progress: bool) -> dict | None:
    """Share of claims supported / contradicted / not checkable per answer and overall; leads named."""
    from gem_core.ecg import load_ecg
    from gem_core.features import measure
    from gem_core.grounding import NOT_CHECKABLE, SUPPORTED, ground

    todo = [it for it in items if (answers.get(it.id) or {}).get("answer") and file_exists(it.ecg)]
    if not todo:
        return None
    totals: Counter = Counter()
    leads: Counter = Counter()
    fractions = []
    unreadable = []
    bar = _bar(len(todo), progress, "grounding")
    try:
        for it in todo:
            bar.update(1)
            try:
                m = measure(load_ecg(it.ecg))
            except GemError:
                unreadable.append(it.id)
                continue
            claims = ground(answers[it.id]["answer"], m, final=True)
            counts = Counter(c["verdict"] for c in claims)
            named = sorted({lead for c in claims for lead in c["leads"]})
            leads.update(named)
            n = len(claims)
            entry = {
                "claims": n,
                "supported": counts[SUPPORTED],
                "contradicted": counts["contradicted"],
                "not_checkable": counts[NOT_CHECKABLE],
                "supported_fraction": counts[SUPPORTED] / n if n else None,
                "leads_named": named,
            }
            if n:
                fractions.append(entry["supported_fraction"])
            rows[it.id]["grounding"] = entry
            totals.update(
                {"claims": n, **{k: entry[k] for k in ("supported", "contradicted", "not_checkable")}}
            )
    finally:
        bar.close()
    n = totals["claims"]
    return {
        "answers": len(todo) - len(unreadable),
        "answers_without_claims": len(todo) - len(unreadable) - len(fractions),
        "claims": n,
        "supported": totals["supported"],
        "contradicted": totals["contradicted"],
        "not_checkable": totals["not_checkable"],
        "supported_fraction": totals["supported"] / n if n else None,
        "contradicted_fraction": totals["contradicted"] / n if n else None,
        "not_checkable_fraction": totals["not_checkable"] / n if n else None,
        "mean_supported_fraction_per_answer": sum(fractions) / len(fractions) if fractions else None,
        "leads_named": dict(sorted(leads.items(), key=lambda kv: -kv[1])),
        "unreadable_ecg": unreadable,
    }


def human_table(db_url: str | None = None, campaign: str | None = None) -> dict:
    """The paper's human-evaluation table from the ratings store (``annotations.summary``), per model."""
    from annotations.db import is_sqlite, resolve_url
    from annotations.metrics import METRICS
    from annotations.store import Store

    url = resolve_url(db_url)
    if is_sqlite(url):
        from sqlalchemy.engine import make_url

        db = make_url(url).database
        if not db or db == ":memory:" or not Path(db).is_file():
            return {"available": False, "reason": f"no ratings store at {url}"}
    with Store(url) as store:
        summary = store.summary(store.local_admin(), campaign=campaign)
    return {
        "available": True,
        "store": url.split("@")[-1],  # no credentials in a report
        "campaign": campaign,
        "n_ratings": summary["n_ratings"],
        "metrics": [{"name": m.name, "label": m.label, "group": m.group} for m in METRICS],
        "models": summary["models"],
        "agreement": summary["agreement"],
    }


# ------------------------------------------------------------------------------------------- score
def score(
    run_dir: str | Path,
    *,
    judge_base_url: str | None = None,
    judge_model: str = judging.DEFAULT_JUDGE_MODEL,
    judge_api_key: str = "",
    judge_concurrency: int = 8,
    judge_retries: int = 4,
    judge_backoff_s: float = 1.0,
    protocol: str = "strict",
    ratings_db: str | None = None,
    campaign: str | None = None,
    human: bool = True,
    plots: bool = True,
    progress: bool = True,
) -> dict:
    """Score a run folder; writes scores.jsonl, report.json, report.md and plots/; returns the report."""
    if protocol not in PROTOCOLS:
        raise GemError(f"unknown protocol {protocol!r}; choose {' or '.join(PROTOCOLS)}")
    run_dir = Path(run_dir)
    meta, answers = load_run(run_dir)
    eval_set = run_set(meta)
    items = eval_set.items
    rows = {
        it.id: {
            "id": it.id,
            "task": it.task,
            "gold": it.gold if it.task in ("classification", "mcq") else None,
            "predicted": None,
            "answered": (answers.get(it.id) or {}).get("answer") is not None,
        }
        for it in items
    }
    missing = sorted(
        {f for it in items for f in (answers.get(it.id) or {}).get("missing", [])}
        | {f"ecg: {it.ecg}" for it in items if it.id not in answers and not file_exists(it.ecg)}
    )
    report: dict = {
        "schema_version": SCHEMA_VERSION,
        "run": {
            k: meta.get(k)
            for k in (
                "backend",
                "model",
                "decoding",
                "set",
                "commit",
                "dirty",
                "started",
                "finished",
                "status",
            )
        },
        "protocol": protocol,
        "items": {
            "total": len(items),
            "answered": sum(r["answered"] for r in rows.values()),
            "not_answered": [i for i, r in rows.items() if not r["answered"]],
            "errors": {i: a["error"] for i, a in answers.items() if a.get("error") and i in rows},
            "missing_files": missing,
            "n_missing_files": len(missing),
        },
    }
    report["classification"] = _classification(items, answers, protocol, rows)
    report["multiple_choice"] = _mcq(items, answers, protocol, rows)
    client = None
    if judge_base_url:
        client = judging.JudgeClient(
            judge_base_url, judge_model, judge_api_key, retries=judge_retries, backoff_s=judge_backoff_s
        )
    judge_error = None
    try:
        report["judge"], report["report_score"] = _judge(
            items, answers, run_dir, client, judge_concurrency, rows, progress
        )
    except GemError as err:  # keep what was judged; score the rest and say why the judge stopped
        judge_error = str(err)
        report["judge"], report["report_score"] = _judge(items, answers, run_dir, None, 1, rows, False)
    if report["judge"] is None and any(it.task == "grounding" for it in items):
        report["judge"] = {"note": "not run: give --judge-base-url to score grounding answers"}
    if judge_error:
        report["judge"] = (report["judge"] or {}) | {"error": judge_error}
    report["grounding"] = _grounding(items, answers, rows, progress)
    report["human"] = (
        human_table(ratings_db, campaign) if human else {"available": False, "reason": "not asked"}
    )
    from eval import report as reporting

    report["definitions"] = reporting.DEFINITIONS
    with (run_dir / SCORES).open("w", encoding="utf-8") as fh:
        for r in rows.values():
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    if plots:
        report["plots"] = reporting.write_plots(report, rows, run_dir / "plots")
    _write_json(run_dir / REPORT_JSON, report)
    (run_dir / "report.md").write_text(reporting.markdown(report), encoding="utf-8")
    if judge_error:
        raise GemError(f"{judge_error} (the other scores and what was judged are in {run_dir / REPORT_JSON})")
    return report


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, enabled: bool, desc: str = "judging"):
    if not enabled or not total:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="item", file=sys.stderr, dynamic_ncols=True)
