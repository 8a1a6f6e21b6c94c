"""Exports: DPO and KTO JSONL in TRL's conversational format, CSV of all ratings, a ``datasets`` dataset.

DPO pairs come from two places:

* explicit preferences: per case and pair of interpretations, the raters' votes (each rater's latest
  choice); the side with more votes is ``chosen``, ``margin`` is the vote difference; ties and
  "both bad" carry no vote, and an even split gives no pair;
* rating gaps: per case and question and pair of interpretations, the mean difference of one metric
  over the raters who rated both; pairs whose gap reaches ``min_margin`` are kept (unless a preference
  already covers the pair). Answers to different questions about one ECG never make a pair.

Raters appear only by pseudonym. Rows (schema version ``ROW_VERSION``) look like::

    {"version": 2, "prompt": [{"role": "user", "content": QUESTION}],
     "chosen": [{"role": "assistant", "content": TEXT}], "rejected": [...],
     "images": ["/abs/path/to/pairs_images/<hash>-12x1.png"], "ecg": "/abs/path/to/pairs_ecg/<hash>.npy",
     "case": "<content hash>", "raters": ["R-1a2b3c4d", ...], "margin": 1.5, "source": "rating", ...}

``ecg`` names the signal GEM reads for the case: a ``.npy`` of (12, 5000) float32 millivolts at 500 Hz in
the canonical lead order (``gem_core.ecg.to_model_input``, first 10 s), which ``gem_core.ecg.load_ecg``
reads back; it is null for a case whose samples the store did not keep. KTO rows carry the same
``images`` and ``ecg``. Version 1 rows (before the ``ecg`` column) had no ``version`` key.
"""

from __future__ import annotations

import csv
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from annotations.metrics import METRIC_NAMES, metric
from annotations.models import (
    Assignment,
    Campaign,
    CampaignItem,
    Case,
    Interpretation,
    Preference,
    Rater,
    Rating,
)
from annotations.signal_codec import ecg_from_bytes
from gem_core.errors import GemError

FORMATS = ("dpo", "kto", "csv", "hf")
PAIR_SOURCES = ("both", "preferences", "ratings")
ROW_VERSION = 2  # bump when a field readers rely on changes; readers check it with ``check_row``
ROW_FIELDS = {  # what a reader needs in every row of a version-2 export (``images`` is optional, more keys follow)
    "dpo": ("version", "prompt", "chosen", "rejected", "ecg", "case", "margin", "source"),
    "kto": ("version", "prompt", "completion", "label", "ecg", "case"),
}


@dataclass(frozen=True)
class ExportResult:
    """What ``export`` wrote: the file or folder, its rows, the images rendered, notes for the user."""

    path: Path
    rows: int
    images: int
    notes: list[str]
    signals: int = 0  # ECG .npy files the rows point to


@dataclass(frozen=True)
class Interp:
    id: int
    case_id: int
    model: str
    model_version: str
    question: str
    text: str


@dataclass
class Data:
    """Everything an export or summary reads, as plain tuples (fast for 100,000s of ratings)."""

    interps: dict[int, Interp]
    cases: dict[int, str]  # case id -> content hash
    ratings: list[
        tuple
    ]  # (rating_id, pseudonym, interpretation_id, *scores, comment, seconds, version, created, updated)
    preferences: list[tuple]  # (pseudonym, case_id, a_id, b_id, choice, created_at, id)
    identical_preferences: int = 0  # A/B choices between two identical texts, left out of `preferences`


def same_text(a: Interp, b: Interp) -> bool:
    """Whether two answers say the same thing (whitespace aside): such a pair teaches a model nothing.

    >>> same_text(Interp(1, 1, "m", "", "q", "Sinus  rhythm."), Interp(2, 1, "m", "", "q", "Sinus rhythm. "))
    True
    """
    return " ".join(a.text.split()) == " ".join(b.text.split())


RATING_COLUMNS = (
    "rating_id",
    "rater",
    "interpretation_id",
    *METRIC_NAMES,
    "comment",
    "seconds",
    "version",
    "created_at",
    "updated_at",
)


def campaign_scope(s: Session, campaign: str | int | None) -> tuple[set[int], set[tuple[str, int]]] | None:
    """A campaign's interpretation ids, and the (rater pseudonym, interpretation id) pairs assigned.

    Only work done under the campaign's assignments counts in its summaries and exports: a rater
    who was not assigned an item cannot add ratings or choices to it.
    """
    if campaign is None:
        return None
    query = select(Campaign.id).where(
        Campaign.id == campaign if isinstance(campaign, int) else Campaign.name == str(campaign)
    )
    camp_id = s.scalar(query)
    if camp_id is None:
        raise GemError(f"no campaign {campaign!r}")
    ids: set[int] = set()
    assigned: set[tuple[str, int]] = set()
    rows = s.execute(
        select(CampaignItem.interpretation_ids, Rater.pseudonym)
        .outerjoin(Assignment, Assignment.item_id == CampaignItem.id)
        .outerjoin(Rater, Rater.id == Assignment.rater_id)
        .where(CampaignItem.campaign_id == camp_id)
    )
    for interpretation_ids, pseudonym in rows:
        ids.update(interpretation_ids)
        if pseudonym is not None:
            assigned.update((pseudonym, i) for i in interpretation_ids)
    return ids, assigned


def load_data(s: Session, campaign: str | int | None = None) -> Data:
    """Ratings, preferences and interpretations (optionally those of one campaign, counting only the
    ratings and choices of the raters each item was assigned to)."""
    scope = campaign_scope(s, campaign)
    only, assigned = scope if scope is not None else (None, None)
    interps = {
        row.id: Interp(row.id, row.case_id, row.model, row.model_version, row.question, row.text)
        for row in s.execute(
            select(
                Interpretation.id,
                Interpretation.case_id,
                Interpretation.model,
                Interpretation.model_version,
                Interpretation.question,
                Interpretation.text,
            )
        )
        if only is None or row.id in only
    }
    cases = dict(s.execute(select(Case.id, Case.content_hash)).tuples().all())
    rating_cols = [getattr(Rating, m) for m in METRIC_NAMES]
    ratings = [
        tuple(r)
        for r in s.execute(
            select(
                Rating.id,
                Rater.pseudonym,
                Rating.interpretation_id,
                *rating_cols,
                Rating.comment,
                Rating.seconds,
                Rating.version,
                Rating.created_at,
                Rating.updated_at,
            )
            .join(Rater, Rater.id == Rating.rater_id)
            .order_by(Rating.id)
        )
        if r[2] in interps and (assigned is None or (r[1], r[2]) in assigned)
    ]
    preferences = [
        tuple(p)
        for p in s.execute(
            select(
                Rater.pseudonym,
                Preference.case_id,
                Preference.interpretation_a_id,
                Preference.interpretation_b_id,
                Preference.choice,
                Preference.created_at,
                Preference.id,
            )
            .join(Rater, Rater.id == Preference.rater_id)
            .order_by(Preference.id)
        )
        if p[2] in interps
        and p[3] in interps
        and (assigned is None or {(p[0], p[2]), (p[0], p[3])} <= assigned)
    ]
    distinct = [p for p in preferences if not same_text(interps[p[2]], interps[p[3]])]
    return Data(interps, cases, ratings, distinct, len(preferences) - len(distinct))


def check_row(row: dict, kind: str, where: str = "") -> None:
    """Raise ``GemError`` unless ``row`` is a ``kind`` ("dpo"/"kto") row of this export version.

    The message names the version found, the one expected and the fields a row must have.
    """
    expected = ROW_FIELDS[kind]
    place = f"{where}: " if where else ""
    version = row.get("version") if isinstance(row, dict) else None
    if version != ROW_VERSION:
        found = "no version key (an export from before signals were exported)" if version is None else version
        raise GemError(
            f"{place}export rows of version {ROW_VERSION} are expected, found {found}; a {kind} row needs "
            f"the fields {', '.join(expected)}; re-export with `python -m annotations export --format {kind}`"
        )
    missing = [f for f in expected if f not in row]
    if missing:
        raise GemError(
            f"{place}a {kind} row of version {ROW_VERSION} needs the fields {', '.join(expected)}; "
            f"missing: {', '.join(missing)}"
        )


# -------------------------------------------------------------------------------------------------- pairs


def preference_pairs(data: Data) -> list[dict]:
    """Majority-vote pairs from explicit preferences (each rater's latest choice per pair counts)."""
    latest: dict[tuple, tuple] = {}
    for rater, _case, a, b, choice, _created, _id in data.preferences:
        latest[(rater, frozenset((a, b)))] = (a, b, choice)  # rows are in id order: later wins
    votes: dict[frozenset, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for (rater, pair), (a, b, choice) in latest.items():
        if choice in ("a", "b"):
            votes[pair][a if choice == "a" else b].append(rater)
        else:
            votes[pair]  # ties and both-bad: the pair is known but gets no vote
    pairs = []
    for pair, by_side in votes.items():
        x, y = sorted(pair)
        nx, ny = len(by_side.get(x, [])), len(by_side.get(y, []))
        if nx == ny:
            continue
        chosen, rejected = (x, y) if nx > ny else (y, x)
        raters = sorted(set(by_side.get(x, [])) | set(by_side.get(y, [])))
        pairs.append(
            {
                "chosen": chosen,
                "rejected": rejected,
                "margin": float(abs(nx - ny)),
                "raters": raters,
                "source": "preference",
            }
        )
    return pairs


def rating_pairs(
    data: Data,
    metric_name: str = "overall_satisfaction",
    min_margin: float = 1.0,
    skipped: list | None = None,
) -> list[dict]:
    """Pairs of answers to one question about one case whose mean paired gap on ``metric_name`` is
    >= ``min_margin`` (a DPO row has one prompt for both completions). Two answers with the same text
    never make a pair (their ids go to ``skipped`` when given)."""
    col = 3 + METRIC_NAMES.index(metric(metric_name).name)
    by_prompt: dict[tuple[int, str], dict[int, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for row in data.ratings:
        interp = data.interps[row[2]]
        by_prompt[(interp.case_id, interp.question)][interp.id][row[1]] = row[col]
    pairs = []
    for per_interp in by_prompt.values():
        for x, y in combinations(sorted(per_interp), 2):
            common = sorted(per_interp[x].keys() & per_interp[y].keys())
            if not common:
                continue
            gap = sum(per_interp[x][r] - per_interp[y][r] for r in common) / len(common)
            if abs(gap) >= min_margin and gap != 0:
                if same_text(data.interps[x], data.interps[y]):
                    if skipped is not None:
                        skipped.append((x, y))
                    continue
                chosen, rejected = (x, y) if gap > 0 else (y, x)
                pairs.append(
                    {
                        "chosen": chosen,
                        "rejected": rejected,
                        "margin": round(abs(gap), 4),
                        "raters": common,
                        "source": "rating",
                    }
                )
    return pairs


def dpo_pairs(
    data: Data,
    metric_name: str = "overall_satisfaction",
    min_margin: float = 1.0,
    sources: str = "both",
    skipped: list | None = None,
) -> list[dict]:
    """Explicit-preference pairs, then rating-gap pairs for pairs no preference covers (never two
    identical texts: see ``Data.identical_preferences`` and ``rating_pairs``'s ``skipped``)."""
    if sources not in PAIR_SOURCES:
        raise GemError(f"pair sources must be one of {', '.join(PAIR_SOURCES)}; got {sources!r}")
    if min_margin <= 0:
        raise GemError(f"min margin must be > 0 (a zero gap is a tie); got {min_margin}")
    pairs = preference_pairs(data) if sources in ("both", "preferences") else []
    covered = {frozenset((p["chosen"], p["rejected"])) for p in pairs}
    if sources in ("both", "ratings"):
        pairs += [
            p
            for p in rating_pairs(data, metric_name, min_margin, skipped)
            if frozenset((p["chosen"], p["rejected"])) not in covered
        ]
    return pairs


# ------------------------------------------------------------------------------------------------- images


def save_image(ecg, folder: Path, layout: str = "12x1") -> Path:
    """The model's view of ``ecg`` (``gem_core.render.ecg_image``) as ``folder/<hash>-<layout>.png``, once."""
    from gem_core.render import ecg_image

    path = folder / f"{ecg.content_hash[:32]}-{layout}.png"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.png")
        ecg_image(ecg, layout=layout).save(tmp)
        tmp.replace(path)  # a reader never sees half a file
    return path


def save_signal(ecg, folder: Path) -> Path:
    """The (12, 5000) 500 Hz signal GEM reads (``to_model_input``, first 10 s) as ``folder/<hash>.npy``, once."""
    from gem_core.ecg import to_model_input

    path = folder / f"{ecg.content_hash[:32]}.npy"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        signal, _report = to_model_input(ecg)
        tmp = path.with_name(path.stem + ".tmp.npy")
        np.save(tmp, signal.astype(np.float32, copy=False), allow_pickle=False)
        tmp.replace(path)
    return path


def _stored_ecgs(s: Session, case_ids: set[int], notes: list[str], what: str):
    for case in s.scalars(select(Case).where(Case.id.in_(case_ids))):
        if case.signal_npz is None:
            notes.append(f"case {case.id} has no stored samples: {what}")
            continue
        yield case.id, ecg_from_bytes(case.signal_npz, case.record_id)


def render_images(
    s: Session, case_ids: set[int], folder: Path, notes: list[str], layout: str = "12x1"
) -> dict[int, str]:
    """One PNG per case (``save_image``), written once per content hash."""
    try:
        import gem_core.render  # noqa: F401
    except ImportError:
        notes.append("gem_core.render.ecg_image is not available: rows have no images")
        return {}
    return {
        c: str(save_image(ecg, folder, layout).resolve())
        for c, ecg in _stored_ecgs(s, case_ids, notes, "no image")
    }


def write_signals(s: Session, case_ids: set[int], folder: Path, notes: list[str]) -> dict[int, str]:
    """One ``.npy`` per case (``save_signal``), written once per content hash."""
    return {
        c: str(save_signal(ecg, folder).resolve())
        for c, ecg in _stored_ecgs(s, case_ids, notes, "its rows have no ecg")
    }


def _relative(paths: dict[int, str], root: Path | None) -> dict[int, str]:
    if root is None:
        return paths
    root = Path(root).resolve()
    return {c: Path(os.path.relpath(p, root)).as_posix() for c, p in paths.items()}


# ------------------------------------------------------------------------------------------------- writers


def _messages(role: str, content: str) -> list[dict]:
    return [{"role": role, "content": content}]


def _media(case_id: int, images: dict[int, str] | None, signals: dict[int, str] | None) -> dict:
    out: dict = {}
    if images is not None:
        out["images"] = [images[case_id]] if case_id in images else []
    if signals is not None:
        out["ecg"] = signals.get(case_id)  # null: the store kept no samples for this case
    return out


def dpo_rows(
    data: Data,
    pairs: list[dict],
    images: dict[int, str] | None,
    metric_name: str,
    signals: dict[int, str] | None = None,
) -> list[dict]:
    rows = []
    for p in pairs:
        chosen, rejected = data.interps[p["chosen"]], data.interps[p["rejected"]]
        row = {
            "version": ROW_VERSION,
            "prompt": _messages("user", chosen.question),
            "chosen": _messages("assistant", chosen.text),
            "rejected": _messages("assistant", rejected.text),
        }
        row |= _media(chosen.case_id, images, signals)
        row |= {
            "case": data.cases.get(chosen.case_id, ""),
            "chosen_model": chosen.model,
            "rejected_model": rejected.model,
            "raters": p["raters"],
            "margin": p["margin"],
            "source": p["source"],
            "metric": metric_name if p["source"] == "rating" else "preference",
        }
        rows.append(row)
    return rows


def kto_scores(
    data: Data, metric_name: str = "overall_satisfaction", desirable: float = 4.0, undesirable: float = 2.0
) -> list[tuple[int, float, list[str]]]:
    """(interpretation id, mean score, raters) of each interpretation outside (undesirable, desirable)."""
    if undesirable >= desirable:
        raise GemError("the undesirable threshold must be below the desirable one")
    col = 3 + METRIC_NAMES.index(metric(metric_name).name)
    scores: dict[int, list[int]] = defaultdict(list)
    raters: dict[int, list[str]] = defaultdict(list)
    for row in data.ratings:
        scores[row[2]].append(row[col])
        raters[row[2]].append(row[1])
    kept = []
    for interp_id in sorted(scores):
        mean = sum(scores[interp_id]) / len(scores[interp_id])
        if not undesirable < mean < desirable:
            kept.append((interp_id, mean, sorted(raters[interp_id])))
    return kept


def kto_rows(
    data: Data,
    metric_name: str = "overall_satisfaction",
    desirable: float = 4.0,
    undesirable: float = 2.0,
    images: dict[int, str] | None = None,
    signals: dict[int, str] | None = None,
) -> list[dict]:
    """``{prompt, completion, label}`` per interpretation: mean >= desirable is True, <= undesirable False."""
    rows = []
    for interp_id, mean, raters in kto_scores(data, metric_name, desirable, undesirable):
        it = data.interps[interp_id]
        row = {
            "version": ROW_VERSION,
            "prompt": _messages("user", it.question),
            "completion": _messages("assistant", it.text),
            "label": mean >= desirable,
        }
        row |= _media(it.case_id, images, signals)
        row |= {
            "case": data.cases.get(it.case_id, ""),
            "model": it.model,
            "mean_score": round(mean, 4),
            "raters": raters,
        }
        rows.append(row)
    return rows


def private_file(path: Path, newline: str | None = None):
    """Open ``path`` for writing text, readable by its owner only (0600): exports hold rater comments."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file of the same name keeps its mode otherwise
    return os.fdopen(fd, "w", encoding="utf-8", newline=newline)


def identical_notes(choices: int, gaps: int) -> list[str]:
    """What an export left out because both answers had the same text.

    >>> identical_notes(2, 1)
    ['left out 2 A/B choices between identical texts', 'left out 1 rating gap between identical texts']
    """
    out = []
    if choices:
        out.append(f"left out {choices} A/B choice{'s' if choices != 1 else ''} between identical texts")
    if gaps:
        out.append(f"left out {gaps} rating gap{'s' if gaps != 1 else ''} between identical texts")
    return out


def hf_dataset(rows: list[dict], image_root: Path | None = None):
    """DPO rows as a ``datasets.Dataset`` whose ``images`` column is a list of ``datasets.Image()``: the
    PNG bytes travel inside the dataset (``save_to_disk``, ``push_to_hub``), not only their paths.
    Relative image paths are read from ``image_root``."""
    import datasets

    if not rows or "images" not in rows[0]:
        return datasets.Dataset.from_list(rows)
    root = Path(image_root) if image_root is not None else Path()
    features = datasets.Dataset.from_list(
        [{k: v for k, v in r.items() if k != "images"} for r in rows]
    ).features
    features["images"] = datasets.List(datasets.Image())
    embedded = [
        row | {"images": [{"bytes": (root / p).read_bytes(), "path": Path(p).name} for p in row["images"]]}
        for row in rows
    ]
    return datasets.Dataset.from_list(embedded, features=features)


def write_jsonl(rows: list[dict], out: Path) -> None:
    tmp = out.with_name(out.name + ".tmp")
    with private_file(tmp) as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    tmp.replace(out)  # readers never see half a file


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV injection: a spreadsheet evaluates these


def spreadsheet_safe(value):
    """A text cell a spreadsheet would read as a formula gets a leading apostrophe (OWASP); other
    values are unchanged (numbers stay numbers, negative ones too).

    >>> spreadsheet_safe("=1+2"), spreadsheet_safe("-1+2"), spreadsheet_safe(-1), spreadsheet_safe("ok")
    ("'=1+2", "'-1+2", -1, 'ok')
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(data: Data, out: Path) -> int:
    tmp = out.with_name(out.name + ".tmp")
    with private_file(tmp, newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["rating_id", "rater", "case", "interpretation_id", "model", "model_version", *RATING_COLUMNS[3:]]
        )
        for r in data.ratings:
            it = data.interps[r[2]]
            row = [r[0], r[1], data.cases.get(it.case_id, ""), r[2], it.model, it.model_version, *r[3:]]
            w.writerow([spreadsheet_safe(v) for v in row])
    tmp.replace(out)
    return len(data.ratings)


def export(
    s: Session,
    fmt: str,
    out: Path,
    *,
    metric_name: str = "overall_satisfaction",
    min_margin: float = 1.0,
    sources: str = "both",
    campaign: str | int | None = None,
    images: bool = True,
    signals: bool = True,
    image_layout: str = "12x1",
    image_root: Path | None = None,
    desirable: float = 4.0,
    undesirable: float = 2.0,
) -> ExportResult:
    """Write one export; returns ``ExportResult(path, rows, images, notes)``.

    DPO, KTO and HF rows name the case's rendered image (``<name>_images/``) and its signal
    (``<name>_ecg/``), both beside ``out``. Their paths are absolute, or relative to ``image_root`` when
    given (for an archive of the export and its folders that is read elsewhere, unpacked anywhere).
    """
    if fmt not in FORMATS:
        raise GemError(f"export format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    out = Path(out)
    if not out.parent.is_dir():
        raise GemError(f"folder {out.parent} does not exist; create it or choose another --out")
    data = load_data(s, campaign)
    notes: list[str] = []
    if fmt == "csv":
        return ExportResult(out, write_csv(data, out), 0, notes)
    if fmt == "kto":
        kept = kto_scores(data, metric_name, desirable, undesirable)
        case_ids = {data.interps[i].case_id for i, _, _ in kept}
    else:
        skipped: list = []
        pairs = dpo_pairs(data, metric_name, min_margin, sources, skipped)
        notes += identical_notes(data.identical_preferences if sources != "ratings" else 0, len(skipped))
        case_ids = {data.interps[p["chosen"]].case_id for p in pairs}
    image_paths = signal_paths = None
    if images:
        image_paths = render_images(s, case_ids, out.parent / f"{out.stem}_images", notes, image_layout)
        image_paths = _relative(image_paths, image_root)
        if not image_paths and case_ids:
            image_paths = None  # no renderer: leave the column out rather than write empty lists
    if signals:
        signal_paths = _relative(
            write_signals(s, case_ids, out.parent / f"{out.stem}_ecg", notes), image_root
        )
    if fmt == "kto":
        rows = kto_rows(data, metric_name, desirable, undesirable, image_paths, signal_paths)
    else:
        rows = dpo_rows(data, pairs, image_paths, metric_name, signal_paths)
    if fmt == "hf":
        hf_dataset(rows, image_root).save_to_disk(str(out))
    else:
        write_jsonl(rows, out)
    return ExportResult(out, len(rows), len(image_paths or {}), notes, len(signal_paths or {}))
