"""The shipped short-answer grader with the real multilingual embedder (USE) and the fitted
verdict model: the wrong answers from issue 13's adversarial probe are never graded correct,
and the items' own references are. (Agreement figures live in evals/grader/REPORT.md.)"""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from tutor.corpus import Corpus
from tutor.rag.embed import load_multilingual_embedder
from tutor.quiz.grading import FAR_CLOSENESS, Grader, GraderParams, closeness, english_summary
from tutor.quiz.items import ItemBank
from tutor.quiz.service import other_references

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def setup():
    corpus = Corpus.load(ROOT / "corpus")
    bank = ItemBank.build(corpus)
    grader = Grader.for_corpus(corpus, load_multilingual_embedder())
    assert grader.params.model and grader.params == GraderParams.load()
    return bank, grader


def grade(setup, note_id: str, answer: str):
    bank, grader = setup
    it = next(i for i in bank.items if i.note_id == note_id and i.type == "short" and not i.generated)
    return grader.grade(it.prompt, it.reference, list(it.key_points), answer, english_summary(bank.note(it).body),
                        list(it.misconceptions), other_references(bank, it))


@pytest.mark.parametrize("note_id,answer", [
    # the probe's examples: a negation, a swapped cause with a wrong formula, Euler / Euler a exchanged
    ("1.2.2", "MQA 并不是让所有查询头共享一组 K、V，而是每个查询头仍有自己的 K、V 投影；GQA 也不分组，目的不是缩小 KV cache。"),
    ("1.1.2", "除以 d_k 是为了让梯度更大：q·k 的方差等于 √d_k，所以除以 d_k 以后方差就变成 1 了。"),
    ("4.2.4", "Euler a 是确定性的 ODE 求解器，步数增加时收敛到同一条轨迹；Euler 每一步都注入新的随机噪声，所以步数一变画面就变。"),
    # the item's own misconception, and another item's reference
    ("3.4.2", "要训练 4096×8 = 32,768 个参数，约占 50%，推理时必须保留旁路所以会变慢"),
])
def test_wrong_answers_are_never_correct(setup, note_id, answer):
    g = grade(setup, note_id, answer)
    assert g.verdict in ("wrong", "check"), (g.verdict, g.score, g.flags)


@pytest.mark.parametrize("note_id,answer", [
    # short, confident, clearly wrong answers in a learner's words (session 27; reviews 13a/13b saw
    # such answers get "check yourself" with no word either way): the model puts them at
    # P(partial) ≈ 1, so the grade is undecided, and the feedback must say they are far from the item
    ("7.1.2", "动态量化需要重新训练模型，静态量化不需要任何数据。"),
    ("12.1.1", "LIME 是通过训练一个更大的深度网络来解释模型的，它看的是全局的梯度。"),
    ("8.1.2", "I think you just wrap the model and it works, no launcher needed."),
    ("3.4.2", "LoRA 就是把模型剪枝成一半，所以显存少了。"),
    ("1.1.2", "缩放是为了让计算更快，除以 d 的平方。"),
])
def test_a_short_clearly_wrong_answer_is_never_credited_and_reads_as_far(setup, note_id, answer):
    g = grade(setup, note_id, answer)
    assert g.verdict in ("wrong", "check"), (g.verdict, g.score, g.flags)
    assert closeness(g, setup[1].params) <= FAR_CLOSENESS, (g.coverage, g.similarity)


def test_an_answer_near_a_listed_misconception_is_told_which(setup):
    """Review 14: clearly wrong answers got "check yourself" with no word either way. One nearer
    a listed misconception than the item (grading.MIS_NEAR_GAP) gets it named; written for this
    test in the spirit of a round-1 wrong answer (so in-sample for the threshold)."""
    g = grade(setup, "4.3.4", "零卷积之所以能训练，靠的是 Adam 分母里的 ε 打破了全零的对称；换成普通 SGD，它就会一直输出 0。")
    assert g.verdict == "wrong" or ("near_misconception" in g.flags and "一直输出 0" in g.misconception), (g.verdict, g.flags)


def test_another_items_reference_is_wrong(setup):
    bank, _ = setup
    other = next(i for i in bank.items if i.note_id == "1.2.1" and i.type == "short")
    g = grade(setup, "1.2.2", other.reference)
    assert g.verdict in ("wrong", "check") and g.verdict != "correct"


@pytest.mark.parametrize("note_id", ["1.1.2", "1.2.2", "3.4.2", "4.2.4", "5.2.1", "9.1.1", "13.1.2"])
def test_the_reference_itself_is_correct(setup, note_id):
    bank, _ = setup
    it = next(i for i in bank.items if i.note_id == note_id and i.type == "short" and not i.generated)
    g = grade(setup, note_id, it.reference)
    assert g.verdict == "correct" and g.score > 0.5, (g.verdict, g.score, g.flags)


def test_formatting_does_not_change_the_verdict(setup):
    bank, _ = setup
    it = next(i for i in bank.items if i.note_id == "1.1.2" and i.type == "short")
    plain = grade(setup, "1.1.2", it.reference).verdict
    marked = grade(setup, "1.1.2", "<script>alert(1)</script>\n- **" + it.reference.replace("√d_k", "$\\sqrt{d_k}$") + "**")
    assert marked.verdict == plain



@pytest.mark.parametrize("note_id,old,new", [
    # the reference with the one word that matters changed (found by a learner probe, issue 13)
    ("2.1.3", "逐元素相加", "逐元素相乘"),
    ("12.1.1", "系数即近似 SHAP 值", "系数即精确 SHAP 值"),
    ("7.1.1", "不同输出通道", "不同输入通道"),
    ("14.1.1", "这不是过拟合", "这就是过拟合"),
    ("4.2.4", "Euler 是确定性的", "Euler a 是确定性的"),
])
def test_the_reference_with_one_word_changed_is_never_credited(setup, note_id, old, new):
    bank, _ = setup
    it = next(i for i in bank.items if i.note_id == note_id and i.type == "short" and not i.generated)
    assert old in it.reference
    g = grade(setup, note_id, it.reference.replace(old, new, 1))
    assert g.verdict in ("wrong", "check"), (g.verdict, g.score, g.flags)


def test_the_reference_with_a_contradiction_appended_is_never_credited(setup):
    bank, _ = setup
    it = next(i for i in bank.items if i.note_id == "14.1.1" and i.type == "short")
    g = grade(setup, "14.1.1", it.reference + "——以上说法全是错的，事实正好相反。")
    assert g.verdict in ("wrong", "check"), (g.verdict, g.flags)


@pytest.mark.parametrize("answer,flag", [("不知道", "dont_know"), ("我不清楚。", "dont_know"), ("I don't know", "dont_know"),
                                         ("abc", "too_short"), ("2", "too_short")])
def test_answers_that_state_nothing_are_wrong(setup, answer, flag):
    g = grade(setup, "14.1.1", answer)
    assert (g.verdict, g.flags) == ("wrong", [flag])


def test_a_right_english_answer_to_a_chinese_item_is_never_graded_wrong(setup):
    """Review 27: a right English answer to 3.1.1's [MASK] item was "Wrong 2%", told it missed
    「微调时没有 [MASK]，存在预训练-微调不一致」, which it states. An answer in the item's other
    language is at worst "check yourself"."""
    bank, grader = setup
    it = next(i for i in bank.items if i.type == "short" and "[MASK]" in i.prompt and "全部替换" in i.prompt)
    answer = ("Because [MASK] never shows up during fine-tuning, masking everything creates a mismatch between "
              "pre-training and fine-tuning. So of the selected 15% tokens, 80% become [MASK], 10% a random token "
              "and 10% stay unchanged.")
    g = grader.grade(it.prompt, it.reference, list(it.key_points), answer, english_summary(bank.note(it).body),
                     list(it.misconceptions), other_references(bank, it))
    assert g.verdict != "wrong", (g.verdict, g.score, g.flags)


def test_two_listed_misconceptions_fused_are_never_credited(setup):
    """Review 31: an answer stating two of 8.4.2's listed misconceptions in one sentence was "Partly
    correct 43%" (the fitted model's verdict); clearly nearer a misconception than the item, it is never
    credited and the misconception is named."""
    g = grade(setup, "8.4.2", "因为整个模型包成一个单元通信次数最少，所以最省显存；按块包装只是为了代码更整洁。")
    assert g.verdict in ("wrong", "check") and g.misconception, (g.verdict, g.score, g.flags)
