"""tutor/evaluate/evaluation.py and `tutor eval`: metric definitions against hand-computed values,
eval-set validation messages, and one run over the fake tutor (hash embedder, scripted
LLM) to check the report's shape and the answer checks. The real numbers come from the
integration test on the real index."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tutor.evaluate.evaluation import (EvalItem, EvalSet, Retrieved, calibrate, coverage_metrics, hit_at, misses, ndcg_at,
                              reciprocal_rank, retrieval_metrics, run, subset)

ROOT = Path(__file__).resolve().parents[2]
SET = ROOT / "evals" / "sets" / "retrieval_ch1-4.jsonl"


@pytest.mark.parametrize("ranked, expected, k, hit, rr, ndcg", [
    (["a", "b", "c"], ["a"], 1, 1.0, 1.0, 1.0),
    (["x", "a", "c"], ["a"], 1, 0.0, 0.5, 0.0),
    (["x", "a", "c"], ["a"], 3, 1.0, 0.5, 1 / math.log2(3)),
    (["x", "y", "z"], ["a"], 3, 0.0, 0.0, 0.0),
    (["x", "b", "a"], ["a", "b"], 5, 1.0, 0.5, (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))),
    (["a", "b"], ["a", "b"], 5, 1.0, 1.0, 1.0),
    ([], ["a"], 5, 0.0, 0.0, 0.0),
])
def test_metric_definitions(ranked, expected, k, hit, rr, ndcg):
    assert hit_at(ranked, expected, k) == hit
    assert reciprocal_rank(ranked, expected) == pytest.approx(rr)
    assert ndcg_at(ranked, expected, k) == pytest.approx(ndcg)


def _row(id_, relevance, oos=False, ranked=("1.1.2",), expected=("1.1.2", "1.1"), lang="zh"):
    return Retrieved(id_, lang, "q", [] if oos else list(expected), oos, list(ranked), list(ranked)[:3], relevance,
                     relevance >= 0.5, 1.0)


def test_retrieval_metrics_use_in_scope_rows_and_topic_note():
    rows = [_row("a", 1.0, ranked=["1.1", "1.1.2"]), _row("b", 1.0, ranked=["9.9", "8.8", "7.7", "1.1.2"]),
            _row("c", 0.1, oos=True, ranked=["1.1.2"])]
    m = retrieval_metrics(rows)
    assert m["n"] == 2
    assert m["hit@1"] == 0.5  # row a hits through its section overview 1.1
    assert m["topic_hit@1"] == 0.0 and m["topic_hit@3"] == 0.5 and m["topic_hit@5"] == 1.0
    assert m["mrr@10"] == pytest.approx((1 + 0.25) / 2)
    lo, hi = m["ci"]["mrr@10"]
    assert lo <= m["mrr@10"] <= hi and lo >= 0.25 and hi <= 1.0  # a bootstrap mean lies between the item values
    assert [x["id"] for x in misses(rows, 3)] == ["b"] and misses(rows, 3)[0]["rank"] == 4


def test_mrr_at_10_ignores_ranks_beyond_10_and_bootstrap_is_reproducible():
    from tutor.evaluate.evaluation import bootstrap_ci, by_chapter, reciprocal_rank_at

    ranked = [f"9.{i}" for i in range(1, 11)] + ["1.1.2"]
    assert reciprocal_rank_at(ranked, ["1.1.2"], 10) == 0.0 and reciprocal_rank_at(ranked, ["1.1.2"], 11) == pytest.approx(1 / 11)
    vals = [1.0] * 90 + [0.0] * 10
    assert bootstrap_ci(vals) == bootstrap_ci(vals)  # fixed seed
    lo, hi = bootstrap_ci(vals)
    assert 0.82 < lo < 0.9 < hi < 0.97  # ±1.96·sqrt(0.09/100) ≈ ±0.059 around 0.9
    rows = [_row("a", 1.0, ranked=["1.1.2"]), _row("b", 1.0, ranked=["2.1.1"], expected=("2.1.1",), lang="en"),
            _row("c", 1.0, ranked=["9.9"], expected=("2.1.2",), lang="en")]
    ch = by_chapter(rows)
    assert ch["1"]["zh"] == {"n": 1, "hit@3": 1.0, "mrr@10": 1.0} and ch["2"]["en"]["hit@3"] == 0.5


def test_coverage_and_calibration_pick_the_separating_threshold():
    rows = [_row("i1", 0.9), _row("i2", 0.6), _row("i3", 0.45), _row("o1", 0.2, oos=True), _row("o2", 0.3, oos=True)]
    at_half = coverage_metrics(rows, 0.5)
    assert at_half["in_scope_covered"] == round(2 / 3, 4) and at_half["out_of_scope_rejected"] == 1.0
    cal = calibrate(rows)
    assert cal["best"]["balanced_accuracy"] == 1.0
    assert 0.3 < cal["best_threshold"] <= 0.45 and cal["best_range"] == [0.31, 0.45]
    assert cal["in_scope_min_relevance"] == 0.45 and cal["out_of_scope_max_relevance"] == 0.3


def test_subset_is_spread_and_deterministic():
    items = list(range(10))
    assert subset(items, 3) == [0, 3, 6] and subset(items, None) == items and subset(items, 50) == items


def _write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "set.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


GOOD = {"id": "a", "lang": "zh", "question": "为什么要除以根号d_k？", "expected_ids": ["1.1.2"], "reference": "r",
        "key_points": ["softmax 饱和"], "out_of_scope": False}


@pytest.mark.parametrize("lines, line, words", [
    ([json.dumps(GOOD), "{not json"], 2, "not a JSON object"),
    ([json.dumps({**GOOD, "lang": "fr"})], 1, "lang"),
    ([json.dumps({**GOOD, "expected_ids": []})], 1, "at least one expected id"),
    ([json.dumps({**GOOD, "out_of_scope": True})], 1, "expected_ids []"),
    ([json.dumps(GOOD), json.dumps(GOOD)], 2, "duplicate item id 'a'"),
    ([json.dumps({**GOOD, "expected_ids": ["99.1"]})], 1, "not outline ids"),
    ([json.dumps({**GOOD, "extra": 1})], 1, "extra"),
])
def test_bad_eval_set_names_file_and_line(tmp_path, lines, line, words):
    p = _write(tmp_path, lines)
    with pytest.raises(EvalSet.Invalid) as e:
        EvalSet.load(p, known_ids={"1.1.2", "1.1"})
    assert str(e.value).startswith(f"{p}:{line}: ") and words in str(e.value), str(e.value)


def test_shipped_set_is_valid_and_covers_every_topic_of_chapters_1_to_4():
    from tutor.outline import Outline

    outline = Outline.parse(ROOT / "corpus" / "outline.md")
    items = EvalSet.load(SET, known_ids={n.id for n in outline.nodes})
    topics = {n.id for n in outline.topics() if n.chapter in ("1", "2", "3", "4")}
    zh = {i.expected_ids[0] for i in items if i.lang == "zh" and not i.out_of_scope}
    en = {i.expected_ids[0] for i in items if i.lang == "en" and not i.out_of_scope}
    oos = [i for i in items if i.out_of_scope]
    assert zh == topics and len(topics) == 62
    assert len(en & topics) >= 30
    assert len(oos) >= 15 and {i.lang for i in oos} == {"zh", "en"}
    assert all(i.reference and i.key_points for i in items if not i.out_of_scope)


def test_run_on_fake_tutor(fake_tutor, tmp_path):
    from tutor.evaluate.eval_report import summary_lines, write

    items = [EvalItem(**{**GOOD, "question": "缩放点积为什么要除以根号d_k"}),
             EvalItem(id="b", lang="en", question="What is RoPE rotary position embedding?", expected_ids=["1.3.3"],
                      key_points=["rotary"]),
             EvalItem(id="c", lang="zh", question="红烧肉怎么做才好吃？", expected_ids=[], out_of_scope=True)]
    fake_tutor.llm.replies[:] = ["缩放点积除以根号 d_k，把分数的方差拉回 1，防止 softmax 饱和成近似 one-hot [1]。",
                                 "RoPE rotates queries and keys by angles proportional to their position, so scores depend on relative distance [1]."]
    rep = run(fake_tutor, items, k=3, answers=True)
    assert rep["retrieval"]["overall"]["n"] == 2 and rep["retrieval"]["zh"]["n"] == 1 and rep["retrieval"]["en"]["n"] == 1
    assert rep["misses"] == [m for m in rep["misses"] if m["id"] in ("a", "b")]
    assert {r["id"] for r in rep["rows"]} == {"a", "b", "c"}
    answers = {r["id"]: r for r in rep["answers"]["rows"]}
    assert answers["c"]["covered"] is False and answers["c"]["citations"] == []
    a = answers["a"]  # the scripted reply cites [1] = 1.1.2 in Chinese and names the key point
    assert a["covered"] and a["citations"] == [1] and a["citations_valid"] and a["cites_expected"]
    assert a["lang_match"] and a["key_point_recall"] == 1.0 and a["sources"][0] == "1.1.2"
    assert a["citation_precision"] == 1.0 and -1.0 <= a["answer_similarity"] <= 1.0 and 0.0 <= a["faithfulness"] <= 1.0
    assert answers["c"]["answer_similarity"] is None and answers["c"]["citation_precision"] is None
    assert answers["b"]["covered"] and answers["b"]["sources_expected"]
    m = rep["answers"]["overall"]
    assert m["refused_out_of_scope"] == 1.0 and m["answered_in_scope"] == 1.0 and m["citation_recall"] == 1.0
    # item b has no reference answer: no similarity for it
    assert m["answered"] == 2 and m["n_answer_similarity"] == 1 and m["judge_failures"] == 0 and "key_point_recall" in m["ci"]
    paths = write(rep, tmp_path / "out", "fake")
    assert [p.name for p in paths] == ["report.json", "report.md", "report.png", "report.html"]
    assert json.loads(paths[0].read_text(encoding="utf-8"))["items"] == 3
    assert "## Retrieval" in paths[1].read_text(encoding="utf-8") and paths[2].read_bytes()[:4] == b"\x89PNG"
    assert any(line.startswith("calibration: best threshold") for line in summary_lines(rep))


def test_cli_eval_bad_set_is_a_one_line_error(tmp_path):
    from typer.testing import CliRunner

    from tutor.cli import app

    result = CliRunner().invoke(app, ["eval", "--set", str(tmp_path / "missing.jsonl")])
    assert result.exit_code != 0
    assert isinstance(result.exception, EvalSet.Invalid) and "eval set not found" in str(result.exception)


def test_cli_limit_without_answers_is_refused(tmp_path):
    from typer.testing import CliRunner

    from tutor.cli import app
    from tutor.errors import TutorError

    result = CliRunner().invoke(app, ["eval", "--set", str(SET), "--limit", "3"])
    assert isinstance(result.exception, TutorError) and "--answers" in str(result.exception)


def test_blind_sets_are_frozen():
    """evals/sets/BLIND_SETS.md records each blind set's sha256 from before its first run; a set
    edited afterwards (to fit the system) fails here."""
    import hashlib
    import re as _re

    sets = Path(__file__).resolve().parents[2] / "evals" / "sets"
    recorded = dict((name, digest) for digest, name in _re.findall(r"^([0-9a-f]{64})\s+(\S+\.jsonl)$",
                                                                  (sets / "BLIND_SETS.md").read_text(encoding="utf-8"), _re.M))
    assert set(recorded) == {"blind_ch1-4.jsonl", "blind_ch5-8.jsonl", "blind_ch9-12.jsonl", "blind_ch13-16.jsonl",
                             "blind2_ch1-8.jsonl", "blind2_ch9-16.jsonl", "blind3_ch1-8.jsonl", "blind3_ch9-16.jsonl",
                             "blind4_answers.jsonl", "blind5_conversations.jsonl", "blind6_conversations.jsonl",
                             "blind7_ch1-8.jsonl", "blind7_ch9-16.jsonl", "blind8_ch1-8.jsonl", "blind8_ch9-16.jsonl",
                             "blind9_conversations.jsonl", "blind10_conversations.jsonl",
                             "blind11_ch1-8.jsonl", "blind11_ch9-16.jsonl", "blind12_ch1-8.jsonl", "blind12_ch9-16.jsonl",
                             "blind13_ch1-8.jsonl", "blind13_ch9-16.jsonl", "blind14_ch1-8.jsonl", "blind14_ch9-16.jsonl",
                             "blind15_ch1-8.jsonl", "blind15_ch9-16.jsonl", "blind16_ch1-8.jsonl", "blind16_ch9-16.jsonl",
                             "blind17_ch1-8.jsonl", "blind17_ch9-16.jsonl",
                             "blind18_ch1-8.jsonl", "blind18_ch9-16.jsonl",
                             "blind19_ch1-8.jsonl", "blind19_ch9-16.jsonl",
                             "blind20_ch1-8.jsonl", "blind20_ch9-16.jsonl",
                             "blind21_ch1-8.jsonl", "blind21_ch9-16.jsonl",
                             "blind22_ch1-8.jsonl", "blind22_ch9-16.jsonl",
                             "blind23_ch1-8.jsonl", "blind23_ch9-16.jsonl",
                             "blind24_ch1-8.jsonl", "blind24_ch9-16.jsonl",
                             "blind25_ch1-8.jsonl", "blind25_ch9-16.jsonl",
                             "blind26_ch1-8.jsonl", "blind26_ch9-16.jsonl",
                             "blind27_ch1-8.jsonl", "blind27_ch9-16.jsonl",
                             "blind28_ch1-8.jsonl", "blind28_ch9-16.jsonl",
                             "blind29_ch1-8.jsonl", "blind29_ch9-16.jsonl",
                             "blind30_ch1-8.jsonl", "blind30_ch9-16.jsonl",
                             "blind31_ch1-8.jsonl", "blind31_ch9-16.jsonl",
                             "blind32_ch1-8.jsonl", "blind32_ch9-16.jsonl",
                             "blind33_ch1-8.jsonl", "blind33_ch9-16.jsonl",
                             "blind34_ch1-8.jsonl", "blind34_ch9-16.jsonl",
                             "blind35_ch1-8.jsonl", "blind35_ch9-16.jsonl",
                             "blind36_ch1-8.jsonl", "blind36_ch9-16.jsonl",
                             "blind37_ch1-8.jsonl", "blind37_ch9-16.jsonl",
                             "blind38_ch1-8.jsonl", "blind38_ch9-16.jsonl"}
    for name, digest in recorded.items():
        assert hashlib.sha256((sets / name).read_bytes()).hexdigest() == digest, f"{name} changed after it was frozen"


def test_cli_model_without_answers_is_refused(tmp_path):
    from typer.testing import CliRunner

    from tutor.cli import app
    from tutor.errors import TutorError

    result = CliRunner().invoke(app, ["eval", "--set", str(SET), "--model", str(tmp_path / "other.gguf")])
    assert isinstance(result.exception, TutorError) and "--answers" in str(result.exception)


@pytest.mark.parametrize("content", [None, b"<html>not found</html>"])
def test_cli_a_bad_second_model_fails_before_any_run(tmp_path, content):
    from typer.testing import CliRunner

    from tutor.cli import app
    from tutor.llm import ModelInvalid, ModelMissing

    path = tmp_path / "other.gguf"
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(app, ["eval", "--set", str(SET), "--answers", "--model", str(path)])
    assert isinstance(result.exception, ModelInvalid if content else ModelMissing), result.output
    assert str(path) in str(result.exception) and "\n" not in str(result.exception)


def test_a_follow_up_is_searched_and_asked_after_its_history(fake_tutor, monkeypatch):
    """「它有什么缺点？」 names no topic: the eval searches with the chat's follow-up query (the earlier
    question prepended) and asks it after the earlier question, as a learner's chat would."""
    item = EvalItem(id="f", lang="zh", question="它有什么缺点？", expected_ids=["1.3.3"],
                    history=["RoPE 旋转位置编码是什么？"])
    seen = []
    ask = fake_tutor.ask
    monkeypatch.setattr(fake_tutor, "ask", lambda q, history=None, **kw: seen.append(history) or ask(q, history, **kw))
    fake_tutor.llm.replies[:] = ["RoPE 的缺点是外推到更长序列时需要插值等扩展 [1]。"]
    rep = run(fake_tutor, [item], k=3, answers=True)
    row = rep["rows"][0]
    assert row["query"] == "RoPE 旋转位置编码是什么？\n它有什么缺点？" and row["ranked"][0] == "1.3.3"
    assert seen == [[{"role": "user", "content": "RoPE 旋转位置编码是什么？"}]]
    alone = run(fake_tutor, [item.model_copy(update={"history": []})], k=3)["rows"][0]
    assert alone["query"] == "它有什么缺点？" and alone["ranked"][:1] != ["1.3.3"]


def test_history_with_an_empty_question_is_refused(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps({**GOOD, "history": [" "]}, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(EvalSet.Invalid, match="history"):
        EvalSet.load(p)


def test_cli_the_same_second_model_twice_or_a_folder_is_refused(tmp_path):
    from typer.testing import CliRunner

    from tutor.cli import app
    from tutor.errors import TutorError

    path = tmp_path / "other.gguf"
    path.write_bytes(b"GGUF fake")
    twice = CliRunner().invoke(app, ["eval", "--set", str(SET), "--answers", "--model", str(path), "--model", str(path)])
    assert isinstance(twice.exception, TutorError) and "given twice" in str(twice.exception)
    folder = CliRunner().invoke(app, ["eval", "--set", str(SET), "--answers", "--model", str(tmp_path)])
    assert isinstance(folder.exception, TutorError) and "is a folder" in str(folder.exception)


def test_two_models_with_the_same_file_name_get_their_folder_in_the_report():
    from types import SimpleNamespace as NS

    from tutor.evaluate.models_cmp import names

    t = [NS(llm=NS(name="model"), settings=NS(model_path=Path(f"/m/{d}/model.gguf"))) for d in ("qwen", "llama")]
    assert names(t) == ["qwen/model", "llama/model"]
    assert names(t[:1] + [NS(llm=NS(name="other"), settings=NS(model_path=Path("/m/other.gguf")))]) == ["model", "other"]
