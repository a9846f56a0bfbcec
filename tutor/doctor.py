"""`tutor doctor`: what is installed and configured, without changing anything.

Each probe catches its own failure and reports it as a value, so doctor always finishes.
"""

from __future__ import annotations

import importlib.metadata as md
import platform
from pathlib import Path

from tutor.config import Settings
from tutor.errors import TutorError
from tutor.rag.index import Index

PACKAGES = ["tutor", "llama-cpp-python", "sentence-transformers", "torch", "chromadb", "langchain-core",
            "langchain-chroma", "langchain-huggingface", "langchain-openai", "gradio", "bm25s", "jieba", "fsrs", "sqlalchemy"]
TINY_MODEL_WARNING = ("the default model SmolLM2-135M is tiny: expect fluent but often wrong or garbled text; "
                      "trust the cited key points, and see README 'Use a stronger model'")


def _version(name: str) -> str:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"


def _server_model(settings: Settings, probe: bool) -> dict:
    """The model server's settings and, with probe, whether `GET <base_url>/models` answers
    (within TUTOR_LLM_TIMEOUT_S, at most 10 s) and which models it lists."""
    model: dict = {"server": settings.llm_base_url, "name": settings.llm_model, "timeout_s": settings.llm_timeout_s,
                   "n_ctx": settings.n_ctx, "api_key_env": settings.llm_api_key_env, "tokens": "estimated"}
    if not probe:
        return model
    import json
    import os
    import urllib.request

    req = urllib.request.Request(settings.llm_base_url.rstrip("/") + "/models")
    key = os.environ.get(settings.llm_api_key_env or "")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=min(settings.llm_timeout_s, 10)) as r:
            ids = [m.get("id") for m in json.load(r).get("data", [])]
        model.update(reachable=True, served=ids)
        if settings.llm_model and ids and settings.llm_model not in ids:
            model["note"] = f"{settings.llm_model!r} is not among the listed models (llama-server and llama_cpp.server answer with their one model anyway)"
    except Exception as e:  # noqa: BLE001 — doctor reports, never raises
        model.update(reachable=False, error=f"{e.__class__.__name__}: {e}")
    return model


def _local_model(settings: Settings, load_model: bool, out: dict) -> None:
    """The GGUF model's report (out["model"]), and the tiny-model warning."""
    try:
        from tutor.llm import default_model_path

        path = Path(settings.model_path) if settings.model_path else default_model_path()
        model: dict = {"path": str(path), "exists": path.is_file(), "default": settings.model_path is None}
        if path.is_file():
            model["size_mb"] = round(path.stat().st_size / 2**20, 1)
            if load_model:
                from tutor.llm import LlamaCppLLM

                llm = LlamaCppLLM(path, n_ctx=512, n_gpu_layers=settings.n_gpu_layers, threads=settings.threads)
                meta = llm.llama.metadata
                model.update(name=llm.name, chat_template=(llm.chat_template or "")[:200] or None,
                             context_length=next((v for k, v in meta.items() if k.endswith(".context_length")), None),
                             file_type=meta.get("general.file_type"))
        if "smollm2" in path.name.lower():
            out["warnings"].append(TINY_MODEL_WARNING)
    except Exception as e:  # noqa: BLE001 — doctor reports, never raises
        model = {"error": str(e)}
    out["model"] = model


def report(settings: Settings, load_model: bool = True) -> dict:
    """A JSON-able dict: packages, model, gpu, embedding, index, paths, warnings."""
    out: dict = {"python": platform.python_version(), "packages": {p: _version(p) for p in PACKAGES}, "warnings": []}
    out["paths"] = {"home": str(settings.home), "corpus": str(settings.corpus_dir), "prompts": str(settings.prompts_dir)}
    # model
    if settings.llm_base_url:
        out["model"] = _server_model(settings, probe=load_model)
        if out["model"].get("reachable") is False:
            out["warnings"].append(f"the model server at {settings.llm_base_url} does not answer: start it, "
                                   "or unset TUTOR_LLM_BASE_URL to use the built-in model")
    else:
        _local_model(settings, load_model, out)
    # GPU offload
    try:
        import llama_cpp

        out["gpu"] = {"offload_supported": bool(llama_cpp.llama_supports_gpu_offload()),
                      "n_gpu_layers": settings.n_gpu_layers}
    except Exception as e:  # noqa: BLE001
        out["gpu"] = {"error": str(e)}
    # embedding + index
    out["index"] = {"dir": str(settings.index_dir), **({"chroma_url": settings.chroma_url} if settings.chroma_url else {})}
    try:  # with TUTOR_CHROMA_URL the manifest is the one the server publishes
        manifest = Index.read_manifest(settings)
    except TutorError as e:
        manifest, out["index"]["error"] = None, str(e)
        out["warnings"].append(str(e))
    out["index"]["built"] = manifest is not None
    if manifest:
        out["index"].update({k: manifest.get(k) for k in ("embedding_model", "dim", "multilingual_model", "multilingual_dim",
                                                          "chunks", "notes", "nodes", "built_at", "corpus_version")})
    try:
        from tutor.rag.embed import load_embedder

        emb = load_embedder(settings.embedding_model)
        out["embedding"] = {"name": emb.name, "dim": emb.dim, "max_seq_length": emb.max_tokens}
        ml = None
        if settings.multilingual:
            from tutor.rag.embed import load_multilingual_embedder

            ml = load_multilingual_embedder(settings.threads)
            out["embedding"]["multilingual"] = {"name": ml.name, "dim": ml.dim}
        if manifest and {k: manifest.get(k) for k in Index.models(emb, ml)} != Index.models(emb, ml):
            out["warnings"].append("index built with other embedding models: run `tutor ingest --rebuild`")
    except Exception as e:  # noqa: BLE001
        out["embedding"] = {"error": str(e)}
    if not manifest and "error" not in out["index"]:
        out["warnings"].append("no index yet: run `tutor ingest`")
    return out
