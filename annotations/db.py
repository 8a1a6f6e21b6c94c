"""Engines for the ratings store: SQLite (WAL, foreign keys, busy timeout) or any SQLAlchemy URL.

SQLite notes: Python's sqlite3 module opens transactions lazily and on its own schedule; we switch
that off (``isolation_level=None``) and emit ``BEGIN`` ourselves so SQLAlchemy's transaction is the
database's transaction. Write sessions use ``BEGIN IMMEDIATE`` so that two writers queue on the
busy timeout instead of failing when a read lock is upgraded.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from gem_core.errors import GemError
from gem_core.settings import Settings, get_settings

BUSY_TIMEOUT_MS = 30_000
BEGIN_OPTION = "gem_sqlite_begin"  # execution option naming the BEGIN flavour (DEFERRED/IMMEDIATE)


def is_sqlite(engine_or_url) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(str(engine_or_url))
    return url.get_backend_name() == "sqlite"


def resolve_url(url: str | None = None, settings: Settings | None = None) -> str:
    """The database URL: ``url`` when given, else ``GEM_DB_URL``, else a SQLite file under the data dir."""
    if url:
        return str(url)
    return (settings or get_settings()).database_url


def make_engine(url: str | None = None, settings: Settings | None = None, echo: bool = False) -> Engine:
    """An engine for ``url`` (see ``resolve_url``), with the SQLite pragmas this store relies on.

    >>> eng = make_engine("sqlite://")
    >>> with eng.connect() as c:
    ...     c.exec_driver_sql("PRAGMA foreign_keys").scalar()
    1
    """
    url = resolve_url(url, settings)
    try:
        parsed = make_url(url)
    except Exception as err:  # sqlalchemy raises ArgumentError with a terse message
        raise GemError(
            f"database URL {url!r} is not valid ({err}); set GEM_DB_URL to e.g. sqlite:///data/x.db"
        ) from None
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, echo=echo)
    db = parsed.database
    if db and db != ":memory:" and not db.startswith("file:"):
        folder = Path(db).expanduser().resolve().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise GemError(
                f"cannot create the folder {folder} for the ratings database ({err.strerror}); set GEM_DATA_DIR or GEM_DB_URL"
            ) from None
    engine = create_engine(
        parsed, echo=echo, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    )
    _install_sqlite_hooks(engine)
    return engine


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across app crashes, fast commits
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = conn.get_execution_options().get(BEGIN_OPTION, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def writer(engine: Engine) -> Engine:
    """The same engine, whose transactions take the write lock up front on SQLite (``BEGIN IMMEDIATE``)."""
    return engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"}) if is_sqlite(engine) else engine


MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None):
    """An Alembic ``Config`` for this package's migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", str(url))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (Alembic), safe to call from many processes at once.

    The migration runs inside one transaction that first takes a database-wide lock (``BEGIN
    IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL) and re-reads the current revision, so
    concurrent callers wait for the first one and then find nothing to do. SQLite now and then answers
    a wait at once with "database is locked" rather than through its busy timeout (1 of 37 runs of four
    processes opening one fresh file together, under load); the whole call, which finds nothing to do
    once another has migrated, is then tried again until the busy timeout.
    """
    from sqlalchemy.exc import OperationalError

    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return _upgrade_once(engine, revision)
        except OperationalError as err:
            if not is_sqlite(engine) or "locked" not in str(err.orig) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _upgrade_once(engine: Engine, revision: str) -> None:
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    target = head_revision() if revision == "head" else revision
    if current_revision(engine) == target:
        return
    cfg = alembic_config()
    with writer(engine).connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4713)")  # any fixed number: our lock
        if MigrationContext.configure(conn).get_current_revision() != target:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)


def write_lock(engine: Engine) -> threading.Lock | contextlib.nullcontext:
    """What a process's writer threads queue on: a lock for SQLite (one writer at a time; a lock
    wakes the next thread at once, where SQLite's busy handler would poll with sleeps), nothing for
    server databases. Between processes SQLite's own locking and busy timeout do the queueing.
    """
    return threading.Lock() if is_sqlite(engine) else contextlib.nullcontext()
