"""Progress tab handlers: mastery per chapter (bar chart) and per section (a heatmap over
the outline), due counts, review history and the recommended next topics with reasons,
for one learner of a shared machine. Everything comes from `Tutor.quiz` (tutor/quiz/service.py);
the chart is tutor/quiz/progress_chart.py's PNG, so CLI and UI draw the same picture.
Wording from tutor/wording.py; a review is shown with the same verdict label as the quiz tab,
and an answer waiting for a self-rating with no score, as there.

Self-rated answers (flashcards, "check yourself", contested grades) count toward mastery with the
learner's own rating (Again 0, Hard 0.5, Good/Easy 1; tutor/quiz/progress.py), while the round
summary shows them "not scored" and leaves them out of its mean score. Both stay as they are and
each says so (`self_rated_line` here, the summary's footnote in quiz.py): a learner who practises
with flashcards expects that practice to show as progress (left out, a flashcard-only learner
would stay at 0% however well they recall, while FSRS schedules those very cards by the same
ratings), and a score the tutor never gave them should not pose as one in a round's mean.
"""

from __future__ import annotations

import hashlib
import html
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tutor.wording import label, percent, w

from .quiz import TYPE_LABEL, VERDICT, rating_label, rating_scores
from .widgets import scroll_hint

HISTORY_COLUMNS = [label(k) for k in ("progress.time_utc", "common.note", "common.type", "common.verdict", "common.score",
                                      "progress.fsrs")]
HISTORY_ROWS = 50
KIND = {k: label(f"path.kind.{k}") for k in ("review", "weak", "continue", "new")}


@dataclass
class ProgressView:
    """chart: PNG path (None when nothing to draw); heatmap / path: HTML with data-id links;
    due: Markdown line; history: rows for HISTORY_COLUMNS, newest first; notices: e.g. no CJK font;
    self_rated: the line saying how many answers counted in mastery are self-rated ("" when none)."""

    user: str
    chart: str | None
    heatmap: str
    due: str
    path: str
    history: list[list] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    self_rated: str = ""
    bars: str = ""  # chapter_bars_html: the chart's figures for phone width


def users(tutor) -> list[str]:
    """Learners known to the progress store, plus the configured default (TUTOR_USER)."""
    return sorted({tutor.settings.user, *tutor.quiz.store.users()})


def _color(m: float | None, seen: int = 1) -> str:
    """Red (0) → yellow → green (1); white when none of its notes was practised yet (red would
    read as "failed"); grey when the node has no quiz items."""
    if m is None:
        return "#e5e7eb"
    return "#ffffff" if not seen else f"hsl({round(120 * m)}, 70%, 78%)"


def chapter_bars_html(chapters: list) -> str:
    """Mastery per chapter as HTML bars, for phone width, where the chart (a 1080 px PNG) would
    shrink its text to ~6 px: one line per chapter (linked to Browse) with its bar, drawn by the
    browser at the screen's own size. The same figures as the chart (progress_chart.write_chart)."""
    rows = []
    for m in chapters:
        if m.mastery is None:
            figure, width = label("progress.no_items"), 0
        else:
            figure, width = f"{percent(m.mastery)} ({m.seen}/{m.units} {label('chart.notes')})", round(100 * m.mastery)
        rows.append(f'<li><span class="cb-head"><a data-id="{m.id}">{m.id}. {html.escape(m.title)}</a>'
                    f'<span class="cb-pct">{html.escape(figure)}</span></span>'
                    f'<span class="cb-bar"><i style="width:{width}%"></i></span></li>')
    return '<ol class="chapter-bars">' + "".join(rows) + "</ol>"


def heatmap_html(corpus, table: dict) -> str:
    """One row per chapter, one cell per section, coloured by mastery; cells link to Browse."""
    rows = [scroll_hint(), '<table class="heatmap"><tbody>']
    for ch in corpus.outline.chapters():
        m = table[ch.id]
        cells = []
        for sec in corpus.outline.children(ch.id):
            s = table[sec.id]
            tip = (f"{sec.id} {sec.title}: " + (label("progress.no_items") if s.mastery is None else
                                                 w("progress.cell", pct=percent(s.mastery), seen=s.seen, units=s.units, due=s.due)))
            unseen = " unseen" if s.mastery is not None and not s.seen else ""
            cells.append(f'<td class="cell{unseen}" style="background:{_color(s.mastery, s.seen)}" title="{html.escape(tip)}">'
                         f'<a data-id="{sec.id}">{sec.id}</a></td>')
        pct = label("progress.no_items") if m.mastery is None else str(percent(m.mastery))
        rows.append(f'<tr><th><a data-id="{ch.id}">{ch.id} {html.escape(ch.title)}</a></th><td class="pct">{pct}</td>'
                    + "".join(cells) + "</tr>")
    rows.append("</tbody></table>")
    return "".join(rows)


def due_line(cards: dict, now: datetime) -> str:
    """'due now N · next 24 h N · next 7 days N · cards N' for a user's cards."""
    dues = [c.state.due for c in cards.values()]
    now_n = sum(d <= now for d in dues)
    day = sum(now < d <= now + timedelta(days=1) for d in dues)
    week = sum(now < d <= now + timedelta(days=7) for d in dues)
    return (f"**{label('progress.due_now')}: {now_n}** · {label('progress.next_24h')}: {day} · "
            f"{label('progress.next_7d')}: {week} · {label('progress.cards')}: {len(cards)}")


def path_html(steps) -> str:
    """The learning path as a list: kind, linked note, reason."""
    if not steps:
        return f"<p>{html.escape(w('progress.nothing_yet'))}</p>"
    lis = [f'<li><b>{KIND.get(s.kind, s.kind)}</b> <a data-id="{s.node_id}">{s.node_id} {html.escape(s.title)}</a>'
           f' — <small>{html.escape(s.reason)}</small></li>' for s in steps]
    return '<ol class="path">' + "".join(lis) + "</ol>"


def is_self_rated(r) -> bool:
    """A stored review counted with the learner's own rating: a flashcard, a "check yourself"
    answer they rated, or a contested grade."""
    return r.contest is not None or "self_rated" in (r.flags or []) or r.item_type == "card"


def self_rated_line(reviews, bank=None) -> str:
    """'mastery counts your self-rated answers too: k of n …' over the reviews mastery counts
    (rated ones of items in the bank); "" when none is self-rated."""
    from tutor.quiz.progress import PENDING

    counted = [r for r in reviews if r.rating != PENDING and (bank is None or r.item_id in bank)]
    k = sum(1 for r in counted if is_self_rated(r))
    return w("progress.self_rated", k=k, n=len(counted), **rating_scores()) if k else ""


def history_rows(reviews, notes) -> list[list]:
    """The newest HISTORY_ROWS reviews as table rows, labelled as the quiz tab labels them: an
    answer waiting for a self-rating ("check") has no score yet; a contested or self-rated one
    (a "check" answer rated by the learner, every flashcard) counts with the learner's own
    rating (the rating column), not scored, as in the round summary."""
    out = []
    for r in reversed(reviews[-HISTORY_ROWS:]):
        title = notes[r.note_id].meta.title if r.note_id in notes else ""
        verdict = VERDICT[r.verdict][1] if r.verdict in VERDICT else r.verdict
        score = label("common.not_scored") if r.verdict == "check" else f"{round(100 * r.score)}%"
        if "dont_know" in (r.flags or []):  # said so, not answered wrong (review 30)
            verdict = label("quiz.dont_know")
        if r.contest:
            verdict, score = label("quiz.summary.contested"), label("common.not_scored")
        elif is_self_rated(r):  # the learner's own rating, not a grade
            verdict, score = label("quiz.summary.self_rated"), label("common.not_scored")
        elif "answer_shown" in (r.flags or []):  # answered after the hint gave it away (review 25: "正确 100%"
            # here, "not scored" in the round summary)
            verdict, score = f"{verdict} ({label('quiz.summary.answer_shown')})", label("common.not_scored")
        out.append([r.time.strftime("%Y-%m-%d %H:%M"), f"{r.note_id} {title}", TYPE_LABEL.get(r.item_type, r.item_type),
                    verdict, score, rating_label(r.rating)])
    return out


def overview(tutor, user: str | None, now: datetime | None = None, chart_dir: Path | None = None) -> ProgressView:
    """Everything the Progress tab shows for `user` (default: TUTOR_USER); when the progress
    store cannot be read, an empty view whose notice says why (one line)."""
    from sqlalchemy.exc import SQLAlchemyError

    from tutor.errors import TutorError

    user = (user or "").strip() or tutor.settings.user
    try:
        return _overview(tutor, user, now or datetime.now(timezone.utc), chart_dir)
    except TutorError as e:  # e.g. the progress store cannot be opened: one line, not a traceback
        return ProgressView(user=user, chart=None, heatmap="", due="", path="", notices=[str(e)])
    except SQLAlchemyError as e:  # the database failed while reading (server gone)
        return ProgressView(user=user, chart=None, heatmap="", due="", path="",
                            notices=[w("progress.store_failed", error=type(e).__name__)])


def _overview(tutor, user: str, now: datetime, chart_dir: Path | None) -> ProgressView:
    from tutor.quiz.progress_chart import write_chart

    q = tutor.quiz
    table = q.progress(user, now)
    chapters = [m for m in table.values() if m.level == 1]
    out_dir = Path(chart_dir or tempfile.mkdtemp(prefix="tutor-chart-"))
    chart = out_dir / f"mastery-{hashlib.sha1(user.encode()).hexdigest()[:10]}.png"  # redrawn in place
    notices = write_chart(chapters, chart, user)
    reviews = q.store.reviews(user)
    return ProgressView(user=user, chart=str(chart), heatmap=heatmap_html(tutor.corpus, table),
                        due=due_line(q.store.cards(user), now), path=path_html(q.path(user, n=8, now=now)),
                        history=history_rows(reviews, tutor.corpus.notes), notices=notices,
                        self_rated=self_rated_line(reviews, q.bank), bars=chapter_bars_html(chapters))
