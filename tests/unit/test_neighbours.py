"""The nearest-neighbour coverage rule (tutor/trust/neighbours.py): margin, decision, file, shipped bank."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tests.unit.test_adapter import _unseen
from tutor.trust import neighbours


def _bank(inside, outside, model="m", dim=None) -> neighbours.QuestionBank:
    inside, outside = np.asarray(inside, dtype=np.float32), np.asarray(outside, dtype=np.float32)
    d = dim or inside.shape[1]
    return neighbours.QuestionBank(np.zeros(d, np.float32), np.eye(d, dtype=np.float32), inside, outside, model, {})


def test_margin_is_mean_top_k_outside_minus_mean_top_k_inside(monkeypatch):
    monkeypatch.setattr(neighbours, "K", 2)
    b = _bank([[1, 0, 0], [0.8, 0.6, 0], [0, 0, 1]], [[0, 1, 0], [0, 0.6, 0.8]])
    # q = e1: inside cosines 1, 0.8, 0 → top 2 mean 0.9; outside 0, 0 → 0
    assert b.margin([1.0, 0.0, 0.0], "m") == pytest.approx(-0.9)
    # q = e2 (unnormalised: the rule normalises): inside 0, 0.6, 0 → 0.3; outside 1, 0.6 → 0.8
    assert b.margin([0.0, 2.0, 0.0], "m") == pytest.approx(0.5)


def test_margin_is_none_for_another_model_dimension_zero_vector_or_when_off(monkeypatch):
    b = _bank([[1, 0], [0, 1], [1, 0]], [[0, 1], [1, 0], [0, 1]])
    assert b.margin([1.0, 0.0], "other") is None
    assert b.margin([1.0, 0.0, 0.0], "m") is None
    assert b.margin([0.0, 0.0], "m") is None and b.margin(None, "m") is None
    monkeypatch.setattr(neighbours, "ENABLED", False)
    assert b.margin([1.0, 0.0], "m") is None


@pytest.mark.parametrize("rel,margin,want", [
    (0.9, 0.01, 0.45),    # nearest neighbours out of scope: capped under the threshold
    (0.2, 0.3, 0.2),      # a cap never raises
    (0.2, -0.2, 0.55),    # clearly in scope: raised over it
    (0.8, -0.2, 0.8),     # a raise never lowers
    (0.3, -0.1, 0.3),     # between the margins: the logistic model decides
    (0.7, 0.0, 0.7),      # exactly VETO_MARGIN is not over it
    (0.4, None, 0.4),     # no bank or no vector
])
def test_decide(rel, margin, want):
    assert neighbours.decide(rel, margin) == pytest.approx(want)


def test_load_round_trips_int8_vectors_and_a_missing_file_is_none(tmp_path):
    p = tmp_path / "b.npz"
    unit = np.array([[0.6, 0.8], [1.0, 0.0]], dtype=np.float32)
    info = {"model": "m", "dim": 2}
    np.savez_compressed(p, mean=np.zeros(2, np.float32), axes=np.eye(2, dtype=np.float32),
                        inside=np.round(unit * 127).astype(np.int8), outside=np.round(unit[::-1] * 127).astype(np.int8),
                        info=json.dumps(info))
    b = neighbours.load(p)
    assert b.model == "m" and b.info == info
    assert np.allclose(np.linalg.norm(b.inside, axis=1), 1.0) and np.allclose(b.inside, unit, atol=0.01)
    assert neighbours.load(tmp_path / "none.npz") is None


def test_shipped_bank_is_for_use_and_built_on_seen_sets_only():
    b = neighbours.load()
    assert b is not None and b.model == "use-multilingual-v3" and b.mean.shape == (512,)
    assert b.axes.shape == (512, b.info["pca_dim"]) and b.inside.shape[1] == b.outside.shape[1] == b.info["pca_dim"]
    assert len(b.inside) == b.info["inside"] > 10000 and len(b.outside) == b.info["outside"] > 1500
    assert b.info["sets"] and not set(b.info["sets"]) & _unseen(), "built on a blind round that was never run"
    assert len(b.labels) == len(b.inside) and sum(map(bool, b.labels)) > 15000  # the note vote's labels


def test_nearest_notes_rank_topics_by_their_nearest_texts_and_skip_unlabelled(monkeypatch):
    b = neighbours.QuestionBank(np.zeros(2, np.float32), np.eye(2, dtype=np.float32),
                                np.array([[1, 0], [0.6, 0.8], [0.8, 0.6], [0, 1]], dtype=np.float32),
                                np.array([[0, 1]], dtype=np.float32), "m", {}, ("3.4.2", "3.4.1", "", "3.4.1"))
    assert b.nearest_notes([1.0, 0.0], "m") == ["3.4.2", "3.4.1"]  # 3.4.1 by its texts at 0.6 and 0; "" never votes
    assert b.nearest_notes([-1.0, 0.0], "m") == []  # nothing near: no vote (VOTE_FLOOR)
    assert b.nearest_notes([0.0, 1.0], "m") == ["3.4.1", "3.4.2"]
    assert b.nearest_notes([1.0, 0.0], "m", n=1) == ["3.4.2"]
    assert b.nearest_notes([1.0, 0.0], "other") == [] and b.nearest_notes(None, "m") == []
    assert dataclasses.replace(b, labels=()).nearest_notes([1.0, 0.0], "m") == []


def test_nearest_notes_two_close_texts_outvote_one_slightly_closer_text():
    c = lambda x: [x, (1 - x * x) ** 0.5]  # a unit vector at cosine x to [1, 0]
    inside = np.array([c(0.95), c(0.94), c(0.94), c(0.5)], dtype=np.float32)
    b = neighbours.QuestionBank(np.zeros(2, np.float32), np.eye(2, dtype=np.float32), inside,
                                np.array([[0, 1]], dtype=np.float32), "m", {}, ("2.1.1", "2.1.2", "2.1.2", "9.9.9"))
    # weights e^-1 = 0.37 against 2 e^-1.2 = 0.60; the nearest-text rule would have put 2.1.1 first
    assert b.nearest_notes([1.0, 0.0], "m")[:2] == ["2.1.2", "2.1.1"]
    assert b.nearest_notes([1.0, 0.0], "m", n=1) == ["2.1.2"]


def test_neighbour_vote_moves_the_voted_note_up_keeps_scale_and_pins_named_notes():
    from types import SimpleNamespace

    from tutor.rag import retrieve
    from tutor.rag.rerank import note_order
    chunks = {c: SimpleNamespace(node_id=c.split("#")[0]) for c in ("14.2.1#1", "14.2.2#1", "3.1.3#1", "3.1.3#2", "9.1.1#1")}
    fused = {"14.2.1#1": 0.05, "14.2.2#1": 0.04, "3.1.3#1": 0.03, "3.1.3#2": 0.015, "9.1.1#1": 0.01}
    out = retrieve.with_neighbour_vote(fused, chunks, ["3.1.3", "14.2.2"], set())
    # 3.1.3: 1/(2+3) + 0.75/(2+1) = 0.45 > 14.2.2: 1/4 + 0.75/4 = 0.4375 > 14.2.1: 1/3 + 0.75/32
    assert note_order(out, chunks) == ["3.1.3", "14.2.2", "14.2.1", "9.1.1"]
    assert out["3.1.3#1"] == pytest.approx(0.05) and out["3.1.3#2"] == pytest.approx(0.025)  # its other chunk keeps its ratio
    assert sorted(out.values()) == pytest.approx(sorted([0.05, 0.04, 0.03, 0.025, 0.01]))
    pinned = retrieve.with_neighbour_vote(fused, chunks, ["3.1.3", "14.2.2"], {"14.2.1"})
    assert note_order(pinned, chunks)[:3] == ["14.2.1", "3.1.3", "14.2.2"]  # the named note keeps its place
    assert retrieve.with_neighbour_vote(fused, chunks, [], set()) == fused
    assert retrieve.with_neighbour_vote(fused, chunks, ["5.1.1"], set()) == fused  # a vote for a note not retrieved
