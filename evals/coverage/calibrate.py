"""Fit the coverage decision ("do the notes cover this question?") on the tuning sets.

    .venv/bin/python evals/coverage/calibrate.py          # fit, write tutor/trust/coverage_params.json + REPORT.md
    .venv/bin/python evals/coverage/calibrate.py --check  # score the shipped params on the tuning sets

Data: the tuning sets only (evals/sets/retrieval_ch1-4.jsonl, retrieval_ch1-4_heldout.jsonl,
tuning_coverage.jsonl, tuning_oos_extra.jsonl, tuning_colloquial.jsonl, tuning_scenarios.jsonl):
in-scope questions are "covered", out-of-scope ones are not. Not fitted on: tuning_oos_systems.jsonl
(session 44: 320 computing questions outside ML). Fitted with it, the model accepted 4 instead of 8
of rounds 27-30's 192 out-of-scope questions, but it refused in-conversation comparisons: "How
does it compare with BLIP?" after "What is CLIP?" fell from relevance 0.65 to 0.15 (review 28's
test); evals/sets/RETRIEVAL_NOTES.md. The blind sets are never read here. (Session 40 tried adding the seen blind rounds:
English refusals on later rounds fell, but the domain classifier then read short colloquial
Chinese questions as everyday talk and 7-9% of blind4_answers' Chinese questions were refused;
evals/sets/RETRIEVAL_NOTES.md.)

Two stages (tutor/trust/coverage.py):
1. domain classifier: logistic regression (scikit-learn, balanced classes, C = DOMAIN_C) on USE
   question vectors; positives also include every note's quiz questions, card fronts, key
   points and titles (the corpus itself). For stage 2 each tuning question gets an
   out-of-fold score (grouped 5-fold: no question is scored by a classifier fitted on it).
2. per language, logistic regression on each question's best coverage / USE / MiniLM (en)
   similarity among its first Settings.top_k hits, plus its domain score (and, English, the
   note concentration of its ranking: retrieve.note_concentration). The tutor decides
   on the best hit's relevance, so the threshold is chosen on that decision (the one that
   minimises the larger of the two error rates: answerable refused, out-of-scope accepted)
   and the bias shifted so that this threshold is 0.5 = `Settings.min_relevance`.
After both, at run time, the nearest-neighbour rule of tutor/trust/neighbours.py (its bank built by
evals/coverage/build_bank.py) may cap or raise the relevance; `score` and `decision` here are the
logistic model's alone.
Honesty check: stage 2 in grouped 5-fold cross-validation too (topic id for in-scope
questions, own id for out-of-scope ones), on the out-of-fold domain scores.
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tutor.config import Settings  # noqa: E402
from tutor.trust import neighbours  # noqa: E402
from tutor.trust.coverage import PARAMS_FILE, CoverageModel  # noqa: E402
from tutor.evaluate.evaluation import EvalSet  # noqa: E402
from tutor.rag.retrieve import CONCENTRATION_DEPTH, Retriever, note_concentration  # noqa: E402
from tutor.text import normalise_query  # noqa: E402
from tutor.tutor import build_tutor  # noqa: E402

HERE = Path(__file__).resolve().parent
SETS = ["retrieval_ch1-4.jsonl", "retrieval_ch1-4_heldout.jsonl", "tuning_coverage.jsonl", "tuning_oos_extra.jsonl",
        "tuning_colloquial.jsonl", "tuning_scenarios.jsonl"]
FEATURES = {"zh": ["known_coverage", "oov", "multilingual", "domain"],
            "en": ["known_coverage", "oov", "multilingual", "dense", "domain", "concentration"]}
DOMAIN_C = 3.0
FOLDS = 5


def corpus_positives(corpus) -> list[str]:
    """Texts that are in the outline's domain by construction: quiz questions, card fronts,
    key points, titles of every note."""
    out = []
    for n in corpus.notes.values():
        out += [t for q in n.meta.quiz for t in [getattr(q, "question", None) or getattr(q, "front", None)] if t]
        out += list(n.meta.key_points) + [n.meta.title, n.meta.title_en]
    return out


def question_vectors(tutor, questions: list[str]) -> list[list[float]]:
    """USE vectors of the questions as `Retriever.search` embeds them for the domain score
    (canonical case, colloquial words normalised: 为啥 → 为什么), so calibration and run time agree."""
    ret = tutor.retriever
    return tutor.multilingual.embeddings.embed_documents([normalise_query(ret.canonical_case(q)) for q in questions])


def collect(tutor) -> list[dict]:
    """One row per tuning question: lang, label (1 = in scope), group, per-hit feature dicts, USE vector."""
    # the shipped question bank ranks as at run time (its note vote, retrieve.with_neighbour_vote);
    # the relevance it sets is not read here (the features are)
    ret = Retriever(tutor.index, coverage=CoverageModel({}, None, "none", neighbours.load()))
    known = {n.id for n in tutor.corpus.outline.nodes}
    rows = []
    for f in SETS:
        items = EvalSet.load(ROOT / "evals" / "sets" / f, known)
        vecs = question_vectors(tutor, [it.question for it in items])
        for it, v in zip(items, vecs):
            hits = ret.search(it.question, k=tutor.settings.top_k)
            stats = ret.term_stats()
            oov = stats.oov(it.question)
            # as Retriever.search computes it: over the first CONCENTRATION_DEPTH chunks of the ranking
            first = ret.search(it.question, k=CONCENTRATION_DEPTH) if tutor.settings.top_k != CONCENTRATION_DEPTH else hits
            conc = note_concentration([h.chunk.id for h in first], tutor.index.chunks)
            feats = [{"coverage": h.coverage, "multilingual": h.multilingual or 0.0, "dense": h.dense or 0.0,
                      "known_coverage": stats.known_coverage(it.question, h.chunk.node_id), "oov": oov,
                      "concentration": conc} for h in hits]
            rows.append({"set": f, "id": it.id, "lang": it.lang, "y": 0 if it.out_of_scope else 1,
                         "group": it.id if it.out_of_scope else it.expected_ids[0], "hits": feats, "vec": v})
    return rows


def fit_domain(vecs: np.ndarray, y: np.ndarray, pos: np.ndarray) -> LogisticRegression:
    X = np.vstack([vecs, pos])
    yy = np.concatenate([y, np.ones(len(pos), dtype=int)])
    return LogisticRegression(C=DOMAIN_C, class_weight="balanced", max_iter=3000).fit(X, yy)


def add_domain(rows: list[dict], pos: np.ndarray) -> LogisticRegression:
    """Set each row's out-of-fold domain score (grouped k-fold); return the classifier fitted on all rows."""
    V = np.array([r["vec"] for r in rows])
    y = np.array([r["y"] for r in rows])
    groups = [r["group"] for r in rows]
    for tr, te in GroupKFold(n_splits=FOLDS).split(V, groups=groups):
        clf = fit_domain(V[tr], y[tr], pos)
        for i, sc in zip(te, clf.decision_function(V[te])):
            for h in rows[i]["hits"]:
                h["domain"] = float(sc)
            rows[i]["domain"] = float(sc)
    return fit_domain(V, y, pos)


def _z(p: dict, x: dict, names: list[str]) -> float:
    return p["bias"] + sum(p[n] * x[n] for n in names)


def decision(p: dict, row: dict, names: list[str]) -> float:
    """The tutor's decision score: the best hit's logistic relevance."""
    return max((1 / (1 + math.exp(-max(-60.0, min(60.0, _z(p, h, names))))) for h in row["hits"]), default=0.0)


def fit(rows: list[dict], lang: str) -> dict:
    names = FEATURES[lang]
    X = np.array([[max((h[n] for h in r["hits"]), default=r.get(n, 0.0)) for n in names] for r in rows])
    y = np.array([r["y"] for r in rows])
    lr = LogisticRegression(class_weight="balanced", C=10.0, max_iter=1000).fit(X, y)
    p = {"bias": float(lr.intercept_[0]), **{n: float(c) for n, c in zip(names, lr.coef_[0])}}
    # threshold on the real decision: minimise the larger error rate, then shift it to 0.5
    s = np.array([decision(p, r, names) for r in rows])
    best = min(np.unique(s), key=lambda t: (max(rates(s, y, t)), abs(t - 0.5)))
    p["bias"] -= math.log(best / (1 - best)) if 0 < best < 1 else 0.0
    return {k: round(v, 5) for k, v in p.items()}


def rates(scores: np.ndarray, y: np.ndarray, t: float) -> tuple[float, float]:
    """(share of in-scope refused, share of out-of-scope accepted) at threshold t."""
    ins, oos = scores[y == 1], scores[y == 0]
    return (float((ins < t).mean()) if len(ins) else 0.0, float((oos >= t).mean()) if len(oos) else 0.0)


def score(rows: list[dict], params: dict, threshold: float = 0.5) -> dict:
    out = {}
    for lang in ("zh", "en"):
        rs = [r for r in rows if r["lang"] == lang]
        s = np.array([decision(params[lang], r, FEATURES[lang]) for r in rs])
        y = np.array([r["y"] for r in rs])
        refused, accepted = rates(s, y, threshold)
        out[lang] = {"in_scope": int(y.sum()), "out_of_scope": int((y == 0).sum()),
                     "refused_answerable": round(refused, 4), "accepted_out_of_scope": round(accepted, 4)}
    return out


def cross_validate(rows: list[dict]) -> dict:
    """Grouped k-fold: refit stage 2 per language on k-1 folds, score the held-out fold at 0.5."""
    pred: dict[str, float] = {}
    for lang in ("zh", "en"):
        rs = [r for r in rows if r["lang"] == lang]
        groups = [r["group"] for r in rs]
        for tr, te in GroupKFold(n_splits=FOLDS).split(rs, groups=groups):
            p = fit([rs[i] for i in tr], lang)
            for i in te:
                pred[rs[i]["id"] + rs[i]["set"]] = decision(p, rs[i], FEATURES[lang])
    out = {}
    for lang in ("zh", "en"):
        rs = [r for r in rows if r["lang"] == lang]
        s = np.array([pred[r["id"] + r["set"]] for r in rs])
        y = np.array([r["y"] for r in rs])
        refused, accepted = rates(s, y, 0.5)
        out[lang] = {"refused_answerable": round(refused, 4), "accepted_out_of_scope": round(accepted, 4),
                     "misjudged": [r["id"] for r, sc in zip(rs, s) if (sc >= 0.5) != bool(r["y"])]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--cache", type=Path, help="collected rows: read from this pickle when it exists, else written to it "
                    "(it must come from the same code, index and SETS)")
    ap.add_argument("--features", help="experiment: features for both languages, comma-separated (MiniLM 'dense' is kept for English only); nothing is written")
    a = ap.parse_args()
    if a.features:
        names = a.features.split(",")
        FEATURES.update(zh=[n for n in names if n != "dense"], en=names)
    t0 = time.perf_counter()
    tutor = build_tutor(Settings())
    if a.cache and a.cache.is_file():
        with a.cache.open("rb") as f:
            rows, pos = pickle.load(f)
    else:
        rows = collect(tutor)
        pos = np.array(tutor.multilingual.embeddings.embed_documents(corpus_positives(tutor.corpus)))
        if a.cache:
            with a.cache.open("wb") as f:
                pickle.dump((rows, pos), f)
    if a.check:
        model = CoverageModel.load()
        for r in rows:
            dom = model.domain_score(r["vec"])
            for h in r["hits"]:
                h["domain"] = dom
        print(json.dumps(score(rows, model.params), indent=1))
        return
    clf = add_domain(rows, pos)
    params = {lang: fit([r for r in rows if r["lang"] == lang], lang) for lang in ("zh", "en")}
    cv = cross_validate(rows)
    if a.features:
        print(FEATURES, json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "misjudged"} for k, v in cv.items()}))
        return
    ins = score(rows, params)
    data = {"params": params, "domain": {"bias": round(float(clf.intercept_[0]), 6), "weights": [round(float(w), 6) for w in clf.coef_[0]]},
            "features": FEATURES, "threshold": 0.5, "fitted_on": SETS, "domain_positives": len(pos),
            "embedders": [tutor.embedder.name, tutor.multilingual.name if tutor.multilingual else None],
            "in_sample": ins, "cross_validated": {k: {kk: vv for kk, vv in v.items() if kk != "misjudged"} for k, v in cv.items()}}
    PARAMS_FILE.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    lines = ["# Coverage decision: calibration on the tuning sets", "",
             f"Produced by `evals/coverage/calibrate.py` in {time.perf_counter() - t0:.0f} s from {', '.join(SETS)} "
             "(tuning sets; the blind sets are not read). Parameters: tutor/trust/coverage_params.json.", "",
             "| lang | in scope | out of scope | refused answerable (in-sample) | accepted out-of-scope (in-sample) | "
             "refused answerable (grouped 5-fold CV) | accepted out-of-scope (grouped 5-fold CV) |", "|---|---|---|---|---|---|---|"]
    for lang in ("zh", "en"):
        i, c = ins[lang], cv[lang]
        lines.append(f"| {lang} | {i['in_scope']} | {i['out_of_scope']} | {i['refused_answerable']:.3f} | {i['accepted_out_of_scope']:.3f} | "
                     f"{c['refused_answerable']:.3f} | {c['accepted_out_of_scope']:.3f} |")
    lines += ["", "Logistic parameters (relevance = σ(bias + Σ weight·feature); 0.5 = the decision threshold):", "",
              "```json", json.dumps(params, indent=1), "```", ""]
    print("\n".join(lines))
    lines += ["Misjudged in cross-validation (ids):", ""] + [f"- {lang}: {', '.join(cv[lang]['misjudged'])}" for lang in ("zh", "en")] + [""]
    (HERE / "REPORT.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
