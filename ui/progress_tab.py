"""Layout and wiring of the 进度 Progress tab. Handlers live in progress.py."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from . import progress
from .widgets import link_html


@dataclass
class ProgressTab:
    links: list[gr.HTML]  # heatmap and path: data-id links → Browse
    refresh: gr.Button
    tab: gr.Tab
    outputs: list
    show: object  # user → outputs (for the app's user picker)


def build(tutor, user: gr.Dropdown) -> ProgressTab:
    chart_dir = Path(tempfile.mkdtemp(prefix="tutor-charts-"))
    with gr.Tab("进度 Progress", id="progress") as tab:
        with gr.Row(elem_classes=["keep-row"]):
            due = gr.Markdown(elem_id="progress-due")
            refresh = gr.Button("刷新 Refresh", elem_id="progress-refresh", min_width=80, scale=0)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                gr.Markdown("#### 各章掌握度 Mastery by chapter")
                chart = gr.Image(type="filepath", show_label=False, elem_id="progress-chart", buttons=["download"])
                notice = gr.Markdown(elem_id="progress-notice")
            with gr.Column(scale=2, min_width=280):
                gr.Markdown("#### 推荐下一步 Next topics")
                path = link_html("", elem_id="progress-path")
        gr.Markdown("#### 各节掌握度 Mastery by section <small>(红 low → 绿 high; 灰 grey: 无测验题 no quiz items)</small>")
        heat = link_html("", elem_id="progress-heatmap")
        gr.Markdown("#### 复习记录 Review history")
        history = gr.Dataframe(headers=progress.HISTORY_COLUMNS, interactive=False, elem_id="progress-history", wrap=True)

    def show(u):
        v = progress.overview(tutor, u, chart_dir=chart_dir)
        return (v.due, v.chart, "；".join(f"⚠ {n}" for n in v.notices), v.path, v.heatmap,
                v.history or [[""] * len(progress.HISTORY_COLUMNS)])

    outputs = [due, chart, notice, path, heat, history]
    refresh.click(show, user, outputs, api_name="progress", concurrency_limit=None)
    tab.select(show, user, outputs, api_visibility="private", concurrency_limit=None)
    return ProgressTab([path, heat], refresh, tab, outputs, show)
