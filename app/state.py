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
    shown: set = field(default_factory=set)  # ids of the stored interpretations shown in this tab
    owner: str | None = None  # the signed-in user whose tab this is (``bind``); None: no accounts
    upload_paths: list = field(default_factory=list)  # the uploaded files (to pick another record in them)
    records: list = field(
        default_factory=list
    )  # records in an uploaded zip / CODE-15 file: [shown, others...]

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


NOT_YOURS = "this tab's state belongs to another signed-in user; reload the page to start your own"


def bind(state, owner: str | None):
    """``state`` (a ``Session`` or a dict state) claimed by ``owner``; ``GemError`` if someone else's.

    Gradio keys per-tab state by the session hash alone: a second user presenting that hash would get
    the first one's ECG, interpretations and campaign position. Every handler that reads or writes
    per-tab state binds it to the signed-in user first. Without accounts (``owner`` None) there is
    nobody to bind to.
    """
    from gem_core.errors import GemError

    if owner is None or state is None:
        return state
    current = state.get("owner") if isinstance(state, dict) else state.owner
    if current is None:
        if isinstance(state, dict):
            state["owner"] = owner
        else:
            state.owner = owner
    elif current != owner:
        raise GemError(NOT_YOURS)
    return state


def user_of(request) -> str | None:
    """Who sent ``request``: the Gradio login name, else the Hugging Face account, else None."""
    if request is None:
        return None
    name = getattr(request, "username", None)
    if name:
        return str(name)
    try:
        info = request.session.get("oauth_info") or {}
    except (AssertionError, AttributeError):  # no session middleware: no OAuth
        return None
    user = (info.get("userinfo") or {}).get("preferred_username")
    return f"hf-{user}" if user else None


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
