"""Run an eval set (DESIGN.md §4) against a `Tutor` and compute retrieval, coverage and
answer metrics. The eval is a thin client: it calls `Tutor.search` / `Tutor.ask` exactly as
the CLI and UI do, so what it measures is what a learner gets.

Retrieval is scored per note, not per chunk: one search with one hit per note (its best
chunk gives its rank, `tutor search` shows the same list), because a learner is helped by
the right note, not by a particular chunk of it. Standard definitions, binary relevance (a
node is relevant iff it is in `expected_ids`):
  hit@k   1 if a relevant node is among the first k nodes, else 0;
  MRR@10  1 / rank of the first relevant node within the first 10 (0 if none);
  nDCG@k  Σ_{i≤k} rel_i / log2(i+1), divided by the ideal value for min(|expected|, k)
          relevant nodes (Järvelin & Kekäläinen, TOIS 2002).
Every mean comes with a percentile-bootstrap 95% interval over items (`ci`), and per chapter
(the chapter of the first expected id) and language (`by_chapter`).
`topic_hit@k` asks the stricter question of issue 3: is the item's first expected id (its
topic note) itself among the first k nodes (what `tutor search -k 3` prints: one hit per
note); `search_top3` whether it is among the first three chunks (`tutor search -k 3
--all-chunks`, the chunks a RAG prompt would start with).

Coverage mirrors `Chat.stream`: the question counts as covered when `is_covered` holds for
the first `Settings.top_k` hits at `Settings.min_relevance`. `calibrate` sweeps that
threshold over the set to show the trade-off between answering in-scope questions and
refusing out-of-scope ones.

Answer metrics (with --answers): tutor/evaluate/answer_metrics.py; the optional LLM judge:
tutor/evaluate/judge.py.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from tutor.errors import TutorError
from tutor.rag import adapter
from tutor.rag.retrieve import Hit, is_covered

SEARCH_K = 10  # notes per ranking search (MRR@10, nDCG@10); ≤ 10 keeps the candidate pool (30) as in production
CUTOFFS = (1, 3, 5)
KEY_POINT_MATCH = 0.5  # a key point counts as covered when this share of its content tokens is in the answer


class EvalItem(BaseModel):
    """One line of an eval set."""

    model_config = ConfigDict(extra="forbid")
    id: str
    lang: Literal["zh", "en"]
    question: str
    expected_ids: list[str]
    reference: str = ""
    key_points: list[str] = []
    out_of_scope: bool = False
    history: list[str] = []  # a follow-up: the earlier user questions, oldest first (not scored themselves)

    @model_validator(mode="after")
    def _consistent(self) -> "EvalItem":
        if not self.question.strip():
            raise ValueError("question is empty")
        if self.out_of_scope and self.expected_ids:
            raise ValueError("an out_of_scope item must have expected_ids []")
        if not self.out_of_scope and not self.expected_ids:
            raise ValueError("an in-scope item needs at least one expected id")
        if any(not h.strip() for h in self.history):
            raise ValueError("history holds an empty question")
        return self


class EvalSet:
    """Loading and validating `evals/sets/*.jsonl`."""

    class Invalid(TutorError):
        """A malformed eval set; the message starts with `file:line:`."""

    @classmethod
    def load(cls, path: Path, known_ids: set[str] | None = None) -> list[EvalItem]:
        """Items of a JSONL eval set, in file order. known_ids: outline ids that expected_ids
        must come from. Raises EvalSet.Invalid naming file and line."""
        if not path.is_file():
            raise cls.Invalid(f"{path}: eval set not found; pass a .jsonl file such as evals/sets/retrieval_ch1-4.jsonl")
        items: list[EvalItem] = []
        seen: set[str] = set()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise cls.Invalid(f"{path}:1: not UTF-8; re-save the file as UTF-8") from None
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                item = EvalItem.model_validate(json.loads(line))
            except json.JSONDecodeError as e:
                raise cls.Invalid(f"{path}:{lineno}: not a JSON object ({e.msg}); write one object per line") from None
            except ValidationError as e:
                err = e.errors()[0]
                where = ".".join(str(x) for x in err["loc"]) or "line"
                raise cls.Invalid(f"{path}:{lineno}: {where}: {err['msg']}") from None
            if item.id in seen:
                raise cls.Invalid(f"{path}:{lineno}: duplicate item id {item.id!r}; ids must be unique")
            unknown = [i for i in item.expected_ids if known_ids is not None and i not in known_ids]
            if unknown:
                raise cls.Invalid(f"{path}:{lineno}: expected_ids {unknown} are not outline ids")
            seen.add(item.id)
            items.append(item)
        if not items:
            raise cls.Invalid(f"{path}: the eval set is empty; add one JSON object per line (DESIGN.md §4)")
        return items


# -- metrics ----------------------------------------------------------------------------------

def ranked_nodes(hits: list[Hit]) -> list[str]:
    """Distinct node ids of hits in rank order (a node's first hit gives its rank)."""
    out: list[str] = []
    for h in hits:
        if h.chunk.node_id not in out:
            out.append(h.chunk.node_id)
    return out


def hit_at(ranked: list[str], expected: list[str], k: int) -> float:
    return 1.0 if any(r in expected for r in ranked[:k]) else 0.0


def reciprocal_rank(ranked: list[str], expected: list[str]) -> float:
    return next((1.0 / i for i, r in enumerate(ranked, 1) if r in expected), 0.0)


def ndcg_at(ranked: list[str], expected: list[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 1) for i, r in enumerate(ranked[:k], 1) if r in expected)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(set(expected)), k) + 1))
    return dcg / ideal if ideal else 0.0


def reciprocal_rank_at(ranked: list[str], expected: list[str], k: int = 10) -> float:
    """MRR@k term: 1 / rank of the first relevant node within the first k, else 0."""
    return reciprocal_rank(ranked[:k], expected)


BOOTSTRAP_RESAMPLES = 2000


def bootstrap_ci(values: list[float], resamples: int = BOOTSTRAP_RESAMPLES, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap (Efron & Tibshirani 1993) (1 - alpha) interval of the mean of
    values, resampling items with replacement; fixed seed, so reports are reproducible.
    Returns (lo, hi); (nan, nan) for no values."""
    import numpy as np

    if not values:
        return float("nan"), float("nan")
    x = np.asarray(values, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
    means = x[idx].mean(axis=1)
    return float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))


def with_ci(values: list[float]) -> dict | None:
    """{"mean", "lo", "hi"} (bootstrap 95% interval), rounded to 4 places; None for no values."""
    if not values:
        return None
    lo, hi = bootstrap_ci(values)
    return {"mean": round(sum(values) / len(values), 4), "lo": round(lo, 4), "hi": round(hi, 4)}


def node_metrics(rows: list[tuple[list[str], list[str]]]) -> dict:
    """hit@1/3/5, MRR@10 and nDCG@10 over (ranked node ids, expected ids) pairs, each as
    {"mean", "lo", "hi"} with a bootstrap 95% interval; "n" = number of pairs."""
    m: dict = {"n": len(rows)}
    for k in CUTOFFS:
        m[f"hit@{k}"] = with_ci([hit_at(r, e, k) for r, e in rows])
    m["mrr@10"] = with_ci([reciprocal_rank_at(r, e, 10) for r, e in rows])
    m["ndcg@10"] = with_ci([ndcg_at(r, e, 10) for r, e in rows])
    return m


@dataclass
class Retrieved:
    """What one search returned for one item. ranked: node ids (best first); top3_chunks:
    node ids of the first three chunks; relevance: best relevance among the first top_k hits;
    ms: latency of the first search in ms."""

    id: str
    lang: str
    question: str
    expected_ids: list[str]
    out_of_scope: bool
    ranked: list[str]
    top3_chunks: list[str]
    relevance: float
    covered: bool
    ms: float
    query: str = ""  # what was searched: the question, or a follow-up's conversation query


def retrieve_all(search: Callable[..., list[Hit]], items: list[EvalItem], top_k: int, threshold: float,
                 progress: Callable[[int], None] | None = None,
                 query_of: Callable[[EvalItem], str] | None = None) -> list[Retrieved]:
    """Search every item twice: one hit per note (SEARCH_K notes) for the ranking, and the first
    top_k chunks for coverage and top3_chunks, exactly as Chat decides it.
    search(query, k, per_note) is `Tutor.search`; query_of(item): the text to search for (a
    follow-up's conversation query; default the question); progress(1) after each item."""
    out = []
    for it in items:
        t0 = time.perf_counter()
        query = query_of(it) if query_of else it.question
        hits = search(query, top_k, per_note=False)
        ms = (time.perf_counter() - t0) * 1000
        notes = search(query, SEARCH_K, per_note=True)
        out.append(Retrieved(it.id, it.lang, it.question, it.expected_ids, it.out_of_scope, ranked_nodes(notes),
                             [h.chunk.node_id for h in hits[:3]], max((h.relevance for h in hits), default=0.0),
                             is_covered(hits, threshold), round(ms, 1), query))
        if progress:
            progress(1)
    return out


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 4) if xs else None


def retrieval_metrics(rows: list[Retrieved]) -> dict:
    """Over in-scope rows, means in [0, 1]: hit@1/3/5, mrr@10, ndcg@10, topic_hit@1/3/5 and
    search_top3; "ci": metric → [lo, hi] bootstrap 95% interval of each mean."""
    rows = [r for r in rows if not r.out_of_scope]
    per = {f"hit@{k}": [hit_at(r.ranked, r.expected_ids, k) for r in rows] for k in CUTOFFS}
    per["mrr@10"] = [reciprocal_rank_at(r.ranked, r.expected_ids, 10) for r in rows]
    per["ndcg@10"] = [ndcg_at(r.ranked, r.expected_ids, 10) for r in rows]
    for k in CUTOFFS:
        per[f"topic_hit@{k}"] = [hit_at(r.ranked, r.expected_ids[:1], k) for r in rows]
    per["search_top3"] = [1.0 if r.expected_ids[0] in r.top3_chunks else 0.0 for r in rows]
    m: dict = {"n": len(rows), **{name: _mean(v) for name, v in per.items()}}
    m["ci"] = {name: [round(x, 4) for x in bootstrap_ci(per[name])] for name in ("hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10")} if rows else {}
    return m


def by_chapter(rows: list[Retrieved]) -> dict:
    """Chapter (of the first expected id) → language → {"n", "hit@3", "mrr@10"} over in-scope rows."""
    out: dict = {}
    for r in rows:
        if r.out_of_scope:
            continue
        out.setdefault(r.expected_ids[0].split(".")[0], {}).setdefault(r.lang, []).append(r)
    return {ch: {lang: {"n": len(rs), "hit@3": _mean([hit_at(r.ranked, r.expected_ids, 3) for r in rs]),
                        "mrr@10": _mean([reciprocal_rank_at(r.ranked, r.expected_ids, 10) for r in rs])}
                 for lang, rs in sorted(langs.items())}
            for ch, langs in sorted(out.items(), key=lambda kv: int(kv[0]))}


def set_info(path: Path) -> dict:
    """name, sha256 and kind of an eval set file: "blind" when evals/sets/BLIND_SETS.md records
    its hash (frozen before its first run), else "tuning" (in-sample: settings were chosen on it)."""
    import hashlib

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    registry = path.parent / "BLIND_SETS.md"
    blind = registry.is_file() and f"{digest}  {path.name}" in registry.read_text(encoding="utf-8")
    return {"name": path.name, "sha256": digest, "kind": "blind" if blind else "tuning"}


def coverage_metrics(rows: list[Retrieved], threshold: float) -> dict:
    """At one threshold: share of in-scope questions treated as covered, share of out-of-scope
    ones treated as not covered, their mean (balanced accuracy) and plain accuracy."""
    ins = [r.relevance >= threshold for r in rows if not r.out_of_scope]
    oos = [r.relevance < threshold for r in rows if r.out_of_scope]
    a = sum(ins) / len(ins) if ins else None
    b = sum(oos) / len(oos) if oos else None
    both = [x for x in (a, b) if x is not None]
    return {"threshold": round(threshold, 4), "in_scope": len(ins), "out_of_scope": len(oos),
            "in_scope_covered": None if a is None else round(a, 4), "out_of_scope_rejected": None if b is None else round(b, 4),
            "balanced_accuracy": round(sum(both) / len(both), 4) if both else None,
            "accuracy": round((sum(ins) + sum(oos)) / (len(ins) + len(oos)), 4) if ins or oos else None}


def calibrate(rows: list[Retrieved], step: float = 0.01) -> dict:
    """Sweep thresholds 0..1; best = highest balanced accuracy, ties broken by the middle of
    the best range (the largest margin on both sides). Returns the curve and the choice."""
    grid = [round(i * step, 4) for i in range(int(round(1 / step)) + 1)]
    curve = [coverage_metrics(rows, t) for t in grid]
    scores = [c["balanced_accuracy"] or 0.0 for c in curve]
    top = max(scores)
    best_ts = [t for t, s in zip(grid, scores) if s == top]
    chosen = statistics.median_low(best_ts)
    ins = sorted(r.relevance for r in rows if not r.out_of_scope)
    oos = sorted(r.relevance for r in rows if r.out_of_scope)
    return {"best_threshold": chosen, "best_range": [best_ts[0], best_ts[-1]], "best": coverage_metrics(rows, chosen),
            "in_scope_min_relevance": ins[0] if ins else None, "out_of_scope_max_relevance": oos[-1] if oos else None,
            "curve": curve}


def misses(rows: list[Retrieved], k: int) -> list[dict]:
    """In-scope items whose topic note (first expected id) is not among the first k nodes."""
    return [{"id": r.id, "question": r.question, "expected": r.expected_ids[0], "ranked": r.ranked[:max(k, 5)],
             "rank": (r.ranked.index(r.expected_ids[0]) + 1) if r.expected_ids[0] in r.ranked else None}
            for r in rows if not r.out_of_scope and r.expected_ids[0] not in r.ranked[:k]]


# -- answers ----------------------------------------------------------------------------------

# -- one run ----------------------------------------------------------------------------------

def subset(items: list[EvalItem], limit: int | None) -> list[EvalItem]:
    """Every item, or `limit` items spread evenly over the set (deterministic)."""
    if not limit or limit >= len(items):
        return items
    return [items[(i * len(items)) // limit] for i in range(limit)]


def run(tutor, items: list[EvalItem], k: int = 3, answers: bool = False, limit: int | None = None,
        progress: Callable[[int], None] | None = None, judge=None,
        retrieval_progress: Callable[[int], None] | None = None) -> dict:
    """The whole report as a JSON-able dict: settings, retrieval metrics (overall, zh, en),
    coverage at the configured threshold, calibration, misses at k, per-item rows and, with
    answers=True, answer metrics over `subset(items, limit)` (tutor/evaluate/answer_metrics.py;
    `judge`: an optional tutor.evaluate.judge.Judge). progress / retrieval_progress: called
    with 1 after each answered / retrieved item (progress bars)."""
    s = tutor.settings
    t0 = time.perf_counter()
    rows = retrieve_all(lambda q, n, per_note=False: tutor.search(q, k=n, per_note=per_note), items, s.top_k, s.min_relevance,
                        retrieval_progress, lambda it: tutor.conversation_query(it.question, it.history) if it.history else it.question)
    report = {
        "items": len(items), "k": k,
        "settings": {"top_k": s.top_k, "min_relevance": s.min_relevance, "embedding_model": tutor.embedder.name,
                     "multilingual_model": tutor.multilingual.name if tutor.multilingual else None,
                     "query_adapters": sorted(m for m in (adapter.info() or {}) if adapter.ENABLED),
                     "chunks": tutor.index.count()},
        "retrieval": {"overall": retrieval_metrics(rows),
                      **{lang: retrieval_metrics([r for r in rows if r.lang == lang]) for lang in ("zh", "en")}},
        "by_chapter": by_chapter(rows),
        "coverage": {"overall": coverage_metrics(rows, s.min_relevance),
                     **{lang: coverage_metrics([r for r in rows if r.lang == lang], s.min_relevance) for lang in ("zh", "en")}},
        "calibration": calibrate(rows),
        "misses": misses(rows, k),
        "retrieval_ms_median": round(statistics.median(r.ms for r in rows), 1),
        "rows": [asdict(r) for r in rows],
    }
    if answers:
        from tutor.evaluate.answer_metrics import answer_all, answer_report

        emb = tutor.multilingual or tutor.embedder  # USE scores Chinese and English alike; MiniLM is English-only
        asked = answer_all(tutor.ask, subset(items, limit), embed=emb.embeddings.embed_documents, judge=judge, progress=progress)
        # the answer mode says what was scored: quoted notes (quotes_first) or the model's checked answer
        report["answers"] = {"model": tutor.llm.name, "mode": tutor.answer_mode(), "similarity_model": emb.name,
                             "judge": getattr(judge, "name", None), **answer_report(asked)}
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report
