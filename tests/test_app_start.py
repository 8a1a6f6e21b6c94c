"""The README's main command: ``python app.py`` starts offline and serves on ``GEM_PORT``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

from tests.conftest import REPO, free_port

START_TIMEOUT_S = 90


def test_python_app_py_serves_on_gem_port(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "GEM_PORT": str(port),
        "GEM_DATA_DIR": str(tmp_path),  # the store's SQLite file goes here, not into the checkout
        "GEM_AUTH_FILE": "",
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    for name in ("GEM_MODEL", "GEM_ECG_TOWER", "GEM_OPENAI_BASE_URL", "GEM_DB_URL", "GEM_SAMPLES_DIR"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "app.py"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline, page = time.monotonic() + START_TIMEOUT_S, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    page = response.read().decode("utf-8", "replace")
                    break
            except OSError:
                time.sleep(0.5)
        assert proc.poll() is None, proc.stdout.read().decode("utf-8", "replace")[-3000:]
        assert page is not None, f"nothing served on GEM_PORT={port} within {START_TIMEOUT_S} s"
        assert "GEM Studio" in page
        assert (tmp_path / "gem_studio.sqlite3").is_file(), "the store was not created under GEM_DATA_DIR"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
