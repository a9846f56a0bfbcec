"""The hint ladder shown before the answer:

1. the concept to think about (the note's title, its section, what it is for);
2. one key point turned into a question (a cloze: the words that give the answer away blanked);
3. the answer (right option + explanation, the reference, or a card's back).

Rule: no hint before step 3 gives the answer away. `leaks(hint, item, note)` says whether a
text does: it contains the whole answer text, a whole key point of a short item, or any
run of LEAK_CHARS characters of the answer that is not already in the question or the
note's titles. Steps 1 and 2 are built to pass it, and fall back to a plainer wording
when a candidate would not. The ladder's own words are in Chinese with English alongside
(tutor/wording.py "hint.*"); what it quotes from the note (title, key point cloze, answer)
stays in the note's language. Deliberately not here: choosing which item to show (quiz.py).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from tutor.corpus import Note
from tutor.quiz.items import Item
from tutor.wording import Text, text, w

LEAK_CHARS = 6  # a run this long (spaces and punctuation removed) copied from the answer counts as giving it away
_PUNCT = re.compile(r"[\s，。！？、；：,.!?;:（）()\[\]【】「」『』“”\"'‘’…—\-·/]+")
BLANK = "____"
MIN_VISIBLE_SHARE = 0.5  # a cloze must leave this share of its key point readable, or it is not offered
MIN_VISIBLE_CHARS = 6    # ... and this many characters (punctuation aside): 「____只____m−n」 asks nothing
MAX_BLANKS = 2           # more gaps than this and the key point reads as a puzzle, not a hint


@dataclass(frozen=True)
class Hint:
    """step: 1, 2 or 3; kind: "concept" | "key_point" | "answer"; text: what to show; last: no more steps."""

    step: int
    kind: str
    text: str
    last: bool


def _squash(text: str) -> str:
    return _PUNCT.sub("", text.lower())


def answer_texts(item: Item) -> list[str]:
    """What counts as the answer of an item: the right option (with the explanation), the
    reference or a card's back, and for short items each key point."""
    out = [item.answer_text]
    if item.type == "short":
        out += list(item.key_points)
    return [t for t in out if t.strip()]


def leaks(text: str, item: Item, note: Note | None = None) -> bool:
    """True when `text` gives away the item's answer (module doc)."""
    t = _squash(text)
    wrong_options = [o for k, o in enumerate(item.options) if k != item.answer]  # shown with the question anyway
    allowed = _squash(item.prompt + "|" + "|".join(wrong_options))
    if note is not None:
        allowed += "|" + _squash(note.meta.title + "|" + note.meta.title_en)
    for ans in answer_texts(item):
        a = _squash(ans)
        if not a:
            continue
        if a in t:
            return True
        for i in range(0, max(len(a) - LEAK_CHARS + 1, 0)):
            gram = a[i:i + LEAK_CHARS]
            if gram in t and gram not in allowed:
                return True
    return False


def _words(text: str) -> list[str]:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba.lcut(text)


def _render(words: list[str], hide: set[int]) -> str:
    out: list[str] = []
    for i, word in enumerate(words):
        if i in hide:
            if not (out and out[-1] == BLANK):
                out.append(BLANK)
        elif not (out and out[-1] == BLANK and not _squash(word) and word.strip() == ""):
            out.append(word)
    return "".join(out).strip()


def _cloze(kp: str, item: Item, note: Note) -> str | None:
    """The key point with as few words blanked as needed so that it no longer gives the answer
    away (greedy: blank the longest answer word still showing until `leaks` is false), or
    None when that leaves nothing to read."""
    ans = _squash(" ".join(answer_texts(item)))
    q = _squash(item.prompt)
    words = _words(kp)
    # (a lone digit is no word to recall: review 24's hint blanked the 1 of x_{t-1})
    cand = [i for i, w in enumerate(words) if _squash(w) and (len(_squash(w)) >= 2 or re.match(r"[A-Za-z]", w))]
    in_answer = [i for i in cand if _squash(words[i]) in ans and _squash(words[i]) not in q]
    pool = in_answer or cand
    if not pool:
        return None
    hide = {max(pool, key=lambda i: len(_squash(words[i])))}  # always ask about something
    while True:
        shown = _render(words, hide)
        if not leaks(shown, item, note):
            visible = _squash(shown.replace(BLANK, ""))
            return shown if len(visible) >= 2 else None
        rest = [i for i in (in_answer + cand) if i not in hide]
        if not rest:
            return None
        hide.add(max(rest, key=lambda i: (_squash(words[i]) in ans, len(_squash(words[i])))))


def _best_cloze(item: Item, note: Note) -> str | None:
    """The most readable cloze over the candidate key points (a short item's own first, then
    the note's): most text left visible; None when none keeps MIN_VISIBLE_SHARE of its
    key point and MIN_VISIBLE_CHARS visible with at most MAX_BLANKS gaps (the ladder then asks
    which key point applies)."""
    about = {_squash(w) for w in _words(item.prompt + " " + " ".join(answer_texts(item)))}
    own = list(item.key_points) if item.type == "short" else []
    # the note's key points when the item has none or none of its own makes a readable cloze
    return _pick_cloze(own, item, note, about) or _pick_cloze(list(note.meta.key_points), item, note, about)


def _share(kp: str, about: set[str]) -> float:
    """Share in [0, 1] of the key point's content words (2+ characters, or Latin/digits) in `about`."""
    words = {_squash(w) for w in _words(kp)}
    words = {w for w in words if len(w) >= 2 or re.match(r"[a-z0-9]", w)}
    return len(words & about) / len(words) if words else 0.0


def _pick_cloze(kps: list[str], item: Item, note: Note, about: set[str]) -> str | None:
    best, best_key = None, (-1.0, -1)
    for kp in kps:
        c = _cloze(kp, item, note)
        if not c:
            continue
        visible = len(_squash(c.replace(BLANK, "")))
        if visible < max(MIN_VISIBLE_CHARS, MIN_VISIBLE_SHARE * len(_squash(kp))) or c.count(BLANK) > MAX_BLANKS:
            continue  # 「____只____m−n」 asks nothing a learner can read
        # the key point nearest the item's question and answer first, then the most readable
        key = (_share(kp, about) + visible / max(len(_squash(kp)), 1), visible)
        if key > best_key:
            best, best_key = c, key
    return best


def _title(zh: str, en: str) -> Text:
    """「旋转位置编码（Rotary …）」, but one name when it already holds the other: RoPE with
    "Rotary Position Embedding (RoPE)" reads 「Rotary Position Embedding (RoPE)」, not
    「RoPE（Rotary Position Embedding (RoPE)）」."""
    a, b = _squash(zh), _squash(en)
    if not b or b in a:
        return Text.same(zh)
    if a in b:
        return Text.same(en)
    # no brackets inside brackets: an English title's own bracket goes when it describes
    # (「INT8量化（INT8 Quantization (affine/uniform quantization basics)）」, review 22) and becomes
    # ", RoPE" when it is a short name
    en = re.sub(r"\s*\(([^()\s]+)\)$", r", \1", en)
    en = re.sub(r"\s*\([^()]*\)$", "", en) or en
    return Text(f"{zh}（{en}）", f"{zh} ({en})")


# a question asking for a number, holding at least two of its own (「一共训练多少次」, "how many GPU hours")
CALC_QUESTION = re.compile(r"多少|几[个次倍块张层]|计算|算一算|算出|\bhow\s+(?:many|much)\b|\bcompute\b|\bcalculate\b", re.I)
NUMBER = re.compile(r"(?<![\w.\-])(?:\d+(?:\.\d+)?(?:\s*[%×xX]\s*\d+)?(?![\w.])|\d+(?:\.\d+)?(?=\s*[个次倍块张层折维亿万千]))")


def question_numbers(question: str) -> list[str]:
    """The numbers a calculation item's question gives, in order ([] when it asks for no number
    or gives fewer than two; a number inside a name, LLaMA-2-7B, is none)."""
    if not CALC_QUESTION.search(question):
        return []
    nums = [m.group(0).strip() for m in NUMBER.finditer(question)]  # (4 × 5 × 5: both fives)
    return nums if len(nums) >= 2 else []


def ladder(item: Item, note: Note, section_title: str | Text | None = None) -> list[Hint]:
    """The three hints for an item, in order (see module doc). section_title: the section's
    title, or a Text with its Chinese and English titles."""
    title = _title(note.meta.title, note.meta.title_en)
    where = text("hint.concept.where", section=section_title) if section_title else Text.same("")
    n_points = len(item.key_points) if item.type == "short" else 0
    points = text("hint.points", n=n_points) if n_points >= 2 else Text.same("")
    numbers = question_numbers(item.prompt) if item.type != "card" else []
    given = "、".join(numbers) if len(numbers) <= 5 else "、".join(numbers[:5]) + "…"
    # the first that gives nothing away: a calculation's hint (its numbers may be the answer's), the concept, the plain one
    options = ([w("hint.calc", title=title, numbers=given, points=points)] if numbers else []) + [
        w("hint.concept", title=title, where=where, points=points), w("hint.concept.plain", id=note.id, points=points)]
    concept = next((c for c in options if not leaks(c, item, note)), options[-1])
    cloze = _best_cloze(item, note)
    if cloze:
        # the cloze once, in the note's own words; "→" (not punctuation to `leaks`) keeps the
        # last English word from running into the cloze ("key point" + "init_" → "tinit_")
        kp = f"{w('hint.cloze')} → {cloze}"
    else:
        kp = w("hint.which_key_point")
    if item.type == "choice":
        letter = "ABCDEF"[item.answer or 0]
        answer = f"{letter}. {item.answer_text}" + (f" —— {item.explanation}" if item.explanation else "")
    else:
        answer = item.reference
    return [Hint(1, "concept", concept, False), Hint(2, "key_point", kp, False), Hint(3, "answer", answer, True)]
