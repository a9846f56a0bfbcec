"""The learning path: what to study next, each step with its reason.

Order: 1) due reviews (FSRS cards due now, grouped by note, most overdue first);
2) weak topics — notes whose mastery is below MASTERED on enough answers (EVIDENCE_ITEMS, or
all their items) — whose prerequisites are mastered, weakest first, then topics begun on fewer
answers ("continue"); 3) new topics (notes with quiz items never reviewed): each section's first
before any section's second; among those, sections the learner has begun first, then outline
order (a chapter's overview counts with its first section: 「1 注意力机制详解」, 「1.1 标准注意力」
and 「1.1.1」 took three of eight places, review 21). A prerequisite with no quiz items cannot be
measured and does not block. Weak topics with an unmastered prerequisite are left out: the prerequisite
itself shows up as weak or new. Reasons are plain words in Chinese with English alongside
(tutor/wording.py "path.*"): 「薄弱：掌握度 40%，低于 80%；先修 1.1.1 注意力机制 已掌握（85%）/ weak:
mastery 40%, below 80%; prerequisite 1.1.1 Attention mastered (85%)」; a prerequisite never
practised reads 「尚未练习 / not practised yet」, never "—". Deliberately not here: computing
mastery (progress.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from tutor.wording import Text, join, percent, text

MASTERED = 0.8  # mastery at or above this counts as mastered (prerequisites, weak topics)


@dataclass
class Step:
    """One step. kind: "review" | "weak" | "continue" (started: fewer items answered than its
    mastery needs) | "new"; node_id/title: the note; reason: why now
    ("中文 / English", tutor/wording.py);
    item_ids: the items to do; mastery: the note's mastery in [0,1] (None when never reviewed)."""

    kind: str
    node_id: str
    title: str
    reason: str
    item_ids: list[str] = field(default_factory=list)
    mastery: float | None = None

    def to_json(self) -> dict:
        return asdict(self)


def section_of(node_id: str) -> str:
    """The section a note belongs to for new steps: "11.4.3" → "11.4", "11.4" → "11.4", and a chapter
    overview with its first section ("11" → "11.1")."""
    parts = node_id.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else f"{node_id}.1"


def learning_path(bank, table: dict, due_cards: list, now: datetime, n: int = 10) -> list[Step]:
    """Up to n steps. bank: items.ItemBank; table: progress.mastery_table(...); due_cards: progress.Progress.due(...)."""
    notes = bank.corpus.notes
    items_by_note: dict[str, list[str]] = {}
    for it in bank.items:
        items_by_note.setdefault(it.note_id, []).append(it.id)
    items_of = items_by_note
    order = {it.note_id: it.order for it in reversed(bank.items)}
    steps: list[Step] = []
    used: set[str] = set()

    due_by_note: dict[str, list] = {}
    for c in due_cards:
        if c.item_id in bank:
            due_by_note.setdefault(c.note_id, []).append(c)
    for nid, cards in sorted(due_by_note.items(), key=lambda kv: min(c.state.due for c in kv[1])):
        oldest = min(c.state.due for c in cards)
        days = max(0, (now - oldest).days)
        when = text("path.due_today") if days == 0 else text("path.overdue", days=days, s="" if days == 1 else "s")
        reason = text("path.review", n=len(cards), s="" if len(cards) == 1 else "s", when=when, mastery=percent(table[nid].own))
        steps.append(Step("review", nid, notes[nid].meta.title, str(reason), [c.item_id for c in cards], table[nid].own))
        used.add(nid)

    def title(p: str) -> Text:
        """" 注意力机制" / " Attention": the prerequisite's title after its id ('' when unknown)."""
        note = notes.get(p)
        if note is None:  # a prerequisite without a note: its outline title
            node = bank.corpus.outline.get(p)
            return Text.same(f" {node.title}" if node else "")
        return Text(f" {note.meta.title}", f" {note.meta.title_en or note.meta.title}")

    from tutor.quiz.progress import EVIDENCE_ITEMS

    def prereq_state(nid: str) -> tuple[bool, Text]:
        pre = [p for p in notes[nid].meta.prerequisites]
        if not pre:
            return True, text("path.no_prereqs")
        parts, ok = [], True
        for p in pre:
            if p not in items_of:  # no quiz items there: cannot be measured
                parts.append(text("path.prereq.no_quiz", id=p, title=title(p)))
                continue
            node = table[p]
            # a section or chapter: the mean over its notes, not its overview's own items (review 14:
            # 「先修 1.1 标准注意力 已掌握（100%）」 after one flashcard, its topics at 33% and 50%); and
            # mastered only on enough answers, as a topic is (EVIDENCE_ITEMS)
            mean = node.level < 3 and node.seen
            m = node.mastery if mean else node.own
            enough = node.reviewed >= min(node.items, EVIDENCE_ITEMS)
            if m is not None and m >= MASTERED and enough:
                parts.append(text("path.prereq.mastered_mean" if mean else "path.prereq.mastered", id=p, title=title(p),
                                  mastery=percent(m)))
            elif m is None:
                ok = False
                parts.append(text("path.prereq.unpractised", id=p, title=title(p)))
            else:
                ok = False
                parts.append(text("path.prereq.at_mean" if mean else "path.prereq.at", id=p, title=title(p),
                                  mastery=percent(m)))
        return ok, join(parts, "；", "; ")

    def evidence(nid: str) -> int:  # the items a note's mastery needs answered (progress.note_mastery)
        return min(table[nid].items, EVIDENCE_ITEMS)

    low = [nid for nid in items_by_note if nid not in used and table[nid].own is not None and table[nid].own < MASTERED]
    # below MASTERED on too few answers is no weakness: one flashcard rated Good is 33% (review 11
    # read "weak" beside the right answer it had just given); such notes come after the weak ones
    weak = [nid for nid in low if table[nid].reviewed >= evidence(nid)]
    started = [nid for nid in low if table[nid].reviewed < evidence(nid)]
    for kind, nids in (("weak", weak), ("continue", started)):
        for nid in sorted(nids, key=lambda i: (table[i].own, order[i])):
            ok, why = prereq_state(nid)
            if ok:
                if kind == "weak":
                    # a section's overview note: its own items, not the section's mean read in other lines
                    reason = text("path.weak_overview" if table[nid].level < 3 else "path.weak",
                                  mastery=percent(table[nid].own), target=percent(MASTERED), prereqs=why)
                else:
                    reason = text("path.continue", done=table[nid].reviewed, need=evidence(nid),
                                  mastery=percent(table[nid].own), prereqs=why)
                steps.append(Step(kind, nid, notes[nid].meta.title, str(reason), items_by_note[nid], table[nid].own))
                used.add(nid)

    new = [nid for nid in items_by_note if nid not in used and table[nid].own is None]
    begun = {section_of(nid) for nid in items_by_note if table[nid].own is not None}
    rank: dict[str, int] = {}  # the section's new notes before this one: a section's second waits for every first
    seen: dict[str, int] = {}
    for nid in sorted(new, key=lambda i: order[i]):
        rank[nid] = seen.get(section_of(nid), 0)
        seen[section_of(nid)] = rank[nid] + 1
    for nid in sorted(new, key=lambda i: (rank[i], section_of(i) not in begun, order[i])):
        _, why = prereq_state(nid)
        # a chapter or section whose topics were practised is not new, only its overview's items are
        # (review 29 read 「新主题」 beside 5 强化学习 right after answering 5.1 items)
        node = table[nid]
        reason = (text("path.new_overview", seen=node.seen, prereqs=why)
                  if node.level < 3 and node.seen else text("path.new", prereqs=why))
        steps.append(Step("new", nid, notes[nid].meta.title, str(reason), items_by_note[nid], None))
    return steps[:n]
