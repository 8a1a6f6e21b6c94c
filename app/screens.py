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
from app.state import AppContext, Session, bind, new_key, user_of
from app.tracing import figure_value, tracing
from gem_core.errors import GemError


def identity_bar(ctx: AppContext) -> dict:
    with gr.Row():
        who_md = gr.Markdown("", elem_id="who")
        if oauth_enabled():
            gr.LoginButton(size="sm", scale=0)

    def show(request: gr.Request, profile: gr.OAuthProfile | None = None):
        who = auth.current_rater(ctx, request, profile, create=False)
        present.sources(ctx)  # sets ctx.samples_error for a bad sample setting
        notice = f"Samples: {present.escape_md(ctx.samples_error)}.\n\n" if ctx.samples_error else ""
        if ctx.store is None:
            return notice + (
                f"Ratings store unavailable: {present.escape_md(ctx.store_error or 'not configured')}. Review works."
            )
        if who is None:
            return notice + "Not signed in: Review only. Sign in to rate, compare and run campaigns."
        name = present.escape_md(who.display_name)
        return notice + f"Signed in as **{name}** · {who.role} · rater id {who.pseudonym}"

    return {"fn": show, "outputs": who_md}


def rating_form(prefix: str) -> dict:
    """Seven 1-5 radios with their questions, anchors on demand, a comment and a submit button."""
    radios = []
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
                            interactive=True,
                        )
                    )
    with gr.Accordion("What each level means (anchored descriptions)", open=False):
        gr.Markdown(rating.anchors_markdown())
    comment = gr.Textbox(label="Comment (optional)", lines=2, elem_id=f"{prefix}-comment", interactive=True)
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
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            which = gr.Markdown(
                "Interpret an ECG on the Review tab, then rate it here.", elem_id="rate-which"
            )
            plot = tracing("rate-plot")  # the ECG the reading is about, its claims' evidence highlighted
        with gr.Column(scale=2, elem_classes="gem-panel"):
            text = gr.HighlightedText(
                label="Interpretation", color_map=present.color_map(), show_legend=True, elem_id="rate-text"
            )
            interp_id = gr.Number(
                label="Interpretation id", precision=0, interactive=False, elem_id="rate-id"
            )
            key = gr.Textbox(visible=False)
            form = rating_form("rate")
    radios, comment = form["radios"], form["comment"]

    def refresh(s: Session, request: gr.Request, profile: gr.OAuthProfile | None = None):
        if s.owner is not None and s.owner != user_of(request):
            s = Session()  # someone else's tab: show nothing of it
        interp = s.to_rate
        if interp is None:
            return [
                "Interpret an ECG on the Review tab, then rate it here.",
                None,
                [],
                None,
                new_key(),
            ] + fill_form(None, len(radios))
        s.rate_opened = time.time()
        who = auth.current_rater(ctx, request, profile, create=False)
        prev = rating.previous_rating(ctx, who, interp.interpretation_id)
        note = f" · your rating (version {prev['version']}) is loaded; edit and submit again" if prev else ""
        head = f"**{present.escape_md(interp.label)}** on {present.escape_md(s.ecg.record_id)}{note}"
        tokens = present.highlighted_text(interp.text, interp.claims)
        fig = figure_value(present.reading_figure(s.ecg, interp.claims))
        return [head, fig, tokens, interp.interpretation_id, new_key()] + fill_form(prev, len(radios))

    @ui_errors
    def submit_rating(
        s: Session,
        interpretation_id: int | None,
        idempotency_key: str,
        analytical_relevance: int,
        analytical_accuracy: int,
        analytical_completeness: int,
        reasoning_quality: int,
        findings_novelty: int,
        clinical_value: int,
        overall_satisfaction: int,
        comment: str,
        request: gr.Request,
    ):
        """Submit your seven 1-5 scores and a comment for an interpretation (0: the one on screen)."""
        scores = [
            analytical_relevance,
            analytical_accuracy,
            analytical_completeness,
            reasoning_quality,
            findings_novelty,
            clinical_value,
            overall_satisfaction,
        ]
        who = auth.require_rater(ctx, request, None)
        bind(s, user_of(request))
        target = rating.interpretation_id_of(s, interpretation_id)
        seconds = rating.elapsed(s.rate_opened)
        saved = rating.submit_rating(
            ctx, who, target, rating.scores_from(scores), comment, seconds, idempotency_key
        )
        return f"Saved rating of interpretation {target} (version {saved.version}).", new_key()

    form["submit"].click(
        submit_rating,
        [session, interp_id, key, *radios, comment],
        [form["status"], key],
        api_name="submit_rating",
    )
    return {
        "refresh": refresh,
        "refresh_inputs": [session],
        "refresh_outputs": [which, plot, text, interp_id, key, *radios, comment],
    }


def build_compare(ctx: AppContext, review: dict, gpu) -> None:
    session = review["session"]
    pair = gr.State({})
    gr.Markdown(
        "Two interpretations of the ECG loaded on the Review tab, shown under blind labels in random order. "
        "Pick two interpreters (or the same one twice, sampled), generate, then choose. When both say the "
        "same thing, a different interpretation stored for this record (another model, an earlier sample, "
        "an imported campaign text) takes the second side.",
    )
    gr.Markdown(rating.compare_note(ctx), elem_id="compare-note")
    with gr.Row():
        choices = present.backend_choices(ctx) if ctx else []
        first = gr.Dropdown(
            choices, value=choices[0][1] if choices else None, label="Interpreter 1", elem_id="compare-first"
        )
        second = gr.Dropdown(
            choices,
            value=choices[-1][1] if choices else None,
            label="Interpreter 2",
            elem_id="compare-second",
        )
        temp = gr.Slider(0.0, 1.5, value=0.7, step=0.05, label="Temperature when both are the same")
        gen = gr.Button("Generate pair", variant="primary", elem_id="compare-generate")
    shown = gr.Radio(
        ["A", "B"], value="A", label="Evidence highlighted on the tracing", elem_id="compare-shown"
    )
    plot = tracing("compare-plot")  # the ECG both readings are about
    with gr.Row():
        a_text = gr.HighlightedText(label="A", color_map=present.color_map(), elem_id="compare-a")
        b_text = gr.HighlightedText(label="B", color_map=present.color_map(), elem_id="compare-b")
    with gr.Row():
        choice = gr.Radio(
            list(rating.CHOICES), label="Which interpretation is better?", elem_id="compare-choice"
        )
        rationale = gr.Textbox(label="Rationale", lines=2, elem_id="compare-rationale")
    with gr.Row():
        rate_a = gr.Button("Rate A in full (Rate tab)", size="sm", elem_id="compare-rate-a")
        rate_b = gr.Button("Rate B in full (Rate tab)", size="sm", elem_id="compare-rate-b")
    with gr.Row():
        submit = gr.Button("Submit preference", variant="primary", elem_id="compare-submit")
        key = gr.Textbox(visible=False)
        a_id = gr.Number(visible=False, precision=0)  # ids only: they do not reveal the backend
        b_id = gr.Number(visible=False, precision=0)
        status = gr.Markdown("", elem_id="compare-status")

    @ui_errors
    def generate_pair(s: Session, one: str, two: str, temperature: float, request: gr.Request):
        bind(s, user_of(request))
        if not s.loaded:
            raise gr.Error("load an ECG on the Review tab first")
        handlers.registered(ctx, s)
        results = []
        for name, seed in ((one, 1), (two, 2)):
            t = float(temperature) if one == two else 0.0
            params = handlers.generation_params(t, 1.0, ctx.settings.max_new_tokens, seed)
            sub = Session(sample_id=s.sample_id, ecg=s.ecg, measurements=s.measurements, case_id=s.case_id)
            *_, done = handlers.interpret(ctx, sub, name, review_question(s), params, request.session_hash)
            results.append(done.interpretation)
            s.shown |= done.shown
        found = handlers.compare_pair(ctx, s, results)
        if found is None:
            # never offer two identical texts: a choice between them would be stored as a preference
            note = rating.FEWER_THAN_TWO[0].upper() + rating.FEWER_THAN_TWO[1:] + "."
            fig = figure_value(present.reading_figure(s.ecg, []))
            return s, {}, None, None, [], [], new_key(), f"No pair to compare: {note}", fig, "A"
        a, b = rating.blind_pair(*found)
        s.shown |= {a.interpretation_id, b.interpretation_id} - {None}  # a stored side is shown from now on
        state = {
            "owner": s.owner,
            "case": s.case_id,
            "opened": time.time(),
            "A": rating.blinded(a, "A"),
            "B": rating.blinded(b, "B"),
        }
        return (
            s,
            state,
            a.interpretation_id,
            b.interpretation_id,
            present.highlighted_text(a.text, a.claims),
            present.highlighted_text(b.text, b.claims),
            new_key(),
            "Choose A, B, tie or both bad, and say why.",
            figure_value(present.reading_figure(s.ecg, a.claims)),
            "A",
        )

    gen.click(
        gpu(generate_pair),
        [session, first, second, temp],
        [session, pair, a_id, b_id, a_text, b_text, key, status, plot, shown],
        **PRIVATE,
    )

    def show_side(s: Session, p: dict, side: str, request: gr.Request = None):
        owner = user_of(request)
        bind(s, owner), bind(p, owner)
        if side not in p or not s.loaded:
            return gr.skip()
        return figure_value(present.reading_figure(s.ecg, p[side].claims))

    shown.input(ui_errors(show_side), [session, pair, shown], plot, **PRIVATE)

    def rate_side(side: str):
        def pick(s: Session, p: dict, request: gr.Request = None):
            owner = user_of(request)
            bind(s, owner), bind(p, owner)
            if side not in p:
                raise gr.Error("generate a pair first")
            s.rate_target = p[side]
            return s, f"Interpretation {side} is ready on the Rate tab (its backend stays hidden)."

        return pick

    rate_a.click(ui_errors(rate_side("A")), [session, pair], [session, status], **PRIVATE)
    rate_b.click(ui_errors(rate_side("B")), [session, pair], [session, status], **PRIVATE)

    @ui_errors
    def submit_preference(
        s: Session,
        p: dict,
        interpretation_a_id: int | None,
        interpretation_b_id: int | None,
        choice: str,
        rationale: str,
        idempotency_key: str,
        request: gr.Request,
    ):
        """Record which of two interpretations of one ECG, shown as A and B, is better, and why.

        ``choice``: "A is better", "B is better", "Tie" or "Both bad".
        """
        who = auth.require_rater(ctx, request, None)
        owner = user_of(request)
        bind(s, owner), bind(p, owner)
        rating.check_shown(s, interpretation_a_id, interpretation_b_id)
        rating.submit_preference(
            ctx,
            who,
            interpretation_a_id,
            interpretation_b_id,
            choice,
            rationale,
            rating.elapsed(p.get("opened")),
            idempotency_key,
        )
        return f"Saved: {choice}.", new_key()

    submit.click(
        submit_preference,
        [session, pair, a_id, b_id, choice, rationale, key],
        [status, key],
        api_name="submit_preference",
    )


def review_question(s: Session) -> str:
    from gem_core.prompts import DEFAULT_QUESTION

    return s.interpretation.question if s.interpretation else DEFAULT_QUESTION


def build_campaign(ctx: AppContext) -> dict:
    state = gr.State({})
    with gr.Row():
        campaign = gr.Dropdown(
            _safe_list(lambda: rating.campaign_choices(ctx)), label="Campaign", scale=3, elem_id="camp-name"
        )
        start = gr.Button("Start / resume", variant="primary", scale=1, elem_id="camp-start")
        progress = gr.Markdown("Sign in, choose a campaign and press Start.", elem_id="camp-progress")
    with gr.Accordion("Guidelines", open=False):
        guidelines = gr.Markdown("")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            plot = tracing("camp-plot")
        with gr.Column(scale=2, elem_classes="gem-panel"):
            label = gr.Radio([], label="Interpretation (blind name)", elem_id="camp-label", interactive=True)
            text = gr.HighlightedText(
                label="Interpretation", color_map=present.color_map(), elem_id="camp-text"
            )
            form = rating_form("camp")
            key = gr.Textbox(visible=False)
            with gr.Row():
                prev_btn = gr.Button("◀ Previous", elem_id="camp-prev")
                skip_btn = gr.Button("Skip", elem_id="camp-skip")
                next_btn = gr.Button("Next ▶", elem_id="camp-next")
    radios, comment = form["radios"], form["comment"]

    def show(st: dict, who, chosen: str | None = None):
        """Outputs for the item at st['pos'] (or a 'done' screen)."""
        items = st.get("history", [])
        item = items[st["pos"]] if items else None
        done_msg = rating.campaign_progress(ctx, who, st["campaign"])
        if item is None:
            return [
                st,
                f"All items done · {done_msg}. Thank you.",
                gr.skip(),
                None,
                gr.update(choices=[], value=None),
                [],
                new_key(),
            ] + fill_form(None, len(radios))
        labels = [i["label"] for i in item.interpretations]
        chosen = chosen if chosen in labels else labels[0]
        interp = rating.item_interpretation(ctx, item, chosen)
        fig = figure_value(present.reading_figure(ctx.store.case_ecg(item.case_id), interp["claims"]))
        prev = rating.previous_rating(ctx, who, interp["id"])
        st["label"], st["opened"] = chosen, time.time()
        head = f"Item **{item.index} of {item.total}** · {done_msg}"
        return [
            st,
            head,
            item.guidelines_md or "No guidelines for this campaign.",
            fig,
            gr.update(choices=labels, value=chosen),
            present.highlighted_text(interp["text"], interp["claims"]),
            new_key(),
        ] + fill_form(prev, len(radios))

    outputs = [state, progress, guidelines, plot, label, text, key, *radios, comment]

    @ui_errors
    def open_campaign(name: str, request: gr.Request):
        who = auth.require_rater(ctx, request, None)
        item = rating.campaign_next(ctx, who, name)
        st = {"campaign": name, "history": [item] if item else [], "pos": 0, "owner": user_of(request)}
        return show(st, who)

    @ui_errors
    def pick(st: dict, chosen: str, request: gr.Request):
        bind(st, user_of(request))
        if not st.get("history"):
            return [gr.skip()] * len(outputs)
        return show(st, auth.require_rater(ctx, request, None), chosen)

    @ui_errors
    def go(st: dict, step: int, request: gr.Request):
        who = auth.require_rater(ctx, request, None)
        bind(st, user_of(request))
        if not st.get("campaign"):
            raise gr.Error("choose a campaign and press Start")
        if step < 0:
            st["pos"] = max(0, st["pos"] - 1)
            return show(st, who)
        if st["pos"] < len(st["history"]) - 1:
            st["pos"] += 1
            return show(st, who)
        item = rating.campaign_next(ctx, who, st["campaign"])
        current = st["history"][st["pos"]] if st["history"] else None
        if item is not None and current is not None and item.assignment_id == current.assignment_id:
            raise gr.Error("rate every interpretation of this item first, or press Skip")
        st["history"].append(item)
        st["pos"] = len(st["history"]) - 1
        if item is None:
            st["history"].pop()
            st["pos"] = max(0, len(st["history"]) - 1)
            return [
                st,
                f"All items done · {rating.campaign_progress(ctx, who, st['campaign'])}. Thank you.",
            ] + [gr.skip()] * (len(outputs) - 2)
        return show(st, who)

    @ui_errors
    def skip(st: dict, request: gr.Request):
        who = auth.require_rater(ctx, request, None)
        bind(st, user_of(request))
        if st.get("history"):
            ctx.store.skip_item(who, st["history"][st["pos"]].assignment_id)
        return go(st, 1, request)

    @ui_errors
    def submit(st: dict, idem_key: str, r1, r2, r3, r4, r5, r6, r7, comment_text: str, request: gr.Request):
        who = auth.require_rater(ctx, request, None)
        bind(st, user_of(request))
        if not st.get("history"):
            raise gr.Error("press Start to get your first item")
        item = st["history"][st["pos"]]
        interp = rating.item_interpretation(ctx, item, st.get("label"))
        rating.submit_rating(
            ctx,
            who,
            interp["id"],
            rating.scores_from([r1, r2, r3, r4, r5, r6, r7]),
            comment_text,
            rating.elapsed(st.get("opened")),
            idem_key,
            assignment_id=item.assignment_id,
        )
        return f"Saved {interp['label']} · {rating.campaign_progress(ctx, who, st['campaign'])}", new_key()

    start.click(open_campaign, campaign, outputs, **PRIVATE)
    label.input(pick, [state, label], outputs, **PRIVATE)

    def previous(st: dict, request: gr.Request):
        return go(st, -1, request)

    def following(st: dict, request: gr.Request):
        return go(st, 1, request)

    prev_btn.click(previous, state, outputs, **PRIVATE)
    next_btn.click(following, state, outputs, **PRIVATE)
    skip_btn.click(skip, state, outputs, **PRIVATE)

    def names():
        return gr.update(choices=_safe_list(lambda: rating.campaign_choices(ctx)))

    form["submit"].click(submit, [state, key, *radios, comment], [form["status"], key], **PRIVATE)
    return {"refresh": names, "outputs": campaign}


CAMPAIGN_FORMAT = """A campaign file has one JSON object per line: the ECG (a record path on the server or
a sample id) and the interpretations to rate, by model. Model names are shown to raters blind
(*Model A*, *Model B*, ...).

```json
{"case": "synthetic:60bpm", "interpretations": [{"model": "gem-7b", "text": "Sinus rhythm at 60 bpm..."}, {"model": "gpt-4o", "text": "..."}]}
```"""

EXPORT_HELP = """- **DPO preference pairs**: one row per pair of answers to the same ECG and question, *chosen*
  and *rejected*, from the raters' A/B choices (majority of each rater's latest choice) and, where no
  choice was made, from a gap of 1 point or more in mean Overall Satisfaction. In TRL's conversational
  format, with the ECG image the model sees: a zip of the JSONL and a folder of PNGs (paths in the
  rows are relative to the zip's root).
- **Hugging Face dataset**: the same pairs saved with `datasets` (`load_from_disk` after unzipping).
- **KTO**: each answer with mean Overall Satisfaction ≥ 4 (good) or ≤ 2 (bad).
- **CSV**: every rating, one row per rater and interpretation, all seven metrics, comment and time spent.
- Raters appear by pseudonym only."""

AGREEMENT_HELP = (
    "Krippendorff's α (ordinal) over the interpretations rated by two or more raters: 1 is perfect "
    "agreement, 0 is what chance gives, below 0 is systematic disagreement. Krippendorff's guide: "
    "α ≥ 0.800 reliable; 0.667–0.800 tentative conclusions only."
)


def build_admin(ctx: AppContext) -> dict:
    import pandas as pd

    gr.Markdown("Administrators only: every action below is checked against your role on the server.")
    empty = {
        "metrics": pd.DataFrame(columns=["metric"]),
        "agree": pd.DataFrame(columns=rating.AGREEMENT_COLUMNS),
        "raters": pd.DataFrame(columns=rating.RATER_COLUMNS),
        "prefs": pd.DataFrame(columns=rating.PREFERENCE_COLUMNS),
    }
    with gr.Tabs():
        with gr.Tab("Summary") as summary_tab:
            with gr.Row(equal_height=False):
                camp = gr.Dropdown(
                    _safe_list(lambda: rating.campaign_filter_choices(ctx)),
                    value="",
                    label="Ratings to summarise",
                    scale=3,
                    elem_id="adm-camp",
                )
                refresh = gr.Button("Refresh", scale=1, min_width=120, elem_id="adm-refresh")
            head = gr.Markdown(
                "Open this tab or press Refresh to see the ratings.", elem_id="adm-summary-head"
            )
            chart = gr.Plot(show_label=False, elem_id="adm-chart")
            table = gr.Dataframe(
                empty["metrics"],
                interactive=False,
                label="Ratings per metric: mean (SD) [bootstrap 95% CI], n ratings per model",
                elem_id="adm-table",
                elem_classes="compact-table",
            )
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    agree = gr.Dataframe(
                        empty["agree"],
                        interactive=False,
                        label="Inter-rater agreement",
                        elem_id="adm-agreement",
                        elem_classes="compact-table",
                    )
                    gr.Markdown(AGREEMENT_HELP, elem_classes="adm-note")
                with gr.Column(scale=2):
                    prefs = gr.Dataframe(
                        empty["prefs"],
                        interactive=False,
                        label="A/B preferences (each rater's latest choice per pair)",
                        elem_id="adm-preferences",
                        elem_classes="compact-table",
                    )
            raters = gr.Dataframe(
                empty["raters"],
                interactive=False,
                label="Per rater (assignments when a campaign is chosen)",
                elem_id="adm-raters",
                elem_classes="compact-table",
            )
        with gr.Tab("Import campaign"):
            with gr.Row():
                file = gr.File(
                    label="Campaign file (.jsonl)", file_types=[".jsonl", ".json"], elem_id="adm-file"
                )
                with gr.Column():
                    name = gr.Textbox(
                        label="Campaign name", placeholder="default: the file's name", elem_id="adm-name"
                    )
                    kind = gr.Radio(
                        [(label, value) for value, label in rating.KINDS.items()],
                        value="rate",
                        label="Kind",
                        elem_id="adm-kind",
                    )
                    k = gr.Number(
                        2,
                        label="Raters per case",
                        info="how many different raters see each case",
                        precision=0,
                        minimum=1,
                        elem_id="adm-k",
                    )
            guidelines = gr.Textbox(
                label="Guidelines for the raters (Markdown)",
                placeholder="Shown to the raters with every item of this campaign",
                lines=4,
            )
            with gr.Accordion("Campaign file format", open=False):
                gr.Markdown(CAMPAIGN_FORMAT)
            do_import = gr.Button("Import and assign", variant="primary", elem_id="adm-import")
            import_status = gr.Markdown("", elem_id="adm-import-status")
        with gr.Tab("Export"):
            with gr.Row(equal_height=True):
                fmt = gr.Radio(
                    [(label, value) for value, label in rating.EXPORT_FORMATS.items()],
                    value="dpo",
                    label="Format",
                    scale=3,
                    elem_id="adm-format",
                )
                exp_camp = gr.Dropdown(
                    _safe_list(lambda: rating.campaign_filter_choices(ctx)),
                    value="",
                    label="Ratings to export",
                    scale=2,
                    elem_id="adm-exp-camp",
                )
            gr.Markdown(EXPORT_HELP, elem_classes="adm-note")
            do_export = gr.Button("Export", variant="primary", elem_id="adm-export")
            export_status = gr.Markdown("", elem_id="adm-export-status")
            download = gr.File(label="Download", interactive=False, visible=False, elem_id="adm-download")
        with gr.Tab("Evaluation") as eval_tab:
            evaluation_view = build_evaluation(ctx, eval_tab)

    @ui_errors
    def run_import(
        path, campaign_name, campaign_kind, k_raters, guide, request: gr.Request, bar=gr.Progress()
    ):
        admin = auth.require_admin(ctx, request, None)

        def loading(done: int, total: int) -> None:
            bar((done, total), desc="Loading cases")

        msg = rating.import_campaign(
            ctx, admin, path, campaign_name, guide, campaign_kind, k_raters, progress=loading
        )
        names = rating.campaign_filter_choices(ctx)
        return msg, gr.update(choices=names), gr.update(choices=names)

    @ui_errors
    def run_summary(campaign_name, request: gr.Request):
        try:
            admin = auth.require_admin(ctx, request, None)
        except GemError as exc:  # opening the tab is no error: say why there is nothing to see
            return (f"{present.escape_md(str(exc))}. Summaries are for administrators.", *[gr.skip()] * 5)
        campaign_name = campaign_name or None
        progress = ctx.store.progress(admin, campaign_name) if campaign_name else None
        tbl, agr, per_rater, summary = rating.summary_tables(ctx, admin, campaign_name, progress)
        return (
            rating.summary_headline(summary, campaign_name, progress),
            rating.summary_chart(tbl),
            rating.metrics_table(summary),
            agr,
            rating.preferences_table(summary),
            per_rater,
        )

    @ui_errors
    def run_export(export_format, campaign_name, request: gr.Request):
        admin = auth.require_admin(ctx, request, None)
        path, message = rating.export(ctx, admin, export_format, campaign_name)
        return gr.update(value=path, visible=path is not None), message

    do_import.click(run_import, [file, name, kind, k, guidelines], [import_status, camp, exp_camp], **PRIVATE)
    summary_outputs = [head, chart, table, agree, prefs, raters]
    gr.on(
        [refresh.click, camp.input, summary_tab.select],
        run_summary,
        camp,
        summary_outputs,
        **PRIVATE,
    )
    do_export.click(
        lambda: (gr.update(visible=False), "Exporting…"), None, [download, export_status], **PRIVATE
    ).then(run_export, [fmt, exp_camp], [download, export_status], **PRIVATE)

    def names():
        choices = _safe_list(lambda: rating.campaign_filter_choices(ctx))
        return gr.update(choices=choices), gr.update(choices=choices)

    return {
        "refresh": names,
        "outputs": [camp, exp_camp],
        "evaluation": evaluation_view,
        "summary": run_summary,
        "summary_inputs": camp,
        "summary_outputs": summary_outputs,
    }


EVALUATION_HELP = """Saved runs of `python -m eval run` in `GEM_EVAL_DIR` (default `<GEM_DATA_DIR>/eval`),
scored with `python -m eval score`. Read only: nothing here changes a run."""


def build_evaluation(ctx: AppContext, tab) -> dict:
    """The admin Evaluation view: saved runs, one run's report and plots, and a compare table."""
    from app import evaluation

    gr.Markdown(EVALUATION_HELP, elem_classes="adm-note")
    with gr.Row(equal_height=False):
        run_pick = gr.Dropdown([], label="Run", scale=3, elem_id="eval-run")
        refresh = gr.Button("Refresh", scale=1, min_width=120, elem_id="eval-refresh")
    runs = gr.Dataframe(
        headers=evaluation.RUN_COLUMNS,
        interactive=False,
        label="Saved runs",
        elem_id="eval-runs",
        elem_classes="compact-table",
    )
    with gr.Tabs():
        with gr.Tab("Report"):
            report = gr.Markdown("Choose a run.", elem_id="eval-report")
            plots = gr.Gallery(
                label="Plots", columns=3, height=420, object_fit="contain", elem_id="eval-plots"
            )
        with gr.Tab("Compare"):
            chosen = gr.Dropdown(
                [],
                multiselect=True,
                label="Runs to compare (the first is the base)",
                elem_id="eval-compare-runs",
            )
            go = gr.Button("Compare", variant="primary", elem_id="eval-compare")
            table = gr.Markdown("", elem_id="eval-compare-table")
            compare_plots = gr.Gallery(
                label="Differences", columns=1, height=360, object_fit="contain", elem_id="eval-compare-plots"
            )

    def list_runs(request: gr.Request):
        try:
            frame, names = evaluation.runs_table(ctx, request)
        except GemError as exc:  # opening the tab is no error: say why there is nothing to see
            note = f"{present.escape_md(str(exc))}. Evaluation is for administrators."
            return gr.skip(), gr.skip(), gr.skip(), note
        hint = (
            f"{len(names)} saved runs in `{evaluation.runs_dir(ctx)}`."
            if names
            else (
                f"No saved runs in `{evaluation.runs_dir(ctx)}` (set GEM_EVAL_DIR, or `python -m eval run --out` there)."
            )
        )
        return frame, gr.update(choices=names), gr.update(choices=names), hint

    @ui_errors
    def pick(name: str, request: gr.Request):
        if not name:
            return gr.skip(), gr.skip()
        return evaluation.show_run(ctx, name, request)

    @ui_errors
    def run_compare(names: list[str], request: gr.Request):
        return evaluation.compare_runs(ctx, names, request)

    gr.on([refresh.click, tab.select], list_runs, None, [runs, run_pick, chosen, report], **PRIVATE)
    run_pick.input(pick, run_pick, [report, plots], **PRIVATE)
    go.click(run_compare, chosen, [table, compare_plots], **PRIVATE)
    return {"list": list_runs, "pick": pick, "compare": run_compare}


def _safe_list(fn) -> list:
    try:
        return fn()
    except Exception:  # a missing or broken store: the tab says so when used
        return []
