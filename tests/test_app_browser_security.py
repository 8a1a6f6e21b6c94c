"""In Chromium: an error pop-up shows what a hostile upload said as text (no link, form or image is
rendered, nothing is fetched) and names no server folder."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app import auth
from app.main import build_demo, launch_kwargs, make_context
from gem_core.settings import get_settings
from tests.conftest import free_port
from tests.test_app_browser import TIMEOUT, open_app, upload

RATER = ("dr.rater", "rater password 1")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data = tmp_path_factory.mktemp("browser-security")
    users = data / "users.csv"
    auth.add_user(str(users), *RATER)
    settings = get_settings(data_dir=data, auth_file=str(users), port=free_port())
    ctx = make_context(settings)
    demo = build_demo(settings, ctx)
    demo.queue().launch(prevent_thread_lock=True, quiet=True, **launch_kwargs(ctx))
    yield demo.local_url, ctx
    demo.close()


@pytest.fixture
def fetched():
    """A loopback HTTP server standing in for an attacker's: the paths Chromium asked it for."""
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], paths
    server.shutdown()


def test_error_popup_shows_markup_from_an_upload_as_text(browser, served, fetched, tmp_path):
    url, _ = served
    port, paths = fetched
    columns = [  # no standard lead at all: refused (a CSV with I and II would load as a few-lead record)
        f"<a id=evil-link href=http://127.0.0.1:{port}/link>click</a>",
        "<form id=evil-form><input type=password name=pw></form>",
        f"<img id=evil-img src=http://127.0.0.1:{port}/pixel.png>",
    ]
    bad = tmp_path / "hostile.csv"
    bad.write_text(",".join(columns) + "\n" + "\n".join(",".join(["0.1"] * 3) for _ in range(1000)) + "\n")
    page = open_app(browser, url, RATER)
    upload(page, bad)
    toast = page.locator(".toast-body", has_text="hostile.csv lacks lead(s)")
    toast.wait_for(timeout=TIMEOUT)
    page.wait_for_timeout(500)  # time for an image to be fetched, were it rendered
    text = toast.inner_text()
    assert "<a id=evil-link" in text and "<img id=evil-img" in text and "<form id=evil-form>" in text
    assert toast.locator("a, img, form, input").count() == 0
    assert page.locator("#evil-link, #evil-img, #evil-form").count() == 0
    assert paths == []  # Chromium fetched nothing from the "attacker"
    assert "/tmp" not in text and "gem-upload-" not in text
    page.context.close()


def test_a_decompression_bomb_upload_is_refused_in_the_page(browser, served, tmp_path):
    import resource
    import time

    from tests.test_hostile_files import write_npz_bomb

    url, _ = served
    bomb = write_npz_bomb(tmp_path / "bomb.npz")  # 240 MB of float32 zeros declared, 0.2 MB on disk
    page = open_app(browser, url, RATER)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.perf_counter()
    upload(page, bomb)
    toast = page.locator(".toast-body", has_text="GEM_MAX_SAMPLES")
    toast.wait_for(timeout=TIMEOUT)
    took = time.perf_counter() - began
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert "bomb.npz" in toast.inner_text() and "/tmp" not in toast.inner_text()
    assert took < 10 and grown_mb < 100, f"{took:.1f} s, server peak grew {grown_mb:.0f} MB"
    page.context.close()
