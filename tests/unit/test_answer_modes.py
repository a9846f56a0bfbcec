"""Answer modes (tutor/trust/policy.py) through Chat.stream and the chat tab's respond():
quotes first, checked (nothing shown before the check), stream; the Explain turn; the
learner's text as typed; follow-ups only when the question refers back. Scripted LLM, hash
embedder, the real corpus."""

from __future__ import annotations

import pytest

from tests.conftest import make_settings
from tests.unit.test_trust import cited, note_sentence
from tutor.rag import followup
from tutor.trust import policy
from tutor.trust.check import FALLBACK_HEADER, QUOTES_HEADER
from ui.chat import KEEP, NO_QUESTION, REWRITING, respond
from ui.render import SUMMARY, plain, user_content
from tutor.wording import w

Q = "为什么注意力要除以根号d_k？"


@pytest.fixture(scope="module")
def tutor(tmp_path_factory, fake_home):
    from tests.conftest import fake_home_copy
    from tutor.llm import ScriptedLLM
    from tutor.rag.embed import hash_embedder
    from tutor.tutor import build_tutor

    home = fake_home_copy(fake_home, tmp_path_factory.mktemp("modes") / "home")
    return build_tutor(make_settings(home, answer_mode="auto"), llm=ScriptedLLM(), embedder=hash_embedder())


def events(tutor, mode, q=Q, history=None):
    return list(tutor.ask_stream(q, history or [], None, None, mode))


@pytest.mark.parametrize("name,check,want", [
    ("SmolLM2-135M-Instruct-Q4_1", True, "quotes_first"),  # measured: 0 of 31 blind answers kept
    ("SmolLM2-135M-Instruct-Q8_0", False, "quotes_first"),
    ("qwen2.5-7b-instruct-q4_k_m", True, "checked"),  # unmeasured: checked before shown
    ("qwen2.5-7b-instruct-q4_k_m", False, "stream"),  # no check: nothing to wait for
])
def test_auto_mode_follows_the_measured_acceptance(name, check, want):
    assert policy.resolve("auto", name, check) == want
    assert policy.resolve("stream", name, check) == "stream"


@pytest.mark.parametrize("name,setting,want", [
    ("SmolLM2-135M-Instruct-Q4_1", "auto", False),  # measured: 0 of 118 retries kept
    ("SmolLM2-135M-Instruct-Q4_1", "on", True),
    ("qwen2.5-7b-instruct-q4_k_m", "auto", True),  # unmeasured: keeps the retry
    ("qwen2.5-7b-instruct-q4_k_m", "off", False),
])
def test_strict_retry_follows_the_measured_retry_share(name, setting, want):
    assert policy.retry_worthwhile(name, setting) is want


@pytest.mark.parametrize("mode", ["stream", "checked"])
def test_a_model_whose_retries_never_stand_goes_straight_to_the_quotes(tutor, monkeypatch, mode):
    monkeypatch.setattr(tutor.llm, "name", "SmolLM2-135M-Instruct-Q4_1")
    tutor.llm.replies = ["The Great Gatsby is a novel by F. Scott Fitzgerald about the American dream."]
    calls = len(tutor.llm.calls)
    evs = events(tutor, mode)
    kinds = [k for k, _ in evs]
    a = evs[-1][1]
    assert "retry" not in kinds and kinds[-2:] == ["replace", "done"] and len(tutor.llm.calls) == calls + 1
    assert a.guard["outcome"] == "fallback" and len(a.guard["reasons"]) == 1 and a.guard["reasons"][0]
    assert a.answer.startswith(FALLBACK_HEADER["zh"]) and evs[-2][1] == a.answer and "extractive_fallback" in a.notices
    assert "Gatsby" not in a.answer


def test_unknown_mode_is_a_clear_error(tutor):
    with pytest.raises(policy.BadMode, match="quotes_first"):
        events(tutor, "fast")


def test_quotes_first_answers_from_the_notes_without_the_model(tutor):
    calls = len(tutor.llm.calls)
    evs = events(tutor, "quotes_first")
    kinds = [k for k, _ in evs]
    a = evs[-1][1]
    assert kinds == ["sources", "token", "done"] and len(tutor.llm.calls) == calls
    assert a.answer.startswith(QUOTES_HEADER["zh"]) and a.guard["outcome"] == "quoted" and a.mode == "quotes_first"
    assert "[1]" in a.answer and evs[1][1] == a.answer and a.to_json()["mode"] == "quotes_first"


def test_checked_mode_sends_drafts_then_the_checked_answer(tutor):
    good = cited(note_sentence(tutor))
    tutor.llm.replies = [good]
    evs = events(tutor, "checked")
    kinds = [k for k, _ in evs]
    assert "token" not in kinds and kinds.count("draft") > 1 and kinds[-2:] == ["replace", "done"]
    assert evs[-2][1] == evs[-1][1].answer == good and evs[-1][1].guard["outcome"] == "direct"


def test_checked_mode_never_shows_a_rejected_draft(tutor):
    """The learner sees progress lines, then the final text once: nothing is withdrawn."""
    tutor.llm.replies = ["The Great Gatsby is a novel by F. Scott Fitzgerald about the American dream.",
                         "banana banana banana banana banana."]
    ups = list(respond(tutor, Q, [], "", None, "checked"))
    shown = [u[1][-1]["content"] for u in ups[:-1]]
    assert all("Gatsby" not in s and "banana" not in s for s in shown)
    assert any("已写" in s for s in shown) and REWRITING in shown
    final = ups[-1][1][1]["content"]
    assert FALLBACK_HEADER["zh"] in final and "Gatsby" not in final
    assert ups[0][0] == "" and all(u[0] == KEEP for u in ups[1:])


def test_explain_adds_the_models_words_under_the_quotes(tutor):
    ups = list(respond(tutor, Q, [], "", None, "quotes_first"))
    chat = ups[-1][1]
    assert QUOTES_HEADER["zh"] in chat[1]["content"] and 'class="cite"' in chat[1]["content"]
    good = cited(note_sentence(tutor))
    tutor.llm.replies = [good]
    ups = list(respond(tutor, "", chat, "", None, explain=True))
    after = ups[-1][1]
    assert after[:len(chat)] == chat and len(after) == len(chat) + 1  # the quotes stay
    assert "讲解 Explanation" in after[-1]["content"] and plain(after[-1]["content"]) == good
    # the model saw the question, not the quotes, as what to answer
    assert Q in tutor.llm.calls[-1][-1]["content"] and QUOTES_HEADER["zh"] not in str(tutor.llm.calls[-1])


def test_a_failed_explanation_is_not_shown_and_says_so(tutor):
    chat = list(respond(tutor, Q, [], "", None, "quotes_first"))[-1][1]
    tutor.llm.replies = ["The Great Gatsby is a novel by F. Scott Fitzgerald.", "banana banana banana banana."]
    final = list(respond(tutor, "", chat, "", None, explain=True))[-1][1][-1]["content"]
    assert "Gatsby" not in final and "banana" not in final and FALLBACK_HEADER["zh"] not in final
    assert SUMMARY["explain_failed"].split(" / ")[0] in final
    # review 3: its 详情 said "these are sentences quoted from the notes" with nothing under it
    assert w("notice.extractive_fallback").split(" / ")[0] not in final
    assert w("notice.explain_fallback").split(" / ")[0] in final


@pytest.mark.parametrize("at", ["prefill", "draft"])
def test_stop_during_an_explanation_says_stopped_not_failed(tutor, at):
    """A reviewer pressed Stop 4 s into 讲解 Explain and read 'did not match the notes'."""
    import threading

    chat = list(respond(tutor, Q, [], "", None, "quotes_first"))[-1][1]
    tutor.llm.replies = [cited(note_sentence(tutor)) * 6]
    stop = threading.Event()
    if at == "prefill":
        stop.set()  # before the first token: the model is still reading the prompt
    ups = []
    for u in respond(tutor, "", chat, "", stop, explain=True):
        ups.append(u)
        if "3" in str(u[1][-1]["content"]) and at == "draft":
            stop.set()
    final = ups[-1][1][-1]["content"]
    assert SUMMARY["stopped"].split(" / ")[0] in final, final
    assert SUMMARY["explain_failed"].split(" / ")[0] not in final and final.count("<details") == 1, final
    # the stopped line alone: no "the model returned no text", and never the unchecked draft
    # (a second reviewer saw a stopped draft's fragment under 讲解 Explanation)
    assert "没有给出回答" not in final and "讲解 Explanation" not in final, final
    assert note_sentence(tutor)[:12] not in final, final


def test_explain_after_a_refusal_adds_no_bubble_and_says_why(tutor):
    """Review 25: 讲解 Explain after a "not covered" answer added a second refusal under the first."""
    from ui.chat import EXPLAIN_UNCOVERED

    chat = list(respond(tutor, "后者为什么更难扩展？", [], "", None, "quotes_first"))[-1][1]
    ups = list(respond(tutor, "", chat, "", None, explain=True))
    assert ups[-1][1] == chat and ups[-1][3] == EXPLAIN_UNCOVERED, ups[-1]
    assert all(u[1][:len(chat)] == chat for u in ups)  # nothing shown was lost on the way


def test_explain_without_a_question_says_ask_first(tutor):
    ups = list(respond(tutor, "", [], "", None, explain=True))
    assert ups == [(KEEP, [], KEEP, NO_QUESTION)]


def test_learner_text_is_shown_as_typed():
    typed = "租 A100 是 $2 一小时，H100 是 $4 一小时，\\(x\\) 呢？"
    shown = user_content(typed)
    assert "$" not in shown and "\\(" not in shown and plain(shown) == typed


def test_tutor_math_uses_delimiters_prices_cannot_trigger(tutor):
    from ui.mathtext import tutor_math

    assert tutor_math("当 $d=k=4096$ 时") == "当 \\(d=k=4096\\) 时"
    assert tutor_math("A100 $2/h, H100 $4/h") == "A100 $2/h, H100 $4/h"
    assert tutor_math("`$x$` and $$y$$") == "`$x$` and $$y$$"


@pytest.mark.parametrize("q,is_followup", [
    ("怎么做红烧肉？", False), ("今天天气怎么样？", False), ("How do I bake bread?", False),
    ("LoRA 的缺点呢？", False),  # names its own topic
    ("那它的缺点呢？", True), ("缺点呢？", True), ("为什么？", True), ("举个例子", True),
    ("Why?", True), ("Any examples?", True), ("What about its memory cost?", True),
    # English: a longer question refers back when its first pronoun precedes any word of its own
    ("So how does that behave when the batch is really tiny?", True),
    ("Well, and why would they fail on very long documents then?", True),
    ("my laptop fan gets really loud at night, is it broken?", False),  # "it": the question's own noun
    ("is it bad to drink coffee late at night?", False),  # expletive "it"
    ("Is it slow to compute?", True),  # review 9, after SHAP: "it" is what to compute
    # session 24: contractions ("what's" → s) and words for weaknesses, uses and examples name no topic
    ("What's the weakness then?", True), ("So where's the catch?", True), ("Any real-world use cases?", True),
    ("Could you give me a concrete example of it?", True), ("How's that different from Q-learning?", True),
    ("Which GPUs support bfloat16 in practice?", False),
    # review 10: a short English question with a pronoun anywhere, unless a clause before a comma names it
    ("Why do outliers in activations make it harder?", True), ("ddim eta parameter, what does it do?", False), ("What's a good stretch after a bike ride?", False),
    ("温度参数 T 在里面起什么作用？", True),  # review 9, after knowledge distillation: "in it"
    ("多头注意力在里面起什么作用？", True),
    ("有什么工具可以帮我做这件事？", True),  # review 12, after data drift: 工具 names chapter 15, 这件事 points back
    ("So how does that behave when the batch is tiny and the learning rate is high and the data is noisy?", False),
    # naming a topic: a follow-up only when a pronoun points back before it (review 5: "How is it
    # used in RLHF?" after PPO; "Why is that better than a KL penalty?", KL penalty an alias)
    ("How is it used in RLHF?", True), ("Why is that better than a KL penalty?", True), ("它在 RLHF 里怎么用？", True),
    ("What is this LoRA thing?", False),  # this: the topic's determiner
    ("这个 LoRA 是什么？", False), ("JAX 用起来跟 NumPy 很像，它到底强在哪？", False),  # 它: the JAX just named
    ("What is PPO and why does it clip the probability ratio?", False),
    # review 12: an ordinal picks one of the topics just named, unless the question names its own two
    ("Why is it hard to scale the second one?", True), ("后者为什么难扩展？", True), ("第二种有什么缺点？", True),
    ("LayerNorm和BatchNorm有什么不一样？Transformer为什么用前者？", False), ("第一个大语言模型是哪个？", False),
    ("What was the first transformer model?", False),
    # review 14: weather and time "it" names nothing ("Will it rain…" after LayerNorm was answered from it)
    ("Will it rain in Shanghai tomorrow?", False), ("Is it going to be sunny this weekend?", False),
    ("What time is it?", False), ("Why is it slow?", True), ("Does it work with RMSNorm?", True),
    # review 24: "it" among the first words with no name before it; a comparison whose first side is a
    # pronoun or left out, when the notes' words name the other side
    ("If I run it twice on the same image, will I get the same explanation?", True),
    ("How long should I rest a steak after grilling it?", False),
    ("这个跟 Euler 采样器比怎么样？", True), ("那跟 SARSA 有啥区别？", True), ("跟室友闹矛盾了 咋处理比较好", False),
    # review 25: "that" after a verb of knowing opens a clause; "pick it over X" compares with the last topic
    ("How can I tell that the data my model sees in production has drifted?", False),
    ("When would I pick it over plain behavior cloning?", True),
    ("What is RMSNorm and why do LLaMA-style models use it instead of the standard normalization layer?", False),
])
def test_a_follow_up_refers_back(tutor, q, is_followup):
    assert followup.is_followup(q, tutor.index) is is_followup


@pytest.mark.parametrize("prev,q,want", [
    ("What is the difference between data parallelism and model parallelism?", "Why is it hard to scale the second one?",
     "Why is it hard to scale model parallelism?"),
    ("数据并行和模型并行有什么区别？", "后者为什么难扩展？", "模型并行为什么难扩展？"),
    ("数据并行和模型并行有什么区别？", "前者呢？", "数据并行呢？"),
    ("数据并行和模型并行有什么区别？", "第三种呢？", None),  # two named: no third
    ("LoRA 为什么省显存？", "后者呢？", None),  # one named: nothing to pick from
])
def test_an_ordinal_picks_the_topic_the_last_question_named_in_that_place(tutor, prev, q, want):
    assert followup.pick_ordinal(q, prev, tutor.index) == want


@pytest.mark.parametrize("q", ["后者为什么更难扩展？", "Why is the second one slower?"])
def test_an_ordinal_with_nothing_asked_before_is_not_covered(tutor, q):
    """New-user trial, session 26: 「后者为什么更难扩展？」 alone quoted VS Code's extensions (扩展)."""
    a = events(tutor, "quotes_first", q)[-1][1]
    assert not a.covered and a.sources == [] and a.notices == ["not_covered"], a.answer
    # a question naming its own two topics keeps its ordinal and is answered
    own = events(tutor, "quotes_first", "LayerNorm和BatchNorm有什么不一样？Transformer为什么用前者？")[-1][1]
    assert own.covered


def test_an_ordinal_follow_up_is_searched_and_quoted_as_the_topic_it_picks(tutor):
    """Review 12: "Why is it hard to scale the second one?" after data vs model parallelism was
    searched alone and quoted scaled dot-product attention."""
    history = turns("What is the difference between data parallelism and model parallelism?")
    a = events(tutor, "quotes_first", "Why is it hard to scale the second one?", history)[-1][1]
    assert a.covered and a.sources[0].id.startswith("8.2"), [s.id for s in a.sources]  # model parallelism (8.2.1: tensor)
    assert "dot-product" not in a.answer.lower(), a.answer


def test_an_off_topic_question_mid_conversation_is_not_covered_as_alone(tutor):
    alone = events(tutor, "stream", "怎么做红烧肉？")[-1][1]
    history = [{"role": "user", "content": "What is classifier-free guidance?"},
               {"role": "assistant", "content": "It mixes conditional and unconditional predictions [1]."}]
    mid = events(tutor, "stream", "怎么做红烧肉？", history)[-1][1]
    assert alone.covered is mid.covered
    assert [s.id for s in alone.sources] == [s.id for s in mid.sources]


def turns(*questions):
    return [t for q in questions for t in ({"role": "user", "content": q}, {"role": "assistant", "content": "……"})]


@pytest.mark.parametrize("history", [
    turns("LoRA 为什么省显存？", "周末去杭州玩有什么推荐？"),  # an off-topic question between (reviewer, issue 15)
    turns("LoRA 为什么省显存？", "那它的优点呢？"),  # a chain of follow-ups
    turns("LoRA 为什么省显存？"),
])
def test_a_follow_up_refers_to_the_last_covered_question(tutor, history):
    a = events(tutor, "quotes_first", "那它的缺点呢？", history)[-1][1]
    direct = events(tutor, "quotes_first", "那它的缺点呢？", turns("LoRA 为什么省显存？"))[-1][1]
    alone = events(tutor, "quotes_first", "LoRA 为什么省显存？ 那它的缺点呢？")[-1][1]
    # the notes of both questions asked together, in the order the referent found them (followup.resolve)
    assert a.covered and [s.id for s in a.sources] == [s.id for s in direct.sources]
    assert {s.id for s in a.sources} == {s.id for s in alone.sources} and a.sources[0].id == alone.sources[0].id
    assert tutor.conversation_query("那它的缺点呢？", [t["content"] for t in history if t["role"] == "user"]) \
        == "LoRA 为什么省显存？\n那它的缺点呢？"


@pytest.mark.parametrize("q", ["那它的缺点呢？", "And its weaknesses?"])
def test_a_follow_up_to_nothing_the_notes_cover_is_not_covered(tutor, q):
    """Searched alone, 「那它的缺点呢？」 matches any note with a 缺点 section: quotes from a careers
    note read as the drawbacks of the trip the learner asked about."""
    for history in (turns("周末去杭州玩有什么推荐？"), turns("周末去杭州玩有什么推荐？", "Why?")):
        a = events(tutor, "quotes_first", q, history)[-1][1]
        assert not a.covered and a.sources == [] and a.notices == ["not_covered"], a.answer


def test_quoted_sentences_are_whole_and_never_code():
    from tutor.trust.check import quotable_sentences

    text = ("RoPE was introduced in the RoFormer paper by Su et al. (2021) and rotates q and k. It is relative.\n"
            "```python\nh = x @ W0.T  # frozen\n```\n| a | b |\n训练伪代码：见上。")
    assert quotable_sentences(text) == [
        "RoPE was introduced in the RoFormer paper by Su et al. (2021) and rotates q and k.", "It is relative.", "训练伪代码：见上。"]


def test_explain_warns_before_the_wait_when_the_model_is_measured_to_fail(tutor, monkeypatch):
    """Review 16: Explain waited 78 s, then said the explanation was not shown; with a model
    measured to fail the check (SmolLM2: 0 of 31), the progress line says so before the wait."""
    from ui.chat import READING

    chat = list(respond(tutor, Q, [], "", None, "quotes_first"))[-1][1]
    tutor.llm.replies = [cited(note_sentence(tutor))]
    lines = [u[1][-1]["content"] for u in respond(tutor, "", chat, "", None, explain=True)]
    assert READING in lines and not any("0/31" in s for s in lines)  # the fake model is unmeasured
    monkeypatch.setattr(tutor, "measured_acceptance", lambda: (0, 31))
    tutor.llm.replies = [cited(note_sentence(tutor))]
    lines = [u[1][-1]["content"] for u in respond(tutor, "", chat, "", None, explain=True)]
    assert any("0/31" in s and "0 of 31" in s for s in lines) and READING not in lines


def test_plain_note_text_keeps_its_underscores_outside_math_and_code():
    """Review 24: Browse key points and flashcard backs read 「x_{t-1} = sqrt(ᾱ_{t-1})·x̂_0 + …」 as
    Markdown italics; math, code and bold stay as written."""
    from ui.mathtext import plain_emphasis

    assert plain_emphasis("x_{t-1} = sqrt(ᾱ_{t-1})·x̂_0") == "x\\_{t-1} = sqrt(ᾱ\\_{t-1})·x̂\\_0"
    assert plain_emphasis("$x_t$ 与 `a_b`、**粗体**、a*b*c") == "$x_t$ 与 `a_b`、**粗体**、a\\*b\\*c"


def test_both_as_a_compared_side_is_the_two_things_compared_last(tutor):
    """Review 30: "And how is Decision Transformer different from both?" took the note that writes "both"."""
    hist = [{"role": "user", "content": "数据并行和模型并行有什么区别？"}, {"role": "assistant", "content": "…"}]
    never = lambda q: pytest.fail("a named side needs no search")  # noqa: E731
    assert (followup.pick_both("流水线并行和这两者有什么区别？", hist, tutor.index, never, bool)
            == "流水线并行和数据并行和模型并行有什么区别？")
    en = [{"role": "user", "content": "What is the difference between data parallelism and model parallelism?"}]
    assert (followup.pick_both("How is pipeline parallelism different from both?", en, tutor.index, never, bool)
            == "How is pipeline parallelism different from data parallelism and model parallelism?")
    assert followup.pick_both("How is pipeline parallelism different from both?", [], tutor.index, never, bool) is None
    assert followup.pick_both("流水线并行和这两者有什么区别？", [{"role": "user", "content": "LoRA 是什么？"}],
                              tutor.index, never, bool) is None
    assert followup.own_words("How is X different from both?", "How is X different from A and B?") == "How is X different from A and B?"
