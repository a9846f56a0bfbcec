"""`make bench`: the tutor's cost as ratios against its own floors, measured in one run.

Each ratio compares the tutor with the thing it cannot be faster than, on the same machine
in the same run, so a busy or slow machine moves both sides (absolute seconds are context):

  tokens/s through `ask` streaming ÷ raw llama-cpp-python on the identical prompt   ≥ 0.95
  time to first token ÷ (raw prefill of the same prompt + retrieval)                  ≤ 1.05
  hybrid search p95 (warm) ÷ time to first token                                      ≤ 0.10
  ingest ÷ time spent embedding the same chunks                                       ≤ 1.3
  no-op re-ingest ÷ full ingest                                                       ≤ 0.05
  and absolute bounds the learner feels: time to a useful answer p50 < 3 s (warm),
  peak RSS of `tutor ui` after a question < 2048 MiB; `tutor --help` / `tutor search`
  import neither llama_cpp nor gradio.

Also reported: the answer check's share of an ask, the prefix-cache gain on a second
question, UI start-up, the plain-LangChain baseline on the same questions, growth at ×1/×4/×16,
the llama.cpp thread policy, and the load check (N learners mixing search, ask and quiz against
two replicas sharing a Chroma server, a model server and PostgreSQL, then against one in-process
app; errors must be 0). Medians over BENCH_RUNS (default 5) runs. Sections: modules
ingest_bench, ask_bench, startup_bench, baseline, growth, threads, load (their docstrings say how).

Environment: BENCH_RUNS; BENCH_QUICK=1 (one run, few questions: a smoke test);
BENCH_ONLY=ask,startup,baseline,growth,threads,load (ingest always runs, it builds the index the
others use); BENCH_SKIP=load (sections left out of those); BENCH_LOAD_LEARNERS (default 8, quick 4),
BENCH_LOAD_S (seconds per arm, default 90, quick 20); BENCH_GROWTH=1,4,16; BENCH_KEEP=1 keeps the work dir, BENCH_REUSE=DIR reuses its index; targets BENCH_TPS_RATIO, BENCH_TTFT_RATIO,
BENCH_SEARCH_SHARE, BENCH_INGEST_RATIO, BENCH_NOOP_RATIO, BENCH_USEFUL_S, BENCH_PEAK_RSS_MIB.
Writes benchmarks/results.json; exits 1 when a target is missed.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (sets the offline environment first)
from common import QUICK, ROOT, RUNS, load_average, log

SECTIONS = ("ask", "startup", "baseline", "growth", "threads", "load")


def _env(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


# name → (comparison, limit, what it is)
TARGETS = {
    "tokens_per_s_ratio": (">=", _env("BENCH_TPS_RATIO", 0.95), "ask streaming tokens/s ÷ raw llama.cpp, same prompt"),
    "first_token_ratio": ("<=", _env("BENCH_TTFT_RATIO", 1.05), "ask time to first token ÷ (raw prefill + retrieval)"),
    "search_p95_share": ("<=", _env("BENCH_SEARCH_SHARE", 0.10), "hybrid search p95 warm ÷ ask time to first token"),
    "ingest_ratio": ("<=", _env("BENCH_INGEST_RATIO", 1.3), "ingest ÷ embedding time of the same chunks"),
    "noop_reingest_ratio": ("<=", _env("BENCH_NOOP_RATIO", 0.05), "no-op re-ingest ÷ full ingest"),
    "useful_answer_p50_s": ("<", _env("BENCH_USEFUL_S", 3.0), "time to a useful answer, p50 warm (s)"),
    "ui_peak_rss_mib": ("<", _env("BENCH_PEAK_RSS_MIB", 2048), "tutor ui peak RSS after a question (MiB)"),
    "light_imports": ("==", True, "tutor --help / search import neither llama_cpp nor gradio"),
    "load_errors": ("==", 0, "errors in the load check (replicas and in-process app)"),
}
OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b, "==": lambda a, b: a == b}


def machine() -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = next((int(ln.split()[1]) // 1024 for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")), 0)
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_mib": mem, "python": platform.python_version(),
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "load_average_start": load_average()}


def headline(res: dict) -> dict:
    ask, ing, st = res.get("ask", {}), res["ingest"], res.get("startup", {})
    imp = st.get("imports")
    return {
        "tokens_per_s_ratio": ask.get("tps_ratio"),
        "first_token_ratio": ask.get("ttft_ratio"),
        "search_p95_share": ask.get("search", {}).get("p95_share_of_ttft"),
        "ingest_ratio": ing["ratio"],
        "noop_reingest_ratio": ing["noop"]["ratio_to_full"],
        "useful_answer_p50_s": ask.get("useful_answer", {}).get("p50_s"),
        "ui_peak_rss_mib": st.get("ui", {}).get("peak_rss_mib"),
        "light_imports": all(v["ok"] for v in imp.values()) if imp else None,
        "load_errors": res["load"]["errors"] if "load" in res else None,
    }


def check(figures: dict) -> tuple[dict, list[str]]:
    table, missed = {}, []
    for k, (op, lim, what) in TARGETS.items():
        v = figures.get(k)
        met = None if v is None else OPS[op](v, lim)
        table[k] = {"value": v, "target": f"{op} {lim}", "met": met, "what": what}
        if met is False:
            missed.append(k)
    return table, missed


def save(res: dict) -> None:
    """results.json after every section, so a run stopped part-way keeps what it measured."""
    (ROOT / "benchmarks" / "results.json").write_text(json.dumps(res, indent=2, ensure_ascii=False, default=str) + "\n",
                                                      encoding="utf-8")


def main() -> int:
    skip = set(os.environ.get("BENCH_SKIP", "").split(","))
    only = [s for s in os.environ.get("BENCH_ONLY", ",".join(SECTIONS)).split(",") if s and s not in skip]
    reuse = os.environ.get("BENCH_REUSE")  # a work dir kept by BENCH_KEEP=1: skip the ingest (debugging)
    work = Path(reuse) if reuse else Path(tempfile.mkdtemp(prefix="tutor-bench-"))
    res: dict = {"machine": machine(), "runs": RUNS, "quick": QUICK}
    log(f"work dir {work}; runs {RUNS}; sections ingest,{','.join(only)}")
    try:
        import ask_bench
        import ingest_bench
        from tutor.tutor import build_tutor

        dense, ml = ingest_bench.load_embedders()
        if reuse:
            res["ingest"] = json.loads((work / "ingest.json").read_text())
            recorded = (common.RecordingEmbeddings(dense.embeddings), common.RecordingEmbeddings(ml.embeddings))
        else:
            res["ingest"], _, recorded = ingest_bench.run(work, dense, ml)
            (work / "ingest.json").write_text(json.dumps(res["ingest"]))
        save(res)
        gc.collect()
        home, corpus = work / "home", Path(res["ingest"]["corpus"])
        if "ask" in only:
            t = build_tutor(ingest_bench.settings(home, corpus), embedder=dense, multilingual=ml)
            res["ask"] = ask_bench.run(t)
            save(res)
            threads = t.llm.llama.n_threads
            del t
            gc.collect()
        else:
            threads = os.cpu_count()
        if "startup" in only:
            import startup_bench

            res["startup"] = startup_bench.run(home, corpus)
            save(res)
        if "baseline" in only:
            log("baseline: plain LangChain (subprocess)")
            p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "baseline.py"), str(work / "baseline"), str(threads), str(corpus)],
                               capture_output=True, text=True, cwd=ROOT)
            res["baseline"] = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else {"error": p.stderr[-2000:]}
            save(res)
        if "growth" in only:
            import growth

            full = res["ingest"]["full"]
            res["growth"] = growth.run(work, dense, ml, recorded, full["embed_s"] / max(1, full["chunks"]), corpus)
            save(res)
        if "load" in only:
            import load

            log("load: two replicas on shared servers, then one in-process app")
            vectors = (recorded[0].vectors, recorded[1].vectors) if recorded[0].vectors else None
            res["load"] = load.run(work / "load", corpus, (dense, ml), vectors,
                                   learners=int(os.environ.get("BENCH_LOAD_LEARNERS", 4 if QUICK else 8)),
                                   duration=float(os.environ.get("BENCH_LOAD_S", 20 if QUICK else 90)),
                                   corpus_note=("the quick subset (whole outline + chapter 1 notes)" if QUICK
                                                else "the whole shipped corpus") + (", vectors reused from the ingest section"
                                                                                    if vectors else ""))
            save(res)
        del recorded
        gc.collect()
        if "threads" in only:
            import threads as threads_bench

            res["threads"] = threads_bench.run()
    finally:
        if not reuse and not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    res["machine"]["load_average_end"] = load_average()
    res["figures"], missed = check(headline(res))
    res["missed"] = missed
    save(res)
    print(report(res))
    return 1 if missed else 0


def _f(v) -> str:
    return "—" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)


def report(res: dict) -> str:
    m = res["machine"]
    out = [f"machine: {m['cpu']}, {m['cores']} cores, {m['mem_mib']} MiB; {m['date_utc']} UTC; load average "
           f"{m['load_average_start']} → {m['load_average_end']}; {res['runs']} runs{' (QUICK)' if res['quick'] else ''}", ""]
    for k, row in res["figures"].items():
        mark = {True: "met", False: "MISSED", None: "not run"}[row["met"]]
        out.append(f"  {k:<22} {_f(row['value']):>8}  target {row['target']:<8} {mark:<7} {row['what']}")
    a, ing = res.get("ask"), res["ingest"]
    out.append("")
    out.append(f"ingest: full {ing['full']['chunks']} chunks {ing['full']['wall_s']} s (embedding {ing['full']['embed_s']} s, "
               f"ratio {ing['full']['ratio']}); subset runs {ing['subset']['ratio_runs']}; no-op {ing['noop']['median_s']} s")
    if a:
        out.append(f"ask ({a['model']}, threads {a['threads']}/{a['threads_batch']}): tokens/s {_f(a['tutor_tps'])} vs raw "
                   f"{_f(a['raw_tps'])}; first token {_f(a['tutor_ttft_s'])} s vs raw prefill {_f(a['raw_first_s'])} s + "
                   f"retrieval {_f(a['retrieve_s'])} s ({_f(a['prompt_tokens'])} prompt tokens); total {_f(a['total_s'])} s, "
                   f"answer check {_f(a['check_s'])} s = {_f(a['check_share'])} of it ({a['retried']} of {a['questions']} retried)")
        s, pc, u = a["search"], a["prefix_cache"], a["useful_answer"]
        out.append(f"search: p50 {_f(s['p50_s'])} s, p95 {_f(s['p95_s'])} s over {s['queries']} queries")
        out.append(f"prefix cache (model-side first token): cold {_f(pc['cold_s'])} s, after another question "
                   f"{_f(pc['after_q1_s'])} s ({_f(pc['shared_tokens_after_q1'])} tokens reused), after a checked question "
                   f"{_f(pc['after_q1_checked_s'])} s ({_f(pc['shared_tokens_after_checked_q1'])} reused), same question again {_f(pc['again_s'])} s")
        out.append(f"useful answer ({u['mode']}): p50 {_f(u['p50_s'])} s, p95 {_f(u['p95_s'])} s over {u['asks']} asks; "
                   f"model acceptance {_f(u['acceptance'])} ({u['acceptance_source']})")
    st = res.get("startup")
    if st:
        ui = st["ui"]
        out.append(f"start-up: tutor ui ready {_f(ui['ready_s'])} s (runs {ui['ready_runs_s']}); RSS {ui.get('rss_after_start_mib')} MiB "
                   f"after start, peak {ui.get('peak_rss_mib')} MiB after /chat {ui.get('chat_s')} s + /explain {ui.get('explain_s')} s; "
                   + "; ".join(f"tutor {k}: {v['wall_s']} s, heavy imports {v['heavy_imported']}" for k, v in st["imports"].items()))
    b = res.get("baseline")
    if b and "error" not in b:
        ba = b["ask"]
        out.append(f"baseline (plain LangChain): ready {b['ready_s']} s; ingest {b['ingest']['wall_s']} s for {b['ingest']['chunks']} "
                   f"chunks (ratio {b['ingest']['ratio']}); search p50 {_f(b['search']['p50_s'])} p95 {_f(b['search']['p95_s'])} s; "
                   f"first token {_f(ba['ttft_s'])} s (ratio {_f(ba['ttft_ratio'])}, {_f(ba['prompt_tokens'])} prompt tokens), "
                   f"tokens/s {_f(ba['tps'])} (ratio {_f(ba['tps_ratio'])}); answer {_f(ba['total_s'])} s; peak RSS {b['peak_rss_mib']} MiB")
    elif b:
        out.append(f"baseline failed: {b['error'][-300:]}")
    g = res.get("growth")
    if g:
        for r in g["rows"]:
            out.append(f"growth x{r['copies']}: {r['chunks']} chunks, index build {r['index_build_s']} s (no embedding; "
                       f"{r['hash_vectors']} hash vectors), search p50 {r['search_p50_s']} s p95 {r['search_p95_s']} s, "
                       f"embedding would add {r['embedding_s_projected']} s")
        out.append(f"growth exponents (time ∝ chunks^b): index build {g['exponent_index_build']}, search p50 {g['exponent_search_p50']}")
    ld = res.get("load")
    if ld:
        import load

        out.append(load.table(ld))
    th = res.get("threads")
    if th:
        for r in th["rows"]:
            out.append(f"threads {r['n_threads']}/{r['n_threads_batch']} {r['load']}: prefill {_f(r['prefill_s'])} s, "
                       f"{_f(r['tokens_per_s'])} tokens/s")
    if res["missed"]:
        out.append(f"\nMISSED: {', '.join(res['missed'])}")
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
