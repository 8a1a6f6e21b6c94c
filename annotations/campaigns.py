"""Reading campaign files: JSONL lines ``{case: path or sample id, interpretations: [{model, text}]}``.

Cases are loaded with the project's loaders (``gem_core.ecg.load_ecg`` for files, ``gem_core.samples``
for sample ids); this module only parses and checks the lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from gem_core.ecg import ECG
from gem_core.errors import GemError


def resolve_case(ref: str, base_dir: Path | None = None) -> ECG:
    """The ECG a campaign line names: an existing file (relative to ``base_dir``), else a sample id."""
    from gem_core.ecg import load_ecg

    ref = str(ref).strip()
    if not ref:
        raise GemError("a campaign line has an empty case; give a file path or a sample id")
    path = Path(ref).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if path.exists():
        return load_ecg(path)
    return _sample(ref)


def _sample(sample_id: str) -> ECG:
    from gem_core.samples import load_sample

    try:
        return load_sample(sample_id)
    except GemError as err:
        raise GemError(f"case {sample_id!r} is not an existing file, and as a sample id: {err}") from None


def _lines(source: str | Path | Iterable[str]) -> tuple[list[str], Path | None, str]:
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise GemError(f"campaign file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        return text.splitlines(), path.parent, path.name
    lines = [str(line).rstrip("\n") for line in source]
    return lines, None, "<lines>"


def _check_item(obj, where: str, kind: str) -> dict:
    if not isinstance(obj, dict):
        raise GemError(f"{where}: each line must be a JSON object with 'case' and 'interpretations'")
    if not isinstance(obj.get("case"), str) or not obj["case"].strip():
        raise GemError(f"{where}: 'case' must be a file path or a sample id (a string)")
    interps = obj.get("interpretations")
    if not isinstance(interps, list) or not interps:
        raise GemError(f"{where}: 'interpretations' must be a non-empty list of {{model, text}}")
    for j, it in enumerate(interps, start=1):
        if not isinstance(it, dict) or not isinstance(it.get("model"), str) or not it["model"].strip():
            raise GemError(f"{where}: interpretation {j} needs a 'model' name")
        if not isinstance(it.get("text"), str) or not it["text"].strip():
            raise GemError(f"{where}: interpretation {j} needs a non-empty 'text'")
    if kind == "compare" and len(interps) != 2:
        raise GemError(
            f"{where}: a compare campaign needs exactly 2 interpretations per case; got {len(interps)}"
        )
    return obj


def parse_campaign_lines(
    source: str | Path | Iterable[str],
    kind: str = "rate",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[dict], str]:
    """Check every line and load every case; return ``(items, text)``.

    Each item is the line's object plus ``ecg`` (the loaded ``ECG``) and ``source`` (the reference as
    written). Errors name the file and line. ``progress(done, total)`` is called after each case.
    """
    lines, base, name = _lines(source)
    numbered = [(i, line) for i, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        raise GemError(f"{name} has no campaign lines")
    items = []
    for count, (lineno, line) in enumerate(numbered, start=1):
        where = f"{name}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise GemError(f"{where}: not valid JSON ({err.msg})") from None
        item = dict(_check_item(obj, where, kind))
        try:
            item["ecg"] = resolve_case(item["case"], base)
        except GemError as err:
            raise GemError(f"{where}: {err}") from None
        item["source"] = item["case"]
        items.append(item)
        if progress is not None:
            progress(count, len(numbered))
    return items, "\n".join(line for _, line in numbered)
