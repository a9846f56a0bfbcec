"""CLI for quizzes: `tutor quiz`, `tutor progress`, `tutor path`, `tutor quiz-gen`.

A thin client of `Tutor.quiz` (quiz.py). The quiz reads answers line by line from stdin,
so it works in a terminal and with scripted input; each answer is stored the moment it is
submitted. In a question: `?` shows the next hint, `/skip` skips, `/quit` ends the round
(Ctrl-D too). After an automatic wrong or partial grade of a short answer, Enter goes on and
`r` (or a rating 1-4 at once) contests it: the learner's own rating replaces the grade
(Quiz.contest); anything else is answered with one line and asked again in a terminal, and
with scripted input is taken as the next item's answer (scripts written before contests keep working). What the learner reads is in Chinese with English alongside (tutor/wording.py);
JSON output (--json) keeps the fields and values DESIGN.md fixes.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tutor.config import Settings
from tutor.errors import TutorError
from tutor.quiz.service import can_contest
from tutor.wording import TABLE, label, text, w

VERDICT_STYLE = {"correct": ("✓", "green"), "partial": ("~", "yellow"), "wrong": ("✗", "red"), "check": ("?", "cyan")}


def _tutor():
    from tutor.tutor import build_tutor

    return build_tutor(Settings())


def _parse_now(now: Optional[str]) -> Optional[datetime]:
    if not now:
        return None
    try:
        from tutor.quiz.schedule import as_utc

        return as_utc(datetime.fromisoformat(now))
    except ValueError:
        raise TutorError(f"--now {now!r} is not an ISO date; write it like 2025-03-01 or 2025-03-01T09:30") from None


_PUSHED_BACK: list[str] = []  # a scripted answer read at the contest prompt, kept for the next item


def _ask(prompt: str) -> Optional[str]:
    """One line from stdin (or the line pushed back); None on end of input."""
    if _PUSHED_BACK:
        print(prompt + _PUSHED_BACK[0])
        return _PUSHED_BACK.pop(0)
    try:
        return input(prompt)
    except (EOFError, KeyboardInterrupt):
        return None


@contextmanager
def _interrupt_after_saving():
    """Hold Ctrl-C while an answer is graded and stored: the answer is saved, then the round
    stops (the yielded list is non-empty when Ctrl-C came). Only the main thread owns SIGINT."""
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return
    old = signal.signal(signal.SIGINT, lambda *_: got.append(1))
    try:
        yield got
    finally:
        signal.signal(signal.SIGINT, old)


def _self_rate(console: Console, q, user: str, r, now):
    """After a "check yourself" verdict: ask for the learner's own rating; the answer is
    already stored, and without a rating the card simply stays due."""
    while True:
        line = _ask(w("cli.quiz.prompt.self_rate") + "> ")
        if line is not None and not line.strip():
            console.print(f"[yellow]{escape(w('cli.quiz.rate_again'))}[/]")
            continue
        if line is None or line.strip() in ("/quit", "/exit", "/skip"):
            console.print(f"[yellow]{escape(label('cli.quiz.notice'))}:[/] {escape(w('cli.quiz.saved_pending'))}")
            return r, line is None or line.strip() != "/skip"
        try:
            out = q.self_rate(user, r.item_id, line, now=now)
        except q.BadAnswer as e:
            console.print(f"[red]{escape(str(e))}[/]")
            continue
        out.answer = r.answer
        return out, False


_RATING_WORDS = {"1", "2", "3", "4", "again", "hard", "good", "easy", "a", "h", "g", "e"}


def _contestable(r, hints: int) -> bool:
    """An automatic wrong / partial grade of a non-empty short answer given before the hint showed it."""
    return hints < 3 and can_contest(r.type, r.verdict, r.flags)


def _contest(console: Console, q, user: str, r, now):
    """After an automatic wrong / partial grade: Enter (or /skip) goes on; `r` asks for a rating,
    or a rating typed at once (1-4 or its name) contests the grade (Quiz.contest). Returns the
    result (contested or not) and whether the round should stop (/quit, end of input)."""
    while True:
        line = _ask(w("cli.quiz.contest_prompt") + "> ")
        if line is None or line.strip() in ("/quit", "/exit"):
            return r, True
        pick = line.strip().lower()
        if pick in ("", "/skip"):
            return r, False
        if pick == "r":
            line = _ask(w("cli.quiz.contest_rating") + "> ")
            if line is None or line.strip() in ("/quit", "/exit"):
                return r, True
            pick = line.strip().lower()
        if pick not in _RATING_WORDS:
            if not sys.stdin.isatty():  # scripted input written before contests existed: the next answer
                _PUSHED_BACK.append(line)
                return r, False
            console.print(f"[yellow]{escape(w('cli.quiz.contest_again'))}[/]")
            continue
        try:
            return q.contest(user, r.item_id, pick, now=now), False
        except q.BadAnswer as e:  # nothing to contest after all (e.g. stored by an older version)
            console.print(f"[red]{escape(str(e))}[/]")
            return r, False


def run_quiz(console: Console, t, user: str, scope: Optional[str], mode: str, type_: Optional[str], n: int,
             now: Optional[datetime]) -> list:
    """The interactive round; returns the Results."""
    _PUSHED_BACK.clear()  # a scripted line left over from an earlier round is not this round's answer
    q = t.quiz
    items = q.next_items(user, scope=scope, mode=mode, type=type_, n=n, now=now)
    where = text("cli.quiz.scope", scope=scope) if scope else text("cli.quiz.all_chapters")
    mode_text = text(f"quiz.mode.{mode}") if f"quiz.mode.{mode}" in TABLE else mode
    if not items:
        tip = text("cli.quiz.tip_new") if mode in ("due", "weak") else text("cli.quiz.tip_other")
        console.print(escape(w("cli.quiz.nothing", user=user, where=where, mode=mode_text, tip=tip)))
        return []
    if any(i.type == "short" for i in items):
        # load the embedding model while the learner reads the first question
        threading.Thread(target=lambda: q.grader, daemon=True).start()
    console.print(escape(w("cli.quiz.start", user=user, where=where, mode=mode_text, n=len(items))))
    results = []
    for k, it in enumerate(items, 1):
        title = q.note_title(it)
        kind = label(f"type.{it.type}")
        console.rule(f"{k}/{len(items)} · {it.note_id} {escape(title)} · {kind}" + (f" · {label('quiz.generated')}" if it.generated else ""))
        console.print(escape(it.prompt), style="bold")
        if it.type == "choice":
            for j, o in enumerate(it.options):
                console.print(f"  {'ABCDEF'[j]}. {escape(o)}")
        step = 0
        # piped or pasted input has no meaningful answer time (0 ms answers are not "easy")
        timed = sys.stdin.isatty()
        t0 = time.monotonic()
        latency = None
        answer: Optional[str] = None
        quit_now = False
        while True:
            prompt = w(f"cli.quiz.prompt.{it.type}") + "> "
            line = _ask(prompt)
            if line is None or line.strip() in ("/quit", "/exit"):
                quit_now = True
                break
            if line.strip() == "/skip":
                break
            if line.strip() in ("?", "/hint"):
                step = min(step + 1, 3)
                h = q.hint(it.id, step)
                console.print(f"[cyan]{label('cli.quiz.hint')} {h.step}/3:[/] {escape(h.text)}")
                continue
            if not line.strip() and it.type != "card" and (timed or it.type == "choice"):
                # an Enter pressed by accident is no answer: graded, it cost an FSRS "Again". A choice
                # item asks again even piped, as for a letter that is no option (review 17); a piped
                # empty short answer stays "no answer" (a script's way to leave one blank)
                console.print(f"[yellow]{escape(w('cli.quiz.empty_answer'))}[/]")
                continue
            if it.type == "card":
                latency = int((time.monotonic() - t0) * 1000) if timed else None
                console.print(f"[cyan]{label('quiz.back')}:[/] {escape(it.reference)}")
                rating = _ask(w("cli.quiz.prompt.card_rating") + "> ")
                if rating is None:
                    quit_now = True
                    break
                answer = rating
            else:
                latency = int((time.monotonic() - t0) * 1000) if timed else None
                answer = line
            with _interrupt_after_saving() as interrupted:
                try:
                    r = q.grade(user, it.id, answer, latency_ms=latency, now=now, hints_used=step)
                except q.BadAnswer as e:
                    console.print(f"[red]{escape(str(e))}[/]")
                    answer = None
                    continue
            _show_result(console, r)
            if interrupted:
                results.append(r)
                console.print(f"[yellow]{escape(w('cli.quiz.interrupted'))}[/]")
                quit_now = True
                break
            if r.verdict == "check":
                r, quit_now = _self_rate(console, q, user, r, now)
                if r.verdict != "check":
                    _show_result(console, r)
            elif _contestable(r, step):
                r, quit_now = _contest(console, q, user, r, now)
                if "contested" in r.flags:
                    _show_result(console, r)
            results.append(r)
            break
        if quit_now:
            break
    _summary(console, results, q.store.url, user)
    return results


def _show_result(console: Console, r) -> None:
    """A graded answer as the quiz tab shows it: the same verdict label, score and feedback."""
    mark, color = VERDICT_STYLE[r.verdict]
    for n in r.notices:
        console.print(f"[yellow]{escape(label('cli.quiz.notice'))}:[/] {escape(n)}")
    due = r.due.strftime("%Y-%m-%d %H:%M UTC")
    verdict = label(f"verdict.{r.verdict}")
    if r.verdict == "check":
        console.print(f"[{color}]{mark} {verdict}[/] · {escape(w('cli.quiz.not_scheduled'))}")
    elif "self_rated" in r.flags or r.type == "card":  # a flashcard's rating is the learner's own
        console.print(f"[{color}]{mark} {label('quiz.your_rating')} {label(f'rating.{r.rating}')}[/] · "
                      f"{label('common.next_review')} {due}")
        if "contested" in r.flags and r.graded:
            console.print(escape(w("quiz.contested", verdict=text(f"verdict.{r.graded['verdict']}"))))
    else:
        auto = f"{label('quiz.auto_graded')} · " if r.type == "short" else ""
        console.print(f"[{color}]{mark} {verdict}[/] · {auto}{label('common.score')} {round(100 * r.score)}% · "
                      f"FSRS {label(f'rating.{r.rating}')} · {label('common.next_review')} {due}")
    console.print(escape(r.feedback))
    if r.type != "card" and r.verdict != "correct":
        console.print(f"[dim]{label('quiz.answer')}:[/] {escape(r.correct_answer)}")
    if r.explanation:
        console.print(f"[dim]{label('cli.quiz.rubric')}:[/] {escape(r.explanation)}")


def _item_cell(r) -> str:
    """The summary's item column: note id, title and type (review 11: item ids meant nothing)."""
    return f"{r.note_id} {r.note_title} · {label(f'type.{r.type}')}"


def _summary(console: Console, results: list, url: str, user: str) -> None:
    if not results:
        console.print(escape(w("cli.quiz.no_answers")))
        return
    # the title on its own line: as a table title rich would wrap it to the table's width
    console.print(escape(w("cli.quiz.summary_title", n=len(results))))
    tab = Table()
    for col in ("#", label("cli.quiz.item"), label("common.verdict"), label("common.score"), "FSRS", label("common.next_review")):
        tab.add_column(col)
    for k, r in enumerate(results, 1):
        if r.verdict == "check":  # waiting for the learner's own rating: nothing scheduled
            tab.add_row(str(k), _item_cell(r), label("verdict.check"), label("common.not_scored"), label("rating.pending"),
                        label("common.not_scheduled"))
        elif "self_rated" in r.flags or r.type == "card":
            kind = "quiz.summary.contested" if "contested" in r.flags else "quiz.summary.self_rated"
            tab.add_row(str(k), _item_cell(r), label(kind), label("common.not_scored"), label(f"rating.{r.rating}"),
                        r.due.strftime("%Y-%m-%d %H:%M"))
        elif "answer_shown" in r.flags:  # answered after the hint gave the answer away: not scored
            tab.add_row(str(k), _item_cell(r), f"{label(f'verdict.{r.verdict}')} ({label('quiz.summary.answer_shown')})",
                        label("common.not_scored"), label(f"rating.{r.rating}"), r.due.strftime("%Y-%m-%d %H:%M"))
        else:
            tab.add_row(str(k), _item_cell(r), label(f"verdict.{r.verdict}"), f"{round(100 * r.score)}%", label(f"rating.{r.rating}"),
                        r.due.strftime("%Y-%m-%d %H:%M"))
    console.print(tab)
    graded = [r for r in results if "self_rated" not in r.flags and r.type != "card"]
    counts = {v: sum(1 for r in graded if r.verdict == v) for v in ("correct", "partial", "wrong", "check")}
    contested = sum(1 for r in results if "contested" in r.flags)
    selfr = len(results) - len(graded) - contested
    parts = [f"{label(f'verdict.{v}')} {counts[v]}" for v in ("correct", "partial", "wrong")]
    if selfr:
        parts.append(f"{label('quiz.summary.self_rated')} {selfr}")
    if contested:
        parts.append(f"{label('quiz.summary.contested')} {contested}")
    if counts["check"]:
        parts.append(f"{label('quiz.summary.to_rate')} {counts['check']}")
    where = url.split('///')[-1] if url.startswith('sqlite') else url.split('@')[-1]
    console.print(escape(" · ".join(parts) + " — " + w("cli.quiz.saved", user=user, where=where)))


def _user(given: Optional[str], default: str) -> str:
    """--user, or the default when not given. Raises TutorError for a blank name (review 17: `--user ""`
    silently showed the default learner's progress)."""
    if given is None:
        return default
    if not given.strip():
        raise TutorError(w("error.blank_user"))
    return given


def register(app: typer.Typer) -> None:
    @app.command()
    def quiz(chapter: Optional[str] = typer.Option(None, "--chapter", help="Only items of this chapter (1-16)."),
             section: Optional[str] = typer.Option(None, "--section", help="Only items of this section, e.g. 3.4."),
             topic: Optional[str] = typer.Option(None, "--topic", help="Only items of this topic, e.g. 3.4.2."),
             mode: str = typer.Option("mixed", "--mode", help="due | weak | new | mixed (due cards first, then weak and new)."),
             type_: Optional[str] = typer.Option(None, "--type", help="choice | short | card (default: all)."),
             n: int = typer.Option(10, "-n", min=1, max=200, help="Number of questions."),
             user: Optional[str] = typer.Option(None, "--user", help="Learner name (default: TUTOR_USER or 'default')."),
             now: Optional[str] = typer.Option(None, "--now", hidden=True, help="Pretend it is this UTC time (ISO), for demos and tests.")):
        """Quiz yourself: single choice, short answers graded with feedback, flashcards; FSRS schedules reviews."""
        t = _tutor()
        user = _user(user, t.settings.user)
        scope = t.quiz.scope(chapter, section, topic)
        # piped output (scripts) gets whole lines: rich would otherwise break the bilingual ones at 80 columns
        run_quiz(Console(highlight=False, soft_wrap=not sys.stdout.isatty()), t, user, scope, mode, type_, n, _parse_now(now))

    @app.command()
    def progress(user: Optional[str] = typer.Option(None, "--user", help="Learner name (default: TUTOR_USER or 'default')."),
                 png: Optional[Path] = typer.Option(None, "--png", help="Also write a bar chart of mastery per chapter to this PNG file."),
                 as_json: bool = typer.Option(False, "--json", help="Print mastery of every chapter, section and topic as JSON."),
                 export: Optional[Path] = typer.Option(None, "--export", help="Write this user's progress (cards and reviews) to a JSON file."),
                 import_: Optional[Path] = typer.Option(None, "--import", help="Merge a progress JSON file (from --export) into this user."),
                 now: Optional[str] = typer.Option(None, "--now", hidden=True, help="Pretend it is this UTC time (ISO).")):
        """Mastery per chapter (recent grades + FSRS retrievability), optional chart, export / import."""
        t = _tutor()
        q = t.quiz
        user = _user(user, t.settings.user)
        if import_:
            try:
                data = json.loads(import_.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                raise TutorError(w("error.bad_import_file", path=import_, kind=e.__class__.__name__)) from None
            rep = q.import_(data, user)
            typer.echo(w("progress.imported", user=rep["user"], reviews=rep["reviews_added"], cards=rep["cards_updated"]), err=as_json)
        table = q.progress(user, _parse_now(now))
        chapters = [m for m in table.values() if m.level == 1]
        if export:
            export.parent.mkdir(parents=True, exist_ok=True)
            export.write_text(json.dumps(q.export(user), ensure_ascii=False, indent=1), encoding="utf-8")
            typer.echo(w("progress.wrote", path=export), err=as_json)
        if png:
            for note in _chart(chapters, png, user):
                typer.echo(f"{label('cli.quiz.notice')}: {note}", err=True)
            typer.echo(w("progress.wrote", path=png), err=as_json)
        if as_json:
            sys.stdout.write(json.dumps({"user": user, "chapters": [m.to_json() for m in chapters],
                                         "sections": [m.to_json() for m in table.values() if m.level == 2],
                                         "topics": [m.to_json() for m in table.values() if m.level == 3]},
                                        ensure_ascii=False, indent=2) + "\n")
            return
        c = Console(highlight=False)
        c.print(escape(f"{label('progress.by_chapter')} — {user}"))
        tab = Table()
        for key in ("progress.chapter", "progress.title", "progress.mastery", "progress.notes_seen", "progress.items_reviewed",
                    "progress.due_now", "progress.reviews"):
            tab.add_column(label(key))
        for m in chapters:
            if m.mastery is None:
                tab.add_row(m.id, escape(m.title), label("progress.no_items"), "", "", "", "")
            else:
                tab.add_row(m.id, escape(m.title), f"{round(100 * m.mastery)}%", f"{m.seen}/{m.units}", f"{m.reviewed}/{m.items}",
                            str(m.due), str(m.reviews))
        c.print(tab)

    @app.command()
    def path(user: Optional[str] = typer.Option(None, "--user", help="Learner name (default: TUTOR_USER or 'default')."),
             n: int = typer.Option(10, "-n", min=1, max=100, help="Number of steps."),
             as_json: bool = typer.Option(False, "--json", help="Print the steps as JSON."),
             now: Optional[str] = typer.Option(None, "--now", hidden=True, help="Pretend it is this UTC time (ISO).")):
        """What to study next: due reviews, then weak topics whose prerequisites are mastered, then new topics."""
        t = _tutor()
        user = _user(user, t.settings.user)
        steps = t.quiz.path(user, n=n, now=_parse_now(now))
        if as_json:
            sys.stdout.write(json.dumps({"user": user, "steps": [s.to_json() for s in steps]}, ensure_ascii=False, indent=2) + "\n")
            return
        c = Console(highlight=False)
        if not steps:
            c.print(escape(w("path.all_done")))
        for k, s in enumerate(steps, 1):
            flag = {1: "--chapter", 2: "--section", 3: "--topic"}[s.node_id.count(".") + 1]
            c.print(f"{k}. [bold]{label(f'path.kind.{s.kind}')}[/] {s.node_id} {escape(s.title)} — {escape(s.reason)}  "
                    f"[dim](tutor quiz {flag} {s.node_id})[/]")

    @app.command("quiz-gen")
    def quiz_gen(chapter: Optional[str] = typer.Option(None, "--chapter", help="Only notes of this chapter."),
                 section: Optional[str] = typer.Option(None, "--section", help="Only notes of this section."),
                 topic: Optional[str] = typer.Option(None, "--topic", help="Only this note."),
                 force: bool = typer.Option(False, "--force", help="Regenerate even when the note has not changed."),
                 as_json: bool = typer.Option(False, "--json", help="Print what happened as JSON.")):
        """Have the chat model write new quiz items (JSON-schema constrained, validated, retried once, stored)."""
        t = _tutor()
        scope = t.quiz.scope(chapter, section, topic)

        def on_note(nid, outcomes):
            if not as_json:
                kept = sum(1 for o in outcomes if o.payload)
                errs = "; ".join(e for o in outcomes for e in o.errors)[:200]
                typer.echo(w("cli.gen.kept", id=nid, kept=kept, n=len(outcomes)) + (f" ({label('cli.gen.rejected')}: {errs})" if errs else ""))

        out = t.quiz.generate(scope, force=force, on_note=on_note)
        if as_json:
            sys.stdout.write(json.dumps({nid: [o.__dict__ for o in os] for nid, os in out.items()}, ensure_ascii=False, indent=2) + "\n")
        elif not out:
            typer.echo(w("cli.gen.up_to_date"))


def _chart(chapters, png: Path, user: str) -> list[str]:
    from tutor.quiz.progress_chart import write_chart

    return write_chart(chapters, png, user)
