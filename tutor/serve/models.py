"""Chat models on disk: what is installed (read from GGUF metadata, weights not loaded), a
short registry of instruct GGUFs that handle Chinese well, downloading one (huggingface_hub,
progress bar, resume across runs, SHA-256 check), and choosing which one the tutor uses
(`model_path` in $TUTOR_HOME/tutor.toml).

Registry provenance: repo, file, revision and SHA-256 were read from each file's page on the
Hugging Face Hub (the "Git LFS Details" box); sizes are the pages' rounded GB figures, used
only as a sanity check before downloading (the SHA-256 is the real check). These models were
not downloaded by this project's tests (no network here); the download path itself is tested
end to end against a loopback server (tests/integration/test_model_pull.py).

Deliberately not here: loading a model (llm.py) or talking to any host but HF_ENDPOINT.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from tutor.errors import TutorError

PART_SUFFIX = ".part"  # an interrupted download; `tutor model pull` resumes from it


@dataclass(frozen=True)
class Entry:
    """A registry model. sha256: None when no published hash could be verified (then only
    the size is checked). size_gb: decimal GB as shown on the model page."""

    name: str
    repo: str
    filename: str
    revision: str
    sha256: str | None
    size_gb: float
    notes: str = ""
    source: str = ""


REGISTRY: tuple[Entry, ...] = (
    Entry("qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B-Instruct-GGUF", "qwen2.5-1.5b-instruct-q4_k_m.gguf", "main",
          "6a1a2eb6d15622bf3c96857206351ba97e1af16c30d7a74ee38970e434e9407e", 1.12,
          "Qwen2.5 1.5B Instruct, Q4_K_M, official Qwen build: fluent Chinese and English, ~2 GB RAM; a good CPU default.",
          "https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF/blob/main/qwen2.5-1.5b-instruct-q4_k_m.gguf"),
    Entry("qwen2.5-3b", "bartowski/Qwen2.5-3B-Instruct-GGUF", "Qwen2.5-3B-Instruct-Q4_K_M.gguf",
          "e118764d9e73c6ee4b87fe7a367df84a985a99fc",
          "9c9f56a391a3abbd5b89d0245bf6106081bcc3173119d4229235dd9d23253f94", 1.93,
          "Qwen2.5 3B Instruct, Q4_K_M (bartowski build, pinned revision): better answers, ~3 GB RAM; Qwen research licence.",
          "https://huggingface.co/bartowski/Qwen2.5-3B-Instruct-GGUF/blob/e118764d9e73c6ee4b87fe7a367df84a985a99fc/Qwen2.5-3B-Instruct-Q4_K_M.gguf"),
    Entry("qwen2.5-7b", "bartowski/Qwen2.5-7B-Instruct-GGUF", "Qwen2.5-7B-Instruct-Q4_K_M.gguf",
          "f4b6063c19a94c15fe9031d8afbbb9df7ec8b93f",
          "65b8fcd92af6b4fefa935c625d1ac27ea29dcb6ee14589c55a8f115ceaaa1423", 4.68,
          "Qwen2.5 7B Instruct, Q4_K_M (bartowski build, pinned revision): best quality, ~6 GB RAM; use a GPU (TUTOR_N_GPU_LAYERS=-1).",
          "https://huggingface.co/bartowski/Qwen2.5-7B-Instruct-GGUF/blob/f4b6063c19a94c15fe9031d8afbbb9df7ec8b93f/Qwen2.5-7B-Instruct-Q4_K_M.gguf"),
)


@dataclass
class ModelInfo:
    """An installed GGUF. size_mb: file size in MiB; quantization: llama.cpp file type name
    (e.g. Q4_K_M); context_length: training context in tokens; error: why metadata could not
    be read (then the other metadata fields are None)."""

    name: str
    path: str
    size_mb: float
    quantization: str | None
    chat_template: bool | None
    context_length: int | None
    architecture: str | None
    active: bool
    default: bool
    registry: str | None = None
    error: str | None = None


def read_gguf_metadata(path: Path) -> dict[str, str]:
    """GGUF key/value metadata as strings, read by llama.cpp in vocab-only mode (the tensors
    are not loaded). Raises ModelStore.NotAModel for a file llama.cpp cannot read."""
    import llama_cpp
    from llama_cpp._internals import (
        LlamaModel,  # the class Llama itself uses; no context is created
    )

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    try:
        model = LlamaModel(path_model=str(path), params=params, verbose=False)
    except ValueError as e:
        raise ModelStore.NotAModel(f"{path} is not a readable GGUF model ({e}); re-download it or pick another file") from None
    try:
        return model.metadata()
    finally:
        model.close()


def quantization_name(file_type: str | int | None) -> str | None:
    """llama.cpp's name for `general.file_type` (e.g. 15 → 'Q4_K_M'), from llama_cpp's own constants."""
    if file_type is None:
        return None
    import llama_cpp

    names = {getattr(llama_cpp, a): a.removeprefix("LLAMA_FTYPE_").removeprefix("MOSTLY_")
             for a in dir(llama_cpp) if a.startswith("LLAMA_FTYPE_") and a != "LLAMA_FTYPE_GUESSED"}
    try:
        return names.get(int(file_type), f"type {file_type}")
    except ValueError:
        return str(file_type)


def sha256_file(path: Path, progress: bool = False) -> str:
    """Hex SHA-256 of a file, read in 8 MiB blocks (with a tqdm bar on stderr if progress)."""
    from tqdm import tqdm

    h = hashlib.sha256()
    with path.open("rb") as f, tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc="verifying SHA-256",
                                     disable=not progress, leave=False) as bar:
        while block := f.read(8 << 20):
            h.update(block)
            bar.update(len(block))
    return h.hexdigest()


class ModelStore:
    """The models directory and registry of one `Settings`."""

    class Unknown(TutorError):
        """A name that is neither in the registry nor an existing file."""

    class NotAModel(TutorError):
        """A file llama.cpp cannot read as a GGUF model."""

    class Offline(TutorError):
        """The hub cannot be reached; the message says which file to place by hand."""

    class Mismatch(TutorError):
        """The download (or what the hub offers) is not the registry's file."""

    class BadRegistry(TutorError):
        """TUTOR_MODEL_REGISTRY points at an unreadable or malformed TOML file."""

    def __init__(self, settings):
        self.settings = settings
        self.dir = Path(settings.models_dir)

    # -- registry -----------------------------------------------------------------------
    def registry(self) -> dict[str, Entry]:
        """Built-in entries, overridden/extended by the TOML file in Settings.model_registry."""
        out = {e.name: e for e in REGISTRY}
        path = self.settings.model_registry
        if path:
            try:
                data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
                for m in data.get("models", []):
                    e = Entry(name=m["name"], repo=m["repo"], filename=m["filename"], revision=m.get("revision", "main"),
                              sha256=m.get("sha256"), size_gb=float(m.get("size_gb", 0)), notes=m.get("notes", ""),
                              source=m.get("source", ""))
                    out[e.name] = e
            except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as e:
                raise ModelStore.BadRegistry(f"model registry {path} is unreadable ({e.__class__.__name__}: {e}); "
                                             "fix it or unset TUTOR_MODEL_REGISTRY") from None
        return out

    def entry(self, name: str) -> Entry:
        reg = self.registry()
        if name not in reg:
            raise ModelStore.Unknown(f"no model {name!r} in the registry; choose one of: {', '.join(sorted(reg))}")
        return reg[name]

    def path_of(self, e: Entry) -> Path:
        return self.dir / e.filename

    # -- installed models ---------------------------------------------------------------
    def active_path(self) -> Path:
        from tutor.llm import default_model_path

        return Path(self.settings.model_path) if self.settings.model_path else default_model_path()

    def installed(self) -> list[ModelInfo]:
        """The default SmolLM2 GGUF, every *.gguf in the models dir, and the active model if
        it lives elsewhere; each with metadata read from the file."""
        from tutor.llm import ModelMissing, default_model_path

        paths: list[tuple[Path, bool]] = []
        try:
            paths.append((default_model_path(), True))
        except ModelMissing:
            pass
        if self.dir.is_dir():
            paths += [(p, False) for p in sorted(self.dir.glob("*.gguf"))]
        active = Path(self.settings.model_path).resolve() if self.settings.model_path else (paths[0][0].resolve() if paths and paths[0][1] else None)
        if active and active.is_file() and all(p.resolve() != active for p, _ in paths):
            paths.append((active, False))
        by_file = {e.filename: e.name for e in self.registry().values()}
        out = []
        for p, is_default in paths:
            info = ModelInfo(name=p.stem, path=str(p), size_mb=round(p.stat().st_size / 2**20, 1), quantization=None,
                             chat_template=None, context_length=None, architecture=None,
                             active=active is not None and p.resolve() == active, default=is_default,
                             registry=by_file.get(p.name))
            try:
                meta = read_gguf_metadata(p)
                arch = meta.get("general.architecture")
                ctx = meta.get(f"{arch}.context_length") if arch else None
                info.quantization = quantization_name(meta.get("general.file_type"))
                info.chat_template = bool(meta.get("tokenizer.chat_template"))
                info.context_length = int(ctx) if ctx and ctx.isdigit() else None
                info.architecture = arch
            except ModelStore.NotAModel as e:
                info.error = str(e)
            out.append(info)
        return out

    # -- download -----------------------------------------------------------------------
    def manual_hint(self, e: Entry) -> str:
        sha = f" (SHA-256 {e.sha256})" if e.sha256 else ""
        return (f"download https://huggingface.co/{e.repo}/resolve/{e.revision}/{e.filename} on a connected machine, "
                f"place it at {self.path_of(e)}{sha}, then run `tutor model use {e.name}`")

    def pull(self, name: str, progress: bool = True, log=lambda msg: None) -> Path:
        """Download registry model `name` into the models dir and verify it; returns its path.

        Resumes from `<file>.part` left by an interrupted run (HTTP Range). Raises
        ModelStore.Offline at once when HF_HUB_OFFLINE is set or the hub (HF_ENDPOINT) cannot be
        reached, naming the file to place by hand; ModelStore.Mismatch when the hub's file or
        the downloaded bytes do not match the registry's SHA-256/size (the bad bytes are deleted)."""
        import httpx
        from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
        from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
        from huggingface_hub.file_download import http_get

        e = self.entry(name)
        dest = self.path_of(e)
        if dest.is_file():
            if e.sha256 is None or sha256_file(dest, progress) == e.sha256:
                log(f"{e.filename} is already in {self.dir}" + (" (SHA-256 verified)" if e.sha256 else ""))
                return dest
            raise ModelStore.Mismatch(f"{dest} exists but its SHA-256 is not the registry's {e.sha256}; "
                                      f"delete it and run `tutor model pull {name}` again")
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
            raise ModelStore.Offline(f"offline (HF_HUB_OFFLINE is set): {self.manual_hint(e)}")
        endpoint = os.environ.get("HF_ENDPOINT", constants._HF_DEFAULT_ENDPOINT).rstrip("/")
        url = hf_hub_url(e.repo, e.filename, revision=e.revision, endpoint=endpoint)
        try:
            meta = get_hf_file_metadata(url, timeout=constants.HF_HUB_ETAG_TIMEOUT, endpoint=endpoint)
        except (httpx.ConnectError, httpx.TimeoutException, OfflineModeIsEnabled) as err:
            raise ModelStore.Offline(f"cannot reach {endpoint} ({err.__class__.__name__}): {self.manual_hint(e)}") from None
        except HfHubHTTPError as err:
            code = err.response.status_code if err.response is not None else "?"
            raise ModelStore.Offline(f"{endpoint} answered HTTP {code} for {e.repo}/{e.filename}: {self.manual_hint(e)}") from None
        etag = (meta.etag or "").lower()
        if e.sha256 and re.fullmatch(r"[0-9a-f]{64}", etag) and etag != e.sha256:
            # for LFS files the hub's ETag is the SHA-256: a different file is on offer
            raise ModelStore.Mismatch(f"the hub serves {e.filename} with SHA-256 {etag}, the registry expects {e.sha256}; "
                                      "not downloading (the file changed upstream: update the registry entry)")
        if meta.size and e.size_gb and abs(meta.size / 1e9 - e.size_gb) > 0.02 * e.size_gb + 0.01:
            raise ModelStore.Mismatch(f"the hub's {e.filename} is {meta.size / 1e9:.2f} GB, the registry says "
                                      f"{e.size_gb} GB; not downloading")
        self.dir.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + PART_SUFFIX)
        have = part.stat().st_size if part.is_file() else 0
        if meta.size is not None and have > meta.size:
            part.unlink()
            have = 0
        if have:
            log(f"resuming {e.filename} at {have / 2**20:.1f} MiB")
        try:
            with part.open("ab") as f:
                http_get(meta.location, f, resume_size=have, expected_size=meta.size, displayed_filename=e.filename)
        except (httpx.ConnectError, httpx.TimeoutException, httpx.RemoteProtocolError) as err:
            raise ModelStore.Offline(f"download of {e.filename} broke off ({err.__class__.__name__}); run the same "
                                     f"command again to resume, or {self.manual_hint(e)}") from None
        except OSError as err:  # huggingface_hub's size consistency check, or a full disk
            raise ModelStore.Mismatch(f"download of {e.filename} failed: {err}; run the same command again") from None
        if e.sha256:
            got = sha256_file(part, progress)
            if got != e.sha256:
                part.unlink()
                raise ModelStore.Mismatch(f"downloaded {e.filename} has SHA-256 {got}, the registry expects {e.sha256}; "
                                          "deleted it: run the same command again")
        else:
            log(f"no SHA-256 in the registry for {name}: only the size was checked")
        part.replace(dest)
        return dest

    # -- choice -------------------------------------------------------------------------
    def toml_path(self) -> Path:
        return Path(self.settings.home) / "tutor.toml"

    def use(self, target: str) -> Path | None:
        """Make `target` the tutor's model: a registry name (downloaded), a GGUF path, a file
        name in the models dir, or 'default' (SmolLM2). Writes model_path to tutor.toml in the
        data dir (other keys kept) and returns the path (None for the default)."""
        import tomlkit

        if target.strip().lower() in ("default", "smollm2"):
            path = None
        else:
            reg = self.registry()
            if target in reg:
                path = self.path_of(reg[target])
                if not path.is_file():
                    raise ModelStore.Unknown(f"{target} is not downloaded yet; run `tutor model pull {target}`")
            else:
                cands = [Path(target).expanduser(), self.dir / target]
                path = next((p for p in cands if p.is_file()), None)
                if path is None:
                    raise ModelStore.Unknown(f"{target!r} is neither a registry model ({', '.join(sorted(reg))}) nor a "
                                             "GGUF file; see `tutor model list`")
            path = path.resolve()
            read_gguf_metadata(path)  # raises NotAModel before anything is written
        toml = self.toml_path()
        doc = tomlkit.parse(toml.read_text(encoding="utf-8")) if toml.is_file() else tomlkit.document()
        if path is None:
            doc.pop("model_path", None)
        else:
            doc["model_path"] = str(path)
        toml.parent.mkdir(parents=True, exist_ok=True)
        toml.write_text(tomlkit.dumps(doc), encoding="utf-8")
        return path


def info_dict(i: ModelInfo) -> dict:
    return asdict(i)
