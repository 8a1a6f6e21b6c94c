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
