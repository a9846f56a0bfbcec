"""Token budget: fit system prompt + retrieved notes + history + question + answer inside n_ctx.

Order of sacrifice (deliberate): the question is never dropped (only trimmed, with a notice,
when it alone does not fit); the best-ranked note group comes next; then the newest history
turns; then further note groups. Everything is dropped whole (a turn, a note group), except
the over-long question, cut at a character boundary, and a best note group that alone does
not fit: its last chunks go first (notice "notes_trimmed"), then characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from tutor.llm import SAFETY_TOKENS


@dataclass
class Fitted:
    """Result of fitting. groups: indexes of kept context groups (rank order); turns: kept
    history messages (oldest first); question: possibly trimmed; counts of what was dropped."""

    groups: list[int]
    turns: list[dict]
    question: str
    dropped_groups: int = 0
    dropped_turns: int = 0
    question_trimmed: bool = False
    prompt_tokens: int = 0
    notices: list[str] = field(default_factory=list)


def trim_to_tokens(text: str, max_tokens: int, count: Callable[[str], int]) -> str:
    """Longest prefix of text (whole characters) with count(prefix) <= max_tokens (binary search)."""
    if count(text) <= max_tokens:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(text[:mid]) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def fit_part(llm, build: Callable[[str], list[dict]], part: str, max_answer: int) -> str:
    """`part` trimmed (whole characters) so that the messages build(part) plus max_answer
    tokens fit llm.n_ctx: for calls with one unbounded input (a follow-up question, a quiz
    answer, a note body) and a fixed frame around it."""
    room = llm.n_ctx - llm.count_messages(build("")) - max_answer - SAFETY_TOKENS
    return trim_to_tokens(part, max(room, 1), llm.count_tokens)


def cost_of(render, count_message, groups: list[str], paras: list[str], question: str) -> int:
    """Tokens of the user message with group 0 cut to `paras` (its first paragraphs)."""
    saved = groups[0]
    groups[0] = "\n\n".join(paras)
    try:
        return count_message(render([0], question))
    finally:
        groups[0] = saved


def fit(n_ctx: int, max_answer: int, count_message: Callable[[str], int], count_text: Callable[[str], int],
        fixed: list[str], question: str, groups: list[str], history: list[dict],
        render: Callable[[list[int], str], str]) -> Fitted:
    """Choose what fits (groups[0] may be shortened in place). count_message(content) counts one message with its overhead;
    fixed: contents always sent (system prompt); render(group_indexes, question) → the final
    user message; history: [{"role", "content"}] oldest first. Raises nothing: in the worst
    case only the (trimmed) question is kept."""
    budget = n_ctx - max_answer - SAFETY_TOKENS - sum(count_message(f) for f in fixed)
    base = count_message(render([], question))
    out = Fitted(groups=[], turns=[], question=question)
    if base > budget:  # the question alone is too long: trim it, keep whole characters
        overhead = base - count_text(question)
        out.question = trim_to_tokens(question, max(budget - overhead, 1), count_text)
        out.question_trimmed = True
        out.notices.append("question_trimmed")
        base = count_message(render([], out.question))

    def cost(gs: list[int]) -> int:
        return count_message(render(gs, out.question))

    used = base
    # best group first, then history (newest first), then the remaining groups
    if groups and cost([0]) > budget and budget > base:
        # the best note alone is too long (several of its chunks retrieved): keep its first
        # chunks rather than nothing; groups[0] is shortened in place, so render() sees it
        paras = groups[0].split("\n\n")
        while len(paras) > 1 and cost_of(render, count_message, groups, paras, out.question) > budget:
            paras.pop()
        groups[0] = "\n\n".join(paras)
        if cost([0]) > budget:
            groups[0] = trim_to_tokens(groups[0], max(budget - base, 1), count_text)
        out.notices.append("notes_trimmed")
    if groups and cost([0]) <= budget:
        out.groups = [0]
        used = cost([0])
    for turn in reversed(history):
        c = count_message(turn["content"])
        if used + c > budget:
            break
        out.turns.insert(0, turn)
        used += c
    for g in range(1, len(groups)):
        trial = out.groups + [g]
        extra = cost(trial) - cost(out.groups)
        if used + extra <= budget:
            out.groups = trial
            used += extra
    out.dropped_groups = len(groups) - len(out.groups)
    out.dropped_turns = len(history) - len(out.turns)
    if out.dropped_turns:
        out.notices.append("history_dropped")
    if out.dropped_groups:
        out.notices.append("notes_dropped")
    out.prompt_tokens = used + sum(count_message(f) for f in fixed)
    return out
