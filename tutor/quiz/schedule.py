"""Spaced repetition with the `fsrs` package (FSRS-6, Ye et al.; open-spaced-repetition).

One FSRS card per user and item. A grade becomes a rating:
wrong → Again, partial → Hard, correct → Good, correct and fast → Easy (latency at most
`fast_ms` but not implausibly fast, MIN_READ_MS; short answers get 3× both, since typing
takes longer). Flashcards, and short answers the grader could not decide ("check yourself"),
are self-rated directly; a contested automatic grade is replaced by the learner's own rating.

The card state is kept as plain values (state, step, stability, difficulty, due,
last_review) so the progress store can save it in columns; fsrs types stay in this module.
Fuzzing is off so that the same answers on the same (injected) clock give the same due
dates. Deliberately not here: storage (progress.py) and the review queue's SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from fsrs import Card, Rating, Scheduler, State

RATINGS = ("again", "hard", "good", "easy")
_RATING = {"again": Rating.Again, "hard": Rating.Hard, "good": Rating.Good, "easy": Rating.Easy}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(t: datetime) -> datetime:
    """Timezone-aware UTC (naive datetimes, as SQLite returns them, are taken as UTC)."""
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


@dataclass
class CardState:
    """FSRS memory state of one card. state: 1 learning, 2 review, 3 relearning; stability
    in days; difficulty in [1, 10]; due and last_review in UTC (last_review None = never)."""

    state: int = 1
    step: int | None = 0
    stability: float | None = None
    difficulty: float | None = None
    due: datetime | None = None
    last_review: datetime | None = None

    def to_fsrs(self, card_id: int = 1) -> Card:
        return Card(card_id=card_id, state=State(self.state), step=self.step, stability=self.stability,
                    difficulty=self.difficulty, due=as_utc(self.due) if self.due else None,
                    last_review=as_utc(self.last_review) if self.last_review else None)

    @classmethod
    def from_fsrs(cls, c: Card) -> "CardState":
        return cls(int(c.state.value), c.step, c.stability, c.difficulty, c.due, c.last_review)


# Faster than this nobody has read the question: piped or pasted input, a script, a
# double-submit. Such a correct answer is Good, never Easy (3× for short answers, as fast_ms).
MIN_READ_MS = 1000


def rating_for(verdict: str, latency_ms: int | None, item_type: str, fast_ms: int) -> str:
    """Rating name from a verdict: wrong→again, partial→hard, correct→good, or easy when
    correct in [MIN_READ_MS, fast_ms] ms (both 3× for short answers); an unknown latency
    (None) is good. Raises ValueError for an unknown verdict."""
    if verdict == "wrong":
        return "again"
    if verdict == "partial":
        return "hard"
    if verdict != "correct":
        raise ValueError(f"unknown verdict {verdict!r}")
    k = 3 if item_type == "short" else 1
    return "easy" if latency_ms is not None and MIN_READ_MS * k <= latency_ms <= fast_ms * k else "good"


def verdict_for_rating(rating: str) -> tuple[str, float]:
    """A flashcard's self-rating as (verdict, score): again→wrong 0, hard→partial 0.5, good/easy→correct 1."""
    return {"again": ("wrong", 0.0), "hard": ("partial", 0.5), "good": ("correct", 1.0), "easy": ("correct", 1.0)}[rating]


class Schedule:
    """FSRS scheduler wrapper. desired_retention: target recall probability at the due date."""

    def __init__(self, desired_retention: float = 0.9):
        self.fsrs = Scheduler(desired_retention=desired_retention, enable_fuzzing=False)

    def review(self, state: CardState | None, rating: str, now: datetime, latency_ms: int | None = None) -> CardState:
        """The card after a review with `rating` at `now` (a new card when state is None)."""
        card = (state or CardState(due=now)).to_fsrs()
        card, _ = self.fsrs.review_card(card, _RATING[rating], review_datetime=as_utc(now), review_duration=latency_ms)
        return CardState.from_fsrs(card)

    def retrievability(self, state: CardState, now: datetime) -> float:
        """Predicted recall probability in [0, 1] at `now` (0 for a never-reviewed card)."""
        if state.last_review is None:
            return 0.0
        return float(self.fsrs.get_card_retrievability(state.to_fsrs(), as_utc(now)))
