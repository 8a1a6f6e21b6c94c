"""Who is using the app: gradio login (GEM_AUTH_FILE), HF OAuth on Spaces, or nobody.

Every rating, preference and admin handler calls ``current_rater`` on the server; the UI hiding a
button is never the check. Password hashing and the users file format belong to ``annotations``.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.parts import need
from app.state import AppContext
from gem_core.errors import GemError
from gem_core.settings import Settings


@dataclass(frozen=True)
class Who:
    """The person behind a request, as the store knows them."""

    rater_id: int
    username: str
    display_name: str
    role: str  # "rater" | "admin"
    anonymous: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin" and not self.anonymous


def open_store(settings: Settings):
    """The ratings store for this deployment, with raters from GEM_AUTH_FILE synced into it."""
    store_cls = need("annotations", "Store", "the ratings store")
    store = store_cls.from_settings(settings)
    if settings.auth_file:
        store.sync_auth_file(settings.auth_file)
    return store


def password_check(ctx: AppContext):
    """The ``auth=`` callable for ``demo.launch``: checks a username/password against the store."""

    def check(username: str, password: str) -> bool:
        if ctx.store is None:
            return False
        return ctx.store.verify_password(username, password)

    return check


def _who(rater, anonymous: bool = False) -> Who:
    return Who(
        rater_id=rater.id,
        username=rater.username,
        display_name=rater.display_name or rater.username,
        role=rater.role,
        anonymous=anonymous,
    )


def current_rater(ctx: AppContext, request=None, profile=None) -> Who | None:
    """The signed-in rater: gradio login name, else the HF OAuth profile, else (if allowed) anonymous."""
    if ctx.store is None:
        return None
    username = getattr(request, "username", None) if request is not None else None
    if username:
        rater = ctx.store.get_rater(username)
        return _who(rater) if rater is not None else None
    if profile is not None and getattr(profile, "username", None):
        rater = ctx.store.ensure_rater(
            f"hf:{profile.username}", display_name=getattr(profile, "name", "") or profile.username
        )
        return _who(rater)
    if ctx.settings.allow_anonymous_rating and request is not None and getattr(request, "session_hash", None):
        rater = ctx.store.ensure_rater(f"anon:{request.session_hash[:16]}", display_name="anonymous")
        return _who(rater, anonymous=True)
    return None


def require_rater(ctx: AppContext, request=None, profile=None) -> Who:
    """The signed-in rater, or a ``GemError`` that says how to sign in."""
    if ctx.store is None:
        raise GemError(
            f"ratings are off: the ratings store is not available ({ctx.store_error or 'not configured'})"
        )
    who = current_rater(ctx, request, profile)
    if who is None:
        raise GemError("sign in to rate: ratings need a rater account (Review works without one)")
    return who


def require_admin(ctx: AppContext, request=None, profile=None) -> Who:
    """The signed-in admin, or a ``GemError``; checked on the server for every admin action."""
    who = require_rater(ctx, request, profile)
    if not who.is_admin:
        raise GemError(f"{who.username} is not an admin; ask an admin to change your role")
    return who
