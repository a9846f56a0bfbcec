"""Lexical retrieval: BM25 (bm25s) over jieba tokens, persisted beside the Chroma index.

jieba's search mode cuts Chinese into words and sub-words (注意力机制 → 注意, 注意力, 机制, …);
English words, numbers and ids pass through lower-cased. This is what lets Chinese
questions find Chinese notes even though the default embedding model is English-centred.
BM25: Robertson & Zaragoza, The Probabilistic Relevance Framework, 2009.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
from pathlib import Path

_WORD = re.compile(r"[^\W_]", re.UNICODE)
# Stop words for BM25: function and question words, including those learners type (为啥, 咋,
# 是啥 …). The coverage decision also drops the multi-character entries of stopwords-iso's
# Chinese list (因为, 如果, 怎么样 …: `content_terms`); BM25 keeps them (its IDF already
# discounts them, and removing them cost tuning-set hit@3). English: function words only
# (stopwords-iso's English list also drops value, state, test, mean, top, keys: terms here).
_STOP = frozenset((
    "的 了 是 在 和 与 及 或 也 都 就 而 吗 呢 吧 啊 呀 么 什么 怎么 怎样 为什么 如何 哪些 哪个 这个 那个 这 那 一个 一种 "
    "有 没有 请 讲 讲讲 介绍 一下 说说 解释 我 你 它 他 她 们 中 对 把 被 让 会 能 可以 要 "
    "意思 含义 什么样 啥 是啥 有啥 干啥 干嘛 指的是 意味着 为啥 咋 咋样 咋回事 怎么回事 啥意思 好几 好几个 几个 "
    "到底 具体 能不能 是不是 有没有 可不可以 还是 其实 大概 老是 听说 有个 一般 通常 "
    "a an the is are was were be been of to in on for and or what why how which who does do did "
    "can could should would with by as at it its this that these those from about explain tell me please "
    "i my you your we our they their there here just really actually also any some want someone exactly happens besides"
).split())


def _coverage_stop_words() -> frozenset[str]:
    try:
        import stopwordsiso

        # multi-character entries only: its single characters (多, 大, 零, 点 …) are parts of
        # terms here (多头, 零卷积) that jieba's search mode also emits alone
        return frozenset(w for w in stopwordsiso.stopwords("zh") if len(w) >= 2)
    except ImportError:  # a refinement; coverage still works on _STOP alone
        return frozenset()


# jieba's search mode also emits the parts of a stop phrase (怎么回事 → 怎么, 回事, 怎么回事), and
# 里 is the locative particle of 「X 里的 Y」 (as 中 is): neither names what a question is about
# (「流水线并行里的气泡是怎么回事？」 was refused at coverage 0.67 although 8.2.2 covers it)
_COVERAGE_STOP = _coverage_stop_words() | {"回事", "里"}

# LaTeX and Unicode spellings of the same symbol term: $QK^\top$, QKᵀ and Q·K^T all become qkt
_GREEK = {n: chr(0x3b1 + i) for i, n in enumerate("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho varsigma sigma tau upsilon phi chi psi omega".split())}
_LATEX = ((re.compile(r"\^?\\top(?![A-Za-z])|\^?ᵀ"), "^T"), (re.compile(r"\\(?:cdot|times)(?![A-Za-z])"), "·"),
          (re.compile(r"\\(" + "|".join(_GREEK) + r")(?![A-Za-z])"), lambda m: _GREEK[m.group(1)]),
          (re.compile(r"\\[A-Za-z]+|\\"), " "), (re.compile(r"[{}$]"), ""))
# a term joined by symbols: K-means, t-SNE, top-k, GPT-4, GPT-3.5, d_k, Q·K^T, ε-greedy, all-reduce
_JOINED = re.compile(r"[A-Za-z0-9\u0370-\u03ff]+(?:(?:[-·^_×*]|(?<=\d)\.(?=\d))[A-Za-z0-9\u0370-\u03ff]+)+")
_JOINER = re.compile(r"[-·^_×*.]")


def _joined(text: str) -> list[tuple[str, set[str]]]:
    """(whole term, its lower-cased parts) for each symbol-joined term with a letter."""
    for rx, rep in _LATEX:
        text = rx.sub(rep, text)
    out = []
    for m in _JOINED.finditer(text):
        low = m.group(0).lower()
        term = _JOINER.sub("", low)
        if any(c.isalpha() for c in term):
            out.append((term, {p for p in _JOINER.split(low) if p}))
    return out


def joined_terms(text: str) -> list[str]:
    """Symbol-joined terms of text as single tokens, lower-cased with the joiners removed
    ("Q·K^T" → "qkt", "t-SNE" → "tsne", "GPT-4" → "gpt4"). Terms without a letter (ids such
    as 3.4.2, dates) are skipped: jieba already keeps those."""
    return [term for term, _ in _joined(text)]


def content_terms(text: str) -> set[str]:
    """The terms a question is about, for coverage decisions: tokenize() without one-letter
    Latin tokens, without stopwords-iso's Chinese function words and without the parts of a symbol-joined term ("t-SNE" counts once, as tsne,
    not also as t and sne)."""
    parts = {p for _, ps in _joined(text) for p in ps}
    whole = set(joined_terms(text))
    return {t for t in tokenize(text) if (len(t) > 1 or not t.isascii()) and (t in whole or t not in parts)
            and t not in _COVERAGE_STOP}


_ENGLISH_WORD = re.compile(r"[a-z]{4,}")
# one stemmer per thread: a Snowball stemmer keeps its word in instance state, so a shared one
# returns wrong stems or raises IndexError when the UI grades and searches at the same time
_stemmers = threading.local()


def _stem(tokens: list[str]) -> list[str]:
    """English words (4+ letters) to their Snowball (Porter 2) stems, so "freeze" finds
    "freezes" and "tuning" finds "tune"; other tokens unchanged. Thread-safe."""
    stem_words = getattr(_stemmers, "stem_words", None)
    if stem_words is None:
        import snowballstemmer

        stem_words = _stemmers.stem_words = snowballstemmer.stemmer("english").stemWords
    return [t if not _ENGLISH_WORD.fullmatch(t) else s for t, s in zip(tokens, stem_words(tokens))]


def tokenize(text: str) -> list[str]:
    """jieba search-mode tokens of text, lower-cased, without punctuation or stop words, English
    words stemmed (Snowball), plus each symbol-joined term whole (`joined_terms`): jieba cuts
    "Q·K^T" into q / k / t, which alone say nothing. A fresh list each call (cached by text:
    the same note bodies and chunks are tokenized by the grader, the index and the checks)."""
    return list(_tokenize(text))


@functools.lru_cache(maxsize=1 << 14)
def _tokenize(text: str) -> tuple[str, ...]:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    toks = [t for t in (w.strip().lower() for w in jieba.lcut_for_search(text)) if t and _WORD.search(t) and t not in _STOP]
    return tuple(_stem(toks) + joined_terms(text))


class BM25Index:
    """BM25 over chunk texts. ids: chunk ids in index order. Scores are raw BM25 (≥ 0)."""

    def __init__(self, retriever, ids: list[str]):
        self._r = retriever
        self.ids = ids

    @classmethod
    def build(cls, ids: list[str], texts: list[str] | None = None, tokens: list[list[str]] | None = None) -> "BM25Index":
        """BM25 over texts (tokenized here) or over their `tokenize` tokens when the caller has them."""
        import bm25s

        r = bm25s.BM25()
        toks = tokens if tokens is not None else [tokenize(t) for t in texts or []]
        r.index([t or ["∅"] for t in toks], show_progress=False)
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
