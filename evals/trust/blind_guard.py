"""Issue 14 item 3, step 1: run a stratified sample of the blind sets through the real Tutor in
`checked` mode (the Explain path: the model writes, the answer check decides what is shown)
and write three files under --out:

- run.jsonl: everything, detector output included (the flagger's per-sentence verdicts and
  the guard's reasons, computed exactly as Chat._guard does on the first draft). Not for the
  labeller.
- drafts_packet.jsonl: per answer the question, the numbered context the answer was checked
  with and the first draft split into the sentences the flagger checks (for sentence labels).
- shown_packet.jsonl: the question, the context and the text the learner was shown (the
  fallback's header line removed), for answer labels by a second reviewer.
  Neither packet carries detector output: reviewers label without seeing it.
- short_packet.jsonl: other blind questions with their retrieved context, for a writer of
  short correct answers (the false-alarm check; blind_score.py checks them).

The sample: per chapter and language the first in-scope item(s) in sha256(id) order, so no
one picks the questions. Needs a built index (TUTOR_HOME).

    TUTOR_HOME=/tmp/evalhome .venv/bin/python evals/trust/blind_guard.py --out evals/trust/blind
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tutor.config import Settings
from tutor.text import split_sentences
from tutor.trust.check import FALLBACK_HEADER, garbage_reasons
from tutor.tutor import build_tutor

SETS = ["blind3_ch1-8.jsonl", "blind3_ch9-16.jsonl"]


def sample(rows: list[dict], per_cell: int, skip: set[str] = frozenset()) -> list[dict]:
    """per_cell in-scope items per (chapter, lang), taken in sha256(id) order; ids in skip excluded."""
    cells: dict[tuple[str, str], list[dict]] = {}
    for r in sorted(rows, key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest()):
        if r["out_of_scope"] or r["id"] in skip:
            continue
        cell = cells.setdefault((r["expected_ids"][0].split(".")[0], r["lang"]), [])
        if len(cell) < per_cell:
            cell.append(r)
    return [r for key in sorted(cells, key=lambda k: (int(k[0]), k[1])) for r in cells[key]]


def context_groups(tutor, sources, lang: str) -> list[str]:
    """The numbered context as the model saw it: "[n] title（title_en）" then the chunks' text."""
    return tutor.chat._context(sources, tutor.index.chunks, lang)


def run_one(tutor, row: dict) -> dict:
    t0 = time.perf_counter()
    draft, answer = "", None
    for kind, value in tutor.ask_stream(row["question"], mode="checked"):
        if kind == "draft":
            draft += value
        elif kind == "done":
            answer = value
    draft = draft.strip()
    rec = {"id": row["id"], "lang": row["lang"], "question": row["question"], "covered": answer.covered,
           "outcome": answer.guard["outcome"] if answer.covered else "not_covered", "shown": answer.answer,
           "guard_reasons": answer.guard["reasons"], "seconds": round(time.perf_counter() - t0, 1)}
    if not answer.covered:
        return rec
    context = [tutor.index.chunks[c].text for s in answer.sources for c in s.chunk_ids]
    sents = split_sentences(draft)
    checks = tutor.chat.flagger.check(sents, context, answer.lang)
    rec.update(
        draft=draft, sources=[s.id for s in answer.sources],
        context=context_groups(tutor, answer.sources, answer.lang),
        sentences=[{"i": c.index, "text": c.text, "checkable": c.checkable, "supported": c.supported,
                    "score": round(c.score, 4)} for c in checks],
        draft_reasons=garbage_reasons(draft, answer.lang, checks, tutor.chat.instructions(answer.lang),
                                      tutor.chat.source_headers(answer), answer.question))
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "evals" / "trust" / "blind")
    ap.add_argument("--per-cell", type=int, default=1, help="answers per chapter and language")
    ap.add_argument("--short-per-cell", type=int, default=2, help="short-answer questions per chapter and language")
    args = ap.parse_args()
    rows = [json.loads(x) for s in SETS for x in (ROOT / "evals" / "sets" / s).read_text(encoding="utf-8").splitlines()
            if x.strip()]
    picked = sample(rows, args.per_cell)
    short = sample(rows, args.short_per_cell, skip={r["id"] for r in picked})
    args.out.mkdir(parents=True, exist_ok=True)
    tutor = build_tutor(Settings())
    with (args.out / "short_packet.jsonl").open("w", encoding="utf-8") as f:
        for r in short:
            a = tutor.ask(r["question"], mode="quotes_first")  # retrieval only: no model call
            if not a.covered:
                continue
            f.write(json.dumps({"id": r["id"], "lang": r["lang"], "question": r["question"],
                                "sources": [s.id for s in a.sources],
                                "context": context_groups(tutor, a.sources, a.lang)}, ensure_ascii=False) + "\n")
    with (args.out / "run.jsonl").open("w", encoding="utf-8") as full, \
            (args.out / "drafts_packet.jsonl").open("w", encoding="utf-8") as drafts, \
            (args.out / "shown_packet.jsonl").open("w", encoding="utf-8") as shown:
        for r in picked:
            rec = run_one(tutor, r)
            full.write(json.dumps(rec, ensure_ascii=False) + "\n")
            full.flush()
            if rec["covered"]:
                head = {"id": rec["id"], "lang": rec["lang"], "question": rec["question"], "context": rec["context"]}
                drafts.write(json.dumps({**head, "sentences": [s["text"] for s in rec["sentences"]]},
                                        ensure_ascii=False) + "\n")
                text = rec["shown"].removeprefix(FALLBACK_HEADER[rec["lang"]]).strip()
                shown.write(json.dumps({**head, "shown": text}, ensure_ascii=False) + "\n")
                drafts.flush()
                shown.flush()
            print(f"{rec['id']:16s} {rec['outcome']:11s} {rec['seconds']:6.1f}s", flush=True)


if __name__ == "__main__":
    main()
