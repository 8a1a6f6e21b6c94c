"""How the store keeps a case's samples: a compressed ``.npz`` blob (signal and sampling rate).

A leaf module (it imports only ``gem_core.ecg``), shared by the store that writes the blobs and the
exports that read them, so neither imports the other for it.
"""

from __future__ import annotations

import io

import numpy as np

from gem_core.ecg import ECG


def signal_bytes(ecg: ECG) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, signal=ecg.signal, fs=np.float64(ecg.fs))
    return buf.getvalue()


def ecg_from_bytes(blob: bytes, record_id: str = "ecg") -> ECG:
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        return ECG(signal=z["signal"], fs=float(z["fs"]), record_id=record_id)
