"""Contesting an automatic short-answer grade ("I think I was right"): the learner's rating
replaces the grade, the card is recomputed from its state before that answer (one review,
not two), the stored review keeps the grader's verdict for audit with the flag "contested";
the errors when there is nothing to contest; an older database gains the new columns; the
quiz tab's handlers and `tutor quiz` offer it after a wrong or partial grade only. The service
tests run on SQLite and on PostgreSQL (`store_url`, tests/pg.py)."""

from __future__ import annotations

import io
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import Clock, make_settings
from tutor.llm import ScriptedLLM
from tutor.quiz.grading import Grade
from tutor.rag.embed import hash_embedder
from tutor.tutor import build_tutor

pytest_plugins = ["tests.pg"]
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(days=3)
WRONG = Grade(0.2, "wrong", 0.2, 0.2, [], [], [])
PARTIAL = Grade(0.45, "partial", 0.45, 0.45, [], [], [])
CORRECT = Grade(0.9, "correct", 0.9, 0.9, [], [], [])
CHECK = Grade(0.5, "check", 0.5, 0.5, [], [], ["uncertain"])


@pytest.fixture
def tutor(tmp_path):
    from tutor.quiz.service import Quiz

    t = build_tutor(make_settings(tmp_path / "home"), llm=ScriptedLLM(), embedder=hash_embedder())
    t.__dict__["quiz"] = Quiz(t, clock=Clock(T0))
    return t


@pytest.fixture
def quiz(tmp_path, store_url):
    """The quiz service on a new progress database of each backend."""
    from tutor.quiz.service import Quiz

    t = build_tutor(make_settings(tmp_path / "home", database_url=store_url), llm=ScriptedLLM(), embedder=hash_embedder())
    return Quiz(t, clock=Clock(T0))


def _item(quiz, type_="short", note_id="3.4.2"):
    return next(i for i in quiz.bank.items if i.note_id == note_id and i.type == type_)


def _grades(quiz, monkeypatch, grade: Grade):
    monkeypatch.setattr(quiz.grader, "grade", lambda *a, **k: grade)


# -- the service ----------------------------------------------------------------------------
def test_contest_of_a_new_card_equals_scheduling_the_rating_fresh(quiz, monkeypatch):
    it = _item(quiz)
    _grades(quiz, monkeypatch, WRONG)
    r = quiz.grade("u", it.id, "我用自己的话说：只训练两个小矩阵", latency_ms=9000)
    assert (r.verdict, r.rating, r.graded) == ("wrong", "again", None)
    c = quiz.contest("u", it.id, "good", now=T0 + timedelta(seconds=30))
    assert (c.verdict, c.score, c.rating, c.flags) == ("correct", 1.0, "good", ["self_rated", "contested"])
    assert c.graded == {"verdict": "wrong", "score": 0.2, "rating": "again"} and c.answer == r.answer
    assert c.feedback.splitlines()[0] == "已用你的自评替换自动评分，并据此安排下次复习。 / " \
                                         "Your own rating replaces the automatic grade; the next review is scheduled with it."
    fresh = quiz.schedule.review(None, "good", T0, 9000)
    card = quiz.store.cards("u")[it.id]
    assert card.state == fresh and c.due == fresh.due and (card.reps, card.lapses) == (1, 0)


def test_contest_recomputes_from_the_state_before_that_answer_not_on_top(quiz, monkeypatch):
    """u: right at T0, wrong at T1, contested as Good; v: right at T0 and T1. Same card."""
    it = _item(quiz)
    for user in ("u", "v"):
        _grades(quiz, monkeypatch, CORRECT)
        quiz.grade(user, it.id, "第一次", latency_ms=None, now=T0)
    _grades(quiz, monkeypatch, WRONG)
    assert quiz.grade("u", it.id, "第二次", latency_ms=None, now=T1).rating == "again"
    assert quiz.store.cards("u")[it.id].lapses == 1
    _grades(quiz, monkeypatch, CORRECT)
    assert quiz.grade("v", it.id, "第二次", latency_ms=None, now=T1).rating == "good"
    quiz.contest("u", it.id, "3", now=T1 + timedelta(hours=2))
    u, v = quiz.store.cards("u")[it.id], quiz.store.cards("v")[it.id]
    assert u.state == v.state and (u.reps, u.lapses) == (v.reps, v.lapses) == (2, 0)
    # mastery counts the learner's score (1.0 for Good), not the grader's 0.2: u (0.9, 1.0) vs v (0.9, 0.9)
    assert quiz.progress("u", T1)["3.4.2"].own == pytest.approx(quiz.progress("v", T1)["3.4.2"].own * 0.95 / 0.9, abs=1e-3)


def test_the_stored_review_keeps_the_graders_verdict_for_audit_and_export(quiz, monkeypatch, new_store_url):
    it = _item(quiz)
    _grades(quiz, monkeypatch, PARTIAL)
    quiz.grade("u", it.id, "部分对", latency_ms=None)
    quiz.contest("u", it.id, "easy", now=T0 + timedelta(minutes=1))
    (row,) = quiz.store.reviews("u")
    assert (row.answer, row.verdict, row.score, row.rating) == ("部分对", "partial", 0.45, "easy")
    assert "contested" in row.flags and row.contested and row.grade_score == 1.0
    assert row.contest == {"time": (T0 + timedelta(minutes=1)).isoformat(), "rating": "easy", "verdict": "correct",
                           "score": 1.0, "grader_rating": "hard"}
    exported = quiz.export("u")["reviews"]
    assert [(r["verdict"], r["flags"], r["contest"]["verdict"]) for r in exported] == [("partial", ["contested"], "correct")]
    from tutor.quiz.progress import Progress

    other = Progress(new_store_url())
    other.import_user(quiz.export("u"), "w")
    assert other.reviews("w")[0].contest == row.contest and other.reviews("w")[0].flags == ["contested"]


def test_a_correct_grade_can_be_contested_too(quiz, monkeypatch):
    it = _item(quiz)
    _grades(quiz, monkeypatch, CORRECT)
    quiz.grade("u", it.id, "蒙对的", latency_ms=None)
    c = quiz.contest("u", it.id, "hard")
    assert (c.verdict, c.rating, c.graded["verdict"]) == ("partial", "hard", "correct")
    assert quiz.store.cards("u")[it.id].state == quiz.schedule.review(None, "hard", T0)


def test_a_hint_still_rules_out_easy(quiz, monkeypatch):
    it = _item(quiz)
    _grades(quiz, monkeypatch, WRONG)
    quiz.grade("u", it.id, "看了提示", latency_ms=None, hints_used=1)
    c = quiz.contest("u", it.id, "easy")
    assert c.rating == "good" and c.notices and "Good (not Easy)" in c.notices[0]
    assert quiz.store.cards("u")[it.id].state == quiz.schedule.review(None, "good", T0)


def _nothing(quiz, user, item_id, match, rating="good"):
    with pytest.raises(quiz.BadAnswer, match=match) as e:
        quiz.contest(user, item_id, rating)
    assert "\n" not in str(e.value)


def test_nothing_to_contest_is_a_one_line_bad_answer(quiz, monkeypatch):
    short, choice, card = _item(quiz), _item(quiz, "choice"), _item(quiz, "card")
    _nothing(quiz, "u", short.id, "answer it first")  # no answer (and an unknown learner)
    quiz.grade("u", choice.id, "A")
    _nothing(quiz, "u", choice.id, "only auto-graded short answers can be contested")
    quiz.grade("u", card.id, "again")
    _nothing(quiz, "u", card.id, "Flashcard item")
    _grades(quiz, monkeypatch, CHECK)
    quiz.grade("u", short.id, "拿不准")
    _nothing(quiz, "u", short.id, "waiting for your own rating")
    quiz.self_rate("u", short.id, "good")
    _nothing(quiz, "u", short.id, "already counts with your own rating")
    _grades(quiz, monkeypatch, WRONG)
    quiz.grade("u", short.id, "再答一次")
    _nothing(quiz, "u", short.id, "not a rating", rating="maybe")
    quiz.contest("u", short.id, "good")
    _nothing(quiz, "u", short.id, "already counts with your own rating")  # contested once only
    _grades(quiz, monkeypatch, WRONG)
    quiz.grade("u", short.id, "看了答案", hints_used=3)
    _nothing(quiz, "u", short.id, "the hint showed the answer")
    monkeypatch.undo()
    assert quiz.grade("u", short.id, "   ").flags == ["empty"]  # the real grader
    _nothing(quiz, "u", short.id, "is empty")
    with pytest.raises(quiz.UnknownItem):
        quiz.contest("u", "9.9.9/short-x", "good")
    assert len(quiz.store.reviews("u")) == 6 and sum(r.contested for r in quiz.store.reviews("u")) == 1


def test_an_answer_stored_before_contests_existed_cannot_be_contested(quiz, monkeypatch):
    from sqlalchemy import text

    it = _item(quiz)
    _grades(quiz, monkeypatch, WRONG)
    quiz.grade("u", it.id, "旧的回答")
    with quiz.store.engine.begin() as con:
        con.execute(text("update reviews set prior = null, flags = null"))
    _nothing(quiz, "u", it.id, "older version")
    assert quiz.store.reviews("u")[0].flags == []
    quiz.grade("v", it.id, "另一个回答")
    with quiz.store.engine.begin() as con:  # the card replaced since, as an import does
        con.execute(text("update cards set last_review = :t where item_id = :i"), {"t": T0 + timedelta(days=8), "i": it.id})
    _nothing(quiz, "v", it.id, "changed after that answer")


def test_an_older_database_gains_the_new_columns_and_keeps_its_reviews(tmp_path):
    from tutor.quiz.progress import Progress
    from tutor.quiz.schedule import Schedule

    url = f"sqlite:///{tmp_path / 'p.db'}"
    p = Progress(url)
    p.record("u", "1.1.1/short-x", "1.1.1", "short", "答", 0.8, "correct", "good", 1200, T0, Schedule().review(None, "good", T0))
    p.close()
    con = sqlite3.connect(tmp_path / "p.db")
    for col in ("flags", "prior", "contest"):  # as a progress.db written before them (and migrations)
        con.execute(f"alter table reviews drop column {col}")
    con.execute("drop table alembic_version")
    con.commit()
    con.close()
    p = Progress(url)
    (r,) = p.reviews("u")
    assert (r.answer, r.verdict, r.flags, r.contest) == ("答", "correct", [], None)
    con = sqlite3.connect(tmp_path / "p.db")
    assert {"flags", "prior", "contest"} <= {row[1] for row in con.execute("pragma table_info(reviews)")}
    con.close()
    Progress(url)  # opening it again changes nothing
    p.record("u", "1.1.1/short-x", "1.1.1", "short", "再答", 0.2, "wrong", "again", None, T1,
             lambda old: Schedule().review(old, "again", T1), ["unrelated"])
    assert p.reviews("u")[-1].flags == ["unrelated"]


# -- the quiz tab's handlers ----------------------------------------------------------------
def _round(tutor, type_="short", user="ann"):
    from ui import quiz as uq

    st, v = uq.start(tutor, user, "3.4.2", "new", type_, 1)
    assert v.kind == type_
    return st


def test_a_round_shorter_than_asked_says_why(tutor):
    """Review 13a: a round showed 「第 1/4 题」 after 5 were asked for, with no notice."""
    from ui import quiz as uq

    have = len(tutor.quiz.next_items("cid", scope=tutor.quiz.scope(topic="3.4.2"), mode="new", type="short", n=50))
    st, v = uq.start(tutor, "cid", "3.4.2", "new", "short", have + 3)
    assert len(st["items"]) == have and f"只有 {have} 题" in v.message and f"you asked for {have + 3}" in v.message
    st, v = uq.start(tutor, "cid", "3.4.2", "new", "short", have)
    assert not v.message


@pytest.mark.parametrize("grade,offered", [(WRONG, True), (PARTIAL, True), (CORRECT, False), (CHECK, False)])
def test_contest_button_only_after_a_wrong_or_partial_short_answer(tutor, monkeypatch, grade, offered):
    from ui import quiz as uq

    _grades(tutor.quiz, monkeypatch, grade)
    st, v = uq.submit(tutor, _round(tutor), "我的回答")
    assert v.contest is offered and not v.contesting
    assert ("自动评分 auto-graded" in v.result) is (grade.verdict != "check")


def test_no_contest_button_for_choice_empty_or_answer_shown(tutor, monkeypatch):
    from ui import quiz as uq

    item = _item(tutor.quiz, "choice")
    wrong = "ABCD"[(item.answer + 1) % 4]
    st, v = uq.submit(tutor, _round(tutor, "choice"), wrong)
    assert "不正确 Wrong" in v.result and not v.contest and "auto-graded" not in v.result
    st, v = uq.submit(tutor, _round(tutor), "")
    assert "不正确 Wrong" in v.result and not v.contest
    _grades(tutor.quiz, monkeypatch, WRONG)
    st = _round(tutor, user="bea")  # a new learner: the item is new again
    for _ in range(3):
        st, _v = uq.hint(tutor, st)
    st, v = uq.submit(tutor, st, "我的回答")
    assert not v.contest and uq.contest(tutor, st)[0] == st


def test_contest_then_rate_shows_the_self_rated_result_and_summary(tutor, monkeypatch):
    from ui import quiz as uq

    _grades(tutor.quiz, monkeypatch, WRONG)
    st, v = uq.submit(tutor, _round(tutor), "只训练两个低秩矩阵")
    st, v = uq.contest(tutor, st)
    assert v.contesting and not v.contest and not v.self_rate and st["contesting"]
    st, v = uq.rate(tutor, st, "good")
    assert not v.contesting and not v.contest and not st["contesting"]
    assert "自评 your rating 良好 Good" in v.result and "下次复习 next review" in v.result
    assert "已申诉：自动评分为“不正确”，按你的自评计 / contested: auto-graded Wrong, counted with your rating" in v.result
    assert st["results"][-1]["flags"] == ["self_rated", "contested"] and len(st["results"]) == 1
    st2, v2 = uq.rate(tutor, st, "easy")  # a second rating changes nothing
    assert st2 == st
    st, v = uq.next_item(tutor, st)
    assert "申诉后自评 contested, self-rated **1**" in v.summary and "申诉后自评 contested, self-rated: 良好 Good" in v.summary
    # the only answer is contested: nothing auto-scored, so no mean (the row says "not scored")
    assert "自评 self-rated **" not in v.summary and "平均得分" not in v.summary
    (row,) = tutor.quiz.store.reviews("ann")
    assert (row.verdict, row.rating, row.contested) == ("wrong", "good", True)
    from ui.progress import history_rows

    assert history_rows([row], tutor.corpus.notes)[0][3:] == ["申诉后自评 contested, self-rated", "未评分 not scored", "良好 Good"]


def test_a_refused_contest_says_why_and_closes_the_rating_buttons(tutor, monkeypatch):
    from ui import quiz as uq

    _grades(tutor.quiz, monkeypatch, WRONG)
    st, v = uq.submit(tutor, _round(tutor), "只训练两个低秩矩阵")
    st, v = uq.contest(tutor, st)
    tutor.quiz.contest("ann", st["result"]["item_id"], "good")  # e.g. from another tab
    st, v = uq.rate(tutor, st, "hard")
    assert v.message.startswith("⚠") and "already counts with your own rating" in v.message and not v.contesting


# -- tutor quiz ---------------------------------------------------------------------------------
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _cli(tutor, monkeypatch, lines):
    """The round as in a terminal (stdin a TTY), answers from `lines`."""
    from rich.console import Console

    from tutor.quiz import quiz_cli

    monkeypatch.setattr(quiz_cli.sys, "stdin", _Terminal())
    feed = iter(lines)
    asked: list[str] = []
    monkeypatch.setattr(quiz_cli, "_ask", lambda prompt: asked.append(prompt) or next(feed, None))
    out = io.StringIO()
    results = quiz_cli.run_quiz(Console(file=out, width=300), tutor, "cli", "3.4.2", "new", "short", 1, None)
    return results, out.getvalue(), asked


def test_cli_contest_after_a_wrong_grade(tutor, monkeypatch):
    _grades(tutor.quiz, monkeypatch, WRONG)
    results, out, asked = _cli(tutor, monkeypatch, ["我的回答", "maybe", "r", "3"])
    assert "自动评分 auto-graded" in out and "type r or 1-4 to rate yourself, or press Enter to go on" in out
    assert "your rating replaces the automatic grade" in asked[-1]
    (r,) = results
    assert r.flags == ["self_rated", "contested"] and r.rating == "good"
    assert "contested: auto-graded Wrong, counted with your rating" in out
    assert "申诉后自评 contested, self-rated 1" in out and "Traceback" not in out
    assert tutor.quiz.store.reviews("cli")[0].contested


@pytest.mark.parametrize("lines,quits", [(["我的回答", ""], False), (["我的回答", "/skip"], False), (["我的回答", "/quit"], True),
                                         (["我的回答"], True)])
def test_cli_enter_goes_on_without_contesting(tutor, monkeypatch, lines, quits):
    _grades(tutor.quiz, monkeypatch, PARTIAL)
    results, out, asked = _cli(tutor, monkeypatch, lines)
    assert [r.verdict for r in results] == ["partial"] and "contested" not in results[0].flags
    assert "round summary — 1 answered" in out and not tutor.quiz.store.reviews("cli")[0].contested


def test_cli_rating_typed_at_once_and_no_prompt_after_a_correct_grade(tutor, monkeypatch):
    _grades(tutor.quiz, monkeypatch, WRONG)
    results, _, _ = _cli(tutor, monkeypatch, ["我的回答", "hard"])
    assert (results[0].verdict, results[0].rating) == ("partial", "hard")
    _grades(tutor.quiz, monkeypatch, CORRECT)
    from rich.console import Console

    from tutor.quiz import quiz_cli

    asked: list[str] = []
    feed = iter(["我的回答"])
    monkeypatch.setattr(quiz_cli, "_ask", lambda prompt: asked.append(prompt) or next(feed, None))
    quiz_cli.run_quiz(Console(file=io.StringIO(), width=300), tutor, "other", "3.4.2", "new", "short", 1, None)  # a new learner
    assert len(asked) == 1  # the answer only: nothing to contest


def test_cli_scripted_answers_written_before_contests_keep_their_items(tutor, monkeypatch):
    """Piped input has no line for the contest prompt: the next answer read there is kept as the
    next item's answer, not swallowed."""
    from rich.console import Console

    from tutor.quiz import quiz_cli

    _grades(tutor.quiz, monkeypatch, WRONG)
    feed = iter(["第一个回答", "第二个回答"])

    def piped(prompt=""):
        line = next(feed, None)
        if line is None:
            raise EOFError
        return line

    monkeypatch.setattr("builtins.input", piped)
    monkeypatch.setattr(quiz_cli.sys, "stdin", io.StringIO())  # not a TTY
    out = io.StringIO()
    results = quiz_cli.run_quiz(Console(file=out, width=300), tutor, "pipe", "3", "new", "short", 2, None)
    assert len(results) == 2 and not any("contested" in r.flags for r in results), out.getvalue()
    assert [r.answer for r in results] == ["第一个回答", "第二个回答"]  # each item got its own line
    assert "Traceback" not in out.getvalue() and not quiz_cli._PUSHED_BACK


def test_cli_an_empty_answer_in_a_terminal_asks_again(tutor, monkeypatch):
    """Review 5: Enter pressed at the answer prompt was graded Wrong and scheduled Again."""
    _grades(tutor.quiz, monkeypatch, PARTIAL)
    results, out, asked = _cli(tutor, monkeypatch, ["", "   ", "我的回答", ""])
    assert "the answer is empty" in out and "答案是空的" in out
    assert len(results) == 1 and len(tutor.quiz.store.reviews("cli")) == 1


def test_cli_an_empty_line_at_a_piped_choice_prompt_asks_again(tutor, monkeypatch):
    """Reviews 16 and 17: piped, an empty line at a choice prompt was graded Wrong (FSRS Again),
    while a letter that is no option asks again. Both ask again now."""
    from rich.console import Console

    from tutor.quiz import quiz_cli

    monkeypatch.setattr(quiz_cli.sys, "stdin", io.StringIO())  # not a terminal
    it = next(i for i in tutor.quiz.bank.select("3.4.2", ["choice"]))
    feed = iter(["", "ABCD"[it.answer]])
    monkeypatch.setattr(quiz_cli, "_ask", lambda prompt: next(feed, None))
    out = io.StringIO()
    results = quiz_cli.run_quiz(Console(file=out, width=300), tutor, "pipe", "3.4.2", "new", "choice", 1, None)
    assert [r.verdict for r in results] == ["correct"], out.getvalue()
    assert "the answer is empty" in out.getvalue()
