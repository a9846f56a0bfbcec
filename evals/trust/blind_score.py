"""Issue 14 item 3, step 3: score the answer check against independent labels.

Inputs (under --dir; procedure: REPORT.md §3):
- run.jsonl: the sampled blind questions answered in `checked` mode, with the flagger's
  per-sentence verdicts and the guard's reasons for each first draft;
- labels_sentences.jsonl: reviewer 1's labels (without detector output) of every draft
  sentence and of every short answer's sentences — "supported" | "unsupported" | "no_claim" —
  plus an answer-level `answer_ok` (fit to show as it is);
- short_answers.jsonl: short correct answers written by another helper from the same kind of
  context (the false-alarm check);
- labels_shown.jsonl: reviewer 2's verdict on what the learner was shown —
  "good" | "weak" | "wrong" | "garbage".

Writes --dir/score.json and prints a summary. The short answers are checked here, with the
real index (TUTOR_HOME) and the guard's own functions: retrieval in quotes_first mode gives the
sources and chunks, as Chat._guard would check them.

Flagger: positive class = unsupported; sentences labelled no_claim or not checkable are left
out; intervals resample answers (clustered bootstrap, 2,000 resamples).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

RESAMPLES = 2000


def read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def prf(pairs: list[tuple[bool, bool]]) -> dict:
    """pairs: (flagged, labelled unsupported) → precision, recall, F1 (None when undefined)."""
    tp = sum(f and u for f, u in pairs)
    fp = sum(f and not u for f, u in pairs)
    fn = sum(u and not f for f, u in pairs)
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f1 = 2 * p * r / (p + r) if p and r else None
    return {"tp": tp, "fp": fp, "fn": fn, "n": len(pairs), "precision": p, "recall": r, "f1": f1,
            "unsupported_share": sum(u for _, u in pairs) / len(pairs) if pairs else None}


def clustered_ci(groups: list[list[tuple[bool, bool]]], key: str, seed: int = 0) -> list[float] | None:
    """95% interval of prf()[key], resampling whole answers."""
    rng = random.Random(seed)
    vals = []
    for _ in range(RESAMPLES):
        pick = [p for _ in groups for p in groups[rng.randrange(len(groups))]]
        v = prf(pick)[key]
        if v is not None:
            vals.append(v)
    if not vals:
        return None
    vals.sort()
    return [round(vals[int(0.025 * len(vals))], 3), round(vals[int(0.975 * len(vals)) - 1], 3)]


def rate_ci(flags: list[bool], seed: int = 0) -> dict:
    """{"k", "n", "rate", "ci": 95% percentile bootstrap over the items}."""
    rng = random.Random(seed)
    n = len(flags)
    if not n:
        return {"k": 0, "n": 0, "rate": None, "ci": None}
    vals = sorted(sum(flags[rng.randrange(n)] for _ in range(n)) / n for _ in range(RESAMPLES))
    return {"k": sum(flags), "n": n, "rate": round(sum(flags) / n, 3),
            "ci": [round(vals[int(0.025 * RESAMPLES)], 3), round(vals[int(0.975 * RESAMPLES) - 1], 3)]}


def flagger_report(groups: dict[str, list[tuple[bool, bool]]]) -> dict:
    gl = [g for g in groups.values() if g]
    out = prf([p for g in gl for p in g])
    for k in ("precision", "recall", "f1"):
        out[k + "_ci"] = clustered_ci(gl, k)
    out["answers"] = len(gl)
    return out


def retrieved(tutor, question: str):
    """(answer, chunk texts, source headers): what Chat._guard checks an answer to `question`
    against, from retrieval alone (quotes_first mode: no model call)."""
    a = tutor.ask(question, mode="quotes_first")
    return a, [tutor.index.chunks[c].text for s in a.sources for c in s.chunk_ids], tutor.chat.source_headers(a)


def check(tutor, question: str, text: str) -> dict:
    """The guard's verdict on `text` as an answer to `question`, with the context retrieval
    gives the question: reasons (garbage_reasons; [] = shown) and per-sentence flagger checks."""
    from tutor.text import split_sentences
    from tutor.trust.check import garbage_reasons
    a, context, headers = retrieved(tutor, question)
    checks = tutor.chat.flagger.check(split_sentences(text), context, a.lang)
    reasons = garbage_reasons(text, a.lang, checks, tutor.chat.instructions(a.lang), headers, a.question)
    return {"sources": [s.id for s in a.sources], "context": context, "headers": headers, "reasons": reasons,
            "sentences": [{"i": c.index, "text": c.text, "checkable": c.checkable, "supported": c.supported,
                           "score": round(c.score, 4)} for c in checks]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=ROOT / "evals" / "trust" / "blind")
    args = ap.parse_args()
    d = args.dir
    run = {r["id"]: r for r in read(d / "run.jsonl")}
    labels = {r["id"]: r for r in read(d / "labels_sentences.jsonl")}
    shown = {r["id"]: r for r in read(d / "labels_shown.jsonl")}
    short = {r["id"]: r for r in read(d / "short_answers.jsonl") if not r.get("skip")}
    packet = {r["id"]: r for r in read(d / "short_packet.jsonl")}

    # 1. what the guard did and what the learner saw, as reviewer 2 judged it
    outcomes = Counter(r["outcome"] for r in run.values())
    by_outcome: dict[str, Counter] = {}
    for rid, r in run.items():
        if r["covered"]:
            by_outcome.setdefault(r["outcome"], Counter())[shown[rid]["verdict"]] += 1
    model_text_shown = [rid for rid, r in run.items() if r["outcome"] in ("direct", "retried")]
    garbage_shown = [rid for rid in model_text_shown if shown[rid]["verdict"] in ("wrong", "garbage")]

    # 2. the guard's decision on each first draft vs reviewer 1's answer_ok
    decisions = Counter()
    for rid, r in run.items():
        if not r["covered"]:
            continue
        rejected = bool(r["draft_reasons"])
        ok = labels[rid]["answer_ok"]
        decisions[("rejected" if rejected else "accepted") + ("_ok" if ok else "_not_ok")] += 1

    # 3. the flagger on real drafts, against the chunks they were checked with
    groups: dict[str, dict[str, list]] = {"all": {}, "zh": {}, "en": {}}
    no_claim = 0
    for rid, r in run.items():
        if not r["covered"]:
            continue
        lab = {s["i"]: s["label"] for s in labels[rid]["sentences"]}
        pairs = []
        for s in r["sentences"]:
            label = lab.get(s["i"])
            if label == "no_claim":
                no_claim += 1
            if not s["checkable"] or label not in ("supported", "unsupported"):
                continue
            pairs.append((not s["supported"], label == "unsupported"))
        groups["all"][rid] = pairs
        groups[r["lang"]][rid] = pairs
    flagger = {k: flagger_report(v) for k, v in groups.items()}

    # 4. false alarms on short correct answers; and every checked text with its context, so a
    # test can recompute the detectors (tests/integration/test_trust.py)
    from tutor.config import Settings
    from tutor.tutor import build_tutor
    tutor = build_tutor(Settings())
    checked, short_rows, short_groups = [], [], {}
    for rid, r in run.items():
        if r["covered"]:
            v = check(tutor, r["question"], r["draft"])
            if v["sources"] != r["sources"] or v["reasons"] != r["draft_reasons"]:
                print(f"warning: {rid}: re-check differs from the run (sources or reasons)", file=sys.stderr)
            checked.append({"id": rid, "kind": "draft", "lang": r["lang"], "question": r["question"], "text": r["draft"],
                            "answer_ok": labels[rid]["answer_ok"], "labels": labels[rid]["sentences"],
                            **{k: v[k] for k in ("context", "headers", "reasons")}})
    for sid, s in short.items():
        verdict = check(tutor, packet[sid]["question"], s["answer"])
        lab = labels.get(sid)
        correct = bool(lab and lab["answer_ok"])
        lab_s = {x["i"]: x["label"] for x in (lab or {}).get("sentences", [])}
        short_groups[sid] = [(not c["supported"], lab_s.get(c["i"]) == "unsupported") for c in verdict["sentences"]
                             if c["checkable"] and lab_s.get(c["i"]) in ("supported", "unsupported")]
        short_rows.append({"id": sid, "lang": packet[sid]["lang"], "answer": s["answer"], "labelled_correct": correct,
                           "reasons": verdict["reasons"], "sentences": verdict["sentences"]})
        checked.append({"id": sid, "kind": "short", "lang": packet[sid]["lang"], "question": packet[sid]["question"],
                        "text": s["answer"], "answer_ok": correct, "labels": (lab or {}).get("sentences", []),
                        **{k: verdict[k] for k in ("context", "headers", "reasons")}})
    with (d / "checked.jsonl").open("w", encoding="utf-8") as f:
        for c in checked:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    correct_rows = [r for r in short_rows if r["labelled_correct"]]
    false_alarms = [r for r in correct_rows if r["reasons"]]
    alarm_rates = {lang: rate_ci([bool(r["reasons"]) for r in correct_rows if lang in ("all", r["lang"])])
                   for lang in ("all", "zh", "en")}
    pooled = flagger_report({**groups["all"], **{"short:" + k: v for k, v in short_groups.items()}})
    reason_counts = Counter(x for r in false_alarms for x in r["reasons"])

    out = {
        "sample": {"questions": len(run), "outcomes": dict(outcomes)},
        "shown_verdicts_by_outcome": {k: dict(v) for k, v in by_outcome.items()},
        "model_text_shown": len(model_text_shown), "garbage_shown": garbage_shown,
        "draft_decisions": dict(decisions),
        "flagger_on_drafts": flagger, "draft_sentences_no_claim": no_claim,
        "short_answers": {"written": len(short), "labelled_correct": len(correct_rows),
                          "false_alarms": len(false_alarms), "false_alarm_rate": alarm_rates,
                          "false_alarm_reasons": dict(reason_counts),
                          "false_alarm_ids": [r["id"] for r in false_alarms],
                          "flagger_sentences": flagger_report(short_groups)},
        "flagger_pooled": pooled,
        "short_rows": short_rows,
    }
    (d / "score.json").write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps({k: v for k, v in out.items() if k != "short_rows"}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
