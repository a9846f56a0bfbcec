"""An optional LLM judge for `tutor eval --answers --judge GGUF`: for each answered item the
judge model reads the question, the reference answer and the tutor's answer (prompts/judge.en.md)
and replies with JSON constrained by a JSON schema (llama.cpp turns the schema into a grammar,
so the reply is JSON of that shape unless generation stops early). Verdicts map to
judge_correct 1 / 0.5 / 0. A reply that is not a valid verdict, or any error of the model, is a
failure: recorded per item as judge_error, counted in the report's judge_failures, never
averaged in (LLM-as-a-judge: Zheng et al. 2023, arXiv:2306.05685; its biases apply, so the
judge's figure is reported beside, not instead of, the deterministic metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

SCORES = {"correct": 1.0, "partly": 0.5, "wrong": 0.0}
MAX_TOKENS = 96  # a verdict and one short reason; a longer reply is cut and fails validation


class Verdict(BaseModel):
    verdict: Literal["correct", "partly", "wrong"]
    reason: str = ""


SCHEMA = {"type": "object", "properties": {"verdict": {"type": "string", "enum": list(SCORES)}, "reason": {"type": "string"}},
          "required": ["verdict", "reason"]}


class Judge:
    """A judge over an in-process llama.cpp model (`tutor.llm.LlamaCppLLM`) at temperature 0.
    name: the GGUF's file name."""

    def __init__(self, llm, prompts, name: str):
        self.llm, self.prompts, self.name = llm, prompts, name

    @classmethod
    def load(cls, path: Path, settings) -> Judge:
        """Load the GGUF at `path` with the tutor's settings (threads, n_ctx, seed) at temperature
        0. Raises ModelMissing / ModelInvalid (one line, like TUTOR_MODEL_PATH)."""
        from tutor.llm import LlamaCppLLM
        from tutor.prompts import Prompts

        llm = LlamaCppLLM(Path(path), n_ctx=settings.n_ctx, n_gpu_layers=settings.n_gpu_layers, threads=settings.threads,
                          temperature=0.0, seed=settings.seed)
        return cls(llm, Prompts(settings.prompts_dir), Path(path).name)

    def grade(self, question: str, reference: str, answer: str) -> tuple[float | None, str | None]:
        """(judge_correct in {1, 0.5, 0}, None) or (None, why no verdict: one line)."""
        from tutor.rag.budget import trim_to_tokens

        part = max(64, (self.llm.n_ctx - MAX_TOKENS) // 4)  # question, reference and answer each fit a quarter of the window
        fit = [trim_to_tokens(t, part, self.llm.count_tokens) for t in (question, reference, answer)]
        prompt = self.prompts.render("judge", "en", question=fit[0], reference=fit[1], answer=fit[2])
        try:
            out = self.llm.llama.create_chat_completion(
                messages=[{"role": "user", "content": prompt}], temperature=0.0, max_tokens=MAX_TOKENS,
                response_format={"type": "json_object", "schema": SCHEMA})
            text = out["choices"][0]["message"]["content"] or ""
        except Exception as e:  # noqa: BLE001 — any model failure is one counted judge failure, not a crash of the eval
            return None, f"model error: {type(e).__name__}: {str(e)[:200]}"
        try:
            return SCORES[Verdict.model_validate_json(text).verdict], None
        except (ValidationError, ValueError):
            return None, f"no valid verdict in {text[:120]!r}"
