"""Chat tab handlers (ui/chat.py, ui/render.py, ui/sessions.py) over the real corpus with
the hash embedder and a scripted LLM; no browser."""

from __future__ import annotations

import re
import threading

import pytest

from tests.conftest import make_settings
from tutor.rag.chat import Answer, Source
from ui.chat import EMPTY_ANSWER, KEEP, RETRYING, WORKING, model_history, respond
from ui.render import assistant_content, mark_unsupported, plain, sources_panel
from ui.sessions import StopRegistry

Q = "LoRA 为什么能减少微调的参数量？"


@pytest.fixture(scope="module")
def tutor(tmp_path_factory, fake_home):
    from tests.conftest import fake_home_copy
    from tutor.rag.embed import hash_embedder
    from tutor.llm import ScriptedLLM
    from tutor.tutor import build_tutor

    # answer_check off: these tests are about the UI, not the trust guard (tested with it on below)
    home = fake_home_copy(fake_home, tmp_path_factory.mktemp("ui") / "home")
    return build_tutor(make_settings(home, answer_check=False), llm=ScriptedLLM(), embedder=hash_embedder())


def run(tutor, message, history=None, chapter="", stop=None):
    return list(respond(tutor, message, history or [], chapter, stop))


def test_answer_streams_then_shows_footer_sources_and_key_points(tutor):
    tutor.llm.replies = ["LoRA 冻结预训练权重，只训练低秩矩阵 B 和 A [1]。"]
    ups = run(tutor, Q)
    box, first, _, status = ups[0]
    assert first[0] == {"role": "user", "content": Q} and first[1]["content"] == WORKING and status == ""
    assert box == "" and all(u[0] == KEEP for u in ups[1:])  # then never written: typing survives
    streamed = [u[1][1]["content"] for u in ups[:-1] if u[1][1]["content"] not in (WORKING, "…")]
    assert len(streamed) > 3 and streamed[-1].startswith("LoRA 冻结")  # several partial updates
    assert all(b.startswith(a) and len(a) < len(b) for a, b in zip(streamed, streamed[1:]))
    _, final, panel, status = ups[-1]
    answer = final[1]["content"]
    assert status == "" and answer.startswith("LoRA 冻结预训练权重") and "scripted" in answer
    assert "首字 first token" in answer and "tok/s" in answer
    assert final[2]["metadata"]["title"].startswith("来源 Sources") and "3.4.2" in final[2]["content"]
    assert 'data-id="3.4.2"' in panel and "要点 Key points" in panel


def test_follow_up_sends_plain_history_to_the_model(tutor):
    tutor.llm.replies = ["第一句回答 [1]。", "第二句回答。"]
    history = run(tutor, Q)[-1][1]
    run(tutor, "那 QLoRA 呢？", history)
    sent = tutor.llm.calls[-1]
    assert sent[1] == {"role": "user", "content": Q}
    assert sent[2] == {"role": "assistant", "content": "第一句回答 [1]。"}  # no footer, no sources message
    assert "QLoRA" in sent[-1]["content"]


@pytest.mark.parametrize("message,chapter,error", [("", "", "empty"), ("   ", "", "empty"), (Q, "99", "unknown chapter")])
def test_bad_input_keeps_history_and_question(tutor, message, chapter, error):
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    ups = run(tutor, message, history, chapter)
    box, shown, _, status = ups[-1]
    assert shown == history and box == message and status.startswith("⚠") and error in status


def test_stop_mid_answer_keeps_partial_text_and_frees_the_model(tutor):
    tutor.llm.replies = ["一" * 300]
    stop = threading.Event()
    ups = []
    for u in respond(tutor, Q, [], "", stop):
        ups.append(u)
        if u[1][-1]["content"].startswith("一"):
            stop.set()
    final = ups[-1][1][1]["content"]
    assert 0 < plain(final).count("一") < 300 and "已停止 / stopped" in final
    assert tutor.llm.lock.acquire(blocking=False)  # the next question can start at once
    tutor.llm.lock.release()


def test_empty_model_answer_is_replaced_by_quotes_from_the_notes(tutor):
    # answer check off in this fixture: an empty or citation-only reply is still caught
    for reply in ("", "[1]\n\n[1]\n…[66"):
        tutor.llm.replies = [reply]
        shown = run(tutor, Q)[-1][1][1]["content"]
        assert EMPTY_ANSWER not in shown and "[66" not in shown
        assert "摘录" in shown and "[1]" in shown


class EventsTutor:
    """ask_stream replaying fixed events (for event kinds the scripted model cannot make)."""

    def __init__(self, events):
        self.events = events

    def ask_stream(self, *a):
        return iter(self.events)


def answer(text, **kw):
    src = Source(1, "3.4.2", "LoRA", "Low-Rank Adaptation", 0.03, 0.9, "LoRA · 概念\nLoRA 冻结 W0。", ["c1"])
    kw.setdefault("timings", {"retrieve_ms": 12.0, "first_token_ms": 80.0, "tokens_per_s": 95.5})
    return Answer("q", text, [src], "smol", "zh", key_points=[{"n": 1, "id": "3.4.2", "text": "冻结 W0"}], **kw)


def test_replace_event_swaps_the_streamed_text():
    a = answer("- LoRA 冻结 W0 [1]", notices=["garbage_loop", "extractive_fallback"])
    ups = list(respond(EventsTutor([("sources", a.sources), ("token", "胡言乱语"), ("retry", ["loop"]),
                                    ("replace", "- LoRA 冻结 W0 [1]"), ("done", a)]), Q, [], ""))
    assert [u[1][1]["content"] for u in ups[2:5]] == ["胡言乱语", "胡言乱语", "- LoRA 冻结 W0 [1]"]
    assert ups[3][3] == RETRYING
    final = ups[-1][1][1]["content"]
    assert "直接摘录笔记" in final and "在重复" in final


def test_footer_notices_and_unsupported_sentences():
    a = answer("LoRA 冻结 W0 [1]。它发明于 1990 年。", notices=["history_dropped", "notes_dropped"])
    a.unsupported = [1]
    html = assistant_content(a)
    assert "smol · 首字 first token 80 ms · 95.5 tok/s" in html
    assert '<span class="unsupported" title="笔记中未找到 / not found in the notes">⚠ 它发明于 1990 年。</span>' in html
    assert re.search(r'LoRA 冻结 W0 <a class="cite" href="#cite--1-3.4.2"[^>]*>\[1\]</a>。<span', html)
    assert "较早的对话" in html and "部分检索到的笔记" in html
    assert plain(html) == "LoRA 冻结 W0 [1]。它发明于 1990 年。"


@pytest.mark.parametrize("text,idx,flagged", [
    ("A first claim here. A second claim here.", [0], ["A first claim here."]),
    ("第一句。\n\n第二句！第三句？", [0, 2], ["第一句。", "第三句？"]),
    ("Use `x = 1` here. Then more text.", [0], []),  # code is never wrapped
    ("Only one.", [5], []),  # an index past the end changes nothing
])
def test_mark_unsupported(text, idx, flagged):
    out = mark_unsupported(text, idx)
    assert re.findall(r'<span class="unsupported"[^>]*>⚠ (.*?)</span>', out) == flagged
    assert plain(out) == text


def test_model_history_drops_display_messages():
    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": assistant_content(answer("a [1]。"))},
            {"role": "assistant", "content": "x", "metadata": {"title": "来源 Sources (1)"}}]
    assert model_history(msgs) == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a [1]。"}]


def test_sources_panel_escapes_and_links():
    a = answer("x")
    a.sources[0].title = "<b>LoRA</b>"
    panel = sources_panel(a.sources, a.key_points)
    assert "&lt;b&gt;LoRA&lt;/b&gt;" in panel and 'data-id="3.4.2"' in panel and "冻结 W0" in panel
    assert "no sources" in sources_panel([])


def test_a_source_the_answer_never_cites_is_tagged_related():
    """Review 25: the top three notes are always listed; a card the answer took nothing from
    looked like one of its sources."""
    import dataclasses

    a = answer("- LoRA 冻结 W0 [1]")
    a.sources.append(dataclasses.replace(a.sources[0], n=2, id="4.4.4"))
    panel = sources_panel(a.sources, a.key_points, a.answer)
    first, second = panel.split('<details class="src-more">')
    assert 'data-src="1"' in first and "not cited" not in first  # the cited card first, untagged
    # review 28: the uncited one after it, folded, tagged
    assert second.startswith("<summary>相关，未引用 related, not cited (1)</summary>") and 'data-src="2"' in second
    assert "not cited" not in sources_panel(a.sources, a.key_points)  # while the answer is still coming
    assert "not cited" not in sources_panel(a.sources, a.key_points, "没有引用编号的回答")  # nothing cited: no tags


def test_a_snippet_shows_a_markdown_table_as_cells_not_pipes():
    """Review 11: 7.1.2's source card showed 「|| 动态量化 | 静态量化 | |---|---|---|」."""
    from types import SimpleNamespace

    from ui.render import snippet

    src = SimpleNamespace(snippet="动态与静态量化 · 优缺点\n| | 动态量化 | 静态量化 |\n|---|---|---|\n| 校准 | 不需要 | 需要 |")
    out = snippet(src)
    assert "|" not in out and "---" not in out and out == "动态量化 · 静态量化 校准 · 不需要 · 需要"
    # review 13a: a table run into one line kept its |---| cells
    one_line = SimpleNamespace(snippet="动态与静态量化 · 优缺点\n| | 动态量化 | 静态量化 | |---|---|---| | 校准 | 不需要 | 需要 |")
    assert snippet(one_line) == "动态量化 · 静态量化 · 校准 · 不需要 · 需要"


def test_a_snippet_shows_list_items_as_separated_text_not_dashes():
    """Review 13a: LoRA's card read 「- LoRA 冻结预训练权重 W0… - B 初始化为零…」, and a pros/cons
    chunk that ran its items into one line 「…回退。- 缺点：…」."""
    from types import SimpleNamespace

    from ui.render import snippet

    items = SimpleNamespace(snippet="LoRA · 要点\n- 冻结预训练权重 W0\n- B 初始化为零")
    assert snippet(items) == "冻结预训练权重 W0 · B 初始化为零"
    run_on = SimpleNamespace(snippet="LoRA · 优缺点\n- 优点：显存低。- 缺点：容量有限。")
    assert snippet(run_on) == "优点：显存低。 · 缺点：容量有限。"
    prose = SimpleNamespace(snippet="X · 概念\n第一行\n第二行 1 - p 的概率")
    assert snippet(prose) == "第一行 第二行 1 - p 的概率"  # prose lines and a minus stay as they are


def test_stop_registry_stops_only_the_running_answer():
    reg = StopRegistry()
    first = reg.start("s1")
    other = reg.start("s2")
    assert reg.stop("s1") and first.is_set() and not other.is_set()
    second = reg.start("s1")
    assert not second.is_set()  # an earlier Stop never cancels the next question
    reg.finish("s1", first)  # stale finish keeps the newer event
    assert reg.stop("s1") and second.is_set()
    reg.finish("s1", second)
    assert not reg.stop("s1")


def test_an_event_queued_behind_an_answer_answers_from_the_servers_chat():
    """A question sent while 讲解 Explain wrote arrived with the chat as the browser held it then
    (the progress line): the explanation was lost and the progress line stayed for good."""
    from ui.sessions import ChatLog

    log = ChatLog(size=2)
    q = {"role": "user", "content": "扩散模型的前向过程是什么？"}
    done = [q, {"role": "assistant", "content": "摘录 [1]"}, {"role": "assistant", "content": "讲解 Explanation …"}]
    log.save("s1", done, {"t1": "panel 1", "t2": "panel 2"})
    browser = [q, {"role": "assistant", "content": [{"type": "text", "text": "摘录 [1]"}]},
               {"role": "assistant", "content": WORKING}]  # Gradio may send content back as parts
    assert log.fresh("s1", browser, {"t1": "panel 1"}) == (done, {"t1": "panel 1", "t2": "panel 2"})
    assert log.fresh("s1", done, {}) == (done, {"t1": "panel 1", "t2": "panel 2"})  # in step: the server's
    # sources map too (a question sent before the browser had the last answer's turn lost its [n] links)
    own = [{"role": "user", "content": "RoPE?"}, {"role": "assistant", "content": WORKING}]
    assert log.fresh("s1", own, {}) == (own, {})  # an API client's own history is used as sent
    assert log.fresh("s2", browser, {}) == (browser, {})  # another session
    assert log.cleared("s1") == 0
    log.forget("s1")  # Clear
    assert log.fresh("s1", browser, {}) == (browser, {}) and log.cleared("s1") == 1 and log.cleared("s2") == 0
    for s in ("a", "b", "c"):
        log.save(s, done, {})
    assert log.fresh("a", browser, {}) == (browser, {})  # the oldest session was dropped


def test_guarded_garbage_answer_is_replaced_by_quotes_from_the_notes(tutor):
    from tutor.tutor import build_tutor

    guarded = build_tutor(tutor.settings.model_copy(update={"answer_check": True}), llm=tutor.llm, embedder=tutor.embedder)
    tutor.llm.replies = ["LoRA 的低秩矩阵参数在训练中不断更新。" * 40, "banana banana banana banana banana."]
    ups = run(guarded, Q)
    retry_at = [u[3] for u in ups].index(RETRYING)
    streamed = ups[retry_at][1][1]["content"]  # what the learner saw when the check failed
    final = ups[-1][1][1]["content"]
    assert streamed.startswith("LoRA 的低秩") and not plain(final).startswith("LoRA 的低秩矩阵参数在训练中")
    assert "直接摘录笔记" in final and "在重复" in final and "[1]" in plain(final)


def test_model_history_reads_what_gradio_passes_back():
    from gradio.components.chatbot import Chatbot

    bot = Chatbot()
    shown = [{"role": "user", "content": "q"}, {"role": "assistant", "content": assistant_content(answer("a [1]。"))},
             {"role": "assistant", "content": "x", "metadata": {"title": "来源 Sources (1)", "status": "done"}}]
    as_received = bot.preprocess(bot.postprocess(shown))  # content becomes [{"type": "text", "text": ...}]
    assert model_history(as_received) == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a [1]。"}]


# -- 引导模式 guide me ---------------------------------------------------------------------
def test_guide_walks_the_ladder_then_answers_on_request(tutor):
    from ui.guide import guide

    calls = len(tutor.llm.calls)
    ups = list(guide(tutor, Q, [], "", {}))
    _, shown, _, _, st = ups[-1]
    top = next(h.chunk.node_id for h in tutor.search(Q, k=tutor.settings.top_k) if tutor.quiz.bank.select(h.chunk.node_id))
    assert st["step"] == 1 and st["question"] == Q and st["note"] == top
    hints = tutor.quiz.hints(st["item"])
    assert shown[-1]["metadata"]["title"].startswith(f"引导 Guide 1/3 · {top}") and hints[0].text in shown[-1]["content"]
    assert len(tutor.llm.calls) == calls  # no model call before the answer is asked for
    _, shown, _, _, st = list(guide(tutor, "我觉得是因为参数少", shown, "", st))[-1]
    assert st["step"] == 2 and hints[1].text in shown[-1]["content"] and shown[-2]["content"] == "我觉得是因为参数少"
    tutor.llm.replies = ["LoRA 只训练低秩矩阵 [1]。"]
    ups = list(guide(tutor, "", shown, "", st, show_answer=True))
    _, final, panel, status, st = ups[-1]
    assert st == {} and status == "" and 'data-id="3.4.2"' in panel
    assert plain(final[-2]["content"]) == "LoRA 只训练低秩矩阵 [1]。" and final[:len(shown)] == shown
    assert [m["content"] for m in tutor.llm.calls[-1][1:-1]] == []  # the ladder is not sent to the model as history
    assert Q in tutor.llm.calls[-1][-1]["content"]



def test_guide_does_not_hint_on_a_note_that_only_mentions_what_is_asked(tutor):
    """Review 29: 「什么是混合精度训练？」 (no note is about it; 3.4.1 mentions it) got hints on full
    fine-tuning. A what-is question about something no outline topic is named answers plainly, said so."""
    from ui.guide import guide, pick_item

    assert pick_item(tutor, "什么是混合精度训练？", None) is None and pick_item(tutor, "什么是 LoRA？", None) is not None
    tutor.llm.replies = ["混合精度训练用 FP16 计算 [1]。"]
    ups = list(guide(tutor, "什么是混合精度训练？", [], "", {}))
    _, shown, _, _, st = ups[-1]
    assert st == {} and not any("Guide 1/3" in str(m.get("metadata", {}).get("title", "")) for m in shown)
    assert any("没有专门讲「混合精度训练」" in u[3] for u in ups), [u[3] for u in ups]

@pytest.mark.parametrize("ask", ["还是不太懂，给我完整答案", "直接告诉我答案吧", "I give up, just tell me"])
def test_guide_a_request_for_the_answer_is_the_show_answer_button(tutor, ask):
    """Review 25: 「还是不太懂，给我完整答案」 got hint 2/3; only the 显示答案 button gave the answer."""
    from ui.guide import guide

    _, shown, _, _, st = list(guide(tutor, Q, [], "", {}))[-1]
    tutor.llm.replies = ["LoRA 只训练低秩矩阵 [1]。"]
    _, final, _, _, st = list(guide(tutor, ask, shown, "", st))[-1]
    assert st == {} and final[len(shown)]["content"] == ask and plain(final[-2]["content"]) == "LoRA 只训练低秩矩阵 [1]。"
    # an attempt is still an attempt
    _, shown, _, _, st = list(guide(tutor, Q, [], "", {}))[-1]
    _, after, _, _, st = list(guide(tutor, "我觉得答案跟秩有关", shown, "", st))[-1]
    assert st["step"] == 2, after[-1]


def test_guide_empties_the_box_and_a_question_on_the_same_note_is_an_attempt(tutor):
    """Review findings: the sent text stayed in the box; 「是不是因为…？」 (a guess phrased as a
    question, on the same note) restarted the ladder with the same hint 1/3."""
    from ui.guide import guide

    box, shown, _, _, st = list(guide(tutor, Q, [], "", {}))[-1]
    assert box == "" and st["step"] == 1
    guess = "是不是因为 LoRA 只训练低秩矩阵？"
    box, shown, _, _, st2 = list(guide(tutor, guess, shown, "", st))[-1]
    assert box == "" and st2["step"] == 2 and st2["note"] == st["note"] and shown[-2]["content"] == guess


def test_guide_does_not_say_an_idea_touches_zero_key_points(tutor, monkeypatch):
    from tutor.quiz.grading import Grade
    from ui import guide as g

    _, shown, _, _, st = list(g.guide(tutor, Q, [], "", {}))[-1]
    st = dict(st, item=next(i.id for i in tutor.quiz.bank.select(st["note"]) if i.type == "short"))
    kps = tutor.quiz.item(st["item"]).key_points
    monkeypatch.setattr(tutor.quiz, "grade_text", lambda item_id, text: Grade(0.1, "wrong", 0.1, 0.1, [], [], []))
    assert g._coverage(tutor, st, g._grade(tutor, st, "我猜是把向量旋转一个角度")) == ""  # the matcher may just miss own words
    monkeypatch.setattr(tutor.quiz, "grade_text", lambda item_id, text: Grade(0.5, "partial", 0.5, 0.5, [kps[0]], [], []))
    assert g._coverage(tutor, st, g._grade(tutor, st, "低秩矩阵")).startswith(f"你的想法已涉及 1/{len(kps)} 个要点")


def _short_ladder(tutor, g):
    _, shown, _, _, st = list(g.guide(tutor, Q, [], "", {}))[-1]
    return shown, dict(st, item=next(i.id for i in tutor.quiz.bank.select(st["note"]) if i.type == "short"))


def test_guide_a_correct_attempt_is_acknowledged_and_ends_the_ladder(tutor, monkeypatch):
    """Review finding: a correct reply got no acknowledgement, only the next hint."""
    from tutor.quiz.grading import Grade
    from ui import guide as g

    shown, st = _short_ladder(tutor, g)
    kps = list(tutor.quiz.item(st["item"]).key_points)
    monkeypatch.setattr(tutor.quiz, "grade_text", lambda item_id, text: Grade(0.9, "correct", 0.9, 0.9, kps, [], []))
    tutor.llm.replies = ["LoRA 只训练低秩矩阵 [1]。"]
    _, final, _, status, st2 = list(g.guide(tutor, "冻结原权重，只训练两个低秩矩阵", shown, "", st))[-1]
    assert st2 == {} and status == ""
    ack = final[len(shown) + 1]
    assert final[len(shown)]["content"] == "冻结原权重，只训练两个低秩矩阵"
    assert ack["content"].startswith("答对了") and "You got it" in ack["content"]
    assert plain(final[len(shown) + 2]["content"]) == "LoRA 只训练低秩矩阵 [1]。"


def test_guide_the_second_attempt_is_acknowledged_before_the_answer(tutor, monkeypatch):
    from tutor.quiz.grading import Grade
    from ui import guide as g

    shown, st = _short_ladder(tutor, g)
    kps = list(tutor.quiz.item(st["item"]).key_points)
    monkeypatch.setattr(tutor.quiz, "grade_text", lambda item_id, text: Grade(0.1, "wrong", 0.1, 0.1, [], kps, []))
    _, shown, _, _, st = list(g.guide(tutor, "不知道", shown, "", st))[-1]
    assert st["step"] == 2  # a wrong attempt climbs the ladder
    monkeypatch.setattr(tutor.quiz, "grade_text", lambda item_id, text: Grade(0.5, "partial", 0.5, 0.5, kps[:1], kps[1:], []))
    tutor.llm.replies = ["LoRA 只训练低秩矩阵 [1]。"]
    _, final, _, _, st = list(g.guide(tutor, "只训练低秩矩阵", shown, "", st))[-1]
    ack = final[len(shown) + 1]["content"]
    assert st == {} and ack.startswith(f"你的想法已涉及 1/{len(kps)} 个要点") and "对照" in ack
    # "Show answer" without an attempt: no acknowledgement, the answer directly
    shown, st = _short_ladder(tutor, g)
    tutor.llm.replies = ["LoRA 只训练低秩矩阵 [1]。"]
    _, final, _, _, _ = list(g.guide(tutor, "", shown, "", st, show_answer=True))[-1]
    assert plain(final[len(shown)]["content"]) == "LoRA 只训练低秩矩阵 [1]。"


def test_guide_new_question_restarts_and_uncovered_question_is_answered_plainly(tutor):
    from ui.guide import NO_TOPIC, guide

    _, shown, _, _, st = list(guide(tutor, Q, [], "", {}))[-1]
    _, shown2, _, _, st2 = list(guide(tutor, "为什么注意力要除以根号d_k？", shown, "", st))[-1]
    assert st2["question"].startswith("为什么注意力") and st2["step"] == 1 and st2["base"] == len(shown) == 2
    assert len(shown2) == 4 and shown2[-1]["metadata"]["title"].startswith("引导 Guide 1/3")
    # review 23: a guess phrased as a question is an attempt, whatever it retrieves
    _, _, _, _, st3 = list(guide(tutor, "是不是因为一开始输出为零，不会破坏原来的天气预报？", shown, "", st))[-1]
    assert st3["question"] == st["question"] and st3["step"] == 2, st3
    tutor.llm.replies = ["plain answer"]
    ups = list(guide(tutor, "今天天气怎么样？", [], "", {}))
    assert ups[-1][4] == {} and ups[-1][3] == NO_TOPIC and ups[-1][1][0]["content"] == "今天天气怎么样？"


def test_every_guard_reason_has_notice_text():
    import inspect

    from tutor.trust import check as trust
    from ui.render import NOTICE_TEXT

    reasons = set(re.findall(r'(?:return \[|append\()"(\w+)"', inspect.getsource(trust.garbage_reasons)))
    assert {"empty", "language", "loop", "echo", "unsupported"} <= reasons
    assert all(f"garbage_{r}" in NOTICE_TEXT for r in reasons)


def test_a_question_sent_from_the_page_while_the_last_is_searched_keeps_the_chat():
    """Review 3: a second Send while the first question was still searched was dropped (Gradio's
    "once"); queued instead, it carries the chat as the browser held it then — empty, or with
    the first answer's progress line — and must be answered after the first, not instead of it."""
    from ui.sessions import ChatLog

    log = ChatLog()
    q1 = {"role": "user", "content": "LoRA 为什么省显存？"}
    done = [q1, {"role": "assistant", "content": "摘录 [1]"}, {"role": "assistant", "content": "来源 1"}]
    log.save("s", done, {"t1": "panel 1"})
    for browser in ([], [q1, {"role": "assistant", "content": WORKING}], done[:2]):
        assert log.fresh("s", browser, {}, from_page=True) == (done, {"t1": "panel 1"})
        assert log.fresh("s", browser, {}) == ((done, {"t1": "panel 1"}) if len(browser) == 2 and browser != done[:2]
                                               else (browser, {}))  # an API client's own history as sent
    other = [{"role": "user", "content": "RoPE?"}]
    assert log.fresh("s", other, {}, from_page=True) == (other, {})  # not an earlier state: as sent
    assert log.fresh("s", done, {}, from_page=True) == (done, {"t1": "panel 1"})  # in step


def test_send_tickets_tell_the_page_from_api_clients_and_a_double_send_from_a_new_question():
    from ui.sessions import ChatLog

    log = ChatLog()
    assert log.take("s") is None  # an API client's call: no ticket
    assert log.ticket("s", "q1")  # sent from the page: stop whatever runs
    assert not log.ticket("s", " q1 ")  # the same question again while it waits: stop nothing
    assert log.ticket("s", "q2")
    assert not log.ticket("s", "  ")  # a blank send stops nothing (its event reports the empty question)
    assert log.take("s") == ("q1", False)  # in the order sent, whatever text the event itself carries
    log.answering("s", "q1")
    assert log.take("s") == ("q1", True)  # answered once
    assert not log.ticket("s", "q1")  # and again while it is answered
    assert log.take("s") == ("q2", False)
    assert log.take("s") == ("", False)
    assert log.take("s") == ("q1", True)
    log.answering("s", None)
    assert log.ticket("s", "q1") and log.take("s") == ("q1", False)  # asked again later: answered again
    assert log.take("s") is None
    log.ticket("s", "q4")
    log.forget("s")  # Clear
    assert log.take("s") is None


def test_a_send_ticket_whose_event_never_ran_expires(monkeypatch):
    import ui.sessions as sessions

    log = sessions.ChatLog()
    log.ticket("s", "q1")
    assert not log.ticket("s", "q1")
    monkeypatch.setattr(sessions, "TICKET_TTL_S", 0)  # (every ticket is older than that)
    assert log.ticket("s", "q1")


def test_a_snippet_of_misconceptions_says_they_are_misconceptions():
    """Review 16: 12.1.1's card began 「"SHAP 值大就说明该特征对结果有因果影响"——…」 with no label,
    so a skimming learner could read the wrong claim as a fact."""
    from types import SimpleNamespace

    from ui.render import snippet

    src = SimpleNamespace(snippet="SHAP（SHAP）· 常见误区\n- \"SHAP 值大就说明有因果影响\"——它只反映模型如何使用特征。")
    assert snippet(src).startswith("常见误区 Common misconceptions: \"SHAP 值大")
    assert not snippet(SimpleNamespace(snippet="SHAP · 概念\nSHAP 把预测分给特征。")).startswith("常见误区")
