"""How answers render in the real browser: Markdown, code blocks and LaTeX while streaming
and after, and a sentence the notes don't support shown muted with ⚠.

The model's words are scripted here (ScriptedLLM, streamed slowly): what is under test is
the page, and SmolLM2 cannot be made to write a formula on cue. Everything else is real —
the index, MiniLM, retrieval, the answer check (tutor/trust/check.py) and the app as served."""

from __future__ import annotations

import time

import pytest

from tests.conftest import make_settings

from .conftest import serve_app, shot, wait_until
from .test_chat_page import ANSWER_SEL, ask

pytestmark = [pytest.mark.browser, pytest.mark.integration]

REPLY = ("缩放点积（scaled dot-product）是 Transformer 计算注意力分数的方式：用查询和键的点积衡量相关性，再除以 $\\sqrt{d_k}$ [1]。\n\n"
         "**要点：** 若 q、k 各分量独立、均值 0、方差 1，则点积 q·k 的方差等于 d_k，标准差为 $\\sqrt{d_k}$ [1]。"
         "除以 √d_k 把分数的方差拉回 1，与维度无关 [1]。\n\n"
         "```python\nscores = Q @ K.transpose(-2, -1) / math.sqrt(d_k)\n```\n\n"
         "月球上的企鹅每天晚上都在弹钢琴。")  # the prose is the retrieved notes' own words, except the last sentence


@pytest.fixture(scope="module")
def scripted_url(real_embedder, real_multilingual, ui_tutor):
    from tutor.llm import ScriptedLLM
    from tutor.tutor import build_tutor

    class SlowScripted(ScriptedLLM):  # ~25 pieces/s, so the page is seen mid-stream
        def _pieces(self, messages, max_tokens):
            for p in super()._pieces(messages, max_tokens):
                time.sleep(0.04)
                yield p

    s = make_settings(ui_tutor.settings.home, database_url=ui_tutor.settings.database_url, multilingual=True)
    # n_ctx as the default model's: the scripted model counts a token per character, and at its
    # 2048 default the 1.1.2 note (five retrieved chunks) would be cut to fit
    t = build_tutor(s, llm=SlowScripted(replies=[REPLY] * 3, piece=2, name="scripted-render", n_ctx=4096), embedder=real_embedder,
                    multilingual=real_multilingual)
    with serve_app(t) as url:
        yield url


def test_markdown_code_and_latex_render_while_streaming_and_after(browser, scripted_url):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(scripted_url)
    page.wait_for_selector("#question textarea")
    ask(page, "为什么注意力要除以根号d_k？")
    last = page.locator(ANSWER_SEL).last
    # mid-stream: the first formula is complete and typeset before the answer ends
    assert wait_until(lambda: last.count() and last.locator(".katex").count() >= 1
                      and last.locator(".answer-meta").count() == 0, 30), "no formula typeset while streaming"
    page.wait_for_selector(f"{ANSWER_SEL} .answer-meta", timeout=60_000)
    assert last.locator(".katex").count() >= 2 and "$" not in last.inner_text().split("scripted-render")[0]
    assert "math.sqrt(d_k)" in last.locator("pre code").inner_text()
    assert last.locator("strong").first.inner_text().startswith("要点")
    flagged = last.locator(".unsupported")
    assert flagged.count() == 1 and "企鹅" in flagged.inner_text() and flagged.inner_text().startswith("⚠")
    assert flagged.get_attribute("title") == "笔记中未找到 / not found in the notes"
    assert float(flagged.evaluate("e => getComputedStyle(e).opacity")) < 1
    shot(page, "chat-render")
    ctx.close()
