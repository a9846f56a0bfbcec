"""Build the question bank of the nearest-neighbour coverage rule (tutor/trust/neighbours.py).

    TUTOR_HOME=… .venv/bin/python evals/coverage/build_bank.py                      # write tutor/trust/question_bank.npz
    TUTOR_HOME=… .venv/bin/python evals/coverage/build_bank.py --max-round 26 --out /tmp/bank26.npz   # a holdout bank

In scope: every note's quiz questions, card fronts, key points and titles (calibrate.corpus_positives),
each labelled with its topic note (an overview's: no label), and the in-scope questions of the tuning sets and of the blind rounds up to MAX_ROUND. Out of scope:
the out-of-scope questions of the same sets and tuning_oos_systems.jsonl. Questions are labelled
with their first expected id (the note ranking's vote, neighbours.QuestionBank.nearest_notes). A blind round joins the
bank only after it has been run once (as for the query adapters); the next fresh round is the
headline. Each text is embedded as `Retriever.search` embeds a question (calibrate.question_vectors),
then projected on the first DIM principal axes of all bank vectors, re-normalised and stored as
int8 (× 127) with its provenance.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibrate import SETS, corpus_positives, question_vectors

from tutor.config import Settings
from tutor.evaluate.evaluation import EvalSet
from tutor.trust.neighbours import BANK_FILE
from tutor.tutor import build_tutor

MAX_ROUND = 38  # the last blind round run (round 39 is the next headline)
DIM = 256  # PCA axes kept: 256 of USE's 512 lost nothing on rounds 27-34 (session 46)


def bank_sets(max_round: int) -> list[str]:
    """Set file names: the tuning sets, tuning_oos_systems.jsonl, and every single-question blind
    set whose round is at most max_round (the unnumbered blind_ch*.jsonl sets count as round 1)."""
    blind = []
    for f in sorted((ROOT / "evals" / "sets").glob("blind*_ch*.jsonl")) + sorted((ROOT / "evals" / "sets").glob("blind_ch*.jsonl")):
        m = re.match(r"blind(\d*)_", f.name)
        if m and int(m.group(1) or 1) <= max_round and f.name not in blind:
            blind.append(f.name)
    return SETS + ["tuning_oos_systems.jsonl"] + blind


class _One:
    """One note as a corpus (`corpus_positives` reads `.notes`): to label each text with its note."""

    def __init__(self, note):
        self.notes = {note.meta.id: note}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-round", type=int, default=MAX_ROUND)
    ap.add_argument("--out", type=Path, default=BANK_FILE)
    args = ap.parse_args()
    tutor = build_tutor(Settings())
    ml = tutor.index.multilingual
    if ml is None:
        sys.exit("build_bank: the multilingual embedder is off (TUTOR_MULTILINGUAL=false); turn it on to build the bank.")
    known = {n.id for n in tutor.corpus.outline.nodes}
    labelled: dict[str, str] = {}  # in-scope text → the topic note it is about ("" for an overview's texts)
    for n in tutor.corpus.notes.values():
        for text in corpus_positives(_One(n)):
            labelled.setdefault(text, n.meta.id if n.meta.id.count(".") == 2 else "")
    outside: list[str] = []
    names = bank_sets(args.max_round)
    for name in names:
        for it in EvalSet.load(ROOT / "evals" / "sets" / name, known):
            if it.out_of_scope:
                outside.append(it.question)
            else:
                labelled.setdefault(it.question, it.expected_ids[0])
    inside = sorted(labelled)
    outside = sorted(set(outside) - set(inside))
    vi, vo = (np.asarray(question_vectors(tutor, xs), dtype=np.float32) for xs in (inside, outside))
    allv = np.vstack([vi, vo])
    mean = allv.mean(axis=0)
    axes = np.linalg.svd(allv - mean, full_matrices=False)[2][:DIM].T.astype(np.float32)

    def pack(v: np.ndarray) -> np.ndarray:
        z = (v - mean) @ axes
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        return np.round(z * 127).astype(np.int8)

    info = {"model": ml.name, "dim": int(allv.shape[1]), "pca_dim": DIM, "max_round": args.max_round, "sets": names,
            "inside": len(inside), "outside": len(outside)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, mean=mean.astype(np.float32), axes=axes, inside=pack(vi), outside=pack(vo),
                        labels=np.array([labelled[t] for t in inside]), info=json.dumps(info))
    print(f"wrote {args.out}: {len(inside)} in scope, {len(outside)} out of scope, {len(names)} sets, {args.out.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
