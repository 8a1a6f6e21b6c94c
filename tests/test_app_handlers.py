"""App handlers without a browser: Review, Rate, Compare, Campaign and Admin on a real store."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest

from app import auth, handlers, present, rating
from app.main import build_demo, make_context
from app.state import Session, new_key
from gem_core.errors import GemError
from gem_core.settings import get_settings
from tests.conftest import REPO, sync

SCORES = [4, 4, 3, 5, 3, 4, 4]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    data = tmp_path_factory.mktemp("app-data")
    return make_context(get_settings(data_dir=data, allow_anonymous_rating=True, auth_file=""))


@pytest.fixture(scope="module")
def sample_id(ctx):
    return handlers.sample_choices(ctx)[2][1]  # the 75 bpm synthetic record


@pytest.fixture(scope="module")
def done(ctx, sample_id):
    """A Review session after a finished interpretation with the measure backend."""
    session = handlers.load_sample(ctx, sample_id)
    params = handlers.generation_params(0, 1, 1024, 0)
    lengths = [
        len(s.interpretation.text) for s in handlers.interpret(ctx, session, "measure", "Q?", params, "s1")
    ]
    return session, lengths


def req(session_hash="tab-1", username=None):
    """A request as handlers see it; its browser's anonymous-rater cookie follows from the tab."""
    cookie = (session_hash * 32)[:32]
    return SimpleNamespace(session_hash=session_hash, username=username, cookies={"gem_guest": cookie})


# ------------------------------------------------------------------------------------------- pure parts
def test_text_spans_cover_the_text_and_skip_overlaps():
    text = "Sinus rhythm. QRS 90 ms. T waves upright."
    claims = [
        {"id": "a", "char_start": 14, "char_end": 24},
        {"id": "b", "char_start": 20, "char_end": 30},  # overlaps a: left as plain text
        {"id": "c", "char_start": 0, "char_end": 12},
    ]
    spans = present.text_spans(text, claims)
    assert "".join(seg for seg, _ in spans) == text
    assert [cid for _, cid in spans if cid] == ["c", "a"]


def test_highlighted_text_labels_claims_by_verdict_and_marks_the_selected_one():
    text = "HR 75 bpm. QRS 200 ms."
    claims = [
        {"id": "1", "char_start": 0, "char_end": 10, "verdict": "supported"},
        {"id": "2", "char_start": 11, "char_end": 22, "verdict": "contradicted"},
    ]
    tokens = present.highlighted_text(text, claims, selected="2")
    assert tokens == [("HR 75 bpm.", "supported"), (" ", None), ("QRS 200 ms.", "selected claim")]
    assert set(present.color_map()) >= {"supported", "contradicted", "not checkable"}


def test_escape_md_neutralises_markup():
    out = present.escape_md("<img src=x onerror=alert(1)> **bold**")
    assert "<" not in out and "**" not in out


@pytest.mark.parametrize(
    ("temperature", "top_p", "max_new", "message"),
    [(3.0, 1.0, 100, "temperature"), (0.5, 0.0, 100, "top-p"), (0.0, 1.0, 0, "max new tokens")],
)
def test_generation_params_reject_out_of_range(temperature, top_p, max_new, message):
    with pytest.raises(GemError, match=message):
        handlers.generation_params(temperature, top_p, max_new, 1)


def test_generation_params_greedy_ignores_seed():
    assert handlers.generation_params(0.0, 1.0, 64, 7).seed is None
    assert handlers.generation_params(0.7, 0.9, 64, 7).seed == 7


# ------------------------------------------------------------------------------------------------ review
def test_loading_needs_a_sample_or_a_readable_file(ctx, tmp_path):
    with pytest.raises(GemError, match="choose a sample"):
        handlers.load_sample(ctx, "")
    with pytest.raises(GemError, match="unknown sample"):
        handlers.load_sample(ctx, "nowhere:42")
    with pytest.raises(GemError, match="no file"):
        handlers.load_upload(ctx, None)
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not numpy")
    with pytest.raises(GemError):
        handlers.load_upload(ctx, str(bad))


def test_interpret_needs_an_ecg_and_a_question(ctx, sample_id):
    params = handlers.generation_params(0, 1, 64, 0)
    with pytest.raises(GemError, match="load an ECG"):
        next(handlers.interpret(ctx, Session(), "measure", "q", params))
    session = handlers.load_sample(ctx, sample_id)
    with pytest.raises(GemError, match="question is empty"):
        next(handlers.interpret(ctx, session, "measure", "  ", params))
    with pytest.raises(GemError, match="unknown backend"):
        next(handlers.interpret(ctx, session, "nope", "q", params))


def test_load_draws_the_tracing_and_measures_in_a_second_step(ctx, sample_id):
    session = handlers.load_sample(ctx, sample_id)
    assert session.case_id is None and session.measurements is None  # nothing written before drawing
    fig = handlers.figure(session, "3x4+II")
    assert len([t for t in fig.data if (t.meta or {}).get("role") == "ecg"]) == 13
    handlers.measured(handlers.registered(ctx, session))
    case_id = session.case_id
    assert case_id is not None and handlers.registered(ctx, session).case_id == case_id
    table = present.lead_table(session.measurements)
    assert list(table["lead"])[:3] == ["I", "II", "III"] and "quality" in table
    assert "Heart rate" in set(present.global_table(session.measurements)["measurement"])


def test_interpret_streams_grounds_and_stores(ctx, done):
    session, lengths = done
    assert len(lengths) >= 3 and lengths == sorted(lengths) and lengths[0] < lengths[-1]
    interp = session.interpretation
    assert interp.interpretation_id is not None and not interp.stopped
    stored = ctx.store.interpretation(interp.interpretation_id)
    assert stored["text"] == interp.text and stored["model"] == "measure"
    assert stored["grounding"]["claims"] == json.loads(json.dumps(interp.claims))


def test_selecting_a_claim_highlights_and_zooms(done):
    pytest.importorskip("gem_core.grounding", reason="grounding not installed")
    session, _ = done
    claims = session.interpretation.claims
    assert claims, "the measure backend's text should yield grounded claims"
    index = next(i for i, c in enumerate(claims) if c.get("evidence"))
    claim_id = handlers.select_claim(session, index)
    fig = handlers.figure(session, "12x1", False, claim_id)
    shapes = [s for s in fig.layout.shapes if str(s.name or "").startswith("highlight:")]
    assert shapes
    evidence = present.evidence_frame(session.claim(claim_id))
    assert len(evidence) == len(claims[index]["evidence"])
    assert handlers.select_claim(session, 10_000) is None


def test_a_selected_claim_shows_its_close_up_and_whole_ecg_returns(done):
    """The claim view: only the named leads, a beat of context each side, the whole complex, paper
    proportions; leaving it keeps the claim highlighted on the whole tracing."""
    session, _ = done
    claim = {"id": "z", "text": "QRS in V1 and V5", "verdict": "supported"}
    claim["evidence"] = [
        {"lead": "V1", "t_start_ms": 6000, "t_end_ms": 6100},
        {"lead": "V5", "t_start_ms": 6000, "t_end_ms": 6100},
    ]
    session.interpretation.claims.append(claim)
    session.selected_claim, session.claim_view = "z", True
    fig = handlers.figure(session, "12x1", False, "z")
    ecg_traces = [t for t in fig.data if (t.meta or {}).get("role") == "ecg"]
    assert [t.meta["lead"] for t in ecg_traces] == ["V1", "V5"]  # stacked, nothing else
    assert {a.text for a in fig.layout.annotations} >= {"<b>V1</b>", "<b>V5</b>"}
    rr = session.measurements.global_values["rr_ms"]
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    assert x0 <= 6000 - rr and x1 >= 6100 + rr  # a whole beat before and after
    assert fig.layout.xaxis.showticklabels and "s" in fig.layout.xaxis.title.text
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 400
    for t in ecg_traces:  # every sample in view lies inside its own row: nothing clipped or overlapping
        y = np.asarray(t.y, dtype=float)
        row = next(s for s in fig.layout.shapes if s.name == "highlight:z" and s.y0 <= y.mean() <= s.y1)
        assert y0 < y.min() and y.max() < y1 and row.y0 - 0.2 <= y.min() and y.max() <= row.y1 + 0.2
    session.claim_view = False  # "Whole ECG": every lead again, the claim still highlighted
    whole = handlers.figure(session, "12x1", False, "z")
    assert len([t for t in whole.data if (t.meta or {}).get("role") == "ecg"]) == 12
    assert [s for s in whole.layout.shapes if s.name == "highlight:z"]
    session.interpretation.claims.remove(claim)
    session.selected_claim = None


def test_selecting_a_claim_turns_on_its_close_up(done):
    session, _ = done
    index = next(i for i, c in enumerate(session.interpretation.claims) if c.get("evidence"))
    session.claim_view = False
    handlers.select_claim(session, index)
    assert session.claim_view
    fig = handlers.figure(session, "3x4+II", False, session.selected_claim)
    assert fig.layout.meta["gem_viewer"]["view"] == "claim"
    session.selected_claim, session.claim_view = None, False


def test_a_long_record_is_paged_and_follows_the_selected_claim(synthetic):
    session = Session(ecg=synthetic(heart_rate=70, duration_s=25))
    assert handlers.last_page_s(session) == 15 and session.start_ms == 0
    assert handlers.go_to_page(session, 99).start_ms == 15_000  # clamped to the last page
    strip = next(t for t in handlers.figure(session, "3x4+II").data if (t.meta or {}).get("rhythm"))
    assert strip.x0 == 15_000 and len(strip.y) == 10 * 500  # the record's last 10 s
    claim = {"id": "late", "text": "QRS in V1", "verdict": "supported"}
    claim["evidence"] = [{"lead": "V1", "t_start_ms": 21_500, "t_end_ms": 21_600}]
    session.interpretation = SimpleNamespace(claims=[claim])
    handlers.go_to_page(session, 0)
    session.selected_claim = "late"
    assert handlers.follow_claim(session) and session.start_ms == 15_000  # 20 s, clamped to 15 s
    assert not handlers.follow_claim(session)  # already on screen
    fig = handlers.figure(session, "12x1", False, "late")
    assert [s.x0 for s in fig.layout.shapes if str(s.name).startswith("highlight:")] == [21_500]
    assert handlers.last_page_s(Session(ecg=synthetic(duration_s=10))) == 0  # one page: no control


def test_stop_ends_the_stream_early(ctx, sample_id):
    session = handlers.load_sample(ctx, sample_id)
    params = handlers.generation_params(0, 1, 1024, 0)
    stream = handlers.interpret(ctx, session, "measure", "q", params, "tab-stop")
    first = len(next(stream).interpretation.text)
    assert handlers.stop(ctx, "tab-stop") == "Stopping…"
    rest = list(stream)
    full = list(handlers.interpret(ctx, Session(ecg=session.ecg), "measure", "q", params, "tab-full"))
    assert rest[-1].interpretation.stopped and len(rest[-1].interpretation.text) == first
    assert first < len(full[-1].interpretation.text)
    assert handlers.stop(ctx, "never-started") == "Nothing is running."


# ------------------------------------------------------------------------------------------------ rating
def test_rating_is_saved_idempotent_and_editable(ctx, done):
    session, _ = done
    who = auth.require_rater(ctx, req("tab-rate"))
    target = rating.interpretation_id_of(session)
    key = new_key()
    scores = rating.scores_from(SCORES)
    first = rating.submit_rating(ctx, who, target, scores, "<script>x</script>", 12.0, key)
    again = rating.submit_rating(ctx, who, target, scores, "<script>x</script>", 12.0, key)  # a retried click
    assert again.id == first.id and again.version == 1
    edited = rating.submit_rating(
        ctx, who, target, {**scores, "clinical_value": 2}, "changed", 3.0, new_key()
    )
    assert edited.version == 2
    prev = rating.previous_rating(ctx, who, target)
    assert prev["scores"]["clinical_value"] == 2 and prev["comment"] == "changed"
    other = auth.require_rater(ctx, req("another-tab"))
    assert rating.previous_rating(ctx, other, target) is None


def test_rating_form_must_be_complete(ctx):
    with pytest.raises(GemError, match="Clinical Value"):
        rating.scores_from([4, 4, 4, 4, 4, None, 4])
    assert "Analytical Accuracy" in rating.anchors_markdown()


def test_without_login_only_review_works(tmp_path):
    ctx = make_context(get_settings(data_dir=tmp_path, allow_anonymous_rating=False, auth_file=""))
    with pytest.raises(GemError, match="sign in"):
        auth.require_rater(ctx, req())
    with pytest.raises(GemError, match="sign in"):
        auth.require_admin(ctx, req())


def test_admin_actions_are_refused_to_raters(ctx):
    who = auth.require_rater(ctx, req("tab-not-admin"))
    with pytest.raises(GemError, match="not an admin"):
        auth.require_admin(ctx, req("tab-not-admin"))
    with pytest.raises(GemError, match="administrators"):  # and the store checks again on its own
        rating.export(ctx, who, "csv", None)


def test_preference_between_two_interpretations(ctx, sample_id):
    session = handlers.load_sample(ctx, sample_id)
    ids = []
    for seed in (1, 2):
        params = handlers.generation_params(0, 1, 1024, seed)
        *_, last = handlers.interpret(ctx, session, "measure", f"question {seed}", params)
        ids.append(last.interpretation.interpretation_id)
    who = auth.require_rater(ctx, req("tab-pref"))
    with pytest.raises(GemError, match="choose one of"):
        rating.submit_preference(ctx, who, *ids, "maybe", "", None, new_key())
    # the rule-based reader says the same whatever the question: no choice between identical texts
    with pytest.raises(GemError, match="same text"):
        rating.submit_preference(ctx, who, *ids, "A is better", "", None, new_key())
    ids[1] = ctx.store.add_interpretation(session.case_id, "gem-7b", "Sinus rhythm, imported reading.")
    pref = rating.submit_preference(
        ctx, who, *ids, "Both bad", "<img src=x onerror=alert(1)>", 5.0, new_key()
    )
    assert pref.choice == "both_bad" and pref.interpretation_a_id == ids[0]


def test_a_bad_samples_dir_leaves_the_synthetic_gallery_and_says_why(tmp_path):
    """A GEM_SAMPLES_DIR that does not exist must not stop the app: the other samples stay, the
    setting is named in a warning and on the page."""
    missing = tmp_path / "no-such-folder"
    settings = get_settings(data_dir=tmp_path, samples_dir=str(missing), auth_file="")
    ctx = make_context(settings)
    choices = handlers.sample_choices(ctx)
    assert choices and all(sample_id.startswith(("synthetic:", "demo:")) for _, sample_id in choices)
    assert "GEM_SAMPLES_DIR" in ctx.samples_error and str(missing) in ctx.samples_error
    demo = build_demo(settings, ctx)
    assert demo.gem_context is ctx
    import gradio as gr

    from app import screens

    with gr.Blocks():
        bar = screens.identity_bar(ctx)
    shown = bar["fn"](req(), None)
    assert shown.startswith("Samples: ") and present.escape_md(ctx.samples_error) in shown


def test_startup_imports_no_model_libraries(tmp_path):
    """The app imports its packages plainly; torch and transformers stay lazy (the gem backend only)."""
    code = (
        "import sys; from app.main import build_demo; from gem_core.settings import get_settings; "
        f"build_demo(get_settings(data_dir={str(tmp_path)!r}, auth_file='')); "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


# ------------------------------------------------------------------------------------------- auth file
def test_auth_file_accounts(ctx, tmp_path):
    path = tmp_path / "users.csv"
    auth.add_user(str(path), "dr.ada", "correct horse 1", role="admin")
    auth.add_user(str(path), "dr.bob", "battery staple", role="rater")
    assert "correct horse" not in path.read_text()
    file_ctx = make_context(get_settings(data_dir=tmp_path, auth_file=str(path)))
    check = sync(auth.password_check(file_ctx))
    assert check("dr.ada", "correct horse 1") and not check("dr.ada", "wrong") and not check("eve", "x")
    assert auth.require_admin(file_ctx, req(username="dr.ada")).username == "dr.ada"
    (tmp_path / "bad.csv").write_text("username,password_hash,role\nx,plain,rater\n")
    bad_ctx = make_context(get_settings(data_dir=tmp_path / "bad", auth_file=str(tmp_path / "bad.csv")))
    with pytest.raises(GemError, match="line 2"):
        auth.password_check(bad_ctx)


def test_auth_file_roles_reach_the_store_on_start(tmp_path):
    """The store's accounts follow the file (one reader): a role changed in the file holds after a
    restart, even for a rater who signed in before."""
    path = tmp_path / "users.csv"
    auth.add_user(str(path), "dr.cho", "correct horse 2", display_name="Dr Cho")
    settings = get_settings(data_dir=tmp_path, auth_file=str(path))
    first = make_context(settings)
    assert sync(auth.password_check(first))("dr.cho", "correct horse 2")
    assert not auth.require_rater(first, req(username="dr.cho")).is_admin
    auth.add_user(str(path), "dr.cho", "correct horse 2", role="admin", display_name="Dr Cho")
    again = make_context(settings)
    check = sync(auth.password_check(again))
    who = auth.require_admin(again, req(username="dr.cho"))
    assert who.display_name == "Dr Cho" and check("dr.cho", "correct horse 2")


# --------------------------------------------------------------------------------------- campaign/admin
def test_campaign_round_and_admin_summary(tmp_path, sample_id):
    users = tmp_path / "users.csv"
    auth.add_user(str(users), "admin1", "admin password", role="admin")
    auth.add_user(str(users), "rater1", "rater password")
    ctx = make_context(get_settings(data_dir=tmp_path, auth_file=str(users)))
    check = sync(auth.password_check(ctx))
    assert check("admin1", "admin password") and check("rater1", "rater password")
    admin, rater = (
        auth.require_admin(ctx, req(username="admin1")),
        auth.require_rater(ctx, req(username="rater1")),
    )
    lines = [
        {"case": sample_id, "interpretations": [{"model": "m1", "text": "Sinus rhythm at 75 bpm."}]},
        {"case": sample_id.replace("75", "60"), "interpretations": [{"model": "m1", "text": "Rate 60 bpm."}]},
    ]
    camp_file = tmp_path / "camp.jsonl"
    camp_file.write_text("\n".join(json.dumps(line) for line in lines))
    status = rating.import_campaign(ctx, admin, str(camp_file), "pilot", "Rate **carefully**.", "rate", 1)
    assert "2 cases" in status and "m1 as Model A" in status and rating.campaign_choices(ctx) == ["pilot"]
    first = rating.campaign_next(ctx, rater, "pilot")
    assert first.index == 1 and first.total == 2 and first.interpretations[0]["label"].startswith("Model")
    shown = rating.item_interpretation(ctx, first, first.interpretations[0]["label"])
    rating.submit_rating(
        ctx,
        rater,
        shown["id"],
        rating.scores_from(SCORES),
        "",
        1.0,
        new_key(),
        assignment_id=first.assignment_id,
    )
    assert rating.campaign_progress(ctx, rater, "pilot").startswith("1 of 2")
    assert rating.campaign_next(ctx, rater, "pilot").item_id != first.item_id  # resumes at the next item
    table, agree, raters, _ = rating.summary_tables(ctx, admin, "pilot")
    assert set(table["model"]) == {"m1"} and len(table) == 7 and len(agree) == 7
    assert len(rating.summary_chart(table).data) == 1
    path, message = rating.export(ctx, admin, "csv", "pilot")
    assert path.endswith(".csv") and "Exported 1 rating (campaign pilot)" in message


def test_admin_summary_tables_and_exports_read_as_a_study_lead_would(tmp_path):
    """Two models, three raters, A/B choices: the tables a study lead reads, and self-contained exports."""
    import zipfile

    users = tmp_path / "users.csv"
    auth.add_user(str(users), "lead", "admin password", role="admin")
    for i in (1, 2, 3):
        auth.add_user(str(users), f"r{i}", "rater password")
    ctx = make_context(get_settings(data_dir=tmp_path, auth_file=str(users)))
    auth.password_check(ctx)
    admin = auth.require_admin(ctx, req(username="lead"))
    lines = [
        {
            "case": f"synthetic:{hr}bpm",
            "interpretations": [
                {"model": "gem", "text": f"Rate {hr}."},
                {"model": "other", "text": "Normal."},
            ],
        }
        for hr in (60, 75)
    ]
    camp_file = tmp_path / "study-one.jsonl"
    camp_file.write_text("\n".join(json.dumps(line) for line in lines))
    with pytest.raises(GemError, match="only 3 rater"):  # refused before anything is written
        rating.import_campaign(ctx, admin, str(camp_file), "", "", "rate", 4)
    assert rating.campaign_choices(ctx) == []
    status = rating.import_campaign(ctx, admin, str(camp_file), "", "", "rate", 2)
    assert "**study\\-one**: 2 cases" in status  # the file's name, escaped for Markdown
    assert [v for _, v in rating.campaign_filter_choices(ctx)] == ["", "study-one"]
    path, message = rating.export(ctx, admin, "dpo", "study-one")  # no ratings yet: nothing to hand over
    assert path is None and message.startswith("Nothing to export (campaign study\\-one)")
    assert list((tmp_path / "exports").iterdir()) == []  # and no empty file or folder left behind

    for i, scores in ((1, (5, 3)), (2, (4, 2)), (3, (4, 3))):
        who = auth.require_rater(ctx, req(username=f"r{i}"))
        while (item := rating.campaign_next(ctx, who, "study-one")) is not None:
            ids = {ctx.store.interpretation(it["id"])["model"]: it["id"] for it in item.interpretations}
            for model, score in zip(("gem", "other"), scores, strict=True):
                rating.submit_rating(
                    ctx,
                    who,
                    ids[model],
                    rating.scores_from([score] * 7),
                    "",
                    1.0,
                    new_key(),
                    assignment_id=item.assignment_id,
                )
            rating.submit_preference(ctx, who, ids["gem"], ids["other"], "A is better", "", 1.0, new_key())

    long, agree, raters, summary = rating.summary_tables(ctx, admin, "study-one")
    wide = rating.metrics_table(summary)
    assert list(wide.columns) == ["metric", "gem (n = 4)", "other (n = 4)"] and len(wide) == 7
    assert (
        wide.iloc[0, 1].startswith("4.") and wide.iloc[0, 1].count(".") == 4
    )  # mean (SD) [lo, hi], 2 decimals
    assert (
        agree.iloc[0]["Krippendorff's α (ordinal)"].count(".") == 1
        and len(agree.iloc[0, 1].split(".")[1]) == 3
    )
    prefs = rating.preferences_table(summary)
    assert prefs.set_index("outcome").loc["gem better", "choices"] == 4  # each rater's latest choice per pair
    assert prefs.set_index("outcome").loc["gem better", "share"] == "100%"
    assert set(raters.columns) >= {"cases assigned", "done", "open"} and raters["done"].sum() == 4
    head = rating.summary_headline(summary, "study-one", ctx.store.progress(admin, "study-one"))
    assert "8 ratings of 2 models and 4 A/B choices, from 3 raters" in head and "4 of 4 done" in head
    fig = rating.summary_chart(long)
    assert len(fig.data) == 2 and all(len(bar.error_y.array) == 7 for bar in fig.data)
    # bars rise from 1 (the lowest score) to the mean
    assert all(bar.base == 1 for bar in fig.data) and fig.layout.yaxis.range[0] == 1
    tops = [1 + y for bar in fig.data for y in bar.y]
    assert sorted(tops) == pytest.approx(sorted(long["mean"]))
    assert "95% CI" in fig.data[0].hovertext[0]

    empty = ctx.store.summary(admin, None) | {"models": {}, "n_ratings": 0, "n_preferences": 0, "raters": {}}
    assert "no ratings" in rating.summary_headline(empty, None)
    assert rating.metrics_table(empty).empty and rating.summary_chart(long.iloc[0:0]).layout.annotations

    path, message = rating.export(ctx, admin, "dpo", "study-one")
    assert path.endswith(".zip") and "2 preference pairs with 2 ECG images" in message
    with zipfile.ZipFile(path) as z:
        (jsonl,) = [n for n in z.namelist() if n.endswith(".jsonl")]
        rows = [json.loads(line) for line in z.read(jsonl).decode().splitlines()]
        assert {r["chosen_model"] for r in rows} == {"gem"}
        assert all(r["images"][0] in z.namelist() and not r["images"][0].startswith("/") for r in rows)
        assert all(
            r["ecg"] in z.namelist() and r["ecg"].endswith(".npy") for r in rows
        )  # the signal GEM reads
    path, _ = rating.export(ctx, admin, "kto", "study-one")
    with zipfile.ZipFile(path) as z:
        (jsonl,) = [n for n in z.namelist() if n.endswith(".jsonl")]
        rows = [json.loads(line) for line in z.read(jsonl).decode().splitlines()]
        assert rows and all(r["ecg"] in z.namelist() and r["images"][0] in z.namelist() for r in rows)


def test_build_demo_exposes_only_the_four_api_endpoints(ctx):
    demo = build_demo(ctx.settings, ctx)
    public = {fn.api_name for fn in demo.fns.values() if fn.api_visibility != "private"}
    assert public == {"load_ecg", "interpret", "submit_rating", "submit_preference"}


def test_app_context_stop_flags_are_per_tab(ctx):
    one, two = ctx.stop_event("a"), ctx.stop_event("b")
    ctx.request_stop("a")
    assert one.is_set() and not two.is_set() and isinstance(one, type(threading.Event()))


def test_upload_of_a_wfdb_pair_from_separate_folders(ctx, tmp_path):
    wfdb = pytest.importorskip("wfdb")
    from gem_core.samples import synthetic_ecg

    ecg = synthetic_ecg(60)
    wfdb.wrsamp(
        "rec",
        fs=500,
        units=["mV"] * 12,
        sig_name=list(ecg.leads),
        p_signal=ecg.signal.T.astype("float64"),
        fmt=["16"] * 12,
        write_dir=str(tmp_path),
    )
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    hea, dat = (
        (tmp_path / "rec.hea").rename(tmp_path / "a" / "rec.hea"),
        (tmp_path / "rec.dat").rename(tmp_path / "b" / "rec.dat"),
    )
    session = handlers.load_upload(ctx, [str(dat), str(hea)])
    assert session.ecg.n_samples == ecg.n_samples and session.sample_id == "upload:rec"


def test_hf_oauth_profile_maps_to_a_rater(ctx, monkeypatch):
    monkeypatch.setenv("SPACE_ID", "lab/gem-studio")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "client")
    userinfo = {"name": "Dr Ada", "preferred_username": "ada-hf", "profile": "", "picture": ""}
    request = SimpleNamespace(session={"oauth_info": {"userinfo": userinfo}}, username=None, session_hash="t")
    who = auth.require_rater(ctx, request)
    assert who.username == "hf-ada-hf" and who.role == "rater"
    assert auth.require_rater(ctx, request).id == who.id  # the same account next time
    expired = SimpleNamespace(session={"oauth_info": {"userinfo": userinfo, "expires_at": 1}}, username=None)
    assert auth.oauth_profile(expired) is None


@pytest.mark.parametrize("layout", handlers.LAYOUTS)
def test_each_layout_draws_with_and_without_beat_markers(done, layout):
    session, _ = done
    plain = handlers.figure(session, layout, beats=False)
    marked = handlers.figure(session, layout, beats=True)
    assert plain.layout.meta["gem_viewer"]["layout"] == layout
    assert len(marked.data) > len(plain.data)  # P/QRS/T markers are extra traces
    assert handlers.figure(Session(), layout) is None


def test_a_compare_side_is_rated_blind(done):
    session, _ = done
    side = rating.blinded(session.interpretation, "B")
    assert side.label == "Interpretation B (blind)" and side.backend == "hidden"
    assert side.interpretation_id == session.interpretation.interpretation_id
    session.rate_target = side
    assert rating.interpretation_id_of(session) == side.interpretation_id and session.to_rate is side
    session.rate_target = None


def test_compare_pairs_only_distinct_texts_and_draws_a_stored_one_for_the_same_record(tmp_path, sample_id):
    # The measure backend reads a record the same way every time: two fresh readings are no pair. A
    # different text stored for the same record and question (an imported/campaign reading) is; it is
    # added to what this tab may compare only once it is shown, under a blind label.
    from gem_core.prompts import DEFAULT_QUESTION

    ctx = make_context(get_settings(data_dir=tmp_path, allow_anonymous_rating=True, auth_file=""))
    demo = build_demo(ctx.settings, ctx)
    fns = {f.fn.__name__: f.fn for f in demo.fns.values()}
    generate, submit = fns["generate_pair"], fns["submit_preference"]
    s = handlers.registered(ctx, handlers.load_sample(ctx, sample_id))
    out = generate(s, "measure", "measure", 0.7, req("cmp-1"))
    assert (
        out[1] == {} and out[2] is None and out[7].startswith("No pair to compare: Fewer than two distinct")
    )
    fresh = set(s.shown)  # two samples (seeds 1 and 2), both stored, one text
    (measure_text,) = {ctx.store.interpretation(i)["text"] for i in fresh}
    assert len(fresh) == 2

    # stored for this record but no pair: the same text (whitespace aside), or another question
    ctx.store.add_interpretation(s.case_id, "imported", "  " + measure_text.replace(" ", "  ") + " ")
    ctx.store.add_interpretation(s.case_id, "imported", "Atrial flutter.", question="Is there flutter?")
    out = generate(s, "measure", "measure", 0.7, req("cmp-1"))
    assert out[2] is None and "No pair to compare" in out[7] and s.shown == fresh

    other = ctx.store.add_interpretation(
        s.case_id, "campaign-model", "Sinus rhythm. Left axis deviation.", question=DEFAULT_QUESTION
    )
    assert other not in s.shown
    with pytest.raises(gr.Error, match=f"interpretation {other} was not shown"):
        submit(s, {}, min(fresh), other, "A is better", "", new_key(), req("cmp-1"))
    s, state, a_id, b_id, a_text, b_text, _, status, _, _ = generate(
        s, "measure", "measure", 0.7, req("cmp-1")
    )
    assert status.startswith("Choose") and other in (a_id, b_id) and ({a_id, b_id} - {other}) <= fresh
    assert s.shown == fresh | {other}
    texts = {"".join(t for t, _ in a_text), "".join(t for t, _ in b_text)}
    assert texts == {measure_text, "Sinus rhythm. Left axis deviation."}
    assert state["A"].backend == state["B"].backend == "hidden"  # blind: neither side names its model
    assert "campaign-model" not in state["A"].label + state["B"].label
    stored_side = state["A"] if a_id == other else state["B"]
    assert stored_side.claims and stored_side.interpretation_id == other  # grounded on this record

    saved, _ = submit(s, state, a_id, b_id, "B is better", "axis", new_key(), req("cmp-1"))
    assert saved.startswith("Saved") and ctx.store.counts()["preferences"] == 1
    stranger = handlers.registered(ctx, handlers.load_sample(ctx, sample_id))  # another tab, nothing shown
    with pytest.raises(gr.Error, match="was not shown"):
        submit(stranger, state, a_id, b_id, "A is better", "", new_key(), req("cmp-2"))


def test_launch_settings_for_spaces_and_for_local_use(ctx, monkeypatch):
    from app.main import launch_kwargs

    monkeypatch.delenv("SPACE_ID", raising=False)
    local = launch_kwargs(ctx)
    assert local["server_name"] == ctx.settings.host and "auth" not in local and local["ssr_mode"] is False
    monkeypatch.setenv("SPACE_ID", "lab/gem-studio")
    monkeypatch.delenv("GEM_HOST", raising=False)
    assert launch_kwargs(ctx)["server_name"] == "0.0.0.0"


def test_interpret_pressed_before_measuring_finished_keeps_its_outputs(ctx, sample_id):
    # Loading measures in a second step; a quick Interpret can finish first. That late step must not
    # put "Measured N beats" over "Done" nor clear the new claims (a loaded browser test caught it).
    demo = build_demo(ctx.settings, ctx)
    step = next(f.fn for f in demo.fns.values() if f.fn.__name__ == "measure_step")
    session = handlers.load_sample(ctx, sample_id)
    session.clear_panels = True  # the previous record had claims on screen
    params = handlers.generation_params(0, 1, 1024, 0)
    for _ in handlers.interpret(ctx, session, "measure", "Q?", params, "late"):
        pass  # the session is updated in place
    _, glob, _, _, status, evidence, table, _ = step(session, "12x1", False)
    assert status == gr.skip() and evidence == gr.skip() and table == gr.skip()
    assert len(glob) and session.interpretation.claims and not session.clear_panels

    fresh = handlers.load_sample(ctx, sample_id)  # measured before any Interpret: status and clearing
    fresh.clear_panels = True
    _, _, _, _, status, evidence, table, _ = step(fresh, "12x1", False)
    assert "beats" in status and len(table) == 0 and len(evidence) == 0


def test_first_gem_use_shows_its_loading_steps_and_does_not_block_other_backends(
    tmp_path, tiny_gem_dir, monkeypatch
):
    # A real (tiny) GEM checkpoint: the status line follows load_gem's steps while it loads in its own
    # thread; a held gem build lock does not stop the measure backend.
    tower = next(tiny_gem_dir.glob("*.pt"))
    settings = get_settings(data_dir=tmp_path, auth_file="", model=str(tiny_gem_dir), ecg_tower=str(tower))
    gem_ctx = make_context(settings)
    with gem_ctx.lock:
        building = gem_ctx.backend_locks.setdefault("gem", threading.Lock())
    with building:  # as while GEM's weights load
        done = []
        worker = threading.Thread(target=lambda: done.append(present.backend(gem_ctx, "measure")))
        worker.start()
        worker.join(10)
        assert done and done[0].name == "measure"

    monkeypatch.setattr("app.layout.LOAD_POLL_S", 0.005)  # the tiny model loads in about a second
    demo = build_demo(settings, gem_ctx)
    run = next(f.fn for f in demo.fns.values() if f.fn.__name__ == "run_interpret")
    session = handlers.load_sample(gem_ctx, handlers.sample_choices(gem_ctx)[2][1])
    statuses = [out[-1] for out in run(session, "gem", "Q?", 0, 1, 8, 0, req("gem-tab"))]
    loading = [s for s in statuses if isinstance(s, str) and s.startswith("Loading gem:")]
    assert statuses[0].startswith("Starting gem")
    assert "Done" in statuses[-1] and "gem" in gem_ctx.backends
    assert any(("checkpoint" in s or "tower" in s or "language model" in s) for s in loading), statuses
    again = [out[-1] for out in run(session, "gem", "Q?", 0, 1, 8, 0, req("gem-tab"))]
    assert not any(isinstance(s, str) and s.startswith(("Starting", "Loading")) for s in again)


def test_a_gem_that_cannot_load_says_why_and_can_be_retried(tmp_path, tiny_gem_dir):
    settings = get_settings(
        data_dir=tmp_path, auth_file="", model=str(tiny_gem_dir), ecg_tower=str(tmp_path / "missing.pt")
    )
    bad_ctx = make_context(settings)
    demo = build_demo(settings, bad_ctx)
    run = next(f.fn for f in demo.fns.values() if f.fn.__name__ == "run_interpret")
    session = handlers.load_sample(bad_ctx, handlers.sample_choices(bad_ctx)[2][1])
    with pytest.raises(gr.Error, match="missing.pt"):
        list(run(session, "gem", "Q?", 0, 1, 8, 0, req("bad-tab")))
    assert "gem" not in bad_ctx.backends  # nothing half-built is kept: the next press tries again


def test_stop_ends_gem_generation_within_a_second_right_after_the_load(tiny_gem_dir, tmp_path):
    """Stop, pressed while GEM loads or just after: generation ends within 1 s (the tiny GEM never
    writes EOS, so without a stop it would write all 2000 tokens)."""
    import time

    from gem_core.model.tiny import ECG_FILE

    settings = get_settings(
        data_dir=tmp_path,
        auth_file="",
        model=str(tiny_gem_dir),
        ecg_tower=str(tiny_gem_dir / ECG_FILE),
        device="cpu",
    )
    ctx = make_context(settings)
    session = handlers.measured(handlers.load_sample(ctx, "synthetic:75bpm"))
    params = handlers.generation_params(0, 1, 2000, 0)

    # Stop pressed while the model loads (the app makes the run's stop flag before loading)
    flag = ctx.stop_event("tab")
    loader, steps, errors = present.start_backend(ctx, "gem")
    assert handlers.stop(ctx, "tab") == "Stopping…"
    loader.join(120)
    assert not errors and steps  # it loaded, and said what it was doing
    began = time.monotonic()
    *_, last = handlers.interpret(ctx, session, "gem", "Interpret this ECG.", params, "tab", flag)
    assert time.monotonic() - began < 1.0
    assert last.interpretation.stopped and last.interpretation.text == ""

    # Stop pressed after the first words, right after the load
    for _ in range(3):  # every time
        run = handlers.interpret(ctx, session, "gem", "Interpret this ECG.", params, "tab")
        next(run)
        pressed = time.monotonic()
        assert handlers.stop(ctx, "tab") == "Stopping…"
        *_, last = run
        assert time.monotonic() - pressed < 1.0
        assert last.interpretation.stopped
        assert 0 < len(last.interpretation.text) < 2000 * 8
    gem = ctx.backends["gem"]
    assert not any(t.name == "gem-generate" for t in threading.enumerate()) and not gem._lock.locked()
