"""LLM judges: GEM's eight grounding criteria and ECG-Bench's report score, with fixed aggregation.

The judge is any OpenAI-compatible chat server (default model ``gpt-4o-2024-08-06``, as in the GEM
paper), asked at temperature 0 for a JSON answer. The prompts are this project's own text.

Grounding answer format (GEM's): per criterion a list of ``{"Score": ..., "Explanation": ...}``.
Per item (``aggregate_grounding``):

- DiagnosisAccuracy = 100 x share of listed diagnoses with Score > 0;
- AnalysisCompleteness, AnalysisRelevance = sum of scores;
- LeadAssessmentCoverage = 100 x min(sum, 12) / 12; LeadAssessmentAccuracy = 100 x min(sum, 24) / 24;
- GroundedECGUnderstanding, EvidenceBasedReasoning, RealisticDiagnosticProcess = their score (0-100).

GEM's published aggregation differs, and these are its bugs fixed here: its parser looked for two
keys the prompt never asked for (so two criteria were never scored): every criterion is parsed here,
under the prompt's name or GEM's later name (ECGFeatureGrounding, ClinicalDiagnosticFidelity); answers
that failed to parse were silently dropped from the mean: here a failure is counted per criterion and
shown (``failed``); LeadAssessmentAccuracy was not capped at 100: it is here; a non-numeric score
crashed it: here a numeric string counts as its number and anything else is a failure for that item
and criterion (left out of that criterion's mean, counted).

Report score (ECG-Bench's): Diagnosis, Waveform and Rhythm, 0-10 each, x10; an answer that cannot be
parsed is a failure, not the previous answer's score (ECG-Bench's bug).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from gem_core.errors import GemError

DEFAULT_JUDGE_MODEL = "gpt-4o-2024-08-06"
CRITERIA = (
    "DiagnosisAccuracy",
    "AnalysisCompleteness",
    "AnalysisRelevance",
    "LeadAssessmentCoverage",
    "LeadAssessmentAccuracy",
    "GroundedECGUnderstanding",
    "EvidenceBasedReasoning",
    "RealisticDiagnosticProcess",
)
ALIASES = {
    "ECGFeatureGrounding": "GroundedECGUnderstanding",
    "ClinicalDiagnosticFidelity": "RealisticDiagnosticProcess",
}
PERCENT_CRITERIA = ("GroundedECGUnderstanding", "EvidenceBasedReasoning", "RealisticDiagnosticProcess")
REPORT_CRITERIA = ("Diagnosis", "Waveform", "Rhythm")

GROUNDING_PROMPT = """You are a cardiologist grading a machine-written interpretation of a 12-lead ECG \
against a reference interpretation of the same ECG written by experts.

Question asked:
{question}

Reference interpretation:
{reference}

Interpretation to grade:
{answer}

Grade the interpretation on eight criteria. For each criterion give a JSON list of objects \
{{"Score": number, "Explanation": short reason}}:
- DiagnosisAccuracy: one object per diagnosis in the reference; Score 1 if the graded text reaches it, \
0 if not.
- AnalysisCompleteness: one object per key finding of the reference (rhythm, rate, intervals, axis, \
morphology); Score 1 if the graded text covers it, 0 if not.
- AnalysisRelevance: one object per finding the graded text uses in its reasoning; Score 1 if it \
supports the diagnosis, 0 if it is irrelevant or wrong.
- LeadAssessmentCoverage: one object per lead (of the twelve) the graded text assesses; Score 1 each.
- LeadAssessmentAccuracy: one object per lead assessed; Score 2 if its findings in that lead agree with \
the reference, 1 if partly, 0 if not.
- GroundedECGUnderstanding: a single object; Score 0-100 for how well statements are tied to specific \
leads, waves, intervals and values.
- EvidenceBasedReasoning: a single object; Score 0-100 for how well each conclusion follows from the \
cited evidence.
- RealisticDiagnosticProcess: a single object; Score 0-100 for how closely the reasoning follows the \
systematic reading a cardiologist would do.

Answer with one JSON object whose keys are exactly DiagnosisAccuracy, AnalysisCompleteness, \
AnalysisRelevance, LeadAssessmentCoverage, LeadAssessmentAccuracy, GroundedECGUnderstanding, \
EvidenceBasedReasoning, RealisticDiagnosticProcess, and nothing else."""

REPORT_PROMPT = """You are a cardiologist grading a machine-written ECG report against the reference \
report of the same ECG.

Reference report:
{reference}

Report to grade:
{answer}

Give three scores from 0 (wrong or missing) to 10 (matches the reference): Diagnosis (the diagnoses \
reached), Waveform (the description of waves, intervals and morphology), Rhythm (rate and rhythm). \
Answer with one JSON object {{"Diagnosis": {{"Score": n, "Explanation": text}}, "Waveform": \
{{"Score": n, "Explanation": text}}, "Rhythm": {{"Score": n, "Explanation": text}}}}."""


# --------------------------------------------------------------------------------------------- parsing
def extract_json(raw: str) -> dict:
    """The JSON object in a judge's raw text (plain, or inside a Markdown code fence); ValueError if none."""
    if not isinstance(raw, str):
        raise ValueError("the judge's answer is not text")
    text = raw.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if fence:
        text = fence.group(1).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the judge's answer")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as err:
        raise ValueError(f"malformed JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise ValueError("the judge's JSON is not an object")
    return data


def as_number(value) -> float:
    """A score as a finite float: numbers and numeric strings ("2"); ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"score {value!r} is not a number")
    if isinstance(value, int | float):
        out = float(value)
    elif isinstance(value, str):
        try:
            out = float(value.strip())
        except ValueError:
            raise ValueError(f"score {value!r} is not a number") from None
    else:
        raise ValueError(f"score {value!r} is not a number")
    if not math.isfinite(out):
        raise ValueError(f"score {value!r} is not finite")
    return out


def _scores(entries) -> list[float]:
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        raise ValueError("expected a list of {Score, Explanation}")
    out = []
    for e in entries:
        if not isinstance(e, dict) or not any(k.lower() == "score" for k in e):
            raise ValueError("an entry has no Score")
        value = as_number(next(v for k, v in e.items() if k.lower() == "score"))
        if value < 0:
            raise ValueError(f"negative score {value:g}")
        out.append(value)
    return out


def criterion_value(name: str, entries) -> float:
    """One criterion's per-item value (module docstring); ValueError when its scores are unusable."""
    if name in PERCENT_CRITERIA and isinstance(entries, int | float | str) and not isinstance(entries, bool):
        entries = [{"Score": entries}]
    scores = _scores(entries)
    if name == "DiagnosisAccuracy":
        if not scores:
            raise ValueError("no diagnoses listed")
        return 100.0 * sum(s > 0 for s in scores) / len(scores)
    if name in ("AnalysisCompleteness", "AnalysisRelevance"):
        return float(sum(scores))
    if name == "LeadAssessmentCoverage":
        return 100.0 * min(sum(scores), 12) / 12
    if name == "LeadAssessmentAccuracy":
        return 100.0 * min(sum(scores), 24) / 24
    if name in PERCENT_CRITERIA:
        if len(scores) != 1:
            raise ValueError(f"expected one score, got {len(scores)}")
        if scores[0] > 100:
            raise ValueError(f"score {scores[0]:g} is above 100")
        return scores[0]
    raise ValueError(f"unknown criterion {name}")


def aggregate_grounding(raw: str) -> dict:
    """Per-criterion values of one judge answer and the reason of each failure."""
    values: dict[str, float | None] = dict.fromkeys(CRITERIA)
    failures: dict[str, str] = {}
    try:
        data = extract_json(raw)
    except ValueError as err:
        return {"values": values, "failures": dict.fromkeys(CRITERIA, str(err))}
    data = {ALIASES.get(k, k): v for k, v in data.items()}
    for name in CRITERIA:
        if name not in data:
            failures[name] = "missing"
            continue
        try:
            values[name] = criterion_value(name, data[name])
        except ValueError as err:
            failures[name] = str(err)
    return {"values": values, "failures": failures}


def aggregate_report(raw: str) -> dict:
    """Diagnosis/Waveform/Rhythm of one report-judge answer (0-10 each, x10), failures named."""
    values: dict[str, float | None] = dict.fromkeys(REPORT_CRITERIA)
    failures: dict[str, str] = {}
    try:
        data = extract_json(raw)
    except ValueError as err:
        return {"values": values, "failures": dict.fromkeys(REPORT_CRITERIA, str(err))}
    for name in REPORT_CRITERIA:
        entry = data.get(name)
        if entry is None:
            failures[name] = "missing"
            continue
        try:
            scores = _scores(entry) if not isinstance(entry, int | float | str) else [as_number(entry)]
            if len(scores) != 1 or scores[0] > 10:
                raise ValueError("expected one score 0-10")
            values[name] = 10.0 * scores[0]
        except ValueError as err:
            failures[name] = str(err)
    return {"values": values, "failures": failures}


def summarize(per_item: dict[str, dict], criteria: Iterable[str]) -> dict:
    """Mean, SD, n and failure count per criterion over items (failures left out of the mean)."""
    out: dict = {}
    total_failed = 0
    failed_ids = set()
    for name in criteria:
        vals = [r["values"][name] for r in per_item.values() if r["values"].get(name) is not None]
        failed = [i for i, r in per_item.items() if name in r["failures"]]
        total_failed += len(failed)
        failed_ids.update(failed)
        arr = np.asarray(vals, dtype=float)
        out[name] = {
            "mean": float(arr.mean()) if len(arr) else None,
            "sd": float(arr.std(ddof=1)) if len(arr) > 1 else None,
            "n": len(arr),
            "failed": len(failed),
        }
    out["failed"] = total_failed
    out["failed_items"] = sorted(failed_ids)
    out["n_items"] = len(per_item)
    return out


# ------------------------------------------------------------------------------------------ the server
class JudgeClient:
    """Chat requests to an OpenAI-compatible judge at temperature 0, retried with backoff."""

    def __init__(
        self,
        base_url: str,
        model: str = DEFAULT_JUDGE_MODEL,
        api_key: str = "",
        timeout_s: float = 120.0,
        retries: int = 4,
        backoff_s: float = 1.0,
    ):
        from openai import OpenAI

        if not base_url:
            raise GemError("the judge needs --judge-base-url (an OpenAI-compatible server, e.g. .../v1)")
        self.base_url, self.model = base_url.rstrip("/"), model
        self.retries, self.backoff_s = retries, backoff_s
        self.client = OpenAI(
            base_url=self.base_url, api_key=api_key or "none", timeout=timeout_s, max_retries=0
        )
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "requests": 0}
        self._lock = threading.Lock()
        self.down: str | None = None  # set once a request has spent its retries: the others stop at once

    def complete(self, prompt: str) -> str:
        """The judge's raw text for ``prompt``; ``GemError`` once the retries are spent."""
        import openai

        last = None
        for attempt in range(self.retries + 1):
            if self.down:
                raise GemError(self.down)
            try:
                response = self.client.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "user", "content": prompt}],
                    temperature=0,
                    response_format={"type": "json_object"},
                )
            except (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError) as err:
                last = err
            except openai.APIStatusError as err:
                if err.status_code < 500:
                    raise GemError(
                        f"the judge server at {self.base_url} refused the request (HTTP {err.status_code}); "
                        "check --judge-model and the API key (GEM_JUDGE_API_KEY)"
                    ) from err
                last = err
            else:
                usage = getattr(response, "usage", None)
                with self._lock:
                    self.usage["requests"] += 1
                    if usage is not None:
                        self.usage["prompt_tokens"] += int(usage.prompt_tokens or 0)
                        self.usage["completion_tokens"] += int(usage.completion_tokens or 0)
                return (response.choices[0].message.content or "") if response.choices else ""
            if attempt < self.retries:
                time.sleep(self.backoff_s * 2**attempt)
        self.down = (
            f"the judge server at {self.base_url} failed {self.retries + 1} times ({type(last).__name__}: "
            f"{last}); start it or fix --judge-base-url, then rerun to continue"
        )
        raise GemError(self.down)


def read_judged(path: Path) -> dict[str, dict]:
    """Judge outputs already stored (``{"id", "results", ...}`` per line), by id."""
    out = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "id" in rec and "results" in rec:
                out[str(rec["id"])] = rec
    return out


def judge_items(
    jobs: list[tuple[str, str]],
    out: Path,
    client: JudgeClient,
    concurrency: int = 8,
    progress: Callable[[int], None] | None = None,
) -> dict[str, dict]:
    """Ask the judge each ``(id, prompt)`` not yet in ``out`` (JSONL in GEM's layout), N in flight.

    What was judged is written as it arrives, so a failure (server down after the retries) keeps it
    and a rerun judges only the rest. Returns all stored outputs by id.
    """
    done = read_judged(out)
    todo = [(i, p) for i, p in jobs if i not in done]
    if todo:
        with (
            out.open("a", encoding="utf-8") as fh,
            ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool,
        ):
            futures = {pool.submit(client.complete, prompt): item_id for item_id, prompt in todo}
            try:
                for fut in as_completed(futures):
                    rec = {"id": futures[fut], "results": fut.result(), "judge_model": client.model}
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    fh.flush()
                    done[rec["id"]] = rec
                    if progress:
                        progress(1)
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    return done


# ------------------------------------------------------------------------------------------ rescoring
def load_raw_outputs(paths: Iterable[str | Path]) -> dict[str, str]:
    """Raw judge outputs in GEM's layout: JSON files ``{"id", "results"}`` (or folders of them) and JSONL."""
    out: dict[str, str] = {}
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += sorted(x for x in p.rglob("*") if x.suffix.lower() in (".json", ".jsonl"))
        elif p.is_file():
            files.append(p)
        else:
            raise GemError(f"{p} does not exist; give judge output files (.json/.jsonl) or folders of them")
    for f in files:
        text = f.read_text(encoding="utf-8")
        records = []
        try:
            if f.suffix.lower() == ".json":
                data = json.loads(text)
                records = data if isinstance(data, list) else [data]
            else:
                records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as err:
            raise GemError(f"{f} is not JSON/JSONL ({err.msg} at line {err.lineno})") from None
        for rec in records:
            if not isinstance(rec, dict) or "id" not in rec or "results" not in rec:
                raise GemError(f"{f}: expected records {{'id': ..., 'results': '<the judge's raw text>'}}")
            raw = rec["results"]
            out[str(rec["id"])] = raw if isinstance(raw, str) else json.dumps(raw)
    if not out:
        raise GemError("no judge outputs found in the given files")
    return out


def rescore(paths: Iterable[str | Path]) -> dict:
    """Re-aggregate raw judge outputs with the fixed rules: ``{"judge": summary, "items": per item}``."""
    raw = load_raw_outputs(paths)
    per_item = {i: aggregate_grounding(text) for i, text in raw.items()}
    return {"judge": summarize(per_item, CRITERIA), "items": per_item}
