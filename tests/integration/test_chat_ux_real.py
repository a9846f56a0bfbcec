"""Issue 15 on the real stack (Chroma on disk, MiniLM + USE, SmolLM2 at temperature 0):
follow-ups only when the question refers back, the runner-up note kept as a source, and the
default model answering quotes first (no model call, so these run in seconds)."""

import re

import pytest

pytestmark = pytest.mark.integration

CFG = "What is classifier-free guidance?"


def _conversation(tutor, *qs):
    """The last answer of a quotes-first conversation asking qs in turn."""
    history, a = [], None
    for q in qs:
        a = tutor.ask(q, history=history, mode="quotes_first")
        history += [{"role": "user", "content": q}, {"role": "assistant", "content": a.answer}]
    return a


def test_off_topic_question_mid_conversation_gets_the_not_covered_reply(real_tutor):
    first = real_tutor.ask(CFG, mode="quotes_first")
    assert first.covered and any(s.id.startswith("4.") for s in first.sources)
    history = [{"role": "user", "content": CFG}, {"role": "assistant", "content": first.answer}]
    alone = real_tutor.ask("怎么做红烧肉？", mode="quotes_first")
    mid = real_tutor.ask("怎么做红烧肉？", history=history, mode="quotes_first")
    assert not alone.covered and "not_covered" in alone.notices
    assert not mid.covered and mid.answer == alone.answer and mid.sources == []


def test_a_question_that_refers_back_still_uses_the_last_topic(real_tutor):
    first = real_tutor.ask("什么是 LoRA？", mode="quotes_first")
    history = [{"role": "user", "content": "什么是 LoRA？"}, {"role": "assistant", "content": first.answer}]
    a = real_tutor.ask("那它的缺点呢？", history=history, mode="quotes_first")
    assert a.covered and {"3.4.2", "4.4.4"} & {s.id for s in a.sources}
    # the quotes are LoRA's drawbacks, chosen with the last question, not any note's 缺点
    lora = {s.n for s in a.sources if s.id in ("3.4.2", "4.4.4")}
    quoted = [ln for ln in a.answer.splitlines() if ln.startswith("- ")]
    drawbacks = [ln for ln in quoted if "缺点" in ln]
    assert drawbacks and all(int(n) in lora for ln in drawbacks for n in re.findall(r"\[(\d+)\]", ln)), a.answer
    assert not any(ln.startswith("- - ") or "**" in ln for ln in quoted), a.answer


@pytest.mark.parametrize("first,off,follow,topic", [
    ("RLHF 里的奖励模型是怎么训练的？", "周末去杭州玩有什么推荐？", "那它的缺点呢？", "RLHF"),
    ("How does LoRA fine-tune a model?", "Any tips for a cheap flight to Tokyo?", "And its weaknesses?", "LoRA"),
])
def test_a_follow_up_after_an_off_topic_question_stays_on_the_last_covered_topic(real_tutor, first, off, follow, topic):
    """A reviewer's conversations (issue 15): the follow-up quoted a careers note (「缺点是反馈周期
    长……」) and ML-security defences, searched alone once the off-topic question had come between."""
    history = []
    for q in (first, off):
        a = real_tutor.ask(q, history=history, mode="quotes_first")
        history += [{"role": "user", "content": q}, {"role": "assistant", "content": a.answer}]
    assert not a.covered  # the off-topic question
    direct = real_tutor.ask(first, mode="quotes_first")
    a = real_tutor.ask(follow, history=history, mode="quotes_first")
    assert a.covered and a.sources[0].id == direct.sources[0].id, ([s.id for s in a.sources], [s.id for s in direct.sources])
    assert topic.lower() in (a.sources[0].title + a.sources[0].title_en).lower()
    # with nothing covered before it, the same follow-up is not covered (no quotes from any 缺点 section)
    alone = real_tutor.ask(follow, history=history[2:], mode="quotes_first")
    assert not alone.covered and alone.sources == []


@pytest.mark.parametrize("first,follow,quoted", [
    ("What is the difference between data parallelism and model parallelism?", "Why is it hard to scale the second one?",
     "within a node"),
    ("数据并行和模型并行有什么区别？", "后者为什么难扩展？", "单机内扩展"),
])
def test_an_ordinal_follow_up_answers_about_the_topic_it_picks(real_tutor, first, follow, quoted):
    """Review 12: "the second one" after data vs model parallelism quoted scaled dot-product attention."""
    a0 = real_tutor.ask(first, mode="quotes_first")
    history = [{"role": "user", "content": first}, {"role": "assistant", "content": a0.answer}]
    a = real_tutor.ask(follow, history=history, mode="quotes_first")
    assert a.covered and a.sources[0].id == "8.2", [s.id for s in a.sources]
    assert quoted in a.answer, a.answer


def test_a_follow_up_asking_something_new_does_not_repeat_the_last_answer(real_tutor):
    """Reviews 13a / 13b: "How can we make that faster?" after a diffusion question got the
    same three DDPM sentences again."""
    from tutor.trust.check import quoted_in

    first = "Why do diffusion models need so many denoising steps when generating an image?"
    a0 = real_tutor.ask(first, mode="quotes_first")
    history = [{"role": "user", "content": first}, {"role": "assistant", "content": a0.answer}]
    a = real_tutor.ask("How can we make that faster?", history=history, mode="quotes_first")
    assert a.covered and quoted_in(a.answer) and not quoted_in(a.answer) & quoted_in(a0.answer), a.answer
    assert "faster" in a.answer.lower() or "DDIM" in a.answer, a.answer


@pytest.mark.parametrize("q,word", [("Why do policy gradient methods have high variance?", "variance"),
                                    ("策略梯度方法为什么方差大？", "方差")])
def test_a_question_naming_an_overview_quotes_the_subtopic_that_answers(real_tutor, q, word):
    """Review 12: the policy-gradient overview (5.2) names the methods but says nothing of their
    variance; REINFORCE (5.2.1) does, and is quoted."""
    a = real_tutor.ask(q, mode="quotes_first")
    quoted = [ln for ln in a.answer.splitlines() if ln.startswith("- ")]
    assert a.covered and any(word in ln for ln in quoted), a.answer


@pytest.mark.parametrize("q", ["LoRA 为什么省显存？", "Why does LoRA save memory?"])
def test_the_note_that_answers_is_kept_when_it_ranks_in_the_top_three(real_tutor, q):
    """3.4.2 (LoRA) answers it; 4.4.4 (LoRA for Stable Diffusion) has more matching chunks."""
    a = real_tutor.ask(q, mode="quotes_first")
    ids = [s.id for s in a.sources]
    assert "3.4.2" in ids, ids


def test_the_default_model_answers_quotes_first(real_tutor):
    assert real_tutor.answer_mode("auto") == "quotes_first"  # SmolLM2-135M: 0 of 31 blind answers kept (REPORT.md §3)
    calls = real_tutor.llm.last
    a = real_tutor.ask("为什么注意力要除以根号d_k？", mode="auto")
    assert a.guard["outcome"] == "quoted" and a.mode == "quotes_first" and real_tutor.llm.last is calls
    assert a.answer.count("[") >= 2 and a.timings["first_token_ms"] is None


def test_review5_english_follow_ups_and_comparisons(real_tutor):
    """Review 5 (session 20): after a PPO question, "Why is that better than a KL penalty?" was
    refused (KL penalty names 3.2.4, so it was taken as standalone) and "How is it used in RLHF?"
    quoted only RLHF's history; 「知识蒸馏和剪枝有什么区别？」 quoted only distillation. (The GAN
    mode-collapse case is a unit test only: whether 4.1.2 is among its sources varies between index
    builds, and without it the schema sentences are still quoted.)"""
    first = "What is PPO and why does it clip the probability ratio?"
    a = real_tutor.ask(first, mode="quotes_first")
    assert a.sources[0].id == "5.2.4" and a.answer.count("clipped surrogate objective") <= 1, a.answer
    history = [{"role": "user", "content": first}, {"role": "assistant", "content": a.answer}]
    for q in ("Why is that better than a KL penalty?", "How is it used in RLHF?"):
        f = real_tutor.ask(q, history=history, mode="quotes_first")
        assert f.covered and "5.2.4" in [s.id for s in f.sources[:2]], (q, [s.id for s in f.sources])
    cmp = real_tutor.ask("知识蒸馏和剪枝有什么区别？", mode="quotes_first")
    ids = {s.n: s.id for s in cmp.sources}
    cited = {ids[int(n)] for n in re.findall(r"\[(\d+)\]", cmp.answer)}
    assert "7.3.1" in cited and any(i.startswith("7.2") for i in cited), (cited, cmp.answer)


def test_review14_normalization_comparisons_quote_the_layernorm_note(real_tutor):
    """Review 14: BN vs LN opened with serving's "batching" (batch normalization has no note of
    its own; 2.1.4 writes it out), and "And how is it different from RMSNorm?" after a LayerNorm
    question opened with the Hugging Face note ("Transformers" in the earlier question)."""
    a = real_tutor.ask("What is the difference between batch normalization and layer normalization?", mode="quotes_first")
    first = a.answer.splitlines()[1]
    assert a.sources[0].id == "2.1.4" and "[1]" in first and "batching" not in a.answer.lower(), a.answer
    before = "Why do Transformers use layer normalization?"
    a0 = real_tutor.ask(before, mode="quotes_first")
    history = [{"role": "user", "content": before}, {"role": "assistant", "content": a0.answer}]
    f = real_tutor.ask("And how is it different from RMSNorm?", history=history, mode="quotes_first")
    assert f.sources[0].id == "2.1.4" and "RMSNorm" in f.answer.splitlines()[1], f.answer


def test_follow_ups_on_layernorm_and_rlhf_quote_what_they_ask(real_tutor):
    """Session 28: "What are its drawbacks?" after "Why do Transformers use layer normalization?"
    quoted the definition again (the question names 2.1.4 only as part of its title "Layer
    Normalization (LayerNorm, LN)"), and "How is it different from DPO?" after "What is RLHF?"
    quoted SFT and PPO lines (the one DPO sentence had been quoted)."""
    def turn(history, q):
        a = real_tutor.ask(q, history=history, mode="quotes_first")
        return a, history + [{"role": "user", "content": q}, {"role": "assistant", "content": a.answer}]

    _, h = turn([], "Why do Transformers use layer normalization?")
    a, _ = turn(h, "What are its drawbacks?")
    assert "Limitations:" in a.answer and "[1]" in a.answer, a.answer
    _, h = turn([], "What is RLHF?")
    a, _ = turn(h, "How is it different from DPO?")
    quoted = [ln for ln in a.answer.splitlines() if ln.startswith("- ")]
    assert quoted and "DPO" in quoted[0], a.answer


def test_review15_majors_on_the_real_stack(real_tutor):
    """Review 15: (1) "How is layer normalization different from batch normalization?" after two
    LayerNorm turns quoted CLIP and operator fusion as "the notes' next ones"; (2) 「为什么 Transformer
    需要位置编码？」 quoted only learned embeddings, not 1.3's permutation sentence; (3) mixed precision
    training was explained by no note (3.4.1 now does)."""
    from tutor.trust.check import SAME_QUOTES

    history = []
    for q in ("What is layer normalization?", "Why is it used in transformers?"):
        a = real_tutor.ask(q, history=history, mode="quotes_first")
        history += [{"role": "user", "content": q}, {"role": "assistant", "content": a.answer}]
    a = real_tutor.ask("How is layer normalization different from batch normalization?", history=history, mode="quotes_first")
    assert "CLIP" not in a.answer and "batch normalization" in a.answer, a.answer
    assert SAME_QUOTES["en"] in a.answer or "[1]" in a.answer.splitlines()[1], a.answer
    a = real_tutor.ask("为什么 Transformer 需要位置编码？", mode="quotes_first")
    assert "置换" in a.answer, a.answer
    for q, word in (("什么是混合精度训练？", "损失缩放"), ("What is mixed precision training?", "loss scaling")):
        a = real_tutor.ask(q, mode="quotes_first")
        assert a.sources[0].id == "3.4.1" and word in a.answer, (q, a.answer)


@pytest.mark.parametrize("q,word", [("AI 在医疗影像诊断中有哪些风险？", "标注昂贵"),
                                    ("What are the risks of AI in medical imaging?", "annotation is expensive")])
def test_review16_a_risks_question_quotes_the_notes_drawbacks(real_tutor, q, word):
    """Review 16 (major): a question on the risks of AI in medical imaging quoted 14.4.2's overview
    lines and none of its drawbacks."""
    a = real_tutor.ask(q, mode="quotes_first")
    assert a.sources[0].id == "14.4.2" and word in a.answer, a.answer


def test_review17_a_why_question_in_a_distillation_conversation_stays_on_distillation(real_tutor):
    """Review 17 (major): 「为什么软标签比硬标签包含更多信息？」 after two distillation turns was
    answered from label smoothing, and the next risks question quoted label smoothing's history
    and formula; "What are its drawbacks?" after a comparison names both sides' notes."""
    history = []
    answers = []
    for q in ("什么是知识蒸馏？", "它的温度参数起什么作用？", "为什么软标签比硬标签包含更多信息？", "这个方法有什么缺点和风险？"):
        a = real_tutor.ask(q, history=history, mode="quotes_first")
        answers.append(a)
        history += [{"role": "user", "content": q}, {"role": "assistant", "content": a.answer}]
    assert answers[2].sources[0].id == "7.3.1" and "相对相似度" in answers[2].answer, answers[2].answer
    assert answers[3].sources[0].id == "7.3.1" and "需要先有好的教师" in answers[3].answer, answers[3].answer
    history = []
    for q in ("How is quantization different from knowledge distillation?", "How do I bake chocolate chip cookies?"):
        a = real_tutor.ask(q, history=history, mode="quotes_first")
        history += [{"role": "user", "content": q}, {"role": "assistant", "content": a.answer}]
    a = real_tutor.ask("What are its drawbacks?", history=history, mode="quotes_first")
    assert {s.id for s in a.sources[:2]} == {"7.1", "7.3.1"} and "teacher" in a.answer, a.answer


def test_review18_a_why_question_in_own_words_in_a_privacy_conversation_stays_on_privacy(real_tutor):
    """Review 18 (major): two turns into differential privacy, 「为什么往结果里加一点随机噪声，别人
    就认不出某个人的数据了？」 (no note named, no pronoun) was answered from diffusion's denoising
    (4.1.2, ranked first on 噪声 / 数据). In the conversation it is answered from 13.2.1; asked
    alone it is ranked as before."""
    history = []
    for q in ("什么是差分隐私？", "它里面的 ε 是干什么用的？"):
        a = real_tutor.ask(q, history=history, mode="quotes_first")
        history += [{"role": "user", "content": q}, {"role": "assistant", "content": a.answer}]
    why = "为什么往结果里加一点随机噪声，别人就认不出某个人的数据了？"
    a = real_tutor.ask(why, history=history, mode="quotes_first")
    assert a.sources[0].id == "13.2.1", [s.id for s in a.sources]
    quoted = [ln for ln in a.answer.splitlines() if ln.startswith("- ")]
    assert quoted and all("[1]" in ln for ln in quoted[:2]), a.answer


def test_review18_it_after_a_comparison_and_an_off_topic_question_is_the_conversations_topic(real_tutor):
    """Review 18 (minor): after "What is Double DQN?" … "How is Double DQN different from SARSA?"
    and a steak question, "Does it work for continuous action spaces…?" quoted SARSA only."""
    history = []
    for q in ("What is Double DQN?", "What are the drawbacks of Double DQN?", "How is Double DQN different from SARSA?",
              "How do I cook a good steak?"):
        a = real_tutor.ask(q, history=history, mode="quotes_first")
        history += [{"role": "user", "content": q}, {"role": "assistant", "content": a.answer}]
    a = real_tutor.ask("Does it work for continuous action spaces like robot arm control?", history=history, mode="quotes_first")
    assert a.covered and a.sources[0].id == "5.1.4", [s.id for s in a.sources]


def test_review19_a_why_question_in_own_words_after_dqn_stays_on_dqn(real_tutor):
    """Review 19 (major): after "What exactly is a deep Q-network?", "Why would training go unstable
    if the agent just learned from its most recent transitions one after another?" (experience
    replay, in the learner's words) quoted Decision Transformer, with DQN not among the sources,
    and the next turns followed it."""
    first = "What exactly is a deep Q-network?"
    a = real_tutor.ask(first, mode="quotes_first")
    history = [{"role": "user", "content": first}, {"role": "assistant", "content": a.answer}]
    why = "Why would training go unstable if the agent just learned from its most recent transitions one after another?"
    b = real_tutor.ask(why, history=history, mode="quotes_first")
    assert b.sources[0].id == "5.1.3" and "experience replay" in b.answer, b.answer
    history += [{"role": "user", "content": why}, {"role": "assistant", "content": b.answer}]
    c = real_tutor.ask("What are the weaknesses of this approach?", history=history, mode="quotes_first")
    assert c.sources[0].id == "5.1.3", [s.id for s in c.sources]


def test_review20_own_words_questions_stay_with_bayesian_optimization_and_zero(real_tutor):
    """Review 20 (majors 1-3): after Bayesian optimization was named, an own-words why-question was
    answered from Optuna (11.3.2, a neighbour in chapter 11), its drawbacks follow-up quoted
    Optuna's, and "How does it decide which configuration to try next?" quoted grid search; after
    「ZeRO 是什么？」 (the section 8.3) an own-words question went to DDP (8.1.2)."""
    def ask(q, history):
        a = real_tutor.ask(q, history=history, mode="quotes_first")
        history += [{"role": "user", "content": q}, {"role": "assistant", "content": a.answer}]
        return a

    history: list[dict] = []
    ask("What is Bayesian optimization when tuning hyperparameters?", history)
    b = ask("Why would guessing where good settings lie, based on the earlier trials, save so many training runs?", history)
    assert b.sources[0].id == "11.1.3", [s.id for s in b.sources]
    c = ask("What are its drawbacks?", history)
    assert c.sources[0].id == "11.1.3", [s.id for s in c.sources]
    d = real_tutor.ask("How does it decide which configuration to try next?", history=history[:2], mode="quotes_first")
    assert d.sources[0].id == "11.1.3", [s.id for s in d.sources]
    history = []
    ask("ZeRO 是什么？", history)
    e = ask("为什么把这些状态拆开存到各张卡上，就能训练比单卡显存大得多的模型？", history)
    assert e.sources[0].id.startswith("8.3"), [s.id for s in e.sources]


def test_review21_named_topic_uncovered_own_words_and_defence_follow_ups(real_tutor):
    """Review 21 (majors 1, 2, 4): after MAML was named, an own-words why-question was answered from
    in-context learning (3.2.2, another chapter); after pipeline parallelism, 「为什么切成小批次以后，
    每张卡闲着等待的时间就变少了？」 got "not covered"; 「它怎么防？」 after model stealing quoted its
    definition again, not its defences."""
    def conversation(*qs):
        return _conversation(real_tutor, *qs)

    a = conversation("What is MAML in meta-learning?",
                     "Why does practicing on lots of small tasks let the model pick up a new task from just a few examples?")
    assert a.sources[0].id == "11.4.1", [s.id for s in a.sources]
    b = conversation("什么是流水线并行？", "为什么切成小批次以后，每张卡闲着等待的时间就变少了？")
    assert b.covered and b.sources[0].id == "8.2.2", b.answer
    c = conversation("什么是模型窃取？", "它怎么防？")
    assert c.sources[0].id == "13.4.3" and "防御" in c.answer.split("\n")[1], c.answer
    d = conversation("什么是流水线并行？", "How long should I boil an egg to get a jammy yolk?")
    assert not d.covered, d.answer


def test_review21_an_uncovered_question_on_the_conversations_note_and_its_drawbacks_after_own_words(real_tutor):
    """Review 21 (majors 1, 3): 「服务器是怎么决定每个设备的更新占多大分量的？」 three turns into
    federated learning was refused (alone it found TensorRT, below the threshold), though 13.2.2 holds
    its words; "What are its drawbacks?" after MAML and an own-words turn quoted a non-drawback line
    under "already quoted". Both now come from the conversation's note (its drawbacks: its English Limitations sentence)."""
    def conversation(*qs):
        return _conversation(real_tutor, *qs)

    a = conversation("什么是联邦学习？", "为什么数据一直留在各自的手机上，大家的模型还能一起变好？", "它的缺点呢？",
                     "服务器是怎么决定每个设备的更新占多大分量的？")
    assert a.covered and a.sources[0].id == "13.2.2", a.answer
    b = conversation("What is MAML in meta-learning?",
                     "Why does practicing on lots of small tasks let the model pick up a new task from just a few examples?",
                     "What are its drawbacks?")
    assert b.sources[0].id == "11.4.1" and "Limitations: second-order" in b.answer and "already" not in b.answer, b.answer


def test_review22_that_is_the_conversations_topic_a_follow_up_comparison_quotes_both_sides(real_tutor):
    """Review 22 (majors 1-3): "How is that different from plain actor-critic?" three turns into PPO
    compared gradient clipping (the referent question said "clipping"); 「那它和 ALiBi 比呢？」 after
    RoPE quoted RoPE alone; 「这些办法各自有什么不足？」 after cold-start remedies was no drawbacks
    question and claimed its best sentences were quoted already."""
    def conversation(*qs):
        return _conversation(real_tutor, *qs)

    a = conversation("What is PPO in reinforcement learning?", "Why does clipping the ratio help?",
                     "How does it decide how far to move the policy in one update?",
                     "How is that different from plain actor-critic?")
    assert [s.id for s in a.sources[:2]] == ["5.2.4", "5.2.2"] and "[1]" in a.answer and "[2]" in a.answer, a.answer
    b = conversation("什么是旋转位置编码 RoPE？", "它的缺点呢？", "那它和 ALiBi 比呢？")
    assert [s.id for s in b.sources[:2]] == ["1.3.3", "1.3.4"] and "[2]" in b.answer, b.answer
    c = conversation("推荐系统里的冷启动是什么意思？", "那一般怎么解决？", "这些办法各自有什么不足？")
    # (drawbacks in Chinese since review 27; the English "Limitations:" line before)
    from tutor.trust.check import is_drawback

    assert c.sources[0].id == "14.3.5" and "前面已经摘录过" not in c.answer, c.answer
    assert sum(is_drawback(ln) for ln in c.answer.splitlines()[1:]) >= 2 and "Limitations" not in c.answer, c.answer


def test_review24_beam_search_lime_and_ddim_conversations(real_tutor):
    """Review 24 (majors 1-3, 5): 「束搜索（beam search）是什么？」 quoted machine translation's opening and its
    follow-ups random search; 「那束宽一般设多大合适？」 four turns on was refused; "What is beam search?"
    quoted a passing mention; "If I run it twice on the same image, …" after LIME was refused; a DDIM
    conversation's 「它有什么缺点？」 said DDPM's drawbacks were not written, and 「这个跟 Euler 采样器比怎么样？」
    quoted Euler alone."""
    def conversation(*qs):
        return _conversation(real_tutor, *qs)

    a = conversation("束搜索（beam search）是什么？")
    assert a.sources[0].id == "14.2.5" and all("束搜索" in ln for ln in a.answer.splitlines()[1:3]), a.answer
    b = conversation("束搜索（beam search）是什么？", "它为什么比贪心解码效果好？", "红烧肉怎么做才好吃？",
                     "这个方法有什么缺点？", "它和 top-p 核采样比，哪个更适合写故事？", "那束宽一般设多大合适？")
    assert b.covered and "束宽" in b.answer, b.answer
    c = conversation("What is beam search?")
    assert c.sources[0].id == "14.2.5" and "beam width" in c.answer, c.answer
    d = conversation("What does LIME do?", "If I run it twice on the same image, will I get the same explanation?")
    assert d.covered and "two runs on the same input" in d.answer, d.answer
    e = conversation("DDIM 是什么？", "它为什么能比 DDPM 快那么多？", "成都三天怎么玩？", "它有什么缺点？")
    assert e.sources[0].id == "4.2.2" and "「DDPM」" not in e.answer and "缺点：作为一阶方法" in e.answer, e.answer
    f = conversation("DDIM 是什么？", "它为什么能比 DDPM 快那么多？", "成都三天怎么玩？", "它有什么缺点？",
                     "这个跟 Euler 采样器比怎么样？")
    assert {s.id for s in f.sources[:2]} == {"4.2.2", "4.2.4"} and "[1]" in f.answer and "[2]" in f.answer, f.answer


def test_review25_english_follow_ups_reach_their_referent_and_repeat_rather_than_stray(real_tutor):
    """Review 25 (majors 2, 3): "Which statistical tests are used for that?" after a drift question
    opening "How can I tell that …" was refused (the first question counted as a follow-up, so no
    referent); "Why does it push down Q-values …?" after CQL quoted IQL as "the notes' next ones"."""
    def conversation(*qs):
        return _conversation(real_tutor, *qs)

    drift = "How can I tell that the data my model sees in production has drifted?"
    a = conversation(drift, "Which statistical tests are used for that?")
    assert a.covered and a.sources[0].id == "10.3.3" and "Kolmogorov" in a.answer, a.answer
    b = conversation(drift, "What are the limitations of those tests?")
    assert b.covered and b.sources[0].id == "10.3.3", b.answer
    c = conversation("What is Conservative Q-Learning in offline RL?",
                     "Why does it push down Q-values of actions that are not in the dataset?")
    assert "[2]" not in c.answer and "pushes down Q-values" in c.answer, c.answer
    d = conversation("What is Conservative Q-Learning in offline RL?", "When would I pick it over plain behavior cloning?")
    assert d.covered and d.sources[0].id == "5.4.1", d.answer
    e = conversation("What is TensorRT and why is it faster than running the model in PyTorch?")  # (major 4)
    assert [s.id for s in e.sources[:2]] == ["9.1.3", "15.1.1"] and "registry" not in e.answer, e.answer


def test_review25_how_why_faster_and_how_to_tell_questions_quote_the_sentence_that_answers(real_tutor):
    """Review 25 (majors 1, 4, 5, 6): the quote picker chose sentences sharing the question's words over
    the one that answers: DARTS's 「已知问题」 line for why it is faster than RL-based NAS, 9.1.3's
    definition over its layer-fusion line, Grad-CAM's drawbacks over its α_k steps, drift definitions
    over PSI and the KS test."""
    def answer(*qs):
        return _conversation(real_tutor, *qs).answer

    a = answer("什么是DARTS？", "它为什么比早期用强化学习做的NAS快那么多？")
    assert "既然离散选择不可导" in a and "已知问题" not in a, a
    b = answer("What is TensorRT and why is it faster than running the model in PyTorch?")
    assert "fuses layers" in b and "only the Chinese text" not in b, b
    c = answer("Grad-CAM 是怎么生成热力图的？")
    assert "α_k" in c.split("\n")[1], c  # the steps lead
    d = answer("怎么判断线上数据发生了漂移？")
    assert "PSI" in d and "KS 检验" in d and "适用" not in d, d
    e = answer("What is the KV cache?")  # (review 23: its definition was not quoted)
    assert "keeps the keys and values" in e.split("\n")[1], e


def test_review26_uncovered_terms_and_versions_how_and_why_on_adversarial_examples(real_tutor):
    """Review 26 (majors 1, 2, 3, 5): 「向量数据库是什么？」 quoted MLflow's backend database; "…Gemini 2.5
    Pro?" quoted Longformer's 4096 tokens with nothing said; 「对抗样本是怎么生成的？」 led with
    transferability, not FGSM's formula; the why follow-up left out Goodfellow's linear explanation."""
    def ask(*qs):
        return _conversation(real_tutor, *qs)

    a = ask("向量数据库是什么？")
    assert not a.covered and "MLflow" not in a.answer, a.answer
    b = ask("What is the context length of Gemini 2.5 Pro?")
    assert "never mention Gemini 2.5 Pro" in b.answer.split("\n")[1], b.answer
    c = ask("对抗样本是怎么生成的？")
    assert c.sources[0].id == "13.4.1" and "FGSM" in c.answer.split("\n")[1], c.answer
    d = ask("对抗样本是怎么生成的？", "为什么这么小的扰动就能让模型出错？")
    assert "高维线性解释" in d.answer, d.answer


def test_review27_a_why_follow_up_gets_the_reason_and_its_drawbacks_stay_in_chinese(real_tutor):
    """Review 27 (majors 1, 2): 「它为什么能让很深的网络训练起来？」 after residual connections quoted its
    优点 and 缺点 lines, not the Jacobian reason; 「这个有什么缺点？」 then got the English "Limitations:"
    line as "the notes' other sentences", the same drawbacks as the Chinese line before."""
    a = _conversation(real_tutor, "残差连接是什么？", "它为什么能让很深的网络训练起来？")
    assert "局部雅可比" in a.answer.split("\n")[1], a.answer
    b = _conversation(real_tutor, "残差连接是什么？", "它为什么能让很深的网络训练起来？", "这个有什么缺点？")
    assert "Limitations" not in b.answer and "缺点" in b.answer, b.answer


def test_review28_flash_attention_clip_objective_epsilon_tpe_and_when_to_use(real_tutor):
    """Review 28 (a fresh learner, tree 620c4b1): 「Flash Attention 为什么快？」 quoted why dot-product
    beats additive attention; "What is the training objective of CLIP?" quoted the diffusion loss
    (4.1.4's alias "training objective"); 「clip 的 epsilon 一般取多少？」 never gave ε = 0.2;
    「那 TPE 是怎么做的？」 never said l(x)/g(x); 「ZeRO-3 适合什么时候用？」 never said when."""
    fa = real_tutor.ask("Flash Attention 为什么快？", mode="quotes_first")
    assert fa.sources[0].id == "9.2.1" and "访存" in fa.answer.splitlines()[1] and "快" in fa.answer.splitlines()[1], fa.answer
    clip = real_tutor.ask("What is the training objective of CLIP?", mode="quotes_first")
    assert clip.sources[0].id.startswith("6.1") and "4.1.4" not in [s.id for s in clip.sources[:1]], [s.id for s in clip.sources]
    eps = _conversation(real_tutor, "PPO 是什么？", "clip 的 epsilon 一般取多少？")
    assert "0.2" in eps.answer.splitlines()[1], eps.answer
    tpe = _conversation(real_tutor, "贝叶斯优化是什么？", "那 TPE 是怎么做的？")
    assert "l(x)/g(x)" in tpe.answer.splitlines()[1], tpe.answer
    zero = real_tutor.ask("ZeRO-3 适合什么时候用？", mode="quotes_first")
    assert zero.answer.splitlines()[1].startswith("- 适用"), zero.answer


def test_review28_follow_ups_name_a_subtopic_or_a_name_with_no_note_and_why_a_beats_b(real_tutor):
    """Review 28 (tree 620c4b1): "Can it do zero-shot classification? How?" after CLIP quoted the CLIP
    overview, not 6.1.3; "How does it compare with BLIP?" quoted a MiniGPT-4 line with no word that the
    notes have no BLIP topic; 「Hyperband 为什么比随机搜索省预算？」 quoted random search alone. Also
    「它在 Stable Diffusion 里怎么用？」 after 「LoRA 是什么？」 (3.4.2 and 4.4.4 are both LoRA) and "the limits
    of the usual defences" after prompt injection (review 27) quoted the referent's note again."""
    zs = _conversation(real_tutor, "What is CLIP?", "Can it do zero-shot classification? How?")
    assert zs.sources[0].id == "6.1.3" and "text prompt" in zs.answer, zs.answer
    blip = _conversation(real_tutor, "What is CLIP?", "How does it compare with BLIP?")
    assert "no topic on BLIP" in blip.answer.splitlines()[1] and "BLIP" in blip.answer.split("\n", 2)[2], blip.answer
    hb = real_tutor.ask("Hyperband 为什么比随机搜索省预算？", mode="quotes_first")
    assert hb.sources[0].id == "11.1.4" and "连续减半" in hb.answer.splitlines()[1], hb.answer
    sd = _conversation(real_tutor, "LoRA 是什么？", "它在 Stable Diffusion 里怎么用？")
    assert sd.sources[0].id == "4.4.4" and "Stable Diffusion" in sd.answer, sd.answer
    df = _conversation(real_tutor, "What is prompt injection?", "What are the limits of the usual defences?")
    assert df.sources[0].id == "13.4.4" and "adaptive attacks" in df.answer, df.answer


def test_review28_a_question_no_note_comes_near_is_told_the_notes_are_about_ai_only(real_tutor):
    """Review 28: every refusal, a cooking question's too, advised rephrasing and named the same four
    chapters. A question no note comes near now hears the notes are about AI/ML only; an AI question
    the notes do not cover keeps the advice, with the chapters of its nearest notes first."""
    cook = real_tutor.ask("红烧肉怎么做才好吃？", mode="quotes_first")
    assert not cook.covered and "只讲人工智能与机器学习" in cook.answer and "换个说法" not in cook.answer, cook.answer
    trip = real_tutor.ask("Any tips for a 3-day trip to Kyoto?", mode="quotes_first")
    assert not trip.covered and "AI and machine learning only" in trip.answer, trip.answer
    vdb = real_tutor.ask("向量数据库是什么？", mode="quotes_first")
    assert not vdb.covered and "换个说法" in vdb.answer and "MLOps" in vdb.answer.split("例如：")[1].split("、")[0], vdb.answer


def test_review29_lead_in_comparison_why_follow_ups_and_drawbacks_after_why_a_beats_b(real_tutor):
    """Review 29 (a fresh learner): 「回到刚才的话题，和剪枝比呢？」 was told no note is about 「回到刚才的话题」;
    「它为什么要用软标签和温度？」 missed 「温度 T > 1 使分布更平滑」; "Why does it overestimate Q-values?"
    after DQN repeated that it does (Double DQN's note says why); 「那缺点呢？」 after 「DDIM 为什么能比 DDPM
    少走很多步？」 added DDPM's 「采样太慢」 as if DDIM's."""
    kd = _conversation(real_tutor, "什么是知识蒸馏？", "回到刚才的话题，和剪枝比呢？")
    assert "回到刚才的话题" not in kd.answer and "蒸馏" in kd.answer and "剪枝" in kd.answer, kd.answer
    assert {"7.3.1"} <= {s.id for s in kd.sources} and any(s.id.startswith("7.2") for s in kd.sources), kd.answer
    temp = _conversation(real_tutor, "什么是知识蒸馏？", "它为什么要用软标签和温度？")
    assert "更平滑" in temp.answer.splitlines()[1], temp.answer
    dqn = _conversation(real_tutor, "What is DQN?", "Why does it overestimate Q-values?")
    assert "same noisy estimates" in dqn.answer, dqn.answer
    ddim = _conversation(real_tutor, "DDIM 是什么？", "DDIM 为什么能比 DDPM 少走很多步？", "那缺点呢？")
    assert "一阶" in ddim.answer and "采样太慢" not in ddim.answer, ddim.answer


def test_review29_a_why_naming_a_topic_gets_the_cause_its_neighbour_states(real_tutor):
    """Review 29: "OK, back to DQN. Why does it overestimate Q-values?" said the notes never mention OK;
    「为什么 DQN 会高估 Q 值？」 quoted 5.1's passing line, not Double DQN's
    「用同一组带噪声的估计……导致 Q 值系统性高估」 (DQN, a word of Double DQN's name, was counted as scattered)."""
    back = _conversation(real_tutor, "What is DQN?", "What's a good pasta recipe?", "OK, back to DQN. Why does it overestimate Q-values?")
    assert "never mention OK" not in back.answer and "overestimates Q-values" in back.answer, back.answer
    zh = real_tutor.ask("为什么 DQN 会高估 Q 值？", mode="quotes_first")
    assert "带噪声的估计" in zh.answer.splitlines()[1], zh.answer


def test_review30_both_after_a_comparison_is_its_two_sides(real_tutor):
    """Review 30: "And how is Decision Transformer different from both?" after CQL and "How does it
    compare with IQL?" quoted Falcon (its note writes "both"); "both" is the two things compared."""
    dt = _conversation(real_tutor, "What is conservative Q-learning (CQL) in offline RL?", "How does it compare with IQL?",
                       "And how is Decision Transformer different from both?")
    ids = [s.id for s in dt.sources]
    assert ids[0] == "5.4.3" and "3.3.3" not in ids and "Falcon" not in dt.answer, dt.answer
    dt_lines = [x for x in dt.answer.splitlines() if x.endswith("[1].")]
    assert {"5.4.1", "5.4.2"} & set(ids) and any("value function" in x or "CQL" in x for x in dt_lines), dt.answer


def test_review30_why_the_topic_is_what_its_name_says_and_why_it_is_not_faster(real_tutor):
    """Review 30: "Why does it need to be conservative?" after CQL re-quoted the definition (the reason
    line shares no word: "…lower-bounds the policy's true value, preventing exploitation…");
    「非结构化剪枝为什么在 GPU 上不一定变快？」 missed 「不规则稀疏难以在通用硬件上加速」;
    「IQL 里的期望分位数回归是做什么的？」 picked lines by 里 and 做 and missed that it trains V(s)."""
    why = _conversation(real_tutor, "What is conservative Q-learning (CQL) in offline RL?", "Why does it need to be conservative?")
    assert "lower-bounds" in why.answer.splitlines()[1], why.answer
    zh = real_tutor.ask("CQL 为什么要保守？", mode="quotes_first")
    assert "下界" in zh.answer.splitlines()[1], zh.answer
    gpu = real_tutor.ask("非结构化剪枝为什么在 GPU 上不一定变快？", mode="quotes_first")
    assert "难以在通用硬件上加速" in gpu.answer.splitlines()[1], gpu.answer
    iql = real_tutor.ask("IQL 里的期望分位数回归是做什么的？", mode="quotes_first")
    assert ("训练 V(s)" in iql.answer or "软性的 max" in iql.answer) and "\\big" not in iql.answer, iql.answer
    assert "SARSA" not in iql.answer.splitlines()[1] and "优势加权" not in iql.answer.splitlines()[1], iql.answer


def test_a_side_the_other_sides_note_writes_out_is_compared_there(real_tutor):
    """"What is the difference between LayerNorm and BatchNorm?" quoted DDP (8.1.2 writes "BatchNorm")
    and said the notes compare nothing; 2.1.4 writes "batch normalization (BN)" and contrasts the two.
    A name no note writes (BLIP after CLIP) still gets the passing-side notice."""
    ln = real_tutor.ask("What is the difference between LayerNorm and BatchNorm?", mode="quotes_first")
    assert ln.sources[0].id == "2.1.4" and "8.1.2" not in {s.id for s in ln.sources}, ln.answer
    assert "no comparison" not in ln.answer and "unlike batch normalization" in ln.answer, ln.answer
    blip = _conversation(real_tutor, "What is CLIP?", "How does it compare with BLIP?")
    assert "no topic on BLIP" in blip.answer, blip.answer


def test_review31_how_fedavg_aggregates_and_a_reference_is_one_sentence(real_tutor):
    """Review 31: 「FedAvg 具体是怎么聚合的？」 quoted secure and robust aggregation, not the weighted average;
    "What is RLHF?" quoted "(2017) and was applied to summarization…", a sentence cut at "et al."."""
    fed = real_tutor.ask("FedAvg 具体是怎么聚合的？", mode="quotes_first")
    assert "加权平均" in fed.answer.splitlines()[1], fed.answer
    rlhf = real_tutor.ask("What is RLHF?", mode="quotes_first")
    assert not any(x.startswith("- (2017)") for x in rlhf.answer.splitlines()), rlhf.answer


def test_a_name_after_than_is_not_the_follow_ups_topic(real_tutor):
    """「它为什么比训练后量化精度高？」 after QAT named 7.1.2 (PTQ), a topic of the same section, and was answered
    from PTQ's note; the name after 比 is what QAT is measured against."""
    qat = _conversation(real_tutor, "什么是量化感知训练？", "它为什么比训练后量化精度高？")
    assert qat.sources[0].id == "7.1.3", [s.id for s in qat.sources]


def test_a_follow_up_to_a_what_is_question_no_note_writes_is_not_covered(real_tutor):
    """"What is speculative decoding?" is refused (no note writes it); its "Why does it not change the output
    distribution?" was answered with beam search, and "What are its drawbacks?" with cross-attention's."""
    why = _conversation(real_tutor, "What is speculative decoding?", "Why does it not change the output distribution?")
    assert not why.covered and why.sources == [], why.answer


def test_review32_a_subtopic_with_a_space_and_two_questions_in_one_turn(real_tutor):
    """Review 32: 「里面的全局 token 是做什么用的？」 (a space in 全局token) stayed on 1.4.4; 「稀疏注意力是什么？Longformer
    是怎么做的？」 quoted Longformer alone, and its 「它为什么能降低计算量？」 BigBird's layout."""
    two = real_tutor.ask("稀疏注意力是什么？Longformer 是怎么做的？", mode="quotes_first")
    assert two.sources[0].id == "1.4" and "一小部分 key" in two.answer and "Longformer" in two.answer, two.answer
    why = _conversation(real_tutor, "稀疏注意力是什么？Longformer 是怎么做的？", "它为什么能降低计算量？")
    assert why.sources[0].id == "1.4" and "复杂度" in why.answer, why.answer
    glob = _conversation(real_tutor, "稀疏注意力是什么？", "里面的全局 token 是做什么用的？")
    assert glob.sources[0].id == "1.4.3", [s.id for s in glob.sources]


def test_review33_a_topic_named_with_its_chapter_comes_before_the_chapter(real_tutor):
    """Review 33: "What is tensor parallelism in distributed training?" quoted chapter 8's overview (its title's
    words) and never defined tensor parallelism; its follow-ups repeated the overview."""
    tp = real_tutor.ask("What is tensor parallelism in distributed training?", mode="quotes_first")
    assert tp.sources[0].id == "8.2.1" and "splits individual weight matrices" in tp.answer, tp.answer
    why = _conversation(real_tutor, "What is tensor parallelism in distributed training?",
                        "Why does it need such fast interconnects between GPUs?")
    assert why.sources[0].id == "8.2.1" and "NVLink" in why.answer, why.answer
    cmp_ = _conversation(real_tutor, "What is tensor parallelism in distributed training?", "How does it compare with data parallelism?")
    assert [s.id for s in cmp_.sources][:2] == ["8.2.1", "8.1"], [s.id for s in cmp_.sources]


def test_review35_named_method_with_aspect_words_and_refusals_inside_a_conversation(real_tutor):
    """Review 35: "How does LinUCB work?" was refused (LinUCB is an alias of 14.3.5; "work" is in no
    sentence of it); "What are the downsides of the usual fixes?" after two cold-start turns was told
    the notes are about AI only. A named note whose question adds only aspect words is covered; a
    refusal inside a conversation that is not off-domain asks to name the topic instead."""
    lin = real_tutor.ask("How does LinUCB work?", mode="quotes_first")
    assert lin.covered and lin.sources[0].id == "14.3.5" and "LinUCB" in lin.answer, lin.answer
    fixes = _conversation(real_tutor, "What is the cold-start problem in recommender systems?",
                          "What are the downsides of the usual fixes?")
    assert not fixes.covered and "AI and machine learning only" not in fixes.answer and "follows on" in fixes.answer, fixes.answer
    egg = _conversation(real_tutor, "What is the cold-start problem in recommender systems?", "How do I boil an egg?")
    assert not egg.covered and "AI and machine learning only" in egg.answer and "follows on" not in egg.answer, egg.answer
