"""The progress store (SQLAlchemy): users, FSRS cards, reviews and generated quiz items.

Default: SQLite at `Settings.progress_url` (`<home>/progress.db`) in WAL mode, so the UI
and a CLI quiz can read while another writes; any SQLAlchemy URL works
(`TUTOR_DATABASE_URL=postgresql+psycopg://…` with the driver installed). Every review is
committed the moment it is recorded: a process killed mid-quiz loses nothing already
answered. Times are stored as UTC.

Also here: mastery per topic and its roll-up per section and chapter, and export / import
of one user's progress as JSON. Deliberately not here: FSRS arithmetic (schedule.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tutor.errors import TutorError
from tutor.quiz.schedule import CardState, Schedule, as_utc
from tutor.text import clean_text
from tutor.wording import w

EXPORT_FORMAT = "tutor-progress"
EXPORT_VERSION = 1
PENDING = "pending"  # rating of a stored "check yourself" answer until the learner rates it


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CardRow(Base):
    """One FSRS card per (user, item). state/step/stability/difficulty/due/last_review: schedule.CardState."""

    __tablename__ = "cards"
    __table_args__ = (UniqueConstraint("user_id", "item_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    item_id: Mapped[str] = mapped_column(String(80))
    note_id: Mapped[str] = mapped_column(String(20), index=True)
    item_type: Mapped[str] = mapped_column(String(10))
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
    """One graded answer. score in [0,1]; verdict correct|partial|wrong; rating again|hard|good|easy; latency in ms."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    item_id: Mapped[str] = mapped_column(String(80), index=True)
    note_id: Mapped[str] = mapped_column(String(20), index=True)
    item_type: Mapped[str] = mapped_column(String(10))
    answer: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(10))
    rating: Mapped[str] = mapped_column(String(10))
    latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)


class GeneratedRow(Base):
    """LLM-generated quiz items of one note, tied to the note's hash at generation time."""

    __tablename__ = "generated_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    note_id: Mapped[str] = mapped_column(String(20), index=True)
    note_hash: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass
class Review:
    """A stored review (times UTC)."""

    time: datetime
    item_id: str
    note_id: str
    item_type: str
    answer: str
    score: float
    verdict: str
    rating: str
    latency_ms: int | None


@dataclass
class Card:
    """A stored card: item, note and FSRS state."""

    item_id: str
    note_id: str
    item_type: str
    state: CardState
    reps: int
    lapses: int


class Progress:
    """The store. `Progress(url)` creates the tables if needed. Raises Progress.Unavailable
    (a TutorError) when the database cannot be opened."""

    class Unavailable(TutorError):
        """The database URL cannot be opened (bad URL, missing driver, unwritable path)."""

    class BadExport(TutorError):
        """An import file that is not a tutor progress export."""

    class NothingPending(TutorError):
        """A self-rating with no answer waiting for one."""

    def __init__(self, url: str):
        self.url = url
        try:
            if url.startswith("sqlite:///"):
                Path(url[len("sqlite:///"):]).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(url, future=True)
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
                event.listen(self.engine, "begin", _sqlite_begin)
            Base.metadata.create_all(self.engine)
        except (SQLAlchemyError, ImportError, OSError) as e:
            raise Progress.Unavailable(f"cannot open the progress store {url!r} ({e.__class__.__name__}: {str(e).splitlines()[0]}); "
                                       "fix TUTOR_DATABASE_URL or TUTOR_HOME") from None

    def close(self) -> None:
        self.engine.dispose()

    # -- users ----------------------------------------------------------------------------
    def _user_id(self, s: Session, name: str) -> int | None:
        """The user's id, None for an unknown name (reads only)."""
        return s.scalar(select(User.id).where(User.name == name))

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
        with Session(self.engine) as s:
            return list(s.scalars(select(User.name).order_by(User.name)))

    # -- writes ---------------------------------------------------------------------------
    def record(self, user: str, item_id: str, note_id: str, item_type: str, answer: str, score: float, verdict: str,
               rating: str, latency_ms: int | None, now: datetime,
               state: CardState | Callable[[CardState | None], CardState] | None) -> CardState | None:
        """Store one review and the card's new FSRS state in one transaction, committed at once.

        state: the new state, or a function old state (None for a new card) → new state, called
        inside the transaction with the card row locked, so two reviews of one card at once
        (two tabs, two processes) are applied one after the other and neither is lost; None
        stores the review and leaves the card as it is (a "check yourself" answer waiting for
        the learner's own rating). Text that is not valid Unicode (lone surrogates from
        undecodable input) is stored with U+FFFD in their place. Returns the stored state."""
        user, answer = clean_text(user), clean_text(answer)
        uid = self._ensure_user(user)
        with Session(self.engine) as s, s.begin():
            s.add(ReviewRow(user_id=uid, time=as_utc(now), item_id=item_id, note_id=note_id, item_type=item_type, answer=answer,
                            score=float(score), verdict=verdict, rating=rating, latency_ms=latency_ms))
            if state is None:
                return None
            return self._apply(s, uid, item_id, note_id, item_type, rating, state)

    def rate_pending(self, user: str, item_id: str, rating: str, verdict: str, score: float,
                     state: Callable[[CardState | None], CardState]) -> CardState:
        """Give the learner's own rating to their latest unrated review of this item (recorded
        with state=None) and schedule the card. Raises Progress.NothingPending."""
        with Session(self.engine) as s:
            uid = self._user_id(s, clean_text(user))
        with Session(self.engine) as s, s.begin():
            row = s.scalar(select(ReviewRow).where(ReviewRow.user_id == uid, ReviewRow.item_id == item_id,
                                                   ReviewRow.rating == PENDING).order_by(ReviewRow.id.desc()).limit(1)
                           .with_for_update()) if uid is not None else None
            if row is None:
                raise Progress.NothingPending(w("error.nothing_pending", user=user, item_id=item_id))
            row.rating, row.verdict, row.score = rating, verdict, float(score)
            return self._apply(s, uid, item_id, row.note_id, row.item_type, rating, state)

    @staticmethod
    def _apply(s: Session, uid: int, item_id: str, note_id: str, item_type: str, rating: str,
               state: CardState | Callable[[CardState | None], CardState]) -> CardState:
        # FOR UPDATE locks the row on PostgreSQL; SQLite's BEGIN IMMEDIATE (_sqlite_begin) has
        # already locked the database for this transaction
        card = s.scalar(select(CardRow).where(CardRow.user_id == uid, CardRow.item_id == item_id).with_for_update())
        if card is None:
            card = CardRow(user_id=uid, item_id=item_id, note_id=note_id, item_type=item_type, reps=0, lapses=0)
            s.add(card)
        new = state(card.card_state() if card.state is not None else None) if callable(state) else state
        _set_state(card, new)
        card.reps = (card.reps or 0) + 1
        card.lapses = (card.lapses or 0) + (1 if rating == "again" and (card.reps or 0) > 1 else 0)
        return new

    # -- reads ----------------------------------------------------------------------------
    def cards(self, user: str) -> dict[str, Card]:
        """All of a user's cards by item id ({} for an unknown user)."""
        with Session(self.engine) as s:
            uid = self._user_id(s, clean_text(user))
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
            uid = self._user_id(s, clean_text(user))
            if uid is None:
                return []
            order = (ReviewRow.time, ReviewRow.id) if by_time else (ReviewRow.id,)
            rows = s.scalars(select(ReviewRow).where(ReviewRow.user_id == uid).order_by(*order))
            return [Review(as_utc(r.time), r.item_id, r.note_id, r.item_type, r.answer, r.score, r.verdict, r.rating, r.latency_ms)
                    for r in rows]

    # -- generated items ------------------------------------------------------------------
    def save_generated(self, note_id: str, note_hash: str, model: str, payloads: list[dict], now: datetime) -> None:
        """Replace the stored generated items of a note."""
        with Session(self.engine) as s, s.begin():
            for r in s.scalars(select(GeneratedRow).where(GeneratedRow.note_id == note_id)):
                s.delete(r)
            for p in payloads:
                s.add(GeneratedRow(note_id=note_id, note_hash=note_hash, model=model, payload=p, created_at=as_utc(now)))

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
            uid = self._ensure_user(clean_text(str(name)))
            with Session(self.engine) as s, s.begin():
                have = {(as_utc(t).isoformat(), i) for t, i in s.execute(
                    select(ReviewRow.time, ReviewRow.item_id).where(ReviewRow.user_id == uid))}
                for r in data.get("reviews", []):
                    t = as_utc(datetime.fromisoformat(r["time"]))
                    if (t.isoformat(), r["item_id"]) in have:
                        continue
                    s.add(ReviewRow(user_id=uid, time=t, item_id=r["item_id"], note_id=r["note_id"], item_type=r["item_type"],
                                    answer=r.get("answer", ""), score=float(r["score"]), verdict=r["verdict"], rating=r["rating"],
                                    latency_ms=r.get("latency_ms")))
                    added += 1
                for c in data.get("cards", []):
                    st = CardState(int(c["state"]), c.get("step"), c.get("stability"), c.get("difficulty"),
                                   as_utc(datetime.fromisoformat(c["due"])),
                                   as_utc(datetime.fromisoformat(c["last_review"])) if c.get("last_review") else None)
                    row = s.scalar(select(CardRow).where(CardRow.user_id == uid, CardRow.item_id == c["item_id"]))
                    old = as_utc(row.last_review) if row is not None and row.last_review else None
                    if row is None:
                        row = CardRow(user_id=uid, item_id=c["item_id"], note_id=c["note_id"], item_type=c["item_type"])
                        s.add(row)
                    elif st.last_review is None or (old is not None and old >= st.last_review):
                        continue
                    _set_state(row, st)
                    row.reps, row.lapses = int(c.get("reps", 0)), int(c.get("lapses", 0))
                    updated += 1
        except (KeyError, TypeError, ValueError) as e:
            raise Progress.BadExport(w("error.export_malformed", error=f"{e.__class__.__name__}: {e}")) from None
        return {"user": name, "reviews_added": added, "cards_updated": updated}


def _set_state(row: CardRow, st: CardState) -> None:
    row.state, row.step, row.stability, row.difficulty = st.state, st.step, st.stability, st.difficulty
    row.due = as_utc(st.due)
    row.last_review = as_utc(st.last_review) if st.last_review else None


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # the driver's own implicit BEGIN is off; _sqlite_begin emits BEGIN IMMEDIATE instead
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer (UI + CLI at once)
    cur.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process; only power loss can drop the last commit
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn) -> None:
    # IMMEDIATE takes the write lock at the start, so a read-modify-write (a card's FSRS state)
    # cannot interleave with another process's, and two writers wait (busy_timeout) instead of
    # one failing on a stale WAL snapshot (SQLAlchemy docs, "pysqlite: serializable isolation")
    conn.exec_driver_sql("BEGIN IMMEDIATE")


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


def note_mastery(reviews: list[Review], cards: list[Card], schedule: Schedule, now: datetime) -> float | None:
    """One note's mastery from its reviews (oldest first) and cards; None when never reviewed."""
    if not reviews:
        return None
    recent = [r.score for r in reviews[-RECENT:]]
    retr = [schedule.retrievability(c.state, now) for c in cards] or [0.0]
    # a product, not a mean: right after a wrong answer FSRS retrievability is high (the answer
    # was just shown), yet nothing is mastered; a right answer long ago decays with retrievability
    return round(sum(recent) / len(recent) * sum(retr) / len(retr), 4)


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
    unit = {nid: note_mastery(by_note_rev.get(nid, []), by_note_cards.get(nid, []), schedule, now_u) for nid in items_by_note}
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
