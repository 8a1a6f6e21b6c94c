"""Modules that others build on import no more than they need: no import circles between them.

Two views: the static import graph (every ``import``, also those inside functions, which is where a
circle hides) and what a fresh interpreter really loads.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def loaded_after(module: str) -> set[str]:
    """Our modules (gem_core, annotations, ...) in ``sys.modules`` after importing ``module`` alone."""
    code = (
        f"import json, sys; import {module}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('gem_core', 'annotations', 'viewer', 'app', 'training', 'eval'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(out.stdout))


@pytest.mark.parametrize(
    ("module", "must_not_load"),
    [
        # training reads exports: it must not pull in the store (accounts, campaigns, migrations)
        ("annotations.exports", {"annotations.store", "annotations.summary", "annotations.db"}),
        ("annotations.summary", {"annotations.store"}),
        ("annotations.signal_codec", {"annotations.store", "annotations.exports"}),
        # the file readers know files; the ECG type and its checks sit above them
        ("gem_core.ecg_formats", {"gem_core.ecg"}),
        ("gem_core.ecg_spec", {"gem_core.ecg", "gem_core.ecg_formats", "gem_core.settings"}),
        # training reads exports, never the ratings store itself
        ("training.pairs", {"annotations.store", "annotations.db"}),
        ("training.preference", {"annotations.store", "annotations.db"}),
    ],
)
def test_module_does_not_load(module, must_not_load):
    loaded = loaded_after(module)
    assert module in loaded
    assert not (loaded & must_not_load), f"{module} loads {sorted(loaded & must_not_load)}"


def test_leaf_modules_import_nothing_of_ours():
    assert loaded_after("gem_core.ecg_spec") == {"gem_core", "gem_core.ecg_spec"}
    # the codec needs gem_core.ecg, and gem_core.ecg its file readers (gem_core.formats.*) and size limits
    codec = loaded_after("annotations.signal_codec")
    assert {m for m in codec if not m.startswith("gem_core.formats.")} <= {
        "annotations",
        "annotations.signal_codec",
        "gem_core",
        "gem_core.ecg",
        "gem_core.ecg_formats",
        "gem_core.ecg_spec",
        "gem_core.errors",
        "gem_core.formats",
        "gem_core.limits",
        "gem_core.settings",
    }


def test_moved_names_are_the_same_objects():
    """The names other code imported from their old homes still resolve to the one definition."""
    from annotations import exports, signal_codec, store
    from gem_core import ecg, ecg_formats, ecg_spec

    assert store.ExportResult is exports.ExportResult
    assert store.ecg_from_bytes is signal_codec.ecg_from_bytes
    assert ecg.LEADS is ecg_spec.LEADS is ecg_formats.LEADS
    assert ecg.canonical_lead is ecg_spec.canonical_lead


def import_graph(packages: tuple[str, ...]) -> dict[str, set[str]]:
    """module -> our modules it imports anywhere in its source (top level or inside functions)."""
    files = {}
    for pkg in packages:
        for f in (ROOT / pkg).rglob("*.py"):
            name = ".".join(f.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            files[name] = f
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, f in files.items():
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in files and t != name}
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


@pytest.mark.parametrize(
    "module",
    [
        "annotations.store",
        "annotations.exports",
        "annotations.summary",
        "annotations.signal_codec",
        "gem_core.ecg",
        "gem_core.ecg_formats",
        "gem_core.ecg_spec",
    ],
)
def test_no_import_circle_through(module):
    graph = import_graph(("gem_core", "annotations"))
    assert module in graph
    back = sorted(m for m in reachable(graph, module) if module in reachable(graph, m))
    assert not back, f"{module} imports {back}, which import it back"


def test_graph_sees_imports_inside_functions():
    """The static graph counts a function-level import (how the old circles were written)."""
    graph = import_graph(("gem_core", "annotations"))
    assert "gem_core.render" in graph["annotations.exports"]  # imported inside render_images
