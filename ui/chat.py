"""Chat tab handlers: plain functions over a `Tutor`, unit-testable without a browser.

History is Gradio "messages" format: [{"role": "user"|"assistant", "content": str}].
"""

from __future__ import annotations

import html
import threading
from typing import Iterator

from tutor.errors import TutorError

NOTICE_TEXT = {
    "history_dropped": "较早的对话因上下文长度被省略 / older turns were left out to fit the context window",
    "notes_dropped": "部分检索到的笔记因长度被省略 / some retrieved notes were left out to fit the context window",
    "question_trimmed": "问题过长，已截断 / the question was trimmed to fit",
    "not_covered": "笔记未涉及 / not covered by the notes",
    "stopped": "已停止 / stopped",
}


def sources_markdown(answer) -> str:
    """Sources panel: [n] id title, snippet; plus the notes' key points."""
    if answer is None or not answer.sources:
        return "_没有引用的笔记 / no sources_"
    parts = []
    for s in answer.sources:
        snippet = html.escape(s.snippet.splitlines()[-1][:240]) if s.snippet else ""
        parts.append(f"**[{s.n}] {s.id} {s.title}**" + (f" ({s.title_en})" if s.title_en else "") + f"\n\n> {snippet}")
    if answer.key_points:
        parts.append("**笔记要点 / Key points**\n" + "\n".join(f"- [{k['n']}] {k['text']}" for k in answer.key_points))
    return "\n\n".join(parts)


def footer(answer) -> str:
    t = answer.timings
    bits = [answer.model]
    if t.get("first_token_ms") is not None:
        bits += [f"首字 first token {t['first_token_ms']:.0f} ms", f"{t['tokens_per_s']} tok/s"]
    notes = [NOTICE_TEXT.get(n, n) for n in answer.notices]
    return " · ".join(bits) + ("\n\n" + "；".join(f"⚠ {n}" for n in notes) if notes else "")


def respond(tutor, message: str, history: list[dict], chapter: str | None, stop: threading.Event | None = None) -> Iterator[tuple[list[dict], str, str]]:
    """Stream (chat history, sources markdown, status line) while answering `message`.
    Bad input yields the unchanged history and the error as the status line."""
    history = list(history or [])
    prior = [{"role": m["role"], "content": _text(m["content"])} for m in history]
    try:
        events = tutor.ask_stream(message, prior, chapter or None, stop)
        history = history + [{"role": "user", "content": message}, {"role": "assistant", "content": ""}]
        text = ""
        for kind, value in events:
            if kind == "token":
                text += value
                history[-1] = {"role": "assistant", "content": text}
                yield history, "", "…"
            elif kind == "done":
                history[-1] = {"role": "assistant", "content": value.answer}
                yield history, sources_markdown(value), footer(value)
    except TutorError as e:
        yield history[: len(prior)] if len(history) > len(prior) else history, "", f"⚠ {e}"


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(c.get("text", "") for c in content if isinstance(c, dict))
    return str(content)
