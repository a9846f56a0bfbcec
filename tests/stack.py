"""The shared servers and `tutor` replicas of a server-mode deployment, started for real on
127.0.0.1: a Chroma server (`chroma run`), `llama_cpp.server` with the default SmolLM2 GGUF,
and `tutor serve` / `tutor ui` processes, each with its own working directory and (unless
told otherwise) its own empty TUTOR_HOME. PostgreSQL is tests/pg.py's `PgServer`.

Used by tests/integration/test_replicas.py (what replicas share) and benchmarks/load.py (how
much load they take). Every process is recorded in a `Stack`, which stops them in reverse
order on close() — also as a context manager, so an exception or Ctrl-C stops them too.
Servers write their output to a log file in the stack's directory (a pipe nobody reads could
fill and block them); a server that does not come up raises `StackError` with its log's tail."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from tests.conftest import ROOT, poll_http

ALIAS = "SmolLM2-135M-Instruct-Q4_1"  # the in-process model's name, so the answer-mode policy knows it


class StackError(RuntimeError):
    """A server did not start (the message holds its log's tail)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A server subprocess with its output in a log file."""

    def __init__(self, name: str, cmd: list[str], logdir: Path, env: dict | None = None, cwd: Path | None = None):
        self.name, self.log = name, logdir / f"{name}.log"
        with self.log.open("wb") as out:
            self.p = subprocess.Popen(cmd, stdout=out, stderr=out, env=env, cwd=cwd)

    def wait_http(self, url: str, seconds: float) -> None:
        """Poll url until it answers; `seconds` on an idle machine, scaled by the load (slowdown());
        raises StackError with the log's tail if the process exits or the time passes."""
        if not poll_http(url, self.p, seconds):
            raise StackError(f"{self.name} did not answer {url} (exit {self.p.poll()}): "
                             f"{self.log.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=20)


def replica_env(corpus: Path, chroma_url: str | None = None, llm_url: str | None = None, database_url: str | None = None,
                **settings: str) -> dict[str, str]:
    """Environment of a replica: this one's, less any TUTOR_* of the user's, with the corpus and
    prompts, the shared servers given (none: the embedded defaults — local Chroma, in-process
    GGUF, SQLite under the home) and `settings` as TUTOR_<NAME> (e.g. top_k="3"); one thread
    for torch/BLAS (OMP_NUM_THREADS=1)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUTOR_")}
    env.update({"TUTOR_CORPUS_DIR": str(corpus), "TUTOR_PROMPTS_DIR": str(ROOT / "prompts"), "OMP_NUM_THREADS": "1"})
    if chroma_url:
        env["TUTOR_CHROMA_URL"] = chroma_url
    if llm_url:
        env.update({"TUTOR_LLM_BASE_URL": llm_url, "TUTOR_LLM_MODEL": ALIAS})
    if database_url:
        env["TUTOR_DATABASE_URL"] = database_url
    env.update({f"TUTOR_{k.upper()}": str(v) for k, v in settings.items()})
    return env


class Stack:
    """Processes started under `dir` (logs, data, homes), stopped in reverse order by close()."""

    def __init__(self, dir: Path, say: Callable[[str], None] = print):
        self.dir, self.say, self.procs = Path(dir), say, []
        self.dir.mkdir(parents=True, exist_ok=True)
        self.t0 = time.monotonic()

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.t0:.1f} s"

    def start(self, name: str, cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> Proc:
        p = Proc(name, cmd, self.dir, env=env, cwd=cwd)
        self.procs.append(p)
        return p

    def model_server(self, n_ctx: int = 2048, threads: int = 1, extra: tuple[str, ...] = ()) -> tuple[Proc, str]:
        """llama_cpp.server with the default GGUF under ALIAS (seed 42), `threads` generation
        threads, `extra` arguments (e.g. "--n_threads_batch", "1"); returns (process, base URL
        ending in /v1). Not waited for: `proc.wait_http(url + "/models", s)`."""
        from tutor.llm import default_model_path

        port = free_port()
        p = self.start("llama_server", [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()),
                                        "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(port),
                                        "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--seed", "42",
                                        "--verbose", "False", *extra])
        return p, f"http://127.0.0.1:{port}/v1"

    def chroma(self) -> tuple[Proc, str]:
        """`chroma run` with its data under this stack's dir; returns (process, URL), not waited for:
        `proc.wait_http(url + "/api/v2/heartbeat", s)`."""
        port = free_port()
        p = self.start("chroma", [str(Path(sys.executable).parent / "chroma"), "run", "--host", "127.0.0.1",
                                  "--port", str(port), "--path", str(self.dir / "chroma")])
        return p, f"http://127.0.0.1:{port}"

    def replicas(self, env: dict, kinds: dict[str, str], home: Path | None = None,
                 seconds: float = 180) -> tuple[dict[str, Path], dict[str, str]]:
        """Start `tutor <kind>` for each name → kind ("serve" or "ui") on a free port, each in a
        working directory of its own (not the repo: no tutor.toml of ours is read, nothing lands
        beside it) and with its own empty TUTOR_HOME, or all with `home`; wait until each
        answers (/health, or the page). Returns ({name: home}, {name: URL})."""
        homes, urls, apps = {}, {}, []
        for name, cmd in kinds.items():
            h, port = home or self.dir / f"home-{name}", free_port()
            h.mkdir(parents=True, exist_ok=True)
            (self.dir / f"cwd-{name}").mkdir(exist_ok=True)
            apps.append(self.start(name, [sys.executable, "-m", "tutor.cli", cmd, "--port", str(port)],
                                   env={**env, "TUTOR_HOME": str(h)}, cwd=self.dir / f"cwd-{name}"))
            homes[name], urls[name] = h, f"http://127.0.0.1:{port}"
        for p in apps:
            p.wait_http(urls[p.name] + ("/health" if kinds[p.name] == "serve" else "/"), seconds)
            self.say(f"{p.name} up after {self.elapsed()}")
        return homes, urls

    def close(self) -> None:
        """Signal every process (newest first), then wait for each: a server still finishing
        requests takes its grace period at the same time as the others, not after them."""
        for p in reversed(self.procs):
            if p.p.poll() is None:
                p.p.terminate()
        while self.procs:
            self.procs.pop().stop()
