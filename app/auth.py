"""Who is using the app: gradio login (GEM_AUTH_FILE), HF OAuth on Spaces, or nobody.

Every rating, preference and admin handler resolves the rater here, on the server, and passes the
``RaterView`` to the store, which checks the role in the database again; the UI hiding a button is
never the check. Password hashing, accounts and the GEM_AUTH_FILE format (CSV
``username,password_hash,role,display_name``; ``annotations.store.read_auth_file``) belong to
``annotations``; ``python -m app.auth add-user`` is kept as a shortcut for
``python -m annotations add-user``.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import os
import re
import secrets
import time

from annotations.store import GUEST_PREFIX, Store, add_auth_user, read_auth_file
from app.signin import SignInGuard
from app.spaces import oauth_enabled
from app.state import AppContext
from gem_core.errors import GemError
from gem_core.settings import Settings


def open_store(settings: Settings):
    """The ratings store for this deployment (``annotations.store.Store``)."""
    return Store(settings=settings)


def password_check(ctx: AppContext):
    """The ``auth=`` callable for ``demo.launch``: checks GEM_AUTH_FILE and maps the user to a rater.

    The file's accounts are synced into the store first (``Store.sync_auth_file``), so a role or display
    name changed in the file holds from the next start; only the file's accounts can sign in here.
    Checks are throttled per client and per username (``app.signin.SignInGuard``).
    """
    accounts = read_auth_file(ctx.settings.auth_file)
    if ctx.store is not None:
        ctx.store.sync_auth_file(ctx.settings.auth_file)
    hashes = {name: a.password_hash for name, a in accounts.items()} if ctx.store is not None else {}

    def signed_in(username: str) -> None:
        account = accounts[username]
        ensure_rater(ctx, account.username, account.display_name, account.role)

    s = ctx.settings
    guard = SignInGuard(
        hashes, signed_in, s.signin_free_failures, s.signin_client_lock_s, s.signin_user_lock_s
    )
    return guard.check


def find_rater(ctx: AppContext, username: str):
    """The store's ``RaterView`` for ``username``, or None."""
    return ctx.store.get_rater(username)


def ensure_rater(ctx: AppContext, username: str, display_name: str, role: str = "rater"):
    """The rater for an external identity (HF account, anonymous tab), created on first sight.

    Such accounts get an unusable random password: they sign in only through their identity provider.
    """
    found = find_rater(ctx, username)
    if found is not None:
        return found
    return ctx.store.create_rater(
        username,
        secrets.token_urlsafe(24),
        role=role,
        display_name=display_name,
        actor=ctx.store.local_admin(),
        idempotency_key=f"external-{username}"[:64],
    )


def oauth_profile(request):
    """The HF OAuth profile of the request's session on Spaces (``hf_oauth: true``), else None.

    Read the way ``gr.OAuthProfile`` injection reads it, so every handler gets it from the request.
    """
    if request is None or not oauth_enabled():
        return None
    try:
        info = request.session.get("oauth_info")
    except (AssertionError, AttributeError):  # no session middleware: OAuth is not set up
        return None
    if not info or (info.get("expires_at") or float("inf")) < time.time() or "userinfo" not in info:
        return None
    import gradio as gr

    return gr.OAuthProfile(info["userinfo"])


GUEST_COOKIE = "gem_guest"  # set by app.signin.ClientAddress when anonymous rating is on
_GUEST_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
PURGE_EVERY_S = 3600.0


def guest_username(request) -> str | None:
    """The anonymous rater's username for this browser (from its cookie), or None without one.

    One browser, one anonymous rater: page loads and tabs share the cookie. The cookie's value is
    hashed, so the username (which admins see) does not reveal it.
    """
    try:
        token = request.cookies.get(GUEST_COOKIE, "") if request is not None else ""
    except AttributeError:
        return None
    if not _GUEST_TOKEN.match(token or ""):
        return None
    return GUEST_PREFIX + hashlib.sha256(token.encode()).hexdigest()[:20]


def purge_guests(ctx: AppContext, force: bool = False) -> int:
    """Delete anonymous raters unused for ``GEM_ANONYMOUS_UNUSED_S`` (at most once an hour)."""
    now = time.monotonic()
    with ctx.lock:
        due = force or now - ctx.cache.get("guests_purged_at", -PURGE_EVERY_S) >= PURGE_EVERY_S
        if due:
            ctx.cache["guests_purged_at"] = now
    if not due or ctx.store is None:
        return 0
    return ctx.store.purge_guests(ctx.store.local_admin(), ctx.settings.anonymous_unused_s)


def current_rater(ctx: AppContext, request=None, profile=None, create: bool = True):
    """The signed-in rater: gradio login name, else HF OAuth profile, else (if allowed) anonymous.

    An anonymous rater is made only when ``create`` (a submit), never by looking at a page.
    """
    if ctx.store is None:
        return None
    profile = profile if profile is not None else oauth_profile(request)
    username = getattr(request, "username", None) if request is not None else None
    if username:
        return find_rater(ctx, username)
    hf_name = getattr(profile, "username", None) if profile is not None else None
    if hf_name:
        return ensure_rater(ctx, f"hf-{hf_name}"[:64], getattr(profile, "name", "") or hf_name)
    guest = guest_username(request) if ctx.settings.allow_anonymous_rating else None
    if guest is None:
        return None
    found = find_rater(ctx, guest)
    if found is None and create:
        purge_guests(ctx)
        found = ensure_rater(ctx, guest, "anonymous")
    return found


def require_rater(ctx: AppContext, request=None, profile=None):
    """The signed-in rater, or a ``GemError`` that says how to sign in."""
    if ctx.store is None:
        raise GemError(
            f"ratings are off: the ratings store is not available ({ctx.store_error or 'not configured'})"
        )
    who = current_rater(ctx, request, profile)
    if who is None:
        raise GemError("sign in to rate: ratings need a rater account (Review works without one)")
    return who


def require_admin(ctx: AppContext, request=None, profile=None):
    """The signed-in admin, or a ``GemError``; checked on the server for every admin action."""
    who = require_rater(ctx, request, profile)
    if not who.is_admin:
        raise GemError(f"{who.username} is not an admin; ask an admin to change your role")
    return who


def add_user(path: str, username: str, password: str, role: str = "rater", display_name: str = "") -> None:
    """Add (or replace) one account in a GEM_AUTH_FILE (``annotations.store.add_auth_user``)."""
    add_auth_user(path, username, password, role, display_name)


def _cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m app.auth",
        description="manage a GEM_AUTH_FILE (CSV username,password_hash,role,display_name); "
        "the same as `python -m annotations add-user`",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add-user", help="add an account (password from GEM_NEW_PASSWORD or a prompt)")
    add.add_argument("file")
    add.add_argument("username")
    add.add_argument("--role", choices=("rater", "admin"), default="rater")
    add.add_argument("--display-name", default="")
    args = parser.parse_args(argv)
    import sys

    password = os.environ.get("GEM_NEW_PASSWORD")
    try:
        if not password and not sys.stdin.isatty():  # getpass would end in EOFError on a closed stdin
            raise GemError("no password given: run this in a terminal to be asked, or set GEM_NEW_PASSWORD")
        password = password or getpass.getpass(f"password for {args.username}: ")
        add_user(args.file, args.username, password, args.role, args.display_name)
    except GemError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    _cli()
