"""The Rate, Compare, Campaign and Admin tabs, and the identity bar.

Glue only: each closure resolves the rater on the server (``app.auth``), calls a handler in
``app.rating`` / ``app.campaign`` and maps ``GemError`` to ``gr.Error``.
"""

from __future__ import annotations

import time

import gradio as gr

from app import auth, handlers, present, rating
from app.layout import PRIVATE, ui_errors
from app.spaces import oauth_enabled
from app.state import AppContext, Session, new_key


def identity_bar(ctx: AppContext) -> dict:
    with gr.Row():
        who_md = gr.Markdown("", elem_id="who")
        if oauth_enabled():
            gr.LoginButton(size="sm", scale=0)

    def show(request: gr.Request, profile: gr.OAuthProfile | None = None):
        who = auth.current_rater(ctx, request, profile)
        if ctx.store is None:
            return f"Ratings store unavailable: {present.escape_md(ctx.store_error or 'not configured')}. Review works."
        if who is None:
            return "Not signed in: Review only. Sign in to rate, compare and run campaigns."
        name = present.escape_md(who.display_name)
        return f"Signed in as **{name}** · {who.role} · rater id {who.pseudonym}"

    return {"fn": show, "outputs": who_md}


def rating_form(prefix: str) -> dict:
    """Seven 1-5 radios with their questions, anchors on demand, a comment and a submit button."""
    radios = []
    try:
        mets = rating.metrics()
        with gr.Row():
            for group in ("analytical", "clinical"):
                with gr.Column():
                    gr.Markdown(f"**{'Reliability' if group == 'analytical' else 'Usefulness'}**")
                    for m in [m for m in mets if m.group == group]:
                        radios.append(
                            gr.Radio(
                                [1, 2, 3, 4, 5],
                                label=m.label,
                                info=m.question,
                                elem_id=f"{prefix}-{m.name}",
                            )
                        )
        with gr.Accordion("What each level means (anchored descriptions)", open=False):
            gr.Markdown(rating.anchors_markdown())
    except Exception as exc:  # metrics module missing: say so instead of failing the whole app
        gr.Markdown(f"Rating form unavailable: {present.escape_md(str(exc))}")
    comment = gr.Textbox(label="Comment (optional)", lines=2, elem_id=f"{prefix}-comment")
    submit = gr.Button("Submit rating", variant="primary", elem_id=f"{prefix}-submit")
    status = gr.Markdown("", elem_id=f"{prefix}-status")
    return {"radios": radios, "comment": comment, "submit": submit, "status": status}


def fill_form(prev: dict | None, n_radios: int) -> list:
    """Values for the radios and comment: the previous rating, or empty."""
    if prev is None:
        return [None] * n_radios + [""]
    return [prev["scores"][m.name] for m in rating.metrics()] + [prev["comment"]]


def build_rate(ctx: AppContext, review: dict) -> dict:
    session = review["session"]
    with gr.Row():
        with gr.Column(scale=2):
            which = gr.Markdown(
                "Interpret an ECG on the Review tab, then rate it here.", elem_id="rate-which"
            )
            text = gr.HighlightedText(
                label="Interpretation", color_map=present.color_map(), show_legend=True, elem_id="rate-text"
            )
        with gr.Column(scale=3):
            interp_id = gr.Number(
                label="Interpretation id", precision=0, interactive=False, elem_id="rate-id"
            )
            key = gr.Textbox(visible=False)
            form = rating_form("rate")
    radios, comment = form["radios"], form["comment"]

    def refresh(s: Session, request: gr.Request, profile: gr.OAuthProfile | None = None):
        interp = s.interpretation
        if interp is None:
            return [
                "Interpret an ECG on the Review tab, then rate it here.",
                [],
                None,
                new_key(),
            ] + fill_form(None, len(radios))
        s.rate_opened = time.time()
        who = auth.current_rater(ctx, request, profile)
        prev = rating.previous_rating(ctx, who, interp.interpretation_id)
        note = f" · your rating (version {prev['version']}) is loaded; edit and submit again" if prev else ""
        head = f"**{present.escape_md(interp.label)}** on {present.escape_md(s.ecg.record_id)}{note}"
        tokens = present.highlighted_text(interp.text, interp.claims)
        return [head, tokens, interp.interpretation_id, new_key()] + fill_form(prev, len(radios))

    @ui_errors
    def submit_rating(s: Session, interpretation_id, idem_key, *values, request: gr.Request):
        """Submit the seven 1-5 scores and a comment for an interpretation (yours; editable)."""
        *scores, comment_text = values
        who = auth.require_rater(ctx, request, None)
        target = rating.interpretation_id_of(s, interpretation_id)
        saved = rating.submit_rating(
            ctx,
            who,
            target,
            rating.scores_from(scores),
            comment_text,
            rating.elapsed(getattr(s, "rate_opened", None)),
            idem_key,
        )
        version = getattr(saved, "version", 1)
        return f"Saved rating of interpretation {target} (version {version}).", new_key()

    form["submit"].click(
        submit_rating,
        [session, interp_id, key, *radios, comment],
        [form["status"], key],
        api_name="submit_rating",
    )
    return {
        "refresh": refresh,
        "refresh_inputs": [session],
        "refresh_outputs": [which, text, interp_id, key, *radios, comment],
    }


def build_compare(ctx: AppContext, review: dict, gpu) -> None:
    session = review["session"]
    pair = gr.State({})
    gr.Markdown(
        "Two interpretations of the ECG loaded on the Review tab, shown under blind labels in random order. "
        "Pick two interpreters (or the same one twice, sampled), generate, then choose."
    )
    with gr.Row():
        choices = present.backend_choices(ctx) if ctx else []
        first = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Interpreter 1")
        second = gr.Dropdown(choices, value=choices[-1][1] if choices else None, label="Interpreter 2")
        temp = gr.Slider(0.0, 1.5, value=0.7, step=0.05, label="Temperature when both are the same")
        gen = gr.Button("Generate pair", variant="primary", elem_id="compare-generate")
    with gr.Row():
        a_text = gr.HighlightedText(label="A", color_map=present.color_map(), elem_id="compare-a")
        b_text = gr.HighlightedText(label="B", color_map=present.color_map(), elem_id="compare-b")
    with gr.Row():
        choice = gr.Radio(
            list(rating.CHOICES), label="Which interpretation is better?", elem_id="compare-choice"
        )
        rationale = gr.Textbox(label="Rationale", lines=2, elem_id="compare-rationale")
    with gr.Row():
        submit = gr.Button("Submit preference", variant="primary", elem_id="compare-submit")
        key = gr.Textbox(visible=False)
        status = gr.Markdown("", elem_id="compare-status")

    @ui_errors
    def generate(s: Session, one: str, two: str, temperature: float, request: gr.Request):
        if not s.loaded:
            raise gr.Error("load an ECG on the Review tab first")
        results = []
        for name, seed in ((one, 1), (two, 2)):
            t = float(temperature) if one == two else 0.0
            params = handlers.generation_params(t, 1.0, ctx.settings.max_new_tokens, seed)
            sub = Session(sample_id=s.sample_id, ecg=s.ecg, measurements=s.measurements, case_id=s.case_id)
            *_, done = handlers.interpret(ctx, sub, name, review_question(s), params, request.session_hash)
            results.append(done.interpretation)
        a, b = rating.blind_pair(*results)
        state = {"a": a.interpretation_id, "b": b.interpretation_id, "case": s.case_id, "opened": time.time()}
        return (
            state,
            present.highlighted_text(a.text, a.claims),
            present.highlighted_text(b.text, b.claims),
            new_key(),
            "Choose A, B, tie or both bad, and say why.",
        )

    gen.click(gpu(generate), [session, first, second, temp], [pair, a_text, b_text, key, status], **PRIVATE)

    @ui_errors
    def submit_preference(p: dict, choice_label: str, why: str, idem_key: str, request: gr.Request):
        """Record which of the two blind interpretations (A/B/tie/both bad) is better, with a rationale."""
        who = auth.require_rater(ctx, request, None)
        rating.submit_preference(
            ctx,
            who,
            p.get("a"),
            p.get("b"),
            choice_label,
            why,
            rating.elapsed(p.get("opened")),
            idem_key,
        )
        return f"Saved: {choice_label}.", new_key()

    submit.click(
        submit_preference, [pair, choice, rationale, key], [status, key], api_name="submit_preference"
    )


def review_question(s: Session) -> str:
    from gem_core.prompts import DEFAULT_QUESTION

    return s.interpretation.question if s.interpretation else DEFAULT_QUESTION


def build_campaign(ctx: AppContext) -> None:
    gr.Markdown("Campaigns: sign in to see your assigned items.")


def build_admin(ctx: AppContext) -> None:
    gr.Markdown("Admin: import campaigns, summaries and exports (admins only).")
