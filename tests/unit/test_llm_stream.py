"""LLM.stream runs the generation in its own thread, which holds the model's lock: a stream that
its consumer stops reading without closing it must not keep the lock (every later question
would wait on it for good: a web client gone mid-answer, a generator left suspended)."""

from __future__ import annotations

import threading

from tutor import llm as L

MESSAGES = [{"role": "user", "content": "为什么注意力要除以根号 d_k？"}]


def test_a_stream_left_unread_frees_the_model(monkeypatch):
    monkeypatch.setattr(L, "STALL_S", 0.3)
    m = L.ScriptedLLM(replies=["一二三四五六七八九十" * 5, "下一个回答"], piece=1)
    left = m.stream(MESSAGES, 100)
    assert next(left) == "一"  # then the consumer goes quiet, still holding `left`
    assert m.lock.acquire(timeout=10), "the lock is still held by a stream nobody reads"
    m.lock.release()
    assert "".join(m.stream(MESSAGES, 100)) == "下一个回答"  # the next question is answered
    left.close()


def test_closing_a_stream_ends_it_at_once_with_its_record_complete():
    m = L.ScriptedLLM(replies=["一二三四五六七八九十" * 5], piece=1)
    g = L.Generation()
    s = m.stream(MESSAGES, 100, record=g)
    assert next(s) + next(s) == "一二"
    s.close()
    # closing is not Stop; the figures are there when close() returns, and the lock is free
    assert g.stopped is False and g.total_ms is not None and 2 <= g.completion_tokens < 50
    assert not m.lock.locked()


def test_stop_acts_at_the_next_piece():
    m = L.ScriptedLLM(replies=["一二三四五六七八九十" * 5], piece=1)
    stop, g = threading.Event(), L.Generation()
    got = []
    for piece in m.stream(MESSAGES, 100, stop=stop, record=g):
        got.append(piece)
        if len(got) == 3:
            stop.set()
    assert g.stopped is True and 3 <= len(got) <= 4 and not m.lock.locked()


def test_an_error_in_the_backend_reaches_the_consumer():
    class Broken(L.ScriptedLLM):
        def _pieces(self, messages, max_tokens):
            yield "半"
            raise RuntimeError("backend died")

    m = Broken()
    out = []
    try:
        for piece in m.stream(MESSAGES, 100):
            out.append(piece)
    except RuntimeError as e:
        assert "backend died" in str(e)
    else:
        raise AssertionError("the backend's error was swallowed")
    assert out == ["半"] and not m.lock.locked()
