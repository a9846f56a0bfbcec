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
5. What is claimed, not only which words occur. With a fitted verdict model (the shipped
   params): rules first — an answer with under MIN_TERMS content terms or 「不知道」, another
   item's answer (other_margin), the item's own listed misconception restated (mis_exact;
   DESIGN §3) or an answer about something else (UNRELATED_COS: no word and no meaning of the
   item in it) is wrong; then a multinomial logistic regression over feature_vector (similarity
   to the item, to its misconceptions and to other items; claims.py's negation / direction /
   swap / formula / number signals and relational features; novelty, length, term list,
   language) gives P(correct / partial / wrong), read with the thresholds p_correct / p_wrong
   / p_partial; below them the verdict is "check yourself" (the learner compares with the
   reference and rates themselves). Never credited whatever the model says: a bare term list,
   padding over max_len_ratio × the reference, a direction / swap / formula contradiction
   (HARD_CLAIMS) or a near copy of the reference with an edit (NEAR_COPY); a word-for-word
   reference is correct; a model "wrong" that matches every key point becomes "check".
   Without a model (params without one, e.g. another embedder) steps 1-3 decide, and claims,
   term lists, length, language and nearness to a misconception make "check" at best.

Answers are graded as plain text (`plain`: HTML, Markdown and LaTeX marks removed). The
embedder is the multilingual one (USE) the model was calibrated with. Synonyms come from the
notes only (titles, English titles, aliases). The constants are not guessed:
`evals/grader/calibrate.py` fits them on an independently written and labelled set
(`evals/grader/blind/`, chapters 1-4), reports grouped cross-validation and a frozen test set
(`evals/grader/blind2/`, chapters 5-8), and writes `tutor/quiz/grader_params.json`, loaded here.

Deliberately not here: choice and flashcard grading (service.py: exact index / self-rating)
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

from tutor.quiz import claims as claims_mod
from tutor.rag.bm25 import tokenize
from tutor.rag.embed import Embedder
from tutor.text import clean_text, detect_lang, split_limitations, split_sentences

PARAMS_FILE = Path(__file__).with_name("grader_params.json")
VERDICTS = ("correct", "partial", "wrong", "check")
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
    # claim checks (v2): an answer can only be "correct" or "partial" when nothing doubts it
    t_check: float = 1.01  # a would-be wrong answer scoring at least this is "check" instead
    mis_margin: float = 0.05  # misconception closer than the item by this much → wrong
    mis_doubt: float = 0.0  # misconception within this of the item's best match → check
    other_margin: float = 0.05  # another item's reference closer by this much → wrong
    mis_exact: float = 0.8  # an answer this close (cosine) to a listed misconception, and closer to it than to the item, is wrong (DESIGN §3)
    max_len_ratio: float = 4.0  # answer longer than this × the reference → check
    claims: tuple[str, ...] = ("negation", "direction", "swap", "formula", "number")  # signals that mean check
    cross_check: bool = True  # an answer in the other language can be at best "check"
    # the verdict model (when fitted): multinomial logistic regression over feature_vector(),
    # {"features", "mean", "scale", "classes", "coef", "intercept", "p_correct", "p_wrong", "p_partial"}
    model: dict | None = None
    embedder: str = ""  # the embedding model the numbers were calibrated for

    @classmethod
    def load(cls, path: Path = PARAMS_FILE) -> "GraderParams":
        """The shipped calibration, or the defaults above when the file is missing."""
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            kw = {k: v for k, v in data.get("params", data).items() if k in cls.__dataclass_fields__}
            if "claims" in kw:
                kw["claims"] = tuple(kw["claims"])
            return cls(**kw)
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
    claims: list[str] = field(default_factory=list)  # claims.Claims.kinds(): contradiction signals
    mis_cos: float = -1.0  # best cosine of the answer to one of the item's misconceptions
    best_cos: float = -1.0  # best cosine of the answer to a key point or the reference
    other_cos: float = -1.0  # best cosine of the whole answer to another item's reference
    len_ratio: float = 0.0  # answer content tokens / reference content tokens (comparable across languages)
    term_list: bool = False  # a bare list of terms, no sentence (claims nothing)
    foreign_pairs: float = 0.0  # claims.structure: reference terms bound together in a new way
    order: float = 0.0  # claims.structure: Kendall's tau of the shared terms' order
    novel: float = 0.0  # IDF share of the answer's terms found nowhere in the item
    negations: int = 0  # negation cues in the answer minus those in the reference (claims.negations)
    is_reference: bool = False  # the answer is the reference itself (normalised)
    ref_ratio: float = 0.0  # difflib ratio of the normalised answer to the normalised reference
    n_terms: int = 0  # distinct content terms of 2+ characters or with a digit
    text_head: str = ""  # the answer's first 40 characters (for the "I don't know" check)
    mis_at: int = -1  # index of the misconception at mis_cos (-1: none)


@dataclass
class Grade:
    """The grade of one short answer.

    score in [0,1]; verdict "correct" | "partial" | "wrong" | "check" (the grader cannot
    decide; the learner rates themselves); matched / missed: the item's key points covered or
    not; flags: why a guard decided the verdict — "empty", "copied_question", "dont_know", "too_short",
    "misconception", "other_item", "unrelated", and for "check" the doubts: claims.Claims kinds ("negation", "direction",
    "swap", "formula", "number"), "term_list", "too_long", "other_language", "near_misconception",
    "borderline";
    coverage and similarity: the two components of the score; misconception: with the
    "near_misconception" doubt, the item's listed misconception the answer is nearest to.
    """

    score: float
    verdict: str
    coverage: float
    similarity: float
    matched: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    misconception: str = ""

    def to_json(self) -> dict:
        return asdict(self)


MIN_TERMS = 2  # fewer content terms (words of 2+ characters, numbers) than this state nothing ("abc", "2")
DONT_KNOW = re.compile(r"^\s*(?:我)?(?:也)?(?:不知道|不清楚|不会|不懂|忘了|不记得|没学过|没印象|idk|(?:i\s*)?don'?t\s*know|no\s*idea|not\s*sure|dunno)"
                       r"[\s。.!！?？~…啊呀吧了]*$", re.I)
# an answer whose best cosine to every key point and the reference is below this, and that shares
# no informative word with them (coverage and similarity both 0), is about something else: wrong.
# Without it the verdict model, extrapolating far outside its fitting data, put 「我喜欢吃苹果」 at
# P(partial) ≈ 1 ("check yourself"); on the blind sets (1,107 answers) it fires on 2, labelled and
# already graded wrong, so the reported figures do not move
UNRELATED_COS = 0.3
NEAR_COPY = 0.85  # difflib ratio to the reference above which an edited copy is never credited (3 right answers of round 1 reach it)
# a "check yourself" answer scoring this much (P(correct) + ½·P(partial)) is told it is close in
# meaning to the reference, not that it is right: chosen on the fitting answers (rounds 1 and 3-fit:
# 82% / 100% of such answers right or partial); held out, round 3-test 100%, round 2 (near-miss
# wrong answers written to trick the grader) 64% — so the line says the details are not checked
CLOSE_SCORE = 0.7
# … and one whose closeness (below) is at most this is told it is far in meaning from the reference:
# it may miss or misstate the key points, or put them in other words (reviews 13a/13b: clearly wrong
# answers got "check yourself" with no word either way). Not the score: for a short answer far from
# the reference the verdict model extrapolates to P(partial) ≈ 1 (score ≈ 0.5; 「LoRA 就是把模型剪枝成
# 一半」 to the LoRA parameter-count item), as it did before UNRELATED_COS. Chosen on the fitting
# answers' check verdicts as the highest of 0.05 / 0.10 / 0.15 / 0.20 whose flagged answers are
# ≤ 5% labelled correct (0.15: 54 flagged, 1 correct, 35 partial, 18 wrong; 0.20: 79 with 6 correct).
# Nothing is graded by it (evals/grader/REPORT.md)
FAR_CLOSENESS = 0.15
# a "check" answer whose best cosine to a listed misconception beats its best to the key points and
# reference by this much is told which misconception it is near. Chosen on the fitting answers' check
# verdicts that are neither close nor far, as the lowest of 0 / 0.02 / 0.05 whose flagged answers are
# ≤ 5% labelled correct (0: 40 flagged, 4 correct; 0.02: 33, 3; 0.05: 20, 0 correct, 9 partial,
# 11 wrong). Nothing is graded by it (evals/grader/REPORT.md)
MIS_NEAR_GAP = 0.05
HARD_CLAIMS = ("direction", "swap", "formula")  # never credited, whatever the model says (fired on 0 right answers of round 1)
FEATURES = ("ref_cos", "ref_lex", "best_cos", "kp_cos_mean", "kp_cos_min", "coverage", "kp_min", "mis_gap", "other_gap",
            "novel", "foreign_pairs", "order", "negations", "negated", *(f"claim_{k}" for k in claims_mod.KINDS),
            "term_list", "cross", "log_len_ratio", "score")


def closeness(g: Grade, p: "GraderParams") -> float:
    """How much of the item the answer holds, in [0, 1], whatever the verdict model says:
    w_cov × key-point coverage + (1 − w_cov) × similarity to the reference (steps 1-3 above)."""
    return p.w_cov * g.coverage + (1 - p.w_cov) * g.similarity


def feature_vector(f: Features, p: "GraderParams") -> list[float]:
    """The verdict model's inputs (names: FEATURES) from an answer's Features: similarity to
    the item, closeness to a misconception or another item, relational signals (claims.py)."""
    lo, span = p.emb_lo, max(p.emb_hi - p.emb_lo, 1e-6)
    kc = f.kp_cos or [0.0]
    strength = [max(lx, _clip01((c - lo) / span)) for lx, c in zip(f.kp_lex, kc)] or [0.0]
    coverage = sum(strength) / len(strength)
    similarity = max(_clip01((f.ref_cos - lo) / span), f.ref_lex)
    score = p.w_cov * coverage + (1 - p.w_cov) * similarity
    return [f.ref_cos, f.ref_lex, f.best_cos, sum(kc) / len(kc), min(kc), coverage, min(strength),
            f.mis_cos - f.best_cos if f.mis_cos > -1 else -1.0, f.other_cos - f.ref_cos if f.other_cos > -1 else -1.0,
            f.novel, f.foreign_pairs, f.order, float(max(-3, min(3, f.negations))), float(f.negations != 0),
            *(float(k in f.claims) for k in claims_mod.KINDS), float(f.term_list), float(f.cross),
            math.log(max(f.len_ratio, 0.05)), score]


def class_probabilities(x: list[float], model: dict) -> dict[str, float]:
    """Softmax of the fitted multinomial logistic regression at x (standardised with the
    model's mean and scale): {class: probability}, summing to 1."""
    z = [(v - m) / s for v, m, s in zip(x, model["mean"], model["scale"])]
    logits = [b + sum(w * v for w, v in zip(row, z)) for row, b in zip(model["coef"], model["intercept"])]
    top = max(logits)
    e = [math.exp(v - top) for v in logits]
    return {c: v / sum(e) for c, v in zip(model["classes"], e)}


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
        groups = [[n.meta.title, n.meta.title_en, *n.meta.aliases] for n in corpus.notes.values()]
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
                 english_reference: str = "", misconceptions: list[str] | None = None,
                 others: list[str] | None = None) -> Features:
        """Measure an answer (see Features). Embeds key points, reference, misconceptions, other
        items' references and answer sentences once."""
        a = plain(answer or "").strip()
        a_terms = terms(a)
        if not a_terms:
            return Features([0.0] * len(key_points), [0.0] * len(key_points), 0.0, 0.0, 0.0, True)
        q_terms = set(terms(question))
        a_norm = self.synonyms.expand(a)
        sents = [s for s in split_sentences(a) if s.strip()][:40] or [a]
        chunks = sents + ([a] if len(sents) > 1 else [])
        refs = [reference] + ([english_reference] if english_reference and detect_lang(a) == "en" else [])
        mis, oth = list(misconceptions or []), list(others or [])
        vecs = self._embed(list(key_points) + refs + mis + oth + chunks)
        k1, k2, k3, k4 = len(key_points), len(key_points) + len(refs), len(key_points) + len(refs) + len(mis), len(vecs) - len(chunks)
        kp_v, ref_v, mis_v, oth_v, ch_v = vecs[:k1], vecs[k1:k2], vecs[k2:k3], vecs[k3:k4], vecs[k4:]
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
        found = claims_mod.check(a, reference, key_points, question, english_reference)
        mis_best = [max(dot(m, c) for c in ch_v) for m in mis_v]
        mis_cos = max(mis_best, default=-1.0)
        best_cos = max([*kp_cos, *(dot(r, c) for r in ref_v for c in ch_v)])
        other_cos = max((dot(o, whole) for o in oth_v), default=-1.0)
        foreign, order = claims_mod.structure(a, reference, key_points, question)
        item_terms = set(terms(" ".join([question, reference, *key_points, english_reference])))
        novel = sum(self.idf(t) for t in uniq if t not in item_terms) / tot if tot else 0.0
        negs = claims_mod.negations(a) - claims_mod.negations(reference)
        a_n, r_n = _norm(re.sub(r"[^\w√]", "", a)), _norm(re.sub(r"[^\w√]", "", plain(reference)))
        ref_ratio = difflib.SequenceMatcher(None, a_n, r_n, autojunk=False).ratio()
        return Features(kp_lex, kp_cos, ref_cos, ref_lex, novelty, False, detect_lang(a) != detect_lang(reference),
                        copy_ratio, found.kinds(), mis_cos, best_cos, other_cos, len(a_terms) / max(len(terms(reference)), 1),
                        is_term_list(a), foreign, order, novel, negs, a_n == r_n, ref_ratio,
                        len({t for t in a_terms if len(t) > 1 or t.isdigit()}), a[:40],
                        mis_best.index(mis_cos) if mis_best else -1)

    # -- decision -------------------------------------------------------------------------
    def decide(self, f: Features, key_points: list[str], misconceptions: list[str] | None = None) -> Grade:
        """Apply the calibrated constants to features → Grade. misconceptions: the item's, as
        passed to `features` (only named in Grade.misconception)."""
        misconceptions = list(misconceptions or [])
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
        low = min(score, 0.2)  # a verdict forced to wrong by a rule shows a low score, not the similarity
        if DONT_KNOW.match(f.text_head):
            # 「不知道」: said plainly, and no answer to contest (review 24 was offered "I think I was right")
            return Grade(0.0, "wrong", round(coverage, 4), round(similarity, 4), [], list(key_points), ["dont_know"])
        if f.n_terms < MIN_TERMS:
            # "abc", "2": too little to state anything the question asks for
            return Grade(low, "wrong", round(coverage, 4), round(similarity, 4), [], list(key_points), ["too_short"])
        if f.other_cos > -1 and f.other_cos - max(f.ref_cos, f.best_cos) >= p.other_margin:
            return Grade(low, "wrong", round(coverage, 4), round(similarity, 4), [], list(key_points), ["other_item"])
        if f.mis_cos >= p.mis_exact and f.mis_cos > f.best_cos:
            # the item's own listed misconception, restated (DESIGN §3: graded wrong); on the
            # fitting set this fires on one answer, labelled wrong
            return Grade(low, "wrong", round(coverage, 4), round(similarity, 4), [], list(key_points), ["misconception"])
        if coverage == 0 and similarity == 0 and f.best_cos < UNRELATED_COS:
            return Grade(low, "wrong", 0.0, 0.0, [], list(key_points), ["unrelated"])
        if p.model:
            return self._model_verdict(f, key_points, coverage, similarity, matched, missed, misconceptions)
        verdict = "correct" if score >= t_correct else "partial" if score >= t_partial else "wrong"
        if verdict == "partial" and not matched:
            # partial credit names what was right; an answer that covers no key point has none
            verdict = "wrong"
        if f.mis_cos > -1 and f.mis_cos - f.best_cos >= p.mis_margin:
            return Grade(score, "wrong", round(coverage, 4), round(similarity, 4), [], list(key_points), ["misconception"])
        doubts = [k for k in f.claims if k in p.claims]
        if f.term_list:
            doubts.append("term_list")
        if f.len_ratio > p.max_len_ratio:
            doubts.append("too_long")
        if f.cross and p.cross_check:
            doubts.append("other_language")
        if f.mis_cos > -1 and f.mis_cos >= f.best_cos - p.mis_doubt:
            doubts.append("near_misconception")
        near = self._near(f, misconceptions) if "near_misconception" in doubts else ""
        if verdict in ("correct", "partial") and doubts:
            return Grade(score, "check", round(coverage, 4), round(similarity, 4), matched, missed, doubts, near)
        if verdict == "wrong" and score >= p.t_check:
            return Grade(score, "check", round(coverage, 4), round(similarity, 4), matched, missed, doubts + ["borderline"], near)
        return Grade(score, verdict, round(coverage, 4), round(similarity, 4), matched, missed, flags)

    def _model_verdict(self, f: Features, key_points: list[str], coverage: float, similarity: float,
                       matched: list[str], missed: list[str], misconceptions: list[str]) -> Grade:
        """The fitted verdict model: correct only when P(correct) ≥ p_correct, wrong when
        P(wrong) ≥ p_wrong, partial when P(partial) ≥ p_partial and a key point is covered,
        else "check". score = P(correct) + ½·P(partial)."""
        m = self.params.model
        pr = class_probabilities(feature_vector(f, self.params), m)
        score = round(_clip01(pr.get("correct", 0.0) + 0.5 * pr.get("partial", 0.0)), 4)
        cov, sim = round(coverage, 4), round(similarity, 4)
        # guards, not fitted: a bare list of terms states nothing, and padding many times the
        # reference's length cannot be checked sentence by sentence — neither is ever credited
        # … and a quantity turned the other way, two named methods swapped or a formula with the
        # root dropped are contradictions the model (fitted on few of them) must not credit
        capped = ((["term_list"] if f.term_list else []) + (["too_long"] if f.len_ratio > self.params.max_len_ratio else [])
                  + [k for k in f.claims if k in HARD_CLAIMS])
        if capped and pr.get("wrong", 0.0) < m["p_wrong"]:
            return Grade(score, "check", cov, sim, matched, missed, capped)
        if f.is_reference:
            # word for word the reference (learned by heart): the model, trained on answers in
            # learners' own words, would doubt it for having no words of its own
            return Grade(max(score, 0.9), "correct", cov, sim, list(key_points), [], [])
        if f.ref_ratio >= NEAR_COPY and pr.get("wrong", 0.0) < m["p_wrong"]:
            # the reference with a few words changed or a sentence added: everything hinges on
            # the edit (相加 → 相乘, 精确 → 近似, "…事实正好相反"), which similarity cannot judge
            return Grade(score, "check", cov, sim, matched, missed, ["edited_reference"])
        if pr.get("correct", 0.0) >= m["p_correct"]:
            return Grade(score, "correct", cov, sim, matched, missed, [])
        if pr.get("wrong", 0.0) >= m["p_wrong"]:
            flags = ["misconception"] if f.mis_cos > -1 and f.mis_cos >= f.best_cos else []
            if (not missed or (2 * len(matched) > len(key_points) and not f.claims)) and not flags:
                # every key point (or most) is there in words, yet the model doubts the claims: a swap of
                # two methods — or a right answer in unusual words (terse, numeric, English); ask
                # (review 24: a right DDIM answer stating two of three key points was graded wrong 5%)
                return Grade(score, "check", cov, sim, matched, missed, ["contradicts"])
            if f.cross and not flags and self.params.cross_check:
                # an answer in the item's other language matches little of its wording, and the model saw
                # few: ask, never a confident ✗ (review 27: a right English answer to a Chinese BERT item
                # was "Wrong 2%", told it missed the point it states)
                return Grade(score, "check", cov, sim, matched, missed, ["other_language"])
            return Grade(score, "wrong", cov, sim, matched, missed, flags)
        if pr.get("partial", 0.0) >= m["p_partial"] and matched:
            if f.mis_cos > -1 and f.mis_cos >= f.best_cos + MIS_NEAR_GAP:
                # clearly nearer one of the item's listed misconceptions than anything it should say: no
                # partial credit, and the misconception is named (review 31: 「……整个模型包成一个单元通信次数
                # 最少，所以最省显存；按块包装只是为了代码更整洁」, two of 8.4.2's misconceptions, was "partly
                # correct 43%"). Not for a "correct": on test round 2 that moved two right answers to check
                return Grade(score, "check", cov, sim, matched, missed, ["near_misconception", *f.claims],
                             self._near(f, misconceptions))
            return Grade(score, "partial", cov, sim, matched, missed, [])
        doubts = list(f.claims) + (["term_list"] if f.term_list else []) + (["other_language"] if f.cross else [])
        if f.mis_cos > -1 and f.mis_cos >= f.best_cos + MIS_NEAR_GAP:
            # clearly nearer one of the item's listed misconceptions than anything it should say:
            # named in the feedback (review 14: clearly wrong answers got "check yourself" with no
            # word either way). Not a grade (MIS_NEAR_GAP)
            return Grade(score, "check", cov, sim, matched, missed, ["near_misconception", *doubts], self._near(f, misconceptions))
        return Grade(score, "check", cov, sim, matched, missed, doubts or ["uncertain"])

    def grade(self, question: str, reference: str, key_points: list[str], answer: str,
              english_reference: str = "", misconceptions: list[str] | None = None,
              others: list[str] | None = None) -> Grade:
        """Grade one answer. misconceptions: the item's common wrong answers (an answer closer to
        one of them than to the item is wrong); others: other items' references (an answer to
        another question is wrong). Never raises on odd input: empty or whitespace answers are
        wrong, lone surrogates are replaced (text.clean_text)."""
        kps = list(key_points) or [reference]
        return self.decide(self.features(question, reference, kps, clean_text(answer or ""), english_reference,
                                         misconceptions, others), kps, misconceptions)

    @staticmethod
    def _near(f: Features, misconceptions: list[str]) -> str:
        """The listed misconception at f.mis_at, or "" when unknown."""
        return misconceptions[f.mis_at] if 0 <= f.mis_at < len(misconceptions) else ""


_TAG = re.compile(r"<\s*(script|style)\b.*?(</\s*\1\s*>|$)|<[^>\n]{0,200}>", re.I | re.S)
_FENCE = re.compile(r"```[\w+-]*")
_MD = re.compile(r"(^|\n)\s*(?:[-*+]|\d+[.)]|#{1,6}|>)\s+|\*\*|__|`|\$")
_GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ", "eta": "η",
          "theta": "θ", "lambda": "λ", "mu": "μ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ", "varphi": "φ",
          "psi": "ψ", "omega": "ω", "Sigma": "Σ", "Delta": "Δ", "nabla": "∇", "sum": "Σ", "prod": "Π", "sqrt": "√",
          "cdot": "·", "times": "×", "top": "T", "approx": "≈", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "infty": "∞",
          "to": "→", "rightarrow": "→", "propto": "∝", "in": "∈"}
_LATEX_CMD = re.compile(r"\\([A-Za-z]+)\s*")


def plain(text: str) -> str:
    """An answer as plain text: HTML tags (and whole <script>/<style> elements), Markdown
    headings, bullets, emphasis, quotes and code fences removed, and LaTeX commands turned into
    the symbols the notes use ('$\\sqrt{d_k}$' → '√{d_k}', '\\beta_t' → 'β_t'; other commands
    such as \\mathcal or \\frac dropped, their arguments kept), so formatting neither helps
    nor hurts the grade."""
    t = _FENCE.sub(" ", _TAG.sub(" ", text))
    t = _LATEX_CMD.sub(lambda m: _GREEK.get(m.group(1), " " if m.group(1) in ("quad", "qquad") else ""), t)
    t = t.replace("\\,", " ").replace("\\;", " ").replace("\\!", "")
    return _MD.sub(lambda m: m.group(1) or " ", t)


_LIST_SPLIT = re.compile(r"[,，、;；|\n]+|\s/\s")  # not a bare "/": K/V is one term


# words that make a fragment a statement rather than a term
_PREDICATE = re.compile(r"是|为了|因为|所以|因此|导致|使得|让|使|会|能|可以|需要|用来|用于|通过|等于|意味着|从而|\b(?:is|are|was|were|be|because|so|makes?|causes?|means?|uses?|lets?|allows?|needs?|gives?|reduces?|increases?|keeps?)\b", re.I)


def is_term_list(text: str) -> bool:
    """A bare list of terms ('Q, K, V, softmax, 缩放'; Chinese phrases may be separated by spaces
    alone when the text has no punctuation): four or more fragments, none of them
    a statement — no sentence ends inside, no verb or connective (_PREDICATE), and each at
    most six words (jieba) once punctuation is dropped."""
    import jieba

    sep = _LIST_SPLIT
    if detect_lang(text) == "zh" and not re.search(r"[，,。；;、：:！!？?\n]", text.strip()):
        sep = re.compile(r"\s+")  # 「点积方差 d_k 标准差 √d_k 过度压缩」: Chinese phrases separated by spaces only
    parts = [p.strip(" .。") for p in sep.split(text) if p.strip(" .。")]
    if sep is not _LIST_SPLIT and any(re.fullmatch(r"[\u4e00-\u9fff]", p) for p in parts):
        return False  # a lone 和 / 与 / 把 between spaced words joins a sentence, not a list
    if len(parts) < 4 or re.search(r"[。！？!?]|\.\s", text.strip().rstrip("。.")):
        return False
    return all(not _PREDICATE.search(p) and len([w for w in jieba.lcut(p) if re.search(r"\w", w)]) <= 6 for p in parts)


_LATIN = re.compile(r"[a-z]")


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
    """The note's `## English summary` section text without its closing "Limitations: …"
    sentence (text.split_limitations); '' when absent."""
    m = re.search(r"^##\s*English summary\s*$(.*?)(?=^##\s|\Z)", body, re.M | re.S)
    return split_limitations(m.group(1).strip())[0] if m else ""
