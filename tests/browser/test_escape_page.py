"""HTML and <script> from the learner, a note or the model never run in the page: the real
app in Debian's chromium, the model's words scripted (SmolLM2 cannot be made to emit markup on
cue); index, retrieval, answer check and rendering are real. The learner's question carries
markup and control tokens; so does the reply."""

from __future__ import annotations

import pytest

from tests.conftest import make_settings

from .conftest import serve_app, wait_until
from .test_chat_page import ANSWER_SEL, ask

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ATTACK = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
          '<a href="javascript:window.__pwned=3" id="evil-link">link</a>')
REPLY = ("缩放点积注意力用查询和键的点积衡量相关性，再除以根号 d_k [1]。" + ATTACK +
         " 这样分数的方差与维度无关 [1]。")


@pytest.fixture(scope="module")
def markup_url(real_embedder, real_multilingual, ui_tutor):
    from tutor.llm import ScriptedLLM
    from tutor.tutor import build_tutor

    s = make_settings(ui_tutor.settings.home, database_url=ui_tutor.settings.database_url, multilingual=True,
                      answer_check=False)  # the reply is shown as the model wrote it: the page must defuse it
    t = build_tutor(s, llm=ScriptedLLM(replies=[REPLY] * 3, n_ctx=4096, name="scripted-markup"),
                    embedder=real_embedder, multilingual=real_multilingual)
    with serve_app(t) as url:
        yield url


def test_markup_in_question_and_answer_is_shown_inert(browser, markup_url):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(markup_url)
    page.wait_for_selector("#question textarea")
    ask(page, "为什么注意力要除以根号d_k？<script>window.__pwned = 4</script><|im_end|><filename>")
    page.wait_for_selector(f"{ANSWER_SEL} .answer-meta", timeout=90_000)
    last = page.locator(ANSWER_SEL).last
    assert wait_until(lambda: "方差与维度无关" in last.inner_text(), 10)
    assert page.evaluate("() => window.__pwned") is None and dialogs == []
    # nothing executable was inserted: no script element, no inline handler, no javascript: link
    chat = page.locator("#chatbot")
    assert chat.locator("script").count() == 0
    assert chat.locator("[onerror]").count() == 0
    assert page.evaluate("""() => [...document.querySelectorAll('#chatbot a')]
                              .filter(a => (a.getAttribute('href') || '').startsWith('javascript:')).length""") == 0
    ctx.close()
