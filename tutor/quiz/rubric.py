"""Optional LLM rubric grader: with a capable chat model configured
(`TUTOR_QUIZ_LLM_GRADER=true`), the model reads the question, the reference, the key
points and the learner's answer and returns JSON (schema below, grammar-constrained) with
its own verdict and a one-paragraph explanation. Only the explanation is shown; the score
and verdict stay the deterministic grader's (grading.py), which works alone. The default
SmolLM2-135M is not capable enough, so this is off by default.
"""

from __future__ import annotations

from tutor.llm import LLM
from tutor.rag.budget import fit_part
from tutor.quiz.items import Item
from tutor.structured import complete_json

SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["correct", "partial", "wrong"]},
        "explanation": {"type": "string", "minLength": 1, "maxLength": 600},
    },
    "required": ["verdict", "explanation"],
}


def explain(llm: LLM, item: Item, answer: str, max_tokens: int = 300) -> dict:
    """{"verdict", "explanation"} from the model. Raises structured.BadJSON on an unusable reply."""
    kps = "\n".join(f"- {k}" for k in item.key_points) or "-"

    def messages(ans: str) -> list[dict]:
        user = (f"Question: {item.prompt}\nReference answer: {item.reference}\nKey points:\n{kps}\n\n"
                f"Learner's answer: {ans or '(empty)'}\n\n"
                "Grade the learner's answer against the key points: correct, partial or wrong. "
                "Explain in two or three sentences, in the question's language, what is right and what is missing.")
        return [{"role": "system", "content": "You are a strict, fair teacher. Reply with one JSON object."},
                {"role": "user", "content": user}]

    # the learner's answer is the only unbounded part: trim it to what the context window leaves
    return complete_json(llm, messages(fit_part(llm, messages, answer, max_tokens)), SCHEMA, max_tokens)
