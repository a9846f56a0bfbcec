"""The deterministic short-answer grader with the hash embedder (lexical path) and the
shipped calibration: guards, verdict order, feedback material, synonyms, params file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tutor.corpus import Corpus
from tutor.rag.embed import hash_embedder
from tutor.quiz.grading import PARAMS_FILE, Grader, GraderParams, Synonyms, english_summary, is_term_list, plain
from tutor.quiz.items import ItemBank

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus():
    return Corpus.load(ROOT / "corpus")


@pytest.fixture(scope="module")
def grader(corpus):
    # the rule path (no fitted model): the shipped verdict model is calibrated for the real
    # multilingual embedder and is tested with it (integration/test_grader_real.py)
    return Grader.for_corpus(corpus, hash_embedder(), GraderParams())


@pytest.fixture(scope="module")
def lora(corpus):
    return next(i for i in ItemBank.build(corpus).items if i.note_id == "3.4.2" and i.type == "short")


def g(grader, item, answer):
    return grader.grade(item.prompt, item.reference, list(item.key_points), answer)


@pytest.mark.parametrize("answer", ["", "   ", "\n\t", "。，！"])
def test_empty_answer_is_wrong_not_an_error(grader, lora, answer):
    r = g(grader, lora, answer)
    assert (r.verdict, r.score, r.flags) == ("wrong", 0.0, ["empty"])
    assert r.missed == list(lora.key_points)


def test_question_copied_back_is_wrong(grader, lora):
    r = g(grader, lora, lora.prompt)
    assert r.verdict == "wrong" and r.flags == ["copied_question"]
    r = g(grader, lora, lora.prompt[:40])
    assert r.verdict == "wrong"


def test_reference_is_correct_and_covers_every_key_point(grader, lora):
    r = g(grader, lora, lora.reference)
    assert r.verdict == "correct" and r.missed == [] and r.matched == list(lora.key_points)


def test_partial_answer_names_missed_key_points(grader, lora):
    r = g(grader, lora, "B 是 4096×8，A 是 8×4096，所以一共 2×4096×8=65,536 个可训练参数。")
    assert r.verdict in ("partial", "correct")
    assert any("0.39%" in k or "合并" in k for k in r.missed)
    assert any("65,536" in k for k in r.matched)


def test_score_orders_full_partial_offtopic(grader, lora):
    full = g(grader, lora, lora.reference).score
    part = g(grader, lora, "要训练 65,536 个参数，约 0.39%。").score
    off = g(grader, lora, "扩散模型在前向过程中逐步加入高斯噪声，直到变成纯噪声。").score
    assert full > part > off and 0.0 <= off <= full <= 1.0
    assert g(grader, lora, "扩散模型在前向过程中逐步加入高斯噪声，直到变成纯噪声。").verdict == "wrong"


def test_synonyms_match_latin_forms_at_word_starts_only():
    # latin forms match at word starts only: "ln" must not fire inside "learning"
    assert Synonyms([["层归一化", "ln"]]).expand("learning rate") == "learningrate"
    assert "层归一化" in Synonyms([["层归一化", "layer norm"]]).expand("Layer norm first")


def test_formatting_is_removed_before_grading():
    assert plain("<script>alert(1)</script>**除以** $\\sqrt{d_k}$").split() == ["除以", "√{d_k}"]
    assert plain("- 第一点\n- 第二点\n<b>粗体</b>").split() == ["第一点", "第二点", "粗体"]


@pytest.mark.parametrize("text,expected", [
    ("Q, K, V, softmax, 缩放", True), ("方差、标准差、根号dk、softmax饱和、梯度消失", True),
    ("variance, square root, softmax saturation, vanishing gradients", True), ("K/V 共享，省显存，速度快", False),
    ("残差连接 / 逐元素相加 / 形状一致 / d_model=512", True), ("a, b, c", False),
    ("点积方差 d_k 标准差 √d_k 方差为 1 过度压缩", True), ("冻结 W 只训练 B 和 A 省显存", False),
    ("点积的方差是 d_k，标准差 √d_k，除以 √d_k 后方差回到 1；除以 d_k 就压过头了，softmax 变均匀。", False),
    ("LoRA freezes W and trains B and A", False), ("低秩分解", False)])
def test_bare_term_lists_are_recognised(text, expected):
    assert is_term_list(text) is expected


def test_english_summary_is_extracted(corpus):
    s = english_summary(corpus.notes["3.4.2"].body)
    assert s.startswith("LoRA (Low-Rank Adaptation)") and "##" not in s


def test_shipped_calibration_is_loaded_and_sane():
    data = json.loads(PARAMS_FILE.read_text(encoding="utf-8"))
    p = GraderParams.load()
    # round 1 (chapters 1-4) + round 3's fit set (learners' own words, chapters 9-12); chapters
    # 5-8 and 13-16 are the test sets and must never be fitted on
    assert data["fitted_on"]["answers"] >= 800 and data["fitted_on"]["chapters"] == [1, 2, 3, 4, 9, 10, 11, 12]
    assert p == GraderParams(**(data["params"] | {"claims": tuple(data["params"]["claims"])}))
    for lo, hi, tc, tp in ((p.emb_lo, p.emb_hi, p.t_correct, p.t_partial), (p.x_emb_lo, p.x_emb_hi, p.x_t_correct, p.x_t_partial)):
        assert 0 <= lo < hi <= 1 and 0 < tp < tc <= 1
    assert 0 < p.w_cov < 1 and 0 < p.min_novelty < 1


def test_labelled_sets_shape():
    bank = ItemBank.build(Corpus.load(ROOT / "corpus"))
    for name, chapters in (("blind", {1, 2, 3, 4}), ("blind2", {5, 6, 7, 8})):
        path = ROOT / "evals/grader" / name / "answers.jsonl"
        rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        assert len(rows) >= 400 and len({r["id"] for r in rows}) == len(rows)
        assert {r["label"] for r in rows} == {"correct", "partial", "wrong"}
        assert all(r["item_id"] in bank and int(r["item_id"].split(".")[0]) in chapters for r in rows)
    # the two sets share no item: the test set's items were never fitted on


def test_worked_calculation_that_reuses_the_questions_words_is_not_a_copy(grader, corpus):
    """5.2.1's short item asks for a REINFORCE step from given numbers; the right answer repeats
    the question's symbols and numbers (low novelty) but does not follow its text."""
    q = next(x for x in corpus.notes["5.2.1"].meta.quiz if x.type == "short")
    r = grader.grade(q.question, q.reference, list(q.key_points), q.reference)
    assert "copied_question" not in r.flags and r.verdict == "correct"
    assert grader.grade(q.question, q.reference, list(q.key_points), q.question).flags == ["copied_question"]


def _always_partial() -> dict:
    """A verdict model that says "partial" whatever it is shown (as the shipped one, fitted on
    answers that all try to answer, says P(partial) ≈ 1 for 「我喜欢吃苹果和香蕉」)."""
    from tutor.quiz.grading import FEATURES

    n = len(FEATURES)
    return {"features": list(FEATURES), "mean": [0.0] * n, "scale": [1.0] * n, "classes": ["correct", "partial", "wrong"],
            "coef": [[0.0] * n] * 3, "intercept": [0.0, 10.0, 0.0], "p_correct": 0.85, "p_wrong": 0.9, "p_partial": 0.4}


def test_an_answer_about_something_else_is_wrong_whatever_the_model_says(corpus, lora):
    """Unrelated answers were "check yourself" (the shipped model, with the real embedder: every
    one tried) or, with older graders, partly correct one time and wrong another; now a rule,
    before any model, grades them wrong. (The hash embedder here is not semantic, so the
    answer is one it finds unrelated too.)"""
    g = Grader.for_corpus(corpus, hash_embedder(), GraderParams(model=_always_partial()))
    r = g.grade(lora.prompt, lora.reference, list(lora.key_points), "我喜欢吃苹果和香蕉。")
    assert (r.verdict, r.flags, r.matched) == ("wrong", ["unrelated"], [])
    # an answer on the topic still reaches the model
    r = g.grade(lora.prompt, lora.reference, list(lora.key_points), "LoRA 只训练低秩矩阵 B 和 A，参数约占 0.39%。")
    assert "unrelated" not in r.flags


# Features of two answers to 1.1.1/short-ddaa3a (why not use X itself as Q, K and V?), measured
# with the real embedder (use-multilingual-v3) by evals/grader/false_wrong.py; decide() with the
# shipped calibration is pure arithmetic on them, so this runs without the embedding model.
_REVIEWER_RIGHT = dict(  # 「因为查询、键和值扮演不同角色，分别用不同的投影矩阵可以让模型学到不同的子空间。否则点积只衡量 x 和自己相似，自己总是最高分。」
    kp_lex=[0.3426, 0.3007, 0.1411], kp_cos=[0.3318, 0.2324, 0.5264], ref_cos=0.5021, ref_lex=0.1596, novelty=0.7724,
    empty=False, cross=False, copy_ratio=0.3, claims=[], mis_cos=0.4990, best_cos=0.5264, other_cos=0.4526,
    len_ratio=0.4906, term_list=False, foreign_pairs=1.0, order=0.6667, novel=0.6374, negations=-1, is_reference=False,
    ref_ratio=0.1387, n_terms=21, text_head="因为查询、键和值扮演不同角色，分别用不同的投影矩阵可以让模型学到不同的子空间。否")
_CLEARLY_WRONG = dict(  # blind a-0007, labelled wrong: 「因为直接用 X 算的话是 X^T X，得到的是 d_model×d_model 的矩阵 … 形状对不上 …」
    kp_lex=[0.0, 0.1661, 0.1000], kp_cos=[0.2227, 0.0996, 0.3528], ref_cos=0.3477, ref_lex=0.0745, novelty=0.8797,
    empty=False, cross=False, copy_ratio=0.1324, claims=[], mis_cos=0.6224, best_cos=0.3528, other_cos=0.3391,
    len_ratio=0.8679, term_list=False, foreign_pairs=0.5, order=0.0, novel=0.7134, negations=0, is_reference=False,
    ref_ratio=0.0792, n_terms=23, text_head="因为直接用 X 算的话是 X^T X，得到的是 d_model×d_model ")
_QKV_KPS = ["三种角色需要不同的表示", "独立投影允许非对称的注意力", "直接用 X 会得到对称分数且偏向关注自己"]


def _shipped_decide(feats: dict):
    from tutor.quiz.grading import Features

    g = Grader(hash_embedder(), params=GraderParams.load())
    return g.decide(Features(**feats), _QKV_KPS)


def test_reviewers_right_answer_in_own_words_is_not_graded_wrong():
    # a known false "wrong" until the round-3 refit (own-words answers in the fitting set;
    # evals/grader/REPORT.md, "Round 3 refit"); a strict xfail pinned it before
    assert _shipped_decide(_REVIEWER_RIGHT).verdict in ("correct", "partial", "check")


def test_clearly_wrong_answer_to_the_same_item_stays_wrong():
    r = _shipped_decide(_CLEARLY_WRONG)
    assert r.verdict == "wrong" and r.matched == []


def test_a_negation_in_a_bracketed_aside_does_not_flip_the_facts_polarity():
    """Review 4: the reference's own words 「可以学习非对称的相关性」 were flagged as contradicting
    「模型可以学习非对称的相关性（A 关注 B 不代表 B 同样关注 A）」: the aside's 不代表 counted as a
    second negation. A real flip is still caught."""
    from tutor.quiz.claims import check

    ref = "分开投影让模型可以学习非对称的相关性（A 关注 B 不代表 B 同样关注 A）；直接用 X 时打分矩阵是对称的。"
    kps = ["独立投影允许非对称的注意力"]
    assert not check("分开投影后模型可以学习非对称的相关性。", ref, kps).negation
    assert check("分开投影后模型不能学习非对称的相关性。", ref, kps).negation


def test_a_swap_needs_which_is_which_not_a_name_used_as_a_modifier():
    """Review 24: a right DDIM answer (「……所以 DDPM 训练好的噪声预测网络可以直接拿来用」) was flagged as
    swapping DDPM and DDIM, because its last clause names DDPM with words the reference gives DDIM,
    and graded wrong. Its first clause gives DDIM its own words; a real swap of both is still caught."""
    from tutor.quiz.claims import check

    ref = ("DDPM 的训练损失只依赖边缘分布 q(x_t|x_0)，并不依赖前向过程是否马尔可夫。DDIM 构造的非马尔可夫前向过程族保持了"
           "完全相同的边缘分布，因而对应的训练目标与 L_simple 一致，同一个噪声预测网络可以直接用于 DDIM 的生成过程。")
    q = "为什么用 DDPM 目标训练好的模型不需重新训练就能用 DDIM 采样？"
    right = "因为 DDIM 只改了采样过程，它构造的前向过程和 DDPM 的边缘分布 q(x_t|x_0) 一样，训练目标没变，所以 DDPM 训练好的噪声预测网络可以直接拿来用。"
    assert not check(right, ref, [], q).swap
    swapped = "DDIM 的训练损失只依赖边缘分布 q(x_t|x_0)；DDPM 构造了非马尔可夫前向过程族，保持相同的边缘分布。"
    assert check(swapped, ref, [], q).swap
