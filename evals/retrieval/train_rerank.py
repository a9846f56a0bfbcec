"""Fit the note reranker (tutor/rag/rerank.py) on seen blind rounds and report its cross-validated gain.

    TUTOR_HOME=… .venv/bin/python evals/retrieval/train_rerank.py            # CV report, then fit and write note_rerank.json
    TUTOR_HOME=… .venv/bin/python evals/retrieval/train_rerank.py --check    # CV report of the shipped model's features only

Data: the English in-scope questions of SEEN (blind rounds that were run and read; every label is
the writer's expected note). Each question is searched once (`compare.raw_rankings`, the four
rankings `Retriever.search` fuses) and fused as shipped without the reranker
(`compare.ranked_notes`); the first `CANDIDATES` notes are the examples, labelled 1 for an
expected note. Model: logistic regression (scikit-learn, L2, C = 1) on `rerank.note_features`.

Honesty: 5-fold GroupKFold by topic (a topic's questions from all rounds sit in one fold, so no
topic is in training and test at once); metrics are per question over its candidates (hit@1,
hit@3, MRR@10 of the first expected note; a question whose expected note is not among the
candidates counts as a miss in both columns). The figures are in-sample in the sense that these
rounds were read before; the headline is the next fresh blind round, run once on the fitted model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tutor.config import Settings  # noqa: E402
from tutor.evaluate.compare import ranked_notes, raw_rankings  # noqa: E402
from tutor.evaluate.evaluation import EvalSet  # noqa: E402
from tutor.rag import rerank  # noqa: E402
from tutor.rag.retrieve import COVERAGE_PRIOR, NOTE_EVIDENCE, SECTION_PRIOR, WEIGHTS  # noqa: E402
from tutor.tutor import build_tutor  # noqa: E402

SETS = Path(__file__).resolve().parents[1] / "sets"
SEEN = [f"blind{r}_{half}.jsonl" for r in (7, 8, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20) for half in ("ch1-8", "ch9-16")]
CANDIDATES = 20
FEATURES = ["fused", "place", "overview"] + [f"{r}_{k}" for r in rerank.RANKINGS for k in ("best", "n")]


def examples(tutor, lang: str = "en"):
    """(X, y, question index, topic, set name) over SEEN's in-scope questions of `lang`."""
    ret, chunks = tutor.retriever, tutor.index.chunks
    stats = ret.term_stats()
    known = {n.id for n in tutor.corpus.outline.nodes}
    X, y, qid, topic, where = [], [], [], [], []
    q = 0
    t0 = time.perf_counter()
    for name in SEEN:
        for it in EvalSet.load(SETS / name, known):
            if it.out_of_scope or it.lang != lang:
                continue
            raw = raw_rankings(ret, it.question)
            order = ranked_notes(raw, chunks, it.question, WEIGHTS, NOTE_EVIDENCE, COVERAGE_PRIOR, stats, SECTION_PRIOR)[:CANDIDATES]
            r = {k: v for k, v in raw.items() if k in rerank.RANKINGS}
            feats = rerank.note_features(order, r, chunks)
            for n in order:
                X.append([feats[n][f] for f in FEATURES])
                y.append(n in it.expected_ids)
                qid.append(q)
                topic.append(it.expected_ids[0])
                where.append(name)
            if not order:
                continue
            q += 1
        print(f"{name}: {q} questions, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return np.array(X), np.array(y), np.array(qid), np.array(topic), np.array(where)


def per_question(score, X, y, qid) -> dict[int, int]:
    """question index → 1-based place of its first expected note when its candidates are ordered
    as the product orders them (`rerank.reorder`: by `score`, a named overview keeping its place;
    99 when no candidate is expected)."""
    out = {}
    for q in np.unique(qid):
        m = np.flatnonzero(qid == q)
        order = [str(i) for i in m]  # candidates in fused order (examples are written in that order)
        feats = {str(i): dict(zip(FEATURES, X[i])) for i in m}
        new = rerank.reorder(order, feats, {str(i): score[i] for i in m})
        lab = [y[int(i)] for i in new]
        out[int(q)] = lab.index(True) + 1 if any(lab) else 99
    return out


def summary(places: dict[int, int]) -> dict[str, float]:
    n = len(places)
    return {"questions": n, "hit@1": round(sum(p == 1 for p in places.values()) / n, 4),
            "hit@3": round(sum(p <= 3 for p in places.values()) / n, 4),
            "mrr@10": round(sum(1 / p for p in places.values() if p <= 10) / n, 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true", help="report only; do not write note_rerank.json")
    a = ap.parse_args()
    tutor = build_tutor(Settings())
    X, y, qid, topic, where = examples(tutor)
    base = -X[:, FEATURES.index("place")]
    oof = np.zeros(len(y))
    for tr, te in GroupKFold(n_splits=5).split(X, y, groups=topic):
        oof[te] = LogisticRegression(C=1.0, max_iter=5000).fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
    before, after = per_question(base, X, y, qid), per_question(oof, X, y, qid)
    sets = {}
    for name in SEEN:
        qs = {int(q) for q in np.unique(qid[where == name])}
        sets[name] = {"before": summary({q: before[q] for q in qs}), "after": summary({q: after[q] for q in qs})}
    report = {"cv": {"before": summary(before), "after": summary(after), "folds": "GroupKFold(5) by topic"},
              "sets": sets}
    print(json.dumps(report["cv"], indent=1))
    up = sum(s["after"]["mrr@10"] > s["before"]["mrr@10"] for s in sets.values())
    down = sum(s["after"]["mrr@10"] < s["before"]["mrr@10"] for s in sets.values())
    print(f"sets with MRR@10 up / down: {up} / {down} of {len(sets)}")
    if a.check:
        return
    clf = LogisticRegression(C=1.0, max_iter=5000).fit(X, y)
    model = {"features": FEATURES, "coef": [round(float(c), 6) for c in clf.coef_[0]],
             "intercept": round(float(clf.intercept_[0]), 6), "candidates": CANDIDATES, "lang": "en",
             "trained_on": SEEN, "cv": report["cv"], "sets_mrr_up_down": [up, down]}
    rerank.PARAMS.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {rerank.PARAMS}", file=sys.stderr)


if __name__ == "__main__":
    main()
