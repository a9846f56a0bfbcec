"""Phone width (390 px) and laptop width (1280 px) in a real browser: all four tab labels in
the tab bar (no unlabeled "⋯" overflow menu), each opens its panel; at 390 px the page never
scrolls sideways and nothing is cut off — wide tables, code blocks and display formulas in a
chat answer and a Browse note, the Progress heatmap and review history scroll inside their
own box (ui/style.py).

The model's words are scripted (a wide table, a long display formula, a long code line) and
the index is the hash-embedded corpus: what is under test is the page. Screenshots at 390 px
go to tests/artifacts/phone-<tab>.png."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import datetime, timezone

import pytest

from tests.conftest import make_settings

from .conftest import ARTIFACTS, serve_app, shot
from .test_chat_page import ANSWER_SEL, ask

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PHONE, LAPTOP = 390, 1280
TABS = [("chat", "对话 Chat", "#question textarea"), ("quiz", "测验 Quiz", "#quiz-start"),
        ("progress", "进度 Progress", "#progress-heatmap table"), ("browse", "浏览 Browse", "#tree"),
        ("evals", "评测 Evals", "#evals-head")]

WIDE_TABLE = ("| " + " | ".join(f"heading_{i}" for i in range(8)) + " |\n|" + "---|" * 8 + "\n| "
              + " | ".join(f"value_{i}" for i in range(8)) + " |")
LONG_FORMULA = (r"$$L(\theta) = \mathbb{E}_{(x,y)\sim D}\left[\sum_{t=1}^{T} \log p_\theta(y_t \mid y_{<t}, x)"
                r" + \lambda \lVert \theta - \theta_0 \rVert_2^2 + \beta\, \mathrm{KL}\left(p_\theta(\cdot \mid x)"
                r" \,\Vert\, p_{\mathrm{ref}}(\cdot \mid x)\right)\right]$$")
LONG_CODE = "```python\nscores = Q @ K.transpose(-2, -1) / math.sqrt(d_k)  # one long line of code, wider than a phone\n```"
REPLY = f"LoRA 只训练两个低秩矩阵 [1]。\n\n{WIDE_TABLE}\n\n{LONG_FORMULA}\n\n{LONG_CODE}\n"

# Elements sticking out of the viewport that no scrollable box inside the viewport holds: cut
# off. Visually hidden helpers (KaTeX's MathML copy, screen-reader text) do not count.
CUT_OFF_JS = """() => {
  const W = window.innerWidth, cut = [];
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  for (const e of document.body.querySelectorAll('*')) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || (r.left >= -1 && r.right <= W + 1)) continue;
    if (e.closest('.katex-mathml, .visually-hidden, .sr-only') || !e.checkVisibility()) continue;
    let a = e.parentElement, held = false;
    for (; a && a !== document.body; a = a.parentElement) {
      const ar = a.getBoundingClientRect();
      if (scrolls(a) && ar.left >= -1 && ar.right <= W + 1) { held = true; break; }
    }
    if (!held) cut.push(`${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}.${String(e.className.baseVal ?? e.className).trim().split(/\\s+/).join('.')} [${Math.round(r.left)}, ${Math.round(r.right)}]`);
  }
  return cut.slice(0, 10);
}"""

# Buttons the tab bar shows (not Gradio's hidden copies it measures), by their text.
BAR_JS = """() => [...document.querySelector('.tab-wrapper').querySelectorAll('button')]
  .filter(b => !b.closest('.visually-hidden') && b.checkVisibility() && b.getBoundingClientRect().width > 0)
  .map(b => b.innerText.trim() || b.getAttribute('aria-label') || '(unlabeled)')"""

# The wide element's own scrolling box (itself, or the nearest scrollable ancestor inside `within`),
# and every scrollable box around it, which must not scroll sideways (not the chat log, not the page).
BOX_JS = """([sel, within, nth]) => {
  const e = document.querySelectorAll(sel)[nth];
  if (!e) return null;
  const scrolls = a => ['auto', 'scroll'].includes(getComputedStyle(a).overflowX);
  let box = e;
  while (box && !scrolls(box)) box = box.parentElement;
  if (!box || (within && !box.closest(within))) return {sel, box: null};
  const r = box.getBoundingClientRect(), around = [];
  for (let a = box.parentElement; a; a = a.parentElement)
    if (scrolls(a) && a.scrollWidth > a.clientWidth + 1) around.push(`${a.tagName}.${a.className} ${a.scrollWidth}>${a.clientWidth}`);
  return {sel, box: box.tagName.toLowerCase() + '.' + box.className, own: box === e, sw: box.scrollWidth, cw: box.clientWidth,
          left: r.left, right: r.right, around};
}"""


@pytest.fixture(scope="module")
def phone_tutor(fake_home, tmp_path_factory):
    """Tutor on a copy of the hash-embedded corpus: scripted answers with a wide table, formula and code;
    note 3.4.2 with the same table and formula appended; a review history for the default learner."""
    from tutor.config import Settings
    from tutor.llm import ScriptedLLM
    from tutor.rag.embed import hash_embedder
    from tutor.tutor import build_tutor

    home = tmp_path_factory.mktemp("phone") / "home"
    shutil.copytree(fake_home, home)
    kw = {"answer_check": False, "max_answer_tokens": 2000}  # the scripted words as written, uncut
    if "answer_mode" in Settings.model_fields:
        kw["answer_mode"] = "stream"
    t = build_tutor(make_settings(home, **kw), llm=ScriptedLLM(replies=[REPLY] * 10, n_ctx=8192, name="scripted-phone"),
                    embedder=hash_embedder())
    note = t.corpus.notes["3.4.2"]
    t.corpus.notes["3.4.2"] = dataclasses.replace(note, body=f"{note.body}\n\n## Wide\n\n{WIDE_TABLE}\n\n{LONG_FORMULA}\n")
    for i, item in enumerate(t.quiz.bank.select("3.4.2")[:4]):
        t.quiz.store.record(t.settings.user, item.id, item.note_id, item.type, "answer", 1.0 - 0.25 * i, "correct", "good",
                            1000, datetime.now(timezone.utc), None)
    return t


@pytest.fixture(scope="module")
def phone_url(phone_tutor):
    with serve_app(phone_tutor) as url:
        yield url


def open_page(browser, url: str, width: int):
    ctx = browser.new_context(viewport={"width": width, "height": 844 if width == PHONE else 900}, locale="zh-CN")
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    page.wait_for_selector("#question textarea")
    return ctx, page


def open_tab(page, label: str) -> None:
    tab = page.get_by_role("tab", name=label, exact=True)
    assert tab.count() == 1 and tab.is_visible(), f"no visible tab {label!r} in the tab bar"
    tab.click()
    page.wait_for_function("(l) => [...document.querySelectorAll('[role=tab]')].some(b => b.innerText.trim() === l"
                           " && b.getAttribute('aria-selected') === 'true')", arg=label)


def assert_not_cut_off(page, where: str) -> None:
    width = page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{where}: the page scrolls sideways"
    assert page.evaluate("document.body.scrollWidth") <= width, f"{where}: the page scrolls sideways"
    assert page.evaluate(CUT_OFF_JS) == [], f"{where}: cut off at {width} px"


def assert_scrolls_in_own_box(page, sel: str, within: str | None = None, nth: int = 0) -> None:
    """The nth `sel` is wider than its box, which scrolls sideways (the element itself, or a box
    inside `within`), lies inside the viewport, and nothing around it scrolls sideways."""
    b = page.evaluate(BOX_JS, [sel, within, nth])
    assert b is not None, f"{sel}: not on the page"
    assert b["box"] and (within or b["own"]), f"{sel}: does not scroll in its own box ({b})"
    assert b["sw"] > b["cw"], f"{sel}: not wider than its box, so the check proves nothing ({b})"
    assert b["left"] >= -1 and b["right"] <= page.evaluate("window.innerWidth") + 1, f"{sel}: box outside the viewport ({b})"
    assert b["around"] == [], f"{sel}: the boxes around it scroll sideways too ({b})"


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
def test_every_tab_label_is_visible_and_opens_its_panel(browser, phone_url, width):
    ctx, page = open_page(browser, phone_url, width)
    try:
        shown = page.evaluate(BAR_JS)  # what the tab bar shows: the four labels and nothing else
        assert shown == [label for _, label, _ in TABS], f"tab bar at {width} px shows {shown}"
        for _, label, _ in TABS:
            tab = page.get_by_role("tab", name=label, exact=True)
            assert tab.count() == 1 and tab.is_visible(), f"tab {label!r} not in the tab bar at {width} px"
            box = tab.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"tab {label!r} outside the viewport"
            assert tab.evaluate("b => b.scrollWidth <= b.clientWidth"), f"tab {label!r} label cut short"
        # one row: at 390 px the fifth label (评测 Evals) wrapped onto a second line (review 21)
        rows = {round(page.get_by_role("tab", name=label, exact=True).bounding_box()["y"]) for _, label, _ in TABS}
        assert len(rows) == 1, f"the tab bar wraps at {width} px: rows at {sorted(rows)}"
        for name, label, marker in TABS[1:] + TABS[:1]:  # chat is open at first: end on it
            open_tab(page, label)
            page.wait_for_selector(marker, state="visible")
            for other, _, other_marker in TABS:
                if other != name:
                    assert not page.locator(other_marker).first.is_visible(), f"{other} panel shown with {name}"
            assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name}: the page scrolls sideways"
    finally:
        ctx.close()


def phone_chat(page) -> None:
    """An answer with a wide table, a long display formula and a long code line."""
    ask(page, "LoRA 是什么？")
    page.wait_for_selector(f"{ANSWER_SEL} .answer-meta", timeout=60_000)
    answer = page.locator(ANSWER_SEL).last
    assert answer.locator("table").count() == 1 and answer.locator(".katex-display").count() == 1
    assert_not_cut_off(page, "chat")
    for sel in ("table", ".katex-display", "pre"):
        assert_scrolls_in_own_box(page, f"#chatbot {sel}")


def phone_quiz(page) -> None:
    """A round of one short answer graded wrong (the grader is scripted): the contest button is a
    44 px touch target, and the round summary's table fits the screen (it wraps, never scrolls)."""
    from .test_quiz_page import pick

    open_tab(page, "测验 Quiz")
    page.wait_for_selector("#quiz-start", state="visible")
    assert_not_cut_off(page, "quiz")
    page.locator("#user input").fill("phone-quiz")
    page.locator("#user input").press("Enter")
    page.locator("#quiz-scope input").fill("3.4.2")
    page.locator("#quiz-scope input").press("Enter")
    pick(page, "quiz-mode", "新题 New")
    pick(page, "quiz-type", "简答 Short")
    page.click("#quiz-start")
    # review 13b: after Start only the item's heading showed, at the bottom of the screen
    page.wait_for_function("() => { const r = document.querySelector('#quiz-header').getBoundingClientRect();"
                           " return r.height > 0 && r.top >= -1 && r.top < window.innerHeight * 0.6; }", timeout=5_000)
    page.locator("#quiz-short textarea").fill("不知道")
    page.click("#quiz-submit")
    page.wait_for_selector("#quiz-contest", state="visible")
    assert page.locator("#quiz-contest").bounding_box()["height"] >= 44
    page.click("#quiz-contest")
    page.wait_for_selector("#quiz-contest-good", state="visible")
    assert min(page.locator(f"#quiz-contest-{r}").bounding_box()["height"] for r in ("again", "hard", "good", "easy")) >= 44
    assert_not_cut_off(page, "quiz result")
    page.click("#quiz-contest-again")
    page.wait_for_function("() => document.querySelector('#quiz-result')?.innerText.includes('contested')")
    page.click("#quiz-finish")
    page.wait_for_selector("#quiz-summary table")
    assert_not_cut_off(page, "quiz summary")
    fits = page.evaluate("() => { const t = document.querySelector('#quiz-summary table');"
                         " return [t.scrollWidth, t.clientWidth, t.getBoundingClientRect().right]; }")
    assert fits[0] <= fits[1] + 1 and fits[2] <= PHONE, f"the round summary scrolls sideways at {PHONE} px: {fits}"


# Per chapter bar: its box and the computed font size of its label and figure.
BARS_JS = """() => [...document.querySelectorAll('#progress-bars .chapter-bars li')].map(li => {
  const r = li.getBoundingClientRect(), a = li.querySelector('a'), p = li.querySelector('.cb-pct');
  return {left: r.left, right: r.right, text: li.innerText, font: Math.min(parseFloat(getComputedStyle(a).fontSize),
          parseFloat(getComputedStyle(p).fontSize)), bar: li.querySelector('.cb-bar').getBoundingClientRect().width};
})"""


def phone_progress(page) -> None:
    """Chart (as HTML bars at this width), heatmap (16 chapters × their sections) and the review
    history, the wide ones with a visible hint that they scroll sideways."""
    open_tab(page, "进度 Progress")
    page.wait_for_selector("#progress-bars .chapter-bars li")
    page.wait_for_function("() => document.querySelector('#progress-history')?.innerText.includes('3.4.2 LoRA')")
    page.wait_for_selector("#progress-heatmap table")
    assert_not_cut_off(page, "progress")
    assert_scrolls_in_own_box(page, "#progress-heatmap table", within="#progress-heatmap")
    assert_scrolls_in_own_box(page, "#progress-history table", within="#progress-history")
    # review: the 1080 px chart shrank to 390 px with ~6 px text; here its figures are HTML bars
    assert not page.locator("#progress-chart").is_visible()
    bars = page.evaluate(BARS_JS)
    assert len(bars) == 16 and all(b["font"] >= 13 and b["left"] >= 0 and b["right"] <= PHONE for b in bars), bars
    assert bars[2]["text"].startswith("3. ") and "%" in bars[2]["text"] and bars[2]["bar"] > 200
    # review: tables scrolled sideways with no sign of it; each wide one now says so above it
    for box in ("#progress-heatmap", "#progress-history"):
        hint = page.locator(f"{box} .scroll-hint, {box} ~ * .scroll-hint, :has(+ {box}) .scroll-hint").first
        assert hint.is_visible() and "左右滑动" in hint.inner_text(), f"{box}: no visible scroll hint"


def phone_browse(page) -> None:
    """Note 3.4.2 with a wide table and a long display formula appended."""
    open_tab(page, "浏览 Browse")
    page.fill("#goto textarea, #goto input", "3.4.2")
    page.press("#goto textarea, #goto input", "Enter")
    page.wait_for_function("() => document.querySelector('#note h1')?.innerText.startsWith('3.4.2 ')")
    page.wait_for_selector("#note table")
    # review 11: the opened note stayed below the tree, off screen; its start comes into view
    page.wait_for_function("() => { const r = document.querySelector('#note').getBoundingClientRect();"
                           " return r.top >= -1 && r.top < window.innerHeight * 0.6; }", timeout=5_000)
    assert_not_cut_off(page, "browse")
    # review 18: the outline tree, a 40vh box, seemed to end at chapter 8; a line above it says it scrolls
    hint = page.locator("#tree .scroll-hint")
    assert hint.is_visible() and "上下滑动" in hint.inner_text() and "16" in hint.inner_text()
    assert page.evaluate("() => { const t = document.querySelector('#tree .tree'); return t.scrollHeight > t.clientHeight; }")
    assert_scrolls_in_own_box(page, "#note table")
    wide = page.evaluate("() => [...document.querySelectorAll('#note .katex-display')].findIndex(e => e.scrollWidth > e.clientWidth)")
    assert wide >= 0, "no display formula wider than the note at 390 px"
    assert_scrolls_in_own_box(page, "#note .katex-display", nth=wide)
    # review 13: a cut-off formula gave no sign that it scrolls; scroll shadows show at the hidden
    # edge (background covers that move with the content over shadows that stay)
    att = page.evaluate("i => getComputedStyle(document.querySelectorAll('#note .katex-display')[i]).backgroundAttachment", wide)
    assert att.replace(" ", "") == "local,local,scroll,scroll", att
    formula = page.locator("#note .katex-display").nth(wide)
    formula.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    formula.screenshot(path=str(ARTIFACTS / "phone-browse-formula.png"))


@pytest.mark.parametrize("tab", ["chat", "quiz", "progress", "browse"])
def test_phone_nothing_is_cut_off_and_wide_content_scrolls_in_its_box(browser, phone_url, phone_tutor, monkeypatch, tab):
    from tutor.quiz.grading import Grade

    monkeypatch.setattr(phone_tutor.quiz.grader, "grade", lambda *a, **k: Grade(0.1, "wrong", 0.1, 0.1, [], [], []))
    ctx, page = open_page(browser, phone_url, PHONE)
    try:
        {"chat": phone_chat, "quiz": phone_quiz, "progress": phone_progress, "browse": phone_browse}[tab](page)
        shot(page, f"phone-{tab}")
    finally:
        ctx.close()


def test_laptop_progress_shows_the_chart_not_the_phone_bars_or_hints(browser, phone_url):
    ctx, page = open_page(browser, phone_url, LAPTOP)
    try:
        open_tab(page, "进度 Progress")
        page.wait_for_selector("#progress-chart img")
        page.wait_for_selector("#progress-heatmap table")
        assert not page.locator("#progress-bars").is_visible()
        assert page.locator(".scroll-hint").count() >= 2 and not any(h.is_visible() for h in page.locator(".scroll-hint").all())
    finally:
        ctx.close()


NEW_QUESTION_JS = """() => {
  const users = document.querySelectorAll('#chatbot [data-testid=user]');
  const q = users[users.length - 1].getBoundingClientRect(), box = users[users.length - 1].closest('.bubble-wrap');
  const b = box.getBoundingClientRect();
  return {top: q.top, boxTop: b.top, boxBottom: b.bottom, vh: window.innerHeight, hidden: box.scrollHeight - box.clientHeight};
}"""


def test_phone_a_new_answer_starts_in_view_below_its_question(browser, phone_url):
    """Review 10: at 390 px the chat box stayed at a long answer's end, so the answer began above
    the visible area. After the second long answer, its question is at the top of the chat box,
    on screen, with the answer below it."""
    ctx, page = open_page(browser, phone_url, PHONE)
    try:
        # review 11: the question box was below the first screen, under a tall empty chat
        box = page.locator("#question textarea").bounding_box()
        assert box["y"] + box["height"] <= 844, f"the question box is below the first screen ({box})"
        for k, q in enumerate(("LoRA 是什么？", "QLoRA 是什么？")):
            ask(page, q)
            page.wait_for_function(f"() => document.querySelectorAll('{ANSWER_SEL} .answer-meta').length > {k}", timeout=60_000)
        page.wait_for_timeout(500)
        p = page.evaluate(NEW_QUESTION_JS)
        assert p["hidden"] > 0, f"the chat fits its box, so the check proves nothing ({p})"
        assert p["boxTop"] - 1 <= p["top"] <= p["boxTop"] + 80, f"the question is not at the top of the chat box ({p})"
        assert 0 <= p["top"] < p["vh"], f"the question is off screen ({p})"
        shot(page, "phone-new-answer", full_page=False)
    finally:
        ctx.close()


def test_laptop_the_question_box_and_send_are_on_the_first_screen(browser, phone_url):
    """Review 12: at 1280 × 800 the chat box (62vh) pushed Send below the fold. The chat box
    gives way, so the question box and Send are on screen before any scrolling."""
    ctx = browser.new_context(viewport={"width": LAPTOP, "height": 800}, locale="zh-CN")
    page = ctx.new_page()
    try:
        page.goto(phone_url)
        page.wait_for_selector("#question textarea")
        for sel in ("#question textarea", "#send"):
            box = page.locator(sel).bounding_box()
            assert box and box["y"] + box["height"] <= 800, f"{sel} is below the first screen at 1280 × 800 ({box})"
        assert page.locator("#chatbot").bounding_box()["height"] >= 280  # the chat box is not squeezed away
    finally:
        ctx.close()
