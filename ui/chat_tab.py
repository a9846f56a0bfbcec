"""Layout and wiring of the 对话 Chat tab. Handlers live in chat.py (and guide.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import gradio as gr

from .chat import KEEP, clear, last_question, respond
from .guide import guide
from .mathtext import CHAT_LATEX
from .render import highlight
from .sessions import ChatLog, StopRegistry, session_of
from .widgets import link_html
from tutor.wording import label, w

EXAMPLES = [
    "为什么注意力要除以根号d_k？",
    "LoRA 为什么能减少微调的参数量？",
    "扩散模型的前向过程是什么？",
    "How does RoPE encode position?",
    "What does classifier-free guidance do?",
]

TURN = re.compile(r'href="#cite-([0-9a-f]+)-')
LLM_GROUP = "llm"  # one llama.cpp context per process: every model call shares this queue

# Clicks on links inside chat messages ([n] citations: href #cite-<turn>-<n>-<id>; the
# per-answer sources list: #note-<id>): the Chatbot has no click hook and its sanitizer drops
# data-* attributes, so a document-level listener forwards them as this element's 'click'
# event (EventData: id, turn, n). Registered once, it survives every re-render.
CHAT_LINKS_JS = """
document.addEventListener('click', (e) => {
  const a = e.target.closest('#chatbot a[href^="#cite-"], #chatbot a[href^="#note-"]');
  if (!a) return;
  e.preventDefault();
  e.stopPropagation();
  const h = decodeURIComponent(a.getAttribute('href'));
  const m = h.match(/^#cite-([0-9a-f]*)-(\\d+)-(.+)$/);
  if (m) {
    trigger('click', {turn: m[1], n: m[2], id: m[3]});
    // phone width: the sources panel is below the chat; bring the card into view
    setTimeout(() => {
      const card = document.querySelector('#sources .src-hl') || document.querySelector('#sources');
      const r = card && card.getBoundingClientRect();
      if (r && (r.top > window.innerHeight || r.bottom < 0)) card.scrollIntoView({behavior: 'smooth', block: 'center'});
    }, 400);
  } else trigger('click', {id: h.slice('#note-'.length)});
}, true);
// a new question goes to the top of the chat box and stays there while its answer arrives below
// it: Gradio's autoscroll kept the box at the answer's end, so at phone width a long answer began
// above the visible area (review 10). The learner scrolling (wheel, touch, scroll bar) lets go;
// the page scrolls up to the chat box when it is above the screen.
let shownFor = 0, pinned = null;
const pin = () => {
  const box = pinned && pinned.isConnected && pinned.closest('.bubble-wrap');
  if (box) box.scrollTop += pinned.getBoundingClientRect().top - box.getBoundingClientRect().top - 8;
};
new MutationObserver(() => {
  const chat = document.querySelector('#chatbot');
  const users = chat ? chat.querySelectorAll('[data-testid=user]') : [];
  if (users.length < shownFor) shownFor = users.length;  // cleared, or another chat shown
  if (users.length > shownFor) {
    shownFor = users.length;
    pinned = users[users.length - 1];
    const top = chat.getBoundingClientRect().top;
    if (top < 0) window.scrollBy(0, top - 8);
  }
  pin();
}).observe(document.body, {childList: true, subtree: true, characterData: true});
for (const ev of ['wheel', 'touchmove', 'mousedown']) {
  document.addEventListener(ev, (e) => { if (e.target.closest && e.target.closest('#chatbot')) pinned = null; }, {passive: true});
}
"""


@dataclass
class ChatTab:
    chatbot: gr.Chatbot
    question: gr.Textbox
    sources: gr.HTML
    status: gr.Markdown
    links: gr.HTML  # clicks on chat links; EventData id, turn, n


def build(tutor, stops: StopRegistry) -> ChatTab:
    chapters = [(label("chat.all_chapters"), "")] + [(f"{c.id}. {c.title}", c.id) for c in tutor.corpus.outline.chapters()]
    quotes_first = tutor.answer_mode() == "quotes_first"
    with gr.Tab(label("chat.tab"), id="chat"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                with gr.Row():
                    chapter = gr.Dropdown(chapters, value="", label=label("chat.chapter_filter"), elem_id="chapter", min_width=200)
                    guide_on = gr.Checkbox(False, label=label("chat.guide"),
                                           elem_id="guide", min_width=200)
                bot = gr.Chatbot(label=label("chat.tab"), show_label=False, latex_delimiters=CHAT_LATEX, height="62vh", elem_id="chatbot", autoscroll=False,
                                 buttons=["copy"], feedback_options=None,
                                 placeholder=w("chat.placeholder"))
                msg = gr.Textbox(label=label("chat.question"), placeholder=w("chat.question_example"), elem_id="question",
                                 lines=1, max_lines=6)
                with gr.Row(elem_classes=["keep-row"]):
                    send = gr.Button(label("chat.send"), variant="primary", elem_id="send", min_width=80)
                    stop = gr.Button(label("chat.stop"), variant="stop", elem_id="stop", min_width=80)
                    explain = gr.Button(label("chat.explain"), elem_id="explain", min_width=80, visible=quotes_first)
                    clear_btn = gr.Button(label("chat.clear"), elem_id="clear", min_width=80)
                    show_answer = gr.Button(label("chat.show_answer"), elem_id="show-answer", min_width=80, visible=False)
                if quotes_first:
                    gr.Markdown(f"<small>{w('chat.mode_hint')}</small>", elem_id="mode-hint")
                guide_state = gr.State({})
                turns = gr.State({})  # answer's turn id (data-turn of its [n] links) → its sources panel html
                status = gr.Markdown(elem_id="status")
                links = gr.HTML("", js_on_load=CHAT_LINKS_JS, elem_id="chat-links", padding=False)
                gr.Examples(EXAMPLES, inputs=msg, label=label("chat.examples"))
            with gr.Column(scale=2, min_width=260):
                gr.Markdown(f"#### {label('chat.sources')}\n<small>{w('chat.sources_hint')}</small>")
                sources = link_html("", elem_id="sources")

    chats = ChatLog()

    def run(gen_fn, session, turns_now):
        ev = stops.start(session)
        turns_now = dict(turns_now or {})
        clears = chats.cleared(session)
        try:
            last = None
            for u in gen_fn(ev):
                if chats.cleared(session) != clears:
                    break
                last = u
                if isinstance(u[1], list):
                    chats.save(session, u[1], turns_now)
                yield (*u, turns_now)
            if chats.cleared(session) != clears:
                # Clear was pressed (review 31): the event's last update is what the page keeps when it
                # ends, so it is the cleared chat, not this run's (the box keeps what is typed)
                empty_chat, panel, status_line, _ = clear()
                yield gr.skip(), empty_chat, panel, status_line, {}, {}
                return
            if last is not None:  # remember this answer's sources for its [n] links
                msgs, panel = last[1], last[2]
                found = TURN.search(str(msgs[-1].get("content", "")) + str(msgs[-2].get("content", "")) if len(msgs) > 1 else "")
                if found and isinstance(panel, str) and panel:
                    turns_now[found.group(1)] = panel
                    chats.save(session, msgs, turns_now)
                    yield (*[gr.skip()] * 5, turns_now)
        finally:
            ev.set()  # a dropped stream must not keep the model busy
            stops.finish(session, ev)

    def on_send(message, history, chapter, guided, gstate, turns_now, request: gr.Request):
        session = session_of(request)
        sent = chats.take(session)
        if sent is not None:  # from the page: its own chat may be an earlier state of the server's
            message, again = sent
            if again:  # Send clicked (or Enter pressed) twice: the first is being answered
                yield (gr.skip(),) * 6
                return
        history, turns_now = chats.fresh(session, history, turns_now, from_page=sent is not None)
        if not guided:
            gen = lambda ev: ((*u, gr.skip()) for u in respond(tutor, message, history, chapter, ev))  # noqa: E731
        else:
            gen = lambda ev: guide(tutor, message, history, chapter, gstate, stop=ev)  # noqa: E731
        if sent is not None:  # the box was emptied when Send was pressed: keep what was typed since
            ask = gen
            gen = lambda ev: ((KEEP if u[0] == "" else u[0], *u[1:]) for u in ask(ev))  # noqa: E731
        chats.answering(session, message)
        try:
            yield from run(gen, session, turns_now)
        finally:
            chats.answering(session, None)

    def on_explain(message, history, chapter, turns_now, request: gr.Request):
        history, turns_now = chats.fresh(session_of(request), history, turns_now)
        if last_question(history) is None and (message or "").strip():
            # nothing asked yet, but a question in the box (e.g. a clicked example): explain that one
            gen = lambda ev: ((*u, gr.skip()) for u in respond(tutor, message, history, chapter, ev, "checked"))  # noqa: E731
        else:
            gen = lambda ev: ((*u, gr.skip()) for u in respond(tutor, "", history, chapter, ev, explain=True))  # noqa: E731
        yield from run(gen, session_of(request), turns_now)

    def on_show_answer(history, chapter, gstate, turns_now, request: gr.Request):
        history, turns_now = chats.fresh(session_of(request), history, turns_now)
        yield from run(lambda ev: guide(tutor, "", history, chapter, gstate, show_answer=True, stop=ev),
                       session_of(request), turns_now)

    def on_stop(request: gr.Request):
        stops.stop(session_of(request))

    def on_send_stop(message, request: gr.Request):
        # runs when Send is pressed, before the question waits in the queue: records it (on_send
        # answers from this record) and empties the box. A new question while an answer or
        # explanation is still searched or written: the learner has moved on, so that one stops
        # (marked stopped) and the new one follows it. The same question sent twice stops nothing
        # and is answered once.
        if chats.ticket(session_of(request), message):
            stops.stop(session_of(request))
        return ""

    def on_clear(request: gr.Request):
        stops.stop(session_of(request))
        chats.forget(session_of(request))
        return (*clear(), {}, {})

    def on_link(turns_now, evt: gr.EventData):
        data = getattr(evt, "_data", None) or {}
        panel = (turns_now or {}).get(str(data.get("turn", "")))
        if panel and data.get("n"):  # a citation [n]: show that answer's sources, card n marked
            return highlight(panel, data["n"])
        return gr.skip()

    outputs = [msg, bot, sources, status, guide_state, turns]
    # progress on the chat only: the question box must never show the queue's "queue: 1/1 | 0.1/19.0s"
    llm = dict(concurrency_id=LLM_GROUP, concurrency_limit=1, show_progress="minimal", show_progress_on=[bot])
    io = dict(fn=on_send, inputs=[msg, bot, chapter, guide_on, guide_state, turns], outputs=outputs, **llm)
    # "multiple": a question sent while the last is still searched or answered waits its turn
    # (Gradio's default "once" dropped it silently while the earlier send was pending)
    for trigger in (send.click, msg.submit):
        trigger(on_send_stop, msg, msg, api_visibility="private", concurrency_limit=None, queue=False,
                trigger_mode="multiple")
    send.click(api_name="chat", trigger_mode="multiple", **io)
    msg.submit(api_visibility="private", trigger_mode="multiple", **io)
    explain.click(on_explain, [msg, bot, chapter, turns], outputs, api_name="explain", **llm)
    show_answer.click(on_show_answer, [bot, chapter, guide_state, turns], outputs, api_name="guide_answer", **llm)
    guide_on.change(lambda on: (gr.Button(visible=on), {}), guide_on, [show_answer, guide_state], api_visibility="private",
                    concurrency_limit=None)
    stop.click(on_stop, None, None, api_name="stop", concurrency_limit=None, queue=False)
    clear_btn.click(on_clear, None, [bot, sources, status, msg, guide_state, turns], api_name="clear", concurrency_limit=None)
    links.click(on_link, turns, sources, api_visibility="private", concurrency_limit=None)
    return ChatTab(bot, msg, sources, status, links)
