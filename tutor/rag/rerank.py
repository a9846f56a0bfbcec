"""Note-level reranking of English questions: pointwise learning to rank (logistic regression).

Reciprocal rank fusion with k = 60 (Cormack et al. 2009) flattens ranks: a note that BM25 and
MiniLM both put first scores little more than one both put fifth, and an overview that every
ranking lists somewhere can stay on top. This stage re-orders the NOTE_CANDIDATES best notes of
the fused ranking (after the priors) by p = σ(w·x + b), where x are each note's features
(`note_features`): its place in the fused ranking, its best reciprocal rank 1/(r + 1) and its
number of chunks in each of the four rankings' candidates, and whether it is an overview.

Scores keep their scale: the notes are re-ordered, each takes the best-chunk score of the place
it moves to, and its other chunks keep their ratio to its best chunk; notes below the
candidates keep their scores, so their order and every threshold on scores are unchanged.

The weights (`note_rerank.json` beside this file) are fitted by
`evals/retrieval/train_rerank.py` on seen blind rounds (MiniLM's ranking as shipped, through the
query adapter of rag/adapter.py), where grouped cross-validation (no topic in both training and
test folds) measured the gain; Chinese questions are not reranked (no
gain there). RERANK_LANGS says which languages are.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

from tutor.text import is_joined_query

RERANK_LANGS = frozenset({"en"})
RANKINGS = ("dense", "multilingual", "bm25", "named")
DEPTH = 30  # the candidates of each ranking that count (Retriever.candidates)
PARAMS = Path(__file__).with_name("note_rerank.json")


def note_order(fused: dict[str, float], chunks) -> list[str]:
    """Node ids by their best chunk's fused score, best first (ties by chunk id, as search)."""
    out: list[str] = []
    seen: set[str] = set()
    for cid in sorted(fused, key=lambda c: (-fused[c], c)):
        n = chunks[cid].node_id
        if n not in seen:
            seen.add(n)
            out.append(n)
    return out


def note_features(order: list[str], rankings: dict[str, list[str]], chunks) -> dict[str, dict[str, float]]:
    """node id → feature name → value, for the nodes of `order` (the candidates, best first):
    "fused" 1/(place + 1) and "place" (0-based) in `order`; per ranking R of RANKINGS, "R_best" the
    best 1/(r + 1) of its chunks in R's first DEPTH (r from 0; 0 when absent) and "R_n" how many
    of its chunks are there; "overview" 1.0 for a chapter or section node."""
    feats = {n: {"fused": 1.0 / (i + 1), "place": float(i), "overview": float(n.count(".") < 2)}
             for i, n in enumerate(order)}
    for r in RANKINGS:
        for n in order:
            feats[n][f"{r}_best"] = 0.0
            feats[n][f"{r}_n"] = 0.0
        for rank, cid in enumerate(rankings.get(r, [])[:DEPTH]):
            f = feats.get(chunks[cid].node_id)
            if f is not None:
                f[f"{r}_best"] = max(f[f"{r}_best"], 1.0 / (rank + 1))
                f[f"{r}_n"] += 1.0
    return feats


@functools.lru_cache(maxsize=1)
def params() -> dict:
    """The fitted model: {"features": [...], "coef": [...], "intercept": float, "candidates": int, ...}."""
    return json.loads(PARAMS.read_text(encoding="utf-8"))


def score(feats: dict[str, float], model: dict) -> float:
    """p in [0, 1]: σ(w·x + b)."""
    z = model["intercept"] + sum(w * feats[name] for name, w in zip(model["features"], model["coef"], strict=True))
    return 1.0 / (1.0 + math.exp(-z))


def reorder(order: list[str], feats: dict[str, dict[str, float]], p: dict[str, float]) -> list[str]:
    """`order` re-sorted by p (node id → score, best first; ties keep their order), except that a
    note the question names (feature named_best > 0) keeps its place (see `rerank`)."""
    pinned = {i for i, n in enumerate(order) if feats[n]["named_best"] > 0}
    movers = iter(sorted((n for i, n in enumerate(order) if i not in pinned), key=lambda n: (-p[n], order.index(n))))
    return [order[i] if i in pinned else next(movers) for i in range(len(order))]


def applies(query: str, lang: str) -> bool:
    """Whether a question's notes are reranked: its language is one of RERANK_LANGS and it is one
    question, not a conversation's joined query ("earlier question\nthis one", rag/followup.py),
    whose scores the follow-up rules weigh against the question's own."""
    return lang in RERANK_LANGS and not is_joined_query(query)


def rerank(fused: dict[str, float], rankings: dict[str, list[str]], chunks, model: dict | None = None) -> dict[str, float]:
    """Chunk id → score with the first `candidates` notes re-ordered by `score` (module doc). A note
    the question names (in the "named" ranking) keeps its place: the model learned from blind
    questions, few of which name their topic, so it weighs a name little ("What is Bayesian
    optimization when tuning hyperparameters?" put grid search first), and from questions about
    topics only, so it ranks every overview low ("Why is it hard to scale model parallelism?"
    names section 8.2)."""
    model = model or params()
    order = note_order(fused, chunks)[:model["candidates"]]
    if len(order) < 2:
        return fused
    feats = note_features(order, rankings, chunks)
    return with_note_order(fused, chunks, order, reorder(order, feats, {n: score(feats[n], model) for n in order}))


def with_note_order(fused: dict[str, float], chunks, order: list[str], new: list[str]) -> dict[str, float]:
    """Chunk id → score with the notes of `order` (a prefix of `note_order(fused)`) re-ordered as
    `new` (the same notes): each note takes the best-chunk score of the place it moves to and its
    other chunks keep their ratio to its best chunk; other notes keep their scores."""
    best: dict[str, float] = {}
    keep = set(order)
    for cid, sc in fused.items():
        n = chunks[cid].node_id
        if n in keep and sc > best.get(n, -1.0):
            best[n] = sc
    place = {n: best[order[i]] for i, n in enumerate(new)}  # the best score of the place each moves to
    return {cid: (sc * place[chunks[cid].node_id] / best[chunks[cid].node_id] if chunks[cid].node_id in place and best[chunks[cid].node_id] else sc)
            for cid, sc in fused.items()}
