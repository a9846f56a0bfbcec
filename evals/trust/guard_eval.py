"""Run eval-set questions through the real Tutor and count what the answer guard did:
answered directly, retried with the strict prompt, fell back to quoting the notes, or not
covered. Every shown answer is re-checked; each record keeps the first (streamed) text and
the shown text so a person can read them (REPORT.md summarises a reviewed run).

    TUTOR_HOME=... .venv/bin/python evals/trust/guard_eval.py --every 6 --out evals/trust/guard_run.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tutor.config import Settings  # noqa: E402
from tutor.text import split_sentences  # noqa: E402
from tutor.trust.check import FALLBACK_HEADER, garbage_reasons  # noqa: E402
from tutor.tutor import build_tutor  # noqa: E402


def shown_problems(tutor, a) -> list[str]:
    """Why the shown answer would count as garbage shown without the fallback ([] = fine)."""
    if a.guard["outcome"] == "fallback":
        return [] if a.answer.startswith(FALLBACK_HEADER[a.lang]) and "extractive_fallback" in a.notices else ["fallback-unmarked"]
    if not a.covered:
        return []
    ctx = [tutor.index.chunks[c].text for s in a.sources for c in s.chunk_ids]
    checks = tutor.chat.flagger.check(split_sentences(a.answer), ctx, a.lang)
    return garbage_reasons(a.answer, a.lang, checks, tutor.chat.instructions(a.lang), tutor.chat.source_headers(a), a.question)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", type=Path, default=ROOT / "evals" / "sets" / "retrieval_ch1-4.jsonl")
    ap.add_argument("--every", type=int, default=6, help="take every N-th question (1 = all)")
    ap.add_argument("--out", type=Path, default=ROOT / "evals" / "trust" / "guard_run.jsonl")
    ap.add_argument("--ids", help="comma-separated question ids (instead of --every)")
    args = ap.parse_args()
    rows = [json.loads(x) for x in args.set.read_text(encoding="utf-8").splitlines() if x.strip()]
    rows = [r for r in rows if r["id"] in args.ids.split(",")] if args.ids else rows[:: args.every]
    tutor = build_tutor(Settings())
    counts: Counter = Counter()
    with args.out.open("w", encoding="utf-8") as out:
        for row in rows:
            t0 = time.perf_counter()
            first = ""
            for kind, value in tutor.ask_stream(row["question"], mode="stream"):
                if kind == "token" and not first.endswith("\x00"):
                    first += value
                elif kind == "retry":
                    first += "\x00"  # stop collecting: the rest is the replacement
                elif kind == "done":
                    a = value
            outcome = "not_covered" if not a.covered else a.guard["outcome"]
            problems = shown_problems(tutor, a)
            counts[outcome] += 1
            counts["shown_as_garbage"] += bool(problems)
            rec = {"id": row["id"], "lang": row["lang"], "question": row["question"], "outcome": outcome,
                   "reasons": a.guard["reasons"], "notices": a.notices, "first": first.rstrip("\x00").strip(),
                   "shown": a.answer, "sentences": len(a.sentences), "unsupported": a.unsupported,
                   "problems": problems, "seconds": round(time.perf_counter() - t0, 1)}
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            out.flush()
            print(f"{row['id']:14s} {outcome:12s} {rec['seconds']:6.1f}s reasons={a.guard['reasons']} problems={problems}", flush=True)
    print(json.dumps(dict(counts), ensure_ascii=False))


if __name__ == "__main__":
    main()
