"""Readers for the files ECG carts and hospital systems export, behind ``gem_core.ecg.load_ecg``.

DICOM ECG waveforms (``.dcm`` or any file with the DICOM preamble), HL7 aECG, Philips Sierra and GE
MUSE XML (``.xml``, told apart by their root element) and CODE-15% HDF5 (``.h5``/``.hdf5``, many exams
per file). Each reader gives a ``RawRecord`` (``gem_core.ecg_formats``) that ``gem_core.ecg.build_ecg``
maps to the canonical 12 leads in mV. Sizes declared in a file are checked (``gem_core.limits``) before
samples are allocated; patient identifiers stay out of the metadata (``formats.common``).
"""

from __future__ import annotations

from pathlib import Path

from gem_core.ecg_formats import RawRecord
from gem_core.errors import GemError
from gem_core.formats.code15 import is_hdf5
from gem_core.formats.dicom import is_dicom
from gem_core.settings import Settings

SUFFIXES = (".dcm", ".xml", ".h5", ".hdf5")
SUPPORTED = "DICOM ECG (.dcm), HL7 aECG / Philips / GE MUSE .xml, CODE-15% HDF5 (.h5/.hdf5)"
XML_EXPECTED = "an ECG export: HL7 aECG <AnnotatedECG>, Philips <restingecgdata> or GE MUSE <RestingECG>"


def handles(path: Path) -> bool:
    """Whether ``path`` is one of these formats (by suffix, or a DICOM file without an extension)."""
    suffix = path.suffix.lower()
    return suffix in SUFFIXES or (
        suffix not in (".hea", ".dat", ".mat", ".npy", ".npz", ".csv", ".zip") and is_dicom(path)
    )


def find_untyped_dicom(folder: Path) -> list[Path]:
    """Files under ``folder`` without a suffix that carry the DICOM preamble (not ``DICOMDIR``, hidden
    files or macOS resource forks), sorted by relative path."""
    found = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if (
            any(part.startswith(".") or part == "__MACOSX" for part in rel.parts)
            or p.name.upper() == "DICOMDIR"
        ):
            continue
        if p.is_file() and not p.suffix and is_dicom(p):
            found.append(p)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def is_multi_record(path: Path) -> bool:
    """Files that hold many ECGs (CODE-15% HDF5): ``records`` lists them, ``read(..., record=)`` picks one."""
    return path.suffix.lower() in (".h5", ".hdf5") or is_hdf5(path)


def records(path: Path, settings: Settings) -> list[str]:
    """The record ids inside a multi-record file (CODE-15% exam ids); ``[]`` for single-record files."""
    from gem_core.formats.code15 import exam_ids

    return exam_ids(path, settings) if is_multi_record(path) else []


def read(path: Path, settings: Settings, record: str | None = None) -> tuple[RawRecord, list[str]]:
    """One record of the file as a ``RawRecord`` and the ids of the other records in it."""
    path = Path(path)
    suffix = path.suffix.lower()
    if is_multi_record(path):
        from gem_core.formats.code15 import read_code15

        return read_code15(path, settings, record)
    if record not in (None, ""):
        raise GemError(f"{path.name} holds one record; there is no record {record!r} to choose")
    if suffix == ".xml":
        return read_xml(path, settings), []
    from gem_core.formats.dicom import read_dicom

    return read_dicom(path, settings), []


def read_all(path: Path, settings: Settings) -> list[RawRecord]:
    """Every record of the file."""
    if is_multi_record(path):
        from gem_core.formats.code15 import read_all as read_all_exams

        return read_all_exams(path, settings)
    return [read(path, settings)[0]]


def read_xml(path: Path, settings: Settings) -> RawRecord:
    """An XML ECG export, by its root element."""
    from gem_core.formats.common import local, parse_xml

    root = parse_xml(path)
    kind = local(root.tag)
    if kind == "AnnotatedECG":
        from gem_core.formats.aecg import read_aecg

        return read_aecg(root, path, settings)
    if kind == "restingecgdata":
        from gem_core.formats.philips import read_philips

        return read_philips(root, path, settings)
    if kind == "RestingECG":
        from gem_core.formats.muse import read_muse

        return read_muse(root, path, settings)
    raise GemError(f"{path.name} is XML of another kind (root element <{kind}>); expected {XML_EXPECTED}")
