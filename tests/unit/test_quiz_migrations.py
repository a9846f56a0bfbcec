"""The progress store's schema under Alembic (issue 18 item 2), on SQLite and PostgreSQL: a new
database is at head and the migrations build exactly what the models describe; a database
written before migrations (the old create_all layout, with or without the columns added
later) opens with every row kept; processes opening a new database at once all succeed; a
database from a newer version is refused in one line; opening prints nothing and leaves the
logging configuration alone; the alembic command line works as the docstring says; without
the PostgreSQL server binaries the test server fixture fails saying what to run."""

from __future__ import annotations

import logging
import multiprocessing as mp
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tests.conftest import ROOT
from tutor.quiz.progress import SCHEMA_HEAD, Base, Progress, alembic_config, schema_revision
from tutor.quiz.schedule import Schedule

pytest_plugins = ["tests.pg"]
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
LATER = ("flags", "prior", "contest")  # reviews columns the code before migrations added to older files


def _at_head_as_the_models_say(engine) -> None:
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_heads() == (HEAD,) and schema_revision(conn) == HEAD
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []


def test_a_new_database_is_at_head_with_the_schema_the_models_describe(store_url):
    p = Progress(store_url)
    _at_head_as_the_models_say(p.engine)
    assert SCHEMA_HEAD == HEAD, "set SCHEMA_HEAD in tutor/quiz/progress.py to the newest revision"
    p.close()
    Progress(store_url).close()  # opening it again changes nothing
    _at_head_as_the_models_say(Progress(store_url).engine)


# The code before migrations: SQLite DDL exactly as its create_all emitted it (first release:
# no flags / prior / contest; _add_missing_columns appended them to older files later).
OLD_SQLITE = """
CREATE TABLE generated_items (id INTEGER NOT NULL, note_id VARCHAR(20) NOT NULL, note_hash VARCHAR(64) NOT NULL,
    model VARCHAR(200) NOT NULL, payload JSON NOT NULL, created_at DATETIME NOT NULL, PRIMARY KEY (id));
CREATE INDEX ix_generated_items_note_id ON generated_items (note_id);
CREATE TABLE users (id INTEGER NOT NULL, name VARCHAR(100) NOT NULL, created_at DATETIME NOT NULL, PRIMARY KEY (id),
    UNIQUE (name));
CREATE TABLE cards (id INTEGER NOT NULL, user_id INTEGER NOT NULL, item_id VARCHAR(80) NOT NULL,
    note_id VARCHAR(20) NOT NULL, item_type VARCHAR(10) NOT NULL, state INTEGER NOT NULL, step INTEGER,
    stability FLOAT, difficulty FLOAT, due DATETIME NOT NULL, last_review DATETIME, reps INTEGER NOT NULL,
    lapses INTEGER NOT NULL, PRIMARY KEY (id), UNIQUE (user_id, item_id), FOREIGN KEY(user_id) REFERENCES users (id));
CREATE INDEX ix_cards_due ON cards (due);
CREATE INDEX ix_cards_user_id ON cards (user_id);
CREATE INDEX ix_cards_note_id ON cards (note_id);
CREATE TABLE reviews (id INTEGER NOT NULL, user_id INTEGER NOT NULL, time DATETIME NOT NULL,
    item_id VARCHAR(80) NOT NULL, note_id VARCHAR(20) NOT NULL, item_type VARCHAR(10) NOT NULL, answer TEXT NOT NULL,
    score FLOAT NOT NULL, verdict VARCHAR(10) NOT NULL, rating VARCHAR(10) NOT NULL, latency_ms INTEGER,
    PRIMARY KEY (id), FOREIGN KEY(user_id) REFERENCES users (id));
CREATE INDEX ix_reviews_user_id ON reviews (user_id);
CREATE INDEX ix_reviews_item_id ON reviews (item_id);
CREATE INDEX ix_reviews_note_id ON reviews (note_id);
CREATE INDEX ix_reviews_time ON reviews (time);
"""


def _old_postgresql(engine, later: tuple[str, ...]) -> None:
    """What the old code's create_all made on PostgreSQL (its models, VARCHAR(n) and INTEGER)."""
    m = sa.MetaData()
    dt = sa.DateTime(timezone=True)
    sa.Table("users", m, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(100), unique=True, nullable=False),
             sa.Column("created_at", dt, nullable=False))
    sa.Table("cards", m, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("user_id", sa.ForeignKey("users.id"), index=True, nullable=False),
             sa.Column("item_id", sa.String(80), nullable=False), sa.Column("note_id", sa.String(20), index=True, nullable=False),
             sa.Column("item_type", sa.String(10), nullable=False), sa.Column("state", sa.Integer, nullable=False),
             sa.Column("step", sa.Integer), sa.Column("stability", sa.Float), sa.Column("difficulty", sa.Float),
             sa.Column("due", dt, index=True, nullable=False), sa.Column("last_review", dt),
             sa.Column("reps", sa.Integer, nullable=False), sa.Column("lapses", sa.Integer, nullable=False),
             sa.UniqueConstraint("user_id", "item_id"))
    sa.Table("reviews", m, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("user_id", sa.ForeignKey("users.id"), index=True, nullable=False),
             sa.Column("time", dt, index=True, nullable=False), sa.Column("item_id", sa.String(80), index=True, nullable=False),
             sa.Column("note_id", sa.String(20), index=True, nullable=False), sa.Column("item_type", sa.String(10), nullable=False),
             sa.Column("answer", sa.Text, nullable=False), sa.Column("score", sa.Float, nullable=False),
             sa.Column("verdict", sa.String(10), nullable=False), sa.Column("rating", sa.String(10), nullable=False),
             sa.Column("latency_ms", sa.Integer), *[sa.Column(c, sa.JSON) for c in later])
    sa.Table("generated_items", m, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("note_id", sa.String(20), index=True, nullable=False), sa.Column("note_hash", sa.String(64), nullable=False),
             sa.Column("model", sa.String(200), nullable=False), sa.Column("payload", sa.JSON, nullable=False),
             sa.Column("created_at", dt, nullable=False))
    m.create_all(engine)


def _old_database(url: str, later: tuple[str, ...]) -> None:
    """A database as the code before migrations left it, with a learner, a card, two reviews and
    a generated item in it; `later`: which of LATER its reviews table has."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        con = sqlite3.connect(engine.url.database)
        con.executescript(OLD_SQLITE)
        for col in later:
            con.execute(f"ALTER TABLE reviews ADD COLUMN {col} JSON")
        con.commit()
        con.close()
    else:
        _old_postgresql(engine, later)
    flags = ", flags" if "flags" in later else ""
    utc = "" if engine.dialect.name == "sqlite" else "+00"  # SQLite kept UTC without an offset
    with engine.begin() as c:
        c.execute(sa.text(f"INSERT INTO users (name, created_at) VALUES ('amy', '2025-03-01 09:00:00.000000{utc}')"))
        c.execute(sa.text("INSERT INTO cards (user_id, item_id, note_id, item_type, state, step, stability, difficulty, due, "
                          f"last_review, reps, lapses) SELECT id, '1.1.1/short-x', '1.1.1', 'short', 2, NULL, 3.5, 5.0, "
                          f"'2025-03-04 09:00:00.000000{utc}', '2025-03-01 09:01:00.000000{utc}', 2, 0 FROM users WHERE name = 'amy'"))
        for k, (answer, flag) in enumerate([("旧的回答", '["hinted"]'), ("second", "[]")]):
            c.execute(sa.text(f"INSERT INTO reviews (user_id, time, item_id, note_id, item_type, answer, score, verdict, rating, "
                              f"latency_ms{flags}) SELECT id, '2025-03-01 09:0{k}:00.000000{utc}', '1.1.1/short-x', '1.1.1', "
                              f"'short', :a, 0.8, 'correct', 'good', 4000{', :f' if flags else ''} FROM users WHERE name = 'amy'"),
                      {"a": answer, "f": flag})
        c.execute(sa.text("INSERT INTO generated_items (note_id, note_hash, model, payload, created_at) VALUES "
                          f"('1.1.1', 'h1', 'smollm2', '{{\"q\": \"问\"}}', '2025-03-01 09:00:00.000000{utc}')"))
    engine.dispose()


@pytest.mark.parametrize("later", [(), LATER, ("flags", "prior")], ids=["first-release", "with-contest-columns", "contest-missing"])
def test_a_database_from_before_migrations_opens_with_every_row_kept(store_url, later):
    _old_database(store_url, later)
    p = Progress(store_url)
    _at_head_as_the_models_say(p.engine)
    assert p.users() == ["amy"]
    revs = p.reviews("amy")
    assert [(r.answer, r.verdict, r.rating, r.latency_ms, r.contest) for r in revs] == [
        ("旧的回答", "correct", "good", 4000, None), ("second", "correct", "good", 4000, None)]
    assert [r.flags for r in revs] == ([["hinted"], []] if "flags" in later else [[], []])
    assert revs[0].time == T0
    (card,) = p.cards("amy").values()
    assert (card.item_id, card.reps, card.state.stability, card.state.due) == ("1.1.1/short-x", 2, 3.5, T0 + timedelta(days=3))
    assert p.generated() == {"1.1.1": ("h1", [{"q": "问"}])}
    # and it works as a new one: a review with flags, a contest refused for the old rows
    t1 = T0 + timedelta(days=3)
    p.record("amy", "1.1.1/short-x", "1.1.1", "short", "新", 0.2, "wrong", "again", 2**33, t1,
             lambda old: Schedule().review(old, "again", t1), ["hinted"])
    assert p.reviews("amy")[-1].flags == ["hinted"] and p.cards("amy")["1.1.1/short-x"].reps == 3
    p.close()
    Progress(store_url).close()


def _open(url: str, k: int, barrier, out) -> None:
    try:
        barrier.wait(timeout=180)  # spawned processes import SQLAlchemy first: slow on 2 busy cores
        Progress(url).record(f"learner-{k}", "1.1.1/short-x", "1.1.1", "short", "a", 1.0, "correct", "good", None, T0, None)
        out.put(("ok", k))
    except Exception as e:
        out.put(("error", f"{e.__class__.__name__}: {e}"))


def test_processes_opening_a_new_database_at_once_all_succeed(store_url):
    ctx = mp.get_context("spawn")
    n = 4
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_open, args=(store_url, k, barrier, out)) for k in range(n)]
    for p in procs:
        p.start()
    res = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [r for r in res if r[0] == "error"] == []
    p = Progress(store_url)
    _at_head_as_the_models_say(p.engine)
    assert p.users() == [f"learner-{k}" for k in range(n)]


def test_a_database_from_a_newer_version_is_refused_in_one_line(store_url):
    Progress(store_url).close()
    engine = sa.create_engine(store_url)
    with engine.begin() as c:
        c.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(Progress.Unavailable, match=r"revision 9999.*newer version of tutor.*TUTOR_DATABASE_URL") as e:
        Progress(store_url)
    assert "\n" not in str(e.value)


def test_opening_prints_nothing_and_leaves_logging_alone(store_url, capfd):
    root, alembic_log = logging.getLogger(), logging.getLogger("alembic")
    before = (list(root.handlers), root.level, list(alembic_log.handlers), alembic_log.level, alembic_log.disabled)
    Progress(store_url).close()
    assert (list(root.handlers), root.level, list(alembic_log.handlers), alembic_log.level, alembic_log.disabled) == before
    assert capfd.readouterr() == ("", "")


def test_the_alembic_command_line_as_documented(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    run = [sys.executable, "-m", "alembic", "-c", "tutor/quiz/migrations/alembic.ini", "-x", f"url={url}"]
    out = subprocess.run([*run, "upgrade", "head"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([*run, "current"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0 and f"{HEAD} (head)" in out.stdout, out.stderr
    out = subprocess.run([*run, "check"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0 and "No new upgrade operations detected" in out.stdout, out.stderr


def test_without_the_postgresql_binaries_the_fixture_fails_saying_what_to_run(monkeypatch):
    from tests import pg

    monkeypatch.setattr(pg, "_bindir", lambda: None)
    with pytest.raises(pytest.fail.Exception, match=r"^PostgreSQL server binaries not found .*run `make sysdeps`"):
        pg.PgServer()
