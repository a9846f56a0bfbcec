"""JSON output constrained by a JSON schema.

On llama.cpp the schema becomes a GBNF grammar (`response_format={"type": "json_object",
"schema": ...}`), so the model can only emit text the schema allows; the result is still
parsed and checked here, because a grammar cannot express every constraint (and a token
limit can cut the JSON short). Any other `LLM` (the scripted test model, a future server
backend) is asked in plain text and its reply parsed the same way.

Deliberately not here: what the JSON means (quiz_gen.py, grading.py check that).
"""

from __future__ import annotations

import json
import re

from tutor.errors import TutorError
from tutor.llm import LLM, Message


class BadJSON(TutorError):
    """The model's reply is not a JSON object matching the schema's required keys."""


def complete_json(llm: LLM, messages: list[Message], schema: dict, max_tokens: int = 512) -> dict:
    """One completion forced to `schema` where the backend supports grammars.

    Returns the parsed object. Raises BadJSON (message quotes the start of the reply) when
    the reply does not parse or lacks a required key, llm.PromptTooLong.
    """
    llama = getattr(llm, "llama", None)
    if llama is not None:
        messages, max_tokens = llm.prepare(messages, max_tokens)  # the budget and token guard of every call
        with llm.lock:
            out = llama.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=getattr(llm, "temperature", 0.0),
                top_k=1 if getattr(llm, "temperature", 0.0) == 0 else 40,
                response_format={"type": "json_object", "schema": schema})
        text = out["choices"][0]["message"].get("content") or ""
    else:
        text = llm.complete(messages, max_tokens)
    return parse_json(text, schema)


def parse_json(text: str, schema: dict) -> dict:
    """Parse the first JSON object in text and check the schema's required top-level keys."""
    m = re.search(r"\{.*\}", text, re.S)
    try:
        obj = json.loads(m.group(0) if m else text)
    except (json.JSONDecodeError, TypeError):
        raise BadJSON(f"reply is not valid JSON: {text[:80]!r}") from None
    if not isinstance(obj, dict):
        raise BadJSON(f"reply is not a JSON object: {text[:80]!r}")
    missing = [k for k in schema.get("required", []) if k not in obj]
    if missing:
        raise BadJSON(f"reply lacks required keys {missing}: {text[:80]!r}")
    return obj
