"""引导模式 Guide me: instead of answering outright, walk the quiz engine's hint ladder
(tutor/quiz/hints.py via Tutor.quiz.hints) for the topic the question retrieves, like a teacher
who wants the learner to think first:

  question → step 1: the concept to think about
  learner's attempt → step 2: a key point turned into a question (a cloze)
  learner's attempt, or "Show answer" → step 3: the tutor's full answer (the normal
  streamed RAG answer with sources), and the ladder ends. An attempt the grader marks
  correct ends the ladder at once; an attempt before the answer is acknowledged first
  ("you got it", or "touches n of m key points — compare with the answer below").

The ladder is for the retrieved note's quiz item closest to the question (jieba token
overlap, short items preferred on ties), since hints are built per item. An attempt at a
short item is graded (deterministic grader, no LLM) only to say how many of its key points
it touches (only when at least one), never which. A new question (ending in ? or ？) about
another note starts a new ladder; one about the same note is an attempt. When
retrieval finds no note with quiz items, the guide says so and answers normally.

Guide state (kept per session in gr.State): {} when idle, else {"question", "chapter",
"item", "note", "step", "base"}; base = the number of chat messages before the ladder.
"""

from __future__ import annotations

import re
from typing import Iterator

from tutor.rag.bm25 import tokenize
from tutor.errors import TutorError
from tutor.rag import compare
from tutor.rag.retrieve import is_covered, outline_matches

from .chat import KEEP, model_history, respond
from .render import user_content
from tutor.wording import label, w

PROMPT_MORE = w("guide.prompt_more")
NO_TOPIC = w("guide.no_topic")

GuideUpdate = tuple[str, list[dict], str, str, dict]  # ChatUpdate + guide state
# a message asking for the answer mid-ladder is the 显示答案 Show answer button in words (review 25:
# 「还是不太懂，给我完整答案」 got hint 2/3)
ASKS_FOR_ANSWER = re.compile(r"(?:给我|告诉我|直接(?:说|讲|给)?|看看?|要|公布)[^，。？?]{0,4}答案|答案是(?:什么|啥)|不想(?:猜|想)了|我?放弃了?$|"
                             r"\b(?:show|tell|give)\s+me\s+the\s+(?:full\s+)?answer\b|\bjust\s+tell\s+me\b|\bi\s+give\s+up\b", re.I)


def unnoted_subject(tutor, question: str) -> str | None:
    """The thing a "what is X" question asks about when no outline topic is named X (「什么是混合精度
    训练？」: 3.4.1 mentions it, no note is about it), else None."""
    x = compare.subject(question)
    return x if x and not outline_matches(x, tutor.retriever.index) else None


def pick_item(tutor, question: str, chapter: str | None):
    """(note id, item) for the question's best-retrieved note that has quiz items, or None
    when the notes don't cover the question or it asks what something is that no note is about
    (`unnoted_subject`: review 29 got hints on full fine-tuning for 「什么是混合精度训练？」)."""
    if unnoted_subject(tutor, question):
        return None
    hits = tutor.search(question, k=tutor.settings.top_k, chapter=chapter)
    if not is_covered(hits, tutor.settings.min_relevance):
        return None
    bank = tutor.quiz.bank
    q = set(tokenize(question))
    for h in hits:
        items = [i for i in bank.select(h.chunk.node_id) if i.note_id == h.chunk.node_id]
        if items:
            best = max(items, key=lambda i: (len(q & set(tokenize(i.prompt + " " + i.reference))), i.type == "short"))
            return h.chunk.node_id, best
    return None


def _hint_message(tutor, state: dict) -> dict:
    h = tutor.quiz.hint(state["item"], state["step"])
    title = tutor.corpus.notes[state["note"]].meta.title
    return {"role": "assistant", "content": f"{h.text}\n\n<small>{PROMPT_MORE}</small>",
            "metadata": {"title": f"{label('guide.title')} {h.step}/3 · {state['note']} {title}"}}


def _grade(tutor, state: dict, attempt: str):
    """The quiz tab's grade of an attempt at a short item (nothing stored), else None."""
    it = tutor.quiz.item(state["item"])
    if it.type != "short" or not attempt.strip():
        return None
    return tutor.quiz.grade_text(it.id, attempt)


def _coverage(tutor, state: dict, grade) -> str:
    """'Your idea already touches n of m key points' for a short item when n ≥ 1; '' otherwise:
    the matcher misses ideas in the learner's own words, so "0 of 3" would be a false verdict."""
    if grade is None or not grade.matched:
        return ""
    return w("guide.touches", n=len(grade.matched), m=len(tutor.quiz.item(state["item"]).key_points)) + " "


def _acknowledge(tutor, state: dict, attempt: str) -> dict | None:
    """Before the full answer that ends a ladder: what the learner's last attempt got right
    (every key point → 'you got it'; some → 'touches n of m'), or an invitation to compare."""
    if not attempt:
        return None  # "Show answer" without an attempt
    g = _grade(tutor, state, attempt)
    if g is not None and g.verdict == "correct":
        body = w("guide.correct")
    else:
        body = _coverage(tutor, state, g) + w("guide.compare")
    return {"role": "assistant", "content": body, "metadata": {"title": f"{label('guide.title')} ✓"}}


# a learner's guess phrased as a question: 「是不是因为一开始输出为零，不会破坏原来的模型？」 after
# 「ControlNet 为什么要用零卷积？」 retrieved no ControlNet note and started a ladder on warmup (review 23)
GUESS = re.compile(r"^\s*(?:是不是|是因为|因为|会不会|难道|我觉得|我猜|我想|应该是|可能是|大概是|所以|"
                   r"is it because|is it that|because|maybe|perhaps|i think|i guess|so\b|could it be)", re.I)


def _new_question(tutor, message: str, chapter: str | None, state: dict) -> bool:
    """True when a message during a ladder starts a new one: it ends in ?/？, is not a guess
    (GUESS: 「是不是因为……？」, "Is it because …?") and the ladder's note is not among the notes it
    retrieves. A guess phrased as a question on the same topic (「是不是因为维度大了点积会变得很大？」)
    is an attempt."""
    if not message.endswith(("?", "？")) or GUESS.match(message):
        return False
    try:
        hits = tutor.search(message, k=tutor.settings.top_k, chapter=chapter or None)
    except TutorError:
        return True  # the new-question path reports the error
    return state["note"] not in {h.chunk.node_id for h in hits}


def guide(tutor, message: str, history: list[dict] | None, chapter: str | None, state: dict | None,
          show_answer: bool = False, stop=None) -> Iterator[GuideUpdate]:
    """One guide turn (see module doc): yields chat updates plus the new guide state."""
    history = list(history or [])
    state = dict(state or {})
    message = (message or "").strip()
    asks = bool(state) and bool(message) and bool(ASKS_FOR_ANSWER.search(message))
    if state and (show_answer or asks or not _new_question(tutor, message, chapter, state)) and (message or show_answer):
        show_answer = show_answer or asks
        g = None if show_answer else _grade(tutor, state, message)
        if not show_answer and state["step"] < 2 and not (g is not None and g.verdict == "correct"):
            shown = history + [{"role": "user", "content": user_content(message)}]
            state["step"] += 1  # an attempt: next rung
            msg = _hint_message(tutor, state)
            msg["content"] = _coverage(tutor, state, g) + msg["content"]
            yield "", shown + [msg], "", "", state  # sent: the box is emptied
            return
        # the answer, on request, after a correct attempt or after the second attempt: first
        # what the attempt got right, then the normal RAG answer
        shown = history + ([{"role": "user", "content": user_content(message)}] if message else [])
        ack = None if show_answer else _acknowledge(tutor, state, message)
        shown += [ack] if ack else []
        base = model_history(history[: state["base"]])
        for box, msgs, panel, status in respond(tutor, state["question"], _as_shown(base), state["chapter"], stop):
            if status.startswith("⚠"):
                yield box, shown, panel, status, state
                return
            yield box, shown + msgs[len(base) + 1:], panel, status, {}  # respond empties the box once
        return
    if not message:
        yield KEEP, history, "", w("guide.type_first"), state
        return
    try:
        picked = pick_item(tutor, message, chapter or None)
    except TutorError as e:
        yield message, history, "", f"⚠ {e}", state
        return
    if picked is None:
        x = unnoted_subject(tutor, message)
        notice = w("guide.no_own_note", name=x) if x else NO_TOPIC
        for box, msgs, panel, status in respond(tutor, message, history, chapter, stop):
            yield box, msgs, panel, (status or notice), {}
        return
    note, item = picked
    state = {"question": message, "chapter": chapter or "", "item": item.id, "note": note, "step": 1, "base": len(history)}
    yield "", history + [{"role": "user", "content": user_content(message)}, _hint_message(tutor, state)], "", "", state


def _as_shown(turns: list[dict]) -> list[dict]:
    return [{"role": t["role"], "content": t["content"]} for t in turns]
