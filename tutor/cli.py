"""The `tutor` command (Typer). A thin client of `Tutor`: parse, call, print.

Exit codes (DESIGN.md §4): 0 ok, 2 bad input or configuration (one line on stderr saying how
to fix it), 1 unexpected error. Other modules add command groups through `register(app)`.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from typing import Optional

import typer

from tutor.config import Settings
from tutor.errors import TutorError
from tutor.text import clean_text

try:  # typer 0.2x raises its own copy of click's exceptions; older typer raises click's
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import NoArgsIsHelpError, UsageError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Offline AI/ML tutor: hybrid search over the notes, cited answers from a local GGUF model, quizzes.")

# command groups living in their own modules; each defines register(app)
EXTENSIONS = ("tutor.quiz.quiz_cli", "tutor.serve.model_cli", "tutor.evaluate.eval_cli", "tutor.evaluate.cmmlu_cli")


def _tutor():
    from tutor.tutor import build_tutor

    return build_tutor(Settings())


def _print_json(obj) -> None:
    # always valid UTF-8: a lone surrogate that slipped through becomes U+FFFD, never raw bytes
    sys.stdout.write(clean_text(json.dumps(obj, ensure_ascii=False, indent=2)) + "\n")


@app.command()
def ingest(rebuild: bool = typer.Option(False, "--rebuild", help="Drop the index and build it again (after changing the embedding model)."),
           as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")):
    """Chunk the corpus, embed new chunks into Chroma, rebuild BM25. Idempotent."""
    from tqdm import tqdm

    t = _tutor()
    bar: dict = {}

    def on_total(n: int) -> None:
        if n:
            # n counts vectors: each chunk once per embedding model (review 26: "7358 chunk" for 3,679 chunks)
            bar["b"] = tqdm(total=n, unit="vector", desc="embedding (each chunk by each model)", file=sys.stderr, disable=as_json)

    def progress(n: int) -> None:
        if "b" in bar:
            bar["b"].update(n)

    try:
        r = t.ingest(rebuild=rebuild, progress=progress, on_total=on_total)
    finally:
        if "b" in bar:
            bar["b"].close()  # ends the bar's line now, so an error is the last line on stderr
    rep = {"embedded": r.embedded, "deleted": r.deleted, "total": r.total, "skipped": r.skipped, "seconds": round(r.seconds, 2)}
    if as_json:
        _print_json(rep)
    elif r.skipped:
        typer.echo(f"index up to date: {r.total} chunks, corpus unchanged ({r.seconds:.1f} s)")
    else:
        typer.echo(f"embedded {r.embedded} chunks, deleted {r.deleted}, total {r.total} ({r.seconds:.1f} s)")


@app.command()
def search(query: str = typer.Argument(..., help="What to look for, Chinese or English."),
           k: int = typer.Option(5, "-k", min=1, max=50, help="Number of hits."),
           chapter: Optional[str] = typer.Option(None, "--chapter", help="Only chunks of this chapter (1-16)."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON (DESIGN.md §4)."),
           all_chunks: bool = typer.Option(False, "--all-chunks", help="List every matching chunk, not only each note's best.")):
    """Hybrid search (dense + BM25, reciprocal rank fusion); one hit per note unless --all-chunks."""
    if not query.strip():
        from tutor.wording import w

        raise TutorError(w("error.empty_query"))
    t = _tutor()
    hits = t.search(query, k=k, chapter=chapter, per_note=not all_chunks)
    if as_json:
        from tutor.serve.api import search_json

        _print_json(search_json(query, hits))
        return
    for i, h in enumerate(hits, 1):
        first = h.chunk.text.splitlines()[0]
        typer.echo(f"{i}. [{h.chunk.node_id}] {first}  (score {h.score:.4f}, covered {h.relevance:.2f})")
    if hits:  # (review 25: "relevance 1.00" on every hit read as a broken ranking; it is not the order)
        typer.echo(f"score: reciprocal rank fusion, orders the hits; covered: how sure the tutor is that this "
                   f"note answers the question (it answers at ≥ {t.settings.min_relevance:.2f}).")


def _render_answer_footer(a) -> str:
    import re

    # the notes the answer cites ([n]); the others are listed as related, their key points left out
    # (review 26: 「什么是梯度裁剪？为什么要用它？」 printed 14 key points, 9 of PPO's clip and of residual connections)
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", a.answer)}
    lines = []
    for s in a.sources:
        lines.append(f"  [{s.n}] {s.id} {s.title}" + (f" ({s.title_en})" if s.title_en else "")
                     + (" — related, not cited" if cited and s.n not in cited else ""))
    if a.unsupported:
        lines.append("⚠ not found in the notes:")
        lines += [f"  ⚠ {a.sentences[i][:120]}" for i in a.unsupported if i < len(a.sentences)]
    points = [k for k in a.key_points if not cited or k["n"] in cited]
    if points:
        lines.append("Key points from the notes:")
        lines += [f"  [{k['n']}] {_plain_math(k['text'])}" for k in points]
    tm = a.timings
    if tm.get("first_token_ms") is not None:  # the model wrote a draft (a quoted or refused answer names no model: review 10)
        lines.append(f"— {a.model} · first token {tm['first_token_ms']} ms · {tm['tokens_per_s']} tok/s")
    if a.notices:
        # what happened in words (the UI's wording), the code after it for scripts and bug reports
        from tutor.wording import TABLE, label, w

        lines += [f"{label('cli.notice')}: " + (f"{w(f'notice.{c}')} ({c})" if f"notice.{c}" in TABLE else c)
                  for c in a.notices]
    return "\n".join(lines)


@app.command()
def ask(question: str = typer.Argument(..., help="Your question, Chinese or English."),
        chapter: Optional[str] = typer.Option(None, "--chapter", help="Only use notes of this chapter."),
        as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON (DESIGN.md §4)."),
        no_stream: bool = typer.Option(False, "--no-stream", help="Print the answer when it is complete."),
        mode: Optional[str] = typer.Option(None, "--mode", help="auto | quotes_first (the notes' sentences at once) | "
                                           "checked (the model's answer once it passed the check) | stream; "
                                           "default TUTOR_ANSWER_MODE (auto).")):
    """Answer one question from the notes, with numbered citations of the notes used."""
    t = _tutor()
    if as_json or no_stream:
        a = t.ask(question, chapter=chapter, mode=mode)
        if as_json:
            _print_json(a.to_json())
        else:
            typer.echo(_plain_math(a.answer))
            typer.echo(_render_answer_footer(a))
        return
    _stream_answer(t, question, [], chapter, mode)


def _plain_math(text: str) -> str:
    """The tutor's LaTeX as Unicode for the terminal (`$\\sqrt{d_k}$` → √(d_k)), as the sources
    panel shows it; --json keeps the LaTeX. A formula split across two streamed pieces of a
    model's answer stays as written (quotes and checked answers come whole)."""
    from ui.mathtext import math_to_unicode

    return math_to_unicode(text)


def _stream_answer(t, question: str, history: list, chapter: Optional[str], mode: Optional[str] = None):
    answer = None
    drafted = False
    for kind, value in t.ask_stream(question, history, chapter, mode=mode):
        if kind == "draft":  # checked mode: the model is writing; its text is shown once checked
            if not drafted:
                typer.echo("[writing the answer; it is shown once checked against the notes…]", err=True)
                drafted = True
        elif kind == "token":
            sys.stdout.write(_plain_math(value))
            sys.stdout.flush()
        elif kind == "retry":  # the streamed answer failed the check (tutor/trust/check.py)
            if not drafted:
                sys.stdout.write("\n")
            typer.echo(f"[answer rejected ({', '.join(value)}); retrying with a stricter prompt…]", err=True)
        elif kind == "replace" and drafted:  # checked mode: the first text shown
            sys.stdout.write(_plain_math(value))
            drafted = False
        elif kind == "replace":  # replaces everything streamed so far
            sys.stdout.write("\n── revised answer ──\n" + _plain_math(value))
            sys.stdout.flush()
        elif kind == "done":
            answer = value
    sys.stdout.write("\n")
    typer.echo(_render_answer_footer(answer))
    return answer


@app.command()
def chat(chapter: Optional[str] = typer.Option(None, "--chapter", help="Only use notes of this chapter.")):
    """Interactive chat in the terminal with history (/clear resets, /exit or Ctrl-D quits)."""
    t = _tutor()
    history: list[dict] = []
    typer.echo("tutor chat — ask in Chinese or English; /clear resets the history, /exit quits.")
    if hasattr(sys.stdin, "reconfigure"):
        # undecodable bytes reach clean_input as surrogates and get a clear message there
        sys.stdin.reconfigure(errors="surrogateescape")
    while True:
        try:
            q = input("\n你/you> ")
        except (EOFError, KeyboardInterrupt):
            typer.echo("")
            return
        if q.strip() in ("/exit", "/quit"):
            return
        if q.strip() == "/clear":
            history.clear()
            typer.echo("(history cleared)")
            continue
        try:
            a = _stream_answer(t, q, history, chapter)
        except TutorError as e:
            typer.echo(f"error: {e}", err=True)
            continue
        history += [{"role": "user", "content": a.question}, {"role": "assistant", "content": a.answer}]


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Print JSON."),
           no_model: bool = typer.Option(False, "--no-model", help="Do not load the GGUF (faster).")):
    """Versions, model file and chat template, GPU offload, embedding model, index counts, data dir."""
    from tutor.doctor import report

    rep = report(Settings(), load_model=not no_model)
    if as_json:
        _print_json(rep)
        return
    for section in ("paths", "model", "gpu", "embedding", "index", "packages"):
        typer.echo(f"{section}:")
        for k, v in (rep.get(section) or {}).items():
            typer.echo(f"  {k}: {v}")
    for w in rep["warnings"]:
        typer.echo(f"warning: {w}")


@app.command()
def ui(host: Optional[str] = typer.Option(None, "--host", help="Bind address (default 127.0.0.1)."),
       port: Optional[int] = typer.Option(None, "--port", help="Port (default 7860)."),
       auth: Optional[str] = typer.Option(None, "--auth", help="user:password, or a file of user:password lines."),
       insecure: bool = typer.Option(False, "--insecure", help="Allow a non-loopback --host without --auth."),
       share: bool = typer.Option(False, "--share", help="Ask Gradio for a public share link (needs internet and --auth).")):
    """Serve the Gradio web app (chat, quiz, progress, browse)."""
    from ui.serve import serve

    s = Settings()
    t = _tutor()
    if s.database_url:
        t.quiz.store  # a progress server that does not answer fails the start in one line, not the first quiz
    serve(t, host=host or s.host, port=port or s.port, auth=auth, insecure=insecure, share=share)


@app.command()
def serve(host: Optional[str] = typer.Option(None, "--host", help="Bind address (default 127.0.0.1)."),
          port: Optional[int] = typer.Option(None, "--port", help="Port (default 8000, TUTOR_API_PORT)."),
          token: Optional[str] = typer.Option(None, "--token", help="Require Authorization: Bearer TOKEN (default TUTOR_API_TOKEN)."),
          insecure: bool = typer.Option(False, "--insecure", help="Allow a non-loopback --host without a token.")):
    """Serve the HTTP JSON API: /health, /search, /ask, /ask/stream (server-sent events)."""
    import uvicorn

    from tutor.serve.api import build_api
    from ui.serve import check_bind

    s = Settings()
    host, token = host or s.host, token or s.api_token
    check_bind(host, token, insecure, how="--token SECRET (or TUTOR_API_TOKEN)")
    t = _tutor()
    t.index  # fail fast with "run tutor ingest" before the server starts
    uvicorn.run(build_api(t, token), host=host, port=port or s.api_port, log_level="warning")


def _register_extensions() -> None:
    for name in EXTENSIONS:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(app)


_register_extensions()


def main() -> None:
    """Console entry point: maps TutorError to exit 2 and anything else to exit 1, one line each."""
    try:
        rc = app(standalone_mode=False, prog_name="tutor")  # (click returns an Exit's code instead of exiting)
        if isinstance(rc, int) and rc:
            raise SystemExit(rc)
    except NoArgsIsHelpError as e:  # `tutor` alone: the help, as click shows it
        typer.echo(e.ctx.get_help(), err=True)
        raise SystemExit(2)
    except UsageError as e:
        # one line instead of click's usage box (reviews 17, 19): what was wrong and where to look
        where = e.ctx.command_path if e.ctx else "tutor"
        typer.echo(f"error: {e.format_message()} (see `{where} --help`)", err=True)
        raise SystemExit(2)
    except typer.Abort:  # Ctrl-C at a prompt
        typer.echo("aborted", err=True)
        raise SystemExit(1)
    except TutorError as e:
        typer.echo(f"error: {e}", err=True)
        raise SystemExit(e.exit_code)
    except Exception as e:  # noqa: BLE001 — a bug: short message unless debugging
        if os.environ.get("TUTOR_DEBUG"):
            raise
        typer.echo(f"unexpected error: {e.__class__.__name__}: {e} (set TUTOR_DEBUG=1 for the traceback)", err=True)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
