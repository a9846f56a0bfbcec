"""The query adapters (tutor/rag/adapter.py): the map, when it applies, the shipped file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tutor.rag import adapter


def _unseen() -> set[str]:
    """Blind sets frozen but not yet run (their BLIND_SETS.md heading says "not yet run"): no
    adapter may be fitted on them."""
    text = (Path(__file__).resolve().parents[2] / "evals" / "sets" / "BLIND_SETS.md").read_text(encoding="utf-8")
    heads = [h for h in re.findall(r"^## (.+)$", text, re.M) if "not yet run" in h]
    return {f for h in heads for f in re.findall(r"[\w-]+\.jsonl", h)}


def _write(path, W: np.ndarray, model: str = "m") -> None:
    info = {model: {"key": "W0", "dim": W.shape[0]}}
    np.savez_compressed(path, W0=W.astype(np.float16), info=np.array(json.dumps(info)))


@pytest.fixture(autouse=True)
def _fresh_cache():
    adapter._load.cache_clear()
    yield
    adapter._load.cache_clear()


def test_adapt_applies_q_plus_qW_and_normalises(tmp_path):
    p = tmp_path / "a.npz"
    W = np.zeros((3, 3), dtype=np.float32)
    W[0, 1] = 1.0  # the first axis pulls toward the second
    _write(p, W)
    got = adapter.adapt("m", [1.0, 0.0, 0.0], p)
    assert got == pytest.approx([2 ** -0.5, 2 ** -0.5, 0.0])
    assert adapter.adapt("m", [0.0, 0.0, 1.0], p) == pytest.approx([0.0, 0.0, 1.0])  # W leaves this axis alone
    assert adapter.info(p) == {"m": {"key": "W0", "dim": 3}}


def test_adapt_leaves_other_models_dimensions_and_missing_files_alone(tmp_path, monkeypatch):
    p = tmp_path / "a.npz"
    _write(p, np.eye(3, dtype=np.float32))
    q = [0.6, 0.8, 0.0]
    assert adapter.adapt("other-model", q, p) == q
    assert adapter.adapt("m", [1.0, 0.0], p) == [1.0, 0.0]
    assert adapter.adapt("m", q, tmp_path / "none.npz") == q and adapter.info(tmp_path / "none.npz") is None
    monkeypatch.setattr(adapter, "ENABLED", False)
    assert adapter.adapt("m", q, p) == q


def test_a_zero_vector_stays_as_it_is(tmp_path):
    p = tmp_path / "a.npz"
    _write(p, -np.eye(2, dtype=np.float32))  # q + q·(-I) = 0: nothing to normalise
    assert adapter.adapt("m", [0.6, 0.8], p) == [0.6, 0.8]


def test_shipped_adapters_are_for_both_embedders_and_fitted_on_seen_sets_only():
    Ws, info = adapter._load()
    UNSEEN = _unseen()  # empty between rounds
    assert set(Ws) == {"all-MiniLM-L6-v2", "use-multilingual-v3"}
    assert Ws["all-MiniLM-L6-v2"].shape == (384, 384) and Ws["use-multilingual-v3"].shape == (512, 512)
    for model, W in Ws.items():
        i = info[model]
        assert i["fitted_on"] and not set(i["fitted_on"]) & UNSEEN, "fitted on a blind round that was never run"
        assert np.isfinite(W).all() and 0 < np.abs(W).max() < 10
        assert not set(i["holdout_sets"]) - set(i["fitted_on"]), "the holdout fit is the shipped one less some sets"
        for lang, r in i["holdout_results"].items():  # as measured when fitted (evals/retrieval/train_adapter.py)
            assert r["questions"] > 700 and r["after"]["mrr@10"] > r["before"]["mrr@10"], (model, lang)
