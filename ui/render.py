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

UNSUPPORTED_TITLE = "笔记中未找到 / not found in the notes"

NOTICE_TEXT = {
    "history_dropped": "较早的对话因上下文长度被省略 / older turns were left out to fit the context window",
    "notes_dropped": "部分检索到的笔记因长度被省略 / some retrieved notes were left out to fit the context window",
    "notes_trimmed": "最相关的笔记太长，只保留了前几段 / the most relevant note was shortened to fit the context window",
    "question_trimmed": "问题过长，已截断 / the question was trimmed to fit the context window",
    "not_covered": "笔记未涉及这个问题 / the notes do not cover this question",
    "stopped": "已停止 / stopped",
    "garbage_empty": "模型第一次回答为空 / the model's first answer was empty",
    "garbage_language": "模型第一次回答语言不对 / the model's first answer was in the wrong language",
    "garbage_loop": "模型第一次回答在重复 / the model's first answer kept repeating itself",
    "garbage_restates": "模型第一次回答只是复述了问题 / the model's first answer only restated the question",
    "garbage_echo": "模型第一次回答在复述提示或来源标题 / the model's first answer parroted the prompt or the source headers",
    "garbage_unsupported": "模型第一次回答大多不在笔记中 / most of the model's first answer was not in the notes",
    "retried_strict": "以上为更严格的第二次回答 / this is a stricter second answer",
    "extractive_fallback": "模型回答未通过检查，以下直接摘录笔记 / the model's answer failed the check; these are sentences quoted from the notes",
}

_META = '<div class="answer-meta">'
_NOTICE = '<div class="answer-notice">'
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
        bits.append(f"首字 first token {t['first_token_ms']:.0f} ms")
        bits.append(f"{t.get('tokens_per_s', 0)} tok/s")
    if t.get("retrieve_ms") is not None:
        bits.append(f"检索 retrieval {t['retrieve_ms']:.0f} ms")
    return " · ".join(bits)


def notices(answer) -> list[str]:
    """Human text of the answer's notice codes (unknown codes shown as they are)."""
    return [NOTICE_TEXT.get(code, code) for code in (answer.notices or [])]


def assistant_content(answer) -> str:
    """Chat message for a finished answer: text (unsupported muted) + footer + notices."""
    body = mark_unsupported(answer.answer, list(answer.unsupported or []))
    parts = [body, _META + meta_line(answer) + "</div>"]
    parts += [_NOTICE + "⚠ " + html.escape(n) + "</div>" for n in notices(answer)]
    return "\n\n".join(parts)


def plain(content) -> str:
    """The answer text inside a chat message made by `assistant_content` (or any message)."""
    text = content if isinstance(content, str) else _text(content)
    for marker in (_META, _NOTICE):
        cut = text.find(marker)
        if cut != -1:
            text = text[:cut]
    return _SPAN_RE.sub(r"\1", text).strip()


def snippet(source, limit: int = 180) -> str:
    """The source's best chunk without its 'title · heading' first line, cut to `limit` chars."""
    lines = [ln for ln in (source.snippet or "").splitlines() if ln.strip()]
    body = " ".join(lines[1:] if len(lines) > 1 else lines)
    return body if len(body) <= limit else body[:limit].rstrip() + "…"


def sources_thought(answer) -> dict | None:
    """A collapsed 'thought' chat message listing the answer's sources and key points, or None."""
    if not answer.sources:
        return None
    lines = [f"- **[{s.n}] {s.id} {s.title}** — {snippet(s, 120)}" for s in answer.sources]
    if answer.key_points:
        lines.append("\n**要点 Key points**")
        lines += [f"- [{k['n']}] {k['text']}" for k in answer.key_points]
    return {"role": "assistant", "content": "\n".join(lines),
            "metadata": {"title": f"来源 Sources ({len(answer.sources)})", "status": "done"}}


def sources_panel(sources, key_points=()) -> str:
    """HTML cards (id, title, snippet) whose links carry data-id, plus the notes' key points
    (Answer.key_points dicts: n, id, text) under their source. The Chat tab turns a click
    on a card into 'open in Browse'."""
    if not sources:
        return '<p class="src-empty">没有引用的笔记 / no sources</p>'
    kp: dict[int, list[str]] = {}
    for k in key_points or []:
        kp.setdefault(k["n"], []).append(k["text"])
    cards = []
    for i, s in enumerate(sources):
        title = html.escape(s.title) + (f" <small>({html.escape(s.title_en)})</small>" if s.title_en else "")
        points = "".join(f"<li>{html.escape(p)}</li>" for p in kp.get(s.n, []))
        cards.append(
            f'<div class="src-card" data-src="{s.n}"><a data-id="{html.escape(s.id)}" title="在浏览中打开 / open in Browse">'
            f"[{s.n}] {html.escape(s.id)} {title} ↗</a>"
            f'<p class="snippet">{html.escape(snippet(s))}</p>'
            + (f'<details class="kp"{" open" if i == 0 else ""}><summary>要点 Key points</summary><ul>{points}</ul></details>' if points else "")
            + "</div>")
    return "".join(cards)


def _text(content) -> str:
    if isinstance(content, list):
        return " ".join(c.get("text", "") if isinstance(c, dict) else str(c) for c in content)
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return str(content)
