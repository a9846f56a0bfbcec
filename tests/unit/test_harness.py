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


def test_llm_ledger_counts_repeats_per_worker_and_sums_by_file(tmp_path):
    import json

    from tests.llm_ledger import summary

    def rows(name, *items):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(
            {"test": t, "key": k, "prompt_tokens": 100, "pieces": 5, "s": s}) + "\n" for t, k, s in items))

    rows("gw0", ("tests/a.py::x", "k1", 10.0), ("tests/a.py::y", "k1", 9.0), ("tests/b.py::z", "k2", 1.0))
    rows("gw1", ("tests/b.py::w", "k1", 8.0))  # another worker: not a repeat it could have shared
    lines = summary(tmp_path)
    assert lines[0].startswith("real model calls in-process: 4 (2 distinct requests), 28 s")
    assert lines[0].endswith("repeats of a request the same worker made before: 1 calls, 9 s")
    assert lines[1].split() == ["19.0", "s", "tests/a.py"] and lines[2].split() == ["9.0", "s", "tests/b.py"]
    assert summary(tmp_path / "none") == []
