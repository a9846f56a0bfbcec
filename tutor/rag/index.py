"""The search index: a Chroma collection (dense) + a BM25 index (lexical) + a chunk store
and a manifest, under `<home>/index/`.

- Ingest is incremental and idempotent: chunks whose id (node id + content hash) is already
  stored are not embedded again; chunks that no longer exist are deleted.
- Dense vectors live in one Chroma collection per embedder: `<collection>` for the primary
  embedder (MiniLM) and `<collection>-multilingual` for the multilingual one (USE), when
  configured. Both hold the same chunk ids.
- The manifest records the embedding models, their dimensions and the corpus fingerprint;
  opening an index built with other models raises `Index.Mismatch` (never a dimension
  error from Chroma) and `tutor ingest --rebuild` fixes it.
- One writer at a time: an exclusive flock on `index/.lock`; readers wait at most
  `lock_timeout_s` for a writer, then raise `Index.Busy`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from tutor.config import Settings
from tutor.corpus import Corpus
from tutor.errors import TutorError
from tutor.rag.bm25 import BM25Index
from tutor.rag.chunking import Chunk, chunk_corpus
from tutor.rag.embed import Embedder

MANIFEST_VERSION = 1
# Version of chunking + lexical tokenisation; an index built by an older version is brought
# up to date by the next `tutor ingest` (re-chunk, embed only new chunks, rebuild BM25).
# 2: key-points chunks split to fit the embedder; symbol-joined terms kept whole in BM25.
# 3: English words stemmed in BM25 (Snowball).
INDEX_FORMAT = 3


@dataclass
class IngestReport:
    """What one ingest did. seconds: wall time."""

    embedded: int
    deleted: int
    total: int
    skipped: bool
    seconds: float


@contextlib.contextmanager
def _flock(path: Path, exclusive: bool, timeout_s: float, what: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = (path.parent / ".writer").read_text().strip() if (path.parent / ".writer").exists() else "?"
                    raise Index.Busy(
                        f"the index at {path.parent} is being written by another process (pid {holder}); "
                        f"wait for that `tutor ingest` to finish, then {what} again") from None
                time.sleep(0.1)
        if exclusive:
            (path.parent / ".writer").write_text(str(os.getpid()))
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _chroma_client(settings: Settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    cs = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
    if settings.chroma_url:
        from urllib.parse import urlparse

        u = urlparse(settings.chroma_url)
        try:
            return chromadb.HttpClient(host=u.hostname or "127.0.0.1", port=u.port or 8000, ssl=u.scheme == "https", settings=cs)
        except Exception as e:  # connection refused etc.
            raise Index.Unreachable(f"cannot reach Chroma server at {settings.chroma_url} ({e.__class__.__name__}); start it or unset TUTOR_CHROMA_URL") from None
    return chromadb.PersistentClient(path=str(settings.index_dir / "chroma"), settings=cs)


class Index:
    """Dense + lexical index over the corpus chunks. Build with `Index.ingest`, read with `Index.open`."""

    class Missing(TutorError):
        """No index has been built yet."""

    class Mismatch(TutorError):
        """The index was built with another embedding model or dimension."""

    class Busy(TutorError):
        """Another process holds the write lock longer than lock_timeout_s."""

    class Unreachable(TutorError):
        """The configured Chroma server does not answer."""

    def __init__(self, settings: Settings, embedder: Embedder, client, manifest: dict, bm25: BM25Index | None,
                 chunks: dict[str, Chunk], multilingual: Embedder | None = None):
        self.settings = settings
        self.embedder = embedder
        self.multilingual = multilingual
        self.client = client
        self.manifest = manifest
        self.bm25 = bm25
        self.chunks = chunks
        self.vectorstore = self._vectorstore(embedder, settings.collection)
        # role → vector store: "dense" (primary embedder), "multilingual" (when configured)
        self.vectorstores = {"dense": self.vectorstore}
        if multilingual is not None:
            self.vectorstores["multilingual"] = self._vectorstore(multilingual, f"{settings.collection}-multilingual")
        # node id → its chunk ids (outline chunk, key points first) and the names it goes by
        self.by_node: dict[str, list[str]] = {}
        self.names: dict[str, set[str]] = {}
        for c in sorted(chunks.values(), key=lambda c: (c.node_id, c.ord)):
            self.by_node.setdefault(c.node_id, []).append(c.id)
            self.names.setdefault(c.node_id, set()).update(n for n in (c.title, c.title_en) if n)
        for node_id, aliases in manifest.get("aliases", {}).items():
            self.names.setdefault(node_id, set()).update(aliases)

    # -- paths -----------------------------------------------------------------------
    @staticmethod
    def _paths(settings: Settings) -> dict[str, Path]:
        d = settings.index_dir
        return {"dir": d, "lock": d / ".lock", "manifest": d / "manifest.json", "bm25": d / "bm25", "chunks": d / "chunks.jsonl"}

    def _vectorstore(self, embedder: Embedder, name: str):
        from langchain_chroma import Chroma

        return Chroma(
            collection_name=name,
            embedding_function=embedder.embeddings,
            client=self.client,
            collection_metadata={"hnsw:space": "cosine"},
        )

    @property
    def collection(self):
        return self.vectorstore._collection

    def count(self) -> int:
        """Number of vectors in the Chroma collection."""
        return self.collection.count()

    # -- reading ---------------------------------------------------------------------
    @classmethod
    def read_manifest(cls, settings: Settings) -> dict | None:
        p = cls._paths(settings)["manifest"]
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None

    @staticmethod
    def models(embedder: Embedder, multilingual: Embedder | None) -> dict:
        """The manifest's record of the embedders: names and dimensions (None when absent)."""
        return {"embedding_model": embedder.name, "dim": embedder.dim,
                "multilingual_model": multilingual.name if multilingual else None,
                "multilingual_dim": multilingual.dim if multilingual else None}

    @classmethod
    def _check_model(cls, manifest: dict, embedder: Embedder, multilingual: Embedder | None = None) -> None:
        want = cls.models(embedder, multilingual)
        have = {k: manifest.get(k) for k in want}
        if have != want:
            def show(m: dict) -> str:
                ml = f" + {m['multilingual_model']} (dim {m['multilingual_dim']})" if m["multilingual_model"] else ""
                return f"{m['embedding_model']} (dim {m['dim']}){ml}"
            raise cls.Mismatch(f"the index was built with embedding model {show(have)} but {show(want)} is configured; "
                               "run `tutor ingest --rebuild`")

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder, multilingual: Embedder | None = None) -> "Index":
        """Open a built index for search. Raises Index.Missing, Index.Mismatch, Index.Busy."""
        p = cls._paths(settings)
        with _flock(p["lock"], exclusive=False, timeout_s=settings.lock_timeout_s, what="retry"):
            manifest = cls.read_manifest(settings)
            if manifest is None:
                raise cls.Missing(f"no index in {p['dir']}; run `tutor ingest` first")
            cls._check_model(manifest, embedder, multilingual)
            bm25 = BM25Index.load(p["bm25"])
            chunks = _read_chunks(p["chunks"])
            return cls(settings, embedder, _chroma_client(settings), manifest, bm25, chunks, multilingual)

    # -- writing ---------------------------------------------------------------------
    @classmethod
    def ingest(cls, settings: Settings, embedder: Embedder, corpus: Corpus, rebuild: bool = False,
               progress: Callable[[int], None] | None = None, on_total: Callable[[int], None] | None = None,
               multilingual: Embedder | None = None) -> IngestReport:
        """Bring the index in line with the corpus. Idempotent; embeds only new chunks.

        progress(n) is called after each embedded batch with its size; on_total(n) once with
        the number of embeddings to compute (chunks × embedders that lack them). embedded in
        the report counts chunks, not vectors. Raises Index.Mismatch (other model, no rebuild), Index.Busy."""
        t0 = time.monotonic()
        p = cls._paths(settings)
        with _flock(p["lock"], exclusive=True, timeout_s=settings.lock_timeout_s, what="run `tutor ingest`"):
            manifest = cls.read_manifest(settings)
            if manifest and not rebuild:
                cls._check_model(manifest, embedder, multilingual)
            client = _chroma_client(settings)
            if rebuild:
                for name in (settings.collection, f"{settings.collection}-multilingual"):
                    with contextlib.suppress(Exception):
                        client.delete_collection(name)
                for key in ("bm25", "chunks", "manifest"):
                    if p[key].is_dir():
                        shutil.rmtree(p[key])
                    elif p[key].exists():
                        p[key].unlink()
                manifest = None
            index = cls(settings, embedder, client, manifest or {}, None, {}, multilingual)
            stores = list(index.vectorstores.values())
            fingerprint = corpus.fingerprint()
            if (manifest and manifest.get("corpus_hash") == fingerprint and manifest.get("index_format") == INDEX_FORMAT
                    and all(manifest.get("chunks") == vs._collection.count() for vs in stores)
                    and p["bm25"].is_dir() and p["chunks"].is_file()):
                return IngestReport(0, 0, index.count(), True, time.monotonic() - t0)

            chunks = chunk_corpus(corpus, embedder.count_tokens, embedder.max_tokens)
            wanted = {c.id: c for c in chunks}
            todo, new_ids, stale_ids = [], set(), set()
            for vs in stores:
                existing = set(vs._collection.get(include=[])["ids"])
                new = [c for c in chunks if c.id not in existing]
                stale = sorted(existing - wanted.keys())
                if stale:
                    vs._collection.delete(ids=stale)
                todo.append((vs, new))
                new_ids.update(c.id for c in new)
                stale_ids.update(stale)
            if on_total:
                on_total(sum(len(new) for _, new in todo))
            batch = 64
            for vs, new in todo:
                for i in range(0, len(new), batch):
                    part = new[i:i + batch]
                    vs.add_texts([c.text for c in part], metadatas=[c.metadata() for c in part], ids=[c.id for c in part])
                    if progress:
                        progress(len(part))
            BM25Index.build([c.id for c in chunks], [c.text for c in chunks]).save(p["bm25"])
            _write_chunks(p["chunks"], chunks)
            total = index.count()
            manifest = {
                "version": MANIFEST_VERSION, "index_format": INDEX_FORMAT, **cls.models(embedder, multilingual), "max_tokens": embedder.max_tokens, "corpus_hash": fingerprint, "chunks": total,
                "notes": len(corpus.notes), "nodes": len(corpus.outline),
                "aliases": {i: n.meta.aliases for i, n in corpus.notes.items() if n.meta.aliases}, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            tmp = p["manifest"].with_suffix(".tmp")
            tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
            tmp.replace(p["manifest"])  # atomic: readers never see half a manifest
            return IngestReport(len(new_ids), len(stale_ids), total, False, time.monotonic() - t0)


def _write_chunks(path: Path, chunks: list[Chunk]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for c in chunks:
            f.write(json.dumps(c.__dict__, ensure_ascii=False) + "\n")
    tmp.replace(path)


def _read_chunks(path: Path) -> dict[str, Chunk]:
    if not path.is_file():
        raise Index.Missing(f"chunk store {path} is missing; run `tutor ingest --rebuild`")
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        c = Chunk(**json.loads(line))
        out[c.id] = c
    return out
