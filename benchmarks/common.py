"""What every bench module shares: paths, run counts, the bench questions, statistics, and
embedding wrappers that time or cache `embed_documents`.

Run counts: BENCH_RUNS (default 5; BENCH_QUICK=1 makes it 1 and trims every section to a
smoke test). Nothing here touches the network: models are the ones the packages ship.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

from langchain_core.embeddings import Embeddings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for _k, _v in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
               "ANONYMIZED_TELEMETRY": "False", "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_k, _v)

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
RUNS = int(os.environ.get("BENCH_RUNS", 1 if QUICK else 5))

# asked through the model: Chinese and English, four chapters
QUESTIONS = ["为什么注意力要除以根号d_k？", "What is rotary position embedding?", "LoRA 为什么省显存？",
             "How does classifier-free guidance work?", "DDIM 和 DDPM 有什么区别？"]


def questions(n: int | None = None) -> list[str]:
    """The bench questions: RUNS of them (at least 5 in a full run), cycling if needed."""
    n = n or max(RUNS, 5 if not QUICK else 1)
    return [QUESTIONS[i % len(QUESTIONS)] for i in range(n)]


def search_queries(limit: int = 200) -> list[str]:
    """Bench questions plus the eval sets' questions (the first `limit`)."""
    import json

    qs = list(QUESTIONS)
    for f in sorted((ROOT / "evals" / "sets").glob("*.jsonl")):
        qs += [json.loads(line)["question"] for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    return qs[: (20 if QUICK else limit)]


def median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 4) if xs else None


def pct(xs: list[float], q: float) -> float | None:
    """Nearest-rank percentile q in [0, 1]."""
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def latencies(search, qs: list[str], warm: int = 5) -> list[float]:
    """Seconds per call of search(q) over qs, after `warm` untimed calls on the first queries."""
    for q in qs[:warm]:
        search(q)
    out = []
    for q in qs:
        t0 = time.perf_counter()
        search(q)
        out.append(time.perf_counter() - t0)
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def proc_status(pid: int | str = "self") -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            k, v = line.split(":", 1)
            out[k] = round(int(v.split()[0]) / 1024, 1)
    return out


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


class TimedEmbeddings(Embeddings):
    """Delegates to `inner`, adding up the wall time and texts of embed_documents calls."""

    def __init__(self, inner: Embeddings):
        self.inner, self.seconds, self.texts = inner, 0.0, 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        t0 = time.perf_counter()
        out = self.inner.embed_documents(texts)
        self.seconds += time.perf_counter() - t0
        self.texts += len(texts)
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


class RecordingEmbeddings(TimedEmbeddings):
    """TimedEmbeddings that also keeps every document vector by text (for CachedEmbeddings)."""

    def __init__(self, inner: Embeddings):
        super().__init__(inner)
        self.vectors: dict[str, list[float]] = {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out = super().embed_documents(texts)
        self.vectors.update(zip(texts, out))
        return out


class CachedEmbeddings(Embeddings):
    """Document vectors looked up by text (from a RecordingEmbeddings of a real ingest); a text
    never seen gets `fallback`'s vector (the hash embedder: timing only, not semantic). Queries go
    to the real model, so searches rank real vectors. Counts hits and misses."""

    def __init__(self, vectors: dict[str, list[float]], real: Embeddings, fallback: Embeddings):
        self.vectors, self.real, self.fallback = vectors, real, fallback
        self.hits = self.misses = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out = []
        for t in texts:
            v = self.vectors.get(t)
            if v is None:
                self.misses += 1
                v = self.fallback.embed_query(t)
            else:
                self.hits += 1
            out.append(v)
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.real.embed_query(text)


def with_embeddings(embedder, embeddings: Embeddings):
    """A copy of a tutor Embedder whose LangChain embeddings are `embeddings`."""
    import dataclasses

    return dataclasses.replace(embedder, embeddings=embeddings)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
