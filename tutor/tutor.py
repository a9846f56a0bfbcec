"""The `Tutor` facade: one object that CLI, UI and evals talk to. `build_tutor(settings)`
wires the stages; each heavy part (corpus, embedding model, index, LLM) loads on first use,
so `tutor search` never loads llama.cpp and `tutor doctor` works with no index.
"""

from __future__ import annotations

import threading
import time
from functools import cached_property
from typing import Iterator

from tutor.config import Settings
from tutor.corpus import Corpus
from tutor.errors import TutorError
from tutor.llm import LLM, load_llm, model_name
from tutor.prompts import Prompts
from tutor.rag.chat import Answer, Chat, Question
from tutor.rag.embed import (
    Embedder,
    EmbeddingModelMissing,
    load_embedder,
    load_multilingual_embedder,
)
from tutor.rag.index import Index, IngestReport
from tutor.rag.retrieve import Hit, Retriever
from tutor.text import clean_input, english_sentences
from tutor.wording import w


class BadChapter(TutorError):
    """Chapter filter outside the outline."""


class Tutor:
    """Facade over corpus, index, retrieval and chat. Thread-safe lazy loading."""

    BadChapter = BadChapter

    def __init__(self, settings: Settings, llm: LLM | None = None, embedder: Embedder | None = None,
                 multilingual: Embedder | None = None):
        self.settings = settings
        self._llm = llm
        self._embedder = embedder
        self._multilingual = multilingual
        self._injected = embedder is not None and multilingual is None  # a fake embedder only (unit tests)
        self._lock = threading.RLock()
        self._index_checked = float("-inf")  # time.monotonic() of the last check for a re-ingest on the Chroma server

    # -- lazily built parts -------------------------------------------------------------
    @cached_property
    def corpus(self) -> Corpus:
        return Corpus.load(self.settings.corpus_dir)

    @cached_property
    def prompts(self) -> Prompts:
        return Prompts(self.settings.prompts_dir)

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.settings.embedding_model)
            return self._embedder

    @property
    def multilingual(self) -> Embedder | None:
        """The multilingual embedder (USE) when `settings.multilingual`, else None."""
        with self._lock:
            if self._multilingual is None and self.settings.multilingual:
                self._multilingual = load_multilingual_embedder(self.settings.threads)
            return self._multilingual if self.settings.multilingual else None

    @property
    def grading_embedder(self) -> Embedder:
        """The embedder the short-answer grader was calibrated with (USE), whether or not
        retrieval uses it; an injected embedder (tests) or, without the package, the
        retrieval embedder otherwise."""
        with self._lock:
            if self._multilingual is not None:
                return self._multilingual
            if self._injected and not self.settings.multilingual:
                return self._embedder
            try:
                self._multilingual = load_multilingual_embedder(self.settings.threads)
                return self._multilingual
            except EmbeddingModelMissing:
                return self.embedder

    @property
    def llm(self) -> LLM:
        with self._lock:
            if self._llm is None:
                self._llm = load_llm(self.settings)
            return self._llm

    @cached_property
    def index(self) -> Index:
        with self._lock:
            return Index.open(self.settings, self.embedder, self.multilingual)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.index)

    @cached_property
    def chat(self) -> Chat:
        from tutor.quiz.grading import english_summary

        kps = {i: n.meta.key_points for i, n in self.corpus.notes.items()}
        kps_en = {i: english_sentences(english_summary(n.body)) for i, n in self.corpus.notes.items()}
        return Chat(self.retriever, self.llm, self.prompts, self.settings, kps, key_points_en={i: v for i, v in kps_en.items() if v})

    @cached_property
    def quiz(self):
        """The quiz service (tutor/quiz/service.py: next_items, grade, hint, progress, path, export/import, generate)."""
        from tutor.quiz.service import (
            Quiz,  # lazy: the quiz stack (SQLAlchemy, fsrs) loads only when used
        )

        with self._lock:
            return Quiz(self)

    # -- operations ---------------------------------------------------------------------
    def ingest(self, rebuild: bool = False, progress=None, on_total=None) -> IngestReport:
        """Build or update the index from the corpus (see Index.ingest)."""
        report = Index.ingest(self.settings, self.embedder, self.corpus, rebuild=rebuild, progress=progress,
                              on_total=on_total, multilingual=self.multilingual)
        self._drop_index()
        return report

    def _drop_index(self) -> None:
        for name in ("index", "retriever", "chat"):
            self.__dict__.pop(name, None)  # reopen with the new manifest on next use

    def follow_index(self) -> bool:
        """With TUTOR_CHROMA_URL: whether the index on the server was re-ingested since this
        Tutor opened it, checked at most once every settings.index_check_s seconds (one small
        read); if so the index, retriever and chat are dropped, to be reopened with the new
        manifest on next use. False in local mode, before the index is open and between checks.
        Called by search, ask and ask_stream. Raises Index.Unreachable."""
        index = self.__dict__.get("index")
        if not self.settings.chroma_url or index is None:
            return False
        with self._lock:
            now = time.monotonic()
            if now - self._index_checked < self.settings.index_check_s:
                return False
            self._index_checked = now
        latest = index.latest_version()
        if latest is None or latest == index.version:
            return False
        with self._lock:
            if self.__dict__.get("index") is index:  # not already reopened by another thread
                self._drop_index()
        return True

    def search(self, query: str, k: int = 5, chapter: str | None = None, per_note: bool = False) -> list[Hit]:
        """Hybrid search; hits best first (per_note: one chunk per note). Raises
        Tutor.BadChapter for an unknown chapter, text.BadText for invalid Unicode."""
        query = clean_input(query, "the search query").strip()
        if not query:
            raise TutorError("the search query is empty; give words to search for, e.g. RoPE")
        if len(query) > self.settings.max_question_chars:
            raise TutorError(f"the search query is {len(query):,} characters long; the limit is "
                             f"{self.settings.max_question_chars:,} (TUTOR_MAX_QUESTION_CHARS): shorten it")
        chapter = self.check_chapter(chapter)  # before the retriever: bad input fails without loading models
        self.follow_index()
        return self.retriever.search(query, k=k, chapter=chapter, per_note=per_note)

    def conversation_query(self, question: str, history: list[str]) -> str:
        """What the chat searches with for `question` after the earlier user questions `history`
        (oldest first): the question itself, or its follow-up query (rag/followup.py `resolve`,
        the chat's rule). Loads the LLM only when TUTOR_REWRITE_FOLLOWUPS is on."""
        from tutor.rag import followup
        from tutor.rag.chat import TOP_NOTES_KEPT
        from tutor.rag.retrieve import is_covered
        from tutor.text import detect_lang

        s = self.settings
        turns = [{"role": "user", "content": h} for h in history]
        self.follow_index()
        _, query = followup.resolve(
            question, turns, self.index,
            lambda x: self.retriever.search(x, k=s.top_k, min_notes=TOP_NOTES_KEPT),
            lambda h: is_covered(h, s.min_relevance),
            lambda prev: followup.search_query(self.llm if s.rewrite_followups else None, self.prompts, turns, question,
                                               detect_lang(question), s.rewrite_followups, prev))
        return query

    def _model_name(self) -> str:
        """The configured model's file name without loading it; "" when it cannot be found."""
        if self._llm is not None:
            return self._llm.name
        try:
            return model_name(self.settings)
        except TutorError:
            return ""

    def answer_mode(self, mode: str | None = None) -> str:
        """The concrete answer mode ("quotes_first" | "checked" | "stream") for `mode` (default
        settings.answer_mode) and the configured model, without loading it (trust/policy.py)."""
        from tutor.trust import policy

        return policy.resolve(mode or self.settings.answer_mode, self._model_name(), self.settings.answer_check)

    def measured_acceptance(self) -> tuple[int, int] | None:
        """(answers kept as the model's own, answers measured) for the configured model, or None
        when unmeasured (trust/policy.py MEASURED)."""
        from tutor.trust import policy

        return policy.measured(self._model_name())

    def ask(self, question: str, history: list[dict] | None = None, chapter: str | None = None,
            mode: str | None = None) -> Answer:
        """The finished answer (Chat.ask). mode: answer mode (trust/policy.py; default settings).
        Raises Tutor.BadChapter, Question.Invalid, policy.BadMode before any model loads."""
        chapter = self.check_input(question, chapter, mode)
        self.follow_index()
        return self.chat.ask(question, history, chapter, mode)

    def ask_stream(self, question: str, history: list[dict] | None = None, chapter: str | None = None,
                   stop: threading.Event | None = None, mode: str | None = None) -> Iterator[tuple[str, object]]:
        """Answer events (Chat.stream). Raises Tutor.BadChapter, Question.Invalid, policy.BadMode
        before any model loads."""
        chapter = self.check_input(question, chapter, mode)
        self.follow_index()
        return self.chat.stream(question, history, chapter, stop, mode)

    def check_input(self, question: str, chapter: str | int | None, mode: str | None) -> str | None:
        """Validate a question, chapter filter and answer mode without loading the embedding
        models, the index or the GGUF (a typo costs milliseconds, not a model load: ~8 s on
        2 cores). Returns the normalised chapter; raises as `ask`."""
        Question.clean(question, self.settings.max_question_chars)
        self.answer_mode(mode)
        return self.check_chapter(chapter)

    def check_chapter(self, chapter: str | int | None) -> str | None:
        """Normalise a chapter filter; raises Tutor.BadChapter naming the valid range."""
        if chapter in (None, ""):
            return None
        valid = [c.id for c in self.corpus.outline.chapters()]
        if str(chapter) not in valid:
            if str(chapter) in self.corpus.outline and str(chapter).count(".") == 1:  # 「7.1」: a section (review 17)
                raise BadChapter(w("error.section_as_chapter", chapter=str(chapter)))
            raise BadChapter(w("error.unknown_chapter", chapter=str(chapter), first=valid[0], last=valid[-1]))
        return str(chapter)


def build_tutor(settings: Settings | None = None, llm: LLM | None = None, embedder: Embedder | None = None,
                multilingual: Embedder | None = None) -> Tutor:
    """Wire a Tutor from settings (default: environment / tutor.toml). llm/embedder/multilingual:
    injected models (fakes in unit tests; session-shared real ones in integration tests)."""
    return Tutor(settings or Settings(), llm=llm, embedder=embedder, multilingual=multilingual)
