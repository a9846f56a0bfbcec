"""Layout and wiring of the 测验 Quiz tab. Handlers live in quiz.py; this file only maps a
QuizView onto component updates."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from tutor.wording import label, w

from . import quiz
from .mathtext import plain_emphasis
from .style import LATEX
from .widgets import link_html, show_when_new_js


@dataclass
class QuizTab:
    note_link: gr.HTML  # "open the note" links (data-id) → Browse
    scope: gr.Dropdown


def build(tutor, user: gr.Dropdown) -> QuizTab:
    with gr.Tab(label("quiz.tab"), id="quiz"):
        state = gr.State({})
        with gr.Row():
            scope = gr.Dropdown(quiz.scope_choices(tutor.corpus), value="", label=label("quiz.scope"), allow_custom_value=True,
                                elem_id="quiz-scope", min_width=160)
            mode = gr.Dropdown(quiz.MODES, value="mixed", label=label("quiz.mode"), elem_id="quiz-mode", min_width=160)
            type_ = gr.Dropdown(quiz.TYPES, value="", label=label("quiz.type"), elem_id="quiz-type", min_width=120)
            n = gr.Slider(1, 20, value=5, step=1, label=label("quiz.items"), elem_id="quiz-n", min_width=120)
        with gr.Row(elem_classes=["keep-row"]):
            start = gr.Button(label("quiz.start"), variant="primary", elem_id="quiz-start", min_width=80)
            finish = gr.Button(label("quiz.finish"), elem_id="quiz-finish", min_width=80)
        message = gr.Markdown(elem_id="quiz-message")
        header = gr.Markdown(elem_id="quiz-header")
        question = gr.Markdown(latex_delimiters=LATEX, elem_id="quiz-question")
        choice = gr.Radio([], label=label("quiz.options"), visible=False, elem_id="quiz-choice")
        short = gr.Textbox(label=label("quiz.your_answer"), lines=3, visible=False, elem_id="quiz-short",
                           placeholder=w("quiz.short_placeholder"))
        flip = gr.Button(label("quiz.flip"), visible=False, elem_id="quiz-flip")
        back = gr.Markdown(latex_delimiters=LATEX, elem_id="quiz-back")
        with gr.Row(visible=False, elem_classes=["keep-row"]) as rate_row:
            rate_btns = [gr.Button(label, elem_id=f"quiz-rate-{value}", min_width=60) for label, value in quiz.RATINGS]
        with gr.Row(elem_classes=["keep-row"]):
            submit = gr.Button(label("quiz.submit"), variant="primary", visible=False, elem_id="quiz-submit", min_width=80)
            hint = gr.Button(label("quiz.hint"), visible=False, elem_id="quiz-hint", min_width=80)
            nxt = gr.Button(label("quiz.next"), visible=False, elem_id="quiz-next", min_width=80)
            contest = gr.Button(label("quiz.contest"), visible=False, size="sm", elem_id="quiz-contest", min_width=80)
        # the contest's own rating buttons under a static line (not an output: the API's outputs keep their places)
        with gr.Column(visible=False, elem_id="quiz-contest-box") as contest_box:
            gr.Markdown(w("quiz.contest_explain"), elem_id="quiz-contest-note")
            with gr.Row(elem_classes=["keep-row"]):
                contest_btns = [gr.Button(label, elem_id=f"quiz-contest-{value}", min_width=60) for label, value in quiz.RATINGS]
        hints = gr.Markdown(latex_delimiters=LATEX, elem_id="quiz-hints")
        result = gr.Markdown(latex_delimiters=LATEX, elem_id="quiz-result")
        note_link = link_html("", elem_id="quiz-note")
        summary = gr.Markdown(elem_id="quiz-summary")
        gr.HTML("", js_on_load=SHOW_ITEM_JS, padding=False, elem_id="quiz-scroll")

    outputs = [state, message, header, question, choice, short, flip, back, rate_row, submit, hint, nxt, contest, contest_box,
               hints, result, note_link, summary]

    def show(st: dict, v: quiz.QuizView, new_item: bool = False) -> tuple:
        open_ = bool(v.kind) and not v.answered
        card = v.kind == "card"
        link = (f'<a data-id="{v.note_id}" class="node-link">{label("quiz.open_note")} {v.note_id} ↗</a>'
                if v.note_id and v.answered else "")
        return (
            st, v.message, f"**{v.header}**" if v.header else "", v.question,
            gr.Radio(choices=v.options, visible=v.kind == "choice", interactive=open_,
                     **({"value": None} if new_item else {})),
            gr.Textbox(visible=v.kind == "short", interactive=open_, **({"value": ""} if new_item else {})),
            gr.Button(visible=card and open_ and not v.back),
            f"**{label('quiz.back')}:** {plain_emphasis(v.back)}" if v.back else "",
            gr.Row(visible=(card and open_ and bool(v.back)) or v.self_rate),
            gr.Button(visible=v.kind in ("choice", "short") and open_, interactive=True),
            gr.Button(visible=v.more_hints),
            gr.Button(visible=bool(v.kind)),
            gr.Button(visible=v.contest),
            gr.Column(visible=v.contesting),
            "\n\n".join(v.hints), v.result, link, v.summary,
        )

    def on_start(user, scope, mode, item_type, items):
        return show(*quiz.start(tutor, user, scope, mode, item_type, items), new_item=True)

    def on_submit(st, option, answer):
        kind = _kind(st)
        if kind == "short" and st.get("result") is None:
            # grading a short answer embeds it (seconds the first time, longer while the model runs):
            # say so at once and hold the button, so nobody presses twice or thinks it hung
            # (the "first grade loads the model" clause only while it does: review 12 saw it on every answer)
            msg = w("quiz.grading") if tutor.quiz.grader_ready else w("quiz.grading_first")
            yield (gr.skip(), msg, *[gr.skip()] * 7, gr.Button(interactive=False), *[gr.skip()] * 8)
        yield show(*quiz.submit(tutor, st, option if kind == "choice" else answer))

    def on_next(st):
        # the answer box empties only when another item comes: on the reminder to rate an unrated
        # answer the item stays, and so does what the learner wrote (review 23)
        i = st.get("i")
        st2, v = quiz.next_item(tutor, st)
        return show(st2, v, new_item=st2.get("i") != i)

    def _kind(st):
        return tutor.quiz.item(st["items"][st["i"]]).type if st.get("items") and st["i"] < len(st["items"]) else ""

    ev = dict(outputs=outputs, concurrency_limit=None)
    # grading is deterministic (no model) unless the optional LLM rubric is on: then it queues with chat
    grading = dict(outputs=outputs, concurrency_id="llm", concurrency_limit=1) if tutor.settings.quiz_llm_grader else ev
    start.click(on_start, [user, scope, mode, type_, n], api_name="quiz_start", **ev)
    submit.click(on_submit, [state, choice, short], api_name="quiz_submit", **grading)
    short.submit(on_submit, [state, choice, short], api_visibility="private", **grading)
    hint.click(lambda st: show(*quiz.hint(tutor, st)), state, api_name="quiz_hint", **ev)
    flip.click(lambda st: show(*quiz.flip(tutor, st)), state, api_name="quiz_flip", **ev)
    nxt.click(on_next, state, api_name="quiz_next", **ev)
    finish.click(lambda st: show(*quiz.finish(tutor, st)), state, api_name="quiz_finish", **ev)
    contest.click(lambda st: show(*quiz.contest(tutor, st)), state, api_visibility="private", **ev)
    for btn, (_, value) in zip(rate_btns + contest_btns, quiz.RATINGS * 2):
        btn.click(lambda st, r=value: show(*quiz.rate(tutor, st, r)), state, api_visibility="private", **ev)
    return QuizTab(note_link, scope)


# at phone width the round's settings fill the first screen: bring a new item's heading into
# view (review 13b: after Start only the heading showed at the bottom)
SHOW_ITEM_JS = show_when_new_js("#quiz-header", gone="top")
