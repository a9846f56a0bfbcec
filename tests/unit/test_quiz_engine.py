"""Quiz engine on the real corpus with fakes (hash embedder, scripted LLM) and an injected
clock: item bank ids, modes, grading of each type, bad input, FSRS due queue, mastery,
learning path, export / import."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import Clock, make_settings
from tutor.rag.embed import hash_embedder
from tutor.llm import ScriptedLLM
from tutor.tutor import build_tutor

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def quiz(tmp_path):
    from tutor.quiz.service import Quiz

    t = build_tutor(make_settings(tmp_path / "home"), llm=ScriptedLLM(), embedder=hash_embedder())
    clock = Clock(T0)
    q = Quiz(t, clock=clock)
    t.__dict__["quiz"] = q
    q.clock_ = clock
    return q


def _right(item) -> str:
    return {"choice": "ABCDEF"[item.answer] if item.answer is not None else "A", "short": item.reference, "card": "good"}[item.type]


def test_bank_has_every_front_matter_item_with_stable_unique_ids(quiz):
    corpus = quiz.tutor.corpus
    expected = sum(len(n.meta.quiz) for n in corpus.notes.values())
    ids = [i.id for i in quiz.bank.items]
    assert len(ids) == expected and len(set(ids)) == expected
    again = type(quiz.bank).build(corpus)  # rebuilding gives the same ids
    assert [i.id for i in again.items] == ids
    lora = [i for i in quiz.bank.items if i.note_id == "3.4.2"]
    assert {i.type for i in lora} == {"choice", "short", "card"}
    assert all(i.id.startswith("3.4.2/") and not i.generated for i in lora)


def test_scope_validation(quiz):
    from tutor.tutor import BadChapter

    assert quiz.scope(chapter="3") == "3"
    assert quiz.scope(chapter="3", section="3.4") == "3.4"
    assert quiz.scope(topic="3.4.2") == "3.4.2"
    with pytest.raises(BadChapter, match="from 1 to 16"):
        quiz.scope(chapter="99")
    with pytest.raises(quiz.BadScope, match="unknown section"):
        quiz.scope(section="3.9")
    with pytest.raises(quiz.BadScope, match="not inside"):
        quiz.scope(chapter="2", section="3.4")
    # every chapter has notes with quiz items now (issues 9-11)
    assert [quiz.scope(chapter=str(c)) for c in range(1, 17)] == [str(c) for c in range(1, 17)]


def test_scope_without_items_says_which_chapters_have_them(quiz, monkeypatch):
    real = quiz.bank.select
    monkeypatch.setattr(quiz.bank, "select", lambda scope, *a, **k: [] if scope == "9" else real(scope, *a, **k))
    with pytest.raises(quiz.BadScope, match="no quiz items under 9 yet"):
        quiz.scope(chapter="9")


def test_new_mode_is_outline_order_and_type_filter(quiz):
    items = quiz.next_items("u", scope="3.4", mode="new", type="short", n=50)
    assert items and all(i.type == "short" and i.note_id.startswith("3.4") for i in items)
    assert [i.order for i in items] == sorted(i.order for i in items)
    with pytest.raises(quiz.BadMode):
        quiz.next_items("u", mode="random")
    with pytest.raises(quiz.BadMode):
        quiz.next_items("u", type="essay")


def test_new_items_tour_the_notes_before_a_second_item_of_any(quiz):
    """Review 28: a first "All" round asked only 1.1.1 and 1.1.2 (every item of a note in turn). Now one
    item of each note first, in outline order, then second items: the same items, spaced."""
    every = quiz.next_items("u", scope="3.4", mode="new", n=500)
    notes = list(dict.fromkeys(i.note_id for i in every))
    assert len(notes) >= 3 and [i.note_id for i in every[:len(notes)]] == notes
    assert sorted(i.id for i in every) == sorted(i.id for i in quiz.bank.select("3.4", None))


def test_a_round_of_all_types_mixes_them(quiz):
    """Review 34: "All" rounds asked choice items only, as every note lists a choice item first. The
    k-th note's first item now cycles choice → short → card, still one item per note first."""
    every = quiz.next_items("u", scope="3", mode="new", n=500)
    notes = list(dict.fromkeys(i.note_id for i in every))
    first = every[:len(notes)]
    assert [i.note_id for i in first] == notes
    assert {i.type for i in first[:6]} == {"choice", "short", "card"}
    assert sum(i.type == "short" for i in first) >= len(first) // 5  # a third of the notes, less those without one
    only = quiz.next_items("u", scope="3", mode="new", type="short", n=500)
    assert only and all(i.type == "short" for i in only)

def test_grading_each_type_and_bad_input(quiz):
    items = {i.type: i for i in quiz.next_items("u", scope="3.4.2", mode="new", n=10)}
    r = quiz.grade("u", items["choice"].id, _right(items["choice"]), latency_ms=3000)
    assert (r.verdict, r.score, r.rating) == ("correct", 1.0, "easy")
    r = quiz.grade("u", items["choice"].id, "1" if items["choice"].answer != 0 else "2", latency_ms=60000)
    assert (r.verdict, r.rating) == ("wrong", "again") and "3.4.2 LoRA" in r.feedback
    with pytest.raises(quiz.BadAnswer, match="letter A-D"):
        quiz.grade("u", items["choice"].id, "Z")
    r = quiz.grade("u", items["short"].id, items["short"].reference, latency_ms=20000)
    assert r.verdict == "correct" and r.rating == "easy" and not r.missed
    r = quiz.grade("u", items["short"].id, "")
    assert r.verdict == "wrong" and r.flags == ["empty"] and "没有作答" in r.feedback
    assert r.missed == list(items["short"].key_points) and all(k in r.feedback for k in r.missed)
    r = quiz.grade("u", items["short"].id, items["short"].prompt)
    assert r.verdict == "wrong" and "copied_question" in r.flags
    long = items["short"].reference + "很" * 10_000
    r = quiz.grade("u", items["short"].id, long)
    assert r.notices and "trimmed from" in r.notices[0] and len(r.answer) == quiz.settings.quiz_max_answer_chars
    for rating in ("again", "hard", "good", "easy"):
        assert quiz.grade("u", items["card"].id, rating).rating == rating
    with pytest.raises(quiz.BadAnswer, match="again / hard / good / easy"):
        quiz.grade("u", items["card"].id, "maybe")
    with pytest.raises(quiz.UnknownItem):
        quiz.grade("u", "9.9.9/short-000000", "x")
    assert len(quiz.store.reviews("u")) == 10  # bad input stored nothing


def test_hints_reduce_the_rating(quiz):
    it = quiz.next_items("u", scope="3.4.2", mode="new", type="choice", n=1)[0]
    assert quiz.grade("u", it.id, _right(it), latency_ms=1000, hints_used=1).rating == "good"
    r = quiz.grade("u", it.id, _right(it), latency_ms=1000, hints_used=3)
    assert r.verdict == "correct" and r.rating == "again" and r.notices


def test_due_cards_come_first_on_a_later_date(quiz):
    first = quiz.next_items("u", scope="2", mode="mixed", n=10)
    assert len(first) == 10
    for it in first:
        quiz.grade("u", it.id, _right(it), latency_ms=30000)
    # just after answering nothing is due yet (cards in FSRS learning steps come back in
    # minutes, Good / Easy review cards in days)
    assert quiz.next_items("u", scope="2", mode="due", n=50) == []
    later = T0 + timedelta(days=60)
    quiz.clock_.t = later
    again = quiz.next_items("u", scope="2", mode="mixed", n=15)
    assert {i.id for i in again[:10]} == {i.id for i in first}  # the ten due cards first ...
    assert all(i.id not in {f.id for f in first} for i in again[10:])  # ... then new items
    due = quiz.store.due("u", later)
    assert [c.item_id for c in due] == [i.id for i in again[:10]]  # most overdue first


def test_mastery_rolls_up_and_path_orders_due_weak_new(quiz):
    items = quiz.next_items("u", scope="1.1.2", mode="new", n=10)
    for it in items:
        ans = "" if it.type != "card" else "again"
        quiz.grade("u", it.id, ans)  # all wrong: a weak topic
    table = quiz.progress("u")
    assert table["1.1.2"].own == 0.0
    assert table["1.1"].seen == 1 and table["1.1"].units > 1 and table["1"].mastery <= table["1.1.2"].own
    assert table["5"].seen == 0 and table["5"].mastery == 0.0  # notes exist, nothing answered there
    steps = quiz.path("u", n=30, now=T0 + timedelta(hours=1))
    kinds = [s.kind for s in steps]
    assert kinds[0] == "review" and steps[0].node_id == "1.1.2" and "due" in steps[0].reason
    assert kinds == sorted(kinds, key=["review", "weak", "continue", "new"].index)
    news = [s for s in steps if s.kind == "new"]
    assert news[0].node_id == "1" and all(s.reason for s in steps)


def test_new_steps_start_in_begun_sections_one_per_section(quiz):
    """Review 21: Next topics listed 「1 注意力机制详解」, 「1.1 标准注意力」 and 「1.1.1」 as three of its
    eight steps while the learner worked on 11.4. Each section's first new note comes before any
    section's second, begun sections first (a chapter's overview counts with its first section)."""
    from tutor.quiz.path import section_of

    assert [section_of(i) for i in ("11.4.3", "11.4", "11")] == ["11.4", "11.4", "11.1"]
    done = next(n for n in quiz.tutor.corpus.notes if n.count(".") == 2 and n.startswith("3.")
                and any(i.note_id == n for i in quiz.bank.select(n)))
    for it in quiz.bank.select(done):
        if it.note_id == done:
            quiz.grade("u", it.id, _right(it))
    news = [s for s in quiz.path("u", n=200) if s.kind == "new"]
    assert news and section_of(news[0].node_id) == section_of(done), [s.node_id for s in news[:3]]
    sections = [section_of(s.node_id) for s in news]
    firsts = len(set(sections))
    assert len(set(sections[:firsts])) == firsts  # each section once before any twice
    assert news[sections.index("1.1")].node_id == "1"  # chapter 1's overview stands for section 1.1 first
    assert sections.index("1.1") < firsts <= len(sections) - 1 - sections[::-1].index("1.1")  # 1.1's own notes come later
    assert len(news) == len({s.node_id for s in news})  # nothing dropped twice or lost: all new notes are listed
    # review 29: the chapter whose topic was just practised is no 「新主题」: only its overview items are new
    ch3 = next(s for s in news if s.node_id == "3")
    assert "新主题" not in ch3.reason and "1 个主题已练过" in ch3.reason and "1 of its topics practised" in ch3.reason, ch3.reason
    assert "新主题" in news[sections.index("1.1")].reason


def test_weak_topic_waits_for_prerequisites(quiz):
    notes = quiz.tutor.corpus.notes
    nid = next(n for n, note in notes.items() if note.meta.prerequisites
               and all(p in notes and notes[p].meta.quiz for p in note.meta.prerequisites) and note.meta.quiz)
    for it in quiz.bank.select(nid):
        quiz.grade("u", it.id, "" if it.type != "card" else "again")
    # at T0 the failed cards are not due yet (FSRS learning step: 1 minute), so nid is weak
    steps = quiz.path("u", n=200)
    assert nid not in [s.node_id for s in steps if s.kind in ("review", "weak")]  # prerequisites not mastered yet
    for p in notes[nid].meta.prerequisites:
        for it in quiz.bank.select(p):
            if it.note_id == p:
                quiz.grade("u", it.id, _right(it))
    weak = [s for s in quiz.path("u", n=200) if s.kind == "weak"]
    assert nid in [s.node_id for s in weak] and "mastered" in next(s.reason for s in weak if s.node_id == nid)


def test_export_import_round_trip(quiz, tmp_path):
    from tutor.quiz.progress import Progress

    for it in quiz.next_items("alice", scope="4.1", mode="new", n=5):
        quiz.grade("alice", it.id, _right(it))
    data = quiz.export("alice")
    other = Progress(f"sqlite:///{tmp_path / 'other.db'}")
    rep = other.import_user(data, "bob")
    assert rep == {"user": "bob", "reviews_added": 5, "cards_updated": 5}
    assert other.import_user(data, "bob")["reviews_added"] == 0  # idempotent
    assert other.export_user("bob")["cards"] == data["cards"]
    with pytest.raises(Progress.BadExport):
        other.import_user({"hello": 1})


def test_sqlite_store_is_in_wal_mode(quiz):
    with quiz.store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def _undecided(quiz, monkeypatch):
    """Make the grader undecided, as it is for an answer it cannot verify (the grader's own
    decisions are tested in test_quiz_grading.py and integration/test_grader_real.py)."""
    from tutor.quiz.grading import Grade

    monkeypatch.setattr(quiz.grader, "grade", lambda *a, **k: Grade(0.5, "check", 0.5, 0.5, [], [], ["uncertain"]))


def test_check_yourself_stores_the_answer_then_schedules_the_self_rating(quiz, monkeypatch):
    it = quiz.next_items("u", scope="3.4.2", mode="new", type="short", n=1)[0]
    _undecided(quiz, monkeypatch)
    r = quiz.grade("u", it.id, "我觉得是低秩分解", latency_ms=9000)
    assert (r.verdict, r.rating) == ("check", "pending")
    assert "自评" in r.feedback and all(k in r.feedback for k in it.key_points) and r.correct_answer == it.reference
    assert [x.answer for x in quiz.store.reviews("u")] == ["我觉得是低秩分解"]  # kept at once
    assert it.id not in quiz.store.cards("u")  # nothing scheduled yet: the item stays new / due
    assert it.id in [i.id for i in quiz.next_items("u", scope="3.4.2", mode="new", type="short", n=5)]
    done = quiz.self_rate("u", it.id, "2")
    assert (done.verdict, done.rating, done.flags) == ("partial", "hard", ["self_rated"])
    assert quiz.store.cards("u")[it.id].reps == 1
    assert [(x.verdict, x.rating) for x in quiz.store.reviews("u")] == [("partial", "hard")]
    with pytest.raises(quiz.BadAnswer, match="waiting for a self-rating"):
        quiz.self_rate("u", it.id, "good")
    assert quiz.grade("u", it.id, "再答一次").verdict == "check"
    with pytest.raises(quiz.BadAnswer, match="not a rating"):
        quiz.self_rate("u", it.id, "maybe")


def test_check_yourself_says_why_and_lists_the_key_points_unmarked(quiz, monkeypatch):
    """An undecided grade is not a shrug: one sentence on why, and the key points to rate oneself
    against. Unmarked: reviews 9, 11 and 12 found ✓ / ● / ○ marks of "mentioned" wrong both ways."""
    from tutor.quiz.grading import Grade

    it = quiz.next_items("u", scope="3.4.2", mode="new", type="short", n=1)[0]
    assert len(it.key_points) >= 2
    found, rest = it.key_points[0], it.key_points[1:]
    monkeypatch.setattr(quiz.grader, "grade", lambda *a, **k: Grade(0.5, "check", 0.5, 0.5, [found], rest, ["negation"]))
    fb = quiz.grade("u", it.id, "低秩矩阵不是冻结的").feedback
    assert "否定" in fb and "negation" in fb  # feedback.doubt.claims, both languages
    assert "对照这些关键点给自己评分" in fb and "Rate yourself against these key points" in fb
    assert all(k in fb for k in it.key_points) and not any(m in fb for m in "●○✓")
    monkeypatch.setattr(quiz.grader, "grade", lambda *a, **k: Grade(0.5, "check", 0.5, 0.5, [], list(it.key_points), ["uncertain"]))
    fb = quiz.grade("u2", it.id, "说不清").feedback
    assert all(k in fb for k in it.key_points) and "否定" not in fb  # no doubt sentence for "uncertain"
    assert "很接近" not in fb and "close in meaning" not in fb  # score 0.5 < CLOSE_SCORE


def test_a_check_yourself_answer_close_to_the_reference_is_told_so_not_graded(quiz, monkeypatch):
    """Review 10: right answers graded "check yourself" got no word of confirmation. From
    CLOSE_SCORE the feedback says the answer is close in meaning, and that details are not checked."""
    from tutor.quiz.grading import CLOSE_SCORE, Grade

    it = quiz.next_items("u", scope="3.4.2", mode="new", type="short", n=1)[0]
    for score, close in ((CLOSE_SCORE, True), (CLOSE_SCORE - 0.01, False)):
        monkeypatch.setattr(quiz.grader, "grade", lambda *a, s=score, **k: Grade(s, "check", 0.6, 0.8, [], list(it.key_points), ["uncertain"]))
        r = quiz.grade(f"u{score}", it.id, "只训练两个低秩矩阵，基座冻结")
        assert r.verdict == "check" and (("很接近" in r.feedback and "cannot check" in r.feedback) == close)
    # after a doubt sentence (which says what cannot be checked) the short form: one disclaimer, not two
    monkeypatch.setattr(quiz.grader, "grade", lambda *a, **k: Grade(0.8, "check", 0.6, 0.8, [], list(it.key_points), ["negation"]))
    fb = quiz.grade("w", it.id, "低秩矩阵不是冻结的").feedback
    assert "很接近" in fb and "否定" in fb and fb.count("核对不了") == 1, fb
    monkeypatch.setattr(quiz.grader, "grade", lambda *a, **k: Grade(0.9, "correct", 0.9, 0.9, list(it.key_points), [], []))
    assert "很接近" not in quiz.grade("v", it.id, "只训练两个低秩矩阵").feedback  # a decided grade needs no such line


def test_a_check_yourself_answer_far_from_the_reference_is_told_so_not_graded(quiz, monkeypatch):
    """Reviews 13a/13b: clearly wrong answers got "check yourself" with no word either way. Up to
    FAR_CLOSENESS (coverage and similarity, not the model's score, which sits near 0.5 for such
    answers) the feedback says the answer is far in meaning (or in other words); still not graded."""
    from tutor.quiz.grading import FAR_CLOSENESS, Grade, closeness

    it = quiz.next_items("u", scope="3.4.2", mode="new", type="short", n=1)[0]
    for near, far in ((FAR_CLOSENESS, True), (FAR_CLOSENESS + 0.02, False), (0.0, True)):
        g = Grade(0.49, "check", near, near, [], list(it.key_points), ["uncertain"])
        assert abs(closeness(g, quiz.grader.params) - near) < 1e-9
        monkeypatch.setattr(quiz.grader, "grade", lambda *a, g=g, **k: g)
        r = quiz.grade(f"u{near}", it.id, "LoRA 就是把模型剪枝成一半")
        assert r.verdict == "check" and (("相差较远" in r.feedback and "far in meaning" in r.feedback) == far), r.feedback
        assert "很接近" not in r.feedback and all(k in r.feedback for k in it.key_points)
    monkeypatch.setattr(quiz.grader, "grade", lambda *a, **k: Grade(0.05, "wrong", 0.0, 0.0, [], list(it.key_points), []))
    assert "相差较远" not in quiz.grade("v", it.id, "LoRA 就是剪枝").feedback  # a decided grade needs no such line


def test_a_check_yourself_answer_near_a_listed_misconception_is_told_which_one(quiz, monkeypatch):
    """Review 14: a clearly wrong answer ("QAT needs no training data") got "check yourself" with no
    word either way. When the grader finds it nearest a listed misconception, the feedback names
    that misconception (not a grade); far from everything, none is named."""
    from tutor.quiz.grading import FAR_CLOSENESS, Grade

    it = quiz.next_items("u", scope="3.4.2", mode="new", type="short", n=1)[0]
    mis = "LoRA 推理时必须保留旁路，所以会变慢"
    g = Grade(0.3, "check", 0.4, 0.4, [], list(it.key_points), ["near_misconception", "other_language"], mis)
    monkeypatch.setattr(quiz.grader, "grade", lambda *a, **k: g)
    fb = quiz.grade("u1", it.id, "LoRA keeps the bypass at inference so it is slower").feedback
    assert f"「{mis}」" in fb and "common misconception" in fb and "语言不同" not in fb, fb
    far = Grade(0.3, "check", FAR_CLOSENESS / 2, FAR_CLOSENESS / 2, [], list(it.key_points), ["near_misconception"], mis)
    monkeypatch.setattr(quiz.grader, "grade", lambda *a, **k: far)
    fb = quiz.grade("u2", it.id, "something else entirely").feedback
    assert mis not in fb and "相差较远" in fb, fb


def test_answer_with_undecodable_bytes_is_graded_and_stored(quiz):
    it = quiz.next_items("u", scope="3.4.2", mode="new", type="short", n=1)[0]
    bad = b"abc \xff\xfe \xe6\xba\xa2\xe5\x87\xba".decode("utf-8", "surrogateescape")
    r = quiz.grade("u", it.id, bad, latency_ms=5000)
    assert r.answer == "abc \ufffd\ufffd 溢出" and any("not valid UTF-8" in n for n in r.notices)
    assert quiz.store.reviews("u")[0].answer == "abc \ufffd\ufffd 溢出"
    r = quiz.grade("u\udcff", it.id, "\udcff")  # a learner name from the same input
    assert r.answer == "\ufffd" and quiz.store.reviews("u\ufffd")


def test_instant_answers_are_not_rated_easy(quiz):
    it = quiz.next_items("u", scope="3.4.2", mode="new", type="choice", n=1)[0]
    assert quiz.grade("u", it.id, _right(it), latency_ms=0).rating == "good"  # piped input
    assert quiz.grade("u", it.id, _right(it), latency_ms=None).rating == "good"
    assert quiz.grade("u", it.id, _right(it), latency_ms=4000).rating == "easy"


def test_one_flashcard_does_not_master_a_topic(quiz):
    """Review 9: one flashcard rated Good showed its topic "100% mastered". Mastery needs
    EVIDENCE_ITEMS of a note's items (or all of them): one card right is a third at most, three
    right are near full."""
    from tutor.quiz.progress import EVIDENCE_ITEMS

    items = quiz.bank.select("3.4.2")
    cards = [it for it in items if it.type == "card"]
    assert cards and len(items) >= EVIDENCE_ITEMS
    quiz.grade("u", cards[0].id, "good")
    one = quiz.progress("u")["3.4.2"].own
    assert 0 < one <= 1 / EVIDENCE_ITEMS + 1e-6, one
    for it in [it for it in items if it.id != cards[0].id][:EVIDENCE_ITEMS - 1]:
        quiz.grade("u", it.id, _right(it))
    three = quiz.progress("u")["3.4.2"].own
    assert three > 0.8, three


def test_weak_practice_skips_what_was_just_answered(quiz):
    """Review 35: a second mixed round asked again a card just rated Easy (next review in 8 days),
    because its note was still below mastery. Items answered in the last WEAK_REST wait."""
    from tutor.quiz.service import WEAK_REST

    items = quiz.next_items("u", scope="1.1.2", mode="new", n=10)
    card = next(i for i in items if i.type == "card")
    quiz.grade("u", card.id, "easy", now=T0)
    for it in items:
        if it.type == "choice":
            quiz.grade("u", it.id, "1" if it.answer != 0 else "2", now=T0)  # wrong: the note stays weak
    soon = quiz.next_items("u", scope="1.1.2", mode="weak", n=10, now=T0 + timedelta(minutes=5))
    assert card.id not in [i.id for i in soon]
    later = quiz.next_items("u", scope="1.1.2", mode="weak", n=10, now=T0 + WEAK_REST + timedelta(minutes=1))
    assert card.id in [i.id for i in later]
