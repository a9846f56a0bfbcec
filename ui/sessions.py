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
