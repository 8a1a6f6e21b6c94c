"""Shared fixtures: the real records beside the checkout, Chromium, free ports, synthetic ECGs, a tiny GEM."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_ECG = REPO.parent / "shared" / "data" / "ecg"
ARTIFACTS = REPO / "tests" / "artifacts"


def shared_records() -> list[Path]:
    """Header paths of every real record in ../shared/data/ecg (empty when the folder is absent)."""
    if not SHARED_ECG.is_dir():
        return []
    return sorted(p for p in SHARED_ECG.rglob("*.hea"))


@pytest.fixture(scope="session")
def shared_ecg_dir() -> Path:
    if not SHARED_ECG.is_dir():
        pytest.skip(f"real records not found at {SHARED_ECG} (a fresh clone has no ../shared)")
    return SHARED_ECG


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    return path


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser(chromium_path):
    """A real headless Chromium driven by Playwright (the distribution's Chromium, not a download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def synthetic():
    """Factory for deterministic simulated 12-lead ECGs: ``synthetic(heart_rate=75, duration_s=10)``."""
    from gem_core.samples import synthetic_ecg

    return synthetic_ecg


@pytest.fixture(scope="session")
def tiny_gem_dir(tmp_path_factory) -> Path:
    """A complete tiny GEM on disk (``make_tiny``: config, weights, tokenizer, ECG-CoCa ``.pt``), written
    once per session. Shared: a test that changes files copies the folder first."""
    from gem_core.model.tiny import make_tiny

    return make_tiny(tmp_path_factory.mktemp("tiny-gem"))


def sync(check):
    """The app's sign-in coroutine (what Gradio awaits) as a plain function, for these tests."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    def call(username, password):  # in a thread of its own: another test may leave a loop running here
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, check(username, password)).result()

    return call
