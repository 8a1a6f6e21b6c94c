"""Benchmark gem_core.features.measure against the naive way, in the same run.

Naive baseline: ``neurokit2.ecg_process`` on each of the 12 leads separately (clean, peaks, rate,
quality, dwt delineation per lead) -- it computes less than ``measure`` (no shared R peaks, no lead
verdicts, no global values, axes, ST levels, voltage criteria or premature beats).

    python bench/features.py                 # 40 real 10 s 500 Hz records + 60 s and 1 h records
    python bench/features.py --records 101 --no-hour

Prints median ms per 10 s 12-lead record for both and their ratio, peak Python-traced memory
(tracemalloc, which sees numpy buffers) for both, the cached-call time, and time/memory on long records
(a real 10 s record tiled to 60 s and 1 h) to show the cost stays linear.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gem_core.ecg import ECG, load_ecg  # noqa: E402
from gem_core.features import clear_cache, measure  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "ecg"


def ten_second_records(limit: int) -> list[ECG]:
    """The first 10 s of each 500 Hz shared record (up to ``limit``, spread over the datasets)."""
    out = []
    for hea in sorted(SHARED.rglob("*.hea")):
        ecg = load_ecg(hea)
        if ecg.fs == 500 and ecg.n_samples >= 5000:
            out.append(ECG(signal=ecg.signal[:, :5000].copy(), fs=500, record_id=ecg.record_id))
    step = max(1, len(out) // limit) if limit else 1
    return out[::step][:limit] if limit else out


def naive(ecg: ECG) -> None:
    import neurokit2 as nk

    for lead in ecg.signal:
        # the naive way fails on some leads; count the time it spent anyway
        with contextlib.suppress(Exception):
            nk.ecg_process(lead.astype(np.float64), sampling_rate=int(ecg.fs))


def ours(ecg: ECG) -> None:
    clear_cache()
    measure(ecg)


def timed(fn, ecg: ECG) -> float:
    t = time.perf_counter()
    fn(ecg)
    return 1000.0 * (time.perf_counter() - t)


def peak_mb(fn, ecg: ECG) -> float:
    tracemalloc.start()
    fn(ecg)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=40, help="how many 10 s records (0 = all 500 Hz ones)")
    parser.add_argument("--no-hour", action="store_true", help="skip the 1 h record")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if not SHARED.is_dir():
        print(f"no records at {SHARED}; this benchmark needs ../shared/data/ecg")
        return 1
    records = ten_second_records(args.records)
    ours(records[0]), naive(records[0])  # warm-up: imports, numba-free caches, first-call costs

    t_ours, t_naive = [], []
    for ecg in records:
        t_ours.append(timed(ours, ecg))
        t_naive.append(timed(naive, ecg))
    med_ours, med_naive = statistics.median(t_ours), statistics.median(t_naive)
    measure(records[0])
    t_cached = timed(measure, records[0])

    print(
        f"records: {len(records)} x 10 s, 12 leads, 500 Hz (machine shared with other jobs: figures are noisy)"
    )
    print(f"measure (ours)          median {med_ours:8.1f} ms/record   (p90 {np.percentile(t_ours, 90):.1f})")
    print(
        f"naive ecg_process x 12  median {med_naive:8.1f} ms/record   (p90 {np.percentile(t_naive, 90):.1f})"
    )
    print(f"ratio ours / naive      {med_ours / med_naive:.3f}   (target <= 0.5)")
    print(f"cached measure          {t_cached:.3f} ms")
    mem_ours, mem_naive = peak_mb(ours, records[0]), peak_mb(naive, records[0])
    print(f"peak traced memory, one 10 s record: ours {mem_ours:.1f} MB, naive {mem_naive:.1f} MB")

    base = records[0]
    lengths = [60] + ([] if args.no_hour else [3600])
    for seconds in lengths:
        long = ECG(signal=np.tile(base.signal, seconds // 10), fs=base.fs, record_id=f"{seconds}s")
        ms = timed(ours, long)
        mb = peak_mb(ours, long)
        print(
            f"long record {seconds:5d} s: measure {ms / 1000:7.2f} s ({ms / (seconds / 10):.1f} ms per 10 s), "
            f"peak traced memory {mb:.0f} MB (signal itself {long.signal.nbytes / 1e6:.0f} MB)"
        )
    if 60 in lengths:
        ms60 = timed(naive, ECG(signal=np.tile(base.signal, 6), fs=base.fs))
        print(f"naive on the 60 s record: {ms60 / 1000:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
