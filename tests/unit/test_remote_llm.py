"""RemoteLLM against a tiny fake OpenAI-compatible server on 127.0.0.1 (stdlib http.server,
server-sent events): streaming, Stop, usage, timeouts, refused connections, HTTP errors."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import make_settings
from tutor.errors import TutorError
from tutor.llm import ModelServerError, RemoteLLM, estimate_tokens, load_llm, model_name

MSGS = [{"role": "system", "content": "Answer from the notes."}, {"role": "user", "content": "什么是 LoRA？"}]


class FakeServer:
    """`behaviour` decides each POST /v1/chat/completions: "stream" (the pieces, then usage if
    given), "endless" (a piece every 10 ms until the client hangs up), "silent" (never
    answers), "empty" (HTTP 200 and an event stream that ends before any event), or an int
    HTTP status with an OpenAI error body."""

    def __init__(self, behaviour="stream", pieces=("Lo", "RA ", "adds [1]."), usage=None):
        self.behaviour, self.pieces, self.usage = behaviour, list(pieces), usage
        self.requests: list[dict] = []
        self.sent = 0  # pieces written (endless)
        self.hung_up = threading.Event()
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):  # GET /v1/models
                data = json.dumps({"object": "list", "data": [{"id": "fake-model", "object": "model"}]}).encode()
                self.send_response(200 if self.path == "/v1/models" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
                b = fake.behaviour
                if b == "silent":
                    fake.release.wait(30)
                    return
                if isinstance(b, int):
                    msg = {400: "Requested tokens (5000) exceed context window of 2048", 401: "invalid api key",
                           404: "model not found", 500: "boom"}[b]
                    data = json.dumps({"error": {"message": msg, "type": "error", "code": b}}).encode()
                    self.send_response(b)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                if b == "empty":  # llama_cpp.server on a prompt over its window: the stream has begun, then ends
                    return
                try:
                    i = 0
                    while b == "endless" or i < len(fake.pieces):
                        piece = fake.pieces[i % len(fake.pieces)]
                        self._event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": piece},
                                                  "finish_reason": None}]})
                        fake.sent += 1
                        i += 1
                        if b == "endless":
                            time.sleep(0.01)
                    self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                    if fake.usage:
                        self._event({"choices": [], "usage": fake.usage})
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    fake.hung_up.set()

            def _event(self, obj):
                obj = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "fake", **obj}
                self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    servers = []

    def start(*a, **kw) -> FakeServer:
        servers.append(FakeServer(*a, **kw))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_streams_pieces_and_sends_the_request_fields(server):
    srv = server()
    llm = RemoteLLM(srv.url, "qwen2.5-1.5b", timeout_s=5)
    pieces = list(llm.stream(MSGS, 50))
    assert "".join(pieces) == "LoRA adds [1]." and len(pieces) >= 3  # streamed, not one block
    req = srv.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["model"] == "qwen2.5-1.5b"
    assert req["stream"] is True and req["temperature"] == 0 and req["max_tokens"] == 50
    assert "max_completion_tokens" not in req  # llama_cpp.server ignores it
    assert req["messages"] == MSGS and req["auth"] == "Bearer no-key-needed"
    g = llm.last
    assert g.first_token_ms is not None and g.total_ms >= g.first_token_ms and not g.stopped


def test_without_usage_the_counts_are_the_estimate(server):
    llm = RemoteLLM(server().url, "m", timeout_s=5)
    text = "".join(llm.stream(MSGS, 50))
    assert llm.last.counted_by == "estimate"
    assert llm.last.completion_tokens == estimate_tokens(text) == 5  # 14 ASCII chars / 3, rounded up
    assert llm.last.prompt_tokens == llm.count_messages(MSGS)


def test_usage_from_the_server_replaces_the_estimate(server):
    llm = RemoteLLM(server(usage={"prompt_tokens": 37, "completion_tokens": 5, "total_tokens": 42}).url, "m", timeout_s=5)
    assert "".join(llm.stream(MSGS, 50)) == "LoRA adds [1]."
    assert (llm.last.prompt_tokens, llm.last.completion_tokens, llm.last.counted_by) == (37, 5, "server")
    assert llm.last.tokens_per_s >= 0


def test_stop_ends_the_stream_and_closes_the_connection(server):
    srv = server("endless", pieces=("word ",))
    llm = RemoteLLM(srv.url, "m", timeout_s=5)
    stop = threading.Event()
    got = []
    for piece in llm.stream(MSGS, 10_000, stop=stop):
        got.append(piece)
        if len(got) == 3:
            stop.set()
    assert len(got) == 3 and llm.last.stopped
    assert srv.hung_up.wait(5)  # the server saw the client go: it stops generating
    assert srv.sent < 500


def test_complete_joins_the_stream(server):
    llm = RemoteLLM(server().url, "m", timeout_s=5)
    assert llm.complete(MSGS, 20) == "LoRA adds [1]."


@pytest.mark.parametrize("timeout_s", [1.0])
def test_a_server_that_never_answers_is_an_error_after_timeout_and_one_retry(server, timeout_s):
    srv = server("silent")
    llm = RemoteLLM(srv.url, "m", timeout_s=timeout_s)
    t0 = time.monotonic()
    with pytest.raises(ModelServerError, match=r"did not answer within 1 s \(tried twice\).*TUTOR_LLM_TIMEOUT_S") as e:
        list(llm.stream(MSGS, 20))
    took = time.monotonic() - t0
    assert len(srv.requests) == 2  # one retry, no more
    assert 2 * timeout_s <= took < 2 * timeout_s + RemoteLLM.RETRY_DELAY_S + 3
    assert "\n" not in str(e.value) and isinstance(e.value, TutorError) and e.value.exit_code == 2


def test_refused_connection_is_one_clear_line():
    url = f"http://127.0.0.1:{free_port()}/v1"
    llm = RemoteLLM(url, "m", timeout_s=2)
    t0 = time.monotonic()
    with pytest.raises(RemoteLLM.Unreachable) as e:
        list(llm.stream(MSGS, 20))
    msg = str(e.value)
    assert msg.startswith(f"cannot reach the model server at {url} (tried twice)")
    assert "unset TUTOR_LLM_BASE_URL" in msg and "\n" not in msg
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("status, attempts, pattern", [
    (401, 1, r"refused the API key \(HTTP 401\).*TUTOR_LLM_API_KEY_ENV"),
    (404, 1, r"has no model 'm'.*TUTOR_LLM_MODEL.*/v1"),
    (400, 1, r"does not fit its context window.*TUTOR_N_CTX"),
    (500, 2, r"answered HTTP 500 \(tried twice\): boom"),
])
def test_http_errors(server, status, attempts, pattern):
    srv = server(status)
    with pytest.raises(ModelServerError, match=pattern) as e:
        list(RemoteLLM(srv.url, "m", timeout_s=5).stream(MSGS, 20))
    assert len(srv.requests) == attempts and "\n" not in str(e.value)


def test_a_stream_that_ends_with_no_text_says_to_check_the_context_window(server):
    """llama_cpp.server starts the stream, then finds the prompt over its window and ends it
    (the reason is only in its log); LangChain then raises "No generation chunks were returned"."""
    srv = server("empty")
    with pytest.raises(ModelServerError, match=r"ended the answer without any text.*TUTOR_N_CTX") as e:
        list(RemoteLLM(srv.url, "m", timeout_s=5).stream(MSGS, 20))
    assert len(srv.requests) == 1 and "\n" not in str(e.value)


def test_no_process_wide_lock_two_streams_at_once(server):
    srv = server("endless")
    llm = RemoteLLM(srv.url, "m", timeout_s=5)
    a, b = llm.stream(MSGS, 100), llm.stream(MSGS, 100)
    assert next(a) and next(b)  # a second generation starts while the first is open
    a.close()
    b.close()
    with llm.lock:
        assert not llm.lock.locked()


@pytest.mark.parametrize("text, tokens", [("", 0), ("abc", 1), ("abcd", 2), ("低秩适配", 4), ("LoRA 低秩", 4)])
def test_estimate_tokens(text, tokens):
    assert estimate_tokens(text) == tokens


def test_prepare_budgets_with_the_estimate_and_n_ctx_from_settings(tmp_path, server):
    s = make_settings(tmp_path, llm_base_url=server().url, llm_model="qwen", n_ctx=600)
    llm = load_llm(s)
    assert isinstance(llm, RemoteLLM) and llm.n_ctx == 600 and llm.name == "qwen" == model_name(s)
    _, max_tokens = llm.prepare(MSGS, 10_000)
    assert max_tokens == 600 - llm.count_messages(MSGS) - 16


@pytest.mark.parametrize("kw, pattern", [
    ({"llm_base_url": "127.0.0.1:8001/v1", "llm_model": "m"}, "not an http"),
    ({"llm_base_url": "http://127.0.0.1:8001/v1"}, "TUTOR_LLM_MODEL is not"),
    ({"llm_base_url": "http://127.0.0.1:8001/v1", "llm_model": "m", "llm_api_key_env": "TUTOR_TEST_NO_SUCH_KEY"},
     "TUTOR_TEST_NO_SUCH_KEY, which is not set"),
])
def test_bad_server_settings(tmp_path, kw, pattern):
    with pytest.raises(ModelServerError, match=pattern):
        load_llm(make_settings(tmp_path, **kw))


def test_api_key_is_read_from_the_named_variable(tmp_path, server, monkeypatch):
    srv = server()
    monkeypatch.setenv("MY_SERVER_KEY", "sk-test-123")
    llm = load_llm(make_settings(tmp_path, llm_base_url=srv.url, llm_model="m", llm_api_key_env="MY_SERVER_KEY"))
    list(llm.stream(MSGS, 10))
    assert srv.requests[0]["auth"] == "Bearer sk-test-123"


def test_tutor_answers_through_the_server_and_reports_its_model(tmp_path, fake_home, server):
    import shutil

    from tutor.rag.embed import hash_embedder
    from tutor.tutor import build_tutor

    srv = server(pieces=("LoRA ", "freezes W [1]."))
    shutil.copytree(fake_home, tmp_path / "home")
    t = build_tutor(make_settings(tmp_path / "home", llm_base_url=srv.url, llm_model="qwen2.5-7b", answer_check=False,
                                  answer_mode="auto"), embedder=hash_embedder())
    assert t.answer_mode() == "stream"  # an unmeasured model: its own answer (the check is off here)
    a = t.ask("什么是 LoRA？")
    assert a.model == "qwen2.5-7b" and "[1]" in a.answer and srv.requests


def test_tutor_surfaces_a_dead_server_as_a_tutor_error(tmp_path, fake_home):
    import shutil

    from tutor.rag.embed import hash_embedder
    from tutor.tutor import build_tutor

    shutil.copytree(fake_home, tmp_path / "home")
    t = build_tutor(make_settings(tmp_path / "home", llm_base_url=f"http://127.0.0.1:{free_port()}/v1", llm_model="m",
                                  llm_timeout_s=2), embedder=hash_embedder())
    with pytest.raises(TutorError, match="cannot reach the model server"):
        t.ask("什么是 LoRA？")
    # through the HTTP API: 503 (a server behind the replica failed), not 400 (bad input), same one-line shape
    from fastapi.testclient import TestClient

    from tutor.serve.api import build_api

    r = TestClient(build_api(t)).post("/ask", json={"question": "什么是 LoRA？", "mode": "checked"})
    assert r.status_code == 503 and r.json()["error"].startswith("cannot reach the model server"), r.text
    assert TestClient(build_api(t)).post("/ask", json={"question": ""}).status_code == 400


@pytest.mark.parametrize("model, check, mode", [
    ("qwen2.5-7b-instruct", True, "checked"),  # unmeasured: its answers are shown once checked
    ("SmolLM2-135M-Instruct", True, "quotes_first"),  # measured, served remotely: same rule as in-process
])
def test_auto_mode_goes_by_the_server_model_name(tmp_path, model, check, mode):
    from tutor.tutor import build_tutor

    s = make_settings(tmp_path, llm_base_url="http://127.0.0.1:9/v1", llm_model=model, answer_check=check, answer_mode="auto")
    assert build_tutor(s).answer_mode() == mode  # without contacting the server


def test_doctor_shows_the_server_and_whether_it_answers(tmp_path, server):
    from tutor.doctor import _server_model

    srv = server()
    up = _server_model(make_settings(tmp_path, llm_base_url=srv.url, llm_model="m", llm_timeout_s=2), probe=True)
    assert up["server"] == srv.url and up["name"] == "m" and up["reachable"] is True and up["served"] == ["fake-model"]
    assert "'m' is not among the listed models" in up["note"]
    down = _server_model(make_settings(tmp_path, llm_base_url=f"http://127.0.0.1:{free_port()}/v1", llm_model="m"), probe=True)
    assert down["reachable"] is False and "Connection refused" in down["error"]
    assert "reachable" not in _server_model(make_settings(tmp_path, llm_base_url=srv.url, llm_model="m"), probe=False)


def test_two_answers_at_once_each_report_their_own_generation(fake_tutor):
    """With a server model there is no lock, so two requests generate at once in one process.
    Before: the chat read each answer's figures back from the shared `llm.last`, which the
    other request had replaced (the load check saw completion_tokens 0 on answers that had
    text). Two chat streams interleaved by hand on a lock-free scripted model."""
    from tutor.llm import _NoLock

    llm = fake_tutor.llm
    llm.lock = _NoLock()
    llm.replies[:] = ["LoRA freezes W [1]. " * 4, "短 [1]。"]
    fake_tutor.settings.answer_check = False
    a = fake_tutor.chat.stream("什么是 LoRA？", mode="stream")
    b = fake_tutor.chat.stream("What is LoRA?", mode="stream")
    events_a = [next(a)]
    while events_a[-1][0] != "token":  # a's generation is under way ...
        events_a.append(next(a))
    events_b = list(b)  # ... while b's runs from start to end
    events_a += list(a)
    (done_a,), (done_b,) = [[v for k, v in ev if k == "done"] for ev in (events_a, events_b)]
    for done, reply in ((done_a, "LoRA freezes W [1]. " * 4), (done_b, "短 [1]。")):
        assert done.timings["completion_tokens"] == len(reply), (done.answer, done.timings)  # 1 token = 1 char
