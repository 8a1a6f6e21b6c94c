"""The admin-only, read-only Evaluation view: its handlers (no browser) and one check in Chromium."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from app import auth, evaluation
from app.main import build_demo, launch_kwargs, make_context
from eval.run import run
from eval.score import score
from gem_core.errors import GemError
from gem_core.settings import get_settings
from tests.conftest import free_port, sync
from tests.test_app_browser import TIMEOUT, open_app, wait_text
from tests.test_eval_run import write_record

ADMIN = ("eval.admin", "admin password 9")
RATER = ("eval.rater", "rater password 9")


def req(username):
    return SimpleNamespace(session_hash="tab-1", username=username)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Two scored measure runs (one answer spoiled in the second) and one unscored run."""
    root = tmp_path_factory.mktemp("eval-runs")
    records = tmp_path_factory.mktemp("eval-records")
    write_record(records, "R00", "426783006")
    write_record(records, "R01", "426783006", heart_rate=90)
    for name in ("alpha", "beta", "gamma"):
        run(records, root / name, "measure", progress=False)
    lines = [json.loads(x) for x in (root / "beta" / "answers.jsonl").read_text().splitlines()]
    lines[0]["answer"] = "No reading."  # names no class: unparsed
    (root / "beta" / "answers.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    for name in ("alpha", "beta"):
        score(root / name, human=False, progress=False)
    (root / "not-a-run").mkdir()
    return root


@pytest.fixture(scope="module")
def ctx(runs, tmp_path_factory):
    data = tmp_path_factory.mktemp("eval-app-data")
    users = data / "users.csv"
    auth.add_user(str(users), *ADMIN, role="admin")
    auth.add_user(str(users), *RATER)
    context = make_context(
        get_settings(data_dir=data, auth_file=str(users), eval_dir=str(runs), port=free_port())
    )
    check = sync(auth.password_check(context))  # the file's accounts reach the store as they sign in
    assert check(*ADMIN) and check(*RATER)
    return context


def fingerprint(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def test_eval_dir_setting(tmp_path):
    assert get_settings(data_dir=tmp_path).eval_runs_dir == tmp_path / "eval"
    assert get_settings(eval_dir="/x/runs").eval_runs_dir == Path("/x/runs")
    from gem_core.settings import Settings

    assert Settings.from_env({"GEM_EVAL_DIR": "/y"}).eval_runs_dir == Path("/y")


def test_admin_lists_runs_reads_a_report_and_compares(ctx, runs):
    before = fingerprint(runs)
    frame, names = evaluation.runs_table(ctx, req(ADMIN[0]))
    assert names == ["alpha", "beta", "gamma"]  # not-a-run has no run.json
    rows = frame.set_index("run")
    assert rows.loc["alpha", "backend"] == "measure" and rows.loc["alpha", "items"] == 2
    assert rows.loc["gamma", "status"] == "complete (not scored)" and rows.loc["alpha", "macro-F1"] == "1.000"
    text, plots = evaluation.show_run(ctx, "alpha", req(ADMIN[0]))
    assert text.startswith("# Evaluation report") and "## Multi-label classification" in text
    assert len(plots) == 3 and {caption for _, caption in plots} == {
        "class f1",
        "confusion",
        "grounding supported",
    }
    assert plots[0][0].size[0] > 200
    text, plots = evaluation.show_run(ctx, "gamma", req(ADMIN[0]))
    assert "not scored yet" in text and "python -m eval score" in text and plots == []
    table, images = evaluation.compare_runs(ctx, ["alpha", "beta"], req(ADMIN[0]))
    assert (
        "# Comparison against alpha" in table
        and "| classification macro-F1 | 1.000 | 0.667 | -0.333 |" in table
    )
    assert len(images) == 1
    assert fingerprint(runs) == before  # read only: nothing in the runs folder changed


def test_non_admins_and_bad_names_are_refused(ctx):
    for handler, args in (
        (evaluation.runs_table, ()),
        (evaluation.show_run, ("alpha",)),
        (evaluation.compare_runs, (["alpha", "beta"],)),
    ):
        with pytest.raises(GemError, match="not an admin"):
            handler(ctx, *args, req(RATER[0]))
        with pytest.raises(GemError, match="sign in"):
            handler(ctx, *args, req(None))
    for bad in ("../alpha", "/etc", "not-a-run", ""):
        with pytest.raises(GemError, match="no saved run called"):
            evaluation.show_run(ctx, bad, req(ADMIN[0]))
    with pytest.raises(GemError, match="at least two runs"):
        evaluation.compare_runs(ctx, ["alpha"], req(ADMIN[0]))
    with pytest.raises(GemError, match="score it first"):
        evaluation.compare_runs(ctx, ["alpha", "gamma"], req(ADMIN[0]))


@pytest.mark.browser
def test_evaluation_view_in_chromium(browser, ctx, artifacts_dir):
    demo = build_demo(ctx.settings, ctx)
    demo.queue().launch(prevent_thread_lock=True, quiet=True, **launch_kwargs(ctx))
    try:
        page = open_app(browser, demo.local_url, ADMIN)
        page.get_by_role("tab", name="Admin").click()
        page.get_by_role("tab", name="Evaluation").click()
        wait_text(page, "#eval-runs", "gamma")
        box = page.locator("#eval-run input")
        box.click()
        page.locator("ul[role=listbox] li", has_text="alpha").first.click()
        wait_text(page, "#eval-report", "Multi-label classification")
        page.wait_for_function(
            "document.querySelectorAll('#eval-plots img').length >= 3", timeout=TIMEOUT, polling=100
        )
        page.get_by_role("tab", name="Compare").last.click()
        for name in ("alpha", "beta"):
            page.locator("#eval-compare-runs input").click()
            page.locator("ul[role=listbox] li", has_text=name).first.click()
        page.click("#eval-compare")
        wait_text(page, "#eval-compare-table", "classification macro-F1")
        page.screenshot(path=str(artifacts_dir / "admin-evaluation.png"), full_page=True)
        page.context.close()
        # a rater opening the view sees why there is nothing, and no run names
        page = open_app(browser, demo.local_url, RATER)
        page.get_by_role("tab", name="Admin").click()
        page.get_by_role("tab", name="Evaluation").click()
        wait_text(page, "#eval-report", "not an admin")
        assert "alpha" not in page.locator("#eval-runs").inner_text()
        page.context.close()
    finally:
        demo.close()
