"""Progress store under concurrency and bad input (issue 13 item 5, issue 18 item 2): several
processes on one database, the first answer of a new learner, two reviews of one card at once
(of a card seen before and of a new one), two processes saving one note's generated items,
answers with invalid UTF-8 or NUL characters, text longer than the columns' declared length.
Real processes (multiprocessing, spawn) on a real SQLite file and a real PostgreSQL server
(`store_url`, tests/pg.py): every test runs on both."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import threading
from datetime import datetime, timedelta, timezone

import pytest

from tutor.quiz.progress import Progress, _wal
from tutor.quiz.schedule import Schedule

pytest_plugins = ["tests.pg"]
T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)


def _first_answer(url: str, user: str, k: int, barrier, out) -> None:
    try:
        p = Progress(url)
        barrier.wait(timeout=30)
        p.record(user, f"1.1.1/short-{k}", "1.1.1", "short", f"answer {k}", 0.8, "correct", "good", 5000,
                 T0 + timedelta(seconds=k), Schedule().review(None, "good", T0))
        out.put(("ok", k))
    except Exception as e:  # reported to the parent, which fails the test with it
        out.put(("error", f"{e.__class__.__name__}: {e}"))


def _same_card(url: str, k: int, barrier, out, user: str = "amy") -> None:
    try:
        p = Progress(url)
        sched = Schedule()
        barrier.wait(timeout=30)
        now = T0 + timedelta(days=1, seconds=k)
        p.record(user, "1.1.1/short-x", "1.1.1", "short", f"round {k}", 1.0, "correct", "good", 5000, now,
                 lambda old: sched.review(old, "good", now))
        out.put(("ok", k))
    except Exception as e:
        out.put(("error", f"{e.__class__.__name__}: {e}"))


def _save_generated(url: str, k: int, barrier, out) -> None:
    try:
        p = Progress(url)
        barrier.wait(timeout=30)
        p.save_generated("1.1.1", f"hash-{k}", "model", [{"k": k, "i": i} for i in range(3)], T0 + timedelta(seconds=k))
        out.put(("ok", k))
    except Exception as e:
        out.put(("error", f"{e.__class__.__name__}: {e}"))


def _run(target, args_for, n: int, after=lambda k: ()) -> list:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_for(k), barrier, out, *after(k))) for k in range(n)]
    for p in procs:
        p.start()
    res = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return res


def test_first_answer_of_a_new_learner_from_several_processes_at_once(store_url):
    url = store_url
    Progress(url)  # tables exist; the user does not
    for rnd in range(3):
        user = f"new-learner-{rnd}"
        res = _run(_first_answer, lambda k: (url, user, k), 6)
        assert [r for r in res if r[0] == "error"] == []
        assert len(Progress(url).reviews(user)) == 6, "an answer was lost"
    assert Progress(url).users() == ["new-learner-0", "new-learner-1", "new-learner-2"]


def test_two_reviews_of_one_card_at_once_both_count(store_url):
    url = store_url
    p = Progress(url)
    sched = Schedule()
    p.record("amy", "1.1.1/short-x", "1.1.1", "short", "first", 1.0, "correct", "good", 5000, T0, sched.review(None, "good", T0))
    n = 6
    res = _run(_same_card, lambda k: (url, k), n)
    assert [r for r in res if r[0] == "error"] == []
    card = p.cards("amy")["1.1.1/short-x"]
    assert card.reps == n + 1
    # each review was applied to the state the one before it left: replaying them in commit
    # order gives the stored state (a lost update leaves a state computed from an older one)
    st = None
    for r in p.reviews_in_commit_order("amy"):
        st = sched.review(st, r.rating, r.time)
    assert (card.state.stability, card.state.difficulty, card.state.due) == (st.stability, st.difficulty, st.due)


def test_two_first_reviews_of_a_new_card_by_a_new_learner_at_once_both_count(store_url):
    """Nothing to lock yet (no user row, no card row): the second review still waits for the
    first and is applied to the card it created."""
    url = store_url
    p = Progress(url)
    n = 6
    res = _run(_same_card, lambda k: (url, k), n)
    assert [r for r in res if r[0] == "error"] == []
    card = p.cards("amy")["1.1.1/short-x"]
    assert card.reps == n and len(p.reviews("amy")) == n
    st, sched = None, Schedule()
    for r in p.reviews_in_commit_order("amy"):
        st = sched.review(st, r.rating, r.time)
    assert (card.state.stability, card.state.difficulty, card.state.due) == (st.stability, st.difficulty, st.due)


def test_two_processes_saving_one_notes_generated_items_keep_one_set(store_url):
    url = store_url
    res = _run(_save_generated, lambda k: (url, k), 4)
    assert [r for r in res if r[0] == "error"] == []
    note_hash, payloads = Progress(url).generated()["1.1.1"]
    assert len(payloads) == 3 and {p["k"] for p in payloads} == {int(note_hash.split("-")[1])}


def test_answers_with_invalid_utf8_are_stored(store_url):
    p = Progress(store_url)
    bad = b"abc \xff\xfe \xe6\xba\xa2\xe5\x87\xba".decode("utf-8", "surrogateescape")  # what stdin gives for bad bytes
    p.record("amy", "1.1.1/short-x", "1.1.1", "short", bad, 0.0, "wrong", "again", None, T0, Schedule().review(None, "again", T0))
    p.record("\udcff-bob", "1.1.1/short-x", "1.1.1", "short", "\ud800", 0.0, "wrong", "again", None, T0,
             Schedule().review(None, "again", T0))
    assert p.reviews("amy")[0].answer == "abc \ufffd\ufffd 溢出"
    assert p.reviews("\ufffd-bob")[0].answer == "\ufffd"


def test_nul_characters_are_stored_as_replacement_characters_on_every_backend(store_url):
    """PostgreSQL refuses NUL in text; the store keeps U+FFFD in its place on SQLite too, in
    names, answers, ids, flags and JSON, and finds the learner by the name as given."""
    p = Progress(store_url)
    sched = Schedule()
    p.record("nul\x00amy", "1.1.1/short-\x00", "1.1.1", "short", "a\x00b", 0.0, "wrong", "again", None, T0,
             sched.review(None, "again", T0), ["flag\x00"])
    (r,) = p.reviews("nul\x00amy")
    assert (r.answer, r.item_id, r.flags) == ("a\ufffdb", "1.1.1/short-\ufffd", ["flag\ufffd"])
    assert p.users() == ["nul\ufffdamy"] and list(p.cards("nul\ufffdamy")) == ["1.1.1/short-\ufffd"]
    p.save_generated("1.1.1", "h", "m\x00", [{"q\x00": "x\x00y", "opts": ["\x00"]}], T0)
    assert p.generated() == {"1.1.1": ("h", [{"q\ufffd": "x\ufffdy", "opts": ["\ufffd"]}])}
    export = p.export_user("nul\x00amy")
    export["reviews"][0].update(time=(T0 + timedelta(days=1)).isoformat(), answer="c\x00", contest={"note": "\x00"})
    assert p.import_user(export, "bob\x00")["reviews_added"] == 1
    assert [(r.answer, r.contest) for r in p.reviews("bob\ufffd")] == [("c\ufffd", {"note": "\ufffd"})]


def test_what_one_backend_stores_the_other_stores_too(store_url):
    """Values SQLite never refused: text longer than a column's declared VARCHAR length, a
    latency beyond 32 bits (a tab left open for weeks), times given in any UTC offset (read
    back as the same instant in UTC), learner names in code-point order."""
    p = Progress(store_url)
    sched = Schedule()
    name, item, model = "学" * 300, "1.1.1/short-" + "x" * 200, "/models/" + "m" * 500 + ".gguf"
    local = datetime(2025, 3, 1, 17, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
    p.record(name, item, "1.1.1", "short", "答" * 10_000, 0.5, "partial", "hard", 2**40, local, sched.review(None, "hard", local))
    (r,) = p.reviews(name)
    assert (r.item_id, r.latency_ms, len(r.answer)) == (item, 2**40, 10_000)
    assert r.time == local and r.time.utcoffset() == timedelta(0)
    assert p.cards(name)[item].state.last_review == local
    p.save_generated("1.1.1", "h" * 100, model, [{"q": "问"}], local)
    assert p.generated()["1.1.1"] == ("h" * 100, [{"q": "问"}])
    for n in ("bob", "Zoe", "Émile", "amy"):
        p.record(n, item, "1.1.1", "short", "", 0.0, "wrong", "again", None, T0, None)
    assert p.users() == sorted([name, "bob", "Zoe", "Émile", "amy"])  # Zoe before amy: not a locale's order


def _quiz_round(home: str, item_id: str, answer: str, k: int, barrier, out, url: str | None = None) -> None:
    try:
        from pathlib import Path

        from tests.conftest import make_settings
        from tutor.quiz.service import Quiz
        from tutor.rag.embed import hash_embedder
        from tutor.tutor import build_tutor

        q = Quiz(build_tutor(make_settings(Path(home), database_url=url), embedder=hash_embedder()))
        q.item(item_id)  # build the bank before the race
        barrier.wait(timeout=60)
        q.grade("amy", item_id, answer, latency_ms=5000, now=T0 + timedelta(days=1, seconds=k))
        out.put(("ok", k))
    except Exception as e:
        out.put(("error", f"{e.__class__.__name__}: {e}"))


def test_two_quiz_rounds_answering_one_card_at_once(tmp_path, store_url):
    """Through the quiz engine (as two browser tabs or a tab and the CLI do): each answer is
    scheduled from the state the previous one left, so none is overwritten by an older state."""
    from tests.conftest import make_settings
    from tutor.quiz.service import Quiz
    from tutor.rag.embed import hash_embedder
    from tutor.tutor import build_tutor

    home = tmp_path / "home"
    q = Quiz(build_tutor(make_settings(home, database_url=store_url), embedder=hash_embedder()))
    it = q.next_items("amy", scope="3.4.2", mode="new", type="choice", n=1)[0]
    right = "ABCD"[it.answer]
    q.grade("amy", it.id, right, latency_ms=5000, now=T0)
    n = 4
    res = _run(_quiz_round, lambda k: (str(home), it.id, right, k), n, lambda k: (store_url,))
    assert [r for r in res if r[0] == "error"] == []
    card = q.store.cards("amy")[it.id]
    assert card.reps == n + 1
    st, sched = None, Schedule()
    for r in q.store.reviews_in_commit_order("amy"):
        st = sched.review(st, r.rating, r.time, r.latency_ms)
    assert (card.state.stability, card.state.difficulty, card.state.due) == (st.stability, st.difficulty, st.due)


def _locked_for(path: str, seconds: float):
    """A connection holding the file's exclusive lock, released after `seconds` (a timer)."""
    a = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    a.execute("CREATE TABLE IF NOT EXISTS t (x)")
    a.execute("BEGIN EXCLUSIVE")
    timer = threading.Timer(seconds, lambda: a.execute("COMMIT"))
    timer.start()
    return timer


def test_switching_a_new_file_to_wal_waits_for_a_lock_sqlite_does_not_wait_for(tmp_path):
    """The CI failure of session 30: processes opening a new SQLite file at once raced on the
    WAL switch, which SQLite does not retry (busy_timeout 0 here makes every lock one of those)."""
    path = str(tmp_path / "p.db")
    timer = _locked_for(path, 0.3)
    cur = sqlite3.connect(path, isolation_level=None).cursor()
    cur.execute("PRAGMA busy_timeout=0")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        cur.execute("PRAGMA journal_mode=WAL")  # without the retry: fails at once
    _wal(cur, wait_s=5)
    assert cur.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    timer.join()

    path2 = str(tmp_path / "q.db")
    timer = _locked_for(path2, 1.0)
    cur2 = sqlite3.connect(path2, isolation_level=None).cursor()
    cur2.execute("PRAGMA busy_timeout=0")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _wal(cur2, wait_s=0.2)  # a lock held past the wait is reported, not waited for forever
    timer.join()
