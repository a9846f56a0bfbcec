"""`tutor eval`: run eval sets against the configured tutor, print the metrics and write the
run (DESIGN.md §4). Logic lives in tutor/evaluate/evaluation.py (metrics),
tutor/evaluate/eval_report.py (report files, plots) and tutor/evaluate/eval_runs.py (run
folders, manifest, diff against the previous run).

Where a run goes: `--out DIR` when given; otherwise a new folder
`<runs>/<UTC timestamp>-<label>/`, where <runs> is evals/reports/runs/ of the repository when
the tutor runs from a source checkout, else $TUTOR_HOME/evals/runs/ (eval_runs.runs_root).
Every run is compared with the newest earlier run of the same set (same sha256) found there.
Progress bars go to stderr, and never with --json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

RUNS_HELP = ("Without --out the run is written to a new folder evals/reports/runs/<UTC time>-<label>/ of the source "
             "checkout (or $TUTOR_HOME/evals/runs/ for an installed tutor)")


def register(app: typer.Typer) -> None:
    @app.command("eval", help=(
        "Retrieval metrics (hit@1/3/5, MRR@10, nDCG@10 per language with bootstrap 95% intervals, per chapter), "
        "out-of-scope handling, threshold calibration and the reliability of the coverage decision; with --answers, "
        "answer metrics. Each set is labelled blind (hash in evals/sets/BLIND_SETS.md) or tuning (in-sample). "
        f"{RUNS_HELP}: report.md/.json/.html, PNG plots, manifest.json (model and set hashes, settings, git commit, "
        "command, times) and the changes since the previous run of the same set."))
    def eval_cmd(
        set_paths: list[Path] = typer.Option(..., "--set", help="Eval set, JSON lines (DESIGN.md §4), e.g. evals/sets/blind_ch1-4.jsonl; repeat --set to compare sets side by side (blind vs tuning)."),
        as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON (a list of reports for several sets); no progress bars."),
        k: int = typer.Option(3, "--k", min=1, max=10, help="Cut-off for the list of misses (topic note not in the top k notes)."),
        answers: bool = typer.Option(False, "--answers", help="Also answer every question with the LLM and score the answers (slow: seconds per question)."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="With --answers: answer only this many questions, spread evenly over the set."),
        out: Optional[Path] = typer.Option(None, "--out", help=f"Write the run into this folder instead (one subfolder per set when there are several, plus summary.md). {RUNS_HELP}."),
        label: Optional[str] = typer.Option(None, "--label", help="Short label ending the run folder's name (default: the set file's stem, or stems joined by '+')."),
        compare_retrievers: bool = typer.Option(False, "--compare", help="Also score the retriever configurations side by side on the same questions: dense only (MiniLM), dense only (USE), BM25 only, the shipped hybrid."),
        baseline: bool = typer.Option(False, "--baseline", help="Also score the plain-LangChain baseline (RecursiveCharacterTextSplitter + HuggingFaceEmbeddings + Chroma + stuff prompt) on the same questions: its retrieval, and with --answers its answers (needs the extra 'baseline'; its index is built once under TUTOR_HOME/cache/baseline/)."),
        other_models: list[Path] = typer.Option([], "--model", help="With --answers: also answer the same questions with this GGUF model (repeat --model for more); each model's answers are scored like the configured model's, in the answer mode auto resolves for it (an unmeasured model: checked)."),
        judge: Optional[Path] = typer.Option(None, "--judge", help="With --answers: a GGUF model that also judges each answer against the reference (JSON verdict by grammar; failures counted, not averaged)."),
    ):
        from datetime import datetime, timezone

        from tutor.config import Settings
        from tutor.errors import TutorError
        from tutor.evaluate import eval_runs
        from tutor.evaluate.eval_report import reliability, side_by_side, summary_lines, write
        from tutor.evaluate.evaluation import EvalSet, run, set_info
        from tutor.tutor import build_tutor

        if limit and not answers:
            raise TutorError("--limit only applies to answers; add --answers, or drop --limit (retrieval always runs on every question)")
        if judge and not answers:
            raise TutorError("--judge only applies to answers; add --answers, or drop --judge")
        if other_models and not answers:
            raise TutorError("--model only applies to answers; add --answers, or drop --model")
        if out is not None and out.exists() and not out.is_dir():
            raise TutorError(f"--out {out} is a file; give a folder to write the run into")
        started = datetime.now(timezone.utc)
        commit = eval_runs.git_commit()  # the checkout as the run starts: files edited while it runs are not its input
        t = build_tutor(Settings())
        known = {n.id for n in t.corpus.outline.nodes}
        loaded = [(p, EvalSet.load(p, known_ids=known)) for p in set_paths]  # all sets validated before any run
        grader = None
        if judge:
            from tutor.evaluate.judge import Judge

            grader = Judge.load(judge, t.settings)
        extra = []
        if other_models:
            from tutor.evaluate import models_cmp

            extra = models_cmp.load(other_models, t)
        plain = None
        if baseline:
            from tutor.evaluate import baseline as bl

            plain = bl.PlainRAG.build(t.corpus, Path(t.settings.home) / "cache" / "baseline", t.embedder.embeddings,
                                      llm=bl.load_llm(t.settings) if answers else None)
        reports = []
        for set_path, items in loaded:
            info = set_info(set_path)  # hashed before the run: the manifest names the set that was run
            bars = _bars(set_path.name, len(items), min(limit or len(items), len(items)) if answers else 0, enabled=not as_json)
            rep = run(t, items, k=k, answers=answers, limit=limit, progress=bars[1].update if bars[1] else None,
                      retrieval_progress=bars[0].update if bars[0] else None, judge=grader)
            for b in bars:
                if b:
                    b.close()
            if compare_retrievers:
                from tutor.evaluate.compare import compare

                rep.setdefault("comparison", {})["retrievers"] = compare(t, items, queries={r["id"]: r["query"] for r in rep["rows"]})
            if extra:
                emb = t.multilingual or t.embedder
                bars_m: list = []

                def model_bar(name: str, total: int, _set: str = set_path.name):
                    bars_m.append(_Bar(f"{name} {_set}", total) if not as_json else None)
                    return bars_m[-1].update if bars_m[-1] else None

                rep.setdefault("comparison", {})["models"] = models_cmp.score(extra, items, limit, emb.embeddings.embed_documents,
                                                                              progress=model_bar, judge=grader)
                for b in bars_m:
                    if b:
                        b.close()
            if plain is not None:
                emb = t.multilingual or t.embedder
                bar = _Bar(f"baseline {set_path.name}", min(limit or len(items), len(items))) if answers and not as_json else None
                rep.setdefault("comparison", {})["baseline"] = bl.score(plain, items, embed=emb.embeddings.embed_documents,
                                                                        answers=answers, limit=limit,
                                                                        progress=bar.update if bar else None)
                if bar:
                    bar.close()
            rep["set"], rep["set_info"], rep["started"] = str(set_path), info, eval_runs.iso(started)
            rep["reliability"] = reliability(rep["rows"], t.settings.min_relevance)
            reports.append(rep)
        ended = datetime.now(timezone.utc)

        roots = eval_runs.run_roots(t.settings)
        try:
            dest = out if out is not None else eval_runs.new_run_dir(eval_runs.runs_root(t.settings), started,
                                                                     label or eval_runs.short_label(set_paths))
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TutorError(f"cannot create the run folder ({e.strerror or e}): pass --out DIR with a writable folder") from None
        for (set_path, _), rep in zip(loaded, reports):
            prev = eval_runs.previous_report(roots, rep["set_info"]["sha256"], rep["started"], exclude=dest)
            rep["diff"] = eval_runs.diff(rep, prev[2] if prev else None, prev[0].name if prev else None,
                                         prev[1].get("started") if prev else None)
            sub = dest if len(loaded) == 1 else dest / set_path.stem
            rep["report"] = (sub / "report.json").relative_to(dest).as_posix()
            rep["run_dir"] = str(dest)
            rep["written"] = [str(p) for p in write(rep, sub, set_path.name, plots=True)]
        if len(reports) > 1:
            (dest / "summary.md").write_text("# Eval summary\n\n" + "\n".join(side_by_side(reports)) + "\n", encoding="utf-8")
        cache = eval_runs.HashCache(Path(t.settings.home) / "cache" / "sha256.json")
        models = eval_runs.hash_models({**eval_runs.model_files(t.settings),
                                        **{f"llm_compared_{i}": x.settings.model_path for i, x in enumerate(extra, 1)},
                                        **({"judge": Path(judge)} if judge else {})}, cache)
        cache.save()
        first = reports[0]["settings"]
        man = eval_runs.manifest(t.settings, reports, started, ended, t.answer_mode(),
                                 {"embedding_model": first.get("embedding_model"), "multilingual_model": first.get("multilingual_model")},
                                 models, argv=["tutor", *sys.argv[1:]], commit=commit)
        (dest / "manifest.json").write_text(json.dumps(man, ensure_ascii=False, indent=2), encoding="utf-8")

        if as_json:
            sys.stdout.write(json.dumps(reports[0] if len(reports) == 1 else reports, ensure_ascii=False, indent=2) + "\n")
            return
        for rep in reports:
            for line in summary_lines(rep):
                typer.echo(line)
            for name, m in rep.get("comparison", {}).get("models", {}).items():
                o = m["overall"]
                typer.echo(f"  --model {name} ({m['mode']}): " + ", ".join(
                    f"{k} {o[k]:.3f}" for k in models_cmp.KEYS if o.get(k) is not None) + f", guard {o.get('guard')}")
            typer.echo("")
        if len(reports) > 1:
            for line in side_by_side(reports):
                typer.echo(line)
        typer.echo(f"run written to {dest}/ (manifest.json, report.md, .json, .html, PNG plots{', summary.md' if len(reports) > 1 else ''})")


class _Bar:
    """A tqdm bar on stderr that appears on its first update and closes itself when full, so
    the answer bar starts below the finished retrieval bar (`run` takes both callbacks up front)."""

    def __init__(self, desc: str, total: int):
        self.desc, self.total, self.bar = desc, total, None

    def update(self, n: int = 1) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, unit="question", desc=self.desc, file=sys.stderr)
        self.bar.update(n)
        if self.bar.n >= self.total:
            self.close()

    def close(self) -> None:
        if self.bar is not None and not self.bar.disable:
            self.bar.close()


def _bars(name: str, n_retrieve: int, n_answer: int, enabled: bool) -> tuple:
    """(retrieval bar, answer bar), each a _Bar or None (disabled: --json; nothing to answer)."""
    if not enabled:
        return None, None
    return _Bar(f"retrieving {name}", n_retrieve), (_Bar(f"answering {name}", n_answer) if n_answer else None)
