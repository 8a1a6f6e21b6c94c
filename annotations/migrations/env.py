"""Alembic environment: runs on the connection Store passes in, or on a URL (``-x url=...``/GEM_DB_URL)."""

from alembic import context

from annotations.db import make_engine
from annotations.models import Base

config = context.config
target_metadata = Base.metadata


def run_on(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_on(connection)
elif context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = make_engine(context.get_x_argument(as_dictionary=True).get("url"))
    with engine.connect() as conn:
        run_on(conn)
        conn.commit()
    engine.dispose()
