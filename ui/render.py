"""Turn an `Answer` into what the chat shows: the answer with unsupported sentences muted,
a footer (model, time to first token, tokens/s), budget notices, an in-chat sources panel
and the side panel of source cards with the notes' key points.

`plain()` undoes the decoration, so the history sent back to the model is the answer text
itself. Sentence indexes in `Answer.unsupported` count sentences of
`tutor.text.split_sentences(answer.answer)`, the splitter the trust check uses.
"""

from __future__ import annotations

import html
import re

from tutor.text import split_sentences
from tutor.wording import label, w

from .mathtext import math_to_unicode, tutor_math, unlearner_text, untutor_math

UNSUPPORTED_TITLE = w("chat.unsupported")

NOTICE_CODES = ("history_dropped", "notes_dropped", "notes_trimmed", "question_trimmed", "not_covered", "stopped",
                "quotes_first", "garbage_empty", "garbage_language", "garbage_loop", "garbage_restates", "garbage_echo",
                "garbage_unsupported", "retried_strict", "extractive_fallback")
NOTICE_TEXT = {code: w(f"notice.{code}") for code in NOTICE_CODES}

_META = '<details class="answer-meta">'
_NOTICE = '<div class="answer-notice">'
_CITE_RE = re.compile(r'<a class="cite"[^>]*>(\[\d+\])</a>')
_CITATION = re.compile(r"\[(\d{1,3})\]")

# one plain sentence of what happened, by guard outcome / notice (the rest goes in 详情 Details)
SUMMARY = {k: w(f"chat.summary.{k}") for k in ("retried", "stopped", "explain_failed")}
_SPAN_RE = re.compile(r'<span class="unsupported" title="[^"]*">⚠ (.*?)</span>', re.S)


def mark_unsupported(text: str, indexes: list[int] | None) -> str:
    """`text` with the sentences at `indexes` (of split_sentences(text)) wrapped in a muted
    <span class="unsupported"> starting with ⚠. Sentences not found verbatim (modulo
    whitespace) or inside code are left as they are."""
    if not indexes:
        return text
    wanted = set(indexes)
    out, pos = [], 0
    for i, sent in enumerate(split_sentences(text)):
        pattern = r"\s+".join(re.escape(w) for w in sent.split())
        m = re.compile(pattern).search(text, pos) if pattern else None
        if m is None:
            continue
        if i in wanted and "`" not in m.group(0):
            out.append(text[pos:m.start()])
            out.append(f'<span class="unsupported" title="{UNSUPPORTED_TITLE}">⚠ {m.group(0)}</span>')
            pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def meta_line(answer) -> str:
    """'model · 首字 first token N ms · X tok/s' (timings absent when the model was not called)."""
    t = answer.timings or {}
    bits = [html.escape(answer.model)]
    if t.get("first_token_ms") is not None:
        bits.append(f"{label('chat.first_token')} {t['first_token_ms']:.0f} ms")
        bits.append(f"{t.get('tokens_per_s', 0)} tok/s")
    if t.get("retrieve_ms") is not None:
        bits.append(f"{label('chat.retrieval')} {t['retrieve_ms']:.0f} ms")
    return " · ".join(bits)


def notices(answer, explain: bool = False) -> list[str]:
    """Human text of the answer's notice codes (unknown codes shown as they are). explain: the
    answer is an explanation under quotes already shown, so a fallback to quotes shows none."""
    swap = {"extractive_fallback": w("notice.explain_fallback")} if explain else {}
    return [swap.get(code) or NOTICE_TEXT.get(code, code) for code in (answer.notices or [])]


def link_citations(text: str, sources, turn: str | None) -> str:
    """`[n]` of a known source as a link: <a class="cite" href="#cite-<turn>-<n>-<note id>" title>.
    A click shows that turn's source card n in the side panel (its link opens the note in Browse)."""
    by_n = {s.n: s for s in sources or []}

    def one(m: re.Match) -> str:
        s = by_n.get(int(m.group(1)))
        if s is None:
            return m.group(0)
        title = html.escape(f"{s.id} {s.title}", quote=True)
        # the Chatbot's sanitizer drops data-* attributes: the link's target rides in its href
        return f'<a class="cite" href="#cite-{turn or ""}-{s.n}-{html.escape(s.id)}" title="{title}">[{s.n}]</a>'


    parts = re.split(r"(```.*?```|`[^`\n]*`)", text, flags=re.S)
    return "".join(p if i % 2 else _CITATION.sub(one, p) for i, p in enumerate(parts))


def summary_line(answer, explain: bool = False) -> str:
    """The one plain sentence a learner reads about what happened ('' when nothing did)."""
    outcome = (answer.guard or {}).get("outcome")
    if "stopped" in (answer.notices or []):
        return SUMMARY["stopped"]
    if explain and outcome == "fallback":
        return SUMMARY["explain_failed"]
    return SUMMARY["retried"] if outcome == "retried" else ""


def details(answer, explain: bool = False) -> str:
    """Collapsed 详情 Details: model, timings, every notice and the check's reasons."""
    rows = [meta_line(answer)]  # already escaped
    rows += [html.escape(n) for n in notices(answer, explain)]
    shown = set(answer.notices or [])
    for i, reasons in enumerate((answer.guard or {}).get("reasons") or []):
        # (a reason its notice already says in words is not repeated as a raw code, review 23)
        if reasons and not all(f"garbage_{r}" in shown for r in reasons):
            rows.append(f"{label('chat.first_try' if i == 0 else 'chat.retry')}: {html.escape(', '.join(reasons))}")
    return _META + f"<summary>{label('chat.details')}</summary>" + "".join(f"<div>{r}</div>" for r in rows) + "</details>"


def assistant_content(answer, turn: str | None = None, explain: bool = False) -> str:
    """Chat message for a finished answer: the text (unsupported sentences muted, [n] linked,
    inline math as \\(…\\)), one plain sentence of what happened if anything did, and a
    collapsed 详情 Details element (model, timings, notices, the check's reasons).
    explain: the answer is the model's explanation under quoted notes (a failed one is not shown)."""
    outcome = (answer.guard or {}).get("outcome")
    if explain and (outcome == "fallback" or not answer.answer.strip()):
        body = ""  # the quotes are already above; quoting them again says nothing new
    else:
        body = mark_unsupported(answer.answer, list(answer.unsupported or []))
        body = link_citations(tutor_math(body), answer.sources, turn)
        if explain:
            body = f"**{label('chat.explanation')}**\n\n" + body
    line = summary_line(answer, explain)
    parts = [b for b in (body, _NOTICE + html.escape(line) + "</div>" if line else "") if b]
    return "\n\n".join(parts + [details(answer, explain)])


def plain(content) -> str:
    """The text inside a chat message made by `assistant_content` or `user_content` (or any
    message), as the model wrote or the learner typed it."""
    text = content if isinstance(content, str) else _text(content)
    for marker in (_NOTICE, _META):
        cut = text.find(marker)
        if cut != -1:
            text = text[:cut]
    text = _CITE_RE.sub(r"\1", _SPAN_RE.sub(r"\1", text))
    text = text.removeprefix(f"**{label('chat.explanation')}**\n\n")
    return unlearner_text(untutor_math(text)).strip()


def user_content(text: str) -> str:
    """The learner's message as shown: as typed (no math from prices, see mathtext)."""
    from .mathtext import learner_text

    return learner_text(text)


_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")  # a Markdown table's |---|---| line


_LIST_ITEM = re.compile(r"^\s*[-*]\s+")
_ITEM_AFTER_END = re.compile(r"(?<=[。；！？])\s*-\s+")
_RULE_CELL = re.compile(r"^:?-{3,}:?$")


def _table_row(line: str) -> str:
    """A Markdown table row as its cells joined by " · " (review 11: 7.1.2's card showed
    「|| 动态量化 | 静态量化 |」); any other line as it is."""
    if not line.lstrip().startswith("|"):
        return line
    # (a chunk may run a table into one line: its |---| cells go too)
    return " · ".join(c.strip() for c in line.strip().strip("|").split("|") if c.strip() and not _RULE_CELL.match(c.strip()))


def snippet(source, limit: int = 180, math: str = "unicode") -> str:
    """The source's best chunk without its 'title · heading' first line, cut to `limit` chars.
    math: "unicode" renders formulas as Unicode text (plain HTML), "tex" keeps them for KaTeX
    (as \\(…\\)); a formula is never cut in half."""
    lines = [ln for ln in (source.snippet or "").splitlines() if ln.strip()]
    lines = [_table_row(ln) for ln in lines if not _TABLE_RULE.match(ln)]
    # list items as " · "-separated text, not "- a - b" (review 13a), also where a chunk ran them
    # into one line after a sentence's end (「…回退。- 缺点：…」)
    body = ""
    for ln in lines[1:] if len(lines) > 1 else lines:
        item = _LIST_ITEM.match(ln)
        ln = _ITEM_AFTER_END.sub(" · ", ln[item.end():] if item else ln)
        body += (" · " if item and body else " " if body else "") + ln
    if len(lines) > 1 and lines[0].rstrip().endswith("· 常见误区"):
        # the heading is the only sign these are wrong claims: without it a skimming learner read
        # 「"SHAP 值大就说明该特征对结果有因果影响"——…」 as a fact (review 16)
        body = f"{label('chat.misconceptions')}: {body}"
    body = re.sub(r"\*\*|__", "", body)  # Markdown bold is no text: the panel is plain HTML, the list bolds itself
    body = math_to_unicode(body) if math == "unicode" else body
    if len(body) > limit:
        cut = body[:limit]
        if math != "unicode" and cut.count("$") % 2:  # inside a formula: cut before it
            cut = cut[:cut.rfind("$")]
        body = cut.rstrip() + "…"
    return tutor_math(body) if math == "tex" else body


def sources_thought(answer) -> dict | None:
    """A collapsed 'thought' chat message listing the answer's sources and key points, or None."""
    if not answer.sources:
        return None
    lines = [f'- **[{s.n}]** <a href="#note-{html.escape(s.id)}" title="{w("chat.open_in_browse")}">'
             f"{html.escape(s.id)} {html.escape(s.title)} ↗</a> — {snippet(s, 120, math='tex')}" for s in answer.sources]
    if answer.key_points:
        lines.append(f"\n**{label('chat.key_points')}**")
        lines += [f"- [{k['n']}] {tutor_math(k['text'])}" for k in answer.key_points]
    return {"role": "assistant", "content": "\n".join(lines),
            "metadata": {"title": f"{label('chat.sources')} ({len(answer.sources)})", "status": "done"}}


def highlight(panel: str, n: int | str) -> str:
    """A sources_panel with card n marked (class src-hl) and its key points open."""
    return panel.replace(f'<div class="src-card" data-src="{n}">', f'<div class="src-card src-hl" data-src="{n}">', 1)


def sources_panel(sources, key_points=(), answer: str | None = None) -> str:
    """HTML cards (id, title, snippet with formulas as Unicode) whose links carry data-id, plus
    the notes' key points (Answer.key_points dicts: n, id, text) under their source. The Chat
    tab turns a click on a card into 'open in Browse'. answer: the finished answer; a source it
    never cites ([n]) is tagged "related, not cited" (review 25: the top three notes are always
    listed, so a card could look like the answer's source when nothing came from it); those cards
    come after the cited ones, folded in a "related, not cited (k)" details element."""
    cited = {int(m) for m in re.findall(r"\[(\d+)\]", answer)} if answer is not None else None
    if not sources:
        return f'<p class="src-empty">{w("chat.no_sources")}</p>'
    kp: dict[int, list[str]] = {}
    for k in key_points or []:
        kp.setdefault(k["n"], []).append(k["text"])
    cards, related = [], []
    for i, s in enumerate(sources):
        title = html.escape(s.title) + (f" <small>({html.escape(s.title_en)})</small>" if s.title_en else "")
        points = "".join(f"<li>{html.escape(math_to_unicode(p))}</li>" for p in kp.get(s.n, []))
        uncited = bool(cited) and s.n not in cited
        (related if uncited else cards).append(
            f'<div class="src-card" data-src="{s.n}"><a data-id="{html.escape(s.id)}" title="{w("chat.open_in_browse")}">'
            f"[{s.n}] {html.escape(s.id)} {title} ↗</a>"
            + (f' <small class="src-related">{label("chat.source_related")}</small>' if uncited else "")
            + f'<p class="snippet">{html.escape(snippet(s))}</p>'
            + (f'<details class="kp"{" open" if i == 0 else ""}><summary>{label("chat.key_points")}</summary><ul>{points}</ul></details>' if points else "")
            + "</div>")
    # the notes the answer took nothing from, after the cited ones and folded: review 28 read PPO's
    # OpenMMLab and SageMaker cards as noise, and on a phone they pushed the sources far down
    more = (f'<details class="src-more"><summary>{label("chat.source_related")} ({len(related)})</summary>{"".join(related)}</details>'
            if related else "")
    return "".join(cards) + more


def _text(content) -> str:
    if isinstance(content, list):
        return " ".join(c.get("text", "") if isinstance(c, dict) else str(c) for c in content)
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return str(content)
