"""Look of the app: CSS for laptop and phone widths, KaTeX delimiters, launch options.

Gradio 6 takes css/theme at launch(), not in gr.Blocks(); `launch_options()` is what
serve.py and the browser tests both pass, so tests see the page users see.
"""

from __future__ import annotations

# $$…$$ first so a display formula is not read as two empty inline ones
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]

# Gradio prefixes every selector with its container (".gradio-container-<v> .contain "),
# so rules here target elements inside the app, never the container itself.
CSS = """
.unsupported { opacity: 0.55; text-decoration: underline dotted; }
.answer-meta { font-size: 0.8em; opacity: 0.7; margin-top: 0.4em; }
.answer-notice { font-size: 0.8em; color: #a15c00; margin-top: 0.2em; }
.src-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 6px 10px; margin: 6px 0; }
.src-card a, .node-link, .tree a { cursor: pointer; color: var(--link-text-color, #2563eb); text-decoration: none; }
.src-card .snippet { font-size: 0.85em; opacity: 0.8; margin: 4px 0 0 0; }
.kp { font-size: 0.85em; }
.tree { font-size: 0.92em; max-height: 70vh; overflow-y: auto; }
.tree details { margin-left: 0.6em; }
.tree ul { margin: 0 0 0 1.2em; padding: 0; list-style: none; }
.tree .nonote { opacity: 0.55; }
.tree .current { font-weight: 700; background: var(--color-accent-soft, #fde68a); border-radius: 4px; padding: 0 3px; }
.node-links a { display: inline-block; margin: 2px 6px 2px 0; padding: 1px 8px; border: 1px solid var(--border-color-primary); border-radius: 12px; }
.verdict-ok { color: #15803d; font-weight: 700; }
.verdict-bad { color: #b91c1c; font-weight: 700; }
.heatmap { border-collapse: separate; border-spacing: 2px; font-size: 0.85em; }
.heatmap th { text-align: left; font-weight: 500; white-space: nowrap; padding-right: 6px; }
.heatmap td { padding: 2px 6px; border-radius: 4px; text-align: center; }
.heatmap td.pct { background: none; font-weight: 600; }
.heatmap a, .path a { cursor: pointer; color: inherit; }
.path a { color: var(--link-text-color, #2563eb); }
.verdict-partial { color: #a15c00; font-weight: 700; }
#progress-heatmap { overflow-x: auto; }
@media (max-width: 640px) {
  /* phone: rows stack, except rows of buttons, which wrap */
  .row:not(.keep-row) { flex-direction: column !important; flex-wrap: nowrap !important; }
  .row:not(.keep-row) > * { width: 100% !important; min-width: 0 !important; flex: 1 1 auto !important; }
  .keep-row { flex-wrap: wrap !important; }
  #progress-heatmap { max-width: calc(100vw - 16px); }
  #chatbot { height: 55vh !important; }
  .tree { max-height: 40vh; }
}
"""


def launch_options() -> dict:
    """Keyword arguments for `Blocks.launch` that style the app (css; default theme)."""
    return {"css": CSS}
