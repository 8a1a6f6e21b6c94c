"""Alembic migrations: head equals the ORM schema; a database made by 0001 with data in it upgrades."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from annotations import db
from annotations.metrics import METRIC_NAMES
from annotations.models import Base
from annotations.store import Store, hash_password
from tests.conftest import REPO


def schema_diff(engine) -> list:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)


def test_revisions_form_one_chain_with_at_least_two_steps():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(db.alembic_config())
    revs = list(script.walk_revisions())
    assert [r.revision for r in reversed(revs)] == ["0001", "0002"] and db.head_revision() == "0002"


def test_upgrade_head_on_an_empty_database_equals_the_orm_schema(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    assert schema_diff(engine) == []
    # and the comparison is not vacuous: the schema of 0001 differs from the ORM
    old = db.make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    db.upgrade(old, "0001")
    kinds = {d[0] if isinstance(d, tuple) else d[0][0] for d in schema_diff(old)}
    assert {"add_table", "add_column", "add_index"} <= kinds


def test_alembic_command_line_with_the_packaged_ini(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    ini = REPO / "annotations" / "alembic.ini"
    out = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "-x", f"url={url}", "upgrade", "head"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert db.current_revision(db.make_engine(url)) == "0002"


def fill_revision_0001(engine) -> None:
    """Rows as the 0001 schema knew them: ratings edited in place, one idempotency key each."""
    now = datetime(2026, 1, 2, 3, 4, 5)
    scores = {m: 2 + i % 3 for i, m in enumerate(METRIC_NAMES)}
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO raters (id, pseudonym, username, display_name, role, password_hash, created_at) "
                "VALUES (1, 'R-00000001', 'old', 'Old Rater', 'rater', :h, :now), "
                "(2, 'R-00000002', 'boss', 'Boss', 'admin', :h, :now)"
            ),
            {"h": hash_password("old-password"), "now": now},
        )
        c.execute(
            sa.text(
                "INSERT INTO cases (id, content_hash, source, record_id, fs, n_samples, metadata, created_at) "
                "VALUES (1, :hash, 'x.hea', 'x', 500.0, 5000, '{}', :now)"
            ),
            {"hash": "a" * 64, "now": now},
        )
        c.execute(
            sa.text(
                "INSERT INTO interpretations (id, case_id, model, model_version, question, params, text, created_at, "
                "idempotency_key) VALUES (1, 1, 'gem', '', 'q?', '{}', 'Sinus rhythm.', :now, 'i1'), "
                "(2, 1, 'baseline', '', 'q?', '{}', 'Normal ECG.', :now, 'i2')"
            ),
            {"now": now},
        )
        cols = ", ".join(METRIC_NAMES)
        marks = ", ".join(f":{m}" for m in METRIC_NAMES)
        for rid, interp, key in [(1, 1, "old-key-1"), (2, 2, "old-key-2")]:
            c.execute(
                sa.text(
                    f"INSERT INTO ratings (id, rater_id, interpretation_id, {cols}, comment, seconds, created_at, "
                    f"updated_at, idempotency_key) VALUES ({rid}, 1, {interp}, {marks}, 'kept', 12.5, :now, :now, :key)"
                ),
                {**scores, "now": now, "key": key},
            )


def test_upgrading_a_0001_database_with_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'legacy.sqlite3'}"
    engine = db.make_engine(url)
    db.upgrade(engine, "0001")
    fill_revision_0001(engine)
    engine.dispose()

    store = Store(url)  # opening the store upgrades to head
    assert db.current_revision(store.engine) == "0002"
    assert schema_diff(store.engine) == []
    old = store.authenticate("old", "old-password")
    history = store.rating_history(old, 1)
    assert [(h.version, h.comment, h.seconds) for h in history] == [(1, "kept", 12.5)]
    assert history[0].scores == {m: 2 + i % 3 for i, m in enumerate(METRIC_NAMES)}
    # a client retrying its pre-upgrade submit gets the original back; nothing new is written
    replay = store.submit_rating(old, 1, history[0].scores, "kept", 12.5, idempotency_key="old-key-1")
    assert (replay.id, replay.version) == (1, 1) and store.counts()["rating_versions"] == 2
    edited = store.submit_rating(old, 1, dict.fromkeys(METRIC_NAMES, 5), "revised", idempotency_key="new-key")
    assert edited.version == 2 and [h.version for h in store.rating_history(old, 1)] == [1, 2]
    with store.session() as s:
        assert s.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
        assert s.execute(sa.text("PRAGMA foreign_key_check")).all() == []
    store.close()


def _open_store(url: str) -> None:
    Store(url).close()


def test_concurrent_openers_migrate_once(tmp_path):
    """Several processes opening a fresh database at once: one migrates, the others wait and find head."""
    from tests.test_store_concurrency import SPAWN

    url = f"sqlite:///{tmp_path / 'race.sqlite3'}"
    procs = [SPAWN.Process(target=_open_store, args=(url,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert db.current_revision(db.make_engine(url)) == "0002"
    assert schema_diff(db.make_engine(url)) == []


@pytest.mark.parametrize("revision", ["0001"])
def test_downgrade_then_upgrade_again(tmp_path, revision):
    from alembic import command

    url = f"sqlite:///{tmp_path / 'down.sqlite3'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    with engine.begin() as conn:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
    assert db.current_revision(engine) == revision
    db.upgrade(engine)
    assert schema_diff(engine) == []
