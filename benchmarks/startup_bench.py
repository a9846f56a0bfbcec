"""Start-up and memory of the real processes, each in its own subprocess.

- imports: `tutor --help` and `tutor search` run with an atexit hook that writes which heavy
  modules were imported (llama_cpp and gradio must not be); wall time of each as context;
- UI ready: from launching `tutor ui --port N` to the first HTTP 200 on `/`, median of RUNS;
- peak RSS: in the first launch, one question through the app's API with gradio_client (the
  /chat endpoint: the default answer, quotes first for SmolLM2) and the same question's model
  explanation (/explain: loads llama.cpp and generates), then VmHWM of the server process.

Not here: browser rendering time (tests/browser), many sessions (make soak).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import QUESTIONS, ROOT, RUNS, log, median, proc_status

HEAVY = ("llama_cpp", "gradio", "torch", "chromadb", "sentence_transformers")
HOOK = ("import atexit, json, os, sys\n"
        "atexit.register(lambda: open(os.environ['BENCH_MODULES'], 'w').write(json.dumps("
        f"[m for m in {HEAVY!r} if m in sys.modules])))\n"
        "sys.argv = ['tutor'] + sys.argv[1:]\n"
        "from tutor.cli import main\nmain()\n")


def _tutor_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "tutor"
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from tutor.cli import main; main()"]


def imports(home: Path, corpus: Path) -> dict:
    out = {}
    for name, args in (("help", ["--help"]), ("search", ["search", "LoRA", "-k", "3", "--json"])):
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            env = {**os.environ, "TUTOR_HOME": str(home), "TUTOR_CORPUS_DIR": str(corpus), "BENCH_MODULES": f.name}
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-c", HOOK, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
            wall = time.perf_counter() - t0
            mods = json.loads(Path(f.name).read_text() or "[]")
        out[name] = {"rc": p.returncode, "wall_s": round(wall, 2), "heavy_imported": mods,
                     "ok": p.returncode == 0 and "llama_cpp" not in mods and "gradio" not in mods}
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 300) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def _ask(url: str, q: str) -> dict:
    from gradio_client import Client

    c = Client(url, verbose=False, download_files=False, analytics_enabled=False)
    t0 = time.perf_counter()
    c.predict(q, [], "", False, api_name="/chat")
    t1 = time.perf_counter()
    c.predict(q, [], "", api_name="/explain")
    t2 = time.perf_counter()
    return {"chat_s": round(t1 - t0, 2), "explain_s": round(t2 - t1, 2)}


def ui(home: Path, corpus: Path) -> dict:
    ready, first = [], {}
    for i in range(RUNS):
        port = _free_port()
        env = {**os.environ, "TUTOR_HOME": str(home), "TUTOR_CORPUS_DIR": str(corpus)}
        log(f"startup: tutor ui launch {i + 1}/{RUNS}")
        with tempfile.TemporaryFile() as logf:
            t0 = time.perf_counter()
            proc = subprocess.Popen([*_tutor_cmd(), "ui", "--port", str(port)], env=env, cwd=ROOT,
                                    stdout=logf, stderr=subprocess.STDOUT)
            try:
                url = f"http://127.0.0.1:{port}/"
                if not _wait_http(url, proc):
                    logf.seek(0)
                    raise RuntimeError(f"tutor ui did not answer: {logf.read()[-2000:].decode(errors='replace')}")
                ready.append(time.perf_counter() - t0)
                if i == 0:
                    first = {"rss_after_start_mib": proc_status(proc.pid)["VmRSS"], **_ask(url, QUESTIONS[0])}
                    st = proc_status(proc.pid)
                    first.update(rss_after_question_mib=st["VmRSS"], peak_rss_mib=st["VmHWM"])
            finally:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    return {"ready_runs_s": [round(x, 2) for x in ready], "ready_s": median(ready), **first}


def run(home: Path, corpus: Path) -> dict:
    log("startup: imports of tutor --help / tutor search")
    return {"imports": imports(home, corpus), "ui": ui(home, corpus)}
