"""Stateless replicas (issue 18): several app processes, each with its own empty TUTOR_HOME,
against one real Chroma server, one real llama_cpp.server (the default SmolLM2 GGUF) and one
real PostgreSQL database, all on 127.0.0.1: two `tutor serve` (HTTP API) and two `tutor ui`
(Gradio). The same search gets the same hits and scores from both API replicas; both answer
through the shared model server alike; a quiz answer recorded through one web app replica is
seen through the other (its progress and its choice of the next item); and no replica's home
holds anything but caches.

What is per process by design: a web app session (Gradio keeps each browser session's state,
a quiz round included, in the process that serves it), so `tutor ui` replicas need sticky
sessions behind a load balancer; `tutor serve` keeps nothing between requests (docs/deploy.md).

The corpus is chapter 1 of the outline with four notes (test_index_faults.FEW), MiniLM only
(TUTOR_MULTILINGUAL=false), ingested once in-process from a third home; answers are 32 tokens
from 3 chunks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, make_settings, slowdown
from tests.integration.test_index_faults import FEW, write_corpus
from tests.integration.test_server_mode import free_port

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.pg"]

ALIAS = "SmolLM2-135M-Instruct-Q4_1"  # the in-process model's name, so the answer-mode policy knows it
USER = "alice"
QUERIES = ("RoPE 旋转位置编码", "多头注意力的投影矩阵", "why scale the dot product by sqrt(d_k)", "positional encoding")


class Proc:
    """A server subprocess with its output in a log file (a pipe nobody reads could fill and block it)."""

    def __init__(self, name: str, cmd: list[str], logdir: Path, env: dict | None = None, cwd: Path | None = None):
        self.name, self.log = name, logdir / f"{name}.log"
        with self.log.open("wb") as out:
            self.p = subprocess.Popen(cmd, stdout=out, stderr=out, env=env, cwd=cwd)

    def wait_http(self, url: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds * slowdown()
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                return
            except OSError:
                if self.p.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{self.name} did not answer {url} (exit {self.p.poll()}): "
                                f"{self.log.read_text(errors='replace')[-2000:]}", pytrace=False)
                time.sleep(0.2)

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=20)


def call(base: str, path: str, body: dict | None = None, timeout: float = 120) -> tuple[int, dict]:
    """GET (body None) or POST JSON; returns (status, JSON reply), errors included."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout * slowdown()) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def ok(base: str, path: str, body: dict | None = None, timeout: float = 120) -> dict:
    status, got = call(base, path, body, timeout)
    assert status == 200, (base, path, status, got)
    return got


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory):
    """{"urls": {replica: URL}, "homes": {replica: its TUTOR_HOME}, "corpus": dir, "db": URL};
    replicas serve-a, serve-b (`tutor serve`) and ui-a, ui-b (`tutor ui`)."""
    from tutor.corpus import Corpus
    from tutor.llm import default_model_path
    from tutor.rag.index import Index

    t0 = time.monotonic()
    tmp = tmp_path_factory.mktemp("replicas")
    procs: list[Proc] = []
    try:
        # the model server loads while the rest starts
        llm_port, chroma_port = free_port(), free_port()
        llm = Proc("llama_server", [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()),
                                    "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(llm_port),
                                    "--n_ctx", "2048", "--n_threads", "1", "--seed", "42", "--verbose", "False"], tmp)
        procs.append(llm)
        chroma = Path(sys.executable).parent / "chroma"
        srv = Proc("chroma", [str(chroma), "run", "--host", "127.0.0.1", "--port", str(chroma_port), "--path", str(tmp / "chroma")], tmp)
        procs.append(srv)
        # both start while PostgreSQL and MiniLM load here
        db, embedder = request.getfixturevalue("pg_server").database(), request.getfixturevalue("real_embedder")
        chroma_url, llm_url = f"http://127.0.0.1:{chroma_port}", f"http://127.0.0.1:{llm_port}/v1"
        corpus = write_corpus(tmp / "corpus")
        srv.wait_http(chroma_url + "/api/v2/heartbeat", 60)
        print(f"\nchroma, postgresql and MiniLM ready after {time.monotonic() - t0:.1f} s")
        s = make_settings(tmp / "ingest-home", corpus_dir=corpus, chroma_url=chroma_url)
        Index.ingest(s, embedder, Corpus.load(corpus))
        print(f"ingested after {time.monotonic() - t0:.1f} s")

        env = {**os.environ, "TUTOR_CORPUS_DIR": str(corpus), "TUTOR_PROMPTS_DIR": str(ROOT / "prompts"),
               "TUTOR_CHROMA_URL": chroma_url, "TUTOR_LLM_BASE_URL": llm_url, "TUTOR_LLM_MODEL": ALIAS,
               "TUTOR_DATABASE_URL": db, "TUTOR_MULTILINGUAL": "false", "TUTOR_TOP_K": "3",
               "TUTOR_MAX_ANSWER_TOKENS": "32", "TUTOR_N_CTX": "1024",  # half the server's: SmolLM2 spends ~1.8 tokens per Chinese character
               "TUTOR_LLM_TIMEOUT_S": "120", "TUTOR_INDEX_CHECK_S": "2", "OMP_NUM_THREADS": "1"}
        homes, urls, apps = {}, {}, []
        for name, cmd in (("serve-a", "serve"), ("serve-b", "serve"), ("ui-a", "ui"), ("ui-b", "ui")):
            home, port = tmp / f"home-{name}", free_port()
            home.mkdir()
            (tmp / f"cwd-{name}").mkdir()  # not the repo: no tutor.toml of ours is read, nothing lands beside it
            apps.append(Proc(name, [sys.executable, "-m", "tutor.cli", cmd, "--port", str(port)], tmp,
                             env={**env, "TUTOR_HOME": str(home)}, cwd=tmp / f"cwd-{name}"))
            procs.append(apps[-1])
            homes[name], urls[name] = home, f"http://127.0.0.1:{port}"
        for p in apps:
            p.wait_http(urls[p.name] + ("/health" if p.name.startswith("serve") else "/"), 180)
            print(f"{p.name} up after {time.monotonic() - t0:.1f} s")
        llm.wait_http(llm_url + "/models", 120)
        print(f"\nreplicas up after {time.monotonic() - t0:.1f} s")
        yield {"urls": urls, "homes": homes, "corpus": corpus, "db": db}
    finally:
        for p in reversed(procs):
            p.stop()
        print(f"\nstack stopped after {time.monotonic() - t0:.1f} s")


def test_both_replicas_return_the_same_hits(stack):
    a, b = stack["urls"]["serve-a"], stack["urls"]["serve-b"]
    ha, hb = ok(a, "/health"), ok(b, "/health")
    assert ha == hb and ha["chunks"] > 0 and ha["model"] == ALIAS
    for q in QUERIES:
        path = "/search?" + urllib.parse.urlencode({"q": q, "k": 5})
        ra, rb = ok(a, path), ok(b, path)
        assert ra["hits"], q
        assert [(h["id"], h["score"]) for h in ra["hits"]] == [(h["id"], h["score"]) for h in rb["hits"]], q
        assert ra == rb, q  # texts and metadata too


def choice_label(corpus: Path, question: str, k: int = 0) -> str:
    """Option k of the choice item asking `question`, as the quiz tab's radio shows it."""
    from tutor.corpus import Corpus
    from tutor.quiz.items import from_front_matter

    item = next(i for n in Corpus.load(corpus).notes.values() for i in from_front_matter(n) if i.prompt == question)
    return f"{'ABCD'[k]}. {item.options[k]}"


def test_a_quiz_answer_recorded_through_one_web_replica_is_seen_through_the_other(stack):
    from gradio_client import Client

    from tutor.quiz.progress import Progress

    a, b = (Client(stack["urls"][n], verbose=False, download_files=False) for n in ("ui-a", "ui-b"))

    def history(client) -> list[list]:
        rows = client.predict(USER, api_name="/progress")[5]["data"]
        return [r for r in rows if any(str(c).strip() for c in r)]

    assert history(a) == history(b) == []
    q1 = a.predict(USER, "", "new", "choice", 1, api_name="/quiz_start")[2]
    assert q1
    # a web session lives in one process: a session on the other replica has no round to grade
    assert b.predict(None, "A", api_name="/quiz_submit")[2] == ""
    a.predict(choice_label(stack["corpus"], q1), "", api_name="/quiz_submit")
    seen = history(b)
    assert len(seen) == 1 and seen == history(a)
    # the other replica's next new item is another one: it knows q1 was answered
    q2 = b.predict(USER, "", "new", "choice", 1, api_name="/quiz_start")[2]
    assert q2 and q2 != q1
    b.predict(choice_label(stack["corpus"], q2, 1), "", api_name="/quiz_submit")
    both = history(a)
    assert len(both) == 2 and both == history(b)
    store = Progress(stack["db"])
    try:
        reviews = store.reviews(USER)
    finally:
        store.engine.dispose()
    assert [r.answer for r in reviews] == ["A", "B"] and len({r.item_id for r in reviews}) == 2


def test_both_replicas_answer_through_the_shared_model_server(stack):
    from tutor.corpus import Corpus

    known = {n.id for n in Corpus.load(stack["corpus"]).outline.nodes}  # chapter 1: outline nodes and the four notes
    body = {"question": "Why scale the dot product by sqrt(d_k)?", "mode": "checked"}
    answers = [ok(stack["urls"][n], "/ask", body, timeout=180) for n in ("serve-a", "serve-b")]
    for r in answers:
        assert r["model"] == ALIAS and r["answer"].strip()
        assert r["timings"]["completion_tokens"] > 0  # the model server was asked, not only the notes quoted
        assert r["sources"] and [s["n"] for s in r["sources"]] == list(range(1, len(r["sources"]) + 1))
        assert {s["id"] for s in r["sources"]} <= known and {s["id"] for s in r["sources"]} & set(FEW)
        assert {int(n) for n in re.findall(r"\[(\d+)\]", r["answer"])} <= {s["n"] for s in r["sources"]}
        assert r["guard"]["outcome"] in ("direct", "retried", "fallback")  # the answer check ran
    assert answers[0]["sources"] == answers[1]["sources"]
    assert answers[0]["answer"] == answers[1]["answer"]  # temperature 0, one server: the same text


def test_a_replica_home_holds_only_caches(stack):
    """All a replica writes under its TUTOR_HOME is the lexical cache of the server's index:
    index/cache/.lock (readers hold it shared), index/cache/.writer (the pid of its last
    pruner) and index/cache/<corpus_version>/ (bm25/, terms.json, chunks.jsonl), the same in
    every replica. No progress.db, manifest, Chroma store, tutor.toml or models."""
    listings = {}
    for name, home in stack["homes"].items():
        files = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
        print(f"\n{name}: {files}")
        versions = [p.name for p in (home / "index" / "cache").iterdir() if p.is_dir()]
        assert len(versions) == 1, files
        v = versions[0]
        extra = [f for f in files if f not in ("index/cache/.lock", "index/cache/.writer") and not f.startswith(f"index/cache/{v}/")]
        assert extra == [], files
        assert {f"index/cache/{v}/chunks.jsonl", f"index/cache/{v}/terms.json"} <= set(files)
        assert any(f.startswith(f"index/cache/{v}/bm25/") for f in files)
        listings[name] = [f.replace(v, "V") for f in files]
    assert len({tuple(x) for x in listings.values()}) == 1, listings
