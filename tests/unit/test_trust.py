"""Answer trust with fakes: the flagger's features and rule, the garbage detectors, the
extractive fallback, and the Chat guard's events (scripted LLM, hash embedder, real corpus)."""

from __future__ import annotations

import re

import pytest

from tutor.text import split_sentences
from tutor.wording import w

from tutor.trust.check import (REPEATED_MARK, FALLBACK_HEADER, mark_repeats, quoted_in, Flagger, cjk_phrases, extractive_answer, garbage_reasons, header_echo, is_empty, is_looping, off_question,
                         restates_question, retry_reasons,
                         language_mismatch, repetition, strip_citations)

SDPA_ZH = ("缩放点积（scaled dot-product）是 Transformer 计算注意力分数的方式：用查询和键的点积衡量相关性，再除以 √d_k。"
           "若 q、k 各分量独立、均值 0、方差 1，则点积 q·k 的方差等于 d_k，标准差为 √d_k。"
           "不缩放时分数随 d_k 变大，softmax 饱和成近似 one-hot，其梯度接近 0，训练变慢甚至停滞。")
SDPA_EN = ("Scaled dot-product attention computes scores as QK^T / sqrt(d_k). Large scores push the softmax into "
           "saturation, producing near one-hot attention weights whose gradients are close to zero. Dividing by "
           "the standard deviation sqrt(d_k) restores unit variance and keeps training stable.")
# what SmolLM2-135M actually streamed for 为什么注意力要除以根号d_k？ (trimmed)
SMOL_LOOP = ("缩放点积（Scaled Dot-Product Attention Scores）· 注意力！\n\n[1] 缩放点积（Scaled Dot-Product Attention Scores）· 注意力！\n\n"
             + "注意力机制详解（Attention Mechanisms in Depth）· 要点 Key points\n\n 注意力机制详解（Attention Mechanisms in Depth）· 注意力！\n\n" * 4)


@pytest.mark.parametrize("text, looping", [
    (SMOL_LOOP, True),
    ("the the the the the the the the the the the the the the the the the the the the the the the the the", True),
    (SDPA_ZH, False),
    (SDPA_EN, False),
    ("好的。好的。好的。", False),  # too short to call a loop
])
def test_loop_detection(text, looping):
    assert is_looping(text) is looping
    if len(text) > 80:
        assert (repetition(text) > 0.35) is looping


# real SmolLM2 first answers that passed the first version of the checks
LATE_LOOP = ("[1] 扩散模型先用固定的前向过程把数据逐步加噪成高斯噪声。[2] 噪声调度把从清晰到全噪的旅程看作一段路程，调度就是这段路上的速度曲线。"
             "这就是一个问题，其实就是一个问题，其它的问题都是一段路上的速度曲线，只是一个问题，其它的问题都是一段路上的速度曲线，只是一个问题，其")
COUNTING = ("This section covers positional encoding in Transformers: because self-attention is permutation equivariant, word "
            "order must be injected explicitly. It compares absolute position embeddings with relative schemes that act inside "
            "attention. Suggested order: " + ", ".join(f"1.3.{i}" for i in range(2, 40)) + ",")
LEARNING_ORDER = ("注意力机制详解（Attention Mechanisms in Depth）· 建议学习顺序\n1.1.1 → 1.1.2 → 1.1.3 → 1.1.4 → 1.2.1 → 1.2.2 → 1.2.3 → "
                  "1.2.4 → 1.3.1 → 1.3.2 → 1.3.3 → 1.3.4 → 1.4.1 → 1.4.2 → 1.4.3 → 1.4.4。如果时间有限，优先掌握 1.1.2。")


@pytest.mark.parametrize("text, looping", [(LATE_LOOP, True), (COUNTING, True), (LEARNING_ORDER, False)])
def test_late_and_counting_loops(text, looping):
    assert is_looping(text) is looping


@pytest.mark.parametrize("answer, echo", [
    ("The output layer turns hidden states into next-token probabilities using [number] in English.", True),
    ("上面的笔记用中文回答，并用 [编号] 标注引用。", True),
    ("Falcon-7B was trained on RefinedWeb. Question: What data was Falcon trained on? Answer in English using only the notes above", True),
    ("Falcon was trained mostly on RefinedWeb, filtered and deduplicated web data [1].", False),
])
def test_prompt_echo(answer, echo):
    from tutor.trust.check import prompt_echo

    instructions = ["Answer in English using only the notes above, citing them as [number]."]
    assert prompt_echo(answer, instructions) is echo


@pytest.mark.parametrize("answer, lang, mismatch", [
    ("Attention divides by sqrt(d_k) so that the softmax does not saturate. [1]", "zh", True),
    ("注意力除以 √d_k，是为了防止 softmax 饱和 [1]。", "zh", False),
    ("缩放点积把方差拉回 1，softmax 不会饱和，训练更稳定。", "en", True),
    ("RoPE (旋转位置编码) rotates query and key vectors by position. [1]", "en", False),
    ("[1]", "zh", False),  # nothing to judge: is_empty's job
])
def test_language_mismatch(answer, lang, mismatch):
    assert language_mismatch(answer, lang) is mismatch


def test_empty_answers():
    assert is_empty("") and is_empty("  [1]。 [2]") and is_empty("……")
    assert not is_empty("是的 [1]")
    assert garbage_reasons("[1]", "zh", []) == ["empty"]
    said_nothing = "The number is 1."  # SmolLM2's answer to "What does perplexity measure for a language model?"
    assert garbage_reasons(said_nothing, "en", Flagger(None).check([said_nothing], [SDPA_EN], "en")) == ["empty"]


def test_flagger_on_overlap_alone_separates_copied_and_foreign_sentences():
    f = Flagger(None)
    sents = ["点积 q·k 的方差等于 d_k，标准差为 √d_k [1]。",          # restated from the note
             "这个缩放因子最早由苹果公司在 1998 年的手机芯片里提出。",  # not in the note
             "好的。"]                                               # nothing to check
    checks = f.check(sents, [SDPA_ZH], "zh")
    assert [c.supported for c in checks] == [True, False, True]
    assert [c.checkable for c in checks] == [True, True, False]
    assert checks[0].bigram > checks[1].bigram and checks[0].tok > checks[1].tok
    assert all(c.sim == 0.0 for c in checks)  # no embedder: similarity does not count


def test_flagger_uses_similarity_for_english():
    calls = []

    def embed(texts):
        calls.append(list(texts))
        return [[1.0, 0.0, 0.0] if "softmax" in t.lower() else [0.0, 0.0, 1.0] if "banana" in t.lower() else [0.0, 1.0, 0.0]
                for t in texts]

    f = Flagger(embed)
    checks = f.check(["The softmax saturates when scores are large [1].", "Bananas are yellow and grow in bunches."],
                     [SDPA_EN], "en")
    assert checks[0].sim == 1.0 and checks[1].sim == 0.0
    assert [c.supported for c in checks] == [True, False]
    n = len(calls)
    f.check(["The softmax saturates when scores are large [1]."], [SDPA_EN], "en")
    assert len(calls) == n  # context and sentence vectors are cached


def test_garbage_reasons_combine():
    f = Flagger(None)
    bad = "The moon sings in the garden. Apples drive cars to school. Bananas read books at night."
    checks = f.check(bad.split(". "), [SDPA_ZH], "zh")
    assert set(garbage_reasons(bad, "zh", checks)) == {"language", "unsupported"}
    good = "点积 q·k 的方差等于 d_k [1]。除以 √d_k 后，softmax 不会饱和 [1]。"
    assert garbage_reasons(good, "zh", f.check(["点积 q·k 的方差等于 d_k [1]。", "除以 √d_k 后，softmax 不会饱和 [1]。"], [SDPA_ZH], "zh")) == []


def test_extractive_answer_quotes_cited_note_sentences_in_the_question_language():
    sources = [(1, SDPA_ZH), (2, SDPA_EN)]
    zh = extractive_answer("为什么要除以根号 d_k？", sources, "zh")
    lines = zh.splitlines()
    assert lines[0] == FALLBACK_HEADER["zh"] and 1 <= len(lines) - 1 <= 3
    for line in lines[1:]:
        assert line.startswith("- ") and re.search(r" \[[12]\][。.]?$", line)
        assert strip_citations(line[2:]) in SDPA_ZH  # verbatim from the notes
    en = extractive_answer("Why divide by sqrt(d_k)?", sources, "en")
    assert en.splitlines()[0] == FALLBACK_HEADER["en"]
    assert all(" [2]" in line and strip_citations(line[2:]) in SDPA_EN for line in en.splitlines()[1:])
    assert len(split_sentences(zh)) == len(lines)  # one sentence per quoted line: citations stay inside


def test_a_drawbacks_answer_quotes_no_line_of_uses_or_strengths():
    """Review 18: 「用差分隐私训练模型有哪些缺点或者风险？」 quoted 13.2.1's 「缺点：」 line and then its
    「适用：…敏感数据上的模型训练…」 line, which shares the question's words but states no drawback."""
    note = ("差分隐私给分析结果加入校准过的噪声。"
            "缺点：噪声降低模型精度，小数据和少数群体受影响更大。"
            "适用：统计发布、敏感数据上的模型训练，以及与联邦学习结合。"
            "优点：隐私损失可以量化，模型训练时可以组合计算。"
            "过拟合越严重，成员推断攻击越容易。")
    out = extractive_answer("用差分隐私训练模型有哪些缺点或者风险？", [(1, note)], "zh")
    assert "缺点：噪声降低模型精度" in out, out
    assert "适用：" not in out and "优点：" not in out, out


def test_extractive_answer_skips_questions():
    src = [(1, "为什么注意力要除以根号 d_k？因为点积的方差等于 d_k；除以根号 d_k 后方差回到 1。")]
    out = extractive_answer("为什么注意力要除以根号 d_k？", src, "zh")
    assert "？" not in out and "因为点积的方差等于 d_k；除以根号 d_k 后方差回到 1 [1]。" in out  # whole sentence, not a clause


# -- the guard inside Chat -------------------------------------------------------------

@pytest.fixture(scope="module")
def tutor(tmp_path_factory, fake_home):
    from tests.conftest import fake_home_copy, make_settings
    from tutor.rag.embed import hash_embedder
    from tutor.llm import ScriptedLLM
    from tutor.tutor import build_tutor

    home = fake_home_copy(fake_home, tmp_path_factory.mktemp("trust") / "home")
    return build_tutor(make_settings(home), llm=ScriptedLLM(), embedder=hash_embedder())


def run(tutor, replies, q="为什么注意力要除以根号d_k？"):
    tutor.llm.replies = list(replies)
    tutor.llm.calls.clear()
    events = list(tutor.ask_stream(q))
    answer = events[-1][1]
    shown = ""
    for kind, value in events:
        if kind == "token":
            shown += value
        elif kind == "replace":
            shown = value
    return events, answer, shown


def note_sentence(tutor, q="为什么注意力要除以根号d_k？", lang="zh", skip=0):
    """A sentence of a note chunk that the tutor retrieves for q (what a faithful model would
    say); skip: how many such sentences to pass over."""
    from tutor.text import detect_lang, split_sentences

    sources = next(v for k, v in tutor.ask_stream(q) if k == "sources")
    for src in sources:
        for cid in src.chunk_ids:
            c = tutor.index.chunks[cid]
            if c.kind != "outline":
                for s in split_sentences(c.text.split("\n", 1)[1]):
                    if detect_lang(s) == lang and len(s) > 20 and s.endswith("。"):
                        if skip == 0:
                            return s
                        skip -= 1
    raise AssertionError("no sentence")


def cited(sentence: str) -> str:
    return sentence.rstrip("。") + " [1]。"


def test_a_good_answer_is_shown_directly(tutor):
    good = cited(note_sentence(tutor))
    events, a, shown = run(tutor, [good])
    assert [k for k, _ in events if k in ("retry", "replace")] == []
    assert a.guard["outcome"] == "direct" and a.guard["reasons"] == [[]]
    assert a.answer == good.strip() and shown.strip() == a.answer
    assert a.sentences and a.unsupported == [] and len(tutor.llm.calls) == 1
    j = a.to_json()
    assert j["unsupported"] == [] and j["sentences"] == a.sentences


def test_a_garbage_answer_is_retried_with_the_strict_prompt(tutor):
    good = cited(note_sentence(tutor))
    events, a, shown = run(tutor, ["The Great Gatsby is a novel by F. Scott Fitzgerald about the American dream.", good])
    kinds = [k for k, _ in events]
    assert kinds.index("retry") < kinds.index("replace") < kinds.index("done")
    assert dict(events)["retry"] == ["language", "unsupported"]
    assert a.answer == good and shown == a.answer
    assert a.guard["outcome"] == "retried" and "retried_strict" in a.notices and "garbage_language" in a.notices
    strict_system = tutor.llm.calls[1][0]["content"]
    assert strict_system == tutor.prompts.render("strict", "zh")
    assert len(tutor.llm.calls[1]) == 2  # strict retry: system + one user turn, no history


def test_two_garbage_answers_fall_back_to_quoting_the_notes(tutor):
    loop = "注意力！" * 200
    events, a, shown = run(tutor, [loop, "Bananas are yellow. Bananas are yellow. Bananas are yellow."])
    assert a.guard["outcome"] == "fallback" and "extractive_fallback" in a.notices
    assert a.answer == shown and a.answer.startswith(FALLBACK_HEADER["zh"])
    assert a.unsupported == [] and a.sentences
    quoted = a.answer.splitlines()[1:]
    cited = {s.n for s in a.sources}
    assert quoted and all(int(re.search(r"\[(\d+)\][。.!?！？]?$", line).group(1)) in cited for line in quoted)
    # the loop was cut short while streaming instead of running to max_answer_tokens
    streamed = "".join(v for k, v in events if k == "token")
    assert len(streamed) < tutor.settings.max_answer_tokens


def test_the_check_can_be_switched_off(tutor):
    tutor.settings.answer_check = False
    try:
        events, a, shown = run(tutor, ["The Great Gatsby is a novel."])
    finally:
        tutor.settings.answer_check = True
    assert a.guard["outcome"] == "unchecked" and "retry" not in [k for k, _ in events]
    assert a.answer == "The Great Gatsby is a novel." and a.sentences == ["The Great Gatsby is a novel."]


def test_unsupported_sentences_are_listed_by_index(tutor):
    one, two = note_sentence(tutor), note_sentence(tutor, skip=1)
    answer = f"{cited(one)}另外，这个方法是 2031 年火星探测器上的导航团队发明的。{cited(two)}"
    events, a, shown = run(tutor, [answer])
    assert a.guard["outcome"] == "direct"  # one of three flagged: not "most"
    assert len(a.sentences) == 3 and a.unsupported == [1]
    assert a.to_json()["unsupported"] == [1]


def test_cli_streaming_shows_the_retry_and_the_revised_answer(tutor, monkeypatch):
    from typer.testing import CliRunner

    import tutor.cli as cli

    good = cited(note_sentence(tutor))
    tutor.llm.replies = ["The Great Gatsby is a novel by F. Scott Fitzgerald about the American dream.", good]
    monkeypatch.setattr(cli, "_tutor", lambda: tutor)
    r = CliRunner().invoke(cli.app, ["ask", "为什么注意力要除以根号d_k？"])
    assert r.exit_code == 0, r.output
    assert "retrying with a stricter prompt" in r.stderr
    out = r.stdout
    assert out.index("The Great Gatsby") < out.index("── revised answer ──") < out.index(cli._plain_math(good))  # formulas as Unicode
    tail = out.split("── revised answer ──")[-1]
    for code in ("garbage_language", "garbage_unsupported", "retried_strict"):  # in words, the code after
        assert f"提示 notice: {w(f'notice.{code}')} ({code})" in tail


@pytest.mark.parametrize("args", [["ask"], ["ask", "--no-stream"]])
def test_cli_shows_the_tutors_formulas_as_unicode_and_json_keeps_latex(tutor, monkeypatch, args):
    import json

    from typer.testing import CliRunner

    import tutor.cli as cli

    monkeypatch.setattr(cli, "_tutor", lambda: tutor)
    r = CliRunner().invoke(cli.app, [*args, "--mode", "quotes_first", "为什么注意力要除以根号d_k？"])
    assert r.exit_code == 0, r.output
    answer = r.stdout.split("\n  [1] ")[0]
    assert "√" in r.stdout and "$" not in answer and "\\sqrt" not in answer, answer
    j = json.loads(CliRunner().invoke(cli.app, ["ask", "--json", "--mode", "quotes_first", "为什么注意力要除以根号d_k？"]).stdout)
    assert "\\sqrt" in j["answer"] or "$" in j["answer"]  # the contract's text as written


def test_cli_json_lists_unsupported_sentences(tutor, monkeypatch):
    import json

    from typer.testing import CliRunner

    import tutor.cli as cli

    one, two = note_sentence(tutor), note_sentence(tutor, skip=1)
    tutor.llm.replies = [f"{cited(one)}另外，这个方法是 2031 年火星探测器上的导航团队发明的。{cited(two)}"]
    monkeypatch.setattr(cli, "_tutor", lambda: tutor)
    r = CliRunner().invoke(cli.app, ["ask", "--json", "为什么注意力要除以根号d_k？"])
    j = json.loads(r.stdout)
    assert j["unsupported"] == [1] and len(j["sentences"]) == 3 and j["guard"]["outcome"] == "direct"
    assert j["key_points"] and {"n", "id", "text"} == set(j["key_points"][0])


def test_a_strict_retry_cut_at_the_token_limit_is_not_shown(tutor):
    from tutor.rag.chat import RETRY_MAX_TOKENS

    good = cited(note_sentence(tutor))
    long_retry = (good * (RETRY_MAX_TOKENS // len(good) + 2))  # supported, but cut mid-sentence by the limit
    events, a, shown = run(tutor, ["The Great Gatsby is a novel.", long_retry])
    assert a.guard["outcome"] == "fallback" and "truncated" in a.guard["reasons"][1]
    assert shown == a.answer and a.answer.startswith(FALLBACK_HEADER["zh"])


def test_retry_reasons_reject_words_going_round():
    from tutor.trust.check import retry_reasons

    vacuous = ("The output layer turns hidden states into next-token probabilities using the output layer's output layer, "
               "and the final hidden states are used to generate next-token probabilities.")
    real = ("The output layer multiplies the final hidden state by the unembedding matrix to get logits, "
            "and a softmax turns them into next-token probabilities [1].")
    assert retry_reasons(vacuous, [], truncated=False) == ["repetitive"]
    assert retry_reasons(real, [], truncated=False) == []
    assert retry_reasons(real, [], truncated=True) == ["truncated"]


# Shown as "direct" by SmolLM2 on the eval set (evals/trust/guard_run.jsonl, 2026-11-29 run 1):
# the model copied the prompt's source headers instead of answering.
QUESTION = "What does multi-head attention concatenate?"
HEADERS = ["多头并行（Parallel Attention Heads (Multi-Head Parallelism)）", "多头并行（Parallel Attention Heads (Multi-Head Parallelism)）· 概念",
           "拼接输出（Concatenating Head Outputs and Output Projection）", "拼接输出（Concatenating Head Outputs and Output Projection）· 原理",
           "Self-attention（Self-Attention）", "Self-attention（Self-Attention）· 要点 Key points"]


@pytest.mark.parametrize("answer", [
    "[1] 多头并行（Parallel Attention Heads (Multi-Head Parallelism)）· [2] 拼接输出（Concatenating Head Outputs and Output Projection）\n\n"
    "[2] 拼接输出（Concatenating Head Outputs and Output Projection）·                    [8",
    "[3] Self-attention（SelfAttention）\n- 自注意力让序列中每个位置都能直接访问所有位置",
    "Self-attention（Self-Attention）· 要点 Key points\n- 计算式为 softmax(QKᵀ/√d_k)V",
    "- 拼接输出（Concatenating Head Outputs and Out",
    "Question: What does multi-head attention concatenate?\n\nThe heads' outputs are concatenated [2].",
])
def test_header_echo_catches_copied_source_headers(answer):
    assert header_echo(answer, HEADERS, QUESTION)
    assert "echo" in garbage_reasons(answer, "zh", [], headers=HEADERS, question=QUESTION)


@pytest.mark.parametrize("answer,dump", [
    ("1.1.1 INT8量化 ⚠ 1.1.2 7.1.1 …", True),  # review 9, Explain
    ("[1] 3.4.2 LoRA\n[2] 4.4.4 LoRA\n[3] 7.1.1 量化", True),
    # the notes' own cross-references carry content between the ids
    ("可解释性（13.3.1）为问责提供理由和证据，披露（13.3.3）把责任信息传递给用户和监管者，治理（13.3.4）把这些做法固化为组织制度和法规 [1]。", False),
    ("LoRA 见 3.4.2，它冻结预训练权重，只训练两个低秩矩阵 [1]。", False),
    ("Python 3.11.7 and llama.cpp 0.3.16 and torch 2.13.0 are installed.", False),  # versions, no topic ids
])
def test_an_answer_made_of_outline_ids_is_an_echo(answer, dump):
    from tutor.trust.check import id_dump

    assert id_dump(answer) is dump
    assert ("echo" in garbage_reasons(answer, "zh", [])) is dump


@pytest.mark.parametrize("answer", [
    "各个头的输出先拼接（concatenate）成一个向量，再乘输出矩阵 W^O 投影回 d_model [2]。",
    "拼接输出（Concatenating Head Outputs）就是把 h 个头的结果首尾相连，再做一次线性变换 [2]。",
    "多头并行",  # too short to be a header dump
    "Multi-head attention\nThe heads' outputs are concatenated and projected by W^O [2].",  # a heading, not the question
])
def test_header_echo_leaves_answers_that_use_a_title(answer):
    assert not header_echo(answer, HEADERS, QUESTION)


KV_CONTEXT = [
    "KV cache（键值缓存）· 概念\nThe KV cache stores the keys and values of earlier tokens, so each decoding step "
    "computes attention only for the new token instead of recomputing the whole prefix.",
    "Mistral 7B · 原理\nIt adds grouped-query attention (GQA, 8 KV heads for 32 query heads) and sliding window "
    "attention (SWA) with a window of 4096, so information propagates across layers to a theoretical span of about "
    "131K tokens.",  # the sentence the real retrieval returned (note 3.3.2), "KV" and all
]


def test_a_retry_stitched_from_a_neighbouring_topic_is_off_question():
    # what SmolLM2's strict retry said to "What problem does the KV cache solve?" (make run, 2026-11-29)
    wrong = "The KV cache solves the problem of information propagation across layers to a theoretical span of about 131K tokens."
    right = "It keeps the keys and values of earlier tokens, so each decoding step does not recompute the prefix [1]."
    q = "What problem does the KV cache solve?"
    assert off_question(q, [wrong], KV_CONTEXT)
    assert not off_question(q, [right], KV_CONTEXT)
    checks = Flagger(None).check([wrong], KV_CONTEXT, "en")
    assert "off_question" in retry_reasons(wrong, checks, False, q, KV_CONTEXT)
    assert "off_question" not in retry_reasons(wrong, checks, False)  # without the question: not checked


def test_extractive_answer_to_a_why_question_quotes_the_cause():
    # note 1.1.2's key points, as the fallback quoted them in a browser session (2026-11-29)
    key_points = ("注意力分数为 s_ij = q_i·k_j / √d_k，整体写作 QK^T/√d_k。\n"
                  "点积打分可以用一次矩阵乘法完成，比加性注意力更快、更省显存。\n"
                  "不缩放时分数随 d_k 变大，softmax 饱和成近似 one-hot，其梯度接近 0，训练变慢甚至停滞。")
    quoted = extractive_answer("为什么注意力要除以根号d_k？", [(1, key_points)], "zh", k=2)
    assert "softmax 饱和" in quoted
    plain_q = extractive_answer("注意力分数怎么算？", [(1, key_points)], "zh", k=1)
    assert "softmax 饱和" not in plain_q  # no bonus when the question does not ask why


def test_a_question_about_weaknesses_quotes_drawbacks_not_strengths():
    """Review 3: 「那它的缺点呢？」 after a RAG question quoted 减少幻觉 (a strength), and "And its
    weaknesses?" quoted definitions: the drawbacks do not repeat the learner's word."""
    note = ("- RAG 把检索到的段落交给生成模型作答，能更新知识、给出出处、减少幻觉。\n"
            "- 优点：知识可随文档更新而无需重训，可引用出处。\n"
            "- RAG：适合企业知识库和客服；效果上限受检索质量限制，切块方式和提示都要调。")
    quoted = extractive_answer("RAG 减少幻觉\n那它的缺点呢？", [(1, note)], "zh", k=1, asked="那它的缺点呢？")
    assert "受检索质量限制" in quoted
    assert "受检索质量限制" not in extractive_answer("RAG 如何减少幻觉？", [(1, note)], "zh", k=1)
    # English: no drawback in the English summary, so the note's own (Chinese) one is quoted
    en = "RAG feeds retrieved passages to a generator so that hallucinations are reduced. DPR uses a dual encoder.\n" + note
    quoted = extractive_answer("RAG hallucination\nAnd its weaknesses?", [(1, en)], "en", k=1, asked="And its weaknesses?")
    assert "受检索质量限制" in quoted


@pytest.mark.parametrize("question, answer, restates", [
    # shown as "direct" by SmolLM2 in the full guard run (evals/trust/guard_run.jsonl, 2026-11-29)
    ("How does LoRA reduce the number of trainable parameters when fine-tuning a large language model?",
     "LoRA reduces the number of trainable parameters when fine-tuning a large language model.", True),
    ("What is in-context learning in GPT-3?", "In-context learning in GPT-3 is in-context learning [1].", True),
    ("LoRA 为什么能省显存？", "LoRA 能省显存。", True),
    ("How does LoRA reduce the number of trainable parameters?",
     "It freezes W0 and trains two low-rank matrices B and A, so only r·(d+k) values are learned [1].", False),
    ("LoRA 为什么能省显存？", "LoRA 冻结预训练权重，只训练两个低秩矩阵，优化器状态随之大幅减少 [1]。", False),
    ("What does the KV cache store?", "The keys and values of earlier tokens [1].", False),
])
def test_restating_the_question_is_no_answer(question, answer, restates):
    assert restates_question(answer, question) is restates
    assert ("restates" in garbage_reasons(answer, "en" if question.isascii() else "zh", [], question=question)) is restates


def test_a_follow_up_is_quoted_with_the_last_topic_and_its_own_why():
    """「它有什么缺点？」 after a LoRA question: the follow-up's own words come first (缺点), the last
    question's words pick LoRA's drawback over other notes' (theirs are left out as weak), and
    only the learner's own words decide whether "why" was asked (no cause bonus for the
    "because" sentence)."""
    from tutor.trust.check import quotable_sentences

    src = [(1, "缺点：需要专门的注意力内核。"),  # the best source has fewer than k sentences: all notes compete
           (2, "- 优点：因为只训练低秩矩阵，所以 LoRA 省显存。 - 缺点：LoRA 的**表达能力**受秩限制。"),
           (3, "缺点：量化会损失精度。")]
    alone = extractive_answer("它有什么缺点？", src, "zh", k=2)
    assert "专门的注意力内核 [1]" in alone  # 缺点 alone: the higher-ranked note's drawback
    follow = extractive_answer("LoRA 为什么省显存？\n它有什么缺点？", src, "zh", k=2, asked="它有什么缺点？")
    assert follow.splitlines()[1:] == ["- 缺点：LoRA 的表达能力受秩限制 [2]。"], follow
    assert quotable_sentences(src[1][1]) == ["优点：因为只训练低秩矩阵，所以 LoRA 省显存。", "缺点：LoRA 的表达能力受秩限制。"]


def test_only_the_best_note_is_quoted_when_it_has_enough_sentences_in_the_language():
    best = "LoRA 冻结预训练权重。LoRA 只训练低秩矩阵 B 和 A。LoRA 可以合并回原权重。"
    other = "LoRA 也用于扩散模型的画风训练。"
    out = extractive_answer("LoRA 是什么？", [(1, best), (2, other)], "zh", k=3)
    assert "[2]" not in out and out.count("[1]") == 3
    # the best note has no English: the English sentences of the other notes are quoted
    en_note = "LoRA freezes the weights. LoRA trains two low-rank matrices. LoRA can be merged back."
    en = extractive_answer("What is LoRA?", [(1, best), (2, en_note)], "en", k=3)
    assert en.count("[2]") == 3 and "[1]" not in en


def test_the_best_note_is_left_when_another_holds_clearly_more_of_the_question():
    """Session 20: 「GAN 的模式崩溃是什么？」 ranked a data-validation note first (模式 = schema) and
    quoted its schema sentences, though a diffusion note says GAN 易模式崩塌. A sentence holding
    clearly more of the question's words than the best note's sentences together moves the quotes,
    and the other sense's sentences go; a best note holding the words stays alone."""
    schema = "校验分层进行：模式、取值、统计。TFDV 从训练数据推断模式。Pandera 为数据框定义模式。"
    diffusion = "扩散模型比 GAN 的对抗训练稳定，不易模式崩塌。扩散模型生成慢。"
    out = extractive_answer("GAN 的模式崩溃是什么？", [(1, schema), (2, diffusion)], "zh", k=3)
    assert "GAN" in out and out.count("[2]") == 1 and "[1]" not in out
    lora = "LoRA 冻结预训练权重。LoRA 只训练低秩矩阵 B 和 A，所以省显存。LoRA 可以合并回原权重。"
    other = "扩散模型的 LoRA 训练低秩矩阵，省显存。"
    kept = extractive_answer("LoRA 为什么省显存？", [(1, lora), (2, other)], "zh", k=3)
    assert "[2]" not in kept and kept.count("[1]") == 3


def test_a_best_note_holding_the_questions_words_only_apart_gives_way():
    """Review 14: 「GAN 的模式崩溃是什么？」 ranked model rollback first (崩溃, a crash, in one sentence;
    数据模式 in another) and quoted it, over 「比 GAN 的对抗训练稳定，不易模式崩塌」. When no sentence
    of the best note holds two of the question's words together and another note's does, the
    quotes move (Chinese only); a best note holding two together keeps them."""
    rollback = "回滚是恢复上一个版本。回滚要连同数据模式一起考虑。问题可能是崩溃或延迟飙升。"
    diffusion = "训练比 GAN 的对抗训练稳定，不易模式崩塌。生成速度慢。"
    out = extractive_answer("GAN 的模式崩溃是什么？", [(1, rollback), (2, diffusion)], "zh", k=3)
    assert "[1]" not in out and "模式崩塌" in out, out
    kept = extractive_answer("GAN 的模式崩溃是什么？", [(1, rollback + "GAN 训练会模式崩溃。"), (2, diffusion)], "zh", k=3)
    assert "[1]" in kept, kept


def test_a_best_note_the_question_names_keeps_the_quotes():
    """Review 8: 「知识蒸馏是怎么把大模型压缩成小模型的？」 quoted self-distillation's contrast
    sentence (it holds the learner's phrase whole) though the question names the best note."""
    kd = "知识蒸馏让学生模仿教师的输出。知识蒸馏用软标签训练学生。温度让分布更平滑。"
    self_kd = "自蒸馏和经典知识蒸馏不同：后者是把大模型压缩成小模型，自蒸馏不追求缩小模型。"
    q = "知识蒸馏是怎么把大模型压缩成小模型的？"
    moved = extractive_answer(q, [(1, kd), (2, self_kd)], "zh", k=3)
    assert "[2]" in moved  # without the names: the other note's sentence holds clearly more
    kept = extractive_answer(q, [(1, kd), (2, self_kd)], "zh", k=3, best_names=["知识蒸馏", "knowledge distillation"])
    assert "[2]" not in kept and kept.count("[1]") == 3
    # a Latin name counts as a whole word only: "rl" does not name a note in "url"
    url = extractive_answer("url 的 GAN 模式崩溃是什么？", [(1, "校验模式。推断模式。定义模式。"), (2, "GAN 易模式崩溃。")], "zh",
                            k=3, best_names=["rl"])
    assert "[2]" in url


def test_chinese_checks_embed_nothing_because_their_rule_gives_similarity_no_weight():
    calls = []

    def embed(texts):
        calls.append(len(texts))
        return [[1.0, 0.0] for _ in texts]

    f = Flagger(embed)
    zh = f.check(["缩放因子是根号 d_k，防止 softmax 饱和。"], ["除以根号 d_k 可以防止 softmax 进入饱和区。"], "zh")
    assert calls == [] and zh[0].sim == 0.0
    assert zh == Flagger(None).check([zh[0].text], ["除以根号 d_k 可以防止 softmax 进入饱和区。"], "zh")
    en = f.check(["Scaling by sqrt d_k keeps softmax out of saturation."], ["Dividing by sqrt(d_k) keeps softmax from saturating."], "en")
    assert calls and en[0].sim == 1.0


def test_the_learners_phrase_whole_beats_its_parts():
    """Review 3: 「什么是批归一化？」 quoted the LayerNorm note's 归一化 sentences: jieba cuts the
    phrase into 批 + 归一化, so any sentence with 归一化 shared half the question."""
    assert cjk_phrases("什么是批归一化？") == ["批归一化"]
    assert cjk_phrases("GAN 的模式崩溃是什么？") == ["模式崩溃"]
    assert cjk_phrases("What is batch normalization?") == []
    note = ("- 归一化把每个 token 的尺度拉回稳定范围，让后续子层的输入分布保持一致。\n"
            "- 层归一化在单个样本内部沿特征维度计算均值和方差，再做缩放和平移。\n"
            "- 常见误区：“LN 和 BN 只是名字不同”——批归一化跨批次内的样本统计，推理时改用滑动平均。")
    quoted = extractive_answer("什么是批归一化？", [(1, note)], "zh", k=1)
    assert "批归一化跨批次" in quoted and "尺度拉回" not in quoted


def test_a_phrase_naming_the_notes_own_topic_earns_no_bonus():
    """The phrase bonus is for what the note only mentions (批归一化 in the LayerNorm note); the
    note's own name (多头注意力 in its note) is in most of its sentences and picks none."""
    note = "- 注意力也用在语音、推荐等场景。\n- 多头注意力的公式只有一个。"
    q = "多头注意力的应用场景？"  # (「在哪些场景」 asks when to use it: WHEN_QUESTION, its own bonus)
    assert "公式只有一个" in extractive_answer(q, [(1, note)], "zh", k=1)
    assert "推荐等场景" in extractive_answer(q, [(1, note)], "zh", k=1, topic_names=["多头注意力", "Multi-head attention"])


def test_a_sentence_end_inside_a_chinese_quotation_does_not_cut_the_sentence():
    """3.1.2's example 「A=“小明今天感冒了。”，B=“所以他请假在家休息。”是正例」 was quoted as the
    fragments 「”，B=“所以他请假在家休息」 and 「”是正例；若 B=“量子计算机使用量子比特」."""
    from tutor.trust.check import quotable_sentences

    text = "例子：A=“小明今天感冒了。”，B=“所以他请假在家休息。”是正例。原论文报告准确率 97%。"
    assert quotable_sentences(text) == ["例子：A=“小明今天感冒了。”，B=“所以他请假在家休息。”是正例。", "原论文报告准确率 97%。"]
    assert quotable_sentences("未闭合的“引号。后面的句子。") == ["未闭合的“引号。", "后面的句子。"]  # an unclosed quote cuts as before


def test_a_sentence_is_quoted_once_and_a_stated_drawback_joins_weak_cues():
    """Review 5: the English summary sentence and the same sentence from its chunk (another line
    break) were both quoted; "What are the weaknesses of PPO?" quoted sentences whose only cue was
    "but" — the note's own 「缺点：」 line now follows them."""
    summary = "PPO clips the ratio; ε = 0.2 is the default. PPO is used in RLHF."
    chunk = "PPO clips the ratio;\nε = 0.2 is the default. Gains are clipped but losses are penalized."
    out = extractive_answer("What is PPO?", [(1, summary), (1, " ".join(chunk.split()))], "en", k=3)
    assert out.count("clips the ratio") == 1
    zh = "- 缺点：仍是在线策略，样本效率低；对实现细节敏感。"
    weak = extractive_answer("What are the weaknesses of PPO?", [(1, summary + "\n" + chunk + "\n" + zh)], "en", k=3)
    assert "样本效率低" in weak and "but" in weak
    stated = "PPO is simple. A drawback of PPO is its sample inefficiency. PPO is used in RLHF."
    assert "样本效率低" not in extractive_answer("What are the weaknesses of PPO?", [(1, stated + "\n" + zh)], "en", k=3)


def test_an_english_follow_up_on_weaknesses_quotes_the_notes_drawbacks_in_chinese():
    """Review 4: "And what are its downsides?" after a LoRA question quoted nothing (its English
    summary lists no drawback; the Chinese ones share no word with the question, and the
    follow-up filter dropped every quote) or the definition."""
    en = "LoRA is a parameter-efficient fine-tuning method. It freezes the pretrained weight W0. BA can be merged into W0.\n"
    zh = "- 缺点：表达能力受秩限制，常不及全参微调；激活显存并未减少。"
    quoted = extractive_answer("What is LoRA?\nAnd what are its downsides?", [(1, en + zh)], "en", k=3,
                               asked="And what are its downsides?")
    assert "表达能力受秩限制" in quoted


def test_a_follow_up_on_a_technique_inside_a_note_does_not_get_the_notes_own_drawbacks():
    """Review 8: "What are its downsides?" after gradient checkpointing (explained inside 3.4.1,
    full fine-tuning) quoted 3.4.1's 「缺点：」 line, full fine-tuning's drawbacks, in Chinese."""
    en = ("Full fine-tuning updates every weight. It needs small learning rates. Gradient checkpointing recomputes "
          "activations in the backward pass, trading a third more compute for activation memory.\n")
    zh = "- 缺点：显存和算力需求高；每个任务都要存储一份完整权重。"
    q, asked = "What problem does gradient checkpointing solve?\nWhat are its downsides?", "What are its downsides?"
    names = ["全参数微调", "full fine-tuning", "FFT"]
    quoted = extractive_answer(q, [(1, en + zh)], "en", k=3, asked=asked, best_names=names)
    assert "显存和算力需求高" not in quoted and "recomputes activations" in quoted
    assert "显存和算力需求高" in extractive_answer(q, [(1, en + zh)], "en", k=3, asked=asked)  # names unknown: as before
    # the note's own topic named: its drawbacks are what was asked
    named = extractive_answer("What is full fine-tuning?\nWhat are its downsides?", [(1, en + zh)], "en", k=3,
                              asked=asked, best_names=names)
    assert "显存和算力需求高" in named


def test_an_inline_code_block_and_its_lead_in_are_never_quoted():
    """Review 5: a chunk's text is one line, so 「训练伪代码： ```python h = x @ W0.T # …``` QLoRA…」
    was quoted as one run-on sentence with the code in it."""
    from tutor.trust.check import quotable_sentences

    line = "训练伪代码： ```python h = x @ W0.T # W0 冻结 ``` QLoRA 在此基础上量化基座。另一句话在这里。"
    assert quotable_sentences(line) == ["QLoRA 在此基础上量化基座。", "另一句话在这里。"]
    assert quotable_sentences("Code:\n```python\nh = x\n```\nThe next sentence.") == ["The next sentence."]


def test_a_chunk_that_begins_or_ends_inside_a_code_block_quotes_no_code():
    """Session 27: a chunk cut inside a code block holds one fence; 「opt.step() dist.destroy_process_group()
    ``` **梯度累积**：…」 was quoted code and all. The side of the fence with no sentence end is code."""
    from tutor.trust.check import quotable_sentences

    head = "opt.step() dist.destroy_process_group() ``` **梯度累积**：显存不够时连续做 k 个微批。它省显存。"
    assert quotable_sentences(head) == ["梯度累积：显存不够时连续做 k 个微批。", "它省显存。"]
    tail = "DDP 很常用。最小示例（保存为 train.py 启动）： ```python import os, torch.distributed as dist"
    assert quotable_sentences(tail) == ["DDP 很常用。"]  # the lead-in into the code goes with it
    assert quotable_sentences("Run it like this. Then it works. ``` x = f(y)") == ["Run it like this.", "Then it works."]
    # prose on both sides (a lone fence with sentences either way) is left as it was
    both = "第一句。 ``` 第二句。"
    assert "第一句。" in " ".join(quotable_sentences(both)) and "第二句。" in " ".join(quotable_sentences(both))


def test_a_passing_mention_in_the_best_note_gives_way_to_the_note_that_explains_it():
    """Reviews 13a/13b: 「梯度累积是做什么用的？」 ranked gradient clipping first (its one line: clip
    after the accumulation) and quoted only it. When the best note holds the question's phrase in
    one sentence and another cited note in several, that note is quoted; a best note that holds it
    in several sentences keeps the quotes."""
    clipping = "按全局范数裁剪梯度。按值裁剪会改变方向。梯度累积时在累积完成后再裁剪。"
    ddp = "DDP 每卡一个进程。梯度累积：k 个微批的梯度累加后才更新一次。梯度累积省激活显存但不省时间。"
    zero = "与梯度累积搭配时每个微批都要通信。"
    out = extractive_answer("梯度累积是做什么用的？", [(1, clipping), (2, ddp), (3, zero)], "zh", k=3)
    assert "[1]" not in out and "[3]" not in out and out.count("[2]") == 2, out
    # the best note explaining it in two sentences stays alone
    clipping2 = clipping + "梯度累积让小显存也能训练大 batch。"
    kept = extractive_answer("梯度累积是做什么用的？", [(1, clipping2), (2, ddp)], "zh", k=3)
    assert "[2]" not in kept, kept


def test_a_follow_up_quotes_its_topics_own_note_without_the_topics_name_in_the_sentence():
    """Review 10: 「温度参数在里面起什么作用？」 after 「什么是知识蒸馏？」 quoted the history sentence
    (it holds 蒸馏) over 「温度 T > 1 使分布更平滑」: a sentence of the best note the questions name is
    on the topic without repeating its name. With the best note unnamed, the old weighting stays."""
    src = [(1, "软目标 p_i = softmax(z_i / T)，温度 T > 1 使分布更平滑，暴露类别之间的相似度。\n"
               "Hinton 等人在 2014 年引入“温度”并将其命名为蒸馏，这一形式沿用至今。")]
    q, asked = "什么是知识蒸馏？\n温度参数在里面起什么作用？", "温度参数在里面起什么作用？"
    named = extractive_answer(q, src, "zh", k=1, asked=asked, best_names=["知识蒸馏"])
    assert "使分布更平滑" in named, named
    unnamed = extractive_answer(q, src, "zh", k=1, asked=asked, best_names=["模型剪枝"])
    assert "命名为蒸馏" in unnamed, unnamed


def test_cli_names_the_model_only_when_it_wrote_the_answer(tutor, monkeypatch):
    """Review 10: a quoted answer ended "— SmolLM2-…" right above "the model was not used"."""
    from typer.testing import CliRunner

    import tutor.cli as cli

    monkeypatch.setattr(cli, "_tutor", lambda: tutor)
    r = CliRunner().invoke(cli.app, ["ask", "--mode", "quotes_first", "为什么注意力要除以根号d_k？"])
    assert r.exit_code == 0, r.output
    assert "(quotes_first)" in r.stdout and not any(x.startswith("— ") for x in r.stdout.splitlines()), r.stdout
    tutor.llm.replies = [cited(note_sentence(tutor))]
    r = CliRunner().invoke(cli.app, ["ask", "--mode", "stream", "为什么注意力要除以根号d_k？"])
    assert r.exit_code == 0, r.output
    assert any(x.startswith(f"— {tutor.llm.name}") for x in r.stdout.splitlines()), r.stdout


def test_the_best_notes_own_name_picks_none_of_its_sentences():
    """Trial, session 24: 「知识蒸馏里的温度是干什么用的？」 quoted 7.3.1's definitions (they hold
    知识 + 蒸馏) over its temperature sentence. When the question names the best note, the name's
    words are in every sentence of it in spirit and decide nothing; the rest of the question does."""
    src = [(1, "知识蒸馏是一种模型压缩方法，让小的学生模型模仿大的教师模型。\n"
               "软目标用 softmax(z/T) 计算，温度 T > 1 使分布更平滑。\n"
               "知识蒸馏常与剪枝、量化结合使用。")]
    q = "知识蒸馏里的温度是干什么用的？"
    assert "温度 T > 1" in extractive_answer(q, src, "zh", k=1, best_names=["知识蒸馏"])
    assert "温度 T > 1" not in extractive_answer(q, src, "zh", k=1)  # best note unknown: as before


def test_a_question_naming_an_overview_gets_the_sentence_only_its_subtopic_states():
    """Review 12: a policy-gradient question quoted the overview (5.2), which names the methods
    but says nothing of what was asked; REINFORCE (5.2.1, cited) states it. A subtopic's
    sentence joins the pool only when it holds clearly more of the question's other words."""
    overview = ("This section covers policy gradient methods, which parameterize a stochastic policy directly.\n"
                "All four methods are on-policy, and PPO is the standard optimizer in RLHF.\n"
                "REINFORCE, Actor-Critic, A2C and PPO are the four methods covered here.")
    reinforce = "REINFORCE handles continuous actions naturally but is on-policy, high-variance and sample-inefficient."
    q = "Why do policy gradient methods have high variance?"
    with_kin = extractive_answer(q, [(1, overview), (2, reinforce)], "en", k=3, best_names=["policy gradient", "policy gradient methods"], kin=[2])
    assert "high-variance" in with_kin and "[2]" in with_kin, with_kin
    # without the subtopic marked as one, the named best note keeps its quotes (as before)
    alone = extractive_answer(q, [(1, overview), (2, reinforce)], "en", k=3, best_names=["policy gradient", "policy gradient methods"])
    assert "high-variance" not in alone, alone


def test_a_follow_ups_noun_that_points_back_is_not_asked_about():
    """Review 15: 「这个方法有什么缺点？」 after knowledge distillation quoted 「关系蒸馏……是本方法的延伸……
    风险」 (方法 shared, 风险 a drawback cue) before the note's 「缺点：」 line."""
    src = [(1, "知识蒸馏让小的学生模型模仿大的教师模型的输出分布。\n"
               "关系蒸馏和自蒸馏是本方法的延伸；越狱蒸馏讨论用蒸馏传递或剥离安全行为的风险。\n"
               "缺点：需要先有好的教师，训练时要同时跑教师前向，成本增加。")]
    out = extractive_answer("什么是知识蒸馏？\n这个方法有什么缺点？", src, "zh", asked="这个方法有什么缺点？",
                            best_names=["知识蒸馏"])
    quoted = [ln for ln in out.splitlines() if ln.startswith("- ")]
    assert quoted[0].startswith("- 缺点：") and not any("本方法" in ln for ln in quoted), out


def test_the_clearly_best_quote_leads_and_a_named_sections_overview_joins():
    """Review 15: "What is gradient checkpointing?" opened with a memory-accounting line (the notes'
    order), its definition third; 「为什么 Transformer 需要位置编码？」 quoted only 1.3.2 (learned
    embeddings) while the cited 1.3 overview, which the question names, says why."""
    src = [(1, "With mixed-precision Adam each parameter needs about 16 bytes for weights and gradients.\n"
               "Training uses small learning rates with warmup and few epochs.\n"
               "Gradient checkpointing keeps activations only at a few checkpoint layers and recomputes the rest.")]
    out = extractive_answer("What is gradient checkpointing?", src, "en")
    assert "checkpointing" in out.splitlines()[1], out
    src = [(1, "训练中很少出现的靠后位置学得不充分。\n可学习位置编码建一张嵌入表。\n这种做法在 ConvS2S 里已经用过。"),
           (3, "自注意力对输入顺序是置换等变的，不加位置信息就分不清“猫追狗”和“狗追猫”。")]
    q = "为什么 Transformer 需要位置编码？"
    out = extractive_answer(q, src, "zh", best_names=["可学习位置编码"], parent=[3])
    assert "[3]" in out.splitlines()[1], out
    assert "[3]" not in extractive_answer(q, src, "zh", best_names=["可学习位置编码"])  # not named: as before


def test_risks_ask_for_drawbacks():
    """Review 16: "What are the risks of AI in medical imaging diagnosis?" was not read as a
    drawbacks question (its Limitations line came third at best)."""
    from tutor.trust.check import LIMIT_QUESTION

    assert LIMIT_QUESTION.search("What are the risks of AI in medical imaging diagnosis?")
    assert LIMIT_QUESTION.search("AI 在医疗影像诊断中有哪些风险？")
    assert not LIMIT_QUESTION.search("What does the Adam optimizer keep per parameter?")


def test_a_risks_question_in_its_own_words_gets_the_best_notes_stated_drawbacks():
    """Review 16: 「AI 在医疗影像诊断中有哪些风险？」 names 14.4.2 by no alias, and its overview lines
    (「风险预测」 holds the question's 风险) outscored the 「缺点：」 line on the question's words, so no
    drawback was quoted. Its topic words are the note's names' words: the 「缺点：」 line comes after
    the quotes. A technique inside a note (梯度检查点 in full fine-tuning) still does not get the
    note's own drawbacks."""
    zh = ("医疗健康是 AI 门槛最高的应用领域之一。主要方向包括：医学影像（眼底、胸片、CT、MRI、病理切片）的筛查、诊断与"
          "分割；电子病历和临床文本的信息抽取与风险预测；药物研发与蛋白质结构预测。\n"
          "医学影像是医疗 AI 最成熟的方向：分类做筛查与诊断，分割（如 U-Net）做病灶和器官勾画，评估用灵敏度、特异度、AUC 与 Dice\n"
          "回顾性高分不等于临床有效：泰国诊所的部署研究发现，光线和拍摄条件导致大量图像无法分级，流程与工作量问题同样关键\n"
          "- 优点：在标准化影像任务上可达到专科医生水平。- 缺点：标注昂贵且医生间一致性有限；跨医院、跨设备泛化差。")
    names = ["医疗健康", "医学影像", "医疗AI", "辅助诊断", "AI in healthcare"]
    out = extractive_answer("AI 在医疗影像诊断中有哪些风险？", [(1, zh)], "zh", k=3, best_names=names)
    assert "标注昂贵" in out, out
    ft = ("全参微调一般依赖 ZeRO 分片、梯度检查点和混合精度等显存优化手段。\n"
          "梯度检查点用重算激活换显存，反向传播时重新计算前向激活。\n"
          "单卡装不下时要配合梯度检查点和分片。\n"
          "- 缺点：显存和算力需求高；每个任务都要存一份完整权重。")
    ft_names = ["全参数微调", "全参微调", "full fine-tuning"]
    assert "算力需求高" not in extractive_answer("梯度检查点有什么缺点？", [(1, ft)], "zh", k=3, best_names=ft_names)


def test_a_name_only_the_other_language_states_is_quoted_first_and_said_so():
    """Review 22: "What is the Mamba state space model?" quoted Falcon's English lines; only the
    Chinese body names Falcon Mamba. That sentence leads, under a line saying so; a question whose
    name the English lines hold is unchanged, and so is a lower-case word ("state")."""
    falcon = ("Falcon is a family of open-weight decoder-only LLMs from TII.\n"
              "Its key contribution is the RefinedWeb dataset of filtered web data.\n"
              "The architecture uses multi-query attention, which keeps the KV cache small.\n"
              "2024 年起 TII 推出基于状态空间模型、不含注意力的 Falcon Mamba 7B。")
    out = extractive_answer("What is the Mamba state space model?", [(1, falcon)], "en", k=3)
    lines = out.splitlines()
    assert lines[1] == "(Of these notes, only the Chinese text mentions Mamba:)", out
    assert "Falcon Mamba 7B" in lines[2] and len([x for x in lines if x.startswith("- ")]) == 3, out
    same = extractive_answer("What is the RefinedWeb dataset?", [(1, falcon)], "en", k=3)
    assert "only the Chinese text" not in same and "状态空间" not in same, same
    lower = extractive_answer("what is a state space model?", [(1, falcon)], "en", k=3)
    assert "only the Chinese text" not in lower, lower


def test_why_better_than_is_answered_by_a_contrast():
    """Review 22: 「为什么它比训练后量化精度高？」 after QAT quoted only the line saying when QAT is
    used; the contrast with post-training quantization (only …, cannot …; QAT instead …) is the why."""
    qat = ("QAT 使用 INT8 量化中的同一套仿射公式，是训练后量化精度不足时的升级方案。\n"
           "训练后量化只是把训练好的权重硬塞进整数网格，模型无法补偿误差；QAT 则让量化误差参与损失计算。\n"
           "LSQ 等方法把量化步长也当作可学习参数。")
    q, asked = "什么是量化感知训练？\n为什么它比训练后量化精度高？", "为什么它比训练后量化精度高？"
    out = extractive_answer(q, [(1, qat)], "zh", k=3, asked=asked, best_names=["量化感知训练"])
    assert "无法补偿误差" in out, out
    # without "than" the contrast earns nothing: a plain why keeps the causal line alone
    plain = extractive_answer("量化感知训练\n为什么要用量化感知训练？", [(1, qat)], "zh", k=1,
                              asked="为什么要用量化感知训练？", best_names=["量化感知训练"])
    assert "无法补偿误差" not in plain, plain


def test_why_add_x_is_answered_by_the_benefit_sentence():
    """Review 26, M4: "Why does SAC add entropy?" asks for a purpose; 5.3.1 states it as a benefit
    (好处包括……) with no causal word, and the objective's formula shared more words."""
    sac = ("SAC 的目标在奖励之外加入 α 倍的策略熵，J(π) = Σ E[r + α·H(π)]。\n"
           "温度 α 控制奖励与熵的相对权重。\n"
           "加入熵的好处包括更充分的探索、能保留多个近似最优的解、对扰动更鲁棒。")
    why = extractive_answer("SAC 为什么要加熵？", [(1, sac)], "zh", k=1, best_names=["SAC"])
    assert "好处" in why, why
    # a why that asks no purpose gives the benefit line no bonus
    assert "好处" not in extractive_answer("SAC 的温度为什么会影响熵？", [(1, sac)], "zh", k=1, best_names=["SAC"])
    from tutor.trust.check import PURPOSE_CONTRAST, PURPOSE_QUESTION
    assert PURPOSE_QUESTION.search("Why does SAC add an entropy term?") and not PURPOSE_QUESTION.search("Why is SAC stable?")
    # why one choice over another is no purpose question: 「距离为啥用欧氏不用余弦？」 took a 「优点：」 line
    assert PURPOSE_CONTRAST.search("距离为啥用欧氏不用余弦？") and PURPOSE_CONTRAST.search("Why use L2 rather than cosine?")


def test_a_follow_up_why_leads_with_the_reason_holding_the_learners_one_character_term():
    """Review 26, M4 in Chinese: 「它为什么要加熵？」 after SAC. jieba cuts the question into 要加 + 熵 and
    the note's 「加熵是为了……」 into 加熵, so the reason shared no token and lost its cue bonus; it
    now comes first. A generic one-character word (用) is no cue word."""
    from tutor.trust.check import holds_cue

    kp = ("SAC 是基于最大熵目标的离策略 Actor-Critic 算法，兼顾样本效率与训练稳定性。\n"
          "目标在奖励之外加入温度 α 加权的策略熵，最优策略为玻尔兹曼分布。\n"
          "加熵是为了让策略在拿到奖励的同时保持随机，探索来自目标本身。")
    out = extractive_answer("什么是 SAC？\n它为什么要加熵？", [(1, kp)], "zh", k=3, asked="它为什么要加熵？", best_names=["SAC"])
    assert out.splitlines()[1].startswith("- 加熵是为了"), out
    assert holds_cue({"熵"}, "加熵是为了", {"加熵"}) and not holds_cue({"蒸馏"}, "加熵是为了", {"加熵"})


def test_a_greek_letter_written_out_matches_its_symbol():
    """Review 28: 「clip 的 epsilon 一般取多少？」 never quoted 5.2.4's 「……论文默认 ε = 0.2」: epsilon and ε
    were different words, and another note's LaTeX \\epsilon drew the quote away."""
    ppo = ("PPO 用概率比 r_t 和优势 A_t 构造替代目标。\n"
           "裁剪目标 L = E[min(r_t·A_t, clip(r_t, 1−ε, 1+ε)·A_t)]，论文默认 ε = 0.2。\n"
           "PPO 是 RLHF 流程中优化语言模型的标准算法。")
    other = "理论题的参考答案：clip(r_t, 1-epsilon, 1+epsilon) 裁剪让策略走得不太远。"
    out = extractive_answer("clip 的 epsilon 一般取多少？", [(1, ppo), (2, other)], "zh", k=1, best_names=["PPO"])
    assert "0.2" in out, out
    from tutor.trust.check import with_greek

    assert with_greek({"epsilon", "x"}) == {"epsilon", "ε", "x"} and with_greek({"α"}) == {"α", "alpha"}


def test_a_chinese_procedure_stated_without_tong_guo_is_a_mechanism():
    """Review 28: 「那 TPE 是怎么做的？」 never quoted 「……按分位数把历史试验分成好/差两组，分别估计密度
    l(x)、g(x)，选使 l(x)/g(x) 最大的点」: 按…把, 分成, 分别, 使…最大 state steps too."""
    bo = ("GP 计算量随观测数立方增长，且不擅长高维空间；TPE 更适合这些场景。\n"
          "TPE 不建模 p(y|x)，而是按分位数把历史试验分成好/差两组，分别估计密度 l(x)、g(x)，选使 l(x)/g(x) 最大的点。\n"
          "Optuna 默认用 TPE。")
    out = extractive_answer("TPE 是怎么做的？", [(1, bo)], "zh", k=1, best_names=["贝叶斯优化", "TPE"])
    assert "分位数" in out, out


def test_a_when_to_use_question_leads_with_the_line_of_uses():
    """Review 28: 「ZeRO-3 适合什么时候用？」 quoted ZeRO-3's sharding and traffic lines, never its
    「适用：……」 line."""
    zero = ("ZeRO-3 把 fp16 参数也分片，每卡模型状态为 16Ψ/N 字节。\n"
            "每层计算前用 all-gather 临时拼出完整参数，算完立即释放。\n"
            "适用：单机或少量机器上训练几十亿到几百亿参数的模型。")
    out = extractive_answer("ZeRO-3 适合什么时候用？", [(1, zero)], "zh", k=2, best_names=["ZeRO-3"])
    assert out.splitlines()[1].startswith("- 适用"), out
    assert "适用" not in extractive_answer("ZeRO-3 是怎么省显存的？", [(1, zero)], "zh", k=1, best_names=["ZeRO-3"])


def test_how_how_to_tell_and_why_faster_questions_earn_their_cue_bonus():
    """Review 25: a how-it-is-produced question is answered by the sentence stating the steps, a
    how-to-tell one by the tests and thresholds, a why-faster one by what saves the time; a
    follow-up's bonus needs one of the learner's words (DARTS's 「已知问题……导致……」 had none)."""
    viz = ("显著图取类别得分对输入像素的梯度绝对值。\n在调试中，这些热力图可以暴露捷径。\n"
           "Grad-CAM 用类别得分对最后卷积特征图的梯度做全局平均得到通道权重 α_k，再计算加权和。\n"
           "缺点：Grad-CAM 分辨率低，热力图只说明哪里。")
    how = extractive_answer("Grad-CAM 是怎么生成热力图的？", [(1, viz)], "zh", k=1, best_names=["Grad-CAM", "梯度可视化"])
    assert "α_k" in how, how
    assert "α_k" not in extractive_answer("Grad-CAM 的热力图有什么用？", [(1, viz)], "zh", k=1,
                                          best_names=["Grad-CAM", "梯度可视化"])
    drift = ("数据漂移指线上数据的输入分布变化。\n"
             "适用：所有线上模型都需要监控。\n"
             "两样本 KS 检验比较两个经验分布函数的最大差距。")
    tell = extractive_answer("怎么判断线上数据发生了漂移？", [(1, drift)], "zh", k=1)
    assert "KS 检验" in tell, tell
    assert "KS 检验" not in extractive_answer("线上数据漂移是什么？", [(1, drift)], "zh", k=1)
    darts = ("已知问题：跳连操作越来越占优导致性能塌陷。\n"
             "早期方法用强化学习控制器采样架构，代价高达上千 GPU 天。\n"
             "DARTS 的思路是：既然离散选择不可导，就把它松弛成连续的，用梯度下降同时学习架构。\n"
             "DARTS 的搜索只需数个 GPU 天，结果与强化学习方法相当。")
    q, asked = "什么是DARTS？\n它为什么比早期用强化学习做的NAS快那么多？", "它为什么比早期用强化学习做的NAS快那么多？"
    out = extractive_answer(q, [(1, darts)], "zh", k=3, asked=asked, best_names=["DARTS"])
    assert "已知问题" not in out and "既然" in out and "只需数个" in out, out


def test_a_bare_what_is_question_leads_with_the_sentence_whose_subject_is_the_name():
    """Review 23: "What is the KV cache?" quoted three sentences that mention the KV cache (ranked by
    embedding similarity) and not the one saying what it is."""
    from tutor.trust.check import defines

    note = ("Further techniques include KV cache quantization and prefix caching. "
            "PagedAttention stores the KV cache in fixed-size blocks. "
            "During decoding the KV cache keeps the keys and values of all earlier positions.")
    names = ["KV cache", "KV 缓存", "PagedAttention"]
    out = extractive_answer("What is the KV cache?", [(1, note)], "en", k=3, best_names=names)
    assert out.splitlines()[1].startswith("- During decoding the KV cache keeps"), out
    other = extractive_answer("How big does the KV cache get?", [(1, note)], "en", k=3, best_names=names)
    assert not other.splitlines()[1].startswith("- During decoding"), other  # not a what-is question
    zh = "推理显存由权重和 KV 缓存组成。\nKV 缓存：解码时把前面各位置的 K 和 V 存下来。"
    assert "- KV 缓存：" in extractive_answer("什么是KV cache？", [(1, zh)], "zh", k=2, best_names=names).splitlines()[1]
    assert defines("LoRA (Low-Rank Adaptation) is a method", ["LoRA"]) and not defines("We use LoRA here", ["LoRA"])


def test_another_languages_stated_drawbacks_are_not_added_when_the_quotes_state_one():
    """Review 26: 「对抗训练这种防御有什么缺点？」 opened with the note's English "Limitations: …" line
    before the Chinese sentence saying adversarial training costs more and lowers clean accuracy."""
    note = ("对抗训练用 PGD 生成最坏扰动，是最可靠的防御，但训练成本高且干净精度常下降。\n"
            "防御要先明确威胁模型。\n"
            "Limitations: adversarial training multiplies training cost and lowers clean accuracy.")
    out = extractive_answer("对抗训练有什么缺点？", [(1, note)], "zh", k=2, best_names=["对抗训练"])
    assert "Limitations" not in out and "训练成本高" in out.splitlines()[1], out
    # with no Chinese sentence stating one, the English line still comes (session 32's rule)
    weak = "对抗训练用 PGD 生成最坏扰动。\n防御要先明确威胁模型。\nLimitations: adversarial training multiplies training cost."
    assert "Limitations" in extractive_answer("对抗训练有什么缺点？", [(1, weak)], "zh", k=2, best_names=["对抗训练"])


def test_a_why_follow_up_takes_the_reason_in_the_topics_words():
    """Review 27: 「它为什么能让很深的网络训练起来？」 after residual connections got the 优点 and 缺点
    lines; the reason (「每个残差块的局部雅可比是 I + ∂F/∂x，缓解梯度消失与退化」) holds none of the
    learner's words, only the topic's, and 缓解 was no causal cue."""
    note = ("优点：几乎不增加参数和计算，却能让几十到上百层的网络正常训练。\n"
            "每个残差块的局部雅可比是 I + ∂F/∂x，缓解梯度消失与退化。\n"
            "缺点：很深的网络需要学习率预热。")
    q, asked = "残差连接是什么？\n它为什么能让很深的网络训练起来？", "它为什么能让很深的网络训练起来？"
    out = extractive_answer(q, [(1, note)], "zh", k=2, asked=asked, best_names=["残差连接"])
    assert "局部雅可比" in out.splitlines()[1], out


def test_a_quote_an_earlier_answer_gave_is_marked_in_place():
    """Review 22: 「那一般怎么解决？」 after cold start repeated two of the last answer's sentences
    with nothing said. Each repeat keeps its place and ends with REPEATED_MARK; the mark is no
    part of the quote for later turns (quoted_in); all-repeats are left to SAME_QUOTES."""
    first = "H\n- 冷启动指新用户缺少交互数据 [1]\n- 常规手段：热门推荐 [1]"
    said = (quoted_in(first),)
    second = "H\n- 冷启动指新用户缺少交互数据 [1]\n- 探索与利用：上下文老虎机 [1]"
    out = mark_repeats(second, said, "zh")
    assert out.splitlines() == ["H", "- 冷启动指新用户缺少交互数据 [1]" + REPEATED_MARK["zh"], "- 探索与利用：上下文老虎机 [1]"]
    assert quoted_in(out) == quoted_in(second)
    assert mark_repeats(first, said, "zh") == first  # every quote repeated: not marked here
    assert mark_repeats(second, (), "zh") == second
    # a why follow-up: the new lines (the reason) first, the repeat after them, lines after the quotes stay last
    why = "H\n- 冷启动指新用户缺少交互数据 [1]\n- 探索与利用：上下文老虎机 [1]\n(note)"
    assert mark_repeats(why, said, "zh", repeats_last=True).splitlines() == [
        "H", "- 探索与利用：上下文老虎机 [1]", "- 冷启动指新用户缺少交互数据 [1]" + REPEATED_MARK["zh"], "(note)"]


def test_a_why_about_the_topics_own_name_is_answered_by_the_reason():
    """Review 30: "Why does it need to be conservative?" after CQL, and 「CQL 为什么要保守？」: the words
    asked are the note's own name (Conservative Q-Learning, 保守 Q 学习), in its definitions; the reason
    line shares none ("…preventing exploitation…", 「……避免……高估」) and came last or not at all."""
    en = ("Conservative Q-Learning (CQL) is an offline RL algorithm that adds a conservative regularizer to the Bellman error.\n"
          "The CQL term pushes down Q-values of out-of-distribution actions.\n"
          "The resulting Q-function lower-bounds the policy's true value, preventing exploitation of overestimated actions.")
    names = ["CQL", "Conservative Q-Learning", "保守 Q 学习"]
    out = extractive_answer("What is conservative Q-learning (CQL)?\nWhy does it need to be conservative?", [(1, en)], "en",
                            k=2, asked="Why does it need to be conservative?", best_names=names)
    assert "lower-bounds" in out.splitlines()[1], out
    zh = ("CQL（保守 Q 学习）在贝尔曼误差上加保守正则项。\n"
          "过度保守会妨碍之后的在线微调。\n"
          "理论上学到的 Q 函数给出真实价值的下界，避免对分布外动作的高估。")
    out = extractive_answer("CQL 为什么要保守？", [(1, zh)], "zh", k=2, best_names=names)
    assert "下界" in out.splitlines()[1], out
    # a why with a word of its own keeps it: 「CQL 为什么要在线微调？」 is about 在线微调
    out = extractive_answer("CQL 为什么妨碍在线微调？", [(1, zh)], "zh", k=1, best_names=names)
    assert "在线微调" in out.splitlines()[1], out


def test_a_second_name_for_a_part_of_the_topic_is_what_the_why_asks():
    """Session 44's trial: "Why does DQN need a target network?" names 5.1.3 by DQN and by its alias
    "target network"; both were taken for the topic's name, nothing was left to ask, and the line
    naming the target network was not quoted."""
    from tutor.trust.check import part_name_words

    en = ("DQN (Deep Q-Network) combines Q-learning with a deep convolutional network for Atari.\n"
          "Two key stabilizers are experience replay and a target network, a periodically synchronized copy.\n"
          "The loss is the squared error between Q(s,a) and the TD target.\n"
          "It was designed to tame the deadly triad; rewards are clipped.\n"
          "DQN only handles discrete actions and still overestimates Q-values.")
    names = ["DQN", "Deep Q-Network", "target network", "experience replay", "Nature DQN"]
    out = extractive_answer("Why does DQN need a target network?", [(1, en)], "en", k=2, best_names=names)
    assert any("stabilizers" in ln for ln in out.splitlines()[1:]), out
    sents = en.splitlines()
    assert part_name_words(["DQN", "target network"], sents) == {"target", "network"}
    # one name alone is the topic, however few sentences hold it; so is the name held most
    assert part_name_words(["target network"], sents) == set()
    assert part_name_words(["DQN", "Nature DQN"], sents + ["Nature DQN used 49 games."]) == set()
    assert part_name_words(["蒸馏", "知识蒸馏"], ["知识蒸馏把大模型压缩", "蒸馏用软目标", "蒸馏的温度"]) == set()
    assert part_name_words(["CQL", "Conservative Q-Learning"], ["CQL adds a term", "CQL is offline",
                                                                 "Conservative Q-Learning (CQL) is"]) == set()


def test_a_chunk_fragment_of_a_quoted_sentence_is_not_quoted_again():
    """Session 44's trial quoted 5.1.3's overestimation line from the summary and then its first clause
    again, from a chunk that ended at the '；' inside it."""
    whole = "DQN only handles discrete actions and still overestimates Q-values, which Double DQN addresses; continuous actions call for SAC."
    out = extractive_answer("Does DQN overestimate Q-values?", [(1, whole), (2, "DQN only handles discrete actions and still overestimates Q-values, which Double DQN addresses;")], "en", k=3)
    assert sum("overestimates" in ln for ln in out.splitlines()) == 1, out
    assert "continuous actions" in out, out


def test_why_not_faster_is_answered_by_what_keeps_it_slow():
    """Review 30: 「非结构化剪枝为什么在 GPU 上不一定变快？」 quoted the compression-rate lines (精度, a
    speed cue for "why faster") and missed 「不规则稀疏难以在通用硬件上加速」."""
    from tutor.trust.check import SLOW_QUESTION

    kp = ("非结构化剪枝逐个权重决定去留，张量形状不变。\n"
          "同等精度下压缩率最高，参数减少约 9 倍。\n"
          "不规则稀疏难以在通用硬件上加速。")
    out = extractive_answer("非结构化剪枝为什么在 GPU 上不一定变快？", [(1, kp)], "zh", k=1, best_names=["非结构化剪枝"])
    assert "难以" in out, out
    assert SLOW_QUESTION.search("Why doesn't unstructured pruning speed up inference?") and not SLOW_QUESTION.search("为什么 DDIM 更快？")


def test_particles_left_after_a_name_pick_nothing():
    """Review 30: 「IQL 里的期望分位数回归是做什么的？」 names 5.4.2 twice (IQL, its alias 期望分位数回归); the
    rest, 里 and 做, picked 「……目标里的……」 and 「……做 SARSA 式评估」 over the expectile line."""
    kp = ("用期望分位数回归训练 V(s)，τ 接近 1 时逼近上限。\n"
          "贝尔曼目标里的 max 会查询数据外动作。\n"
          "τ = 0.5 时退化为做 SARSA 式评估。")
    out = extractive_answer("IQL 里的期望分位数回归是做什么的？", [(1, kp)], "zh", k=1, best_names=["IQL", "期望分位数回归"])
    assert "训练 V(s)" in out, out


def test_a_chunk_cut_inside_a_display_formula_quotes_no_formula_tail():
    """Review 30 quoted 「a)-V_\\psi(s))\\big)…$$ V 对 Q 做期望分位数回归……」: the chunk began inside a $$ formula."""
    from tutor.trust.check import quotable_sentences

    text = r"a)-V_\psi(s))\big)\log\pi(a|s)\big]$$ V 对 Q 做期望分位数回归。之所以单独训练 V，是为了取上分位。"
    assert quotable_sentences(text) == ["V 对 Q 做期望分位数回归。", "之所以单独训练 V，是为了取上分位。"]
    assert quotable_sentences(r"损失见下。$$L = \sum_i") == ["损失见下。"]
    assert quotable_sentences("公式 $$x=1$$ 成立。") == ["公式 $$x=1$$ 成立。"]


def test_an_average_is_a_step_of_how_it_is_done():
    """Review 31: 「FedAvg 具体是怎么聚合的？」 quoted 安全聚合 and 鲁棒聚合 lines (they hold 聚合) and missed
    「服务器按样本数加权平均参数」."""
    kp = ("FedAvg 每轮选部分客户端本地训练多个 epoch，服务器按样本数加权平均参数。\n"
          "上传的梯度仍可能泄露训练数据，需配合安全聚合。\n"
          "鲁棒聚合（中位数、截尾均值）可缓解投毒。")
    out = extractive_answer("FedAvg 具体是怎么聚合的？", [(1, kp)], "zh", k=1, best_names=["FedAvg", "联邦学习"])
    assert "加权平均" in out, out


def test_a_challenge_is_a_drawback_and_biggest_names_nothing():
    """「最大的挑战是什么？」 after 自动驾驶 quoted 最大熵 RL's lines (最大), not the note's drawbacks."""
    from tutor.trust.check import LIMIT_QUESTION

    assert LIMIT_QUESTION.search("最大的挑战是什么？") and LIMIT_QUESTION.search("What are the main challenges?")
    kp = [(1, "自动驾驶让车辆感知环境并控制行驶。\n模块化栈可解释，但手工规则难覆盖长尾。"),
          (2, "最大熵 RL 的目标是在追求奖励的同时让策略尽可能随机。")]
    out = extractive_answer("自动驾驶里 AI 主要用在哪些环节？\n最大的挑战是什么？", kp, "zh", k=2, asked="最大的挑战是什么？",
                            best_names=["自动驾驶"])
    assert "长尾" in out and "最大熵" not in out, out
