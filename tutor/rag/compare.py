"""Questions that compare two things (「知识蒸馏和剪枝有什么区别？」, "How is that different from
ControlNet?"): the two things they name, so that each gets its own note among the sources and
its own quotes. A search for the whole question ranks the notes of the more frequent term first
and the other thing's note fell out of the sources (review 5: distillation vs pruning quoted
only distillation).

`parts(question)` → (a, b), the two compared phrases, or None when the question compares
nothing (a comparison cue and two sides are both needed). A side that is a pronoun (它, it, that)
is `REFERS_BACK`: the question it stands for is the conversation's last topic (followup.py).
"""

from __future__ import annotations

import re

from tutor.text import detect_lang, name_words

# Chinese: 「A 和 B 有什么区别」, 「A 跟 B 比哪个好」, 「A 与 B 的差异」, 「A 相比 B」
# (「那它和 ALiBi 比呢？」: 比 then 呢 / 怎么样 / 如何, review 22; not 比例, 比值)
_ZH_CUE = re.compile(r"(?:的)?(?:区别|不同|差别|差异|异同|对比|比较|哪个|谁更|谁好|各有|优劣|怎么选|比起来|相比|"
                     r"比(?=\s*(?:呢|怎么样|如何|又如何|又怎样|怎样)))")
# 「Hyperband 为什么比随机搜索省预算？」: why the first beats the second (review 28 quoted random search
# alone); the first side must be named, not a pronoun (「它为什么能比 DDPM 快」 stays a follow-up on its topic)
_ZH_WHY_THAN = re.compile(r"^(?P<a>.+?)(?:为什么|为啥|凭什么|怎么)(?:会|能|要|就)?比(?:起)?\s*(?P<b>.+?)\s*(?:更|还|要)?"
                          r"(?:省|快|慢|好|强|弱|高|低|稳|准|少|多|便宜|贵|适合|常用|流行|有效)")
# words that open a turn by pointing back at the conversation, naming nothing (review 29)
_ZH_LEAD_IN = re.compile(r"^(?:(?:回到|说回|回|接着|继续|还是)(?:刚才|之前|前面|上面)?(?:的|说的|聊的|讲的)?(?:话题|正题|问题|那个)?|"
                         r"话说回来|言归正传|好的|好吧|嗯|ok|OK)?[，,、\s]*(?:(?:刚才|之前|前面|上面)(?:说|聊|讲|提)的)?")
# 「A 和 B 各切的是什么」「A 和 B 分别怎么做」: each side asked in turn (`each`)
_ZH_EACH = re.compile(r"(?<=\S)(?:各自|分别|各)(?!种|个|类|位|项|方面|地)")
_ZH_JOIN = re.compile(r"(?:和|与|跟|同|相比于|相比|对比|比起|还是|vs\.?|VS\.?|versus)")
_ZH_TAIL = re.compile(r"(?:比|相比|对比|比起来)?\s*(?:有什么|有何|有哪些|有啥|啥|的|之间|相比)*$")
# English: "difference between A and B", "A vs B", "compare A with B", "A compared to B",
# "how does A differ from B", "is A better than B", "how does A stack up against B"
_EN = [
    re.compile(r"differen\w*\s+between\s+(?P<a>.+?)\s+and\s+(?P<b>.+)", re.I),
    re.compile(r"(?P<a>.+?)\s+(?:vs\.?|Vs\.?|versus)\s+(?P<b>.+)"),  # (not "VS Code")
    re.compile(r"compar\w*\s+(?P<a>.+?)\s+(?:with|to|and|against)\s+(?P<b>.+)", re.I),
    re.compile(r"(?P<a>.+?)\s+(?:compared?|comparing)\s+(?:with|to|against)\s+(?P<b>.+)", re.I),
    re.compile(r"(?P<a>.+?)\s+(?:differ\w*|different)\s+(?:from|than|to)\s+(?P<b>.+)", re.I),
    re.compile(r"(?P<a>.+?)\s+(?:better|worse|faster|slower|cheaper)\s+than\s+(?P<b>.+)", re.I),
    re.compile(r"(?P<a>.+?)\s+stack\s+up\s+(?:against|to|with)\s+(?P<b>.+)", re.I),
    # "When would I pick it over plain behavior cloning?" (review 25)
    re.compile(r"\b(?:pick|choose|prefer|use)\s+(?P<a>.+?)\s+(?:over|instead\s+of|rather\s+than)\s+(?P<b>.+)", re.I),
]
# words before the first side ("And how is that …", "What's the …")
_EN_LEAD = frozenset("and so but ok okay well anyway then what what's whats how how's hows is are does do did which why "
                     "the a an".split())
_EN_FILLER = re.compile(r"^(?:the|a|an|just|doing|using|plain|simple)\s+", re.I)
_GERUND = re.compile(r"^(?:just\s+)?[a-z]+ing\s", re.I)
REFERS_BACK = re.compile(r"^(?:它|它们|这个|那个|这|那|this|that|it|they|these|those|them)?$", re.I)


def _clean(side: str) -> str:
    side = re.sub(r"[？?。.!！，,：:\s]+$", "", side.strip())
    side = re.sub(r"^[\s,，、]+", "", side)
    while True:
        shorter = _EN_FILLER.sub("", side)
        if shorter == side:
            return side.strip("「」\"' ")
        side = shorter


def parts(question: str) -> tuple[str, str] | None:
    """The two sides a question compares, each as written (a pronoun or "" for the last topic:
    `REFERS_BACK`), or None. Examples: 「知识蒸馏和剪枝有什么区别？」 → ("知识蒸馏", "剪枝");
    「它跟DDP比有什么区别？」 → ("它", "DDP"); "How does it compare with TorchServe?" → ("it",
    "TorchServe"); "LoRA 在 Stable Diffusion 里怎么用？" → None (no comparison cue)."""
    q = question.strip()
    if detect_lang(q) == "zh":
        cue = _ZH_CUE.search(q)
        if not cue:
            why = _ZH_WHY_THAN.search(q)
            if not why:
                return None
            a = re.sub(r"^(?:那|那么|请问|所以)", "", _clean(why.group("a")))
            b = _clean(why.group("b"))
            return (a, b) if a and b and not REFERS_BACK.match(a) and not REFERS_BACK.match(b) else None
        head = _ZH_TAIL.sub("", q[:cue.start()])
        m = _ZH_JOIN.search(head)
        if not m:
            return None
        # (a lead-in that only points back is no side: 「回到刚才的话题，和剪枝比呢？」 compares the last topic, "",
        # not 「回到刚才的话题」, which review 29 was told no note is about; 「刚才说的蒸馏」 is 蒸馏)
        a, b = _clean(_ZH_LEAD_IN.sub("", head[:m.start()].strip())), _clean(_ZH_TAIL.sub("", head[m.end():]))
        a = re.sub(r"^(?:那|那么|请问|所以)", "", a)
        return (a, b) if b and not REFERS_BACK.match(b) else None
    for rx in _EN:
        m = rx.search(q)
        if m:
            a = m.group("a")
            # "what's a soft Q function and how is it different from …": it is the first clause's topic
            back = re.match(r"(.+?)(?:,|\band\b)\s*(?:how|what|why|is|does|do|can)\b.*\b(?:it|that|they|this)$", a.strip(), re.I)
            words = (back.group(1) if back else a).split()
            while words and words[0].lower().strip(",") in _EN_LEAD:
                words = words[1:]
            a = _clean(" ".join(words))
            b = _clean(re.split(r",|\s[-—–]\s|\s-$|;", m.group("b"))[0])
            if _GERUND.match(b):
                # "…faster than running the model in PyTorch": the thing compared is PyTorch, not running
                # (review 25 quoted the model registry for "running the model"); with no name, no thing
                names = name_words(b)
                if not names:
                    return None
                b = names[-1]
            b = re.sub(r"\s+(?:in|for|when|at)\s+.*$", "", b, flags=re.I) or b  # "…than X in practice"
            return (a, b) if b and not REFERS_BACK.match(b) else None
    return None


def without_lead_in(question: str) -> str:
    """question less a Chinese lead-in that only points back (「回到刚才的话题，」「刚才说的」)."""
    return _ZH_LEAD_IN.sub("", question.strip())


def why_than(question: str) -> bool:
    """True for 「A 为什么比 B 省/快/好」: a question about A's edge over B, whose follow-up 「那缺点呢？」
    asks about A alone (review 29: DDIM's drawbacks came with DDPM's)."""
    q = question.strip()
    return detect_lang(q) == "zh" and not _ZH_CUE.search(q) and bool(_ZH_WHY_THAN.search(q))


# two questions in one turn, each about its own thing (「稀疏注意力是什么？Longformer 是怎么做的？」, review 32)
_TWO_QUESTIONS = re.compile(r"^\s*(?P<a>[^？?]+[？?])\s*(?P<b>[^？?]+[？?]?)\s*$")
_LEAD_SUBJECT = re.compile(r"^(?:请问|那|那么|还有|另外)?\s*(?P<x>[^，。？?！!、\s][^，。？?！!、]{1,23}?)\s*(?:是什么|是啥|是怎么|是如何|怎么|如何|为什么|为何|有什么|有哪些|的作用|用来)")


def two_subjects(question: str) -> tuple[str, str] | None:
    """The things two Chinese questions in one turn are about, each the first's or second's
    subject (`subject`, or the words before 是怎么 / 怎么 / 为什么 …), or None."""
    q = question.strip()
    m = _TWO_QUESTIONS.match(q) if detect_lang(q) == "zh" else None
    if not m:
        return None
    out = []
    for part in (m.group("a"), m.group("b")):
        x = subject(part) or ((lead := _LEAD_SUBJECT.search(part.strip())) and lead.group("x").strip())
        if not x or REFERS_BACK.match(x):
            return None
        out.append(x)
    return (out[0], out[1]) if out[0] != out[1] else None


def each(question: str) -> tuple[str, str] | None:
    """The two things a Chinese question asks about each in turn (「张量并行和流水线并行各切的是什么？」
    → ("张量并行", "流水线并行"); 分别 / 各自 / 各 after 「A 和 B」), or None. Not a comparison
    (`parts`): the sides are often two parts of one topic (「wide 部分和 deep 部分各负责啥」), so a
    caller uses them only when each names a note (review 20 quoted one side only)."""
    q = question.strip()
    cue = _ZH_EACH.search(q) if detect_lang(q) == "zh" else None
    if not cue:
        return None
    head = q[:cue.start()]
    m = None
    for m in _ZH_JOIN.finditer(head):  # the last join: 「…里的 A 和 B」
        pass
    if not m or m.group(0) == "同":
        return None
    a, b = _clean(re.split(r"[，,。；;：:里]", head[:m.start()])[-1]), _clean(head[m.end():])
    return (a, b) if a and b and not REFERS_BACK.match(a) and not REFERS_BACK.match(b) else None


# 「什么是投机解码？」「投机解码是什么？」 "What is speculative decoding in LLM inference?": the thing asked about
_ZH_SUBJECT = [re.compile(r"^(?:请问|那)?\s*什么(?:是|叫)\s*(?P<x>[^，。？?！!、]{2,24}?)\s*(?:[？?。！!]|$)"),
               re.compile(r"^(?:请问|那)?\s*(?P<x>[^，。？?！!、]{2,24}?)\s*(?:是什么|是啥|指什么|是什么意思)")]
_EN_SUBJECT = re.compile(r"^\s*(?:so\s+|and\s+)?(?:what(?:'s|\s+is|\s+are)|define)\s+(?:an?\s+|the\s+)?"
                         r"(?P<x>[A-Za-z0-9][\w\-./+ ]{1,60}?)\s*(?:\?|$|,|\s+(?:in|for|and|used|when|exactly)\b)", re.I)


# what a follow-up asks of the last topic, no thing of its own: "What are the downsides, then?" (review 32
# was told the notes never mention "downsides" above ONNX's Limitations line)
_ASPECT = re.compile(r"^(?:the\s+|its\s+|their\s+)?(?:main\s+|biggest\s+|key\s+|other\s+)?(?:downsides?|drawbacks?|disadvantages?|"
                     r"limitations?|weakness(?:es)?|advantages?|benefits?|pros|cons|pros and cons|challenges?|risks?|"
                     r"differences?|steps?|alternatives?|uses?|use cases?|applications?|examples?|"
                     r"缺点|优点|优缺点|局限|局限性|挑战|难点|风险|区别|步骤|例子|应用|用途|好处|坏处)$", re.I)


def subject(question: str) -> str | None:
    """The thing a "what is X" question asks about, as written ("speculative decoding",
    「投机解码」), or None for any other question, a pronoun (「它是什么」) or an aspect of the last
    topic ("What are the downsides?")."""
    q = question.strip()
    pats = _ZH_SUBJECT if detect_lang(q) == "zh" else [_EN_SUBJECT]
    for p in pats:
        m = p.search(q)
        if m:
            x = m.group("x").strip()
            return None if REFERS_BACK.match(x) or _ASPECT.match(x) else x
    return None
