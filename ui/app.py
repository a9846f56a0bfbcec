"""The Gradio app. `build_app(tutor)` returns a queued gr.Blocks without launching it, so
tests drive handlers directly and serve.py decides how to launch (with style.launch_options()).

Concurrency: every model call joins the "llm" concurrency group with limit 1 (one
llama.cpp context per process, LLM.lock underneath), while quiz, browse, progress and Stop
run with no limit, so they answer at once during a long generation.
"""

from __future__ import annotations

import gradio as gr

from . import browse_tab, chat_tab, progress_tab, quiz_tab
from .browse import open_node
from .progress import users
from .sessions import StopRegistry
from .widgets import clicked_id

TITLE = "tutor · AI 知识导师"


def build_app(tutor) -> gr.Blocks:
    """All tabs over one Tutor. Nothing heavy loads here: the index and model load on first use."""
    stops = StopRegistry()
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        with gr.Row(equal_height=True):
            gr.Markdown(f"### {TITLE} <small>offline AI/ML tutor · 离线运行</small>")
            user = gr.Dropdown([tutor.settings.user], value=tutor.settings.user, allow_custom_value=True,
                               label="用户 User (进度按用户保存 / progress is kept per user)", elem_id="user",
                               scale=0, min_width=220)
        with gr.Tabs(selected="chat") as tabs:
            chat = chat_tab.build(tutor, stops)
            quiz = quiz_tab.build(tutor, user)
            prog = progress_tab.build(tutor, user)
            browse = browse_tab.build(tutor)

        def open_in_browse(evt: gr.EventData):
            node_id = clicked_id(evt)
            return (gr.Tabs(selected="browse"), *open_node(tutor, node_id)) if node_id else (gr.Tabs(), *[gr.skip()] * 4)

        for links in [chat.sources, quiz.note_link, *prog.links]:
            links.click(open_in_browse, None, [tabs, *browse.outputs], api_visibility="private", concurrency_limit=None)
        user.change(prog.show, user, prog.outputs, api_visibility="private", concurrency_limit=None)
        app.load(lambda u: gr.Dropdown(choices=sorted({*users(tutor), u or tutor.settings.user})), user, user,
                 api_visibility="private", concurrency_limit=None)
    app.queue(default_concurrency_limit=8)
    return app
