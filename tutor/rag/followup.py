"""Follow-up questions that name no topic (「那它的缺点呢？」): what to search for instead.

With `rewrite_followups` on, the LLM rewrites the follow-up into a standalone question
(prompts/rewrite.<lang>.md); a rewrite that is empty, in another language or rambling is
discarded. Otherwise, or then, the last user question is prepended to the follow-up. The
tiny default model rewrites poorly, hence the setting is off by default.
"""

from __future__ import annotations

import re

from tutor.llm import LLM
from tutor.prompts import Prompts
from tutor.rag.budget import fit_part
from tutor.text import detect_lang, strip_control

_PRONOUN = re.compile(r"它|这个|那个|这种|那种|该方法|^那|^这|\b(it|its|they|them|this|that|these|those)\b", re.I)
HISTORY_TURNS = 4  # the rewrite sees the last two exchanges
MAX_REWRITE_TOKENS = 64


def rewrite(llm: LLM, prompts: Prompts, history: list[dict], question: str, lang: str) -> str | None:
    """Standalone version of `question` written by the LLM, or None when it is unusable."""
    convo = "\n".join(f"{t['role']}: {t['content'][:300]}" for t in history[-HISTORY_TURNS:])

    def build(q: str) -> list[dict]:
        return [{"role": "user", "content": prompts.render("rewrite", lang, history=convo, question=q)}]

    # the question is the only unbounded part: trim it to what the context window leaves
    messages = build(fit_part(llm, build, question, MAX_REWRITE_TOKENS))
    out = strip_control(llm.complete(messages, MAX_REWRITE_TOKENS)).strip().splitlines()
    text = out[0].strip() if out else ""
    if not text or detect_lang(text) != lang or len(text) > 3 * len(question) + 120:
        return None
    return text


def search_query(llm: LLM, prompts: Prompts, history: list[dict], question: str, lang: str, use_llm: bool) -> str:
    """The query to retrieve with for a follow-up that found nothing on its own."""
    prev = next((t["content"] for t in reversed(history) if t["role"] == "user"), "")
    if use_llm:
        better = rewrite(llm, prompts, history, question, lang)
        if better:
            return better
    return f"{prev}\n{question}"


def is_anaphoric(question: str, index) -> bool:
    """A short question that points back (它, 这个, it, that…) and names no outline topic."""
    from tutor.rag.retrieve import outline_matches

    return len(question) < 40 and bool(_PRONOUN.search(question)) and not outline_matches(question, index)
