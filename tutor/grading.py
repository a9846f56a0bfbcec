"""Deterministic short-answer grading: no LLM needed.

For a learner's answer to a short item (question, reference, key points):

1. Key-point coverage. Each key point gets a match strength in [0, 1], the larger of
   - lexical: IDF-weighted recall of the key point's informative jieba tokens (those not
     already in the question) found in the answer, where a token also counts when one of
     its aliases occurs (the notes' title / title_en / aliases form synonym groups);
   - semantic: cosine similarity between the key point and the closest answer sentence,
     mapped linearly from [emb_lo, emb_hi] to [0, 1].
   A key point with strength ≥ kp_match counts as covered. coverage = mean strength.
2. Similarity to the reference: the larger of the cosine to the reference (and, for an
   answer in English, to the note's English summary), mapped the same way, and the lexical
   recall of the reference's informative tokens.
3. score = w_cov · coverage + (1 − w_cov) · similarity, in [0, 1]; verdict correct when
   score ≥ t_correct, partial when ≥ t_partial and at least one key point is covered, else
   wrong. An answer in another language than the item (an English answer to a Chinese item)
   matches less text and leans on the embedding, so it has its own constants (x_emb_lo,
   x_emb_hi, x_t_correct, x_t_partial).
4. Guards: an empty answer is wrong; an answer that repeats the question (novelty, the IDF
   share of its tokens not in the question, < min_novelty, and its text follows the question:
   difflib ratio >= COPY_RATIO) is wrong.

The numbers (emb_lo, emb_hi, w_cov, kp_match, t_correct, t_partial, min_novelty) are not
guessed: `evals/grader/calibrate.py` fits them on the labelled answers in
`evals/grader/answers.jsonl` and writes `tutor/grader_params.json`, loaded here.

Deliberately not here: choice and flashcard grading (quiz.py: exact index / self-rating)
and the optional LLM rubric grader (rubric.py), which only adds an explanation.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from .bm25 import tokenize
from .embed import Embedder
from .text import detect_lang, split_sentences

PARAMS_FILE = Path(__file__).with_name("grader_params.json")
VERDICTS = ("correct", "partial", "wrong")
_WEAK = frozenset("个 后 为 无 使 从 其 该 各 每 时 用 于 以 将 得 到 上 下 并 且 则 即 等 种 些 来 去 过 还 更 最 很 只 就 又 再 "
                  "_ - + = * / ^ ( ) ， 。".split())

COPY_RATIO = 0.5  # see decide(): copied-question guard


@dataclass(frozen=True)
class GraderParams:
    """Calibrated constants (see module doc). Cosines are of L2-normalised embeddings."""

    emb_lo: float = 0.35
    emb_hi: float = 0.75
    w_cov: float = 0.6
    kp_match: float = 0.5
    t_correct: float = 0.6
    t_partial: float = 0.3
    min_novelty: float = 0.35
    # cross-language answers (English answer, Chinese item or the reverse) match less text
    # and lean on the embedding, so they get their own mapping and thresholds
    x_emb_lo: float = 0.35
    x_emb_hi: float = 0.75
    x_t_correct: float = 0.5
    x_t_partial: float = 0.25
    embedder: str = ""  # the embedding model the numbers were calibrated for

    @classmethod
    def load(cls, path: Path = PARAMS_FILE) -> "GraderParams":
        """The shipped calibration, or the defaults above when the file is missing."""
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: v for k, v in data.get("params", data).items() if k in cls.__dataclass_fields__})
        return cls()


@dataclass
class Features:
    """Raw measurements of one answer, before the calibrated constants are applied.

    kp_lex / kp_cos: per key point, lexical recall in [0,1] and best cosine in [-1,1].
    ref_cos: best cosine to the reference (or English summary); ref_lex: reference token
    recall; novelty: IDF share of answer tokens not in the question; empty: no content;
    cross: the answer is in another language than the item; copy_ratio: character-sequence
    similarity in [0, 1] of the normalised answer to the normalised question (difflib).
    """

    kp_lex: list[float]
    kp_cos: list[float]
    ref_cos: float
    ref_lex: float
    novelty: float
    empty: bool
    cross: bool = False
    copy_ratio: float = 1.0


@dataclass
class Grade:
    """The grade of one short answer.

    score in [0,1]; verdict "correct" | "partial" | "wrong"; matched / missed: the item's key
    points covered or not; flags: "empty", "copied_question" when a guard decided the verdict;
    coverage and similarity: the two components of the score.
    """

    score: float
    verdict: str
    coverage: float
    similarity: float
    matched: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def _clip01(x: float) -> float:
    return 0.0 if x < 0 else 1.0 if x > 1 else x


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text.lower())


def terms(text: str) -> list[str]:
    """Content tokens (jieba, lower-case) without weak one-character function words."""
    return [t for t in tokenize(text) if t not in _WEAK]


class Grader:
    """Grades short answers against an item. Build once per corpus; cheap per answer.

    embedder: any Embedder (MiniLM in use, the hash embedder in unit tests).
    synonyms: groups of interchangeable terms (from the notes' titles and aliases).
    docs: texts used for IDF weights (the notes' bodies).
    """

    def __init__(self, embedder: Embedder, synonyms: list[list[str]] | None = None, docs: list[str] | None = None,
                 params: GraderParams | None = None):
        self.embedder = embedder
        self.params = params or GraderParams.load()
        self.synonyms = Synonyms(synonyms or [])
        self._df: dict[str, int] = {}
        self._ndocs = len(docs or [])
        for d in docs or []:
            for t in set(terms(d)):
                self._df[t] = self._df.get(t, 0) + 1

    @classmethod
    def for_corpus(cls, corpus, embedder: Embedder, params: GraderParams | None = None) -> "Grader":
        """A grader whose synonyms and IDF come from the corpus notes."""
        groups = [[n.meta.title, n.meta.title_en, *n.meta.aliases] for n in corpus.notes.values()] + load_glossary()
        docs = [n.body for n in corpus.notes.values()]
        return cls(embedder, groups, docs, params)

    # -- features -------------------------------------------------------------------------
    def idf(self, t: str) -> float:
        return math.log((self._ndocs + 1) / (self._df.get(t, 0) + 0.5)) + 1.0 if self._ndocs else 1.0

    def _recall(self, target: str, answer_norm: str, q_terms: set[str]) -> float:
        toks = set(terms(target))
        informative = toks - q_terms or toks
        if not informative:
            return 0.0
        tot = sum(self.idf(t) for t in informative)
        got = sum(self.idf(t) for t in informative if t in answer_norm)
        return got / tot if tot else 0.0

    def _embed(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embeddings.embed_documents(texts)

    def features(self, question: str, reference: str, key_points: list[str], answer: str,
                 english_reference: str = "") -> Features:
        """Measure an answer (see Features). Embeds key points, reference and answer sentences once."""
        a = (answer or "").strip()
        a_terms = terms(a)
        if not a_terms:
            return Features([0.0] * len(key_points), [0.0] * len(key_points), 0.0, 0.0, 0.0, True)
        q_terms = set(terms(question))
        a_norm = self.synonyms.expand(a)
        sents = [s for s in split_sentences(a) if s.strip()][:40] or [a]
        chunks = sents + ([a] if len(sents) > 1 else [])
        refs = [reference] + ([english_reference] if english_reference and detect_lang(a) == "en" else [])
        vecs = self._embed(list(key_points) + refs + chunks)
        kp_v, ref_v, ch_v = vecs[:len(key_points)], vecs[len(key_points):len(key_points) + len(refs)], vecs[len(key_points) + len(refs):]
        dot = lambda u, v: sum(x * y for x, y in zip(u, v))  # noqa: E731 — vectors are L2-normalised
        kp_cos = [max(dot(k, c) for c in ch_v) for k in kp_v]
        kp_lex = [self._recall(k, a_norm, q_terms) for k in key_points]
        whole = ch_v[-1]
        ref_cos = max(dot(r, whole) for r in ref_v)
        ref_lex = self._recall(reference, a_norm, q_terms)
        uniq = set(a_terms)
        tot = sum(self.idf(t) for t in uniq)
        novelty = sum(self.idf(t) for t in uniq if t not in q_terms and t not in _norm(question)) / tot if tot else 0.0
        copy_ratio = difflib.SequenceMatcher(None, _norm(a), _norm(question)).ratio()
        return Features(kp_lex, kp_cos, ref_cos, ref_lex, novelty, False, detect_lang(a) != detect_lang(reference),
                        copy_ratio)

    # -- decision -------------------------------------------------------------------------
    def decide(self, f: Features, key_points: list[str]) -> Grade:
        """Apply the calibrated constants to features → Grade."""
        p = self.params
        lo, hi, t_correct, t_partial = ((p.x_emb_lo, p.x_emb_hi, p.x_t_correct, p.x_t_partial) if f.cross
                                        else (p.emb_lo, p.emb_hi, p.t_correct, p.t_partial))
        span = max(hi - lo, 1e-6)
        emb = lambda c: _clip01((c - lo) / span)  # noqa: E731
        strength = [max(lx, emb(c)) for lx, c in zip(f.kp_lex, f.kp_cos)]
        coverage = sum(strength) / len(strength) if strength else 0.0
        similarity = max(emb(f.ref_cos), f.ref_lex)
        score = round(_clip01(p.w_cov * coverage + (1 - p.w_cov) * similarity), 4)
        matched = [k for k, s in zip(key_points, strength) if s >= p.kp_match]
        missed = [k for k, s in zip(key_points, strength) if s < p.kp_match]
        flags: list[str] = []
        if f.empty:
            return Grade(0.0, "wrong", 0.0, 0.0, [], list(key_points), ["empty"])
        # copied: few new words AND the text itself follows the question (labelled copies have
        # copy_ratio >= 0.65, every other answer <= 0.47); a worked calculation reuses the
        # question's words and numbers without being a copy (5.2.1's own reference)
        if f.novelty < p.min_novelty and f.copy_ratio >= COPY_RATIO:
            flags.append("copied_question")
            return Grade(min(score, t_partial * 0.5), "wrong", round(coverage, 4), round(similarity, 4), [], list(key_points), flags)
        verdict = "correct" if score >= t_correct else "partial" if score >= t_partial else "wrong"
        if verdict == "partial" and not matched:
            # partial credit names what was right; an answer that covers no key point has none
            verdict = "wrong"
        return Grade(score, verdict, round(coverage, 4), round(similarity, 4), matched, missed, flags)

    def grade(self, question: str, reference: str, key_points: list[str], answer: str,
              english_reference: str = "") -> Grade:
        """Grade one answer. Never raises on odd input: empty or whitespace answers are wrong."""
        kps = list(key_points) or [reference]
        return self.decide(self.features(question, reference, kps, answer, english_reference), kps)


GLOSSARY_FILE = Path(__file__).with_name("grader_glossary.tsv")
_LATIN = re.compile(r"[a-z]")


def load_glossary(path: Path = GLOSSARY_FILE) -> list[list[str]]:
    """Synonym groups from the glossary TSV (module doc); [] when the file is missing."""
    if not path.is_file():
        return []
    groups = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        zh, _, en = line.partition("\t")
        groups.append([f for f in zh.split("|") + en.split("|") if f.strip()])
    return groups


class Synonyms:
    """Synonym groups. `expand(text)` = the text normalised (lower-case, no spaces) plus every
    form of each group that has a form in the text, so a plain substring test finds a term
    written with any of its synonyms. Latin forms match at the start of a word
    ("initiali" matches "initialized"); other forms match anywhere."""

    def __init__(self, groups: list[list[str]]):
        self.groups: list[tuple[list[re.Pattern], list[str], str]] = []
        for g in groups:
            forms = [f.strip().lower() for f in g if f and f.strip()]
            latin = [re.compile(r"(?<![a-z0-9])" + re.escape(f)) for f in forms if _LATIN.match(f) and len(f) >= 2]
            other = [_norm(f) for f in forms if not _LATIN.match(f)]
            self.groups.append((latin, [o for o in other if o], "|".join(_norm(f) for f in forms)))

    def expand(self, text: str) -> str:
        low = " ".join(text.lower().split())
        norm = _norm(text)
        extra = [all_forms for latin, other, all_forms in self.groups
                 if any(o in norm for o in other) or any(p.search(low) for p in latin)]
        return norm + ("|" + "|".join(extra) if extra else "")


@lru_cache(maxsize=256)
def english_summary(body: str) -> str:
    """The note's `## English summary` section text ('' when absent)."""
    m = re.search(r"^##\s*English summary\s*$(.*?)(?=^##\s|\Z)", body, re.M | re.S)
    return m.group(1).strip() if m else ""
