"""Generated quiz items: the LLM writes new items for a note, constrained to a JSON schema
(a llama.cpp grammar, see structured.py), then each is validated:

- the item's key terms occur in the note (answerable from it): for a short item, at least
  half of each key point's content words; for a choice item, the right option's; for a
  card, the back's;
- choice: options distinct, exactly one marked correct;
- no empty fields, nothing copied from the question into the answer.

An item that fails is asked for again once, with the validation error in the prompt;
failing twice it is dropped. Kept items are stored with the note's hash (progress.py) and
the bank ignores them once the note changes, until `regenerate` runs again.
Deliberately not here: the bank itself (items.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tutor.corpus import Note
from tutor.errors import TutorError
from tutor.llm import LLM
from tutor.quiz.grading import terms
from tutor.rag.budget import fit_part
from tutor.structured import BadJSON, complete_json

SCHEMAS = {
    "choice": {
        "type": "object",
        "properties": {
            "question": {"type": "string", "minLength": 4, "maxLength": 200},
            "options": {"type": "array", "minItems": 4, "maxItems": 4, "items": {
                "type": "object",
                "properties": {"text": {"type": "string", "minLength": 1, "maxLength": 120}, "correct": {"type": "boolean"}},
                "required": ["text", "correct"]}},
            "explanation": {"type": "string", "minLength": 1, "maxLength": 300},
        },
        "required": ["question", "options", "explanation"],
    },
    "short": {
        "type": "object",
        "properties": {
            "question": {"type": "string", "minLength": 4, "maxLength": 200},
            "reference": {"type": "string", "minLength": 4, "maxLength": 400},
            "key_points": {"type": "array", "minItems": 1, "maxItems": 4, "items": {"type": "string", "minLength": 2, "maxLength": 120}},
        },
        "required": ["question", "reference", "key_points"],
    },
    "card": {
        "type": "object",
        "properties": {"front": {"type": "string", "minLength": 4, "maxLength": 200},
                       "back": {"type": "string", "minLength": 2, "maxLength": 300}},
        "required": ["front", "back"],
    },
}

_ASK = {
    "choice": "Write one single-choice question with exactly 4 options, exactly one of them correct, and a short explanation.",
    "short": "Write one short-answer question, its reference answer and 1-3 key points the answer must contain.",
    "card": "Write one flashcard: a front (a question) and a back (its answer).",
}


class Invalid(TutorError):
    """A generated item failed validation; str(e) says why (it is sent back to the model once)."""


@dataclass
class Outcome:
    """What generating one item did: payload (None when dropped), attempts (1 or 2), errors seen."""

    type: str
    payload: dict | None
    attempts: int
    errors: list[str] = field(default_factory=list)


def _supported(text: str, note_text: str, min_share: float = 0.5) -> bool:
    toks = set(terms(text))
    if not toks:
        return False
    found = sum(1 for t in toks if t in note_text)
    return found / len(toks) >= min_share


def validate(type_: str, obj: dict, note: Note) -> dict:
    """Check a generated object and return the bank payload ({"type", "prompt", ...}). Raises Invalid."""
    note_text = (note.body + "\n" + "\n".join(note.meta.key_points) + "\n" + note.meta.title + " " + note.meta.title_en).lower()
    if type_ == "choice":
        q = str(obj.get("question", "")).strip()
        opts = [(str(o.get("text", "")).strip(), bool(o.get("correct"))) for o in obj.get("options", []) if isinstance(o, dict)]
        texts = [t for t, _ in opts]
        if not q or len(opts) < 2 or any(not t for t in texts):
            raise Invalid("the question and every option must be non-empty")
        if len({t.lower() for t in texts}) != len(texts):
            raise Invalid("the options must be distinct")
        right = [k for k, (_, c) in enumerate(opts) if c]
        if len(right) != 1:
            raise Invalid(f"exactly one option must be correct, got {len(right)}")
        if not _supported(texts[right[0]], note_text):
            raise Invalid("the correct option is not supported by the note; use the note's own facts")
        return {"type": "choice", "prompt": q, "options": texts, "answer": right[0], "explanation": str(obj.get("explanation", "")).strip()}
    if type_ == "short":
        q, ref = str(obj.get("question", "")).strip(), str(obj.get("reference", "")).strip()
        kps = [str(k).strip() for k in obj.get("key_points", []) if str(k).strip()]
        if not q or not ref or not kps:
            raise Invalid("question, reference and key_points must be non-empty")
        if ref.lower() == q.lower():
            raise Invalid("the reference answer repeats the question")
        bad = [k for k in kps if not _supported(k, note_text)]
        if bad:
            raise Invalid(f"key point not found in the note: {bad[0][:60]!r}; use the note's own facts")
        return {"type": "short", "prompt": q, "reference": ref, "key_points": kps}
    if type_ == "card":
        front, back = str(obj.get("front", "")).strip(), str(obj.get("back", "")).strip()
        if not front or not back:
            raise Invalid("front and back must be non-empty")
        if back.lower() == front.lower():
            raise Invalid("the back repeats the front")
        if not _supported(back, note_text):
            raise Invalid("the back is not supported by the note; use the note's own facts")
        return {"type": "card", "prompt": front, "reference": back}
    raise Invalid(f"unknown item type {type_!r}")


def _messages(note: Note, type_: str, error: str | None, max_chars: int, llm: LLM | None = None,
              max_tokens: int = 0) -> list[dict]:
    facts = "\n".join(f"- {k}" for k in note.meta.key_points)

    def build(body: str) -> list[dict]:
        user = (f"Note {note.id}: {note.meta.title} ({note.meta.title_en})\nKey points:\n{facts}\n\n{body}\n\n"
                f"{_ASK[type_]} Use only facts from this note. Write in the note's language. Reply with JSON only.")
        msgs = [{"role": "system", "content": "You write quiz items for a tutor. Reply with one JSON object."},
                {"role": "user", "content": user}]
        if error:
            msgs.append({"role": "user", "content": f"Your previous item was rejected: {error}. Write a corrected item."})
        return msgs

    body = note.body[:max_chars]
    if llm is not None:  # the note body is the part that gives way to the context window
        body = fit_part(llm, build, body, max_tokens)
    return build(body)


def generate_item(llm: LLM, note: Note, type_: str, max_tokens: int = 400, max_chars: int = 1500) -> Outcome:
    """Ask for one item of `type_`; validate; retry once with the error; else drop (payload None)."""
    errors: list[str] = []
    for attempt in (1, 2):
        try:
            obj = complete_json(llm, _messages(note, type_, errors[-1] if errors else None, max_chars, llm, max_tokens),
                                SCHEMAS[type_], max_tokens)
            return Outcome(type_, validate(type_, obj, note), attempt, errors)
        except (BadJSON, Invalid) as e:
            errors.append(str(e))
    return Outcome(type_, None, 2, errors)
