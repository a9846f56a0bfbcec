"""Browse tab handlers: the outline as a tree, a node's rendered note, its quiz items and
links to prerequisite, related, parent and child topics.

Links and tree entries are HTML anchors carrying `data-id`; the tab's JavaScript turns a
click into a Gradio event with that id (no page navigation). Nodes without a note (the
corpus covers some chapters only) still show their place in the outline and children.
"""

from __future__ import annotations

import html
import re

from tutor.errors import TutorError
from tutor.quiz.items import from_front_matter
from tutor.wording import label, w

from .mathtext import plain_emphasis
from .widgets import scroll_hint

LEVEL = {k: label(f"browse.level.{k}") for k in (1, 2, 3)}
DIFFICULTY = {k: label(f"browse.difficulty.{k}") for k in (1, 2, 3)}
TYPE_LABEL = {t: label(f"type.{t}") for t in ("choice", "short", "card")}  # as the quiz tab names them


class UnknownNode(TutorError):
    """A Browse 'go to' text that matches no outline id or title."""


def _a(node, current: str | None, has_note: bool, title_en: str = "") -> str:
    cls = " ".join(c for c in ("current" if node.id == current else "", "" if has_note else "nonote") if c)
    en = f' <span class="en">{html.escape(title_en)}</span>' if title_en else ""  # (learners also search in English)
    return (f'<a data-id="{node.id}" class="{cls}" title="{"" if has_note else w("browse.no_note")}">'
            f"{node.id} {html.escape(node.title)}{en}</a>")


def english_title(corpus, node) -> str:
    """The English title of the node's note, shown beside a Chinese outline title (learners also
    search in English); "" for a title with no Chinese in it (「Query-Key-Value」) or no note."""
    note = corpus.notes.get(node.id)
    return note.meta.title_en if note and note.meta.title_en and re.search(r"[\u4e00-\u9fff]", node.title) else ""


def tree_html(corpus, current: str | None = None) -> str:
    """Nested <details> per chapter and section; the branch holding `current` is open and
    `current` highlighted. Nodes without a note are muted."""
    outline, notes = corpus.outline, corpus.notes

    def en(node) -> str:
        return english_title(corpus, node)

    path = {n.id for n in outline.path(current)} if current and current in outline else set()
    # at phone width the tree is a 40vh box: it seemed to end at chapter 8 (review 18)
    parts = [scroll_hint("browse.tree_scroll_hint"), '<nav class="tree">']
    for ch in outline.chapters():
        parts.append(f'<details{" open" if ch.id in path else ""}><summary>{_a(ch, current, ch.id in notes, en(ch))}</summary>')
        for sec in outline.children(ch.id):
            parts.append(f'<details{" open" if sec.id in path else ""}><summary>{_a(sec, current, sec.id in notes, en(sec))}</summary><ul>')
            parts += [f"<li>{_a(t, current, t.id in notes, en(t))}</li>" for t in outline.children(sec.id)]
            parts.append("</ul></details>")
        parts.append("</details>")
    parts.append("</nav>")
    return "".join(parts)


def resolve(corpus, text: str | None) -> str:
    """Outline id for a 'go to' text: an id ('3.4.2'), a title or English title (exact,
    then substring, case-insensitive), or an alias. Raises UnknownNode with an example."""
    q = (text or "").strip()
    outline = corpus.outline
    if not q:
        raise UnknownNode(w("browse.type_id"))
    if q in outline:
        return q
    low = q.lower()

    def names(node, aliases: bool = True) -> list[str]:
        note = corpus.notes.get(node.id)
        extra = [note.meta.title_en, *(note.meta.aliases if aliases else [])] if note else []
        return [node.title.lower(), *(x.lower() for x in extra)]

    # exact names first, then a title holding the text, then an alias holding it (review 26: 「温度」
    # opened 5.3.1 by its alias 温度系数, not 5.3.2 自动温度)
    for exact, aliases in ((True, True), (False, False), (False, True)):
        found = [node.id for node in outline.nodes if any(low == n if exact else low in n for n in names(node, aliases))]
        if found:
            # six outline titles name two topics (知识蒸馏: 4.4.2 step distillation, 7.3.1 the
            # technique): the one the other lists as a prerequisite is the title's own topic (review 9)
            prereqs = {p for i in found if i in corpus.notes for p in corpus.notes[i].meta.prerequisites}
            return next((i for i in found if i in prereqs), found[0])
    raise UnknownNode(w("browse.not_found", text=q))


def links_html(corpus, node_id: str) -> str:
    """Chips for the parent, children, prerequisites and related topics of `node_id`."""
    outline = corpus.outline
    node = outline[node_id]
    note = corpus.notes.get(node_id)
    rows = []

    def chips(label: str, ids: list[str]) -> None:
        ids = [i for i in ids if i in outline]
        if ids:
            rows.append(f"<p><b>{label}</b> " + "".join(_a(outline[i], None, i in corpus.notes) for i in ids) + "</p>")

    chips(label("browse.parent"), [node.parent] if node.parent else [])
    if note:
        chips(label("browse.prerequisites"), note.meta.prerequisites)
        chips(label("browse.related"), [r for r in note.meta.related if r not in note.meta.prerequisites])
    chips(label("browse.children"), list(node.children))
    return '<div class="node-links">' + "".join(rows) + "</div>"


def items_markdown(items) -> str:
    """Quiz items as Markdown; answers hidden in <details> so the page doubles as a self-test."""
    if not items:
        return f"_{w('browse.no_items')}_"
    out = []
    for k, it in enumerate(items, 1):
        out.append(f"**{k}. {TYPE_LABEL.get(it.type, it.type)}** — {plain_emphasis(it.prompt)}")
        if it.type == "choice":
            out.append("\n".join(f"- {chr(65 + i)}. {plain_emphasis(o)}" for i, o in enumerate(it.options)))
            ans = f"{chr(65 + it.answer)}. {it.options[it.answer]}" + (f" — {it.explanation}" if it.explanation else "")
        else:
            ans = it.reference + ("".join(f"\n- {p}" for p in it.key_points) if it.key_points else "")
        ans = plain_emphasis(ans)
        out.append(f"<details><summary>{label('browse.answer')}</summary>\n\n{ans}\n\n</details>")
    return "\n\n".join(out)


def node_items(tutor, node_id: str) -> list:
    """The quiz items of one note (front matter; generated ones too when the quiz engine's
    bank is available), in bank order."""
    bank = getattr(getattr(tutor, "quiz", None), "bank", None)
    if bank is not None and hasattr(bank, "select"):
        return [i for i in bank.select(node_id) if i.note_id == node_id]
    note = tutor.corpus.notes.get(node_id)
    return from_front_matter(note) if note else []


def node_markdown(tutor, node_id: str) -> str:
    """The rendered page of one outline node: breadcrumb, title, note body (LaTeX and code
    as written), key points, quiz items and references."""
    corpus = tutor.corpus
    outline = corpus.outline
    node = outline[node_id]
    crumbs = " › ".join(f"{n.id} {n.title}" for n in outline.path(node_id))
    note = corpus.notes.get(node_id)
    head = [f"<small>{html.escape(crumbs)}</small>", ""]
    if note is None:
        head.append(f"# {node.id} {node.title}")
        head.append(f"\n_{LEVEL[node.level]} · {w('browse.no_note_node')}_")
        kids = outline.children(node_id)
        if kids:
            head.append("\n" + "\n".join(f"- {k.id} {k.title}" for k in kids))
        return "\n".join(head)
    m = note.meta
    head.append(f"# {m.id} {m.title}")
    head.append(f"**{m.title_en}** · {LEVEL[node.level]} · {label('browse.difficulty')}: "
                f"{DIFFICULTY.get(m.difficulty, m.difficulty)}")
    if m.aliases:
        head.append(f"\n{label('browse.aliases')}: {', '.join(m.aliases)}")
    parts = ["\n".join(head), note.body]
    parts.append(f"## {label('browse.key_points')}\n" + "\n".join(f"- {plain_emphasis(p)}" for p in m.key_points))
    parts.append(f"## {label('browse.quiz_items')}\n\n" + items_markdown(node_items(tutor, node_id)))
    parts.append(f"## {label('browse.references')}\n" + "\n".join(f"- {r}" for r in m.references))
    return "\n\n".join(parts)


def open_node(tutor, node_id: str | None) -> tuple[str, str, str, str]:
    """(page markdown, links html, tree html, node id) for `node_id`; an unknown or empty id
    shows the outline root message. Raises nothing: errors become the page text."""
    corpus = tutor.corpus
    if not node_id or node_id not in corpus.outline:
        msg = w("browse.pick") if not node_id else f"⚠ {w('browse.unknown_id', id=node_id)}"
        return msg, "", tree_html(corpus), ""
    return node_markdown(tutor, node_id), links_html(corpus, node_id), tree_html(corpus, node_id), node_id


def go_to(tutor, text: str | None) -> tuple[str, str, str, str]:
    """`open_node` for a typed id/title; an unmatched text becomes a ⚠ line instead of the page."""
    try:
        return open_node(tutor, resolve(tutor.corpus, text))
    except UnknownNode as e:
        return f"⚠ {e}", "", tree_html(tutor.corpus), ""
