"""Quotes-first answers (answer mode "quotes_first": the notes' most relevant sentences, no
model call) scored against an eval set's key points: key-point recall (a key point counts when
KEY_POINT_MATCH of its content tokens are in the answer, as `tutor eval --answers`), whether a
cited note is an expected one, whether the top-1 quoted sentence comes from an expected note, and
quote precision (the share of quoted sentences from an expected note).

    .venv/bin/python evals/answers/quotes_eval.py --set evals/sets/tuning_colloquial.jsonl [--home DIR] [--out FILE.json]

Runs in ~1-3 min per set on 2 cores (retrieval + sentence choice, no LLM).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tutor.config import Settings  # noqa: E402
from tutor.evaluate.evaluation import KEY_POINT_MATCH, EvalSet  # noqa: E402
from tutor.rag.retrieve import term_coverage  # noqa: E402
from tutor.tutor import build_tutor  # noqa: E402

CITE = re.compile(r"\[(\d+)\]")


def score(a, expected_ids: list[str], key_points: list[str]) -> dict:
    """One answer (tutor Answer) scored against an item: covered, kp_recall in [0, 1],
    cited_expected / first_expected (bools), quotes / quotes_expected (counts), answer (text)."""
    if not a.covered:
        return {"covered": False, "kp_recall": 0.0, "cited_expected": False, "first_expected": False,
                "quotes": 0, "quotes_expected": 0}
    by_n = {s.n: s.id for s in a.sources}
    cites = [by_n.get(int(n)) for n in CITE.findall(a.answer)]
    kp = [term_coverage(k, a.answer) >= KEY_POINT_MATCH for k in key_points]
    return {"covered": True, "kp_recall": sum(kp) / len(kp), "cited_expected": any(c in expected_ids for c in cites),
            "first_expected": bool(cites) and cites[0] in expected_ids, "answer": a.answer,
            "quotes": len(cites), "quotes_expected": sum(c in expected_ids for c in cites)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", required=True)
    ap.add_argument("--home", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    t = build_tutor(Settings(**({"home": args.home} if args.home else {})))
    items = [it for it in EvalSet.load(Path(args.set)) if not it.out_of_scope and it.key_points]
    rows = []
    for it in items:
        a = t.ask(it.question, mode="quotes_first")
        rows.append({"id": it.id, "lang": it.lang, **score(a, it.expected_ids, it.key_points)})
    summary = {"set": args.set, "n": len(rows),
               "kp_recall": round(statistics.mean(r["kp_recall"] for r in rows), 3),
               "cited_expected": round(sum(r["cited_expected"] for r in rows) / len(rows), 3),
               "first_expected": round(sum(r["first_expected"] for r in rows) / len(rows), 3),
               # quote precision: the share of quoted sentences that come from an expected note
               "quote_precision": round(sum(r["quotes_expected"] for r in rows) / max(1, sum(r["quotes"] for r in rows)), 3),
               "quotes_per_answer": round(sum(r["quotes"] for r in rows) / len(rows), 2)}
    for lang in ("zh", "en"):
        sub = [r for r in rows if r.get("lang") == lang]
        if sub:
            summary[lang] = {"n": len(sub), "kp_recall": round(statistics.mean(r["kp_recall"] for r in sub), 3),
                             "first_expected": round(sum(r["first_expected"] for r in sub) / len(sub), 3)}
    print(json.dumps(summary, ensure_ascii=False))
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "rows": rows}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
