"""The same store on a real PostgreSQL server: migrations, concurrent writers, a writer killed mid-transaction.

Runs when ``GEM_TEST_POSTGRES_URL`` points at a reachable server whose role may create databases
(``.ci/run`` starts Debian's postgresql and sets it); each session works in a fresh database.
The API behaviours of tests/test_store.py also run on PostgreSQL through its ``store`` fixture.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest
import sqlalchemy as sa

from annotations import db
from annotations.metrics import METRIC_NAMES
from annotations.store import Store
from tests.test_store import pg_url, reset_postgres  # noqa: F401 (pytest fixture)
from tests.test_store_concurrency import SPAWN, _die_mid_transaction, _process_writer, write_ratings
from tests.test_store_migrations import fill_revision_0001, schema_diff

pytestmark = pytest.mark.postgres


@pytest.fixture
def fresh(pg_url):  # noqa: F811
    reset_postgres(pg_url)
    return pg_url


def test_upgrade_head_equals_orm_and_0001_with_data_upgrades(fresh):
    engine = db.make_engine(fresh)
    db.upgrade(engine, "0001")
    fill_revision_0001(engine)
    with engine.begin() as c:  # rows were inserted with explicit ids: move the sequences past them
        for table in ("raters", "cases", "interpretations", "ratings"):
            c.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 100)"))
    engine.dispose()
    store = Store(fresh)
    assert db.current_revision(store.engine) == "0002" and schema_diff(store.engine) == []
    old = store.authenticate("old", "old-password")
    assert [(h.version, h.comment) for h in store.rating_history(old, 1)] == [(1, "kept")]
    replay = store.submit_rating(
        old, 2, store.get_rating(old, 2).scores, "kept", 12.5, idempotency_key="old-key-2"
    )
    assert replay.version == 1 and store.counts()["rating_versions"] == 2
    store.close()


@pytest.fixture
def populated(fresh):
    import numpy as np

    from gem_core.ecg import ECG

    store = Store(fresh)
    admin = store.create_rater("admin", "admin-password", role="admin")
    raters = [store.create_rater(f"p{i}", "rater-password", actor=admin) for i in range(10)]
    case = store.add_case(ECG(signal=np.zeros((12, 500)), fs=500.0))
    interps = [store.add_interpretation(case, "gem", f"reading {i}") for i in range(40)]
    yield store, fresh, raters, interps
    store.close()


def test_threads_and_processes_write_exactly_once(populated):
    store, url, raters, interps = populated
    queue = SPAWN.Queue()
    procs = [
        SPAWN.Process(target=_process_writer, args=(url, raters[i], i, interps, queue)) for i in range(2)
    ]
    for p in procs:
        p.start()
    results = {}

    def run(i):
        results[i] = write_ratings(url, raters[i], i, interps, store=store)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2, 10)]
    for t in threads:
        t.start()
    for _ in procs:
        i, res = queue.get(timeout=240)
        results[i] = res
    for t in threads:
        t.join(240)
    for p in procs:
        p.join(60)
    assert sorted(results) == list(range(10))
    edits = sum(r["edits"] for r in results.values())
    counts = store.counts()
    assert counts["ratings"] == 400 and counts["rating_versions"] == 400 + edits
    ids = [i for r in results.values() for i in r["ids"]]
    assert len(ids) == len(set(ids)) == 400


def test_writer_killed_mid_transaction_leaves_nothing(populated):
    store, url, raters, interps = populated
    before = store.counts()
    ready = SPAWN.Event()
    proc = SPAWN.Process(target=_die_mid_transaction, args=(url, raters[0].id, interps[:10], ready))
    proc.start()
    assert ready.wait(120)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    # the rows the dead transaction held are free again: the same rating goes through
    done = store.submit_rating(raters[0], interps[0], dict.fromkeys(METRIC_NAMES, 3), idempotency_key="after")
    assert done.version == 1
    after = store.counts()
    assert (
        after["ratings"] == before["ratings"] + 1
        and after["rating_versions"] == before["rating_versions"] + 1
    )
    with store.session() as s:
        assert (
            s.execute(sa.text("SELECT count(*) FROM ratings WHERE idempotency_key LIKE 'doomed-%'")).scalar()
            == 0
        )
