"""Interpretation backends: one ``Interpreter`` protocol, three implementations.

- ``measure``: the built-in measurement-based interpreter (rule-based, not GEM); the offline default.
- ``gem``: the local GEM model (``gem_core.model``), when ``GEM_MODEL`` and ``GEM_ECG_TOWER`` are set.
- ``openai``: any OpenAI-compatible chat-completions server, when ``GEM_OPENAI_BASE_URL`` is set.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

from gem_core.ecg import ECG
from gem_core.errors import GemError
from gem_core.settings import Settings


@dataclass(frozen=True)
class GenerationParams:
    """Decoding settings. Defaults are GEM's evaluation decoding: greedy, up to 1024 new tokens."""

    max_new_tokens: int = 1024
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class Interpreter(Protocol):
    """Streams an interpretation of an ECG as text chunks; stops early when ``stop`` is set."""

    name: str  # "measure" | "gem" | "openai"
    label: str  # what the UI shows, e.g. "measurement-based interpreter (rule-based, not GEM)"
    is_gem: bool
    device: str  # "cpu", "cuda:0", or the server URL for remote backends

    def stream(
        self,
        ecg: ECG,
        question: str,
        params: GenerationParams | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[str]: ...


def available_backends(settings: Settings) -> list[str]:
    """Names of the backends this deployment can offer, default first."""
    names = ["measure"]
    if settings.model and settings.ecg_tower:
        names.append("gem")
    if settings.openai_base_url:
        names.append("openai")
    return names


def get_backend(name: str, settings: Settings, progress=None) -> Interpreter:
    """Build the named backend from settings; ``GemError`` if it is unknown or not configured.

    ``progress`` (a callable taking one message) hears the steps of loading GEM's weights.
    """
    if name == "measure":
        from gem_core.backends.measure import MeasureInterpreter

        return MeasureInterpreter()
    if name == "gem":
        if not settings.model:
            raise GemError("the gem backend needs GEM_MODEL (a path or hub id such as LANSG/GEM)")
        from gem_core.backends.gem import GemInterpreter

        return GemInterpreter.from_settings(settings, progress=progress)
    if name == "openai":
        if not settings.openai_base_url:
            raise GemError("the openai backend needs GEM_OPENAI_BASE_URL (e.g. http://127.0.0.1:8000/v1)")
        from gem_core.backends.openai_compat import OpenAIInterpreter

        return OpenAIInterpreter.from_settings(settings)
    raise GemError(f"unknown backend {name!r}; choose one of measure, gem, openai")
