"""How an answer reaches the learner (`answer_mode`): decided per model, by measurement.

- "quotes_first": the cited note sentences most relevant to the question (the extractive
  answer) at once, without calling the model; the model's explanation is asked for separately
  (`mode="checked"`, the app's 讲解 Explain button, `tutor ask --mode checked`).
- "checked": the model writes the answer, but its draft is checked before it is shown: the
  stream carries ("draft", piece) events (progress, not for display) and one final ("replace",
  text) with what passed the check (or the strict retry, or the quotes).
- "stream": the model's tokens are shown as they come (the check may still replace them).
- "auto": "quotes_first" for a model whose measured share of answers that pass the check is
  under ACCEPTANCE_BAR; otherwise "checked" with the answer check on, "stream" with it off.

Why: with a model whose answers are nearly always replaced, streaming shows the learner text
that is withdrawn before their eyes, and they wait for it (issues 15 and 17).
"""

from __future__ import annotations

from tutor.errors import TutorError
from tutor.wording import w

MODES = ("auto", "quotes_first", "checked", "stream")
ACCEPTANCE_BAR = 0.5  # under half of the answers kept: quotes first

# model file-name prefix → (answers kept as the model's own, answers that reached the model, where measured).
# Measured out of sample where possible: the in-sample v6 run (REPORT.md §2) kept 2 of 120.
MEASURED = {
    "SmolLM2-135M-Instruct": (0, 31, "evals/trust/REPORT.md §3: a stratified sample of the round-3 blind sets "
                              "(one question per chapter and language), `checked` mode; out of sample"),
}


# The strict retry (tutor/rag/chat.py) after a rejected answer: model file-name prefix →
# (retries whose answer passed the check, retries run, where measured). A model under
# RETRY_BAR goes from a rejected answer straight to the quoted notes: for SmolLM2 the retry
# never produced an answer that stands and cost ~0.4 of an Explain (README "Performance").
RETRY_BAR = 0.05
RETRY_MEASURED = {
    "SmolLM2-135M-Instruct": (0, 118, "evals/trust/REPORT.md §2, v6 run: 0 of 118 retries kept (v5: 2 kept, both "
                              "garbage when read); the set the guard was developed on: in-sample"),
}


class BadMode(TutorError):
    """answer_mode not one of MODES."""


def measured(model_name: str) -> tuple[int, int] | None:
    """(answers kept, answers measured) for the model (MEASURED), or None if unmeasured."""
    for prefix, (kept, total, _) in MEASURED.items():
        if model_name.startswith(prefix):
            return kept, total
    return None


def acceptance(model_name: str) -> float | None:
    """Measured share in [0, 1] of the model's answers that passed the check, or None if unmeasured."""
    m = measured(model_name)
    return m[0] / m[1] if m else None


def resolve(mode: str, model_name: str, answer_check: bool) -> str:
    """The concrete mode ("quotes_first" | "checked" | "stream") for `mode` (one of MODES).
    Raises BadMode for anything else."""
    if mode not in MODES:
        raise BadMode(w("error.bad_mode", mode=mode, choices=", ".join(MODES)))
    if mode != "auto":
        return mode
    rate = acceptance(model_name)
    if rate is not None and rate < ACCEPTANCE_BAR:
        return "quotes_first"
    return "checked" if answer_check else "stream"


def retry_worthwhile(model_name: str, setting: str = "auto") -> bool:
    """Whether a rejected answer gets the strict retry before the quoted notes. setting:
    "on" | "off" | "auto" (TUTOR_STRICT_RETRY); auto = yes unless the model's measured share of
    kept retries is under RETRY_BAR (unmeasured models keep the retry)."""
    if setting != "auto":
        return setting == "on"
    for prefix, (kept, total, _) in RETRY_MEASURED.items():
        if model_name.startswith(prefix):
            return kept / total >= RETRY_BAR
    return True
