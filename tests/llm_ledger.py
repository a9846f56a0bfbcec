"""Where the suite's real-model time goes (issue 17: measure before sharing generations).

Every in-process call of the real GGUF model (`LlamaCppLLM._pieces`) is logged by the test
that made it: a key for the exact request (messages, max_tokens, temperature), prompt tokens,
generated pieces and seconds. Each xdist worker appends to its own JSONL file in the folder
named by TUTOR_TEST_LLM_LEDGER (set by the controller before workers start); the controller
prints one summary at the end: calls, distinct requests, model seconds and how many of them
repeat a request made earlier in the same worker (what a shared generation cache would save).
`tutor` subprocesses are not counted (their model is another process)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import defaultdict
from pathlib import Path

ENV = "TUTOR_TEST_LLM_LEDGER"


def install() -> None:
    """Wrap LlamaCppLLM._pieces in this process when the ledger folder is set."""
    folder = os.environ.get(ENV)
    if not folder:
        return
    from tutor.llm import LlamaCppLLM

    if getattr(LlamaCppLLM._pieces, "ledger", False):
        return
    inner = LlamaCppLLM._pieces
    out = Path(folder) / f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.jsonl"

    def pieces(self, messages, max_tokens):
        key = hashlib.sha256(json.dumps([str(self.path), messages, max_tokens, self.temperature],
                                        ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]
        t0, n = time.perf_counter(), 0
        try:
            for piece in inner(self, messages, max_tokens):
                n += 1
                yield piece
        finally:
            test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
            row = {"test": test, "key": key, "prompt_tokens": self.count_messages(messages),
                   "pieces": n, "s": round(time.perf_counter() - t0, 3)}
            with open(out, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    pieces.ledger = True
    LlamaCppLLM._pieces = pieces


def summary(folder: Path, top: int = 8) -> list[str]:
    """Lines for the terminal: totals, the seconds spent on repeated requests, top tests."""
    rows = []
    for f in sorted(Path(folder).glob("*.jsonl")):
        seen: set[str] = set()
        for line in f.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            r["repeat"] = r["key"] in seen
            seen.add(r["key"])
            rows.append(r)
    if not rows:
        return []
    total = sum(r["s"] for r in rows)
    rep = [r for r in rows if r["repeat"]]
    by_file: dict[str, float] = defaultdict(float)
    for r in rows:
        by_file[r["test"].split("::")[0]] += r["s"]
    lines = [f"real model calls in-process: {len(rows)} ({len({r['key'] for r in rows})} distinct requests), "
             f"{total:.0f} s of generation, prompt tokens {sum(r['prompt_tokens'] for r in rows):,}; "
             f"repeats of a request the same worker made before: {len(rep)} calls, {sum(r['s'] for r in rep):.0f} s"]
    lines += [f"  {s:7.1f} s  {name}" for name, s in sorted(by_file.items(), key=lambda x: -x[1])[:top]]
    return lines
