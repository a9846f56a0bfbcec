"""Quiz and Progress tabs in a real browser: answer a quiz item and see the verdict, follow
the note link, then see the answer in Progress (chart, heatmap, history, next topics)."""

from __future__ import annotations

import pytest

from .conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def pick(page, elem_id: str, label: str) -> None:
    """Choose `label` in a Gradio dropdown."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=label, exact=True).click()


def start_round(page, user: str, item_type: str) -> None:
    """As the learner `user`, a round of new items of note 3.4.2 of one type (its label)."""
    page.locator("#user input").fill(user)
    page.locator("#user input").press("Enter")
    page.get_by_role("tab", name="测验 Quiz").click()
    page.locator("#quiz-scope input").fill("3.4.2")
    page.locator("#quiz-scope input").press("Enter")
    pick(page, "quiz-mode", "新题 New")
    pick(page, "quiz-type", item_type)
    page.click("#quiz-start")


def test_answer_a_quiz_item_and_see_it_in_progress(page, ui_tutor):
    note = ui_tutor.corpus.notes["3.4.2"]
    item = next(q for q in note.meta.quiz if q.type == "choice")
    page.evaluate("""() => { window.__heard = []; new MutationObserver(ms => ms.forEach(m => {
        const t = m.target.textContent || ""; if (/common\\.\\w+/.test(t)) window.__heard.push(t.slice(0, 80)); }))
        .observe(document.body, {childList: true, subtree: true, characterData: true}); }""")
    start_round(page, "browser-learner", "选择 Choice")
    page.wait_for_selector("#quiz-choice label")
    assert page.inner_text("#quiz-question").strip() == item.question
    assert "3.4.2 LoRA" in page.inner_text("#quiz-header")
    page.click("#quiz-hint")
    page.wait_for_selector("#quiz-hints p")
    assert page.inner_text("#quiz-hints").startswith("提示 Hint 1/3")
    page.locator("#quiz-choice label").nth(item.answer).click()
    page.click("#quiz-submit")
    page.wait_for_selector("#quiz-result .verdict-ok")
    result = page.inner_text("#quiz-result")
    assert "正确 Correct" in result and "下次复习 next review" in result and "3.4.2 LoRA" in result
    assert not page.locator("#quiz-submit").is_visible()  # graded once
    # review 24: screen readers heard Gradio's untranslated "common.complete" after each action (a
    # live region that is soon emptied: every text it held is recorded)
    assert page.evaluate("() => window.__heard") == [], "an untranslated i18n key was announced"
    shot(page, "quiz")
    page.click("#quiz-finish")
    page.wait_for_selector("#quiz-summary table")
    assert "Round summary — 1 answered" in page.inner_text("#quiz-summary")
    stored = ui_tutor.quiz.store.reviews("browser-learner")
    assert [(r.note_id, r.verdict) for r in stored] == [("3.4.2", "correct")]
    # Progress: the same learner's answer in the history, the chart and the heatmap
    page.get_by_role("tab", name="进度 Progress").click()
    page.wait_for_selector("#progress-chart img")
    page.wait_for_function("() => document.querySelector('#progress-history')?.innerText.includes('3.4.2 LoRA')")
    assert "卡片 cards: 1" in page.inner_text("#progress-due")
    assert page.locator("#progress-heatmap td a[data-id]").count() == 64
    # review 16: a Good answer left a section red with no word why; the legend says how colours are made
    assert "at least 3 of its items" in page.inner_text("#progress-legend")
    assert page.locator("#progress-path a[data-id]").count() >= 1
    shot(page, "progress")
    page.locator('#progress-heatmap a[data-id="3.4"]').click()  # a section opens in Browse
    page.wait_for_function("() => document.querySelector('#note h1')?.innerText.startsWith('3.4 ')")


def test_contest_a_wrong_short_answer_and_see_it_self_rated(page, ui_tutor):
    """「我认为我答对了 I think I was right」 after an automatic wrong grade: the rating buttons
    come up with the line saying they replace the grade; Good replaces it in the result, the
    round summary and the store (which keeps the grader's verdict)."""
    start_round(page, "contest-learner", "简答 Short")
    page.wait_for_selector("#quiz-short textarea")
    assert not page.locator("#quiz-contest").is_visible()
    page.fill("#quiz-short textarea", "我喜欢吃苹果和香蕉。")  # graded wrong (about something else)
    # review 10: the first grade showed nothing while it ran; record every text #quiz-message shows
    page.evaluate("""() => { window.quizMessages = [];
        new MutationObserver(() => window.quizMessages.push(document.querySelector('#quiz-message').innerText))
            .observe(document.querySelector('#quiz-message'), {subtree: true, childList: true, characterData: true}); }""")
    page.click("#quiz-submit")
    page.wait_for_selector("#quiz-result .verdict-bad")
    assert any("正在评分" in m and "grading" in m for m in page.evaluate("window.quizMessages"))
    assert "正在评分" not in page.inner_text("#quiz-message")  # gone once graded
    assert "自动评分 auto-graded" in page.inner_text("#quiz-result")
    reference = ui_tutor.quiz.item(next(i.id for i in ui_tutor.quiz.bank.select("3.4.2", ["short"]))).reference
    assert "正确答案 Answer" in page.inner_text("#quiz-result")
    assert not page.locator("#quiz-contest-box").is_visible()
    page.click("#quiz-contest")
    page.wait_for_selector("#quiz-contest-good", state="visible")
    assert "你的自评将替换自动评分" in page.inner_text("#quiz-contest-note")
    assert not page.locator("#quiz-contest").is_visible()
    shot(page, "quiz-contest")
    page.click("#quiz-contest-good")
    page.wait_for_function("() => document.querySelector('#quiz-result')?.innerText.includes('your rating')")
    result = page.inner_text("#quiz-result")
    assert "自评 your rating 良好 Good" in result and "contested: auto-graded Wrong" in result and "next review" in result
    assert page.locator("#quiz-result .verdict-ok").count() == 1
    # review: the reference answer shown with the verdict stays after the contest
    assert "正确答案 Answer" in result and reference[:12] in result
    assert not page.locator("#quiz-contest-box").is_visible() and not page.locator("#quiz-contest").is_visible()
    shot(page, "quiz-contested")
    page.click("#quiz-finish")
    page.wait_for_selector("#quiz-summary table")
    assert "申诉后自评 contested, self-rated 1" in page.inner_text("#quiz-summary")
    (row,) = ui_tutor.quiz.store.reviews("contest-learner")
    assert (row.verdict, row.rating, row.contested) == ("wrong", "good", True)


def test_next_on_an_unrated_check_yourself_answer_keeps_what_was_written(page, ui_tutor):
    """Review 23: Next on a "check yourself" answer not yet rated showed the reminder to rate it
    and emptied the answer box, so the learner rated against the reference with their own answer
    gone. The reminder keeps the item and the answer; a second Next moves on and empties it."""
    item = next(i for i in ui_tutor.quiz.bank.select("3.4.2", ["short"]))
    answer = item.reference[:len(item.reference) // 2]
    assert ui_tutor.quiz.grade_text(item.id, answer).verdict == "check"  # the deterministic grader
    start_round(page, "unrated-learner", "简答 Short")
    page.wait_for_selector("#quiz-short textarea")
    page.fill("#quiz-short textarea", answer)
    page.click("#quiz-submit")
    page.wait_for_selector("#quiz-result .verdict-partial")
    page.click("#quiz-next")
    page.wait_for_function("() => document.querySelector('#quiz-message')?.innerText.includes('还没自评')")
    assert page.input_value("#quiz-short textarea") == answer
    assert "上面" not in page.inner_text("#quiz-message")  # the rating buttons are not above it (review 23)
    page.click("#quiz-next")
    page.wait_for_function("() => !document.querySelector('#quiz-message')?.innerText.includes('还没自评')")
    page.wait_for_function("() => (document.querySelector('#quiz-short textarea')?.value ?? '') === ''")


def test_guide_mode_gives_hints_before_the_answer(page, ui_tutor):
    page.locator("#guide input").check()
    page.fill("#question textarea", "LoRA 为什么能减少微调的参数量？")
    page.click("#send")
    page.wait_for_selector("#chatbot >> text=引导 Guide 1/3")
    page.fill("#question textarea", "因为只训练一小部分参数")
    page.click("#send")
    page.wait_for_selector("#chatbot >> text=引导 Guide 2/3")
    page.wait_for_function("() => document.querySelector('#chatbot').innerText.split('or press Show answer').length === 3")
    assert page.locator("#show-answer").is_visible()
    assert page.locator("#chatbot .answer-meta").count() == 0  # no model answer yet
    shot(page, "chat-guide")


def test_flipped_card_hides_hints_and_a_skipped_item_is_in_the_summary(page, ui_tutor):
    """Review: the Hint button and hints stayed after a flashcard was flipped; a skipped item
    vanished from the round summary."""
    start_round(page, "flip-learner", "卡片 Flashcard")
    page.wait_for_selector("#quiz-flip", state="visible")
    page.click("#quiz-hint")
    page.wait_for_selector("#quiz-hints p")
    page.click("#quiz-flip")
    page.wait_for_selector("#quiz-back p")
    page.wait_for_function("() => !document.querySelector('#quiz-hints')?.innerText.trim()")
    assert not page.locator("#quiz-hint").is_visible()
    page.click("#quiz-finish")  # not rated: skipped
    page.wait_for_selector("#quiz-summary table")
    summary = page.inner_text("#quiz-summary")
    assert "跳过 skipped" in summary and "3.4.2 LoRA" in summary and "Round summary — 0 answered" in summary
    assert ui_tutor.quiz.store.reviews("flip-learner") == []
