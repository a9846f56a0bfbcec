"""`make bench`: speed and memory of the default stack, checked against targets.

Measures, on a fresh data dir: full ingest (s), no-op re-ingest (s), search latency p50/p95
(ms) over the retrieval eval questions, time to first token and tokens/s of `ask` on the
default model, and peak RSS (MiB). Writes benchmarks/results.json and exits 1 when a target
is missed. Targets are for the 2-core reference machine; override with BENCH_* variables.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {  # upper bounds
    "ingest_s": float(os.environ.get("BENCH_INGEST_S", 180)),
    "reingest_s": float(os.environ.get("BENCH_REINGEST_S", 5)),
    "search_p95_ms": float(os.environ.get("BENCH_SEARCH_P95_MS", 400)),
    "first_token_ms_p50": float(os.environ.get("BENCH_FIRST_TOKEN_MS", 8000)),
    "peak_rss_mib": float(os.environ.get("BENCH_PEAK_RSS_MIB", 3000)),
}
MIN_TOKENS_PER_S = float(os.environ.get("BENCH_MIN_TOKENS_PER_S", 30))

QUESTIONS = ["为什么注意力要除以根号d_k？", "What is rotary position embedding?", "LoRA 为什么省显存？",
             "How does classifier-free guidance work?", "第5章讲什么？", "DDIM 和 DDPM 有什么区别？"]


def main() -> int:
    from tutor.config import Settings
    from tutor.tutor import build_tutor

    home = Path(tempfile.mkdtemp()) / "home"
    t = build_tutor(Settings(home=home, corpus_dir=ROOT / "corpus", prompts_dir=ROOT / "prompts"))
    res: dict = {}
    t0 = time.perf_counter()
    r = t.ingest()
    res["ingest_s"] = round(time.perf_counter() - t0, 1)
    res["chunks"] = r.total
    t0 = time.perf_counter()
    t.ingest()
    res["reingest_s"] = round(time.perf_counter() - t0, 2)

    qs = QUESTIONS
    sets = ROOT / "evals" / "sets"
    for f in sorted(sets.glob("*.jsonl")) if sets.is_dir() else []:
        qs = qs + [json.loads(line)["question"] for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    t.search("warm up")
    lat = []
    for q in qs[:200]:
        t0 = time.perf_counter()
        t.search(q, k=5)
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    res["search_queries"] = len(lat)
    res["search_p50_ms"] = round(statistics.median(lat), 1)
    res["search_p95_ms"] = round(lat[int(0.95 * (len(lat) - 1))], 1)

    ftt, tps = [], []
    for q in QUESTIONS[:4]:
        a = t.ask(q)
        if a.timings.get("first_token_ms"):
            ftt.append(a.timings["first_token_ms"])
            tps.append(a.timings["tokens_per_s"])
    res["first_token_ms_p50"] = round(statistics.median(ftt), 1) if ftt else None
    res["tokens_per_s_p50"] = round(statistics.median(tps), 1) if tps else None
    res["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    res["model"] = t.llm.name

    missed = [k for k, lim in TARGETS.items() if res.get(k) is None or res[k] > lim]
    if res.get("tokens_per_s_p50") is None or res["tokens_per_s_p50"] < MIN_TOKENS_PER_S:
        missed.append("tokens_per_s_p50")
    res["targets"] = {**TARGETS, "tokens_per_s_p50_min": MIN_TOKENS_PER_S}
    res["missed"] = missed
    (ROOT / "benchmarks" / "results.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    for k, v in res.items():
        if k != "targets":
            print(f"{k:>20}: {v}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
