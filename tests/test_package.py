"""The project as a package: a wheel with console commands that work from any folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile

import numpy as np
import pytest

from tests.conftest import REPO

COMMANDS = (
    "gem-studio",
    "gem-interpret",
    "gem-annotations",
    "gem-ecg",
    "gem-features",
    "gem-grounding",
    "gem-eval",
    "gem-make-data",
    "gem-sft",
    "gem-dpo",
    "gem-kto",
    "gem-pairs",
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from this checkout, installed (no dependency downloads) into a fresh venv that
    sees the machine's packages."""
    where = tmp_path_factory.mktemp("package")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(where),
        ],
        capture_output=True,
        text=True,
        cwd=where,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(where.glob("gem_studio-*.whl"))
    env_dir = where / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    py = env_dir / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        cwd=where,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    return wheel, env_dir / "bin", where


def run(bin_dir, cwd, *argv, **env):
    return subprocess.run(
        [str(bin_dir / argv[0]), *argv[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | env,
        timeout=120,
    )


@pytest.mark.slow
def test_the_wheel_holds_the_packages_migrations_and_commands(installed):
    wheel, *_ = installed
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("gem_core", "viewer", "annotations", "app", "training", "eval"):
        assert f"{package}/__init__.py" in names
    assert "annotations/migrations/env.py" in names and "annotations/alembic.ini" in names
    assert any(n.startswith("annotations/migrations/versions/0001") for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry).decode()
    assert all(f"{c} = " in text for c in COMMANDS)
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


@pytest.mark.slow
def test_console_commands_work_from_any_folder(installed, synthetic, tmp_path):
    _, bin_dir, _ = installed
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    # the installed package is what runs, not this checkout
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "import annotations, app; print(annotations.__file__, app.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
    )
    assert str(REPO) not in where.stdout and "site-packages" in where.stdout, where.stdout + where.stderr
    for command in COMMANDS:
        assert run(bin_dir, elsewhere, command, "--help").returncode == 0, command

    record = elsewhere / "rec.npy"
    np.save(record, synthetic(heart_rate=60).signal)
    loaded = run(bin_dir, elsewhere, "gem-ecg", "rec.npy")
    assert loaded.returncode == 0 and json.loads(loaded.stdout)["fs"] == 500, loaded.stderr
    reading = run(bin_dir, elsewhere, "gem-interpret", "rec.npy", "--json")
    assert reading.returncode == 0, reading.stderr
    assert "60 bpm" in json.loads(reading.stdout)["text"]
    db = f"sqlite:///{elsewhere / 'store.sqlite3'}"  # migrations found inside the installed package
    made = run(
        bin_dir,
        elsewhere,
        "gem-annotations",
        "create-rater",
        "dr.pkg",
        "--db",
        db,
        "--file",
        "users.csv",
        GEM_NEW_PASSWORD="package password 1",
    )
    assert made.returncode == 0, made.stderr
    assert (elsewhere / "users.csv").is_file()
    summary = run(bin_dir, elsewhere, "gem-annotations", "summary", "--db", db, "--json")
    assert summary.returncode == 0 and json.loads(summary.stdout)["n_ratings"] == 0, summary.stderr
    bad = run(bin_dir, elsewhere, "gem-ecg", "missing.npy")
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_an_editable_install_runs_the_checkout_from_any_folder(tmp_path):
    # `pip install -e .` (what a developer does) into a fresh venv: the commands work from another folder
    # and run the checkout's code, so an edit there is live without reinstalling. A copy of the
    # checkout's files stands in for it, so the install's own files (egg-info) stay out of this one.
    import shutil

    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    checkout = tmp_path / "checkout"
    for name in files:
        if (REPO / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, checkout / name)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    bin_dir = env_dir / "bin"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(bin_dir / "python"), "install"]
        + ["--no-deps", "--no-index", "--no-build-isolation", "-e", str(checkout)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    (checkout / "gem_core" / "edited_after_install.py").write_text("WORD = 'live'\n")
    probe = run(
        bin_dir,
        elsewhere,
        "python",
        "-c",
        "import app, gem_core.edited_after_install as e; print(app.__file__); print(e.WORD)",
    )
    assert probe.returncode == 0, probe.stderr
    where, word = probe.stdout.split()
    assert where == str(checkout / "app" / "__init__.py") and word == "live"
    for command in ("gem-ecg", "gem-annotations"):
        assert run(bin_dir, elsewhere, command, "--help").returncode == 0, command
    bad = run(bin_dir, elsewhere, "gem-ecg", "missing.npy")
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr
