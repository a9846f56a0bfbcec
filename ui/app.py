"""The Gradio app. `build_app(tutor)` returns a queued gr.Blocks without launching it, so
tests drive handlers directly and serve.py decides how to launch (with style.launch_options()).

Concurrency: every model call joins the "llm" concurrency group with limit 1 (one
llama.cpp context per process, LLM.lock underneath), while quiz, browse, progress and Stop
run with no limit, so they answer at once during a long generation.

Learners: without a login the learner box is a label anyone on the loopback may pick; with
a login (`tutor ui --auth`) every event reads the login name instead (`bind_learner`).
"""

from __future__ import annotations

import functools
import inspect

import gradio as gr

from . import browse_tab, chat_tab, evals_tab, progress_tab, quiz_tab
from .browse import open_node
from .progress import users
from .sessions import StopRegistry
from .widgets import clicked_id
from tutor.wording import en, w, zh

TITLE = zh("app.title")


def build_app(tutor) -> gr.Blocks:
    """All tabs over one Tutor. Nothing heavy loads here: the index and model load on first use."""
    stops = StopRegistry()
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        with gr.Row(equal_height=True):
            gr.Markdown(f"### {TITLE} <small>{en('app.title').split(' · ')[1]} · {zh('app.offline')}</small>")
            user = gr.Dropdown([tutor.settings.user], value=tutor.settings.user, allow_custom_value=True,
                               label=w("app.user"), elem_id="user",
                               scale=0, min_width=220)
        with gr.Tabs(selected="chat") as tabs:
            chat = chat_tab.build(tutor, stops)
            quiz = quiz_tab.build(tutor, user)
            prog = progress_tab.build(tutor, user)
            browse = browse_tab.build(tutor)
            evals_tab.build(tutor)

        def open_in_browse(evt: gr.EventData):
            node_id = clicked_id(evt)
            return (gr.Tabs(selected="browse"), *open_node(tutor, node_id)) if node_id else (gr.Tabs(), *[gr.skip()] * 4)

        for links in [chat.sources, quiz.note_link, *prog.links]:
            links.click(open_in_browse, None, [tabs, *browse.outputs], api_visibility="private", concurrency_limit=None)

        def open_chat_link(evt: gr.EventData):
            data = getattr(evt, "_data", None) or {}
            if data.get("n"):  # a citation [n]: the Chat tab shows its card instead
                return (gr.Tabs(), *[gr.skip()] * 4)
            return open_in_browse(evt)

        chat.links.click(open_chat_link, None, [tabs, *browse.outputs], api_visibility="private", concurrency_limit=None)
        user.change(prog.show, user, prog.outputs, api_visibility="private", concurrency_limit=None)

        def on_load(request: gr.Request):
            name = login_name(request)
            if name:  # logged in: one learner, and no list of the others' names
                return gr.Dropdown(choices=[name], value=name, interactive=False)
            return gr.Dropdown(choices=sorted({*users(tutor), tutor.settings.user}))

        app.load(on_load, None, user, api_visibility="private", concurrency_limit=None)
    bind_learner(app, user)
    app.queue(default_concurrency_limit=8)
    return app


def login_name(request) -> str | None:
    """The name the learner logged in with (`tutor ui --auth`), or None without a login."""
    return getattr(request, "username", None) or None


def bind_learner(app: gr.Blocks, box: gr.Dropdown) -> None:
    """Make every event that reads `box` get the login name in its place when there is a
    login. The box's value comes from the client (any API caller can send any name), so this
    is the only place the server can tie progress to the person who logged in."""
    for block_fn in app.fns.values():
        where = [i for i, c in enumerate(block_fn.inputs) if c is box]
        if where and block_fn.fn is not None:
            block_fn.fn = _with_login(block_fn.fn, where)


def _with_login(fn, where: list[int]):
    """fn with the inputs at `where` replaced by the login name; Gradio passes the request
    through an extra gr.Request parameter added to fn's signature."""
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    # annotated parameters may be Gradio's special arguments (gr.Request, EventData), which
    # would shift the input positions: refuse them at build time rather than misbind
    if inspect.isgeneratorfunction(fn) or any(p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) or
                                             p.annotation is not p.empty for p in params):
        raise TypeError(f"bind_learner cannot wrap {fn!r}: plain functions of the inputs only")

    @functools.wraps(fn)
    def wrapped(*args):
        *args, request = args
        name = login_name(request)
        return fn(*(name if name and i in where else a for i, a in enumerate(args)))

    req = inspect.Parameter("_login_request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)
    wrapped.__signature__ = sig.replace(parameters=[*params, req])
    wrapped.__annotations__ = {"_login_request": gr.Request}
    del wrapped.__wrapped__  # so inspect and Gradio read the signature above, not fn's
    return wrapped
