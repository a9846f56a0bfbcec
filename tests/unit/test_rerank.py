"""The note reranker (tutor/rag/rerank.py): features, score-preserving re-order, the shipped model file."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tutor.rag import rerank


def _chunks(*ids: str) -> dict:
    # chunk id "3.4.2#1" belongs to note "3.4.2"
    return {c: SimpleNamespace(node_id=c.split("#")[0]) for c in ids}


CHUNKS = _chunks("3.4#1", "3.4.2#1", "3.4.2#2", "3.4.1#1", "7.1.1#1", "9.1.1#1")
FUSED = {"3.4#1": 0.05, "3.4.2#1": 0.04, "3.4.2#2": 0.02, "3.4.1#1": 0.03, "7.1.1#1": 0.01, "9.1.1#1": 0.005}
RANKINGS = {"bm25": ["3.4.2#2", "3.4#1", "3.4.2#1"], "dense": ["3.4.1#1", "3.4.2#1"], "named": [], "multilingual": ["7.1.1#1"]}


def test_note_features_count_ranks_and_chunks():
    order = rerank.note_order(FUSED, CHUNKS)
    assert order == ["3.4", "3.4.2", "3.4.1", "7.1.1", "9.1.1"]
    f = rerank.note_features(order, RANKINGS, CHUNKS)
    assert f["3.4.2"]["bm25_best"] == 1.0 and f["3.4.2"]["bm25_n"] == 2.0  # its two chunks, the best first
    assert f["3.4.2"]["dense_best"] == 0.5 and f["3.4.1"]["dense_best"] == 1.0
    assert f["3.4"]["overview"] == 1.0 and f["3.4.2"]["overview"] == 0.0
    assert (f["3.4"]["fused"], f["3.4"]["place"], f["3.4.1"]["place"]) == (1.0, 0.0, 2.0)
    assert f["9.1.1"]["named_best"] == 0.0 and f["9.1.1"]["multilingual_n"] == 0.0
    assert set(f["3.4"]) == {"fused", "place", "overview"} | {f"{r}_{k}" for r in rerank.RANKINGS for k in ("best", "n")}


def _model(**coef) -> dict:
    names = ["fused", "place", "overview"] + [f"{r}_{k}" for r in rerank.RANKINGS for k in ("best", "n")]
    return {"features": names, "coef": [coef.get(n, 0.0) for n in names], "intercept": 0.0, "candidates": 4}


def test_rerank_reorders_candidates_and_keeps_the_scale():
    # an overview penalty moves 3.4 below the topics; the best scores are the same set, handed out anew
    out = rerank.rerank(FUSED, RANKINGS, CHUNKS, _model(overview=-5.0, fused=1.0))
    assert rerank.note_order(out, CHUNKS)[:4] == ["3.4.2", "3.4.1", "7.1.1", "3.4"]
    assert out["3.4.2#1"] == pytest.approx(0.05) and out["3.4.2#2"] == pytest.approx(0.025)  # its other chunk keeps its ratio
    assert out["3.4#1"] == pytest.approx(0.01)  # the fourth place's best score
    assert out["9.1.1#1"] == FUSED["9.1.1#1"]  # below the 4 candidates: unchanged
    best = lambda sc: sorted({max(v for c, v in sc.items() if CHUNKS[c].node_id == n) for n in rerank.note_order(sc, CHUNKS)})
    assert best(out) == pytest.approx(best(FUSED))


def test_rerank_with_no_preference_keeps_the_order():
    assert rerank.note_order(rerank.rerank(FUSED, RANKINGS, CHUNKS, _model()), CHUNKS) == rerank.note_order(FUSED, CHUNKS)
    assert rerank.rerank({"3.4#1": 0.1}, RANKINGS, CHUNKS, _model(overview=-5.0)) == {"3.4#1": 0.1}


def test_shipped_model_file_matches_the_features():
    model = rerank.params()
    order = rerank.note_order(FUSED, CHUNKS)
    f = rerank.note_features(order, RANKINGS, CHUNKS)
    assert set(model["features"]) == set(f["3.4"]) and len(model["coef"]) == len(model["features"])
    assert model["candidates"] >= 10 and model["lang"] == "en" and rerank.RERANK_LANGS == {"en"}
    assert 0.0 < rerank.score(f["3.4.2"], model) < 1.0
    # what the cross-validation measured is recorded with the weights
    assert model["cv"]["after"]["questions"] == model["cv"]["before"]["questions"] > 1000


def test_a_named_overview_keeps_its_place_and_joined_queries_are_not_reranked():
    # "Why is it hard to scale model parallelism?" names section 8.2: the model, fitted on topic
    # questions, would put every overview last
    named = dict(RANKINGS, named=["3.4#1"])
    out = rerank.rerank(FUSED, named, CHUNKS, _model(overview=-5.0, fused=1.0))
    assert rerank.note_order(out, CHUNKS)[:4] == ["3.4", "3.4.2", "3.4.1", "7.1.1"]
    assert rerank.applies("How does LoRA work?", "en") and not rerank.applies("LoRA 是什么？", "zh")
    assert not rerank.applies("What is LoRA?\nWhy is it cheap?", "en")  # a conversation's joined query
