"""Browse tab in a real browser: walk the outline tree to 3.4.2 (LoRA), see the rendered
note (KaTeX formulas, code), its quiz items and links, follow a link, and use 'go to'."""

from __future__ import annotations

import pytest

from .conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_browse_opens_3_4_2_from_the_tree(page, ui_tutor):
    page.get_by_role("tab", name="浏览 Browse").click()
    for node in ("3", "3.4", "3.4.2"):  # chapter → section → topic, as a learner clicks
        page.locator(f'#tree a[data-id="{node}"]').click()
        page.wait_for_function("(id) => document.querySelector('#note h1')?.innerText.startsWith(id + ' ')", arg=node)
    note = ui_tutor.corpus.notes["3.4.2"]
    assert page.inner_text("#note h1") == "3.4.2 LoRA"
    assert page.locator("#tree a.current").inner_text() == "3.4.2 LoRA"
    assert page.locator("#note .katex").count() >= 5, "LaTeX was not rendered"
    assert "W = W0 + (alpha / r) * B @ A" in page.inner_text("#note pre")
    body = page.inner_text("#note")
    assert note.meta.key_points[0] in body and "English summary" in body
    assert page.locator("#note details").count() == len(note.meta.quiz)  # answers hidden until opened
    page.locator("#note details summary").first.click()
    assert note.meta.quiz[0].explanation[:20] in page.inner_text("#note details >> nth=0")
    for dep in note.meta.prerequisites + note.meta.related:
        assert page.locator(f'#node-links a[data-id="{dep}"]').count() == 1  # each once, even if listed twice
    shot(page, "browse")
    page.locator('#node-links a[data-id="3.4.1"]').click()  # a prerequisite
    page.wait_for_function("() => document.querySelector('#note h1')?.innerText.startsWith('3.4.1 ')")
    page.fill("#goto textarea, #goto input", "LoRA")
    page.press("#goto textarea, #goto input", "Enter")
    page.wait_for_function("() => document.querySelector('#note h1')?.innerText.startsWith('3.4.2 ')")
