"""The quiz item bank: every item written in a note's front matter (DESIGN.md §3) plus the
generated items stored in the progress database, each with a stable id and its note id.

Ids: `<note id>/<type>-<6 hex>`, e.g. `3.4.2/short-1a2b3c`; the hex is a hash of the item's
prompt text, so reordering items in a note keeps ids (and learners' FSRS cards), while
rewording a question makes a new item. Generated items are `<note id>/gen-<type>-<6 hex>`.

Deliberately not here: generating items (quiz_gen.py), grading (grading.py), storage
(progress.py). Generated items whose note changed since they were made (note hash differs)
are left out of the bank until regenerated.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from typing import Iterable

from tutor.corpus import Corpus, Note
from tutor.errors import TutorError
from tutor.wording import text as wording, w

TYPES = ("choice", "short", "card")


class UnknownItem(TutorError):
    """An item id that is not in the bank."""


class BadScope(TutorError):
    """A section or topic id outside the outline, or a scope with no items."""


@dataclass(frozen=True)
class Item:
    """One quiz item.

    type: "choice" | "short" | "card". prompt: the question (a card's front).
    options/answer: choice only (answer = 0-based index). reference: the model answer of a
    short item, or a card's back. key_points: what a short answer must mention.
    explanation: why the choice answer is right. generated: made by the LLM, not written in the note.
    """

    id: str
    note_id: str
    type: str
    prompt: str
    options: tuple[str, ...] = ()
    answer: int | None = None
    reference: str = ""
    key_points: tuple[str, ...] = ()
    explanation: str = ""
    generated: bool = False
    misconceptions: tuple[str, ...] = ()  # short only: common wrong answers (DESIGN §3); the grader fails them
    order: int = 0  # position in outline order (bank-wide), for "new topics in outline order"

    @property
    def answer_text(self) -> str:
        """The text that gives the answer away: the right option, the reference, or a card's back."""
        if self.type == "choice" and self.answer is not None:
            return self.options[self.answer]
        return self.reference

    def to_json(self) -> dict:
        d = asdict(self)
        d["options"], d["key_points"] = list(self.options), list(self.key_points)
        d["misconceptions"] = list(self.misconceptions)
        return d


def item_id(note_id: str, type_: str, prompt: str, generated: bool = False) -> str:
    """Stable id from note id, type and prompt text (see module doc)."""
    h = hashlib.sha1(f"{type_}\n{prompt.strip()}".encode("utf-8")).hexdigest()[:6]
    return f"{note_id}/{'gen-' if generated else ''}{type_}-{h}"


def note_hash(note: Note) -> str:
    """sha256 of the note file's bytes: generated items are tied to this."""
    return hashlib.sha256(note.path.read_bytes()).hexdigest()


def from_front_matter(note: Note) -> list[Item]:
    """The note's own quiz items as Items (order = position within the note)."""
    out = []
    for q in note.meta.quiz:
        if q.type == "choice":
            out.append(Item(item_id(note.id, "choice", q.question), note.id, "choice", q.question,
                            options=tuple(q.options), answer=q.answer, explanation=q.explanation))
        elif q.type == "short":
            out.append(Item(item_id(note.id, "short", q.question), note.id, "short", q.question,
                            reference=q.reference, key_points=tuple(q.key_points),
                            misconceptions=tuple(q.misconceptions)))
        else:
            out.append(Item(item_id(note.id, "card", q.front), note.id, "card", q.front, reference=q.back))
    return out


def from_generated(note_id: str, payload: dict) -> Item:
    """An Item from a stored generated-item payload (quiz_gen.GeneratedItem.payload)."""
    t = payload["type"]
    return Item(item_id(note_id, t, payload["prompt"], generated=True), note_id, t, payload["prompt"],
                options=tuple(payload.get("options", ())), answer=payload.get("answer"),
                reference=payload.get("reference", ""), key_points=tuple(payload.get("key_points", ())),
                explanation=payload.get("explanation", ""), generated=True)


@dataclass
class ItemBank:
    """All items, in outline order (note order, then the note's items, generated last).

    Build with `ItemBank.build(corpus, generated)` where generated maps note id →
    (note hash, [payload]) as stored; stale entries (hash differs from the note now) are skipped.
    """

    corpus: Corpus
    items: list[Item] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_id = {i.id: i for i in self.items}

    @classmethod
    def build(cls, corpus: Corpus, generated: dict[str, tuple[str, list[dict]]] | None = None) -> "ItemBank":
        generated = generated or {}
        order = {n.id: k for k, n in enumerate(corpus.outline.nodes)}
        items: list[Item] = []
        for note in sorted(corpus.notes.values(), key=lambda n: order.get(n.id, 10**9)):
            own = from_front_matter(note)
            gen: list[Item] = []
            if note.id in generated:
                h, payloads = generated[note.id]
                if h == note_hash(note):
                    gen = [from_generated(note.id, p) for p in payloads]
            seen = {i.id for i in items}
            for it in own + gen:
                if it.id not in seen:  # two identical prompts in one note are one item
                    items.append(replace(it, order=len(items)))
                    seen.add(it.id)
        return cls(corpus, items)

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._by_id

    def get(self, item_id: str) -> Item:
        """The item with this id. Raises UnknownItem."""
        try:
            return self._by_id[item_id]
        except KeyError:
            raise UnknownItem(w("error.unknown_item", item_id=item_id)) from None

    def note(self, item: Item) -> Note:
        return self.corpus.notes[item.note_id]

    def check_scope(self, scope: str | None) -> str | None:
        """Validate a section/topic/chapter id. Raises BadScope naming a valid example."""
        if scope in (None, ""):
            return None
        scope = str(scope).strip()
        if scope not in self.corpus.outline:
            kind = {1: "scope.chapter", 2: "scope.section", 3: "scope.topic"}.get(scope.count(".") + 1, "scope.outline")
            raise BadScope(w("error.unknown_scope", kind=wording(kind), scope=scope))
        return scope

    def select(self, scope: str | None = None, types: Iterable[str] | None = None) -> list[Item]:
        """Items whose note id is `scope` or below it (None = all), of the given types, in bank order."""
        types = set(types or TYPES)
        return [i for i in self.items if i.type in types and in_scope(i.note_id, scope)]

    def scopes_with_items(self) -> list[str]:
        """Chapter ids that have at least one item (for messages)."""
        return sorted({i.note_id.split(".")[0] for i in self.items}, key=int)


def in_scope(node_id: str, scope: str | None) -> bool:
    """True when node_id is scope itself or inside it ("3.4.2" is in "3" and "3.4", not "3.1")."""
    return scope is None or node_id == scope or node_id.startswith(scope + ".")
