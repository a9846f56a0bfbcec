"""The RAG answer: retrieve → fit the token budget → generate (streamed) → cite.

`Chat.stream` yields events, so CLI, UI and evals share one path:
  ("sources", list[Source]) once, then ("token", str) pieces, then ("done", Answer).
When the answer check (tutor/trust/check.py) finds the streamed answer to be garbage (wrong
language, looping, empty, or mostly not found in the notes) two more events come before
"done": ("retry", list[str] reasons) when the tutor starts a second, stricter generation,
then ("replace", str) with the full text that replaces everything streamed so far (the
strict answer if it passes the check and `retry_reasons` — complete, nothing flagged, not
repetitive — else an extractive answer quoting the notes). A model whose retries measurably
never pass (trust/policy.py retry_worthwhile; TUTOR_STRICT_RETRY) gets no "retry": the
"replace" with the quotes comes at once.
Invariant: the text after the last "replace" (or from the start) plus the "token" pieces
after it, stripped, equals `Answer.answer` (the same filters run on both).
Answer modes (tutor/trust/policy.py): "stream" as above; "checked" sends the model's pieces as
("draft", str) — progress, not for display — and always ends with a "replace" holding what
passed the check; "quotes_first" does not call the model: one "token" with the notes' most
relevant sentences (guard outcome "quoted").
When retrieval finds nothing relevant the model is not called at all: the tutor says the
notes don't cover the question and suggests outline topics.
"""

from __future__ import annotations

import re
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from typing import Iterator

from tutor.errors import TutorError
from tutor.llm import LLM, MESSAGE_OVERHEAD_TOKENS, Generation
from tutor.prompts import Prompts
from tutor.rag import budget, compare, followup
from tutor.rag.bm25 import content_terms, tokenize
from tutor.rag.chunking import LIMITS_KIND
from tutor.rag.retrieve import Hit, Retriever, found_names, contains_words, is_covered, outline_matches
from tutor.text import (DISPLAY_FIRST, citations, clean_input, detect_lang, han_count, leads_into_formula, name_words, normalise_query,
                        neutralise_control, split_sentences)
from tutor.wording import w
from tutor.trust import policy
from tutor.trust.check import (
    CAUSE_CUES,
    FALLBACK_HEADER,
    LIMIT_QUESTION,
    MISCONCEPTION_LABELS,
    FIRST_AGAIN_QUOTES,
    QUOTES_HEADER,
    OTHER_QUOTES,
    SAME_QUOTES,
    WHEN_QUESTION,
    WHY_QUESTION,
    Flagger,
    content_tokens,
    cosine_embed,
    extractive_answer,
    garbage_reasons,
    is_drawback,
    is_empty,
    is_looping,
    quotable_sentences,
    mark_repeats,
    quoted_in,
    strip_citations,
    retry_reasons,
)
from tutor.trust.injection import URL, strip_instructions

CITED_N = re.compile(r"\[(\d+)\]")  # the n of each [n] citation in an answer line
LOOP_STOP_CHARS = 240  # a streamed answer this long that already loops is cut short
RETRY_MAX_TOKENS = 192  # the strict retry asks for at most three sentences
RETRY_SOURCES = 2  # the strict retry sees only the best notes: short prompts suit small models
MISCONCEPTION_HEADINGS = {"常见误区", "Common misconceptions"}
# DESIGN.md's note sections with drawbacks, and the English summary's Limitations chunk (chunking.LIMITS_HEADING)
PROS_CONS_HEADINGS = ("优缺点", "Strengths and weaknesses", "Pros and cons", "Limitations")
# a misconception is quoted only under a label (check.MISCONCEPTION_LABELS), so its wrong claim never reads as the answer
MISCONCEPTION_LABEL = dict(zip(("常见误区", "Common misconceptions"), MISCONCEPTION_LABELS))


class Question:
    """Validation of a learner's question."""

    class Invalid(TutorError):
        """Empty or over-long question."""

    @staticmethod
    def clean(text: str | None, max_chars: int) -> str:
        """Stripped question with control tokens neutralised. Raises Question.Invalid,
        text.BadText (invalid Unicode)."""
        q = clean_input(text, "the question").strip()
        if not q:
            raise Question.Invalid(w("chat.question_empty"))
        if len(q) > max_chars:
            raise Question.Invalid(w("chat.question_too_long", n=f"{len(q):,}", limit=f"{max_chars:,}"))
        return neutralise_control(q)


@dataclass
class Source:
    """A cited note. n: citation number in the answer ([n]); score: best RRF score of its
    chunks; snippet: its best chunk's text."""

    n: int
    id: str
    title: str
    title_en: str
    score: float
    relevance: float
    snippet: str
    chunk_ids: list[str] = field(default_factory=list)


@dataclass
class Answer:
    """A finished answer. timings: retrieve_ms, first_token_ms, total_ms (ms), prompt_tokens,
    completion_tokens, tokens_per_s (first_token_ms and token counts are the first
    generation's; total_ms includes a retry). notices: codes such as 'quotes_first' (the
    notes' sentences; the model was not called), 'history_dropped',
    'notes_dropped', 'notes_trimmed', 'question_trimmed', 'not_covered', 'stopped', and from the answer check
    'garbage_<reason>' (reason: empty, language, loop, unsupported — why the first answer
    was rejected), 'retried_strict' (the shown answer is the stricter retry),
    'extractive_fallback' (the shown answer quotes note sentences; the model's was rejected).

    Answer trust (DESIGN.md §4): key_points [{"n", "id", "text"}] are the top 3 cited notes'
    key points (for an English question, the sentences of their English summaries); sentences = text.split_sentences(answer); unsupported = indexes into
    sentences of those not found in the retrieved notes (show them muted, ⚠ "not found in the
    notes"); guard = {"outcome": "direct"|"retried"|"fallback"|"unchecked"|"quoted", "reasons":
    [first attempt's reasons, retry's reasons]}; mode: the answer mode used (trust/policy.py)."""

    question: str
    answer: str
    sources: list[Source]
    model: str
    lang: str
    timings: dict
    notices: list[str] = field(default_factory=list)
    covered: bool = True
    key_points: list[dict] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)
    unsupported: list[int] = field(default_factory=list)
    guard: dict = field(default_factory=lambda: {"outcome": "unchecked", "reasons": []})
    mode: str = "stream"

    def to_json(self) -> dict:
        """The `tutor ask --json` object (DESIGN.md §4)."""
        return {
            "question": self.question,
            "answer": self.answer,
            "sources": [{"n": s.n, "id": s.id, "title": s.title, "score": s.score} for s in self.sources],
            "model": self.model,
            "timings": self.timings,
            "key_points": self.key_points,
            "unsupported": self.unsupported,
            "sentences": self.sentences,
            "guard": self.guard,
            "notices": self.notices,
            "lang": self.lang,
            "mode": self.mode,
        }


# an overview's reading order answers no question ("Suggested order: contrastive learning, …" was
# quoted for "Why does it work for zero-shot classification?", review 23)
READING_ORDER = re.compile(r"^\s*(?:Suggested (?:reading |learning )?order|建议(?:的)?学习顺序|学习顺序)")
READING_ORDER_HEADINGS = frozenset({"建议学习顺序", "学习顺序"})
# a comparison side or "what is" subject that is a piece of a sentence, not a term: question words,
# pronouns, sentence ends ("fp16. Why", 「注意力里为什么要把」)
NOT_A_TERM = re.compile(r"[.?!。？！，,；;：:]|\bof\b|的|普通|一般的|为什么|怎么|什么|哪|吗|呢|我|你|他|它|这|那|要|把|被|该|\b(?:why|how|what|which|"
                        r"my|your|its|their|our|it|this|that|these|those|i|we|you|they|them|one|ones|kind|way)\b|其", re.I)
CLASSIFIER = re.compile(r"^[一二两三四五六七八九十几每各某整][个种类次句条步轮遍份]$")
DRAWBACKS_ELSEWHERE = {  # see Chat._drawbacks_elsewhere
    "zh": "（笔记没有专门写「{topic}」本身的缺点；下面是 {notes} 里写的缺点。）",
    "en": "(The notes state no drawbacks of {topic} itself; below are those stated in {notes}.)",
}
# a model name with its version: "Gemini 2.5 Pro", "GPT-5", "Llama 4", "Qwen3", "Claude 3.5 Sonnet"
VERSIONED = re.compile(r"(?<![\w.-])(?P<base>[A-Z][A-Za-z]+)[ -]?(?P<num>\d+(?:\.\d+)?)(?![\w.])"
                       r"(?:\s+(?:Pro|Ultra|Flash|Mini|Max|Turbo|Plus|Nano|Lite|Sonnet|Opus|Haiku|Scout|Maverick))?")
NOT_A_MODEL = frozenset({"step", "top", "version", "chapter", "section", "part", "phase", "stage", "figure", "table",
                         "layer", "epoch", "round", "level", "type", "case", "rule", "option", "day", "week", "month",
                         "year", "hour", "page", "line", "item", "question", "note", "topic", "lesson", "task"})
UNKNOWN_NAMES = {  # names in the question that no note contains (TermStats.unknown_names)
    "zh": "（笔记里没有出现 {names}；下面的句子只与问题里的其他词有关。）",
    "en": "(The notes never mention {names}; the sentences below share only the question's other words.)",
}
# short forms a CamelCase name is made of (BatchNorm, GroupNorm, ConvNet): the notes write them out
_SHORT_FORMS = {"norm": "normalization", "conv": "convolution", "attn": "attention", "net": "network"}


def spelled_out(phrase: str) -> list[str]:
    """phrase lower-cased, and for a CamelCase name its words apart and each short form written out:
    "BatchNorm" → ["batchnorm", "batch norm", "batch normalization"] (review-31 prep: "What is the
    difference between LayerNorm and BatchNorm?" was told no note compares them; 2.1.4 writes
    "batch normalization (BN)")."""
    low = phrase.strip().lower()
    parts = re.findall(r"[A-Z][a-z]+|[A-Z]+(?![a-z])|[a-z]+|\d+", phrase.strip())
    if len(parts) < 2 or " " in phrase.strip():
        return [low]
    apart = " ".join(p.lower() for p in parts)
    full = " ".join(_SHORT_FORMS.get(p.lower(), p.lower()) for p in parts)
    return list(dict.fromkeys([low, apart, full]))


PASSING_SIDE = {  # a compared thing with no note of its own, written only inside another note (review 28: BLIP)
    "zh": "（笔记里没有专门讲 {name} 的主题，只在 [{n}] 里顺带提到；笔记没有写它和前者的对比，下面是两边各自的原句。）",
    "en": "(The notes have no topic on {name}; [{n}] mentions it only in passing, and the notes write no comparison "
          "of the two: below is what they say of each.)",
}
UNKNOWN_NAMES_ALONE = {  # see Chat._not_covered
    "zh": "（笔记里没有出现 {names}。）",
    "en": "(The notes never mention {names}.)",
}
MENTIONED_IN = {  # see Chat._not_covered: a name the question writes that some notes mention in passing
    "zh": "（笔记里没有专门讲 {name} 的一节，只在这些笔记里提到过它：{notes}。）",
    "en": "(No note is about {name}, but these notes mention it: {notes}.)",
}
MENTIONED_MAX_NOTES = 4
# a question whose best hit is this little relevant is about nothing the notes touch (cooking: 0.00–0.01;
# an AI question the notes do not cover, such as AdamW or Gemini 2.5 Pro: 0.66–0.97; session 37)
OFF_TOPIC_RELEVANCE = 0.1
# ... unless it comes in a conversation and the USE domain classifier does not call it off-domain: "What
# are the downsides of the usual fixes?" after two cold-start turns (relevance 0.00, domain −0.04) was
# told the notes are about AI only (review 35); a Paris itinerary scores −4.9, boiling an egg −5.8
OFF_DOMAIN = -2.0
IN_CONVERSATION = {  # see Chat._not_covered: a refusal in a conversation that may be a follow-up
    "zh": "（如果是接着上面的话题问的，请在问题里写出那个主题的名称再问一次。）",
    "en": "(If this follows on from what we discussed, ask again with that topic's name in the question.)",
}


def group_sources(hits: list[Hit], chunks: dict | None = None, lang: str = "zh") -> list[Source]:
    """One Source per note, numbered 1.. in order of each note's best hit. The snippet is the
    best hit's text, or the best section / key-points hit's when the best is the outline chunk
    (a title and its aliases are no content to show) — or, when only the outline chunk was hit,
    the note's key points from `chunks` (chunk id → Chunk, the index's). For an English question
    (lang "en") a Chinese snippet gives way to the note's English summary when it has one."""
    out: dict[str, Source] = {}
    from_outline: set[str] = set()
    for h in hits:
        c = h.chunk
        s = out.get(c.node_id)
        if s is None:
            out[c.node_id] = Source(len(out) + 1, c.node_id, c.title, c.title_en, h.score, h.relevance, c.text, [c.id])
            if c.kind == "outline":
                from_outline.add(c.node_id)
        else:
            s.chunk_ids.append(c.id)
            s.relevance = max(s.relevance, h.relevance)
            if c.node_id in from_outline and c.kind != "outline":
                s.snippet = c.text
                from_outline.discard(c.node_id)
    if from_outline and chunks:  # key points first, else the earliest section
        for nid, c in _best_chunks(chunks, from_outline, lambda c: c.kind != "outline",
                                   lambda c: (c.kind != "key_points", c.ord)).items():
            out[nid].snippet = c.text
    if lang == "en" and chunks:
        chinese = {nid for nid, src in out.items() if detect_lang(src.snippet) == "zh"}
        for nid, c in _best_chunks(chunks, chinese, lambda c: c.heading.strip().lower() == "english summary",
                                   lambda c: c.ord).items():
            out[nid].snippet = c.text
    return list(out.values())


def _best_chunks(chunks: dict, nodes: set[str], keep, rank) -> dict:
    """node id → its chunk with the lowest rank(c) among those with keep(c), for nodes in `nodes`."""
    best: dict = {}
    for c in chunks.values():
        if c.node_id in nodes and keep(c) and (c.node_id not in best or rank(c) < rank(best[c.node_id])):
            best[c.node_id] = c
    return best


COMPARE_QUOTES = 2  # quotes per side of a comparison
TOP_NOTES_KEPT = 3  # the best notes are always cited: the one that answers often ranks 2nd or 3rd
WEAK_SHARE = 0.6  # below the top notes, a hit under this share of min_relevance is left out


def shown_hits(hits: list[Hit], min_relevance: float) -> list[Hit]:
    """The hits whose notes become sources: every chunk of the TOP_NOTES_KEPT best-ranked
    notes, then hits with relevance ≥ WEAK_SHARE × min_relevance (weaker ones would only dilute
    the prompt and the citations). Order kept."""
    top: list[str] = []
    for h in hits:
        if h.chunk.node_id not in top and len(top) < TOP_NOTES_KEPT:
            top.append(h.chunk.node_id)
    return [h for h in hits if h.chunk.node_id in top or h.relevance >= min_relevance * WEAK_SHARE]


class CitationFilter:
    """Drops citations [n] whose n is not a source number, from a stream of pieces."""

    _OPEN = re.compile(r"\[\d{0,3}$")

    def __init__(self, valid: set[int]):
        self.valid = valid
        self._buf = ""

    def _clean(self, text: str) -> str:
        return re.sub(r"\[(\d{1,3})\]", lambda m: m.group(0) if int(m.group(1)) in self.valid else "", text)

    def feed(self, piece: str) -> str:
        self._buf += piece
        m = self._OPEN.search(self._buf)
        head, self._buf = (self._buf[: m.start()], self._buf[m.start():]) if m else (self._buf, "")
        return self._clean(head)

    def flush(self) -> str:
        # an unfinished citation at the very end ("[66") is no citation: drop it
        out, self._buf = self._clean(self._OPEN.sub("", self._buf)), ""
        return out


class Chat:
    """RAG over an index with one LLM. history: [{"role": "user"|"assistant", "content"}]."""

    def __init__(self, retriever: Retriever, llm: LLM, prompts: Prompts, settings, key_points: dict[str, list[str]],
                 flagger: Flagger | None = None, key_points_en: dict[str, list[str]] | None = None):
        """key_points: note id → its key points (Chinese); key_points_en: note id → the
        sentences of its English summary, shown as key points under an English question."""
        self.retriever = retriever
        self.llm = llm
        self.prompts = prompts
        self.settings = settings
        self.key_points = key_points
        self.key_points_en = key_points_en or {}
        self._flagger = flagger
        self._sides: dict = {}  # (asked, query) → the compared sides' hits (`_compared`)

    def _shown_key_points(self, sources: list, lang: str, quoted: str = "") -> list[dict]:
        """[{"n", "id", "text"}] for 3 sources — those cited in `quoted` (the quotes' text) first,
        then the best-ranked — in the question's language where the note has it (an English
        question gets the English summary's sentences)."""
        cited = set(citations(quoted))
        out = []
        # quotes from the 5th source (the best notes matched the question in another sense) come
        # with that note's key points, not only the unrelated top 3's
        for src in sorted(sources, key=lambda x: x.n not in cited)[:3]:
            kps = (self.key_points_en.get(src.id) if lang == "en" else None) or self.key_points.get(src.id, [])
            out += [{"n": src.n, "id": src.id, "text": kp} for kp in kps]
        return out

    @property
    def flagger(self) -> Flagger:
        """Sentence checker on the index's embedding model (built on first use)."""
        if self._flagger is None:
            self._flagger = Flagger(cosine_embed(self.retriever.index.embedder))
        return self._flagger

    def source_headers(self, answer: Answer) -> list[str]:
        """The header lines the prompt showed for answer's sources: "title（title_en）" and
        each chunk's first line (for `trust.header_echo`)."""
        chunks = self.retriever.index.chunks
        out = []
        for s in answer.sources:
            out.append(f"{s.title}（{s.title_en}）" if s.title_en else s.title)
            out += [chunks[c].text.split("\n", 1)[0] for c in s.chunk_ids if c in chunks]
        return out

    def _context(self, sources: list[Source], chunks: dict, lang: str) -> list[str]:
        groups = []
        for s in sources:
            # notes are data: a directive planted in one never reaches the model (trust/injection.py)
            body = "\n".join(strip_instructions(chunks[c].text)[0] for c in s.chunk_ids)
            groups.append(f"[{s.n}] {s.title}（{s.title_en}）\n{body}" if s.title_en else f"[{s.n}] {s.title}\n{body}")
        return groups

    def mode(self, mode: str | None = None) -> str:
        """The concrete answer mode for `mode` (default: settings.answer_mode); see trust/policy.py.
        Raises policy.BadMode."""
        return policy.resolve(mode or self.settings.answer_mode, self.llm.name, self.settings.answer_check)

    def stream(self, question: str, history: list[dict] | None = None, chapter: str | None = None,
               stop: threading.Event | None = None, mode: str | None = None) -> Iterator[tuple[str, object]]:
        """Answer events (see module doc). mode: see trust/policy.py (default settings.answer_mode).
        Raises Question.Invalid, policy.BadMode before yielding anything."""
        s = self.settings
        q = Question.clean(question, s.max_question_chars)
        mode = self.mode(mode)
        history = [{"role": t["role"], "content": neutralise_control(clean_input(t["content"], "a history turn"))}
                   for t in (history or [])]
        lang = detect_lang(q)
        # earlier answers' quotes: a follow-up is not answered with one of them word for word again
        said = tuple(x for x in (quoted_in(t["content"]) for t in history if t["role"] == "assistant") if x)
        # notes the learner named earlier: "What are its drawbacks?" two own-words turns after "What is
        # MAML?" is about MAML's drawbacks, though the question it joins names none (review 21)
        named = frozenset(i for t in history[-followup.HISTORY_TURNS:] if t["role"] == "user"
                          for i in found_names(t["content"], self.retriever.index))
        t0 = time.perf_counter()
        # quote_q: what the quoted sentences must be about (a follow-up's query: LoRA's drawbacks, not any note's)
        hits, quote_q = followup.resolve(
            q, history, self.retriever.index,
            lambda x: self.retriever.search(x, k=s.top_k, chapter=chapter, min_notes=TOP_NOTES_KEPT),
            lambda h: is_covered(h, s.min_relevance),
            lambda prev: followup.search_query(self.llm, self.prompts, history, q, lang, s.rewrite_followups, prev),
            refused=self.refused_subject)
        hits = followup.topic_before_ancestor(hits, quote_q, self.retriever.index)
        retrieve_ms = round((time.perf_counter() - t0) * 1000, 1)
        asked = followup.own_words(q, quote_q)
        if quote_q != q and (referred := frozenset(found_names(quote_q.replace(asked, ""), self.retriever.index))):
            # a follow-up's "it" is the question it refers to: what that one named, not what the turn
            # just before named (review 24: 「它有什么缺点？」 after 「DDIM 是什么？」, 「它为什么能比 DDPM
            # 快那么多？」 and an off-topic turn said DDPM's drawbacks were not written)
            named = referred
        covered = is_covered(hits, s.min_relevance)
        if covered and quote_q == q and self.refused_subject(q):
            # "what is X" where no note writes X: the notes do not cover it, whatever words of it they
            # share (review 26: 「向量数据库是什么？」 quoted MLflow's backend database; the English
            # question was refused)
            covered = False
        # (a pronoun side of a comparison is the conversation's note: the resolved hits' first)
        sides = (self._compared(asked, quote_q, hits[0].chunk.node_id) or self._referred_sides(quote_q, asked)) if covered else []
        if sides:  # a comparison (or drawbacks after one): each side's note first, whether or not the whole question found it
            first = [h.chunk.node_id for h in sides]
            have = {x.chunk.id for x in hits}
            hits = [h for h in sides if h.chunk.id not in have] + hits
            hits.sort(key=lambda h: first.index(h.chunk.node_id) if h.chunk.node_id in first else len(first))
        sources = group_sources(shown_hits(hits, s.min_relevance), self.retriever.index.chunks, lang) if covered else []
        yield "sources", sources
        timings = {"retrieve_ms": retrieve_ms, "first_token_ms": None, "total_ms": 0.0,
                   "prompt_tokens": 0, "completion_tokens": 0, "tokens_per_s": 0.0}
        if not covered:
            text = self._not_covered(lang, q, hits, in_conversation=any(t["role"] == "user" for t in history))
            yield "token", text
            timings["total_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            yield "done", Answer(q, text, [], self.llm.name, lang, timings, ["not_covered"], covered=False,
                                 sentences=split_sentences(text), mode=mode)
            return

        if mode == "quotes_first":
            # the model's answers rarely pass the check: the notes' own sentences come at once
            text = self._extractive(quote_q, sources, lang, QUOTES_HEADER, asked=asked, said=said, named=named)
            yield "token", text
            timings["total_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            kps = self._shown_key_points(sources, lang, text)
            yield "done", Answer(q, text, sources, self.llm.name, lang, timings, ["quotes_first"], True, kps,
                                 sentences=split_sentences(text), guard={"outcome": "quoted", "reasons": []}, mode=mode)
            return

        system = self.prompts.render("system", lang)
        groups = self._context(sources, self.retriever.index.chunks, lang)

        def render(gs: list[int], question_text: str) -> str:
            return self.prompts.render("answer", lang, context="\n\n".join(groups[g] for g in gs), question=question_text)

        fitted = budget.fit(self.llm.n_ctx, s.max_answer_tokens, self._count_message, self.llm.count_tokens,
                            [system], q, groups, history, render)
        kept = [sources[g] for g in fitted.groups]
        messages = [{"role": "system", "content": system}, *fitted.turns,
                    {"role": "user", "content": render(fitted.groups, fitted.question)}]
        max_tokens = max(16, min(s.max_answer_tokens, self.llm.n_ctx - self.llm.count_messages(messages) - budget.SAFETY_TOKENS))
        valid = {src.n for src in kept}
        parts: list[str] = []
        piece = "draft" if mode == "checked" else "token"  # checked: nothing is shown before the check
        g = Generation()
        for out in self._generate(messages, max_tokens, valid, stop, parts, g):
            yield piece, out
        text = "".join(parts).strip()
        timings.update(first_token_ms=g.first_token_ms, prompt_tokens=g.prompt_tokens,
                       completion_tokens=g.completion_tokens, tokens_per_s=g.tokens_per_s)
        notices = list(fitted.notices) + (["stopped"] if g.stopped else [])
        kps = self._shown_key_points(kept, lang)
        answer = Answer(q, text, kept, self.llm.name, lang, timings, notices, True, kps, mode=mode)
        if s.answer_check and not g.stopped:
            yield from self._guard(answer, groups, fitted.groups, stop, fitted.question, quote_q, said, named)
        else:
            if not g.stopped and is_empty(text):
                # nothing but citations or punctuation is no answer, whatever the check setting
                answer.answer = self._extractive(quote_q, kept, lang, asked=asked, said=said, named=named)
                answer.notices += ["garbage_empty", "extractive_fallback"]
                answer.guard = {"outcome": "fallback", "reasons": [["empty"]]}
                yield "replace", answer.answer
            answer.sentences = split_sentences(answer.answer)
        if mode == "checked" and g.stopped:
            answer.answer, answer.sentences = "", []  # stopped before the check: a draft is never shown
        if mode == "checked":
            yield "replace", answer.answer  # what passed the check (a replace may already have come)
        timings["total_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        yield "done", answer

    def _generate(self, messages: list[dict], max_tokens: int, valid: set[int], stop: threading.Event | None,
                  parts: list[str], record: Generation) -> Iterator[str]:
        """Cited text pieces of one generation (also appended to parts; its timings to record,
        never read back from the shared model object, which concurrent requests to a server
        model also write). A generation that has started to loop is cut short: the rest would
        be more of the same."""
        cites = CitationFilter(valid)
        gen = self.llm.stream(messages, max_tokens, stop=stop, record=record)
        size = 0
        try:
            for i, piece in enumerate(gen):
                out = cites.feed(piece)
                if out:
                    parts.append(out)
                    size += len(out)
                    yield out
                if size >= LOOP_STOP_CHARS and i % 8 == 0 and is_looping("".join(parts)):
                    break
        finally:
            gen.close()  # frees llama.cpp's generator at once
        tail = cites.flush()
        if tail:
            parts.append(tail)
            yield tail

    def _count_message(self, text: str) -> int:
        return self.llm.count_tokens(text) + MESSAGE_OVERHEAD_TOKENS

    def _guard(self, answer: Answer, groups: list[str], kept_groups: list[int],
               stop: threading.Event | None, question: str, quote_q: str | None = None,
               said: tuple[frozenset[str], ...] = (), named: frozenset[str] = frozenset()) -> Iterator[tuple[str, object]]:
        """Check answer (see module doc); fills sentences/unsupported/guard/notices in place
        and yields ("retry", reasons) / ("replace", text) events when it rejects the answer.
        question: as the first generation saw it (trimmed to the budget when too long);
        quote_q: what a fallback's quotes must be about (a follow-up: with the last question);
        said, named: earlier answers' quotes, note ids earlier questions named (see `_extractive`)."""
        chunks = self.retriever.index.chunks
        context = [chunks[c].text for src in answer.sources for c in src.chunk_ids]
        lang = answer.lang
        instructions = self.instructions(lang)
        headers = self.source_headers(answer)

        def check(text: str) -> tuple[list[str], list, list[str]]:
            sents = split_sentences(text)
            checks = self.flagger.check(sents, context, lang)
            return sents, checks, garbage_reasons(text, lang, checks, instructions, headers, answer.question)

        sents, checks, reasons = check(answer.answer)
        answer.guard = {"outcome": "direct", "reasons": [reasons]}
        if reasons:
            answer.notices += [f"garbage_{r}" for r in reasons]
            # a model whose retries measurably never stand gets the quotes at once (~40% sooner)
            if policy.retry_worthwhile(self.llm.name, self.settings.strict_retry):
                yield "retry", reasons
                retry, sents, checks, reasons = self._strict_retry(answer, groups, kept_groups, stop, question, context, check)
                answer.guard["reasons"].append(reasons)
                if not reasons:
                    answer.answer = retry
                    answer.guard["outcome"] = "retried"
                    answer.notices.append("retried_strict")
            if answer.guard["outcome"] != "retried":
                answer.answer = self._extractive(quote_q or answer.question, answer.sources, lang, asked=answer.question,
                                                 said=said, named=named)
                answer.guard["outcome"] = "fallback"
                answer.notices.append("extractive_fallback")
                sents, checks = split_sentences(answer.answer), []  # quoted from the notes: nothing to flag
            yield "replace", answer.answer
        answer.sentences = sents
        answer.unsupported = [c.index for c in checks if not c.supported]

    def _strict_retry(self, answer: Answer, groups: list[str], kept_groups: list[int], stop: threading.Event | None,
                      question: str, context: list[str], check) -> tuple[str, list[str], list, list[str]]:
        """One more generation with the strict prompt over the best RETRY_SOURCES notes, in its
        own token budget; returns (text, sentences, checks, reasons it is rejected — [] = kept)."""
        lang = answer.lang
        best = [groups[g] for g in kept_groups[:RETRY_SOURCES]]
        strict = self.prompts.render("strict", lang)

        def render(gs: list[int], question_text: str) -> str:
            return self.prompts.render("answer", lang, question=question_text, context="\n\n".join(best[g] for g in gs))

        # the retry has its own, smaller budget: the same fitting as the first answer
        fitted = budget.fit(self.llm.n_ctx, RETRY_MAX_TOKENS, self._count_message, self.llm.count_tokens,
                            [strict], question, best, [], render)
        messages = [{"role": "system", "content": strict},
                    {"role": "user", "content": render(fitted.groups, fitted.question)}]
        max_tokens = max(16, min(RETRY_MAX_TOKENS, self.llm.n_ctx - self.llm.count_messages(messages) - budget.SAFETY_TOKENS))
        parts: list[str] = []
        g = Generation()
        for _ in self._generate(messages, max_tokens, {s.n for s in answer.sources}, stop, parts, g):
            pass
        retry = "".join(parts).strip()
        if g.stopped:
            sents, checks, reasons = [], [], ["stopped"]
        else:
            sents, checks, reasons = check(retry)
            truncated = g.completion_tokens >= max_tokens - 1 or is_looping(retry)
            reasons += [r for r in retry_reasons(retry, checks, truncated, answer.question, context) if r not in reasons]
        return retry, sents, checks, reasons

    def instructions(self, lang: str) -> list[str]:
        """The fixed wording of the prompts (no notes, no question): an answer repeating it
        parrots the prompt (trust.prompt_echo)."""
        fixed = [ln for ln in self.prompts.source("answer", lang).splitlines() if ln.strip() and "{" not in ln]
        return [self.prompts.render("system", lang), self.prompts.render("strict", lang), *fixed]

    def _extractive(self, question: str, sources: list[Source], lang: str, header: dict[str, str] = FALLBACK_HEADER,
                    asked: str | None = None, said: tuple[frozenset[str], ...] = (),
                    named: frozenset[str] = frozenset()) -> str:
        """trust.check.extractive_answer over the sources' quotable text. question: what the
        quotes must be about (a follow-up's search query); asked: the learner's own words; said:
        each earlier answer's quotes (`quoted_in`); named: ids of the notes earlier questions named
        (the best note among them is the conversation's topic: its drawbacks answer "its"). An answer that would be one of them again
        (reviews 10, 13a, 13b: "How can we make that faster?" got the last answer word for word)
        quotes the notes' next sentences under OTHER_QUOTES; with none left, the same ones under
        SAME_QUOTES. The answer's own key-point recall falls, what the learner has read by then
        rises (evals/answers/FOLLOWUPS.md, session 26)."""
        text = self._extractive_once(question, sources, lang, header, asked, earlier=named)
        now = quoted_in(text)
        if now and any(now <= x for x in said) and asked is not None and asked == question:
            # a question of its own whose closest sentences were quoted before ("How is layer normalization
            # different from batch normalization?" after two LayerNorm turns): the same ones, said so;
            # the next sentences were any note's (CLIP's "batch-wide normalization", review 15)
            head, _, rest = text.partition("\n")
            text = f"{head}\n{SAME_QUOTES[lang]}\n{rest}"
        elif now and any(now <= x for x in said):
            other = self._extractive_once(question, sources, lang, header, asked, exclude=frozenset().union(*said), earlier=named)
            # the notes' next sentences rather than the same answer again; with none, the same, said so.
            # From the notes the repeated quotes came from, with one of the learner's own words (on the
            # topic alone, "and how long does that usually take?" after the beginner stage quoted the
            # expert stage, blind9, session 28; 「那束宽一般设多大合适？」 got 14.2.5's lines on evaluation,
            # review 24). Another cited note's sentence only when it holds two words of the topic (the
            # search query's words beyond the learner's own) and two of the learner's when they wrote
            # three or more (with the topic's sentences used up, the pick moved to any cited note: review
            # 14, "What are its drawbacks?" after LayerNorm quoted attention rollout; review 25, ML
            # testing's "tests" after "Which statistical tests …?" on drift) — and never for a
            # why-question: another note's sentence gives no reason of this topic (review 25: IQL's line
            # after CQL's "why"), while DDIM's "10 to 50 times faster" answers "How can we make that faster?"
            cited = set(CITED_N.findall(text.partition("\n")[2]))
            own = set(content_tokens(asked or ""))
            topic = set(content_tokens(question)) - own
            why = bool(WHY_QUESTION.search(asked or question))
            # a why-question's next sentences give a reason too, when the earlier ones did, or hold two of
            # the learner's words (review 24: 「它为什么比贪心解码效果好？」 after beam search got a line on
            # deployment, 解码 alone; 「它为什么能比 DDPM 快那么多？」 keeps 「……比 DDPM 快 10 到 50 倍」)
            reasons = why and any(CAUSE_CUES.search(ln) for ln in text.splitlines()[1:])

            def on_topic(line: str) -> bool:
                toks = set(content_tokens(line))
                if reasons and not CAUSE_CUES.search(line) and len(own & toks) < 2:
                    return False
                if set(CITED_N.findall(line)) & cited:
                    return not own or bool(own & toks)
                return (not why and len(topic & toks) >= min(2, len(topic))
                        and len(own & toks) >= (2 if len(own) >= 3 else 1))

            head, _, rest = other.partition("\n")
            rest = "\n".join(ln for ln in rest.splitlines() if on_topic(ln))
            limits = bool(LIMIT_QUESTION.search(asked or question))
            said_in_lang = any(detect_lang(k) == lang for x in said for k in x)
            if limits:
                # a drawbacks question's next sentences are those stating one; with none, the drawbacks
                # quoted before again, said so (review 17: label smoothing's history and formula came as
                # "the notes' other sentences" on its risks); in the question's language when the earlier
                # ones were (review 27: 「这个有什么缺点？」 got the English "Limitations:" line, the same
                # drawbacks as the 「缺点：」 line quoted the turn before)
                rest = "\n".join(ln for ln in rest.splitlines() if is_drawback(ln)
                                 and (detect_lang(strip_citations(ln[2:])) == lang or not said_in_lang))
                if not rest.strip() and sources:
                    # …or the best note's strengths-and-weaknesses section, retrieved or not (review 19:
                    # "What are the weaknesses of this approach?" got Decision Transformer's "avoids
                    # Bellman-backup instability" again, a strength, as the whole answer)
                    # (that note alone: another cited note's drawbacks would read as this topic's)
                    more = self._extractive_once(question, [self._with_pros_cons(sources[0])], lang, header, asked,
                                                 exclude=frozenset().union(*said), earlier=named)
                    rest = "\n".join(ln for ln in more.partition("\n")[2].splitlines() if is_drawback(ln)
                                     and (detect_lang(strip_citations(ln[2:])) == lang or not said_in_lang))
            line = OTHER_QUOTES
            # a follow-up naming something new ("How is it different from DPO?" after "What is RLHF?")
            # whose only sentence about it was quoted before: that one again first (the next ones
            # alone were about SFT and PPO)
            new = self._new_names(question, asked)
            about = [ln for ln in text.splitlines()[1:] if any(contains_words(ln.lower(), n) for n in new)]
            if about and rest.strip() and not any(contains_words(rest.lower(), n) for n in new):
                rest, line = "\n".join([about[0], *rest.splitlines()]), FIRST_AGAIN_QUOTES
            if not rest.strip():
                head, _, rest = text.partition("\n")
                line = SAME_QUOTES
                if limits:  # the earlier quotes again: those stating a drawback, when any does
                    rest = "\n".join(ln for ln in rest.splitlines() if is_drawback(ln)) or rest
            text = f"{head}\n{line[lang]}\n{rest}"
        else:
            text = mark_repeats(text, said, lang, repeats_last=bool(WHY_QUESTION.search(asked or question)))
        text = self._drawbacks_elsewhere(text, asked or question, sources, lang, named)
        unknown = self._never_written(asked or question, self.unwritten(asked or question),
                                      self.retriever.term_stats().unknown_names(asked or question))
        if unknown:  # "A100 vs H100 …": no note names H100, whatever the quotes share (review 21)
            head, _, rest = text.partition("\n")
            text = f"{head}\n{UNKNOWN_NAMES[lang].format(names=', '.join(unknown))}\n{rest}"
        return text

    def unwritten(self, asked: str) -> list[str]:
        """What the question asks about or compares ("What is speculative decoding?", 「它跟投机解码
        有什么区别？」: `compare.subject`, `compare.parts`) when no chunk writes it out, it names no
        outline topic and it reads as a term (English: one of its words is in no chunk; Chinese: at most
        three words of two or more characters, no 「两种」): the notes never mention it (review 23:
        both were answered from decoder notes with nothing said). Only what reads as a term (≤ 3
        words, ≤ 24 characters, ≤ 6 Chinese characters, no question word, pronoun or sentence
        end: NOT_A_TERM); "the drawbacks of CLIP" is not written as such, yet the notes are about
        CLIP. On the seen eval sets it names something in 6 of 4,318 answerable questions
        (clip_grad_value_, a typo "longfomer", 「chat模型」) and 29 of 526 out-of-scope ones (session 33)."""
        index, stats = self.retriever.index, self.retriever.term_stats()
        sides = [x for x in (compare.parts(asked) or ()) if not compare.REFERS_BACK.match(x)]
        out: list[str] = []
        for x in [*sides, compare.subject(asked)]:
            if (not x or x in out or len(x) > 24 or len(x.split()) > 3 or han_count(x) > 6 or NOT_A_TERM.search(x)
                    or outline_matches(x, index)):
                continue
            if han_count(x):
                toks = tokenize(x)  # a Chinese term is a few words of two or more characters (投机解码)
                # (jieba's search mode adds a word's parts: 向量数据库 → 向量, 数据, 据库, 数据库)
                toks = [t for t in toks if not any(t != u and t in u for u in toks)]
                if not toks or len(toks) > 3 or any(len(t) < 2 or CLASSIFIER.match(t) for t in toks):
                    continue
            elif all(t in stats.df for t in content_terms(x)):
                continue  # every word of it is in the notes: a phrase cut from a sentence, not a term
            spaced, flat = self._corpus_text()
            low = x.lower()
            # (「base模型」 is written 「base 模型」: for Chinese, spaces aside)
            if not (re.sub(r"\s+", "", low) in flat if han_count(x) else contains_words(spaced, " ".join(low.split()))):
                out.append(x)
        return out

    def _never_written(self, text: str, first: list[str], then: list[str]) -> list[str]:
        """first, then the names of `then` and `unwritten_versions(text)` that neither hold nor sit inside
        one already listed (each thing the notes never write, said once)."""
        out = list(first)
        out += [x for x in [*then, *self.unwritten_versions(text)]
                if not any(x.lower() in u.lower() or u.lower() in x.lower() for u in out)]
        return out

    def unwritten_versions(self, asked: str) -> list[str]:
        """Versioned model names the question writes ("Gemini 2.5 Pro", "GPT-5", "Qwen3") that no
        chunk writes, name and number together, though the name alone may be in one (review 26:
        "What is the context length of Gemini 2.5 Pro?" quoted Longformer's 4096 tokens with nothing
        said; 8.4.4 names ColossalAI's Gemini)."""
        spaced, _ = self._corpus_text()
        names = set(name_words(asked))
        out = []
        for m in VERSIONED.finditer(asked):
            base, num = m.group("base"), m.group("num")
            if not any(n.startswith(base) for n in names) or base.lower() in NOT_A_MODEL:
                continue  # ("With 64 GPUs", "Step 2")
            if base.isupper() and " " in m.group(0) and "." not in num and m.group(0).strip().endswith(num):
                continue  # an acronym and a count or a score ("GPU 0", "BLEU 30"), not a model ("GPT-5")
            low = f"{base} {num}".lower()
            if not (contains_words(spaced, low) or contains_words(spaced, low.replace(" ", "-"))
                    or contains_words(spaced, low.replace(" ", ""))):
                out.append(m.group(0).strip())
        return out

    def _drawbacks_elsewhere(self, text: str, asked: str, sources: list[Source], lang: str,
                             earlier: frozenset[str] = frozenset()) -> str:
        """A drawbacks question naming a note (or, naming none, asked in a conversation whose
        earlier questions named one: `earlier`) whose quotes all come from other notes says so:
        "What are the drawbacks of CLIP?" quoted 6.1.4 (prompt engineering)'s Limitations as if they
        were CLIP's (review 23); CLIP's overview states none."""
        if not LIMIT_QUESTION.search(asked):
            return text
        index = self.retriever.index
        named = sorted(found_names(asked, index)) or sorted(earlier)
        cited = {int(n) for ln in text.splitlines() if ln.startswith("- ") for n in CITED_N.findall(ln)}
        if not named or not cited or any(s.n in cited for s in sources if s.id in named):
            return text
        others = [s for s in sources if s.n in cited]
        ids = index.by_node.get(named[0], ())
        if not ids:
            return text
        head, _, rest = text.partition("\n")
        line = DRAWBACKS_ELSEWHERE[lang].format(
            topic=self._title(named[0], lang),
            notes=", ".join(f"[{s.n}] {s.title if lang == 'zh' else s.title_en or s.title}" for s in others))
        return f"{head}\n{line}\n{rest}"

    def _corpus_text(self) -> tuple[str, str]:
        """Every chunk's text lower-cased, (whitespace as single spaces, without whitespace); built
        once per index, not per question."""
        chunks = self.retriever.index.chunks
        cached = getattr(self, "_corpus", None)
        if cached is None or cached[0] is not chunks:
            spaced = " ".join(" ".join(c.text.lower().split()) for c in chunks.values())
            cached = self._corpus = (chunks, spaced, spaced.replace(" ", ""))
        return cached[1], cached[2]

    def _new_names(self, question: str, asked: str | None) -> set[str]:
        """Lower-cased outline names (titles, aliases) the learner's own words `asked` hold and the
        rest of `question` (a follow-up's query: the earlier question first) does not."""
        if not asked:
            return set()
        index = self.retriever.index
        before = question.replace(asked, "")
        old = {n for ns in found_names(before, index).values() for n in ns}
        return {n for ns in found_names(asked, index).values() for n in ns} - old

    def _extractive_once(self, question: str, sources: list[Source], lang: str, header: dict[str, str],
                         asked: str | None, exclude: frozenset[str] = frozenset(), earlier: frozenset[str] = frozenset()) -> str:
        names = [n for s in sources for n in self.retriever.index.names.get(s.id, ())]
        overview: set[str] = set()  # the names of an overview the quotes moved down from
        if sources and LIMIT_QUESTION.search(asked if asked is not None else question):
            # 「那它的缺点呢？」: the best note's strengths-and-weaknesses section, retrieved or not (the
            # search matched its definition; without this an English follow-up on LoRA quoted it)
            idx = self.retriever.index
            best = min(sources, key=lambda x: x.n)
            pros_cons = {x.id for x in sources
                         if any(idx.chunks[c].heading.startswith(PROS_CONS_HEADINGS) for c in idx.by_node.get(x.id, []))}
            kids = [x for x in sources if x.id.startswith(best.id + ".")]
            if best.id not in pros_cons and any(x.id in pros_cons for x in kids):
                # a chapter or section overview states no drawbacks (none of the 80 does): its cited
                # topics' do, and no other chapter's (review 9: 「那它的缺点呢？」 after multi-head
                # attention, best 1.2, quoted where multi-head attention is used; 12.2.2's head
                # pruning drawbacks would be the next source's); a question naming the overview names
                # its topics, so their drawbacks are its own
                overview = set(idx.names.get(best.id, ()))
                sources = kids
                best = min(kids, key=lambda x: x.n)
            sources = [self._with_pros_cons(x) if x is best else x for x in sources]
        elif sources and WHEN_QUESTION.search(asked if asked is not None else question):
            # 「ZeRO-3 适合什么时候用？」: the uses are in that section too (its 「适用：……」 line), retrieved or not
            best = min(sources, key=lambda x: x.n)
            sources = [self._with_pros_cons(x) if x is best else x for x in sources]
        sides = [h.chunk.node_id for h in self._compared(asked if asked is not None else question, question)]
        by_id = {x.id: x for x in sources}
        both = self._both_sides_drawbacks(question, asked, by_id)
        if both and not sides:
            # "What are its drawbacks?" after "How is quantization different from knowledge distillation?":
            # "its" is either side; each side's drawbacks, in the comparison's order (review 16: one side
            # in Chinese, the other in English, and the answer named neither)
            lines = [extractive_answer(question, self._quotable([x], lang), lang, self.flagger.embed, k=COMPARE_QUOTES,
                                       header=header, asked=asked, topic_names=names, exclude=exclude).split("\n")[1:] for x in both]
            return "\n".join([header[lang], *lines[0], *lines[1]])
        # (「A 为什么比 B 好」 asks about A: its note first, quoted as usual; two lines of B's, Qwen's 「为啥比同尺寸
        # 的 LLaMA 好」, told LLaMA's history and lost the key points on the seen sets, session 37)
        if len(sides) == 2 and all(i in by_id for i in sides) and not compare.why_than(asked if asked is not None else question):
            # each side's best sentences from its own note (two each), in the question's order
            idx_names = self.retriever.index.names
            lines = [extractive_answer(question, self._quotable([by_id[i]], lang), lang, self.flagger.embed, k=COMPARE_QUOTES,
                                       header=header, asked=asked, topic_names=names, exclude=exclude,
                                       versus=sorted(idx_names.get(j, ())), own=sorted(idx_names.get(i, ()))).split("\n")[1:]
                     for i, j in (sides, sides[::-1])]
            notice = [PASSING_SIDE[lang].format(name=x, n=by_id[i].n) for x, i in self._passing_sides(asked or question, sides)]
            return "\n".join([header[lang], *notice[:1], *lines[0], *lines[1]])
        best = min(sources, key=lambda x: x.n).id if sources else ""
        kin = [x.n for x in sources if best and x.id.startswith(best + ".")]  # the best note's cited subtopics
        # the cited overview of the best note's section, when the question names it (「为什么 Transformer 需要
        # 位置编码？」 names 1.3, whose key point says why; 1.3.2 ranked first, review 15)
        section = best.rsplit(".", 1)[0] if best.count(".") == 2 else ""
        named = found_names(asked if asked is not None else question, self.retriever.index)
        parent = [x.n for x in sources if section and x.id == section and section in named and best not in named]
        return extractive_answer(question, self._quotable(sources, lang, named), lang, self.flagger.embed, header=header, asked=asked,
                                 topic_names=names, best_names=sorted(set(self.retriever.index.names.get(best, ())) | overview),
                                 kin=kin, parent=parent, exclude=exclude, named_before=best in earlier)

    TERM_MAX_CHUNKS = 2

    def term_chunks(self, source: Source, named: dict[str, list[str]]) -> list[str]:
        """Ids of `source`'s section chunks, not retrieved, that hold a name of it the question writes
        when that name is in at most TERM_MAX_CHUNKS of them: a term the note explains in one place
        (「束搜索（beam search）是什么？」 found 14.2.4 by its alias 束搜索 and only its overview chunk,
        so the quotes were the note's opening on translation; its 「解码：束搜索……」 line answers,
        review 24). A name in most chunks (the note's own title) adds nothing."""
        idx = self.retriever.index
        out: list[str] = []
        for name in named.get(source.id, []):
            holding = [c for c in idx.by_node.get(source.id, []) if idx.chunks[c].kind == "section"
                       and contains_words(idx.chunks[c].text.split("\n", 1)[-1].lower(), name)]
            if len(holding) <= self.TERM_MAX_CHUNKS:
                out += [c for c in holding if c not in source.chunk_ids and c not in out]
        return out

    def _referred_sides(self, question: str, asked: str | None) -> list[Hit]:
        """For a follow-up asking for drawbacks (LIMIT_QUESTION; question: its search query, the
        earlier question first) whose earlier question compared two things with a note each: each
        side's best hit (`_find_sides`); [] otherwise."""
        if asked is None or asked == question or not LIMIT_QUESTION.search(asked) or compare.parts(asked):
            return []
        before = question.rsplit("\n", 1)[0]  # the question the follow-up refers to
        if compare.why_than(before):  # 「DDIM 为什么比 DDPM 快？」 → 「那缺点呢？」: DDIM's (review 29)
            return []
        sides = self._compared(before, before)
        return sides if len(sides) == 2 else []

    def _both_sides_drawbacks(self, question: str, asked: str | None, by_id: dict[str, Source]) -> list[Source]:
        """The two cited sources of `_referred_sides`, each with its note's pros-and-cons section
        added; [] when there are none or one is not cited."""
        ids = [h.chunk.node_id for h in self._referred_sides(question, asked)]
        if len(ids) != 2 or not all(i in by_id for i in ids):
            return []
        return [self._with_pros_cons(by_id[i]) for i in ids]

    def _with_pros_cons(self, source: Source) -> Source:
        """The source with its note's strengths-and-weaknesses section added, retrieved or not."""
        idx = self.retriever.index
        extra = [c for c in idx.by_node.get(source.id, []) if idx.chunks[c].heading.startswith(PROS_CONS_HEADINGS)
                 and c not in source.chunk_ids]
        return replace(source, chunk_ids=source.chunk_ids + extra)

    def _compared(self, asked: str, query: str, conversation_note: str = "") -> list[Hit]:
        """For a question comparing two things (`compare.parts`), each side's best hit — the
        side a pronoun stands for is the question a follow-up refers to (the first line of
        `query`), its hit on `conversation_note` (the note the conversation is on) when it has one
        and the other side does not name that note; that note alone when both sides find one note;
        [] when it compares nothing or a side is not covered. Cached per (asked, query): the
        stream's call decides, the quotes' later call reads it."""
        key = (asked, query)
        cached = self._sides  # (one dict per question: replaced, never shared across threads' writes)
        if key in cached:
            return cached[key]
        found = self._find_sides(asked, query, conversation_note)
        # the last question's only (a stream and its fallback ask twice), and the earlier comparison
        # a drawbacks follow-up refers to (`_referred_sides`): at most two entries
        self._sides = {**(cached if len(cached) < 2 else {}), key: found}
        return found

    def _find_sides(self, asked: str, query: str, conversation_note: str = "") -> list[Hit]:
        found: list[Hit] = []
        named: list[set[str]] = []
        index = self.retriever.index
        sides = compare.parts(asked)
        if not sides and (pair := compare.each(asked) or compare.two_subjects(asked)) \
                and all(outline_matches(x, index) for x in pair):
            # 「张量并行和流水线并行各切的是什么？」, 「稀疏注意力是什么？Longformer 是怎么做的？」: two named notes,
            # each its own source
            sides = pair
        # "How is that different from plain actor-critic?" three turns into PPO: "that" is PPO, the
        # conversation's note, though the question it refers to ("Why does clipping the ratio help?")
        # alone found gradient clipping (review 22)
        others = {index.chunks[c].node_id for x in sides or () if not compare.REFERS_BACK.match(x)
                  for c in outline_matches(x, index)}
        ours = conversation_note if conversation_note and conversation_note not in others else ""
        unwritten = self.unwritten(asked) if sides else []
        for side in sides or ():
            back = bool(compare.REFERS_BACK.match(side))
            if side in unwritten:
                return []  # a side no note writes out: no note stands for it (review 23: 投机解码 took 2.2.2)
            if back:
                if query == asked:
                    return []
                side = query.rsplit("\n", 1)[0]
            hits = followup.topic_before_ancestor(self.retriever.search(side, k=10, per_note=True), side, index)
            if not is_covered(hits, self.settings.min_relevance):
                return []
            # a side that names a topic ("QLoRA") takes that topic's note, not the best hit (QAT's
            # note); the earlier question a pronoun stands for takes its best hit, as it did then
            # ("Why do Transformers use layer normalization?" names the Hugging Face library)
            side_notes = {index.chunks[c].node_id for c in outline_matches(side, index)}
            named.append(set() if back else side_notes)
            # (the question a pronoun stands for names the note it finds first: that note, "What is CLIP?" →
            # 6.1, not the follow-up's first hit, 6.1.4, which quoted prompt engineering as CLIP's side; a
            # name inside it that it does not find first is no side: "Transformers" in review 14's question)
            said = {hits[0].chunk.node_id} & side_notes if back and hits else set()
            mine = named[-1] or said or ({ours} if back and ours else set())
            found.append(next((h for h in hits if h.chunk.node_id in mine), None) or self._naming_hit(side, hits))
        if len(found) == 2 and found[0].chunk.node_id != found[1].chunk.node_id and not (named[0] & named[1]):
            # a side with no note of its own that the other side's note writes is compared there: 2.1.4
            # (LayerNorm) contrasts itself with batch normalization; DDP's 8.1.2 only writes BatchNorm
            for k in (0, 1):
                if named[k] and not named[1 - k] and not compare.REFERS_BACK.match(sides[1 - k]) \
                        and self._writes(found[k].chunk.node_id, sides[1 - k]):
                    return found[k:k + 1]
            return found
        if len(found) == 2 and found[0].chunk.node_id == found[1].chunk.node_id:
            # both sides in one note (LoRA and QLoRA, 3.4.2; BatchNorm and LayerNorm, 2.1.4): it is
            # compared within that note, which goes first
            return found[:1]
        return []

    def _passing_sides(self, asked: str, side_notes: list[str]) -> list[tuple[str, str]]:
        """(side as written, its note id) for each compared side (`compare.parts`; not a pronoun)
        that names no outline topic: its note is one that only mentions it ("How does it compare with
        BLIP?" after CLIP: BLIP-2 in MiniGPT-4's 6.2.2; review 28 got a MiniGPT-4 line and no word that
        the notes compare nothing)."""
        index = self.retriever.index
        sides = compare.parts(asked) or ()
        # only a name (BLIP, not 「普通ft」 or "BatchNorm like CNNs do") that the other side's note never
        # writes: 2.1.1 compares itself with RNN, 15.1.3 JAX with NumPy (session 37, the seen sets)
        return [(x, i) for x, i in zip(sides, side_notes)
                if not compare.REFERS_BACK.match(x) and not outline_matches(x, index)
                and len(x.split()) <= 2 and name_words(x) and " ".join(name_words(x)) == x.strip()
                and not any(self._writes(j, x) for j in side_notes if j != i)]

    def _naming_hit(self, side: str, hits: list[Hit]) -> Hit:
        """The first of `hits` (per note) whose note writes `side` out whole, or hits[0] when none
        or the first does: "batch normalization" has no note of its own and its best hit was
        serving's "batching" (review 14), while 2.1.4 contrasts it with LayerNorm."""
        return next((h for h in hits if self._writes(h.chunk.node_id, side)), hits[0])

    def refused_subject(self, question: str) -> bool:
        """True for a "what is X" question (`compare.subject`) where no note writes X: not covered,
        whatever words of it the notes share (review 26: 「向量数据库是什么？」 quoted MLflow's backend database)."""
        return bool((x := compare.subject(question)) and x in self.unwritten(question))

    def _writes(self, note: str, phrase: str) -> bool:
        """Does one of `note`'s chunks write `phrase` out whole (case-insensitive, whole words for Latin),
        or a spelled-out form of it (`spelled_out`: BatchNorm → batch normalization)?"""
        index = self.retriever.index
        forms = spelled_out(phrase)
        return any(contains_words(index.chunks[c].text.lower(), f) for c in index.by_node.get(note, ()) for f in forms)

    def _quotable(self, sources: list[Source], lang: str = "zh", named: dict[str, list[str]] | None = None) -> list[tuple[int, str]]:
        """(n, text) the extractive fallback may quote: each cited note's key points (under an
        English question its English summary's sentences first, as `_shown_key_points`), then its
        retrieved sections and `term_chunks`; a misconception's lines each under MISCONCEPTION_LABEL
        (alone, its wrong claim would read as the answer); outline chunks (labels, aliases) only when
        nothing else is there. named: `found_names` of the question (node id → names it writes)."""
        chunks = self.retriever.index.chunks
        sources = [replace(s, chunk_ids=[*s.chunk_ids, *self.term_chunks(s, named or {})]) for s in sources]
        # an English question: the note's English summary is quotable even when its chunk was not
        # retrieved, else the best note had no English sentence and another note's were quoted
        # (a summary sentence keeps the note's line breaks: one line each, or it quotes as fragments)
        out = [(s.n, "\n".join(x for x in [" ".join(x.split()) for x in ((self.key_points_en.get(s.id) or []) if lang == "en" else [])]
                               + self.key_points.get(s.id, []) if not READING_ORDER.match(x))) for s in sources]
        following: dict | None = None
        for s in sources:
            for c in (chunks[i] for i in s.chunk_ids if chunks[i].kind in ("section", LIMITS_KIND)):
                body = c.text.split("\n", 1)[-1]  # without the 'title · heading' label
                if leads_into_formula(body):
                    # the chunker starts a chunk at a display formula: 「……按 Bradley-Terry 模型训练：」
                    # ends one chunk and its loss opens the next; the quote gets the formula too
                    if following is None:
                        following = {(x.node_id, x.ord): x for x in chunks.values() if x.kind == "section"}
                    nxt = following.get((c.node_id, c.ord + 1))
                    m = DISPLAY_FIRST.match(nxt.text.split("\n", 1)[-1]) if nxt else None
                    if m:
                        body = body.rstrip() + " " + " ".join(m.group(1).split())  # one line: one quotable sentence
                if c.heading in READING_ORDER_HEADINGS:
                    continue
                if c.heading not in MISCONCEPTION_HEADINGS:
                    out.append((s.n, body))
                else:
                    label = MISCONCEPTION_LABEL[c.heading]
                    out.append((s.n, "\n".join(label + q for q in quotable_sentences(body))))  # (a chunk's bullets share one line)
        if not any(t for _, t in out):
            out = [(s.n, chunks[i].text) for s in sources for i in s.chunk_ids]
        # quoted to the learner as the tutor's answer: no planted directives, no links
        return [(n, URL.sub("", strip_instructions(t)[0])) for n, t in out]

    def ask(self, question: str, history: list[dict] | None = None, chapter: str | None = None,
            mode: str | None = None) -> Answer:
        """Non-streaming answer; same text as the stream joined."""
        for kind, value in self.stream(question, history, chapter, mode=mode):
            if kind == "done":
                return value  # type: ignore[return-value]
        raise RuntimeError("answer stream ended without a result")

    def _not_covered(self, lang: str, question: str = "", hits: list[Hit] | None = None, in_conversation: bool = False) -> str:
        """The not-covered reply: the template with four chapters to try — for a question no note comes
        near (best relevance under OFF_TOPIC_RELEVANCE: cooking, travel) the one saying the notes are about
        AI/ML only, with no advice to rephrase; else the chapters of the nearest hits first (review 28:
        every refusal said "try rephrasing" and named the same four chapters); then the names the question
        writes that no chunk holds (`TermStats.unknown_names`, "Scout"); then, for each name it writes
        (`text.name_words`) that no note is about but some mention, up to MENTIONED_MAX_NOTES of those
        notes, most mentions first (review 24: "What is AdamW …?" was refused with no word that six
        notes mention it, and every refusal suggested the same four chapters)."""
        # (no hits at all: a follow-up to nothing covered, "the latter" of nothing: not said to be off-topic)
        off_topic = bool(hits) and max(h.relevance for h in hits) < OFF_TOPIC_RELEVANCE
        # in a conversation, a refused question the domain classifier does not call off-domain may
        # follow on from it: say so, whether or not a note came near ("What are the downsides of the
        # usual fixes?" after cold-start turns reached relevance 0.1-0.5 once the English summaries
        # named more problems, and lost the hint; session 43)
        follow_on = in_conversation and (self._domain(question) or 0.0) > OFF_DOMAIN
        off_topic = off_topic and not follow_on
        near = [] if off_topic else [h.chunk.node_id.split(".")[0] for h in hits or ()]
        reply = self._chapters_reply(lang, near, "not_covered_offtopic" if off_topic else "not_covered", question)
        index = self.retriever.index
        stats = self.retriever.term_stats()
        # (and a what-is subject no note writes, or a model version: 「向量数据库是什么？」, review 26)
        unknown = self._never_written(question, stats.unknown_names(question), self.unwritten(question))
        if unknown:  # "What is Llama 4 Scout?": say which of its names no note holds
            reply += "\n" + UNKNOWN_NAMES_ALONE[lang].format(names=", ".join(unknown))
        if off_topic:  # (a Paris itinerary: the 14.2.6 sentence naming Paris is no lead, review 30)
            return reply
        outline_names = {n for ns in found_names(question, index).values() for n in ns}
        for name in dict.fromkeys(name_words(question)):
            terms, low = content_terms(name), name.lower()
            if not terms or any(t not in stats.df for t in terms) or any(low in n for n in outline_names):
                continue  # unknown (said above), or a note is about it
            count = {n: sum(len(re.findall(rf"(?<![\w-]){re.escape(low)}(?![\w-])", index.chunks[c].text.lower()))
                            for c in index.by_node.get(n, ())) for n in stats.node_tokens if n.count(".") == 2 and set(terms) <= stats.node_tokens[n]}
            notes = sorted((n for n, k in count.items() if k), key=lambda n: (-count[n], _outline_order(n)))  # most mentions first
            if notes:
                titles = [f"{n} {self._title(n, lang)}" for n in notes[:MENTIONED_MAX_NOTES]]
                reply += "\n" + MENTIONED_IN[lang].format(name=name, notes=("、" if lang == "zh" else ", ").join(titles))
        return reply + ("\n" + IN_CONVERSATION[lang] if follow_on else "")

    def _domain(self, question: str) -> float | None:
        """The USE domain classifier's decision value for the question (> 0: the outline's domain),
        or None without the multilingual embedder."""
        vs = self.retriever.index.vectorstores.get("multilingual")
        if vs is None:
            return None
        return self.retriever.coverage.domain_score(vs.embeddings.embed_query(normalise_query(self.retriever.canonical_case(question))))

    def _title(self, node_id: str, lang: str) -> str:
        """A note's title in the question's language (its English title for "en" when it has one)."""
        index = self.retriever.index
        c = index.chunks[index.by_node[node_id][0]]
        return c.title if lang == "zh" else c.title_en or c.title

    def _chapters_reply(self, lang: str, near: list[str] = (), prompt: str = "not_covered", question: str = "") -> str:
        """The `prompt` template with four chapter titles in the question's language: the chapters of
        `near` (the nearest hits') first, then chapters spread over the outline (every fourth, from an
        offset the question picks, so two refusals seldom suggest the same four)."""
        outline = self.retriever.index.chunks
        chapters = sorted({c.node_id for c in outline.values() if c.kind == "outline" and "." not in c.node_id}, key=int)
        step = max(1, len(chapters) // 4)
        start = zlib.crc32(question.encode("utf-8")) % step if question else 0
        spread = [c for k in range(step) for c in chapters[(start + k) % step::step]]
        picks = list(dict.fromkeys([c for c in near if c in chapters] + spread))[:4]
        by_id = {c.node_id: c for c in outline.values() if c.kind == "outline" and c.node_id in picks}
        titles = [by_id[i].title if lang == "zh" else (by_id[i].title_en or by_id[i].title) for i in picks if i in by_id]
        return self.prompts.render(prompt, lang, suggestions="、".join(titles) if lang == "zh" else ", ".join(titles))


def _outline_order(node_id: str) -> tuple[int, ...]:
    return tuple(int(x) for x in node_id.split(".") if x.isdigit())


def answer_dict(a: Answer) -> dict:
    return asdict(a)
