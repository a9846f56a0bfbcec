"""Layout and wiring of the 对话 Chat tab. Handlers live in chat.py (and guide.py)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from .chat import clear, respond
from .guide import guide
from .sessions import StopRegistry, session_of
from .style import LATEX
from .widgets import link_html

EXAMPLES = [
    "为什么注意力要除以根号d_k？",
    "LoRA 为什么能减少微调的参数量？",
    "扩散模型的前向过程是什么？",
    "How does RoPE encode position?",
    "What does classifier-free guidance do?",
]

LLM_GROUP = "llm"  # one llama.cpp context per process: every model call shares this queue


@dataclass
class ChatTab:
    chatbot: gr.Chatbot
    question: gr.Textbox
    sources: gr.HTML
    status: gr.Markdown


def build(tutor, stops: StopRegistry) -> ChatTab:
    chapters = [("全部章节 All chapters", "")] + [(f"{c.id}. {c.title}", c.id) for c in tutor.corpus.outline.chapters()]
    with gr.Tab("对话 Chat", id="chat"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                with gr.Row():
                    chapter = gr.Dropdown(chapters, value="", label="章节筛选 Chapter filter", elem_id="chapter", min_width=200)
                    guide_on = gr.Checkbox(False, label="引导模式 Guide me (先提示，后答案 / hints first, answer on request)",
                                           elem_id="guide", min_width=200)
                bot = gr.Chatbot(label="对话 Chat", latex_delimiters=LATEX, height="62vh", elem_id="chatbot",
                                 buttons=["copy"], feedback_options=None,
                                 placeholder="用中文或英文提问，回答会引用笔记 [n] / ask in Chinese or English; answers cite the notes [n]")
                msg = gr.Textbox(label="问题 Question", placeholder="例如 e.g. 为什么注意力要除以根号d_k？", elem_id="question",
                                 lines=1, max_lines=6)
                with gr.Row(elem_classes=["keep-row"]):
                    send = gr.Button("发送 Send", variant="primary", elem_id="send", min_width=80)
                    stop = gr.Button("停止 Stop", variant="stop", elem_id="stop", min_width=80)
                    clear_btn = gr.Button("清空 Clear", elem_id="clear", min_width=80)
                    show_answer = gr.Button("显示答案 Show answer", elem_id="show-answer", min_width=80, visible=False)
                guide_state = gr.State({})
                status = gr.Markdown(elem_id="status")
                gr.Examples(EXAMPLES, inputs=msg, label="示例问题 Example questions")
            with gr.Column(scale=2, min_width=260):
                gr.Markdown("#### 来源 Sources\n<small>点击打开笔记 / click to open the note in Browse</small>")
                sources = link_html("", elem_id="sources")

    def run(gen_fn, session):
        ev = stops.start(session)
        try:
            yield from gen_fn(ev)
        finally:
            ev.set()  # a dropped stream must not keep the model busy
            stops.finish(session, ev)

    def on_send(message, history, chapter, guided, gstate, request: gr.Request):
        if not guided:
            gen = lambda ev: ((*u, {}) for u in respond(tutor, message, history, chapter, ev))  # noqa: E731
        else:
            gen = lambda ev: guide(tutor, message, history, chapter, gstate, stop=ev)  # noqa: E731
        yield from run(gen, session_of(request))

    def on_show_answer(history, chapter, gstate, request: gr.Request):
        yield from run(lambda ev: guide(tutor, "", history, chapter, gstate, show_answer=True, stop=ev), session_of(request))

    def on_stop(request: gr.Request):
        stops.stop(session_of(request))

    def on_clear(request: gr.Request):
        stops.stop(session_of(request))
        return (*clear(), {})

    outputs = [msg, bot, sources, status, guide_state]
    llm = dict(concurrency_id=LLM_GROUP, concurrency_limit=1, show_progress="minimal")
    io = dict(fn=on_send, inputs=[msg, bot, chapter, guide_on, guide_state], outputs=outputs, **llm)
    send.click(api_name="chat", **io)
    msg.submit(api_visibility="private", **io)
    show_answer.click(on_show_answer, [bot, chapter, guide_state], outputs, api_name="guide_answer", **llm)
    guide_on.change(lambda on: (gr.Button(visible=on), {}), guide_on, [show_answer, guide_state], api_visibility="private",
                    concurrency_limit=None)
    stop.click(on_stop, None, None, api_name="stop", concurrency_limit=None, queue=False)
    clear_btn.click(on_clear, None, [bot, sources, status, msg, guide_state], api_name="clear", concurrency_limit=None)
    return ChatTab(bot, msg, sources, status)
