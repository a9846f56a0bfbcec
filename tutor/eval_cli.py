"""`tutor eval`: run an eval set against the configured tutor and print / write the metrics
(DESIGN.md §4). Logic lives in tutor/evaluation.py and tutor/eval_report.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_cmd(
        set_path: Path = typer.Option(..., "--set", help="Eval set, JSON lines (DESIGN.md §4), e.g. evals/sets/retrieval_ch1-4.jsonl."),
        as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
        k: int = typer.Option(3, "--k", min=1, max=10, help="Cut-off for the list of misses (topic note not in the top k notes)."),
        answers: bool = typer.Option(False, "--answers", help="Also answer every question with the LLM and score the answers (slow: seconds per question)."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="With --answers: answer only this many questions, spread evenly over the set."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write report.json, report.md, report.png and report.html into this folder."),
    ):
        """Retrieval metrics (hit@1/3/5, MRR, nDCG@5 per language), out-of-scope handling and threshold calibration; with --answers, answer metrics."""
        from .config import Settings
        from .eval_report import summary_lines, write
        from .evaluation import EvalSet, run
        from .errors import TutorError
        from .tutor import build_tutor

        if limit and not answers:
            raise TutorError("--limit only applies to answers; add --answers, or drop --limit (retrieval always runs on every question)")
        t = build_tutor(Settings())
        items = EvalSet.load(set_path, known_ids={n.id for n in t.corpus.outline.nodes})
        bar = None
        if answers and not as_json:
            from tqdm import tqdm

            n = len(items) if not limit else min(limit, len(items))
            bar = tqdm(total=n, unit="question", desc="answering", file=sys.stderr)
        rep = run(t, items, k=k, answers=answers, limit=limit, progress=bar.update if bar else None)
        if bar:
            bar.close()
        rep["set"] = str(set_path)
        if out:
            rep["written"] = [str(p) for p in write(rep, out, set_path.name)]
        if as_json:
            sys.stdout.write(json.dumps(rep, ensure_ascii=False, indent=2) + "\n")
            return
        for line in summary_lines(rep):
            typer.echo(line)
        if out:
            typer.echo(f"report written to {out}/report.md (and .json, .html, .png)")
