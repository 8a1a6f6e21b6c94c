"""Size limits on what an ECG file expands to, checked from its header before anything is allocated.

A compressed or lying file can declare far more data than it occupies (a 3 MB ``.npz`` whose ``.npy``
header says (12, 62,500,000) float32 inflates to 3 GB). Every loader reads the declared shape first
(a ``.npy`` header, a WFDB record line, a CSV's first line, an XML/DICOM/HDF5 header) and calls
``check_declared_size`` before it reads the samples. The caps are settings (``GEM_MAX_RECORD_S``,
``GEM_MAX_SAMPLES``, ``GEM_MAX_CHANNELS``, ``GEM_MAX_ZIP_MEMBERS``); a file past one is refused with a
``GemError`` that says which cap and how to raise it.

>>> check_declared_size(12, 5000, 500.0, "rec.npy")  # a 10 s record: fine
>>> check_declared_size(12, 62_500_000, None, "bomb.npz")
Traceback (most recent call last):
...
gem_core.errors.GemError: bomb.npz declares 62500000 samples per channel, above the limit of 2000000 (GEM_MAX_SAMPLES); send a shorter record (nothing was loaded)
"""

from __future__ import annotations

from gem_core.errors import GemError
from gem_core.settings import Settings, get_settings


def check_declared_size(
    n_leads: int,
    n_samples: int | None,
    fs: float | None,
    what: str,
    settings: Settings | None = None,
) -> None:
    """``GemError`` when ``n_leads`` channels of ``n_samples`` samples at ``fs`` Hz exceed the caps.

    ``n_samples`` None: the header does not say (only the channel count is checked); ``fs`` None:
    the rate is unknown (the duration is then checked at the default 500 Hz, the rate loaders assume).
    ``what`` names the file in the message. Cheap: call it before reading samples, and again on
    anything read (the last line of defence for formats whose header cannot be trusted).
    """
    s = settings or get_settings()
    n_leads = int(n_leads)
    if n_leads > s.max_channels:
        raise GemError(
            f"{what} declares {n_leads} channels, above the limit of {s.max_channels} (GEM_MAX_CHANNELS); "
            "an ECG file has 8 to 15 leads (nothing was loaded)"
        )
    if n_samples is None:
        return
    n_samples = int(n_samples)
    if n_samples > s.max_samples:
        raise GemError(
            f"{what} declares {n_samples} samples per channel, above the limit of {s.max_samples} "
            "(GEM_MAX_SAMPLES); send a shorter record (nothing was loaded)"
        )
    rate = float(fs) if fs else 500.0
    if rate > 0 and n_samples / rate > s.max_record_s:
        raise GemError(
            f"{what} declares {n_samples / rate:.0f} s of signal ({n_samples} samples at {rate:g} Hz), "
            f"above the limit of {s.max_record_s:g} s (GEM_MAX_RECORD_S); send a shorter record "
            "(nothing was loaded)"
        )


def check_member_count(n_members: int, what: str, settings: Settings | None = None) -> None:
    """``GemError`` when an archive (``.zip``, ``.npz``) lists more entries than ``GEM_MAX_ZIP_MEMBERS``."""
    s = settings or get_settings()
    if n_members > s.max_zip_members:
        raise GemError(
            f"{what} lists {n_members} entries, above the limit of {s.max_zip_members} "
            "(GEM_MAX_ZIP_MEMBERS); zip only the records to load (nothing was extracted)"
        )
