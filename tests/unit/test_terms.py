"""TermStats saved at ingest (lexical-<id>/terms.json) and read back by Index.open, so a new
process does not run jieba over every chunk before its first search."""

from tutor.rag.index import TERMS, Index
from tutor.rag.terms import TermStats, ranked


def _lexical(tutor):
    m = Index.read_manifest(tutor.settings)
    return tutor.settings.index_dir / m["lexical"]


def test_ingest_saves_the_term_statistics_and_search_uses_them(fake_tutor, monkeypatch):
    saved = fake_tutor.retriever.index.term_stats
    assert (_lexical(fake_tutor) / TERMS).is_file() and saved is not None
    fresh = TermStats(fake_tutor.retriever.index.chunks)
    assert (saved.n, saved.df, saved.node_tokens) == (fresh.n, fresh.df, fresh.node_tokens)
    monkeypatch.setattr("tutor.rag.retrieve.TermStats", lambda chunks: (_ for _ in ()).throw(AssertionError("recomputed")))
    assert fake_tutor.search("RoPE 旋转位置编码")[0].chunk.node_id == "1.3.3"
    assert fake_tutor.retriever.term_stats() is saved


def test_a_damaged_or_missing_statistics_file_is_recomputed(fake_tutor):
    from tests.conftest import make_settings
    from tutor.rag.embed import hash_embedder

    path = _lexical(fake_tutor) / TERMS
    want = fake_tutor.search("RoPE 旋转位置编码")
    for damage in (lambda: path.write_text("{not json", encoding="utf-8"), path.unlink):
        damage()
        ix = Index.open(make_settings(fake_tutor.settings.home), hash_embedder())
        assert ix.term_stats is None  # the retriever computes them on first use
        fake_tutor.retriever.index = ix
        got = fake_tutor.search("RoPE 旋转位置编码")
        assert [h.chunk.id for h in got] == [h.chunk.id for h in want]
        assert fake_tutor.retriever.term_stats().n == len(ranked(ix.chunks.values()))  # 'limits' chunks not counted


def test_limits_chunks_count_in_neither_bm25_nor_the_term_statistics(fake_tutor):
    """Session 32: 77 English Limitations sentences, counted, moved every IDF and BM25's document
    length; they are stored and quoted, never counted."""
    from tutor.rag.bm25 import BM25Index
    from tutor.rag.chunking import LIMITS_KIND

    chunks = fake_tutor.retriever.index.chunks
    limits = [c for c in chunks.values() if c.kind == LIMITS_KIND]
    assert limits
    bm25 = BM25Index.load(_lexical(fake_tutor) / "bm25")
    assert len(bm25.ids) == len(chunks) - len(limits) and not {c.id for c in limits} & set(bm25.ids)
    assert fake_tutor.retriever.index.term_stats.n == len(chunks) - len(limits)


def test_names_no_chunk_contains_are_unknown():
    """Review 21: 「A100 $2/h vs H100 $4/h …」 quoted TimeSformer; the answer now says no note
    names H100. Only names count (a digit, an inner capital, a capital inside a sentence)."""
    from tutor.rag.chunking import Chunk
    from tutor.text import name_words

    assert name_words("What is the Mamba model? YOLOv8 vs DeBERTa-v3, and H100 prices") == [
        "Mamba", "YOLOv8", "DeBERTa-v3", "H100"]
    assert name_words("What is attention? Why so slow") == []
    assert name_words("If I run it twice, will I get the same result?") == []  # the pronoun I names nothing
    stats = TermStats({"a": Chunk(id="a", node_id="7.1.4", kind="section", title="GPTQ", title_en="GPTQ", heading="",
                                    text="GPTQ 在 A100 上量化 LLaMA。", ord=0)})
    assert stats.unknown_names("A100 $2/h vs H100 $4/h，训练哪个更划算？") == ["H100"]
    assert stats.unknown_names("GPTQ on an A100, and Mamba?") == ["Mamba"]
    assert stats.unknown_names("为什么量化会掉点？") == []
