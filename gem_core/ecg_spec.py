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
LIMB_ELECTRODES = ("RA", "LA", "LL")


def limb_electrode_leads(electrode: str, wave) -> list:
    """What a potential ``wave`` on one limb electrode ("RA", "LA" or "LL") adds to each of ``LEADS``: the
    limb leads by their wiring (I = LA - RA, II = LL - RA, III = LL - LA, the augmented leads against the
    mean of the other two), and every chest lead minus a third of it (each is read against the central
    terminal, the mean of the three limb electrodes). A list of 12 of what ``wave`` is (array or number).

    >>> limb_electrode_leads("LA", 3.0)
    [3.0, 0.0, -3.0, -1.5, 3.0, -1.5, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0]
    """
    if electrode not in LIMB_ELECTRODES:
        raise ValueError(f"a limb electrode is one of {LIMB_ELECTRODES}, not {electrode!r}")
    ra, la, ll = (wave if electrode == name else 0.0 * wave for name in LIMB_ELECTRODES)
    limb = [la - ra, ll - ra, ll - la, ra - (la + ll) / 2, la - (ra + ll) / 2, ll - (ra + la) / 2]
    return limb + [-(ra + la + ll) / 3.0] * 6


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
