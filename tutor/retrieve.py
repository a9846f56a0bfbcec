"""Hybrid retrieval: dense (Chroma, cosine) + lexical (BM25 over jieba tokens), fused by
reciprocal rank fusion (RRF: Cormack, Clarke & Büttcher, SIGIR 2009), with a chapter filter.

Each hit also gets a `relevance` in [0, 1] (see `relevance`) used to decide whether the
notes cover a question at all; RRF scores only order hits and say nothing absolute.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .bm25 import tokenize
from .chunking import Chunk
from .index import Index
from .text import detect_lang

RRF_K = 60  # the constant from Cormack et al. 2009


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk. score: RRF score (higher is better); dense: cosine similarity in
    [-1, 1] (None if the chunk was not among the dense candidates); bm25: raw BM25 score;
    relevance in [0, 1]."""

    chunk: Chunk
    score: float
    dense: float | None
    bm25: float
    relevance: float


def rrf(rankings: list[list[str]], k: int = RRF_K, weights: list[float] | None = None) -> dict[str, float]:
    """(Weighted) reciprocal rank fusion: score(d) = Σ_r w_r / (k + rank_r(d)), ranks from 1."""
    scores: dict[str, float] = {}
    for ranking, w in zip(rankings, weights or [1.0] * len(rankings)):
        for rank, doc in enumerate(ranking, 1):
            scores[doc] = scores.get(doc, 0.0) + w / (k + rank)
    return scores


# RRF weights per ranking (dense, BM25, outline names), by query language. Measured on
# evals/sets/retrieval_ch1-4.jsonl (see evals/sets/RETRIEVAL_NOTES.md): MiniLM's ranking of
# Chinese text is close to noise (zh topic hit@3 0.838 with it at weight 0.2, 0.871 without),
# and outline-name matches in Chinese are coarse (overview aliases), so they count half.
WEIGHTS = {"zh": [0.0, 1.0, 0.5], "en": [1.0, 1.0, 1.0]}

# Specificity prior: a chapter or section overview mentions every topic under it, so for a
# question about one idea it matches nearly as well as the topic note that explains it. Its
# dense and BM25 votes count this much (named overviews, "第1章讲什么", keep their full vote).
# Measured on evals/sets/retrieval_ch1-4.jsonl (RETRIEVAL_NOTES.md).
OVERVIEW_WEIGHT = 0.5

# Note evidence (zh only): a chunk also gets this share of the fused score of the other chunks
# of its note, so a note that matches in several places beats a lone overlapping sentence.
# BM25 over jieba tokens is the only real signal for Chinese and it is noisy per chunk; for
# English the dense ranking is sharp and pooling hurt (held-out en topic hit@3 0.95 → 0.90).
NOTE_EVIDENCE = {"zh": 0.2, "en": 0.0}


def is_overview(chunk: Chunk) -> bool:
    """True for chunks of chapter ("3") and section ("3.4") notes, not outline entries."""
    return chunk.node_id.count(".") < 2 and chunk.kind != "outline"


def fuse(dense: list[str], lexical: list[str], named: list[str], chunks: dict[str, Chunk], lang: str,
         question: bool = True) -> dict[str, float]:
    """Chunk id → fused score: weighted RRF of the dense and BM25 rankings (WEIGHTS), plus the
    named list's RRF share. For a question (question=True; a passage is not one) also:
    overview chunks' share × OVERVIEW_WEIGHT, and (NOTE_EVIDENCE) a share of the scores of
    the other chunks of the same note. A passage (such as a chunk's own text) or a lookup
    by outline id ("7.3.1 知识蒸馏") needs neither: it matches its source on its own, and the
    priors would push an overview or outline-only node below a longer note."""
    fused = rrf([dense, lexical], weights=WEIGHTS[lang][:2])
    if question:
        for cid in fused:
            if is_overview(chunks[cid]):
                fused[cid] *= OVERVIEW_WEIGHT
    for cid, s in rrf([named], weights=WEIGHTS[lang][2:]).items():
        fused[cid] = fused.get(cid, 0.0) + s
    beta = NOTE_EVIDENCE[lang] if question else 0.0
    if beta:
        per_node: dict[str, float] = {}
        for cid, s in fused.items():
            per_node[chunks[cid].node_id] = per_node.get(chunks[cid].node_id, 0.0) + s
        fused = {cid: s + beta * (per_node[chunks[cid].node_id] - s) for cid, s in fused.items()}
    return fused


def term_coverage(query: str, text: str) -> float:
    """Share in [0, 1] of the query's content tokens (jieba, stop words and 1-letter tokens
    removed) that are also tokens of text."""
    q = {t for t in tokenize(query) if len(t) > 1 or not t.isascii()}
    if not q:
        return 0.0
    have = set(tokenize(text))
    return sum(1 for t in q if t in have) / len(q)


class TermStats:
    """Token statistics of an index for `relevance`: each note's token set (all its chunks)
    and inverse document frequencies over chunks, idf(t) = ln((N + 1) / (df(t) + 0.5)).
    Built once per index (jieba over every chunk, ~1 s for 1,000 chunks)."""

    def __init__(self, chunks: dict[str, Chunk]):
        self.n = len(chunks)
        self.df: dict[str, int] = {}
        self.node_tokens: dict[str, set[str]] = {}
        for c in chunks.values():
            toks = set(tokenize(c.text))
            for t in toks:
                self.df[t] = self.df.get(t, 0) + 1
            self.node_tokens.setdefault(c.node_id, set()).update(toks)

    def idf(self, token: str) -> float:
        return math.log((self.n + 1) / (self.df.get(token, 0) + 0.5))

    def coverage(self, query: str, node_id: str) -> float:
        """IDF-weighted share in [0, 1] of the query's content tokens (jieba, stop words and
        1-letter tokens removed) found anywhere in the note `node_id`. A token the corpus
        never uses weighs most: it is what an unrelated question ("红烧肉") is about."""
        q = {t for t in tokenize(query) if len(t) > 1 or not t.isascii()}
        if not q:
            return 0.0
        have = self.node_tokens.get(node_id, set())
        total = sum(self.idf(t) for t in q)
        return sum(self.idf(t) for t in q if t in have) / total if total > 0 else 0.0


def relevance(dense: float | None, coverage: float, lang: str) -> float:
    """Relevance in [0, 1]. English: the stronger of the dense similarity (rescaled so that
    MiniLM's unrelated-text floor of ~0.25 maps to 0) and the query-term coverage of the
    hit's note (`TermStats.coverage`). Chinese:
    coverage alone, because an English-centred embedder gives unrelated Chinese texts
    similarities of 0.5-0.7 (measured on this corpus), which carries no signal."""
    d = 0.0 if dense is None or lang != "en" else max(0.0, min(1.0, (dense - 0.25) / 0.5))
    return max(d, coverage)


_CHAPTER_ZH = re.compile(r"第\s*(\d{1,2})\s*章")
_CHAPTER_EN = re.compile(r"\bchapter\s+(\d{1,2})\b", re.I)
_NODE_ID = re.compile(r"(?<![\d.])(\d{1,2}(?:\.\d{1,2}){1,2})(?![\d.])")


NAMED_QUERY_MAX_CHARS = 64  # a question, not a passage: long texts rank well on their own
PASSAGE_MIN_CHARS = 200  # from this length a query is a passage for `fuse` (no priors); English questions run to ~120


def outline_matches(query: str, index: Index) -> list[str]:
    """Chunk ids (outline + key-points chunk) of outline nodes a short query names: by id
    ("3.4.2", "第5章", "chapter 5"; more specific ids first) or by title / English title /
    alias (longer names first). [] for queries over NAMED_QUERY_MAX_CHARS characters."""
    if len(query) > NAMED_QUERY_MAX_CHARS:
        return []
    named: list[tuple[int, str]] = []
    for rx in (_NODE_ID, _CHAPTER_ZH, _CHAPTER_EN):
        named += [(1000 + m.count("."), m) for m in rx.findall(query)]
    low = query.lower()
    found = {node_id: [n.lower() for n in names if len(n) >= 2 and _contains(low, n.lower())]
             for node_id, names in index.names.items()}
    all_found = {n for ns in found.values() for n in ns}
    for node_id, ns in found.items():
        # a name seen only inside a longer matched name ("注意力" in "多头注意力") names nothing
        own = [n for n in ns if not any(n != m and n in m for m in all_found)]
        # an overview named in passing ("解码器训练时怎么防止偷看") is not what the question
        # asks about; it is when its name is most of the question ("解码器是什么")
        if own and (node_id.count(".") == 2 or max(map(len, own)) >= OVERVIEW_NAME_SHARE * _content_len(query)):
            named.append((max(map(len, own)), node_id))
    out: list[str] = []
    for _, node_id in sorted(named, key=lambda x: -x[0]):
        out += [c for c in index.by_node.get(node_id, []) if c not in out][:2]
    return out


OVERVIEW_NAME_SHARE = 0.5


def _content_len(query: str) -> int:
    """Characters of a query without spaces, punctuation and question words (什么, 是, what …)."""
    q = re.sub(r"(什么|是|吗|呢|讲|介绍|一下|怎么|如何|\bwhat\b|\bis\b|\bare\b|\bexplain\b|\bthe\b|\ba\b)", "", query.lower())
    return len(re.sub(r"[\W_]+", "", q))


def _contains(haystack: str, needle: str) -> bool:
    if needle.isascii():  # whole words only, so "rl" does not match inside "url"
        return re.search(rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])", haystack) is not None
    return needle in haystack


class Retriever:
    """Search an `Index`. candidates: how many hits each retriever contributes before fusion."""

    def __init__(self, index: Index, candidates: int = 30):
        self.index = index
        self.candidates = candidates
        self._stats: tuple[int, TermStats] | None = None

    def term_stats(self) -> TermStats:
        """`TermStats` of the index, rebuilt when its chunk set changed (after an ingest)."""
        key = id(self.index.chunks), len(self.index.chunks)
        if self._stats is None or self._stats[0] != key:
            self._stats = (key, TermStats(self.index.chunks))
        return self._stats[1]

    def search(self, query: str, k: int = 5, chapter: str | None = None, per_note: bool = False) -> list[Hit]:
        """Top-k fused hits, best first. chapter: keep only chunks of that chapter ("3").
        per_note: at most one hit (its best chunk) per note, so k hits name k notes."""
        idx = self.index
        n = max(self.candidates, k * 3)
        where = {"chapter": str(chapter)} if chapter else None
        lang = detect_lang(query)
        dense_pairs = [] if WEIGHTS[lang][0] == 0 else idx.vectorstore.similarity_search_with_score(
            query, k=min(n, max(1, idx.count())), filter=where)
        dense_rank, dense_sim = [], {}
        for doc, dist in dense_pairs:
            cid = doc.id
            if cid in idx.chunks:
                dense_rank.append(cid)
                dense_sim[cid] = 1.0 - float(dist)  # cosine distance → similarity
        lex = [(cid, s) for cid, s in idx.bm25.search(query, n * (4 if chapter else 1))
               if cid in idx.chunks and (not chapter or idx.chunks[cid].chapter == str(chapter))][:n]
        bm25 = dict(lex)
        named = [c for c in outline_matches(query, idx) if not chapter or idx.chunks[c].chapter == str(chapter)]
        fused = fuse(dense_rank, [cid for cid, _ in lex], named, idx.chunks, lang, len(query) < PASSAGE_MIN_CHARS and not _NODE_ID.search(query))
        best = sorted(fused, key=lambda c: (-fused[c], c))
        if per_note:
            seen: set[str] = set()
            best = [c for c in best if not (idx.chunks[c].node_id in seen or seen.add(idx.chunks[c].node_id))]
        best = best[:k]
        hits = []
        stats = self.term_stats() if best else None
        for cid in best:
            chunk = idx.chunks[cid]
            cov = stats.coverage(query, chunk.node_id)
            hits.append(Hit(chunk, round(fused[cid], 6), dense_sim.get(cid), bm25.get(cid, 0.0), round(relevance(dense_sim.get(cid), cov, lang), 4)))
        return hits


def is_covered(hits: list[Hit], threshold: float) -> bool:
    """True if the best hit's relevance reaches the threshold."""
    return bool(hits) and max(h.relevance for h in hits) >= threshold and not math.isnan(hits[0].score)
