"""The RAG answer: retrieve → fit the token budget → generate (streamed) → cite.

`Chat.stream` yields events, so CLI, UI and evals share one path:
  ("sources", list[Source]) once, then ("token", str) pieces, then ("done", Answer).
The streamed pieces joined equal `Answer.answer` (the same filters run on both).
When retrieval finds nothing relevant the model is not called at all: the tutor says the
notes don't cover the question and suggests outline topics.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Iterator

from . import budget
from .errors import TutorError
from .llm import LLM, MESSAGE_OVERHEAD_TOKENS
from .prompts import Prompts
from .retrieve import Hit, Retriever, is_covered
from .text import detect_lang, neutralise_control


class Question:
    """Validation of a learner's question."""

    class Invalid(TutorError):
        """Empty or over-long question."""

    @staticmethod
    def clean(text: str | None, max_chars: int) -> str:
        """Stripped question with control tokens neutralised. Raises Question.Invalid."""
        q = (text or "").strip()
        if not q:
            raise Question.Invalid("the question is empty; type a question, e.g. 为什么注意力要除以根号d_k？")
        if len(q) > max_chars:
            raise Question.Invalid(f"the question is {len(q):,} characters long; the limit is {max_chars:,} "
                                   "(TUTOR_MAX_QUESTION_CHARS): shorten it")
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
    completion_tokens, tokens_per_s. notices: codes such as 'history_dropped',
    'notes_dropped', 'question_trimmed', 'not_covered', 'stopped'."""

    question: str
    answer: str
    sources: list[Source]
    model: str
    lang: str
    timings: dict
    notices: list[str] = field(default_factory=list)
    covered: bool = True
    key_points: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        """The `tutor ask --json` object (DESIGN.md §4)."""
        return {
            "question": self.question,
            "answer": self.answer,
            "sources": [{"n": s.n, "id": s.id, "title": s.title, "score": s.score} for s in self.sources],
            "model": self.model,
            "timings": self.timings,
            "key_points": self.key_points,
            "notices": self.notices,
            "lang": self.lang,
        }


def group_sources(hits: list[Hit]) -> list[Source]:
    """One Source per note, numbered 1.. in order of each note's best hit."""
    out: dict[str, Source] = {}
    for h in hits:
        c = h.chunk
        s = out.get(c.node_id)
        if s is None:
            out[c.node_id] = Source(len(out) + 1, c.node_id, c.title, c.title_en, h.score, h.relevance, c.text, [c.id])
        else:
            s.chunk_ids.append(c.id)
            s.relevance = max(s.relevance, h.relevance)
    return list(out.values())


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
        out, self._buf = self._clean(self._buf), ""
        return out


class Chat:
    """RAG over an index with one LLM. history: [{"role": "user"|"assistant", "content"}]."""

    def __init__(self, retriever: Retriever, llm: LLM, prompts: Prompts, settings, key_points: dict[str, list[str]]):
        self.retriever = retriever
        self.llm = llm
        self.prompts = prompts
        self.settings = settings
        self.key_points = key_points

    def _context(self, sources: list[Source], chunks: dict, lang: str) -> list[str]:
        groups = []
        for s in sources:
            body = "\n".join(chunks[c].text for c in s.chunk_ids)
            groups.append(f"[{s.n}] {s.title}（{s.title_en}）\n{body}" if s.title_en else f"[{s.n}] {s.title}\n{body}")
        return groups

    def stream(self, question: str, history: list[dict] | None = None, chapter: str | None = None,
               stop: threading.Event | None = None) -> Iterator[tuple[str, object]]:
        """Answer events (see module doc). Raises Question.Invalid before yielding anything."""
        s = self.settings
        q = Question.clean(question, s.max_question_chars)
        history = [{"role": t["role"], "content": neutralise_control(t["content"])} for t in (history or [])]
        lang = detect_lang(q)
        t0 = time.perf_counter()
        prev = next((t["content"] for t in reversed(history) if t["role"] == "user"), "")
        query = f"{prev}\n{q}" if prev and len(q) < 40 else q  # short follow-ups inherit the last topic
        hits = self.retriever.search(query, k=s.top_k, chapter=chapter)
        retrieve_ms = round((time.perf_counter() - t0) * 1000, 1)
        covered = is_covered(hits, s.min_relevance)
        # weak hits (far below the coverage bar) would only dilute the prompt and the citations
        sources = group_sources([h for i, h in enumerate(hits) if i == 0 or h.relevance >= s.min_relevance * 0.6]) if covered else []
        yield "sources", sources
        timings = {"retrieve_ms": retrieve_ms, "first_token_ms": None, "total_ms": 0.0,
                   "prompt_tokens": 0, "completion_tokens": 0, "tokens_per_s": 0.0}
        if not covered:
            text = self._not_covered(lang)
            yield "token", text
            timings["total_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            yield "done", Answer(q, text, [], self.llm.name, lang, timings, ["not_covered"], covered=False)
            return

        system = self.prompts.render("system", lang)
        groups = self._context(sources, self.retriever.index.chunks, lang)

        def render(gs: list[int], question_text: str) -> str:
            return self.prompts.render("answer", lang, context="\n\n".join(groups[g] for g in gs), question=question_text)

        def count_message(text: str) -> int:
            return self.llm.count_tokens(text) + MESSAGE_OVERHEAD_TOKENS

        fitted = budget.fit(self.llm.n_ctx, s.max_answer_tokens, count_message, self.llm.count_tokens,
                            [system], q, groups, history, render)
        kept = [sources[g] for g in fitted.groups]
        messages = [{"role": "system", "content": system}, *fitted.turns,
                    {"role": "user", "content": render(fitted.groups, fitted.question)}]
        max_tokens = max(16, min(s.max_answer_tokens, self.llm.n_ctx - self.llm.count_messages(messages) - budget.SAFETY_TOKENS))
        cites = CitationFilter({src.n for src in kept})
        text = ""
        for piece in self.llm.stream(messages, max_tokens, stop=stop):
            out = cites.feed(piece)
            if out:
                text += out
                yield "token", out
        tail = cites.flush()
        if tail:
            text += tail
            yield "token", tail
        g = self.llm.last
        timings.update(first_token_ms=g.first_token_ms, total_ms=round((time.perf_counter() - t0) * 1000, 1),
                       prompt_tokens=g.prompt_tokens, completion_tokens=g.completion_tokens, tokens_per_s=g.tokens_per_s)
        notices = list(fitted.notices) + (["stopped"] if g.stopped else [])
        kps = [{"n": src.n, "id": src.id, "text": kp} for src in kept[:3] for kp in self.key_points.get(src.id, [])]
        yield "done", Answer(q, text.strip(), kept, self.llm.name, lang, timings, notices, True, kps)

    def ask(self, question: str, history: list[dict] | None = None, chapter: str | None = None) -> Answer:
        """Non-streaming answer; same text as the stream joined."""
        for kind, value in self.stream(question, history, chapter):
            if kind == "done":
                return value  # type: ignore[return-value]
        raise RuntimeError("answer stream ended without a result")

    def _not_covered(self, lang: str) -> str:
        outline = self.retriever.index.chunks
        chapters = sorted({c.node_id for c in outline.values() if c.kind == "outline" and "." not in c.node_id}, key=int)
        titles = [outline_chunk.title for cid, outline_chunk in outline.items()
                  if outline_chunk.kind == "outline" and outline_chunk.node_id in chapters[:4]]
        return self.prompts.render("not_covered", lang, suggestions="、".join(titles[:4]) if lang == "zh" else ", ".join(titles[:4]))


def answer_dict(a: Answer) -> dict:
    return asdict(a)
