"""`tutor eval`: run an eval set against the configured tutor and print / write the metrics
(DESIGN.md §4). Logic lives in tutor/evaluate/evaluation.py and tutor/evaluate/eval_report.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_cmd(
        set_paths: list[Path] = typer.Option(..., "--set", help="Eval set, JSON lines (DESIGN.md §4), e.g. evals/sets/blind_ch1-4.jsonl; repeat --set to compare sets side by side (blind vs tuning)."),
        as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON (a list of reports for several sets)."),
        k: int = typer.Option(3, "--k", min=1, max=10, help="Cut-off for the list of misses (topic note not in the top k notes)."),
        answers: bool = typer.Option(False, "--answers", help="Also answer every question with the LLM and score the answers (slow: seconds per question)."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="With --answers: answer only this many questions, spread evenly over the set."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write report.json, report.md, report.png and report.html into this folder (one subfolder per set when there are several, plus summary.md)."),
    ):
        """Retrieval metrics (hit@1/3/5, MRR@10, nDCG@10 per language with bootstrap 95% intervals, per chapter), out-of-scope handling and threshold calibration; with --answers, answer metrics. Each set is labelled blind (hash in evals/sets/BLIND_SETS.md) or tuning (in-sample)."""
        from tutor.config import Settings
        from tutor.errors import TutorError
        from tutor.evaluate.eval_report import side_by_side, summary_lines, write
        from tutor.evaluate.evaluation import EvalSet, run, set_info
        from tutor.tutor import build_tutor

        if limit and not answers:
            raise TutorError("--limit only applies to answers; add --answers, or drop --limit (retrieval always runs on every question)")
        t = build_tutor(Settings())
        known = {n.id for n in t.corpus.outline.nodes}
        loaded = [(p, EvalSet.load(p, known_ids=known)) for p in set_paths]  # all sets validated before any run
        reports = []
        for set_path, items in loaded:
            bar = None
            if answers and not as_json:
                from tqdm import tqdm

                n = len(items) if not limit else min(limit, len(items))
                bar = tqdm(total=n, unit="question", desc=f"answering {set_path.name}", file=sys.stderr)
            rep = run(t, items, k=k, answers=answers, limit=limit, progress=bar.update if bar else None)
            if bar:
                bar.close()
            rep["set"] = str(set_path)
            rep["set_info"] = set_info(set_path)
            if out:
                dest = out if len(loaded) == 1 else out / set_path.stem
                rep["written"] = [str(p) for p in write(rep, dest, set_path.name)]
            reports.append(rep)
        if out and len(reports) > 1:
            out.mkdir(parents=True, exist_ok=True)
            (out / "summary.md").write_text("# Eval summary\n\n" + "\n".join(side_by_side(reports)) + "\n", encoding="utf-8")
        if as_json:
            sys.stdout.write(json.dumps(reports[0] if len(reports) == 1 else reports, ensure_ascii=False, indent=2) + "\n")
            return
        for rep in reports:
            for line in summary_lines(rep):
                typer.echo(line)
            typer.echo("")
        if len(reports) > 1:
            for line in side_by_side(reports):
                typer.echo(line)
        if out:
            typer.echo(f"report written to {out}/ (report.md, .json, .html, .png{', summary.md' if len(reports) > 1 else ''})")
