"""`make soak`: many learners at once on the real web app, through gradio_client.

Launches the Gradio app on a free 127.0.0.1 port in this process (the real index, MiniLM +
USE, the configured GGUF at temperature 0, a throwaway progress database), then runs
`--clients` virtual learners for `--duration` seconds from a child process (so the app's
RSS is the app's). Every fourth learner asks the chat (so the model is busy all the time);
the others alternate Browse look-ups ("search": an outline id, title or alias, no model)
and quiz rounds (start → submit → finish, graded without the model). Each learner is its
own gradio_client session. At the end, answers still running or queued are stopped with
the app's Stop endpoint, so the run ends on time.

Prints, per kind: requests, errors, p50/p95/max latency (ms, submit to final result,
queueing included); the most model generations ever running at once (a probe around the
model's token generator, which runs under `LLM.lock`) and whether any two generation spans
overlapped; how many search/quiz requests were sent during a generation and how many of
those were answered before it ended (a request queued behind the model never is); the
app's RSS (MiB) after warm-up, every 5 s, at the end, and its peak. Exits 1 when a bound in
`Bounds` is broken, 0 otherwise; the app is closed either way.

It does not start a browser, measure the HTTP JSON API (`tutor serve`), or open anything
beyond loopback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

QUESTIONS = ["为什么注意力要除以根号d_k？", "LoRA 为什么能减少微调的参数量？", "How does RoPE encode position?",
             "扩散模型的前向过程是什么？", "What does classifier-free guidance do?", "什么是知识蒸馏？"]
LOOKUPS = ["3.4.2", "LoRA", "1.1.2", "RoPE", "扩散模型", "2.1", "knowledge distillation", "5"]
SHORT_ANSWER = "它通过减少需要训练的参数来降低显存和计算量。"
KINDS = ("chat", "search", "quiz")


@dataclass
class Bounds:
    """What counts as a pass. Latencies in ms, memory in MiB."""

    search_p95_ms: float = 5000.0  # generous: 2 shared cores; blocking is judged by the next line
    quiz_p95_ms: float = 15000.0  # start + submit + finish of one item, three requests
    # a request queued behind the model is never answered before the generation it arrived
    # during has ended; answered concurrently, nearly all are
    min_answered_within_generation: float = 0.8
    min_started_during_generation: int = 10  # else the run tested nothing
    min_chats_in_flight: int = 2  # else nothing competed for the model
    min_completed_chats: int = 1  # 0 for short runs: one answer can take a minute on 2 busy cores
    max_errors: int = 0
    max_concurrent_generations: int = 1
    rss_growth_mib: float = 300.0  # end minus after warm-up: caches and sessions fill at first
    rss_second_half_growth_mib: float = 64.0  # end minus mid-run less its largest step: flat once warm


@dataclass
class Sample:
    kind: str
    start: float  # time.monotonic() s
    end: float
    error: str = ""

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000


class GenerationProbe:
    """Wraps `llm._pieces` (called only inside `LLM.stream`'s lock) to record each
    generation's span and the most generations ever active at once. Restores on close()."""

    def __init__(self, llm):
        self.llm, self.spans, self.active, self.max_active = llm, [], 0, 0
        self._lock = threading.Lock()
        self._orig = llm._pieces

        def pieces(*a, **kw):
            with self._lock:
                self.active += 1
                self.max_active = max(self.max_active, self.active)
            t0 = time.monotonic()
            try:
                yield from self._orig(*a, **kw)
            finally:
                with self._lock:
                    self.active -= 1
                    self.spans.append((t0, time.monotonic()))

        llm._pieces = pieces

    def close(self) -> None:
        self.llm._pieces = self._orig

    def overlapping_pairs(self) -> int:
        """Pairs of generation spans that overlap in time (0 when serialised)."""
        s = sorted(self.spans)
        return sum(1 for (_, e1), (s2, _) in zip(s, s[1:]) if s2 < e1)

    def span_at(self, t: float) -> tuple[float, float] | None:
        """The generation span running at time t, if any."""
        return next(((s, e) for s, e in self.spans if s <= t < e), None)


def rss_mib() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB, from /proc/self/status."""
    vals = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            k, v = line.split(":", 1)
            vals[k] = int(v.split()[0]) / 1024
    return round(vals.get("VmRSS", 0.0), 1), round(vals.get("VmHWM", 0.0), 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(tutor) -> tuple[object, str]:
    """The app as `tutor ui` builds it, on a free loopback port. Returns (app, url)."""
    from ui.app import build_app
    from ui.style import launch_options

    app = build_app(tutor)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, share=False,
               show_error=True, **launch_options())
    return app, f"http://127.0.0.1:{port}/"


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False, analytics_enabled=False)


def _call(c, *args, api_name: str, timeout: float | None = None):
    """c.predict, with the endpoint named in any error; with `timeout` (s), a TimeoutError
    after that long (the call itself is left to finish on its own)."""
    try:
        if timeout is None:
            return c.predict(*args, api_name=api_name)
        return c.submit(*args, api_name=api_name).result(timeout=timeout)
    except Exception as e:  # noqa: BLE001 — re-raised with the endpoint in the message
        raise RuntimeError(f"{api_name}: {type(e).__name__}: {e}") from e


def _chat(c, q: str, deadline: float = float("inf")) -> str:
    """One answer; past `deadline` the answer is stopped (Stop button) and "stopped" returned."""
    job = c.submit(q, [], "", False, api_name="/chat")
    while not job.done() and time.monotonic() < deadline:
        time.sleep(0.1)
    stopped = False
    while not job.done():  # the run is over: stop this answer, or the queued one once it starts
        stopped = True
        c.predict(api_name="/stop")
        time.sleep(0.3)
    job.result(timeout=300)
    if stopped:
        return "stopped"
    # the app's last update may leave every shown output unchanged (gr.skip(): it only files the
    # answer's sources for its [n] links); the client reports those as {'__type__': 'update'},
    # so the answer is the last update that carried the chat history
    shown = [o for o in job.outputs() if isinstance(o, (tuple, list)) and len(o) >= 4 and isinstance(o[1], list)]
    if not shown:
        return "/chat: no update carried the chat history"
    box, history, _panel, status = shown[-1][:4]
    ok = status == "" and len(history) >= 2 and history[0]["role"] == "user"
    return "" if ok else f"/chat: status={status!r} turns={len(history)}"


def _search(c, text: str) -> str:
    page, _links, _tree, node = _call(c, text, api_name="/browse")
    return "" if node and not page.startswith("⚠") else f"/browse {text!r}: {page[:80]!r}"


def _quiz(c, learner: str, type_: str, first_option: dict[str, str], timeout: float | None = None) -> str:
    """One quiz round of one item: start, submit (the first option, or SHORT_ANSWER), finish;
    "" when each step answered as it should, else what went wrong. timeout: per call (s)."""
    out = _call(c, learner, "", "mixed", type_, 1, api_name="/quiz_start", timeout=timeout)
    if out[0] or not out[2]:
        return f"/quiz_start: {out[0]!r}"
    choice = first_option.get(out[2]) if type_ == "choice" else None
    out = _call(c, choice, SHORT_ANSWER if type_ == "short" else "", api_name="/quiz_submit", timeout=timeout)
    if "FSRS" not in out[7] and "Check yourself" not in out[7]:  # graded, or "rate yourself"
        return f"/quiz_submit: {out[0]!r} {out[7][:80]!r}"
    out = _call(c, api_name="/quiz_finish", timeout=timeout)
    if not out[-1] and "还没自评" in out[0]:  # a check-yourself answer left unrated: Finish reminds once
        out = _call(c, api_name="/quiz_finish", timeout=timeout)
    summary = out[-1]
    return "" if "Round summary" in summary else f"/quiz_finish: {summary[:80]!r}"


def learner(i: int, url: str, deadline: float, seed: int, first_option: dict[str, str], chat_every: int = 4) -> list[Sample]:
    """One virtual learner: its own session; chat if i % chat_every == 0, else search and quiz in turn."""
    rnd = random.Random(seed + i)
    samples = []
    try:
        c = _client(url)
    except Exception as e:  # noqa: BLE001 — counted, not raised: the run reports every failure
        return [Sample("connect", time.monotonic(), time.monotonic(), f"{type(e).__name__}: {e}")]
    step = 0
    while time.monotonic() < deadline:
        if i % chat_every == 0:
            kind, call = "chat", (lambda: _chat(c, rnd.choice(QUESTIONS), deadline))
        elif step % 2 == 0:
            kind, call = "search", (lambda: _search(c, rnd.choice(LOOKUPS)))
        else:
            kind, call = "quiz", (lambda: _quiz(c, f"load-{i}", "choice" if step % 4 == 1 else "short", first_option))
        t0 = time.monotonic()
        try:
            err = call()
        except Exception as e:  # noqa: BLE001
            err = f"{type(e).__name__}: {e}"
        if err == "stopped":  # cut off by the end of the run: neither a latency nor an error
            kind, err = "chat_stopped", ""
        samples.append(Sample(kind, t0, time.monotonic(), err))
        step += 1
        time.sleep(rnd.uniform(0.5, 2.0))  # think time: a busy learner, not a tight loop
    c.close()
    return samples


def drive(url: str, duration_s: float, clients: int, seed: int, first_option: dict[str, str],
          chat_every: int = 4) -> list[Sample]:
    """All learners, each in a thread, until `duration_s` has passed; their samples. Runs in a
    child process so that the clients' own memory and CPU time stay out of the app's RSS."""
    from concurrent.futures import ThreadPoolExecutor

    deadline = time.monotonic() + duration_s  # CLOCK_MONOTONIC: same clock as the parent's
    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(learner, i, url, deadline, seed, first_option, chat_every) for i in range(clients)]
        return [s for f in futures for s in f.result()]


def pct(xs: list[float], p: float) -> float:
    """p-th percentile (0-100) by nearest rank; 0 for no data."""
    if not xs:
        return 0.0
    xs = sorted(xs)
    return round(xs[max(0, math.ceil(p / 100 * len(xs)) - 1)], 1)


@dataclass
class Report:
    """Per-kind counts and latencies (ms), generation concurrency, memory (MiB)."""

    duration_s: float
    clients: int
    kinds: dict = field(default_factory=dict)  # kind → {n, errors, p50_ms, p95_ms, max_ms}
    errors: list = field(default_factory=list)  # first few error messages
    max_concurrent_generations: int = 0
    overlapping_generation_pairs: int = 0
    generations: int = 0
    generation_p50_ms: float = 0.0  # one generation's span, under the same load
    max_chats_in_flight: int = 0  # chat requests sent and not yet answered, at most, at one time
    started_during_generation: int = 0  # search/quiz requests sent while the model generated
    answered_within_generation: int = 0  # ... and answered before that generation ended
    rss_start_mib: float = 0.0  # the app's process (the clients run in a child process)
    rss_mid_mib: float = 0.0
    rss_end_mib: float = 0.0
    rss_peak_mib: float = 0.0
    rss_series_mib: list = field(default_factory=list)  # every 5 s

    def error_count(self) -> int:
        return sum(k["errors"] for k in self.kinds.values())

    def broken(self, b: Bounds) -> list[str]:
        """One line per bound this run broke (empty: pass)."""
        out = []
        for kind, limit in (("search", b.search_p95_ms), ("quiz", b.quiz_p95_ms)):
            p95 = self.kinds.get(kind, {}).get("p95_ms", 0.0)
            if p95 > limit:
                out.append(f"{kind} p95 {p95} ms > {limit} ms")
            if not self.kinds.get(kind, {}).get("n"):
                out.append(f"no {kind} requests completed")
        if self.kinds.get("chat", {}).get("n", 0) < b.min_completed_chats:
            out.append(f"{self.kinds.get('chat', {}).get('n', 0)} chat requests completed < {b.min_completed_chats}")
        if self.max_chats_in_flight < b.min_chats_in_flight:
            out.append(f"at most {self.max_chats_in_flight} chat requests in flight at once: nothing competed for the model")
        if self.error_count() > b.max_errors:
            out.append(f"{self.error_count()} errors > {b.max_errors}: {self.errors[:3]}")
        if self.max_concurrent_generations > b.max_concurrent_generations or self.overlapping_generation_pairs:
            out.append(f"{self.max_concurrent_generations} generations at once, "
                       f"{self.overlapping_generation_pairs} overlapping spans (model calls not serialised)")
        if self.rss_end_mib - self.rss_start_mib > b.rss_growth_mib:
            out.append(f"RSS grew {self.rss_end_mib - self.rss_start_mib:.0f} MiB > {b.rss_growth_mib} MiB")
        spread = self.second_half_spread_growth_mib()
        if spread > b.rss_second_half_growth_mib:
            out.append(f"RSS grew {spread:.0f} MiB in the second half of the run, not counting its largest single "
                       f"5-s step, > {b.rss_second_half_growth_mib} MiB")
        if self.started_during_generation < b.min_started_during_generation:
            out.append(f"only {self.started_during_generation} search/quiz requests were sent during a generation")
        elif self.answered_within_generation < b.min_answered_within_generation * self.started_during_generation:
            out.append(f"only {self.answered_within_generation} of {self.started_during_generation} search/quiz requests "
                       "sent during a generation were answered before it ended (blocked behind the model)")
        return out

    def second_half_spread_growth_mib(self) -> float:
        """End minus mid-run RSS (MiB) less the largest rise between two 5-s samples of the second
        half. One step is a buffer paged in once (measured on SmolLM2: the first answers in each
        language add 35-56 MiB each, then 1-15), which a short run can catch late; a leak grows
        with the requests, step after step."""
        half = self.rss_series_mib[len(self.rss_series_mib) // 2:] + [self.rss_end_mib]
        steps = [b - a for a, b in zip(half, half[1:])]
        return self.rss_end_mib - self.rss_mid_mib - max([0.0, *steps])

    def table(self) -> str:
        lines = [f"{self.clients} clients, {self.duration_s:.0f} s on 127.0.0.1",
                 f"{'kind':<8}{'n':>6}{'errors':>8}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}"]
        for k, v in self.kinds.items():
            lines.append(f"{k:<8}{v['n']:>6}{v['errors']:>8}{v['p50_ms']:>10}{v['p95_ms']:>10}{v['max_ms']:>10}")
        lines += [f"generations: {self.generations} (p50 {self.generation_p50_ms} ms), at most "
                  f"{self.max_concurrent_generations} at once, {self.overlapping_generation_pairs} overlapping spans, "
                  f"while up to {self.max_chats_in_flight} chat requests were in flight",
                  f"search/quiz sent during a generation: {self.started_during_generation}, answered before it "
                  f"ended: {self.answered_within_generation}",
                  f"app RSS MiB: start {self.rss_start_mib}, mid {self.rss_mid_mib}, end {self.rss_end_mib}, "
                  f"peak {self.rss_peak_mib}",
                  "app RSS every 5 s: " + " ".join(f"{x:.0f}" for x in self.rss_series_mib)]
        lines += [f"error: {e}" for e in self.errors]
        return "\n".join(lines)


DRIVER_EXIT_S = 15.0  # how long the load driver's process may take to exit after returning


def run_load(url: str, tutor, duration_s: float = 120.0, clients: int = 16, seed: int = 0,
             chat_every: int = 4) -> Report:
    """Run `clients` learners against the app at `url` for `duration_s` seconds, every
    `chat_every`-th one chatting; `tutor` is the app's Tutor, served by this process (its
    model is probed for concurrent generations; its quiz items give the radio labels).
    Answers still running at the end are stopped."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    first_option = {i.prompt: f"A. {i.options[0]}" for i in tutor.quiz.bank.items if i.type == "choice"}
    warm = _client(url)  # warm-up: first calls load the index and the grader's models
    for err in (_search(warm, "1"), _quiz(warm, "load-warm-up", "short", first_option)):
        if err:
            raise RuntimeError(f"warm-up failed: {err}")
    warm.close()
    # retrieval, then the model on a prompt as long as an answer's (its buffers and weights paged in)
    notes = "\n\n".join(h.chunk.text for h in tutor.search(QUESTIONS[0], k=5))
    tutor.llm.complete([{"role": "user", "content": notes + "\n\n" + QUESTIONS[0]}], 4)
    probe = GenerationProbe(tutor.llm)
    rss_series = [rss_mib()[0]]
    t0 = time.monotonic()
    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
    try:
        fut = pool.submit(drive, url, duration_s, clients, seed, first_option, chat_every)
        while not fut.done():
            time.sleep(0.5)
            if time.monotonic() - t0 >= len(rss_series) * 5:
                rss_series.append(rss_mib()[0])  # every 5 s
        samples = fut.result()
    finally:
        probe.close()
        # the driver has returned its samples; a client thread left in it must not keep the run
        # waiting for its exit (CI, session 36: the pool's join hung past the 1200 s timeout)
        workers = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for w in workers:
            w.join(DRIVER_EXIT_S)
            if w.is_alive():
                w.kill()
    rep = Report(duration_s=time.monotonic() - t0, clients=clients, rss_start_mib=rss_series[0],
                 rss_mid_mib=rss_series[len(rss_series) // 2], rss_series_mib=rss_series)
    rep.rss_end_mib, rep.rss_peak_mib = rss_mib()
    for kind in ("connect", *KINDS, "chat_stopped"):
        ms = [s.ms for s in samples if s.kind == kind]
        errs = [s.error for s in samples if s.kind == kind and s.error]
        if ms or kind in KINDS:
            rep.kinds[kind] = {"n": len(ms), "errors": len(errs), "p50_ms": round(statistics.median(ms), 1) if ms else 0.0,
                               "p95_ms": pct(ms, 95), "max_ms": round(max(ms), 1) if ms else 0.0}
        rep.errors += errs[:3]
    rep.max_concurrent_generations = probe.max_active
    rep.overlapping_generation_pairs = probe.overlapping_pairs()
    rep.generations = len(probe.spans)
    rep.generation_p50_ms = round(statistics.median([(e - s) * 1000 for s, e in probe.spans]), 1) if probe.spans else 0.0
    during = [(s, probe.span_at(s.start)) for s in samples if s.kind in ("search", "quiz") and probe.span_at(s.start)]
    rep.started_during_generation = len(during)
    chats = [s for s in samples if s.kind in ("chat", "chat_stopped")]
    rep.max_chats_in_flight = max((sum(1 for o in chats if o.start <= c.start < o.end) for c in chats), default=0)
    rep.answered_within_generation = sum(1 for s, (_, end) in during if s.end < end)
    return rep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=120.0, help="seconds of load (default 120)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent gradio_client sessions (default 16)")
    ap.add_argument("--answer-tokens", type=int, default=160,
                    help="cap on answer tokens (default 160; 0: the settings' TUTOR_MAX_ANSWER_TOKENS)")
    ap.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    args = ap.parse_args(argv)

    from tutor.config import Settings
    from tutor.tutor import build_tutor

    db = Path(tempfile.mkdtemp(prefix="tutor-soak-")) / "progress.db"  # never the learner's own progress
    over = {"temperature": 0.0, "database_url": f"sqlite:///{db}"}
    if args.answer_tokens:
        over["max_answer_tokens"] = args.answer_tokens
    s = Settings(**over)
    tutor = build_tutor(s)
    tutor.index  # "run tutor ingest" before anything starts
    app, url = launch(tutor)
    try:
        rep = run_load(url, tutor, args.duration, args.clients)
    finally:
        app.close()
    print(rep.table())
    if args.json:
        args.json.write_text(json.dumps(asdict(rep), ensure_ascii=False, indent=2), encoding="utf-8")
    broken = rep.broken(Bounds())
    for line in broken:
        print(f"BOUND BROKEN: {line}", file=sys.stderr)
    print("soak: ok" if not broken else "soak: FAILED")
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
