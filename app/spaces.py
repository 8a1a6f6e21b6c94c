"""Hugging Face Spaces integration: the ``spaces.GPU`` decorator and OAuth, when running there.

>>> gpu_decorator(None)(len)("abc")
3
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable

GPU_DURATION_S = 120  # ZeroGPU allocation per generation; GEM's 1024 greedy tokens fit in it


def on_spaces() -> bool:
    """Whether the app runs on Hugging Face Spaces (``SPACE_ID`` is set there)."""
    return bool(os.environ.get("SPACE_ID"))


def oauth_enabled() -> bool:
    """Whether the Space has ``hf_oauth: true`` (Spaces then sets ``OAUTH_CLIENT_ID``)."""
    return on_spaces() and bool(os.environ.get("OAUTH_CLIENT_ID"))


def gpu_decorator(spaces_module=...) -> Callable:
    """``spaces.GPU(duration=...)`` when the ``spaces`` package is importable, else the identity.

    Generation handlers are wrapped with it so ZeroGPU Spaces attach a GPU only while generating.
    """
    if spaces_module is ...:
        spaces_module = _import_spaces()
    if spaces_module is None:
        return lambda fn: fn
    return spaces_module.GPU(duration=GPU_DURATION_S)


def _import_spaces():
    if importlib.util.find_spec("spaces") is None:
        return None
    import spaces

    return spaces
