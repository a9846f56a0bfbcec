"""The test harness's own rules (tests/conftest.py)."""

import os

from tests import conftest


def test_timeouts_scale_with_the_load_per_core_and_never_shrink(monkeypatch):
    cores = os.cpu_count() or 1
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0 * cores, 0.0, 0.0))
    assert conftest.slowdown() == 3.0
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.0, 0.0))
    assert conftest.slowdown() == 1.0


def test_memoised_embedder_computes_each_text_once_and_returns_the_models_vectors():
    from tutor.rag.embed import hash_embedder

    base = hash_embedder()
    calls = []
    inner = base.embeddings
    orig = inner.embed_documents

    def counting(texts):
        calls.append(list(texts))
        return orig(texts)

    inner.embed_documents = counting
    memo = conftest.memoised(base)
    first = memo.embeddings.embed_documents(["a b", "c d", "a b"])
    again = memo.embeddings.embed_documents(["c d", "e f"])
    assert calls == [["a b", "c d"], ["e f"]]
    assert first[0] == first[2] == orig(["a b"])[0] and again[0] == first[1]
    assert (memo.name, memo.dim) == (base.name, base.dim)
    assert memo.embeddings.embed_query("x y") == inner.embed_query("x y")
