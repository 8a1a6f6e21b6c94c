"""Access to the project's other packages, each behind a guard.

The app only wires ``gem_core``, ``viewer`` and ``annotations`` together. Every function here
imports what it needs when called, so the app still starts when a piece is missing or broken and
the screen that needs it shows a clear message instead (``GemError``).
"""

from __future__ import annotations

import importlib
import logging

from gem_core.errors import GemError

log = logging.getLogger(__name__)


def need(module: str, name: str, what: str):
    """``module.name``, or a ``GemError`` saying which feature is not available in this install.

    >>> need("gem_core.prompts", "DEFAULT_QUESTION", "prompts")[:9]
    'Interpret'
    """
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        log.warning("%s unavailable: %s", what, exc)
        raise GemError(f"{what} is not available in this installation ({module}.{name}: {exc})") from None


def have(module: str, name: str) -> bool:
    """Whether ``module.name`` can be imported (used to hide controls of missing features)."""
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False
