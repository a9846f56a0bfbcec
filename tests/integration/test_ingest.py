"""Ingest on the real stack: Chroma on disk, real MiniLM."""

import shutil

import pytest

from tests.conftest import ROOT, make_settings
from tutor.corpus import Corpus
from tutor.rag.embed import hash_embedder, load_embedder
from tutor.rag.index import Index

pytestmark = pytest.mark.integration


@pytest.fixture
def small_corpus(tmp_path):
    """outline + the chapter-1 notes, copied so tests may edit them."""
    root = tmp_path / "corpus"
    (root / "notes").mkdir(parents=True)
    shutil.copy(ROOT / "corpus" / "outline.md", root / "outline.md")
    shutil.copytree(ROOT / "corpus" / "notes" / "ch01", root / "notes" / "ch01")
    return root


def test_second_ingest_embeds_nothing_and_count_is_stable(tmp_path, small_corpus, real_embedder):
    s = make_settings(tmp_path / "home", corpus_dir=small_corpus)
    first = Index.ingest(s, real_embedder, Corpus.load(small_corpus))
    assert first.embedded == first.total > 334
    second = Index.ingest(s, real_embedder, Corpus.load(small_corpus))
    assert second.embedded == 0 and second.total == first.total
    # a forced re-chunk (fingerprint ignored) still embeds nothing new
    manifest = s.index_dir / "manifest.json"
    manifest.write_text(manifest.read_text().replace(Index.read_manifest(s)["corpus_hash"], "stale"))
    third = Index.ingest(s, real_embedder, Corpus.load(small_corpus))
    assert (third.embedded, third.deleted, third.total, third.skipped) == (0, 0, first.total, False)


def test_changed_note_replaces_only_its_chunks(tmp_path, small_corpus, real_embedder):
    s = make_settings(tmp_path / "home", corpus_dir=small_corpus)
    first = Index.ingest(s, real_embedder, Corpus.load(small_corpus))
    note = next((small_corpus / "notes" / "ch01").glob("1.3.3-*.md"))
    note.write_text(note.read_text(encoding="utf-8").replace("## 常见误区", "## 常见误区\n\nRoPE 的一个新补充句子。", 1), encoding="utf-8")
    r = Index.ingest(s, real_embedder, Corpus.load(small_corpus))
    assert 1 <= r.embedded <= 3 and r.deleted == r.embedded and r.total == first.total
    note.unlink()  # a vanished note: its chunks go, its outline chunk stays
    r = Index.ingest(s, real_embedder, Corpus.load(small_corpus))
    idx = Index.open(s, real_embedder)
    assert {c.node_id for c in idx.chunks.values() if c.node_id == "1.3.3"} == {"1.3.3"}
    assert idx.count() == len(idx.chunks) < first.total


def test_other_embedding_model_gives_a_clear_message_then_rebuild_works(tmp_path, small_corpus, real_embedder):
    s = make_settings(tmp_path / "home", corpus_dir=small_corpus)
    Index.ingest(s, real_embedder, Corpus.load(small_corpus))
    other = hash_embedder(dim=64)
    with pytest.raises(Index.Mismatch, match="tutor ingest --rebuild"):
        Index.open(s, other)
    with pytest.raises(Index.Mismatch, match="dim 384"):
        Index.ingest(s, other, Corpus.load(small_corpus))
    r = Index.ingest(s, other, Corpus.load(small_corpus), rebuild=True)
    assert r.total == r.embedded
    assert Index.open(s, other).count() == r.total
    with pytest.raises(Index.Mismatch):  # and back: the old model is now the odd one out
        Index.open(s, real_embedder)


def test_renamed_copy_of_the_model_counts_as_another_model(tmp_path, small_corpus, real_embedder):
    from tutor.rag.embed import default_model_dir

    s = make_settings(tmp_path / "home", corpus_dir=small_corpus)
    Index.ingest(s, real_embedder, Corpus.load(small_corpus))
    copy = tmp_path / "my-minilm"
    shutil.copytree(default_model_dir(), copy)
    with pytest.raises(Index.Mismatch, match="my-minilm"):
        Index.open(s, load_embedder(copy))


def test_missing_index_says_to_ingest(tmp_path, real_embedder):
    with pytest.raises(Index.Missing, match="tutor ingest"):
        Index.open(make_settings(tmp_path / "empty"), real_embedder)


def test_multilingual_collection_is_built_recorded_and_guarded(tmp_path, small_corpus, real_embedder, real_multilingual):
    """USE vectors go into their own collection with the same chunk ids; the manifest records
    both models, and opening with or without the multilingual embedder than it was built
    with is a Mismatch that names `tutor ingest --rebuild`."""
    s = make_settings(tmp_path / "home", corpus_dir=small_corpus, multilingual=True)
    r = Index.ingest(s, real_embedder, Corpus.load(small_corpus), multilingual=real_multilingual)
    idx = Index.open(s, real_embedder, real_multilingual)
    ml = idx.vectorstores["multilingual"]._collection
    assert ml.count() == idx.count() == r.total and set(ml.get(include=[])["ids"]) == set(idx.chunks)
    m = Index.read_manifest(s)
    assert (m["multilingual_model"], m["multilingual_dim"], m["embedding_model"]) == ("use-multilingual-v3", 512, "all-MiniLM-L6-v2")
    with pytest.raises(Index.Mismatch, match="use-multilingual-v3.*rebuild"):
        Index.open(s, real_embedder)  # built with USE, opened without
    assert Index.ingest(s, real_embedder, Corpus.load(small_corpus), multilingual=real_multilingual).embedded == 0
    plain = make_settings(tmp_path / "plain", corpus_dir=small_corpus)
    Index.ingest(plain, real_embedder, Corpus.load(small_corpus))
    with pytest.raises(Index.Mismatch, match="rebuild"):
        Index.open(plain, real_embedder, real_multilingual)  # built without, opened with


def test_every_chunk_fits_the_embedding_model(real_tutor, real_embedder):
    """No chunk is longer than MiniLM's 256 tokens (its tail would never be embedded); key
    points that do not fit in one chunk are split over several."""
    chunks = list(real_tutor.index.chunks.values())
    over = [c.id for c in chunks if real_embedder.count_tokens(c.text) > real_embedder.max_tokens]
    assert over == []
    split = {c.node_id for c in chunks if c.kind == "key_points" and c.ord > 1}
    assert split, "expected some notes whose key points needed two chunks"
