"""Math delimiters in the chat: the tutor's LaTeX renders, the learner's dollar signs never do.

The chat renders LaTeX only between `$$…$$`, `\\(…\\)` and `\\[…\\]` (CHAT_LATEX): a lone `$`
is a price (「A100 是 $2 一小时，H100 是 $4」), not math. The tutor's text (notes, answers) writes
inline math as `$…$`; `tutor_math` turns those spans into `\\(…\\)` by pandoc's rule (an
opening `$` has a non-space on its right, a closing one a non-space on its left and no digit
after it), outside code. `learner_text` makes the learner's own text inert: `$` and the
backslash of `\\(`/`\\[` become HTML entities, which the Markdown renderer shows as typed.
`math_to_unicode` renders the spans as Unicode text (pylatexenc) for plain-HTML places
(the sources panel), where no KaTeX runs.
"""

from __future__ import annotations

import re

CHAT_LATEX = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "\\[", "right": "\\]", "display": True},
    {"left": "\\(", "right": "\\)", "display": False},
]

# pandoc's tex_math_dollars rule, one line at most
INLINE = re.compile(r"(?<![\\$\w])\$(?![\s$])([^$\n]+?)(?<![\s\\])\$(?![\d$])")
DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)
_OUR_INLINE = re.compile(r"\\\((.+?)\\\)")


def _outside_code(text: str, fn) -> str:
    parts = _CODE.split(text)
    return "".join(p if i % 2 else fn(p) for i, p in enumerate(parts))


def tutor_math(text: str) -> str:
    """The tutor's text with inline `$…$` math as `\\(…\\)` (display `$$…$$` kept), code untouched."""
    def conv(part: str) -> str:
        keep: list[str] = []
        part = DISPLAY.sub(lambda m: keep.append(m.group(0)) or f"\x00{len(keep) - 1}\x00", part)
        part = INLINE.sub(lambda m: f"\\({m.group(1)}\\)", part)
        return re.sub(r"\x00(\d+)\x00", lambda m: keep[int(m.group(1))], part)

    return _outside_code(text, conv)


def untutor_math(text: str) -> str:
    """Inverse of tutor_math (for the history sent back to the model)."""
    return _outside_code(text, lambda p: _OUR_INLINE.sub(lambda m: f"${m.group(1)}$", p))


def learner_text(text: str) -> str:
    """The learner's text made inert for the chat's Markdown + KaTeX: `$`, `\\(`, `\\[` as entities."""
    return text.replace("\\", "&#92;").replace("$", "&#36;")


def unlearner_text(text: str) -> str:
    """Inverse of learner_text."""
    return text.replace("&#36;", "$").replace("&#92;", "\\")


def math_to_unicode(text: str) -> str:
    """Math spans (`$$…$$`, `$…$` by pandoc's rule) rendered as Unicode text; the rest as is.
    E.g. `$\\frac{QK^\\top}{\\sqrt{d_k}}$` → `QK^⊤/√(d_k)`."""
    from pylatexenc.latex2text import LatexNodes2Text

    conv = LatexNodes2Text(math_mode="text")

    def one(m: re.Match) -> str:
        try:
            return " ".join(conv.latex_to_text(m.group(1)).split())
        except Exception:  # noqa: BLE001 — a formula pylatexenc cannot parse stays as written
            return m.group(0)

    return INLINE.sub(one, DISPLAY.sub(one, text))


_MATH_OR_CODE = re.compile(r"(```.*?```|`[^`\n]*`|\$\$.+?\$\$|\\\(.+?\\\)|" + INLINE.pattern + ")", re.S)


_ESCAPE = re.compile(r"(?<![\\*])(_|\*(?!\*))")  # an underscore, or a single asterisk (bold ** stays)


def plain_emphasis(text: str) -> str:
    """Plain note text (key points, quiz references, card backs) for a Markdown renderer: `_` and `*`
    outside math and code escaped, so 「x_{t-1} = sqrt(ᾱ_{t-1})·x̂_0 + …」 is not read as italics
    (review 24: Browse and flashcards lost the underscores and italicised the stretch between them)."""
    out = []
    pos = 0
    for m in _MATH_OR_CODE.finditer(text):
        out.append(_ESCAPE.sub(r"\\\1", text[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_ESCAPE.sub(r"\\\1", text[pos:]))
    return "".join(out)

