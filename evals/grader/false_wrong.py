"""False "wrong" on labelled answers, and a coverage/similarity guard against it.

    .venv/bin/python evals/grader/false_wrong.py measure   # features of both sets → /tmp/fw/feats.pkl (embedder; slow)
    .venv/bin/python evals/grader/false_wrong.py tune      # tuning set only: out-of-fold verdicts, guard chosen by grouped CV
    .venv/bin/python evals/grader/false_wrong.py blind     # the test set, once, with the chosen guard

false "wrong": an answer labelled correct or partial graded wrong. The guard: an answer the
verdict model grades wrong whose coverage ≥ X or similarity ≥ Y becomes "check" instead.
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import calibrate as cal  # noqa: E402
from tutor.quiz.grading import Grader, GraderParams  # noqa: E402

CACHE = Path("/tmp/fw/feats.pkl")
GRID_X = [round(x, 2) for x in np.arange(0.2, 1.01, 0.05)] + [9.0]
GRID_Y = [round(y, 2) for y in np.arange(0.2, 1.01, 0.05)] + [9.0]


def measure():
    from tutor.corpus import Corpus
    from tutor.quiz.items import ItemBank
    from tutor.rag.embed import load_multilingual_embedder
    corpus = Corpus.load(cal.ROOT / "corpus")
    bank = ItemBank.build(corpus, {})
    emb = load_multilingual_embedder()
    grader = Grader.for_corpus(corpus, emb, GraderParams.load())
    out = {}
    for name, path in (("tune", cal.FIT_SET), ("blind", cal.TEST_SET)):  # (rounds 1-2, as measured in session 21)
        rows = cal.load_rows(path)
        feats, kps = cal.measure(rows, grader, bank)
        out[name] = (rows, feats, kps)
    CACHE.write_bytes(pickle.dumps(out))


def grades(feats, kps, params):
    g = Grader.__new__(Grader)
    g.params = params
    return [g.decide(f, k) for f, k in zip(feats, kps)]


def guarded(gr, X, Y):
    """verdicts with the guard: a model 'wrong' (not a rule's) with coverage ≥ X or similarity ≥ Y → check."""
    out = []
    for r in gr:
        rule = any(fl in r.flags for fl in ("empty", "copied_question", "too_short", "other_item", "unrelated"))
        if r.verdict == "wrong" and not rule and (r.coverage >= X or r.similarity >= Y):
            out.append("check")
        else:
            out.append(r.verdict)
    return out


def rates(labels, preds):
    lab, pr = np.array(labels), np.array(preds)
    cp = np.isin(lab, ["correct", "partial"])
    w = lab == "wrong"
    return {"false_wrong": int((pr[cp] == "wrong").sum()), "n_right_or_partial": int(cp.sum()),
            "false_wrong_correct": int((pr[lab == "correct"] == "wrong").sum()), "n_correct": int((lab == "correct").sum()),
            "false_wrong_partial": int((pr[lab == "partial"] == "wrong").sum()), "n_partial": int((lab == "partial").sum()),
            "wrong_kept_wrong": int((pr[w] == "wrong").sum()), "n_wrong": int(w.sum())}


def wilson(k, n, z=1.96):
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def objective(labels, base, new, lam):
    """false wrongs removed minus lam × truly wrong answers turned from wrong into check."""
    lab = np.array(labels)
    b, n = np.array(base), np.array(new)
    changed = (b == "wrong") & (n == "check")
    gain = (changed & np.isin(lab, ["correct", "partial"])).sum()
    loss = (changed & (lab == "wrong")).sum()
    return gain - lam * loss, gain, loss


def choose(gr, labels, lam):
    best = None
    for X in GRID_X:
        for Y in GRID_Y:
            s, gain, loss = objective(labels, [r.verdict for r in gr], guarded(gr, X, Y), lam)
            key = (float(s), -int(X < 9) - int(Y < 9), X + Y)  # ties: the higher thresholds (fewer changes)
            if best is None or key > best[0]:
                best = (key, X, Y, gain, loss)
    return best[1], best[2]


def main():
    cmd = sys.argv[1]
    if cmd == "measure":
        return measure()
    data = pickle.loads(CACHE.read_bytes())
    params = GraderParams.load()
    rows, feats, kps = data["tune"]
    labels, groups = [r["label"] for r in rows], [r["item_id"] for r in rows]
    if cmd == "tune":
        lam = float(sys.argv[2]) if len(sys.argv) > 2 else 0.25
        g = Grader.__new__(Grader)
        g.params = params
        # base verdicts out of fold: the verdict model refitted without each fold's items (as REPORT's CV)
        oof = Path("/tmp/fw/oof.pkl")
        if oof.is_file():
            base_gr = pickle.loads(oof.read_bytes())
        else:
            base_gr = [None] * len(rows)
            for tr, te in GroupKFold(n_splits=5).split(feats, labels, groups):
                p = cal.fit(g, [feats[i] for i in tr], [kps[i] for i in tr], [labels[i] for i in tr], [groups[i] for i in tr])
                for i, r in zip(te, grades([feats[i] for i in te], [kps[i] for i in te], p)):
                    base_gr[i] = r
            oof.write_bytes(pickle.dumps(base_gr))
        ins = grades(feats, kps, params)
        for nm, gr in (("in-sample (shipped model)", ins), ("out-of-fold base", base_gr)):
            print(nm, rates(labels, [r.verdict for r in gr]))
        # the false wrongs and the truly wrong, by coverage / similarity
        for r, row in zip(base_gr, rows):
            if r.verdict == "wrong" and row["label"] != "wrong":
                print("  FW", row["id"], row["label"], row["kind"], r.coverage, r.similarity, r.flags, row["answer"][:60])
        wr = [(r.coverage, r.similarity) for r, row in zip(base_gr, rows) if r.verdict == "wrong" and row["label"] == "wrong"]
        wr = np.array(wr)
        print("truly wrong graded wrong: n", len(wr), "coverage quantiles", np.quantile(wr[:, 0], [.5, .75, .9, .95]).round(2),
              "similarity", np.quantile(wr[:, 1], [.5, .75, .9, .95]).round(2))
        # guard chosen by grouped CV on out-of-fold verdicts: choose X, Y on 4 folds of items, apply to the 5th
        preds = [""] * len(rows)
        chosen = []
        for tr, te in GroupKFold(n_splits=5).split(feats, labels, groups):
            X, Y = choose([base_gr[i] for i in tr], [labels[i] for i in tr], lam)
            chosen.append((X, Y))
            for i, v in zip(te, guarded([base_gr[i] for i in te], X, Y)):
                preds[i] = v
        print("lam", lam, "per-fold X,Y", chosen)
        b = rates(labels, [r.verdict for r in base_gr])
        a = rates(labels, preds)
        print("CV before", b)
        print("CV after ", a)
        X, Y = choose(base_gr, labels, lam)
        print("chosen on all tuning (out-of-fold verdicts):", X, Y, "in-sample on tuning:", rates(labels, guarded(base_gr, X, Y)),
              "shipped in-sample:", rates(labels, guarded(ins, X, Y)))
    if cmd == "blind":
        X, Y = float(sys.argv[2]), float(sys.argv[3])
        rows, feats, kps = data["blind"]
        labels = [r["label"] for r in rows]
        gr = grades(feats, kps, params)
        before, after = [r.verdict for r in gr], guarded(gr, X, Y)
        res = {"X": X, "Y": Y, "before": rates(labels, before), "after": rates(labels, after)}
        for k in ("before", "after"):
            d = res[k]
            d["false_wrong_ci"] = wilson(d["false_wrong"], d["n_right_or_partial"])
        lab = np.array(labels)
        ch = (np.array(before) == "wrong") & (np.array(after) == "check")
        res["wrong_to_check"] = int((ch & (lab == "wrong")).sum())
        res["wrong_to_check_ci"] = wilson(res["wrong_to_check"], int((lab == "wrong").sum()))
        res["changes_on_correct"] = {f"{b}->{a}": int(((np.array(before) == b) & (np.array(after) == a) & (lab == "correct")).sum())
                                     for b in cal.PRED for a in cal.PRED if b != a}
        res["changed"] = [(row["id"], row["label"], row["kind"], r.coverage, r.similarity, row["answer"][:50])
                          for row, r, c in zip(rows, gr, ch) if c]
        print(json.dumps(res, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
