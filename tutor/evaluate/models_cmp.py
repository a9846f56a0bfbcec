"""`tutor eval --answers --model GGUF [--model GGUF …]`: other GGUF models answer the same
questions through the same Tutor (same index, embedders, prompts, answer check), one Tutor per
model, scored with the same answer metrics (answer_metrics.py). Each model gets the answer mode
`auto` resolves for it (trust/policy.py): an unmeasured model is `checked`, so its own checked
answers are scored, not quotes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

# report.md columns: what differs between models (retrieval is the same for all)
KEYS = ("answered_in_scope", "key_point_recall", "answer_similarity", "citation_precision", "faithfulness", "lang_match")


def load(paths: list[Path], tutor) -> list:
    """One Tutor per GGUF path, sharing `tutor`'s embedders (the index is opened per Tutor).
    Raises ModelMissing / ModelInvalid (one line) for a path that is not a GGUF file, before any run."""
    from tutor.evaluate.cmmlu import check_model_paths
    from tutor.tutor import build_tutor

    out = []
    for p in check_model_paths(paths, tutor.settings):  # every path checked before any model loads
        settings = tutor.settings.model_copy(update={"model_path": p, "llm_base_url": None})
        out.append(build_tutor(settings, embedder=tutor.embedder, multilingual=tutor.multilingual))
    return out


def score(tutors: list, items, limit: int | None, embed: Callable[[list[str]], list[list[float]]],
          progress: Callable[[str, int], Callable[[int], None] | None] | None = None) -> dict:
    """{model name: {"path", "mode", "overall"/"zh"/"en": aggregate(...), "rows"}} over
    `subset(items, limit)`. progress(name, total) may return a per-item callback (a bar)."""
    from tutor.evaluate.answer_metrics import answer_all, answer_report
    from tutor.evaluate.evaluation import subset

    out = {}
    chosen = subset(items, limit)
    for t in tutors:
        name = t.llm.name
        tick = progress(name, len(chosen)) if progress else None
        asked = answer_all(t.ask, chosen, embed=embed, progress=tick)
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
