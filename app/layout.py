"""The Blocks layout: components, and events bound to the plain handlers in ``app.handlers`` & co.

Only four events are API endpoints (``/load_ecg``, ``/interpret``, ``/submit_rating``,
``/submit_preference``); every other event is ``api_visibility="private"``. Closures here are glue:
they unpack component values, call a handler, and map ``GemError`` to ``gr.Error``.
"""

from __future__ import annotations

import functools
import inspect
import random
import time

import gradio as gr

from app import handlers, present
from app.state import AppContext, Session, bind, user_of
from app.tracing import figure_value, tracing
from gem_core.errors import GemError
from gem_core.prompts import DEFAULT_QUESTION

PRIVATE = {"api_visibility": "private"}
UI_EVERY_S = 0.1  # streamed text reaches the screen at most this often (each update is a re-render)
LOAD_POLL_S = 0.5  # how often the status line follows a loading model

CSS = """
.gradio-container {max-width: 100% !important; padding: 0 12px !important;}
#gem-header {background: #0f2a3d; color: #e8f1f7; padding: 8px 16px; border-radius: 6px; margin-bottom: 6px;}
#gem-header h1 {font-size: 1.15rem; margin: 0; color: #e8f1f7; letter-spacing: .02em;}
#gem-header p {margin: 0; font-size: .8rem; color: #a9c1d3;}
#record-info {font-size: .85rem; padding: 2px 4px;}
#record-info p {margin: 0;}
#ecg-plot {border: 1px solid #d9c9c9; border-radius: 4px; background: #fff;}
#reading {font-size: .95rem; line-height: 1.55;}
#status {font-size: .8rem; color: #43586a; min-height: 1.2em;}
.compact-table table {font-size: .78rem;}
.gem-panel {border-left: 3px solid #0f6e8c; padding-left: 8px;}
.adm-note {font-size: .8rem; color: #43586a;}
#adm-refresh {align-self: flex-end;}
/* readings wrap between words, never inside one ("fi / ndings"): Gradio's HighlightedText breaks anywhere */
.gradio-container .textfield {word-break: normal !important; overflow-wrap: break-word;}
/* gallery captions are short titles shown whole (two lines at most), not cut to "Synthetic sinus rhyth..." */
#sample-gallery .caption-label {white-space: normal !important; max-width: 100% !important;
  text-overflow: clip !important; line-height: 1.25;}
"""


def theme() -> gr.themes.Base:
    """A quiet clinical theme: slate neutrals, a teal accent, compact spacing."""
    return gr.themes.Soft(
        primary_hue=gr.themes.colors.cyan,
        secondary_hue=gr.themes.colors.slate,
        neutral_hue=gr.themes.colors.slate,
        spacing_size="sm",
        radius_size="sm",
        text_size="sm",
    )


def shown_error(exc: Exception) -> gr.Error:
    """``gr.Error`` with the message as text: Gradio renders a pop-up's message as HTML, and messages
    quote what users sent (lead names, file names), so markup in them is escaped, never rendered.

    >>> shown_error(GemError('lead <a href="x">y</a>')).message
    'lead &lt;a href=&quot;x&quot;&gt;y&lt;/a&gt;'
    """
    import html

    return gr.Error(html.escape(str(exc)), print_exception=False)


def ui_errors(fn):
    """Show ``GemError`` messages in the UI (``gr.Error``, as text) for plain and generator handlers."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except GemError as exc:
                raise shown_error(exc) from None

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GemError as exc:
            raise shown_error(exc) from None

    return wrapper


def header(ctx: AppContext) -> None:
    with gr.Row(elem_id="gem-header"):
        gr.Markdown(
            "# GEM Studio\nGrounded 12-lead ECG interpretation · review, check against measurements, rate",
        )


def build_review(ctx: AppContext, gpu) -> dict:
    """The Review tab; returns its components for the other tabs to read."""
    session = gr.State(Session())
    with gr.Row(equal_height=False):
        sample_choices = _safe(lambda: handlers.sample_choices(ctx), [])
        sample = gr.Dropdown(
            sample_choices,
            value=None,
            label="Sample",
            info="synthetic and configured records",
            scale=3,
            filterable=True,
            elem_id="sample-picker",
        )
        upload = gr.UploadButton(
            "Upload record (.hea+.dat/.mat, .npy, .npz, .csv, DICOM, aECG/Philips/MUSE .xml, CODE-15 .h5, .zip)",
            # any file: PACS exports DICOM ECGs without an extension; load_ecg knows each format by its
            # content or name and refuses anything else with one clear message
            file_types=None,
            file_count="multiple",
            scale=2,
            elem_id="upload-btn",
        )
        record_pick = gr.Dropdown(
            [], value=None, label="Record in file", visible=False, scale=1, elem_id="record-in-file"
        )
        layout = gr.Radio(
            list(handlers.LAYOUTS), value="12x1", label="Layout", scale=2, elem_id="layout-radio"
        )
        beats = gr.Checkbox(value=False, label="Beat markers (P, QRS, T)", scale=1, elem_id="beats-box")
        whole = gr.Button("Whole ECG", size="sm", scale=1, elem_id="whole-btn")  # leave a claim's close-up
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            with gr.Row(equal_height=True):
                info = gr.Markdown(
                    "No record loaded. Pick a sample or upload a file.", elem_id="record-info", scale=3
                )
                page = gr.Slider(
                    0,
                    1,
                    value=0,
                    step=1,
                    label="Page start (s): 10 s shown",
                    visible=False,
                    scale=2,
                    elem_id="page-start",
                )
            plot = tracing("ecg-plot")
            with gr.Tabs():
                with gr.Tab("Evidence of the selected claim"):
                    evidence = gr.Dataframe(
                        present.evidence_frame(None),
                        interactive=False,
                        elem_classes="compact-table",
                        max_height=220,
                        elem_id="evidence-table",
                    )
                # Side by side only where both fit whole (min_width), else one above the other; long
                # cells wrap rather than hide behind a horizontal scroll (the values were cut off).
                with gr.Tab("Measurements"), gr.Row():
                    glob = gr.Dataframe(
                        present.global_table(None),
                        interactive=False,
                        elem_classes="compact-table",
                        scale=2,
                        min_width=360,
                        wrap=True,
                        max_height=1000,  # every row in view (up to 18), none behind a scroll
                        elem_id="global-table",
                    )
                    per_lead = gr.Dataframe(
                        present.lead_table(None),
                        interactive=False,
                        elem_classes="compact-table",
                        scale=5,
                        min_width=640,
                        wrap=True,
                        elem_id="lead-table",
                    )
                with gr.Tab("Samples") as samples_tab:
                    gallery = gr.Gallery(
                        label="Sample gallery",
                        columns=4,
                        height=360,
                        allow_preview=False,
                        object_fit="contain",
                        elem_id="sample-gallery",
                    )
        with gr.Column(scale=2, elem_classes="gem-panel"):
            backends = _safe(lambda: present.backend_choices(ctx), [("measure", "measure")])
            backend = gr.Dropdown(backends, value=backends[0][1], label="Interpreter")
            question = gr.Textbox(DEFAULT_QUESTION, label="Question", lines=3, max_lines=6)
            with gr.Accordion("Sampling settings", open=False):
                with gr.Row():
                    temperature = gr.Slider(0.0, 1.5, value=0.0, step=0.05, label="Temperature (0 = greedy)")
                    top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p")
                with gr.Row():
                    max_tokens = gr.Number(ctx.settings.max_new_tokens, label="Max new tokens", precision=0)
                    seed = gr.Number(0, label="Seed", precision=0)
            with gr.Row():
                go = gr.Button("Interpret", variant="primary", elem_id="interpret-btn")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-btn")
                regen = gr.Button("Regenerate (sampled)", elem_id="regen-btn")
            status = gr.Markdown("", elem_id="status")
            raw_text = gr.Textbox(visible=False, label="Interpretation text")
            reading = gr.HighlightedText(
                label="Interpretation — click a claim to see its evidence",
                color_map=present.color_map(),
                show_legend=True,
                combine_adjacent=False,
                elem_id="reading",
            )
            claims = gr.Dataframe(
                present.claims_frame([]),
                interactive=False,
                label="Claims (select a row to highlight it on the tracing)",
                elem_id="claims-table",
                column_widths=["6%", "18%", "40%", "14%", "22%"],
                elem_classes="compact-table",
                wrap=True,
                max_height=320,
            )

    def views(s: Session, lay: str, bt: bool):
        fig = figure_value(handlers.figure(s, lay, bt, s.selected_claim))
        return fig, present.evidence_frame(s.claim(s.selected_claim))

    def reading_views(s: Session):
        interp = s.interpretation
        text = interp.text if interp else ""
        claims_list = interp.claims if interp else []
        return (
            text,
            present.highlighted_text(text, claims_list, s.selected_claim),
            present.claims_frame(claims_list),
        )

    # Loading draws the tracing first: the response carries only what a new record changes at once
    # (every output sent is a re-render in the browser before the tracing appears). The measurement
    # tables follow in a second step, with the clearing of a previous record's claims and evidence.
    loaded_outputs = [session, plot, info, raw_text, reading, status, record_pick]

    def after_load(s: Session, lay: str, bt: bool, before: Session | None = None):
        s.clear_panels = before is None or before.interpretation is not None or bool(before.selected_claim)
        fig = figure_value(handlers.figure(s, lay, bt, s.selected_claim))
        text, tokens = ("", []) if s.clear_panels else (gr.skip(), gr.skip())
        # a file of several records (a zip, a CODE-15% file of exams) offers the others
        picker = gr.update(
            choices=s.records, value=s.records[0] if s.records else None, visible=bool(s.records)
        )
        return s, fig, present.record_info(s), text, tokens, "Measuring…", picker

    @ui_errors
    def measure_step(s: Session, lay: str, bt: bool, request: gr.Request = None):
        bind(s, user_of(request))
        handlers.measured(handlers.registered(ctx, s))
        fig = figure_value(handlers.figure(s, lay, bt, s.selected_claim)) if bt else gr.skip()
        glob_t, lead_t = present.global_table(s.measurements), present.lead_table(s.measurements)
        ev, table = gr.skip(), gr.skip()
        # Interpret pressed before measuring finished: its claims, evidence and status stand
        started = s.interpretation is not None
        if s.clear_panels and not started:
            ev, table = present.evidence_frame(None), present.claims_frame([])
        s.clear_panels = False
        last = handlers.last_page_s(s)  # a long record gets the page control
        pages = gr.update(visible=last > 0, maximum=max(last, 1), value=0)
        status = gr.skip() if started else present.measure_status(s.measurements)
        return s, glob_t, lead_t, fig, status, ev, table, pages

    measure_outputs = [session, glob, per_lead, plot, status, evidence, claims, page]

    @ui_errors
    def load_ecg(
        sample_id: str, lay: str, bt: bool, before: Session | None = None, request: gr.Request = None
    ):
        """Load a sample by id: returns the tracing, record summary and measurement tables."""
        owner = user_of(request)
        bind(before, owner)
        return after_load(bind(handlers.load_sample(ctx, sample_id), owner), lay, bt, before)

    @ui_errors
    def load_upload(files, lay: str, bt: bool, before: Session | None = None, request: gr.Request = None):
        owner = user_of(request)
        bind(before, owner)
        paths = [f if isinstance(f, str) else f.name for f in (files or [])]
        return after_load(bind(handlers.load_upload(ctx, paths), owner), lay, bt, before)

    @ui_errors
    def load_record(record: str, lay: str, bt: bool, before: Session | None = None):
        return after_load(handlers.load_record_in_upload(ctx, before or Session(), record), lay, bt, before)

    load_inputs = [layout, beats]
    # the status line says what is happening: Gradio's progress overlays would re-render each output
    quiet = {"show_progress": "hidden"}
    sample.change(
        load_ecg, [sample, *load_inputs, session], loaded_outputs, api_name="load_ecg", queue=False, **quiet
    ).then(measure_step, [session, *load_inputs], measure_outputs, **PRIVATE, **quiet)
    upload.upload(load_upload, [upload, *load_inputs, session], loaded_outputs, **PRIVATE, **quiet).then(
        measure_step, [session, *load_inputs], measure_outputs, **PRIVATE, **quiet
    )
    record_pick.input(
        load_record, [record_pick, *load_inputs, session], loaded_outputs, **PRIVATE, **quiet
    ).then(measure_step, [session, *load_inputs], measure_outputs, **PRIVATE, **quiet)

    def redraw(s: Session, lay: str, bt: bool, request: gr.Request = None):
        bind(s, user_of(request))
        if bt:
            handlers.measured(s)
        return views(s, lay, bt)

    beats.change(ui_errors(redraw), [session, layout, beats], [plot, evidence], **PRIVATE)

    def whole_ecg(s: Session, lay: str, bt: bool):
        """The whole tracing in the chosen layout; the selected claim stays highlighted on it."""
        s.claim_view = False
        return (s, *redraw(s, lay, bt))

    gr.on(
        [layout.change, whole.click],
        ui_errors(whole_ecg),
        [session, layout, beats],
        [session, plot, evidence],
        **PRIVATE,
    )

    def turn_page(s: Session, start_s: float, lay: str, bt: bool, request: gr.Request = None):
        bind(s, user_of(request))
        handlers.go_to_page(s, start_s)
        return (s, *redraw(s, lay, bt))

    page.release(ui_errors(turn_page), [session, page, layout, beats], [session, plot, evidence], **PRIVATE)

    def loading_steps(name: str):
        """Status lines while a backend loads in its own thread (other handlers keep working)."""
        thread, messages, errors = present.start_backend(ctx, name)
        began, shown = time.monotonic(), None
        while thread.is_alive():
            thread.join(LOAD_POLL_S)
            step = messages[-1] if messages else "starting"
            line = f"Loading {name}: {present.escape_md(step)} · {time.monotonic() - began:.0f} s"
            if line != shown:
                yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), line
                shown = line
        if errors:
            exc = errors[0]
            raise exc if isinstance(exc, GemError) else GemError(f"{name} could not start: {exc}")

    @ui_errors
    def run_interpret(
        s, backend_name, question, temperature, top_p, max_new_tokens, seed, request: gr.Request
    ):
        """Stream an interpretation of the loaded ECG (text so far, then claims with verdicts)."""
        bind(s, user_of(request))
        params = handlers.generation_params(temperature, top_p, max_new_tokens, seed)
        tab = request.session_hash if request else None
        stop_flag = ctx.stop_event(tab)  # from now on: a Stop while the model loads ends this run too
        # the claims table is cleared once (if it shows claims), filled once at the end: re-rendering
        # it per chunk is slow
        shown = s.interpretation is not None and bool(s.interpretation.claims)
        clear_claims = present.claims_frame([]) if shown else gr.skip()
        if backend_name not in ctx.backends:  # its first use loads the model: say so, then show its steps
            yield gr.skip(), "", [], clear_claims, f"Starting {backend_name}… (the first use loads the model)"
            clear_claims = gr.skip()
            if s.loaded:
                yield from loading_steps(backend_name)
        sent = None  # when the screen was last updated
        for current in handlers.interpret(ctx, s, backend_name, question, params, tab, stop_flag):
            now = time.monotonic()
            if sent is not None and now - sent < UI_EVERY_S:
                continue  # chunks that come faster than the browser can show them: send the next one
            interp = current.interpretation
            text, tokens, _ = reading_views(current)
            state = "stopped" if interp.stopped else "streaming…"
            yield (
                current,
                text,
                tokens,
                clear_claims,
                f"{interp.label} · {len(interp.claims)} claims · {state}",
            )
            clear_claims, sent = gr.skip(), now
        text, tokens, table = reading_views(current)
        yield current, text, tokens, table, _done_status(current)

    interp_outputs = [session, raw_text, reading, claims, status]
    interp_inputs = [session, backend, question, temperature, top_p, max_tokens, seed]
    go.click(
        gpu(run_interpret), interp_inputs, interp_outputs, api_name="interpret", concurrency_limit=4, **quiet
    )

    def stop(request: gr.Request):
        return handlers.stop(ctx, request.session_hash if request else None)

    stop_btn.click(stop, None, status, queue=False, **PRIVATE)

    def resample(temp):
        return max(float(temp or 0.0), 0.7), random.randint(1, 2**31 - 1)

    regen.click(resample, temperature, [temperature, seed], queue=False, **PRIVATE).then(
        gpu(run_interpret), interp_inputs, interp_outputs, concurrency_limit=4, **PRIVATE, **quiet
    )

    def pick_claim(s: Session, lay: str, bt: bool, evt: gr.SelectData, request: gr.Request = None):
        bind(s, user_of(request))
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if isinstance(evt.target, gr.HighlightedText):  # a per-session copy of `reading`, not the object
            handlers.select_token(s, index)
        else:
            handlers.select_claim(s, index)
        moved = handlers.follow_claim(s)  # evidence on another page of a long record: turn to it
        fig, ev = views(s, lay, bt)
        _, tokens, _ = reading_views(s)
        return s, fig, ev, tokens, s.start_ms / 1000.0 if moved else gr.skip()

    for source in (claims, reading):
        source.select(
            ui_errors(pick_claim),
            [session, layout, beats],
            [session, plot, evidence, reading, page],
            **PRIVATE,
        )

    def fill_gallery():
        return _safe(lambda: _gallery_items(ctx), [])

    def pick_sample(evt: gr.SelectData):
        items = present.samples(ctx)
        return items[evt.index]["id"] if 0 <= evt.index < len(items) else gr.update()

    gallery.select(pick_sample, None, sample, **PRIVATE)
    return {
        "session": session,
        "gallery": gallery,
        "fill_gallery": fill_gallery,
        "samples_tab": samples_tab,
        "sample": sample,
        "backend": backend,
        "question": question,
        "status": status,
    }


def _done_status(s: Session) -> str:
    interp = s.interpretation
    counts = {}
    for c in interp.claims:
        counts[c.get("verdict")] = counts.get(c.get("verdict"), 0) + 1
    parts = [f"{n} {present.VERDICT_LABELS.get(v, v)}" for v, n in counts.items()]
    saved = (
        f"saved as interpretation {interp.interpretation_id}"
        if interp.interpretation_id is not None
        else "not saved (no ratings store)"
    )
    head = "Stopped" if interp.stopped else "Done"
    return f"{head} · {interp.label} · {len(interp.claims)} claims ({', '.join(parts) or 'none'}) · {saved}"


def _gallery_items(ctx: AppContext, limit: int = 24) -> list:
    return [(present.thumbnail(ctx, s["id"]), s["caption"]) for s in present.samples(ctx)[:limit]]


def _safe(fn, default):
    try:
        return fn()
    except GemError:
        return default
