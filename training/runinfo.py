"""What a training step ran with: the config file each step writes beside its output."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from gem_core.provenance import project_commit


def git_commit() -> str | None:
    """The checkout's commit (with ``+dirty`` when files differ from it), or None outside a git checkout."""
    state = project_commit()
    if state["commit"] is None:
        return None
    return state["commit"] + ("+dirty" if state["dirty"] else "")


def write_config(path: Path, step: str, settings: dict, results: dict | None = None) -> Path:
    """Write ``{"step", "settings", "results", "commit", "python", "argv", "finished_at"}`` to ``path``."""
    record = {
        "step": step,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in settings.items()},
        "results": results or {},
        "commit": git_commit(),
        "python": sys.version.split()[0],
        "argv": sys.argv,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
