"""``eval run``: ask a backend every question of a set and keep the answers, resumably.

Generation and scoring are separate steps (as in lm-evaluation-harness): a run writes, in its folder,

- ``answers.jsonl``: one JSON object per line, keyed by ``id``: ``{id, task, answer, seconds, error,
  missing}``; ``answer`` is the backend's whole text, ``error`` is set (and ``answer`` null) when the
  item could not be asked, ``missing`` lists the ECG/image files the set names that do not exist;
- ``run.json``: backend, model id and version, decoding settings, the set (path, format, sha256, tasks),
  the project's commit, start and end times and counts.

A rerun with the same set and backend continues where the last one stopped: answered ids are skipped,
items that failed are asked again, and the file is compacted first, so it holds each id once. The
backend is the app's own code path: ``gem_core.backends.get_backend`` and its ``stream``.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path

from eval.sets import EvalSet, Item, load_set
from gem_core.backends import GenerationParams, Interpreter, get_backend
from gem_core.errors import GemError
from gem_core.provenance import project_commit
from gem_core.settings import Settings, get_settings

ANSWERS = "answers.jsonl"
RUN_JSON = "run.json"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def file_exists(path: str | None) -> bool:
    """A record path exists: the file itself, or its WFDB header for an extension-less path."""
    if not path:
        return False
    p = Path(path)
    return p.is_file() or Path(str(p) + ".hea").is_file()


# -------------------------------------------------------------------------------------------- answers
def read_answers(path: Path) -> dict[str, dict]:
    """Answers by id (the last line of an id wins); a torn last line (a killed run) is ignored."""
    out: dict[str, dict] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # only a run killed mid-write leaves one; the item is asked again
        if isinstance(rec, dict) and "id" in rec:
            out[str(rec["id"])] = rec
    return out


def compact(path: Path, keep: dict[str, dict]) -> None:
    """Rewrite the answers file with ``keep`` only (atomically: a temp file renamed over it)."""
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for rec in keep.values():
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------- asking
def _takes_image(backend) -> bool:
    try:
        return "image" in inspect.signature(backend.stream).parameters
    except (TypeError, ValueError):
        return False


def ask(backend: Interpreter, item: Item, params: GenerationParams, settings: Settings) -> dict:
    """One item's answer record; input problems (missing or unreadable files) become ``error``."""
    from gem_core.ecg import load_ecg

    began = time.perf_counter()
    rec = {"id": item.id, "task": item.task, "answer": None, "seconds": None, "error": None, "missing": []}
    uses_image = _takes_image(backend)
    if item.image and uses_image and not Path(item.image).is_file():
        rec["missing"].append(f"image: {item.image}")
    if not file_exists(item.ecg):
        rec["missing"].append(f"ecg: {item.ecg}" if item.ecg else "ecg: (none given)")
        rec["error"] = "no ECG signal: the backends read the signal (and render the image from it)"
        return rec
    try:
        ecg = load_ecg(item.ecg, settings=settings)
    except GemError as err:
        rec["error"] = f"ECG not readable: {err}"
        return rec
    kwargs = {}
    if uses_image and item.image and Path(item.image).is_file():
        from PIL import Image

        with Image.open(item.image) as im:
            kwargs["image"] = im.convert("RGB")
    text = "".join(backend.stream(ecg, item.question, params, threading.Event(), **kwargs))
    rec["answer"] = text
    rec["seconds"] = round(time.perf_counter() - began, 4)
    return rec


# ---------------------------------------------------------------------------------------------- runs
def _model_info(backend, backend_name: str, settings: Settings) -> dict:
    info = {
        "label": getattr(backend, "label", backend_name),
        "is_gem": bool(getattr(backend, "is_gem", False)),
    }
    if backend_name == "gem":
        info["model"] = settings.model
        info["ecg_tower"] = settings.ecg_tower
        config = Path(settings.model) / "config.json"
        if config.is_file():  # a local checkpoint: its config's hash stands for the version
            import hashlib

            info["version"] = "config sha256 " + hashlib.sha256(config.read_bytes()).hexdigest()[:16]
        else:
            info["version"] = "hub id (latest revision at load time)"
    elif backend_name == "openai":
        info["model"] = getattr(backend, "model", settings.openai_model)
        info["base_url"] = getattr(backend, "base_url", settings.openai_base_url)
        info["version"] = "as served"
    else:
        info["model"] = "measure"
        info["version"] = "the project's commit (rule-based)"
    return info


def _check_same_run(old: dict, new: dict, out: Path) -> None:
    for key, what in (("set", "set"), ("backend", "backend"), ("model", "model")):
        a, b = old.get(key), new.get(key)
        if key == "set":
            a, b = (a or {}).get("sha256"), (b or {}).get("sha256")
        elif key == "model":
            a, b = (a or {}).get("model"), (b or {}).get("model")
        if a != b:
            raise GemError(
                f"{out} holds a run with another {what} ({a} vs {b}); choose a new --out folder "
                "so answers of different runs are not mixed"
            )


def run(
    set_spec: str | Path,
    out: str | Path,
    backend_name: str = "measure",
    *,
    model: str | None = None,
    limit: int | None = None,
    concurrency: int = 1,
    ecg_root: str | Path | None = None,
    image_root: str | Path | None = None,
    params: GenerationParams | None = None,
    settings: Settings | None = None,
    backend: Interpreter | None = None,
    progress: bool = True,
    eval_set: EvalSet | None = None,
) -> dict:
    """Ask every (remaining) item of the set; returns the final ``run.json`` contents."""
    if concurrency < 1:
        raise GemError(f"--concurrency must be at least 1, got {concurrency}")
    if limit is not None and limit < 1:
        raise GemError(f"--limit must be at least 1, got {limit}")
    overrides = {}
    if model and backend_name == "gem":
        overrides["model"] = model
    if model and backend_name == "openai":
        overrides["openai_model"] = model
    settings = settings or get_settings(**overrides)
    eval_set = eval_set or load_set(set_spec, ecg_root, image_root)
    items = eval_set.items[:limit] if limit else eval_set.items
    params = params or GenerationParams(max_new_tokens=settings.max_new_tokens)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    backend = backend or get_backend(backend_name, settings)
    meta = {
        "backend": backend_name,
        "model": _model_info(backend, backend_name, settings),
        "decoding": params.to_dict() | {"greedy": params.temperature == 0},
        "set": eval_set.describe()
        | {
            "limit": limit,
            "ecg_root": str(Path(ecg_root).resolve()) if ecg_root else None,
            "image_root": str(Path(image_root).resolve()) if image_root else None,
        },
        "concurrency": concurrency if backend_name == "openai" else 1,
        **project_commit(),
        "argv": sys.argv[1:],
    }
    run_json = out / RUN_JSON
    old = json.loads(run_json.read_text()) if run_json.exists() else None
    if old:
        _check_same_run(old, meta, out)
    meta["started"] = (old or {}).get("started") or now()
    meta["resumed"] = ((old or {}).get("resumed") or 0) + (1 if old else 0)
    meta["status"] = "running"
    _write_json(run_json, meta)

    answers_path = out / ANSWERS
    done = {k: v for k, v in read_answers(answers_path).items() if v.get("error") is None}
    compact(answers_path, done)  # failed items are asked again; the file then holds each id once
    todo = [it for it in items if it.id not in done]
    workers = meta["concurrency"]
    bar = _bar(len(items), len(items) - len(todo), progress)
    began = time.perf_counter()
    try:
        with answers_path.open("a", encoding="utf-8") as fh:

            def write(rec: dict) -> None:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                fh.flush()
                bar.update(1)

            if workers == 1:
                for item in todo:
                    write(ask(backend, item, params, settings))
            else:
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eval-ask") as pool:
                    futures = [pool.submit(ask, backend, it, params, settings) for it in todo]
                    try:
                        for fut in as_completed(futures):
                            write(fut.result())
                    except BaseException:
                        for f in futures:
                            f.cancel()
                        raise
    except GemError as err:
        meta["status"] = "stopped"
        meta["stopped_because"] = str(err)
        _write_json(run_json, meta | {"updated": now()})
        raise GemError(f"{err} (the answers so far are kept in {answers_path}; rerun to continue)") from err
    finally:
        bar.close()
    answers = read_answers(answers_path)
    meta.update(_counts(items, answers))
    meta["seconds_this_session"] = round(time.perf_counter() - began, 3)
    meta["finished"] = now()
    meta["status"] = "complete"
    _write_json(run_json, meta)
    return meta


def _counts(items: list[Item], answers: dict[str, dict]) -> dict:
    ids = [it.id for it in items]
    recs = [answers[i] for i in ids if i in answers]
    return {
        "n_items": len(ids),
        "n_answered": sum(r.get("error") is None for r in recs),
        "n_failed": sum(r.get("error") is not None for r in recs),
        "n_missing_files": sum(bool(r.get("missing")) for r in recs),
    }


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, initial: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="asking", unit="item", file=sys.stderr, dynamic_ncols=True)
