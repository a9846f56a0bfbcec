"""Chat tab handlers: plain functions over a `Tutor`, unit-testable without a browser.

History is Gradio "messages" format: [{"role": "user"|"assistant", "content": str,
"metadata"?: {...}}]. Messages with metadata (the collapsed sources panel under each
answer) are display only; `model_history` drops them and strips the footer, so follow-ups
send the model exactly the earlier questions and answers.

What the learner sees depends on the answer mode (tutor/trust/policy.py): quotes first (the
notes' sentences at once; 讲解 Explain asks the model), checked (a progress line while the
model writes; the answer appears once it has passed the check, never to be withdrawn) or
stream (tokens as they come).
"""

from __future__ import annotations

import threading
import uuid
from typing import Iterator

import gradio as gr

from tutor.errors import TutorError
from tutor.wording import w

from .mathtext import tutor_math
from .render import assistant_content, plain, sources_panel, sources_thought, user_content

WORKING = w("chat.working")
WRITING = "chat.writing"  # w(WRITING, n=characters so far)
REWRITING = w("chat.rewriting")
READING = w("chat.reading")  # before the first token: the model reads the prompt (prefill)
RETRYING = w("chat.retrying")
EMPTY_ANSWER = w("chat.empty_answer")
NO_QUESTION = w("chat.no_question")
EXPLAIN_UNCOVERED = w("chat.explain_uncovered")  # (review 25: Explain after a refusal added a second refusal)

ChatUpdate = tuple[object, list[dict], str, str]  # (question box, chat messages, sources panel html, status line)
KEEP = gr.skip()  # leave the question box alone: the learner may be typing the next question


def reading(tutor) -> str:
    """The Explain progress line; for a model measured to fail the check it says so, before the
    wait (review 16: 78 s for an explanation that was not shown)."""
    from tutor.trust.policy import ACCEPTANCE_BAR

    m = getattr(tutor, "measured_acceptance", lambda: None)()
    if m is None or m[0] / m[1] >= ACCEPTANCE_BAR:
        return READING
    return w("chat.reading_weak", kept=m[0], total=m[1])


def model_history(messages: list[dict] | None) -> list[dict]:
    """[{"role", "content"}] for the model: display-only messages dropped, decoration stripped."""
    out = []
    for m in messages or []:
        if m.get("metadata") or m.get("role") not in ("user", "assistant"):
            continue
        text = plain(m.get("content", ""))
        if text:
            out.append({"role": m["role"], "content": text})
    return out


def last_question(messages: list[dict] | None) -> int | None:
    """Index of the last learner message in the chat, or None."""
    for i in range(len(messages or []) - 1, -1, -1):
        m = messages[i]
        if m.get("role") == "user" and not m.get("metadata") and plain(m.get("content", "")):
            return i
    return None


def respond(tutor, message: str, history: list[dict] | None, chapter: str | None,
            stop: threading.Event | None = None, mode: str | None = None, explain: bool = False) -> Iterator[ChatUpdate]:
    """Stream chat updates while answering `message` (see ChatUpdate).

    The first update empties the question box; later ones never write it (KEEP), so what the
    learner types while the answer streams, or after Stop, stays. It shows the question (as typed) and
    a progress line; then the answer streams (mode stream / quotes first) or the progress line
    counts the draft (mode checked); the last update holds the finished answer (with [n] links,
    one plain sentence of what happened if anything did, and a collapsed 详情 Details) and a
    sources message. explain: answer the chat's last question again with the model (mode
    "checked"), under the answer already shown. Bad input (empty/over-long question, unknown
    chapter) yields the unchanged history, the question back in the box and the error as the
    status line. `stop` ends generation at the next token.
    """
    before = list(history or [])
    if explain:
        at = last_question(before)
        if at is None:
            yield KEEP, before, KEEP, NO_QUESTION
            return
        message, prior = plain(before[at]["content"]), model_history(before[:at])
        shown = before + [{"role": "assistant", "content": WORKING}]
        mode = mode or "checked"
    else:
        prior = model_history(before)
        shown = before + [{"role": "user", "content": user_content(message or "")}, {"role": "assistant", "content": WORKING}]
    panel, text, drafted = "", "", 0
    turn = uuid.uuid4().hex[:8]  # names this answer in its [n] links (data-turn)
    try:
        events = iter(tutor.ask_stream(message, prior, chapter or None, stop, mode))
        yield (KEEP if explain else ""), list(shown), panel, ""  # the question leaves the box, once
        for kind, value in events:
            if kind == "sources":
                panel = sources_panel(value)
                checked = getattr(tutor, "answer_mode", lambda m: m)(mode) == "checked"
                shown[-1] = {"role": "assistant", "content": (reading(tutor) if explain else READING) if checked else "…"}
                yield KEEP, list(shown), panel, ""
            elif kind == "draft":
                drafted += len(value)
                shown[-1] = {"role": "assistant", "content": w(WRITING, n=drafted)}
                yield KEEP, list(shown), panel, ""
            elif kind == "retry":
                if drafted:  # checked mode: the learner never saw the draft
                    shown[-1] = {"role": "assistant", "content": REWRITING}
                yield KEEP, list(shown), panel, "" if drafted else RETRYING
            elif kind == "replace" and explain:
                pass  # a failed explanation falls back to quotes the learner already has: see "done"
            elif kind in ("token", "replace"):
                text = text + value if kind == "token" else value
                shown[-1] = {"role": "assistant", "content": tutor_math(text)}
                yield KEEP, list(shown), panel, ""
            elif kind == "done":
                if explain and not value.covered and "stopped" not in (value.notices or []):
                    yield KEEP, before, panel, EXPLAIN_UNCOVERED  # the chat as it was, and why nothing came
                    return
                if not value.answer.strip() and "stopped" not in (value.notices or []):
                    value.answer = EMPTY_ANSWER  # (stopped before any text: the stopped line says it all)
                shown[-1] = {"role": "assistant", "content": assistant_content(value, turn, explain)}
                thought = sources_thought(value) if not explain else None
                if thought:
                    shown.append(thought)
                yield KEEP, list(shown), sources_panel(value.sources, value.key_points, value.answer), ""
    except TutorError as e:
        yield (KEEP if explain else message or ""), before, panel, f"⚠ {e}"


def clear() -> tuple[list, str, str, str]:
    """Empty chat, sources panel, status and question box."""
    return [], "", "", ""
