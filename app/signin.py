"""Sign-in throttling: per-client and per-username backoff, the same work for every username.

Gradio calls the ``auth=`` callable inside its event loop with only (username, password); scrypt there
(~50 ms) would stall every other request while someone floods the login form. So the check here is a
coroutine that runs scrypt in a worker thread, one at a time, and refuses without running it at all
while the client or the username is backing off:

- a client (address; ``X-Forwarded-For`` when ``GEM_TRUST_PROXY`` / on Spaces) that failed
  ``GEM_SIGNIN_FREE_FAILURES`` times waits 1, 2, 4, ... s (at most ``GEM_SIGNIN_CLIENT_LOCK_S``) before
  each further check;
- a username with as many failures (from any client) waits the same way, but at most
  ``GEM_SIGNIN_USER_LOCK_S`` (short), and never on a client that has signed in as that user before:
  flooding someone's username cannot keep them out for long, and not at all from their own browser;
- an unknown username costs one scrypt, against a fixed dummy hash, as a known one does.

Refusals during backoff are HTTP 429 with the wait in the message. Counters live in memory (bounded);
a restart forgets them.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections import OrderedDict

from fastapi import HTTPException

from annotations.store import hash_password, verify_password

CLIENT: contextvars.ContextVar[str] = contextvars.ContextVar("gem_signin_client", default="-")
MAX_TRACKED = 10_000  # clients and usernames remembered (least recently seen dropped first)


class ClientAddress:
    """Pure ASGI middleware: puts the caller's address in ``CLIENT`` for the auth callable to read,
    and answers 401 to heartbeat streams without a signed-in session when the app has a login.

    Gradio's ``/heartbeat/{session}`` route has no login check; without this, anyone could hold
    streams (and their file descriptors) open.
    """

    def __init__(self, app, trust_proxy: bool = False):
        self.app, self.trust_proxy = app, trust_proxy

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            CLIENT.set(client_address(scope, self.trust_proxy))
            if "/heartbeat/" in scope.get("path", "") and not signed_in(scope):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"text/plain")],
                    }
                )
                await send({"type": "http.response.body", "body": b"sign in first"})
                return
        await self.app(scope, receive, send)


def signed_in(scope: dict) -> bool:
    """Whether the request carries a Gradio login token (always True for an app without a login)."""
    gradio_app = scope.get("app")
    if getattr(gradio_app, "auth", None) is None:
        return True
    tokens = getattr(gradio_app, "tokens", {})
    for name, value in scope.get("headers") or ():
        if name != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            key, _, token = part.strip().partition("=")
            if key.startswith("access-token") and token in tokens:
                return True
    return False


def client_address(scope: dict, trust_proxy: bool) -> str:
    """The caller's address: the first ``X-Forwarded-For`` entry behind a trusted proxy, else the peer."""
    if trust_proxy:
        for name, value in scope.get("headers") or ():
            if name == b"x-forwarded-for" and value.strip():
                return value.decode("latin-1").split(",")[0].strip()[:64]
    peer = scope.get("client")
    return str(peer[0]) if peer else "-"


class _Backoff:
    """Failure counts with exponential backoff for one kind of key (client or username)."""

    def __init__(self, free: int, cap_s: float):
        self.free, self.cap_s = free, cap_s
        self.entries: OrderedDict[str, list[float]] = OrderedDict()  # key -> [failures, until]

    def wait(self, key: str, now: float) -> float:
        entry = self.entries.get(key)
        return 0.0 if entry is None else max(0.0, entry[1] - now)

    def failed(self, key: str, now: float) -> None:
        entry = self.entries.pop(key, [0, 0.0])
        entry[0] += 1
        if entry[0] >= self.free:
            entry[1] = now + min(self.cap_s, 2.0 ** (entry[0] - self.free))
        self.entries[key] = entry
        while len(self.entries) > MAX_TRACKED:
            self.entries.popitem(last=False)

    def clear(self, key: str) -> None:
        self.entries.pop(key, None)


class SignInGuard:
    """Sign-in checks for ``demo.launch(auth=guard.check)``: ``await guard.check(username, password)``.

    ``check`` is a coroutine function, so Gradio awaits it in its event loop (an object with an async
    ``__call__`` would look synchronous to Gradio, and its coroutine would count as a success).

    ``accounts`` maps username -> password hash; ``on_success(username)`` runs after a good check.
    """

    def __init__(
        self, accounts: dict[str, str], on_success, free_failures=10, client_cap_s=900.0, user_cap_s=30.0
    ):
        self.accounts, self.on_success = accounts, on_success
        self.clients = _Backoff(free_failures, client_cap_s)
        self.users = _Backoff(free_failures, user_cap_s)
        self.known: OrderedDict[tuple[str, str], None] = OrderedDict()  # (username, client) signed in before
        self.lock = threading.Lock()
        self.one_at_a_time = asyncio.Semaphore(1)  # scrypt is CPU- and memory-hard: never many at once
        self.dummy = hash_password("not a password: the work an unknown username costs")

    async def check(self, username: str, password: str) -> bool:
        username, client = str(username)[:128], CLIENT.get()
        now = time.monotonic()
        with self.lock:
            wait = self.clients.wait(client, now)
            if (username, client) not in self.known:
                wait = max(wait, self.users.wait(username, now))
        if wait > 0:
            raise HTTPException(
                status_code=429,
                detail=f"Too many failed sign-ins; wait {wait:.0f} s and try again.",
                headers={"Retry-After": str(int(wait) + 1)},
            )
        stored = self.accounts.get(username)
        async with self.one_at_a_time:
            ok = await asyncio.to_thread(verify_password, str(password), stored or self.dummy)
        ok = ok and stored is not None
        now = time.monotonic()
        with self.lock:
            if ok:
                self.clients.clear(client)
                self.users.clear(username)
                self.known[(username, client)] = None
                while len(self.known) > MAX_TRACKED:
                    self.known.popitem(last=False)
            else:
                self.clients.failed(client, now)
                self.users.failed(username, now)
        if ok:
            await asyncio.to_thread(self.on_success, username)
        return ok
