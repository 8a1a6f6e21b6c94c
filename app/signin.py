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
import re
import secrets
import threading
import time
from collections import OrderedDict
from urllib.parse import unquote

from fastapi import HTTPException

from annotations.store import hash_password, verify_password

CLIENT: contextvars.ContextVar[str] = contextvars.ContextVar("gem_signin_client", default="-")
MAX_TRACKED = 10_000  # clients and usernames remembered (least recently seen dropped first)


class ClientAddress:
    """Pure ASGI middleware in front of Gradio's routes.

    - puts the caller's address in ``CLIENT`` for the sign-in check to read;
    - answers 401 to heartbeat streams without a signed-in session when the app has a login
      (Gradio's ``/heartbeat/{session}`` route has no login check: anyone could hold streams open);
    - answers 403 to file downloads whose name matches ``admin_files`` (exports) unless the
      session's user passes ``is_admin``: an export's address alone does not open it;
    - binds each Gradio session hash to the user who first streamed on it (heartbeat, result
      stream): another user presenting that hash gets 403 instead of the first user's results.
    """

    def __init__(
        self, app, trust_proxy: bool = False, admin_files: str = "", is_admin=None, guest_cookie: str = ""
    ):
        self.app, self.trust_proxy, self.guest_cookie = app, trust_proxy, guest_cookie
        self.admin_files = re.compile(admin_files) if admin_files else None
        self.is_admin = is_admin
        self.owners: OrderedDict[str, str] = OrderedDict()  # session hash -> username
        self.lock = threading.Lock()

    def _claim(self, session_hash: str, user: str) -> bool:
        """Whether ``user`` may stream on ``session_hash`` (the first user to do so owns it)."""
        with self.lock:
            owner = self.owners.setdefault(session_hash, user)
            self.owners.move_to_end(session_hash)
            while len(self.owners) > 10 * MAX_TRACKED:
                self.owners.popitem(last=False)
        return owner == user

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            CLIENT.set(client_address(scope, self.trust_proxy))
            path = unquote(scope.get("path", ""))
            if "/heartbeat/" in path or path.endswith("/queue/data"):
                user = session_user(scope)
                if user is None:
                    return await _refuse(send, 401, b"sign in first")
                session_hash = _session_hash(scope, path)
                if user and session_hash and not self._claim(session_hash, user):
                    return await _refuse(send, 403, b"this session belongs to another user")
            if self.admin_files and "/file=" in path and self.admin_files.search(path.rsplit("/", 1)[-1]):
                user = session_user(scope)
                if not user or self.is_admin is None or not await asyncio.to_thread(self.is_admin, user):
                    return await _refuse(send, 403, b"exports are for administrators")
            if self.guest_cookie and not _has_cookie(scope, self.guest_cookie):
                send = _setting_cookie(send, self.guest_cookie)
        await self.app(scope, receive, send)


def _has_cookie(scope: dict, name: str) -> bool:
    prefix = name.encode() + b"="
    return any(
        n == b"cookie" and any(part.strip().startswith(prefix) for part in v.split(b";"))
        for n, v in scope.get("headers") or ()
    )


def _setting_cookie(send, name: str):
    """``send`` that adds a fresh random ``name`` cookie (one per browser, a year) to the response."""
    value = secrets.token_urlsafe(24)  # 32 characters
    cookie = f"{name}={value}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax".encode()

    async def sending(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
        await send(message)

    return sending


async def _refuse(send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _session_hash(scope: dict, path: str) -> str:
    if "/heartbeat/" in path:
        return path.rsplit("/heartbeat/", 1)[-1].strip("/")
    from urllib.parse import parse_qs

    return (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash") or [""])[0]


def session_user(scope: dict) -> str | None:
    """The signed-in username of a request ("" for an app without a login; None: not signed in)."""
    gradio_app = scope.get("app")
    if getattr(gradio_app, "auth", None) is None:
        return ""
    tokens = getattr(gradio_app, "tokens", {})
    for name, value in scope.get("headers") or ():
        if name != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            key, _, token = part.strip().partition("=")
            if key.startswith("access-token") and token in tokens:
                return tokens[token]
    return None


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
