"""Calibrate and measure the unsupported-sentence flagger (tutor/trust/check.py).

Data: evals/trust/labelled.jsonl — sentences written for this project from real notes of
chapters 1-4, each labelled 'supported' (the named notes state it) or 'unsupported' (they do
not: a contradiction, a fact the notes don't contain, off-topic text or garbage). The context
a sentence is checked against is every chunk of its notes, chunked exactly as the index does.

Procedure (per language): features (sim, tok, bigram) for every sentence; a grid search over
weights (w_sim + w_tok + w_bi = 1, steps of 0.1) and thresholds picks the rule with the best F1
for the positive class "unsupported" (= flagged). Precision/recall are reported twice:
5-fold cross-validated (rule chosen on 4 folds, applied to the 5th; the honest number) and
for the shipped THRESHOLDS on all items.

    .venv/bin/python evals/trust/calibrate.py            # report + suggested THRESHOLDS
    .venv/bin/python evals/trust/calibrate.py --json out.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tutor.trust.check import THRESHOLDS, Flagger, MIN_TOKENS, cosine_embed  # noqa: E402

HERE = Path(__file__).resolve().parent
FOLDS = 5


def load_items(path: Path = HERE / "labelled.jsonl") -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def note_contexts(embedder, corpus_dir: Path = ROOT / "corpus") -> dict[str, list[str]]:
    """node id → texts of its chunks (same chunking as the index)."""
    from tutor.rag.chunking import chunk_corpus
    from tutor.corpus import Corpus

    out: dict[str, list[str]] = {}
    for c in chunk_corpus(Corpus.load(corpus_dir), embedder.count_tokens, embedder.max_tokens):
        if c.kind != "outline":
            out.setdefault(c.node_id, []).append(c.text)
    return out


def featurize(items: list[dict], flagger: Flagger, contexts: dict[str, list[str]]) -> list[dict]:
    """Adds 'f' (features) to each item."""
    for it in items:
        ctx = [t for n in it["note_ids"] for t in contexts[n]]
        it["f"] = flagger.features([it["sentence"]], ctx)[0]
    return items


def score(f: dict, w: tuple[float, float, float]) -> float:
    return w[0] * f["sim"] + w[1] * f["tok"] + w[2] * f["bigram"]


def flagged(it: dict, w, t: float) -> bool:
    return it["f"]["n_tokens"] >= MIN_TOKENS and score(it["f"], w) < t


def prf(items: list[dict], preds: list[bool]) -> dict:
    tp = sum(p and it["label"] == "unsupported" for it, p in zip(items, preds))
    fp = sum(p and it["label"] == "supported" for it, p in zip(items, preds))
    fn = sum((not p) and it["label"] == "unsupported" for it, p in zip(items, preds))
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"n": len(items), "tp": tp, "fp": fp, "fn": fn, "precision": round(prec, 3), "recall": round(rec, 3), "f1": round(f1, 3)}


def weights_grid() -> list[tuple[float, float, float]]:
    out = []
    for a in range(11):
        for b in range(11 - a):
            out.append((a / 10, b / 10, (10 - a - b) / 10))
    return out


def fit(items: list[dict]) -> tuple[tuple[float, float, float], float, dict]:
    """Best (weights, threshold) by F1 of 'unsupported'; ties: higher precision, then simpler."""
    best = None
    for w in weights_grid():
        scores = sorted({round(score(it["f"], w), 4) for it in items})
        cands = [(a + b) / 2 for a, b in zip(scores, scores[1:])] + [scores[-1] + 1e-4]
        for t in cands:
            m = prf(items, [flagged(it, w, t) for it in items])
            key = (m["f1"], m["precision"], -w[0])
            if best is None or key > best[0]:
                best = (key, w, round(t, 4), m)
    return best[1], best[2], best[3]


def fold_of(it: dict) -> int:
    return int(hashlib.sha1(it["id"].encode()).hexdigest(), 16) % FOLDS


def cross_validate(items: list[dict]) -> dict:
    preds: dict[str, bool] = {}
    for k in range(FOLDS):
        train = [it for it in items if fold_of(it) != k]
        test = [it for it in items if fold_of(it) == k]
        w, t, _ = fit(train)
        for it in test:
            preds[it["id"]] = flagged(it, w, t)
    return prf(items, [preds[it["id"]] for it in items])


def by_kind(items: list[dict], preds: list[bool]) -> dict:
    out: dict[str, dict] = {}
    for it, p in zip(items, preds):
        d = out.setdefault(f'{it["label"]}/{it["kind"]}', {"n": 0, "flagged": 0})
        d["n"] += 1
        d["flagged"] += int(p)
    return dict(sorted(out.items()))


def shipped_predictions(items: list[dict]) -> list[bool]:
    preds = []
    for it in items:
        th = THRESHOLDS[it["lang"]]
        w = (th["w_sim"], th["w_tok"], th["w_bi"])
        preds.append(flagged(it, w, th["threshold"]))
    return preds


def run(embedder=None) -> dict:
    """Featurise, cross-validate, fit per language, and measure the shipped THRESHOLDS."""
    if embedder is None:
        from tutor.rag.embed import load_embedder

        embedder = load_embedder(None)
    items = featurize(load_items(), Flagger(cosine_embed(embedder)), note_contexts(embedder))
    report: dict = {"items": len(items), "by_lang": {}}
    for lang in ("zh", "en"):
        sub = [it for it in items if it["lang"] == lang]
        w, t, m = fit(sub)
        report["by_lang"][lang] = {
            "n": len(sub),
            "unsupported": sum(it["label"] == "unsupported" for it in sub),
            "fitted": {"w_sim": w[0], "w_tok": w[1], "w_bi": w[2], "threshold": t, "train": m},
            "cross_validated": cross_validate(sub),
            "shipped": prf(sub, shipped_predictions(sub)),
        }
    preds = shipped_predictions(items)
    report["shipped_all"] = prf(items, preds)
    report["shipped_by_kind"] = by_kind(items, preds)
    cv_preds = {}
    for lang in ("zh", "en"):
        sub = [it for it in items if it["lang"] == lang]
        for k in range(FOLDS):
            w, t, _ = fit([it for it in sub if fold_of(it) != k])
            for it in sub:
                if fold_of(it) == k:
                    cv_preds[it["id"]] = flagged(it, w, t)
    report["cross_validated_all"] = prf(items, [cv_preds[it["id"]] for it in items])
    report["features"] = [{k: it[k] for k in ("id", "lang", "label", "kind", "sentence")} | it["f"] for it in items]
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, help="write the full report (with per-item features) here")
    args = ap.parse_args()
    rep = run()
    if args.json:
        args.json.write_text(json.dumps(rep, ensure_ascii=False, indent=1), encoding="utf-8")
    for lang, r in rep["by_lang"].items():
        print(f"[{lang}] n={r['n']} unsupported={r['unsupported']}")
        print(f"  fitted      {r['fitted']}")
        print(f"  cross-val   {r['cross_validated']}")
        print(f"  shipped     {r['shipped']}")
    print("shipped all      ", rep["shipped_all"])
    print("cross-val all    ", rep["cross_validated_all"])
    for k, v in rep["shipped_by_kind"].items():
        print(f"  {k:28s} flagged {v['flagged']}/{v['n']}")
    print("suggested THRESHOLDS =", json.dumps({lang: {k: v for k, v in r["fitted"].items() if k != "train"}
                                               for lang, r in rep["by_lang"].items()}))


if __name__ == "__main__":
    main()
