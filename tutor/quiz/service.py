"""The quiz service: `Tutor.quiz` returns one `Quiz`; CLI and UI call only this.

    q = tutor.quiz
    items = q.next_items("alice", scope="3.4", mode="mixed", type=None, n=10)   # list[Item]
    q.hint(items[0].id, 1)                                                      # Hint (steps 1..3)
    r = q.grade("alice", items[0].id, "我的回答", latency_ms=8200)               # Result, stored at once
    q.self_rate("alice", items[0].id, "good")  # after a "check yourself" verdict (r.verdict == "check")
    q.contest("alice", items[0].id, "good")    # "I think I was right": own rating replaces an automatic grade
    q.grade_text(items[0].id, "我的回答")  # the same Grade, nothing stored (short items)
    q.progress("alice")        # {node id: Mastery} for every chapter / section / topic
    q.path("alice")            # [Step] due reviews → weak topics → new topics, with reasons
    q.export("alice"); q.import_(data)                                          # JSON dicts
    q.generate(scope="3.4.2")  # LLM-written items, validated, stored (needs the chat model)

Answers by item type: choice — a letter (A-D), a 1-based number or the option text;
short — free text; card — the self-rating again / hard / good / easy (or 1-4).
A short answer the grader cannot decide gets the verdict "check": the answer is stored at
once, the reference and key points are shown, and the card is scheduled only when the
learner rates themselves with `self_rate` (as with a flashcard); until then it stays due.
A learner who thinks the grader got a short answer wrong contests it (`contest`): their own
rating replaces the automatic grade of their latest answer to the item, the card is rescheduled
from its state before that answer, and the stored review keeps the grader's verdict and score
with the flag "contested" (grader-error data, in `export`).
Answers with undecodable characters are graded and stored with U+FFFD in their place.
An empty answer is graded wrong with feedback; an answer longer than
`Settings.quiz_max_answer_chars` is trimmed and the Result carries a notice; an answer
that cannot be read for its type (choice "Z", card "maybe") raises `Quiz.BadAnswer`.
Every method takes `now` (UTC datetime) for tests and simulations; default: the clock
given to the constructor (real time).
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Callable

from tutor.errors import TutorError
from tutor.quiz.grading import CLOSE_SCORE, DONT_KNOW, FAR_CLOSENESS, Grade, Grader, GraderParams, closeness, english_summary
from tutor.quiz.hints import Hint, ladder
from tutor.quiz.items import TYPES, BadScope, Item, ItemBank, UnknownItem, note_hash
from tutor.quiz.path import MASTERED, Step, learning_path
from tutor.quiz.progress import PENDING, Mastery, Progress, mastery_table
from tutor.quiz.schedule import (
    RATINGS,
    Schedule,
    as_utc,
    rating_for,
    utcnow,
    verdict_for_rating,
)
from tutor.text import clean_text, detect_lang, has_invalid_text
from tutor.wording import Text, label, text as wording, w

MODES = ("due", "weak", "new", "mixed")
WEAK_REST = timedelta(hours=1)  # a weak note's items answered more recently than this are not asked again as weak practice
# a "check yourself" grade's doubt (Grade.flags) → the one sentence that says why it was not decided
_CLAIMS = "feedback.doubt.claims"
DOUBTS = {"negation": _CLAIMS, "direction": _CLAIMS, "swap": _CLAIMS, "formula": _CLAIMS, "number": _CLAIMS,
          "contradicts": "feedback.doubt.contradicts", "term_list": "feedback.doubt.term_list",
          "too_long": "feedback.doubt.too_long", "edited_reference": "feedback.doubt.edited_reference",
          "other_language": "feedback.doubt.other_language", "near_misconception": "feedback.near_misconception"}


def tour(items: list[Item]) -> list[Item]:
    """New items in the order a round asks them: one item of each note (outline order) before a
    second of any, so a round tours a section's topics instead of asking one note three times
    (review 28: a first "All" round was all 1.1.1-1.1.2). A note's first item is of the type
    TYPES[k % 3] for the k-th note when it has one (its items otherwise in their own order), so an
    "All" round mixes choice, short and card items; every note lists a choice item first, and
    review 34's "All" rounds were choice items only."""
    by_note: dict[str, list[Item]] = {}
    for i in sorted(items, key=lambda i: i.order):
        by_note.setdefault(i.note_id, []).append(i)
    rank: dict[str, tuple[int, int]] = {}
    for k, (_, its) in enumerate(by_note.items()):
        first = next((j for j, i in enumerate(its) if i.type == TYPES[k % len(TYPES)]), 0)
        for nth, i in enumerate(its[first:] + its[:first]):
            rank[i.id] = (nth, its[0].order)
    return sorted(items, key=lambda i: rank[i.id])


class BadAnswer(TutorError):
    """An answer that cannot be read for the item's type."""


class BadMode(TutorError):
    """Unknown --mode or --type."""


NOT_CONTESTED = frozenset({"empty", "answer_shown", "self_rated", "contested", "dont_know"})


def can_contest(type_: str, verdict: str, flags) -> bool:
    """Whether the learner may contest a grade (「我认为我答对了 I think I was right」): an automatic
    wrong / partial grade of a short answer that said something (not empty, not 「不知道」) before a
    hint showed the answer, and not rated by the learner already. The web quiz and the CLI ask this."""
    return type_ == "short" and verdict in ("wrong", "partial") and not NOT_CONTESTED & set(flags)

@dataclass
class Result:
    """A graded answer (already stored).

    verdict: correct | partial | wrong | check (the grader could not decide: the learner
    rates themselves, Quiz.self_rate); score in [0,1]; rating: the FSRS rating given
    (again | hard | good | easy; "pending" while a check waits for the self-rating); feedback:
    text for the learner in Chinese with English alongside (names missed key points and links
    the note as "id title"); correct_answer: the right option / reference / card back;
    missed / matched: key points (short items); notices: e.g. the answer was trimmed;
    due: when the card is due next (UTC); explanation: the optional LLM rubric's text.
    flags: machine flags: the grader's (e.g. empty, too_short), "answer_shown", "self_rated"
    (verdict, score and rating are the learner's own), "contested" (with self_rated: the
    learner's rating replaced an automatic grade). graded: for a contested answer, the grader's
    {"verdict", "score", "rating"} it replaced; None otherwise.
    """

    item_id: str
    note_id: str
    note_title: str
    type: str
    answer: str
    verdict: str
    score: float
    rating: str
    feedback: str
    correct_answer: str
    due: datetime
    latency_ms: int | None = None
    missed: list[str] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    explanation: str | None = None
    graded: dict | None = None

    def to_json(self) -> dict:
        d = asdict(self)
        d["due"] = self.due.isoformat()
        return d


class Quiz:
    """Quiz engine over one Tutor (its settings, corpus, embedder and, for generation, LLM).

    clock: returns the current UTC time (inject a fake one in tests)."""

    BadAnswer = BadAnswer
    BadMode = BadMode
    BadScope = BadScope
    UnknownItem = UnknownItem

    def __init__(self, tutor, clock: Callable[[], datetime] = utcnow, store: Progress | None = None):
        self.tutor = tutor
        self.settings = tutor.settings
        self.clock = clock
        self._store = store
        self._lock = threading.RLock()
        self._grader: Grader | None = None
        self.schedule = Schedule(self.settings.desired_retention)

    # -- parts ----------------------------------------------------------------------------
    @property
    def store(self) -> Progress:
        with self._lock:
            if self._store is None:
                self._store = Progress(self.settings.progress_url)
            return self._store

    @cached_property
    def bank(self) -> ItemBank:
        return ItemBank.build(self.tutor.corpus, self.store.generated())

    @property
    def grader(self) -> Grader:
        """The short-answer grader, built once (thread-safe: `warm` may build it in the background)."""
        with self._lock:
            if self._grader is None:
                self._grader = self._build_grader()
            return self._grader

    @property
    def grader_ready(self) -> bool:
        """Whether the grader is built (a grade now takes about a second, not a model load)."""
        return self._grader is not None

    def warm(self) -> None:
        """Build the grader and run its embedder once, so the first short answer of a round is
        graded in about a second rather than after loading the embedding model (seconds idle,
        minutes while the LLM holds the CPU: review 10). Called in a background thread when a
        round with short items starts; errors are left for `grade` to report."""
        try:
            self.grader.embedder.embeddings.embed_documents(["warm up 预热"])
        except Exception:  # noqa: BLE001 — a warm-up must never break the round; grade() raises the real error
            pass

    def _build_grader(self) -> Grader:
        # the verdict model is calibrated with the multilingual embedder (Chinese paraphrases and
        # English answers to Chinese items need a match across wording and language), so grading
        # uses it even when retrieval does not (TUTOR_MULTILINGUAL=false); with another embedder
        # the constants do not apply and the grader falls back to its rule path
        params = GraderParams.load()
        emb = self.tutor.grading_embedder
        if params.embedder and emb.name != params.embedder:
            params = GraderParams()
        return Grader.for_corpus(self.tutor.corpus, emb, params)

    def _now(self, now: datetime | None) -> datetime:
        return as_utc(now or self.clock())

    def item(self, item_id: str) -> Item:
        """The item with this id. Raises Quiz.UnknownItem."""
        return self.bank.get(item_id)

    def note_title(self, item: Item) -> str:
        return self.bank.note(item).meta.title

    # -- scope ----------------------------------------------------------------------------
    def scope(self, chapter: str | None = None, section: str | None = None, topic: str | None = None) -> str | None:
        """The narrowest of the given filters, validated. An unknown chapter raises
        Tutor.BadChapter naming the valid range; an unknown section or topic, Quiz.BadScope;
        a filter that disagrees with another (section 2.1 in chapter 3) too."""
        ch = self.tutor.check_chapter(chapter)
        sec = self.bank.check_scope(section)
        top = self.bank.check_scope(topic)
        for inner, outer in ((sec, ch), (top, sec), (top, ch)):
            if inner and outer and not (inner == outer or inner.startswith(outer + ".")):
                raise BadScope(w("error.not_inside", inner=inner, outer=outer))
        scope = top or sec or ch
        if scope and not self.bank.select(scope):
            have = self.bank.scopes_with_items()
            raise BadScope(w("error.no_items_under", scope=scope, first=have[0], last=have[-1]) if have
                           else w("error.no_items_at_all"))
        return scope

    # -- choosing items -------------------------------------------------------------------
    def next_items(self, user: str, scope: str | None = None, mode: str = "mixed", type: str | None = None,
                   n: int = 10, now: datetime | None = None) -> list[Item]:
        """Up to n items for `user` in `scope` (outline id or None):
        due — FSRS cards due now, most overdue first; weak — items of the reviewed notes with
        the lowest mastery (below MASTERED), least retrievable first; new — never-answered items
        in outline order, one per note before a second of any; mixed — due first, then weak and new alternating.
        type: choice | short | card | None (all). Raises Quiz.BadMode."""
        if mode not in MODES:
            raise BadMode(w("error.unknown_mode", mode=mode, choices=", ".join(MODES)))
        if type not in (None, *TYPES):
            raise BadMode(w("error.unknown_type", type=type, choices=", ".join(TYPES)))
        now = self._now(now)
        pool = {i.id: i for i in self.bank.select(scope, [type] if type else None)}
        cards = self.store.cards(user)
        due = [self.bank.get(c.item_id) for c in self.store.due(user, now) if c.item_id in pool]
        new = tour([i for i in pool.values() if i.id not in cards])
        weak: list[Item] = []
        if mode in ("weak", "mixed"):
            table = mastery_table(self.store, user, self.bank, self.schedule, now)
            weak_notes = {nid for nid, m in table.items() if m.own is not None and m.own < MASTERED}
            due_ids = {i.id for i in due}
            # (not an item answered in the last WEAK_REST: review 35's second round asked again a card
            # just rated Easy, whose next review was eight days away)
            cand = [i for i in pool.values() if i.note_id in weak_notes and i.id in cards and i.id not in due_ids
                    and not (cards[i.id].state.last_review and now - as_utc(cards[i.id].state.last_review) < WEAK_REST)]
            weak = sorted(cand, key=lambda i: (table[i.note_id].own, self.schedule.retrievability(cards[i.id].state, now), i.order))
        if mode == "due":
            out = due
        elif mode == "new":
            out = new
        elif mode == "weak":
            out = weak
        else:
            out = list(due)
            for k in range(max(len(weak), len(new))):
                out += weak[k:k + 1] + new[k:k + 1]
        seen, uniq = set(), []
        for i in out:
            if i.id not in seen:
                seen.add(i.id)
                uniq.append(i)
        return uniq[:max(0, n)]

    # -- hints ----------------------------------------------------------------------------
    def hints(self, item_id: str) -> list[Hint]:
        """The three hints of an item (concept, key point as a question, answer)."""
        it = self.item(item_id)
        note = self.bank.note(it)
        corpus = self.tutor.corpus
        parent = corpus.outline.get(note.id.rsplit(".", 1)[0]) if "." in note.id else None
        if parent is None:
            return ladder(it, note, None)
        overview = corpus.notes.get(parent.id)  # the section's overview note has its English title
        return ladder(it, note, Text(parent.title, overview.meta.title_en if overview else parent.title))

    def hint(self, item_id: str, step: int) -> Hint:
        """Hint number `step` (1-3; larger numbers give step 3)."""
        return self.hints(item_id)[min(max(step, 1), 3) - 1]

    # -- grading --------------------------------------------------------------------------
    def grade(self, user: str, item_id: str, answer: str | int | None, latency_ms: int | None = None,
              now: datetime | None = None, hints_used: int = 0) -> Result:
        """Grade, schedule (FSRS) and store one answer; the review is committed before this
        returns. latency_ms: time from showing the question to the answer. hints_used: how
        many hint steps were shown (1-2 rule out Easy; 3 showed the answer, so the rating is
        Again whatever the verdict). Hints change the scheduling only: verdict and score are the
        grader's, the same for the same text in every front-end, except that a "check yourself"
        answer after the answer was shown counts as wrong (flag answer_shown); a notice and the
        feedback say so. Raises Quiz.UnknownItem, Quiz.BadAnswer (unreadable choice / rating)."""
        it = self.item(item_id)
        note = self.bank.note(it)
        now = self._now(now)
        text, notices = self._answer_text(answer)
        missed: list[str] = []
        matched: list[str] = []
        flags: list[str] = []
        far = False  # a short answer holding little of the item (grading.FAR_CLOSENESS): said so if unsure
        near = ""  # the listed misconception a "check" answer is nearest to (Grade.misconception)
        if it.type == "choice":
            # 「不知道」 typed for a choice item: an honest wrong answer, not an unreadable option (review 24)
            dont_know = bool(DONT_KNOW.match(text))
            pick = None if dont_know else self._choice(it, text)
            verdict, score = ("correct", 1.0) if pick == it.answer else ("wrong", 0.0)
            if dont_know or pick is None:
                flags.append("dont_know" if dont_know else "empty")
            rating = rating_for(verdict, latency_ms, it.type, self.settings.quiz_fast_ms)
        elif it.type == "card":
            rating = self._rating(text)
            verdict, score = verdict_for_rating(rating)
            if not text.strip():
                flags.append("empty")
        else:
            g = self._grade_short(it, note, text)
            verdict, score, missed, matched, flags = g.verdict, g.score, g.missed, g.matched, list(g.flags)
            far = closeness(g, self.grader.params) <= FAR_CLOSENESS
            near = "" if far else g.misconception  # far from everything: its nearest misconception is noise
            rating = PENDING if verdict == "check" else rating_for(verdict, latency_ms, it.type, self.settings.quiz_fast_ms)
        # hints are the one input besides the text that changes the outcome, and only the
        # scheduling: the verdict and score stay the grader's (the same text gets the same grade
        # in the quiz tab, the CLI and the API), except that a "check yourself" answer given
        # after the answer was shown cannot be self-rated and counts as wrong; both say why
        stored = list(flags)  # kept with the review; hints too, so a contest follows the same rules
        if hints_used >= 3 and it.type != "card":
            rating = "again"
            notices.append(w("notice.answer_shown"))
            if verdict == "check":
                verdict = "wrong"
            # flagged whatever the verdict: a right choice after the answer hint is no 100% in the
            # round's mean (review 17), and the feedback says why it comes back soon
            flags.append("answer_shown")
            stored = [*flags]
        elif hints_used >= 1:
            stored.append("hinted")
            if rating == "easy":
                rating = "good"
                notices.append(w("notice.hint_used"))
        if rating == PENDING:
            # nothing is scheduled until the learner rates themselves; the answer is kept
            self.store.record(user, it.id, it.note_id, it.type, text, score, verdict, rating, latency_ms, now, None, stored)
            old = self.store.cards(user).get(it.id)
            due = old.state.due if old else now
        else:
            state = self.store.record(user, it.id, it.note_id, it.type, text, score, verdict, rating, latency_ms, now,
                                      lambda old: self.schedule.review(old, rating, now, latency_ms), stored)
            due = state.due
        explanation = None
        if it.type == "short" and self.settings.quiz_llm_grader:
            explanation = self._rubric(it, text, notices)
        return Result(it.id, it.note_id, note.meta.title, it.type, text, verdict, score, rating,
                      self._feedback(it, note, verdict, missed, flags, score, far, near), _correct_answer(it), due,
                      latency_ms, missed, matched, notices, flags, explanation)

    def self_rate(self, user: str, item_id: str, rating: str | int, now: datetime | None = None) -> Result:
        """The learner's own rating (again / hard / good / easy, or 1-4) of their latest short
        answer to this item that the grader could not decide (verdict "check"); schedules the
        card with it. Raises Quiz.BadAnswer (not a rating, or no answer waits for one)."""
        it = self.item(item_id)
        note = self.bank.note(it)
        now = self._now(now)
        rating = self._rating(str(rating))
        verdict, score = verdict_for_rating(rating)
        try:
            state = self.store.rate_pending(user, it.id, rating, verdict, score, lambda old: self.schedule.review(old, rating, now))
        except Progress.NothingPending as e:
            raise BadAnswer(str(e)) from None
        return Result(it.id, it.note_id, note.meta.title, it.type, "", verdict, score, rating,
                      self._feedback(it, note, verdict, [], ["self_rated"]), _correct_answer(it), state.due,
                      flags=["self_rated"])

    def contest(self, user: str, item_id: str, rating: str | int, now: datetime | None = None) -> Result:
        """"I think I was right": the learner's own rating (again / hard / good / easy, or 1-4)
        replaces the automatic grade of their latest answer to this short item (wrong or partial,
        also correct). The card is recomputed from its state before that answer, reviewed once with
        this rating at the answer's time, as if the grader had given it (no second review); a hint
        before the answer still rules out Easy (Good instead, with a notice). The stored review
        keeps the grader's verdict and score, gets the flag "contested" and the learner's grade
        (Progress.contest). Returns a Result with the learner's verdict, score and rating, flags
        ["self_rated", "contested"] and `graded` = the grader's verdict, score and rating.
        now: when the learner contests (stored with the contest); the review keeps its own time.
        Raises Quiz.UnknownItem; Quiz.BadAnswer (one line saying what to do) when there is
        nothing to contest: not a rating, a choice item or flashcard, no answer yet, an answer
        waiting for its self-rating, already self-rated or contested, an empty answer, an answer
        given after the hint showed it, or one stored before contests existed."""
        it = self.item(item_id)
        note = self.bank.note(it)
        now = self._now(now)
        if it.type != "short":
            raise BadAnswer(w("error.contest_not_short", item_id=it.id, kind=wording(f"type.{it.type}")))
        rating = self._rating(str(rating))
        notices: list[str] = []
        given = {"rating": rating}

        def decide(before, prior):
            # the same rules as `grade`: an empty answer or one given after the hint showed the
            # answer has nothing to contest; any hint before it rules out Easy
            if "empty" in before.flags:
                raise BadAnswer(w("error.contest_empty", item_id=it.id))
            if "answer_shown" in before.flags:
                raise BadAnswer(w("error.contest_answer_shown", item_id=it.id))
            if "hinted" in before.flags and rating == "easy":
                given["rating"] = "good"
                notices.append(w("notice.hint_used"))
            r = given["rating"]
            return (r, *verdict_for_rating(r), self.schedule.review(prior, r, before.time, before.latency_ms))

        try:
            before, state = self.store.contest(user, it.id, decide, now)
        except Progress.CannotContest as e:
            raise BadAnswer(str(e)) from None
        r = given["rating"]
        verdict, score = verdict_for_rating(r)
        flags = ["self_rated", "contested"]
        return Result(it.id, it.note_id, note.meta.title, it.type, before.answer, verdict, score, r,
                      self._feedback(it, note, verdict, [], flags), _correct_answer(it), state.due,
                      before.latency_ms, notices=notices, flags=flags,
                      graded={"verdict": before.verdict, "score": before.score, "rating": before.rating})

    def _choice(self, it: Item, text: str) -> int | None:
        """0-based option index from "B", "b", "2", "(B)", "B." or the option's text; None when empty."""
        t = text.strip()
        if not t:
            return None
        letters = "ABCDEF"[:len(it.options)]
        m = re.fullmatch(r"[(（]?\s*([A-Fa-f]|[1-6])\s*[)）.．、]?", t)
        if m:
            v = m.group(1).upper()
            k = letters.find(v) if v.isalpha() else int(v) - 1
            if 0 <= k < len(it.options):
                return k
        for k, o in enumerate(it.options):
            if t == o.strip():
                return k
        raise BadAnswer(w("error.not_an_option", answer=t[:20], first=letters[0], last=letters[-1], n=len(it.options)))

    @staticmethod
    def _rating(text: str) -> str:
        t = text.strip().lower()
        if not t:
            return "again"
        if t.isdigit() and 1 <= int(t) <= 4:
            return RATINGS[int(t) - 1]
        for r in RATINGS:
            if t == r or t == r[0]:
                return r
        raise BadAnswer(w("error.not_a_rating", answer=text.strip()[:20]))

    def _answer_text(self, answer: str | int | None) -> tuple[str, list[str]]:
        """The answer as graded and stored (undecodable characters replaced, trimmed to
        Settings.quiz_max_answer_chars) and the notices saying so."""
        text = "" if answer is None else str(answer)
        notices: list[str] = []
        if has_invalid_text(text):
            notices.append(w("notice.invalid_utf8"))
        text = clean_text(text)  # also NUL, which no store keeps (silently: it shows as nothing)
        limit = self.settings.quiz_max_answer_chars
        if len(text) > limit:
            notices.append(w("notice.trimmed", n=f"{len(text):,}", limit=f"{limit:,}"))
            text = text[:limit]
        return text, notices

    def _grade_short(self, it: Item, note, text: str) -> Grade:
        """The grade of a short answer: a function of the item and the text alone (the corpus's
        own items, never the learner's state or the LLM-generated items in the bank)."""
        return self.grader.grade(it.prompt, it.reference, list(it.key_points), text, english_summary(note.body),
                                 misconceptions=list(it.misconceptions), others=other_references(self.bank, it))

    def grade_text(self, item_id: str, answer: str) -> Grade:
        """How the grader judges `answer` to a short item, without storing anything: the same
        Grade that `grade` stores (verdict, score, matched / missed key points). For other
        front-ends that show a grade or part of it (e.g. the chat's guide mode)."""
        it = self.item(item_id)
        return self._grade_short(it, self.bank.note(it), self._answer_text(answer)[0])

    def _feedback(self, it: Item, note, verdict: str, missed: list[str], flags: list[str],
                  score: float = 0.0, far: bool = False, near: str = "") -> str:
        """Feedback in Chinese with English alongside (tutor/wording.py); the item's own key
        points and explanation in the note's language."""
        head = wording(f"feedback.{verdict}" if it.type != "card" else "feedback.self_rated")  # a card's rating is the learner's
        for flag, key in (("empty", "feedback.empty" if it.type != "card" else "feedback.empty_card"),
                          ("copied_question", "feedback.copied_question"), ("contested", "feedback.contested"),
                          ("self_rated", "feedback.self_rated"),
                          ("dont_know", "feedback.dont_know"), ("too_short", "feedback.too_short"), ("unrelated", "feedback.unrelated"),
                          ("other_item", "feedback.other_item"), ("answer_shown", "feedback.answer_shown")):
            if flag in flags:
                head = wording(key)
                break
        sep = "；" if detect_lang(it.prompt) == "zh" else "; "
        lines = [str(head)]
        if verdict == "check":
            # why it could not decide, in one sentence, and which key points the answer mentions:
            # the learner rates themselves with the grader's reading in front of them
            # a misconception is named, so the learner can tell whether they said it (none when far)
            doubt = next((DOUBTS[f] for f in flags if f in DOUBTS and (f != "near_misconception" or near)), None)
            if doubt:
                lines.append(str(wording(doubt, misconception=near)))
            if score >= CLOSE_SCORE:
                # review 10: right answers got no word of confirmation; this is closeness, not a grade
                # (after a doubt sentence, which already says what cannot be checked, the short form:
                # review 11 read two overlapping disclaimers)
                lines.append(str(wording("feedback.close_short" if doubt else "feedback.close")))
            elif far:
                lines.append(str(wording("feedback.far")))
            # the key points unmarked: the learner checks them against their own answer. Marks of
            # which ones the answer mentions were wrong both ways in reviews 9, 11 and 12 (✓, then
            # ● on a point the answer contradicted, ○ on points it stated in other words), and no
            # per-key-point labels exist to calibrate a better match
            lines.append(f"{label('feedback.key_points_check')}: {sep.join(it.key_points)}")
        elif missed and verdict != "correct":
            lines.append(f"{label('feedback.missed')}: {sep.join(missed)}")
        if it.type == "choice" and it.explanation:
            lines.append(f"{label('feedback.why')}: {it.explanation}")
        lines.append(f"{label('feedback.review_note')}: {note.id} {note.meta.title}")
        return "\n".join(lines)

    def _rubric(self, it: Item, text: str, notices: list[str]) -> str | None:
        from tutor.quiz.rubric import explain

        try:
            return explain(self.tutor.llm, it, text).get("explanation")
        except TutorError as e:  # the deterministic grade stands on its own
            notices.append(w("notice.rubric_unavailable", error=e))
            return None

    # -- progress and path ----------------------------------------------------------------
    def progress(self, user: str, now: datetime | None = None) -> dict[str, Mastery]:
        """Mastery of every outline node for `user` (progress.Mastery), keyed by id, outline order."""
        return mastery_table(self.store, user, self.bank, self.schedule, self._now(now))

    def chapters(self, user: str, now: datetime | None = None) -> list[Mastery]:
        """The chapter rows of progress(), in outline order."""
        return [m for m in self.progress(user, now).values() if m.level == 1]

    def path(self, user: str, n: int = 10, now: datetime | None = None) -> list[Step]:
        """What to study next (path.learning_path): due reviews, weak topics, new topics, with reasons."""
        now = self._now(now)
        table = mastery_table(self.store, user, self.bank, self.schedule, now)
        return learning_path(self.bank, table, self.store.due(user, now), now, n)

    def export(self, user: str) -> dict:
        """One user's cards and reviews as a JSON-ready dict."""
        return self.store.export_user(user)

    def import_(self, data: dict, user: str | None = None) -> dict:
        """Merge an export (see Progress.import_user); returns counts."""
        return self.store.import_user(data, user)

    # -- generated items ------------------------------------------------------------------
    def generate(self, scope: str | None = None, types: tuple[str, ...] = ("choice", "short", "card"),
                 force: bool = False, now: datetime | None = None, on_note: Callable | None = None) -> dict[str, list]:
        """Have the LLM write one item of each type for every note in scope whose stored
        generated items are missing or stale (note changed), or all with force. Valid items are
        stored and join the bank. Returns {note id: [quiz_gen.Outcome]}."""
        from tutor.quiz.quiz_gen import generate_item

        stored = self.store.generated()
        out: dict[str, list] = {}
        for note in self.tutor.corpus.notes.values():
            if scope and not (note.id == scope or note.id.startswith(scope + ".")):
                continue
            h = note_hash(note)
            if not force and note.id in stored and stored[note.id][0] == h:
                continue
            outcomes = [generate_item(self.tutor.llm, note, t) for t in types]
            self.store.save_generated(note.id, h, self.tutor.llm.name, [o.payload for o in outcomes if o.payload], self._now(now))
            out[note.id] = outcomes
            if on_note:
                on_note(note.id, outcomes)
        self.__dict__.pop("bank", None)  # rebuild with the new items
        return out


def other_references(bank: ItemBank, it: Item) -> list[str]:
    """References of the other short items of the same section (the notes' own items, as the
    grader was calibrated): an answer closer to one of them than to its own item answers
    another question. LLM-generated items are left out: they come and go with `quiz-gen`, and
    with them the grade of the same text would change from one process or day to the next."""
    sec = it.note_id.rsplit(".", 1)[0]
    return [o.reference for o in bank.items
            if o.type == "short" and o.id != it.id and not o.generated and o.note_id.rsplit(".", 1)[0] == sec and o.reference]


def _correct_answer(it: Item) -> str:
    if it.type == "choice":
        return f"{'ABCDEF'[it.answer or 0]}. {it.answer_text}"
    return it.reference
