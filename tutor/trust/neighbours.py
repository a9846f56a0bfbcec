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

The same bank also votes in the note ranking: each in-scope text is labelled with the topic note
it is about, and `QuestionBank.nearest_notes` ranks notes by a weighted vote of the 8 nearest
labelled texts (retrieve.with_neighbour_vote fuses that with the search's own order).

The bank (`question_bank.npz` beside this file; built by `evals/coverage/build_bank.py`) holds
USE multilingual v3 vectors of the in-scope texts (every note's quiz questions, card fronts, key
points and titles; the tuning sets' and seen blind rounds' in-scope questions) and out-of-scope
questions (the tuning sets' and seen blind rounds' ones, and 320 computing questions outside ML),
projected on their first 256 principal axes (PCA), re-normalised and stored as int8 (× 127):
about 4 MB instead of 40 as float32. It applies only to the embedder it was built with (name and dimension).
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
VOTE_DEPTH = 10  # most notes nearest_notes returns (the k-NN itself gives at most VOTE_NEIGHBOURS)
VOTE_FLOOR = 0.6  # the nearest text's cosine under which nothing votes
VOTE_NEIGHBOURS = 8  # labelled texts that vote (weighted k-NN)
VOTE_TAU = 0.05  # a vote's weight exp((cosine - 1) / VOTE_TAU): 0.05 lower cosine weighs e^-1 as much
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
    labels: tuple[str, ...] = ()  # per inside row: the topic note it is about ("" for none)

    def _unit(self, qvec: list[float] | None, model: str) -> np.ndarray | None:
        """The question's projected unit vector, or None (off, another model or dimension, no vector)."""
        if not ENABLED or qvec is None or model != self.model or len(qvec) != self.mean.shape[0]:
            return None
        z = (np.asarray(qvec, dtype=np.float32) - self.mean) @ self.axes
        n = float(np.linalg.norm(z))
        return z / n if n else None

    def nearest_notes(self, qvec: list[float] | None, model: str, n: int = VOTE_DEPTH) -> list[str]:
        """Topic note ids, best first, by a weighted k-nearest-neighbour vote: the VOTE_NEIGHBOURS
        labelled in-scope texts nearest the question (quiz questions, key points, titles, questions
        written for a note) each add exp((cosine − 1) / VOTE_TAU) to their note. Up to n ids, only
        notes with a vote; [] when `margin` would be None, the bank has no labels, or the nearest
        labelled text's cosine is under VOTE_FLOOR."""
        z = self._unit(qvec, model)
        if z is None or not self.labels:
            return []
        names, rows, labelled = _label_index(self.labels)
        sims = (self.inside @ z)[labelled]
        if not len(sims) or float(sims.max()) < VOTE_FLOOR:
            # no vote when even the nearest text is far: the labels then guess (a term question such as
            # 「梯度检查点解决什么问题？」 sits at 0.57 from a gradient-visualisation question, and under
            # 0.6 a blind question's nearest label was right 88% of the time, above it 98%; session 46)
            return []
        top = np.argpartition(-sims, min(VOTE_NEIGHBOURS, len(sims)) - 1)[:VOTE_NEIGHBOURS]
        score = np.zeros(len(names))
        # several close texts of one note outvote a single slightly closer text of another: the
        # nearest-text rule (session 46) let one stray question decide; session 47 measured both
        np.add.at(score, rows[labelled][top], np.exp((sims[top] - 1.0) / VOTE_TAU))
        order = [i for i in np.argsort(-score, kind="stable") if score[i] > 0]
        return [names[i] for i in order[:n]]

    def margin(self, qvec: list[float] | None, model: str) -> float | None:
        """Contrast in [-2, 2] (module doc) for a question's plain vector under `model`; None
        when the bank is off, built for another model or dimension, or there is no vector."""
        z = self._unit(qvec, model)
        if z is None:
            return None
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


@functools.lru_cache(maxsize=4)
def _label_index(labels: tuple[str, ...]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(distinct labels, each row's index into them, the rows with a label), computed once per bank."""
    names = sorted(set(labels))
    where = {lab: i for i, lab in enumerate(names)}
    return names, np.array([where[lab] for lab in labels], dtype=np.int64), np.flatnonzero([bool(lab) for lab in labels])


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
        labels = tuple(str(x) for x in z["labels"]) if "labels" in z.files else ()
        return QuestionBank(z["mean"].astype(np.float32), z["axes"].astype(np.float32), inside, outside, info["model"], info, labels)
