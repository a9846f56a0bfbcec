"""tutor/evaluate/answer_metrics.py and judge.py: each answer metric against hand-computed
values, the aggregate's intervals and percentiles, and the judge's failures counted, never
averaged in (a scripted llama stands in for the judge model)."""

from __future__ import annotations

import json

import pytest

from tutor.evaluate.answer_metrics import (aggregate, citation_precision, citations, cosine_pairs, faithfulness, key_point_recall,
                                           percentiles)
from tutor.evaluate.judge import Judge


def test_citations_keep_order_and_repeats():
    assert citations("a [2] b [1][2] c [x] [1000]") == [2, 1, 2]


def test_citation_precision_counts_each_citation_and_invalid_ones_as_irrelevant():
    assert citation_precision(["1.1.2", "3.4.2", "1.1.2"], ["1.1.2"]) == pytest.approx(2 / 3)
    assert citation_precision(["", "1.1.2"], ["1.1.2"]) == 0.5  # [n] with no such source
    assert citation_precision([], ["1.1.2"]) is None


def test_faithfulness_is_the_supported_share_of_sentences():
    assert faithfulness(4, 1) == 0.75 and faithfulness(3, 0) == 1.0 and faithfulness(0, 0) is None


def test_key_point_recall_is_the_share_of_key_points_found():
    kps = ["softmax saturation", "variance of the dot product", "rotary angle frequency"]
    got = key_point_recall(kps, "Dividing keeps the variance of the dot product near one, so softmax saturation is avoided.")
    assert got == pytest.approx(2 / 3)
    assert key_point_recall([], "anything") is None


def test_cosine_pairs_pairs_each_answer_with_its_reference():
    vecs = {"a": [1.0, 0.0], "b": [0.0, 2.0], "c": [1.0, 1.0], "z": [0.0, 0.0]}
    sims = cosine_pairs(lambda texts: [vecs[t] for t in texts], ["a", "a", "z"], ["a", "b", "c"])
    assert sims == pytest.approx([1.0, 0.0, 0.0])


def test_percentiles_interpolate_and_skip_missing():
    assert percentiles([10, 20, 30, 40, None]) == {"p50": 25.0, "p95": 38.5, "n": 4}
    assert percentiles([]) is None


def _row(**kw):
    base = {"lang": "zh", "out_of_scope": False, "covered": True, "key_point_recall": 1.0, "answer_similarity": 0.8,
            "citation_precision": 1.0, "cites_expected": True, "faithfulness": 1.0, "lang_match": True, "guard": "quoted",
            "first_token_ms": 100.0, "total_ms": 200.0, "tokens_per_s": 50.0, "judge_correct": None, "judge_error": None}
    return {**base, **kw}


def test_aggregate_means_intervals_shares_and_judge_failures():
    rows = [_row(), _row(key_point_recall=0.0, citation_precision=None, cites_expected=False, guard="fallback",
                         judge_correct=0.5),
            _row(covered=False, key_point_recall=None, answer_similarity=None, faithfulness=None, first_token_ms=None),
            _row(out_of_scope=True, covered=False), _row(judge_error="no valid verdict in '{'", judge_correct=None)]
    m = aggregate(rows)
    assert (m["n"], m["in_scope"], m["answered"], m["out_of_scope"]) == (5, 4, 3, 1)
    assert m["answered_in_scope"] == 0.75 and m["refused_out_of_scope"] == 1.0
    assert m["key_point_recall"] == pytest.approx(2 / 3, abs=1e-4) and m["n_key_point_recall"] == 3
    assert m["citation_precision"] == 1.0 and m["n_citation_precision"] == 2  # the uncited answer is left out
    assert m["citation_recall"] == pytest.approx(2 / 3, abs=1e-4)
    lo, hi = m["ci"]["key_point_recall"]
    assert 0.0 <= lo <= m["key_point_recall"] <= hi <= 1.0
    assert m["guard"] == {"fallback": 1, "quoted": 2} and m["guard_share"]["quoted"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["latency"]["first_token_ms"] == {"p50": 100.0, "p95": 100.0, "n": 3}
    # the judge's one failure is counted, and only its one verdict is averaged
    assert m["judge_failures"] == 1 and m["judge_correct"] == 0.5 and m["n_judge_correct"] == 1


class _Llama:
    def __init__(self, replies):
        self.replies, self.calls = list(replies), []

    def create_chat_completion(self, **kw):
        self.calls.append(kw)
        r = self.replies.pop(0)
        if isinstance(r, Exception):
            raise r
        return {"choices": [{"message": {"content": r}}]}


class _LLM:
    n_ctx = 2048

    def __init__(self, replies):
        self.llama = _Llama(replies)

    def count_tokens(self, text):
        return len(text.split())


@pytest.fixture
def prompts():
    from tests.conftest import ROOT
    from tutor.prompts import Prompts

    return Prompts(ROOT / "prompts")


def test_judge_maps_verdicts_and_counts_failures(prompts):
    llm = _LLM([json.dumps({"verdict": "correct", "reason": "same point"}), json.dumps({"verdict": "partly", "reason": ""}),
                '{"verdict": "maybe", "reason": ""}', '{"verdict": "corr', RuntimeError("llama_decode returned -3")])
    j = Judge(llm, prompts, "judge.gguf")
    got = [j.grade("为什么除以根号 d_k？", "防止 softmax 饱和。", "因为方差会变大 [1]。") for _ in range(5)]
    assert got[0] == (1.0, None) and got[1] == (0.5, None)
    assert got[2][0] is None and "no valid verdict" in got[2][1]
    assert got[3][0] is None and "no valid verdict" in got[3][1]
    assert got[4][0] is None and got[4][1].startswith("model error: RuntimeError")
    call = llm.llama.calls[0]
    assert call["temperature"] == 0.0 and call["response_format"]["type"] == "json_object"
    assert set(call["response_format"]["schema"]["properties"]["verdict"]["enum"]) == {"correct", "partly", "wrong"}
    assert "防止 softmax 饱和。" in call["messages"][0]["content"] and "因为方差会变大" in call["messages"][0]["content"]


def test_judge_trims_a_huge_answer_to_fit_the_window(prompts):
    llm = _LLM([json.dumps({"verdict": "wrong", "reason": "off topic"})])
    Judge(llm, prompts, "j").grade("q", "ref", "word " * 10_000)
    assert llm.count_tokens(llm.llama.calls[0]["messages"][0]["content"]) < llm.n_ctx
