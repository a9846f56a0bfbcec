"""Text helpers shared by chunking, prompting and answer checks: language, sentences,
control tokens.

Deliberately not here: tokenisation for BM25 (bm25.py, jieba) and model tokens (llm.py).
"""

from __future__ import annotations

import re

from tutor.errors import TutorError

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")

# Sentence ends: Chinese 。！？ (and ；…), English .!? followed by space/end. Closing quotes
# and brackets stay with their sentence, so no sentence starts with punctuation.
# (not after an abbreviation: "Christiano et al. (2017) found…" was two sentences, its tail a quote of its own)
_SENT_END = re.compile(r"([。！？!?…；;]+[”’」』）)\]]*|(?<!\bal)(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\bFig)(?<!\bEq)(?<!\bNo)"
                       r"\.(?=\s|$)[”’)\]]*)")
_LEADING_PUNCT = re.compile(r"^[\s，。！？、；：,.!?;:）)\]】」』”’]+")

# Strings that chat templates treat as control tokens. A user typing them must not be able
# to close their turn; a model emitting them must not show them.
CONTROL_TOKENS = (
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|end_of_text|>", "<|begin_of_text|>",
    "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|system|>", "<|user|>",
    "<|assistant|>", "<|end|>", "<s>", "</s>", "[INST]", "[/INST]", "<<SYS>>", "<</SYS>>",
)
# (a name never holds brackets: else '<|[INST]|>' was one token to the batch regex, while the stream
# sanitizer, seeing '<|[INST]' first, removed [INST] and kept '<||>'; a hypothesis case, session 36)
_CONTROL_RE = re.compile(r"<\|[^|<>\s\[\]]{1,40}\|>|</?s>|\[/?INST\]|<</?SYS>>")


def detect_lang(text: str) -> str:
    """'zh' if the text has Chinese characters making up ≥ 15% of its letters, else 'en'."""
    han = len(_HAN.findall(text))
    latin = sum(len(w) for w in _LATIN_WORD.findall(text)) / 4  # ~4 letters per English word
    if han == 0:
        return "en"
    return "zh" if han / (han + latin) >= 0.15 else "en"


# Colloquial question words and their standard forms. Embedding models saw mostly written
# Chinese: "lora为啥省显存" lands far from its note, "LoRA 为什么省显存" does not.
_COLLOQUIAL = (("咋回事", "怎么回事"), ("咋办", "怎么办"), ("咋样", "怎么样"), ("咋整", "怎么办"), ("咋弄", "怎么做"),
               ("为啥", "为什么"), ("干啥", "做什么"), ("干嘛", "做什么"), ("是啥", "是什么"), ("有啥", "有什么"),
               ("咋", "怎么"), ("啥", "什么"))
_LATIN_HAN = re.compile(r"(?<=[A-Za-z0-9])(?=[\u3400-\u9fff])|(?<=[\u3400-\u9fff])(?=[A-Za-z0-9])")


def normalise_query(text: str) -> str:
    """A question as the embedders should see it: colloquial question words in their standard
    form (为啥 → 为什么, 咋 → 怎么, 啥 → 什么) and a space between Latin and Chinese runs
    ("lora为啥省显存" → "lora 为什么省显存"). Lexical search does not need it (bm25 drops both)."""
    for a, b in _COLLOQUIAL:
        text = text.replace(a, b)
    return _LATIN_HAN.sub(" ", text)


_NAME_WORD = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z][A-Za-z0-9]*(?:[-.][A-Za-z0-9]+)*(?![A-Za-z0-9_])")


# words a turn opens or chats with, written like names ("OK, back to DQN", review 29 was told the notes
# never mention OK)
_INTERJECTIONS = frozenset("ok okay hi hey hello thanks thx btw fyi imo imho lol pls plz".split())


def name_words(text: str) -> list[str]:
    """Latin words of text written as names: with a digit or an inner capital (H100, YOLOv8,
    DeBERTa) or capitalised away from a sentence's start (Mamba in "What is the Mamba model?";
    not "What", nor the pronoun "I"). In the order written, as written."""
    out = []
    for m in _NAME_WORD.finditer(text):
        w = m.group(0)
        starts = m.start() == 0 or re.search(r"[.?!。？！：:]\s*$", text[:m.start()]) is not None
        if w != "I" and w.lower() not in _INTERJECTIONS and (re.search(r"\d", w) or re.search(r"[A-Z]", w[1:]) or (w[0].isupper() and not starts)):
            out.append(w)
    return out


def han_count(text: str) -> int:
    """Number of CJK ideographs in text."""
    return len(_HAN.findall(text))


_LIMITATIONS = re.compile(r"(?:^|\s)(Limitations: [^\n]*)\s*$")


def split_limitations(summary: str) -> tuple[str, str]:
    """(description, limitations) of a note's English summary: its closing sentence that starts
    "Limitations: " (README, "Which model answers"; '' when there is none) apart from the sentences before it. The
    limitations are quoted for "what are its drawbacks?" but neither searched nor graded against:
    their words (memory, slow, cost) matched other notes' problems (session 25)."""
    m = _LIMITATIONS.search(summary)
    if not m or ". " in m.group(1):  # one sentence, the last one (notes write no "e.g." in it)
        return summary, ""
    return summary[:m.start()].rstrip(), m.group(1).strip()


def split_sentences(text: str) -> list[str]:
    """Split Chinese/English text into sentences; ends at 。！？.!? (quotes kept), never
    returns an empty sentence or one starting with punctuation. Newlines also end sentences."""
    out: list[str] = []
    for para in _formula_kept(re.split(r"\n\s*\n|\n(?=\s*[-*#>|]|\s*\d+\.)", text)):
        pieces = _SENT_END.split(para)
        buf = ""
        for i, piece in enumerate(pieces):
            buf += piece
            if i % 2 == 1:  # a terminator group closes the sentence
                _push(out, buf)
                buf = ""
        _push(out, buf)
    return out


DISPLAY_ONLY = re.compile(r"^\s*\$\$.+?\$\$\s*$", re.S)  # a display formula alone (a paragraph or a line)
DISPLAY_FIRST = re.compile(r"^\s*(\$\$.+?\$\$)", re.S)  # a display formula opening a text


def leads_into_formula(text: str) -> bool:
    """True when text ends mid-sentence — a colon (「……按 Bradley-Terry 模型训练：」) or no
    sentence end at all (「……用 PPO 最大化」) — so a display formula after it belongs to it."""
    t = text.rstrip()
    last = t.splitlines()[-1].lstrip() if t else ""
    return bool(t) and not last.startswith("#") and (t.endswith(("：", ":")) or t[-1].isalnum())


def _formula_kept(paras: list[str]) -> list[str]:
    """Paragraphs with a display formula (`$$…$$` alone) joined to the paragraph before it when
    that one leads into it (`leads_into_formula`): 「……按 Bradley-Terry 模型训练：」 and its loss are
    one sentence, so a quote never stops at the words that introduce the formula."""
    out: list[str] = []
    for p in paras:
        if out and DISPLAY_ONLY.match(p) and leads_into_formula(out[-1]):
            out[-1] = out[-1].rstrip() + " " + p.strip()
        else:
            out.append(p)
    return out


def _push(out: list[str], sent: str) -> None:
    sent = sent.strip()
    lead = _LEADING_PUNCT.match(sent)
    if lead and out:
        out[-1] += lead.group(0).strip()
        sent = sent[lead.end():]
    elif lead:
        sent = sent[lead.end():]
    sent = " ".join(sent.split())
    if sent:
        out.append(sent)


def neutralise_control(text: str) -> str:
    """Make control-token strings inert in user text by breaking them with a space
    ('<|im_end|>' → '< |im_end| >'); the text stays readable and nothing else changes."""

    def brk(m: re.Match) -> str:
        s = m.group(0)
        return s[0] + " " + s[1:-1] + " " + s[-1]

    return _CONTROL_RE.sub(brk, text)


def strip_control(text: str) -> str:
    """Remove control-token strings from model output, until none is left (removing one
    can join the pieces of another, e.g. '<|[INST]im_end|>')."""
    while True:
        out = _CONTROL_RE.sub("", text)
        if out == text:
            return out
        text = out


def _token_re(tokens: list[str] | tuple[str, ...]) -> re.Pattern | None:
    toks = sorted({t for t in tokens if t and not t.isspace()}, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in toks)) if toks else None


def _break(s: str) -> str:
    # '<filename>' → '< filename >': still readable, no longer the token
    return s[0] + " " + s[1:-1] + " " + s[-1] if len(s) > 2 else s[0] + " " + s[1:]


def neutralise_tokens(text: str, tokens: list[str] | tuple[str, ...] = ()) -> str:
    """neutralise_control, and each string in tokens (a model vocabulary's special tokens,
    e.g. SmolLM2's '<filename>') broken the same way, until none is left."""
    pat = _token_re(tokens)
    while True:
        out = neutralise_control(text)
        if pat is not None:
            out = pat.sub(lambda m: _break(m.group(0)), out)
        if out == text:
            return out
        text = out


class StreamSanitizer:
    """Removes control tokens (and `extra` strings, e.g. the model's own special tokens)
    from a stream of text pieces, holding back a tail that could still become one, so that
    ''.join(feed(p) for p) + flush() == strip_control(''.join(p)) (extra ones removed too)."""

    def __init__(self, extra: list[str] | tuple[str, ...] = ()) -> None:
        self._buf = ""
        self._extra = _token_re(extra)
        self._hold = max([42, *(len(t) for t in extra)])  # longest token we match
        self._starts = set("<[") | {t[0] for t in extra if t}

    def _strip(self, text: str) -> str:
        while True:
            out = strip_control(text)
            if self._extra is not None:
                out = self._extra.sub("", out)
            if out == text:
                return out
            text = out

    def feed(self, piece: str) -> str:
        self._buf += piece
        cleaned = self._strip(self._buf)
        # keep back everything from the first token start among the last _hold characters:
        # it might still become (part of) a control token
        start = max(0, len(cleaned) - self._hold)
        cut = next((i for i in range(start, len(cleaned)) if cleaned[i] in self._starts), -1)
        if cut == -1:
            self._buf = ""
            return cleaned
        self._buf = cleaned[cut:]
        return cleaned[:cut]

    def flush(self) -> str:
        out, self._buf = self._strip(self._buf), ""
        return out


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """text with every lone surrogate (what Python makes of undecodable input bytes with
    surrogateescape, or a half emoji pair in JSON) and every NUL character (PostgreSQL refuses
    it in text, so the progress store could not keep it) replaced by U+FFFD; valid pairs never
    reach Python as surrogates, so nothing readable changes. Encodable as UTF-8 afterwards."""
    text = _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def has_invalid_text(text: str) -> bool:
    """True when clean_text would change the text (lone surrogates)."""
    return bool(_SURROGATE.search(text))


class BadText(TutorError):
    """Input text that is not valid Unicode (lone surrogates: non-UTF-8 bytes or half an emoji pair)."""


# C0/C1 control characters other than tab and newline: invisible, and some (NUL, ESC)
# break terminals, SQLite text or the tokenizer
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")  # terminal colour/cursor sequences pasted along


def clean_input(text: str | None, what: str = "the question") -> str:
    """The one boundary for text a learner or a script sends (CLI argument or line, HTTP
    field, UI box): terminal escape sequences are removed and other control characters
    than tab/newline become spaces; carriage
    returns become newlines. Raises BadText (exit 2 / HTTP 400 / UI notice) for lone
    surrogates, naming `what`, rather than guessing what was meant."""
    text = text or ""
    if has_invalid_text(text):
        raise BadText(f"{what} contains bytes that are not valid UTF-8 (or half of an emoji pair); "
                      "retype it or save the text as UTF-8")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_CHARS.sub(" ", _ANSI.sub("", text))


_ABBREV = re.compile(r"(?:\bet al|\be\.g|\bi\.e|\bvs|\bcf|\bFig|\bEq|\bNo)\.$")


def english_sentences(text: str) -> list[str]:
    """English prose split into sentences: `split_sentences` on the whitespace-normalised text,
    with a piece joined back to the one before when that ends in an abbreviation ("Hu et al.",
    "e.g.") or a clause (";"), or the piece does not start a sentence ("(ICLR 2022).", "0.39% for …")."""
    out: list[str] = []
    for piece in split_sentences(" ".join(text.split())):
        if out and (_ABBREV.search(out[-1]) or not piece[:1].isupper() or out[-1].endswith((";", ","))):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


_CITE = re.compile(r"\[(\d{1,3})\]")


def citations(answer: str) -> list[int]:
    """The [n] numbers in an answer, in order (repeats kept)."""
    return [int(n) for n in _CITE.findall(answer)]


def is_joined_query(query: str) -> bool:
    """True for a conversation's joined search query ("earlier question\nthis one", built by
    rag/followup.py): the query adapters and the note reranker were fitted on single questions
    and leave it alone."""
    return "\n" in query
