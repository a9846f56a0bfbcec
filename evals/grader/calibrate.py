"""Calibrate the short-answer grader (grading.py) on independently labelled answers and report
agreement honestly: grouped cross-validation on the fitting set, then a test set never fitted on.

    .venv/bin/python evals/grader/calibrate.py            # fit on train, write tutor/quiz/grader_params.json + REPORT.md
    .venv/bin/python evals/grader/calibrate.py --check    # evaluate the shipped params only (no fitting)

Data, one learner answer per line: {"id", "item_id", "lang", "kind", "answer", "label", "label2"?}
- FIT_SET, evals/grader/blind/answers.jsonl (round 1): 558 answers to the 62 short items of
  chapters 1-4. Everything is fitted on it; grouped cross-validation by item is reported.
- TEST_SET, evals/grader/blind2/answers.jsonl (round 2): answers to the short items of
  chapters 5-8, written and labelled the same way after the grader was frozen; never fitted
  on, and read only by this report.
Answers were written by helpers who saw only the items (question, reference, key points),
never the grader, the notes or the items' misconceptions; labels come from other reviewers
who saw neither the writer's `kind` nor any grader output (label2: a second reviewer's label
on an overlap, for inter-rater agreement).

Fitting (round 1 only): features are measured once with the real embedding model; a
multinomial logistic regression over grading.feature_vector (similarity to the item, to its
misconceptions and to other items, the relational signals of claims.py) gives P(correct /
partial / wrong); the verdict thresholds are chosen on out-of-fold probabilities (inner
GroupKFold by item) as the fewest "check yourself" verdicts that keep LIMITS (a margin under
the targets); when no threshold keeps them, the lowest COST.
Honesty: 5-fold GroupKFold by item on the fitting set refits inside each fold; the report
gives the test set, the cross-validated figures and the in-sample fit separately.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import GroupKFold

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tutor.corpus import Corpus  # noqa: E402
from tutor.rag.embed import load_multilingual_embedder  # noqa: E402
from tutor.quiz.grading import (CLOSE_SCORE, FAR_CLOSENESS, FEATURES, MIS_NEAR_GAP, PARAMS_FILE, Grader, GraderParams, closeness,  # noqa: E402
                                english_summary, feature_vector)  # noqa: E402
from tutor.quiz.items import ItemBank  # noqa: E402
from tutor.quiz.service import other_references  # noqa: E402

HERE = Path(__file__).resolve().parent
FIT_SET = HERE / "blind" / "answers.jsonl"
TEST_SET = HERE / "blind2" / "answers.jsonl"
# round 3: answers written from the question alone, in learners' own words (reviews 7-8 found
# right answers in own words graded wrong; rounds 1-2 were written beside the reference)
FIT_SET3 = HERE / "blind3" / "fit.jsonl"  # chapters 9-12: fitted on with round 1
TEST_SET3 = HERE / "blind3" / "test.jsonl"  # chapters 13-16: never fitted on
FIT_SETS = [FIT_SET, FIT_SET3]
TEST_SETS = {"round 2, chapters 5-8 (writers saw the reference)": TEST_SET,
             "round 3, chapters 13-16 (own words, writers saw the question only)": TEST_SET3}
LABELS = ["correct", "partial", "wrong"]
PRED = ["correct", "partial", "wrong", "check"]
# cost[label][prediction]
COST = {"correct": {"correct": 0, "partial": 1, "check": 0.5, "wrong": 8},
        "partial": {"correct": 2, "partial": 0, "check": 0.4, "wrong": 1},
        "wrong": {"correct": 10, "partial": 4, "check": 0.5, "wrong": 0}}


def load_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def measure(rows, grader: Grader, bank: ItemBank):
    feats, kps = [], []
    for k, r in enumerate(rows):
        it = bank.get(r["item_id"])
        note = bank.note(it)
        feats.append(grader.features(it.prompt, it.reference, list(it.key_points), r["answer"], english_summary(note.body),
                                     list(it.misconceptions), other_references(bank, it)))
        kps.append(list(it.key_points))
        if k % 100 == 99:
            print(f"  measured {k + 1}/{len(rows)}", file=sys.stderr)
    return feats, kps


def predict(grader: Grader, feats, kps, params: GraderParams) -> list[str]:
    grader.params = params
    return [grader.decide(f, k).verdict for f, k in zip(feats, kps)]


def cost(labels, preds) -> float:
    return float(np.mean([COST[l][p] for l, p in zip(labels, preds)]))


# what the verdict thresholds must achieve on out-of-fold training answers (a margin under
# the targets: ≤ 3% wrong→correct, ≤ 10% wrong→correct-or-partial, ≤ 3% right→wrong)
LIMITS = {"wrong_correct": 0.02, "wrong_correct_partial": 0.07, "right_wrong": 0.02}
C_REG = 1.0  # L2 strength of the logistic regression (chosen by grouped CV on the fitting set: 0.3 and 3 no better)


def _lr(X, y):
    from sklearn.linear_model import LogisticRegression

    mu, sd = X.mean(0), X.std(0)
    sd = np.where(sd < 1e-6, 1.0, sd)  # a constant feature (a signal that never fired) stays 0 after scaling
    m = LogisticRegression(C=C_REG, max_iter=5000).fit((X - mu) / sd, y)
    return m, mu, sd


def _decide(P, classes, pc, pw, pp, has_match):
    ic, iw, ip = classes.index("correct"), classes.index("wrong"), classes.index("partial")
    out = np.full(len(P), "check", dtype=object)
    out[(P[:, ip] >= pp) & has_match] = "partial"
    out[P[:, iw] >= pw] = "wrong"
    out[P[:, ic] >= pc] = "correct"
    return out


def fit(grader: Grader, feats, kps, labels, groups) -> GraderParams:
    """Fit the verdict model on the given answers only (module doc): a multinomial logistic
    regression over grading.feature_vector, then thresholds on its out-of-fold probabilities
    (inner GroupKFold by item) that keep the LIMITS with the fewest "check" verdicts."""
    base = GraderParams(embedder=grader.params.embedder, emb_lo=0.5, emb_hi=0.8, w_cov=0.5, other_margin=0.1)
    X = np.array([feature_vector(f, base) for f in feats], float)
    y = np.array(labels)
    has_match = np.array([bool(grader.decide(f, k).matched) for f, k in zip(feats, kps)])
    P = np.zeros((len(y), 3))
    classes = None
    for tr, te in GroupKFold(n_splits=min(5, len(set(groups)))).split(X, y, groups):
        m, mu, sd = _lr(X[tr], y[tr])
        classes = list(m.classes_)
        P[te] = m.predict_proba((X[te] - mu) / sd)
    wrong, right = y == "wrong", y == "correct"
    best = None
    grid = np.round(np.arange(0.30, 1.0, 0.025), 3)
    for pc in grid:
        for pw in grid:
            for pp in (0.4, 0.5, 0.6, 0.7, 0.8, 1.01):
                pr = _decide(P, classes, pc, pw, pp, has_match)
                wc = np.mean(pr[wrong] == "correct")
                wcp = np.mean(np.isin(pr[wrong], ["correct", "partial"]))
                rw = np.mean(pr[right] == "wrong")
                ok = wc <= LIMITS["wrong_correct"] and wcp <= LIMITS["wrong_correct_partial"] and rw <= LIMITS["right_wrong"]
                key = (0 if ok else 1, np.mean(pr == "check") if ok else cost(y, pr), -pc)
                if best is None or key < best[0]:
                    best = (key, pc, pw, pp)
    _, pc, pw, pp = best
    m, mu, sd = _lr(X, y)
    model = {"features": list(FEATURES), "mean": mu.round(6).tolist(), "scale": sd.round(6).tolist(),
             "classes": list(m.classes_), "coef": m.coef_.round(6).tolist(), "intercept": m.intercept_.round(6).tolist(),
             "p_correct": float(pc), "p_wrong": float(pw), "p_partial": float(pp), "C": C_REG}
    return replace(base, model=model)


def metrics(labels, preds, kinds=None) -> dict:
    n = len(labels)
    lab, pr = np.array(labels), np.array(preds)
    wrong, right = lab == "wrong", lab == "correct"
    decided = pr != "check"
    m = {"n": n,
         "wrong_graded_correct": float(np.mean(pr[wrong] == "correct")) if wrong.any() else None,
         "wrong_graded_correct_or_partial": float(np.mean(np.isin(pr[wrong], ["correct", "partial"]))) if wrong.any() else None,
         "right_graded_wrong": float(np.mean(pr[right] == "wrong")) if right.any() else None,
         "check_share": float(np.mean(~decided)),
         "check_share_by_label": {l: float(np.mean(pr[lab == l] == "check")) for l in LABELS if (lab == l).any()},
         "n_by_label": {l: int((lab == l).sum()) for l in LABELS}}
    if decided.any():
        d_l, d_p = lab[decided], pr[decided]
        m["accuracy_decided_3class"] = float(np.mean(d_l == d_p))
        m["kappa_decided_3class"] = float(cohen_kappa_score(d_l, d_p, labels=LABELS))
        m["accuracy_decided_correct_vs_not"] = float(np.mean((d_l == "correct") == (d_p == "correct")))
        m["kappa_decided_correct_vs_not"] = float(cohen_kappa_score(d_l == "correct", d_p == "correct"))
    m["confusion"] = {l: {p: int(((lab == l) & (pr == p)).sum()) for p in PRED} for l in LABELS}
    if kinds is not None:
        ks = np.array(kinds)
        m["by_kind"] = {k: {p: int(((ks == k) & (pr == p)).sum()) for p in PRED} | {"n": int((ks == k).sum()),
                        "labels": {l: int(((ks == k) & (lab == l)).sum()) for l in LABELS}} for k in sorted(set(kinds))}
    return m


def check_lines(grader: Grader, feats, kps, labels, params: GraderParams) -> dict:
    """Of the "check yourself" answers: how many the feedback tells they are close in meaning
    (score ≥ CLOSE_SCORE) or far (grading.closeness ≤ FAR_CLOSENESS), and, of those neither, near a
    listed misconception (grading.MIS_NEAR_GAP), by reviewer's label. No line is a grade."""
    grader.params = params
    out = {key: dict.fromkeys(LABELS, 0) for key in ("check", "close", "far", "misconception")}
    for f, k, lab in zip(feats, kps, labels):
        g = grader.decide(f, k)
        if g.verdict != "check":
            continue
        out["check"][lab] += 1
        if g.score >= CLOSE_SCORE:
            out["close"][lab] += 1
        elif closeness(g, params) <= FAR_CLOSENESS:
            out["far"][lab] += 1
        elif "near_misconception" in g.flags:
            out["misconception"][lab] += 1
    return out


def _lines_block(c: dict) -> list[str]:
    rows = ["\"check yourself\" answers the feedback calls close in meaning (score ≥ "
            f"{CLOSE_SCORE}) or far (closeness ≤ {FAR_CLOSENESS}), or near a listed misconception (its cosine ≥ "
            f"the best to the item + {MIS_NEAR_GAP}); no line is a grade:", "",
            "| line | answers | labelled correct | partial | wrong |", "|---|---|---|---|---|"]
    for key, name in (("check", "all check yourself"), ("close", "close in meaning"), ("far", "far in meaning"),
                      ("misconception", "near a misconception")):
        if key not in c:
            continue
        n = sum(c[key].values())
        rows.append(f"| {name} | {n} | " + " | ".join(str(c[key][lab]) for lab in LABELS) + " |")
    return rows + [""]


def grouped_cv(grader, feats, kps, labels, groups, folds: int = 5) -> list[str]:
    preds = [""] * len(labels)
    for tr, te in GroupKFold(n_splits=folds).split(feats, labels, groups):
        p = fit(grader, [feats[i] for i in tr], [kps[i] for i in tr], [labels[i] for i in tr], [groups[i] for i in tr])
        for i, v in zip(te, predict(grader, [feats[i] for i in te], [kps[i] for i in te], p)):
            preds[i] = v
    return preds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="evaluate the shipped params, fit nothing")
    args = ap.parse_args()
    t0 = time.time()
    corpus = Corpus.load(ROOT / "corpus")
    bank = ItemBank.build(corpus, {})
    emb = load_multilingual_embedder()
    grader = Grader.for_corpus(corpus, emb, GraderParams.load() if args.check else GraderParams(embedder=emb.name))
    fit_paths = [p for p in FIT_SETS if p.is_file()]
    fit_rows = [r for p in fit_paths for r in load_rows(p)]
    feats, kps = measure(fit_rows, grader, bank)
    labels, kinds = [r["label"] for r in fit_rows], [r.get("kind", "") for r in fit_rows]
    groups = [r["item_id"] for r in fit_rows]
    out = {"fit_set": _info(fit_paths, fit_rows), "embedder": emb.name}
    # the cross-validated figures refit in each fold, whatever is shipped: --check reports them too
    out["fit_grouped_cv"] = metrics(labels, grouped_cv(grader, feats, kps, labels, groups), kinds)
    if args.check:
        params = GraderParams.load()
    else:
        params = fit(grader, feats, kps, labels, groups)
        PARAMS_FILE.write_text(json.dumps({"params": asdict(params) | {"claims": list(params.claims)},
                                           "fitted_on": out["fit_set"]}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    out["params"] = asdict(params) | {"claims": list(params.claims)}
    out["fit_in_sample"] = metrics(labels, predict(grader, feats, kps, params), kinds)
    out["fit_check_lines"] = check_lines(grader, feats, kps, labels, params)
    out["inter_rater"] = _inter_rater(fit_rows)
    out["tests"] = {}
    for title, path in TEST_SETS.items():
        if not path.is_file():
            continue
        test_rows = load_rows(path)
        tf, tk = measure(test_rows, grader, bank)
        pred = predict(grader, tf, tk, params)
        out["tests"][title] = {
            "set": _info([path], test_rows),
            "all": metrics([r["label"] for r in test_rows], pred, [r.get("kind", "") for r in test_rows]),
            "by_lang": {lang: metrics([r["label"] for r in test_rows if r["lang"] == lang],
                                      [v for r, v in zip(test_rows, pred) if r["lang"] == lang])
                        for lang in ("zh", "en") if any(r["lang"] == lang for r in test_rows)},
            "inter_rater": _inter_rater(test_rows),
            "check_lines": check_lines(grader, tf, tk, [r["label"] for r in test_rows], params)}
    out["seconds"] = round(time.time() - t0)
    (HERE / "metrics.json").write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (HERE / "REPORT.md").write_text(report(out), encoding="utf-8")
    # only the fitting set's figures on the console: the test set is read in the report, once, at the end
    key = "fit_grouped_cv" if "fit_grouped_cv" in out else "fit_in_sample"
    print(key, json.dumps({k: v for k, v in out[key].items() if k != "by_kind"}, ensure_ascii=False))


def _info(paths: list[Path], rows: list[dict]) -> dict:
    return {"path": " + ".join(str(p.relative_to(ROOT)) for p in paths),
            "sha256_16": " + ".join(hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in paths),
            "answers": len(rows), "items": len({r["item_id"] for r in rows}),
            "chapters": sorted({int(r["item_id"].split(".")[0]) for r in rows})}


def _inter_rater(rows: list[dict]) -> dict | None:
    both = [r for r in rows if r.get("label2")]
    if not both:
        return None
    a, b = [r["label"] for r in both], [r["label2"] for r in both]
    return {"n": len(both), "agreement": float(np.mean(np.array(a) == np.array(b))),
            "kappa": float(cohen_kappa_score(a, b, labels=LABELS))}


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _block(title: str, m: dict) -> list[str]:
    nl = m["n_by_label"]
    lines = [f"### {title}", "", f"{m['n']} answers (labels: correct {nl.get('correct', 0)}, partial {nl.get('partial', 0)}, "
             f"wrong {nl.get('wrong', 0)}).", "",
             "| measure | value | target |", "|---|---|---|",
             f"| wrong answers graded correct | {_pct(m['wrong_graded_correct'])} | ≤ 3% |",
             f"| wrong answers graded correct or partial | {_pct(m['wrong_graded_correct_or_partial'])} | ≤ 10% |",
             f"| right answers (label correct) graded wrong | {_pct(m['right_graded_wrong'])} | ≤ 3% |",
             f"| \"check yourself\" share, all answers | {_pct(m['check_share'])} | reported |",
             "| \"check yourself\" share by label | " + ", ".join(f"{k} {_pct(v)}" for k, v in m["check_share_by_label"].items()) + " | |"]
    if "accuracy_decided_3class" in m:
        lines += [f"| accuracy, 3 classes, decided answers | {m['accuracy_decided_3class']:.3f} | |",
                  f"| Cohen's κ, 3 classes, decided answers | {m['kappa_decided_3class']:.3f} | |",
                  f"| accuracy, correct vs not, decided answers | {m['accuracy_decided_correct_vs_not']:.3f} | |",
                  f"| Cohen's κ, correct vs not, decided answers | {m['kappa_decided_correct_vs_not']:.3f} | |"]
    lines += ["", "Confusion (rows: reviewer's label; columns: grader):", "", "| label \\ grader | " + " | ".join(PRED) + " |",
              "|---" * (len(PRED) + 1) + "|"]
    lines += [f"| {l} | " + " | ".join(str(m["confusion"][l][p]) for p in PRED) + " |" for l in LABELS]
    if m.get("by_kind"):
        lines += ["", "By the writer's intended kind (the grader and the labeller never saw it):", "",
                  "| kind | n | labelled c/p/w | graded correct | partial | wrong | check |", "|---|---|---|---|---|---|---|"]
        for k, v in m["by_kind"].items():
            lab = v["labels"]
            lines.append(f"| {k} | {v['n']} | {lab['correct']}/{lab['partial']}/{lab['wrong']} | {v['correct']} | {v['partial']} | "
                         f"{v['wrong']} | {v['check']} |")
    return lines + [""]


def report(o: dict) -> str:
    fs = o["fit_set"]
    lines = ["# Short-answer grader: agreement with independent reviewers", "",
             f"Produced by `evals/grader/calibrate.py` in {o['seconds']} s. Embedding model: {o['embedder']}.", "",
             "Answers were written by helpers who saw only the items (question, reference, key points) — not the "
             "grader, the notes or the items' misconceptions — in the kinds a real and an adversarial learner produce "
             "(correct, colloquial paraphrase, English, partial, negation, swapped cause or method, wrong formula or "
             "number, misconception, bare term list, padding, another item's answer, off-topic, typos, Markdown/HTML/LaTeX). "
             "Labels are other reviewers', who saw neither the kind nor any grader output.", "",
             "\"check yourself\" means the grader could not decide: the learner sees the reference and key points and "
             "rates themselves, as with a flashcard; such an answer is never shown as correct and nothing is scheduled "
             "until the learner rates it.", ""]
    for title, t in o.get("tests", {}).items():
        ts = t["set"]
        lines += [f"## Test set {title}", "",
                  f"`{ts['path']}` (sha256 {ts['sha256_16']}…), {ts['answers']} answers to {ts['items']} "
                  f"short items of chapters {ts['chapters'][0]}-{ts['chapters'][-1]} — items the grader was never fitted on, "
                  "answers written and labelled before the grader was run on them.", ""]
        if t.get("inter_rater"):
            ir = t["inter_rater"]
            lines += [f"Inter-rater check: {ir['n']} answers labelled twice; agreement {ir['agreement']:.3f}, "
                      f"Cohen's κ {ir['kappa']:.3f}.", ""]
        lines += _block(f"Test set {title} (frozen; never fitted on)", t["all"])
        if t.get("check_lines"):
            lines += _lines_block(t["check_lines"])
        for lang, m in t["by_lang"].items():
            lines += _block(f"Test set {title}, answers in {'Chinese' if lang == 'zh' else 'English'}", {**m, "by_kind": {}})
    lines += [f"Fitting set: `{fs['path']}` (sha256 {fs['sha256_16']}…), {fs['answers']} answers to {fs['items']} short items "
              f"of chapters {fs['chapters'][0]}-{fs['chapters'][-1]}.", ""]
    if o.get("inter_rater"):
        ir = o["inter_rater"]
        lines += [f"Inter-rater check on the fitting set: {ir['n']} answers labelled twice; agreement {ir['agreement']:.3f}, "
                  f"Cohen's κ {ir['kappa']:.3f}.", ""]
    if "fit_grouped_cv" in o:
        lines += _block("Fitting set, 5-fold cross-validation grouped by item (refitted in each fold)", o["fit_grouped_cv"])
    lines += _block("Fitting set, in-sample (what the shipped constants do on the answers they were fitted on)", o["fit_in_sample"])
    if o.get("fit_check_lines"):
        lines += _lines_block(o["fit_check_lines"])
    lines += HISTORY + ["", "Shipped constants (`tutor/quiz/grader_params.json`):", "", "```json",
                        json.dumps(o["params"], ensure_ascii=False, indent=2), "```", ""]
    return "\n".join(lines)


HISTORY = ["## History", "",
           "A first version of the verdict model was fitted on half of the round-1 items (279 answers) and read once on "
           "the other half (279 answers, frozen by item hash): wrong answers graded correct 0.0%, graded correct or partial "
           "1.4%, right answers graded wrong 3.9% (4 of 102: two long English answers and two LaTeX-heavy Markdown "
           "answers), \"check yourself\" 44.1%. That half was then seen, so round 1 became the fitting set as a whole; "
           "the length feature was made language-neutral (content tokens, not characters) and LaTeX commands are turned "
           "into symbols before grading, bare term lists are recognised more widely, a word-for-word reference counts as "
           "correct, and a second round on chapters 5-8 became the test set.", "",
           "The first run on the round-2 test set (the grader as frozen before the set was written) gave: wrong answers "
           "graded correct 1.1% (3 of 284), correct or partial 3.2%, right answers graded wrong 2.5% (5 of 202), \"check "
           "yourself\" 36.8%. After that run no constant was refitted, but rules were added, none fitted on the test set: "
           "(1) from DESIGN §3, an answer that restates one of the item's listed misconceptions is wrong (every listed "
           "misconception of the 254 short items was graded partial or check before); (2) a quantity turned the other way, "
           "two named methods swapped or a square root dropped (claims.py) is never credited (issue 13's own example was "
           "graded partial); (3) from a learner probe by a fresh reviewer on items of all chapters: the reference with one "
           "word changed or a contradiction appended was graded correct in 7 of 9 tries, so a near copy of the reference "
           "(difflib ratio ≥ 0.85) is \"check yourself\"; 「不知道」/\"abc\" went to check, so answers with under two content "
           "terms are wrong; Chinese term lists separated by spaces alone were graded partial, so they count as term lists; right answers in terse or English wording were graded wrong with every key point matched, so "
           "such a verdict becomes check. The tables above are the shipped grader with these rules.", "",
           "Session 27: a \"check yourself\" answer whose closeness (w_cov × key-point coverage + (1 − w_cov) × similarity to the reference, grading.closeness) is at most FAR_CLOSENESS = 0.15 is told it is far in meaning from the reference (it may miss or misstate the key points, or put them in quite other words); it is still not graded. A first version read the score (P(correct) + ½·P(partial)) instead; on five clearly wrong short answers written by hand it never fired, because the verdict model extrapolates to P(partial) ≈ 1 for short answers far from the reference (score ≈ 0.5). 0.15 was then chosen on the fitting answers' check verdicts as the highest of 0.05 / 0.10 / 0.15 / 0.20 whose flagged answers are ≤ 5% labelled correct (0.15: 54 flagged, 1 correct, 35 partial, 18 wrong in the selection run, 53 and 0 correct in this report's table; 0.20: 79 with 6 correct). The test rounds were printed in the same runs as the fitting set, for both versions, so their far-line tables above are not a clean held-out read. The same run shows the fitting set's figures moved slightly since the last report (e.g. cross-validated right answers graded wrong 2.4% -> 2.1%) with no constant refitted: the features read the notes (IDF, synonyms), and notes have changed since; the test sets' figures did not move.", "",
           "Session 36: the report re-run with session 35's cross-language guard (a model \"wrong\" for an answer in the item's other language becomes \"check yourself\"; review 27: a right English answer to a Chinese item was graded wrong 2%). Right answers graded wrong: fitting set (in-sample) 1.6% -> 1.3% (6 -> 5), round-2 test 0.0% -> 0.0%, round-3 test 2.8% -> 2.3% (5 -> 4). The cost: wrong answers in the other language that were rightly graded wrong now ask the learner to check (fitting set 27, round-2 test 10), so \"check yourself\" rose 65.1% -> 68.5%, 57.4% -> 59.4% and 68.9% -> 69.1%; no wrong answer became correct or partial. Requiring the answer's similarity to the reference (cosine >= 0.45) before the guard applies was tried and not kept: review 27's right answer has 0.38 and was graded wrong again."]


if __name__ == "__main__":
    main()
