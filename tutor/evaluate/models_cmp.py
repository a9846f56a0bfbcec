"""`tutor eval --answers --model GGUF [--model GGUF …]`: other GGUF models answer the same
questions through the same Tutor (same index, embedders, prompts, answer check), one Tutor per
model, scored with the same answer metrics (answer_metrics.py). Each model gets the answer mode
`auto` resolves for it (trust/policy.py): an unmeasured model is `checked`, so what is scored
is what a learner would see — its own text when it passes the answer check, the quoted notes
when it does not (the table's guard column counts which). Every model is loaded before the
first question, so a damaged file fails at once; they stay loaded for the run (memory: the sum).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

# report.md columns: what differs between models (retrieval is the same for all)
KEYS = ("answered_in_scope", "key_point_recall", "answer_similarity", "citation_precision", "faithfulness", "lang_match",
        "judge_correct")


def load(paths: list[Path], tutor) -> list:
    """One Tutor per GGUF path, sharing `tutor`'s embedders (the index is opened per Tutor).
    Raises ModelMissing / ModelInvalid (one line) for a path that is not a GGUF file, before any run."""
    from tutor.errors import TutorError
    from tutor.evaluate.cmmlu import check_model_paths
    from tutor.tutor import build_tutor

    checked = check_model_paths(paths, tutor.settings)  # every path's header checked before any model loads
    seen = set()
    for p in checked:
        if p.resolve() in seen:
            raise TutorError(f"--model {p} is given twice; give each model once")
        seen.add(p.resolve())
    out = []
    for p in checked:
        settings = tutor.settings.model_copy(update={"model_path": p, "llm_base_url": None})
        t = build_tutor(settings, embedder=tutor.embedder, multilingual=tutor.multilingual)
        t.llm  # loaded now: a truncated file fails before any question, not after the first model's run
        out.append(t)
    return out


def names(tutors: list) -> list[str]:
    """Report keys: each model's file stem, with its folder when two stems are the same."""
    stems = [t.llm.name for t in tutors]
    return [f"{t.settings.model_path.parent.name}/{n}" if stems.count(n) > 1 else n for t, n in zip(tutors, stems)]


def score(tutors: list, items, limit: int | None, embed: Callable[[list[str]], list[list[float]]],
          progress: Callable[[str, int], Callable[[int], None] | None] | None = None, judge=None) -> dict:
    """{model name (`names`): {"path", "mode", "overall"/"zh"/"en": aggregate(...), "rows"}} over
    `subset(items, limit)`; judge: the --judge Judge, which grades these answers too.
    progress(name, total) may return a per-item callback (a bar)."""
    from tutor.evaluate.answer_metrics import answer_all, answer_report
    from tutor.evaluate.evaluation import subset

    out = {}
    chosen = subset(items, limit)
    for t, name in zip(tutors, names(tutors)):
        tick = progress(name, len(chosen)) if progress else None
        asked = answer_all(t.ask, chosen, embed=embed, judge=judge, progress=tick)
        out[name] = {"path": str(t.settings.model_path), "mode": t.answer_mode(), **answer_report(asked)}
    return out


def markdown_lines(models: dict, shipped: dict | None) -> list[str]:
    """'Answers by model' table for report.md: the configured model's answers (`shipped`,
    report["answers"]) and each --model's, overall, with bootstrap 95% intervals."""
    def cell(m: dict, k: str) -> str:
        v, ci = m.get(k), m.get("ci", {}).get(k)
        return "—" if v is None else f"{v:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{v:.3f}"

    rows = ([(f"{shipped['model']} (configured)", shipped)] if shipped else []) + list(models.items())
    lines = ["", "Answers by model (the same questions; mode as `auto` resolves it per model):", "",
             "| model | mode | n | " + " | ".join(KEYS) + " | guard | total ms p50 |", "|---|---|---|" + "---|" * (len(KEYS) + 2)]
    for name, m in rows:
        o = m["overall"]
        guard = ", ".join(f"{k}:{v}" for k, v in o.get("guard", {}).items()) or "—"
        p50 = ((o.get("latency") or {}).get("total_ms") or {}).get("p50")
        lines.append(f"| {name} | {m.get('mode', '—')} | {o['n']} | " + " | ".join(cell(o, k) for k in KEYS)
                     + f" | {guard} | {'—' if p50 is None else round(p50)} |")
    return lines
