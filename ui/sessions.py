"""Per-browser-session Stop flags.

Gradio keeps no live Python object per tab that a second event could reach, so Stop finds
the running answer through the session hash. A new answer gets a fresh `threading.Event`
(an earlier Stop never cancels the next question); Stop sets the current one, and
`LLM.stream` sees it at the next token, closes the llama.cpp generator and releases the lock.
We deliberately do not use Gradio's `cancels=`: cancelling the task would leave the answer's
generator suspended (the model's lock held until `LLM.stream` gives up on it, STALL_S) and lose
the "stopped" notice.
"""

from __future__ import annotations

import threading
import time

TICKET_TTL_S = 900  # longer than any wait in the queue (one answer at a time, ≤ a few minutes each)


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
    """session id → the chat as the server last sent it (messages, answer turn → sources panel),
    and the questions sent from the page that are not answered yet.

    An event queued behind a running answer (a question sent while the last one is searched,
    answered or explained) carries the chat as the browser held it when it was sent: empty, or
    with the running answer's progress line. Answered from that, the new answer would replace
    the chat (or keep the progress line for good and lose the finished answer). `fresh` takes
    the server's copy when the browser's is an earlier state of it: for a question sent from
    the page (`ticket`), any earlier state, the empty chat included; for other events (an API
    client's own history, always used as sent), only the same messages with the last one
    still being written. Keeps the newest `size` sessions. Thread-safe."""

    def __init__(self, size: int = 512) -> None:
        from collections import OrderedDict

        self._chats: OrderedDict[str, tuple[list, dict]] = OrderedDict()
        self._tickets: dict[str, list[tuple[str, bool, float]]] = {}  # session → (question, again, sent at) in order
        self._running: dict[str, str] = {}  # session → the question being answered
        self._clears: dict[str, int] = {}  # session → times cleared
        self._lock = threading.Lock()
        self.size = size

    def save(self, session: str | None, history: list, turns: dict) -> None:
        with self._lock:
            self._chats[session or ""] = (list(history), dict(turns))
            self._chats.move_to_end(session or "")
            while len(self._chats) > self.size:
                self._chats.popitem(last=False)

    def ticket(self, session: str | None, message: str) -> bool:
        """Record a question sent from the page, when it is sent (before it waits in the queue),
        and say whether the answer running in the session should stop for it: False for a blank
        question, and for one already waiting or being answered (Send clicked twice, Enter
        pressed twice), which `take` then marks "again"."""
        key, q = session or "", (message or "").strip()
        with self._lock:
            running = self._running.get(key, "")
            tickets = self._live_tickets(key)
            again = bool(q) and (any(t[0] == q for t in tickets) or running == q)
            tickets.append((q, again, time.monotonic()))
            return bool(q) and not again

    def take(self, session: str | None) -> tuple[str, bool] | None:
        """(question as sent, again) of the session's oldest question sent from the page, or None
        (an API client's call). The page reads a queued event's inputs only after the Send-time
        call returns, so the event's own text may already be the next question typed: the
        questions are answered from these tickets, in the order they were sent."""
        with self._lock:
            tickets = self._live_tickets(session or "")
            return tickets.pop(0)[:2] if tickets else None

    def _live_tickets(self, key: str) -> list:
        # a ticket whose event never ran (the page went away) must not make a later send "again"
        tickets = [t for t in self._tickets.get(key, []) if time.monotonic() - t[2] < TICKET_TTL_S]
        self._tickets[key] = tickets
        return tickets

    def answering(self, session: str | None, message: str | None) -> None:
        """Mark `message` as the question being answered in `session` (None: done)."""
        with self._lock:
            if message is None:
                self._running.pop(session or "", None)
            else:
                self._running[session or ""] = (message or "").strip()

    def fresh(self, session: str | None, history: list | None, turns: dict | None,
              from_page: bool = False) -> tuple[list, dict]:
        """(history, turns) to answer from (see the class doc)."""
        history, turns = list(history or []), dict(turns or {})
        with self._lock:
            kept = self._chats.get(session or "")
        if kept is None or len(history) > len(kept[0]):
            return history, turns
        mine, theirs = [_key(m) for m in history], [_key(m) for m in kept[0][:len(history)]]
        if from_page and mine[:-1] == theirs[:-1] and (len(history) < len(kept[0]) or mine != theirs) \
                and (mine == theirs or mine[-1][0] == "assistant"):
            return list(kept[0]), {**turns, **kept[1]}
        if not history:
            return history, turns
        if mine[:-1] == theirs[:-1] and mine[-1] != theirs[-1] and mine[-1][0] == "assistant":
            return list(kept[0]), {**turns, **kept[1]}
        if mine == theirs and len(history) == len(kept[0]):
            # in step, but the browser may not have the last answer's turn → sources map yet (a
            # question sent right after an answer): the server's copy has it
            return history, {**kept[1], **turns}
        return history, turns

    def forget(self, session: str | None) -> None:
        """Clear: the session's chat and waiting questions go, and its clear count (`cleared`) rises."""
        with self._lock:
            self._chats.pop(session or "", None)
            self._tickets.pop(session or "", None)
            self._clears[session or ""] = self._clears.get(session or "", 0) + 1

    def cleared(self, session: str | None) -> int:
        """How many times the session was cleared: a run that sees it change stops writing to the chat
        (review 31: Clear during Explain was undone by the explanation's last update)."""
        with self._lock:
            return self._clears.get(session or "", 0)


def _key(message) -> tuple[str, str]:
    """(role, text) of a chat message as the server sent it or the browser sends it back
    (Gradio may return the content as a list of parts)."""
    from .render import _text

    if not isinstance(message, dict):
        return ("", str(message))
    return (str(message.get("role", "")), _text(message.get("content", "")).strip())
