"""The README's main command: ``python app.py`` starts offline and serves on ``GEM_PORT``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

from tests.conftest import REPO, free_port, sync

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


def test_one_account_system_create_rater_and_add_user_both_sign_in(tmp_path):
    """Accounts made by either command sign in to the app (the users file is the one account list);
    no users file, or no password without a terminal, is one clear error line and status 2."""
    import os
    import subprocess
    import sys

    from app import auth
    from app.main import make_context
    from gem_core.settings import get_settings
    from tests.conftest import REPO

    users, db = tmp_path / "users.csv", f"sqlite:///{tmp_path / 'accounts.sqlite3'}"
    env = {**os.environ, "GEM_AUTH_FILE": str(users), "GEM_DB_URL": db, "GEM_NEW_PASSWORD": "lee password 1"}
    made = subprocess.run(
        [sys.executable, "-m", "annotations", "create-rater", "dr.lee", "--role", "admin"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    env["GEM_NEW_PASSWORD"] = "kim password 1"
    added = subprocess.run(
        [sys.executable, "-m", "annotations", "add-user", str(users), "dr.kim"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert added.returncode == 0, added.stderr
    ctx = make_context(get_settings(data_dir=tmp_path, auth_file=str(users), db_url=db))
    check = sync(auth.password_check(ctx))  # the sign-in coroutine Gradio awaits
    assert check("dr.lee", "lee password 1") and check("dr.kim", "kim password 1")
    assert not check("dr.lee", "kim password 1") and not check("nobody", "lee password 1")
    assert auth.find_rater(ctx, "dr.lee").role == "admin"

    quiet = {k: v for k, v in env.items() if k not in ("GEM_NEW_PASSWORD", "GEM_AUTH_FILE")}
    for argv in (
        ["-m", "annotations", "add-user", str(users), "dr.new"],
        ["-m", "app.auth", "add-user", str(users), "dr.new"],
        ["-m", "annotations", "create-rater", "dr.new", "--file", str(users)],
    ):  # no terminal, no GEM_NEW_PASSWORD
        run = subprocess.run(
            [sys.executable, *argv],
            cwd=REPO,
            env=quiet,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        assert run.returncode == 2, (argv, run.stderr)
        assert run.stderr.strip().startswith("error:") and "GEM_NEW_PASSWORD" in run.stderr
        assert "Traceback" not in run.stderr and "EOFError" not in run.stderr
    quiet["GEM_NEW_PASSWORD"] = "new password 1"
    run = subprocess.run(
        [sys.executable, "-m", "annotations", "create-rater", "dr.new"],
        cwd=REPO,
        env=quiet,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "GEM_AUTH_FILE" in run.stderr and "Traceback" not in run.stderr
    assert "dr.new" not in users.read_text()
