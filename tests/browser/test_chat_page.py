"""Chat tab in a real browser: a Chinese question streams an answer with sources; Stop
mid-answer frees the model for the next question; a source opens its note in Browse."""

from __future__ import annotations

import re
import time

import pytest

from ui.chat import WORKING

from .conftest import shot, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ZH_Q = "LoRA 为什么能减少微调的参数量？"
PLACEHOLDERS = ("", "…", WORKING)  # before the first token


def ask(page, question: str) -> float:
    page.fill("#question textarea", question)
    page.click("#send")
    return time.monotonic()


ANSWER_SEL = '#chatbot .message:not(.thought) > [data-testid="bot"]'  # not the collapsed sources message
STATE_JS = """(n) => {
  const el = document.querySelectorAll('%s')[n];
  if (!el) return ['', false];
  el.querySelectorAll('details.answer-meta').forEach(d => d.open = true);  // read the collapsed details too
  return [el.innerText, !!el.querySelector('.answer-meta')];
}""" % ANSWER_SEL


def answers(page):
    return page.locator(ANSWER_SEL)


def state(page, n: int) -> tuple[str, bool]:
    """(text, finished) of the n-th answer (0-based), read in one go; ('', False) before it exists."""
    text, done = page.evaluate(STATE_JS, n)
    return text, done


def watch(page, n: int, t0: float, timeout: float = 120) -> list[tuple[float, str, bool]]:
    """Samples (seconds since t0, text, finished) of answer n until it finishes."""
    samples = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        text, done = state(page, n)
        samples.append((time.monotonic() - t0, text, done))
        if done:
            break
        time.sleep(0.05)
    return samples


def first_text_at(samples) -> float | None:
    return next((t for t, text, _ in samples if text.strip() not in PLACEHOLDERS), None)


def test_chinese_question_streams_an_answer_with_sources(page, record_property):
    t0 = ask(page, ZH_Q)
    samples = watch(page, 0, t0)
    assert samples[-1][2], f"no finished answer after {samples[-1][0]:.0f} s"
    partial = {text for _, text, done in samples if not done and text.strip() not in PLACEHOLDERS}
    assert len(partial) >= 3, "the answer did not stream (fewer than 3 partial states seen)"
    final = samples[-1][1]
    assert re.search(r"首字 first token \d+ ms · [\d.]+ tok/s", final) and "SmolLM2" in final
    ttft = first_text_at(samples)
    record_property("browser_first_text_s", round(ttft, 2))
    record_property("browser_answer_s", round(samples[-1][0], 2))
    # the sources panel: id, title, snippet and key points; 3.4.2 (LoRA) among them
    cards = page.locator("#sources .src-card")
    assert cards.count() >= 1 and page.locator('#sources a[data-id="3.4.2"]').count() == 1
    assert page.locator("#sources .snippet").first.inner_text().strip()
    assert "要点 Key points" in page.inner_text("#sources")
    # the in-chat collapsed sources panel under the answer
    assert page.locator("#chatbot").get_by_text(re.compile(r"来源 Sources \(\d\)")).count() >= 1
    shot(page, "chat")
    print(f"zh answer: first text {ttft:.2f} s, finished {samples[-1][0]:.2f} s, {len(partial)} partial states")
    # phone width: no sideways scrolling, everything still reachable
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 392
    assert page.locator("#send").is_visible()
    shot(page, "chat-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    # a source opens its note in Browse
    page.locator('#sources a[data-id="3.4.2"]').click()
    page.wait_for_selector("#note h1")
    assert page.inner_text("#note h1").startswith("3.4.2 LoRA")
    assert page.get_by_role("tab", name="浏览 Browse").get_attribute("aria-selected") == "true"


STOP_QUESTIONS = (ZH_Q, "LoRA 和全参数微调相比有哪些优缺点？", "LoRA 的秩 r 一般怎么选？")


def test_stop_mid_answer_then_ask_again(page, ui_tutor, record_property):
    # Stop must come while the answer streams; on a loaded machine a short answer can finish
    # between its first token and the click (CI, session 46), so such a try asks again
    n = -1
    for n, q in enumerate(STOP_QUESTIONS):
        ask(page, q)
        assert wait_until(lambda: state(page, n)[0].strip() not in PLACEHOLDERS, 60), "no token within 60 s"
        page.click("#stop")
        t_stop = time.monotonic()
        done = wait_until(lambda: state(page, n)[1], 15)
        assert done, "Stop did not end the answer within 15 s"
        stopped_after = time.monotonic() - t_stop
        text = state(page, n)[0]
        if "已停止 / stopped" in text:
            break
    assert "已停止 / stopped" in text, f"no answer of {len(STOP_QUESTIONS)} was stopped mid-way: {text}"
    record_property("stop_tries", n + 1)
    assert not ui_tutor.llm.lock.locked(), "the model is still held after Stop"
    record_property("stop_to_final_s", round(stopped_after, 2))
    # the next question starts at once: the model is free (its first words arrive as fast
    # as a first question's); Stop again so the suite need not wait for a whole answer
    t1 = ask(page, "那 LoRA 的矩阵 B 为什么初始化为零？")  # a follow-up on the same topic: the model runs again
    assert wait_until(lambda: state(page, n + 1)[0].strip() not in PLACEHOLDERS, 60), "the next question got no token"
    next_first = time.monotonic() - t1
    record_property("next_first_text_s", round(next_first, 2))
    page.click("#stop")
    assert wait_until(lambda: state(page, n + 1)[1], 15)
    second = state(page, n + 1)[0]
    assert "首字 first token" in second and "已停止 / stopped" in second  # the model answered, then stopped again
    assert answers(page).count() == n + 2  # every answer stays in the history
    page.click("#clear")
    assert wait_until(lambda: answers(page).count() == 0 and not page.inner_text("#sources").strip(), 10), "Clear left text"
    print(f"stop→final {stopped_after:.2f} s; next question first text {next_first:.2f} s")
