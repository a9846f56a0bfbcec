"""Calibrate the short-answer grader on the labelled answers and report agreement.

    .venv/bin/python evals/grader/calibrate.py            # fit, write tutor/grader_params.json + REPORT.md
    .venv/bin/python evals/grader/calibrate.py --check    # evaluate the shipped params only

Data: evals/grader/answers.jsonl, one learner answer per line:
  {"id", "item_id", "note_id", "question", "lang": "zh"|"en", "kind",
   "label": "correct"|"partial"|"wrong", "answer"}
kind: correct, paraphrase (right answer in other words), partial, wrong, offtopic, empty,
copied (the question copied back). Labels are a teacher's, written against the real short
items of chapters 1-4.

Fitting: features are measured once with the real embedding model (grading.Grader.features);
a grid search over the grader's constants maximises correct-vs-not accuracy + 3-class
Cohen's κ (per language group: answers in the item's language, and cross-language
answers), with a hard constraint that no off-topic, copied or empty answer is graded correct
and a small penalty when one is graded partial.
Honesty check: 5-fold stratified cross-validation refits on 4/5 and scores the held-out 1/5;
both in-sample and cross-validated figures go in the report.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tutor.config import Settings  # noqa: E402
from tutor.corpus import Corpus  # noqa: E402
from tutor.embed import load_embedder  # noqa: E402
from tutor.grading import PARAMS_FILE, Grader, GraderParams, english_summary  # noqa: E402
from tutor.items import ItemBank  # noqa: E402

HERE = Path(__file__).resolve().parent
LABELS = ["correct", "partial", "wrong"]
GUARDED = ("offtopic", "copied", "empty")

GRID = dict(emb_lo=[0.2, 0.3, 0.4, 0.5], emb_span=[0.3, 0.4, 0.5], w_cov=[0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
            min_novelty=[0.45, 0.35, 0.25, 0.15])  # strictest first: ties keep the stronger copy guard
THRESH = np.round(np.arange(0.10, 0.96, 0.025), 3)


def load_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def resolve(row: dict, bank: ItemBank):
    """The item a labelled answer was written for: by id, else (the note's question was
    reworded since) the note's short item, which is the same question in new words."""
    if row["item_id"] in bank:
        return bank.get(row["item_id"])
    shorts = [i for i in bank.select(row["note_id"], ["short"]) if i.note_id == row["note_id"]]
    if not shorts:
        raise SystemExit(f"{row['id']}: note {row['note_id']} has no short item any more; relabel this answer")
    return shorts[0]


def measure(rows, grader: Grader, bank: ItemBank):
    feats, kps = [], []
    for r in rows:
        it = resolve(r, bank)
        note = bank.note(it)
        feats.append(grader.features(it.prompt, it.reference, list(it.key_points), r["answer"], english_summary(note.body)))
        kps.append(list(it.key_points))
    return feats, kps


def predict(grader: Grader, feats, kps, params: GraderParams) -> tuple[list[str], list[float]]:
    grader.params = params
    gs = [grader.decide(f, k) for f, k in zip(feats, kps)]
    return [g.verdict for g in gs], [g.score for g in gs]


def _kappa(y: np.ndarray, p: np.ndarray, k: int = 3) -> float:
    """Cohen's κ for integer labels 0..k-1 (numpy; the report uses sklearn's)."""
    po = float(np.mean(y == p))
    pe = float(sum(np.mean(y == c) * np.mean(p == c) for c in range(k)))
    return (po - pe) / (1 - pe) if pe < 1 else 0.0


def _arrays(feats):
    """Features as padded numpy arrays for the vectorised search (mirrors Grader.decide)."""
    K = max(len(f.kp_lex) for f in feats)
    lex = np.zeros((len(feats), K)); cos = np.zeros((len(feats), K)); mask = np.zeros((len(feats), K))
    for i, f in enumerate(feats):
        n = len(f.kp_lex)
        lex[i, :n], cos[i, :n], mask[i, :n] = f.kp_lex, f.kp_cos, 1
    g = lambda a: np.array([getattr(f, a) for f in feats], dtype=float)  # noqa: E731
    return dict(lex=lex, cos=cos, mask=mask, ref_cos=g("ref_cos"), ref_lex=g("ref_lex"), novelty=g("novelty"),
                empty=g("empty").astype(bool), cross=g("cross").astype(bool))


def _scores(A, idx, lo, span, w):
    m = lambda c: np.clip((c - lo) / span, 0, 1)  # noqa: E731
    strength = np.maximum(A["lex"][idx], m(A["cos"][idx])) * A["mask"][idx]
    cov = strength.sum(1) / np.maximum(A["mask"][idx].sum(1), 1)
    sim = np.maximum(m(A["ref_cos"][idx]), A["ref_lex"][idx])
    return np.clip(w * cov + (1 - w) * sim, 0, 1)


def _best_group(A, idx, y, guarded_kind, w, nov):
    """Best (objective, lo, hi, t_correct, t_partial) for one language group at fixed w, min_novelty."""
    if len(idx) == 0:
        return 0.0, 0.35, 0.75, 0.6, 0.3
    yg = y[idx]
    forced = A["empty"][idx] | (A["novelty"][idx] < nov)
    best = (-1e9, 0.35, 0.75, 0.6, 0.3)
    for lo, span in itertools.product(GRID["emb_lo"], GRID["emb_span"]):
        sc = _scores(A, idx, lo, span, w)
        for tc in THRESH:
            is_c = (sc >= tc) & ~forced
            leak = int(np.sum(is_c & guarded_kind[idx]))
            binary = float(np.mean(is_c == (yg == 0)))
            for tp in THRESH[THRESH < tc]:
                pred = np.where(is_c, 0, np.where((sc >= tp) & ~forced, 1, 2))
                # a teacher marks off-topic / copied / empty answers wrong, not partial
                soft = float(np.mean((pred != 2) & guarded_kind[idx]))
                obj = binary + _kappa(yg, pred) - 10.0 * leak - 0.5 * soft
                if obj > best[0] + 1e-9:
                    best = (obj, lo, lo + span, float(tc), float(tp))
    return best


def fit(grader: Grader, feats, kps, y, kinds, base: GraderParams) -> GraderParams:
    """Grid search (module doc): shared w_cov and min_novelty; each language group (same as
    the item / cross-language) gets its own embedding mapping and thresholds."""
    A = _arrays(feats)
    yi = np.array([LABELS.index(v) for v in y])
    guarded_kind = np.array([k in GUARDED for k in kinds])
    same, cross = np.where(~A["cross"])[0], np.where(A["cross"])[0]
    best, best_p = -1e9, base
    for w, nov in itertools.product(GRID["w_cov"], GRID["min_novelty"]):
        s = _best_group(A, same, yi, guarded_kind, w, nov)
        x = _best_group(A, cross, yi, guarded_kind, w, nov)
        total = (s[0] * len(same) + x[0] * len(cross)) / len(yi)
        if total > best + 1e-9:
            best = total
            best_p = replace(base, w_cov=w, min_novelty=nov, emb_lo=s[1], emb_hi=s[2], t_correct=s[3], t_partial=s[4],
                             x_emb_lo=x[1], x_emb_hi=x[2], x_t_correct=x[3], x_t_partial=x[4])
    return best_p


def metrics(y, pred, kinds, langs) -> dict:
    y, pred = list(y), list(pred)
    yb = ["correct" if v == "correct" else "not" for v in y]
    pb = ["correct" if v == "correct" else "not" for v in pred]
    out = {
        "n": len(y),
        "accuracy_3class": round(accuracy_score(y, pred), 3),
        "kappa_3class": round(cohen_kappa_score(y, pred, labels=LABELS), 3),
        "kappa_3class_quadratic": round(cohen_kappa_score([LABELS.index(v) for v in y], [LABELS.index(v) for v in pred], weights="quadratic"), 3),
        "accuracy_correct_vs_not": round(accuracy_score(yb, pb), 3),
        "kappa_correct_vs_not": round(cohen_kappa_score(yb, pb), 3),
        "guarded_graded_correct": sum(1 for p, k in zip(pred, kinds) if p == "correct" and k in GUARDED),
        "confusion": confusion_matrix(y, pred, labels=LABELS).tolist(),
    }
    for lang in sorted(set(langs)):
        idx = [i for i, l in enumerate(langs) if l == lang]
        out[f"accuracy_correct_vs_not_{lang}"] = round(accuracy_score([yb[i] for i in idx], [pb[i] for i in idx]), 3)
        out[f"n_{lang}"] = len(idx)
    by_kind = {}
    for k in sorted(set(kinds)):
        idx = [i for i, kk in enumerate(kinds) if kk == k]
        by_kind[k] = {"n": len(idx), "agree": sum(1 for i in idx if y[i] == pred[i]),
                      "graded_correct": sum(1 for i in idx if pred[i] == "correct")}
    out["by_kind"] = by_kind
    return out


def cross_validate(grader, feats, kps, y, kinds, base, folds=5, seed=0):
    pred = [None] * len(y)
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    strata = [f"{a}" for a in y]
    for tr, te in skf.split(np.zeros(len(y)), strata):
        p = fit(grader, [feats[i] for i in tr], [kps[i] for i in tr], [y[i] for i in tr], [kinds[i] for i in tr], base)
        v, _ = predict(grader, [feats[i] for i in te], [kps[i] for i in te], p)
        for i, vv in zip(te, v):
            pred[i] = vv
    return pred


def report_md(params: GraderParams, m_in: dict, m_cv: dict | None, rows, pred, scores, embedder: str, seconds: float) -> str:
    def line(name, key):
        cv = f" | {m_cv[key]}" if m_cv else ""
        return f"| {name} | {m_in[key]}{cv} |"

    head = "| metric | in-sample (fitted on all) | 5-fold cross-validated |" if m_cv else "| metric | shipped params |"
    sep = "|---|---|---|" if m_cv else "|---|---|"
    L = ["# Short-answer grader: agreement with teacher labels", "",
         f"Labelled set: `evals/grader/answers.jsonl`, {m_in['n']} learner answers ({m_in.get('n_zh', 0)} Chinese, "
         f"{m_in.get('n_en', 0)} English) to {len({r['item_id'] for r in rows})} short items of chapters 1-4. "
         f"Embedding model: {embedder}. Produced by `evals/grader/calibrate.py` in {seconds:.0f} s.", "",
         "Targets (issue 4): correct-vs-not accuracy ≥ 0.85; no off-topic or copied-question answer graded correct.", "",
         head, sep,
         line("accuracy, correct vs not", "accuracy_correct_vs_not"),
         line("Cohen's κ, correct vs not", "kappa_correct_vs_not"),
         line("accuracy, 3 classes", "accuracy_3class"),
         line("Cohen's κ, 3 classes", "kappa_3class"),
         line("Cohen's κ, 3 classes, quadratic weights", "kappa_3class_quadratic"),
         line("accuracy correct vs not, Chinese answers", "accuracy_correct_vs_not_zh"),
         line("accuracy correct vs not, English answers", "accuracy_correct_vs_not_en"),
         line("off-topic / copied / empty answers graded correct", "guarded_graded_correct"), "",
         "Confusion matrix (rows: teacher, columns: grader; order correct, partial, wrong), in-sample:", "",
         "| teacher \\ grader | correct | partial | wrong |", "|---|---|---|---|"]
    for lab, row in zip(LABELS, m_in["confusion"]):
        L.append(f"| {lab} | " + " | ".join(str(x) for x in row) + " |")
    L += ["", "By kind of answer (in-sample): agree = grader verdict equals the teacher label.", "",
          "| kind | n | agree | graded correct |", "|---|---|---|---|"]
    for k, v in m_in["by_kind"].items():
        L.append(f"| {k} | {v['n']} | {v['agree']} | {v['graded_correct']} |")
    L += ["", "Calibrated constants (written to `tutor/grader_params.json`):", "", "```json",
          json.dumps({k: v for k, v in asdict(params).items()}, indent=2), "```", "",
          "Disagreements (in-sample):", "", "| id | lang | kind | teacher | grader | score |", "|---|---|---|---|---|---|"]
    for r, p, s in zip(rows, pred, scores):
        if p != r["label"]:
            L.append(f"| {r['id']} | {r['lang']} | {r['kind']} | {r['label']} | {p} | {s:.2f} |")
    L += ["", "Reading the numbers: the cross-validated column is the honest estimate for unseen answers; "
          "the in-sample column is what the shipped constants achieve on this set. English answers to "
          "Chinese items lean on the zh-en glossary (`tutor/grader_glossary.tsv`), the embedding model and the "
          "notes' English summaries, because the key points are in Chinese; see the per-language rows. Caveats: "
          "the glossary's general ML terms were listed while reading the key points of chapters 1-4, the same "
          "items this set uses, so the English figures may be optimistic for other chapters; Chinese answers "
          "that say the right thing in quite different words (kind paraphrase) are the main weakness, since "
          "MiniLM gives no useful Chinese similarity and the lexical match needs shared words.", ""]
    return "\n".join(L)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="evaluate the shipped params; do not refit")
    ap.add_argument("--set", type=Path, default=HERE / "answers.jsonl")
    ap.add_argument("--no-cv", action="store_true", help="skip the cross-validation")
    args = ap.parse_args()
    t0 = time.time()
    s = Settings()
    corpus = Corpus.load(s.corpus_dir)
    bank = ItemBank.build(corpus)
    emb = load_embedder(s.embedding_model)
    grader = Grader.for_corpus(corpus, emb)
    rows = load_rows(args.set)
    feats, kps = measure(rows, grader, bank)
    y, kinds, langs = [r["label"] for r in rows], [r["kind"] for r in rows], [r["lang"] for r in rows]
    if args.check:
        params, m_cv = GraderParams.load(), None
    else:
        params = fit(grader, feats, kps, y, kinds, GraderParams(embedder=emb.name))
        m_cv = None
        if not args.no_cv:
            cv_pred = cross_validate(grader, feats, kps, y, kinds, GraderParams(embedder=emb.name))
            m_cv = metrics(y, cv_pred, kinds, langs)
        PARAMS_FILE.write_text(json.dumps({"params": asdict(params), "n_labelled": len(rows),
                                           "set": str(args.set.relative_to(ROOT))}, indent=2) + "\n", encoding="utf-8")
    pred, scores = predict(grader, feats, kps, params)
    m_in = metrics(y, pred, kinds, langs)
    md = report_md(params, m_in, m_cv, rows, pred, scores, emb.name, time.time() - t0)
    if not args.check:
        (HERE / "REPORT.md").write_text(md, encoding="utf-8")
        (HERE / "metrics.json").write_text(json.dumps({"in_sample": m_in, "cross_validated": m_cv}, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"in_sample": {k: v for k, v in m_in.items() if k not in ("by_kind", "confusion")},
                      "cross_validated": {k: v for k, v in (m_cv or {}).items() if k not in ("by_kind", "confusion")}}, indent=1))


if __name__ == "__main__":
    main()
