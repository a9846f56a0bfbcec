"""The search index: Chroma collections (dense) + a BM25 index (lexical) + a chunk store,
tied together by a manifest, under `<home>/index/`.

    manifest.json      the pointer readers follow: models, corpus hash, and the names below;
                       replaced atomically (tmp + os.replace) and always written last
    chroma-<id>/       the Chroma PersistentClient directory (none with TUTOR_CHROMA_URL: the
                       collections then live on the server, their names carrying the <id>)
    lexical-<id>/      bm25/ + chunks.jsonl + terms.json (TermStats), written whole before the manifest names them
    pending.json       the parts a build has started and not yet swapped in
    .lock              readers hold it shared while opening; a writer holds it exclusively
                       only while it changes what readers see (a few seconds)
    .ingest.lock       one ingest at a time: a second one fails at once (`Index.Busy`)

A manifest without "lexical" (MANIFEST_VERSION 1) describes the older flat layout (`chroma/`,
`bm25/`, `chunks.jsonl` directly in `index/`); it is read as it is, and the next ingest moves
the lexical part into a `lexical-<id>/`.

- Ingest is incremental and idempotent: chunks whose id (node id + content hash) is already
  stored are not embedded again. New vectors are embedded outside the lock, added before the
  manifest changes and stale ones deleted after, so at any moment (kill -9 included) every chunk
  the manifest names has its vector; readers ignore vectors of other chunks, and the next
  ingest deletes them.
- `--rebuild` (and a first build) writes a new store and lexical dir beside the old ones and
  swaps the manifest at the end, then deletes the old parts: an interrupted rebuild leaves the
  old index working, and the next ingest removes what it left. A first build killed part-way
  is resumed by the next `tutor ingest`; a rebuild always starts afresh.
- The manifest records the embedding models and their dimensions; opening an index built with
  other models raises `Index.Mismatch` (never a dimension error from Chroma).
- Damaged files raise `Index.Corrupt`, a full data disk `Index.DiskFull`; each says what to run.
  This module does not repair a damaged store in place: `tutor ingest --rebuild` builds anew.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from tutor.config import Settings
from tutor.corpus import Corpus
from tutor.errors import TutorError
from tutor.rag.bm25 import BM25Index, tokenize
from tutor.rag.terms import TermStats
from tutor.rag.chunking import Chunk, chunk_corpus
from tutor.rag.embed import Embedder

# 2: "store", "collections" and "lexical" name the parts (1: fixed names, flat layout)
MANIFEST_VERSION = 2
# Version of chunking + lexical tokenisation; an index built by an older version is brought
# up to date by the next `tutor ingest` (re-chunk, embed only new chunks, rebuild BM25).
# 2: key-points chunks split to fit the embedder; symbol-joined terms kept whole in BM25.
# 3: English words stemmed in BM25 (Snowball).
# 4: token statistics saved beside BM25 (lexical-<id>/terms.json), not recomputed per process.
INDEX_FORMAT = 4
BATCH = 64  # chunks per embedding call (one progress step)
MIN_FREE = 1 << 20  # an ingest with less free space than this (+ what a rebuild copies) does not start
FULL_BELOW = 16 << 20  # a write that fails with less free space than this failed for want of space
_PART = re.compile(r"(chroma|lexical)-\d{8}T\d{6}-[0-9a-f]{6}")


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
            with contextlib.suppress(OSError):  # only names the holder in Busy; may fail on a full disk
                (path.parent / ".writer").write_text(str(os.getpid()))
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _chroma_client(settings: Settings, store: str | None, create: bool = False, then: str = "retry"):
    """A client for the manifest's store: the configured server, or the PersistentClient
    directory index/<store> (which must exist unless create). then: what the user should do
    again after freeing space. Raises Index.Corrupt, Index.DiskFull, Index.Unreachable."""
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
    path = settings.index_dir / (store or "chroma")
    if not create and not (path / "chroma.sqlite3").is_file():
        # PersistentClient would create an empty store here and searches would quietly lose their dense half
        raise Index.Corrupt(f"the vector store {path} is missing; run `tutor ingest --rebuild`")
    if create:
        return chromadb.PersistentClient(path=str(path), settings=cs)
    with _damaged(f"the vector store {path}", settings, then):
        return chromadb.PersistentClient(path=str(path), settings=cs)


def _why(e: BaseException) -> str:
    first = (str(e).strip().splitlines() or [""])[0]
    return (first[:120] + "…" if len(first) > 120 else first) or e.__class__.__name__


@contextlib.contextmanager
def _damaged(what: str, settings: Settings | None = None, then: str = "retry") -> Iterator[None]:
    """Any failure reading `what` becomes Index.Corrupt, or Index.DiskFull when it says the
    disk is full (Chroma cannot even open its SQLite file on a disk with no byte free).
    BaseException: a Rust panic in chromadb's bindings (pyo3's PanicException) is not an Exception."""
    try:
        yield
    except (TutorError, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as e:
        if settings is not None and _says_full(e):
            raise Index.DiskFull(_full_message(settings, then)) from None
        raise Index.Corrupt(f"{what} is damaged ({_why(e)}); run `tutor ingest --rebuild`") from None


def _free_bytes(path: Path) -> int:
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _says_full(e: BaseException) -> bool:
    """Whether e (or what caused it) reports a full disk: ENOSPC/EDQUOT from Python, 'database
    or disk is full' from Chroma's SQLite."""
    seen, x = [], e
    while x is not None and len(seen) < 8:
        seen.append(x)
        x = x.__cause__ or x.__context__
    return (any(isinstance(x, OSError) and x.errno in (errno.ENOSPC, errno.EDQUOT) for x in seen)
            or any(k in str(x).lower() for x in seen for k in ("disk is full", "no space left")))


def _is_full(e: BaseException, settings: Settings) -> bool:
    """Whether a failed write failed for want of space; Chroma may say only 'Error in
    compaction', so almost no free space left counts too."""
    return _says_full(e) or _free_bytes(settings.index_dir) < FULL_BELOW


@contextlib.contextmanager
def _disk_full(settings: Settings) -> Iterator[None]:
    """A write failing for want of space becomes Index.DiskFull (BaseException: a Rust panic in
    chromadb's bindings is not an Exception)."""
    try:
        yield
    except (TutorError, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as e:
        if _is_full(e, settings):
            raise Index.DiskFull(_full_message(settings)) from None
        raise


def _full_message(settings: Settings, then: str = "run `tutor ingest`") -> str:
    return f"the disk holding {settings.index_dir} is full; free space and {then} again"


def _new_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def _base(settings: Settings, role: str) -> str:
    return settings.collection if role == "dense" else f"{settings.collection}-{role}"


def _layout(settings: Settings, manifest: dict) -> dict:
    """{"store", "collections": {role: name}, "lexical"} of a manifest; a version-1 manifest
    means the flat layout with the fixed collection names."""
    if "lexical" in manifest:
        return {k: manifest[k] for k in ("store", "collections", "lexical")}
    roles = ["dense"] + (["multilingual"] if manifest.get("multilingual_model") else [])
    return {"store": None if settings.chroma_url else "chroma", "collections": {r: _base(settings, r) for r in roles}, "lexical": ""}


def _fresh_layout(settings: Settings, roles: list[str]) -> dict:
    """New names for a build beside the current index: a new directory, or on a server new
    collection names (a server has no directories to keep generations apart)."""
    gid = _new_id()
    if settings.chroma_url:
        return {"store": None, "collections": {r: f"{_base(settings, r)}-{gid}" for r in roles}, "lexical": f"lexical-{gid}"}
    return {"store": f"chroma-{gid}", "collections": {r: _base(settings, r) for r in roles}, "lexical": f"lexical-{gid}"}


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(path)  # atomic: a reader sees the old file or the new one, never half


def _peek(path: Path) -> dict | None:
    """The JSON object in path, or None when absent or unreadable."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        return obj if isinstance(obj, dict) else None
    except (OSError, ValueError):
        return None


class Index:
    """Dense + lexical index over the corpus chunks. Build with `Index.ingest`, read with `Index.open`."""

    class Missing(TutorError):
        """No index has been built yet."""

    class Mismatch(TutorError):
        """The index was built with another embedding model or dimension."""

    class Busy(TutorError):
        """Another process is writing the index (an ingest, or a reader waited lock_timeout_s)."""

    class Unreachable(TutorError):
        """The configured Chroma server does not answer."""

    class Corrupt(TutorError):
        """A file of the index is damaged or missing; `tutor ingest --rebuild` builds it anew."""

    class DiskFull(TutorError):
        """The data dir's disk ran out of space; the last complete index is left as it was."""

    def __init__(self, settings: Settings, embedder: Embedder, client, manifest: dict, bm25: BM25Index | None,
                 chunks: dict[str, Chunk], multilingual: Embedder | None = None, collections: dict[str, str] | None = None):
        self.settings = settings
        self.embedder = embedder
        self.multilingual = multilingual
        self.client = client
        self.manifest = manifest
        self.bm25 = bm25
        self.chunks = chunks
        self.term_stats: TermStats | None = None  # set by `open` from lexical-<id>/terms.json
        names = collections or _layout(settings, manifest)["collections"]
        self.vectorstore = self._vectorstore(embedder, names["dense"])
        # role → vector store: "dense" (primary embedder), "multilingual" (when configured)
        self.vectorstores = {"dense": self.vectorstore}
        if multilingual is not None:
            self.vectorstores["multilingual"] = self._vectorstore(multilingual, names["multilingual"])
        # node id → its chunk ids (outline chunk, key points first) and the names it goes by
        self.by_node: dict[str, list[str]] = {}
        self.names: dict[str, set[str]] = {}
        for c in sorted(chunks.values(), key=lambda c: (c.node_id, c.ord)):
            self.by_node.setdefault(c.node_id, []).append(c.id)
            self.names.setdefault(c.node_id, set()).update(n for n in (c.title, c.title_en) if n)
        for node_id, aliases in manifest.get("aliases", {}).items():
            self.names.setdefault(node_id, set()).update(aliases)

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
        """Number of vectors in the Chroma collection (at least len(chunks); more after an
        interrupted ingest, until the next one)."""
        return self.collection.count()

    # -- reading ---------------------------------------------------------------------
    @classmethod
    def read_manifest(cls, settings: Settings) -> dict | None:
        """The manifest, or None before the first build. Raises Index.Corrupt when unreadable."""
        p = settings.index_dir / "manifest.json"
        if not p.is_file():
            return None
        with _damaged(f"the index manifest {p}"):
            m = json.loads(p.read_text(encoding="utf-8"))
            if not isinstance(m, dict):
                raise ValueError("not a JSON object")
            return m

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
        """Open the built index for search. Raises Index.Missing, Index.Mismatch, Index.Busy
        (a writer kept the lock past lock_timeout_s), Index.Corrupt, Index.Unreachable."""
        d = settings.index_dir
        with _flock(d / ".lock", exclusive=False, timeout_s=settings.lock_timeout_s, what="retry"):
            manifest = cls.read_manifest(settings)
            if manifest is None:
                raise cls.Missing(f"no index in {d}; run `tutor ingest` first")
            cls._check_model(manifest, embedder, multilingual)
            lay = _layout(settings, manifest)
            lexical = d / lay["lexical"]
            with _damaged(f"the BM25 index {lexical / 'bm25'}"):
                bm25 = BM25Index.load(lexical / "bm25")
            chunks = _read_chunks(lexical / "chunks.jsonl")
            if len(chunks) != manifest.get("chunks") or len(bm25.ids) != len(chunks):
                raise cls.Corrupt(f"the index in {d} is inconsistent ({len(chunks)} chunks in the chunk store, "
                                  f"{len(bm25.ids)} in BM25, {manifest.get('chunks')} in the manifest); run `tutor ingest --rebuild`")
            stats = _read_terms(lexical / TERMS, chunks)
            client = _chroma_client(settings, lay["store"])
            _collections(settings, client, lay, len(chunks))
            index = cls(settings, embedder, client, manifest, bm25, chunks, multilingual, lay["collections"])
            index.term_stats = stats
            return index

    # -- writing ---------------------------------------------------------------------
    @classmethod
    def ingest(cls, settings: Settings, embedder: Embedder, corpus: Corpus, rebuild: bool = False,
               progress: Callable[[int], None] | None = None, on_total: Callable[[int], None] | None = None,
               multilingual: Embedder | None = None) -> IngestReport:
        """Bring the index in line with the corpus. Idempotent; embeds only new chunks.

        progress(n) is called after each embedded batch with its size; on_total(n) once with
        the number of embeddings to compute (chunks × embedders that lack them). embedded in
        the report counts chunks, not vectors. rebuild: build anew beside the current index
        and swap at the end. Raises Index.Mismatch (other model, no rebuild), Index.Busy
        (another ingest is running: at once; readers: after lock_timeout_s), Index.Corrupt
        (damaged index, no rebuild), Index.DiskFull; the last complete index stays usable."""
        t0 = time.monotonic()
        d = settings.index_dir
        with _flock(d / ".ingest.lock", exclusive=True, timeout_s=0, what="run `tutor ingest`"), _disk_full(settings):
            manifest = None if rebuild else cls.read_manifest(settings)
            if manifest:
                cls._check_model(manifest, embedder, multilingual)
            w = _Ingest(settings, embedder, multilingual, corpus, progress, on_total)
            if manifest:
                return w.update(manifest, t0)
            return w.build(t0, resume=not rebuild)


class _Ingest:
    """One ingest under the ingest lock: `update` (incremental, in place) or `build` (beside)."""

    def __init__(self, settings: Settings, embedder: Embedder, multilingual: Embedder | None, corpus: Corpus,
                 progress, on_total):
        self.s, self.corpus, self.progress, self.on_total = settings, corpus, progress, on_total
        self.dir = settings.index_dir
        self.embedders = {"dense": embedder, **({"multilingual": multilingual} if multilingual else {})}
        self.models = Index.models(embedder, multilingual)
        self.max_tokens = embedder.max_tokens
        self.current = _peek(self.dir / "manifest.json")  # what readers use now (None: nothing, or unreadable)

    # -- the two paths -------------------------------------------------------------------
    def update(self, manifest: dict, t0: float) -> IngestReport:
        """Add new vectors to the current store, swap the manifest, then delete stale vectors."""
        lay = _layout(self.s, manifest)
        self._drop_pending()  # a build that never finished: its part is no use now
        self._drop_leftovers()
        fingerprint = self.corpus.fingerprint()
        with _flock(self.dir / ".lock", exclusive=False, timeout_s=self.s.lock_timeout_s, what="run `tutor ingest`"):
            client = _chroma_client(self.s, lay["store"], then="run `tutor ingest`")
            cols = _collections(self.s, client, lay, 0, "run `tutor ingest`")
            with _damaged(f"the vector store of {self.dir}", self.s, "run `tutor ingest`"):
                counts = {r: c.count() for r, c in cols.items()}
                lexical = self.dir / lay["lexical"]
                if (manifest.get("corpus_hash") == fingerprint and manifest.get("index_format") == INDEX_FORMAT
                        and all(n == manifest.get("chunks") for n in counts.values())
                        and (lexical / "bm25").is_dir() and (lexical / "chunks.jsonl").is_file()):
                    return IngestReport(0, 0, counts["dense"], True, time.monotonic() - t0)
                existing = {r: set(c.get(include=[])["ids"]) for r, c in cols.items()}
        self._need(MIN_FREE)
        chunks = self._chunks()
        wanted = {c.id for c in chunks}
        new = {r: [c for c in chunks if c.id not in existing[r]] for r in cols}
        stale = {r: sorted(existing[r] - wanted) for r in cols}
        if self.on_total:
            self.on_total(sum(len(v) for v in new.values()))
        # embed before taking the lock: readers wait only for the writes below
        vectors = {r: [v for part in self._embed(r, new[r]) for v in part[1]] for r in cols}
        lay = {**lay, "lexical": f"lexical-{_new_id()}"}
        swapped = False
        try:
            self._write_lexical(lay, chunks)
            with _flock(self.dir / ".lock", exclusive=True, timeout_s=self.s.lock_timeout_s, what="run `tutor ingest`"):
                for r, col in cols.items():
                    for i in range(0, len(new[r]), 256):
                        _add(col, new[r][i:i + 256], vectors[r][i:i + 256])
                self._swap(lay, fingerprint, chunks)
                swapped = True
                for r, col in cols.items():
                    if stale[r]:
                        col.delete(ids=stale[r])
                self._drop_leftovers()
                total = cols["dense"].count()
        except BaseException:
            if not swapped:  # vectors already added stay: readers ignore them, the next ingest keeps them
                shutil.rmtree(self.dir / lay["lexical"], ignore_errors=True)
            raise
        return IngestReport(len({c.id for v in new.values() for c in v}), len({i for v in stale.values() for i in v}),
                            total, False, time.monotonic() - t0)

    def build(self, t0: float, resume: bool) -> IngestReport:
        """Build a new store and lexical dir beside the current index; swap the manifest at the
        end. resume: carry on with a first build that an earlier run left unfinished."""
        pending = _peek(self.dir / "pending.json")
        if (resume and pending and pending.get("models") == self.models and not pending.get("rebuild")
                and isinstance(pending.get("layout"), dict)):
            lay = {**pending["layout"], "lexical": f"lexical-{_new_id()}"}
        else:
            self._drop_pending()
            lay = _fresh_layout(self.s, list(self.embedders))
        self._drop_leftovers(keep=lay)
        # a rebuild holds the old index and the new one at once
        self._need(MIN_FREE + (_size(self.dir) if self.current else 0))
        _write_json(self.dir / "pending.json", {"layout": lay, "models": self.models, "rebuild": not resume})
        try:
            fingerprint = self.corpus.fingerprint()
            client = _chroma_client(self.s, lay["store"], create=True)
            cols = {r: client.get_or_create_collection(name, metadata={"hnsw:space": "cosine"})
                    for r, name in lay["collections"].items()}
            existing = {r: set(c.get(include=[])["ids"]) for r, c in cols.items()}
            chunks = self._chunks()
            wanted = {c.id for c in chunks}
            new = {r: [c for c in chunks if c.id not in existing[r]] for r in cols}
            for r, col in cols.items():
                if existing[r] - wanted:  # a resumed build over a corpus that changed since
                    col.delete(ids=sorted(existing[r] - wanted))
            if self.on_total:
                self.on_total(sum(len(v) for v in new.values()))
            for r, col in cols.items():
                for part, vecs in self._embed(r, new[r]):
                    _add(col, part, vecs)
            self._write_lexical(lay, chunks)
        except BaseException as e:
            # a rebuild never resumes, so its part is only taking space; so is any part on a full disk
            if not resume or (not isinstance(e, TutorError) and _is_full(e, self.s)):
                self._drop_pending()
            raise
        replaced = _layout(self.s, self.current)["collections"] if self.current else {}
        with _flock(self.dir / ".lock", exclusive=True, timeout_s=self.s.lock_timeout_s, what="run `tutor ingest`"):
            self._swap(lay, fingerprint, chunks)
            (self.dir / "pending.json").unlink(missing_ok=True)
            if self.s.chroma_url:  # the old collections on the server (a local store goes with its directory)
                self._drop_collections([n for n in replaced.values() if n not in lay["collections"].values()])
            self._drop_leftovers()
            total = cols["dense"].count()
        return IngestReport(len({c.id for v in new.values() for c in v}), 0, total, False, time.monotonic() - t0)

    # -- parts ---------------------------------------------------------------------------
    def _chunks(self) -> list[Chunk]:
        return chunk_corpus(self.corpus, self.embedders["dense"].count_tokens, self.max_tokens)

    def _embed(self, role: str, chunks: list[Chunk]) -> Iterator[tuple[list[Chunk], list[list[float]]]]:
        emb = self.embedders[role].embeddings
        for i in range(0, len(chunks), BATCH):
            part = chunks[i:i + BATCH]
            vecs = emb.embed_documents([c.text for c in part])
            yield part, vecs
            if self.progress:
                self.progress(len(part))

    def _write_lexical(self, lay: dict, chunks: list[Chunk]) -> None:
        lexical = self.dir / lay["lexical"]
        lexical.mkdir(parents=True, exist_ok=True)
        tokens = [tokenize(c.text) for c in chunks]  # once, for BM25 and the term statistics
        BM25Index.build([c.id for c in chunks], tokens=tokens).save(lexical / "bm25")
        TermStats().add((c.node_id, t) for c, t in zip(chunks, tokens)).save(lexical / TERMS)
        _write_chunks(lexical / "chunks.jsonl", chunks)

    def _swap(self, lay: dict, fingerprint: str, chunks: list[Chunk]) -> None:
        """Write the manifest naming lay: the moment readers move to the new index."""
        corpus = self.corpus
        manifest = {
            "version": MANIFEST_VERSION, "index_format": INDEX_FORMAT, **self.models, "max_tokens": self.max_tokens,
            "corpus_hash": fingerprint, "chunks": len(chunks), "notes": len(corpus.notes), "nodes": len(corpus.outline),
            "aliases": {i: n.meta.aliases for i, n in corpus.notes.items() if n.meta.aliases},
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"), **lay,
        }
        _write_json(self.dir / "manifest.json", manifest)
        self.current = manifest

    def _need(self, nbytes: int) -> None:
        if _free_bytes(self.dir) < nbytes:
            raise Index.DiskFull(_full_message(self.s))

    def _drop_pending(self) -> None:
        """Delete what an unfinished build left (its store or server collections) and its record."""
        pending = _peek(self.dir / "pending.json")
        if pending and isinstance(pending.get("layout"), dict):
            lay = pending["layout"]
            live = _layout(self.s, self.current) if self.current else {}
            if self.s.chroma_url:
                self._drop_collections([n for n in lay.get("collections", {}).values() if n not in live.get("collections", {}).values()])
            for name in (lay.get("store"), lay.get("lexical")):
                if name and _PART.fullmatch(name) and name not in (live.get("store"), live.get("lexical")):
                    shutil.rmtree(self.dir / name, ignore_errors=True)
        (self.dir / "pending.json").unlink(missing_ok=True)

    def _drop_leftovers(self, keep: dict | None = None) -> None:
        """Delete index/ entries no manifest names: parts of interrupted or replaced builds,
        the flat layout's files once the manifest has moved on, temp files. Nothing is deleted
        while the current manifest cannot be read (what it names is unknown)."""
        if not self.dir.is_dir() or (self.current is None and (self.dir / "manifest.json").exists()):
            return
        names = set()
        for lay in ([_layout(self.s, self.current)] if self.current else []) + ([keep] if keep else []):
            names.update({lay["store"], lay["lexical"]})
        flat = {"chroma", "bm25", "chunks.jsonl"} if "" not in names else set()
        for p in self.dir.iterdir():
            if p.name in names or not (_PART.fullmatch(p.name) or p.name in flat or p.suffix == ".tmp"):
                continue
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)

    def _drop_collections(self, names: list[str]) -> None:
        if not names:
            return
        client = _chroma_client(self.s, None)
        for name in names:
            with contextlib.suppress(Exception):
                client.delete_collection(name)


def _collections(settings: Settings, client, lay: dict, at_least: int, then: str = "retry") -> dict:
    """The layout's collections, each holding at least `at_least` vectors. Raises Index.Corrupt,
    Index.DiskFull, Index.Unreachable."""
    where = f"the Chroma server at {settings.chroma_url}" if settings.chroma_url else f"the vector store {settings.index_dir / (lay['store'] or 'chroma')}"
    out = {}
    for role, name in lay["collections"].items():
        try:
            out[role] = client.get_collection(name)
            n = out[role].count()
        except Exception as e:
            from chromadb.errors import NotFoundError

            if _says_full(e):
                raise Index.DiskFull(_full_message(settings, then)) from None
            if settings.chroma_url and not isinstance(e, NotFoundError):
                raise Index.Unreachable(f"the Chroma server at {settings.chroma_url} failed ({_why(e)}); check it or unset TUTOR_CHROMA_URL") from None
            raise Index.Corrupt(f"collection {name!r} in {where} is missing or damaged ({_why(e)}); run `tutor ingest --rebuild`") from None
        except BaseException as e:  # a Rust panic in chromadb's bindings
            if isinstance(e, (KeyboardInterrupt, SystemExit, GeneratorExit)):
                raise
            raise Index.Corrupt(f"collection {name!r} in {where} is damaged ({_why(e)}); run `tutor ingest --rebuild`") from None
        if n < at_least:
            raise Index.Corrupt(f"collection {name!r} in {where} holds {n} vectors for {at_least} chunks; run `tutor ingest --rebuild`")
    return out


def _add(collection, chunks: list[Chunk], vectors: list[list[float]]) -> None:
    # what langchain_chroma's add_texts stores, with the vectors computed beforehand
    collection.upsert(ids=[c.id for c in chunks], embeddings=vectors, documents=[c.text for c in chunks],
                      metadatas=[c.metadata() for c in chunks])


def _write_chunks(path: Path, chunks: list[Chunk]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for c in chunks:
            f.write(json.dumps(c.__dict__, ensure_ascii=False) + "\n")
    tmp.replace(path)


TERMS = "terms.json"  # TermStats saved at ingest; absent in indexes built before it (computed on first search)


def _read_terms(path: Path, chunks: dict[str, Chunk]) -> TermStats | None:
    """The saved TermStats for these chunks, or None when absent or not matching them (the
    retriever then computes them); a damaged file is treated as absent: it can be recomputed."""
    try:
        st = TermStats.load(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if st.n != len(chunks):
        return None
    st.chunks_key = id(chunks)
    return st


def _read_chunks(path: Path) -> dict[str, Chunk]:
    if not path.is_file():
        raise Index.Corrupt(f"the chunk store {path} is missing; run `tutor ingest --rebuild`")
    out = {}
    with _damaged(f"the chunk store {path}"):
        for line in path.read_text(encoding="utf-8").splitlines():
            c = Chunk(**json.loads(line))
            out[c.id] = c
    return out
