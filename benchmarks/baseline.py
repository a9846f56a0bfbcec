"""The plain-LangChain baseline, as a tutorial builds it, on the same corpus and questions.

RecursiveCharacterTextSplitter (500 characters, 50 overlap: three chunks of Chinese, ~1.8
SmolLM2 tokens per character, fit n_ctx 4096 with the answer) over every note file as it is
(front matter included) → HuggingFaceEmbeddings on the same local all-MiniLM-L6-v2 →
langchain-chroma on disk → top 3 → LangChain's classic "stuff" prompt → langchain-community
LlamaCpp on the same GGUF with the tutor's n_ctx, threads, seed, temperature 0 and 384 answer
tokens; every other LlamaCpp field keeps its LangChain default (n_batch 8, repeat_penalty 1.1).

Measured like the tutor (benchmarks/ask_bench.py): ingest ÷ the time inside embed_documents;
search p50/p95 warm; per question (llama.cpp cache reset first) time to first token from the
retriever call, tokens/s, and the same prompt through the LlamaCpp's own `Llama` raw;
start-up = process start to ready (imports, MiniLM, GGUF loaded); peak RSS (VmHWM) at the end.
No re-ingest: the plain pipeline has no incremental ingest (running it again re-embeds all).

Run by benchmarks/run.py as `python benchmarks/baseline.py HOME THREADS [CORPUS]`; prints one JSON object.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from common import ROOT, RUNS, TimedEmbeddings, latencies, median, pct, proc_status, questions, ratio, search_queries  # noqa: E402

from tutor.evaluate.baseline import STUFF, split  # noqa: E402  (the pipeline `tutor eval --baseline` scores)


def stream_timed(pieces, t0: float) -> dict:
    first = last = None
    n = 0
    for p in pieces:
        if not p:
            continue
        now = time.perf_counter()
        first = first or now
        last = now
        n += 1
    return {"first_s": (first - t0) if first else None, "pieces": n, "end_s": time.perf_counter() - t0,
            "tps": (n - 1) / (last - first) if n > 1 and last > first else None}


def main(home: Path, threads: int, corpus: Path = ROOT / "corpus") -> dict:
    from langchain_chroma import Chroma
    from langchain_community.llms import LlamaCpp
    from langchain_core.prompts import PromptTemplate
    from langchain_huggingface import HuggingFaceEmbeddings

    from tutor.corpus import Corpus
    from tutor.llm import default_model_path
    from tutor.rag.embed import default_model_dir

    emb = TimedEmbeddings(HuggingFaceEmbeddings(model_name=str(default_model_dir())))
    llm = LlamaCpp(model_path=str(default_model_path()), n_ctx=4096, n_threads=threads, seed=42, temperature=0.0,
                   max_tokens=384, verbose=False)
    prompt = PromptTemplate.from_template(STUFF)
    ready_s = time.perf_counter() - T_START

    t0 = time.perf_counter()
    chunks = split(Corpus.load(corpus))
    db = Chroma.from_documents(chunks, emb, persist_directory=str(home / "chroma"))
    ingest_s = time.perf_counter() - t0
    res = {"ready_s": round(ready_s, 2), "ingest": {"chunks": len(chunks), "wall_s": round(ingest_s, 1),
                                                    "embed_s": round(emb.seconds, 1), "ratio": ratio(ingest_s, emb.seconds)}}

    qs = search_queries()
    lat = latencies(lambda q: db.similarity_search(q, k=3), qs)
    res["search"] = {"queries": len(lat), "p50_s": round(median(lat), 4), "p95_s": round(pct(lat, 0.95), 4)}

    retriever = db.as_retriever(search_kwargs={"k": 3})
    rows = []
    for q in [questions()[0], *questions()]:  # the first is a warm-up
        llm.client.reset()
        t0 = time.perf_counter()
        hits = retriever.invoke(q)
        text = prompt.format(context="\n\n".join(d.page_content for d in hits), question=q)
        retrieve_s = time.perf_counter() - t0
        try:
            r = stream_timed(llm.stream(text), t0)
        except ValueError as e:  # a stuffed prompt over n_ctx: the plain pipeline has no budget
            rows.append({"question": q, "error": str(e)[:200]})
            continue
        params = llm._get_parameters(None)
        llm.client.reset()
        t1 = time.perf_counter()
        w = stream_timed((p["choices"][0]["text"] for p in llm.client(prompt=text, stream=True, **{**params, "max_tokens": r["pieces"] or 1})), t1)
        rows.append({"question": q, "retrieve_s": retrieve_s, "ttft_s": r["first_s"], "total_s": r["end_s"], "tps": r["tps"],
                     "pieces": r["pieces"], "prompt_tokens": len(llm.client.tokenize(text.encode())),
                     "raw_first_s": w["first_s"], "raw_tps": w["tps"],
                     "tps_ratio": ratio(r["tps"], w["tps"]),
                     "ttft_ratio": ratio(r["first_s"], (w["first_s"] or 0) + retrieve_s) if r["first_s"] else None})
    rows = rows[1:]
    med = lambda k: median([r[k] for r in rows if r.get(k) is not None])  # noqa: E731
    res["ask"] = {"questions": len(rows), "errors": sum(1 for r in rows if "error" in r), "tps_ratio": med("tps_ratio"),
                  "ttft_ratio": med("ttft_ratio"), "ttft_s": med("ttft_s"), "total_s": med("total_s"), "tps": med("tps"),
                  "raw_tps": med("raw_tps"), "raw_first_s": med("raw_first_s"), "retrieve_s": med("retrieve_s"),
                  "prompt_tokens": med("prompt_tokens"), "rows": rows}
    res["search"]["p95_share_of_ttft"] = ratio(res["search"]["p95_s"], res["ask"]["ttft_s"])
    res["peak_rss_mib"] = proc_status()["VmHWM"]
    res["runs"] = RUNS
    return res


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]), *[Path(a) for a in sys.argv[3:4]])))
