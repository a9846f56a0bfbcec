"""compare.parts: the two sides a comparison question names; Chat quotes each side's note
(review 5: 「知识蒸馏和剪枝有什么区别？」 quoted only distillation)."""

from __future__ import annotations

import pytest

from tutor.rag.compare import REFERS_BACK, each, parts


@pytest.mark.parametrize("q,sides", [
    ("知识蒸馏和剪枝有什么区别？", ("知识蒸馏", "剪枝")),
    ("self-attention跟普通attention有啥区别", ("self-attention", "普通attention")),
    ("Adam 和 SGD 相比有什么优缺点？", ("Adam", "SGD")),
    ("它跟DDP比有什么区别？", ("它", "DDP")),
    ("What is the difference between LoRA and QLoRA?", ("LoRA", "QLoRA")),
    ("prompt tuning vs prefix tuning, arent they basically the same thing", ("prompt tuning", "prefix tuning")),
    ("How does it compare with TorchServe?", ("it", "TorchServe")),
    ("And how is that different from instance segmentation?", ("that", "instance segmentation")),
    ("whats a soft q function and how is it different from a normal q", ("soft q function", "normal q")),
    ("Is PPO better than DPO for RLHF?", ("PPO", "DPO")),
    # review 25: "pick X over Y" compares; a gerund side compares the name it holds, or nothing
    ("When would I pick it over plain behavior cloning?", ("it", "behavior cloning")),
    ("What is TensorRT and why is it faster than running the model in PyTorch?", ("TensorRT", "PyTorch")),
    ("Is batching better than running requests one by one?", None),
    # review 28: 「A 为什么比 B 省/快/好」 compares A with B; with a pronoun for A it stays a follow-up
    ("Hyperband 为什么比随机搜索省预算？", ("Hyperband", "随机搜索")), ("DDIM 为什么比 DDPM 快？", ("DDIM", "DDPM")),
    ("它为什么能比 DDPM 快那么多？", None), ("LoRA 为什么省显存？", None),
    # review 29: a lead-in that points back is no side
    ("回到刚才的话题，和剪枝比呢？", ("", "剪枝")), ("刚才说的蒸馏，和剪枝比呢？", ("蒸馏", "剪枝")),
    # no comparison
    ("LoRA 在 Stable Diffusion 里怎么用？", None), ("ZeRO 的三个阶段分别切分了什么？", None),
    ("debugging a pytorch training script in VS Code with breakpoints", None),
    ("What's the best time of year to visit Kyoto?", None), ("What does LoRA freeze?", None),
])
def test_the_sides_of_a_comparison(q, sides):
    assert parts(q) == sides


@pytest.mark.parametrize("q,sides", [
    ("张量并行和流水线并行各切的是什么？", ("张量并行", "流水线并行")),
    ("数据并行和模型并行分别怎么做？", ("数据并行", "模型并行")),
    ("Adam和SGD各自的优缺点？", ("Adam", "SGD")),
    ("LoRA微调里的r和alpha分别是啥？", ("的r", "alpha")),  # (no note named: the chat ignores it)
    ("各种优化器有什么区别？", None), ("同一类的好几个人要分别抠出来", None), ("我和同事各写了一个模型怎么办？", None),
    ("它和那个分别是什么？", None), ("What do tensor and pipeline parallelism each split?", None),
])
def test_the_two_things_a_question_asks_about_each_in_turn(q, sides):
    assert each(q) == sides


def test_each_of_two_named_notes_is_a_source_of_its_own(fake_tutor):
    """Review 20 (minor): 「张量并行和流水线并行各切的是什么？」 quoted pipeline parallelism only. Two
    sides that each name a note are each one source; two parts of one topic are no sides."""
    q = "张量并行和流水线并行各切的是什么？"
    assert [h.chunk.node_id for h in fake_tutor.chat._compared(q, q)] == ["8.2.1", "8.2.2"]
    q = "LoRA微调里的r和alpha分别是啥？"
    assert fake_tutor.chat._compared(q, q) == []


def test_a_pronoun_side_refers_back():
    assert REFERS_BACK.match("它") and REFERS_BACK.match("that") and REFERS_BACK.match("")
    assert not REFERS_BACK.match("DDP")


def test_each_side_of_a_comparison_gets_its_own_note_and_quotes(fake_tutor):
    """Distillation vs pruning: both notes among the first sources, quotes from each."""
    a = fake_tutor.ask("知识蒸馏和剪枝有什么区别？", mode="quotes_first")
    ids = [s.id for s in a.sources]
    sides = fake_tutor.chat._compared("知识蒸馏和剪枝有什么区别？", "知识蒸馏和剪枝有什么区别？")
    assert len(sides) == 2, "the fake index finds both sides"
    want = [h.chunk.node_id for h in sides]
    assert ids[:2] == want
    assert "[1]" in a.answer and "[2]" in a.answer


def test_a_side_with_no_note_of_its_own_takes_the_note_that_writes_it_out(fake_tutor):
    """Review 14: "batch normalization" has no note; its best hit was serving's "batching", so
    BN vs LN quoted 9.2.3. 2.1.4 writes "batch normalization" out and contrasts it with
    LayerNorm: both sides land there, and that note goes first."""
    q = "What is the difference between batch normalization and layer normalization?"
    sides = fake_tutor.chat._compared(q, q)
    assert [h.chunk.node_id for h in sides] == ["2.1.4"]
    a = fake_tutor.ask(q, mode="quotes_first")
    assert a.sources[0].id == "2.1.4"
    first_line = a.answer.split("\n")[1]
    assert "[1]" in first_line and "batching" not in first_line.lower()


def test_the_question_a_pronoun_stands_for_takes_its_best_note_not_a_name_inside_it(fake_tutor):
    """Review 14: "And how is it different from RMSNorm?" after "Why do Transformers use layer
    normalization?" compared the Hugging Face note ("Transformers" names the library) with
    2.1.4. The earlier question's best note is 2.1.4, which also holds RMSNorm."""
    before = "Why do Transformers use layer normalization?"
    asked = "And how is it different from RMSNorm?"
    assert fake_tutor.retriever.search(before, k=10, per_note=True)[0].chunk.node_id == "2.1.4"
    sides = fake_tutor.chat._compared(asked, f"{before}\n{asked}")
    assert [h.chunk.node_id for h in sides] == ["2.1.4"]


def test_review22_it_and_x_bi_ne_is_a_comparison_but_a_ratio_is_not():
    """Review 22: 「那它和 ALiBi 比呢？」 after RoPE quoted RoPE alone: 比 + 呢 / 怎么样 compares."""
    from tutor.rag.compare import parts

    assert parts("那它和 ALiBi 比呢？") == ("它", "ALiBi")
    assert parts("RoPE 和 ALiBi 比怎么样？") == ("RoPE", "ALiBi")
    assert parts("学习率和批大小的比例怎么设？") is None and parts("量化后精度比原来低多少？") is None


def test_the_subject_of_a_what_is_question():
    from tutor.rag.compare import subject

    assert subject("What is speculative decoding in LLM inference?") == "speculative decoding"
    assert subject("什么是投机解码？") == subject("投机解码是什么？") == "投机解码"
    assert subject("What is CLIP?") == "CLIP"
    assert subject("它是什么？") is None and subject("How does LoRA work?") is None


def test_a_side_or_subject_no_note_writes_is_said_and_takes_no_note(fake_tutor):
    """Review 23: 「它跟投机解码有什么区别？」 after the KV cache quoted cross-attention as the other
    side, and "What is speculative decoding?" quoted decoder notes, with nothing said; the notes
    never mention it. A side that reads as a sentence piece, or whose words are all in the notes,
    is not named."""
    chat = fake_tutor.chat
    assert chat.unwritten("知识蒸馏和投机解码有什么区别？") == ["投机解码"]
    assert chat.unwritten("What is speculative decoding?") == ["speculative decoding"]
    assert chat.unwritten("知识蒸馏和剪枝有什么区别？") == []
    assert chat.unwritten("为什么要把注意力和投机解码放在一起讲？") == []  # not a comparison or subject
    assert chat._compared("知识蒸馏和投机解码有什么区别？", "知识蒸馏和投机解码有什么区别？") == []
    from tutor.trust.check import QUOTES_HEADER

    first = fake_tutor.ask("什么是知识蒸馏？", mode="quotes_first")
    assert first.covered and first.sources
    q = "它跟投机解码有什么区别？"
    text = chat._extractive(q, first.sources, "zh", QUOTES_HEADER, asked=q)
    assert text.split("\n")[1] == "（笔记里没有出现 投机解码；下面的句子只与问题里的其他词有关。）", text
    assert "[1]" in text


def test_a_what_is_question_about_a_term_no_note_writes_is_not_covered(fake_tutor):
    """Review 26: 「向量数据库是什么？」 quoted MLflow's backend database with no notice (the English
    question was refused): jieba's search mode cut the term into four words (向量, 数据, 据库, 数据库),
    too many for a term. A what-is question whose subject no note writes is now not covered."""
    chat = fake_tutor.chat
    assert chat.unwritten("向量数据库是什么？") == ["向量数据库"]
    a = fake_tutor.ask("向量数据库是什么？", mode="quotes_first")
    assert not a.covered and a.notices == ["not_covered"], a.answer
    assert a.answer.splitlines()[-1] == "（笔记里没有出现 向量数据库。）", a.answer  # and says which term
    assert fake_tutor.ask("什么是知识蒸馏？", mode="quotes_first").covered  # a term the notes write


def test_a_versioned_model_name_no_note_writes_is_said(fake_tutor):
    """Review 26: "What is the context length of Gemini 2.5 Pro?" quoted Longformer's "4096 tokens"
    with nothing said; a note names ColossalAI's Gemini, so the name alone was known."""
    chat = fake_tutor.chat
    assert chat.unwritten_versions("What is the context length of Gemini 2.5 Pro?") == ["Gemini 2.5 Pro"]
    assert chat.unwritten_versions("GPT-5 和 GPT-4 有什么区别？") == ["GPT-5"]
    # a count, a score, a step, or a version the notes write: none
    for q in ["With 64 GPUs, how many replicas?", "GPU 0 runs out of memory", "BLEU 30 分算好吗？",
              "In Step 2 of RLHF what happens?", "What did GPT-3 show about in-context learning?"]:
        assert chat.unwritten_versions(q) == [], q


def test_two_questions_in_one_turn_have_two_subjects():
    """Review 32: 「稀疏注意力是什么？Longformer 是怎么做的？」 quoted Longformer alone."""
    from tutor.rag.compare import two_subjects

    assert two_subjects("稀疏注意力是什么？Longformer 是怎么做的？") == ("稀疏注意力", "Longformer")
    assert two_subjects("什么是 LoRA？它为什么省显存？") is None  # the second is about the first
    assert two_subjects("LoRA 是什么？") is None and two_subjects("DDP 和 FSDP 有什么区别？") is None


def test_an_aspect_of_the_last_topic_is_no_subject():
    """Review 32: "What are the downsides, then?" after ONNX was told the notes never mention "downsides"."""
    from tutor.rag.compare import subject

    assert subject("What are the downsides, then?") is None and subject("缺点是什么？") is None
    assert subject("What is speculative decoding?") == "speculative decoding"
