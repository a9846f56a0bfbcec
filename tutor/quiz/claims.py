"""What an answer claims, beyond which words it uses: signals that an answer contradicts the
reference although it shares its vocabulary. Used by the short-answer grader (grading.py),
which turns any of them into "check yourself" or "wrong", never into "correct".

Signals, each computed between an answer sentence and the key point or reference sentence
it talks about (the one it shares most content terms with):
- negation: the two differ in negation parity (「不是」「并非」「没有」, not / never / n't …);
- direction: a quantity goes the other way (方差变大 vs 方差变小, increases vs decreases):
  each direction word is tied to the content term just before it;
- swap: which-is-which between two named things of the item (Euler vs Euler a, MQA vs GQA):
  an answer clause naming one of them carries the terms the reference gives the other;
- formula: the reference divides by √X (or takes X²) and the answer has X without it; or the
  answer states a number that appears nowhere in the question, reference or key points.

All rules are language rules written from the notes' conventions, not fitted to answers.
Sources: negation and antonym cues follow the contradiction features of textual-entailment
work (de Marneffe, Rafferty & Manning, "Finding Contradictions in Text", ACL 2008).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tutor.rag.bm25 import tokenize

# -- negation -------------------------------------------------------------------------------
_ZH_NEG = re.compile(r"不是|并不|并非|不会|不能|不再|不必|无需|无法|无须|没有|从不|绝不|不|没|未|非|无|别")
# idioms that contain a negation character but negate nothing
_ZH_NOT_NEG = re.compile(r"不同|不断|不仅|不只|不管|不论|无论|不过|非常|不少|不久|无非|莫不|不得不|并非只|不光|难免|除非")
_EN_NEG = re.compile(r"\b(?:not|no|never|none|neither|nor|cannot|without|nothing)\b|n't\b", re.I)
_EN_NOT_NEG = re.compile(r"\bnot only\b|\bno longer needed\b|\bno matter\b", re.I)


def negations(text: str) -> int:
    """Number of negation cues in text (Chinese and English), idioms like 不断 / not only excluded."""
    zh = _ZH_NOT_NEG.sub(" ", text)
    en = _EN_NOT_NEG.sub(" ", text)
    return len(_ZH_NEG.findall(zh)) + len(_EN_NEG.findall(en))


# -- direction ------------------------------------------------------------------------------
_UP = ("更大 变大 过大 增大 越大 较大 偏大 太大 很大 放大 扩大 增加 增长 提高 升高 上升 变多 更多 越多 过多 变高 更高 越高 "
       "过高 变长 更长 加快 更快 变快 变强 更强 变宽 更宽 饱和 爆炸 "
       "increase increases increased increasing larger bigger higher grow grows growing more faster longer stronger "
       "explode explodes exploding wider").split()
_DOWN = ("更小 变小 过小 减小 越小 较小 偏小 太小 很小 缩小 减少 下降 降低 变少 更少 越少 过少 变低 更低 越低 过低 "
         "变短 更短 减慢 更慢 变慢 变弱 更弱 变窄 更窄 消失 "
         "decrease decreases decreased decreasing smaller lower shrink shrinks shrinking less fewer slower shorter weaker "
         "vanish vanishes vanishing narrower").split()
_DIR = {w: +1 for w in _UP} | {w: -1 for w in _DOWN}
_DIR_RE = re.compile("|".join(sorted((re.escape(w) for w in _DIR), key=len, reverse=True)), re.I)


def directions(text: str) -> dict[str, int]:
    """{content term: +1 up / -1 down}: each direction word tied to the nearest content term
    before it in the same clause ("方差变大" → {"方差": +1}). A term seen both ways is dropped."""
    out: dict[str, int] = {}
    for clause in re.split(r"[，,。；;：:！!？?\n]|, ", text):
        for m in _DIR_RE.finditer(clause):
            before = [t for t in tokenize(clause[:m.start()]) if len(t) > 1 or t.isascii()]
            if not before:
                continue
            term, d = before[-1], _DIR[m.group(0).lower()]
            out[term] = 0 if out.get(term, d) != d else d
    return {t: d for t, d in out.items() if d}


# -- formulas and numbers -------------------------------------------------------------------
_SQRT = re.compile(r"(?:√|\\sqrt\s*\{?|sqrt\s*\(?|根号\s*(?:下\s*)?)\s*\{?\(?\s*([A-Za-z](?:_\{?\w+\}?)?)")
_SYMBOL = re.compile(r"(?<![A-Za-z])([A-Za-z]_\{?[A-Za-z0-9]+\}?)")
_NUMBER = re.compile(r"(?<![A-Za-z_\d.])(\d+(?:\.\d+)?)\s*(%|％)?")


def _sym(s: str) -> str:
    return s.replace("{", "").replace("}", "").lower()


def sqrt_symbols(text: str) -> set[str]:
    """Symbols written under a square root: '√d_k', '\\sqrt{d_k}', '根号 d_k' → {'d_k'}."""
    return {_sym(m.group(1)) for m in _SQRT.finditer(text)}


def bare_symbols(text: str) -> set[str]:
    """Subscripted symbols (d_k, d_model, β_t) written without a square root before them."""
    out = set()
    for m in _SYMBOL.finditer(text):
        head = text[max(0, m.start() - 8):m.start()]
        if not re.search(r"(?:√|sqrt\s*\(?|\\sqrt\s*\{?|根号\s*(?:下\s*)?)\s*\{?\(?\s*$", head):
            out.add(_sym(m.group(1)))
    return out


def numbers(text: str) -> set[str]:
    """Numbers in text, normalised ('0.50' → '0.5', '50%' → '50%')."""
    out = set()
    for m in _NUMBER.finditer(text):
        v = m.group(1).rstrip("0").rstrip(".") if "." in m.group(1) else m.group(1)
        out.add(v + ("%" if m.group(2) else ""))
    return out


# -- alignment and the signals --------------------------------------------------------------
_CLAUSE = re.compile(r"[。；;！!？?\n，,：:]|(?<=[a-z])\.\s")


def clauses(text: str) -> list[str]:
    return [c.strip() for c in _CLAUSE.split(text) if len(c.strip()) > 1]


def _terms(text: str) -> set[str]:
    return {t for t in tokenize(text) if len(t) > 1 or t.isascii()}


KINDS = ("negation", "direction", "swap", "formula", "number")


@dataclass
class Claims:
    """Contradiction signals of one answer (module doc). Each list names the key point /
    reference sentence concerned, for feedback and tests."""

    negation: list[str] = field(default_factory=list)
    direction: list[str] = field(default_factory=list)
    swap: list[str] = field(default_factory=list)
    formula: list[str] = field(default_factory=list)
    number: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.negation or self.direction or self.swap or self.formula or self.number)

    def kinds(self) -> list[str]:
        return [k for k in KINDS if getattr(self, k)]


def check(answer: str, reference: str, key_points: list[str], question: str = "", extra: str = "",
          names: list[str] | None = None) -> Claims:
    """Contradiction signals of `answer` against the item (module doc).

    extra: more text that may legitimately supply numbers (the note's English summary).
    names: the item's named things for the swap check (default: Latin names found in the
    question and reference, e.g. MQA / GQA, Euler / Euler a)."""
    c = Claims()
    facts = [c for k in key_points for c in clauses(k)] + clauses(reference)
    fact_terms = [_terms(f) for f in facts]
    q_terms = _terms(question)
    for sent in clauses(answer):
        st = _terms(sent)
        if not st:
            continue
        # the facts this clause talks about: most shared content terms (the question's count
        # half); a signal needs every such fact to disagree, so a clause that matches one fact
        # of the reference is not held against another it merely resembles
        scored = [(len((st & ft) - q_terms) + 0.5 * len(st & ft & q_terms), f) for f, ft in zip(facts, fact_terms)]
        top = max((n for n, _ in scored), default=0)
        if top < 1.5:
            continue
        near = [f for n, f in scored if n >= max(1.5, 0.7 * top)]
        neg = negations(_main(sent)) % 2
        # a negation attack restates a fact (most of its terms) with the polarity flipped; a
        # paraphrase that happens to use 不 / not shares far fewer of the fact's words
        close = [f for f, ft in zip(facts, fact_terms) if f in near and len(st & ft) >= 0.5 * len(ft)]
        if close and all(negations(_main(f)) % 2 != neg for f in near):
            c.negation.append(close[0])
        sd = directions(sent)
        if sd and all(any(directions(f).get(t) == -d for t, d in sd.items()) for f in near):
            c.direction.append(near[0])
        s_root, s_bare = sqrt_symbols(sent), bare_symbols(sent)
        if (s_root or s_bare) and all(_root_conflict(f, s_root, s_bare) for f in near):
            c.formula.append(near[0])
    ref_text = " ".join([reference, *key_points])
    # the item takes a square root of X; the answer uses X bare and never its root
    a_roots, a_bare = sqrt_symbols(answer), bare_symbols(answer)
    c.formula += [f"√{x}" for x in sqrt_symbols(ref_text) if x in a_bare and x not in a_roots]
    known = numbers(" ".join([question, ref_text, extra]))
    c.number = sorted(n for n in numbers(answer) if n not in known and n not in ("0", "1", "2"))
    c.swap = _swaps(answer, reference, names if names is not None else _names(question + " " + reference))
    return c


_ASIDE = re.compile(r"（[^（）]*）|\([^()]*\)")


def _main(clause: str) -> str:
    """The clause without its bracketed asides, whose negations are not the clause's own:
    「模型可以学习非对称的相关性（A 关注 B 不代表 B 同样关注 A）」 states one negation, not two."""
    return _ASIDE.sub(" ", clause)


def _root_conflict(fact: str, s_root: set[str], s_bare: set[str]) -> bool:
    """The same symbol with a square root on one side and without on the other
    (方差 = d_k vs 方差 = √d_k)."""
    f_root, f_bare = sqrt_symbols(fact), bare_symbols(fact)
    return any((x in f_root and x not in f_bare and x in s_bare and x not in s_root)
               or (x in f_bare and x not in f_root and x in s_root and x not in s_bare) for x in f_root | f_bare)


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9\-]*[A-Z][A-Za-z0-9\-]*(?: [a-z](?![a-z]))?|[A-Z][A-Za-z0-9\-]+(?: [a-z](?![a-z]))?")


def _names(text: str) -> list[str]:
    """Names (MQA, GQA, LoRA, Euler a, DDIM: Latin words with a capital letter) in text, longest first."""
    found = {m.group(0).strip() for m in _NAME.finditer(text) if len(m.group(0).strip()) >= 2}
    return sorted(found, key=len, reverse=True)


def _named(clause: str, names: list[str]) -> set[str]:
    out, rest = set(), clause
    for n in names:  # longest first, so "Euler a" is not also counted as "Euler"
        pat = re.compile(r"(?<![A-Za-z])" + re.escape(n) + r"(?![A-Za-z])")
        if pat.search(rest):
            out.add(n)
            rest = pat.sub(" ", rest)
    return out


# a clause likening the named thing to something ("和 DDPM 一样", "the same as DDPM") assigns it no role
_LIKENED = re.compile(r"(?:和|与|跟|同)[^，,。；;]{0,30}?(?:一样|相同|相等|一致|等价|无异)|\b(?:same as|identical to|equivalent to)\b", re.I)


def _swaps(answer: str, reference: str, names: list[str]) -> list[str]:
    """Names whose answer clause carries the terms the reference gives another name."""
    if len(names) < 2:
        return []
    own: dict[str, set[str]] = {}
    for cl in re.split(r"[，,。；;：:\n]", reference):
        ns = _named(cl, names)
        if len(ns) == 1:
            n = next(iter(ns))
            own.setdefault(n, set()).update(_terms(cl) - {t.lower() for t in n.split()})
    if len(own) < 2:
        return []
    out: list[tuple[str, str]] = []
    right: set[str] = set()  # names a clause gives a term of their own
    for cl in re.split(r"[，,。；;：:\n]", answer):
        ns = _named(cl, names)
        if len(ns) != 1 or _LIKENED.search(cl):
            # (「它构造的前向过程和 DDPM 的边缘分布一样」 says the other thing is like it: no which-is-which;
            # review 24 graded a right DDIM answer wrong on it)
            continue
        n = next(iter(ns))
        if n not in own:
            continue
        t = _terms(cl) - {x.lower() for x in n.split()}
        mine = len(t & (own[n] - set().union(*(v for k, v in own.items() if k != n))))
        if mine:
            right.add(n)
        for other, ot in own.items():
            theirs = len(t & (ot - own[n]))
            if other != n and theirs >= 2 and theirs > mine:
                out.append((n, other))
    # a swap is which-is-which: not when the answer gives the other one its own terms elsewhere and
    # this one none of the other's back (「因为 DDIM 只改了采样过程……所以 DDPM 训练好的网络可以直接拿来用」
    # is right; review 24 graded it wrong)
    return sorted({f"{n}↔{o}" for n, o in out if (o, n) in out or o not in right})


# -- relational features (used by the grader's classifier) ----------------------------------
def structure(answer: str, reference: str, key_points: list[str], question: str = "") -> tuple[float, float]:
    """(foreign_pairs, order) of an answer against the item.

    foreign_pairs in [0, 1]: of the pairs of reference terms the answer puts in one clause, the
    share that no reference or key-point clause puts together — a swap (FFN doing what the
    reference says attention does) binds known terms in a new way. order in [-1, 1]: Kendall's
    tau between the order of the shared terms' first use in the answer and in the reference
    (0 when fewer than 3 are shared)."""
    facts = clauses(reference) + [c for k in key_points for c in clauses(k)]
    q = _terms(question)
    vocab = set().union(*(_terms(f) for f in facts)) - q if facts else set()
    together = set()
    for f in facts:
        ts = sorted(_terms(f) & vocab)
        together.update((a, b) for i, a in enumerate(ts) for b in ts[i + 1:])
    pairs = set()
    for c in clauses(answer):
        ts = sorted(_terms(c) & vocab)
        pairs.update((a, b) for i, a in enumerate(ts) for b in ts[i + 1:])
    foreign = len(pairs - together) / len(pairs) if pairs else 0.0
    ref_order = _first_positions(tokenize(reference), vocab)
    ans_order = _first_positions(tokenize(answer), vocab)
    shared = [t for t in ref_order if t in ans_order]
    if len(shared) < 3:
        return foreign, 0.0
    conc = disc = 0
    for i in range(len(shared)):
        for j in range(i + 1, len(shared)):
            a = (ref_order[shared[i]] - ref_order[shared[j]]) * (ans_order[shared[i]] - ans_order[shared[j]])
            conc += a > 0
            disc += a < 0
    return foreign, (conc - disc) / max(conc + disc, 1)


def _first_positions(tokens: list[str], vocab: set[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, t in enumerate(tokens):
        if t in vocab and t not in out:
            out[t] = i
    return out
