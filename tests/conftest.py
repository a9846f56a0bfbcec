"""Shared fixtures. Unit tests use fakes (hash embedder, scripted LLM) over the real
corpus files; integration tests use the real stack: Chroma on disk in a tmp dir, the real
all-MiniLM-L6-v2 and the real SmolLM2-135M GGUF at temperature 0. The real index is
built once per session (about a minute on 2 cores) and shared read-only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tutor.config import Settings

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

# One pytest-xdist worker per core: each worker's math libraries (torch's OpenMP pool, numpy's
# BLAS) and the `tutor` subprocesses it starts get one thread, or two workers' 2-thread pools
# spin against each other on 2 cores (measured here: two concurrent MiniLM embeddings of 400
# chunks took 38.8 s with 2 threads each, 32.3 s with 1). Set before torch is imported.
BUSY_CORES = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")) >= (os.cpu_count() or 1)
if BUSY_CORES:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def pytest_configure(config):
    """The controller names the real-model ledger's folder before xdist starts its workers
    (tests/llm_ledger.py); every process installs the ledger's wrapper."""
    from tests import llm_ledger

    if not hasattr(config, "workerinput") and llm_ledger.ENV not in os.environ:
        import tempfile

        os.environ[llm_ledger.ENV] = tempfile.mkdtemp(prefix="tutor-llm-ledger-")
    llm_ledger.install()


def pytest_terminal_summary(terminalreporter, config):
    from tests import llm_ledger

    if hasattr(config, "workerinput") or not os.environ.get(llm_ledger.ENV):
        return
    import shutil

    folder = Path(os.environ[llm_ledger.ENV])
    for line in llm_ledger.summary(folder):
        terminalreporter.write_line(line)
    shutil.rmtree(folder, ignore_errors=True)


class Clock:
    """A settable clock for the quiz service (Quiz(t, clock=Clock(T0)); set .t to move time)."""

    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def make_settings(home: Path, **kw) -> Settings:
    """Settings isolated from the user's environment and tutor.toml. multilingual defaults to
    False here (unit tests inject the hash embedder); the real-stack fixtures pass True."""
    kw.setdefault("corpus_dir", ROOT / "corpus")
    kw.setdefault("multilingual", False)
    kw.setdefault("prompts_dir", ROOT / "prompts")
    # most tests check the streamed answer and its guard; the answer modes have their own tests
    kw.setdefault("answer_mode", "stream")
    return Settings(home=home, **kw)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path / "home")


def memoised(embedder):
    """The same real Embedder with its vectors remembered per text for the test run: the model
    computes each distinct text once, and the many small ingests of the integration tests
    (chapter 1, the outline, the full corpus again) reuse the vectors of the session's full
    build instead of recomputing them. Vectors are the model's own, unchanged."""
    import dataclasses
    import threading

    from langchain_core.embeddings import Embeddings

    class Memo(Embeddings):
        def __init__(self, inner):
            self.inner, self.docs, self.queries, self.lock = inner, {}, {}, threading.Lock()

        def embed_documents(self, texts):
            with self.lock:
                missing = [t for t in dict.fromkeys(texts) if t not in self.docs]
                if missing:
                    self.docs.update(zip(missing, self.inner.embed_documents(missing)))
                return [list(self.docs[t]) for t in texts]

        def embed_query(self, text):
            with self.lock:
                if text not in self.queries:
                    self.queries[text] = self.inner.embed_query(text)
                return list(self.queries[text])

    return dataclasses.replace(embedder, embeddings=Memo(embedder.embeddings))


@pytest.fixture(scope="session")
def real_embedder():
    from tutor.rag.embed import load_embedder

    return memoised(load_embedder(None))


@pytest.fixture(scope="session")
def real_multilingual():
    from tutor.rag.embed import load_multilingual_embedder

    return memoised(load_multilingual_embedder(1 if BUSY_CORES else None))


@pytest.fixture(scope="session")
def real_llm():
    from tutor.llm import load_llm

    return load_llm(make_settings(Path("/nonexistent"), temperature=0.0, seed=42))


# The context window of the small-window fixtures. Reading the prompt is most of a real answer's
# time (SmolLM2 reads ~100 prompt tokens/s on one core here, raw llama-cpp-python; a default
# 4,096 window carries ~1,700-2,400 prompt tokens): tests whose subject is not the default window
# (the UI, bad input, eval plumbing) run at 1,024, ~640 prompt tokens, through the same fitting.
SMALL_N_CTX = 1024


@pytest.fixture(scope="session")
def real_llm_small():
    """The real GGUF (temperature 0) with a SMALL_N_CTX window."""
    from tutor.llm import load_llm

    return load_llm(make_settings(Path("/nonexistent"), n_ctx=SMALL_N_CTX, temperature=0.0, seed=42))


def shared_dir(tmp_path_factory) -> Path:
    """A folder every pytest-xdist worker of this run sees (the base temp's parent under
    xdist, the base temp itself in a plain run): where the once-per-run real index lives."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _vectors(embedder) -> dict:
    return embedder.embeddings.docs


@pytest.fixture(scope="session")
def real_home(tmp_path_factory, real_embedder, real_multilingual) -> Path:
    """A data dir with the full corpus ingested by the real embedders, MiniLM and USE
    (read-only for tests). Built once per run: under pytest-xdist the first worker builds it
    under a file lock and saves the vectors it computed; the others wait for it, open the
    same index and load those vectors into their memoised embedders."""
    import pickle

    from filelock import FileLock

    from tutor.corpus import Corpus
    from tutor.rag.index import Index

    root = shared_dir(tmp_path_factory)
    home, vectors, done = root / "real_home", root / "real_vectors.pkl", root / "real_home.done"
    with FileLock(str(root / "real_home.lock")):
        if done.exists():
            dense, ml = pickle.loads(vectors.read_bytes())
            _vectors(real_embedder).update(dense)
            _vectors(real_multilingual).update(ml)
        else:
            s = make_settings(home, multilingual=True)
            Index.ingest(s, real_embedder, Corpus.load(s.corpus_dir), multilingual=real_multilingual)
            vectors.write_bytes(pickle.dumps((_vectors(real_embedder), _vectors(real_multilingual))))
            done.touch()
    return home


@pytest.fixture(scope="session")
def real_tutor(real_home, real_embedder, real_multilingual, real_llm):
    """Tutor on the real index, MiniLM + USE and SmolLM2 (temperature 0)."""
    from tutor.tutor import build_tutor

    return build_tutor(make_settings(real_home, multilingual=True), llm=real_llm, embedder=real_embedder, multilingual=real_multilingual)


@pytest.fixture(scope="session")
def real_tutor_small(real_home, real_embedder, real_multilingual, real_llm_small):
    """real_tutor with a SMALL_N_CTX window (the same index and embedders)."""
    from tutor.tutor import build_tutor

    s = make_settings(real_home, multilingual=True, n_ctx=SMALL_N_CTX)
    return build_tutor(s, llm=real_llm_small, embedder=real_embedder, multilingual=real_multilingual)


@pytest.fixture(scope="session")
def fake_home(tmp_path_factory) -> Path:
    """The real corpus ingested once per run with the hash embedder (~20 s for 16 chapters);
    each fake_tutor gets a private copy, so a test may write to its index without touching others."""
    from tutor.rag.embed import hash_embedder
    from tutor.llm import ScriptedLLM
    from tutor.tutor import build_tutor

    from filelock import FileLock

    root = shared_dir(tmp_path_factory)  # one build per run: xdist workers share it (read-only)
    home, done = root / "fake_home" / "home", root / "fake_home.done"
    with FileLock(str(root / "fake_home.lock")):
        if not done.exists():
            build_tutor(make_settings(home), llm=ScriptedLLM(), embedder=hash_embedder()).ingest()
            done.touch()
    return home


def fake_home_copy(fake_home: Path, dest: Path) -> Path:
    """A private copy of fake_home at dest (a module's own fake tutor: settings of its own, the
    session's hash-embedder index instead of another ~20 s ingest)."""
    import shutil

    shutil.copytree(fake_home, dest)
    return dest


@pytest.fixture
def fake_tutor(tmp_path, fake_home):
    """Tutor on the real corpus with the hash embedder and a scripted LLM, on a copy of fake_home."""
    import shutil

    from tutor.rag.embed import hash_embedder
    from tutor.llm import ScriptedLLM
    from tutor.tutor import build_tutor

    shutil.copytree(fake_home, tmp_path / "home")
    return build_tutor(make_settings(tmp_path / "home"), llm=ScriptedLLM(), embedder=hash_embedder())


def slowdown() -> float:
    """How much slower than idle this machine runs now (>= 1): the 1-minute load average per
    core. Subprocess and server timeouts are multiplied by it, so a loaded machine (CI beside
    other jobs) gives a correct but slow run time instead of failing it; on an idle machine
    the limits stay tight enough to catch a hang."""
    try:
        return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    except OSError:
        return 1.0


def run_cli(args: list[str], home: Path, env: dict | None = None, timeout: float = 300, input: str | None = None):
    """Run the real `tutor` CLI in a subprocess with TUTOR_HOME=home; returns CompletedProcess.
    timeout: seconds on an idle machine, scaled by `slowdown()`."""
    import subprocess
    import sys

    e = {**os.environ, "TUTOR_HOME": str(home), "TUTOR_CORPUS_DIR": str(ROOT / "corpus"), "TUTOR_PROMPTS_DIR": str(ROOT / "prompts")}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "tutor.cli", *args], capture_output=True, text=True, env=e,
                          timeout=timeout * slowdown(), input=input, cwd=str(home.parent))


def poll_http(url: str, proc, seconds: float) -> bool:
    """Poll url until it answers (True), or until proc (a Popen) exits or `seconds` pass (False);
    `seconds` on an idle machine, scaled by the load (slowdown())."""
    import time
    import urllib.request

    deadline = time.monotonic() + seconds * slowdown()
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return True
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.2)


def wait_for_http(url: str, proc, seconds: float = 180) -> None:
    """Poll url until it answers; fails the test with the server's stderr if proc exits or
    `seconds` pass (servers started by tests print nothing we need otherwise)."""
    if not poll_http(url, proc, seconds):
        proc.kill()
        err = proc.stderr.read()[-2000:] if proc.stderr else ""
        pytest.fail(f"server at {url} did not start: {err}")


def pytest_collection_modifyitems(session, config, items):
    """Files in the order of tests/schedule.py (longest first; the real index's builder first):
    xdist's loadfile hands them out in this order under --no-loadscope-reorder."""
    from tests import schedule

    files: dict[str, list] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::")[0], []).append(item)
    needs = {f for f, its in files.items() if any(schedule.INDEX_FIXTURES & set(it.fixturenames) for it in its)}
    items[:] = [it for f in schedule.order(list(files), needs) for it in files[f]]
