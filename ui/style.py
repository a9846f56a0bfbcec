"""Look of the app: CSS for laptop and phone widths, KaTeX delimiters, launch options.

Gradio 6 takes css/theme at launch(), not in gr.Blocks(); `launch_options()` is what
serve.py and the browser tests both pass, so tests see the page users see.

Phone width (390 px; tests/browser/test_phone_width.py): every tab label stays in the tab
bar and wide tables, code and display formulas scroll inside their own box, so the page
never scrolls sideways and nothing is cut off; Progress's wide tables say so above them, the
quiz summary wraps to fit, the chapter chart becomes HTML bars, and the contest button is a
44 px touch target.
"""

from __future__ import annotations

import json

from tutor.wording import label

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
.src-card .src-related { opacity: 0.7; font-size: 0.8em; }
.src-card .snippet { font-size: 0.85em; opacity: 0.8; margin: 4px 0 0 0; }
.kp { font-size: 0.85em; }
.tree { font-size: 0.92em; max-height: 70vh; overflow-y: auto; }
.tree details { margin-left: 0.6em; }
.tree ul { margin: 0 0 0 1.2em; padding: 0; list-style: none; }
.tree .nonote { opacity: 0.55; }
.tree .en { opacity: 0.7; font-size: 0.9em; }
.tree .current { font-weight: 700; background: var(--color-accent-soft, #fde68a); border-radius: 4px; padding: 0 3px; }
.node-links a { display: inline-block; margin: 2px 6px 2px 0; padding: 1px 8px; border: 1px solid var(--border-color-primary); border-radius: 12px; }
.verdict-ok { color: #15803d; font-weight: 700; }
.verdict-bad { color: #b91c1c; font-weight: 700; }
.heatmap { border-collapse: separate; border-spacing: 2px; font-size: 0.85em; }
.heatmap th { text-align: left; font-weight: 500; white-space: nowrap; padding-right: 6px; }
.heatmap td { padding: 2px 6px; border-radius: 4px; text-align: center; }
.heatmap td.pct { background: none; font-weight: 600; }
.heatmap td.unseen { outline: 1px dashed var(--border-color-primary, #9ca3af); outline-offset: -2px; }
.heatmap a, .path a { cursor: pointer; color: inherit; }
.path a { color: var(--link-text-color, #2563eb); }
.verdict-partial { color: #a15c00; font-weight: 700; }

/* Tab bar: all labels, always. Gradio's default overflow_behavior="menu" measures hidden copies
   of the tab buttons (the .visually-hidden row) and moves those that do not fit into an
   unlabeled "⋯" menu. With the copies not displayed they measure 0 px, so every tab stays in
   the bar, which wraps onto a second line when it must; the (then empty) menu is hidden too. */
.tabs > .tab-wrapper { height: auto; }
.tab-wrapper > .tab-container.visually-hidden > button { display: none !important; }
.tab-wrapper > .tab-container:not(.visually-hidden) { flex-wrap: wrap; height: auto; overflow: visible; }
.tab-wrapper > .tab-container:not(.visually-hidden) > button { height: var(--size-8); flex-shrink: 0; }
.tab-wrapper .overflow-menu { display: none !important; }

/* Wide content scrolls inside its own box, never the page or the whole chat log: Markdown
   tables (chat answers, notes, quiz summary, the heatmap), code blocks and display formulas. */
.prose table, .md table { display: block; width: max-content; max-width: 100%; overflow-x: auto; }
/* words stay whole (the chat sets break-word, which stacked 'value_0' one letter a line) */
.prose table, .md table, .prose table th, .prose table td, .md table th, .md table td { word-break: normal; overflow-wrap: normal; }
/* as a block, the table's own padding and border would show around the cells' (collapsed) ones */
.prose table:not(.heatmap), .md table { padding: 1px; border: 0; }  /* 1px: room for the cells' outer borders */
.prose table:not(.heatmap) :is(th, td), .md table :is(th, td) { min-width: 4em; }
.prose pre, .md pre { max-width: 100%; overflow-x: auto; }
.katex-display { max-width: 100%; overflow-x: auto; overflow-y: hidden; padding: 2px 0; }
/* a display formula wider than its box shows a soft shadow at the edge that hides more
   (review 13: a cut-off Browse formula gave no sign that it scrolls). Scroll shadows: the two
   background-coloured covers move with the content (local) and hide the fixed shadows (scroll)
   once an end is reached, so the shadow shows only where something is hidden */
.katex-display {
  background: linear-gradient(to right, var(--background-fill-primary, #fff) 30%, transparent) left center / 32px 100% no-repeat local,
              linear-gradient(to left, var(--background-fill-primary, #fff) 30%, transparent) right center / 32px 100% no-repeat local,
              radial-gradient(farthest-side at 0 50%, rgba(0, 0, 0, .3), transparent) left center / 12px 100% no-repeat scroll,
              radial-gradient(farthest-side at 100% 50%, rgba(0, 0, 0, .3), transparent) right center / 12px 100% no-repeat scroll;
}
/* Progress: the chart's figures as HTML bars (ui/progress.py chapter_bars_html), shown at phone width
   in place of the PNG, whose text would shrink to ~6 px there; the scroll hint above wide tables
   (heatmap, review history), phone width only */
.chapter-bars { list-style: none; margin: 0; padding: 0; font-size: 15px; line-height: 1.35; }
.chapter-bars li { margin: 0 0 8px 0; }
/* the figure stays on the title's first line, at the right, in every row; a long title wraps in its
   own column (review 22: rows with a long figure put it on a line of its own, the others did not) */
.chapter-bars .cb-head { display: flex; flex-wrap: nowrap; justify-content: space-between; align-items: baseline; gap: 0 8px; }
.chapter-bars a { cursor: pointer; color: inherit; flex: 1 1 auto; min-width: 0; text-align: left; }
.chapter-bars .cb-pct { font-weight: 600; white-space: nowrap; flex: none; }
/* the quiz scope's text ends before the dropdown arrow (review 22: a long section name ran under it) */
#quiz-scope input { padding-right: 28px !important; text-overflow: ellipsis; }
.chapter-bars .cb-bar { display: block; height: 10px; border-radius: 5px; background: #e5e7eb; overflow: hidden; }
.chapter-bars .cb-bar i { display: block; height: 100%; background: #3b7dd8; }
#progress-bars, .scroll-hint { display: none; }
.scroll-hint { font-size: 0.85em; opacity: 0.75; margin: 2px 0 4px 0; }
/* laptop: the chat box leaves room for the question box and Send below it on the first screen
   (review 12: at 1280 × 800 the 62vh box pushed Send below the fold); ~470 px is the header,
   the filter row, the question box and Send */
#chatbot { height: max(280px, calc(100vh - 470px)) !important; }
/* Gradio's "↓ scroll to the end" button sat over the middle of the answer text (reviews 12,
   13a, 13b at 390 px): in the box's right corner, smaller and half transparent */
#chatbot .scroll-down-button-container { left: auto !important; right: 6px; bottom: 6px; transform: none !important; opacity: 0.7; }
#chatbot .scroll-down-button-container button { transform: scale(0.8); }
@media (max-width: 640px) {
  #progress-bars { display: block; }
  #progress-chart { display: none !important; }
  .scroll-hint { display: block; }
  /* the round summary fits the screen: its six columns wrap instead of scrolling */
  #quiz-summary table { display: table; width: 100%; max-width: 100%; table-layout: auto; }
  #quiz-summary table :is(th, td) { min-width: 0; padding: 4px 3px; font-size: 0.85em; }
  /* a long note title breaks; the other cells break only between words ("Flashcar d", "1 0": review 15) */
  #quiz-summary table td:nth-child(2) { overflow-wrap: anywhere; }
  /* touch-sized targets (44 px, Apple HIG / WCAG 2.5.5): the contest button and its ratings */
  #quiz-contest, #quiz-contest-box button { min-height: 44px; }
  /* phone: rows stack, except rows of buttons, which wrap */
  .row:not(.keep-row) { flex-direction: column !important; flex-wrap: nowrap !important; }
  .row:not(.keep-row) > * { width: 100% !important; min-width: 0 !important; flex: 1 1 auto !important; }
  .keep-row { flex-wrap: wrap !important; }
  /* 5 labels in one row at 390 px (the app's 32 px side padding leaves 326 px; at 14 px they took 391, review 21) */
  .tab-wrapper > .tab-container:not(.visually-hidden) > button { padding: 0 4px; font-size: 12px; }
  #chatbot { height: 48vh !important; }
  /* an empty chat is short, so the question box is on the first screen at 390 × 844 (review 11) */
  #chatbot:not(:has([data-testid="user"])) { height: 22vh !important; }
  .tree { max-height: 40vh; }
}
"""


# Gradio's status tracker announces `common.complete` / `common.error` to screen readers through an
# untranslated i18n key (review 24 heard "common.complete"); the announcement is said in words instead
SR_WORDS_JS = """
() => {
  const words = %s;
  const fix = (root) => {
    const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      const t = n.nodeValue.trim();
      if (words[t]) n.nodeValue = words[t];
    }
  };
  fix(document.body);
  new MutationObserver((ms) => ms.forEach((m) => {
    m.addedNodes.forEach((x) => x.nodeType === 3 ? fix(x.parentNode || document.body) : x.nodeType === 1 && fix(x));
    if (m.type === "characterData" && m.target.parentNode) fix(m.target.parentNode);
  })).observe(document.body, {childList: true, subtree: true, characterData: true});
}
""" % json.dumps({k: str(label(k)) for k in ("common.complete", "common.error")}, ensure_ascii=False)


def launch_options() -> dict:
    """Keyword arguments for `Blocks.launch` that style the app (css; default theme) and word its
    screen-reader announcements (SR_WORDS_JS)."""
    return {"css": CSS, "js": SR_WORDS_JS}
