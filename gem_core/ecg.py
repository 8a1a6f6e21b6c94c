"""ECG records: the ``ECG`` type every other module uses, loading from files, and model input.

An ``ECG`` is always a float32 array (12, N) in millivolts in the canonical lead order ``LEADS``,
with its sampling rate, record id, source metadata and a report of what loading did.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from gem_core.errors import GemError

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
MODEL_FS = 500
MODEL_SAMPLES = 5000  # 10 s at 500 Hz
MIN_FS, MAX_FS = 50.0, 20000.0  # plausible ECG sampling rates (Hz); outside this range is an error

_CANONICAL = {name.upper(): name for name in LEADS}


def canonical_lead(name: str) -> str | None:
    """Map a lead name in any common spelling (``AVR``, ``avr``, ``'V1 '``, ``lead II``) to ``LEADS``.

    Returns None for channels that are not one of the 12 standard leads (e.g. Frank ``vx``).

    >>> canonical_lead(" avl"), canonical_lead("Lead ii"), canonical_lead("vx")
    ('aVL', 'II', None)
    """
    key = name.strip().upper().replace(" ", "").replace("_", "")
    if key.startswith("LEAD"):
        key = key[4:]
    key = key.lstrip("-")
    return _CANONICAL.get(key)


@dataclass
class ECG:
    """A 12-lead ECG: ``signal`` (12, N) float32 mV in ``LEADS`` order, sampled at ``fs`` Hz."""

    signal: np.ndarray
    fs: float
    record_id: str = "ecg"
    metadata: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)

    def __post_init__(self):
        sig = np.asarray(self.signal, dtype=np.float32)
        if sig.ndim != 2 or sig.shape[0] != len(LEADS):
            raise GemError(f"an ECG signal must have shape (12, N); got {sig.shape}")
        if not np.isfinite(self.fs) or not (MIN_FS <= float(self.fs) <= MAX_FS):
            raise GemError(
                f"sampling rate {self.fs} Hz is not plausible for an ECG "
                f"(expected {MIN_FS:g}-{MAX_FS:g} Hz); give the right rate with fs=..."
            )
        self.signal = sig
        self.fs = float(self.fs)

    @property
    def leads(self) -> tuple[str, ...]:
        return LEADS

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.n_samples / self.fs

    def lead(self, name: str) -> np.ndarray:
        """The samples of one lead (any spelling); ``GemError`` for an unknown lead."""
        canon = canonical_lead(name)
        if canon is None:
            raise GemError(f"unknown lead {name!r}; leads are {', '.join(LEADS)}")
        return self.signal[LEADS.index(canon)]

    def times_ms(self) -> np.ndarray:
        return np.arange(self.n_samples, dtype=np.float64) * (1000.0 / self.fs)

    @cached_property
    def content_hash(self) -> str:
        """sha256 of the samples and the sampling rate: the identity of a recording (not of its name)."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.signal).tobytes())
        h.update(repr(self.fs).encode())
        return h.hexdigest()

    @classmethod
    def from_array(cls, signal, fs: float, leads=None, record_id: str = "ecg", **kwargs) -> ECG:
        """An ECG from an array (12, N) or (N, 12) in mV, reordering by ``leads`` names when given."""
        arr = np.asarray(signal, dtype=np.float32)
        if arr.ndim == 2 and arr.shape[0] != 12 and arr.shape[1] == 12:
            arr = arr.T
        if leads is not None:
            canon = [canonical_lead(str(n)) for n in leads]
            if sorted(c for c in canon if c) != sorted(LEADS):
                raise GemError(f"lead names {list(leads)} are not the 12 standard leads")
            arr = arr[[canon.index(name) for name in LEADS]]
        return cls(signal=arr, fs=fs, record_id=record_id, **kwargs)
