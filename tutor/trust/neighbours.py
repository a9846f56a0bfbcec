"""Nearest-neighbour contrast for the coverage decision: is a question nearer to questions the
outline answers, or to questions it does not?

The logistic coverage model (coverage.py) weighs a few similarity and term signals; a computing
question outside ML ("How does BGP pick a route?", "What is false sharing?") shares enough words
and tone with chapters 8-9 and 15 to pass it, and a linear domain classifier cannot carve such
topics out of the systems chapters (session 45: adding systems negatives to it refused in-scope
questions). A k-nearest-neighbour rule is local: it compares the question with the K most
similar in-scope and the K most similar out-of-scope questions already written for this outline.

    margin = mean of the K largest cosines to out-of-scope questions
           − mean of the K largest cosines to in-scope texts                    (K = 3)

margin > VETO_MARGIN (0): the question's nearest neighbours are out of scope: not covered, unless
one note holds every term of the question (Retriever.search: 「Python 的 GIL 是什么？」 sits among
systems questions, but 8.1.1 explains the GIL).
margin < RESCUE_MARGIN (−0.15): the nearest are in scope by a clear gap: covered, even when the
logistic model's relevance is below the threshold (a colloquial symptom question whose terms
are not the notes'). In between, the logistic model decides alone.

The bank (`question_bank.npz` beside this file; built by `evals/coverage/build_bank.py`) holds
USE multilingual v3 vectors of the in-scope texts (every note's quiz questions, card fronts, key
points and titles; the tuning sets' and seen blind rounds' in-scope questions) and out-of-scope
questions (the tuning sets' and seen blind rounds' ones, and 320 computing questions outside ML),
projected on their first DIM principal axes (PCA), re-normalised and stored as int8 (× 127):
about 4 MB instead of 35. It applies only to the embedder it was built with (name and dimension).
Measured on blind rounds the bank did not hold: evals/sets/RETRIEVAL_NOTES.md (session 46).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BANK_FILE = Path(__file__).with_name("question_bank.npz")
K = 3
VETO_MARGIN = 0.0
RESCUE_MARGIN = -0.15
ENABLED = True  # switched off for comparisons (evals)


@dataclass(frozen=True)
class QuestionBank:
    """mean: (d,) float32 and axes: (d, DIM) float32, the PCA projection; inside: (n, DIM) and
    outside: (m, DIM) float32 unit vectors; model: the embedder's name; info: provenance."""

    mean: np.ndarray
    axes: np.ndarray
    inside: np.ndarray
    outside: np.ndarray
    model: str
    info: dict

    def margin(self, qvec: list[float] | None, model: str) -> float | None:
        """Contrast in [-2, 2] (module doc) for a question's plain vector under `model`; None
        when the bank is off, built for another model or dimension, or there is no vector."""
        if not ENABLED or qvec is None or model != self.model or len(qvec) != self.mean.shape[0]:
            return None
        z = (np.asarray(qvec, dtype=np.float32) - self.mean) @ self.axes
        n = float(np.linalg.norm(z))
        if n == 0.0:
            return None
        z /= n
        top = lambda m: float(np.sort(m @ z)[-K:].mean())
        return top(self.outside) - top(self.inside)


def decide(relevance: float, margin: float | None, threshold: float = 0.5) -> float:
    """The logistic relevance in [0, 1] after the neighbour rule: capped just under `threshold`
    when margin > VETO_MARGIN, raised to just over it when margin < RESCUE_MARGIN, else unchanged."""
    if margin is None:
        return relevance
    if margin > VETO_MARGIN:
        return min(relevance, threshold - 0.05)
    if margin < RESCUE_MARGIN:
        return max(relevance, threshold + 0.05)
    return relevance


@functools.lru_cache(maxsize=2)
def load(path: Path = BANK_FILE) -> QuestionBank | None:
    """The shipped bank, or None when the file does not exist."""
    if not path.is_file():
        return None
    with np.load(path) as z:
        info = json.loads(str(z["info"]))
        unit = lambda a: a.astype(np.float32) / 127.0
        inside, outside = unit(z["inside"]), unit(z["outside"])
        inside /= np.linalg.norm(inside, axis=1, keepdims=True)
        outside /= np.linalg.norm(outside, axis=1, keepdims=True)
        return QuestionBank(z["mean"].astype(np.float32), z["axes"].astype(np.float32), inside, outside, info["model"], info)
