"""Benchmark: the time and peak memory of refusing each hostile file (issue 19's findings).

Each hostile file is built in a temporary folder, then loaded with ``gem_core.ecg.load_ecg`` in a fresh
child process (so each peak RSS is its own); printed per file: the outcome (the first words of the
GemError), wall time, peak traced Python/NumPy memory (tracemalloc) and the child's peak RSS. Baseline,
measured in the same run the same way: loading a valid 10 s 12-lead record (.npz). Targets: every
hostile file refused in <= 1 s and with a peak RSS <= 2x the baseline's (before the limits, the .npz
bomb took 55 s and 12 GB, the 2-million-column CSV 154 s and 5 GB, the 100,000-member zip 10.7 s).

    python bench/hostile.py [--big]   # --big: the issue's full-size 3 GB .npz bomb and 2 M-column CSV
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MB = 1024 * 1024

CHILD = r"""
import json, resource, sys, time, tracemalloc
sys.path.insert(0, sys.argv[2])
from gem_core.ecg import load_ecg
from gem_core.errors import GemError
import gem_core.ecg_formats, pandas, wfdb  # imports are not what is measured
tracemalloc.start()
began = time.perf_counter()
try:
    ecg = load_ecg(sys.argv[1])
    outcome = f"loaded {ecg.n_samples} samples"
except GemError as err:
    outcome = "refused: " + " ".join(str(err).split()[:9])
except Exception as err:  # a failure that escaped the clear-error path
    outcome = f"ESCAPED {type(err).__name__}: {err}"[:120]
took = time.perf_counter() - began
peak = tracemalloc.get_traced_memory()[1]
# VmHWM belongs to this process image (ru_maxrss would carry the parent's peak across exec)
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
rss = int(hwm[0].split()[1]) * 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"outcome": outcome, "s": took, "traced": peak, "rss": rss}))
"""


def npy_header(shape, dtype="<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def npz_bomb(path: Path, n: int) -> Path:
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open("signal.npy", "w", force_zip64=True) as fh,
    ):
        fh.write(npy_header((12, n)))
        zeros, left = bytes(8 * MB), 12 * n * 4
        while left > 0:
            fh.write(zeros[: min(left, len(zeros))])
            left -= len(zeros)
    return path


def wide_csv(path: Path, columns: int) -> Path:
    path.write_text(
        ",".join(f"c{i}" for i in range(columns)) + "\n" + ",".join("0" * 1 for _ in range(columns)) + "\n"
    )
    return path


def build(folder: Path, big: bool) -> dict[str, Path]:
    from gem_core.samples import synthetic_ecg

    files = {}
    ecg = synthetic_ecg(duration_s=10)
    np.savez(folder / "valid.npz", signal=ecg.signal, fs=500.0)
    files["baseline: valid 10 s .npz"] = folder / "valid.npz"
    n = 62_500_000 if big else 5_000_000
    files[f".npz bomb (12 x {n} float32 declared)"] = npz_bomb(folder / "bomb.npz", n)
    with zipfile.ZipFile(folder / "bomb-in.zip", "w") as zf:
        zf.write(folder / "bomb.npz", "bomb.npz")
    files[".npz bomb inside a .zip"] = folder / "bomb-in.zip"
    (folder / "huge.npy").write_bytes(npy_header((12, 62_500_000)) + bytes(4096))
    files[".npy header (12 x 62.5 M)"] = folder / "huge.npy"
    files["CSV, 300,000 columns"] = wide_csv(folder / "wide.csv", 300_000)
    if big:
        files["CSV, 2,000,000 columns"] = wide_csv(folder / "wider.csv", 2_000_000)
    (folder / "big.hea").write_text(
        "big 12 500 62500000\n" + "".join(f"big.dat 16 200/mV 16 0 0 0 0 L{i}\n" for i in range(12))
    )
    (folder / "big.dat").write_bytes(bytes(24_000))
    files["WFDB header, 62.5 M samples"] = folder / "big.hea"
    with zipfile.ZipFile(folder / "many.zip", "w") as zf:
        for i in range(100_000):
            zf.writestr(f"m{i}.csv", b"")
    files["zip of 100,000 empty members"] = folder / "many.zip"
    with zipfile.ZipFile(folder / "clash.zip", "w") as zf:
        zf.writestr("x", b"a file")
        zf.writestr("x/rec.csv", b"I,II\n0,0\n")
    files["zip: member x and x/rec.csv"] = folder / "clash.zip"
    with zipfile.ZipFile(folder / "long.zip", "w") as zf:
        zf.writestr("a" * 300 + "/rec.csv", b"I,II\n0,0\n")
    files["zip: 300-character folder name"] = folder / "long.zip"
    return files


def run(path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(REPO)], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        return {
            "outcome": f"child failed: {done.stderr.strip().splitlines()[-1:]}",
            "s": float("nan"),
            "traced": 0,
            "rss": 0,
        }
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="the issue's full-size bomb and 2 M-column CSV")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gem-hostile-") as tmp:
        files = build(Path(tmp), args.big)
        base = None
        print(f"{'file':38} {'size':>9} {'time':>9} {'traced':>9} {'peak RSS':>9} {'RSS/base':>8}  outcome")
        worst_s, worst_ratio = 0.0, 0.0
        for name, path in files.items():
            r = run(path)
            size = sum(p.stat().st_size for p in [path, path.with_suffix(".dat")] if p.is_file())
            if base is None:
                base = r
            ratio = r["rss"] / base["rss"] if base["rss"] else float("nan")
            if r is not base:
                worst_s, worst_ratio = max(worst_s, r["s"]), max(worst_ratio, ratio)
            print(
                f"{name:38} {size / MB:8.2f}M {r['s'] * 1000:7.1f}ms {r['traced'] / MB:8.1f}M "
                f"{r['rss'] / MB:8.1f}M {ratio:8.2f}  {r['outcome']}"
            )
        print(
            f"slowest refusal {worst_s * 1000:.1f} ms (target <= 1000 ms: {'met' if worst_s <= 1 else 'NOT met'})"
        )
        print(
            f"largest peak RSS / baseline {worst_ratio:.2f} (target <= 2: {'met' if worst_ratio <= 2 else 'NOT met'})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
