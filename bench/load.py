"""Benchmark: ``load_ecg`` + ``to_model_input`` against plain ``wfdb.rdrecord`` on the shared records.

Both are timed in the same run, interleaved record by record (so machine load hits both alike), over
several rounds. Printed: the median over all runs, and the median over records of each record's
best-of-rounds time (steadier on a shared machine). Target: overhead ratio <= 1.5x.

    python bench/load.py [--rounds 5] [--window first|best]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import wfdb  # noqa: E402

from gem_core.ecg import load_ecg, to_model_input  # noqa: E402

SHARED_ECG = REPO.parent / "shared" / "data" / "ecg"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--window", choices=("first", "best"), default="first")
    args = parser.parse_args()
    headers = sorted(SHARED_ECG.rglob("*.hea"))
    if not headers:
        print(f"no records at {SHARED_ECG}; nothing to benchmark")
        return 1
    for h in headers[:3]:  # warm imports and caches before timing
        to_model_input(load_ecg(h), args.window)
        wfdb.rdrecord(str(h.with_suffix("")))
    ours = {h: [] for h in headers}
    baseline = {h: [] for h in headers}
    for _ in range(args.rounds):
        for h in headers:
            baseline[h].append(timed(lambda h=h: wfdb.rdrecord(str(h.with_suffix("")))))
            ours[h].append(timed(lambda h=h: to_model_input(load_ecg(h), args.window)))
    all_ours = [t for ts in ours.values() for t in ts]
    all_base = [t for ts in baseline.values() for t in ts]
    med_ours, med_base = statistics.median(all_ours), statistics.median(all_base)
    # best-of-rounds per record filters out moments when other processes held the CPU
    best_ours = statistics.median(min(ts) for ts in ours.values())
    best_base = statistics.median(min(ts) for ts in baseline.values())
    print(f"records: {len(headers)}, rounds: {args.rounds}, window: {args.window}")
    print("                                 median of all runs   median of per-record best")
    print(f"wfdb.rdrecord (baseline):        {med_base * 1e3:8.2f} ms          {best_base * 1e3:8.2f} ms")
    print(f"load_ecg + to_model_input:       {med_ours * 1e3:8.2f} ms          {best_ours * 1e3:8.2f} ms")
    print(
        f"ratio (ours / baseline):         {med_ours / med_base:8.2f}x          {best_ours / best_base:8.2f}x"
        "   (target <= 1.5x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
