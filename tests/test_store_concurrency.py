"""Many writers at once, retried submits, and a writer killed mid-transaction (SQLite file store).

16 writers, 8 threads sharing one Store (as the app does) and 8 separate processes with their own,
submit 2,000 ratings (125 each), retrying some submits with the same idempotency key and editing
some ratings. Afterwards the counts are exact, nothing is duplicated and SQLite's integrity check
passes. A process killed with SIGKILL while its transaction is open leaves no rows behind.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import threading

import pytest
import sqlalchemy as sa

from annotations.metrics import METRIC_NAMES
from annotations.models import Rating, RatingVersion
from annotations.store import RaterView, Store, utcnow

N_WRITERS, PER_WRITER = 16, 125
# Writer processes start from a fork server: a clean single-threaded process that imported the store
# once (no inherited locks, pools or connections), so eight writers do not each pay the imports.
SPAWN = mp.get_context("forkserver")
SPAWN.set_forkserver_preload(["annotations.store", "tests.test_store_concurrency"])


def scores_for(rater_index: int, interp_index: int) -> dict[str, int]:
    return {m: 1 + (rater_index + interp_index + k) % 5 for k, m in enumerate(METRIC_NAMES)}


def write_ratings(
    url: str, rater: RaterView, rater_index: int, interp_ids: list[int], store: Store | None = None
) -> dict:
    """One writer: rate every interpretation once; retry ~1 in 5 with the same key; edit ~1 in 12."""
    own = store is None
    store = store or Store(url)
    rng = random.Random(rater_index)
    calls = edits = 0
    ids = set()
    for j, interp in enumerate(interp_ids):
        key = f"{rater.pseudonym}:{interp}:v1"
        first = store.submit_rating(rater, interp, scores_for(rater_index, j), "", 5.0, idempotency_key=key)
        calls += 1
        while rng.random() < 0.2:  # the response was "lost": the client sends the same submit again
            again = store.submit_rating(
                rater, interp, scores_for(rater_index, j), "", 5.0, idempotency_key=key
            )
            assert again.id == first.id and again.version == 1
            calls += 1
        if rng.random() < 1 / 12:
            store.submit_rating(
                rater, interp, scores_for(rater_index, j + 1), "edit", 9.0, idempotency_key=key + "-edit"
            )
            store.submit_rating(
                rater, interp, scores_for(rater_index, j + 1), "edit", 9.0, idempotency_key=key + "-edit"
            )
            edits += 1
            calls += 2
        ids.add(first.id)
    if own:
        store.close()
    return {"calls": calls, "edits": edits, "ids": sorted(ids)}


def _process_writer(url, rater, rater_index, interp_ids, results):
    results.put((rater_index, write_ratings(url, rater, rater_index, interp_ids)))


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """A store with 16 raters and 125 interpretations of one case."""
    import numpy as np

    from gem_core.ecg import ECG

    url = f"sqlite:///{tmp_path_factory.mktemp('concurrency') / 'store.sqlite3'}"
    store = Store(url)
    admin = store.create_rater("admin", "admin-password", role="admin")
    raters = [store.create_rater(f"r{i:02d}", "rater-password", actor=admin) for i in range(N_WRITERS)]
    ecg = ECG(signal=np.random.default_rng(0).normal(0, 0.2, (12, 1000)), fs=500.0)
    case = store.add_case(ecg)
    interps = [store.add_interpretation(case, "gem", f"reading {i}") for i in range(PER_WRITER)]
    return store, url, raters, interps


def test_sixteen_writers_threads_and_processes(populated):
    store, url, raters, interps = populated
    results: dict[int, dict] = {}
    queue = SPAWN.Queue()
    procs = [
        SPAWN.Process(target=_process_writer, args=(url, raters[i], i, interps, queue))
        for i in range(N_WRITERS // 2)
    ]
    for p in procs:
        p.start()

    def thread_writer(i):
        results[i] = write_ratings(url, raters[i], i, interps, store=store)

    threads = [threading.Thread(target=thread_writer, args=(i,)) for i in range(N_WRITERS // 2, N_WRITERS)]
    for t in threads:
        t.start()
    for _ in procs:
        i, res = queue.get(timeout=240)
        results[i] = res
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for t in threads:
        t.join(timeout=240)
    assert sorted(results) == list(range(N_WRITERS)), "a writer did not finish"

    calls = sum(r["calls"] for r in results.values())
    edits = sum(r["edits"] for r in results.values())
    assert calls > N_WRITERS * PER_WRITER  # some submits really were retried
    counts = store.counts()
    assert counts["ratings"] == N_WRITERS * PER_WRITER == 2000
    assert counts["rating_versions"] == 2000 + edits
    with store.session() as s:
        pairs = s.execute(
            sa.select(sa.func.count(sa.distinct(Rating.rater_id * 100_000 + Rating.interpretation_id)))
        ).scalar()
        keys = s.execute(sa.select(sa.func.count(sa.distinct(RatingVersion.idempotency_key)))).scalar()
        assert pairs == 2000 and keys == counts["rating_versions"]
        assert s.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
        assert s.execute(sa.text("PRAGMA foreign_key_check")).all() == []
        edited = s.execute(sa.select(sa.func.count()).where(Rating.version == 2)).scalar()
    assert edited == edits
    all_ids = [i for r in results.values() for i in r["ids"]]
    assert len(all_ids) == len(set(all_ids)) == 2000


def _die_mid_transaction(url, rater_id, interp_ids, ready):
    """Open a write transaction, write big rows (enough to spill to the WAL file), then wait to be killed."""
    store = Store(url, migrate=False)
    now = utcnow()
    with store.session(write=True) as s:
        for interp in interp_ids:
            rating = Rating(
                rater_id=rater_id,
                interpretation_id=interp,
                comment="x" * 200_000,
                created_at=now,
                updated_at=now,
                idempotency_key=f"doomed-{interp}",
                **dict.fromkeys(METRIC_NAMES, 3),
            )
            s.add(rating)
            s.flush()
        ready.set()
        threading.Event().wait(120)  # killed long before this returns


def test_writer_killed_mid_transaction_leaves_nothing(populated):
    store, url, raters, interps = populated
    admin = store.create_rater("victim", "victim-password", actor=store.local_admin())
    before = store.counts()
    ready = SPAWN.Event()
    proc = SPAWN.Process(target=_die_mid_transaction, args=(url, admin.id, interps[:40], ready))
    proc.start()
    assert ready.wait(120), "the writer never opened its transaction"
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    assert proc.exitcode == -signal.SIGKILL
    assert store.counts() == before
    with store.session() as s:
        assert (
            s.execute(sa.text("SELECT count(*) FROM ratings WHERE idempotency_key LIKE 'doomed-%'")).scalar()
            == 0
        )
        assert s.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
    # the lock died with the process: the next write goes through at once
    done = store.submit_rating(
        admin, interps[0], dict.fromkeys(METRIC_NAMES, 2), idempotency_key="after-kill"
    )
    assert done.version == 1 and store.counts()["ratings"] == before["ratings"] + 1
