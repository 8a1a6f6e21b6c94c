"""Sample ECGs for the app's gallery, tests and benchmarks.

The offline default is a set of deterministic synthetic 12-lead ECGs simulated with neurokit2.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from gem_core.ecg import ECG, LEADS

SYNTHETIC_RATES = (45, 60, 75, 100, 120, 150)


@lru_cache(maxsize=32)
def _simulate(heart_rate: int, duration_s: float, fs: int, seed: int, noise: float) -> np.ndarray:
    import neurokit2 as nk

    df = nk.ecg_simulate(
        duration=duration_s,
        sampling_rate=fs,
        heart_rate=heart_rate,
        noise=noise,
        method="multileads",
        random_state=seed,
    )
    return df[list(LEADS)].to_numpy(dtype=np.float32).T.copy()


def synthetic_ecg(
    heart_rate: int = 75, duration_s: float = 10.0, fs: int = 500, seed: int = 0, noise: float = 0.01
) -> ECG:
    """A deterministic simulated 12-lead ECG (neurokit2 ``multileads``) at a known heart rate."""
    sig = _simulate(int(heart_rate), float(duration_s), int(fs), int(seed), float(noise))
    return ECG(
        signal=sig.copy(),
        fs=fs,
        record_id=f"synthetic-{heart_rate}bpm",
        metadata={"source": "neurokit2.ecg_simulate (multileads)", "heart_rate_bpm": heart_rate},
        report={
            "source_format": "synthetic",
            "fs_original": fs,
            "len_original": sig.shape[1],
            "original_leads": list(LEADS),
            "derived_leads": [],
            "dropped_channels": [],
            "nan_count": 0,
            "warnings": [],
        },
    )
