"""Layout and wiring of the 浏览 Browse tab. Handlers live in browse.py."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from tutor.wording import label, w

from .browse import go_to, open_node, tree_html
from .style import LATEX
from .widgets import clicked_id, link_html, show_when_new_js


@dataclass
class BrowseTab:
    page: gr.Markdown
    links: gr.HTML
    tree: gr.HTML
    node: gr.Textbox  # id of the node shown ('' for none)

    @property
    def outputs(self) -> list:
        """Outputs of browse.open_node, in its order."""
        return [self.page, self.links, self.tree, self.node]


def build(tutor) -> BrowseTab:
    with gr.Tab(label("browse.tab"), id="browse"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=260):
                goto = gr.Textbox(label=label("browse.goto"), placeholder=w("browse.goto_placeholder"), elem_id="goto")
                tree = link_html(tree_html(tutor.corpus), elem_id="tree")
            with gr.Column(scale=3, min_width=320):
                node = gr.Textbox(visible=False)
                links = link_html("", elem_id="node-links")
                page = gr.Markdown(w("browse.pick"), latex_delimiters=LATEX,
                                   elem_id="note")
                gr.HTML("", js_on_load=SHOW_NOTE_JS, padding=False, elem_id="note-scroll")
    tab = BrowseTab(page, links, tree, node)

    def on_click(evt: gr.EventData):
        return open_node(tutor, clicked_id(evt))

    goto.submit(lambda text: go_to(tutor, text), goto, tab.outputs, api_name="browse", concurrency_limit=None)
    for src in (tree, links):
        src.click(on_click, None, tab.outputs, api_visibility="private", concurrency_limit=None)
    return tab


# at phone width the note is below the tree: bring the start of a newly opened note into view
# (review 11); on a laptop it sits beside the tree, on screen, and nothing moves
SHOW_NOTE_JS = show_when_new_js("#note", "h1")
