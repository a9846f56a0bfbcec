"""Token statistics of an index for the relevance and coverage decisions (retrieve.Retriever):
each note's token set and inverse document frequencies over chunks. Computed at ingest from
the same tokens as BM25 and saved beside it (lexical-<id>/terms.json), so opening an index
does not run jieba over every chunk again (seconds per process for 3,400 chunks)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, Mapping

from tutor.rag.bm25 import content_terms, tokenize
from tutor.rag.chunking import LIMITS_KIND, Chunk
from tutor.text import name_words


def ranked(chunks: Iterable[Chunk]) -> list[Chunk]:
    """The chunks BM25 and the term statistics count: all but 'limits' ones (a note's English
    "Limitations: …" sentence). Counted, 77 of them moved every IDF and BM25's document length and
    took a named note's relevance under the threshold (「跟 W&B 比哪个好用？」, session 32)."""
    return [c for c in chunks if c.kind != LIMITS_KIND]


def lexical_tokens(chunk: Chunk) -> list[str]:
    """The chunk's `tokenize` tokens for BM25 and the term statistics; none for a 'limits' chunk
    (a note's English "Limitations: …" sentence is never ranked, nor may its words count in BM25
    or in a note's term coverage)."""
    return [] if chunk.kind == LIMITS_KIND else tokenize(chunk.text)


class TermStats:
    """Token statistics of an index for `relevance`: each note's token set (all its chunks)
    and inverse document frequencies over the `ranked` chunks, idf(t) = ln((N + 1) / (df(t) + 0.5)).
    Built once per index (jieba over every chunk, ~1 s for 1,000 chunks)."""

    def __init__(self, chunks: Mapping[str, Chunk] | None = None):
        self.n = 0
        self.df: dict[str, int] = {}
        self.node_tokens: dict[str, set[str]] = {}
        self.chunks_key: int | None = None  # id() of the chunk dict these describe, once loaded by an Index
        if chunks:
            self.add((c.node_id, lexical_tokens(c)) for c in ranked(chunks.values()))

    def add(self, node_tokens: Iterable[tuple[str, list[str]]]) -> "TermStats":
        """Count chunks given as (node id, its tokens); returns self."""
        for node_id, toks in node_tokens:
            toks = set(toks)
            self.n += 1
            for t in toks:
                self.df[t] = self.df.get(t, 0) + 1
            self.node_tokens.setdefault(node_id, set()).update(toks)
        return self

    def save(self, path: Path) -> None:
        """Write to path as JSON {"n", "df", "node_tokens": {node id: sorted tokens}}."""
        data = {"n": self.n, "df": self.df, "node_tokens": {k: sorted(v) for k, v in self.node_tokens.items()}}
        path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "TermStats":
        """Read what `save` wrote. Raises OSError, ValueError (JSON), KeyError on a damaged file."""
        data = json.loads(path.read_text(encoding="utf-8"))
        st = cls()
        st.n = int(data["n"])
        st.df = {str(k): int(v) for k, v in data["df"].items()}
        st.node_tokens = {k: set(v) for k, v in data["node_tokens"].items()}
        return st

    def idf(self, token: str) -> float:
        return math.log((self.n + 1) / (self.df.get(token, 0) + 0.5))

    def oov(self, query: str) -> float:
        """IDF-weighted share in [0, 1] of the query's content terms that no chunk contains
        (typos, colloquial words, or what an unrelated question is about)."""
        q = content_terms(query)
        total = sum(self.idf(t) for t in q)
        return sum(self.idf(t) for t in q if t not in self.df) / total if total > 0 else 0.0

    def unknown_names(self, text: str) -> list[str]:
        """The names text writes (`text.name_words`: H100, YOLOv8, CartPole) whose every content
        term no chunk contains, as written, each once. On the seen eval sets 85 of 4,760
        answerable questions name one and 231 of 1,130 out-of-scope ones (session 33)."""
        out: list[str] = []
        for w in name_words(text):
            terms = content_terms(w)
            if terms and w not in out and all(t not in self.df for t in terms):
                out.append(w)
        return out

    def known_coverage(self, query: str, node_id: str) -> float:
        """`coverage` over the query's terms the corpus knows (0 when it knows none), so one
        typo or slang word does not outweigh every real term."""
        q = {t for t in content_terms(query) if t in self.df}
        total = sum(self.idf(t) for t in q)
        have = self.node_tokens.get(node_id, set())
        return sum(self.idf(t) for t in q if t in have) / total if total > 0 else 0.0

    def coverages(self, query: str, node_ids: Iterable[str]) -> dict[str, float]:
        """`coverage` of each note in node_ids (the query tokenised once)."""
        q = content_terms(query)
        total = sum(self.idf(t) for t in q)
        out = {}
        for node_id in node_ids:
            have = self.node_tokens.get(node_id, set())
            out[node_id] = sum(self.idf(t) for t in q if t in have) / total if total > 0 else 0.0
        return out

    def coverage(self, query: str, node_id: str) -> float:
        """IDF-weighted share in [0, 1] of the query's content terms (bm25.content_terms)
        found anywhere in the note `node_id`. A token the corpus
        never uses weighs most: it is what an unrelated question ("红烧肉") is about."""
        return self.terms_coverage(content_terms(query), node_id)

    def terms_coverage(self, terms: set[str], node_id: str, empty: float = 0.0) -> float:
        """IDF-weighted share in [0, 1] of `terms` (content terms) found in the note `node_id`;
        `empty` when there are none."""
        have = self.node_tokens.get(node_id, set())
        total = sum(self.idf(t) for t in terms)
        return sum(self.idf(t) for t in terms if t in have) / total if total > 0 else empty
