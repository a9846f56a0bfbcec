"""`tutor serve`: the real HTTP API in its own process on 127.0.0.1 (real index, MiniLM,
SmolLM2 at temperature 0), exercised with plain HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.conftest import ROOT, run_cli, wait_for_http
from tests.integration.test_server_mode import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(real_home):
    port = free_port()
    env = {**os.environ, "TUTOR_HOME": str(real_home), "TUTOR_CORPUS_DIR": str(ROOT / "corpus"),
           "TUTOR_PROMPTS_DIR": str(ROOT / "prompts"), "TUTOR_TEMPERATURE": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "tutor.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(url + "/health", proc, 180)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def call(url: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_search_and_health(api):
    status, body = call(api, "/health")
    assert status == 200 and json.loads(body)["chunks"] > 1000
    status, body = call(api, "/search?" + urllib.parse.urlencode({"q": "为什么注意力要除以根号d_k", "k": 3}))
    hits = json.loads(body)["hits"]
    assert status == 200 and hits[0]["id"] == "1.1.2"


def test_ask_and_stream_give_the_same_answer(api):
    q = {"question": "What does the KV cache store during decoding?"}
    status, body = call(api, "/ask", q)
    assert status == 200
    asked = json.loads(body)
    assert asked["sources"] and asked["answer"].strip() and asked["lang"] == "en"
    status, raw = call(api, "/ask/stream", q)
    events = [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: ")]
    assert status == 200 and events[0]["event"] == "sources" and events[-1]["event"] == "done"
    assert events[-1]["answer"]["answer"] == asked["answer"]  # temperature 0: same text either way


def test_bad_input_is_a_400_with_one_line(api):
    status, body = call(api, "/ask", {"question": "   "})
    err = json.loads(body)["error"]
    assert status == 400 and "question is empty" in err and "\n" not in err


def test_network_bind_needs_a_token(real_home):
    p = run_cli(["serve", "--host", "0.0.0.0"], real_home, timeout=120)
    assert p.returncode == 2 and "--token" in p.stderr and "Traceback" not in p.stderr
