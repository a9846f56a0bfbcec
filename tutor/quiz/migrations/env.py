"""Alembic environment of the progress store. `Progress(url)` runs it with its own connection
(`config.attributes["connection"]`, inside a transaction that holds the migration lock); the
alembic command line runs it on the URL given with `-x url=…` (else TUTOR_DATABASE_URL):

    alembic -c tutor/quiz/migrations/alembic.ini -x url=sqlite:////tmp/p.db upgrade head

No logging configuration is read or set here (the application's own stays as it is)."""

from __future__ import annotations

import os

from alembic import context

from tutor.quiz.progress import Base, migration_lock, store_engine

config = context.config


def _configure(**kw) -> None:
    context.configure(target_metadata=Base.metadata, compare_type=True, **kw)


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("TUTOR_DATABASE_URL")
    if not url:
        raise SystemExit("give the database: alembic -c tutor/quiz/migrations/alembic.ini -x url=URL …")
    return url


def _run(connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():  # --sql: print the DDL
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    _run(config.attributes["connection"])
else:
    engine = store_engine(_url())
    try:
        with engine.begin() as conn:
            migration_lock(conn)
            _run(conn)
    finally:
        engine.dispose()
