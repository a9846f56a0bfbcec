"""Layout and wiring of the 进度 Progress tab. Handlers live in progress.py."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from tutor.wording import label, w

from . import progress
from .widgets import link_html, scroll_hint


@dataclass
class ProgressTab:
    links: list[gr.HTML]  # heatmap and path: data-id links → Browse
    refresh: gr.Button
    tab: gr.Tab
    outputs: list
    show: object  # user → outputs (for the app's user picker)


def build(tutor, user: gr.Dropdown) -> ProgressTab:
    chart_dir = Path(tempfile.mkdtemp(prefix="tutor-charts-"))
    with gr.Tab(label("progress.tab"), id="progress") as tab:
        with gr.Row(elem_classes=["keep-row"]):
            due = gr.Markdown(elem_id="progress-due")
            refresh = gr.Button(label("progress.refresh"), elem_id="progress-refresh", min_width=80, scale=0)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                gr.Markdown(f"#### {label('progress.by_chapter')}")
                chart = gr.Image(type="filepath", show_label=False, elem_id="progress-chart", buttons=["download"])
                # phone width: the chart's figures as HTML bars instead of the shrunken PNG (ui/style.py)
                bars = link_html("", elem_id="progress-bars")
                notice = gr.Markdown(elem_id="progress-notice")
            with gr.Column(scale=2, min_width=280):
                gr.Markdown(f"#### {label('progress.next_topics')}")
                path = link_html("", elem_id="progress-path")
        gr.Markdown(f"#### {label('progress.by_section')}")
        # how the colour is made: one Good answer left a section red with no word why (review 16)
        gr.Markdown(f"<small>{w('progress.legend')}</small>", elem_id="progress-legend")
        heat = link_html("", elem_id="progress-heatmap")
        gr.Markdown(f"#### {label('progress.history')}\n{scroll_hint()}")
        history = gr.Dataframe(headers=progress.HISTORY_COLUMNS, interactive=False, elem_id="progress-history", wrap=True)

    def show(u):
        v = progress.overview(tutor, u, chart_dir=chart_dir)
        notes = [f"<small>{v.self_rated}</small>"] * bool(v.self_rated) + [f"⚠ {n}" for n in v.notices]
        return (v.due, v.chart, "  \n".join(notes), v.path, v.heatmap,
                v.history or [[""] * len(progress.HISTORY_COLUMNS)], v.bars)

    outputs = [due, chart, notice, path, heat, history, bars]  # bars last: the API's outputs keep their places
    refresh.click(show, user, outputs, api_name="progress", concurrency_limit=None)
    tab.select(show, user, outputs, api_visibility="private", concurrency_limit=None)
    return ProgressTab([path, heat, bars], refresh, tab, outputs, show)
