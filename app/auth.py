"""Who is using the app: gradio login (GEM_AUTH_FILE), HF OAuth on Spaces, or nobody.

Every rating, preference and admin handler resolves the rater here, on the server, and passes the
``RaterView`` to the store, which checks the role in the database again; the UI hiding a button is
never the check. Password hashing and account storage belong to ``annotations``.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import os
import secrets
import time
from pathlib import Path

from app.parts import need
from app.spaces import oauth_enabled
from app.state import AppContext
from gem_core.errors import GemError
from gem_core.settings import Settings

AUTH_FIELDS = ("username", "password_hash", "role", "display_name")


def read_auth_file(path: str) -> dict[str, dict]:
    """Accounts of a GEM_AUTH_FILE: CSV with header ``username,password_hash,role,display_name``.

    Hashes are ``annotations.store.hash_password`` strings (scrypt); make lines with
    ``python -m app.auth add-user FILE NAME [--role admin]``. A malformed file is a ``GemError``.
    """
    file = Path(path)
    if not file.is_file():
        raise GemError(f"GEM_AUTH_FILE {path} does not exist; create it with `python -m app.auth add-user`")
    users = {}
    with file.open(newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):
            name, hashed = (row.get("username") or "").strip(), (row.get("password_hash") or "").strip()
            role = (row.get("role") or "rater").strip()
            if not name or not hashed.startswith("scrypt$") or role not in ("rater", "admin"):
                raise GemError(
                    f"{path} line {n}: needs username, a scrypt password_hash and role rater|admin"
                )
            users[name] = {
                "password_hash": hashed,
                "role": role,
                "display_name": (row.get("display_name") or name),
            }
    return users


def open_store(settings: Settings):
    """The ratings store for this deployment (``annotations.store.Store``)."""
    store_cls = need("annotations.store", "Store", "the ratings store")
    return store_cls(settings=settings)


def password_check(ctx: AppContext):
    """The ``auth=`` callable for ``demo.launch``: checks GEM_AUTH_FILE and maps the user to a rater."""
    users = read_auth_file(ctx.settings.auth_file)
    verify = need("annotations.store", "verify_password", "password checks")

    def check(username: str, password: str) -> bool:
        user = users.get(str(username))
        if user is None or ctx.store is None or not verify(str(password), user["password_hash"]):
            return False
        ensure_rater(ctx, username, user["display_name"], user["role"])
        return True

    return check


def find_rater(ctx: AppContext, username: str):
    """The store's ``RaterView`` for ``username``, or None."""
    admin = ctx.store.local_admin()
    return next((r for r in ctx.store.raters(admin) if r.username == username), None)


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


def current_rater(ctx: AppContext, request=None, profile=None):
    """The signed-in rater: gradio login name, else HF OAuth profile, else (if allowed) anonymous."""
    if ctx.store is None:
        return None
    profile = profile if profile is not None else oauth_profile(request)
    username = getattr(request, "username", None) if request is not None else None
    if username:
        return find_rater(ctx, username)
    hf_name = getattr(profile, "username", None) if profile is not None else None
    if hf_name:
        return ensure_rater(ctx, f"hf-{hf_name}"[:64], getattr(profile, "name", "") or hf_name)
    session_hash = getattr(request, "session_hash", None) if request is not None else None
    if ctx.settings.allow_anonymous_rating and session_hash:
        return ensure_rater(ctx, f"anon-{session_hash[:16]}", "anonymous")
    return None


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
    """Append (or replace) one account in a GEM_AUTH_FILE, storing only the scrypt hash."""
    hash_password = need("annotations.store", "hash_password", "password hashing")
    file = Path(path)
    users = read_auth_file(path) if file.is_file() and file.stat().st_size else {}
    users[username] = {
        "password_hash": hash_password(password),
        "role": role,
        "display_name": display_name or username,
    }
    with file.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(AUTH_FIELDS)
        for name, u in users.items():
            writer.writerow([name, u["password_hash"], u["role"], u["display_name"]])


def _cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.auth", description="manage a GEM_AUTH_FILE")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add-user", help="add an account (password from GEM_NEW_PASSWORD or a prompt)")
    add.add_argument("file")
    add.add_argument("username")
    add.add_argument("--role", choices=("rater", "admin"), default="rater")
    add.add_argument("--display-name", default="")
    args = parser.parse_args(argv)
    password = os.environ.get("GEM_NEW_PASSWORD") or getpass.getpass(f"password for {args.username}: ")
    add_user(args.file, args.username, password, args.role, args.display_name)


if __name__ == "__main__":
    _cli()
