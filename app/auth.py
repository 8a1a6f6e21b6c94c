"""Who is using the app: gradio login (GEM_AUTH_FILE), HF OAuth on Spaces, or nobody.

Every rating, preference and admin handler resolves the rater here, on the server, and passes the
``RaterView`` to the store, which checks the role in the database again; the UI hiding a button is
never the check. Password hashing and account storage belong to ``annotations``.
"""

from __future__ import annotations

import secrets

from app.parts import need
from app.state import AppContext
from gem_core.errors import GemError
from gem_core.settings import Settings


def open_store(settings: Settings):
    """The ratings store for this deployment, with the accounts of GEM_AUTH_FILE loaded into it."""
    store_cls = need("annotations.store", "Store", "the ratings store")
    store = store_cls(settings=settings)
    if settings.auth_file:
        load_users = need("annotations.users", "load_auth_file", "GEM_AUTH_FILE accounts")
        load_users(store, settings.auth_file)
    return store


def password_check(ctx: AppContext):
    """The ``auth=`` callable for ``demo.launch``: the store checks username and password."""

    def check(username: str, password: str) -> bool:
        if ctx.store is None:
            return False
        try:
            ctx.store.authenticate(username, password)
        except GemError:
            return False
        return True

    return check


def find_rater(ctx: AppContext, username: str):
    """The store's ``RaterView`` for ``username``, or None."""
    admin = ctx.store.local_admin()
    return next((r for r in ctx.store.raters(admin) if r.username == username), None)


def ensure_rater(ctx: AppContext, username: str, display_name: str):
    """The rater for an external identity (HF account, anonymous tab), created on first sight.

    Such accounts get an unusable random password: they sign in only through their identity provider.
    """
    found = find_rater(ctx, username)
    if found is not None:
        return found
    return ctx.store.create_rater(
        username,
        secrets.token_urlsafe(24),
        role="rater",
        display_name=display_name,
        actor=ctx.store.local_admin(),
        idempotency_key=f"external-{username}"[:64],
    )


def current_rater(ctx: AppContext, request=None, profile=None):
    """The signed-in rater: gradio login name, else HF OAuth profile, else (if allowed) anonymous."""
    if ctx.store is None:
        return None
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
