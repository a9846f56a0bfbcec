"""Server mode: the same index code against a real Chroma server on 127.0.0.1."""

import shutil
import socket

import pytest

from tests.conftest import ROOT, make_settings
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
