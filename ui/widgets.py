"""Small Gradio pieces shared by the tabs."""

from __future__ import annotations

import html

import gradio as gr

from tutor.wording import w

# Event delegation on the component's root element: it survives re-renders of the HTML
# value, so links drawn later (new answers, another node) still work.
CLICK_ID_JS = """
element.addEventListener('click', (e) => {
  const a = e.target.closest('[data-id]');
  if (!a || !element.contains(a)) return;
  e.preventDefault();
  trigger('click', {id: a.dataset.id});
});
"""


def link_html(value: str = "", elem_id: str | None = None, **kw) -> gr.HTML:
    """gr.HTML whose `[data-id]` anchors fire `.click` with EventData `id` (see clicked_id)."""
    return gr.HTML(value, js_on_load=CLICK_ID_JS, elem_id=elem_id, **kw)


def clicked_id(evt: gr.EventData) -> str:
    """The data-id carried by a link_html click ('' for a click outside a link)."""
    data = getattr(evt, "_data", None) or {}
    return str(data.get("id", "")) if isinstance(data, dict) else ""


def show_when_new_js(box: str, title: str | None = None, gone: str = "bottom") -> str:
    """JS for a gr.HTML's js_on_load: when the text of `title` (a selector inside `box`; the box
    itself when None) changes while `box` is on screen, scroll `box` to the top of the screen if
    it starts below 60% of the screen's height or its `gone` edge ("top" | "bottom") is above it.
    At phone width a newly opened note or quiz item otherwise sits below what the learner sees
    (reviews 11, 13b); on a laptop it is already on screen and nothing moves."""
    pick = f"b.querySelector('{title}')" if title else "b"
    return f"""
let shown = '';
new MutationObserver(() => {{
  const b = document.querySelector('{box}');
  if (!b || !b.offsetParent) return;  // its tab is not on screen
  const t = {pick};
  const text = t ? t.innerText.trim() : '';
  if (!text || text === shown) return;
  shown = text;
  const r = b.getBoundingClientRect();
  if (r.top > window.innerHeight * 0.6 || r.{gone} < 0) b.scrollIntoView({{block: 'start'}});
}}).observe(document.body, {{childList: true, subtree: true, characterData: true}});
"""


def scroll_hint(key: str = "common.scroll_hint") -> str:
    """A line shown at phone width only (ui/style.py) above a box that scrolls inside itself (a
    table wider than the screen; Browse's outline tree, `browse.tree_scroll_hint`), so the scroll
    is not a secret. key: a wording-table key."""
    return f'<p class="scroll-hint">{html.escape(w(key))}</p>'
