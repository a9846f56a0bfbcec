"""The Gradio app. `build_app(tutor)` returns a gr.Blocks without launching it, so tests can
drive handlers directly and serve.py decides how to launch."""

from __future__ import annotations

import gradio as gr

from .chat import respond

EXAMPLES = ["为什么注意力要除以根号d_k？", "LoRA 为什么能减少微调的参数量？", "What does classifier-free guidance do?", "第5章讲什么？"]
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


def build_app(tutor) -> gr.Blocks:
    chapters = [("全部 All", "")] + [(f"{c.id}. {c.title}", c.id) for c in tutor.corpus.outline.chapters()]
    with gr.Blocks(title="tutor · AI 知识导师") as app:
        gr.Markdown("## tutor · AI/ML 知识导师 (offline)")
        with gr.Tab("对话 Chat"):
            with gr.Row():
                chapter = gr.Dropdown(chapters, value="", label="章节 Chapter", scale=1)
            bot = gr.Chatbot(label="对话 Chat", latex_delimiters=LATEX, height=460, elem_id="chatbot")
            status = gr.Markdown(elem_id="status")
            msg = gr.Textbox(label="问题 Question", placeholder="例如：为什么注意力要除以根号d_k？", elem_id="question")
            with gr.Row():
                send = gr.Button("发送 Send", variant="primary", elem_id="send")
                clear = gr.Button("清空 Clear", elem_id="clear")
            gr.Examples(EXAMPLES, inputs=msg)
            with gr.Accordion("来源 Sources", open=True):
                sources = gr.Markdown(elem_id="sources")

        def on_send(message, history, ch):
            yield from respond(tutor, message, history, ch)

        ev = dict(fn=on_send, inputs=[msg, bot, chapter], outputs=[bot, sources, status], api_name="chat")
        send.click(**ev).then(lambda: "", outputs=msg)
        msg.submit(fn=on_send, inputs=[msg, bot, chapter], outputs=[bot, sources, status]).then(lambda: "", outputs=msg)
        clear.click(lambda: ([], "", ""), outputs=[bot, sources, status])
    return app
