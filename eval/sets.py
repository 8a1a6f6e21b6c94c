"""Evaluation sets: the questions a run asks, with their gold answers.

Two kinds of set are read:

- GEM's and ECG-Bench's published evaluation files as they are: a JSON list, or JSONL, of records with
  ``id``, ``image``, ``ecg`` (a WFDB path without extension) and ``conversations``
  ``[{"from": "human", "value": "<image>\\n..."}, {"from": "gpt", "value": gold}]``. Relative
  ``ecg`` and ``image`` paths are resolved against ``--ecg-root`` / ``--image-root`` (default: the
  set file's folder).
- A folder of WFDB records whose headers carry ``Dx`` codes (PhysioNet/CinC Challenge 2020/21 format:
  SNOMED CT codes, or CPSC 2018's abbreviations). Each record becomes ECG-Bench's multi-label question
  over the CPSC 2018 label set, with the gold labels from the codes.

The task of a record is its ``task`` field when it has one, else read from the question and answer
(``infer_task``): multiple choice when the question lists lettered options, multi-label classification
when it lists options without letters, grounding for GEM's grounding question, report otherwise.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gem_core.errors import GemError
from gem_core.labels import CPSC_CLASSES, cpsc_from_snomed
from gem_core.prompts import DEFAULT_QUESTION

TASKS = ("classification", "mcq", "grounding", "report")
RECORD_FIELDS = ("id", "conversations")  # required; ``image``/``ecg`` optional (one of them is needed)
# A Challenge record counts as the CPSC class "Normal" when all its codes are sinus rhythm statements
# (sinus rhythm, bradycardia, tachycardia, arrhythmia): the challenge has no "normal ECG" code.
SINUS_CODES = frozenset({"426783006", "426177001", "427084000", "427393009"})


@dataclass
class Item:
    """One question of a set. ``gold``: label list (classification), option letter (mcq) or text."""

    id: str
    task: str
    question: str
    gold: object
    options: list[str] = field(default_factory=list)  # class names, or option texts in letter order
    ecg: str | None = None  # path of the record (WFDB without extension, or any loadable file)
    image: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EvalSet:
    """The items of a set, its format and a fingerprint (sha256 of the file or of the headers)."""

    path: str
    format: str
    items: list[Item]
    sha256: str
    label_set: str | None = None

    def describe(self) -> dict:
        tasks: dict[str, int] = {}
        for item in self.items:
            tasks[item.task] = tasks.get(item.task, 0) + 1
        return {
            "path": self.path,
            "format": self.format,
            "sha256": self.sha256,
            "n_items": len(self.items),
            "tasks": tasks,
            "label_set": self.label_set,
        }


# ---------------------------------------------------------------------------------------- questions
def classification_question(classes: list[str] | tuple[str, ...]) -> str:
    """ECG-Bench's multi-label question (the project's wording) over ``classes``."""
    return (
        "Which of the following diagnoses does this ECG show? Options: "
        + ", ".join(classes)
        + ". Choose every option that applies and answer with the option names only, separated by commas."
    )


_LETTERED = re.compile(r"^\s*\(?([A-J])[.):]\s+(.+?)\s*$", re.M)
_INLINE = re.compile(r"\(([A-J])\)\s*(.+?)(?=\s*\([A-J]\)|\s*$|\n)")
_OPTIONS_LIST = re.compile(r"options?\s*(?:are|include)?\s*:\s*(.+?)(?:\.\s|\.$|\n|$)", re.I | re.S)


def lettered_options(question: str) -> list[str]:
    """Option texts of a multiple-choice question (lines ``A. text``, ``(B) text``, ``C: text``), in order.

    >>> lettered_options("Which rhythm?\\nA. Sinus rhythm\\nB. Atrial fibrillation")
    ['Sinus rhythm', 'Atrial fibrillation']
    >>> lettered_options("Which rhythm? Options: (A) Sinus rhythm (B) Atrial fibrillation")
    ['Sinus rhythm', 'Atrial fibrillation']
    """
    found = _LETTERED.findall(question)
    if len(found) < 2:  # options on one line: "(A) Sinus rhythm (B) Atrial fibrillation"
        found = [(m.group(1), m.group(2).strip(" ,;")) for m in _INLINE.finditer(question)]
    letters = [letter for letter, _ in found]
    if len(found) < 2 or letters != [chr(ord("A") + i) for i in range(len(found))]:
        return []
    return [text for _, text in found]


def listed_options(question: str) -> list[str]:
    """Class names listed after ``Options:`` in a multi-label question (comma separated).

    >>> listed_options("Which apply? Options: NORM, MI, STTC, CD, HYP. Answer with names.")
    ['NORM', 'MI', 'STTC', 'CD', 'HYP']
    """
    m = _OPTIONS_LIST.search(question)
    if not m:
        return []
    names = [part.strip().strip(".") for part in re.split(r",|;", m.group(1))]
    names = [n for n in names if n]
    return names if len(names) >= 2 else []


def _strip_image_token(text: str) -> str:
    return text.replace("<image>", "").strip()


def infer_task(question: str, gold: str) -> str:
    """The task of a record without a ``task`` field (see the module docstring)."""
    if lettered_options(question):
        return "mcq"
    if listed_options(question):
        return "classification"
    if " ".join(question.split()) == " ".join(DEFAULT_QUESTION.split()) or "grounding" in question.lower():
        return "grounding"
    return "report"


def _split_gold_labels(gold: str, classes: list[str]) -> list[str]:
    lowered = {c.lower(): c for c in classes}
    parts = [p.strip().strip(".").lower() for p in re.split(r",|;|\n", gold)]
    return [lowered[p] for p in parts if p in lowered]


def _gold_letter(gold: str, options: list[str]) -> str:
    text = gold.strip()
    m = re.match(r"^\(?([A-J])\)?(?:[.):\s]|$)", text)
    if m:
        return m.group(1)
    for i, option in enumerate(options):
        if text.lower().strip(". ") == option.lower():
            return chr(ord("A") + i)
    return text


# --------------------------------------------------------------------------------------------- readers
def _read_records(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            data = json.loads(text)
        else:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise GemError(
            f"{path} is neither a JSON list nor JSONL of records ({err.msg} at line {err.lineno}); "
            f"expected records with fields {', '.join(RECORD_FIELDS)}, image and/or ecg"
        ) from None
    if isinstance(data, dict):
        data = [data]
    return data


def _resolve(value, root: Path) -> str | None:
    if not value:
        return None
    p = Path(str(value))
    return str(p if p.is_absolute() else root / p)


def load_records_set(path: Path, ecg_root: Path | None = None, image_root: Path | None = None) -> EvalSet:
    """A GEM/ECG-Bench JSON or JSONL file as items (see the module docstring)."""
    records = _read_records(path)
    ecg_root = ecg_root or path.parent
    image_root = image_root or path.parent
    items, seen = [], set()
    for n, rec in enumerate(records, start=1):
        if not isinstance(rec, dict) or any(k not in rec for k in RECORD_FIELDS):
            got = ", ".join(sorted(rec)) if isinstance(rec, dict) else type(rec).__name__
            raise GemError(
                f"record {n} of {path} is not in a known set format: expected fields "
                f"{', '.join(RECORD_FIELDS)} (plus image and/or ecg, optional task), got {got or 'nothing'}"
            )
        if not rec.get("ecg") and not rec.get("image"):
            raise GemError(f"record {n} ({rec['id']}) of {path} has neither an ecg nor an image path")
        turns = rec["conversations"]
        human = next((t["value"] for t in turns if isinstance(t, dict) and t.get("from") == "human"), None)
        gpt = next((t["value"] for t in turns if isinstance(t, dict) and t.get("from") == "gpt"), None)
        if human is None or gpt is None:
            raise GemError(
                f"record {n} ({rec['id']}) of {path}: conversations need a 'human' and a 'gpt' turn "
                "({'from': 'human'|'gpt', 'value': text})"
            )
        rid = str(rec["id"])
        if rid in seen:
            raise GemError(f"id {rid!r} appears twice in {path}; ids key the answers and must be unique")
        seen.add(rid)
        question = _strip_image_token(human)
        task = rec.get("task") or infer_task(question, gpt)
        if task not in TASKS:
            raise GemError(f"record {n} ({rid}): unknown task {task!r}; tasks are {', '.join(TASKS)}")
        options: list[str] = []
        gold: object = gpt
        if task == "mcq":
            options = lettered_options(question)
            gold = _gold_letter(gpt, options)
        elif task == "classification":
            options = listed_options(question)
            gold = _split_gold_labels(gpt, options)
        items.append(
            Item(
                id=rid,
                task=task,
                question=question,
                gold=gold,
                options=options,
                ecg=_resolve(rec.get("ecg"), ecg_root),
                image=_resolve(rec.get("image"), image_root),
            )
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return EvalSet(str(path), "records", items, digest)


def header_labels(hea: Path) -> tuple[list[str], str]:
    """The ``Dx`` labels of a WFDB header and their coding system, without reading the signal."""
    from gem_core.ecg_formats import parse_header_comments

    comments = [line for line in hea.read_text(encoding="latin-1").splitlines() if line.startswith("#")]
    metadata, _ = parse_header_comments(comments)
    return [str(x) for x in metadata.get("labels", [])], metadata.get("label_system", "")


def cpsc_gold(labels: list[str], system: str) -> list[str]:
    """The CPSC 2018 classes of a record's Dx labels (abbreviations, or SNOMED CT codes), in class order."""
    if system == "CPSC2018":
        found = {lab for lab in labels if lab in CPSC_CLASSES}
    else:
        found = cpsc_from_snomed(labels) - {"Normal"}
        if labels and set(labels) <= SINUS_CODES:
            found.add("Normal")
    return [c for c in CPSC_CLASSES if c in found]


def load_wfdb_set(folder: Path) -> EvalSet:
    """Every WFDB record with Dx codes under ``folder`` as ECG-Bench's CPSC multi-label question."""
    headers = sorted(folder.rglob("*.hea"))
    items, digest = [], hashlib.sha256()
    question = classification_question(CPSC_CLASSES)
    for hea in headers:
        labels, system = header_labels(hea)
        if not labels:
            continue  # no Dx line: not a labelled record
        rel = hea.relative_to(folder).with_suffix("")
        digest.update(f"{rel}:{','.join(labels)}\n".encode())
        items.append(
            Item(
                id=rel.as_posix(),
                task="classification",
                question=question,
                gold=cpsc_gold(labels, system),
                options=list(CPSC_CLASSES),
                ecg=str(hea.with_suffix("")),
            )
        )
    if not items:
        raise GemError(
            f"{folder} holds no WFDB header (.hea) with a Dx line; a WFDB set needs records in the "
            "PhysioNet Challenge format ('# Dx: 164889003,...' or CPSC '#Dx: AF')"
        )
    return EvalSet(str(folder), "wfdb", items, digest.hexdigest(), label_set="cpsc2018")


def load_set(
    spec: str | Path, ecg_root: str | Path | None = None, image_root: str | Path | None = None
) -> EvalSet:
    """The set at ``spec``: a folder of WFDB records, or a JSON/JSONL file of GEM/ECG-Bench records."""
    path = Path(spec).expanduser().resolve()
    if not path.exists():
        raise GemError(f"set {spec} does not exist; give a .json/.jsonl file or a folder of WFDB records")
    if path.is_dir():
        return load_wfdb_set(path)
    if path.suffix.lower() not in (".json", ".jsonl"):
        raise GemError(
            f"{path.name}: unknown set format; expected a folder of WFDB records, or a .json/.jsonl file "
            f"of records with fields {', '.join(RECORD_FIELDS)}, image and/or ecg"
        )
    return load_records_set(
        path,
        Path(ecg_root).expanduser() if ecg_root else None,
        Path(image_root).expanduser() if image_root else None,
    )
