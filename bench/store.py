"""Ratings store throughput on SQLite, and DPO export time for 100,000 ratings.

    python bench/store.py [--ratings 2000] [--export-ratings 100000]

Prints, each next to a baseline measured in the same run:
  1. ratings/s through ``Store.submit_rating`` with one writer, against plain ``sqlite3`` inserting
     the same row, one committed transaction each, with the same pragmas (the floor for this design);
  2. ratings/s with 8 concurrent writers: 8 processes (one Store each) and 8 threads (one shared
     Store, as in the app), against the single-writer figure;
  3. seconds to export 100,000 ratings (8 raters x 12,500 interpretations of 6,250 cases, 2 models)
     to DPO JSONL (rating-gap pairs, no images), against a bare ``SELECT`` of the same rows plus
     ``json.dumps`` of each.
Targets: >= 500 ratings/s single writer; export <= 5 s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotations.metrics import METRIC_NAMES
from annotations.store import Store


def setup(url: str, n_raters: int, n_interps: int):
    import numpy as np

    from gem_core.ecg import ECG

    store = Store(url)
    admin = store.create_rater("admin", "admin-password", role="admin")
    raters = [store.create_rater(f"r{i}", "rater-password", actor=admin) for i in range(n_raters)]
    case = store.add_case(ECG(signal=np.zeros((12, 500)), fs=500.0), keep_signal=False)
    interps = [store.add_interpretation(case, "gem", f"reading {i}") for i in range(n_interps)]
    return store, admin, raters, interps


def submit_all(store: Store, rater, interps, tag: str) -> None:
    for j, interp in enumerate(interps):
        scores = {m: 1 + (j + k) % 5 for k, m in enumerate(METRIC_NAMES)}
        store.submit_rating(
            rater, interp, scores, "", 10.0, idempotency_key=f"{tag}:{rater.pseudonym}:{interp}"
        )


def _proc(url, rater, interps, start, done):
    store = Store(url, migrate=False)
    store.counts()  # connect before the clock starts
    done.put("ready")
    start.wait()
    submit_all(store, rater, interps, "proc")
    done.put(1)


def bench_single(n: int, folder: Path) -> float:
    store, _, raters, interps = setup(f"sqlite:///{folder / 'single.sqlite3'}", 1, n)
    t = time.perf_counter()
    submit_all(store, raters[0], interps, "single")
    rate = n / (time.perf_counter() - t)
    store.close()
    return rate


def bench_baseline(n: int, folder: Path) -> float:
    con = sqlite3.connect(folder / "plain.sqlite3", isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
        con.execute(f"PRAGMA {pragma}")
    cols = ", ".join(METRIC_NAMES)
    con.execute(f"CREATE TABLE r (id INTEGER PRIMARY KEY, rater INT, interp INT, {cols}, k TEXT UNIQUE)")
    marks = ", ".join("?" * (len(METRIC_NAMES) + 3))
    t = time.perf_counter()
    for j in range(n):
        con.execute("BEGIN IMMEDIATE")
        con.execute(f"INSERT INTO r (rater, interp, {cols}, k) VALUES ({marks})", (1, j, *([3] * 7), f"k{j}"))
        con.execute("COMMIT")
    rate = n / (time.perf_counter() - t)
    con.close()
    return rate


def bench_concurrent(n: int, folder: Path, writers: int = 8) -> tuple[float, float]:
    per = n // writers
    url = f"sqlite:///{folder / 'concurrent.sqlite3'}"
    store, _, raters, interps = setup(url, 2 * writers, per)
    ctx = mp.get_context("spawn")
    start, done = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_proc, args=(url, raters[i], interps, start, done)) for i in range(writers)]
    for p in procs:
        p.start()
    for _ in procs:  # the clock starts once every writer has imported and connected
        assert done.get(timeout=600) == "ready"
    t = time.perf_counter()
    start.set()
    for _ in procs:
        done.get(timeout=600)
    proc_rate = writers * per / (time.perf_counter() - t)
    for p in procs:
        p.join()
    threads = [
        threading.Thread(target=submit_all, args=(store, raters[writers + i], interps, "thread"))
        for i in range(writers)
    ]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    thread_rate = writers * per / (time.perf_counter() - t)
    assert store.counts()["ratings"] == 2 * writers * per
    store.close()
    return proc_rate, thread_rate


def fill_for_export(url: str, n_ratings: int) -> Store:
    """Bulk-load ratings straight into the tables (the export is what is timed, not the loading)."""
    from annotations.models import Case, Interpretation, Rater, Rating

    store = Store(url)
    n_raters = 8
    n_interps = n_ratings // n_raters
    now = datetime(2026, 1, 1)
    with store.session(write=True) as s:
        conn = s.connection()
        conn.execute(
            Rater.__table__.insert(),
            [
                {
                    "id": i + 1,
                    "pseudonym": f"R-{i:08x}",
                    "username": f"u{i}",
                    "display_name": "",
                    "role": "rater",
                    "password_hash": "!",
                    "created_at": now,
                }
                for i in range(n_raters)
            ],
        )
        conn.execute(
            Case.__table__.insert(),
            [
                {
                    "id": c + 1,
                    "content_hash": f"{c:064x}",
                    "source": "",
                    "record_id": "",
                    "fs": 500.0,
                    "n_samples": 5000,
                    "metadata": {},
                    "created_at": now,
                }
                for c in range((n_interps + 1) // 2)
            ],
        )
        conn.execute(
            Interpretation.__table__.insert(),
            [
                {
                    "id": i + 1,
                    "case_id": i // 2 + 1,
                    "model": ("gem", "baseline")[i % 2],
                    "model_version": "",
                    "question": "Interpret this ECG.",
                    "params": {},
                    "created_at": now,
                    "idempotency_key": f"i{i}",
                    "text": f"Reading {i}: sinus rhythm, PR 160 ms, QRS 90 ms, QTc 420 ms; no acute ST changes in V1-V6.",
                }
                for i in range(n_interps)
            ],
        )
        rows = []
        for r in range(n_raters):
            for i in range(n_interps):
                base = 4 if i % 2 == 0 else 2
                scores = {m: min(5, max(1, base + (r + i + k) % 3 - 1)) for k, m in enumerate(METRIC_NAMES)}
                rows.append(
                    {
                        "rater_id": r + 1,
                        "interpretation_id": i + 1,
                        "comment": "",
                        "seconds": 30.0,
                        "created_at": now,
                        "updated_at": now,
                        "idempotency_key": f"k{r}:{i}",
                        "version": 1,
                        **scores,
                    }
                )
        conn.execute(Rating.__table__.insert(), rows)
    return store


def bench_export(n_ratings: int, folder: Path) -> tuple[float, float, int]:
    store = fill_for_export(f"sqlite:///{folder / 'export.sqlite3'}", n_ratings)
    admin = store.local_admin()
    out = folder / "pairs.jsonl"
    t = time.perf_counter()
    res = store.export(admin, "dpo", out, images=False)
    export_s = time.perf_counter() - t
    t = time.perf_counter()
    with store.engine.connect() as c, (folder / "plain.jsonl").open("w") as f:
        for row in c.exec_driver_sql("SELECT * FROM ratings"):
            f.write(json.dumps(list(row), default=str) + "\n")
    plain_s = time.perf_counter() - t
    store.close()
    return export_s, plain_s, res.rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ratings", type=int, default=2000)
    ap.add_argument("--export-ratings", type=int, default=100_000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        single = bench_single(args.ratings, folder)
        plain = bench_baseline(args.ratings, folder)
        print(
            f"single writer : {single:8.0f} ratings/s   plain sqlite3 baseline {plain:8.0f} rows/s   ratio {single / plain:.2f}   (target >= 500/s)"
        )
        procs, threads = bench_concurrent(args.ratings, folder)
        print(f"8 processes   : {procs:8.0f} ratings/s   vs single writer {procs / single:.2f}x")
        print(f"8 threads     : {threads:8.0f} ratings/s   vs single writer {threads / single:.2f}x")
        export_s, plain_s, pairs = bench_export(args.export_ratings, folder)
        print(
            f"DPO export    : {export_s:8.2f} s for {args.export_ratings} ratings -> {pairs} pairs   "
            f"bare SELECT+json.dumps {plain_s:.2f} s   ratio {export_s / plain_s:.2f}   (target <= 5 s)"
        )


if __name__ == "__main__":
    main()
