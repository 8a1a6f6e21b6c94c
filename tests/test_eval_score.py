"""``eval score`` and ``eval compare``: report.json schema, report.md, plots, the human table from a real
ratings store, missing files in the report, the openai backend with N requests in flight, and a
compare CI that contains a known difference."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eval.compare import compare
from eval.run import ANSWERS, read_answers, run
from eval.score import score
from gem_core.backends.openai_compat import OpenAIInterpreter
from gem_core.errors import GemError
from gem_core.prompts import DEFAULT_QUESTION
from tests.test_backend_openai import WORDS, ChatServer
from tests.test_eval_run import write_record

REPO = Path(__file__).resolve().parents[1]


def turn(question: str, answer: str) -> list[dict]:
    return [{"from": "human", "value": "<image>\n" + question}, {"from": "gpt", "value": answer}]


MCQ_Q = "Which rhythm does this ECG show?\nA. Sinus rhythm\nB. Atrial fibrillation\nC. Atrial flutter"


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("score-set")
    write_record(folder, "R00", "426783006")
    write_record(folder, "R01", "164889003", heart_rate=110)
    return folder


def test_openai_run_keeps_n_requests_in_flight(records, tmp_path):
    server = ChatServer()
    try:
        server.delay_s = 0.05  # per streamed word: each answer takes about 0.3 s
        items = [
            {"id": f"o{k}", "ecg": "R00", "conversations": turn(DEFAULT_QUESTION, "x")} for k in range(8)
        ]
        (tmp_path / "set.jsonl").write_text("\n".join(json.dumps(r) for r in items))
        backend = OpenAIInterpreter(server.url, model="gem-7b", timeout_s=30)
        meta = run(tmp_path / "set.jsonl", tmp_path / "run", "openai", concurrency=4, ecg_root=records, backend=backend, progress=False)  # fmt: skip
        assert server.max_in_flight == 4 and len(server.requests) == 8
        assert all(
            r["stream"] is True and r["temperature"] == 0 and r["max_tokens"] == 1024 for r in server.requests
        )
        answers = read_answers(tmp_path / "run" / ANSWERS)
        assert sorted(answers) == [f"o{k}" for k in range(8)]
        assert {a["answer"] for a in answers.values()} == {"".join(WORDS)}
        assert (
            meta["concurrency"] == 4
            and meta["model"]["model"] == "gem-7b"
            and meta["model"]["base_url"] == server.url
        )
        # the server goes down: the run stops with a clear error and keeps what it had
        server.status = 503
        more = [*items, {"id": "o8", "ecg": "R00", "conversations": turn(DEFAULT_QUESTION, "x")}]
        (tmp_path / "set2.jsonl").write_text("\n".join(json.dumps(r) for r in more))
        with pytest.raises(GemError, match="HTTP 503.*answers so far are kept"):
            run(tmp_path / "set2.jsonl", tmp_path / "run2", "openai", ecg_root=records, backend=backend, progress=False)  # fmt: skip
        assert json.loads((tmp_path / "run2" / "run.json").read_text())["status"] == "stopped"
    finally:
        server.close()


@pytest.fixture(scope="module")
def scored(records, tmp_path_factory) -> Path:
    """A measure run over classification, multiple-choice, grounding and a record whose ECG is missing."""
    folder = tmp_path_factory.mktemp("scored")
    cls_q = "Which diagnoses apply? Options: Normal, AF, RBBB, STE. Answer with the option names only."
    items = [
        {"id": "c0", "ecg": "R00", "conversations": turn(cls_q, "Normal")},
        {"id": "c1", "ecg": "R01", "conversations": turn(cls_q, "AF")},
        {"id": "m0", "ecg": "R00", "conversations": turn(MCQ_Q, "A")},
        {"id": "g0", "ecg": "R01", "image": "img/g0.png", "conversations": turn(DEFAULT_QUESTION, "AF.")},
        {"id": "gone", "ecg": "missing/R77", "conversations": turn(DEFAULT_QUESTION, "x")},
    ]
    (folder / "set.jsonl").write_text("\n".join(json.dumps(r) for r in items))
    run(folder / "set.jsonl", folder / "run", "measure", ecg_root=records, progress=False)
    proc = subprocess.run(
        [sys.executable, "-m", "eval", "score", str(folder / "run"), "--no-progress", "--ratings-db", "sqlite:///" + str(folder / "none.db")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return folder / "run"


def test_report_json_schema_and_files(scored):
    report = json.loads((scored / "report.json").read_text())
    c = report["classification"]
    assert c["classes"] == ["Normal", "AF", "RBBB", "STE"] and c["n"] == 2
    # the synthetic R01 is sinus tachycardia under an AF header: measure reads "normal ECG" for both
    assert c["per_class"]["Normal"]["f1"] == pytest.approx(2 / 3) and c["per_class"]["AF"]["f1"] == 0.0
    assert c["no_positive_classes"] == ["RBBB", "STE"] and c["macro_f1"] == pytest.approx(1 / 3)
    assert c["auc"] == "n/a" and c["macro_auc"] is None
    m = report["multiple_choice"]
    assert m["n"] == 1 and m["parse_rate"] == 1.0 and m["accuracy"] == 1.0  # names one option: sinus rhythm
    assert report["judge"]["note"].startswith("not run")
    g = report["grounding"]
    assert (
        g["answers"] == 4
        and g["claims"] > 10
        and g["supported_fraction"] == pytest.approx(g["supported"] / g["claims"])
    )
    assert "II" in g["leads_named"]
    assert len(report["items"]["missing_files"]) == 1
    assert (
        report["items"]["missing_files"][0].endswith("missing/R77")
        and report["items"]["n_missing_files"] == 1
    )
    assert report["items"]["not_answered"] == ["gone"]
    assert report["human"] == {
        "available": False,
        "reason": f"no ratings store at sqlite:///{scored.parent / 'none.db'}",
    }
    assert set(report["definitions"]) >= {"classification", "multiple_choice", "judge", "grounding", "human"}
    for name in ("class_f1.png", "confusion.png", "mcq_confusion.png", "grounding_supported.png"):
        with Image.open(scored / "plots" / name) as im:
            assert im.format == "PNG" and im.width > 200
    rows = [json.loads(x) for x in (scored / "scores.jsonl").read_text().splitlines()]
    by_id = {r["id"]: r for r in rows}
    assert by_id["c1"]["gold"] == ["AF"] and by_id["c1"]["predicted"] == ["Normal"]
    assert by_id["m0"]["gold"] == "A" and by_id["m0"]["predicted"] == "A"
    md = (scored / "report.md").read_text()
    for heading in (
        "## Multi-label classification",
        "## Multiple choice",
        "## Automatic grounding",
        "## Missing files",
    ):
        assert heading in md
    assert "Classes without positives in the set (left out of the macro mean): RBBB, STE" in md


def test_ecgbench_protocol_is_labelled(scored, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(scored, run_dir)
    report = score(run_dir, protocol="ecgbench", human=False, plots=False, progress=False)
    assert report["protocol"] == "ecgbench"
    c = report["classification"]
    assert c["macro_f1"] == pytest.approx(1 / 6)  # RBBB and STE count as 0 under ECG-Bench's macro
    assert c["auc"] == "0/1 predictions (ECG-Bench)"
    assert "ECG-Bench's published procedure" in (run_dir / "report.md").read_text()
    with pytest.raises(GemError, match="unknown protocol"):
        score(run_dir, protocol="lenient", progress=False)


def test_score_bad_input(tmp_path, scored):
    proc = subprocess.run(
        [sys.executable, "-m", "eval", "score", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "is not a run folder (no run.json)" in proc.stderr
    with pytest.raises(GemError, match="score it first"):
        compare([scored, tmp_path], tmp_path / "cmp")


def test_human_table_from_a_real_ratings_store(tmp_path, synthetic):
    from annotations.metrics import METRIC_NAMES
    from annotations.store import Store
    from eval.score import human_table

    url = f"sqlite:///{tmp_path / 'ratings.db'}"
    with Store(url) as store:
        admin = store.create_rater("admin", "admin-password", role="admin")
        raters = [store.create_rater(n, f"{n}-password", actor=admin) for n in ("alice", "bobby")]
        case = store.add_case(synthetic(75), source="test")
        gem = store.add_interpretation(case, "gem-7b", "Sinus rhythm at 75 bpm.")
        other = store.add_interpretation(case, "measure", "Sinus rhythm, normal ECG.")
        given = {("alice", gem): 4, ("bobby", gem): 5, ("alice", other): 3, ("bobby", other): 3}
        for (name, interp), value in given.items():
            rater = raters[0] if name == "alice" else raters[1]
            store.submit_rating(
                rater, interp, dict.fromkeys(METRIC_NAMES, value), idempotency_key=f"{name}-{interp}-k"
            )
    table = human_table(url)
    assert table["available"] and table["n_ratings"] == 4 and sorted(table["models"]) == ["gem-7b", "measure"]
    gem_row = table["models"]["gem-7b"]["overall_satisfaction"]
    assert (
        gem_row["mean"] == 4.5
        and gem_row["n"] == 2
        and gem_row["sd"] == pytest.approx(np.std([4, 5], ddof=1))
    )
    assert [m["name"] for m in table["metrics"]] == list(METRIC_NAMES)
    assert "alpha" in table["agreement"]["clinical_value"]


def synthetic_run(base: Path, dest: Path, correct: np.ndarray) -> Path:
    """A run folder whose multiple-choice answers are right exactly where ``correct`` is."""
    shutil.copytree(base, dest)
    meta = json.loads((dest / "run.json").read_text())
    meta["set"]["limit"] = None
    (dest / "run.json").write_text(json.dumps(meta))
    with (dest / ANSWERS).open("w") as fh:
        for k, ok in enumerate(correct):
            fh.write(json.dumps({"id": f"q{k}", "task": "mcq", "answer": "A" if ok else "B", "error": None, "missing": []}) + "\n")  # fmt: skip
    score(dest, human=False, plots=False, progress=False)
    return dest


def test_compare_ci_contains_a_known_difference(tmp_path):
    n = 300
    items = [{"id": f"q{k}", "ecg": "none/x", "conversations": turn(MCQ_Q, "A")} for k in range(n)]
    (tmp_path / "set.jsonl").write_text("\n".join(json.dumps(r) for r in items))
    run(tmp_path / "set.jsonl", tmp_path / "base", "measure", limit=1, progress=False)  # run.json only
    rng = np.random.default_rng(3)
    a = rng.random(n) < 0.55
    b = a.copy()
    b[rng.choice(np.flatnonzero(~a), 30, replace=False)] = True  # B is right on 30 more items: +0.10
    run_a = synthetic_run(tmp_path / "base", tmp_path / "A", a)
    run_b = synthetic_run(tmp_path / "base", tmp_path / "B", b)
    proc = subprocess.run(
        [sys.executable, "-m", "eval", "compare", str(run_a), str(run_b), "--out", str(tmp_path / "cmp")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    (metric,) = result["comparisons"][0]["metrics"]
    assert metric["metric"] == "multiple-choice accuracy" and metric["n"] == n
    assert metric["difference"] == pytest.approx(0.1)
    lo, hi = metric["ci95"]
    assert lo < 0.1 < hi and metric["significant"] is (lo > 0)
    assert "| multiple-choice accuracy |" in (tmp_path / "cmp" / "compare.md").read_text()
    with Image.open(tmp_path / "cmp" / "plots" / "compare.png") as im:
        assert im.format == "PNG"


def test_compare_classification_with_published_column(records, tmp_path):
    runs = []
    for name in ("A", "B"):
        run(records, tmp_path / name, "measure", progress=False)
        runs.append(tmp_path / name)
    # B: one answer changed to name nothing: its macro-F1 drops
    answers = (runs[1] / ANSWERS).read_text().splitlines()
    first = json.loads(answers[0]) | {"answer": "I cannot tell."}
    (runs[1] / ANSWERS).write_text("\n".join([json.dumps(first), *answers[1:]]) + "\n")
    for r in runs:
        score(r, human=False, plots=False, progress=False)
    result = compare(runs, tmp_path / "cmp", n_boot=500)
    metrics = {m["metric"]: m for m in result["comparisons"][0]["metrics"]}
    f1 = metrics["classification macro-F1"]
    ra = json.loads((runs[0] / "report.json").read_text())["classification"]["macro_f1"]
    rb = json.loads((runs[1] / "report.json").read_text())["classification"]["macro_f1"]
    assert (f1["base"], f1["other"]) == pytest.approx((ra, rb)) and f1["difference"] == pytest.approx(rb - ra)
    assert result["published"]["PULSE-7B"] == 57.6 and result["published"]["GEM-7B"] == 61.1
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "PULSE-7B 57.6, GEM-7B 61.1 (macro-F1 x100)" in md and "measured on the published" in md
