"""Answer trust: which sentences of a generated answer the retrieved notes support, whether
an answer is garbage, and the extractive answer used when the model cannot be trusted.

Sentence support (`Flagger`): each answer sentence is compared with the sentences of the
retrieved chunks by
  - embedding similarity: the highest cosine similarity between the sentence and any
    context sentence (the index's embedding model, all-MiniLM-L6-v2 by default);
  - term overlap: the share of the sentence's content tokens (jieba, as in BM25) that occur
    in the context, and the share of its consecutive token pairs (bigrams) that do.
A sentence is *supported* when  w_sim·sim + w_tok·tok + w_bi·bigram ≥ threshold, with weights
and threshold per language calibrated on evals/trust/labelled.jsonl (see evals/trust/REPORT.md
for the procedure and the measured precision/recall). Sentences with fewer than
`MIN_TOKENS` content tokens ("好的。", a bare citation) are not checkable and never flagged.

The quoted wrong claims in the notes' misconception bullets are removed from the context
first, so an answer repeating a misconception is not "supported" by the note that refutes it.

Garbage (`garbage_reasons`): empty, wrong language, looping/repeating, or most checkable
sentences unsupported.

Deliberately not here: natural-language inference. The flagger says "these words and this
meaning are not in the notes", not "this is false"; a sentence that reuses the notes' words to
state something wrong can still pass (the report measures how often).
"""

from __future__ import annotations

import re
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Callable, Sequence

from tutor.rag.bm25 import tokenize
from tutor.text import detect_lang, han_count, name_words, split_sentences

CITATION = re.compile(r"\s*\[\d{1,3}\]")
MIN_TOKENS = 2  # fewer content tokens than this: not checkable
# Notes state misconceptions as a quoted wrong claim followed by a dash and the correction
# (“除以 √d_k 是为了让权重和为 1”——…). The quoted claim must not count as support.
MISCONCEPTION_CLAIM = re.compile(r"[“\"「][^”\"」\n]{2,200}[”\"」]\s*(?=——|—|--)")

# Calibrated on evals/trust/labelled.jsonl by evals/trust/calibrate.py (grid search for the
# best F1 of the "unsupported" class, per language). Re-run the script after changing features.
# MiniLM similarity carries no signal for Chinese (retrieve.py), and the search picks w_sim = 0 there.
THRESHOLDS: dict[str, dict[str, float]] = {
    "zh": {"w_sim": 0.0, "w_tok": 0.1, "w_bi": 0.9, "threshold": 0.4486},
    "en": {"w_sim": 0.3, "w_tok": 0.6, "w_bi": 0.1, "threshold": 0.5737},
}

# Garbage guard limits (see `garbage_reasons`).
MAX_UNSUPPORTED_SHARE = 0.5   # more than half of the checkable sentences flagged
LOOP_NGRAM = 10               # characters per n-gram when measuring repetition
LOOP_SHARE = 0.35             # share of repeated n-grams above which text counts as a loop
LOOP_MIN_CHARS = 80           # shorter texts are never called loops
TAIL_CHARS = 200              # a loop that starts late shows in the last characters
RETRY_MAX_REPETITION = 0.2    # a strict retry this repetitive (near-duplicate lines) is rejected
RETRY_MIN_DISTINCT = 0.65     # …or with fewer distinct content tokens than this share (distinct-1)


@dataclass
class SentenceCheck:
    """One answer sentence. sim: best cosine similarity in [-1, 1] to a context sentence;
    tok, bigram: overlap shares in [0, 1]; score: the calibrated combination; supported:
    score ≥ the language's threshold (always True when not checkable)."""

    index: int
    text: str
    sim: float
    tok: float
    bigram: float
    score: float
    checkable: bool
    supported: bool


def strip_citations(text: str) -> str:
    return CITATION.sub("", text).strip()


_HOW_IT_WORKS_WORDS = ("工作 运作 运行 原理 机制 机理 定义 含义 意思 概念 介绍 讲讲 实现 "
                       "work works working mechanism definition define mean means meaning explain principle")
_HOW_IT_WORKS: frozenset[str] | None = None


def _how_it_works() -> frozenset[str]:
    """Content tokens of a question that asks only what the named thing is or how it works."""
    global _HOW_IT_WORKS
    if _HOW_IT_WORKS is None:
        _HOW_IT_WORKS = frozenset(content_tokens(_HOW_IT_WORKS_WORDS))
    return _HOW_IT_WORKS


def content_tokens(text: str) -> list[str]:
    """jieba search-mode content tokens (bm25.tokenize), citations removed, 1-letter Latin
    tokens dropped."""
    return [t for t in tokenize(strip_citations(text)) if not (t.isascii() and len(t) == 1)]


def token_sequence(text: str) -> list[str]:
    """Content tokens in reading order (jieba precise mode), for bigrams."""
    import jieba

    out = []
    for w in jieba.lcut(strip_citations(text).lower()):
        w = w.strip()
        if w and re.search(r"[\w\u4e00-\u9fff]", w) and not (w.isascii() and len(w) == 1):
            out.append(w)
    return out


def bigrams(seq: Sequence[str]) -> set[tuple[str, str]]:
    return set(zip(seq, seq[1:]))


def without_misconception_claims(text: str) -> str:
    """text with the quoted wrong claims of misconception bullets removed (corrections kept)."""
    return MISCONCEPTION_CLAIM.sub("", text)


def context_sentences(texts: Sequence[str]) -> list[str]:
    """Sentences of retrieved chunk texts; a chunk's first line (its 'title · heading'
    label) is kept, bullets lose their marker."""
    out: list[str] = []
    for t in texts:
        for s in split_sentences(t):
            s = re.sub(r"^[-*•]\s+", "", s)
            if s:
                out.append(s)
    return out


class Flagger:
    """Checks answer sentences against context texts. embed: texts → L2-normalised vectors
    (None: similarity is 0, so only overlap counts). thresholds: see THRESHOLDS."""

    def __init__(self, embed: Callable[[list[str]], list[list[float]]] | None,
                 thresholds: dict[str, dict[str, float]] | None = None, cache_size: int = 4096):
        self.embed = embed
        self.thresholds = thresholds or THRESHOLDS
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # the web UI checks answers from several threads

    def _vectors(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            vecs = dict(zip(missing, self.embed(missing))) if missing and self.embed is not None else {}
            out = [vecs[t] if t in vecs else self._cache[t] for t in texts]
            for t, v in vecs.items():
                self._cache[t] = v
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            return out

    def features(self, sentences: Sequence[str], context: Sequence[str], with_sim: bool = True) -> list[dict]:
        """Per sentence: {"sim", "tok", "bigram", "n_tokens"} against the context texts
        (misconception claims removed from them first). with_sim=False: sim is 0.0 and nothing
        is embedded (for a language whose rule gives similarity no weight)."""
        context = [without_misconception_claims(c) for c in context]
        ctx_sents = context_sentences(context)
        ctx_tokens = set()
        ctx_bigrams: set = set()
        for c in context:
            ctx_tokens.update(content_tokens(c))
        for s in ctx_sents:
            ctx_bigrams |= bigrams(token_sequence(s))
        plain = [strip_citations(s) for s in sentences]
        sims = [0.0] * len(plain)
        if with_sim and self.embed is not None and ctx_sents and plain:
            svec = self._vectors(plain)
            cvec = self._vectors(ctx_sents)
            sims = [max(sum(a * b for a, b in zip(v, c)) for c in cvec) for v in svec]
        out = []
        for s, sim in zip(plain, sims):
            toks = set(content_tokens(s))
            bis = bigrams(token_sequence(s))
            out.append({
                "sim": round(float(sim), 4),
                "tok": round(sum(t in ctx_tokens for t in toks) / len(toks), 4) if toks else 0.0,
                "bigram": round(sum(b in ctx_bigrams for b in bis) / len(bis), 4) if bis else 0.0,
                "n_tokens": len(toks),
            })
        return out

    def score(self, f: dict, lang: str) -> float:
        th = self.thresholds[lang if lang in self.thresholds else "en"]
        return th["w_sim"] * f["sim"] + th["w_tok"] * f["tok"] + th["w_bi"] * f["bigram"]

    def check(self, sentences: Sequence[str], context: Sequence[str], lang: str | None = None) -> list[SentenceCheck]:
        """SentenceCheck per sentence. lang: thresholds to use ('zh'/'en'); default: each
        sentence's own language."""
        langs = [lang or detect_lang(s) for s in sentences]
        # Chinese gives similarity no weight: embedding the context's sentences for nothing took
        # ~2 s of a Chinese answer's check (10 ms without; blind-sample answers, 2 busy cores)
        with_sim = any(self.thresholds[lg if lg in self.thresholds else "en"]["w_sim"] for lg in langs)
        out = []
        for i, (s, f, lg) in enumerate(zip(sentences, self.features(sentences, context, with_sim), langs)):
            sc = self.score(f, lg)
            checkable = f["n_tokens"] >= MIN_TOKENS
            supported = (not checkable) or sc >= self.thresholds[lg if lg in self.thresholds else "en"]["threshold"]
            out.append(SentenceCheck(i, s, f["sim"], f["tok"], f["bigram"], round(sc, 4), checkable, supported))
        return out


def unsupported_share(checks: Sequence[SentenceCheck]) -> float:
    """Share of checkable sentences that are unsupported (0 when none is checkable)."""
    chk = [c for c in checks if c.checkable]
    return sum(not c.supported for c in chk) / len(chk) if chk else 0.0


def repetition(text: str, n: int = LOOP_NGRAM) -> float:
    """Share in [0, 1] of the text's character n-grams (whitespace collapsed) that repeat an
    earlier n-gram: ~0-0.1 for prose, → 1 for a model stuck in a loop."""
    t = " ".join(text.split())
    grams = [t[i:i + n] for i in range(max(0, len(t) - n + 1))]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def _clause_repeats(text: str) -> tuple[int, int]:
    """(clauses of ≥ 6 characters that repeat an earlier one verbatim, clauses)."""
    clauses = [c.strip() for c in re.split(r"[，。！？；：,.!?;:\n]+", text) if len(c.strip()) >= 6]
    seen: set[str] = set()
    again = 0
    for c in clauses:
        again += c in seen
        seen.add(c)
    return again, len(clauses)


def is_looping(text: str) -> bool:
    """True when a text of LOOP_MIN_CHARS or more repeats itself: more than LOOP_SHARE of
    its character n-grams are repeats; or, in a text of 2·TAIL_CHARS or more, more than half
    of those of its last TAIL_CHARS (a loop that started late), with numbers folded to '0' there so that counting
    ('1.3.2, 1.3.3, …, 1.3.33') repeats too; or ≥ 2 clauses, ≥ 15% of them, repeat an
    earlier clause verbatim."""
    if len(text) < LOOP_MIN_CHARS:
        return False
    plain = strip_citations(text)
    if repetition(plain) > LOOP_SHARE:
        return True
    folded = re.sub(r"\d+", "0", plain)[-TAIL_CHARS:]
    if len(plain) >= 2 * TAIL_CHARS and repetition(folded) > 0.5:
        return True
    again, n = _clause_repeats(plain)
    return again >= 2 and again / n >= 0.15


PLACEHOLDERS = ("[number]", "[编号]", "[n]")


def prompt_echo(answer: str, instructions: Sequence[str] = ()) -> bool:
    """True when the answer parrots the prompt instead of answering: it contains a citation
    placeholder ('[number]', '[编号]') or a long run of an instruction's words (≥ 24
    characters of English, ≥ 10 of Chinese, taken from `instructions`)."""
    low = answer.lower()
    if any(p in low for p in PLACEHOLDERS):
        return True
    flat = " ".join(low.split())
    for line in instructions:
        line = " ".join(line.lower().split())
        n = 10 if han_count(line) > len(line) / 3 else 24
        if any(line[i:i + n] in flat for i in range(0, max(0, len(line) - n + 1), 2)):
            return True
    return False


def _letters(text: str) -> str:
    """Lower-cased letters, digits and Chinese characters only (brackets, marks, spaces gone)."""
    return re.sub(r"[\W_]+", "", strip_citations(text).lower())


def header_echo(answer: str, headers: Sequence[str] = (), question: str = "") -> bool:
    """True when a line of the answer is only a copy of a source header from the prompt
    ("[2] 拼接输出（Concatenating Head Outputs …）", "Self-attention（Self-Attention）· 概念"):
    the model is dumping its context instead of answering. A line counts when, letters only,
    it equals a header of ≥ 6 letters, adds ≤ 12 letters to one (a heading), or is a cut-off
    start of one (≥ 10 letters); or a line is the question read back (a "Question:" label
    ignored). headers: "title（title_en）" of each source and the first line of each of its
    chunks."""
    hs = {h for h in (_letters(x) for x in headers) if len(h) >= 6}
    q = _letters(question)
    if not hs and not q:
        return False
    for line in answer.splitlines():
        body = _letters(re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+|^\s*(?:question|问题|q)\s*[:：]\s*", "", line, flags=re.I))
        if len(body) < 6:
            continue
        if body == q:
            return True
        if any(body == h or (body.startswith(h) and len(body) - len(h) <= 12) or (len(body) >= 10 and h.startswith(body))
               for h in hs):
            return True
    return False


_OUTLINE_ID = re.compile(r"(?<![\w.])(?:1[0-6]|[1-9])\.[1-9]\.[1-9](?![\w.])")
ID_DUMP_MIN_IDS = 3
ID_DUMP_TOKENS_PER_ID = 4  # the notes' cross-references 「治理（13.3.4）把这些做法……」 carry far more


def id_dump(answer: str) -> bool:
    """True when the answer is mostly outline ids (review 9: Explain showed
    "1.1.1 INT8量化 ⚠ 1.1.2 7.1.1 …"): ≥ ID_DUMP_MIN_IDS topic ids (x.y.z) and fewer than
    ID_DUMP_TOKENS_PER_ID other content tokens per id. The model is listing its sources'
    headers instead of answering."""
    ids = _OUTLINE_ID.findall(strip_citations(answer))
    if len(ids) < ID_DUMP_MIN_IDS:
        return False
    return len(content_tokens(_OUTLINE_ID.sub(" ", strip_citations(answer)))) < ID_DUMP_TOKENS_PER_ID * len(ids)


MIN_NEW_TOKENS = 4  # an answer must add this many distinct content words to the question's


def _stem(token: str) -> str:
    """Crude English suffix folding (reduces → reduce) so inflection is not new content."""
    if token.isascii() and len(token) > 4:
        for suf in ("ing", "ed", "es", "s"):
            if token.endswith(suf) and len(token) - len(suf) >= 3:
                return token[: -len(suf)]
    return token


def restates_question(answer: str, question: str) -> bool:
    """True when the answer adds fewer than MIN_NEW_TOKENS distinct content tokens (stemmed)
    to those of the question: "LoRA reduces the number of trainable parameters when
    fine-tuning a large language model." says nothing the question did not."""
    if not question.strip():
        return False
    q = {_stem(t) for t in content_tokens(question)}
    return len({_stem(t) for t in content_tokens(answer)} - q) < MIN_NEW_TOKENS


def language_mismatch(answer: str, lang: str) -> bool:
    """True when the answer is not in the question's language: a Chinese question needs an
    answer that detect_lang calls Chinese; an English one an answer without Chinese prose."""
    body = strip_citations(answer)
    if not body:
        return False
    got = detect_lang(body)
    if lang == "zh":
        return got != "zh"
    return got == "zh" and han_count(body) > 10


def is_empty(answer: str) -> bool:
    """No letters, digits or Chinese characters beyond citations and punctuation."""
    return not re.search(r"[\w\u4e00-\u9fff]", strip_citations(answer))


def garbage_reasons(answer: str, lang: str, checks: Sequence[SentenceCheck],
                    instructions: Sequence[str] = (), headers: Sequence[str] = (), question: str = "") -> list[str]:
    """Reasons an answer must not be shown as it is: 'empty' (also: no sentence with
    MIN_TOKENS content tokens), 'restates' (`restates_question`), 'language', 'loop', 'echo'
    (parrots the prompt: `prompt_echo` on instructions, `header_echo` on the sources'
    headers and the question, `id_dump`), 'unsupported' (more than MAX_UNSUPPORTED_SHARE of checkable sentences
    flagged). [] means the answer may be shown."""
    if is_empty(answer) or (checks and not any(c.checkable for c in checks)):
        return ["empty"]  # nothing to check is nothing said: "The number is 1."
    reasons = []
    if restates_question(answer, question):
        reasons.append("restates")
    if language_mismatch(answer, lang):
        reasons.append("language")
    if is_looping(answer):
        reasons.append("loop")
    if prompt_echo(answer, instructions) or header_echo(answer, headers, question) or id_dump(answer):
        reasons.append("echo")
    if unsupported_share(checks) > MAX_UNSUPPORTED_SHARE:
        reasons.append("unsupported")
    return reasons


OFF_QUESTION_MIN_SHARED = 2


def off_question(question: str, sentences: Sequence[str], context: Sequence[str]) -> bool:
    """True when no checkable answer sentence rests on a note sentence about the question:
    for each answer sentence, the context sentence sharing most of its content tokens
    (earliest on ties) must contain OFF_QUESTION_MIN_SHARED content tokens of the question
    (all of them if it has fewer) for at least one of them — one shared word is not enough:
    "8 KV heads" in Mistral's sentence shares only "kv" with a KV-cache question. Catches a fluent sentence stitched from a neighbouring topic, e.g. "The KV cache
    solves the problem of information propagation across layers to a span of 131K tokens"
    (its words come from a sliding-window sentence that says nothing about the KV cache)."""
    q = set(content_tokens(question))
    ctx = [(c, set(content_tokens(c))) for c in context_sentences([without_misconception_claims(t) for t in context])]
    if not q or not ctx:
        return False
    seen_checkable = False
    for s in sentences:
        toks = set(content_tokens(strip_citations(s)))
        if len(toks) < MIN_TOKENS:
            continue
        seen_checkable = True
        best, _ = max(ctx, key=lambda c: len(toks & c[1]))  # max keeps the first of equals
        if len(q & set(content_tokens(best))) >= min(OFF_QUESTION_MIN_SHARED, len(q)):
            return False
    return seen_checkable


def retry_reasons(answer: str, checks: Sequence[SentenceCheck], truncated: bool,
                  question: str = "", context: Sequence[str] = ()) -> list[str]:
    """Extra reasons to reject the strict retry, which must do better than a first answer:
    the model has already failed once on this question, and the fallback (quoting the notes)
    is always safe. 'truncated' (cut at the token limit), 'unsupported' (any sentence
    flagged), 'off_question' (see `off_question`; needs question and context),
    'repetitive' (character repetition above RETRY_MAX_REPETITION, or with 10+
    content tokens a distinct-1 ratio below RETRY_MIN_DISTINCT: the same words going round,
    as in "turns hidden states into probabilities using the output layer's output layer")."""
    out = []
    if truncated:
        out.append("truncated")
    if any(not c.supported for c in checks):
        out.append("unsupported")
    if question and off_question(question, [c.text for c in checks], context):
        out.append("off_question")
    toks = content_tokens(answer)
    if repetition(answer) > RETRY_MAX_REPETITION or (len(toks) >= 10 and len(set(toks)) / len(toks) < RETRY_MIN_DISTINCT):
        out.append("repetitive")
    return out


FALLBACK_HEADER = {
    "zh": "（模型生成的回答没有通过可靠性检查，以下直接摘录笔记中与问题最相关的句子。）",
    "en": "(The model's answer did not pass the reliability check, so here are the most relevant sentences from the notes.)",
}


# a full stop ends an English sentence, except in "et al.", "e.g.", "i.e.", "vs.", "Fig.", "Eq."; an ASCII
# ! or ? ends one after a Chinese character or before a capital, not inside a name or title ("Yahoo! 首页
# 新闻…" was cut in two, review 22; "Does Label Smoothing Help?, NeurIPS"; LaTeX's \!)
_QUOTABLE_END = re.compile(r"(?<=[。！？])\s*|(?<=[\u4e00-\u9fff][!?])\s*|(?<=[!?])\s+(?=[A-Z(])|"
                           r"(?<!\bal\.)(?<!e\.g\.)(?<!i\.e\.)(?<!\bvs\.)(?<!Fig\.)(?<!Eq\.)(?<=\.)\s+(?=[A-Z(])")


_LEAD_INTO_CODE = re.compile(r"[^\n。！？.!?]*[：:]\s*```.*?```", re.S)
_INLINE_CODE = re.compile(r"```.*?```", re.S)


_SENTENCE_END = re.compile(r"[。！？]|[.!?](?=\s)")
_PROSE_END = re.compile(r"[。！？]|[a-z]{2}[.!?](?:\s+[A-Z]|\s*$)")


def _lone_fence_cut(text: str) -> str:
    """A chunk that begins or ends inside a code block holds one fence: the side of it with no
    sentence end is code (「opt.step() dist.destroy_process_group() ``` **梯度累积**：…」 was
    quoted code and all)."""
    if text.count("```") != 1:
        return text
    head, tail = text.split("```", 1)
    if not _PROSE_END.search(head) and _PROSE_END.search(tail):
        return tail
    if not _PROSE_END.search(tail) and _PROSE_END.search(head):
        if head.rstrip().endswith(("：", ":")):  # and the 「最小示例（…train.py…）：」 that leads into the code
            ends = list(_SENTENCE_END.finditer(head))
            head = head[:ends[-1].end()] if ends else ""
        return head
    return text


def _lone_display_cut(text: str) -> str:
    """A chunk that begins or ends inside a $$ display formula holds an odd number of $$: the part
    before the first (or after the last) is formula, never a sentence (「a)-V_\\psi(s))\\big)…$$ V 对 Q
    做期望分位数回归……」 was quoted, review 30)."""
    if text.count("$$") % 2 == 0:
        return text
    head, tail = text.split("$$", 1)
    if not _PROSE_END.search(head):
        return tail
    return text.rsplit("$$", 1)[0]


def quotable_sentences(text: str) -> list[str]:
    """Whole sentences of a note text for quoting: lines split at 。！？.!? only (a '；' clause
    alone can read as a fragment), never inside $…$ / $$…$$, bullet markers removed; code blocks
    (``` fences), table rows and bold run-in headings (「**为什么一个头不够。**」) left out (quoted
    as prose they read as run-on text or as an answer that is only a heading)."""
    out = []
    fenced = False
    # a chunk's text is one line, so its code block is inline: out, with the 「训练伪代码：」 leading into it
    text = _lone_display_cut(_lone_fence_cut(_INLINE_CODE.sub("\n", _LEAD_INTO_CODE.sub("\n", text))))
    for line in _formula_lines_joined(text.splitlines()):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.lstrip().startswith("|"):
            continue
        # a run-in heading (「**为什么一个头不够。**」) ends what comes before it and is no answer itself;
        # one cut in two by a chunk boundary (「…关系。**为什么计算量不变。」, review 14) too
        if line.count("**") % 2:
            line = _RUN_IN_HEADING_CUT_HEAD.sub("", _RUN_IN_HEADING_CUT_TAIL.sub("", line))
        for seg in _RUN_IN_HEADING.split(line):
            # math is never cut: 「\mathrm{softmax}\!」 holds a '!' that ended a "sentence" mid-formula
            held: list[str] = []
            seg = _MATH_SPAN.sub(lambda m: held.append(m.group(0)) or f"\x00{len(held) - 1}\x00", seg)
            for part in _inside_quotes_kept(_QUOTABLE_END.split(seg.replace("**", ""))):  # no Markdown bold in a quote
                part = re.sub(r"\x00(\d+)\x00", lambda m: held[int(m.group(1))], part)
                part = re.sub(r"^\s*(?:[-*•]\s+)+", "", part)  # bullets, also one after a full stop
                part = _LIST_NUMBER.sub("", part)  # 「3.数据泄露：……」: the list's number is no part of the sentence
                if part.strip() and not _LEAD_IN.search(part):
                    out.append(" ".join(part.split()))
    return out


_LIST_NUMBER = re.compile(r"^\s*\d{1,2}[.)、]\s*(?=[^\d\s])")
# a sentence that only leads into a list (「它要解决三个老问题：1.」, the list cut off by a chunk boundary;
# review 24 quoted it as 「它要解决三个老问题：1」) says nothing alone
_LEAD_IN = re.compile(r"[：:]\s*(?:\d{1,2}[.)、]?)?\s*$")
_RUN_IN_HEADING = re.compile(r"\*\*[^*\n]{1,60}?[。！？.!?]\*\*")
# (an opening ** is followed by the heading's text, a closing one by a space or the end)
_RUN_IN_HEADING_CUT_TAIL = re.compile(r"(?:^|(?<=[。！？.!?]))\s*\*\*(?=\S)[^*\n]{1,60}?[。！？.!?]\s*$")  # the chunk ends after the heading
_RUN_IN_HEADING_CUT_HEAD = re.compile(r"^\s*[^*\n]{1,60}?[。！？.!?]\*\*(?=\s|$)")  # the next chunk starts with its end
_MATH_SPAN = re.compile(r"\$\$.+?\$\$|\$[^$\n]+?\$")


def _formula_lines_joined(lines: list[str]) -> list[str]:
    """A display formula on a line of its own joined to the line that leads into it
    (text.leads_into_formula: 「……按 Bradley-Terry 模型训练：」), blank lines between skipped."""
    from tutor.text import DISPLAY_ONLY, leads_into_formula

    out: list[str] = []
    for line in lines:
        prev = next((i for i in range(len(out) - 1, -1, -1) if out[i].strip()), None)
        if DISPLAY_ONLY.match(line) and prev is not None and leads_into_formula(out[prev]) \
                and not DISPLAY_ONLY.match(out[prev]):
            out[prev] = out[prev].rstrip() + " " + line.strip()
            del out[prev + 1:]
        else:
            out.append(line)
    return out


_OPEN_QUOTES, _CLOSE_QUOTES = "“「『", "”」』"


def _inside_quotes_kept(parts: list[str], max_chars: int = 320) -> list[str]:
    """Pieces of a line split at sentence ends, joined again where the end fell inside a
    Chinese quotation (A=“小明今天感冒了。”，B=“……”), which alone read as fragments; a join
    longer than max_chars (an unclosed quote) keeps the pieces as they were."""
    out: list[str] = []
    group: list[str] = []
    for part in parts:
        group.append(part)
        text = "".join(group)
        if sum(text.count(c) for c in _OPEN_QUOTES) <= sum(text.count(c) for c in _CLOSE_QUOTES):
            out += [text] if len(text) <= max_chars or len(group) == 1 else group
            group = []
    if group:
        out += group
    return out


# A "why" question is answered by a sentence that gives a cause or a consequence; the one
# restating the formula shares more words with the question but explains nothing.
WHY_QUESTION = re.compile(r"为什么|为何|为啥|原因|\bwhy\b|\bhow come\b", re.I)
# (a purpose, 「为了……」, and 「不加……就……」 answer a why as well: review 15's temperature follow-up
# quoted the T² line's 因为 over 「为了放大它，对 logits 除以温度 T」)
CAUSE_CUES = re.compile(r"因为|由于|所以|因此|导致|使得|以免|避免|防止|否则|不然|一旦|如果|若|不[^，。；]{1,6}时|为了|不[^，。；]{1,8}就|既然|解释|原因|之所以|根源|缓解|"
                        r"\bbecause\b|\bso that\b|\bin order to\b|\botherwise\b|\bcauses?\b|\bleads? to\b|\bprevent(?:s|ing)?\b|\bavoid(?:s|ing)?\b|"
                        r"\bexplain\w*|\bdue to\b|\bthe reason\b|\balleviat\w*|\bcaused\s+by\b|"
                        r"\bwithout\b|\bif\b|\bwhen\b", re.I)
# "why add / use X" asks for X's purpose, which the notes state as a benefit with no causal word:
# 5.3.1's 「好处包括更充分的探索……」 answers "Why does SAC add entropy?" (review 26, M4)
# a cause stated as such (not 「如果」 / "when", which CAUSE_CUES also count)
STATED_CAUSE = re.compile(r"因为|由于|导致|之所以|原因|根源|源于|\bbecause\b|\bcaused\s+by\b|\bdue\s+to\b|\bthe\s+reason\b|"
                          r"\bleads?\s+to\b|\bstems?\s+from\b", re.I)
PURPOSE_QUESTION = re.compile(r"为什么要?(?:加|引入|用|使用|采用|需要)|为何要?(?:加|引入|用|使用|采用)|为啥要?(?:加|引入|用)|"
                              r"\bwhy (?:\w+ ){0,3}?(?:add|adds|use|uses|introduce|include|bother)\b", re.I)
PURPOSE_CONTRAST = re.compile(r"不用|而不是|而非|不选|\binstead\b|\brather\b|\bthan\b|\bover\b", re.I)
# (and as what it makes more so: 「温度 T > 1 使分布更平滑，暴露……」 answers 「它为什么要用软标签和温度？」, review 29)
BENEFIT_CUES = re.compile(r"好处|优点|有助于|益处|[使让][^，。；]{1,12}更|\bbenefits?\b|\bhelps?\b|\badvantages?\b|\bencourages?\b|"
                          r"\bmakes?\b[^.;]{1,30}\bmore\b", re.I)
# a Greek letter written out and as its symbol are one word: 「clip 的 epsilon 一般取多少？」 shares ε with
# 「论文默认 ε = 0.2」 (review 28)
GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eta": "η", "theta": "θ",
         "kappa": "κ", "lambda": "λ", "mu": "μ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ",
         "omega": "ω"}
_GREEK_BOTH = {**GREEK, **{v: k for k, v in GREEK.items()}}


def with_greek(tokens: set[str]) -> set[str]:
    """tokens plus the other spelling of each Greek letter among them (epsilon ↔ ε)."""
    return tokens | {_GREEK_BOTH[t] for t in tokens if t in _GREEK_BOTH}


# words that grade what is asked about and name nothing
QUESTION_FILLER = frozenset("最大 最主要 主要 最重要 最常见 biggest main major".split())
# words of a why that ask nothing of their own ("Why does it need to be conservative?")
WHY_FILLER = frozenset("need needs needed necessary required 需要 必要 必须".split())
# one-character words that name nothing (verbs, particles) for a follow-up's cue words
CUE_GENERIC_CHARS = frozenset("用加比做学看要会能说讲写让给对在有是和跟与把被就都还也又很更最里中上下内")


def holds_cue(cue_words: set[str], sentence: str, toks: set[str]) -> bool:
    """Does the sentence hold one of a follow-up's cue words: as a token, or (a Chinese word) inside
    its text, which jieba may have cut differently (加熵 vs 要加 + 熵)."""
    return bool(cue_words & toks) or any(w in sentence for w in cue_words if not w.isascii())


# the best quote leads when it scores this much above the first in the notes' order ("What is gradient
# checkpointing?" opened with 3.4.1's 16-bytes-per-parameter line, its definition third; review 15)
LEAD_MARGIN = 0.25
CAUSE_BONUS = 0.6  # the pool is already the cited notes: on-topic; the cue decides among them
# "why is it better than Y" is answered by a contrast as much as by a cause: 「训练后量化只是把……硬塞进
# 整数网格，模型无法补偿误差；QAT 则让……」 had no causal cue and lost to a line saying when QAT is used
# (review 22)
COMPARATIVE = re.compile(r"比|更|胜过|优于|不如|\bthan\b|\bbetter\b|\bworse\b|\binstead of\b|\brather than\b", re.I)
CONTRAST_CUES = re.compile(r"只是|只能|(?<![从然因])而(?!且|言|已)|则|却|无法|相比|相较|不同于|"
                           r"\bwhereas\b|\binstead\b|\bunlike\b|\brather than\b|\bonly\b|\bcannot\b|\bcan't\b", re.I)


# A question about weaknesses is answered by the note's drawbacks, which rarely repeat the word
# the learner used (「那它的缺点呢？」 → 「效果上限受检索质量限制」): without this, the definition
# or the strengths (sharing the topic's words) were quoted.
# (风险 / risks too: 「AI 在医疗影像诊断中有哪些风险？」 quoted 14.4.2's overview lines, not its 「缺点：」 line, review 16)
LIMIT_QUESTION = re.compile(r"缺点|局限|不足之处|(?:有什么|有哪些|有何|什么|哪些|的)不足(?!以|够|时|的时候)|劣势|弊端|短板|坏处|风险|隐患|"
                            r"挑战|难点|难题|\bchallenges?\b|"  # 「最大的挑战是什么？」 after 自动驾驶 quoted 最大熵 RL (session 38)
                            r"weakness|drawback|limitation|downside|disadvantage|"
                            r"shortcoming|\bcons\b|\brisks?\b|\bpitfalls?\b", re.I)
LIMIT_CUES = re.compile(r"缺点|局限|不足|劣势|代价|成本高|开销大|受[^，。；]{0,10}限|难以|无法|不能|不适合|容易|依赖|昂贵|风险|"
                        r"但|然而|\bdrawbacks?\b|\blimit(?:ation)?s?\b|\bweakness|\bcannot\b|\bcan't\b|\bcostly\b|"
                        r"\bexpensive\b|\bslow(?:er)?\b|\brequires?\b|\bstruggles?\b|\bhowever\b|\bbut\b|\brisks?\b", re.I)
# A question about defences (「它怎么防？」 after model stealing, review 21) is answered by the note's
# defence lines, which rarely repeat the learner's word (防 vs 防御思路); without this the definition,
# sharing the topic's words, was quoted again
DEFENCE_QUESTION = re.compile(r"怎么防|如何防|防御|防范|防护|防止|防住|抵御|对策|应对|\bdefen[cs]es?\b|\bdefend|"
                              r"\bprotect\w*\s+against\b|\bmitigat\w*|\bcountermeasures?\b|\bprevent\w*", re.I)
DEFENCE_CUES = re.compile(r"防御|防护|防范|防止|抵御|缓解|对策|需配合|\bdefen[cs]es?\b|\bdefend\w*|\bmitigat\w*|"
                          r"\bcountermeasures?\b|\bprotect\w*|\bprevent\w*", re.I)
# A question asking how something is produced or computed (「Grad-CAM 是怎么生成热力图的？」, review 25)
# is answered by the sentence that states the steps (「…用类别得分对…的梯度做全局平均得到通道权重 α_k，再
# 计算…」), which seldom repeats the learner's verb; without this a drawbacks line sharing 热力图 was quoted
HOW_QUESTION = re.compile(r"(?:怎么|如何|怎样)(?:生成|计算|算|得到|求|产生|构造|实现|做到|工作|运作)|是怎么[^，。？?]{0,6}(?:的|出来)|"
                          r"\bhow\s+(?:is|are|does|do)\b[^?]{0,60}\b(?:computed|calculated|generated|produced|derived|"
                          r"built|obtained|work|works|compute|calculate|generate|produce)\b", re.I)
MECHANISM_CUES = re.compile(r"按[^，。；]{1,15}把|分成|分别|然后|加权平均|加权求和|求平均|取平均|使[^，。；]{1,16}最[大小]|通过|先[^，。；]{1,20}再|[^，。；]{2,}得到|计算(?!量)|取[^，。；]{1,12}(?:的|对)|走一步|多步|迭代|步长|"
                            r"沿[^，。；]{1,12}(?:梯度|方向)|[=＝]\s*[^，。；=]{0,30}?(?:[+×*·∑Σ−]|\s[-/]\s)|"
                            r"\bby\s+\w+ing\b|\bcomputes?\b|\btakes?\b|\bthen\b|\bsteps?\b|\biterat\w*|"
                            r"\bweighted\s+(?:average|sum|mean)\b|\baverag(?:e|es|ing)\b", re.I)
# (a formula is one with an operator, x′ = x + ε·sign(…); 「$d=4096$」 states a size, review 27's MoE case;
# an average is a step: 「服务器按样本数加权平均参数」 answers 「FedAvg 具体是怎么聚合的？」, review 31)
# …and of those, one holding the name asked about comes first (「Grad-CAM 是怎么生成热力图的？」: Grad-CAM's steps,
# not the saliency map's, in 12.4.1, which covers both)
NAMED_MECHANISM_BONUS = 0.4
# …and one asking how to tell that something happened (「怎么判断线上数据发生了漂移？」, review 25) by the
# sentences naming the tests, statistics and thresholds, not by the definitions sharing its nouns
# "when should I use it" is answered by a note's line of uses (「适用：……」), not by how it works: 「ZeRO-3
# 适合什么时候用？」 quoted its sharding and traffic lines (review 28)
WHEN_QUESTION = re.compile(r"什么时候(?:用|该|应该|适合|选)|何时(?:用|该|选)|适合(?:什么|哪些|哪种)|适用于(?:什么|哪些)|"
                           r"(?:什么|哪些)场景|\bwhen\s+(?:should|would|do|to)\b[^?]{0,30}\buse\b|\bwhen\s+is\b[^?]{0,40}"
                           r"\b(?:used|useful|appropriate|worth)\b|\bwhat\b[^?]{0,30}\bgood\s+for\b", re.I)
WHEN_CUES = re.compile(r"适用|适合|场景|\bsuitable\b|\bbest\s+for\b|\bgood\s+for\b|\bideal\s+for\b|\bwhen\b|\bworth\b", re.I)
DETECT_QUESTION = re.compile(r"(?:怎么|如何|怎样|用什么|靠什么)(?:判断|检测|发现|识别|监测|确定|知道|衡量)|"
                             r"\bhow\s+(?:can|do|would|should)\s+(?:I|we|you|one)\s+(?:tell|detect|know|check|spot|measure|notice)\b|"
                             r"\bhow\s+to\s+(?:tell|detect|check|spot|measure)\b", re.I)
DETECT_CUES = re.compile(r"检验|检测|统计量|监控|阈值|告警|大于|小于|超过|\btests?\b|\bstatistics?\b|\bmonitor\w*|"
                         r"\bthresholds?\b|\balerts?\b|\bexceeds?\b|\babove\b|\bbelow\b", re.I)
# …and "why is it faster" / 「为什么快那么多」 by the sentences stating what saves the time (TensorRT's "The build
# phase fuses layers, selects per-layer precision, auto-tunes kernels…"; DARTS's 「只需数个 GPU 天」, review 25)
SPEED_QUESTION = re.compile(r"快|加速|提速|慢|\bfaster\b|\bquicker\b|\bspeed\w*|\bslow\w*|\blatency\b|\bcheaper\b", re.I)
SPEED_CUES = re.compile(r"融合|合并|内核|算子|精度|量化|并行|缓存|复用|跳过|省去|减少|降低|降到|只需|不必|无需|一次|"
                        r"\bfus\w+|\bkernels?\b|\bprecision\b|\bquantiz\w+|\bparallel\w*|\bcach\w+|\breus\w+|\bskip\w*|"
                        r"\bfewer\b|\breduc\w+|\bavoid\w*|\bonce\b", re.I)
# …but "why is it not faster" (「非结构化剪枝为什么在 GPU 上不一定变快？」, review 30) by the sentence saying what
# keeps it from speeding up (「不规则稀疏难以在通用硬件上加速」), not by what it saves (its 精度 lines)
SLOW_QUESTION = re.compile(r"不一定[^，。？?]{0,3}(?:快|加速)|(?:难以|无法|难)(?:加速|变快|提速)|不[能会]?[^，。？?]{0,2}(?:变快|加速|提速)|没(?:有)?[^，。？?]{0,2}(?:变快|加速)|"
                           r"并不快|\bnot\s+(?:\w+\s+)?(?:faster|quicker)\b|\b(?:doesn't|does\s+not|don't|do\s+not|won't|isn't|aren't)"
                           r"\s+(?:\w+\s+){0,2}(?:speed|faster|accelerat)", re.I)
SLOW_CUES = re.compile(r"(?=.*(?:加速|变快|提速|慢|延迟|\bspeed\w*|\bfaster\b|\baccelerat\w*|\blatency\b|\bslow\w*))"
                       r"(?=.*(?:难以|无法|不能|并不|不会|仍|依然|\bcannot\b|\bcan't\b|\bhard\b|\bstill\b|\bdoes\s+not\b|"
                       r"\bdoesn't\b|\bno\s+real\b|\bunless\b|\brarely\b|\bseldom\b))", re.I | re.S)
# "What is the KV cache?" asks for the sentence saying what it is; every sentence of 9.2.2 holds its name,
# and the English ones were ranked by embedding similarity alone ("Further techniques include … KV cache
# quantization" first, the definition fourth, review 23). A bare what-is question naming the best note
# gives DEFINITION_BONUS to a sentence whose subject is that name (it comes early, then is / 是 / ：…)
DEFINE_QUESTION = re.compile(r"^\s*(?:请问)?(?:什么是|啥是|何为|何谓)|(?:是什么|是啥|指什么)\s*[？?]?\s*$|"
                             r"^\s*(?:what\s+is|what\s+are|what's|define)\b", re.I)
DEFINITION_BONUS = 0.3


def defines(sentence: str, names: Sequence[str]) -> bool:
    """True if one of names is the sentence's subject: within its first 40 characters, then
    (after a bracket) 是 / 指 / 即 / ： or is / are / keeps / stores / refers to / means."""
    return any(re.search(rf"^.{{0,40}}?{re.escape(n)}\s*(?:[（(][^）)]*[）)]\s*)?(?:是|指|即|就是|[:：]|is\b|are\b|keeps\b|"
                         rf"stores\b|refers\s+to\b|means\b)", sentence, re.I) for n in names if n)


# a sentence pointing to another note for it (「防御方法见 13.4.4」, "defences are covered in 13.4.4") states none
POINTER = re.compile(r"见\s*\d+(?:\.\d+)+|\b(?:covered|discussed|treated)\s+in\s+\d+(?:\.\d+)+|\bsee\s+\d+(?:\.\d+)+", re.I)
# a drawback cue that is one ("costly", 成本高), not a word that may only join two clauses ("but", 但)
STRONG_LIMIT = re.compile(r"缺点|局限|不足|劣势|代价|成本高|开销大|受[^，。；]{0,10}限|难以|无法|不适合|昂贵|下降|变差|"
                          r"\bdrawbacks?\b|\blimitations?\b|\bcostly\b|\bexpensive\b|\bcannot\b|\bstruggles?\b", re.I)
# a sentence that states a drawback as such (a note's 「缺点：」 line), not one with a weak cue ("but")
STATED_LIMIT = re.compile(r"^\s*(?:缺点|局限|不足|劣势)|缺点|局限性|\bdrawbacks?\b|\blimitations?\b|\bweakness(?:es)?\b|"
                          r"\bdisadvantages?\b|\bdownsides?\b|\bshortcomings?\b", re.I)
# a note's line of strengths or of uses (「适用：统计发布…」 quoted among differential privacy's risks,
# review 18): no drawback, whatever cue words it holds
STRENGTH_LEAD = re.compile(r"^\s*(?:优点|优势|好处|适用|何时选它|strengths?|advantages?|pros)\s*[：:]", re.I)


# The learner's word whole: jieba cuts 「批归一化」 into 批 + 归一化, so every sentence about
# 层归一化 shared half the question; a sentence with the phrase itself is about what was asked.
PHRASE_BONUS = 0.5

# A note's misconceptions are quotable under a label (Chat._quotable), so the wrong claim never
# reads as the answer; they rank below a plain sentence that says as much: on the tuning set
# they displaced key points (evals/answers/QUOTES.md, fifth round).
MISCONCEPTION_LABELS = ("常见误区：", "Common misconception: ")
MISCONCEPTION_PENALTY = 0.5
# a quote is one sentence: longer ones read as a wall of text. English spends ~3x the characters
# per fact, and an English summary's defining sentence runs to ~400 ("RLHF aligns … in three stages: …")
MAX_QUOTE_CHARS = 320
MAX_QUOTE_CHARS_EN = 480
# the best note is quoted alone unless another note's sentence holds this much more of the question's
# words (share: 1/3 = one more word of a three-word question)
OTHER_NOTE_MARGIN = 0.3
SCATTERED_WORDS = True  # see extractive_answer: the best note never holds two of the question's words in one sentence
PASSING_MENTION = True  # see extractive_answer: a phrase in one sentence of the best note, in several of another


def cjk_phrases(text: str) -> list[str]:
    """Runs of two or more adjacent content words of text that contain a Chinese character,
    joined as written (「GAN 的模式崩溃是什么」 → ['模式崩溃']; 「什么是批归一化」 → ['批归一化'])."""
    keep = set(content_tokens(text))
    out: list[str] = []
    run: list[str] = []
    for w in token_sequence(text) + [""]:
        if w and w in keep:
            run.append(w)
            continue
        if len(run) >= 2 and re.search(r"[\u4e00-\u9fff]", "".join(run)):
            out.append("".join(run))
        run = []
    return out


FOLLOWUP_CONTEXT_WEIGHT = 0.5  # the follow-up's own words come first: 缺点, then LoRA's rather than any note's
FOLLOWUP_MIN_SHARE = 0.8  # a follow-up's quote scoring under this share of the best one is left out


# a follow-up's noun that only points back at the topic (「这个方法」, "this approach")
ANAPHORIC_NOUN = re.compile(r"(?:这个|这种|这类|该|此|那个|那种|这一|这套)\s*(?:方法|技术|模型|算法|思路|方案|机制|做法|技巧|框架|工具|东西)|"
                            r"\b(?:this|that|these|those)\s+(?:methods?|approach(?:es)?|techniques?|models?|algorithms?|"
                            r"ideas?|tricks?|frameworks?|tools?|things?)\b", re.I)
SAME_QUOTES = {  # a follow-up whose quotes are an earlier answer's again says so (review 10)
    "zh": "（笔记里与这个问题最相关的，仍是前面已经摘录过的这几句。）",
    "en": "(The notes' sentences closest to this question are the ones already quoted before.)",
}
OTHER_QUOTES = {  # …and, when the notes hold others, quotes those instead (reviews 13a / 13b)
    "zh": "（与这个追问最相关的句子前面已经摘录过，下面是笔记里其余相关的句子。）",
    "en": "(The sentences closest to this follow-up were quoted above already; here are the notes' next ones.)",
}
FIRST_AGAIN_QUOTES = {  # …except the sentences about a name the follow-up brings up, which come first again
    "zh": "（第一句前面已经摘录过：笔记里讲它的就是这句；后面是笔记里其余相关的句子。）",
    "en": "(The first sentence was quoted above already: it is what the notes say about this; then the notes' next ones.)",
}
PASSING_NAME = {  # a name only the best note's other language states (review 22: Mamba in 3.3.3's Chinese body)
    "zh": "（这些笔记只在英文部分提到 {name}：）",
    "en": "(Of these notes, only the Chinese text mentions {name}:)",
}
QUOTES_HEADER = {  # says how the sentences were picked: by shared words, so they may not answer
    "zh": "笔记原句摘录（按与问题共有的词挑选）：",
    "en": "Sentences quoted from the notes (picked by the words they share with the question):",
}


def extractive_answer(question: str, sources: Sequence[tuple[int, str]], lang: str,
                      embed: Callable[[list[str]], list[list[float]]] | None = None, k: int = 3,
                      header: dict[str, str] = FALLBACK_HEADER, asked: str | None = None,
                      topic_names: Sequence[str] = (), best_names: Sequence[str] | None = None,
                      kin: Sequence[int] = (), exclude: frozenset[str] = frozenset(), parent: Sequence[int] = (),
                      named_before: bool = False, versus: Sequence[str] = (), own: Sequence[str] = ()) -> str:
    """An answer made of the k note sentences most relevant to the question, each cited.

    sources: (citation number n, note text without its label line) pairs, best source first
    (Chat passes the cited notes' key points and retrieved sections; a misconception's sentences
    each start with a MISCONCEPTION_LABELS label and are candidates only when they hold a phrase
    of the question, scoring MISCONCEPTION_PENALTY less). When the best source (the lowest n) has at
    least k quotable sentences in the question's language, only it is quoted: on the blind sets (blind3, evals/answers/
    QUOTES.md) the share of quoted sentences from an expected note rose from 0.66 to 0.90
    and key-point recall from 0.502 to 0.533. Sentences in the question's language are
    preferred; relevance = share of the question's content tokens in the sentence, plus
    (English) the embedding similarity, plus CAUSE_BONUS for a sentence with a causal cue
    when the question asks why, and as much for a sentence stating a drawback (LIMIT_CUES, not
    a line of strengths) when it asks for weaknesses (LIMIT_QUESTION; with no such sentence in
    the question's language, the best note's own drawbacks in any language are the pool);
    ties go to the earlier source; plus PHRASE_BONUS × the share of the question's Chinese
    phrases (`cjk_phrases`, those naming none of topic_names) that the sentence holds whole.
    topic_names: titles and aliases of the cited notes; best_names: those of the best source
    (the lowest n) alone, None when unknown: a question that names it keeps its quotes (the move
    to another note is for a best note matched in another sense), and one that does not gets
    none of the best note's own drawbacks in another language (its 「缺点：」 line is about its
    topic, not about a technique it mentions). (IDF-weighted tokens and
    multilingual similarity for Chinese were tried and lowered key-point recall on the tuning
    set: evals/answers/QUOTES.md.)
    asked: the learner's own question when `question` is a follow-up joined to the last one
    (「LoRA 为什么省显存？\n它有什么缺点？」): relevance is then
    the share of asked's tokens × (1 − w + w × the share of the last question's other tokens)
    + 0.1 × that share (w = FOLLOWUP_CONTEXT_WEIGHT), quotes under FOLLOWUP_MIN_SHARE of the
    best are left out, and whether "why" was asked is read from asked alone.
    kin: citation numbers of the best source's cited subtopics (see the pool rule below); parent:
    that of its section's overview when the question names the section and not the best source
    (the overview's sentences join the pool); exclude:
    `quote_key`s of sentences never to quote (an earlier answer's); named_before: an earlier question of
    the conversation named the best note, so its drawbacks are the topic's as if this one named it.
    versus: in a comparison, the names of the other side's note (own: this side's): a sentence naming
    the other side (outside this side's own names: 非结构化剪枝 holds 结构化剪枝) gets CAUSE_BONUS, as it
    states the contrast (「同样精度下可达到的压缩率一般低于非结构化剪枝」; review 30 got two definitions).
    Returns header[lang] (FALLBACK_HEADER: the model's answer failed; QUOTES_HEADER: quotes
    first) then one '- sentence [n]' line per sentence."""
    q_toks = set(content_tokens(question))
    if asked is not None and asked != question:  # a follow-up (its query holds the earlier question)
        # 「这个方法有什么缺点？」: 方法 stands for the topic, it is not asked about (it picked 7.3.1's
        # 「关系蒸馏……是本方法的延伸……风险」 before the 「缺点：」 line, review 15)
        q_toks -= {t for m in ANAPHORIC_NOUN.finditer(asked) for t in content_tokens(m.group(0))}
        asked = ANAPHORIC_NOUN.sub(" ", asked)
    own = set(content_tokens(asked)) if asked is not None else q_toks
    # (「最大的挑战是什么？」 after 自动驾驶: 最大 says how big, it names nothing; it picked 最大熵 RL's lines)
    if own - QUESTION_FILLER:
        own, q_toks = own - QUESTION_FILLER, q_toks - QUESTION_FILLER
    q_toks, own = with_greek(q_toks), with_greek(own)
    own, ctx = (own, q_toks - own) if own else (q_toks, set())
    # a phrase that names a cited note's own topic (多头注意力 in the 1.2.4 note) is in most of its
    # sentences and picks none; one naming something else (批归一化 in the LayerNorm note) does
    names = [n.lower() for n in topic_names]
    phrases = [ph for ph in cjk_phrases(asked if asked is not None else question) if not any(ph in n for n in names)]
    cands: list[tuple[int, int, str]] = []  # (n, order, sentence)
    seen = set()
    for n, text in sources:
        for s in quotable_sentences(text):
            key = strip_citations(s)
            if key.startswith(MISCONCEPTION_LABELS) and not any(ph in key.lower() for ph in phrases):
                continue  # a misconception only where it holds the learner's phrase whole
            bare = re.sub(r"\s+", "", key)  # the same sentence from the summary and from its chunk, spaced apart
            if exclude and quote_key(key) in exclude:
                continue  # quoted in an earlier answer (`exclude`: their `quote_key`s)
            if (8 <= len(key) <= (MAX_QUOTE_CHARS_EN if detect_lang(key) == "en" else MAX_QUOTE_CHARS) and bare not in seen and not s.startswith(("```", "$$", "|"))
                    and not key.endswith(("？", "?"))):  # a question restated is no answer
                seen.add(bare)
                cands.append((n, len(cands), key))
    # a chunk cut inside a sentence (at a '；' or ',') gives a fragment of a sentence already in the pool
    # from the summary: "Why does DQN need a target network?" quoted 5.1.3's overestimation line whole
    # and then its first clause again (session 44's trial); the whole sentence stays. (Only a piece
    # ending in a clause mark: a whole key point inside a longer body sentence, 「温度 T > 1 使分布更平滑，
    # ……」 in 7.3.1, is a sentence of its own and answers on its own)
    flat = [re.sub(r"\s+", "", c[2]) for c in cands]
    cands = [c for i, c in enumerate(cands)
             if not (flat[i].endswith((";", "；", ",", "，", ":", "："))
                     and any(len(f) > len(flat[i]) and flat[i][:-1] in f for f in flat))]
    if not cands:
        return header[lang]
    in_lang = [c for c in cands if detect_lang(c[2]) == lang]
    def share(s: str, words: set[str] = own) -> float:  # the learner's words in s, plus the phrase bonus
        toks = with_greek(set(content_tokens(s)))
        low = s.lower()
        cov = sum(t in toks for t in words) / len(words) if words else 0.0
        return cov + (PHRASE_BONUS * sum(ph in low for ph in phrases) / len(phrases) if phrases else 0.0)

    # for leaving the best note: words that name something (a one-character 比 or 用 does not:
    # 「跟 W&B 比哪个好用？」 moved to a sentence with 比 in it)
    naming = {t for t in own if len(t) > 1 or t.isascii()}

    best_n = min(c[0] for c in cands)
    first = [c for c in in_lang if c[0] == best_n]
    # the best note alone when it has k sentences in the question's language: a third quote
    # from another note was mostly beside the point
    # (a labelled misconception does not count: it would make a one-note pool of a thin note)
    plain = [c for c in first if not c[2].startswith(MISCONCEPTION_LABELS)]
    pool = first if len(plain) >= k else in_lang if len(in_lang) >= min(k, len(cands)) else cands
    moved = False
    low_q = question.lower()  # (a follow-up's referent is in the question before it)
    named = [b for b in best_names or () if len(b) >= 2 and name_in(low_q, b.lower())]  # best-note names asked
    names_best = bool(named)
    # for its drawbacks, also a name's bracketed parts ("Layer Normalization (LayerNorm, LN)"); not
    # above, where a named note's definition words stop counting: "Why do Transformers use layer
    # normalization?" then lost 2.1.4's definition, which says why
    names_best_part = any(len(b) >= 2 and name_in(low_q, b.lower()) for b in name_parts(best_names or ())) or named_before
    if pool is first and not ctx and in_lang and not names_best:
        # …unless another cited note has a sentence holding clearly more of the question than the
        # best note's sentences together: the best note matched it in another sense (「GAN 的模式崩溃」
        # → 10.4.2's schema 模式) or on one word ("How does RAG reduce hallucination?" → LangChain);
        # a best note that holds the words is kept though another note repeats them in one sentence,
        # and so is one the question names: 「知识蒸馏是怎么把大模型压缩成小模型的？」 quoted
        # self-distillation's contrast 「后者是把大模型压缩成小模型，而自蒸馏……」 (review 8)
        if naming and (max(share(c[2], naming) for c in in_lang)
                       >= share("\n".join(c[2] for c in first), naming) + OTHER_NOTE_MARGIN):
            pool = in_lang
            moved = True
        elif SCATTERED_WORDS and lang == "zh" and 2 <= len(naming) <= 3:
            # …or when no sentence of the best note holds two of the question's words together and
            # another cited note's does: 「GAN 的模式崩溃是什么？」 ranked model rollback first (崩溃 =
            # a crash in one sentence, 数据模式 in another) over 「比 GAN 的对抗训练稳定，不易模式崩塌」
            # (review 14; the README's own example). Chinese only, and a question of two or three such
            # words, all but one in the other sentence: wider, it moved right answers away on the seen
            # sets (a CLIP batch-size question to gradient accumulation; evals/answers/QUOTES.md)
            def together(c) -> int:
                return len(naming & set(content_tokens(c[2])))

            # (a word of the best note's own names is what it is about, said or not in each sentence:
            # 「为什么 DQN 会高估 Q 值？」 left Double DQN's 「用同一组带噪声的估计……导致 Q 值系统性高估」 for
            # 5.1's passing 「Double DQN 通过解耦……减轻高估」, review 29)
            own_name = naming & {t for b in best_names or () for t in content_tokens(b)}
            if (not own_name and max(together(c) for c in first) <= 1
                    and max(together(c) for c in in_lang) >= max(2, len(naming) - 1)):
                pool = in_lang
                moved = True
    # …or when the best note holds the question's phrase in one sentence, in passing, and another
    # cited note in several (then that note is quoted): 「梯度累积是做什么用的？」 ranks gradient
    # clipping (2.4.4: "clip after the accumulation is done") above the DDP note that explains
    # accumulation (reviews 13a and 13b)
    if PASSING_MENTION and pool is first and not moved and not ctx and not names_best and phrases:
        def holds(c) -> bool:
            return any(ph in c[2].lower() for ph in phrases)

        per_note = Counter(c[0] for c in in_lang if c[0] != best_n and holds(c))
        if sum(holds(c) for c in first) <= 1 and per_note and max(per_note.values()) >= 2:
            # the note that explains it alone: with the others, their passing mentions (8.3.2's
            # 「与…梯度累积搭配时…」) tie with its sentences on the question's words
            top_note = max(per_note, key=lambda n: (per_note[n], -n))
            pool = [c for c in in_lang if c[0] == top_note]
            moved = True
    # a question naming the best note (an overview) that asks what only its subtopics state ("Why do
    # policy gradient methods have high variance?": 5.2 says nothing of variance, REINFORCE's 5.2.1
    # does): the subtopics' sentences join the pool when one holds clearly more of the question's
    # other words than the best note's sentences together. kin: the cited subtopics' numbers
    named_toks = {t for b in named for t in content_tokens(b)}
    # …but a second name the question writes that names a part of the topic (an alias few of the best
    # note's sentences hold) is what it asks about when it asks nothing else: "Why does DQN need a
    # target network?" names 5.1.3 by DQN and by its alias "target network"; with both taken for the
    # topic's name nothing was left to ask, and the definition came before "Two key stabilizers are …
    # a target network" (session 44's trial). (Not when more is asked: 「它为什么要用软标签和温度？」 after
    # 知识蒸馏 asks of 温度 too, and 软标签 as a word to match picked 「与标签平滑同为软标签训练……温度」
    # over 「温度 T > 1 使分布更平滑」)
    parts = (part_name_words(named, [c[2] for c in first])
             if not (own - named_toks) - WHY_FILLER - _how_it_works() else set())
    rest = own - (named_toks - parts)
    rest_naming = {t for t in rest if len(t) > 1 or t.isascii()}
    kin_c = [c for c in in_lang if c[0] in kin]
    if (pool is first and not ctx and names_best and kin_c and rest_naming
            and max(share(c[2], rest_naming) for c in kin_c)
            >= share("\n".join(c[2] for c in first), rest_naming) + OTHER_NOTE_MARGIN):
        pool = first + kin_c
    # a why follow-up whose words the best note holds only in sentences giving no reason, while another
    # cited note's sentence holds them with one: that note's sentences join ("Why does it overestimate
    # Q-values?" after DQN: 5.1.3 says it does, Double DQN's 5.1.4 says why; review 29 got the repeat)
    asked_why = WHY_QUESTION.search(asked if asked is not None else question)
    # (a follow-up only: for a question of its own, on the seen sets, it drew "because" lines of other
    # notes — tensor parallelism for SwiGLU, warm-up for PLMS, monitoring for FedAvg; session 37)
    if pool is first and ctx and asked_why and naming:
        strong = {t for t in naming if len(t) >= 3 or not t.isascii()}  # (not "q" of Q-values)

        def reason(c) -> bool:
            return bool(STATED_CAUSE.search(c[2])) and bool(strong & set(content_tokens(c[2])))
        if not any(reason(c) for c in first):
            other = next((c[0] for c in in_lang if c[0] != best_n and reason(c)), None)
            if other is not None:
                pool = first + [c for c in in_lang if c[0] == other]
    # a question naming the best note's section (its overview cited as `parent`) and not the best note
    # itself asks about the section's idea: the overview's sentences join (「为什么 Transformer 需要位置
    # 编码？」: 1.3's 「不加位置信息就分不清……」 over 1.3.2's learned-embedding lines, review 15)
    par_c = [c for c in in_lang if c[0] in parent and c not in pool]
    if pool is first and not ctx and not names_best and par_c:
        pool = first + par_c
    # a name the question writes (`name_words`) that no cited sentence in its language holds and a
    # sentence of the best note in the other language does: "What is the Mamba state space model?"
    # quoted Falcon's English lines; only its Chinese body names Falcon Mamba (review 22). That
    # sentence comes first, said so, and the note's own lines after it
    passing: list[tuple[str, tuple[int, int, str]]] = []  # (the name as written, its sentence)
    if not ctx:
        in_toks = {t for c in in_lang for t in content_tokens(c[2])}
        own_names = {b.lower() for b in best_names or ()}
        others = [x for x in names if x not in own_names]  # (the best note's "Ross Wightman" alias is its own)
        # (a name that is a cited note's own is quoted from that note: "…faster than running the model in
        # PyTorch" compares TensorRT with 15.1.1, not with 9.1.3's Chinese mention of PyTorch, review 25;
        # and a word of another note's: "Decision" of the other side's Decision Transformer in a comparison, review 30)
        passing = [(w, c) for w in name_words(asked if asked is not None else question)
                   if (toks := set(content_tokens(w))) and not toks & in_toks and w.lower() not in names
                   and not any(name_in(x, w.lower()) for x in others)
                   for c in cands if c[0] == best_n and detect_lang(c[2]) != lang and toks & set(content_tokens(c[2]))][:1]
    sims = [0.0] * len(pool)
    if embed is not None and lang == "en":
        qv = embed([question])[0]
        sims = [sum(a * b for a, b in zip(qv, v)) for v in embed([c[2] for c in pool])]

    why = bool(WHY_QUESTION.search(asked if asked is not None else question))
    compares = why and bool(COMPARATIVE.search(asked if asked is not None else question))
    # (「为啥用欧氏不用余弦？」 asks why one choice over another, not what the method is good for)
    purpose = (why and bool(PURPOSE_QUESTION.search(asked if asked is not None else question))
               and not PURPOSE_CONTRAST.search(asked if asked is not None else question))
    limits = bool(LIMIT_QUESTION.search(asked if asked is not None else question))
    defends = bool(DEFENCE_QUESTION.search(asked if asked is not None else question))
    how = bool(HOW_QUESTION.search(asked if asked is not None else question))
    detects = bool(DETECT_QUESTION.search(asked if asked is not None else question))
    when = bool(WHEN_QUESTION.search(asked if asked is not None else question))
    speed = (why or compares or how) and bool(SPEED_QUESTION.search(asked if asked is not None else question))
    slow = speed and bool(SLOW_QUESTION.search(asked if asked is not None else question))
    # "What are its downsides?" after gradient checkpointing, a technique inside 3.4.1 (full
    # fine-tuning), quoted 3.4.1's 「缺点：」 line, full fine-tuning's drawbacks (review 8)
    # …but a question of its own naming no note, whose topic words are mostly the best note's names'
    # words, asks about that note's topic in its own words: 「AI 在医疗影像诊断中有哪些风险？」 (医疗, 影像,
    # 诊断 and AI are in 14.4.2's 医疗健康, 医学影像, 辅助诊断, 医疗AI; review 16); 「梯度检查点有什么缺点？」
    # is not 3.4.1's topic (no word of its names)
    topic = {t for t in naming if not LIMIT_QUESTION.search(t)}
    name_toks = {t for b in best_names or () for t in content_tokens(b)}
    in_own_words = not ctx and bool(topic) and 2 * len(topic & name_toks) > len(topic)
    own_limits = best_names is None or names_best_part or in_own_words
    if limits and own_limits and not any(is_drawback(c[2]) for c in pool):
        # (an English summary seldom lists drawbacks: the note's own ones, in its language, beat none)
        pool = [c for c in cands if is_drawback(c[2]) and c[0] == best_n] or pool
        sims = [0.0] * len(pool)

    # a question naming the best note (「知识蒸馏里的温度是干什么用的？」): the name's words are in its
    # definition sentences, not in what was asked about; they pick nothing among its sentences
    # …unless the rest only asks how the named thing works (「混合专家模型（MoE）是怎么工作的？」 names
    # 3.3.2 by an alias for a part of it: its MoE sentences, not its opening, answer; review 11)
    # (and not when the rest is particles: 「IQL 里的期望分位数回归是做什么的？」 names the note twice, and its 里
    # and 做 picked 「…贝尔曼目标里的…」 and 「…做 SARSA 式评估」 over the expectile line, review 30)
    rest_says = {t for t in rest if len(t) > 1 or t.isascii() or t not in CUE_GENERIC_CHARS}
    asked_words = rest if not ctx and rest_says and not rest <= _how_it_works() else own
    # a why whose words are the best note's own name ("Why does it need to be conservative?" after CQL,
    # 「CQL 为什么要保守？」): every sentence of that note is about them, the definitions repeat them; the
    # reason is picked by its cue alone, from the best note (review 30 got the definition twice)
    topic_why = (why and bool(asked_words & (name_toks - parts)) and bool(best_names)
                 and asked_words - (name_toks - parts) <= WHY_FILLER and (names_best or named_before or bool(ctx)))
    if topic_why:
        asked_words = set()
    # a follow-up's cue bonus goes to a sentence holding a word the learner wrote, when they wrote one
    # that names something: every sentence of the topic's note is on topic, so DARTS's 「已知问题：……导致
    # 性能塌陷」 (no word of 「它为什么比早期用强化学习做的NAS快那么多？」) led on its 导致 (review 25)
    # (or one of the topic's, from the question it follows: 2.1.3's 「每个残差块的局部雅可比是 I + ∂F/∂x，缓解
    # 梯度消失与退化」 answers 「它为什么能让很深的网络训练起来？」 in none of its words, review 27)
    # (a one-character term counts, 熵, but not a verb or particle; and a Chinese word counts inside a
    # sentence's longer token: jieba cuts 「加熵是为了……」 into 加熵, 「它为什么要加熵？」 into 要加 + 熵)
    cue_words = {t for t in asked_words | ctx if len(t) > 1 or t.isascii() or t not in CUE_GENERIC_CHARS} if ctx else set()
    what_is = (not ctx and bool(named) and rest <= _how_it_works() and not how
               and bool(DEFINE_QUESTION.search(asked if asked is not None else question)))
    # (the name as the notes write it in the other language: 「什么是KV cache？」 → 「KV 缓存：……」)
    subjects = [b for b in best_names or () if set(content_tokens(b)) & named_toks] if what_is else []

    def rel(i: int, drawback: bool = True, cues: bool = True) -> float:
        n, order, s = pool[i]
        toks = with_greek(set(content_tokens(s)))
        cov = share(s, asked_words)
        if ctx:  # a follow-up: on the last question's topic too, or its 缺点 could be any note's
            # (a sentence of the topic's own note, the best note the questions name, is on it
            # without repeating its name: 「温度 T > 1 使分布更平滑」 in 7.3.1, review 10)
            on_topic = 1.0 if n == best_n and names_best else sum(t in toks for t in ctx) / len(ctx)
            cov = cov * (1 - FOLLOWUP_CONTEXT_WEIGHT + FOLLOWUP_CONTEXT_WEIGHT * on_topic) + 0.1 * on_topic
        # (a 「缺点：」 line's 导致 is a drawback's mechanism, no reason for what was asked: 「LIME 为什么需要在
        # 样本附近扰动？」 led with LIME's drawbacks, review 24)
        cause = (CAUSE_BONUS if why and (CAUSE_CUES.search(s) or (compares and CONTRAST_CUES.search(s))
                                         or (purpose and BENEFIT_CUES.search(s)))
                 and (limits or not _stated_drawback(s))
                 and (not cue_words or holds_cue(cue_words, s, toks) or (topic_why and n == best_n)) else 0.0)
        # (a note's line of strengths or uses, 「适用：……需要细粒度监控……」, states no method)
        plain_line = not _stated_drawback(s) and not STRENGTH_LEAD.search(s)
        mechanism = how and bool(MECHANISM_CUES.search(s)) and plain_line
        cause += CAUSE_BONUS if mechanism else 0.0
        cause += NAMED_MECHANISM_BONUS if mechanism and named_toks & toks else 0.0
        cause += CAUSE_BONUS if detects and DETECT_CUES.search(s) and plain_line else 0.0
        cause += CAUSE_BONUS if when and WHEN_CUES.search(s) and not _stated_drawback(s) else 0.0
        cause += CAUSE_BONUS if speed and (SLOW_CUES.match(s) if slow else SPEED_CUES.search(s)) and (
            not cue_words or holds_cue(cue_words, s, toks)) else 0.0
        cause += DEFINITION_BONUS if what_is and n == best_n and defines(s, subjects) else 0.0
        cause += CAUSE_BONUS if drawback and limits and is_drawback(s) else 0.0
        cause += CAUSE_BONUS if defends and DEFENCE_CUES.search(s) and not POINTER.search(s) else 0.0
        if versus:
            bare = s.lower()
            for o in sorted(own, key=len, reverse=True):
                bare = bare.replace(o.lower(), " ")
            cause += CAUSE_BONUS if any(len(v) >= 2 and name_in(bare, v.lower()) for v in versus) else 0.0
        penalty = MISCONCEPTION_PENALTY if s.startswith(MISCONCEPTION_LABELS) else 0.0
        return cov + (cause if cues else 0.0) - penalty + max(0.0, sims[i]) - 0.001 * order  # earlier sources win ties

    best = sorted(range(len(pool)), key=rel, reverse=True)[:k]
    if ctx and best:  # a follow-up's weak quotes are from a neighbouring topic: fewer quotes are better
        # (the drawback bonus counts only for a sentence with a word of the last question: it picks
        # among the topic's sentences, it does not make another topic's drawback as good as this one's)
        def kept(i: int, cues: bool = True) -> float:  # …or for the stated drawbacks of a best note the question names (its
            # 「缺点：」 line may share no word with the follow-up: in another language, review 9)
            s = pool[i][2]
            return rel(i, bool(ctx & set(content_tokens(s))) or (limits and names_best_part and pool[i][0] == best_n
                                                                  and _stated_drawback(s)), cues)

        top = max(kept(i) for i in best)
        # (a cue bonus on one sentence does not drop the one holding most of the question's words:
        # DARTS's 「早期……用强化学习……成千上万 GPU 天」 after its 「既然……」 reason, review 25)
        top_words = max(kept(i, False) for i in best)
        if top > 0:  # (nothing shares a word: a drawback pool in the note's other language)
            best = [i for i in best if kept(i) >= FOLLOWUP_MIN_SHARE * top
                    or (top_words > 0 and kept(i, False) >= FOLLOWUP_MIN_SHARE * top_words)]
    if moved and best:  # and the sentences of the other sense go: those holding clearly less of the question
        top_share = max(share(pool[i][2], naming) for i in best)
        best = [i for i in best if share(pool[i][2], naming) > top_share - OTHER_NOTE_MARGIN]
    if limits and own_limits:  # a line of strengths or uses answers no drawbacks question (review 18)
        best = [i for i in best if not STRENGTH_LEAD.search(pool[i][2])] or best
    stated: list[tuple[int, int, str]] = []
    if limits and own_limits and not any(STATED_LIMIT.search(pool[i][2]) for i in best):
        # the quotes' drawbacks are only sentences with "but" or "requires" in them ("What are the
        # weaknesses of PPO?" quoted "…gains are clipped but harmful changes are still penalized"),
        # or none (14.4.2's 「风险预测」 and overview lines outscored its 「缺点：」 line on the
        # question's words, review 16): the best note's own 「缺点：」 line comes as well, first (after
        # the others, "What are the drawbacks of MAML?" read two non-drawbacks before it, session 32),
        # in the question's language when it has one
        stated = sorted((c for c in cands if _stated_drawback(c[2]) and c[0] == best_n),
                        key=lambda c: detect_lang(c[2]) != lang)[:1]
        # …but not one in the other language when a chosen quote in the question's own states a drawback
        # with a strong cue (review 26: 「对抗训练这种防御有什么缺点？」 opened with 13.4.4's English
        # "Limitations: …" before 「对抗训练……训练成本高且干净精度常下降」)
        if stated and detect_lang(stated[0][2]) != lang and any(
                detect_lang(pool[i][2]) == lang and STRONG_LIMIT.search(pool[i][2]) for i in best):
            stated = []
    lines = [header[lang]]
    for name, (n, _, s) in passing:
        best = [i for i in best if pool[i][2] != s][:k - 1]
        lines += [PASSING_NAME[lang].format(name=name), f"- {cite(s, n)}"]
    lines += [f"- {cite(s, n)}" for n, _, s in stated if all(s != pool[i][2] for i in best)]
    order = sorted(best, key=lambda i: pool[i][1])  # the notes' own order…
    if order and rel(best[0]) >= rel(order[0]) + LEAD_MARGIN:
        order = [best[0]] + [i for i in order if i != best[0]]  # …after a clearly better one
    if limits and own_limits:  # …and for its drawbacks, a line stating them first (session 32)
        order = sorted(order, key=lambda i: not _stated_drawback(pool[i][2]))
    if why:  # …and for a why, the sentences giving a reason first (「它为什么要加熵？」 after SAC read the
        # objective's formula before 「加熵是为了……」, review 26)
        order = sorted(order, key=lambda i: rel(i) - rel(i, cues=False) < CAUSE_BONUS)
    if when:  # …and for when to use it, the line of uses first
        order = sorted(order, key=lambda i: not (WHEN_CUES.search(pool[i][2]) and not _stated_drawback(pool[i][2])))
    if how:  # …and for how it is produced, the steps first (review 26: 「对抗样本是怎么生成的？」 led with
        # transferability, which holds 生成, before FGSM's x′ = x + ε·sign(∇x J))
        order = sorted(order, key=lambda i: not (MECHANISM_CUES.search(pool[i][2]) and not _stated_drawback(pool[i][2])
                                                 and not STRENGTH_LEAD.search(pool[i][2])))
    for i in order:
        n, _, s = pool[i]
        lines.append(f"- {cite(s, n)}")
    return "\n".join(lines)


def quote_key(sentence: str) -> str:
    """A quote compared across turns: citations, spaces and closing punctuation gone."""
    return re.sub(r"\s+", "", strip_citations(sentence)).rstrip("。.!！?？;；")


def quoted_in(answer: str) -> frozenset[str]:
    """The `quote_key`s of an answer's '- sentence [n]' lines."""
    return frozenset(quote_key(ln_text(x.lstrip())) for x in answer.splitlines() if x.lstrip().startswith("- "))


REPEATED_MARK = {  # ends a quote that an earlier answer of the conversation already gave
    "zh": "（前面已摘录）",
    "en": " (quoted above)",
}


def mark_repeats(text: str, said: Sequence[frozenset[str]], lang: str, repeats_last: bool = False) -> str:
    """text (a header line, then lines) with REPEATED_MARK after each '- sentence [n]' line an
    earlier answer gave (said: each earlier answer's `quoted_in`), in place: the notes' order of
    relevance stays; with repeats_last (a why follow-up) the marked lines go after the new ones,
    so the reason comes first. Unchanged when none or all are repeats (those get SAME_QUOTES /
    OTHER_QUOTES). Review 22: 「那一般怎么解决？」 after cold start repeated two of the last
    answer's three sentences with nothing said."""
    lines = text.split("\n")
    before = frozenset().union(*said) if said else frozenset()
    quotes = [i for i, ln in enumerate(lines) if i and ln.startswith("- ")]
    old = [i for i in quotes if quote_key(ln_text(lines[i])) in before]
    if not old or len(old) == len(quotes):
        return text
    marked = [ln + REPEATED_MARK[lang] if i in old else ln for i, ln in enumerate(lines)]
    if repeats_last:
        # (review 30's "Why does it need to be conservative?" after CQL led with the definition
        # quoted the turn before, the reason line second)
        moved = [marked[i] for i in old]
        marked = [ln for i, ln in enumerate(marked) if i not in old]
        at = max(i for i, ln in enumerate(marked) if i and ln.startswith("- ")) + 1
        marked[at:at] = moved
    return "\n".join(marked)


def ln_text(line: str) -> str:
    """A quote line's sentence: without '- ' and without a REPEATED_MARK."""
    s = line[2:] if line.startswith("- ") else line
    for m in REPEATED_MARK.values():
        s = s.removesuffix(m)
    return s


def name_parts(names: Sequence[str]) -> list[str]:
    """The names, and each part of a name with a bracketed gloss: "Layer Normalization (LayerNorm,
    LN)" also names "Layer Normalization", "LayerNorm" and "LN" ("Why do Transformers use layer
    normalization?" named 2.1.4 by no alias, so its drawbacks follow-up left out the Limitations line)."""
    out = list(names)
    for n in names:
        if re.search(r"[(（]", n):
            out += [p.strip() for p in re.split(r"[()（）,，、]", n) if p.strip() and p.strip() not in out]
    return out


def part_name_words(named: Sequence[str], sentences: Sequence[str]) -> set[str]:
    """Content tokens of the names in `named` (a note's names that a question writes) that name a
    part of the note's topic: held by at least one of the note's sentences but by at most half as
    many as the name held most (the topic's own name, which the question also writes; a name spelling
    out an acronym written is the topic's too: "Conservative Q-Learning" beside CQL). A question
    naming the note by one name gets none (an alias that no sentence holds, "MHA", is the topic), and
    neither does a name holding the topic's name or held in it (知识蒸馏 beside 蒸馏, "Nature DQN"
    beside DQN)."""
    if len(named) < 2 or not sentences:
        return set()
    low = [s.lower() for s in sentences]
    held = {b: sum(name_in(s, b.lower()) for s in low) for b in named}
    most = max(held.values())
    top = [b for b in named if held[b] == most]

    def initials(name: str) -> str:
        return "".join(w[0] for w in re.split(r"[\s\-]+", name.lower()) if w)
    # (and so is one holding the topic's name or held in it: 知识蒸馏 beside 蒸馏, "Nature DQN" beside DQN)
    topic = [b for b in named if b in top or any(initials(b) == t.lower() or initials(t) == b.lower()
                                                 or name_in(b.lower(), t.lower()) or name_in(t.lower(), b.lower())
                                                 for t in top)]
    topic_toks = {t for b in topic for t in content_tokens(b)}
    return {t for b in named if 0 < 2 * held[b] <= most and b not in topic for t in content_tokens(b)} - topic_toks


def name_in(text: str, name: str) -> bool:
    """Is name in text (both lower-cased): a substring, and for a Latin name a whole word ("rl"
    is not in "url")?"""
    if name not in text:
        return False
    return not name.isascii() or re.search(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])", text) is not None


def is_drawback(sentence: str) -> bool:
    """Does the sentence state a drawback (a cue, and not a line of strengths)?"""
    return bool(LIMIT_CUES.search(sentence)) and not STRENGTH_LEAD.search(sentence)


def _stated_drawback(sentence: str) -> bool:
    """Does the sentence state drawbacks by name (「缺点：…」, "limitations"), not lead with strengths?"""
    return bool(STATED_LIMIT.search(sentence)) and not STRENGTH_LEAD.search(sentence)


def cite(sentence: str, n: int) -> str:
    """The sentence with [n] before its closing punctuation, so the citation stays inside it."""
    m = re.search(r"[。！？.!?]+$", sentence)
    return f"{sentence[:m.start()]} [{n}]{m.group(0)}" if m else f"{sentence} [{n}]"


def cosine_embed(embedder) -> Callable[[list[str]], list[list[float]]]:
    """An embed function from an `Embedder` (its vectors are already L2-normalised)."""
    return lambda texts: embedder.embeddings.embed_documents(list(texts))

