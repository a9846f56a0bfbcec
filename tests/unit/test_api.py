"""HTTP API (tutor/serve/api.py) in-process with fakes: the JSON matches the CLI contract, bad
input is a 400/422 with one line, the token guards everything but /health, and the SSE
stream ends with the same answer as /ask."""

from __future__ import annotations

import json

import pytest

from tutor.serve.api import build_api


@pytest.fixture
def client(fake_tutor):
    from fastapi.testclient import TestClient

    return TestClient(build_api(fake_tutor))


def test_health_and_search_follow_the_cli_contract(client):
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["chunks"] > 1000
    r = client.get("/search", params={"q": "RoPE 旋转位置编码", "k": 3})
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert len(hits) == 3 and set(hits[0]) == {"id", "title", "title_en", "chapter", "section", "score", "text"}
    assert len({x["id"] for x in hits}) == 3  # one hit per note, as `tutor search`


def test_ask_returns_the_ask_json(client, fake_tutor):
    fake_tutor.llm.replies = ["旋转位置编码把位置写进 q、k 的旋转角度 [1]。"]
    out = client.post("/ask", json={"question": "RoPE 旋转位置编码是什么？"}).json()
    assert {"question", "answer", "sources", "model", "timings", "key_points", "unsupported"} <= set(out)
    assert out["sources"] and out["sources"][0]["n"] == 1


@pytest.mark.parametrize("request_args, status, words", [
    (("get", "/search", {"params": {"q": "  "}}), 400, "query is empty"),
    (("get", "/search", {"params": {"q": "LoRA", "k": 0}}), 400, "between 1 and 50"),
    (("get", "/search", {"params": {"q": "LoRA", "chapter": "42"}}), 400, "1 to 16"),
    (("post", "/ask", {"json": {"question": ""}}), 400, "question is empty"),
    (("post", "/ask", {"json": {"question": "x" * 5000}}), 400, "limit"),
    (("post", "/ask", {"json": {"q": "hi"}}), 422, "question"),
    (("post", "/ask/stream", {"json": {"question": "   "}}), 400, "question is empty"),
])
def test_bad_input_gets_one_line_error(client, request_args, status, words):
    method, path, kw = request_args
    r = getattr(client, method)(path, **kw)
    assert r.status_code == status
    err = r.json()["error"]
    assert words in err and "\n" not in err and "Traceback" not in err


def test_stream_events_end_with_the_answer(client, fake_tutor):
    fake_tutor.llm.replies = ["LoRA 只训练两个低秩矩阵 [1]。"]
    with client.stream("POST", "/ask/stream", json={"question": "LoRA 为什么省显存？"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "sources" and kinds[-1] == "done" and "token" in kinds
    streamed = "".join(e["text"] for e in events if e["event"] == "token")
    done = events[-1]["answer"]
    assert done["answer"] == streamed.strip() or "replace" in kinds


def test_token_is_required_except_for_health(fake_tutor):
    from fastapi.testclient import TestClient

    c = TestClient(build_api(fake_tutor, token="s3cret"))
    assert c.get("/health").status_code == 200
    r = c.get("/search", params={"q": "LoRA"})
    assert r.status_code == 401 and "Bearer" in r.json()["error"]
    assert c.get("/search", params={"q": "LoRA"}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/search", params={"q": "LoRA"}, headers={"Authorization": "Bearer s3cret"}).status_code == 200
