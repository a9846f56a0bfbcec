"""Query adapters for the embedders: a learned linear map of query vectors, one per model.

Neither embedder was trained on learners' questions about this outline: under MiniLM "LLaMA's MLP
has three weight matrices — why?" sits far from the SwiGLU note, and under USE multilingual a
Chinese symptom question from its note. An adapter moves the QUERY vector only:
q' = (q + q·W) / ‖q + q·W‖, W a (d, d) matrix, so the chunk vectors in Chroma are unchanged and
no re-ingest is needed. This is the "embedding adapter" of Chroma's research report (Sanjeev &
Troynikov, "Embedding Adapters", 2024): a linear transform of query embeddings fitted on
(query, relevant document) pairs.

Each W is fitted by `evals/retrieval/train_adapter.py` on the tuning sets' questions and those of
the blind rounds already run and read (never on a round before its one blind run; MiniLM on the
English questions, USE on both languages): softmax over notes of each note's best-chunk cosine,
cross-entropy on the expected note, L2 on W; shipped scaled by 0.75 ("strength": at full strength
term questions lost their note). Its provenance records a second fit without rounds
21–23 and that fit's effect on them ("holdout_results"). They are stored with their
provenance in `query_adapters.npz` beside this file ("info": JSON {model name: {"key", "dim",
...}}; one float16 array per model) and apply only to the model they were fitted for (name and
dimension); any other embedder (the hash embedder of unit tests, a user's own model) is left as
it is. ENABLED switches them off for comparisons (`tutor eval --compare`).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

PARAMS = Path(__file__).with_name("query_adapters.npz")
ENABLED = True


@functools.lru_cache(maxsize=4)
def _load(path: Path = PARAMS) -> tuple[dict[str, np.ndarray], dict] | None:
    """({model name: W float32 (d, d)}, info {model name: provenance}) or None when the file does
    not exist."""
    if not path.is_file():
        return None
    with np.load(path) as z:
        info = json.loads(str(z["info"]))
        return {m: z[i["key"]].astype(np.float32) for m, i in info.items()}, info


def info(path: Path = PARAMS) -> dict | None:
    """Provenance per model name: {"key", "dim", "fitted_on", "examples", ...}, or None."""
    got = _load(path)
    return got[1] if got else None


def adapt(model: str, qvec: list[float], path: Path = PARAMS) -> list[float]:
    """qvec (d floats, L2-normalised, from `model`) → the adapted, L2-normalised query vector;
    qvec unchanged when ENABLED is off, no adapter is shipped for `model`, or its dimension
    differs."""
    got = _load(path) if ENABLED else None
    W = got[0].get(model) if got else None
    if W is None or len(qvec) != W.shape[0]:
        return qvec
    q = np.asarray(qvec, dtype=np.float32)
    a = q + q @ W
    n = float(np.linalg.norm(a))
    return (a / n).tolist() if n > 0 else qvec
