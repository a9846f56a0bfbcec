"""Quiz and Progress tab handlers (ui/quiz.py, ui/progress.py) over the real corpus and
quiz engine, with the hash embedder and a progress database in a tmp dir; no browser."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from tests.conftest import make_settings
from ui import progress, quiz


@pytest.fixture
def tutor(tmp_path):
    from tutor.rag.embed import hash_embedder
    from tutor.tutor import build_tutor

    return build_tutor(make_settings(tmp_path / "home"), embedder=hash_embedder())


def lora_choice(tutor):
    note = tutor.corpus.notes["3.4.2"]
    item = next(q for q in note.meta.quiz if q.type == "choice")
    return item, f"{'ABCD'[item.answer]}. {item.options[item.answer]}"


def test_choice_item_shown_then_graded_and_stored(tutor):
    item, right = lora_choice(tutor)
    st, v = quiz.start(tutor, "ann", "3.4.2", "new", "choice", 5, now=1000.0)
    assert v.kind == "choice" and v.question == item.question and "3.4.2 LoRA" in v.header and "1/1" in v.header
    assert v.options[item.answer] == right and [o[:3] for o in v.options[:-1]] == ["A. ", "B. ", "C. ", "D. "]
    assert v.options[-1] == quiz.DONT_KNOW  # review 24: a way to say so
    st2, v2 = quiz.submit(tutor, st, right, now=1004.5)
    assert v2.answered and "正确 Correct" in v2.result and "score 100%" in v2.result and v2.note_id == "3.4.2"
    assert st["result"] is None and st2["result"]["verdict"] == "correct"  # the old round is not mutated
    reviews = tutor.quiz.store.reviews("ann")
    assert [(r.item_id, r.verdict, r.latency_ms) for r in reviews] == [(st["items"][0], "correct", 4500)]
    st3, _ = quiz.submit(tutor, st2, right)  # a second submit of a graded item stores nothing
    assert st3 == st2 and len(tutor.quiz.store.reviews("ann")) == 1


def test_wrong_choice_shows_the_right_answer(tutor):
    item, right = lora_choice(tutor)
    wrong = next(f"{'ABCD'[k]}. {o}" for k, o in enumerate(item.options) if k != item.answer)
    st, _ = quiz.start(tutor, "ann", "3.4.2", "new", "choice", 1)
    _, v = quiz.submit(tutor, st, wrong)
    assert "不正确 Wrong" in v.result and f"**正确答案 Answer:** {right}" in v.result


def test_hint_ladder_walks_to_the_answer_and_counts_as_again(tutor):
    item, right = lora_choice(tutor)
    st, v = quiz.start(tutor, "ann", "3.4.2", "new", "choice", 1)
    assert v.hints == [] and v.more_hints
    for k in range(1, 4):
        st, v = quiz.hint(tutor, st)
        assert len(v.hints) == k and v.hints[-1].startswith(f"提示 Hint {k}/3")
    assert not v.more_hints and item.options[item.answer] in v.hints[2]
    assert item.options[item.answer] not in v.hints[0] + v.hints[1]  # no hint before the last gives it away
    st, v = quiz.submit(tutor, st, right)
    assert st["result"]["rating"] == "again"


def test_short_item_graded_with_feedback(tutor):
    st, v = quiz.start(tutor, "ann", "3.4.2", "new", "short", 1)
    assert v.kind == "short"
    _, v = quiz.submit(tutor, st, "")
    assert "不正确 Wrong" in v.result and "没有作答" in v.result


def test_a_choice_submitted_with_no_option_is_not_graded(tutor):
    """Review 23: Submit with no option chosen graded the item Wrong and scheduled it Again; the
    CLI asks again. Now the item stays open with a message, and nothing is stored."""
    st, v = quiz.start(tutor, "bea", "3.4.2", "new", "choice", 1)
    assert v.kind == "choice"
    for empty in (None, "", "  "):
        st2, v = quiz.submit(tutor, st, empty)
        assert st2["result"] is None and not v.answered and v.message.startswith("还没选答案"), v.message
    assert tutor.quiz.store.reviews("bea") == []


def test_flashcard_flips_then_self_rates(tutor):
    st, v = quiz.start(tutor, "ann", "3.4.2", "new", "card", 1)
    assert v.kind == "card" and v.back == ""
    st, v = quiz.flip(tutor, st)
    assert v.back == tutor.quiz.item(st["items"][0]).reference and not v.answered
    st, v = quiz.rate(tutor, st, "hard")
    assert v.answered and st["result"]["rating"] == "hard" and st["result"]["verdict"] == "partial"
    # the learner's own rating, not a grade they never received (review: "Partly correct · score 50%")
    assert "自评 your rating 困难 Hard" in v.result and "部分正确" not in v.result and "score" not in v.result
    st, v = quiz.next_item(tutor, st)
    assert "自评 self-rated: 困难 Hard" in v.summary and "部分正确 Partly correct **0**" in v.summary
    assert "平均得分" not in v.summary


@pytest.mark.parametrize("scope,mode,type_,says", [
    ("99", "mixed", "", "chapter"), ("3.9", "mixed", "", "3.9"), ("3.4.2", "sideways", "", "mode"),
    ("", "due", "", "nothing to ask"),  # a new learner has nothing due
])
def test_bad_or_empty_round_says_why(tutor, scope, mode, type_, says):
    st, v = quiz.start(tutor, "ann", scope, mode, type_, 5)
    assert st["items"] == [] and v.kind == "" and says in v.message


def test_unreadable_choice_keeps_the_item_open(tutor):
    st, _ = quiz.start(tutor, "ann", "3.4.2", "new", "choice", 1)
    st2, v = quiz.submit(tutor, st, "Z")
    assert v.message.startswith("⚠") and not v.answered and st2 == st and tutor.quiz.store.reviews("ann") == []


def test_round_ends_with_a_summary(tutor):
    item, right = lora_choice(tutor)
    st, v = quiz.start(tutor, "bob", "3.4.2", "new", "", 3)
    assert len(st["items"]) == 3
    st, v = quiz.next_item(tutor, st)  # skipped: not graded
    assert v.kind == "short"  # note order: choice, short, card
    st, v = quiz.submit(tutor, st, "LoRA 只训练低秩矩阵 B 和 A。")
    st, v = quiz.finish(tutor, st)
    assert v.kind == "" and "Round summary — 1 answered" in v.summary and "用户 user bob" in v.summary
    assert "| 1 | 3.4.2 LoRA |" in v.summary


def test_scope_choices_cover_chapters_and_sections_with_items(tutor):
    ids = [i for _, i in quiz.scope_choices(tutor.corpus)]
    assert ids[0] == "" and "3" in ids and "3.4" in ids and "3.4.2" not in ids
    assert all(tutor.quiz.bank.select(i) for i in ids[1:])
    labels = dict((i, t) for t, i in quiz.scope_choices(tutor.corpus))
    assert " · " in labels["3.4"] and labels["3.4"].split(" · ")[1].isascii()  # English beside (review 16)


def test_progress_overview_after_answers(tutor, tmp_path):
    item, right = lora_choice(tutor)
    st, _ = quiz.start(tutor, "cat", "3.4.2", "new", "choice", 1)
    quiz.submit(tutor, st, right)
    st, _ = quiz.start(tutor, "cat", "1", "new", "choice", 1)
    quiz.submit(tutor, st, "A")
    v = progress.overview(tutor, "cat", now=datetime.now(timezone.utc), chart_dir=tmp_path)
    assert v.user == "cat" and "卡片 cards: 2" in v.due
    png = tmp_path.joinpath(v.chart.rsplit("/", 1)[-1])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sections = [n.id for n in tutor.corpus.outline.nodes if n.level == 2]
    assert re.findall(r'<td class="cell[^"]*" style="background:[^"]+" title="[^"]*"><a data-id="([\d.]+)">', v.heatmap) == sections
    assert len(v.history) == 2 and v.history[0][1].startswith("1 ")  # newest first
    assert 'data-id="' in v.path and "<ol" in v.path
    assert set(progress.users(tutor)) == {"default", "cat"}


@pytest.mark.parametrize("m,seen,color", [(None, 0, "#e5e7eb"), (0.0, 1, "hsl(0, 70%, 78%)"), (1.0, 2, "hsl(120, 70%, 78%)"),
                                          (0.0, 0, "#ffffff")])  # never practised is not "failed" (red)
def test_heatmap_colours(m, seen, color):
    assert progress._color(m, seen) == color


def test_check_yourself_shows_the_reference_then_rating_buttons(tutor, monkeypatch):
    from tutor.quiz.grading import Grade

    st, v = quiz.start(tutor, "ann", "3.4.2", "new", "short", 1)
    monkeypatch.setattr(tutor.quiz.grader, "grade", lambda *a, **k: Grade(0.5, "check", 0.5, 0.5, [], [], ["uncertain"]))
    st, v = quiz.submit(tutor, st, "<script>x</script> 大概是低秩吧")
    item = tutor.quiz.item(st["items"][0])
    assert v.answered and v.self_rate and "请自评 Check yourself" in v.result
    assert "&lt;script&gt;" not in v.result  # the learner's text is not echoed; the reference is, escaped
    assert item.reference[:10] in v.result
    st, v = quiz.rate(tutor, st, "good")
    assert not v.self_rate and st["result"]["rating"] == "good" and "自评 your rating 良好 Good" in v.result
    assert st["results"][-1]["verdict"] == "correct" and len(st["results"]) == 1
    st, v = quiz.next_item(tutor, st)
    assert "自评 self-rated **1**" in v.summary and "自评 self-rated: 良好 Good" in v.summary


def test_summary_mean_counts_only_the_scores_it_shows():
    """Review: self-rated rows said "not scored" while the mean included them (70% shown for
    100, 100, 0 and 50 of which two were self-rated)."""
    from ui.quiz import summary

    def row(verdict, score, flags=()):
        return {"verdict": verdict, "score": score, "flags": list(flags), "note_id": "3.4.2", "note_title": "LoRA",
                "type": "short", "rating": "good", "due": "2026-12-01T09:00"}

    rs = [row("correct", 0.8), row("wrong", 0.2), row("correct", 1.0, ["self_rated"]), row("check", 0.5)]
    out = summary({"results": rs, "user": "ann"})
    assert "平均得分 mean score **50%** （2 题计分） (2 scored)" in out  # (80 + 20) / 2
    assert "平均得分" not in summary({"results": [row("correct", 1.0, ["self_rated"])], "user": "ann"})



def test_the_count_line_gives_the_verdicts_of_answers_shown_by_a_hint():
    """Review 28: the count line read 「不正确 Wrong 0 · 看过答案 answer shown 1」 beside a row
    「不正确 Wrong (看过答案)」: the answer-shown count now says what those verdicts were."""
    from ui.quiz import summary

    rs = [{"verdict": "wrong", "score": 0.1, "flags": ["answer_shown"], "note_id": "3.4.2", "note_title": "LoRA",
           "type": "short", "rating": "again", "due": "2026-12-01T09:00"}]
    out = summary({"results": rs, "user": "ann"})
    assert "看过答案 answer shown **1** (不正确 Wrong 1)" in out and "| 不正确 Wrong (看过答案 answer shown) |" in out, out

@pytest.mark.parametrize("verdict,rating", [("wrong", "good"), ("partial", "easy"), ("wrong", "again"), ("check", "good")])
def test_the_reference_answer_stays_after_a_contest_or_self_rating(tutor, monkeypatch, verdict, rating):
    """Review: after 「我认为我答对了 I think I was right」 and a Good rating the reference answer
    shown with the verdict disappeared (the contested result reads "correct")."""
    from tutor.quiz.grading import Grade

    st, v = quiz.start(tutor, "ann", "3.4.2", "new", "short", 1)
    monkeypatch.setattr(tutor.quiz.grader, "grade", lambda *a, **k: Grade(0.3, verdict, 0.3, 0.3, [], [], []))
    st, v = quiz.submit(tutor, st, "只训练两个低秩矩阵")
    ref = f"**正确答案 Answer:** {tutor.quiz.item(st['items'][0]).reference}"
    assert ref in v.result
    if verdict != "check":
        st, v = quiz.contest(tutor, st)
        assert v.contesting and ref in v.result
    st, v = quiz.rate(tutor, st, rating)
    assert st["result"]["flags"][0] == "self_rated" and ref in v.result


def test_a_flipped_card_shows_no_hints(tutor):
    """Review: the Hint button and the hints stayed after a flashcard was flipped (its back is shown)."""
    st, v = quiz.start(tutor, "ann", "3.4.2", "new", "card", 1)
    assert v.more_hints
    st, v = quiz.hint(tutor, st)
    assert len(v.hints) == 1 and v.more_hints
    st, v = quiz.flip(tutor, st)
    assert v.back and v.hints == [] and not v.more_hints
    assert quiz.hint(tutor, st)[0] == st  # no more hint steps after the flip
    st, v = quiz.rate(tutor, st, "easy")
    assert v.hints == [] and not v.more_hints and st["result"]["rating"] == "good"  # the hint used still rules out Easy


def test_skipped_items_are_listed_in_the_summary_as_skipped(tutor):
    """Review: a skipped item vanished from the round summary. It is listed, in the round's
    order, as skipped: not scored and not scheduled, outside the mean and the answered count."""
    item, right = lora_choice(tutor)
    st, v = quiz.start(tutor, "dan", "3.4.2", "new", "", 3)  # choice, short, card
    st, v = quiz.submit(tutor, st, right)
    st, v = quiz.next_item(tutor, st)
    st, v = quiz.next_item(tutor, st)  # the short item: skipped
    assert v.kind == "card"
    st, v = quiz.finish(tutor, st)  # the card was shown, not answered: skipped too
    rows = [ln for ln in v.summary.splitlines() if re.match(r"\| \d ", ln)]
    assert [r.split(" | ")[0:1] + r.split(" | ")[2:4] for r in rows] == [
        ["| 1", "选择题 Choice", "正确 Correct"], ["| 2", "简答题 Short answer", "跳过 skipped"],
        ["| 3", "卡片 Flashcard", "跳过 skipped"]]
    assert rows[1].endswith("| 未评分 not scored | 不变 unchanged |")
    assert "Round summary — 1 answered" in v.summary and "跳过 skipped **2**" in v.summary
    assert "平均得分 mean score **100%**" in v.summary
    assert len(tutor.quiz.store.reviews("dan")) == 1  # nothing stored for the skipped ones


def test_a_round_of_only_skipped_items_still_lists_them(tutor):
    st, v = quiz.start(tutor, "eve", "3.4.2", "new", "choice", 1)
    st, v = quiz.next_item(tutor, st)
    assert "跳过 skipped **1**" in v.summary and "| 1 | 3.4.2 LoRA |" in v.summary
    assert quiz.finish(tutor, st)[0]["skipped"] == st["skipped"]  # finishing after the end skips nothing more


def test_progress_says_which_answers_count_with_the_learners_own_rating(tutor, tmp_path):
    """Review: Progress counted flashcards / self-ratings in mastery while the round summary
    called them "not scored". Both keep their rule and say it in the same words."""
    item, right = lora_choice(tutor)
    st, _ = quiz.start(tutor, "fay", "3.4.2", "new", "choice", 1)
    st, v = quiz.submit(tutor, st, right)
    st, v = quiz.next_item(tutor, st)
    assert "self-rated" not in v.summary  # nothing self-rated: no footnote
    v = progress.overview(tutor, "fay", now=datetime.now(timezone.utc), chart_dir=tmp_path)
    assert v.self_rated == ""
    st, _ = quiz.start(tutor, "fay", "3.4.2", "new", "card", 1)
    st, _ = quiz.flip(tutor, st)
    st, _ = quiz.rate(tutor, st, "good")
    st, v = quiz.next_item(tutor, st)
    assert "自评 self-rated: 良好 Good" in v.summary and "未评分 not scored" in v.summary
    assert "count toward mastery in Progress with your rating (Again 0%, Hard 50%, Good/Easy 100%)" in v.summary
    v = progress.overview(tutor, "fay", now=datetime.now(timezone.utc), chart_dir=tmp_path)
    assert "mastery counts your self-rated answers too: 1 of 2 (flashcards" in v.self_rated
    assert "round summaries mark them 'not scored'" in v.self_rated and "2 次中 1 次" in v.self_rated
    assert [row[3:5] for row in v.history] == [["自评 self-rated", "未评分 not scored"], ["正确 Correct", "100%"]]
    m = tutor.quiz.progress("fay")["3.4.2"]
    assert m.reviews == 2  # the self-rated one is counted in mastery, as the line says


def test_phone_width_chapter_bars_and_scroll_hints(tutor, tmp_path):
    """Phone width (review): the chart's figures as HTML bars (the 1080 px PNG is unreadable at
    390 px) and a hint above the heatmap that it scrolls sideways; ui/style.py shows both at
    phone width only (tests/browser/test_phone_width.py)."""
    item, right = lora_choice(tutor)
    st, _ = quiz.start(tutor, "gus", "3.4.2", "new", "choice", 1)
    quiz.submit(tutor, st, right)
    v = progress.overview(tutor, "gus", now=datetime.now(timezone.utc), chart_dir=tmp_path)
    rows = re.findall(r'<li><span class="cb-head"><a data-id="(\d+)">(.*?)</a><span class="cb-pct">(.*?)</span></span>'
                      r'<span class="cb-bar"><i style="width:(\d+)%"></i></span></li>', v.bars)
    chapters = tutor.quiz.chapters("gus")
    assert [r[0] for r in rows] == [m.id for m in chapters] and len(rows) == 16
    ch3 = next(m for m in chapters if m.id == "3")
    assert rows[2][1] == f"3. {ch3.title}" and rows[2][2] == f"{round(100 * ch3.mastery)}% (1/{ch3.units} 篇笔记 notes)"
    assert int(rows[2][3]) == round(100 * ch3.mastery) > 0
    assert v.heatmap.startswith('<p class="scroll-hint">← 左右滑动查看全部 → / swipe sideways to see all</p><table')


def test_an_unrated_check_yourself_answer_gets_one_reminder(tutor, monkeypatch):
    """Review 10: leaving a "check yourself" answer unrated gave no reminder; Next now reminds
    once (the item stays), a second Next moves on and leaves it unscheduled."""
    from tutor.quiz.grading import Grade

    st, v = quiz.start(tutor, "ann", "3.4", "new", "short", 2)
    assert len(st["items"]) == 2
    monkeypatch.setattr(tutor.quiz.grader, "grade", lambda *a, **k: Grade(0.5, "check", 0.5, 0.5, [], [], ["uncertain"]))
    st, v = quiz.submit(tutor, st, "大概是低秩吧")
    st, v = quiz.next_item(tutor, st)
    assert st["i"] == 0 and v.self_rate and "还没自评" in v.message and "Again / Hard / Good / Easy" in v.message
    st, v = quiz.next_item(tutor, st)
    assert st["i"] == 1 and not v.message and not st["reminded"]
    st, v = quiz.submit(tutor, st, "也许是量化")
    st, v = quiz.finish(tutor, st)  # finishing reminds too
    assert st["i"] == 1 and "还没自评" in v.message
    st, v = quiz.rate(tutor, st, "hard")
    st, v = quiz.finish(tutor, st)  # rated: no reminder
    assert st["i"] == 2 and v.summary and not v.message


def test_a_round_with_short_items_warms_the_grader(tutor):
    """The grader (embedding model, IDF tables) loads in the background when a round with short
    items starts, so the first grade does not wait for it (review 10: 120 s under load)."""
    import threading
    import time

    assert tutor.quiz._grader is None
    quiz.start(tutor, "ann", "3.4.2", "new", "short", 1)
    deadline = time.monotonic() + 60
    while tutor.quiz._grader is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tutor.quiz._grader is not None
    for t in threading.enumerate():
        if t.name == "quiz-warm":
            t.join(60)


def test_a_choice_round_does_not_warm_the_grader(tutor):
    quiz.start(tutor, "ann", "3.4.2", "new", "choice", 1)
    assert tutor.quiz._grader is None


def test_a_right_choice_after_the_answer_hint_is_not_a_100_percent_in_the_round(tutor):
    """Review 17: a choice item answered after hint 3 revealed the answer showed "Correct 100%"
    and counted in the round's mean, though FSRS rated it Again. It is marked and not scored."""
    item, right = lora_choice(tutor)
    st, _ = quiz.start(tutor, "hint-user", "3.4.2", "new", "choice", 1)
    for _ in range(3):
        st, v = quiz.hint(tutor, st)
    st, v = quiz.submit(tutor, st, right)
    r = st["results"][-1]
    assert r["verdict"] == "correct" and r["rating"] == "again" and "answer_shown" in r["flags"]
    assert "提示已经给出了答案" in v.result
    # review 25: the verdict line said "score 100%", and the same warning came twice
    head = v.result.split("\n")[0]
    assert "100%" not in head and "未评分 not scored" in head and "看过答案" in head, head
    assert v.result.count("很快会再出现") == 1, v.result
    from ui.progress import history_rows

    row = history_rows(tutor.quiz.store.reviews("hint-user"), tutor.corpus.notes)[0]
    assert "看过答案" in row[3] and "100%" not in row[4], row
    table = quiz.summary(st)
    assert "正确 Correct (看过答案 answer shown)" in table and "100%" not in table, table
    # review 22: counted apart, not among the correct ones; its note is to review; mastery 0 from it
    assert "正确 Correct **0**" in table and "看过答案 answer shown **1**" in table, table
    assert "建议复习" in table and "3.4.2" in table.split("建议复习")[-1], table
    assert tutor.quiz.progress("hint-user")["3.4.2"].own == 0.0


@pytest.mark.parametrize("type_", ["choice", "short"])
def test_dont_know_is_an_answer_graded_wrong_and_not_contestable(tutor, type_):
    """Review 24 (m4): the web quiz had no "don't know"; typing 不知道 on a short item offered "I
    think I was right", and the CLI refused it on a choice item as not an option."""
    st, v = quiz.start(tutor, "dk", "3.4.2", "new", type_, 1, now=1000.0)
    st2, v2 = quiz.submit(tutor, st, quiz.DONT_KNOW if type_ == "choice" else "不知道", now=1003.0)
    r = st2["result"]
    assert r["verdict"] == "wrong" and "dont_know" in r["flags"] and not v2.contest
    assert "没关系" in v2.result and "Again" in v2.result
    assert [x.verdict for x in tutor.quiz.store.reviews("dk")] == ["wrong"]
    # review 30: shown as 「不知道」 in the result, the round summary and Progress's history, not as 「不正确」
    assert "不知道 Don't know" in v2.result and "不正确" not in v2.result.split("·")[0], v2.result
    assert "不知道 Don't know" in quiz.summary(st2)
    from ui.progress import history_rows
    assert history_rows(tutor.quiz.store.reviews("dk"), tutor.corpus.notes)[0][3] == "不知道 Don't know"
