"""Per-browser-session Stop flags.

Gradio keeps no live Python object per tab that a second event could reach, so Stop finds
the running answer through the session hash. A new answer gets a fresh `threading.Event`
(an earlier Stop never cancels the next question); Stop sets the current one, and
`LLM.stream` sees it at the next token, closes the llama.cpp generator and releases the lock.
We deliberately do not use Gradio's `cancels=`: cancelling the task would leave the model
generator suspended (holding the lock) and lose the "stopped" notice.
"""

from __future__ import annotations

import threading


class StopRegistry:
    """session id → Event of the answer running in that session. Thread-safe."""

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, session: str | None) -> threading.Event:
        """A fresh, unset Event for a new answer in `session` (replaces the previous one)."""
        ev = threading.Event()
        with self._lock:
            self._events[session or ""] = ev
        return ev

    def stop(self, session: str | None) -> bool:
        """Set the running answer's Event; False when the session has none."""
        with self._lock:
            ev = self._events.get(session or "")
        if ev is None:
            return False
        ev.set()
        return True

    def finish(self, session: str | None, ev: threading.Event) -> None:
        """Forget `ev` once its answer is done (only if no newer answer replaced it)."""
        with self._lock:
            if self._events.get(session or "") is ev:
                del self._events[session or ""]


def session_of(request) -> str:
    """The Gradio session hash of a request ('' outside Gradio, e.g. in unit tests)."""
    return getattr(request, "session_hash", None) or ""


class ChatLog:
    """session id → the chat as the server last sent it (messages, answer turn → sources panel).

    An event queued behind a running answer (a question sent while 讲解 Explain writes) gets
    the chat as the browser held it when the button was pressed, with the running answer's
    progress line: the new answer would keep that line for good and lose the finished one.
    `fresh` takes the server's copy when the browser's is an earlier state of it (same
    messages, the last one still being written); a chat that differs otherwise (an API
    client's own history) is used as sent. Keeps the newest `size` sessions. Thread-safe."""

    def __init__(self, size: int = 512) -> None:
        from collections import OrderedDict

        self._chats: OrderedDict[str, tuple[list, dict]] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def save(self, session: str | None, history: list, turns: dict) -> None:
        with self._lock:
            self._chats[session or ""] = (list(history), dict(turns))
            self._chats.move_to_end(session or "")
            while len(self._chats) > self.size:
                self._chats.popitem(last=False)

    def fresh(self, session: str | None, history: list | None, turns: dict | None) -> tuple[list, dict]:
        """(history, turns) to answer from (see the class doc)."""
        history, turns = list(history or []), dict(turns or {})
        with self._lock:
            kept = self._chats.get(session or "")
        if kept is None or not history or len(history) > len(kept[0]):
            return history, turns
        mine, theirs = [_key(m) for m in history], [_key(m) for m in kept[0][:len(history)]]
        if mine[:-1] == theirs[:-1] and mine[-1] != theirs[-1] and mine[-1][0] == "assistant":
            return list(kept[0]), {**turns, **kept[1]}
        if mine == theirs and len(history) == len(kept[0]):
            # in step, but the browser may not have the last answer's turn → sources map yet (a
            # question sent right after an answer): the server's copy has it
            return history, {**kept[1], **turns}
        return history, turns

    def forget(self, session: str | None) -> None:
        with self._lock:
            self._chats.pop(session or "", None)


def _key(message) -> tuple[str, str]:
    """(role, text) of a chat message as the server sent it or the browser sends it back
    (Gradio may return the content as a list of parts)."""
    from .render import _text

    if not isinstance(message, dict):
        return ("", str(message))
    return (str(message.get("role", "")), _text(message.get("content", "")).strip())
