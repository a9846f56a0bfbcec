"""The progress store (SQLAlchemy): users, FSRS cards, reviews and generated quiz items.

Default: SQLite at `Settings.progress_url` (`<home>/progress.db`) in WAL mode, so the UI
and a CLI quiz can read while another writes; PostgreSQL by URL
(`TUTOR_DATABASE_URL=postgresql+psycopg://user:pass@host/db`), several replicas on one
database. Both are tested with the same store tests; other SQLAlchemy URLs may work, untested.
Every review is committed the moment it is recorded: a process killed mid-quiz loses nothing
already answered. Times are stored as UTC. Writers never lose each other's updates: SQLite's
BEGIN IMMEDIATE lets one write transaction run at a time; on PostgreSQL (READ COMMITTED) a
write transaction first takes an advisory lock on its learner (or note), so two reviews of
one card apply one after the other on either backend.

Each review row also keeps the card's state before it (`prior`), so the learner can contest
an automatic grade (`contest`): the card is recomputed from that state with their own rating,
and the row keeps the grader's verdict and score for audit with the flag "contested".

Schema: Alembic migrations in tutor/quiz/migrations/versions/, run by `Progress(url)` (upgrade
to head) under a lock: SQLite's BEGIN IMMEDIATE, PostgreSQL's advisory lock, so processes
opening a fresh database at once wait for one another. Revision 0001 is the schema as the
code before migrations left it (create_all, then missing columns added); it brings such an
unversioned database up to it without touching its rows, then stamps it. To change the
schema: edit the models below, add a revision next to the others, by hand or with
`alembic -c tutor/quiz/migrations/alembic.ini -x url=sqlite:////tmp/p.db revision
--autogenerate --rev-id 0003 -m "what changes"` (on a database at head), and set SCHEMA_HEAD
to it; test_quiz_migrations fails while the models, the migrations and SCHEMA_HEAD disagree. A database written by a newer version
(a revision this one does not know) is refused, not downgraded.

Text is stored as given on both backends except what cannot be: lone surrogates (undecodable
input bytes) and NUL characters (PostgreSQL refuses them in text) become U+FFFD, on SQLite too.

Also here: mastery per topic and its roll-up per section and chapter, and export / import
of one user's progress as JSON. Deliberately not here: FSRS arithmetic (schedule.py).
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
import zlib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
    text as sql_text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tutor.errors import TutorError
from tutor.quiz.schedule import CardState, Schedule, as_utc
from tutor.text import clean_text
from tutor.wording import w

EXPORT_FORMAT = "tutor-progress"
EXPORT_VERSION = 1
PENDING = "pending"  # rating of a stored "check yourself" answer until the learner rates it
MIGRATIONS = Path(__file__).with_name("migrations")
SCHEMA_HEAD = "0002"  # the newest revision in migrations/versions (opening a database at it imports no Alembic)
CONNECT_TIMEOUT_S = 5  # PostgreSQL: an unreachable server fails the open within this, not minutes
_LOCKS = 0x7475746F  # "tuto": the first key of this store's PostgreSQL advisory locks


def _text(n: int):
    """VARCHAR(n) as SQLite has always had it (any length fits); TEXT on PostgreSQL, which
    would refuse longer values (migration 0002)."""
    return String(n).with_variant(Text(), "postgresql")


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(_text(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CardRow(Base):
    """One FSRS card per (user, item). state/step/stability/difficulty/due/last_review: schedule.CardState."""

    __tablename__ = "cards"
    __table_args__ = (UniqueConstraint("user_id", "item_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    item_id: Mapped[str] = mapped_column(_text(80))
    note_id: Mapped[str] = mapped_column(_text(20), index=True)
    item_type: Mapped[str] = mapped_column(_text(10))
    state: Mapped[int] = mapped_column(Integer)
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stability: Mapped[float | None] = mapped_column(Float, nullable=True)
    difficulty: Mapped[float | None] = mapped_column(Float, nullable=True)
    due: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_review: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reps: Mapped[int] = mapped_column(Integer, default=0)
    lapses: Mapped[int] = mapped_column(Integer, default=0)

    def card_state(self) -> CardState:
        return CardState(self.state, self.step, self.stability, self.difficulty, as_utc(self.due),
                         as_utc(self.last_review) if self.last_review else None)


class ReviewRow(Base):
    """One graded answer. score in [0,1]; verdict correct|partial|wrong|check (the grader's, kept
    when the learner contests it); rating again|hard|good|easy|pending: the rating the card was
    scheduled with; latency in ms. flags: machine flags (the grader's, e.g. "empty"; "hinted" /
    "answer_shown" for 1-2 / 3 hint steps; "self_rated"; "contested"). prior: the card before
    this review ({"card": state dict or None for a new card, "reps", "lapses"}; NULL in rows
    written before it existed). contest: the learner's own grade that replaced the grader's
    ({"time", "rating", "verdict", "score", "grader_rating"}), NULL when not contested."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    item_id: Mapped[str] = mapped_column(_text(80), index=True)
    note_id: Mapped[str] = mapped_column(_text(20), index=True)
    item_type: Mapped[str] = mapped_column(_text(10))
    answer: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(_text(10))
    rating: Mapped[str] = mapped_column(_text(10))
    latency_ms: Mapped[int | None] = mapped_column(Integer().with_variant(BigInteger(), "postgresql"), nullable=True)
    flags: Mapped[list | None] = mapped_column(JSON, nullable=True)
    prior: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    contest: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class GeneratedRow(Base):
    """LLM-generated quiz items of one note, tied to the note's hash at generation time."""

    __tablename__ = "generated_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    note_id: Mapped[str] = mapped_column(_text(20), index=True)
    note_hash: Mapped[str] = mapped_column(_text(64))
    model: Mapped[str] = mapped_column(_text(200))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass
class Review:
    """A stored review (times UTC). verdict / score: the grader's (for a contested answer too);
    flags and contest: as ReviewRow; grade_score: the score that counts (the learner's own
    when contested; 0 for an answer given after the hint showed it, flag "answer_shown": a right
    choice then made the note 50% mastered, review 22)."""

    time: datetime
    item_id: str
    note_id: str
    item_type: str
    answer: str
    score: float
    verdict: str
    rating: str
    latency_ms: int | None
    flags: list[str] = field(default_factory=list)
    contest: dict | None = None

    @property
    def contested(self) -> bool:
        return self.contest is not None

    @property
    def grade_score(self) -> float:
        if self.contest:
            return float(self.contest["score"])
        return 0.0 if "answer_shown" in self.flags else self.score


@dataclass
class Card:
    """A stored card: item, note and FSRS state."""

    item_id: str
    note_id: str
    item_type: str
    state: CardState
    reps: int
    lapses: int


def _fix(url: str) -> str:
    """What to change: a SQLite file under the data dir may be TUTOR_HOME's fault, a server URL is not."""
    return "fix TUTOR_DATABASE_URL or TUTOR_HOME" if url.startswith("sqlite") else "fix TUTOR_DATABASE_URL or start the database server"


class Progress:
    """The store. `Progress(url)` brings the database's schema to the newest migration (creating
    the tables in a new database). Raises Progress.Unavailable (a TutorError, one line) when the
    database cannot be opened or migrated; once open, any method raises SQLAlchemyError when
    the database fails (server gone, disk full), a write then leaving nothing half-stored."""

    class Unavailable(TutorError):
        """The database URL cannot be opened (bad URL, missing driver, unwritable path, server
        unreachable, a schema written by a newer version)."""

    class BadExport(TutorError):
        """An import file that is not a tutor progress export."""

    class NothingPending(TutorError):
        """A self-rating with no answer waiting for one."""

    class CannotContest(TutorError):
        """A contest with no automatic grade to replace (no answer, waiting for a self-rating,
        already self-rated or contested, stored before contests existed, card changed since)."""

    def __init__(self, url: str):
        self.url = url
        try:
            self.engine = store_engine(url)
            _migrate(self.engine)
        except Progress.Unavailable as e:
            self._dispose()
            raise Progress.Unavailable(f"cannot open the progress store {_shown(url)!r}: {e}; {_fix(url)}") from None
        except (SQLAlchemyError, ImportError, OSError) as e:
            self._dispose()
            e = e.orig if isinstance(e, DBAPIError) and e.orig is not None else e  # the driver's words
            raise Progress.Unavailable(f"cannot open the progress store {_shown(url)!r} ({e.__class__.__name__}: "
                                       f"{_first_line(e)}); {_fix(url)}") from None

    def _dispose(self) -> None:
        if getattr(self, "engine", None) is not None:
            self.engine.dispose()

    def close(self) -> None:
        self.engine.dispose()

    # -- users ----------------------------------------------------------------------------
    def _user_id(self, s: Session, name: str) -> int | None:
        """The user's id, None for an unknown name (reads only; the name as _t stores it)."""
        return s.scalar(select(User.id).where(User.name == _t(name)))

    def _ensure_user(self, name: str) -> int:
        """The user's id, creating the user first when needed (outside any open transaction:
        SQLite allows one writer, so a nested write transaction would wait for itself)."""
        with Session(self.engine) as s:
            uid = self._user_id(s, name)
        if uid is None:
            self._create_user(name)
            with Session(self.engine) as s:
                uid = self._user_id(s, name)
        return uid

    def _create_user(self, name: str) -> None:
        """Insert the user in its own transaction; another process inserting the same name at
        the same moment is not an error (the unique index decides, both then read one row)."""
        try:
            with Session(self.engine) as s, s.begin():
                if s.scalar(select(User.id).where(User.name == name)) is None:
                    s.add(User(name=name, created_at=datetime.now().astimezone()))
        except IntegrityError:
            pass

    def users(self) -> list[str]:
        """Every learner's name in code-point order (SQLite's, whatever the server's collation)."""
        with Session(self.engine) as s:
            return sorted(s.scalars(select(User.name)))

    # -- writes ---------------------------------------------------------------------------
    def record(self, user: str, item_id: str, note_id: str, item_type: str, answer: str, score: float, verdict: str,
               rating: str, latency_ms: int | None, now: datetime,
               state: CardState | Callable[[CardState | None], CardState] | None,
               flags: list[str] | None = None) -> CardState | None:
        """Store one review and the card's new FSRS state in one transaction, committed at once.

        state: the new state, or a function old state (None for a new card) → new state, called
        inside the transaction with the card row locked, so two reviews of one card at once
        (two tabs, two processes) are applied one after the other and neither is lost; None
        stores the review and leaves the card as it is (a "check yourself" answer waiting for
        the learner's own rating). flags: machine flags kept with the review (ReviewRow).
        The card's state before the review is kept with it (ReviewRow.prior, for `contest`).
        Text that is not valid Unicode (lone surrogates from undecodable input) or holds NUL
        characters is stored with U+FFFD in their place. Returns the stored state. Raises
        SQLAlchemyError when the database fails (nothing of this review is stored then)."""
        user, answer, item_id, note_id, item_type = _t(user), _t(answer), _t(item_id), _t(note_id), _t(item_type)
        uid = self._ensure_user(user)
        with Session(self.engine) as s, s.begin():
            _writing(s, f"user:{uid}")
            row = ReviewRow(user_id=uid, time=as_utc(now), item_id=item_id, note_id=note_id, item_type=item_type, answer=answer,
                            score=float(score), verdict=_t(verdict), rating=_t(rating), latency_ms=latency_ms,
                            flags=_tj(list(flags or [])))
            s.add(row)
            if state is None:
                return None
            new, row.prior = self._apply(s, uid, item_id, note_id, item_type, rating, state)
            return new

    def rate_pending(self, user: str, item_id: str, rating: str, verdict: str, score: float,
                     state: Callable[[CardState | None], CardState]) -> CardState:
        """Give the learner's own rating to their latest unrated review of this item (recorded
        with state=None) and schedule the card. Raises Progress.NothingPending."""
        item_id = _t(item_id)
        with Session(self.engine) as s:
            uid = self._user_id(s, user)
        with Session(self.engine) as s, s.begin():
            if uid is not None:
                _writing(s, f"user:{uid}")
            row = s.scalar(select(ReviewRow).where(ReviewRow.user_id == uid, ReviewRow.item_id == item_id,
                                                   ReviewRow.rating == PENDING).order_by(ReviewRow.id.desc()).limit(1)
                           .with_for_update()) if uid is not None else None
            if row is None:
                raise Progress.NothingPending(w("error.nothing_pending", user=user, item_id=item_id))
            row.rating, row.verdict, row.score = _t(rating), _t(verdict), float(score)
            row.flags = [*(row.flags or []), "self_rated"]
            new, row.prior = self._apply(s, uid, item_id, row.note_id, row.item_type, rating, state)
            return new

    def contest(self, user: str, item_id: str,
                decide: Callable[[Review, CardState | None], tuple[str, str, float, CardState]],
                now: datetime) -> tuple[Review, CardState]:
        """Replace the automatic grade of the learner's latest answer to this item with their own.

        decide(review, prior) → (rating, verdict, score, new state) is called inside the
        transaction with the stored review (the grader's verdict) and the card's state before
        that review (None: it was a new card); it may raise to refuse. The card gets the new
        state with its reps / lapses as they were before the review plus this one rating, so the
        contested review counts once. The row keeps the grader's verdict and score, takes the new
        rating, the flag "contested" and `contest` (time `now`, the learner's rating, verdict,
        score, the grader's rating). Returns the review as it was and the new state.
        Raises Progress.CannotContest (one line saying what to do instead)."""
        item_id = _t(item_id)
        with Session(self.engine) as s:
            uid = self._user_id(s, user)
        with Session(self.engine) as s, s.begin():
            if uid is not None:
                _writing(s, f"user:{uid}")
            row = s.scalar(select(ReviewRow).where(ReviewRow.user_id == uid, ReviewRow.item_id == item_id)
                           .order_by(ReviewRow.id.desc()).limit(1).with_for_update()) if uid is not None else None
            if row is None:
                raise Progress.CannotContest(w("error.contest_no_answer", user=user, item_id=item_id))
            flags = list(row.flags or [])
            if row.rating == PENDING:
                raise Progress.CannotContest(w("error.contest_pending", item_id=item_id))
            if "contested" in flags or "self_rated" in flags:
                raise Progress.CannotContest(w("error.contest_done", item_id=item_id))
            card = s.scalar(select(CardRow).where(CardRow.user_id == uid, CardRow.item_id == item_id).with_for_update())
            if row.prior is None:
                raise Progress.CannotContest(w("error.contest_legacy", item_id=item_id))
            if card is None or card.last_review is None or as_utc(card.last_review) != as_utc(row.time):
                raise Progress.CannotContest(w("error.contest_stale", item_id=item_id))
            before = _review(row)
            prior = _state_from_json(row.prior.get("card"))
            rating, verdict, score, new = decide(before, prior)
            _set_state(card, new)
            card.reps = int(row.prior.get("reps", 0))
            card.lapses = int(row.prior.get("lapses", 0))
            _count(card, rating)
            rating, verdict = _t(rating), _t(verdict)
            row.contest = {"time": as_utc(now).isoformat(), "rating": rating, "verdict": verdict, "score": float(score),
                           "grader_rating": row.rating}
            row.rating = rating
            row.flags = [*flags, "contested"]
            return before, new

    @staticmethod
    def _apply(s: Session, uid: int, item_id: str, note_id: str, item_type: str, rating: str,
               state: CardState | Callable[[CardState | None], CardState]) -> tuple[CardState, dict]:
        """Review the card (created when new) in the open transaction; returns the new state and
        the card before it as ReviewRow.prior."""
        # FOR UPDATE locks the row on PostgreSQL; SQLite's BEGIN IMMEDIATE (_sqlite_begin) has
        # already locked the database for this transaction
        card = s.scalar(select(CardRow).where(CardRow.user_id == uid, CardRow.item_id == item_id).with_for_update())
        if card is None:
            card = CardRow(user_id=uid, item_id=item_id, note_id=note_id, item_type=item_type, reps=0, lapses=0)
            s.add(card)
        old = card.card_state() if card.state is not None else None
        prior = {"card": _state_json(old) if old else None, "reps": card.reps or 0, "lapses": card.lapses or 0}
        new = state(old) if callable(state) else state
        _set_state(card, new)
        _count(card, rating)
        return new, prior

    # -- reads ----------------------------------------------------------------------------
    def cards(self, user: str) -> dict[str, Card]:
        """All of a user's cards by item id ({} for an unknown user)."""
        with Session(self.engine) as s:
            uid = self._user_id(s, user)
            if uid is None:
                return {}
            rows = s.scalars(select(CardRow).where(CardRow.user_id == uid))
            return {r.item_id: Card(r.item_id, r.note_id, r.item_type, r.card_state(), r.reps, r.lapses) for r in rows}

    def due(self, user: str, now: datetime) -> list[Card]:
        """Cards due at `now` (due ≤ now), most overdue first."""
        now = as_utc(now)
        return sorted((c for c in self.cards(user).values() if c.state.due <= now), key=lambda c: (c.state.due, c.item_id))

    def reviews(self, user: str) -> list[Review]:
        """A user's reviews, oldest first."""
        return self._reviews(user, by_time=True)

    def reviews_in_commit_order(self, user: str) -> list[Review]:
        """A user's reviews in the order they were stored (row id), whatever their times."""
        return self._reviews(user, by_time=False)

    def _reviews(self, user: str, by_time: bool) -> list[Review]:
        with Session(self.engine) as s:
            uid = self._user_id(s, user)
            if uid is None:
                return []
            order = (ReviewRow.time, ReviewRow.id) if by_time else (ReviewRow.id,)
            rows = s.scalars(select(ReviewRow).where(ReviewRow.user_id == uid).order_by(*order))
            return [_review(r) for r in rows]

    # -- generated items ------------------------------------------------------------------
    def save_generated(self, note_id: str, note_hash: str, model: str, payloads: list[dict], now: datetime) -> None:
        """Replace the stored generated items of a note (two processes saving one note at once:
        the later replaces the earlier, never both kept). Raises SQLAlchemyError when the
        database fails."""
        note_id, note_hash, model = _t(note_id), _t(note_hash), _t(model)
        with Session(self.engine) as s, s.begin():
            _writing(s, f"note:{note_id}")
            for r in s.scalars(select(GeneratedRow).where(GeneratedRow.note_id == note_id)):
                s.delete(r)
            for p in payloads:
                s.add(GeneratedRow(note_id=note_id, note_hash=note_hash, model=model, payload=_tj(p), created_at=as_utc(now)))

    def generated(self) -> dict[str, tuple[str, list[dict]]]:
        """note id → (note hash, [payload]) of every stored generated item."""
        out: dict[str, tuple[str, list[dict]]] = {}
        with Session(self.engine) as s:
            for r in s.scalars(select(GeneratedRow).order_by(GeneratedRow.id)):
                out.setdefault(r.note_id, (r.note_hash, []))[1].append(r.payload)
        return out

    # -- export / import ------------------------------------------------------------------
    def export_user(self, user: str) -> dict:
        """One user's cards and reviews as a JSON-ready dict (format tutor-progress, version 1)."""
        def card_json(c: Card) -> dict:
            st = c.state
            return {"item_id": c.item_id, "note_id": c.note_id, "item_type": c.item_type, "reps": c.reps, "lapses": c.lapses,
                    "state": st.state, "step": st.step, "stability": st.stability, "difficulty": st.difficulty,
                    "due": st.due.isoformat(), "last_review": st.last_review.isoformat() if st.last_review else None}

        def review_json(r: Review) -> dict:
            d = asdict(r)
            d["time"] = r.time.isoformat()
            return d

        return {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "user": user,
                "cards": [card_json(c) for c in self.cards(user).values()], "reviews": [review_json(r) for r in self.reviews(user)]}

    def import_user(self, data: dict, user: str | None = None) -> dict:
        """Merge an export into `user` (default: the name in the export). Reviews already present
        (same time and item) are skipped; a card is replaced only by one reviewed later.
        Returns {"user", "reviews_added", "cards_updated"}. Raises Progress.BadExport."""
        if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
            raise Progress.BadExport(w("error.not_an_export"))
        if data.get("version") != EXPORT_VERSION:
            raise Progress.BadExport(w("error.export_version", version=data.get("version"), supported=EXPORT_VERSION))
        name = user or data.get("user")
        if not name:
            raise Progress.BadExport(w("error.export_no_user"))
        added = updated = 0
        try:
            uid = self._ensure_user(_t(str(name)))
            with Session(self.engine) as s, s.begin():
                _writing(s, f"user:{uid}")
                have = {(as_utc(t).isoformat(), i) for t, i in s.execute(
                    select(ReviewRow.time, ReviewRow.item_id).where(ReviewRow.user_id == uid))}
                for r in data.get("reviews", []):
                    t = as_utc(datetime.fromisoformat(r["time"]))
                    if (t.isoformat(), _t(r["item_id"])) in have:
                        continue
                    s.add(ReviewRow(user_id=uid, time=t, item_id=_t(r["item_id"]), note_id=_t(r["note_id"]),
                                    item_type=_t(r["item_type"]), answer=_t(r.get("answer", "")), score=float(r["score"]),
                                    verdict=_t(r["verdict"]), rating=_t(r["rating"]), latency_ms=r.get("latency_ms"),
                                    flags=_tj(list(r.get("flags") or [])), contest=_tj(r.get("contest"))))
                    added += 1
                for c in data.get("cards", []):
                    st = CardState(int(c["state"]), c.get("step"), c.get("stability"), c.get("difficulty"),
                                   as_utc(datetime.fromisoformat(c["due"])),
                                   as_utc(datetime.fromisoformat(c["last_review"])) if c.get("last_review") else None)
                    row = s.scalar(select(CardRow).where(CardRow.user_id == uid, CardRow.item_id == _t(c["item_id"])))
                    old = as_utc(row.last_review) if row is not None and row.last_review else None
                    if row is None:
                        row = CardRow(user_id=uid, item_id=_t(c["item_id"]), note_id=_t(c["note_id"]), item_type=_t(c["item_type"]))
                        s.add(row)
                    elif st.last_review is None or (old is not None and old >= st.last_review):
                        continue
                    _set_state(row, st)
                    row.reps, row.lapses = int(c.get("reps", 0)), int(c.get("lapses", 0))
                    updated += 1
        except (KeyError, TypeError, ValueError) as e:
            raise Progress.BadExport(w("error.export_malformed", error=f"{e.__class__.__name__}: {e}")) from None
        return {"user": name, "reviews_added": added, "cards_updated": updated}


def _review(r: ReviewRow) -> Review:
    return Review(as_utc(r.time), r.item_id, r.note_id, r.item_type, r.answer, r.score, r.verdict, r.rating, r.latency_ms,
                  list(r.flags or []), r.contest)


def _count(card: CardRow, rating: str) -> None:
    """One more review of the card: reps + 1, and a lapse for Again after the first."""
    card.reps = (card.reps or 0) + 1
    card.lapses = (card.lapses or 0) + (1 if rating == "again" and card.reps > 1 else 0)


def _state_json(st: CardState) -> dict:
    return {"state": st.state, "step": st.step, "stability": st.stability, "difficulty": st.difficulty,
            "due": as_utc(st.due).isoformat() if st.due else None,
            "last_review": as_utc(st.last_review).isoformat() if st.last_review else None}


def _state_from_json(d: dict | None) -> CardState | None:
    if not d:
        return None
    t = lambda v: as_utc(datetime.fromisoformat(v)) if v else None  # noqa: E731
    return CardState(int(d["state"]), d.get("step"), d.get("stability"), d.get("difficulty"), t(d.get("due")), t(d.get("last_review")))


def _set_state(row: CardRow, st: CardState) -> None:
    row.state, row.step, row.stability, row.difficulty = st.state, st.step, st.stability, st.difficulty
    row.due = as_utc(st.due)
    row.last_review = as_utc(st.last_review) if st.last_review else None


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # the driver's own implicit BEGIN is off; _sqlite_begin emits BEGIN IMMEDIATE instead
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=10000")
    _wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process; only power loss can drop the last commit
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _wal(cur, wait_s: float = 10.0) -> None:
    """Put the file in WAL mode, so readers don't block the writer (UI + CLI at once). The mode
    is stored in the file; switching a new file takes a lock that SQLite does not wait for
    (busy_timeout does not apply), so processes opening a new file at once retry for up to
    wait_s seconds. Raises sqlite3.OperationalError when it stays locked."""
    end = time.monotonic() + wait_s
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > end:
                raise
            time.sleep(0.02)


def _sqlite_begin(conn) -> None:
    # IMMEDIATE takes the write lock at the start, so a read-modify-write (a card's FSRS state)
    # cannot interleave with another process's, and two writers wait (busy_timeout) instead of
    # one failing on a stale WAL snapshot (SQLAlchemy docs, "pysqlite: serializable isolation")
    conn.exec_driver_sql("BEGIN IMMEDIATE")


# -- engine, migrations, locks --------------------------------------------------------------
def store_engine(url: str):
    """The store's engine for `url`: SQLite with WAL and BEGIN IMMEDIATE (its folder created);
    PostgreSQL with READ COMMITTED (what the locks below rely on), a connect timeout
    (CONNECT_TIMEOUT_S unless the URL sets connect_timeout) and pre-ping, so a restarted server
    costs no request. Raises SQLAlchemyError (bad URL), ImportError (driver), OSError (folder)."""
    u = make_url(url)
    kw: dict = {}
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:" and not u.database.startswith("file:"):
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    if u.get_backend_name() == "postgresql":
        kw.update(isolation_level="READ COMMITTED", pool_pre_ping=True)
        if "connect_timeout" not in u.query and u.get_driver_name() in ("psycopg", "psycopg2"):
            kw["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    engine = create_engine(u, **kw)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def alembic_config(connection=None):
    """The Alembic configuration of the store's migrations, from no file (nothing is read from
    the working directory, no logging is configured). connection: the one env.py migrates.
    Raises nothing (files are read when a command runs)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _revisions() -> tuple[str, frozenset[str]]:
    """(head revision, every known revision) of the shipped migrations."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return script.get_current_head(), frozenset(r.revision for r in script.walk_revisions())


def schema_revision(conn) -> str | None:
    """The database's schema revision (None: no version table, a new or pre-migration database).
    Raises SQLAlchemyError when the database cannot be read."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sql_text("SELECT version_num FROM alembic_version")).scalar()


def migration_lock(conn) -> None:
    """Hold, until this transaction ends, the lock under which the schema is migrated. PostgreSQL:
    an advisory lock (processes opening one new database at once create its tables once);
    SQLite: the transaction's BEGIN IMMEDIATE is that lock already. Raises SQLAlchemyError when
    the database fails."""
    if conn.dialect.name == "postgresql":
        conn.execute(sql_text("SELECT pg_advisory_xact_lock(:a, 0)"), {"a": _LOCKS})


def _migrate(engine) -> None:
    """Upgrade the database to the newest revision (nothing to do, the usual case: one read).
    Raises Progress.Unavailable for a revision this version does not know (written by a newer
    one) or one Alembic cannot migrate, SQLAlchemyError when the database cannot be reached or
    changed (nothing is changed then: the upgrade is one transaction on both backends)."""
    with engine.connect() as conn:
        if schema_revision(conn) == SCHEMA_HEAD:
            return
    from alembic import command
    from alembic.util import CommandError

    head, known = _revisions()
    with engine.begin() as conn:
        migration_lock(conn)
        current = schema_revision(conn)  # another process may have migrated it meanwhile
        if current is not None and current not in known:
            raise Progress.Unavailable(f"its schema (revision {current}) was written by a newer version of tutor "
                                       f"(this one knows up to {head}); upgrade tutor or use another database")
        if current != head:
            try:
                command.upgrade(alembic_config(conn), "head")
            except CommandError as e:
                raise Progress.Unavailable(f"its schema (revision {current}) cannot be migrated: {_first_line(e)}") from None


def _writing(s: Session, what: str) -> None:
    """Serialize this write transaction with every other one writing `what` ("user:<id>",
    "note:<id>"). PostgreSQL: a transaction-level advisory lock, so (READ COMMITTED) every
    statement after it sees what the one before committed; SQLite: BEGIN IMMEDIATE has already
    made this the only writer."""
    if s.get_bind().dialect.name == "postgresql":
        k = zlib.crc32(what.encode("utf-8"))
        s.execute(sql_text("SELECT pg_advisory_xact_lock(:a, :k)"), {"a": _LOCKS, "k": k - (1 << 32) if k >= 1 << 31 else k})


def _shown(url: str) -> str:
    """The URL as error messages show it: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _first_line(e: BaseException) -> str:
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else ""


def _t(v):
    """A string as the store keeps it: lone surrogates and NUL characters (PostgreSQL refuses
    them in text) as U+FFFD, on every backend; anything else unchanged."""
    if not isinstance(v, str):
        return v
    return clean_text(v)


def _tj(v):
    """JSON data with every string (keys too) as _t keeps it."""
    if isinstance(v, str):
        return _t(v)
    if isinstance(v, list):
        return [_tj(x) for x in v]
    if isinstance(v, dict):
        return {_t(k): _tj(x) for k, x in v.items()}
    return v


# -- mastery --------------------------------------------------------------------------------
RECENT = 5  # grades per topic that count as "recent"


@dataclass
class Mastery:
    """Mastery of one outline node. mastery in [0,1] (None: the node has no quiz items);
    for a note: the mean of its last RECENT review scores times its cards' mean FSRS
    retrievability now, 0 when never reviewed. For a section / chapter: the mean over the
    notes with items inside it (unreviewed ones count 0). seen / units: notes reviewed /
    notes with items; items / reviewed: quiz items inside and how many have a card; due: cards due now;
    own: the mastery of this node's own note alone (None when it has no items or was never reviewed)."""

    id: str
    title: str
    level: int
    mastery: float | None
    seen: int
    units: int
    items: int
    reviewed: int
    due: int
    reviews: int
    own: float | None = None

    def to_json(self) -> dict:
        return asdict(self)


EVIDENCE_ITEMS = 3  # a note is mastered only on this many of its items (or all, when it has fewer)


def note_mastery(reviews: list[Review], cards: list[Card], schedule: Schedule, now: datetime,
                 items: int = 1) -> float | None:
    """One note's mastery in [0, 1] from its reviews (oldest first) and cards; None when never
    reviewed. items: the note's quiz items; retrievability is averaged over at least
    min(items, EVIDENCE_ITEMS) cards, unreviewed ones counting 0 — one flashcard rated Good made
    a topic "100% mastered" (review 9)."""
    if not reviews:
        return None
    recent = [r.grade_score for r in reviews[-RECENT:]]
    retr = [schedule.retrievability(c.state, now) for c in cards]
    # a product, not a mean: right after a wrong answer FSRS retrievability is high (the answer
    # was just shown), yet nothing is mastered; a right answer long ago decays with retrievability
    return round(sum(recent) / len(recent) * sum(retr) / max(len(retr), min(items, EVIDENCE_ITEMS), 1), 4)


def mastery_table(store: Progress, user: str, bank, schedule: Schedule, now: datetime) -> dict[str, Mastery]:
    """Mastery of every outline node (chapter, section, topic) for a user, keyed by id."""
    from tutor.quiz.items import in_scope

    outline = bank.corpus.outline
    reviews, cards = store.reviews(user), store.cards(user)
    now_u = as_utc(now)
    by_note_rev: dict[str, list[Review]] = {}
    for r in reviews:
        if r.item_id in bank and r.rating != PENDING:  # an answer waiting for its self-rating has no grade yet
            by_note_rev.setdefault(r.note_id, []).append(r)
    by_note_cards: dict[str, list[Card]] = {}
    for c in cards.values():
        if c.item_id in bank:
            by_note_cards.setdefault(c.note_id, []).append(c)
    items_by_note: dict[str, int] = {}
    for it in bank.items:
        items_by_note[it.note_id] = items_by_note.get(it.note_id, 0) + 1
    unit = {nid: note_mastery(by_note_rev.get(nid, []), by_note_cards.get(nid, []), schedule, now_u, items_by_note[nid])
            for nid in items_by_note}
    out: dict[str, Mastery] = {}
    for node in outline.nodes:
        inside = [nid for nid in items_by_note if in_scope(nid, node.id)]
        vals = [unit[n] or 0.0 for n in inside]
        ncards = [c for n in inside for c in by_note_cards.get(n, [])]
        out[node.id] = Mastery(
            id=node.id, title=node.title, level=node.level,
            mastery=round(sum(vals) / len(vals), 4) if vals else None,
            seen=sum(1 for n in inside if unit[n] is not None), units=len(inside),
            items=sum(items_by_note[n] for n in inside), reviewed=len(ncards),
            due=sum(1 for c in ncards if c.state.due <= now_u),
            reviews=sum(len(by_note_rev.get(n, [])) for n in inside), own=unit.get(node.id))
    return out


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2)
