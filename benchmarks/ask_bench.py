"""`ask` measured against raw llama-cpp-python on the identical final prompt, in one process.

For each bench question (mode "stream", the path of `tutor ask --mode stream`, answer check
on): the tutor's llama.cpp KV cache is reset (cold), the question is asked through
`Tutor.ask_stream`, and a probe around `llm._pieces` records the exact messages and
max_tokens llama.cpp received. Then a second `Llama` on the same GGUF (same n_ctx, threads,
seed; reset, so no prefix is cached) runs `create_chat_completion` on those messages with the
same sampling (temperature 0, top_k 1), stopped after as many pieces as the tutor's first
generation produced (the tutor cuts a looping answer short).

- tokens/s = (pieces − 1) ÷ (last piece − first piece), seen by the consumer of each stream;
- time to first token: the tutor's from calling ask_stream to its first text event
  (retrieval, prompt assembly, budget fitting, template, prefill); the raw one from calling
  create_chat_completion to its first piece (template + prefill);
- the answer check: from the first generation's last piece to "done" (flagger, the strict
  retry when the check rejects the answer, the quoted fallback), as a share of the whole ask;
- prefix cache: llama-cpp-python reuses the longest common token prefix of the previous
  call; measured as q2's model-side first token cold vs after q1, and the same question twice;
- time to a useful answer: `Tutor.ask` in the default mode (quotes_first for SmolLM2),
  warm, wall time per question.

Not here: several users at once (make soak), a GPU.
"""

from __future__ import annotations

import time

from common import QUESTIONS, QUICK, RUNS, log, median, pct, questions, ratio, search_queries


class Probe:
    """Records each generation's messages, max_tokens and piece count (wraps llm._pieces)."""

    def __init__(self, llm):
        self.calls: list[dict] = []
        orig = llm._pieces

        def pieces(messages, max_tokens):
            rec = {"messages": messages, "max_tokens": max_tokens, "pieces": 0}
            self.calls.append(rec)
            for p in orig(messages, max_tokens):
                rec["pieces"] += 1
                yield p

        llm._pieces = pieces


def raw_llama(llm):
    """A second llama.cpp context on the tutor's GGUF with the tutor's parameters."""
    from llama_cpp import Llama

    return Llama(model_path=str(llm.path), n_ctx=llm.n_ctx, n_threads=llm.llama.n_threads,
                 n_threads_batch=llm.llama.n_threads_batch,
                 n_gpu_layers=llm.llama.model_params.n_gpu_layers, seed=llm.llama._seed, verbose=False)


def raw_run(llama, messages: list[dict], max_tokens: int, max_pieces: int | None = None) -> dict:
    """One cold raw generation: first-piece time (s) and tokens/s by the same rule as the tutor's."""
    llama.reset()
    t0 = time.perf_counter()
    first = last = None
    n = 0
    text = ""
    for part in llama.create_chat_completion(messages=messages, temperature=0.0, top_k=1, max_tokens=max_tokens, stream=True):
        delta = part["choices"][0].get("delta", {}).get("content")
        if not delta:
            continue
        now = time.perf_counter()
        first = first or now
        last = now
        n += 1
        text += delta
        if max_pieces and n >= max_pieces:
            break
    return {"first_s": (first or time.perf_counter()) - t0, "pieces": n,
            "tps": (n - 1) / (last - first) if n > 1 and last > first else None, "text": text}


def tutor_run(t, q: str, probe: Probe, cold: bool = True, mode: str = "stream") -> dict:
    """One ask through the streaming path, timed from the consumer's side."""
    if cold:
        t.llm.llama.reset()
    probe.calls.clear()
    t0 = time.perf_counter()
    first = last = retry = replace = None
    n = 0
    answer = None
    for kind, value in t.ask_stream(q, mode=mode):
        now = time.perf_counter()
        if kind in ("token", "draft") and retry is None:
            first = first or now
            last = now
            n += 1
        elif kind == "retry":
            retry = now
        elif kind == "replace":
            replace = now
        elif kind == "done":
            answer, done = value, now
    gen = probe.calls[0] if probe.calls else {"pieces": 0, "messages": [], "max_tokens": 0}
    total = done - t0
    check = done - (last or done)
    return {"question": q, "ttft_s": (first - t0) if first else None, "retrieve_s": answer.timings["retrieve_ms"] / 1000,
            "model_first_token_s": (answer.timings["first_token_ms"] or 0) / 1000, "total_s": total,
            "pieces": gen["pieces"], "events": n,
            "tps": (gen["pieces"] - 1) / (last - first) if first and last and last > first and gen["pieces"] > 1 else None,
            "check_s": check, "retry_s": (replace - retry) if retry and replace else 0.0,
            "outcome": answer.guard.get("outcome"), "prompt_tokens": answer.timings["prompt_tokens"],
            "completion_tokens": answer.timings["completion_tokens"],
            "messages": gen["messages"], "max_tokens": gen["max_tokens"]}


def shared_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def prefix_cache(t, probe: Probe, pairs: list[tuple[str, str]]) -> dict:
    """q2's model-side time to first token: cold, after q1 (no retry in between: the answer
    check is off and answers are 32 tokens, so the cache holds q1's prompt), after q1 with
    the check on (a rejected answer's strict retry is the last prompt in the cache), and the
    same q2 again. Shared prefix = tokens of the cache reused."""
    s = t.settings
    keep = s.max_answer_tokens, s.answer_check
    out = {"cold_s": [], "after_q1_s": [], "after_q1_checked_s": [], "again_s": [],
           "shared_tokens_after_q1": [], "shared_tokens_after_checked_q1": [], "prompt_tokens": []}
    retried = 0
    llama = t.llm.llama

    def model_first(q: str) -> tuple[float, int]:
        before = list(llama._input_ids)
        r = tutor_run(t, q, probe, cold=False)
        after = list(llama._input_ids)
        return r["model_first_token_s"], min(shared_prefix(before, after), r["prompt_tokens"])

    try:
        s.max_answer_tokens = 32
        for q1, q2 in pairs:
            s.answer_check = False
            r = tutor_run(t, q2, probe, cold=True)
            out["cold_s"].append(r["model_first_token_s"])
            out["prompt_tokens"].append(r["prompt_tokens"])
            tutor_run(t, q1, probe, cold=True)
            ft, shared = model_first(q2)
            out["after_q1_s"].append(ft)
            out["shared_tokens_after_q1"].append(shared)
            out["again_s"].append(model_first(q2)[0])
            s.answer_check = True
            r1 = tutor_run(t, q1, probe, cold=True)
            s.answer_check = False
            ft, shared = model_first(q2)
            out["after_q1_checked_s"].append(ft)
            out["shared_tokens_after_checked_q1"].append(shared)
            retried += bool(r1["retry_s"])
    finally:
        s.max_answer_tokens, s.answer_check = keep
    summary = {k: median(v) for k, v in out.items()}
    summary["pairs"] = [list(p) for p in pairs]
    summary["checked_q1_retried"] = retried
    summary["gain_after_q1"] = ratio(summary["after_q1_s"], summary["cold_s"])
    summary["gain_same_question"] = ratio(summary["again_s"], summary["cold_s"])
    return summary


def search_latency(t) -> dict:
    qs = search_queries()
    for q in qs[:5]:
        t.search(q, k=5)  # warm: models and indexes loaded, caches filled
    lat = []
    for q in qs:
        t0 = time.perf_counter()
        t.search(q, k=5)
        lat.append(time.perf_counter() - t0)
    return {"queries": len(lat), "p50_s": round(median(lat), 4), "p95_s": round(pct(lat, 0.95), 4)}


def useful_answer(t) -> dict:
    """Wall time of `Tutor.ask` in the default answer mode, warm (one ask before)."""
    from tutor.trust import policy

    mode = t.answer_mode()
    t.ask(questions(1)[0])
    times, modes = [], set()
    for _ in range(RUNS):
        for q in questions(5):
            t0 = time.perf_counter()
            a = t.ask(q)
            times.append(time.perf_counter() - t0)
            modes.add(a.mode)
    rate = policy.acceptance(t.llm.name)
    where = next((w for p, (_, _, w) in policy.MEASURED.items() if t.llm.name.startswith(p)), None)
    return {"mode": mode, "modes_seen": sorted(modes), "asks": len(times), "p50_s": median(times),
            "p95_s": pct(times, 0.95), "acceptance": rate, "acceptance_source": where}


def run(t) -> dict:
    probe = Probe(t.llm)
    raw = raw_llama(t.llm)
    rows = []
    qs = questions()
    tutor_run(t, qs[0], probe)  # warm-up: first use of flagger, chat template, allocators
    for i, q in enumerate(qs):
        log(f"ask: {i + 1}/{len(qs)} {q}")
        r = tutor_run(t, q, probe)
        cut = r["pieces"] if r["pieces"] else None
        w = raw_run(raw, r.pop("messages"), r.pop("max_tokens"), cut)
        r["raw_first_s"], r["raw_tps"], r["raw_pieces"] = w["first_s"], w["tps"], w["pieces"]
        r["tps_ratio"] = ratio(r["tps"], w["tps"])
        r["ttft_ratio"] = ratio(r["ttft_s"], w["first_s"] + r["retrieve_s"]) if r["ttft_s"] else None
        rows.append(r)
    med = lambda k: median([r[k] for r in rows if r.get(k) is not None])  # noqa: E731
    res = {"threads": t.llm.llama.n_threads, "threads_batch": t.llm.llama.n_threads_batch, "n_ctx": t.llm.n_ctx, "model": t.llm.name, "questions": len(rows),
           "tps_ratio": med("tps_ratio"), "ttft_ratio": med("ttft_ratio"),
           "tutor_tps": med("tps"), "raw_tps": med("raw_tps"), "tutor_ttft_s": med("ttft_s"),
           "raw_first_s": med("raw_first_s"), "retrieve_s": med("retrieve_s"), "prompt_tokens": med("prompt_tokens"),
           "total_s": med("total_s"), "check_s": med("check_s"),
           "check_share": median([r["check_s"] / r["total_s"] for r in rows]),
           "retried": sum(1 for r in rows if r["retry_s"]), "outcomes": [r["outcome"] for r in rows], "rows": rows}
    del raw
    log("ask: search latency")
    res["search"] = search_latency(t)
    res["search"]["p50_share_of_ttft"] = ratio(res["search"]["p50_s"], res["tutor_ttft_s"])
    res["search"]["p95_share_of_ttft"] = ratio(res["search"]["p95_s"], res["tutor_ttft_s"])
    log("ask: prefix cache")
    q = QUESTIONS
    pairs = [(q[0], q[2]), (q[1], q[3]), (q[2], q[4])][: 1 if QUICK else 3]
    res["prefix_cache"] = prefix_cache(t, probe, pairs)
    log("ask: time to a useful answer")
    res["useful_answer"] = useful_answer(t)
    return res
