"""Load check (issue 18 item 5): N concurrent learners against two replicas, compared with one
in-process app, on 127.0.0.1 only. Part of `make bench` (benchmarks/run.py, section "load");
alone: `.venv/bin/python benchmarks/load.py [--learners 8] [--duration 90] [--chapters 1]`.

Two arms, one after the other, the same corpus, settings, learners and seed:

- **replicas**: everything real and shared, started here (tests/stack.py, as in
  tests/integration/test_replicas.py): a Chroma server, one `llama_cpp.server` with the default
  SmolLM2 GGUF (1 thread for generation and 1 for prompt processing, as the in-process model has
  on 2 cores; `--interrupt_requests False`: its default cuts a streaming answer short whenever
  another request waits), PostgreSQL (tests/pg.py's PgServer), the corpus ingested into the
  Chroma server, then two `tutor serve` and two `tutor ui`, each with its own empty TUTOR_HOME.
- **in-process**: one `tutor serve` and one `tutor ui` sharing one TUTOR_HOME and no TUTOR_*_URL:
  embedded Chroma (the same corpus ingested there), the GGUF in the process (TUTOR_THREADS=1),
  SQLite.

Settings for both: TUTOR_TOP_K=3, TUTOR_MAX_ANSWER_TOKENS=64, TUTOR_N_CTX=2048 (the model
server's context is twice that: SmolLM2 spends ~1.8 tokens per Chinese character, which a
server's token estimate does not see), MiniLM + USE (the defaults), OMP_NUM_THREADS=1.

Each learner is a thread with its own gradio_client session on one `tutor ui` (sticky: learner
i on ui replica i mod 2, as a load balancer must keep it) and a learner name of its own. It
loops until the duration is up: draw an operation — 50% search (`GET /search`, k=5), 25% ask
(`POST /ask`, mode `checked` by default: one model generation of at most 64 tokens, then the
answer check; SmolLM2's own default mode, quotes_first, calls no model at all), 25% quiz (one
round of one item through the web app: start, submit, finish; choice and short answers in
turn) — then think 0.5-2 s. Search and ask go to the `tutor serve` replicas round-robin.
Every request has a timeout (--timeout, 300 s); no new operation starts after the duration,
and the operations still running get --drain seconds more (default: the timeout) before they
are reported as unfinished, with how long they had waited; so an arm ends within duration +
drain (+ start-up: about 2-3 minutes for the replicas on 2 cores, 1 for the in-process app). An operation is an error when it fails, times out or
answers wrongly (a search with no hits, an ask with no answer, no sources or, outside
quotes_first, no model tokens; a quiz step that does not grade).

Reported per arm and operation: count, errors (each listed), p50/p95/max latency in ms over
the successful ones (the learner's wait: queueing included), and how many ended within the
duration per minute (for ask: answers per minute; the wall time adds the operations that were
still running at the end, counted in n and the latencies but not in the rate); for asks also the model's prompt and
completion tokens (p50) and the answer check's outcomes; the resident memory of every process
started; cores and the 1-minute load average before and after. The learners (threads of
this process) share the machine with everything they measure.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import common  # noqa: F401  (sets the offline environment first)
from common import ROOT, CachedEmbeddings, RecordingEmbeddings, load_average, log, pct, proc_status, with_embeddings

SETTINGS = {"top_k": "3", "max_answer_tokens": "64", "n_ctx": "2048", "llm_timeout_s": "300", "index_check_s": "2"}
MIX = (("search", 0.50), ("ask", 0.25), ("quiz", 0.25))
THINK_S = (0.5, 2.0)
OPS = tuple(op for op, _ in MIX)
ARMS = ("replicas", "inprocess")
# chapter 1 (注意力机制), the default corpus subset; the questions fit the whole corpus too
SEARCHES = ("RoPE 旋转位置编码", "多头注意力的投影矩阵", "why scale the dot product by sqrt(d_k)", "positional encoding",
            "稀疏注意力", "Flash Attention", "scaled dot-product attention", "KV cache", "ALiBi", "相对位置编码")
QUESTIONS = ("为什么注意力要除以根号d_k？", "What is rotary position embedding?", "多头注意力为什么要用多个头？",
             "How does sparse attention reduce the cost of long sequences?", "绝对位置编码和相对位置编码有什么区别？",
             "What does the softmax in attention do?")


@dataclass
class Sample:
    op: str
    start: float  # time.monotonic()
    end: float
    error: str = ""
    info: dict = field(default_factory=dict)


def http(base: str, path: str, body: dict | None = None, timeout: float = 300) -> tuple[int, dict]:
    """GET (body None) or POST JSON; (status, JSON reply), HTTP errors included."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {}


class RoundRobin:
    """next(rr): 0, 1, 2, … across threads (the API replica is serve[next(rr) % len(serve)])."""

    def __init__(self):
        self._n, self._lock = itertools.count(), threading.Lock()

    def __next__(self) -> int:
        with self._lock:
            return next(self._n)


def do_search(base: str, q: str, timeout: float) -> tuple[str, dict]:
    status, got = http(base, "/search?" + urllib.parse.urlencode({"q": q, "k": 5}), timeout=timeout)
    if status != 200 or not got.get("hits"):
        return f"search {q!r}: HTTP {status} {str(got)[:200]}", {}
    return "", {}


def do_ask(base: str, q: str, mode: str, timeout: float) -> tuple[str, dict]:
    status, got = http(base, "/ask", {"question": q, "mode": mode}, timeout=timeout)
    if status != 200:
        return f"ask {q!r}: HTTP {status} {str(got)[:200]}", {}
    t = got.get("timings") or {}
    info = {"prompt_tokens": t.get("prompt_tokens"), "completion_tokens": t.get("completion_tokens"),
            "outcome": (got.get("guard") or {}).get("outcome"), "mode": got.get("mode")}
    if not str(got.get("answer", "")).strip() or not got.get("sources"):
        return f"ask {q!r}: no answer or no sources ({str(got)[:200]})", info
    if mode != "quotes_first" and not t.get("completion_tokens"):
        return (f"ask {q!r}: the model was not asked (completion_tokens {t.get('completion_tokens')!r}, guard "
                f"{got.get('guard')!r:.200}, notices {got.get('notices')!r:.200}, answer {got.get('answer')!r:.120})"), info
    return "", info


def first_options(corpus: Path) -> dict[str, str]:
    """Question → its first option as the quiz tab's radio shows it, for every choice item of the
    corpus's notes (a fresh progress store holds no generated items)."""
    from tutor.corpus import Corpus
    from tutor.quiz.items import from_front_matter

    return {i.prompt: f"A. {i.options[0]}" for n in Corpus.load(corpus).notes.values()
            for i in from_front_matter(n) if i.type == "choice"}


def learner(i: int, serve: list[str], ui: list[str], rr, deadline: float, stop: threading.Event, seed: int,
            options: dict[str, str], mode: str, timeout: float, out: list[Sample], current: dict) -> None:
    """One learner until `deadline` or `stop`: its own web session on ui[i mod len(ui)]."""
    import soak

    rnd = random.Random(seed + i)
    t0 = time.monotonic()
    try:
        c = soak._client(ui[i % len(ui)])
    except Exception as e:  # noqa: BLE001 — every failure is counted and listed
        out.append(Sample("connect", t0, time.monotonic(), f"{type(e).__name__}: {e}"))
        return
    quizzes = 0
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            r, op = rnd.random(), OPS[-1]
            for name, share in MIX:
                if r < share:
                    op = name
                    break
                r -= share
            t0 = time.monotonic()
            current[i] = (op, t0)
            try:
                if op == "search":
                    err, info = do_search(serve[next(rr) % len(serve)], rnd.choice(SEARCHES), timeout)
                elif op == "ask":
                    err, info = do_ask(serve[next(rr) % len(serve)], rnd.choice(QUESTIONS), mode, timeout)
                else:
                    kind = "choice" if quizzes % 2 == 0 else "short"
                    quizzes += 1
                    err, info = soak._quiz(c, f"learner-{i}", kind, options, timeout=timeout), {"type": kind}
            except Exception as e:  # noqa: BLE001
                err, info = f"{op}: {type(e).__name__}: {e}", {}
            out.append(Sample(op, t0, time.monotonic(), err, info))
            current.pop(i, None)
            stop.wait(rnd.uniform(*THINK_S))
    finally:
        c.close()


def warm_up(serve: list[str], ui: list[str], options: dict[str, str], mode: str, timeout: float) -> None:
    """Untimed: a search and an ask on each API replica, a short-answer quiz round on each web
    replica (first calls load the index, the lexical cache, the model and the grader)."""
    import soak

    for base in serve:
        for err, _ in (do_search(base, SEARCHES[0], timeout), do_ask(base, QUESTIONS[0], mode, timeout)):
            if err:
                raise RuntimeError(f"warm-up on {base}: {err}")
    for url in ui:
        c = soak._client(url)
        try:
            err = soak._quiz(c, "load-warm-up", "short", options, timeout=timeout)
        finally:
            c.close()
        if err:
            raise RuntimeError(f"warm-up on {url}: {err}")


def drive(serve: list[str], ui: list[str], learners: int, duration_s: float, seed: int, options: dict[str, str],
          mode: str, timeout: float, drain: float | None = None) -> dict:
    """All learners for `duration_s`, then up to `drain` s (default: the timeout) for the
    operations still running; those still running then are counted as unfinished, with how
    long they had waited. The arm's figures."""
    stop = threading.Event()
    rr = RoundRobin()

    outs: list[list[Sample]] = [[] for _ in range(learners)]
    current: dict[int, tuple[str, float]] = {}  # learner → (operation, start) while one runs
    drain = timeout if drain is None else drain
    load0 = load_average()
    t0 = time.monotonic()
    deadline = t0 + duration_s
    threads = [threading.Thread(target=learner, args=(i, serve, ui, rr, deadline, stop, seed, options, mode,
                                                      timeout, outs[i], current), daemon=True, name=f"learner-{i}")
               for i in range(learners)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline + drain - time.monotonic()))
    finally:
        stop.set()
    cut = time.monotonic()
    samples = [s for o in outs for s in list(o)]
    unfinished = [(op, (cut - start) * 1000) for op, start in list(current.values())]
    hung = [t.name for t in threads if t.is_alive()]
    wall = cut - t0  # the duration, then the operations still running finish (up to `drain`)
    res = {"learners": learners, "duration_s": duration_s, "drain_s": drain, "wall_s": round(wall, 1), "load_average_start": load0,
           "load_average_end": load_average(), "ops": {}, "errors": 0, "error_list": [], "hung": hung}
    for op in (*OPS, "connect"):
        mine = [s for s in samples if s.op == op]
        if not mine and op == "connect":
            continue
        good = [(s.end - s.start) * 1000 for s in mine if not s.error]
        errs = [s.error for s in mine if s.error]
        row = {"n": len(mine), "errors": len(errs),
               "p50_ms": round(statistics.median(good), 1) if good else None,
               "p95_ms": round(pct(good, 0.95), 1) if good else None,
               "max_ms": round(max(good), 1) if good else None,
               "per_min": round(sum(1 for s in mine if not s.error and s.end <= deadline) / duration_s * 60, 2),
               "running_at_end": sum(1 for s in mine if s.start < deadline < s.end),
               "unfinished": len([w for o, w in unfinished if o == op]),
               "unfinished_waited_ms": sorted(round(w) for o, w in unfinished if o == op)}
        if op == "ask":
            infos = [s.info for s in mine if not s.error]
            for k in ("prompt_tokens", "completion_tokens"):
                xs = [x[k] for x in infos if isinstance(x.get(k), (int, float))]
                row[f"{k}_p50"] = statistics.median(xs) if xs else None
            row["outcomes"] = dict(collections.Counter(x.get("outcome") for x in infos))
        res["ops"][op] = row
        res["errors"] += len(errs)
        res["error_list"] += [f"{op}: {e}" for e in errs]
    res["answers_per_min"] = res["ops"]["ask"]["per_min"]
    return res


def ingest(home: Path, corpus: Path, embedders, vectors=None, chroma_url: str | None = None):
    """Ingest `corpus` in this process (into the Chroma server, or embedded under `home`). With
    `vectors` (dense, USE: text → vector), those are reused and only texts not among them are
    embedded; else the vectors are recorded and returned for the next ingest. Returns
    (IngestReport, vectors)."""
    from tutor.config import Settings
    from tutor.corpus import Corpus
    from tutor.rag.index import Index

    dense, ml = embedders
    if vectors:
        wd, wm = CachedEmbeddings(vectors[0], dense.embeddings, dense.embeddings), CachedEmbeddings(vectors[1], ml.embeddings, ml.embeddings)
    else:
        wd, wm = RecordingEmbeddings(dense.embeddings), RecordingEmbeddings(ml.embeddings)
    s = Settings(home=home, corpus_dir=corpus, prompts_dir=ROOT / "prompts", chroma_url=chroma_url, multilingual=True,
                 embedding_model=None, collection="tutor", database_url=None)
    rep = Index.ingest(s, with_embeddings(dense, wd), Corpus.load(corpus), multilingual=with_embeddings(ml, wm))
    return rep, vectors or (wd.vectors, wm.vectors)


def rss(stack) -> dict:
    """VmRSS / VmHWM (MiB) of each process of the stack still running."""
    out = {}
    for p in stack.procs:
        try:
            st = proc_status(p.p.pid)
            out[p.name] = {"rss_mib": st.get("VmRSS"), "peak_mib": st.get("VmHWM")}
        except OSError:
            out[p.name] = None
    return out


def measure(arm: str, st, serve: list[str], ui: list[str], chunks: int, ingest_s: float, processes: str, opts: dict) -> dict:
    """Warm the arm's apps up, drive the learners against them and return the figures (with the
    stack's set-up time and memory), handed to opts["measured"] while its servers still run."""
    warm_up(serve, ui, opts["options"], opts["mode"], opts["timeout"])
    log(f"load/{arm}: warm after {st.elapsed()}; {opts['learners']} learners for {opts['duration']} s")
    setup_s = round(time.monotonic() - st.t0, 1)
    res = drive(serve, ui, opts["learners"], opts["duration"], opts["seed"], opts["options"], opts["mode"], opts["timeout"],
                opts["drain"])
    res.update(chunks=chunks, ingest_s=ingest_s, setup_s=setup_s, rss=rss(st), processes=processes)
    opts["measured"](arm.replace("-", ""), res)
    return res


def replicas_arm(work: Path, corpus: Path, embedders, vectors, opts: dict) -> tuple[dict, tuple]:
    from tests.pg import PgServer
    from tests.stack import Stack, replica_env

    pg = None
    with Stack(work / "replicas", say=log) as st:
        try:
            n_ctx = int(SETTINGS["n_ctx"])
            llm, llm_url = st.model_server(n_ctx=2 * n_ctx, threads=1,
                                           extra=("--n_threads_batch", "1", "--interrupt_requests", "False"))
            srv, chroma_url = st.chroma()
            pg = PgServer()
            db = pg.database()
            srv.wait_http(chroma_url + "/api/v2/heartbeat", 60)
            log(f"load/replicas: chroma and postgresql up after {st.elapsed()}; ingesting {corpus}")
            t = time.monotonic()
            rep, vectors = ingest(st.dir / "ingest-home", corpus, embedders, vectors, chroma_url)
            ingest_s = round(time.monotonic() - t, 1)
            log(f"load/replicas: {rep.total} chunks ingested into the Chroma server in {ingest_s} s")
            env = replica_env(corpus, chroma_url, llm_url, db, **SETTINGS)
            _, urls = st.replicas(env, {"serve-a": "serve", "serve-b": "serve", "ui-a": "ui", "ui-b": "ui"})
            llm.wait_http(llm_url + "/models", 120)
            res = measure("replicas", st, [urls["serve-a"], urls["serve-b"]], [urls["ui-a"], urls["ui-b"]], rep.total, ingest_s,
                          "2 tutor serve + 2 tutor ui; chroma run; llama_cpp.server (1/1 threads); PostgreSQL", opts)
        finally:
            if pg is not None:
                try:
                    pg.stop()
                except Exception as e:  # noqa: BLE001 — already stopped by a Ctrl-C that reached it too
                    log(f"load/replicas: stopping PostgreSQL: {e}")
    log(f"load/replicas: stopped after {st.elapsed()}")
    return res, vectors


def inprocess_arm(work: Path, corpus: Path, embedders, vectors, opts: dict) -> tuple[dict, tuple]:
    from tests.stack import Stack, replica_env

    with Stack(work / "inprocess", say=log) as st:
        home = st.dir / "home"
        t = time.monotonic()
        rep, vectors = ingest(home, corpus, embedders, vectors)
        ingest_s = round(time.monotonic() - t, 1)
        log(f"load/in-process: {rep.total} chunks ingested (embedded Chroma) in {ingest_s} s")
        env = replica_env(corpus, threads="1", **SETTINGS)
        _, urls = st.replicas(env, {"serve": "serve", "ui": "ui"}, home=home)
        res = measure("in-process", st, [urls["serve"]], [urls["ui"]], rep.total, ingest_s,
                      "1 tutor serve + 1 tutor ui, one TUTOR_HOME: embedded Chroma, GGUF in the process (TUTOR_THREADS=1), SQLite",
                      opts)
    log(f"load/in-process: stopped after {st.elapsed()}")
    return res, vectors


def run(work: Path, corpus: Path, embedders=None, vectors=None, learners: int = 8, duration: float = 90.0,
        timeout: float = 300.0, mode: str = "checked", seed: int = 0, drain: float | None = None, arms: tuple[str, ...] = ARMS,
        corpus_note: str = "", on_arm=None) -> dict:
    """Both arms (or `arms`) on `corpus`; `vectors`: (dense, USE) text → vector of an earlier
    ingest to reuse (make bench passes its full ingest's). Stops everything it started, also
    on an exception or Ctrl-C (SIGTERM is turned into one)."""
    t_all = time.monotonic()
    if embedders is None:
        import ingest_bench

        embedders = ingest_bench.load_embedders()
    opts = {"learners": learners, "duration": duration, "timeout": timeout, "mode": mode, "seed": seed, "drain": drain,
            "options": first_options(corpus)}
    res = {"learners": learners, "duration_s": duration, "timeout_s": timeout, "mode": mode, "seed": seed,
           "mix": {op: share for op, share in MIX}, "think_s": list(THINK_S), "settings": SETTINGS,
           "corpus": str(corpus), "corpus_note": corpus_note, "cores": os.cpu_count(), "arms": {}}

    def measured(arm: str, figures: dict) -> None:  # kept before the arm's servers stop
        res["arms"][arm] = figures
        if on_arm:
            on_arm(res)

    opts["measured"] = measured

    def term(*_):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, term) if threading.current_thread() is threading.main_thread() else None
    try:
        for arm in arms:
            fn = replicas_arm if arm == "replicas" else inprocess_arm
            shutil.rmtree(work / arm, ignore_errors=True)  # a reused work dir (BENCH_REUSE): start empty
            try:
                res["arms"][arm], vectors = fn(work / arm, corpus, embedders, vectors, opts)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:  # noqa: BLE001 — pytest.fail from tests/pg.py is a BaseException
                log(f"load/{arm}: FAILED: {type(e).__name__}: {e}")
                res["arms"][arm] = {"failed": f"{type(e).__name__}: {str(e)[-2000:]}", "errors": 1,
                                    "error_list": [f"arm failed: {type(e).__name__}: {str(e)[-500:]}"]}
            if on_arm:
                on_arm(res)  # what is measured so far, kept if a later arm is stopped
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    res["errors"] = sum(a.get("errors", 0) for a in res["arms"].values())
    res["total_s"] = round(time.monotonic() - t_all, 1)
    return res


def table(res: dict) -> str:
    mix = ", ".join(f"{round(v * 100)}% {k}" for k, v in res["mix"].items())
    out = [f"load check: {res['learners']} learners × {res['duration_s']:.0f} s per arm on 127.0.0.1, {res['cores']} cores; "
           f"mix {mix} (think {res['think_s'][0]}-{res['think_s'][1]} s); ask mode {res['mode']}, "
           f"≤{res['settings']['max_answer_tokens']} answer tokens, top_k {res['settings']['top_k']}; "
           f"corpus {res['corpus_note'] or res['corpus']}; {res['total_s']} s in all",
           f"{'arm':<10}{'op':<8}{'n':>5}{'errors':>8}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}{'per min':>9}{'at end':>8}"]
    for arm, a in res["arms"].items():
        if "failed" in a:
            out.append(f"{arm:<10}FAILED: {a['failed'][:300]}")
            continue
        for op, r in a["ops"].items():
            out.append(f"{arm:<10}{op:<8}{r['n']:>5}{r['errors']:>8}{_f(r['p50_ms']):>10}{_f(r['p95_ms']):>10}"
                       f"{_f(r['max_ms']):>10}{r['per_min']:>9}{r['running_at_end']:>8}")
        ask = a["ops"]["ask"]
        mem = ", ".join(f"{k} {v['rss_mib']:.0f}" for k, v in a["rss"].items() if v and v.get("rss_mib"))
        out.append(f"{'':<10}answers/min {a['answers_per_min']}; ask prompt tokens p50 {ask.get('prompt_tokens_p50')}, "
                   f"completion tokens p50 {ask.get('completion_tokens_p50')}, outcomes {ask.get('outcomes')}; "
                   f"load average {a['load_average_start']} → {a['load_average_end']}; wall {a['wall_s']} s; "
                   f"{a['chunks']} chunks ingested in {a['ingest_s']} s, warm {a['setup_s']} s after the arm's start")
        out.append(f"{'':<10}RSS MiB after the load: {mem}")
        for op, r in a["ops"].items():
            if r.get("unfinished"):
                out.append(f"{'':<10}{op}: {r['unfinished']} unfinished when the run was cut {a['drain_s']} s after "
                           f"its end, having waited {r['unfinished_waited_ms']} ms (not in the latencies)")
        out += [f"{'':<10}error: {e[:300]}" for e in a["error_list"][:20]]
    if res.get("errors"):
        out.append(f"ERRORS: {res['errors']}")
    return "\n".join(out)


def _f(v) -> str:
    return "—" if v is None else f"{v:.0f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--learners", type=int, default=8, help="concurrent learners (default 8)")
    ap.add_argument("--duration", type=float, default=90.0, help="seconds of load per arm (default 90)")
    ap.add_argument("--timeout", type=float, default=300.0, help="per-request timeout, s (default 300)")
    ap.add_argument("--mode", default="checked", choices=("auto", "quotes_first", "checked", "stream"),
                    help="answer mode of the asks (default checked: one model call each)")
    ap.add_argument("--chapters", default="1",
                    help="the notes ingested: comma-separated chapters, with the whole outline (default 1), or 'all'")
    ap.add_argument("--arms", default=",".join(ARMS), help="replicas,inprocess (default both)")
    ap.add_argument("--drain", type=float, default=None,
                    help="after the duration, seconds to wait for operations still running (default: the timeout); "
                         "those still running then are reported as unfinished, with how long they had waited")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results-load.json",
                    help="where to write the figures (default benchmarks/results-load.json)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs of every server)")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="tutor-load-"))
    log(f"load: work dir {work}{' (kept)' if args.keep else ''}")
    try:
        if args.chapters == "all":
            corpus, note = ROOT / "corpus", "the whole shipped corpus"
        else:
            import ingest_bench

            chapters = args.chapters.split(",")
            corpus = ingest_bench.subset_corpus(chapters, work / "corpus")
            note = f"the whole outline + the notes of chapter(s) {args.chapters} (a subset, so that it embeds in seconds)"
        res = run(work, corpus, learners=args.learners, duration=args.duration, timeout=args.timeout, mode=args.mode, drain=args.drain,
                  seed=args.seed, arms=tuple(a for a in args.arms.split(",") if a), corpus_note=note,
                  on_arm=lambda r: args.json.write_text(json.dumps(r, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    res["date_utc"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    args.json.write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(res))
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
