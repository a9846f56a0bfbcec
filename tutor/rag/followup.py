"""Follow-up questions that refer back (「那它的缺点呢？」, "why?"): when a question is one,
and what to search for instead.

A question is a follow-up only when it refers back: a pronoun (它, 这个, it, that…), or a
short question whose every content word is generic (缺点, 例子, 为什么, downside, example).
Never because the notes do not cover it: 「怎么做红烧肉？」 asked after a diffusion question has a
topic of its own (红烧肉) and gets the same "not covered" reply as when asked alone.

With `rewrite_followups` on, the LLM rewrites the follow-up into a standalone question
(prompts/rewrite.<lang>.md); a rewrite that is empty, in another language or rambling is
discarded. Otherwise, or then, the question it refers to is prepended to the follow-up. The
tiny default model rewrites poorly, hence the setting is off by default.

The question a follow-up refers to (`referent`) is the newest earlier one that is no follow-up
itself and that the notes cover: RLHF → 「周末去杭州玩？」 (not covered) → 「那它的缺点呢？」 asks
about RLHF, and so does a chain of follow-ups. With no such question the follow-up is not
covered: searched alone, 「那它的缺点呢？」 matches every note with a 缺点 section, and its
quotes would read as the drawbacks of whatever the learner last asked about.
"""

from __future__ import annotations

import re
from typing import Callable

from tutor.llm import LLM
from tutor.prompts import Prompts
from tutor.rag import compare
from tutor.rag.budget import fit_part
from tutor.text import detect_lang, is_joined_query, name_words, strip_control

_PRONOUN_EN_WORDS = r"\b(it|its|they|them|this|that|these|those)\b"
# "in it": the place is what was just discussed, wherever it stands (review 9: 「温度参数 T 在里面起什么
# 作用？」 after knowledge distillation); 其中 alone is left out, it often points inside the question
_IN_IT_ZH_WORDS = r"在里面|在这里面|在其中|在这里头|在里头"
_PRONOUN = re.compile(r"它|这个|那个|这种|那种|该方法|^那|^这|" + _IN_IT_ZH_WORDS + "|" + _PRONOUN_EN_WORDS, re.I)
# content words that name no topic: what a learner asks about "it" (the last topic)
_GENERIC_WORDS = ((
    "缺点 优点 优缺点 好处 坏处 局限 局限性 不足 问题 例子 举例 举个 示例 比如 例如 区别 差别 不同 联系 关系 原理 作用 用途 "
    "用处 应用 场景 公式 推导 细节 详细 详细点 展开 继续 还有 另外 再 多 更多 简单 简单点 通俗 通俗点 直观 为何 原因 "
    "怎么办 代码 实现 复杂度 优势 劣势 改进 变体 历史 谁 提出 哪年 多少 效果 区分 对比 比较 类似 相关 意义 重要 解决 "
    "downside downsides drawback drawbacks advantage advantages disadvantage disadvantages pro pros con cons "
    "limitation limitations problem problems example examples instance difference differences compare "
    "comparison work works working mean means meaning use used uses usage application applications formula "
    "detail details more elaborate simpler simple intuition intuitively why code implement implementation "
    "complexity cost benefit benefits else next then so but again continue invent invented when who 点 些 "
    # words for "the thing just discussed" ("the downsides of doing it that way")
    "do does doing done way ways thing things approach approaches method methods technique techniques idea 做法 方法 东西 "
    # session 24: English asks about weaknesses, uses and examples in many more words than these
    # ("What's the downside?" left "s" of the contraction; "And the main weakness?", "So what's the
    # catch?", "Any real-world examples?"); pronouns and contractions are no words of a topic
    "weak weakness weaknesses catch catches pitfall pitfalls gotcha gotchas tradeoff tradeoffs trade-off trade-offs "
    "criticism criticisms complain complaints wrong mistake mistakes issue issues trouble fail fails failure struggle "
    "main real world real-world concrete common usual usually typical typically actually really practice practical "
    "where people case cases first earlier original give gave walk through go goes going tend tends run runs into "
    "keep hear hearing heard build built "
    # session 29: risks are asked like drawbacks (trust.check.LIMIT_QUESTION)
    "风险 隐患 risk risks "
    "it its they them their this that these those one ones s t d ll ve re m"
).split())
_GENERIC: frozenset[str] | None = None
SHORT_CHARS = 16  # a short question: at most this many characters…
SHORT_WORDS = 6  # …or English words
# longer than this, a question is taken as standalone even with a pronoun in it
LONG_CHARS = 40
# …but an English question up to this many words refers back when its first pronoun comes before
# any word of its own ("Anyway, back to that — what are the downsides of doing it that way?"):
# English spends more characters per question, and a pronoun after a noun of the question's own
# usually points to that noun ("my training data has garbage in it"), so it is not enough
LONG_WORDS = 16
# an English question this short with a pronoun anywhere refers back, unless a clause before a
# comma, colon or dash names its own thing: 1 of 2,126 standalone English questions of the tuning
# and blind sets was taken (at 10 words, 33)
SHORT_PRONOUN_WORDS = 8
# "that" after a verb of saying or knowing opens a clause (review 25: "How can I tell that the data my
# model sees in production has drifted?" counted as a follow-up, so the next turns had no referent)
_THAT_CLAUSE = re.compile(r"\b(tell|tells|know|knows|say|says|said|think|mean|means|ensure|sure|check|show|shows|prove|"
                          r"notice|realize|realise|assume|believe|guarantee|verify|seem|seems|hear|heard|read|find|found)"
                          r"\s+that\b", re.I)
# "it" / "them" this early in an English question of up to LONG_WORDS words stands for the last topic
OBJECT_LEAD_WORDS = 3
_OBJECT_EN = re.compile(r"\b(it|them)\b", re.I)
_BREAK = re.compile(r"[,:;—–]|\s-\s")
_PRONOUN_EN = re.compile(_PRONOUN_EN_WORDS, re.I)
# "one" standing for a noun of the last answer: "an example of an indirect one?" after prompt injection
# (review 27); not "one-hot", not "no one"
_ONE_EN = re.compile(r"\b(?:an?|the|which|that|this|another|other)\s+(?:\w+\s+)?one(?![\w-])", re.I)
_DEMONSTRATIVES = frozenset("this that these those".split())
_SINGULAR = re.compile(r"它(?!们)|\bits?\b", re.I)  # one thing, where they / them / 它们 are both
_IT_ZH = re.compile(r"它")  # with a topic named: 这个/那个 may be its determiner (「这个 LoRA」)
_IN_IT_ZH = re.compile(_IN_IT_ZH_WORDS)
# "this matter": what was just being done or discussed (review 12: 「有什么工具可以帮我做这件事？」 after
# data drift named 工具 (chapter 15) and was answered about tools in general)
_THIS_MATTER_ZH = re.compile(r"这件事|那件事|这事儿?|那事儿?")
# expletive "it" ("is it bad to sleep with…", "it's hard to get a…"): no pronoun of a topic. The
# infinitive must have words after its verb: in "Is it slow to compute?" (review 9, after SHAP) the
# verb's object is "it", the last topic
_EXPLETIVE = re.compile(r"\b((is|was|would|will)\s+it|it(\s+is|'s))\s+\w+\s+to\s+\w+\s+\w"
                        # weather and time "it" (review 14: "Will it rain in Shanghai tomorrow?" after
                        # LayerNorm was answered from the LayerNorm notes): it names nothing either
                        r"|\b(will|is|does|did|was)\s+it\s+(be\s+)?(rain|snow|hail|storm|thunder|drizzle|pour|"
                        r"sunny|cloudy|windy|foggy|rainy|snowy|stormy|hot|cold|warm|chilly|freezing|humid)(?![\w-])"
                        r"|\bit(\s+is|'s|\s+will|'ll|\s+was)\s+(be\s+)?(going\s+to\s+)?(rain(ing|s)?|snow(ing|s)?|sunny|"
                        r"cloudy|windy|rainy|snowy|hot|cold|warm|freezing)(?![\w-])"
                        r"|\bwhat\s+time\s+is\s+it\b|\bwhat\s+day\s+is\s+it\b", re.I)
# discourse markers that open a turn and name nothing ("Okay, back to that —")
_DISCOURSE = frozenset("anyway back okay ok right sure so also well and but then".split())
# an ordinal that picks one of the topics the last question named (review 12: "Why is it hard to
# scale the second one?" after data vs model parallelism was searched alone). 第二个 must not
# be followed by a noun of its own (「第一个大模型是哪个？」 is standalone)
_ORDINAL = re.compile(
    r"\bthe\s+(?P<en>former|latter)\b"
    r"|\bthe\s+(?P<nth>first|second|third|last)\s+(?:one|option|approach|method|kind|type|technique)\b"
    r"|(?P<zh>前者|后者|第[一二三]种|第[一二三]个)(?=[呢吗为怎有是的在能会要比和跟难慢快，,？?。\s]|$)", re.I)
_ORDINAL_INDEX = {"former": 0, "first": 0, "前者": 0, "second": 1, "third": 2, "latter": -1, "last": -1, "后者": -1,
                  "一": 0, "二": 1, "三": 2}
HISTORY_TURNS = 4  # the rewrite sees the last two exchanges
# a follow-up with words of its own is still about its referent: the referent's first
# REFERENT_NOTES notes score × (1 + REFERENT_PRIOR) among the joined query's hits. 0.5: the
# review-8 case needs > 0.27; on the 144 follow-ups of blind4/5/6 (seen before) no rank moved
# at 0.25 or 0.5 (session 23).
REFERENT_PRIOR = 0.5
REFERENT_NOTES = 3
# a question of its own naming no note: the conversation's question and it, searched together,
# count this much beside the question alone (`stay_on_topic`; FOLLOWUPS.md, session 30)
CONVERSATION_WEIGHT = 1.0
MAX_REWRITE_TOKENS = 64


def rewrite(llm: LLM, prompts: Prompts, history: list[dict], question: str, lang: str) -> str | None:
    """Standalone version of `question` written by the LLM, or None when it is unusable."""
    convo = "\n".join(f"{t['role']}: {t['content'][:300]}" for t in history[-HISTORY_TURNS:])

    def build(q: str) -> list[dict]:
        return [{"role": "user", "content": prompts.render("rewrite", lang, history=convo, question=q)}]

    # the question is the only unbounded part: trim it to what the context window leaves
    messages = build(fit_part(llm, build, question, MAX_REWRITE_TOKENS))
    out = strip_control(llm.complete(messages, MAX_REWRITE_TOKENS)).strip().splitlines()
    text = out[0].strip() if out else ""
    if not text or detect_lang(text) != lang or len(text) > 3 * len(question) + 120:
        return None
    return text


def search_query(llm: LLM, prompts: Prompts, history: list[dict], question: str, lang: str, use_llm: bool,
                 prev: str | None = None) -> str:
    """The query to retrieve with for a follow-up: the LLM's rewrite, or `prev` (the question it
    refers to, see `referent`; default: the last user question) and the follow-up."""
    if prev is None:
        prev = next((t["content"] for t in reversed(history) if t["role"] == "user"), "")
    if use_llm:
        better = rewrite(llm, prompts, history, question, lang)
        if better:
            return better
    return f"{prev}\n{question}"


def referent(history: list[dict], index, search, covered, turns: int = HISTORY_TURNS,
             refused: Callable[[str], bool] | None = None) -> tuple[str, list]:
    """(question, its hits): the earlier user question a follow-up refers to — the newest of the
    last `turns` that is no follow-up itself and whose own hits are covered; ("", []) when there
    is none. A follow-up among them does not use up a turn: it refers to the same question, so a
    chain of them reaches back as far as it goes (review 24: 「那束宽一般设多大合适？」 after three
    follow-ups on beam search and one off-topic question was refused). search: query → hits;
    covered: hits → bool (one search per question looked at, newest first); refused: question → bool,
    a question the chat refused whatever its hits ("What is speculative decoding?": no note writes it;
    its "Why does it not change the output distribution?" was answered with beam search, session 38)."""
    asked = [(i, t["content"]) for i, t in enumerate(history) if t["role"] == "user"]
    for at, prev in reversed(asked):
        if turns <= 0:
            break
        if is_followup(prev, index):
            continue
        turns -= 1
        if refused is not None and refused(prev):
            continue
        hits = search(prev)
        if covered(hits):
            # its hits as it was answered then: on the conversation's note (`stay_on_topic`)
            return prev, stay_on_topic(prev, hits, history[:at], index, search, covered)
    return "", []


def resolve(question: str, history: list[dict], index, search, covered, make_query,
            refused: Callable[[str], bool] | None = None) -> tuple[list, str]:
    """(hits, query) for `question` in a conversation: searched alone, unless it refers back
    (`is_followup`): then the follow-up query (`make_query(prev)` with prev the question it
    refers to, `referent`; see `search_query`) and its hits — those of the notes prev found first
    when the follow-up has no words of its own (`only_generic`: 「那它的缺点呢？」 is about what was
    just discussed) — or no hits at all when it refers to nothing the notes cover. search: query → hits;
    covered: hits → bool. The one rule for the chat and for eval items with a history. With no
    earlier question, an ordinal that names nothing of its own ("the latter") is not covered.
    refused: see `referent`."""
    if both := pick_both(question, history, index, search, covered):
        return search(both), both
    if any(t["role"] == "user" for t in history) and is_followup(question, index):
        # 「它有什么缺点？」 after a LoRA question: search with that question too. A question that is
        # merely not covered is no follow-up: it gets the not-covered reply, as when alone
        prev, prev_hits = referent(history, index, search, covered, refused=refused)
        if not prev:
            return [], question
        if picked := pick_ordinal(question, prev, index):  # "the second one" → the name it picks
            return search(picked), picked
        if side := comparison_side(question, prev, history, index, search, covered):
            # "it" after "How is Double DQN different from SARSA?": one side, not the comparison
            query = f"{side[0]}\n{question}"
            return lean(search(query), side[1]), query
        query = make_query(prev)
        # 「注意力的计算量为什么那么大？」 → 「那它的缺点呢？」: the joined query ranked Attention
        # Rollout (注意力 + 缺点) first and its drawbacks were quoted as attention's
        hits = search(query)
        if prev_hits and not any(h.chunk.node_id == prev_hits[0].chunk.node_id for h in hits):
            # the referent was answered from the conversation's note (`stay_on_topic`), which its
            # words alone do not find: that note's hits join (review 19: "What are the weaknesses of
            # this approach?" after an own-words question on DQN's replay buffer found no DQN)
            hits = hits + [h for h in prev_hits if h.chunk.node_id == prev_hits[0].chunk.node_id]
        if not only_generic(question):  # words of its own (a prompt template, a variant): it may move on…
            # …but it is still about the referent: its notes' scores × (1 + REFERENT_PRIOR), so the
            # joined query's other words do not carry it off (「那它的计算复杂度怎么样？」 after
            # multi-head attention ranked Swin's linear-complexity windows first: Transformer + 复杂度)
            near = set(list(dict.fromkeys(h.chunk.node_id for h in prev_hits))[:REFERENT_NOTES])
            from tutor.rag.retrieve import found_names

            named_prev = found_names(prev, index)
            if prev_hits and prev_hits[0].chunk.node_id in named_prev:
                # the referent named its note: that note leans, not its neighbours (review 20: "How
                # does it decide which configuration to try next?" after Bayesian optimization
                # leaned grid search, the referent's second note, alike and quoted it)
                near = {n for n in near if any(_within(n, m) for m in named_prev)}
            return subject_first(named_first(lean(hits, near), question, prev_hits, named_prev, index), question, prev, index), query
        # the referent's notes first, in its own order: the joined query's words (drawbacks, 缺点)
        # would rank its overview or a neighbour above the note that answered it
        topic = {}
        for h in prev_hits:
            topic.setdefault(h.chunk.node_id, len(topic))
        return subject_first(sorted(hits, key=lambda h: topic.get(h.chunk.node_id, len(topic))),  # (stable: fused order for the rest)
                             question, prev, index), query
    if _ORDINAL.search(question) and is_followup(question, index):
        # 「后者为什么更难扩展？」 with nothing asked before: "the latter" of nothing. Searched alone it
        # quoted VS Code's extensions (扩展); like a follow-up to nothing covered, it is not covered
        return [], question
    hits = search(question)
    return (stay_on_topic(question, hits, history, index, search, covered) if hits else hits), question


def topic_before_ancestor(hits: list, question: str, index) -> list:
    """`hits` with the notes of a topic the question names (x.y.z) before those of its chapter or
    section when the question names that too (stable): "What is tensor parallelism in distributed
    training?" quoted chapter 8's overview, its title's words, and never defined tensor parallelism
    (review 33). Unchanged when no named topic is among the hits."""
    from tutor.rag.retrieve import found_names

    if compare.two_subjects(question.split("\n")[0]):
        return hits  # two questions, two subjects: `subject_first` decides (「稀疏注意力是什么？Longformer 是怎么做的？」)
    named = found_names(question, index)
    # (each by a name of its own: "NAS" names chapter 11, section 11.2 and topic 11.2.1 alike, and moving
    # 11.2.1 first lost ENAS's 11.2.2 on the seen sets)
    # (and the chapter or section by a phrase, "distributed training", 分布式训练: not a word met in every
    # question of its chapter, "attention")
    def phrase(m: str) -> bool:
        return " " in m.strip() if m.isascii() else len(m) >= 4

    topics = {n for n, ns in named.items() if n.count(".") == 2
              and any(n.startswith(a + ".") and not set(ns) & set(ms) and any(phrase(m) for m in ms)
                      for a, ms in named.items() if a != n)}
    if not topics or not any(h.chunk.node_id in topics for h in hits):
        return hits
    return sorted(hits, key=lambda h: h.chunk.node_id not in topics)


def subject_first(hits: list, question: str, prev: str, index) -> list:
    """`hits` with the first subject's notes first when `prev` asked two questions about two things
    (`compare.two_subjects`) and `question` says "it" (它, it): 「它为什么能降低计算量？」 after 「稀疏注意力是什么？
    Longformer 是怎么做的？」 is about sparse attention (review 32 quoted Longformer's lines)."""
    from tutor.rag.retrieve import outline_matches

    pair = compare.two_subjects(prev)
    if not pair or not _SINGULAR.search(question):
        return hits
    first = {index.chunks[c].node_id for c in outline_matches(pair[0], index)}
    if not first or not any(h.chunk.node_id in first for h in hits):
        return hits
    return sorted(hits, key=lambda h: h.chunk.node_id not in first)


def named_first(hits: list, question: str, prev_hits: list, named_prev: dict[str, list[str]], index) -> list:
    """A follow-up's `hits` with the notes it names first (stable), when it names
    - a topic of the referent's own section (not the section, not the referent's note, not in a
      comparison): "Can it do zero-shot classification? How?" after "What is CLIP?" was answered from
      the CLIP overview, which the joined query (CLIP twice) ranks first, not from 6.1.3 (review 28);
      「说回推荐系统，为什么会出现这个问题？」 names 14.3 and asks about cold start; "How is that different
      from ControlNet?" compares;
    - or, of the notes the referent's name stands for (`named_prev`), the one whose own names hold a
      name the follow-up adds: 「它在 Stable Diffusion 里怎么用？」 after 「LoRA 是什么？」 (3.4.2 and 4.4.4 are
      both LoRA) is 4.4.4's, "Stable Diffusion LoRA"; a name the referent wrote too tells nothing apart.
    Unchanged otherwise."""
    from tutor.rag.retrieve import found_names

    if compare.parts(question):
        return hits
    first = prev_hits[0].chunk.node_id if prev_hits else ""
    section = ".".join(first.split(".")[:2])
    # (a name after 比 / than is what the topic is measured against, not the topic: 「它为什么比训练后量化精度
    # 高？」 after QAT named 7.1.2 and was answered from PTQ's note)
    low = question.lower()
    mine = {n: ps for n, ps in found_names(question, index).items()
            if not any(re.search(r"(?:比起?|相比于?|不如|\bthan|\bover|\binstead\s+of|\brather\s+than)\s*" + re.escape(p), low)
                       for p in ps)}
    own = {n for n in mine if first and n not in named_prev and _within(n, section) and n.count(".") == 2 and n != first}
    if not own:
        before = {p for ps in named_prev.values() for p in ps}
        said = [p for ps in mine.values() for p in ps if p not in before]
        pick = {n for n in named_prev if any(p in m.lower() for m in index.names.get(n, ()) for p in said)}
        own = pick if len(pick) < len(named_prev) else set()
    if own and any(h.chunk.node_id in own for h in hits):
        return sorted(hits, key=lambda h: h.chunk.node_id not in own)
    return hits


def _within(node_id: str, note: str) -> bool:
    """`node_id` is `note` or, for a section, one of its topics (ZeRO 8.3 → 8.3.3)."""
    return node_id == note or node_id.startswith(note + ".")


# an own-words question the notes do not cover alone is still the conversation's when this
# IDF-weighted share of its terms is in the conversation's note (`grounded`)
GROUNDED_MIN_COVERAGE = 0.5


def grounded(question: str, note: str, index) -> bool:
    """True when `note` (or, for a section, one of its topics) holds at least GROUNDED_MIN_COVERAGE
    of `question`'s terms, IDF-weighted (`TermStats.coverage`: a term no note uses weighs most).
    False for an index without saved term statistics (`Index.term_stats`, built before them)."""
    stats = getattr(index, "term_stats", None)
    if stats is None:
        return False
    return any(stats.coverage(question, n) >= GROUNDED_MIN_COVERAGE for n in stats.node_tokens if _within(n, note))


def lean(hits: list, notes: set[str]) -> list:
    """`hits` re-ranked with the scores of `notes`' hits × (1 + REFERENT_PRIOR)."""
    return sorted(hits, key=lambda h: -h.score * (1 + REFERENT_PRIOR if h.chunk.node_id in notes else 1))


def stay_on_topic(question: str, hits: list, history: list[dict], index, search, covered) -> list:
    """`hits` of a question of its own in a conversation, re-ranked toward the conversation's note
    (the best note of `referent`'s question); unchanged otherwise.
    - The question names that note and not the note ranked first: that note's hits first, when
      found at all. After 「什么是知识蒸馏？」, 「为什么软标签比硬标签包含更多信息？」 names 7.3.1 (软标签)
      and ranked label smoothing first, on its own mention of soft labels, and was answered from
      it (review 17).
    - The question names no note (a chapter's name such as "agent" names a field, not a note):
      when the conversation's question and this one searched together rank the conversation's
      note first, the two rankings are fused (each chunk's scores added), so a clear lead of the
      question alone stands and a near tie or a miss goes to the conversation. Two turns into
      differential privacy, 「为什么往结果里加一点随机噪声，别人就认不出某个人的数据了？」 ranked
      diffusion's denoising first (噪声, 数据; review 18); after "What exactly is a deep
      Q-network?", "Why would training go unstable if the agent just learned from its most recent
      transitions one after another?" found Decision Transformer and not DQN at all (review 19).
      The conversation's note is its section's topics too when it is a section (ZeRO → 8.3.x),
      and leans × (1 + REFERENT_PRIOR) in the fused ranking when the question's own best note is
      in its chapter or its question named it — in the joined one too when named (review 20: an
      own-words question on Bayesian optimization went to Optuna). A question the notes do not
      cover alone stays uncovered unless its own best note is the conversation's or the
      conversation's note holds half its terms (`grounded`; then the joined ranking alone decides;
      review 21).
      Measured in evals/answers/FOLLOWUPS.md (sessions 30, 31)."""
    from tutor.rag.retrieve import found_names

    named = found_names(question, index)
    first = hits[0].chunk.node_id
    alone_covered = covered(hits)
    if first in named or not any(t["role"] == "user" for t in history):
        return hits
    prev, prev_hits = referent(history, index, search, covered)
    last = prev_hits[0].chunk.node_id if prev_hits else ""
    if not last:
        return hits
    ours = lambda n: _within(n, last)  # noqa: E731
    if not alone_covered and not ours(first) and not grounded(question, last, index):
        # a question the notes do not cover alone stays so (an egg-boiling question after a data question
        # must not be covered by the conversation's words)… unless its own best note is the conversation's
        # ("Why do smaller micro-batches leave each GPU idle less?" after pipeline parallelism, review 21)
        # or the conversation's note holds most of its words (「服务器是怎么决定每个设备的更新占多大分量的？」
        # after federated learning: 服务器, 设备, 更新 are all in 13.2.2; alone it found TensorRT, review 21)
        return hits
    if any("." in i for i in named):
        if last not in named or not any(h.chunk.node_id == last for h in hits):
            return hits
        return sorted(hits, key=lambda h: h.chunk.node_id != last)  # (stable: fused order otherwise)
    # the conversation's note leans × (1 + REFERENT_PRIOR) in the fused ranking, and in the joined one
    # when its question named it: "Why would guessing where good settings lie, based on the earlier
    # trials, save so many training runs?" after Bayesian optimization was named ranked grid search
    # first together (0.0305 vs 0.0295) and Optuna alone (review 20). Only toward a neighbour of the
    # same chapter or a note the learner named (MAML → in-context learning, chapter 3; review 21):
    # otherwise a switch of chapter in own words would be pulled back (FOLLOWUPS.md, session 31)
    near = first.split(".")[0] == last.split(".")[0]
    was_named = last in found_names(prev, index)
    lean_by = 1 + REFERENT_PRIOR if near or was_named else 1.0
    named_last = lean_by if was_named else 1.0
    joined = search(f"{prev}\n{question}")
    both = {h.chunk.id: h.score * (named_last if ours(h.chunk.node_id) else 1.0) for h in joined}
    joined = sorted(joined, key=lambda h: -both[h.chunk.id])
    if not joined or not ours(joined[0].chunk.node_id):
        return hits
    # a question not covered alone found no answer on its own: the joined ranking decides (its own
    # scores put TensorRT above 13.2.2 in the federated-learning conversation, review 21)
    alone = {h.chunk.id: h.score for h in hits} if alone_covered else {}
    # the question's own Hit where both found a chunk — the joined one when the question alone is not
    # covered: its relevance is the conversation's
    pool = {h.chunk.id: h for h in (joined + hits if alone_covered else hits + joined)}

    def fused(h) -> float:
        s = alone.get(h.chunk.id, 0.0) + CONVERSATION_WEIGHT * both.get(h.chunk.id, 0.0)
        return s * (lean_by if ours(h.chunk.node_id) else 1.0)

    out = sorted(pool.values(), key=lambda h: -fused(h))[:max(len(hits), len(joined))]
    return out if alone_covered or covered(out) else hits


def comparison_side(question: str, prev: str, history: list[dict], index, search, covered) -> tuple[str, set[str]] | None:
    """(name, its node ids): the side of the comparison `prev` (`compare.parts`) that a singular
    pronoun (it, its, 它) with words of its own stands for — the conversation's topic before the comparison when it
    is a side (the best note of `referent` of the turns before prev), else the first side the
    question itself does not name; None when prev compares nothing or the question
    asks only generic things (「那它的缺点呢？」 after a comparison is about both sides). Review 18:
    "What is Double DQN?" … "How is Double DQN different from SARSA?" → an off-topic question →
    "Does it work for continuous action spaces?" quoted SARSA; 「差分隐私和联邦学习有什么区别？」 →
    … → 「那它在联邦学习里一般怎么用？」 quoted federated learning's split into horizontal and
    vertical."""
    from tutor.rag import compare
    from tutor.rag.retrieve import found_names

    pair = compare.parts(prev)
    if not pair or only_generic(question) or not _SINGULAR.search(question):
        return None
    own = set(found_names(question, index))
    sides = [(name, ids) for name in pair if (ids := set(found_names(name, index))) and not ids & own]
    if not sides:
        return None
    at = max((i for i, t in enumerate(history) if t["role"] == "user" and t["content"] == prev), default=0)
    _, before = referent(history[:at], index, search, covered)
    topic = before[0].chunk.node_id if before else ""
    return next(((name, ids) for name, ids in sides if topic in ids), sides[0])


def pick_ordinal(question: str, prev: str, index) -> str | None:
    """`question` with its ordinal ("the second one", "the latter", 后者, 第二种) replaced by the
    name of the topic it picks among those `prev` names, in the order prev names them: "Why is it
    hard to scale the second one?" after "data parallelism vs model parallelism?" → "Why is it hard
    to scale model parallelism?". None without an ordinal or when prev names fewer than two
    topics, or too few for it ("the third one" of two)."""
    m = _ORDINAL.search(question)
    if not m:
        return None
    word = (m.group("en") or m.group("nth") or m.group("zh")).lower()
    at = _ORDINAL_INDEX[word if word in _ORDINAL_INDEX else word[1]]  # 第二种 → 二
    named = _named_spans(prev, index)
    if len(named) < 2 or at >= len(named):
        return None
    start, size = named[at]
    return question[:m.start()] + prev[start:start + size] + question[m.end():]


# "both" as a compared side: the two things the last question compared (review 30: "And how is Decision
# Transformer different from both?" after "How does it compare with IQL?" took Falcon, whose note writes "both")
_BOTH = re.compile(r"(?:both|both\s+of\s+them|them\s+both|the\s+two|the\s+two\s+of\s+them|the\s+other\s+two|"
                   r"(?:这|那|前)?(?:两者|二者|两个|两种|俩)|它们俩?|它俩)", re.I)


def pick_both(question: str, history: list[dict], index, search, covered) -> str | None:
    """`question` with a compared side that is "both" (两者, the two) replaced by the two things the
    last question compared, the one a pronoun stood for named as the question it refers to named it
    (`referent`) or by its note's title: "And how is Decision Transformer different from both?" after
    "What is CQL?" and "How does it compare with IQL?" → "…different from conservative Q-learning and
    IQL?". None when question compares nothing with "both" or the last question compared nothing."""
    sides = compare.parts(question)
    if not sides or not _BOTH.fullmatch(sides[1].strip()):
        return None
    asked = [(i, t["content"]) for i, t in enumerate(history) if t["role"] == "user"]
    if not asked:
        return None
    at, prev = asked[-1]
    pair = compare.parts(prev)
    if not pair:
        return None
    names = []
    for side in pair:
        if not compare.REFERS_BACK.match(side):
            names.append(side)
            continue
        before, hits = referent(history[:at], index, search, covered)
        spans = _named_spans(before, index)
        if spans:
            names.append(before[spans[0][0]:spans[0][0] + spans[0][1]])
        elif hits:
            c = hits[0].chunk
            names.append(c.title_en if detect_lang(question) == "en" and c.title_en else c.title)
        else:
            return None
    joined = (" and " if detect_lang(question) == "en" else "和").join(names)
    at_word = question.rfind(sides[1].strip())
    return question[:at_word] + joined + question[at_word + len(sides[1].strip()):]


def _named_spans(text: str, index) -> list[tuple[int, int]]:
    """(start, length) of each outline name in text, in order, one per place ("model
    parallelism", not "parallelism" inside it)."""
    from tutor.rag.retrieve import found_names

    low = text.lower()
    spans = sorted({(low.find(n), len(n)) for ns in found_names(text, index).values() for n in ns if n in low},
                   key=lambda x: (x[0], -x[1]))
    named: list[tuple[int, int]] = []
    for start, size in spans:
        if not named or start >= named[-1][0] + named[-1][1]:
            named.append((start, size))
    return named


def own_words(question: str, query: str) -> str:
    """The learner's own question as quotes should read it: `query` when it is `question` with
    its ordinal replaced (`pick_ordinal`: "the second one" names nothing a sentence says), else
    `question`."""
    if not is_joined_query(query) and _ORDINAL.search(question) and not _ORDINAL.search(query):
        return query
    if not is_joined_query(query) and query != question and (sides := compare.parts(question)) and _BOTH.fullmatch(sides[1].strip()):
        return query  # "both" replaced (`pick_both`)
    return question


def only_generic(question: str) -> bool:
    """True when every content word of question is generic (缺点, example, why…; pronouns and
    question words are no content words): it names nothing of its own."""
    from tutor.rag.bm25 import tokenize

    return all(t in _generic() or t in _DISCOURSE for t in tokenize(question))


def _generic() -> frozenset[str]:
    from tutor.rag.bm25 import tokenize

    global _GENERIC
    if _GENERIC is None:  # as `tokenize` cuts and stems them (example → exampl, 复杂度 → 复杂, 复杂度)
        _GENERIC = frozenset(_GENERIC_WORDS) | frozenset(tokenize(" ".join(_GENERIC_WORDS)))
    return _GENERIC


def is_followup(question: str, index) -> bool:
    """True when `question` refers back to the conversation: an ordinal ("the second one", 后者)
    unless the question names two topics before it, a
    question of < LONG_CHARS characters with a pronoun (它, 这个, it, that…), an English one of
    ≤ LONG_WORDS words whose first pronoun precedes its own words (`_pronoun_first`) — an
    expletive "it" ("is it bad to…") aside —, or a very short one (≤ 16
    chars or ≤ 6 English words) whose content words are all generic (「缺点呢？」, "why?",
    "any examples?"). A question naming an outline topic is one only with 它 (< LONG_CHARS) or
    an English personal pronoun before its own words ("How is it used in RLHF?"). A question
    with a topic of its own, covered or not, is no follow-up otherwise."""
    from tutor.rag.retrieve import outline_matches

    q = question.strip()
    zh = detect_lang(q) == "zh"
    if not zh:  # "How can I tell that the data … has drifted?": that joins a clause, it points at nothing
        q = _THAT_CLAUSE.sub(r"\1", q)
    if (m := _ORDINAL.search(q)) and len(_named_spans(q[:m.start()], index)) < 2:
        # "the second one", 后者: one of the topics just named (「LayerNorm 和 BatchNorm 有什么不一样？
        # Transformer 为什么用前者？」 names its own two)
        return True
    if not zh and _EXPLETIVE.search(q):
        return False
    if _compares_with_last(q, index):
        return True
    if outline_matches(q, index):
        # a topic of its own, unless a pronoun points back before it: "How is it used in RLHF?"
        # after PPO asks about PPO in RLHF (「它在 RLHF 里怎么用？」)
        if zh:  # (「JAX 用起来跟 NumPy 很像，它到底强在哪？」: 它 is JAX, named before it)
            return len(q) < LONG_CHARS and (_pronoun_first(q, pronoun=_IT_ZH) or bool(_IN_IT_ZH.search(q))
                                            or bool(_THIS_MATTER_ZH.search(q)))
        names = [n.lower() for ns in index.names.values() for n in ns if len(n) >= 2]
        # ("Why is that better than a KL penalty?" refers back; in "What is this LoRA thing?" this is
        # the determiner of the topic named)
        return len(q.split()) <= LONG_WORDS and _pronoun_first(q, lambda rest: rest.startswith(tuple(names)))
    if len(q) < LONG_CHARS and (_PRONOUN.search(q) or _THIS_MATTER_ZH.search(q)):
        return True
    if not zh and len(q.split()) <= LONG_WORDS and _pronoun_first(q):
        return True
    if not zh and len(q.split()) <= LONG_WORDS and _ONE_EN.search(q):
        return True
    if not zh and len(q.split()) <= SHORT_PRONOUN_WORDS and (m := _PRONOUN_EN.search(q)) and not _named_before_break(q[:m.start()]):
        # review 10: "Why do outliers in activations make it harder?" after quantization; in
        # "ddim eta parameter, what does it do?" the pronoun is the part before the comma
        return True
    if not zh and len(q.split()) <= LONG_WORDS and (m := _OBJECT_EN.search(q)) and len(q[:m.start()].split()) <= OBJECT_LEAD_WORDS:
        # "If I run it twice on the same image, will I get the same explanation?" after LIME (review 24):
        # "it" among the first words, with no name before it to stand for. On the seen sets this made
        # 1 of 160 English conversation turns a follow-up and 0 standalone questions (session 34)
        before = q[:m.start()]
        if not _named_before_break(before) and not name_words(before):
            return True
    short = len(q) <= SHORT_CHARS if zh else len(q.split()) <= SHORT_WORDS
    return short and only_generic(q)


def _named_before_break(head: str) -> bool:
    """Does the text before a pronoun hold a clause, ended by a comma, colon or dash, with a word
    of its own (not generic, no discourse marker)? Then the pronoun points to it."""
    from tutor.rag.bm25 import tokenize

    parts = _BREAK.split(head)
    return len(parts) > 1 and any(t not in _generic() and t not in _DISCOURSE for t in tokenize(" ".join(parts[:-1])))


_WITH_FIRST = re.compile(r"^(?:那么?|所以)?\s*(?:跟|和|与|比起|相比)")


def _compares_with_last(q: str, index) -> bool:
    """A short comparison (`compare.parts`) whose first side is a pronoun (「这个跟 Euler 采样器比怎么样？」
    in a DDIM conversation, review 24 quoted Euler alone) or left out (「那跟 SARSA 有啥区别？」), and
    whose other side the notes' words name (「跟室友闹矛盾了 咋处理比较好」 compares nothing of theirs).
    On the seen sets: 7 more conversation turns, 0 standalone questions (session 34)."""
    sides = compare.parts(q)
    # (「回到刚才的话题，和剪枝比呢？」: after the lead-in, review 29)
    if not sides or not compare.REFERS_BACK.match(sides[0]) or not (sides[0] or _WITH_FIRST.match(compare.without_lead_in(q))):
        return False
    if (len(q) >= LONG_CHARS) if detect_lang(q) == "zh" else (len(q.split()) > LONG_WORDS):
        return False
    if sides[0]:  # "What is RMSNorm and why do … use it instead of …?": it is the name before it
        from tutor.rag.retrieve import outline_matches

        m = re.search(r"(?<![A-Za-z])" + re.escape(sides[0]) + r"(?![A-Za-z])", q)
        before = q[:m.start()] if m else ""
        if name_words(before) or outline_matches(before, index):
            return False
    from tutor.rag.bm25 import content_terms

    stats = getattr(index, "term_stats", None)
    terms = content_terms(sides[1])
    return bool(terms) and (stats is None or all(t in stats.df for t in terms))


def _pronoun_first(question: str, determines: Callable[[str], bool] | None = None, pronoun: re.Pattern = _PRONOUN_EN) -> bool:
    """True when a question's first pronoun (default: English ones) comes before any content word
    of its own (generic words and discourse markers aside). determines(rest): True when this/that/
    these/those before the lower-cased rest of the question is a determiner ("this LoRA"), no pronoun."""
    from tutor.rag.bm25 import tokenize

    m = next((m for m in pronoun.finditer(question)
              if not (determines and m.group().lower() in _DEMONSTRATIVES and determines(question[m.end():].lstrip().lower()))),
             None)
    if not m:
        return False
    return all(t in _generic() or t in _DISCOURSE for t in tokenize(question[:m.start()]))
