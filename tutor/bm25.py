"""Lexical retrieval: BM25 (bm25s) over jieba tokens, persisted beside the Chroma index.

jieba's search mode cuts Chinese into words and sub-words (注意力机制 → 注意, 注意力, 机制, …);
English words, numbers and ids pass through lower-cased. This is what lets Chinese
questions find Chinese notes even though the default embedding model is English-centred.
BM25: Robertson & Zaragoza, The Probabilistic Relevance Framework, 2009.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

_WORD = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)
_STOP = frozenset(
    "的 了 是 在 和 与 及 或 也 都 就 而 吗 呢 吧 啊 呀 么 什么 怎么 怎样 为什么 如何 哪些 哪个 这个 那个 这 那 一个 一种 "
    "有 没有 请 讲 讲讲 介绍 一下 说说 解释 我 你 它 他 她 们 中 对 把 被 让 会 能 可以 要 吗 "
    "a an the is are was were be been of to in on for and or what why how which who does do did "
    "can could should would with by as at it its this that these those from about explain tell me please".split()
)


def tokenize(text: str) -> list[str]:
    """jieba search-mode tokens of text, lower-cased, without punctuation or stop words."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [t for t in (w.strip().lower() for w in jieba.lcut_for_search(text)) if t and _WORD.search(t) and t not in _STOP]


class BM25Index:
    """BM25 over chunk texts. ids: chunk ids in index order. Scores are raw BM25 (≥ 0)."""

    def __init__(self, retriever, ids: list[str]):
        self._r = retriever
        self.ids = ids

    @classmethod
    def build(cls, ids: list[str], texts: list[str]) -> "BM25Index":
        import bm25s

        r = bm25s.BM25()
        r.index([tokenize(t) or ["∅"] for t in texts], show_progress=False)
        return cls(r, list(ids))

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._r.save(str(path))
        (path / "ids.json").write_text(json.dumps(self.ids), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "BM25Index":
        import bm25s

        ids = json.loads((path / "ids.json").read_text(encoding="utf-8"))
        return cls(bm25s.BM25.load(str(path)), ids)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top-k (chunk id, score) with score > 0, best first; [] when no query token is known."""
        vocab = self._r.vocab_dict
        toks = [t for t in tokenize(query) if t in vocab]
        if not toks or not self.ids:
            return []
        k = min(k, len(self.ids))
        docs, scores = self._r.retrieve([toks], k=k, show_progress=False)
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]
