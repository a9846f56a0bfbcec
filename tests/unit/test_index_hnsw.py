"""The vector collections' HNSW settings (index.HNSW_METADATA): new indexes are built with them, and
an index built before them gets the wider search when ingest next opens it."""

from __future__ import annotations


def test_vector_collections_are_built_with_the_wider_hnsw_search(fake_tutor):
    from tutor.rag.index import SEARCH_EF

    for role, vs in fake_tutor.index.vectorstores.items():
        hnsw = vs._collection.configuration_json["hnsw"]
        assert (hnsw["space"], hnsw["ef_search"], hnsw["max_neighbors"]) == ("cosine", SEARCH_EF, 32), role


def test_an_older_collection_gets_the_wider_search_when_reopened(tmp_path):
    import subprocess
    import sys

    import chromadb

    from tutor.rag.index import SEARCH_EF, _widen_search

    col = chromadb.PersistentClient(path=str(tmp_path)).get_or_create_collection("old-index", metadata={"hnsw:space": "cosine"})
    col.add(ids=["a"], embeddings=[[1.0, 0.0]])
    assert col.configuration_json["hnsw"]["ef_search"] == 100  # Chroma's default, as built before session 44
    _widen_search(col)
    _widen_search(col)  # idempotent
    # Chroma applies the change from the next time the store is opened: read it in a fresh process
    code = f"import chromadb; print(chromadb.PersistentClient(path={str(tmp_path)!r}).get_collection('old-index').configuration_json['hnsw']['ef_search'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split()[-1] == str(SEARCH_EF), out.stderr[-500:]
