"""Small Gradio pieces shared by the tabs."""

from __future__ import annotations

import gradio as gr

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
