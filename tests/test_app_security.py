"""The app as an outsider and as a signed-in rater would attack it: a real server on a free port,
driven with httpx (sign-in, heartbeats) and gradio_client (API writes), SQLite store on disk."""

from __future__ import annotations

import statistics
import time

import httpx
import pytest

from app import auth
from app.main import build_demo, launch_kwargs, make_context
from gem_core.settings import get_settings
from tests.conftest import free_port

RATERS = [(f"rater{i}", f"rater password {i}") for i in range(4)]
ADMIN = ("boss", "admin password")
DEMO: dict = {}  # the served Blocks, for putting a file in its download cache


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(url, app context): the app with four raters and an admin; backoff after 4 failures, 1 s per user."""
    data = tmp_path_factory.mktemp("security-data")
    users = data / "users.csv"
    for name, password in RATERS:
        auth.add_user(str(users), name, password)
    auth.add_user(str(users), *ADMIN, role="admin")
    settings = get_settings(
        data_dir=data,
        auth_file=str(users),
        port=free_port(),
        host="127.0.0.1",
        signin_free_failures=4,
        signin_user_lock_s=1.0,
        trust_proxy=True,  # X-Forwarded-For stands for distinct clients
    )
    ctx = make_context(settings)
    demo = build_demo(settings, ctx)
    demo.queue().launch(prevent_thread_lock=True, quiet=True, **launch_kwargs(ctx))
    DEMO["app"] = demo
    yield demo.local_url.rstrip("/"), ctx
    demo.close()


def login(url: str, username: str, password: str, client: str) -> tuple[httpx.Response, float]:
    began = time.perf_counter()
    r = httpx.post(
        f"{url}/login",
        data={"username": username, "password": password},
        headers={"X-Forwarded-For": client},
        timeout=30,
    )
    return r, time.perf_counter() - began


# ------------------------------------------------------------------------------------------------ sign-in


def test_unknown_usernames_cost_as_much_as_known_ones(served):
    url, _ = served
    known = [login(url, name, "wrong", f"10.1.0.{i}")[1] for i, (name, _) in enumerate(RATERS[:3])]
    unknown = [login(url, f"nobody{i}", "wrong", f"10.2.0.{i}")[1] for i in range(3)]
    k, u = statistics.median(known), statistics.median(unknown)
    assert k > 0.01  # scrypt ran
    assert 0.5 < u / k < 2.0, f"known {k * 1000:.0f} ms, unknown {u * 1000:.0f} ms"


def test_a_flooding_client_backs_off_and_the_real_user_still_signs_in(served):
    url, _ = served
    victim, password = RATERS[3]
    ok, _ = login(url, victim, password, "10.9.9.9")  # the real user's own browser, before the attack
    assert ok.status_code == 200
    for _ in range(4):
        r, _ = login(url, victim, "guess", "10.6.6.6")
        assert r.status_code == 400
    refused, took = login(url, victim, password, "10.6.6.6")  # even the right password: backing off
    assert refused.status_code == 429 and "wait" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) >= 1 and took < 0.5
    other, took = login(url, "rater0", RATERS[0][1], "10.6.6.6")  # the client, for any username
    assert other.status_code == 429 and took < 0.5
    new_place, _ = login(url, victim, password, "10.7.7.7")  # a new place waits, at most 1 s
    assert new_place.status_code == 429
    time.sleep(1.1)
    later, _ = login(url, victim, password, "10.7.7.7")
    assert later.status_code == 200
    for _ in range(4):  # a second attacker locks the username again
        assert login(url, victim, "guess", "10.5.5.5")[0].status_code == 400
    assert login(url, victim, password, "10.8.8.8")[0].status_code == 429
    mine, _ = login(url, victim, password, "10.9.9.9")  # the user's own browser is never locked out
    assert mine.status_code == 200


def test_sign_in_does_not_stall_other_requests(served):
    """Wrong passwords from many clients at once; another request is answered meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    url, _ = served
    with ThreadPoolExecutor(8) as pool:
        flood = [pool.submit(login, url, f"x{i}", "wrong", f"10.3.{i}.1") for i in range(16)]
        time.sleep(0.05)
        began = time.perf_counter()
        httpx.get(f"{url}/config", timeout=30)
        waited = time.perf_counter() - began
        slowest = max(f.result()[1] for f in flood)
    assert waited < slowest / 2, f"a plain request waited {waited:.2f} s during the flood ({slowest:.2f} s)"


def test_heartbeat_streams_need_a_signed_in_session(served):
    url, _ = served
    r = httpx.get(f"{url}/gradio_api/heartbeat/abcdef", timeout=10)
    assert r.status_code == 401
    with httpx.Client(timeout=10) as signed:
        assert (
            signed.post(f"{url}/login", data={"username": RATERS[1][0], "password": RATERS[1][1]}).status_code
            == 200
        )
        with signed.stream("GET", f"{url}/gradio_api/heartbeat/abcdef") as stream:
            assert stream.status_code == 200


# ---------------------------------------------------------------------------------------- authorization


def rater_client(url: str, who: tuple[str, str]):
    from gradio_client import Client

    return Client(url, auth=who, verbose=False)


def interpret_twice(client, sample_id: str) -> list[int]:
    import re

    client.predict(sample_id, "12x1", False, api_name="/load_ecg")
    ids = []
    for question in ("Interpret this ECG.", "Describe the rhythm."):
        *_, last = list(client.submit(backend_name="measure", question=question, api_name="/interpret"))
        ids.append(int(re.search(r"interpretation (\d+)", last[-1]).group(1)))
    return ids


SCORES = (5, 4, 4, 4, 3, 4, 5)


@pytest.fixture(scope="module")
def shown(served):
    """Two raters' clients and the interpretation ids each was shown."""
    url, _ = served
    first, second = rater_client(url, RATERS[0]), rater_client(url, RATERS[1])
    return {
        "first": first,
        "second": second,
        "first_ids": interpret_twice(first, "synthetic:60bpm"),
        "second_ids": interpret_twice(second, "synthetic:150bpm"),
    }


def test_a_rater_cannot_rate_what_they_were_not_shown(shown, served):
    from gradio_client.exceptions import AppError

    _, ctx = served
    before = ctx.store.counts()["ratings"]
    theirs = shown["first_ids"][0]
    with pytest.raises(AppError, match=f"interpretation {theirs} was not shown in this session"):
        shown["second"].predict(theirs, "key-not-shown-1", *SCORES, "", api_name="/submit_rating")
    with pytest.raises(AppError, match="was not shown in this session"):
        shown["second"].predict(
            *shown["first_ids"], "A is better", "", "key-not-shown-2", api_name="/submit_preference"
        )
    assert ctx.store.counts()["ratings"] == before
    status, _ = shown["second"].predict(
        shown["second_ids"][0], "key-shown-1", *SCORES, "", api_name="/submit_rating"
    )
    assert status.startswith(f"Saved rating of interpretation {shown['second_ids'][0]}")


def test_idempotency_keys_are_scoped_to_the_rater(shown, served):
    _, ctx = served
    before = ctx.store.counts()["ratings"]
    key = "the-same-key-for-both-raters"
    one, _ = shown["first"].predict(shown["first_ids"][1], key, *SCORES, "first", api_name="/submit_rating")
    two, _ = shown["second"].predict(
        shown["second_ids"][1], key, *SCORES, "second", api_name="/submit_rating"
    )
    assert one.startswith("Saved rating") and two.startswith("Saved rating")
    assert ctx.store.counts()["ratings"] == before + 2
    again, _ = shown["first"].predict(shown["first_ids"][1], key, *SCORES, "first", api_name="/submit_rating")
    assert ctx.store.counts()["ratings"] == before + 2 and again.startswith("Saved rating")  # a retry


def test_campaign_summary_and_export_count_only_assigned_work(served, tmp_path):
    import json

    _, ctx = served
    store = ctx.store
    admin = auth.find_rater(ctx, ADMIN[0])
    assigned, outsider = auth.find_rater(ctx, "rater2"), auth.find_rater(ctx, "rater3")
    line = {
        "case": "synthetic:75bpm",
        "interpretations": [
            {"model": "m-good", "text": "Sinus rhythm, 75 bpm."},
            {"model": "m-bad", "text": "Atrial fibrillation."},
        ],
    }
    source = tmp_path / "camp.jsonl"
    source.write_text(json.dumps(line) + "\n")
    store.import_campaign(admin, source, "only-assigned", kind="compare", k_raters=1)
    assert store.assign(admin, "only-assigned", raters=[assigned]) == 1
    item = store.next_item(assigned, "only-assigned")
    by_label = {i["label"]: i["id"] for i in item.interpretations}
    good, bad = (by_label[label] for label in sorted(by_label))  # Model A: m-good (first in the file)
    store.submit_preference(
        assigned, good, bad, "a", "", idempotency_key="assigned-choice", assignment_id=item.assignment_id
    )
    for n in range(3):  # the outsider's choices, and their ratings, of the same pair
        store.submit_preference(outsider, good, bad, "b", "", idempotency_key=f"outsider-choice-{n}")
    store.submit_rating(
        outsider,
        bad,
        dict(zip(store_metric_names(), SCORES, strict=True)),
        "",
        idempotency_key="outsider-rating",
    )
    summary = store.summary(admin, "only-assigned")
    assert summary["n_preferences"] == 1 and summary["n_ratings"] == 0
    assert set(summary["raters"]) == {assigned.pseudonym}
    result = store.export(
        admin, "dpo", tmp_path / "pairs.jsonl", campaign="only-assigned", image_root=tmp_path
    )
    rows = [json.loads(x) for x in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert result.rows == 1 and "Sinus rhythm" in json.dumps(rows[0]["chosen"])
    everything = store.summary(admin, None)  # without a campaign: every choice stays visible
    assert everything["n_preferences"] >= 4


def store_metric_names():
    from annotations.metrics import METRIC_NAMES

    return METRIC_NAMES


# ------------------------------------------------------------------------------------------------ exports


def signed_in_http(url: str, who: tuple[str, str]) -> httpx.Client:
    client = httpx.Client(timeout=30)
    assert client.post(f"{url}/login", data={"username": who[0], "password": who[1]}).status_code == 200
    return client


@pytest.fixture(scope="module")
def csv_export(served, shown):
    """The admin's CSV export of every rating (after a rater's comment that looks like a formula)."""
    from app import rating

    url, ctx = served
    formula = "=cmd|' /C calc'!A0"
    shown["first"].predict(
        shown["first_ids"][0], "formula-comment", *SCORES, formula, api_name="/submit_rating"
    )
    admin = auth.find_rater(ctx, ADMIN[0])
    path, message = rating.export(ctx, admin, "csv", "")
    assert path and "Exported" in message
    return path


def test_csv_export_neutralises_formulas(csv_export):
    import csv

    with open(csv_export, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    comments = {r["comment"] for r in rows}
    assert "'=cmd|' /C calc'!A0" in comments
    assert not any(str(v).startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for v in r.values())


def test_export_files_are_private_and_under_unguessable_names(csv_export, served):
    import os
    import stat
    from pathlib import Path

    _, ctx = served
    path = Path(csv_export)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    exports = Path(ctx.settings.data_dir) / "exports"
    assert path.parent.parent == exports and len(path.parent.name) >= 12 + 1 + 24  # owner + 18 random bytes


def test_export_downloads_are_served_to_admins_only(csv_export, served):
    from gradio.processing_utils import move_resource_to_block_cache

    url, ctx = served
    demo = DEMO["app"]
    cached = move_resource_to_block_cache(csv_export, demo)  # where Gradio puts a handler's download
    address = f"{url}/gradio_api/file={cached}"
    rater = signed_in_http(url, RATERS[2])
    assert rater.get(address).status_code == 403
    rater.close()
    assert httpx.get(address, timeout=30).status_code in (401, 403)
    admin = signed_in_http(url, ADMIN)
    got = admin.get(address)
    admin.close()
    assert got.status_code == 200 and "rating_id" in got.text


def test_old_exports_are_deleted(served):
    import os
    import time as clock
    from pathlib import Path

    from app import rating

    _, ctx = served
    admin = auth.find_rater(ctx, ADMIN[0])
    exports = Path(ctx.settings.data_dir) / "exports"
    old = exports / "someone-old"
    old.mkdir()
    (old / "gem-csv-20200101-000000.csv").write_text("x")
    stale = clock.time() - ctx.settings.export_ttl_s - 10
    os.utime(old, (stale, stale))
    rating.export(ctx, admin, "csv", "")
    assert not old.exists()


# ------------------------------------------------------------------------------------ per-tab state


def test_another_user_presenting_a_session_hash_gets_nothing_of_it(served):
    url, _ = served
    victim, attacker = rater_client(url, RATERS[2]), rater_client(url, RATERS[3])
    victim.predict("synthetic:100bpm", "12x1", False, api_name="/load_ecg")
    *_, done = list(
        victim.submit(backend_name="measure", question="Interpret this ECG.", api_name="/interpret")
    )
    assert "Done" in done[-1]
    attacker.session_hash = victim.session_hash  # a leaked hash
    with pytest.raises(Exception) as info:
        attacker.predict(backend_name="measure", question="Interpret this ECG.", api_name="/interpret")
    assert "100" not in str(info.value) or "belongs to another" in str(info.value)
    http = signed_in_http(url, RATERS[3])
    stream = http.get(f"{url}/gradio_api/queue/data", params={"session_hash": victim.session_hash})
    heartbeat = http.get(f"{url}/gradio_api/heartbeat/{victim.session_hash}")
    http.close()
    assert stream.status_code == 403 and heartbeat.status_code == 403
    *_, again = list(
        victim.submit(backend_name="measure", question="Interpret this ECG.", api_name="/interpret")
    )
    assert "Done" in again[-1]  # the owner's tab is untouched


def test_every_state_is_bound_to_its_first_user():
    """Behind the stream check: handlers bind per-tab state (Session, dict states) to the user."""
    from app.state import Session, bind
    from gem_core.errors import GemError

    s, pair = Session(), {}
    assert bind(s, "alice") is s and s.owner == "alice" and bind(pair, "alice")["owner"] == "alice"
    assert bind(s, "alice") is s  # the owner again: fine
    for state in (s, pair):
        with pytest.raises(GemError, match="belongs to another signed-in user"):
            bind(state, "mallory")
    assert bind(Session(), None).owner is None  # no accounts: nothing to bind to


# ------------------------------------------------------------------------------------- anonymous raters


@pytest.fixture(scope="module")
def anonymous(tmp_path_factory):
    """(url, ctx) of an app without accounts where anonymous rating is on."""
    data = tmp_path_factory.mktemp("anonymous-data")
    settings = get_settings(data_dir=data, port=free_port(), host="127.0.0.1", allow_anonymous_rating=True)
    ctx = make_context(settings)
    demo = build_demo(settings, ctx)
    demo.queue().launch(prevent_thread_lock=True, quiet=True, **launch_kwargs(ctx))
    yield demo.local_url.rstrip("/"), ctx
    demo.close()


def guests(ctx) -> list:
    return [r for r in ctx.store.raters(ctx.store.local_admin()) if r.is_guest]


def test_page_loads_make_no_anonymous_raters(anonymous, browser):
    url, ctx = anonymous
    context = browser.new_context()
    for _ in range(3):  # one browser, three loads
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#who", timeout=60_000)
        page.wait_for_function("document.querySelector('#who').innerText.length > 0", timeout=60_000)
        page.close()
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    context.close()
    assert len(cookies.get("gem_guest", "")) == 32  # one cookie per browser
    assert guests(ctx) == []  # looking is not rating


def test_one_anonymous_rater_per_browser_and_never_assigned(anonymous, tmp_path):
    import json

    from gradio_client import Client

    from gem_core.errors import GemError

    url, ctx = anonymous
    browser_cookie = {"Cookie": "gem_guest=" + "b" * 32}
    for n in range(2):  # two tabs of one browser rate
        tab = Client(url, headers=browser_cookie, verbose=False)
        ids = interpret_twice(tab, "synthetic:60bpm")
        status, _ = tab.predict(ids[n], f"anon-tab-{n}", *SCORES, "", api_name="/submit_rating")
        assert status.startswith("Saved rating")
    other = Client(url, headers={"Cookie": "gem_guest=" + "c" * 32}, verbose=False)
    ids = interpret_twice(other, "synthetic:60bpm")
    other.predict(ids[0], "anon-other", *SCORES, "", api_name="/submit_rating")
    assert len(guests(ctx)) == 2
    line = {"case": "synthetic:75bpm", "interpretations": [{"model": "m1", "text": "Sinus rhythm."}]}
    (tmp_path / "c.jsonl").write_text(json.dumps(line) + "\n")
    admin = ctx.store.local_admin()
    ctx.store.import_campaign(admin, tmp_path / "c.jsonl", "no-guests", k_raters=1)
    with pytest.raises(GemError, match="only 0 are available"):
        ctx.store.assign(admin, "no-guests")
    with pytest.raises(GemError, match="never assigned"):
        ctx.store.assign(admin, "no-guests", raters=guests(ctx)[:1])


def test_unused_anonymous_raters_are_purged(anonymous):
    _, ctx = anonymous
    used = {r.username for r in guests(ctx)}
    auth.ensure_rater(ctx, "anon-" + "0" * 20, "anonymous")
    assert ctx.store.purge_guests(ctx.store.local_admin(), 3600) == 0  # too recent
    assert ctx.store.purge_guests(ctx.store.local_admin(), 0) == 1
    assert {r.username for r in guests(ctx)} == used  # raters with ratings stay


def test_admin_handlers_called_by_fn_index_refuse_raters(served, shown):
    """The README's claim: admin events are reachable through /queue/join, and refuse non-admins."""
    import json

    url, _ = served
    demo = DEMO["app"]
    fn_index = next(i for i, fn in demo.fns.items() if getattr(fn, "name", "") == "run_export")
    http = signed_in_http(url, RATERS[0])
    session_hash = "fnindexprobe01"
    joined = http.post(
        f"{url}/gradio_api/queue/join",
        json={"data": ["csv", ""], "fn_index": fn_index, "session_hash": session_hash, "event_data": None},
    )
    assert joined.status_code == 200, joined.text
    outcome = None
    with http.stream("GET", f"{url}/gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    outcome = msg
                    break
    http.close()
    assert outcome is not None and outcome["success"] is False
    assert "is not an admin" in json.dumps(outcome)


# ------------------------------------------------------------------------------- what held, kept holding


def test_nothing_answers_before_sign_in_and_no_server_file_is_served(served):
    url, ctx = served
    data = ctx.settings.data_dir
    anonymous = httpx.Client(timeout=30)
    for path in (
        "/gradio_api/info",
        "/gradio_api/queue/data?session_hash=x",
        "/config?",
        "/gradio_api/upload",
    ):
        r = anonymous.request("POST" if path.endswith("upload") else "GET", url + path)
        assert r.status_code in (401, 403), (path, r.status_code)
    joined = anonymous.post(
        f"{url}/gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": "x"}
    )
    assert joined.status_code in (401, 403)
    anonymous.close()
    rater = signed_in_http(url, RATERS[1])
    for target in (
        f"{data}/gem_studio.sqlite3",
        ctx.settings.auth_file,
        "/etc/passwd",
        f"{data}/../../../etc/passwd",
        "../../../../etc/passwd",
    ):
        r = rater.get(f"{url}/gradio_api/file={target}")
        assert r.status_code in (403, 404), (target, r.status_code)
        assert "root:" not in r.text and "scrypt$" not in r.text
    rater.close()
