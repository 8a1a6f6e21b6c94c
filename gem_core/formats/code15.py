"""CODE-15% HDF5 (Ribeiro et al.): ``tracings`` (N, 4096, 12) at 400 Hz with ``exam_id`` (N,).

One file holds many exams; ``exam_ids`` lists them and ``read_code15`` reads one (the first by
default) without loading the others. The dataset centres 7-10 s recordings in 4096 samples with zeros
at both ends: the zero runs are trimmed. Leads are stored in the order I, II, III, aVR, aVL, aVF,
V1-V6, in millivolts. A row with exam id 0 and no signal (the filler row at the end of each CODE-15%
part) is not offered.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gem_core.ecg_formats import RawRecord
from gem_core.errors import GemError
from gem_core.limits import check_declared_size, check_member_count
from gem_core.settings import Settings

FS = 400.0
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
EXPECTED = "a CODE-15% HDF5 file with 'tracings' (N, 4096, 12) at 400 Hz and 'exam_id' (N,)"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


def _open(path: Path):
    import h5py

    if not is_hdf5(path):
        raise GemError(f"{path.name} is not an HDF5 file; expected {EXPECTED}")
    return h5py.File(path, "r")


def _tracings(f, path: Path):
    import h5py

    node = f.get("tracings")
    if not isinstance(node, h5py.Dataset):
        found = ", ".join(sorted(f.keys())[:10]) or "nothing"
        raise GemError(f"{path.name} has no 'tracings' dataset (it holds: {found}); expected {EXPECTED}")
    shape = node.shape
    if len(shape) != 3 or shape[2] != 12 or node.dtype.kind not in "iuf":
        raise GemError(f"{path.name}: 'tracings' is {node.dtype} {shape}; expected {EXPECTED}")
    return node


def _ids(f, n: int, path: Path) -> list[str]:
    import h5py

    node = f.get("exam_id")
    if not isinstance(node, h5py.Dataset):
        return [str(i) for i in range(n)]  # a file without exam ids: rows are named by position
    if node.shape != (n,) or node.dtype.kind not in "iu":
        raise GemError(f"{path.name}: 'exam_id' is {node.dtype} {node.shape}; expected {n} integer exam ids")
    return [str(int(x)) for x in node[()]]


# what h5py raises on a damaged file (a broken B-tree or heap, a bad filter); all mean the same to a user
_H5_ERRORS = (OSError, RuntimeError, ValueError, KeyError, TypeError, IndexError)


def _damaged(path: Path, err: Exception) -> GemError:
    detail = " ".join(str(err).split())[:120] or type(err).__name__
    return GemError(f"{path.name} is a damaged HDF5 file ({detail}); expected {EXPECTED}")


def exam_ids(path: Path, settings: Settings) -> list[str]:
    try:
        return _exam_ids(path)
    except _H5_ERRORS as err:
        raise _damaged(path, err) from None


def _exam_ids(path: Path) -> list[str]:
    """The exam ids in the file, in file order, without filler rows (exam id 0)."""
    with _open(path) as f:
        tracings = _tracings(f, path)
        ids = _ids(f, tracings.shape[0], path)
        named = "exam_id" in f
    return [i for i in ids if not (named and i == "0")]


def read_code15(path: Path, settings: Settings, exam: str | None = None) -> tuple[RawRecord, list[str]]:
    """One exam (``exam`` id; the first by default) as a ``RawRecord``, and the ids of the others."""
    try:
        return _read_code15(path, settings, exam)
    except _H5_ERRORS as err:
        raise _damaged(path, err) from None


def _read_code15(path: Path, settings: Settings, exam: str | None) -> tuple[RawRecord, list[str]]:
    with _open(path) as f:
        tracings = _tracings(f, path)
        ids = _ids(f, tracings.shape[0], path)
        check_declared_size(tracings.shape[2], tracings.shape[1], FS, path.name, settings)
        named = "exam_id" in f
        offered = [i for i in ids if not (named and i == "0")]
        if not offered:
            raise GemError(f"{path.name} holds no exams (only filler rows); expected {EXPECTED}")
        wanted = offered[0] if exam in (None, "") else str(exam).strip()
        if wanted not in ids:
            raise GemError(
                f"{path.name} has no exam {wanted!r}; it holds {len(offered)} exam(s), e.g. {', '.join(offered[:5])}"
            )
        row = ids.index(wanted)
        try:
            sig = np.asarray(tracings[row], dtype=np.float64).T  # (12, 4096)
        except (OSError, ValueError) as err:
            raise GemError(
                f"{path.name}: exam {wanted} cannot be read ({' '.join(str(err).split())[:120]})"
            ) from None
    trimmed, start, end = trim_zero_padding(sig)
    if trimmed.shape[1] == 0:
        raise GemError(f"{path.name}: exam {wanted} holds no signal (all zeros)")
    warnings = []
    if start or end < sig.shape[1]:
        warnings.append(
            f"trimmed CODE-15% zero padding: {start} samples at the start and {sig.shape[1] - end} at the end"
        )
    raw = RawRecord(
        signal=trimmed,
        names=list(LEADS),
        fs=FS,
        record_id=f"{path.stem}-{wanted}",
        source_format="code15-hdf5",
        units=["mV"] * 12,
        metadata={"dataset": "CODE-15%", "exam_id": wanted},
        warnings=warnings,
    )
    return raw, [i for i in offered if i != wanted]


def read_all(path: Path, settings: Settings) -> list[RawRecord]:
    """Every exam of the file (at most ``GEM_MAX_ZIP_MEMBERS``)."""
    ids = exam_ids(path, settings)
    check_member_count(len(ids), path.name, settings)
    return [read_code15(path, settings, exam)[0] for exam in ids]


def trim_zero_padding(sig: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The samples between the first and last with any lead non-zero; (trimmed, start, end).

    >>> x = np.zeros((12, 10)); x[0, 3:7] = 1.0
    >>> trim_zero_padding(x)[1:]
    (3, 7)
    """
    active = np.flatnonzero(np.any(sig != 0, axis=0))
    if active.size == 0:
        return sig[:, :0], 0, 0
    start, end = int(active[0]), int(active[-1]) + 1
    return sig[:, start:end], start, end
