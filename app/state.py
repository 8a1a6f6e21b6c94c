"""What the app keeps: one ``AppContext`` per running app, one ``Session`` per browser tab.

``AppContext`` holds the deployment's long-lived objects (settings, the ratings store, built
backends, per-tab stop flags); it is created by ``build_demo`` and passed to every handler, so the app
has no module-level mutable state. ``Session`` is the value of the Review tab's ``gr.State``: the loaded
ECG, its measurements, the last interpretation and its claims.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from gem_core.settings import Settings


def new_key() -> str:
    """A fresh idempotency key for one submit (the store ignores a second write with the same key)."""
    return uuid.uuid4().hex


@dataclass
class Interpretation:
    """One generated interpretation, as the app shows it and stores it."""

    backend: str
    label: str
    is_gem: bool
    question: str
    params: dict
    text: str = ""
    claims: list[dict] = field(default_factory=list)
    stopped: bool = False
    interpretation_id: Any = None  # the store's id once saved


@dataclass
class Session:
    """Per-tab Review state: the ECG on screen and what was said about it."""

    sample_id: str = ""
    ecg: Any = None  # gem_core.ecg.ECG
    measurements: Any = None  # gem_core.features.Measurements
    case_id: Any = None  # the store's id of this ECG
    interpretation: Interpretation | None = None
    selected_claim: str | None = None
    claim_view: bool = False  # the tracing shows the selected claim's close-up (else the whole ECG)
    rating_key: str = field(default_factory=new_key)
    rate_target: Interpretation | None = None  # set by Compare's "Rate A/B"; else the Review reading
    rate_opened: float | None = None  # when the Rate tab showed this interpretation (time spent)
    clear_panels: bool = False  # the previous record's claims and evidence are still on screen
    start_ms: float = 0.0  # the page of a long record on screen (10 s from here)

    @property
    def to_rate(self) -> Interpretation | None:
        """What the Rate tab shows: a Compare side picked for rating, else the Review interpretation."""
        return self.rate_target or self.interpretation

    @property
    def loaded(self) -> bool:
        return self.ecg is not None

    def claim(self, claim_id: str | None) -> dict | None:
        if self.interpretation is None or claim_id is None:
            return None
        return next((c for c in self.interpretation.claims if str(c.get("id")) == str(claim_id)), None)


@dataclass
class AppContext:
    """Long-lived objects of one running app; handlers receive it instead of reading globals."""

    settings: Settings
    store: Any = None  # annotations store, None when it could not be opened
    store_error: str = ""
    samples_error: str = ""  # sample sources left out (a bad GEM_SAMPLES_DIR / GEM_PTBXL_DIR)
    backends: dict = field(default_factory=dict)
    backend_locks: dict[str, threading.Lock] = field(default_factory=dict)  # one per backend being built
    stops: dict[str, threading.Event] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    cache: dict = field(default_factory=dict)  # sample sources, the gallery list, thumbnails

    def stop_event(self, session_hash: str | None) -> threading.Event:
        """A fresh stop flag for this tab's generation (replacing the previous one)."""
        with self.lock:
            event = threading.Event()
            self.stops[session_hash or "-"] = event
            return event

    def request_stop(self, session_hash: str | None) -> bool:
        with self.lock:
            event = self.stops.get(session_hash or "-")
        if event is None:
            return False
        event.set()
        return True
