"""`tutor eval-cmmlu`: the CMMLU external check (tutor/evaluate/cmmlu.py) from the command
line. Bad input (unknown subject, missing data, a bad GGUF path, --limit < 1) raises a
TutorError, which `tutor.cli.main` prints as one line and exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("eval-cmmlu")
    def eval_cmmlu(
        models: Optional[list[Path]] = typer.Option(None, "--model", help="GGUF file to evaluate; repeat --model to compare models side by side (default: the configured model, SmolLM2-135M-Instruct)."),
        limit: Optional[int] = typer.Option(None, "--limit", help="Only this many questions, spread evenly over the subjects (deterministic), for a quick run."),
        subjects: Optional[str] = typer.Option(None, "--subjects", help="Comma-separated subsets: machine_learning,computer_science (default: both)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write report.json, report.md and report.png into this folder."),
        as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
        data: Optional[Path] = typer.Option(None, "--data", help="Folder with the CMMLU CSV files (default ../shared/external/cmmlu beside the repository; see SOURCE.md there)."),
    ):
        """CMMLU (Li et al. 2023) multiple choice as an external check: one letter by constrained decoding (llama.cpp grammar, temperature 0), closed-book and with the tutor's retrieval, split by whether the outline covers the question, against the 25% random baseline."""
        from tutor.config import Settings
        from tutor.evaluate import cmmlu
        from tutor.evaluate.cmmlu_report import summary_lines, write
        from tutor.tutor import build_tutor

        # every input is checked before a model or the index loads
        cmmlu.spread([], limit)
        names = cmmlu.parse_subjects(subjects)
        data_dir = data or cmmlu.DEFAULT_DATA_DIR
        questions = cmmlu.spread(cmmlu.load(data_dir, names), limit)
        settings = Settings()
        paths = cmmlu.check_model_paths(models, settings)
        tutor = build_tutor(settings)

        def bar(desc: str, total: int):
            from tqdm import tqdm

            return tqdm(total=total, desc=desc, unit="question", file=sys.stderr)

        rep = cmmlu.run(tutor, questions, paths, data_dir, limit=limit, bar=bar)
        if out:
            rep["written"] = [str(p) for p in write(rep, out)]
        if as_json:
            sys.stdout.write(json.dumps(rep, ensure_ascii=False, indent=2) + "\n")
            return
        for line in summary_lines(rep):
            typer.echo(line)
        if out:
            typer.echo(f"report written to {out}/ (report.json, report.md, report.png)")
