"""Hostile uploads are refused from their headers, fast and without allocating what they declare.

Each file is built by the test in tmp_path: decompression bombs (.npz, .npy, a bomb inside a .zip),
a CSV 300,000 columns wide, WFDB headers declaring more than the caps, zips of 100,000 members, zips
whose member paths clash or are too long. Each is refused with a ``GemError`` naming the cap
(``gem_core.limits``), in well under a second, with a small peak of traced memory; the CLIs print one
``error:`` line and exit 2.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gem_core.ecg import LEADS, load_ecg, load_ecgs
from gem_core.errors import GemError
from gem_core.settings import Settings
from tests.conftest import REPO

MB = 1024 * 1024


def npy_header(shape, dtype="<f4") -> bytes:
    """The bytes of a .npy header (format 1.0) declaring ``shape`` of ``dtype``."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def write_npz_bomb(path: Path, shape=(12, 5_000_000)) -> Path:
    """An .npz whose signal.npy is ``shape`` float32 zeros, deflated (5 M samples: 240 MB in 0.2 MB)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("signal.npy", "w", force_zip64=True) as fh:
            fh.write(npy_header(shape))
            zeros = bytes(4 * MB)
            left = int(np.prod(shape)) * 4
            while left > 0:
                fh.write(zeros[: min(left, len(zeros))])
                left -= len(zeros)
        zf.writestr("fs.npy", _npy_bytes(np.array(500.0)))
    return path


def _npy_bytes(arr) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def refused(path, match: str, settings: Settings | None = None, seconds: float = 1.0, peak_mb: float = 40):
    """Load ``path``; assert a GemError matching ``match``, within ``seconds`` and ``peak_mb`` traced."""
    tracemalloc.start()
    began = time.perf_counter()
    try:
        with pytest.raises(GemError, match=match) as info:
            load_ecg(path, settings=settings or Settings())
        took = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()
    assert took < seconds, f"refusing {Path(path).name} took {took:.2f} s"
    assert peak < peak_mb, f"refusing {Path(path).name} allocated {peak:.0f} MB"
    assert "/tmp" not in str(info.value) and "gem_zip_" not in str(info.value)
    return str(info.value)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    return write_npz_bomb(tmp_path_factory.mktemp("bomb") / "bomb.npz")


def test_npz_bomb_is_refused_from_its_header(bomb):
    assert bomb.stat().st_size < 2 * MB  # 240 MB of samples declared in under 2 MB
    msg = refused(bomb, r"bomb\.npz\['signal'\] declares 5000000 samples per channel.*GEM_MAX_SAMPLES")
    assert "nothing was loaded" in msg


def test_npz_bomb_inside_a_zip(bomb, tmp_path):
    with zipfile.ZipFile(tmp_path / "outer.zip", "w") as zf:
        zf.write(bomb, "records/bomb.npz")
    refused(tmp_path / "outer.zip", r"GEM_MAX_SAMPLES")


def test_npy_declaring_a_huge_shape_reads_only_its_header(tmp_path):
    path = tmp_path / "bomb.npy"
    path.write_bytes(npy_header((12, 62_500_000)) + bytes(1000))
    refused(path, r"bomb\.npy declares 62500000 samples per channel")


def test_npy_one_dimensional_huge_is_refused_before_reading(tmp_path):
    path = tmp_path / "flat.npy"
    path.write_bytes(npy_header((750_000_000,)) + bytes(1000))
    refused(path, r"has shape \(750000000,\) \(1-D\)")


def test_npz_with_a_large_side_entry(tmp_path, synthetic):
    ecg = synthetic(duration_s=10)
    with zipfile.ZipFile(tmp_path / "side.npz", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("signal.npy", _npy_bytes(ecg.signal))
        zf.writestr("leads.npy", npy_header((12,), "<U10000000") + bytes(10))
    refused(tmp_path / "side.npz", r"side\.npz\['leads'\] declares 480000000 bytes")


def test_record_longer_than_the_duration_cap(tmp_path, synthetic):
    ecg = synthetic(duration_s=20, fs=500)
    np.savez(tmp_path / "long.npz", signal=ecg.signal, fs=500.0)
    refused(tmp_path / "long.npz", r"above the limit of 15 s \(GEM_MAX_RECORD_S\)", Settings(max_record_s=15))
    assert load_ecg(tmp_path / "long.npz", settings=Settings(max_record_s=20)).n_samples == 10_000


def test_wide_csv_is_refused_from_its_first_line(tmp_path):
    path = tmp_path / "wide.csv"
    row = ",".join(f"c{i}" for i in range(300_000))
    path.write_text(row + "\n" + ",".join("0" for _ in range(300_000)) + "\n")
    assert path.stat().st_size > 2 * MB
    refused(path, r"wide\.csv's first line is longer than .*GEM_MAX_CHANNELS", seconds=0.5)


def test_csv_with_too_many_columns_on_a_short_line(tmp_path):
    path = tmp_path / "cols.csv"
    path.write_text(",".join("I" for _ in range(100)) + "\n" + ",".join("0" for _ in range(100)) + "\n")
    refused(path, r"cols\.csv declares 100 channels, above the limit of 64")


def test_csv_with_too_many_rows_is_counted_not_parsed(tmp_path, synthetic):
    import pandas as pd

    ecg = synthetic(duration_s=10)
    pd.DataFrame(ecg.signal.T, columns=list(LEADS)).to_csv(tmp_path / "rows.csv", index=False)
    refused(
        tmp_path / "rows.csv",
        r"declares 5000 samples per channel, above the limit of 4000",
        Settings(max_samples=4000),
    )
    assert load_ecg(tmp_path / "rows.csv").n_samples == 5000


def test_wfdb_header_declaring_a_huge_record(tmp_path):
    (tmp_path / "big.hea").write_text(
        "big 12 500 62500000\n" + "".join(f"big.dat 16 200/mV 16 0 0 0 0 {lead}\n" for lead in LEADS)
    )
    (tmp_path / "big.dat").write_bytes(bytes(24_000))
    refused(tmp_path / "big.hea", r"big\.hea declares 62500000 samples per channel")


def test_wfdb_header_declaring_too_many_signals(tmp_path):
    (tmp_path / "many.hea").write_text(
        "many 5000 500 5000\n" + "".join(f"many.dat 16 200/mV 16 0 0 0 0 ch{i}\n" for i in range(5000))
    )
    refused(tmp_path / "many.hea", r"many\.hea declares 5000 channels, above the limit of 64")


def test_wfdb_header_without_length_is_sized_from_its_signal_file(tmp_path):
    (tmp_path / "nolen.hea").write_text(
        "nolen 12 500\n" + "".join(f"nolen.dat 16 200/mV 16 0 0 0 0 {lead}\n" for lead in LEADS)
    )
    (tmp_path / "nolen.dat").write_bytes(bytes(24 * 5000))
    refused(tmp_path / "nolen.hea", r"nolen\.dat declares 5000 samples", Settings(max_samples=4000))


@pytest.fixture(scope="module")
def many_members(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("many") / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(100_000):
            zf.writestr(f"m{i}.csv", b"")
    return path


def test_zip_of_100000_members_is_refused_fast(many_members):
    refused(many_members, r"many\.zip lists 100000 entries, above the limit of 256", seconds=0.1, peak_mb=5)


def test_zip_whose_member_clashes_with_a_folder(tmp_path):
    with zipfile.ZipFile(tmp_path / "clash.zip", "w") as zf:
        zf.writestr("x", b"a file")
        zf.writestr("x/rec.csv", b"I,II\n0,0\n")
    refused(tmp_path / "clash.zip", r"clash\.zip holds 'x/rec\.csv' where another member is a file")


def test_zip_with_a_too_long_folder_name(tmp_path):
    with zipfile.ZipFile(tmp_path / "long.zip", "w") as zf:
        zf.writestr("a" * 300 + "/rec.csv", b"I,II\n0,0\n")
    msg = refused(
        tmp_path / "long.zip", r"cannot extract 'a{77}\.\.\.' from long\.zip \(File name too long\)"
    )
    assert len(msg) < 300


def test_too_long_path_given_directly(tmp_path):
    with pytest.raises(GemError, match="File name too long") as info:
        load_ecg(tmp_path / ("b" * 300) / "rec.npy")
    assert len(str(info.value)) < 300
    with pytest.raises(GemError, match="File name too long"):
        load_ecgs(tmp_path / ("b" * 300 + ".zip"))


# ------------------------------------------------------------------------------------------------- CLIs


def run(module: str, *args: str, env: dict | None = None, limit_mb: int | None = None):
    import os

    def cap():  # an address-space limit, as a container's memory limit would be
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_mb * MB, limit_mb * MB))

    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        preexec_fn=cap if limit_mb else None,
    )


def one_error_line(done, message: str) -> None:
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "/tmp/" not in done.stderr


@pytest.mark.parametrize("module", ["gem_core.ecg", "gem_core.interpret"])
def test_clis_refuse_the_bomb_with_exit_2(bomb, module):
    extra = ["--backend", "measure"] if module == "gem_core.interpret" else []
    one_error_line(run(module, str(bomb), *extra), "GEM_MAX_SAMPLES")


def test_cli_clashing_zip_exits_2(tmp_path):
    with zipfile.ZipFile(tmp_path / "clash.zip", "w") as zf:
        zf.writestr("x", b"a file")
        zf.writestr("x/rec.csv", b"I,II\n0,0\n")
    one_error_line(run("gem_core.ecg", str(tmp_path / "clash.zip")), "clash.zip holds 'x/rec.csv'")


def test_cli_out_of_memory_is_an_error_line(tmp_path):
    """Caps raised past what the machine holds: the MemoryError is said in one line, exit 2."""
    path = tmp_path / "huge.npy"
    path.write_bytes(npy_header((12, 50_000_000), "<f8") + bytes(1000))  # 4.8 GB declared
    env = {"GEM_MAX_SAMPLES": "100000000", "GEM_MAX_RECORD_S": "1000000"}
    one_error_line(run("gem_core.ecg", str(path), env=env, limit_mb=3000), "too large to load in the memory")
