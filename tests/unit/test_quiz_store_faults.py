"""Progress store under concurrency and bad input (issue 13 item 5): several processes on one
SQLite file, the first answer of a new learner, two reviews of one card at once, answers with
invalid UTF-8. Real processes (multiprocessing, spawn) on a real database file."""

from __future__ import annotations

import multiprocessing as mp
from datetime import datetime, timedelta, timezone

from tutor.quiz.progress import Progress
from tutor.quiz.schedule import Schedule

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


def _same_card(url: str, k: int, barrier, out) -> None:
    try:
        p = Progress(url)
        sched = Schedule()
        barrier.wait(timeout=30)
        now = T0 + timedelta(days=1, seconds=k)
        p.record("amy", "1.1.1/short-x", "1.1.1", "short", f"round {k}", 1.0, "correct", "good", 5000, now,
                 lambda old: sched.review(old, "good", now))
        out.put(("ok", k))
    except Exception as e:
        out.put(("error", f"{e.__class__.__name__}: {e}"))


def _run(target, args_for, n: int) -> list:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_for(k), barrier, out)) for k in range(n)]
    for p in procs:
        p.start()
    res = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return res


def test_first_answer_of_a_new_learner_from_several_processes_at_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    Progress(url)  # tables exist; the user does not
    for rnd in range(3):
        user = f"new-learner-{rnd}"
        res = _run(_first_answer, lambda k: (url, user, k), 6)
        assert [r for r in res if r[0] == "error"] == []
        assert len(Progress(url).reviews(user)) == 6, "an answer was lost"
    assert Progress(url).users() == ["new-learner-0", "new-learner-1", "new-learner-2"]


def test_two_reviews_of_one_card_at_once_both_count(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
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


def test_answers_with_invalid_utf8_are_stored(tmp_path):
    p = Progress(f"sqlite:///{tmp_path / 'p.db'}")
    bad = b"abc \xff\xfe \xe6\xba\xa2\xe5\x87\xba".decode("utf-8", "surrogateescape")  # what stdin gives for bad bytes
    p.record("amy", "1.1.1/short-x", "1.1.1", "short", bad, 0.0, "wrong", "again", None, T0, Schedule().review(None, "again", T0))
    p.record("\udcff-bob", "1.1.1/short-x", "1.1.1", "short", "\ud800", 0.0, "wrong", "again", None, T0,
             Schedule().review(None, "again", T0))
    assert p.reviews("amy")[0].answer == "abc \ufffd\ufffd 溢出"
    assert p.reviews("\ufffd-bob")[0].answer == "\ufffd"


def _quiz_round(home: str, item_id: str, answer: str, k: int, barrier, out) -> None:
    try:
        from pathlib import Path

        from tests.conftest import make_settings
        from tutor.quiz.service import Quiz
        from tutor.rag.embed import hash_embedder
        from tutor.tutor import build_tutor

        q = Quiz(build_tutor(make_settings(Path(home)), embedder=hash_embedder()))
        q.item(item_id)  # build the bank before the race
        barrier.wait(timeout=60)
        q.grade("amy", item_id, answer, latency_ms=5000, now=T0 + timedelta(days=1, seconds=k))
        out.put(("ok", k))
    except Exception as e:
        out.put(("error", f"{e.__class__.__name__}: {e}"))


def test_two_quiz_rounds_answering_one_card_at_once(tmp_path):
    """Through the quiz engine (as two browser tabs or a tab and the CLI do): each answer is
    scheduled from the state the previous one left, so none is overwritten by an older state."""
    from tests.conftest import make_settings
    from tutor.quiz.service import Quiz
    from tutor.rag.embed import hash_embedder
    from tutor.tutor import build_tutor

    home = tmp_path / "home"
    q = Quiz(build_tutor(make_settings(home), embedder=hash_embedder()))
    it = q.next_items("amy", scope="3.4.2", mode="new", type="choice", n=1)[0]
    right = "ABCD"[it.answer]
    q.grade("amy", it.id, right, latency_ms=5000, now=T0)
    n = 4
    res = _run(_quiz_round, lambda k: (str(home), it.id, right, k), n)
    assert [r for r in res if r[0] == "error"] == []
    card = q.store.cards("amy")[it.id]
    assert card.reps == n + 1
    st, sched = None, Schedule()
    for r in q.store.reviews_in_commit_order("amy"):
        st = sched.review(st, r.rating, r.time, r.latency_ms)
    assert (card.state.stability, card.state.difficulty, card.state.due) == (st.stability, st.difficulty, st.due)
