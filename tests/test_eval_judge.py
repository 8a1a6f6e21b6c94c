"""The grounding judge against a real chat-completions server on 127.0.0.1, GEM's aggregation with its
bugs fixed (each expected value computed by hand here), rescore-judge, and a judge server that is down."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eval.judge import CRITERIA, DEFAULT_JUDGE_MODEL, JudgeClient, aggregate_grounding, aggregate_report
from eval.run import read_answers, run
from eval.score import JUDGE_FILE, score
from gem_core.errors import GemError
from gem_core.prompts import DEFAULT_QUESTION
from tests.conftest import free_port
from tests.test_backend_openai import ChatServer
from tests.test_eval_run import write_record

REPO = Path(__file__).resolve().parents[1]


def entries(*scores):
    return [{"Score": s, "Explanation": "because"} for s in scores]


WELL_FORMED = {
    "DiagnosisAccuracy": entries(1, 0, 1, 1),  # 3 of 4 diagnoses -> 75
    "AnalysisCompleteness": entries(1, 1, 0),  # sum 2
    "AnalysisRelevance": entries(1, 1),  # sum 2
    "LeadAssessmentCoverage": entries(*[1] * 6),  # 6 of 12 -> 50
    "LeadAssessmentAccuracy": entries(*[2] * 6),  # 12 of 24 -> 50
    "GroundedECGUnderstanding": entries(80),
    "EvidenceBasedReasoning": entries(70),
    "RealisticDiagnosticProcess": entries(60),
}
# GEM's later key names, and EvidenceBasedReasoning missing
MISSING_ONE = {
    "DiagnosisAccuracy": entries(1),  # 100
    "AnalysisCompleteness": entries(1, 1, 1, 1),  # 4
    "AnalysisRelevance": entries(1, 0, 1),  # 2
    "LeadAssessmentCoverage": entries(*[1] * 12),  # 100
    "LeadAssessmentAccuracy": entries(*[1] * 12),  # 12 of 24 -> 50
    "ECGFeatureGrounding": entries(40),
    "ClinicalDiagnosticFidelity": entries(90),
}
STRING_SCORES = {
    "DiagnosisAccuracy": entries("1", "0"),  # numeric strings count: 1 of 2 -> 50
    "AnalysisCompleteness": entries("high"),  # not a number: a failure
    "AnalysisRelevance": entries("3"),  # 3
    "LeadAssessmentCoverage": entries(*["1"] * 3),  # 3 of 12 -> 25
    "LeadAssessmentAccuracy": entries(*[2] * 3),  # 6 of 24 -> 25
    "GroundedECGUnderstanding": entries("50"),
    "EvidenceBasedReasoning": entries(50),
    "RealisticDiagnosticProcess": entries(50),
}
OVER_RANGE = {
    "DiagnosisAccuracy": entries(0, 0),  # 0
    "AnalysisCompleteness": entries(1),  # 1
    "AnalysisRelevance": entries(1),  # 1
    "LeadAssessmentCoverage": entries(*[1] * 15),  # 15 leads: capped at 12 -> 100
    "LeadAssessmentAccuracy": entries(*[2] * 14),  # 28: capped at 24 -> 100 (GEM did not cap)
    "GroundedECGUnderstanding": entries(150),  # above 100: a failure
    "EvidenceBasedReasoning": entries(20),
    "RealisticDiagnosticProcess": entries(30),
}
RAW = {
    "ITEM-1": "```json\n" + json.dumps(WELL_FORMED) + "\n```",  # inside a code fence
    "ITEM-2": '{"DiagnosisAccuracy": [{"Score": 1, "Explanation": "x"}, ',  # malformed JSON
    "ITEM-3": json.dumps(MISSING_ONE),
    "ITEM-4": json.dumps(STRING_SCORES),
    "ITEM-5": json.dumps(OVER_RANGE),
}
# by hand: per criterion, the values of items 1, 3, 4, 5 (item 2 fails everywhere); None = failure
EXPECTED = {
    "DiagnosisAccuracy": [75, 100, 50, 0],
    "AnalysisCompleteness": [2, 4, None, 1],
    "AnalysisRelevance": [2, 2, 3, 1],
    "LeadAssessmentCoverage": [50, 100, 25, 100],
    "LeadAssessmentAccuracy": [50, 50, 25, 100],
    "GroundedECGUnderstanding": [80, 40, 50, None],
    "EvidenceBasedReasoning": [70, None, 50, 20],
    "RealisticDiagnosticProcess": [60, 90, 50, 30],
}
EXPECTED_FAILED = 8 + 3  # every criterion of item 2; one each in items 3, 4, 5


def check_summary(judge: dict) -> None:
    for name, values in EXPECTED.items():
        ok = [v for v in values if v is not None]
        assert judge[name]["mean"] == pytest.approx(np.mean(ok)), name
        assert judge[name]["n"] == len(ok), name
        assert judge[name]["failed"] == 1 + values.count(None), name  # item 2 plus this criterion's own
    assert judge["failed"] == EXPECTED_FAILED
    assert judge["failed_items"] == ["j2", "j3", "j4", "j5"]


def reply(body: dict) -> str:
    prompt = body["messages"][0]["content"]
    return next(raw for marker, raw in RAW.items() if marker in prompt)


@pytest.fixture(scope="module")
def running_server():
    srv = ChatServer()
    yield srv
    srv.close()


@pytest.fixture
def server(running_server):
    running_server.reset()
    running_server.reply = reply
    return running_server


@pytest.fixture(scope="module")
def grounding_run(tmp_path_factory) -> Path:
    """A measure run over five grounding questions whose references carry the markers ITEM-1..5."""
    folder = tmp_path_factory.mktemp("judge-run")
    write_record(folder, "R00", "426783006")
    records = [
        {"id": f"j{k}", "ecg": "R00", "conversations": [
            {"from": "human", "value": "<image>\n" + DEFAULT_QUESTION},
            {"from": "gpt", "value": f"Reference ITEM-{k}: sinus rhythm at 75 bpm."}]}
        for k in range(1, 6)
    ]  # fmt: skip
    (folder / "set.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    run(folder / "set.jsonl", folder / "run", "measure", progress=False)
    return folder / "run"


def fresh(run_dir: Path, tmp_path: Path) -> Path:
    import shutil

    dest = tmp_path / "run"
    shutil.copytree(run_dir, dest)
    return dest


def test_aggregation_by_hand():
    values = {k: aggregate_grounding(raw) for k, raw in RAW.items()}
    assert values["ITEM-2"]["failures"].keys() == set(CRITERIA)
    assert "malformed JSON" in values["ITEM-2"]["failures"]["DiagnosisAccuracy"]
    assert values["ITEM-3"]["failures"] == {"EvidenceBasedReasoning": "missing"}
    assert values["ITEM-4"]["failures"] == {"AnalysisCompleteness": "score 'high' is not a number"}
    assert values["ITEM-5"]["failures"] == {"GroundedECGUnderstanding": "score 150 is above 100"}
    for name, expected in EXPECTED.items():
        got = [values[k]["values"][name] for k in ("ITEM-1", "ITEM-3", "ITEM-4", "ITEM-5")]
        assert got == expected, name


def test_report_score_parse_failure_is_not_the_previous_score():
    good = aggregate_report(
        json.dumps({p: {"Score": s} for p, s in (("Diagnosis", 7), ("Waveform", 5), ("Rhythm", "9"))})
    )
    assert good["values"] == {"Diagnosis": 70.0, "Waveform": 50.0, "Rhythm": 90.0}
    bad = aggregate_report("Diagnosis: 7/10")
    assert bad["values"] == dict.fromkeys(("Diagnosis", "Waveform", "Rhythm")) and len(bad["failures"]) == 3
    over = aggregate_report(
        json.dumps({"Diagnosis": {"Score": 11}, "Waveform": {"Score": 1}, "Rhythm": {"Score": 1}})
    )
    assert "Diagnosis" in over["failures"] and over["values"]["Waveform"] == 10.0


def test_judge_over_http_aggregates_and_counts(server, grounding_run, tmp_path):
    run_dir = fresh(grounding_run, tmp_path)
    report = score(run_dir, judge_base_url=server.url, judge_concurrency=3, progress=False, human=False)
    check_summary(report["judge"])
    assert len(server.requests) == 5
    req = server.requests[0]
    assert (
        req["path"] == "/v1/chat/completions" and req["model"] == DEFAULT_JUDGE_MODEL == "gpt-4o-2024-08-06"
    )
    assert req["temperature"] == 0 and req["response_format"] == {"type": "json_object"}
    prompt = req["messages"][0]["content"]
    assert all(name in prompt for name in CRITERIA) and "Reference ITEM-" in prompt
    assert report["judge"]["usage"] == {"prompt_tokens": 500, "completion_tokens": 50, "requests": 5}
    saved = json.loads((run_dir / "report.json").read_text())
    assert saved["judge"]["failed"] == EXPECTED_FAILED
    assert saved["judge"]["LeadAssessmentAccuracy"]["mean"] == pytest.approx(56.25)
    rows = {json.loads(x)["id"]: json.loads(x) for x in (run_dir / "scores.jsonl").read_text().splitlines()}
    assert (
        rows["j5"]["judge"]["LeadAssessmentCoverage"] == 100.0
        and rows["j5"]["judge"]["GroundedECGUnderstanding"] is None
    )
    assert "judge_criteria.png" in " ".join(saved["plots"])
    assert "| GroundedECGUnderstanding | 56.67 |" in (run_dir / "report.md").read_text()
    # scoring again asks the judge nothing: its outputs are kept in judge.jsonl (GEM's layout)
    score(run_dir, judge_base_url=server.url, progress=False, human=False, plots=False)
    assert len(server.requests) == 5
    stored = [json.loads(x) for x in (run_dir / JUDGE_FILE).read_text().splitlines()]
    assert sorted(r["id"] for r in stored) == ["j1", "j2", "j3", "j4", "j5"] and all(
        "results" in r for r in stored
    )


def test_rescore_judge_gem_layout(tmp_path):
    folder = tmp_path / "gem_outputs"
    folder.mkdir()
    for k in (1, 2, 3):  # one JSON per item
        (folder / f"j{k}.json").write_text(json.dumps({"id": f"j{k}", "results": RAW[f"ITEM-{k}"]}))
    jsonl = tmp_path / "more.jsonl"  # and JSONL of the same records
    jsonl.write_text("\n".join(json.dumps({"id": f"j{k}", "results": RAW[f"ITEM-{k}"]}) for k in (4, 5)))
    out = tmp_path / "rescored"
    proc = subprocess.run(
        [sys.executable, "-m", "eval", "rescore-judge", str(folder), str(jsonl), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    check_summary(json.loads((out / "rescore.json").read_text())["judge"])
    assert "| LeadAssessmentAccuracy | 56.25 |" in (out / "rescore.md").read_text()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"item": 1, "text": "x"}))
    proc = subprocess.run(
        [sys.executable, "-m", "eval", "rescore-judge", str(bad), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and "expected records {'id'" in proc.stderr


def test_judge_server_down_is_retried_then_stops_clearly():
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    client = JudgeClient(url, retries=2, backoff_s=0.05, timeout_s=2)
    with pytest.raises(
        GemError, match=r"judge server at .* failed 3 times .*APIConnectionError.*rerun to continue"
    ):
        client.complete("x")


def test_judge_failing_halfway_keeps_what_was_scored(server, grounding_run, tmp_path):
    run_dir = fresh(grounding_run, tmp_path)
    server.fail_after = 2  # the server answers two requests, then only HTTP 503
    with pytest.raises(GemError, match="failed 3 times"):
        score(
            run_dir,
            judge_base_url=server.url,
            judge_concurrency=1,
            judge_retries=2,
            judge_backoff_s=0.01,
            progress=False,
            human=False,
        )
    assert len(server.requests) == 2 + 3  # two answered, then the first attempt and two retries
    kept = [json.loads(x)["id"] for x in (run_dir / JUDGE_FILE).read_text().splitlines()]
    assert kept == ["j1", "j2"]
    saved = json.loads((run_dir / "report.json").read_text())  # the other scores were written
    assert "failed 3 times" in saved["judge"]["error"] and saved["judge"]["n_items"] == 2
    assert saved["grounding"]["answers"] == 5
    server.fail_after = None  # back up: only the three not yet judged are asked
    report = score(run_dir, judge_base_url=server.url, progress=False, human=False, plots=False)
    assert len(server.requests) == 5 + 3 and "error" not in report["judge"]
    check_summary(report["judge"])


def test_report_items_get_the_report_judge(running_server, tmp_path):
    from eval.judge import REPORT_PROMPT

    running_server.reset()
    answers = iter(
        [
            json.dumps(
                {
                    p: {"Score": s, "Explanation": "x"}
                    for p, s in (("Diagnosis", 8), ("Waveform", 6), ("Rhythm", 10))
                }
            ),
            "no JSON here",
        ]
    )
    lock = __import__("threading").Lock()

    def reply(body):
        with lock:
            return next(answers)

    running_server.reply = reply
    write_record(tmp_path, "R00", "426783006")
    records = [
        {"id": f"r{k}", "ecg": "R00", "conversations": [
            {"from": "human", "value": "<image>\nWrite the report of this ECG."}, {"from": "gpt", "value": "Sinus rhythm."}]}
        for k in range(2)
    ]  # fmt: skip
    (tmp_path / "set.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    run(tmp_path / "set.jsonl", tmp_path / "run", "measure", progress=False)
    report = score(
        tmp_path / "run", judge_base_url=running_server.url, judge_concurrency=1, progress=False, human=False
    )
    r = report["report_score"]
    assert (r["Diagnosis"]["mean"], r["Waveform"]["mean"], r["Rhythm"]["mean"]) == (80.0, 60.0, 100.0)
    assert r["Diagnosis"]["n"] == 1 and r["failed"] == 3 and r["overall"] == {"mean": 80.0, "n": 1}
    assert report["judge"] is None  # no grounding items
    prompt = running_server.requests[0]["messages"][0]["content"]
    first_answer = read_answers(tmp_path / "run" / "answers.jsonl")["r0"]["answer"]
    assert prompt == REPORT_PROMPT.format(reference="Sinus rhythm.", answer=first_answer)
    assert "## Report score" in (tmp_path / "run" / "report.md").read_text()
