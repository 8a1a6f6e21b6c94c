"""Speed of ``eval``: the run loop's overhead, and the judge with requests in flight.

Run: ``python bench/eval.py [--records DIR] [--limit N] [--judge-items N] [--delay-s S]``

1. ``eval run`` of the measure backend over the WFDB records with Dx codes in ``../shared/data/ecg``
   (ECG-Bench's CPSC question per record): records/s, against calling the same backend in a plain
   loop (load the record, join the streamed text) in the same run. Target: overhead at most 10%.
2. The grounding judge against the loopback chat server of ``tests/test_backend_openai.py`` answering
   each request after a fixed delay: 8 requests in flight against one at a time. Target: at least 5x.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eval.judge import CRITERIA, JudgeClient, judge_items, summarize, aggregate_grounding  # noqa: E402, I001
from eval.run import run  # noqa: E402
from eval.sets import load_set  # noqa: E402
from gem_core.backends import GenerationParams, get_backend  # noqa: E402
from gem_core.ecg import load_ecg  # noqa: E402
from gem_core.features import clear_cache  # noqa: E402
from gem_core.settings import get_settings  # noqa: E402

SHARED_ECG = REPO.parent / "shared" / "data" / "ecg"


def plain_loop(items, backend, params) -> float:
    began = time.perf_counter()
    for item in items:
        ecg = load_ecg(item.ecg)
        "".join(backend.stream(ecg, item.question, params, threading.Event()))
    return time.perf_counter() - began


def bench_run(records: Path, limit: int | None, repeats: int = 2) -> dict:
    eval_set = load_set(records)
    items = eval_set.items[:limit] if limit else eval_set.items
    settings = get_settings()
    backend = get_backend("measure", settings)
    params = GenerationParams(max_new_tokens=settings.max_new_tokens)
    plain_loop(items[:2], backend, params)  # warm-up: imports, JIT
    plain_times, run_times = [], []
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        for rep in range(repeats):  # interleaved, each from a cold measurement cache; best of each
            clear_cache()
            plain_times.append(plain_loop(items, backend, params))
            clear_cache()
            began = time.perf_counter()
            out = Path(tmp) / f"run{rep}"
            run(records, out, "measure", limit=len(items), backend=backend, progress=False, eval_set=eval_set)
            run_times.append(time.perf_counter() - began)
    t_plain, t_run = min(plain_times), min(run_times)
    n = len(items)
    overhead = t_run / t_plain - 1
    print(f"\n1. eval run, measure backend, {n} records from {records} (best of {repeats}, cold caches)")
    print(f"   plain loop : {t_plain:7.2f} s  {n / t_plain:6.2f} records/s")
    print(f"   eval run   : {t_run:7.2f} s  {n / t_run:6.2f} records/s")
    print(
        f"   overhead   : {overhead * 100:+.1f}% (target <= 10%: {'met' if overhead <= 0.10 else 'NOT met'})"
    )
    return {"records": n, "plain_s": plain_times, "run_s": run_times, "overhead": overhead}


def canned_answer(body: dict) -> str:
    return json.dumps({name: [{"Score": 1, "Explanation": "ok"}] for name in CRITERIA})


def bench_judge(n_items: int, delay_s: float) -> dict:
    from tests.test_backend_openai import ChatServer

    server = ChatServer()
    server.reply, server.delay_s = canned_answer, delay_s
    jobs = [(f"j{k}", f"grade item {k}") for k in range(n_items)]
    times = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-judge-") as tmp:
            for inflight in (1, 8):
                client = JudgeClient(server.url, timeout_s=30)
                out = Path(tmp) / f"judge-{inflight}.jsonl"
                began = time.perf_counter()
                judged = judge_items(jobs, out, client, concurrency=inflight)
                times[inflight] = time.perf_counter() - began
                result = summarize(
                    {k: aggregate_grounding(v["results"]) for k, v in judged.items()}, CRITERIA
                )
                assert result["n_items"] == n_items and result["failed"] == 0
    finally:
        server.close()
    speedup = times[1] / times[8]
    print(f"\n2. grounding judge, {n_items} items, loopback server answering after {delay_s * 1000:.0f} ms")
    print(f"   1 at a time : {times[1]:6.2f} s  {n_items / times[1]:6.1f} items/s")
    print(f"   8 in flight : {times[8]:6.2f} s  {n_items / times[8]:6.1f} items/s")
    print(f"   speed-up    : {speedup:.1f}x (target >= 5x: {'met' if speedup >= 5 else 'NOT met'})")
    return {
        "items": n_items,
        "delay_s": delay_s,
        "serial_s": times[1],
        "inflight8_s": times[8],
        "speedup": speedup,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", default=str(SHARED_ECG), help="a folder of WFDB records with Dx codes")
    p.add_argument("--limit", type=int, help="only the first N records")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--judge-items", type=int, default=48)
    p.add_argument("--delay-s", type=float, default=0.2)
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    figures = {}
    records = Path(args.records)
    if records.is_dir():
        figures["run"] = bench_run(records, args.limit, args.repeats)
    else:
        print(f"1. skipped: {records} not found (the shared records live beside the checkout)")
    figures["judge"] = bench_judge(args.judge_items, args.delay_s)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
