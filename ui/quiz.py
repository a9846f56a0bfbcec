"""Quiz tab handlers: one round of items, one at a time, over `Tutor.quiz` (tutor/quiz/service.py).

A round lives in a plain dict (Gradio keeps it per browser session in gr.State):
  {"user", "scope", "mode", "items": [item id], "i": current index, "hints": hint steps
   shown for the current item, "shown_at": epoch seconds the item was shown, "result":
   the current item's graded result (dict) or None, "flipped": card back shown,
   "contesting": the learner pressed "I think I was right" and the rating buttons are up,
   "results": [result dict per answered item, with "pos": its index in "items"],
   "skipped": [{"pos", "item_id", "note_id", "note_title", "type"} per item shown and left unanswered]}
Every function takes the round and returns the new one (never mutating its argument) plus
a `QuizView` that says what to show. Answers are stored by the quiz engine the moment they
are graded, so closing the page loses nothing already answered. Every label and message comes
from tutor/wording.py (Chinese with English alongside); the verdict, score and feedback shown
are the quiz engine's Result, the same as `tutor quiz` prints for the same answer.
An automatic short-answer grade says so (「自动评分 auto-graded」); after a wrong or partial one
the learner may contest it (`contest`, then `rate`): their own rating replaces the grade
(Quiz.contest) and the result and round summary show it as contested and self-rated.
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field

from tutor.errors import TutorError
from tutor.quiz.service import can_contest
from tutor.wording import TABLE, label, text, w

from .browse import english_title

TYPE_LABEL = {t: label(f"type.{t}") for t in ("choice", "short", "card")}
VERDICT = {v: (cls, label(f"verdict.{v}")) for v, cls in (("correct", "verdict-ok"), ("partial", "verdict-partial"),
                                                          ("wrong", "verdict-bad"), ("check", "verdict-partial"))}
MODES = [(label(f"quiz.mode.{m}"), m) for m in ("mixed", "due", "weak", "new")]
TYPES = [(label("common.all"), "")] + [(label(f"quiz.filter.{t}"), t) for t in ("choice", "short", "card")]
RATINGS = [(label(f"rating.{r}"), r) for r in ("again", "hard", "good", "easy")]
LETTERS = "ABCDEF"


def rating_scores() -> dict[str, str]:
    """What a self-rating counts as toward mastery ({"again": "0%", "hard": "50%", "good": "100%"}),
    from the engine's own rule (schedule.verdict_for_rating), for the wording that says so."""
    from tutor.quiz.schedule import verdict_for_rating

    return {r: f"{round(100 * verdict_for_rating(r)[1])}%" for r in ("again", "hard", "good")}


def rating_label(rating: str) -> str:
    """「良好 Good」 for "good"; 「待自评 waiting for your rating」 for a pending one."""
    return label(f"rating.{rating}") if f"rating.{rating}" in TABLE else rating


@dataclass
class QuizView:
    """What the Quiz tab shows. kind: the current item's type, or "" (no item: before a
    round, an empty round or the summary). options: choice labels "A. …". hints: the hint
    steps shown so far. result: verdict Markdown once graded. note_id: the item's note
    (linked to Browse). message: a one-line notice or error."""

    kind: str = ""
    header: str = ""
    question: str = ""
    options: list[str] = field(default_factory=list)
    back: str = ""
    hints: list[str] = field(default_factory=list)
    result: str = ""
    note_id: str = ""
    summary: str = ""
    message: str = ""
    answered: bool = False
    more_hints: bool = False
    self_rate: bool = False  # a short answer the grader could not decide: show the rating buttons
    contest: bool = False  # an automatic wrong / partial short-answer grade: offer 「我认为我答对了 I think I was right」
    contesting: bool = False  # the learner contests it: the rating buttons under 「你的自评将替换自动评分 …」


def scope_choices(corpus) -> list[tuple[str, str]]:
    """('label', id) for 'all' and every chapter and section holding a note with quiz items."""
    with_items = {nid for nid, n in corpus.notes.items() if n.meta.quiz}
    out = [(label("common.all"), "")]
    for node in corpus.outline.nodes:
        if node.level < 3 and any(nid == node.id or nid.startswith(node.id + ".") for nid in with_items):
            en = f" · {en}" if (en := english_title(corpus, node)) else ""
            out.append((("" if node.level == 1 else "　") + f"{node.id} {node.title}{en}", node.id))
    return out


def start(tutor, user: str, scope: str | None, mode: str, type_: str | None, n: int = 10,
          now: float | None = None) -> tuple[dict, QuizView]:
    """A new round of up to n items for `user` (see Quiz.next_items). Bad input or an empty
    pool gives an empty round whose view says why and what to try."""
    user = (user or "").strip() or tutor.settings.user
    q = tutor.quiz
    empty = {"user": user, "scope": scope or "", "mode": mode, "items": [], "i": 0, "hints": 0, "shown_at": 0.0,
             "result": None, "flipped": False, "results": [], "skipped": []}
    try:
        scope = (scope or "").strip()
        sc = q.scope(**{("chapter", "section", "topic")[min(scope.count("."), 2)]: scope}) if scope else None
        items = q.next_items(user, scope=sc, mode=mode, type=type_ or None, n=int(n))
    except TutorError as e:
        return empty, QuizView(message=f"⚠ {e}")
    if not items:
        tip = text("quiz.tip.try_new") if mode in ("due", "weak") else text("quiz.tip.try_other")
        mode_text = text(f"quiz.mode.{mode}") if f"quiz.mode.{mode}" in TABLE else mode
        return empty, QuizView(message=w("quiz.nothing_to_ask", mode=mode_text, tip=tip))
    st = dict(empty, items=[i.id for i in items], shown_at=_now(now))
    if any(i.type == "short" for i in items):
        # load the grader while the learner reads and writes: the first grade is then quick
        threading.Thread(target=q.warm, name="quiz-warm", daemon=True).start()
    v = view(tutor, st)
    if len(items) < int(n):  # review 13a: "第 1/4 题" after asking for 5, with no word why
        v.message = w("quiz.fewer_items", got=len(items), asked=int(n))
    return st, v


def view(tutor, st: dict) -> QuizView:
    """The view of a round's current state."""
    if not st.get("items"):
        return QuizView(message=w("quiz.choose_scope"))
    if st["i"] >= len(st["items"]):
        return QuizView(summary=summary(st))
    q = tutor.quiz
    it = q.item(st["items"][st["i"]])
    v = QuizView(kind=it.type, note_id=it.note_id, answered=st.get("result") is not None)
    v.header = (f"{w('quiz.header', i=st['i'] + 1, n=len(st['items']))} · {TYPE_LABEL[it.type]} · {it.note_id} {q.note_title(it)}"
                + (f" · {label('quiz.generated')}" if it.generated else ""))
    v.question = it.prompt
    v.options = [f"{LETTERS[k]}. {o}" for k, o in enumerate(it.options)] + ([DONT_KNOW] if it.options else [])
    if it.type == "card" and (st.get("flipped") or v.answered):
        v.back = it.reference
    # a flipped card shows its back: hints to it make no sense any more, so neither the hints
    # shown before the flip nor the Hint button stay (the hints used still count in its rating)
    if not v.back:
        v.hints = [f"{label('quiz.hint')} {h.step}/3: {h.text}" for h in q.hints(it.id)[: st.get("hints", 0)]]
        v.more_hints = st.get("hints", 0) < 3 and not v.answered
    if v.answered:
        v.result = result_markdown(st["result"])
        v.contesting = bool(st.get("contesting"))
        v.self_rate = st["result"]["verdict"] == "check"
        v.contest = contestable(st["result"]) and not v.contesting and st.get("hints", 0) < 3
    return v


# a choice item's last option, and what a short answer may say: 「不知道」 is an answer (FSRS Again)
DONT_KNOW = label("quiz.dont_know")


def contestable(r: dict) -> bool:
    """Whether a result can be contested: an automatic wrong or partial grade of a non-empty
    short answer (not self-rated, not after the hint showed the answer)."""
    return can_contest(r.get("type", ""), r.get("verdict", ""), r.get("flags", []))


def submit(tutor, st: dict, answer: str | None, now: float | None = None) -> tuple[dict, QuizView]:
    """Grade the current choice / short item. answer: a choice label 'B. …' (or a letter)
    or the short answer text. No option chosen, or an unreadable answer, leaves the item open
    with a message; a second submit of a graded item changes nothing."""
    if not _current(st) or st.get("result") is not None:
        return st, view(tutor, st)
    it = tutor.quiz.item(st["items"][st["i"]])
    if it.type == "choice" and not (answer or "").strip():
        # no option chosen: ask for one, as the CLI does, rather than grade it wrong (review 23)
        v = view(tutor, st)
        v.message = w("quiz.choose_option")
        return st, v
    if answer == DONT_KNOW:
        answer = "不知道"  # the last option: graded wrong as said, the answer shown (review 24 had no such path)
    if it.type == "choice" and answer and len(answer) > 2 and answer[1:3] == ". " and answer[0] in LETTERS:
        answer = answer[0]  # the radio label "B. option text" → "B"
    return _grade(tutor, st, answer, now)


def contest(tutor, st: dict) -> tuple[dict, QuizView]:
    """「我认为我答对了 I think I was right」 after an automatic wrong / partial short-answer grade:
    show the rating buttons with the line 「你的自评将替换自动评分 …」 (quiz_tab; then `rate`)."""
    res = st.get("result")
    if not _current(st) or res is None or not contestable(res) or st.get("hints", 0) >= 3:
        return st, view(tutor, st)
    st = dict(st, contesting=True)
    return st, view(tutor, st)


def rate(tutor, st: dict, rating: str, now: float | None = None) -> tuple[dict, QuizView]:
    """Self-rate the current flashcard, a short answer graded "check yourself", or a contested
    automatic grade (again / hard / good / easy)."""
    if not _current(st):
        return st, view(tutor, st)
    res = st.get("result")
    if res is not None:
        contesting = bool(st.get("contesting"))
        if res["verdict"] != "check" and not contesting:
            return st, view(tutor, st)
        try:
            if contesting:
                r = tutor.quiz.contest(st["user"], res["item_id"], rating)
            else:
                r = tutor.quiz.self_rate(st["user"], res["item_id"], rating)
        except TutorError as e:
            st = dict(st, contesting=False)
            v = view(tutor, st)
            v.message = f"⚠ {e}"
            return st, v
        rd = dict(r.to_json(), answer=res["answer"], notices=[*res.get("notices", []), *r.notices], pos=res.get("pos", st["i"]))
        st = dict(st, result=rd, contesting=False, results=[*st.get("results", [])[:-1], rd])
        return st, view(tutor, st)
    return _grade(tutor, dict(st, flipped=True), rating, now)


def flip(tutor, st: dict) -> tuple[dict, QuizView]:
    """Show the current card's back."""
    if not _current(st):
        return st, view(tutor, st)
    st = dict(st, flipped=True)
    return st, view(tutor, st)


def hint(tutor, st: dict) -> tuple[dict, QuizView]:
    """One more step of the hint ladder (concept → key point as a question → the answer).
    Hints used are passed to grading: any hint rules out Easy, the third counts as Again."""
    if not _current(st) or st.get("result") is not None or st.get("flipped"):
        return st, view(tutor, st)
    st = dict(st, hints=min(3, st.get("hints", 0) + 1))
    return st, view(tutor, st)


def next_item(tutor, st: dict, now: float | None = None) -> tuple[dict, QuizView]:
    """Move to the next item (an unanswered one is skipped: not graded, listed as skipped in the
    summary); past the last: the summary. A "check yourself" answer left unrated gets one
    reminder (the item stays); pressing again moves on and leaves it unscheduled."""
    if not st.get("items"):
        return st, view(tutor, st)
    if _unrated(st):
        return _remind(tutor, st)
    st = dict(_skip(tutor, st), i=min(st["i"] + 1, len(st["items"])), hints=0, result=None, flipped=False, contesting=False, reminded=False,
              shown_at=_now(now))
    return st, view(tutor, st)


def finish(tutor, st: dict) -> tuple[dict, QuizView]:
    """End the round now and show its summary (after one reminder, like `next_item`, when the
    current answer waits for a self-rating)."""
    if not st.get("items"):
        return st, view(tutor, st)
    if _unrated(st):
        return _remind(tutor, st)
    st = dict(_skip(tutor, st), i=len(st["items"]), result=None, contesting=False)
    return st, view(tutor, st)


def result_markdown(r: dict) -> str:
    """Verdict, score, FSRS rating and next review, feedback and the right answer. An automatic
    short-answer grade says 「自动评分 auto-graded」; a contested one names the grade it replaced."""
    cls, name = VERDICT[r["verdict"]]
    name = label("quiz.dont_know") if "dont_know" in r.get("flags", []) else name  # said so, not answered wrong (review 30)
    nxt = f'{label("common.next_review")} {r["due"][:16].replace("T", " ")} UTC'
    flags = r.get("flags", [])
    if r["verdict"] == "check":
        head = f'<span class="{cls}">{name}</span> · {w("quiz.rate_yourself")}'
    elif "self_rated" in flags or r["type"] == "card":  # the learner's own rating: no verdict name, which reads as a grade
        head = f'<span class="{cls}">{label("quiz.your_rating")} {rating_label(r["rating"])}</span> · {nxt}'
    elif "answer_shown" in flags:  # answered after the hint gave it away: no score, as in the summary (review 25)
        head = (f'<span class="{cls}">{name}</span> ({label("quiz.summary.answer_shown")}) · {label("common.not_scored")} · '
                f'FSRS {rating_label(r["rating"])} · {nxt}')
    else:
        auto = f'{label("quiz.auto_graded")} · ' if r["type"] == "short" else ""
        head = (f'<span class="{cls}">{name}</span> · {auto}{label("common.score")} {round(100 * r["score"])}% · '
                f'FSRS {rating_label(r["rating"])} · {nxt}')
    lines = [head, ""]
    if "contested" in flags and r.get("graded"):
        was = r["graded"]["verdict"]
        lines += [f'_{w("quiz.contested", verdict=text(f"verdict.{was}"))}_', ""]
    lines += [html.escape(x) for x in r["feedback"].splitlines()]
    # the reference stays once shown: a learner who rates themselves (after "check yourself" or a
    # contest) Good or Easy gets the verdict "correct", yet just compared their answer with it
    if r["type"] != "card" and (r["verdict"] != "correct" or "self_rated" in flags):
        lines += ["", f"**{label('quiz.answer')}:** {html.escape(r['correct_answer'])}"]
    # (the answer-shown notice says what its feedback line already said: once is enough, review 25)
    lines += [f"_⚠ {html.escape(n)}_" for n in r.get("notices", []) if not ("answer_shown" in flags and n == w("notice.answer_shown"))]
    return "  \n".join(lines)


def _shown_verdicts(shown: list[dict]) -> str:
    """The verdicts of the answers given after a hint showed the answer, e.g. " (不正确 Wrong 1)", so
    the count line agrees with their rows ("不正确 Wrong (看过答案)"; review 28 read "Wrong 0" beside one)."""
    n = {v: sum(1 for r in shown if r["verdict"] == v) for v in VERDICT}
    return " (" + ", ".join(f"{VERDICT[v][1]} {n[v]}" for v in VERDICT if n[v]) + ")" if any(n.values()) else ""


def summary(st: dict) -> str:
    """Round summary: counts by verdict, mean score, one row per item answered or skipped (in
    the round's order; a skipped one is not scored and not scheduled), notes to review."""
    rs = st.get("results", [])
    skipped = st.get("skipped", [])
    if not rs and not skipped:
        return w("quiz.summary.none")
    # an answer given after the hint showed it counts apart (review 22: it was a 正确 in the counts
    # and "not scored" in its row)
    shown = [r for r in rs if "answer_shown" in r.get("flags", [])]
    graded = [r for r in rs if "self_rated" not in r.get("flags", []) and r["type"] != "card" and r not in shown]
    counts = {v: sum(1 for r in graded if r["verdict"] == v) for v in VERDICT}
    counts["contested"] = sum(1 for r in rs if "contested" in r.get("flags", []))
    counts["self"] = len(rs) - len(graded) - len(shown) - counts["contested"]
    # the mean of the scores the table shows: self-rated and "check yourself" rows say "not scored"
    scored = [r["score"] for r in graded if r["verdict"] != "check" and "answer_shown" not in r.get("flags", [])]
    # (how many it is over: "mean score 0%" over one 不知道, beside two self-rated answers, read as a verdict
    # on the round, review 25)
    mean = (f" · {label('quiz.summary.mean')} **{round(100 * sum(scored) / len(scored))}%** {label('quiz.summary.mean_of', n=len(scored))}"
            if scored else "")
    heads = ("#", label("common.note"), label("common.type"), label("common.verdict"), label("common.score"),
             label("common.next_review"))
    rows = [f"### {w('quiz.summary.title', n=len(rs))}",
            " · ".join(f"{VERDICT[v][1]} **{counts[v]}**" for v in ("correct", "partial", "wrong"))
            + (f" · {label('quiz.summary.answer_shown')} **{len(shown)}**" + _shown_verdicts(shown) if shown else "")
            + (f" · {label('quiz.summary.self_rated')} **{counts['self']}**" if counts["self"] else "")
            + (f" · {label('quiz.summary.contested')} **{counts['contested']}**" if counts["contested"] else "")
            + (f" · {label('quiz.summary.to_rate')} **{counts['check']}**" if counts["check"] else "")
            + (f" · {label('quiz.summary.skipped')} **{len(skipped)}**" if skipped else "")
            + f"{mean} · {label('common.user')} {html.escape(st['user'])}", "",
            "| " + " | ".join(heads) + " |", "|---|---|---|---|---|---|"]
    order = sorted([(r.get("pos", k), 0, r) for k, r in enumerate(rs)] + [(r["pos"], 1, r) for r in skipped],
                   key=lambda x: x[:2])
    for k, (_, was_skipped, r) in enumerate(order, 1):
        if was_skipped:
            rows.append(f"| {k} | {r['note_id']} {html.escape(r['note_title'])} | {TYPE_LABEL.get(r['type'], r['type'])} "
                        f"| {label('quiz.summary.skipped')} | {label('common.not_scored')} | {label('quiz.summary.unchanged')} |")
            continue
        selfr = "self_rated" in r.get("flags", []) or r["type"] == "card"
        kind = "quiz.summary.contested" if "contested" in r.get("flags", []) else "quiz.summary.self_rated"
        verdict = f"{label(kind)}: {rating_label(r['rating'])}" if selfr else VERDICT[r["verdict"]][1]
        verdict = label("quiz.dont_know") if "dont_know" in r.get("flags", []) else verdict
        gave_away = r in shown  # answered after the hint gave the answer away
        verdict += f" ({label('quiz.summary.answer_shown')})" if gave_away else ""
        score = label("common.not_scored") if selfr or gave_away or r["verdict"] == "check" else f"{round(100 * r['score'])}%"
        due = label("common.not_scheduled") if r["verdict"] == "check" else r["due"][:10]
        rows.append(f"| {k} | {r['note_id']} {html.escape(r['note_title'])} | {TYPE_LABEL.get(r['type'], r['type'])} | {verdict} "
                    f"| {score} | {due} |")
    review = sorted({f"{r['note_id']} {r['note_title']}" for r in rs if r["verdict"] != "correct" or r in shown})
    if review:
        rows += ["", f"**{label('quiz.summary.review')}:** " + "；".join(html.escape(x) for x in review)]
    if counts["self"] or counts["contested"]:  # "not scored" here, yet they count in Progress: say so (ui/progress.py)
        rows += ["", f"<small>{w('quiz.summary.self_rated_note', **rating_scores())}</small>"]
    return "\n".join(rows)


def _grade(tutor, st: dict, answer: str | None, now: float | None) -> tuple[dict, QuizView]:
    q = tutor.quiz
    item_id = st["items"][st["i"]]
    latency = max(0, int((_now(now) - st.get("shown_at", _now(now))) * 1000))
    try:
        r = q.grade(st["user"], item_id, answer, latency_ms=latency, hints_used=st.get("hints", 0))
    except TutorError as e:
        v = view(tutor, st)
        v.message = f"⚠ {e}"
        return st, v
    rd = dict(r.to_json(), pos=st["i"])
    st = dict(st, result=rd, results=[*st.get("results", []), rd])
    return st, view(tutor, st)


def _unrated(st: dict) -> bool:
    """The current answer is "check yourself", not yet rated, and no reminder was shown for it."""
    r = st.get("result") if _current(st) else None
    return bool(r) and r["verdict"] == "check" and "self_rated" not in r.get("flags", []) and not st.get("reminded")


def _remind(tutor, st: dict) -> tuple[dict, QuizView]:
    st = dict(st, reminded=True)
    v = view(tutor, st)
    v.message = w("quiz.unrated_reminder")
    return st, v


def _skip(tutor, st: dict) -> dict:
    """The round with its current item recorded as skipped when it was shown and left unanswered."""
    if not _current(st) or st.get("result") is not None:
        return st
    q = tutor.quiz
    it = q.item(st["items"][st["i"]])
    row = {"pos": st["i"], "item_id": it.id, "note_id": it.note_id, "note_title": q.note_title(it), "type": it.type}
    return dict(st, skipped=[*st.get("skipped", []), row])


def _current(st: dict) -> bool:
    return bool(st.get("items")) and st.get("i", 0) < len(st["items"])


def _now(now: float | None) -> float:
    return time.time() if now is None else now
