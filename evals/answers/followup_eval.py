"""Follow-ups in a conversation (a set with "history": the learner's earlier questions, oldest
first) answered in answer mode "quotes_first" and scored as quotes_eval.py scores single
questions. Each earlier question is asked first with the turns before it, and its answer becomes
the assistant turn, as the chat page does; then the follow-up is asked with the whole history.
The same follow-up asked alone (no history) is scored beside it: what resolving the referent adds.

    .venv/bin/python evals/answers/followup_eval.py --set evals/sets/blind5_conversations.jsonl [--home DIR] [--out FILE.json]

Scores per follow-up: covered (not refused as "not covered"), referent_top3 (an expected note among
the answer's first three sources), first_expected / cited_expected / kp_recall as quotes_eval.py;
kp_recall_with_history: the key points in the earlier answers and this one together (what the
learner has read by then).

The opposite risk, a standalone question mistaken for a follow-up, is measured with --switch SET
(a set of single questions, e.g. tuning_colloquial.jsonl): each question is asked after a question
of another chapter (the set's next item from another chapter, with its answer), and compared with
the same question alone: the share treated as a follow-up, and the share whose first three sources
differ from alone (a topic switch should change nothing).

    .venv/bin/python evals/answers/followup_eval.py --switch evals/sets/tuning_colloquial.jsonl [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from evals.answers.quotes_eval import score  # noqa: E402
from tutor.evaluate.evaluation import KEY_POINT_MATCH  # noqa: E402
from tutor.rag.retrieve import term_coverage  # noqa: E402
from tutor.config import Settings  # noqa: E402
from tutor.tutor import build_tutor  # noqa: E402

METRICS = ("covered", "referent_top3", "first_expected", "cited_expected", "kp_recall", "kp_recall_with_history")


def load_lines(path: str) -> list[dict]:
    """The JSON lines of an eval set."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def summarise(rows: list[dict]) -> dict:
    return {"n": len(rows), **{m: round(statistics.mean(float(r[m]) for r in rows), 3) for m in METRICS}}


def switch(t, path: str, near: bool = False) -> dict:
    """Standalone questions after a question of another chapter — with near, of the same chapter
    but about other notes (the harder case for a conversation-topic prior): {lang: {n, followup,
    top3_changed, first_expected_alone, first_expected_after}} (shares in [0, 1]; first_expected: the
    first source is an expected note)."""
    from tutor.rag import followup

    items = [it for it in load_lines(path) if not it.get("out_of_scope") and it.get("expected_ids")]
    rows = []
    for i, it in enumerate(items):
        chapter = it["expected_ids"][0].split(".")[0]
        others = items[i + 1:] + items[:i]
        if near:
            prev = next((o for o in others if o["lang"] == it["lang"] and o["expected_ids"][0].split(".")[0] == chapter
                         and not set(o["expected_ids"]) & set(it["expected_ids"])), None)
            if prev is None:
                continue
        else:
            prev = next(o for o in others if o["expected_ids"][0].split(".")[0] != chapter)
        pa = t.ask(prev["question"], mode="quotes_first")
        hist = [{"role": "user", "content": prev["question"]}, {"role": "assistant", "content": pa.answer}]
        alone = t.ask(it["question"], mode="quotes_first")
        after = t.ask(it["question"], history=hist, mode="quotes_first")
        rows.append({"lang": it["lang"], "followup": followup.is_followup(it["question"], t.index),
                     "top3_changed": [s.id for s in alone.sources[:3]] != [s.id for s in after.sources[:3]],
                     "first_expected_alone": bool(alone.sources) and alone.sources[0].id in it["expected_ids"],
                     "first_expected_after": bool(after.sources) and after.sources[0].id in it["expected_ids"]})
    out = {}
    for lang in ("zh", "en"):
        sub = [r for r in rows if r["lang"] == lang]
        if sub:
            out[lang] = {"n": len(sub), **{m: round(sum(r[m] for r in sub) / len(sub), 3) for m in
                                           ("followup", "top3_changed", "first_expected_alone", "first_expected_after")}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set")
    ap.add_argument("--switch", help="a set of single questions: the topic-switch check")
    ap.add_argument("--near", action="store_true", help="--switch after a question of the same chapter (other notes)")
    ap.add_argument("--home", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    t = build_tutor(Settings(**({"home": args.home} if args.home else {})))
    if args.switch:
        print(json.dumps({"switch": args.switch, "near": args.near, **switch(t, args.switch, args.near)}, ensure_ascii=False))
        return
    if not args.set:
        ap.error("give --set SET (follow-ups with a history) or --switch SET (single questions)")
    items = load_lines(args.set)
    rows = []
    for it in items:
        turns: list[dict] = []
        for q in it["history"]:
            a = t.ask(q, history=turns, mode="quotes_first")
            turns += [{"role": "user", "content": q}, {"role": "assistant", "content": a.answer}]
        row = {"id": it["id"], "lang": it["lang"], "off_topic_turn": len(it["history"]) > 1}
        for name, hist in (("conversation", turns), ("alone", [])):
            a = t.ask(it["question"], history=hist, mode="quotes_first")
            r = score(a, it["expected_ids"], it["key_points"])
            r["referent_top3"] = any(s.id in it["expected_ids"] for s in a.sources[:3])
            # what the learner has on screen after it: the earlier answers' quotes and this one's (an
            # answer that repeats an earlier one word for word adds nothing to this)
            seen = "\n".join([t["content"] for t in hist if t["role"] == "assistant"] + [a.answer if a.covered else ""])
            r["kp_recall_with_history"] = (sum(term_coverage(k, seen) >= KEY_POINT_MATCH for k in it["key_points"])
                                           / len(it["key_points"]))
            row[name] = r
        rows.append(row)
    summary = {"set": args.set}
    for name in ("conversation", "alone"):
        summary[name] = summarise([r[name] for r in rows])
        for key, sub in (("zh", lambda r: r["lang"] == "zh"), ("en", lambda r: r["lang"] == "en"),
                         ("off_topic_turn", lambda r: r["off_topic_turn"])):
            summary[name][key] = summarise([r[name] for r in rows if sub(r)])
    print(json.dumps(summary, ensure_ascii=False))
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "rows": rows}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
