"""How ingest and search grow with the corpus: ×1, ×4, ×16 synthetic copies (BENCH_GROWTH).

Copy k of the corpus renumbers every chapter c as c + 16k (outline, note ids, prerequisites,
related, file names), so every chunk has its own id. Embedding is kept apart, because
embedding ×16 (≈55,000 chunks × 2 models) would take hours on 2 cores:

- embedding: linear in chunks by construction (each chunk is embedded once); its cost is the
  full ingest's time inside embed_documents, per chunk, measured at ×1 (ingest_bench);
- index building and search at scale: document vectors come from the ×1 ingest, looked up
  by text (the copies' note chunks are the same texts); the outline chunks, whose text names
  their (renumbered) ids, miss and get the hash embedder's vector: timing only, counted as
  `hash_vectors`. Queries are embedded by the real models. So "ingest" below is chunking,
  hashing, Chroma insertion (HNSW), BM25 build and the manifest, not embedding.

The exponent b is the least-squares slope of log(time) on log(chunks): time ∝ chunks^b.
"""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path

import yaml

from common import QUICK, ROOT, CachedEmbeddings, latencies, log, median, pct, search_queries, with_embeddings

CHAPTERS = 16


def _shift(node_id: str, k: int) -> str:
    head, _, rest = str(node_id).partition(".")
    return f"{int(head) + CHAPTERS * k}" + (f".{rest}" if rest else "")


def synthetic_corpus(copies: int, into: Path, src: Path = ROOT / "corpus") -> Path:
    outline = (src / "outline.md").read_text(encoding="utf-8")
    body = outline[outline.index("\n## ") + 1:]
    parts = [outline]
    for k in range(1, copies):
        shifted = re.sub(r"^(##+ )(\d+)\.", lambda m: f"{m.group(1)}{int(m.group(2)) + CHAPTERS * k}.", body, flags=re.M)
        parts.append("\n" + shifted)
    (into / "notes").mkdir(parents=True)
    (into / "outline.md").write_text("".join(parts), encoding="utf-8")
    for f in sorted((src / "notes").rglob("*.md")):
        text = f.read_text(encoding="utf-8")
        _, front, note_body = re.split(r"^---\s*$", text, maxsplit=2, flags=re.M)
        meta = yaml.safe_load(front)
        slug = f.name.split("-", 1)[1] if "-" in f.name else f.name
        for k in range(copies):
            m = dict(meta, id=_shift(meta["id"], k),
                     prerequisites=[_shift(x, k) for x in meta.get("prerequisites") or []],
                     related=[_shift(x, k) for x in meta.get("related") or []])
            ch = int(m["id"].split(".")[0])
            d = into / "notes" / f"ch{ch:02d}"
            d.mkdir(exist_ok=True)
            (d / f"{m['id']}-{slug}").write_text("---\n" + yaml.safe_dump(m, allow_unicode=True, sort_keys=False)
                                                  + "---" + note_body, encoding="utf-8")
    return into


def exponent(xs: list[float], ys: list[float]) -> float | None:
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return round(sum((p[0] - mx) * (p[1] - my) for p in pts) / den, 2) if den else None


def run(work: Path, dense, ml, recorded: tuple, embed_s_per_chunk: float, src: Path = ROOT / "corpus") -> dict:
    from tutor.rag.embed import HashEmbeddings
    from tutor.tutor import build_tutor

    from ingest_bench import settings

    scales = [int(x) for x in os.environ.get("BENCH_GROWTH", "1,2" if QUICK else "1,4,16").split(",")]
    qs = search_queries(50)
    rows = []
    for n in scales:
        log(f"growth: x{n}")
        corpus = synthetic_corpus(n, work / f"growth-x{n}" / "corpus", src)
        cd = CachedEmbeddings(recorded[0].vectors, dense.embeddings, HashEmbeddings(dense.dim))
        cm = CachedEmbeddings(recorded[1].vectors, ml.embeddings, HashEmbeddings(ml.dim))
        t = build_tutor(settings(work / f"growth-x{n}" / "home", corpus), embedder=with_embeddings(dense, cd),
                        multilingual=with_embeddings(ml, cm))
        t0 = time.perf_counter()
        rep = t.ingest()
        wall = time.perf_counter() - t0
        lat = latencies(lambda q, tutor=t: tutor.search(q, k=5), qs)
        rows.append({"copies": n, "chunks": rep.total, "index_build_s": round(wall, 1),
                     "hash_vectors": cd.misses + cm.misses, "cached_vectors": cd.hits + cm.hits,
                     "search_p50_s": round(median(lat), 4), "search_p95_s": round(pct(lat, 0.95), 4),
                     "embedding_s_projected": round(embed_s_per_chunk * rep.total, 1)})
        del t
    chunks = [r["chunks"] for r in rows]
    return {"rows": rows, "exponent_index_build": exponent(chunks, [r["index_build_s"] for r in rows]),
            "exponent_search_p50": exponent(chunks, [r["search_p50_s"] for r in rows]),
            "embedding_s_per_chunk": round(embed_s_per_chunk, 5), "note": "index_build_s excludes embedding (see module doc)"}
