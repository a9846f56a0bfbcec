"""Thread policy for llama.cpp: prefill and generation speed with 1 and 2 threads, idle and
with a competing busy-loop process pinned to nothing (it takes one core's worth of CPU).

llama-cpp-python has two settings: n_threads (generation) and n_threads_batch (prefill, which
defaults to all cores whatever n_threads says). Each configuration (n_threads, n_threads_batch)
gets its own `Llama` on the default GGUF and runs, RUNS times per load, a cold chat completion
of a ~1,000-token prompt (a note's text and a question) with 64 greedy answer tokens:
prefill = time to the first piece, tokens/s = (pieces − 1) ÷ (last − first piece).

Run alone with `python benchmarks/threads.py` (prints JSON), or as part of benchmarks/run.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from common import QUICK, ROOT, RUNS, load_average, log, median

CONFIGS = [(1, 1), (2, 2), (1, 2)]


def _prompt() -> list[dict]:
    note = (ROOT / "corpus" / "notes" / "ch01").glob("1.1.2-*.md")
    text = next(note).read_text(encoding="utf-8")[:1400]
    return [{"role": "system", "content": "You are a patient teaching assistant. Answer only from the notes."},
            {"role": "user", "content": f"Notes:\n{text}\n\nQuestion: 为什么注意力要除以根号d_k？"}]


def _one(llama, messages: list[dict]) -> tuple[float, float | None]:
    llama.reset()
    t0 = time.perf_counter()
    first = last = None
    n = 0
    for part in llama.create_chat_completion(messages=messages, temperature=0.0, top_k=1, max_tokens=64, stream=True):
        if part["choices"][0].get("delta", {}).get("content"):
            now = time.perf_counter()
            first = first or now
            last = now
            n += 1
    return first - t0, ((n - 1) / (last - first) if n > 1 and last > first else None)


def _busy() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def run() -> dict:
    from llama_cpp import Llama

    from tutor.llm import default_model_path

    messages = _prompt()
    rows = []
    for nt, nb in CONFIGS:
        llama = Llama(model_path=str(default_model_path()), n_ctx=4096, n_threads=nt, n_threads_batch=nb, seed=42, verbose=False)
        for load in ("idle", "busy"):
            log(f"threads: n_threads={nt} n_threads_batch={nb} {load}")
            busy = _busy() if load == "busy" else None
            try:
                time.sleep(0.5 if busy else 0)
                _one(llama, messages)  # warm-up
                pre, tps = [], []
                la = load_average()
                for _ in range(RUNS if not QUICK else 1):
                    p, t = _one(llama, messages)
                    pre.append(p)
                    tps.append(t)
            finally:
                if busy:
                    busy.kill()
                    busy.wait()
            rows.append({"n_threads": nt, "n_threads_batch": nb, "load": load, "prefill_s": median(pre),
                         "tokens_per_s": median([x for x in tps if x]), "load_average_before": la})
        del llama
    return {"cores": os.cpu_count(), "runs": RUNS, "rows": rows}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
