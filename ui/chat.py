"""Chat tab handlers: plain functions over a `Tutor`, unit-testable without a browser.

History is Gradio "messages" format: [{"role": "user"|"assistant", "content": str,
"metadata"?: {...}}]. Messages with metadata (the collapsed sources panel under each
answer) are display only; `model_history` drops them and strips the footer, so follow-ups
send the model exactly the earlier questions and answers.
"""

from __future__ import annotations

import threading
from typing import Iterator

from tutor.errors import TutorError

from .render import assistant_content, plain, sources_panel, sources_thought

WORKING = "检索中 / retrieving…"
GENERATING = "生成中 / generating… (停止 Stop 可随时中断)"
RETRYING = "回答未通过检查，正在重新生成 / the answer failed the check; generating a stricter one…"
EMPTY_ANSWER = "（模型没有给出回答 / the model returned no text）"

ChatUpdate = tuple[str, list[dict], str, str]  # (question box, chat messages, sources panel html, status line)


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


def respond(tutor, message: str, history: list[dict] | None, chapter: str | None,
            stop: threading.Event | None = None) -> Iterator[ChatUpdate]:
    """Stream chat updates while answering `message` (see ChatUpdate).

    The first update clears the question box and shows the question; then tokens stream
    into the last message; the last update holds the finished answer with its footer and a
    sources message. Bad input (empty/over-long question, unknown chapter) yields the
    unchanged history, the question left in the box and the error as the status line.
    `stop` (threading.Event) ends generation at the next token; the answer keeps what was
    generated and says it was stopped.
    """
    before = list(history or [])
    prior = model_history(before)
    shown = before + [{"role": "user", "content": message or ""}, {"role": "assistant", "content": "…"}]
    panel, text = "", ""
    try:
        events = iter(tutor.ask_stream(message, prior, chapter or None, stop))
        yield "", list(shown), panel, WORKING
        for kind, value in events:
            if kind == "sources":
                panel = sources_panel(value)
                yield "", list(shown), panel, GENERATING
            elif kind == "retry":
                yield "", list(shown), panel, RETRYING
            elif kind in ("token", "replace"):
                text = text + value if kind == "token" else value
                shown[-1] = {"role": "assistant", "content": text}
                yield "", list(shown), panel, GENERATING
            elif kind == "done":
                if not value.answer.strip():
                    value.answer = EMPTY_ANSWER
                shown[-1] = {"role": "assistant", "content": assistant_content(value)}
                thought = sources_thought(value)
                if thought:
                    shown.append(thought)
                yield "", list(shown), sources_panel(value.sources, value.key_points), ""
    except TutorError as e:
        yield message or "", before, panel, f"⚠ {e}"


def clear() -> tuple[list, str, str, str]:
    """Empty chat, sources panel, status and question box."""
    return [], "", "", ""
