"""The wording table (tutor/wording.py) and the cases issue 15 item 5 found: every entry in
Chinese with English alongside and every key used in code present; a short answer counted as
Again says so in both languages; a recommendation whose prerequisite was never practised says
so in words; the same answer text to the same item gets the same grade in the quiz tab, the
CLI and the engine, whatever generated items or hints (the hints change only the scheduling,
and then the feedback says why)."""

from __future__ import annotations

import io
import re
import string
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tutor import wording
from tutor.llm import ScriptedLLM
from tutor.rag.embed import hash_embedder
from tutor.tutor import build_tutor
from tutor.wording import TABLE, MissingWording, Text, join, label, percent, text, w

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)


# -- the table ------------------------------------------------------------------------------
@pytest.mark.parametrize("key", sorted(TABLE))
def test_every_entry_has_chinese_and_english(key):
    z, e = TABLE[key]
    assert z.strip() and CJK.search(z), f"{key}: the Chinese part needs Chinese characters"
    assert e.strip() and not CJK.search(e), f"{key}: the English part must be English"
    fields = lambda s: {f for _, f, _, _ in string.Formatter().parse(s) if f}  # noqa: E731
    # the same placeholders on both sides; {s} (an English plural) alone may be English-only
    assert fields(z) <= fields(e) and fields(e) - fields(z) <= {"s"}, key


def _code_files():
    return [p for d in ("tutor", "ui") for p in (ROOT / d).rglob("*.py")]


_NAMESPACES = {k.split(".")[0] for k in TABLE}
# a string literal that looks like a wording key: namespace.name[.more]
_LITERAL = re.compile(r"""(?<![\w.])["']((%s)(?:\.[A-Za-z0-9_]+)+)["']""" % "|".join(sorted(_NAMESPACES)))
# a key built at run time: label(f"verdict.{v}") → the static prefix "verdict."
_FSTRING = re.compile(r"""\bf["']((%s)\.(?:[a-z0-9_]+\.)*)\{""" % "|".join(sorted(_NAMESPACES)))
_FILE = re.compile(r"\.(db|py|md|json|png|toml|txt|jsonl|html|css|js|gguf)$")


def _used():
    literal, prefixes = set(), set()
    for p in _code_files():
        src = p.read_text(encoding="utf-8")
        if p.name == "wording.py" and p.parent.name == "tutor":
            src = src[src.index("def _entry("):]  # its helpers, not the table
        literal |= {(m.group(1), p.name) for m in _LITERAL.finditer(src) if not _FILE.search(m.group(1))}
        prefixes |= {m.group(1) for m in _FSTRING.finditer(src)}
    return literal, prefixes


def test_every_key_used_in_code_exists():
    literal, prefixes = _used()
    missing = sorted(f"{name}: {key}" for key, name in literal if key not in TABLE)
    assert not missing, f"wording keys used in code but not in tutor/wording.py: {missing}"
    empty = sorted(p for p in prefixes if not any(k.startswith(p) for k in TABLE))
    assert not empty, f"run-time keys with no entry at all: {empty}"


# keys built at run time: every member the code can ask for is in the table
FAMILIES = {
    "verdict.": ("correct", "partial", "wrong", "check"),
    "feedback.": ("correct", "partial", "wrong", "check"),
    "rating.": ("again", "hard", "good", "easy", "pending"),
    "type.": ("choice", "short", "card"),
    "quiz.mode.": ("mixed", "due", "weak", "new"),
    "quiz.filter.": ("choice", "short", "card"),
    "path.kind.": ("review", "weak", "continue", "new"),
    "cli.quiz.prompt.": ("choice", "short", "card"),
    "browse.level.": ("1", "2", "3"),
    "browse.difficulty.": ("1", "2", "3"),
}


@pytest.mark.parametrize("prefix", sorted(FAMILIES))
def test_run_time_key_families_are_complete(prefix):
    assert [f"{prefix}{m}" for m in FAMILIES[prefix] if f"{prefix}{m}" not in TABLE] == []


def test_every_entry_is_used_somewhere():
    literal, prefixes = _used()
    used = {k for k, _ in literal} | {k for k in TABLE if any(k.startswith(p) for p in prefixes)}
    assert sorted(set(TABLE) - used) == []


def test_api_renders_both_languages_and_fills_parameters():
    assert w("verdict.partial") == "部分正确 / Partly correct"
    assert label("verdict.partial") == "部分正确 Partly correct"
    assert (wording.zh("verdict.partial"), wording.en("verdict.partial")) == ("部分正确", "Partly correct")
    t = text("quiz.nothing_to_ask", mode=text("quiz.mode.due"), tip=text("quiz.tip.try_new"))
    assert t == Text("这里没有可做的题（到期复习）；试试“新题”模式", "nothing to ask here (Due); try mode New")
    assert str(t) == f"{t.zh} / {t.en}" and w("quiz.nothing_to_ask", mode=text("quiz.mode.due"), tip=text("quiz.tip.try_new")) == str(t)
    assert str(percent(0.4)) == "40%" and str(percent(None)) == "尚未练习 / not practised yet"
    assert join([percent(0.5), text("value.not_practised")]) == Text("50%，尚未练习", "50%, not practised yet")
    with pytest.raises(MissingWording):
        w("no.such.key")


# -- the cases the tester saw -------------------------------------------------------------------
@pytest.fixture
def tutor(tmp_path):
    from tutor.quiz.service import Quiz

    t = build_tutor(make_settings(tmp_path / "home"), llm=ScriptedLLM(), embedder=hash_embedder())
    t.__dict__["quiz"] = Quiz(t, clock=lambda: T0)
    return t


def _short(tutor, note_id="3.4.2"):
    return next(i for i in tutor.quiz.bank.items if i.note_id == note_id and i.type == "short")


def _undecided(tutor, monkeypatch):
    from tutor.quiz.grading import Grade

    monkeypatch.setattr(tutor.quiz.grader, "grade", lambda *a, **k: Grade(0.5, "check", 0.5, 0.5, [], [], ["uncertain"]))


def test_short_answer_after_the_answer_hint_says_why_in_both_languages(tutor, monkeypatch):
    """'this card comes back soon (FSRS Again)' was English only, and a "check yourself"
    answer turned "wrong" without a word about why."""
    from ui.quiz import result_markdown

    it = _short(tutor)
    _undecided(tutor, monkeypatch)
    r = tutor.quiz.grade("u", it.id, "我觉得是低秩分解", latency_ms=9000, hints_used=3)
    assert (r.verdict, r.rating, r.score) == ("wrong", "again", 0.5) and "answer_shown" in r.flags
    assert r.feedback.splitlines()[0] == w("feedback.answer_shown")
    assert r.notices == [w("notice.answer_shown")]
    for line in [r.feedback.splitlines()[0], *r.notices]:
        zh_part, en_part = line.split(" / ", 1)
        assert CJK.search(zh_part) and re.search(r"[A-Za-z]{4}", en_part) and not CJK.search(en_part)
    md = result_markdown(r.to_json())
    # the notice says what the feedback's first line says: shown once (review 25)
    assert "FSRS 忘记 Again" in md and "提示已经给出了答案" in md and md.count("很快会再出现") == 1, md
    # the hint ladder's own words are bilingual too
    assert all(CJK.search(h.text) for h in tutor.quiz.hints(it.id)[:2])
    assert " / " in tutor.quiz.hints(it.id)[0].text


def test_hints_change_the_scheduling_not_the_grade(tutor):
    it = _short(tutor)
    answer = "LoRA 只训练低秩矩阵 B 和 A，参数很少。"
    grades = [tutor.quiz.grade(f"h{k}", it.id, answer, latency_ms=9000, hints_used=k) for k in (0, 1, 2, 3)]
    assert len({(g.verdict, g.score, tuple(g.matched)) for g in grades}) == 1
    assert grades[3].rating == "again" and grades[3].notices == [w("notice.answer_shown")]


def _path_table(tutor, own: dict, reviewed: dict | None = None):
    """The mastery table with `own` set per note, each on all its items answered (or `reviewed`)."""
    q = tutor.quiz
    table = q.progress("nobody", T0)
    reviewed = reviewed or {}
    return {k: (replace(m, own=own[k], reviewed=reviewed.get(k, m.items)) if k in own else m) for k, m in table.items()}


def test_recommendation_reasons_say_missing_mastery_in_words_in_both_languages(tutor):
    """The tester saw 'prerequisites 1.1.1 at —'."""
    from tutor.quiz.path import learning_path

    q = tutor.quiz
    notes = tutor.corpus.notes
    nid = next(n for n, note in notes.items() if note.meta.quiz and len(note.meta.prerequisites) == 1
               and notes.get(note.meta.prerequisites[0]) and notes[note.meta.prerequisites[0]].meta.quiz)
    pre = notes[nid].meta.prerequisites[0]
    pm = notes[pre].meta

    def reason(own: dict) -> str:
        steps = learning_path(q.bank, _path_table(tutor, own), [], T0, n=1000)
        return next(s.reason for s in steps if s.node_id == nid)

    r = reason({})  # neither practised: a new topic whose prerequisite is new too
    assert r == (f"新主题，按大纲顺序排在下一个；先修 {pre} {pm.title} 尚未练习 / "
                 f"new topic, next in outline order; prerequisite {pre} {pm.title_en} not practised yet")
    r = reason({nid: 0.5, pre: 0.85})  # weak, prerequisite mastered
    assert r == (f"薄弱：掌握度 50%，低于 80%；先修 {pre} {pm.title} 已掌握（85%） / "
                 f"weak: mastery 50%, below 80%; prerequisite {pre} {pm.title_en} mastered (85%)")
    # review 11: one right answer of three is no weakness, it is a start
    steps = learning_path(q.bank, _path_table(tutor, {nid: 0.33, pre: 0.85}, {nid: 1}), [], T0, n=1000)
    step = next(s for s in steps if s.node_id == nid)
    assert step.kind == "continue" and step.reason.startswith("已开始：答了 1/") and "started: 1 of " in step.reason
    r = reason({pre: 0.4})
    assert f"先修 {pre} {pm.title} 掌握度 40%" in r and f"prerequisite {pre} {pm.title_en} at 40% mastery" in r
    for step in learning_path(q.bank, _path_table(tutor, {}), [], T0, n=1000):
        assert "—" not in step.reason and CJK.search(step.reason.split(" / ")[0]) and " / " in step.reason


def test_a_section_prerequisite_is_judged_by_its_topics_not_its_overviews_one_card(tutor):
    """Review 14: 「先修 1.1 标准注意力 已掌握（100%）」 after one flashcard on the overview, with the
    section's topics at 33% and 50%. A section prerequisite reads its topics' mean, and is mastered
    only on enough answers."""
    from tutor.quiz.path import learning_path

    q = tutor.quiz
    table = q.progress("nobody", T0)
    nid, pre = next((n, p) for n, note in tutor.corpus.notes.items() if note.meta.quiz
                    for p in note.meta.prerequisites if p in table and table[p].level == 2 and table[p].mastery is not None)
    table = {k: (replace(m, own=1.0, mastery=0.4, seen=2, reviewed=1) if k == pre else m) for k, m in table.items()}
    step = next(s for s in learning_path(q.bank, table, [], T0, n=1000) if s.node_id == nid)
    assert f"先修 {pre}" in step.reason and "掌握度 40%" in step.reason and f"先修 {pre} " + "已掌握" not in step.reason, step.reason
    # review 19: 1.1 read "weak: mastery 50%" on its own line and "at 37% mastery" as a prerequisite
    assert "各主题平均掌握度 40%" in step.reason and "at 40% mastery (mean over its topics)" in step.reason, step.reason
    sec = next(k for k, m in table.items() if m.level == 2 and k in tutor.corpus.notes and tutor.corpus.notes[k].meta.quiz
               and not tutor.corpus.notes[k].meta.prerequisites)
    step = next(s for s in learning_path(q.bank, _path_table(tutor, {sec: 0.5}), [], T0, n=1000) if s.node_id == sec)
    assert step.kind == "weak" and step.reason.startswith("薄弱：本节概述题的掌握度 50%"), step.reason
    assert "weak: mastery 50% on the overview's own items" in step.reason, step.reason


def test_progress_history_shows_a_grade_as_the_quiz_tab_does(tutor, monkeypatch):
    """An answer waiting for a self-rating showed no score in the quiz tab but 'check 50%' in
    the history."""
    from ui.progress import history_rows

    it = _short(tutor)
    _undecided(tutor, monkeypatch)
    tutor.quiz.grade("u", it.id, "我觉得是低秩分解")
    row = history_rows(tutor.quiz.store.reviews("u"), tutor.corpus.notes)[0]
    assert row[2:] == ["简答题 Short answer", "请自评 Check yourself", "未评分 not scored", "待自评 waiting for your rating"]


ANSWERS = ["LoRA 只训练低秩矩阵 B 和 A，参数很少。", "我喜欢吃苹果和香蕉。", "I like pizza and football on weekends.",
           "冻结原权重 W0，只训练 B 和 A；推理前把 BA 合并进 W0，没有额外延迟。"]


def _same(r) -> tuple:
    return (r.verdict, r.score, tuple(r.matched), tuple(r.missed), tuple(r.flags), r.feedback)


@pytest.mark.parametrize("answer", ANSWERS)
def test_same_text_same_grade_in_the_engine_the_quiz_tab_and_the_cli(tutor, monkeypatch, answer):
    from rich.console import Console

    import ui.quiz as uq
    from tutor.quiz import quiz_cli

    q = tutor.quiz
    it = _short(tutor)
    direct = q.grade("engine", it.id, answer, latency_ms=9000)
    # the quiz tab (and its API endpoint quiz_submit)
    st, _ = uq.start(tutor, "tab", "3.4.2", "new", "short", n=1)
    assert st["items"] == [it.id]
    st, v = uq.submit(tutor, st, answer)
    tab = st["result"]
    # `tutor quiz`, the answer typed at the prompt (self-rating skipped when asked)
    lines = iter([answer, "/skip"])
    monkeypatch.setattr(quiz_cli, "_ask", lambda prompt: next(lines, None))
    out = io.StringIO()
    cli = quiz_cli.run_quiz(Console(file=out, width=200), tutor, "cli", "3.4.2", "new", "short", 1, None)[0]
    g = q.grade_text(it.id, answer)
    assert _same(direct) == _same(cli) == (tab["verdict"], tab["score"], tuple(tab["matched"]), tuple(tab["missed"]),
                                           tuple(tab["flags"]), tab["feedback"])
    assert (g.verdict, g.score, g.matched, g.flags) == (direct.verdict, direct.score, direct.matched, direct.flags)
    # and the two front-ends show it with the same words
    shown = label(f"verdict.{direct.verdict}")
    assert shown in v.result and shown in out.getvalue()
    if direct.verdict != "check":
        assert f"{round(100 * direct.score)}%" in v.result and f"{round(100 * direct.score)}%" in out.getvalue()


def test_generated_items_do_not_change_the_grade_of_the_same_text(tutor):
    """The grader compares an answer with the other short items of the section ("another
    item's answer is wrong"). LLM-generated items were among them, and they come and go with
    `quiz-gen`: the same answer was graded "Partly correct 32%" before `quiz-gen` wrote an item
    on LoRA much like it, and "Wrong 20%" (other_item) after, or in a process that built its
    item bank later. Failed before: ("partial", 0.3165) then ("wrong", 0.2)."""
    from tutor.quiz.items import note_hash

    q = tutor.quiz
    it = _short(tutor)
    answer = "冻结原权重 W0，只训练 B 和 A；推理前把 BA 合并进 W0，没有额外延迟。"
    before = q.grade("a", it.id, answer)
    payload = {"type": "short", "prompt": "LoRA 训练时冻结什么、推理时有没有额外延迟？",
               "reference": "LoRA 冻结原权重 W0，只训练 B 和 A；推理前把 BA 合并进 W0，所以没有额外延迟。",
               "key_points": ["冻结 W0", "合并后无额外延迟"]}
    q.store.save_generated("3.4.2", note_hash(tutor.corpus.notes["3.4.2"]), "scripted", [payload], T0)
    q.__dict__.pop("bank", None)  # as after `quiz-gen`, or in a process started later
    assert any(i.generated for i in q.bank.items)
    after = q.grade("b", it.id, answer)
    assert before.verdict == "partial"  # the case worth keeping: credit that must not vanish
    assert _same(after) == _same(before)
