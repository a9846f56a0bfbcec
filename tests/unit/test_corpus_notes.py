"""Corpus checks (DESIGN.md §3, issue 3): every note file against the note rules, and
completeness for the chapters whose notes are written. Table-driven: each rule is one
function returning problems as 'file: what' lines, so a failure lists every offending note.

Schema errors (unknown id, bad YAML, ...) are Corpus.load's job and tested at the end of
this file; the rules here are style and consistency rules that a loadable draft may break.
No models, no index: runs in about a second.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from pathlib import Path

import pytest

from tutor.corpus import Corpus, Note, parse_note
from tutor.outline import Outline
from tutor.text import han_count, split_sentences

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "corpus"
COMPLETE_CHAPTERS = tuple(str(c) for c in range(1, 17))  # chapters whose every outline node must have a note

TOPIC_SECTIONS = ["概念", "原理", "优缺点与适用场景", "常见误区", "与其他主题的关系", "English summary"]
HAN_BOUNDS = {"topic": (600, 1500), "overview": (150, 1000)}  # Han characters before the English summary
MIN_DUP_CHARS = 12  # normalised sentences this long must not appear in two notes

OUTLINE = Outline.parse(CORPUS / "outline.md")
FILES = sorted((CORPUS / "notes").rglob("*.md"))


def _rel(p: Path) -> str:
    return str(p.relative_to(CORPUS))


def _is_topic(note: Note) -> bool:
    return OUTLINE[note.id].level == 3


@pytest.fixture(scope="module")
def notes() -> list[Note]:
    return [parse_note(p, OUTLINE) for p in FILES]


# -- rules: each takes the parsed notes and returns a list of problems -----------------------

def complete(notes: list[Note], chapters=COMPLETE_CHAPTERS) -> list[str]:
    """Every outline node of the chapters (default COMPLETE_CHAPTERS) has exactly one note."""
    have = defaultdict(list)
    for n in notes:
        have[n.id].append(_rel(n.path))
    out = []
    for node in OUTLINE.nodes:
        if node.chapter in chapters and len(have[node.id]) != 1:
            out.append(f"{node.id} {node.title}: {len(have[node.id])} note files {have[node.id]}, need exactly 1")
    return out


def title_matches_outline(notes):
    return [f"{_rel(n.path)}: title {n.meta.title!r} != outline {OUTLINE[n.id].title!r}"
            for n in notes if n.meta.title != OUTLINE[n.id].title]


def file_name(notes):
    out = []
    for n in notes:
        chapter = f"ch{int(OUTLINE[n.id].chapter):02d}"
        rel = n.path.relative_to(CORPUS / "notes")
        slug_ok = (rel.name == f"{n.id}-overview.md") if not _is_topic(n) else \
            re.fullmatch(rf"{re.escape(n.id)}-[a-z0-9]+(?:-[a-z0-9]+)*\.md", rel.name) is not None
        if rel.parent.as_posix() != chapter or not slug_ok:
            want = f"{chapter}/{n.id}-<ascii-slug>.md" if _is_topic(n) else f"{chapter}/{n.id}-overview.md"
            out.append(f"{_rel(n.path)}: file name must be {want}")
    return out


def linked_ids_exist(notes):
    out = []
    for n in notes:
        for field in ("prerequisites", "related"):
            for ref in getattr(n.meta, field):
                if ref not in OUTLINE:
                    out.append(f"{_rel(n.path)}: {field} id {ref!r} is not in the outline")
                elif ref == n.id:
                    out.append(f"{_rel(n.path)}: {field} lists the note itself")
    return out


def choice_items_sound(notes):
    out = []
    for n in notes:
        for i, q in enumerate(n.meta.quiz):
            if q.type != "choice":
                continue
            opts = [o.strip() for o in q.options]
            if len(set(opts)) != len(opts):
                out.append(f"{_rel(n.path)}: quiz[{i}] options are not distinct")
            if not 0 <= q.answer < len(opts):
                out.append(f"{_rel(n.path)}: quiz[{i}] answer {q.answer} indexes no option")
            if _is_topic(n) and len(opts) != 4:
                out.append(f"{_rel(n.path)}: quiz[{i}] has {len(opts)} options, need 4")
    return out


def topic_sections(notes):
    out = []
    for n in notes:
        heads = re.findall(r"^##\s+(.+?)\s*$", n.body, re.M)
        if _is_topic(n) and heads != TOPIC_SECTIONS:
            out.append(f"{_rel(n.path)}: sections {heads}, need exactly {TOPIC_SECTIONS}")
        if not _is_topic(n) and (not heads or heads[-1] != "English summary"):
            out.append(f"{_rel(n.path)}: an overview must end with '## English summary'")
    return out


def body_length(notes):
    out = []
    for n in notes:
        lo, hi = HAN_BOUNDS["topic" if _is_topic(n) else "overview"]
        count = han_count(n.body.split("## English summary")[0])
        if not lo <= count <= hi:
            out.append(f"{_rel(n.path)}: {count} Chinese characters before the English summary, need {lo}-{hi}")
    return out


def topic_items(notes):
    out = []
    for n in notes:
        if not _is_topic(n):
            continue
        kp, quiz = n.meta.key_points, n.meta.quiz
        types = [q.type for q in quiz]
        if not 3 <= len(kp) <= 6:
            out.append(f"{_rel(n.path)}: {len(kp)} key_points, need 3-6")
        if not 2 <= len(quiz) <= 4:
            out.append(f"{_rel(n.path)}: {len(quiz)} quiz items, need 2-4")
        if "choice" not in types or "short" not in types:
            out.append(f"{_rel(n.path)}: quiz needs at least one choice and one short item, has {types}")
    return out


# An English sentence ends at . ! ? before a capital, digit, quote, bracket or the end; common
# abbreviations (e.g., i.e., et al., vs.) do not end one. Semicolons do not (unlike split_sentences,
# which splits there for quoting).
_EN_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\bal)(?<!\bvs)(?<!\betc)(?<!\bcf)(?<!\bFig)(?<!\bEq)(?<!\bNo)"
                              r"[.!?][\"')\]]*(?=\s+[A-Z\"'(\[\d$`]|\s*$)")


def english_summary_sentences(text: str) -> int:
    """Number of English sentences in text (the '## English summary' section of a note)."""
    return len(_EN_SENTENCE_END.findall(text.strip()))


def summary_length(notes):
    """DESIGN §3: the closing English summary has 3-6 sentences."""
    out = []
    for n in notes:
        count = english_summary_sentences(n.body.split("## English summary", 1)[-1])
        if not 3 <= count <= 6:
            out.append(f"{_rel(n.path)}: English summary has {count} sentences, need 3-6")
    return out


def short_items_have_misconceptions(notes):
    """DESIGN §3: each short item carries 1-3 common wrong answers, distinct from its reference."""
    out = []
    for n in notes:
        for i, q in enumerate(n.meta.quiz):
            if q.type != "short":
                continue
            wrong = [m.strip() for m in q.misconceptions]
            if not 1 <= len(wrong) <= 3 or not all(wrong):
                out.append(f"{_rel(n.path)}: quiz[{i}] needs 1-3 non-empty misconceptions, has {len(wrong)}")
            elif q.reference.strip() in wrong or len(set(wrong)) != len(wrong):
                out.append(f"{_rel(n.path)}: quiz[{i}] misconceptions repeat each other or the reference")
    return out


def emphasis_renders(notes):
    """No literal ** after CommonMark rendering (the app's Markdown): a closing ** right after
    a full-width bracket and before a Han character (用**追踪（tracing）**实现) is not emphasis."""
    from markdown_it import MarkdownIt

    md, out = MarkdownIt("commonmark"), []
    for n in notes:
        body = re.sub(r"```.*?```|\$\$.*?\$\$|\$[^$\n]+\$", "X", n.body, flags=re.S)
        for m in re.finditer(r".{0,12}\*\*.{0,12}", md.render(body)):
            out.append(f"{_rel(n.path)}: literal ** shows in {m.group(0)!r}; put the bracket outside the bold")
    return out


def _normalise(sentence: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", sentence).lower())


def _prose(note: Note) -> list[str]:
    """The note's own sentences: body (headings, display math and code blocks removed, since
    shared notation is not repeated prose) and front-matter text except references/aliases."""
    body = re.sub(r"```.*?```|\$\$.*?\$\$", "\n", note.body, flags=re.S)
    body = re.sub(r"^#.*$", "", body, flags=re.M)
    texts = [body, note.meta.title_en, *note.meta.key_points]
    for q in note.meta.quiz:
        for key, value in q.model_dump().items():
            if key not in ("type", "answer"):
                texts += value if isinstance(value, list) else [value]
    return [s for t in texts for s in split_sentences(t)]


def no_repeated_sentence(notes):
    where: dict[str, set[str]] = defaultdict(set)
    sample: dict[str, str] = {}
    for n in notes:
        for s in _prose(n):
            key = _normalise(s)
            if len(key) >= MIN_DUP_CHARS:
                where[key].add(n.id)
                sample.setdefault(key, s)
    return [f"{sorted(ids)}: sentence repeated across notes: {sample[k][:80]!r}" for k, ids in where.items() if len(ids) > 1]


RULES = [complete, title_matches_outline, file_name, linked_ids_exist, choice_items_sound,
         topic_sections, body_length, summary_length, topic_items, short_items_have_misconceptions, emphasis_renders, no_repeated_sentence]


@pytest.mark.parametrize("rule", RULES, ids=[r.__name__ for r in RULES])
def test_notes_follow_rule(rule, notes):
    problems = rule(notes)
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


def test_whole_outline_has_notes(notes):
    """Issues 9-11: 254/254 topic notes plus every section (64) and chapter (16) overview."""
    have = {n.id for n in notes}
    levels = {lvl: {n.id for n in OUTLINE.nodes if n.level == lvl} for lvl in (1, 2, 3)}
    assert (len(levels[3]), len(levels[2]), len(levels[1])) == (254, 64, 16)
    for lvl, ids in levels.items():
        assert ids <= have, f"level {lvl} nodes without a note: {sorted(ids - have)}"


def test_corpus_loads():
    corpus = Corpus.load(CORPUS)  # raises Corpus.Invalid naming file:line on any schema error
    assert len(corpus.notes) == len(FILES)


# -- the rules themselves catch what they should (one broken note each) ------------------------

def _note(path: str, meta: dict, body: str) -> Note:
    from tutor.corpus import NoteMeta

    base = dict(title_en="X", difficulty=1, references=["A, B, C 2020"], key_points=["a", "b", "c"])
    return Note(NoteMeta.model_validate({**base, **meta}), body, CORPUS / "notes" / path)


@pytest.mark.parametrize("rule, note, expect", [
    (title_matches_outline, _note("ch01/1.1.2-x.md", {"id": "1.1.2", "title": "缩放"}, ""), "!= outline"),
    (file_name, _note("ch02/1.1.2-x.md", {"id": "1.1.2", "title": "缩放点积"}, ""), "ch01/1.1.2-<ascii-slug>.md"),
    (file_name, _note("ch01/1.1.2-点积.md", {"id": "1.1.2", "title": "缩放点积"}, ""), "ascii-slug"),
    (file_name, _note("ch01/1.1-intro.md", {"id": "1.1", "title": "标准注意力"}, ""), "1.1-overview.md"),
    (linked_ids_exist, _note("ch01/1.1-overview.md", {"id": "1.1", "title": "标准注意力", "related": ["1.1"]}, ""), "itself"),
    (topic_sections, _note("ch01/1.1.2-x.md", {"id": "1.1.2", "title": "缩放点积"}, "## 概念\n甲\n## English summary\nx"), "need exactly"),
    (body_length, _note("ch01/1.1.2-x.md", {"id": "1.1.2", "title": "缩放点积"}, "## 概念\n" + "字" * 597 + "\n## English summary\n" + "字" * 50), "599 Chinese"),
    (body_length, _note("ch01/1.1-overview.md", {"id": "1.1", "title": "标准注意力"}, "字" * 1001), "1001 Chinese"),
    (summary_length, _note("ch01/1.1.2-x.md", {"id": "1.1.2", "title": "缩放点积"},
                           "## English summary\nIt scales. It divides, e.g. by 8. A. B. C. D. E."), "7 sentences"),
    (summary_length, _note("ch01/1.1.2-x.md", {"id": "1.1.2", "title": "缩放点积"},
                           "## English summary\nIt scales (Vaswani et al. 2017); i.e. by 8. Done."), "2 sentences"),
    (topic_items, _note("ch01/1.1.2-x.md", {"id": "1.1.2", "title": "缩放点积", "quiz": [{"type": "card", "front": "a", "back": "b"}]}, ""), "1 quiz items"),
    (short_items_have_misconceptions, _note("ch01/1.1.2-x.md", {"id": "1.1.2", "title": "缩放点积", "quiz": [
        {"type": "short", "question": "q", "reference": "r", "key_points": ["k"]}]}, ""), "needs 1-3"),
    (emphasis_renders, _note("ch01/1.1.2-x.md", {"id": "1.1.2", "title": "缩放点积"}, "JAX 用**追踪（tracing）**实现变换"), "literal **"),
    (choice_items_sound, _note("ch01/1.1.2-x.md", {"id": "1.1.2", "title": "缩放点积", "quiz": [
        {"type": "choice", "question": "q", "options": ["a", "b", "c"], "answer": 0, "explanation": "e"}]}, ""), "need 4"),
])
def test_rule_catches(rule, note, expect):
    problems = rule([note])
    assert problems and expect in problems[0], problems


def test_repeated_sentence_is_caught_but_shared_formula_is_not():
    sent = "除以根号下键向量维度可以让点积的方差回到一。"
    formula = "$$\\mathrm{softmax}\\left(\\frac{QK^\\top}{\\sqrt{d_k}}\\right)V$$"
    a = _note("ch01/1.1.2-x.md", {"id": "1.1.2", "title": "缩放点积"}, f"## 概念\n{sent}\n\n{formula}")
    b = _note("ch01/1.1.3-y.md", {"id": "1.1.3", "title": "Softmax归一化"}, f"## 概念\n{formula}\n\n别的句子。")
    assert no_repeated_sentence([a, b]) == []
    c = _note("ch01/1.1.4-z.md", {"id": "1.1.4", "title": "加权求和", "key_points": [sent.rstrip("。") + "!", "b", "c"]}, "")
    problems = no_repeated_sentence([a, c])
    assert len(problems) == 1 and "1.1.2" in problems[0] and "1.1.4" in problems[0]


def test_missing_note_is_caught():
    problems = complete([])
    assert any(p.startswith("1.1.2 缩放点积:") for p in problems)
    assert len(problems) == sum(1 for n in OUTLINE.nodes if n.chapter in COMPLETE_CHAPTERS)


# -- Corpus.Invalid names the file and the line ----------------------------------------------

MINI_OUTLINE = "# T\n\n## 1. 注意力\n\n### 1.1 标准注意力\n- 缩放点积\n- Softmax归一化\n"
GOOD = """---
id: "1.1.1"
title: 缩放点积
title_en: Scaled dot product
difficulty: 1
references: ["Vaswani et al., Attention Is All You Need, NeurIPS 2017"]
key_points: [除以根号 d_k]
---

## 概念
正文。
"""


def _corpus(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    (tmp_path / "notes" / "ch01").mkdir(parents=True)
    (tmp_path / "outline.md").write_text(MINI_OUTLINE, encoding="utf-8")
    for name, content in files.items():
        p = tmp_path / "notes" / "ch01" / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return tmp_path


@pytest.mark.parametrize("name, content, line, words", [
    ("1.9.9-x.md", GOOD.replace('id: "1.1.1"', 'id: "1.9.9"'), 2, "unknown id '1.9.9'"),
    ("1.1.1-x.md", GOOD.replace("title_en: Scaled dot product", "title_en: Scaled: dot product"), 4, "bad YAML"),
    ("1.1.1-x.md", GOOD.replace("key_points: [除以根号 d_k]", "key_points: [a]\nrelated: [\"7.7.7\"]"), 8, "unknown id '7.7.7'"),
    ("1.1.1-x.md", GOOD.replace("difficulty: 1", "difficulty: 5"), 5, "difficulty"),
    ("1.1.1-x.md", GOOD.encode("utf-8").replace("正文".encode("utf-8"), "正文".encode("gbk")), 11, "not UTF-8"),
    ("1.1.1-x.md", GOOD.split("---\n", 2)[2], 1, "front matter"),
])
def test_invalid_note_names_file_and_line(tmp_path, name, content, line, words):
    root = _corpus(tmp_path, {name: content})
    with pytest.raises(Corpus.Invalid) as e:
        Corpus.load(root)
    msg = str(e.value)
    assert msg.startswith(f"{root / 'notes' / 'ch01' / name}:{line}: "), msg
    assert words in msg, msg
    assert "\n" not in msg


def test_duplicate_id_names_both_files(tmp_path):
    root = _corpus(tmp_path, {"1.1.1-a.md": GOOD, "1.1.1-b.md": GOOD})
    with pytest.raises(Corpus.Invalid) as e:
        Corpus.load(root)
    msg = str(e.value)
    assert msg.startswith(f"{root / 'notes' / 'ch01' / '1.1.1-b.md'}:2: duplicate id '1.1.1'"), msg
    assert str(root / "notes" / "ch01" / "1.1.1-a.md") in msg


def test_valid_mini_corpus_loads(tmp_path):
    corpus = Corpus.load(_corpus(tmp_path, {"1.1.1-a.md": GOOD}))
    assert list(corpus.notes) == ["1.1.1"] and corpus.notes["1.1.1"].meta.key_points == ["除以根号 d_k"]


# -- for note writers: `python -m tests.unit.test_corpus_notes 5 6` checks chapters 5 and 6 ----

def check_chapters(chapters: list[str]) -> list[str]:
    """Every rule's problems that concern the given chapters (completeness included)."""
    notes, out = [], []
    for p in FILES:  # a broken note elsewhere must not hide the problems of mine
        try:
            notes.append(parse_note(p, OUTLINE))
        except Corpus.Invalid as e:
            if p.parent.name in {f"ch{int(c):02d}" for c in chapters}:
                out.append(str(e))
    mine = [n for n in notes if OUTLINE[n.id].chapter in chapters]
    out += complete(notes, tuple(chapters))
    for rule in RULES[1:-1]:
        out += rule(mine)
    # repeated sentences are compared against every note; keep the pairs that touch mine
    ids = {n.id for n in mine}
    out += [p for p in no_repeated_sentence(notes) if any(f"'{i}'" in p.split(":")[0] for i in ids)]
    return out


if __name__ == "__main__":
    import sys

    problems = check_chapters(sys.argv[1:] or list(COMPLETE_CHAPTERS))
    print("\n".join(problems) or "ok")
    sys.exit(1 if problems else 0)
