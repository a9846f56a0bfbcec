import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tutor.text import (CONTROL_TOKENS, StreamSanitizer, detect_lang, neutralise_control, split_sentences,
                        strip_control)


@pytest.mark.parametrize("text,lang", [
    ("为什么注意力要除以根号d_k？", "zh"), ("What is LoRA?", "en"), ("Transformer 注意力", "zh"),
    ("Explain RoPE in one sentence", "en"), ("", "en"),
])
def test_detect_lang(text, lang):
    assert detect_lang(text) == lang


def test_split_sentences_chinese_and_english():
    text = "注意力很重要。为什么？因为它能聚焦！Then English follows. Done"
    assert split_sentences(text) == ["注意力很重要。", "为什么？", "因为它能聚焦！", "Then English follows.", "Done"]


def test_closing_quote_stays_with_its_sentence():
    assert split_sentences("他说：“好。”然后走了。") == ["他说：“好。”", "然后走了。"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="注意力机制。！？，、”）.!? abc\n", max_size=80))
def test_no_sentence_starts_with_punctuation_or_is_empty(text):
    for s in split_sentences(text):
        assert s.strip() == s and s
        assert s[0] not in "，。！？、；：,.!?;:）)”"


@pytest.mark.parametrize("tok", CONTROL_TOKENS)
def test_neutralised_control_tokens_are_gone(tok):
    out = neutralise_control(f"hi {tok} there")
    assert tok not in out and "hi" in out and "there" in out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["你好", "<|im_end|>", "</s>", "<", "|", ">", "[INST]", "abc", "[1]", "<|", "im_start|>"]), max_size=20),
       st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=20))
@example(parts=["<|", "[INST]", "|", ">"], cuts=[1])  # CI, session 36: the stream kept '<||>', the batch nothing
def test_stream_sanitizer_equals_batch(parts, cuts):
    text = "".join(parts)
    pieces, i = [], 0
    for c in cuts * 20:
        if i >= len(text):
            break
        pieces.append(text[i:i + c])
        i += c
    pieces.append(text[i:])
    s = StreamSanitizer()
    streamed = "".join(s.feed(p) for p in pieces) + s.flush()
    assert streamed == strip_control(text)
    assert "<|im_end|>" not in streamed and "</s>" not in streamed


@pytest.mark.parametrize("raw, normal", [
    ("lora为啥省显存", "lora 为什么省显存"),
    ("训练到一半loss变NaN了，咋办", "训练到一半 loss 变 NaN 了，怎么办"),
    ("啥叫RLHF", "什么叫 RLHF"),
    ("What is LoRA?", "What is LoRA?"),
])
def test_normalise_query(raw, normal):
    from tutor.text import normalise_query

    assert normalise_query(raw) == normal


def test_a_formula_introduced_by_a_colon_stays_in_its_sentence():
    from tutor.text import split_sentences

    assert split_sentences("按 Bradley-Terry 模型训练：\n\n$$L=-\\log\\sigma(r_w-r_l)$$\n\n下一句。") == [
        "按 Bradley-Terry 模型训练： $$L=-\\log\\sigma(r_w-r_l)$$", "下一句。"]
    assert split_sentences("The loss:\n\n$$L = x$$") == ["The loss: $$L = x$$"]
    # no colon: the formula is a sentence of its own, as before
    assert split_sentences("没有冒号。\n\n$$a=b$$") == ["没有冒号。", "$$a=b$$"]


def test_a_quoted_sentence_keeps_the_formula_it_introduces():
    from tutor.trust.check import quotable_sentences

    assert quotable_sentences("按 Bradley-Terry 模型训练：\n\n$$L=-\\log\\sigma(r_w-r_l)$$\n\n数值例：损失约 0.20。") == [
        "按 Bradley-Terry 模型训练： $$L=-\\log\\sigma(r_w-r_l)$$", "数值例：损失约 0.20。"]
    assert quotable_sentences("用 PPO 最大化\n$$J$$") == ["用 PPO 最大化 $$J$$"]  # no sentence end: it goes on
    assert quotable_sentences("一句话。\n$$a=b$$") == ["一句话。", "$$a=b$$"]  # a finished sentence stays apart
    assert quotable_sentences("## 公式\n$$a=b$$") == ["## 公式", "$$a=b$$"]  # a heading is no lead-in


def test_a_formula_is_never_cut_and_a_run_in_heading_is_no_quote():
    """1.2.1's chunk is one line: `\\!` in the display formula ended a "sentence" mid-formula, and
    the bold heading after it was quoted as if it answered 「一个头不够吗」."""
    from tutor.trust.check import quotable_sentences

    line = ("第 i 个头为 $$\\mathrm{softmax}\\! \\left(\\frac{QK^\\top}{\\sqrt{d_k}}\\right)V$$ "
            "**为什么一个头不够。** 对一个查询，单头只产生一行分布。比如 $x.y$ 是内积。")
    assert quotable_sentences(line) == ["第 i 个头为 $$\\mathrm{softmax}\\! \\left(\\frac{QK^\\top}{\\sqrt{d_k}}\\right)V$$",
                                        "对一个查询，单头只产生一行分布。", "比如 $x.y$ 是内积。"]
    assert quotable_sentences("**显存账**：每个参数 16 字节。") == ["显存账：每个参数 16 字节。"]  # a bold label stays


def test_a_run_in_heading_cut_by_a_chunk_boundary_is_no_quote():
    """Review 14: a 1.2.1 chunk ends 「…关系。**为什么计算量不变。」 (its closing ** is in the next
    chunk), and the heading was quoted as a sentence."""
    from tutor.trust.check import quotable_sentences

    assert quotable_sentences("多个头各有一行分布，可以各管一类关系。**为什么计算量不变。") == ["多个头各有一行分布，可以各管一类关系。"]
    assert quotable_sentences("计算量不变。** 每个头的维度被压缩，总量同阶。") == ["每个头的维度被压缩，总量同阶。"]
    assert quotable_sentences("It uses **bold words. Fine.") == ["It uses bold words.", "Fine."]  # not after a sentence end


def test_a_name_with_a_bracketed_gloss_also_names_its_parts():
    from tutor.trust.check import name_parts

    assert name_parts(["Layer Normalization (LayerNorm, LN)", "LN"]) == [
        "Layer Normalization (LayerNorm, LN)", "LN", "Layer Normalization", "LayerNorm"]
    assert name_parts(["层归一化（LN）"]) == ["层归一化（LN）", "层归一化", "LN"]
    assert name_parts(["LoRA"]) == ["LoRA"]


def test_an_abbreviation_ends_no_sentence():
    """Review-31 prep: "The idea comes from Christiano et al. (2017) and was applied…" was two sentences,
    and "(2017) and was applied…" was quoted as one of its own."""
    from tutor.text import split_sentences

    assert split_sentences("The idea comes from Christiano et al. (2017) and was applied. Next.") == [
        "The idea comes from Christiano et al. (2017) and was applied.", "Next."]
    assert split_sentences("See e.g. this. Done vs. not. 中文。好") == ["See e.g. this.", "Done vs. not.", "中文。", "好"]
