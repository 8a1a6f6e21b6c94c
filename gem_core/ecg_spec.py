"""What a 12-lead ECG is here: the canonical lead names and order, and the limits every reader checks.

A leaf module (it imports nothing of ours), so both ``gem_core.ecg`` and the file readers in
``gem_core.ecg_formats`` can use it without importing each other.
"""

from __future__ import annotations

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
BASE_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")  # enough to derive the other four
MODEL_FS = 500
MODEL_SAMPLES = 5000  # 10 s at 500 Hz
MIN_FS, MAX_FS = 50.0, 20000.0  # plausible ECG sampling rates (Hz); outside this range is an error
MIN_DURATION_S = 1.0  # shorter input is rejected (shorter than a beat or two); up to 10 s is zero-padded
DEFAULT_FS = 500.0  # assumed for arrays/CSV that do not state their rate (the report warns)

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


# Millivolts per unit, by the unit names files write (lower case).
UNIT_SCALE = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "microvolt": 1e-3, "v": 1e3, "millivolt": 1.0}
