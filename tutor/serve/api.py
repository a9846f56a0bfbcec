"""HTTP JSON API over one `Tutor` (`tutor serve`), for scripts and other front ends.

Endpoints (bodies and results are the CLI's JSON, DESIGN.md §4):

- `GET  /health` → `{"status": "ok", "model", "chunks", "embedding_model"}`
- `GET  /search?q=…&k=5&chapter=3&all_chunks=false` → `tutor search --json`
- `POST /ask` `{"question", "history": [{"role", "content"}], "chapter"}` → `tutor ask --json`
- `POST /ask/stream` (same body) → Server-Sent Events, one JSON object per `data:` line:
  `{"event": "sources", "sources": [...]}`, `{"event": "token", "text"}`,
  `{"event": "draft", "text"}` (mode "checked": the model's unchecked text, progress only),
  `{"event": "retry", "reasons"}`, `{"event": "replace", "text"}` (replaces everything
  streamed so far), `{"event": "done", "answer": {…tutor ask --json…}}`; a stream always
  ends with `done` or `{"event": "error", "error"}`; a client that disconnects stops the generation.

Bad input → HTTP 400 (422 for a malformed body; 500 for a bug) with `{"error": "one line saying how to fix it"}`;
a shared server that fails (the model server, the Chroma server) → 503 with the same shape.
With a token (`--token` / TUTOR_API_TOKEN) every request except /health needs
`Authorization: Bearer <token>`. It does not do sessions, users or rate limits: generation
is serialised by the model lock, so concurrent requests queue.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from typing import Iterator, Literal

from pydantic import BaseModel, Field

from tutor.errors import TutorError

log = logging.getLogger("tutor.api")


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class AskBody(BaseModel):
    question: str
    history: list[Turn] = Field(default_factory=list)
    chapter: str | None = None
    mode: Literal["auto", "quotes_first", "checked", "stream"] | None = None  # trust/policy.py


def search_json(query: str, hits) -> dict:
    """The `tutor search --json` object for hits."""
    return {"query": query, "hits": [{
        "id": h.chunk.node_id, "title": h.chunk.title, "title_en": h.chunk.title_en, "chapter": h.chunk.chapter,
        "section": h.chunk.section, "score": h.score, "text": h.chunk.text} for h in hits]}


def sse_events(events: Iterator[tuple[str, object]]) -> Iterator[dict]:
    """`Tutor.ask_stream` events as JSON-able dicts (see module doc)."""
    for kind, value in events:
        if kind == "sources":
            yield {"event": "sources", "sources": [{"n": s.n, "id": s.id, "title": s.title, "score": s.score} for s in value]}
        elif kind in ("token", "replace", "draft"):
            yield {"event": kind, "text": value}
        elif kind == "retry":
            yield {"event": "retry", "reasons": list(value)}
        elif kind == "done":
            yield {"event": "done", "answer": value.to_json()}


def build_api(tutor, token: str | None = None):
    """The FastAPI app (not started). token: required bearer token, or None for none."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse

    api = FastAPI(title="tutor", description=__doc__.split("\n\n")[0], version="1")

    @api.exception_handler(TutorError)
    async def _bad_input(_request, exc: TutorError):
        return JSONResponse({"error": str(exc).splitlines()[0]}, status_code=400)

    from tutor.llm import ModelServerError
    from tutor.rag.index import Index

    async def _upstream_down(_request, exc: TutorError):
        # a shared server (model, Chroma) failed, not the request: 503, so a client or a load balancer can
        # tell it from bad input and try again or elsewhere
        return JSONResponse({"error": str(exc).splitlines()[0]}, status_code=503)

    api.add_exception_handler(ModelServerError, _upstream_down)
    api.add_exception_handler(Index.Unreachable, _upstream_down)

    @api.exception_handler(Exception)
    async def _bug(_request, exc: Exception):
        # a bug, not bad input: still the one error shape, no traceback to the client
        log.exception("unhandled error")
        return JSONResponse({"error": f"internal error ({exc.__class__.__name__}); see the server log"}, status_code=500)

    @api.exception_handler(RequestValidationError)
    async def _bad_body(_request, exc: RequestValidationError):
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        return JSONResponse({"error": f"{where}: {err.get('msg')}; send JSON like "
                                      '{"question": "为什么注意力要除以根号d_k？"}'}, status_code=422)

    @api.middleware("http")
    async def _auth(request: Request, call_next):
        if token and request.url.path != "/health":
            got = request.headers.get("authorization", "")
            if not hmac.compare_digest(got.encode(), f"Bearer {token}".encode()):
                return JSONResponse({"error": "missing or wrong token; send the header Authorization: Bearer <token>"},
                                    status_code=401)
        return await call_next(request)

    @api.get("/health")
    def health() -> dict:
        tutor.follow_index()  # with a Chroma server: the index it publishes now (a rebuild drops the old one)
        return {"status": "ok", "model": tutor.llm.name, "chunks": tutor.index.count(),
                "embedding_model": tutor.embedder.name}

    @api.get("/search")
    def search(q: str = "", k: int = 5, chapter: str | None = None, all_chunks: bool = False) -> dict:
        if not q.strip():
            raise TutorError("the query is empty; pass ?q=words to search for, e.g. /search?q=RoPE")
        if not 1 <= k <= 50:
            raise TutorError(f"k={k} is out of range; pass k between 1 and 50")
        return search_json(q, tutor.search(q, k=k, chapter=chapter, per_note=not all_chunks))

    @api.post("/ask")
    def ask(body: AskBody) -> dict:
        return tutor.ask(body.question, [t.model_dump() for t in body.history], body.chapter, body.mode).to_json()

    @api.post("/ask/stream")
    def ask_stream(body: AskBody):
        stop = threading.Event()
        # validate before the 200 header goes out, so bad input still gets a 400
        events = tutor.ask_stream(body.question, [t.model_dump() for t in body.history], body.chapter, stop, body.mode)
        first = next(events)

        def lines() -> Iterator[str]:
            try:
                try:
                    for ev in sse_events(_chain(first, events)):
                        yield "data: " + json.dumps(ev, ensure_ascii=False) + "\n\n"
                except TutorError as e:  # the stream always ends with "done" or "error"
                    yield "data: " + json.dumps({"event": "error", "error": str(e).splitlines()[0]}, ensure_ascii=False) + "\n\n"
                except Exception as e:  # noqa: BLE001 — a bug: logged, reported as an event
                    log.exception("unhandled error in /ask/stream")
                    yield "data: " + json.dumps({"event": "error", "error": f"internal error ({e.__class__.__name__})"}) + "\n\n"
            finally:  # also on client disconnect (the generator is closed)
                stop.set()
                events.close()

        return StreamingResponse(lines(), media_type="text/event-stream")

    return api


def _chain(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest
