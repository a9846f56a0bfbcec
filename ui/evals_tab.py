"""Layout and handler of the 评测 Evals tab: the latest `tutor eval` run (run folders from
tutor/evaluate/eval_runs.py), with its set kind (blind, or tuning = in-sample), start time
and duration, its PNG figures and report.md rendered.

Read-only: the tab never starts an eval (minutes of CPU, and the model lock). No run yet, or
a run that cannot be read, gives a notice in both languages naming the command to run,
never a traceback. The figures go into the page inline (data: URIs) at their own aspect
ratio: Gradio serves files only from its cache and allowed folders, and the run folder may
lie outside them; a gallery would crop the wide figures into square thumbnails.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from tutor.evaluate import eval_runs
from tutor.wording import label, text, w

COMMAND = "`tutor eval --set evals/sets/blind3_ch1-8.jsonl --set evals/sets/blind3_ch9-16.jsonl --answers`"  # the headline blind sets
FIGURES = ["report.png", "chapters.png", "latency.png", "reliability.png"]  # the order they are shown in
KIND = {"blind": "evals.kind.blind", "tuning": "evals.kind.tuning"}


@dataclass
class EvalsView:
    head: str  # Markdown: run name, time, sets with their kinds; or the notice
    figures: list[tuple[Path, str]]  # (PNG in the run folder, caption)
    report: str  # Markdown: the run's report.md (several sets: summary.md, then each report.md)


def latest_view(settings) -> EvalsView:
    """What the tab shows for the newest run under eval_runs.run_roots(settings)."""
    try:
        found = eval_runs.latest_run(eval_runs.run_roots(settings))
    except OSError as e:
        return EvalsView(w("evals.unreadable", run="", why=e.strerror or str(e), command=COMMAND), [], "")
    if not found:
        return EvalsView(w("evals.none", command=COMMAND), [], "")
    run_dir, man = found
    try:
        return _view(run_dir, man)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:  # a damaged or half-written run folder
        return EvalsView(w("evals.unreadable", run=f"`{run_dir.name}`", why=e.__class__.__name__, command=COMMAND), [], "")


def _view(run_dir: Path, man: dict) -> EvalsView:
    started = str(man.get("started", "")).replace("T", " ").replace("Z", " UTC")
    head = [f"#### {label('evals.latest')}: `{run_dir.name}`", w("evals.started", time=started, seconds=man.get("duration_s", "?")), ""]
    reports, figures = [], []
    for s in man["sets"]:
        kind = text(KIND.get(s.get("kind"), "evals.kind.tuning"))
        set_name = s.get("name")
        head.append("- " + w("evals.set", name=f"`{set_name}`", kind=kind, items=s.get("items", "?")))
        folder = (run_dir / s.get("report", "report.json")).resolve().parent
        if run_dir.resolve() not in (folder, *folder.parents):
            raise ValueError(f"report path {s.get('report')!r} leaves the run folder")
        md = (folder / "report.md").read_text(encoding="utf-8")
        reports.append(md.split("\n## Figures", 1)[0])  # the figures are shown as images above
        for name in FIGURES:
            if (folder / name).is_file():
                figures.append((folder / name, f"{set_name} {name.removesuffix('.png')}"))
    if len(reports) > 1 and (run_dir / "summary.md").is_file():  # several sets: side by side first
        reports.insert(0, (run_dir / "summary.md").read_text(encoding="utf-8"))
    return EvalsView("\n".join(head), figures, "\n\n---\n\n".join(reports))


@dataclass
class EvalsTab:
    tab: gr.Tab
    refresh: gr.Button
    outputs: list
    show: object  # () → outputs


def figures_html(figures: list[tuple[Path, str]]) -> str:
    """The figures as <figure> elements with inline PNGs, two per row where they fit (one at
    phone width). Raises OSError when a PNG cannot be read."""
    cells = [f"<figure style='margin:0'><img alt='{html.escape(cap, quote=True)}' style='width:100%;height:auto' "
             f"src='data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}'>"
             f"<figcaption><small>{html.escape(cap)}</small></figcaption></figure>" for path, cap in figures]
    return ("<div style='display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:12px'>"
            + "".join(cells) + "</div>") if cells else ""


def build(tutor) -> EvalsTab:
    with gr.Tab(label("evals.tab"), id="evals") as tab:
        with gr.Row(elem_classes=["keep-row"]):
            head = gr.Markdown(elem_id="evals-head")
            refresh = gr.Button(label("evals.refresh"), elem_id="evals-refresh", min_width=80, scale=0)
        gr.Markdown(f"#### {label('evals.figures')}")
        figures = gr.HTML(elem_id="evals-figures")
        # eval questions are plain text: a '$' in them is not a formula
        report = gr.Markdown(elem_id="evals-report", latex_delimiters=[])

    def show():
        v = latest_view(tutor.settings)
        try:
            pictures = figures_html(v.figures)
        except OSError as e:  # a figure removed since the run was listed
            pictures = f"⚠ {html.escape(e.__class__.__name__)}"
        return v.head, pictures, v.report

    outputs = [head, figures, report]
    refresh.click(show, None, outputs, api_visibility="private", concurrency_limit=None)
    tab.select(show, None, outputs, api_visibility="private", concurrency_limit=None)
    return EvalsTab(tab, refresh, outputs, show)
