"""Server mode: the same index code against a real Chroma server on 127.0.0.1."""

import json
import shutil
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, make_settings, run_cli
from tutor.corpus import Corpus
from tutor.rag.index import Index
from tutor.rag.retrieve import Retriever

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ingest_and_search_through_a_chroma_server(tmp_path, chroma_server, real_embedder):
    root = tmp_path / "corpus"
    (root / "notes").mkdir(parents=True)
    shutil.copy(ROOT / "corpus" / "outline.md", root / "outline.md")
    shutil.copytree(ROOT / "corpus" / "notes" / "ch03", root / "notes" / "ch03")
    s = make_settings(tmp_path / "home", corpus_dir=root, chroma_url=chroma_server)
    r = Index.ingest(s, real_embedder, Corpus.load(root))
    assert r.embedded == r.total > 334
    assert Index.ingest(s, real_embedder, Corpus.load(root)).embedded == 0
    assert not (s.index_dir / "chroma").exists()  # vectors live on the server, not on disk here
    hits = Retriever(Index.open(s, real_embedder)).search("LoRA 低秩适配", k=3)
    assert hits[0].chunk.node_id == "3.4.2"


def test_unreachable_server_is_a_clear_error(tmp_path, real_embedder):
    s = make_settings(tmp_path / "home", chroma_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Index.Unreachable, match="TUTOR_CHROMA_URL"):
        Index.ingest(s, real_embedder, Corpus.load(ROOT / "corpus"))


# -- replicas: several processes, each with its own (empty) home, on one Chroma server ----------
# Chapter 1 of the outline and four of its notes (61 chunks, MiniLM only): a build takes seconds.
# Queries in Chinese and English. Chinese ones are ranked by BM25 alone here (MiniLM's weight for
# Chinese is 0, USE is off), so they check the replica's rebuilt BM25 index and term statistics;
# "Q·K^T" is one BM25 term (qkt); 斑马鱼比喻 is only in the edited note (EDIT).
REPLICA_QUERIES = ("RoPE 旋转位置编码", "why scale the dot product by sqrt(d_k)", "多头注意力的投影矩阵",
                   "Q·K^T 为什么要缩放", "positional encoding", "斑马鱼比喻")
EDIT = {"1.3.3": "斑马鱼比喻：旋转位置编码像斑马鱼身上的条纹一样按位置旋转。"}


def hits(retriever, query: str) -> list[tuple]:
    """What a search answers, exactly: chunk (id, ord, text …), scores and relevance."""
    return [(h.chunk, h.score, h.dense, h.bm25, h.relevance, h.coverage) for h in retriever.search(query, k=8)]


def on_server(home: Path, url: str, **kw):
    """Settings of a home using the Chroma server at url (index_check_s 0.5 s unless given)."""
    return make_settings(home, chroma_url=url, index_check_s=kw.pop("index_check_s", 0.5), **kw)


def test_a_replica_with_an_empty_home_answers_exactly_as_the_ingesting_home(tmp_path, chroma_server, real_embedder):
    from tests.integration.test_index_faults import write_corpus

    a = on_server(tmp_path / "a", chroma_server, corpus_dir=write_corpus(tmp_path / "corpus"))
    Index.ingest(a, real_embedder, Corpus.load(a.corpus_dir))
    assert not (a.index_dir / "manifest.json").exists()  # the manifest lives on the server
    b = on_server(tmp_path / "b", chroma_server, corpus_dir=tmp_path / "nowhere")  # no corpus either
    ia, ib = Index.open(a, real_embedder), Index.open(b, real_embedder)
    assert ia.version == ib.version == ib.latest_version() and ib.version.endswith(Corpus.load(a.corpus_dir).fingerprint()[:12])
    assert ib.manifest == ia.manifest and list(ib.chunks.items()) == list(ia.chunks.items())
    assert ib.term_stats.df == ia.term_stats.df and ib.term_stats.node_tokens == ia.term_stats.node_tokens
    # b rebuilt its lexical part into its cache; a uses what its ingest wrote
    assert [p.name for p in (b.index_dir / "cache").iterdir() if p.is_dir()] == [ib.version]
    assert not (a.index_dir / "cache").exists()
    ra, rb = Retriever(ia), Retriever(ib)
    for q in REPLICA_QUERIES[:-1]:
        assert hits(rb, q) == hits(ra, q), q
        assert ib.bm25.search(q, 20) == ia.bm25.search(q, 20), q
    lexical = hits(rb, REPLICA_QUERIES[3])  # a Chinese question: ranked by BM25 alone here (MiniLM's weight 0)
    assert lexical and all(h[2] is None and h[3] > 0 for h in lexical)
    # a second replica process on b's home reuses the cache; a third home rebuilds it alike
    c = on_server(tmp_path / "c", chroma_server)
    for s in (b, c):
        assert [hits(Retriever(Index.open(s, real_embedder)), q) for q in REPLICA_QUERIES] == [hits(ra, q) for q in REPLICA_QUERIES]


def test_a_running_replica_follows_a_re_ingest(tmp_path, chroma_server, real_embedder):
    """B's long-lived Tutor (opened before) notices within index_check_s that A re-ingested a
    changed note, reopens, and answers as A does; after A's --rebuild (new collections, the old
    ones dropped) too."""
    from tests.integration.test_index_faults import write_corpus
    from tutor.llm import ScriptedLLM
    from tutor.tutor import build_tutor

    a = on_server(tmp_path / "a", chroma_server, corpus_dir=write_corpus(tmp_path / "corpus"))
    Index.ingest(a, real_embedder, Corpus.load(a.corpus_dir))
    tb = build_tutor(on_server(tmp_path / "b", chroma_server), llm=ScriptedLLM(), embedder=real_embedder)
    q = REPLICA_QUERIES[-1]
    old = tb.search(q, k=8)
    assert not any("斑马鱼" in h.chunk.text for h in old)
    first = tb.index.version

    write_corpus(a.corpus_dir, edit=EDIT)
    r = Index.ingest(a, real_embedder, Corpus.load(a.corpus_dir))
    assert r.embedded >= 1 and r.deleted >= 1
    time.sleep(a.index_check_s)
    new = tb.search(q, k=8)
    assert tb.index.version != first and tb.index.version == Index.read_manifest(a)["corpus_version"]
    assert "斑马鱼" in new[0].chunk.text
    want = Retriever(Index.open(a, real_embedder))
    for query in REPLICA_QUERIES:
        assert [(h.chunk, h.score, h.dense, h.bm25, h.relevance, h.coverage) for h in tb.search(query, k=8)] == hits(want, query)
    cached = {p.name for p in (tb.settings.index_dir / "cache").iterdir() if p.is_dir()}
    assert cached == {tb.index.version} | ({first} if first > tb.index.version else set())  # older versions' caches go

    second = tb.index.version
    Index.ingest(a, real_embedder, Corpus.load(a.corpus_dir), rebuild=True)  # drops the old collections index_check_s + 1 s after
    time.sleep(a.index_check_s)
    assert [h.chunk.id for h in tb.search(q, k=8)] == [h.chunk.id for h in new]
    assert tb.index.version != second and tb.index.collection.name == Index.read_manifest(a)["collections"]["dense"]


def test_no_index_on_the_server_is_one_line_and_an_older_home_publishes_its_own(tmp_path, chroma_server, real_embedder):
    """A replica before any ingest: Index.Missing naming the server and `tutor ingest` (the CLI:
    exit 2, one line). A home whose ingest predates published manifests (its manifest.json
    only) publishes it at its next ingest, embedding nothing."""
    import chromadb

    from tests.integration.test_index_faults import one_line_error, write_corpus

    b = on_server(tmp_path / "b", chroma_server)
    with pytest.raises(Index.Missing, match=r"^no index on the Chroma server at http://127\.0\.0\.1:\d+; run `tutor ingest` first$"):
        Index.open(b, real_embedder)
    p = run_cli(["search", "RoPE", "--json"], b.home, env={"TUTOR_CHROMA_URL": chroma_server, "TUTOR_MULTILINGUAL": "false"})
    one_line_error(p, "no index on the Chroma server", "tutor ingest")

    a = on_server(tmp_path / "a", chroma_server, corpus_dir=write_corpus(tmp_path / "corpus"))
    Index.ingest(a, real_embedder, Corpus.load(a.corpus_dir))
    manifest = Index.read_manifest(a)
    old = {k: v for k, v in manifest.items() if k != "corpus_version"}
    (a.index_dir / "manifest.json").write_text(json.dumps(old), encoding="utf-8")  # as an older version left it
    host, port = chroma_server.rsplit(":", 1)
    chromadb.HttpClient(host="127.0.0.1", port=int(port)).delete_collection(f"{a.collection}-manifest")
    with pytest.raises(Index.Missing):
        Index.open(b, real_embedder)
    r = Index.ingest(a, real_embedder, Corpus.load(a.corpus_dir))
    assert (r.embedded, r.deleted, r.skipped) == (0, 0, False)
    assert not (a.index_dir / "manifest.json").exists()
    assert len(Index.open(b, real_embedder).chunks) == manifest["chunks"]


def test_a_replica_configured_with_other_embedding_models_is_told_which(tmp_path, chroma_server, real_embedder):
    from tests.integration.test_index_faults import write_corpus
    from tutor.rag.embed import hash_embedder

    a = on_server(tmp_path / "a", chroma_server, corpus_dir=write_corpus(tmp_path / "corpus"))
    Index.ingest(a, real_embedder, Corpus.load(a.corpus_dir))
    with pytest.raises(Index.Mismatch, match=r"server at .* all-MiniLM-L6-v2 \(dim 384\) but .*\(dim 64\).*TUTOR_EMBEDDING_MODEL") as e:
        Index.open(on_server(tmp_path / "b", chroma_server), hash_embedder(dim=64))
    assert "\n" not in str(e.value)
