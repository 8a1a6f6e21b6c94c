"""Review-screen event handlers: plain functions of (context, session, inputs) -> outputs.

They hold no ECG, grounding or storage logic: they call ``gem_core``, ``viewer`` and ``annotations``
and shape the results for the components. Tests call them directly, without a browser.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from app import present
from app.state import AppContext, Interpretation, Session, new_key
from gem_core.ecg import load_ecg
from gem_core.errors import GemError
from gem_core.features import measure

LAYOUTS = ("12x1", "3x4+II", "6x2")
# what the upload button accepts: WFDB, arrays, CSV, the exported formats (gem_core.formats) and zips of them
PAGE_MS = 10_000.0  # the tracing shows 10 s at a time; longer records are paged
GROUND_EVERY_S = 0.25  # re-ground a streaming text at most this often (and at each sentence end)


# ---------------------------------------------------------------------------------------------- samples
def sample_choices(ctx: AppContext) -> list[tuple[str, str]]:
    """(label, sample id) pairs for the sample picker, default source first."""
    return [(s["label"], s["id"]) for s in present.samples(ctx)]


def load_sample(ctx: AppContext, sample_id: str) -> Session:
    """A Session with the sample's ECG (recorded in the store and measured in a second step: see
    ``registered`` and ``measured``)."""
    if not sample_id:
        raise GemError("choose a sample from the gallery or upload a file")
    ecg = present.load_sample_ecg(ctx, sample_id)
    return _session_for(ctx, ecg, sample_id)


def load_upload(ctx: AppContext, paths: str | list[str] | None, record: str | None = None) -> Session:
    """A Session with an uploaded record's ECG; ``GemError`` for files that cannot be read.

    Gradio keeps each uploaded file in its own folder, so the files are put side by side first:
    a WFDB header finds its ``.dat``/``.mat`` by name. A file with several records (a zip, a CODE-15%
    HDF5 file of many exams) shows the first, or ``record``; ``session.records`` lists them all.
    """
    paths = [paths] if isinstance(paths, str) else [p for p in (paths or []) if p]
    if not paths:
        raise GemError(
            "no file received; upload a WFDB (.hea + .dat), .mat, .npy, .npz, .csv, DICOM ECG (.dcm), "
            "aECG/Philips/GE MUSE .xml, CODE-15% .h5 or .zip record"
        )
    with tempfile.TemporaryDirectory(prefix="gem-upload-") as folder:
        try:
            local = [Path(shutil.copy(p, Path(folder) / Path(p).name)) for p in paths]
            headers = [p for p in local if p.suffix.lower() == ".hea"]
            ecg = load_ecg(headers[0] if headers else local[0], record=record or None)
        except OSError as err:  # copying a file with an unusable name
            raise GemError(f"cannot take the upload: {err.strerror or type(err).__name__}") from None
        except GemError as err:
            raise GemError(without_server_paths(str(err))) from None
    session = _session_for(ctx, ecg, f"upload:{ecg.record_id}")
    others = ecg.report.get("other_records") or []
    if others:
        shown = ecg.report.get("member") or ecg.metadata.get("exam_id") or ecg.record_id
        session.upload_paths, session.records = list(paths), [str(shown), *map(str, others)]
    return session


def load_record_in_upload(ctx: AppContext, session: Session, record: str) -> Session:
    """Another record of the file last uploaded (a zip member, a CODE-15% exam id)."""
    if not session.upload_paths or record not in session.records:
        raise GemError(f"no record {record!r} in the uploaded file; upload it again")
    return load_upload(ctx, session.upload_paths, record)


def without_server_paths(message: str) -> str:
    """``message`` with every path under the server's temporary folder cut to its file name.

    >>> import tempfile
    >>> without_server_paths(f"{tempfile.gettempdir()}/gem-upload-x1/rec.npy does not exist")
    'rec.npy does not exist'
    """
    import re

    root = re.escape(tempfile.gettempdir().rstrip("/"))
    return re.sub(root + r"/[^\s'\"]*", lambda m: m.group().rstrip("/").rsplit("/", 1)[-1], message)


def _session_for(ctx: AppContext, ecg, sample_id: str) -> Session:
    """A fresh Session for ``ecg`` (not yet in the store: see ``registered``)."""
    return Session(sample_id=sample_id, ecg=ecg)


def registered(ctx: AppContext, session: Session) -> Session:
    """The session with its ECG recorded as a case in the store (once; unchanged without a store).

    Loading leaves this write (~10 ms) to the second step, with measuring, so the tracing comes first;
    storing an interpretation records the case too if it was not yet.
    """
    if session.loaded and session.case_id is None:
        session.case_id = present.store_case(ctx, session)
    return session


def measured(session: Session) -> Session:
    """The session with its ECG's measurements (``gem_core.features.measure``), computed once.

    Loading draws the tracing first and measures in a second step, so the tracing appears at once.
    """
    if session.loaded and session.measurements is None:
        session.measurements = measure(session.ecg)
    return session


def figure(session: Session, layout: str = "12x1", beats: bool = False, claim_id: str | None = None):
    """The tracing of the loaded ECG: the close-up of the selected claim while ``session.claim_view``
    (its leads only, a beat of context each side), else the whole page at ``session.start_ms`` with
    the claim's evidence highlighted."""
    if not session.loaded:
        return None
    claim = session.claim(claim_id)
    if claim is not None and session.claim_view:
        close_up = present.claim_plot(session, claim, beats)
        if close_up is not None:
            return close_up
    return present.ecg_plot(session, layout, beats, [claim] if claim else [])


# ------------------------------------------------------------------------------------------------ pages
def last_page_s(session: Session) -> int:
    """Start (whole seconds) of the last 10 s page: 0 for records of 10 s or less."""
    if not session.loaded:
        return 0
    return max(0, math.ceil(session.ecg.duration_ms / 1000.0 - PAGE_MS / 1000.0))


def go_to_page(session: Session, start_s: float | None) -> Session:
    """Show the 10 s from ``start_s`` (clamped to the record)."""
    session.start_ms = 1000.0 * min(max(0.0, float(start_s or 0.0)), last_page_s(session))
    return session


def follow_claim(session: Session) -> bool:
    """Turn to the page with the selected claim's first evidence span when it is not on screen.

    Returns whether the page changed. A span starting past the page begins the new page 1 s before it.
    """
    claim = session.claim(session.selected_claim)
    starts = [float(e["t_start_ms"]) for e in (claim or {}).get("evidence") or () if "t_start_ms" in e]
    if not starts or session.start_ms <= min(starts) < session.start_ms + PAGE_MS:
        return False
    before = session.start_ms
    go_to_page(session, math.floor(min(starts) / 1000.0) - 1)
    return session.start_ms != before


# -------------------------------------------------------------------------------------------- interpret
def generation_params(temperature: float, top_p: float, max_new_tokens: int, seed: int | None):
    """``GenerationParams`` from the sampling controls (temperature 0 = greedy, GEM's evaluation setting)."""
    from gem_core.backends import GenerationParams

    if not 1 <= int(max_new_tokens) <= 4096:
        raise GemError(f"max new tokens must be between 1 and 4096; got {max_new_tokens}")
    if not 0.0 <= float(temperature) <= 2.0:
        raise GemError(f"temperature must be between 0 and 2; got {temperature}")
    if not 0.0 < float(top_p) <= 1.0:
        raise GemError(f"top-p must be in (0, 1]; got {top_p}")
    seed = None if seed in (None, "") or float(temperature) == 0.0 else int(seed)
    return GenerationParams(
        max_new_tokens=int(max_new_tokens), temperature=float(temperature), top_p=float(top_p), seed=seed
    )


def interpret(
    ctx: AppContext,
    session: Session,
    backend_name: str,
    question: str,
    params,
    session_hash: str | None = None,
    stop=None,
) -> Iterator[Session]:
    """Stream an interpretation: yields the session after each chunk with text and claims so far.

    The last yield carries the finished claims and, when a store is configured, the stored
    interpretation id. The tab's Stop button ends the stream early (``AppContext.request_stop``).
    ``stop``: the tab's stop flag when the caller made it earlier (before loading the model, so a Stop
    pressed while the model loads is not lost); else a fresh one is made here.
    """
    if not session.loaded:
        raise GemError("load an ECG first (pick a sample or upload a file)")
    question = (question or "").strip()
    if not question:
        raise GemError("the question is empty; type one or restore GEM's default question")
    backend = present.backend(ctx, backend_name)
    measured(session)
    stop = stop if stop is not None else ctx.stop_event(session_hash)
    interp = Interpretation(
        backend=backend.name,
        label=backend.label,
        is_gem=backend.is_gem,
        question=question,
        params=params.to_dict(),
    )
    session.interpretation, session.selected_claim, session.rating_key = interp, None, new_key()
    session.rate_target = None
    grounded_at, grounded_len = 0.0, 0
    for chunk in () if stop.is_set() else backend.stream(session.ecg, question, params, stop):
        interp.text += chunk
        now = time.monotonic()
        due = now - grounded_at > GROUND_EVERY_S or chunk.rstrip().endswith((".", ";", "!", "?"))
        if due and len(interp.text) != grounded_len:
            interp.claims = present.ground(interp.text, session.measurements)
            grounded_at, grounded_len = now, len(interp.text)
        yield session
        if stop.is_set():
            break
    interp.stopped = stop.is_set()
    interp.claims = present.ground(interp.text, session.measurements, final=True)
    interp.interpretation_id = present.store_interpretation(ctx, session)
    if interp.interpretation_id is not None:
        session.shown.add(interp.interpretation_id)  # what this tab may rate (app.rating)
    yield session


def compare_pair(ctx: AppContext, session: Session, generated: list, rng=None) -> tuple | None:
    """Two interpretations of the loaded record with different texts, for the Compare tab; None if
    fewer than two distinct texts exist.

    The freshly ``generated`` ones come first; when they say the same thing, a stored interpretation of
    the same record and question with another text (another backend or model, an earlier sample, an
    imported campaign text) takes the second place, drawn at random. The caller shows the pair and
    only then adds its ids to ``Session.shown``.
    """
    import random

    from app.rating import same_text

    pool = [i for i in generated if i.text.strip()]
    distinct = []
    for interp in pool:
        if not any(same_text(interp.text, seen.text) for seen in distinct):
            distinct.append(interp)
    if len(distinct) >= 2:
        return distinct[0], distinct[1]
    if not distinct or ctx.store is None or session.case_id is None:
        return None
    first = distinct[0]
    others = [
        row
        for row in ctx.store.case_interpretations(int(session.case_id))
        if row["question"] == first.question
        and row["id"] != first.interpretation_id
        and not same_text(row["text"], first.text)
    ]
    if not others:
        return None
    row = (rng or random.Random()).choice(others)
    stored = Interpretation(
        backend=row["model"],
        label=row["model"],
        is_gem=False,
        question=row["question"],
        params=dict(row["params"] or {}),
        text=row["text"],
        claims=present.ground(row["text"], measured(session).measurements, final=True),
        interpretation_id=row["id"],
    )
    return first, stored


def stop(ctx: AppContext, session_hash: str | None) -> str:
    """Ask this tab's running generation to stop after its current chunk."""
    return "Stopping…" if ctx.request_stop(session_hash) else "Nothing is running."


# ------------------------------------------------------------------------------------------------ claims
def claims_table(session: Session) -> pd.DataFrame:
    return present.claims_frame(session.interpretation.claims if session.interpretation else [])


def select_claim(session: Session, index: int) -> str | None:
    """The id of the claim at row ``index`` of the claims table (None when out of range)."""
    claims = session.interpretation.claims if session.interpretation else []
    if not 0 <= int(index) < len(claims):
        return None
    session.selected_claim, session.claim_view = str(claims[int(index)]["id"]), True
    return session.selected_claim


def select_token(session: Session, token_index: int) -> str | None:
    """The id of the claim under the clicked token of the highlighted text (None for plain text)."""
    text = session.interpretation.text if session.interpretation else ""
    claims = session.interpretation.claims if session.interpretation else []
    spans = present.text_spans(text, claims)
    if not 0 <= int(token_index) < len(spans) or spans[int(token_index)][1] is None:
        return None
    session.selected_claim, session.claim_view = spans[int(token_index)][1], True
    return session.selected_claim
