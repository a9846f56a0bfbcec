"""Server mode, the chat model: the real Tutor answering through the real llama-cpp-python
server (`python -m llama_cpp.server`) serving the default SmolLM2 GGUF on 127.0.0.1."""

import re
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import make_settings, run_cli
from tests.integration.test_server_mode import free_port

pytestmark = pytest.mark.integration

ALIAS = "SmolLM2-135M-Instruct-Q4_1"  # the in-process model's name, so reports read the same


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """llama_cpp.server on a free port (n_ctx 4096, 2 threads), waited for; yields its /v1 URL."""
    from tutor.llm import default_model_path

    port = free_port()
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()),
                                 "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
                                 "--n_threads", "2", "--seed", "42", "--verbose", "False"], stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url + "/models", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"llama_cpp.server did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_a_real_question_through_the_model_server(llama_server, real_home, real_embedder, real_multilingual):
    from tutor.llm import RemoteLLM
    from tutor.tutor import build_tutor

    # TUTOR_N_CTX half the server's: the estimate counts a Chinese character as 1 token, SmolLM2 spends ~1.8
    s = make_settings(real_home, multilingual=True, llm_base_url=llama_server, llm_model=ALIAS, n_ctx=2048,
                      max_answer_tokens=48, llm_timeout_s=120)
    t = build_tutor(s, embedder=real_embedder, multilingual=real_multilingual)
    q = "What is LoRA?"

    def ask() -> tuple[str, object, int]:
        drafted, tokens, done = "", 0, None
        for kind, value in t.ask_stream(q):
            if kind == "token":
                drafted += value
                tokens += 1
            elif kind == "done":
                done = value
        return drafted, done, tokens

    first, a, tokens = ask()
    assert isinstance(t.llm, RemoteLLM) and t.llm.lock.locked() is False
    assert tokens > 1 and first.strip()  # streamed in pieces
    assert a.model == ALIAS and a.sources
    assert a.guard and a.guard["outcome"] in ("direct", "retried", "fallback")  # the answer check ran
    # sources are numbered [1]..[k]; whatever the answer cites is one of them (SmolLM2 does not always cite)
    assert [x.n for x in a.sources] == list(range(1, len(a.sources) + 1))
    assert {int(n) for n in re.findall(r"\[(\d+)\]", a.answer)} <= {x.n for x in a.sources}
    assert a.timings["first_token_ms"] > 0 and a.timings["prompt_tokens"] > 0 and a.timings["completion_tokens"] > 0
    assert t.llm.last.counted_by == "estimate"  # llama_cpp.server sends no usage in its stream
    second, b, tokens = ask()
    # the same sources and again a streamed, checked answer; not necessarily the same draft: the
    # server answers a repeated prompt from its prompt cache (the cached prefix kept, the last token
    # evaluated again) and the logits of that path can differ enough from a whole-prompt evaluation
    # to change a greedy choice (llama.cpp issues #4902, #28527)
    assert [(x.n, x.id) for x in b.sources] == [(x.n, x.id) for x in a.sources]
    assert tokens > 1 and second.strip() and b.guard["outcome"] in ("direct", "retried", "fallback")


def test_cli_with_a_dead_model_server_exits_2_with_one_line(real_home):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    t0 = time.monotonic()
    p = run_cli(["ask", "What is LoRA?", "--mode", "checked"], real_home,
                env={"TUTOR_LLM_BASE_URL": dead, "TUTOR_LLM_MODEL": "m", "TUTOR_LLM_TIMEOUT_S": "3"}, timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    lines = p.stderr.strip().splitlines()
    assert "Traceback" not in p.stderr and len(lines) == 1, p.stderr
    assert lines[0].startswith(f"error: cannot reach the model server at {dead} (tried twice)")
    assert "TUTOR_LLM_BASE_URL" in lines[0]
    assert time.monotonic() - t0 < 240

