import re

import pytest

from tests.conftest import ROOT
from tutor.rag.chunking import chunk_corpus, chunk_id
from tutor.corpus import Corpus

CORPUS = Corpus.load(ROOT / "corpus")
MAX = 120
CHUNKS = chunk_corpus(CORPUS, len, MAX)


def test_every_outline_node_has_an_outline_chunk():
    assert {c.node_id for c in CHUNKS if c.kind == "outline"} == {n.id for n in CORPUS.outline.nodes}


def test_every_note_is_chunked():
    assert {c.node_id for c in CHUNKS if c.kind != "outline"} == set(CORPUS.notes)


def test_chunks_fit_the_token_limit():
    # key-point chunks are a handful of short lines; sections are packed under MAX
    over = [c.id for c in CHUNKS if c.kind == "section" and len(c.text) > MAX]
    assert not over


def test_no_chunk_body_starts_with_punctuation():
    for c in CHUNKS:
        body = c.text.split("\n", 1)[1] if "\n" in c.text else c.text
        # a dot directly before a letter is a file extension or attribute (.tflite, .mar), not a split
        assert not re.match(r"^(?:[，。！？、；：,!?;:）)]|\.(?![A-Za-z_]))", body), c.id


def test_ids_are_unique_and_stable():
    ids = [c.id for c in CHUNKS]
    assert len(ids) == len(set(ids))
    again = chunk_corpus(Corpus.load(ROOT / "corpus"), len, MAX)
    assert [c.id for c in again] == ids
    assert all(c.id == chunk_id(c.node_id, c.text) for c in CHUNKS)


@pytest.mark.parametrize("query", ["第5章", "强化学习"])
def test_outline_chunk_describes_the_chapter(query):
    ch5 = next(c for c in CHUNKS if c.node_id == "5" and c.kind == "outline")
    assert query in ch5.text and "Q-Learning" in ch5.text
