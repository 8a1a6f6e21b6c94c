"""Build and start GEM Studio: ``build_demo(settings) -> gr.Blocks`` and ``main()`` (``python app.py``)."""

from __future__ import annotations

import logging
import os

import gradio as gr

from app import auth, layout, rating, screens, signin
from app.spaces import gpu_decorator, oauth_enabled, on_spaces
from app.state import AppContext
from gem_core.errors import GemError
from gem_core.settings import Settings, get_settings

log = logging.getLogger(__name__)


def make_context(settings: Settings) -> AppContext:
    """The app's long-lived objects; a store that cannot be opened leaves Review working."""
    ctx = AppContext(settings=settings)
    try:
        ctx.store = auth.open_store(settings)
    except Exception as exc:  # any store failure: Review still works, rating screens say why
        log.warning("ratings store unavailable: %s", exc)
        ctx.store_error = str(exc)
    if ctx.store is not None and settings.allow_anonymous_rating:
        auth.purge_guests(ctx, force=True)  # anonymous raters left unused since the last run
    return ctx


def build_demo(settings: Settings | None = None, ctx: AppContext | None = None) -> gr.Blocks:
    """The whole app as a ``gr.Blocks`` (not launched)."""
    settings = settings or get_settings()
    ctx = ctx or make_context(settings)
    gpu = gpu_decorator()
    ttl = int(settings.export_ttl_s)  # Gradio's copies of downloads (exports) go after their lifetime too
    with gr.Blocks(title="GEM Studio", fill_width=True, delete_cache=(max(60, ttl // 4), ttl)) as demo:
        layout.header(ctx)
        who = screens.identity_bar(ctx)
        with gr.Tabs():
            with gr.Tab("Review", id="review"):
                review = layout.build_review(ctx, gpu)
            with gr.Tab("Rate", id="rate") as rate_tab:
                rate = screens.build_rate(ctx, review)
            with gr.Tab("Compare", id="compare"):
                screens.build_compare(ctx, review, gpu)
            with gr.Tab("Campaign", id="campaign") as campaign_tab:
                campaign = screens.build_campaign(ctx)
            with gr.Tab("Admin", id="admin") as admin_tab:
                admin = screens.build_admin(ctx)
        private = {"api_visibility": "private"}
        rate_tab.select(rate["refresh"], rate["refresh_inputs"], rate["refresh_outputs"], **private)
        campaign_tab.select(campaign["refresh"], None, campaign["outputs"], **private)
        admin_tab.select(admin["refresh"], None, admin["outputs"], **private)
        review["samples_tab"].select(review["fill_gallery"], None, review["gallery"], **private)
        demo.load(who["fn"], None, who["outputs"], **private)
    demo.gem_context = ctx  # for tests and the benchmark: the store and settings this app uses
    return demo


def launch_kwargs(ctx: AppContext) -> dict:
    """Arguments for ``demo.launch``: gradio login from GEM_AUTH_FILE (none under HF OAuth)."""
    kwargs = {
        # Spaces routes traffic to 0.0.0.0:7860; elsewhere bind GEM_HOST (default 127.0.0.1)
        "server_name": "0.0.0.0" if on_spaces() and "GEM_HOST" not in os.environ else ctx.settings.host,
        "server_port": ctx.settings.port,
        "show_error": True,
        "css": layout.CSS,
        "theme": layout.theme(),
        "ssr_mode": False,
        "max_file_size": f"{ctx.settings.max_upload_mb:g}mb",
        # no run history: Gradio would keep every event's inputs and outputs (ECG figures, readings,
        # rater comments) in the browser's localStorage, re-reading and re-writing it on each streamed
        # chunk (~0.2-0.4 s of main-thread time per event), and leave patient data on shared machines
        "run_history": False,
    }
    from starlette.middleware import Middleware

    trust = ctx.settings.trust_proxy or on_spaces()  # Spaces' proxy sets X-Forwarded-For

    def is_admin(username: str) -> bool:
        who = auth.find_rater(ctx, username) if ctx.store is not None else None
        return bool(who and who.is_admin)

    guard = Middleware(
        signin.ClientAddress,
        trust_proxy=trust,
        admin_files=rating.EXPORT_NAME,
        is_admin=is_admin,
        guest_cookie=auth.GUEST_COOKIE if ctx.settings.allow_anonymous_rating else "",
    )
    kwargs["app_kwargs"] = {"middleware": [guard]}
    if ctx.settings.auth_file and not oauth_enabled():
        kwargs["auth"] = auth.password_check(ctx)
        kwargs["auth_message"] = "GEM Studio: sign in with the account your study coordinator gave you."
    return kwargs


def main(argv: list[str] | None = None) -> None:
    """``gem-studio`` / ``python app.py``: serve the app (settings from ``GEM_*`` variables)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="gem-studio",
        description="Serve GEM Studio (settings from GEM_* environment variables; see the README).",
    )
    parser.add_argument("--port", type=int, default=None, help="port to serve on (default: GEM_PORT or 7860)")
    parser.add_argument("--host", default=None, help="interface to bind (default: GEM_HOST or 127.0.0.1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for chatty in ("alembic.runtime.plugins", "httpx"):  # per-request and plugin lines say nothing useful
        logging.getLogger(chatty).setLevel(logging.WARNING)
    overrides = {k: v for k, v in (("port", args.port), ("host", args.host)) if v is not None}
    try:
        settings = get_settings(**overrides)
        demo = build_demo(settings)
        kwargs = launch_kwargs(demo.gem_context)
    except GemError as exc:  # bad configuration: one line that says what to fix, no traceback
        raise SystemExit(f"error: {exc}") from None
    demo.queue(default_concurrency_limit=8).launch(**kwargs)
