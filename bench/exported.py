"""Benchmark: ``load_ecg`` of the exported formats against ``load_ecg`` of the same record as WFDB.

One 10 s 12-lead record (a real shared one when ../shared is present, else a synthetic one) is written
in each format by the test writers (``tests/ecg_exports.py``) and as WFDB (``wfdb.wrsamp``, format 16);
all are loaded interleaved, round by round, so machine load hits each alike. Printed: the median
load time per format, and its ratio to WFDB measured in the same run. Targets: at most 3x WFDB for the
binary formats (DICOM, MUSE, uncompressed Philips, CODE-15%); HL7 aECG, whose samples are decimal text
to parse, under 0.1 s per 10 s record; Philips XLI (sierraecg's pure-Python LZW decoder) under 0.5 s.

    python bench/exported.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import wfdb  # noqa: E402

from gem_core.ecg import LEADS, load_ecg  # noqa: E402
from gem_core.samples import synthetic_ecg  # noqa: E402
from tests.ecg_exports import (  # noqa: E402
    at_400_hz,
    write_aecg,
    write_code15,
    write_dicom,
    write_muse,
    write_philips,
)

RECORD = REPO.parent / "shared" / "data" / "ecg" / "cpsc2018" / "A0001.hea"
RATIO_TARGET = 3.0
ABSOLUTE_TARGETS_S = {"Philips XLI": 0.5, "HL7 aECG": 0.1}  # per 10 s record


def source():
    if RECORD.is_file():
        ecg = load_ecg(RECORD)
        ecg.signal = ecg.signal[:, : int(10 * ecg.fs)]
        return ecg, f"real record {RECORD.stem} (first 10 s)"
    return synthetic_ecg(heart_rate=75, duration_s=10, fs=500), "synthetic record (../shared absent)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    ecg, what = source()
    with tempfile.TemporaryDirectory(prefix="gem-bench-") as tmp:
        folder = Path(tmp)
        wfdb.wrsamp(
            "rec",
            fs=ecg.fs,
            units=["mV"] * 12,
            sig_name=list(LEADS),
            p_signal=ecg.signal.T.astype(np.float64),
            fmt=["16"] * 12,
            write_dir=tmp,
        )
        files = {
            "WFDB (baseline)": folder / "rec.hea",
            "DICOM": write_dicom(folder / "a.dcm", ecg),
            "HL7 aECG": write_aecg(folder / "b.xml", ecg),
            "Philips uncompressed": write_philips(folder / "c.xml", ecg, compressed=False),
            "Philips XLI": write_philips(folder / "d.xml", ecg, compressed=True),
            "GE MUSE": write_muse(folder / "e.xml", ecg),
            "CODE-15% (one exam)": write_code15(folder / "f.h5", {1: at_400_hz(ecg)}),
        }
        for path in files.values():  # warm imports
            load_ecg(path)
        times = {name: [] for name in files}
        for _ in range(args.rounds):
            for name, path in files.items():
                start = time.perf_counter()
                load_ecg(path)
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times["WFDB (baseline)"])
    print(f"{what}: 12 leads x {ecg.n_samples} samples at {ecg.fs:g} Hz; rounds: {args.rounds}")
    print(f"{'format':24s} {'median':>10s} {'vs WFDB':>9s}  target")
    ok = True
    for name, ts in times.items():
        med = statistics.median(ts)
        if name == "WFDB (baseline)":
            print(f"{name:24s} {med * 1e3:8.1f} ms {1.0:8.2f}x")
            continue
        if name in ABSOLUTE_TARGETS_S:
            met = med <= ABSOLUTE_TARGETS_S[name]
            target = f"<= {ABSOLUTE_TARGETS_S[name]:g} s: {'met' if met else 'NOT met'}"
        else:
            met = med / base <= RATIO_TARGET
            target = f"<= {RATIO_TARGET:g}x: {'met' if met else 'NOT met'}"
        ok &= met
        print(f"{name:24s} {med * 1e3:8.1f} ms {med / base:8.2f}x  {target}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
