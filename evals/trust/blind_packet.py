"""Issue 14 item 3, step 2: reviewer 1's packet. Mixes the model's first drafts
(drafts_packet.jsonl, from blind_guard.py) with the written short answers
(short_answers.jsonl; contexts from short_packet.jsonl) in sha256(id) order, each answer split
into the sentences the flagger checks (tutor.text.split_sentences), with no detector output.

    .venv/bin/python evals/trust/blind_packet.py --dir evals/trust/blind   # → review_packet.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tutor.text import split_sentences


def read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=ROOT / "evals" / "trust" / "blind")
    d = ap.parse_args().dir
    items = [{k: r[k] for k in ("id", "lang", "question", "context", "sentences")} for r in read(d / "drafts_packet.jsonl")]
    contexts = {r["id"]: r for r in read(d / "short_packet.jsonl")}
    for s in read(d / "short_answers.jsonl"):
        if s.get("skip"):
            continue
        c = contexts[s["id"]]
        items.append({"id": s["id"], "lang": c["lang"], "question": c["question"], "context": c["context"],
                      "sentences": split_sentences(s["answer"])})
    items.sort(key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest())
    with (d / "review_packet.jsonl").open("w", encoding="utf-8") as f:
        for r in items:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(items)} answers, {sum(len(r['sentences']) for r in items)} sentences → {d / 'review_packet.jsonl'}")


if __name__ == "__main__":
    main()
