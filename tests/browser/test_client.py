"""The app's API through gradio_client (the official client): the chat endpoint streams an
answer with sources, and browse answers at once while the model is generating."""

from __future__ import annotations

import re
import time

import pytest

from ui.chat import WORKING

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(ui_url):
    from gradio_client import Client

    return Client(ui_url, verbose=False)


def test_chat_streams_while_browse_answers_at_once_then_stop(client, ui_tutor, record_property):
    """One model call covers three things: the chat endpoint streams an answer with sources,
    browse answers during the generation (it never queues behind the model), and /stop from
    the same client session ends the answer at once."""
    t0 = time.monotonic()
    q = "为什么注意力要除以根号d_k？"
    job = client.submit(q, [], "", False, api_name="/chat")

    def streamed() -> list:
        return [o for o in job.outputs() if o[1] and len(o[1]) == 2
                and o[1][1]["content"][0]["text"] not in ("", "…", WORKING)]

    while time.monotonic() - t0 < 120 and len(streamed()) < 3 and not job.done():
        time.sleep(0.05)
    assert len(streamed()) >= 3 and not job.done(), "the chat endpoint did not stream"
    record_property("client_first_text_s", round(time.monotonic() - t0, 2))
    t1 = time.monotonic()
    page, links, tree, node = client.predict("3.4.2", api_name="/browse")
    took = time.monotonic() - t1
    busy = not job.done()
    record_property("browse_during_generation_s", round(took, 2))
    assert node == "3.4.2" and "# 3.4.2 LoRA" in page and busy, "browse waited for the generation"
    assert took < 5
    client.predict(api_name="/stop")
    final = job.result(timeout=30)
    if not isinstance(final[1], list):
        # an answer with [n] links ends with a turns-only update that skips the chat (ui/chat_tab.py
        # run()); the page keeps the chat of the update before it
        final = next(o for o in reversed(job.outputs()) if isinstance(o[1], list))
    box, history, panel, status = final[:4]
    text = history[1]["content"][0]["text"]
    # the box is emptied once, then left alone (an update that changes nothing), so typing survives
    assert box in ("", {"__type__": "update"}) and status == "" and history[0]["role"] == "user"
    assert "首字 first token" in text and "tok/s" in text and "已停止 / stopped" in text
    # the panel holds this answer's sources: notes the chat's own search found for the question
    # (which of them the model cites, or the fitting keeps at the tests' 1,024-token window, varies)
    from tutor.rag.chat import TOP_NOTES_KEPT

    found = {h.chunk.node_id for h in ui_tutor.retriever.search(q, k=ui_tutor.settings.top_k, min_notes=TOP_NOTES_KEPT)}
    shown = set(re.findall(r'data-id="([^"]+)"', panel))
    assert "1.1.2" in found and shown and shown <= found, (shown, found)  # 1.1.2: 缩放点积 (scaled dot product)


def test_bad_question_comes_back_as_a_status_line(client):
    box, history, _, status = client.predict("   ", [], "", False, api_name="/chat")
    assert status.startswith("⚠") and "empty" in status and history == []


def test_quiz_endpoints_grade_an_item(client, ui_tutor):
    note = ui_tutor.corpus.notes["3.4.2"]
    item = next(q for q in note.meta.quiz if q.type == "choice")
    out = client.predict("client-learner", "3.4.2", "new", "choice", 1, api_name="/quiz_start")
    message, header, question = out[0], out[1], out[2]
    assert message == "" and "3.4.2 LoRA" in header and question == item.question
    right = f"{'ABCD'[item.answer]}. {item.options[item.answer]}"
    out = client.predict(right, "", api_name="/quiz_submit")
    result = out[7]  # outputs: message, header, question, options, answer, back, hints, result, note link, summary
    assert "正确 Correct" in result and "FSRS" in result
    assert [r.verdict for r in ui_tutor.quiz.store.reviews("client-learner")] == ["correct"]
    summary = client.predict(api_name="/quiz_finish")[-1]
    assert "本轮小结 — 共 1 题 / Round summary — 1 answered" in summary
