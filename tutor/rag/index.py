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

With TUTOR_CHROMA_URL the server holds the whole index, so that several app processes
(replicas, each with its own, possibly empty, TUTOR_HOME) answer alike:

    <collection>[-multilingual]-<id>   the vector collections (ids, vectors, and per chunk its
                                       text as the document and node_id/kind/title/title_en/
                                       heading/ord as metadata)
    <collection>-manifest              one record, id "manifest": the manifest as its document
                                       ({"manifest": {...}, "chunks": [[chunk id, ord], ...]}, the
                                       chunks in ingest order) and {"corpus_version", "format"}
                                       as its metadata (the cheap read a replica polls)

  The ingest upserts that record last, after the vectors and collections it names exist (one
  record: a reader sees the old manifest or the new one, never half); "corpus_version" (the
  lexical part's build id + the corpus fingerprint's head) changes with every ingest that
  changes anything. The manifest's chunk list, not the collection, says which chunks are
  current (a collection may also hold vectors an ingest added before its swap or has yet to
  delete), and their `ord` (a chunk whose text did not change keeps its vector and its first
  metadata). Locally, index/ then holds no manifest.json: only the lock files, pending.json,
  the lexical-<id>/ an ingest from this home wrote, and cache/<corpus_version>/ (bm25/ +
  chunks.jsonl + terms.json), which `Index.open` rebuilds from the server's chunks (their
  documents and metadata, in the manifest's order, tokenised as at ingest) when this home has
  neither: so every replica searches the same BM25 index and term statistics. Caches of older
  versions are deleted when no process of this home is reading them.
- A rebuild's replaced collections are dropped `index_check_s` + 1 s after its swap, so a
  replica that checks the version before each search (`Tutor`) reopens before they go.
- Not done: an ingest's lock is local, so two ingests from two homes at once are not kept
  apart; vectors and collections left by an ingest killed in another home stay on the server
  until that home's next ingest.
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
from tutor.rag.bm25 import BM25Index
from tutor.rag.terms import TermStats, lexical_tokens, ranked
from tutor.rag.chunking import Chunk, chunk_corpus
from tutor.rag.embed import Embedder

# 2: "store", "collections" and "lexical" name the parts (1: fixed names, flat layout)
MANIFEST_VERSION = 2
# Version of chunking + lexical tokenisation; an index built by an older version is brought
# up to date by the next `tutor ingest` (re-chunk, embed only new chunks, rebuild BM25).
# 2: key-points chunks split to fit the embedder; symbol-joined terms kept whole in BM25.
# 3: English words stemmed in BM25 (Snowball).
# 4: token statistics saved beside BM25 (lexical-<id>/terms.json), not recomputed per process.
# 5: each note's prerequisites in the manifest (a name a topic shares with its prerequisite).
# 6: sentences no longer end after an abbreviation ("et al.", "e.g."), so chunks are cut elsewhere.
INDEX_FORMAT = 6
BATCH = 64  # chunks per embedding call (one progress step)
MIN_FREE = 1 << 20  # an ingest with less free space than this (+ what a rebuild copies) does not start
FULL_BELOW = 16 << 20  # a write that fails with less free space than this failed for want of space
_PART = re.compile(r"(chroma|lexical)-\d{8}T\d{6}-[0-9a-f]{6}")
CACHE = "cache"  # index/cache/<corpus_version>/: a server index's lexical part, rebuilt here (server mode)
MANIFEST_ID = "manifest"  # the one record of the server's <collection>-manifest collection
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,127}")
GET_PAGE = 1000  # chunk ids per `get` when a replica reads the chunks from the server
# HNSW settings of every vector collection. Chroma's defaults (ef_construction 100, M 16, ef_search 100)
# found 98% of USE's exact top 30 over this corpus (blind round 28's questions: 117 of 186 queries with
# all 30); these find 99.8% (177 of 186) for a larger graph and slower build (session 44,
# RETRIEVAL_NOTES.md). Only ef_search can change on an existing collection (Index.ingest does).
SEARCH_EF = 200
HNSW_METADATA = {"hnsw:space": "cosine", "hnsw:construction_ef": 200, "hnsw:M": 32, "hnsw:search_ef": SEARCH_EF}


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
def _disk_full(settings: Settings, then: str = "run `tutor ingest`") -> Iterator[None]:
    """A write failing for want of space becomes Index.DiskFull (BaseException: a Rust panic in
    chromadb's bindings is not an Exception)."""
    try:
        yield
    except (TutorError, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as e:
        if _is_full(e, settings):
            raise Index.DiskFull(_full_message(settings, then)) from None
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


def _server_failed(settings: Settings, e: BaseException) -> "Index.Unreachable":
    return Index.Unreachable(f"the Chroma server at {settings.chroma_url} failed ({_why(e)}); check it or unset TUTOR_CHROMA_URL")


def _widen_search(col) -> None:
    """Raise an existing collection's HNSW ef_search to SEARCH_EF (an index built before session 44
    has 100); Chroma applies it from the next time the store is opened. Its graph (M,
    ef_construction) stays as built until `tutor ingest --rebuild`."""
    if (col.configuration_json or {}).get("hnsw", {}).get("ef_search", SEARCH_EF) < SEARCH_EF:
        col.modify(configuration={"hnsw": {"ef_search": SEARCH_EF}})


def _manifest_collection(settings: Settings) -> str:
    return f"{settings.collection}-manifest"


def _published_record(settings: Settings, client, include: list[str]) -> dict | None:
    """The fields `include` ("documents", "metadatas") of the server's manifest record, or None
    when the server holds none. Raises Index.Unreachable."""
    from chromadb.errors import NotFoundError

    try:
        got = client.get_collection(_manifest_collection(settings)).get(ids=[MANIFEST_ID], include=include)
    except NotFoundError:
        return None
    except Exception as e:
        raise _server_failed(settings, e) from None
    return {k: got[k][0] for k in include} if got["ids"] else None


def _read_published(settings: Settings, client) -> tuple[dict, list[tuple[str, int]]] | None:
    """(manifest, [(chunk id, ord)] in ingest order) as published on the Chroma server, or None
    when it holds none. Raises Index.Unreachable, Index.Corrupt (a damaged record)."""
    rec = _published_record(settings, client, ["documents"])
    if rec is None:
        return None
    with _damaged(f"the index manifest on the Chroma server at {settings.chroma_url}"):
        doc = json.loads(rec["documents"])
        manifest, order = doc["manifest"], [(str(i), int(o)) for i, o in doc["chunks"]]
        if not isinstance(manifest, dict) or not _VERSION.fullmatch(str(manifest.get("corpus_version"))):
            raise ValueError("no manifest or corpus version")
        if len(order) != manifest.get("chunks"):
            raise ValueError(f"{len(order)} chunks listed, {manifest.get('chunks')} counted")
    return manifest, order


def _publish(settings: Settings, manifest: dict, chunks: list[Chunk]) -> None:
    """Upsert the manifest record on the Chroma server: the moment replicas move to `manifest`.
    Raises Index.Unreachable."""
    client = _chroma_client(settings, None, then="run `tutor ingest`")
    doc = json.dumps({"manifest": manifest, "chunks": [[c.id, c.ord] for c in chunks]}, ensure_ascii=False, separators=(",", ":"))
    try:
        col = client.get_or_create_collection(_manifest_collection(settings))
        # a collection needs a vector per record: a constant one (the record is only ever read by id)
        col.upsert(ids=[MANIFEST_ID], embeddings=[[1.0]], documents=[doc],
                   metadatas=[{"corpus_version": manifest["corpus_version"], "format": MANIFEST_VERSION}])
    except Exception as e:
        raise _server_failed(settings, e) from None


def _server_chunks(settings: Settings, collection, order: list[tuple[str, int]]) -> list[Chunk]:
    """The chunks `order` names, from the documents and metadata a collection holds for them,
    in that order with those ords. Raises Index.Corrupt (a chunk missing: the collection was
    dropped or damaged), Index.Unreachable."""
    from chromadb.errors import NotFoundError

    ids = [cid for cid, _ in order]
    got: dict[str, tuple] = {}
    try:
        for i in range(0, len(ids), GET_PAGE):
            r = collection.get(ids=ids[i:i + GET_PAGE], include=["documents", "metadatas"])
            got.update(zip(r["ids"], zip(r["documents"], r["metadatas"])))
    except NotFoundError as e:
        raise Index.Corrupt(f"collection {collection.name!r} on the Chroma server at {settings.chroma_url} is missing "
                            f"({_why(e)}); run `tutor ingest --rebuild`") from None
    except Exception as e:
        raise _server_failed(settings, e) from None
    missing = [cid for cid in ids if cid not in got]
    if missing:
        raise Index.Corrupt(f"collection {collection.name!r} on the Chroma server at {settings.chroma_url} lacks "
                            f"{len(missing)} of the {len(ids)} chunks its manifest names (e.g. {missing[0]}); "
                            "run `tutor ingest --rebuild`")
    out = []
    with _damaged(f"collection {collection.name!r} on the Chroma server at {settings.chroma_url}"):
        for cid, ord_ in order:
            doc, m = got[cid]
            out.append(Chunk(cid, str(m["node_id"]), str(m["kind"]), str(m["title"]), str(m.get("title_en") or ""),
                             str(m.get("heading") or ""), str(doc), ord_))
    return out


def _write_lexical(path: Path, chunks: list[Chunk]) -> None:
    """bm25/ + terms.json + chunks.jsonl for chunks (in this order) under path."""
    path.mkdir(parents=True, exist_ok=True)
    counted = ranked(chunks)  # 'limits' chunks are stored (chunks.jsonl), never counted
    tokens = [lexical_tokens(c) for c in counted]  # once, for BM25 and the term statistics
    BM25Index.build([c.id for c in counted], tokens=tokens).save(path / "bm25")
    TermStats().add((c.node_id, t) for c, t in zip(counted, tokens)).save(path / TERMS)
    _write_chunks(path / "chunks.jsonl", chunks)


def _load_lexical(settings: Settings, lexical: Path, manifest: dict) -> tuple[BM25Index, dict[str, Chunk], TermStats | None]:
    """BM25, chunk store and term statistics of a lexical dir, checked against the manifest.
    Raises Index.Corrupt."""
    with _damaged(f"the BM25 index {lexical / 'bm25'}"):
        bm25 = BM25Index.load(lexical / "bm25")
    chunks = _read_chunks(lexical / "chunks.jsonl")
    # (BM25 of an index written before session 32 holds the 'limits' chunks too)
    if len(chunks) != manifest.get("chunks") or len(bm25.ids) not in (len(chunks), len(ranked(chunks.values()))):
        raise Index.Corrupt(f"the index in {settings.index_dir} is inconsistent ({len(chunks)} chunks in the chunk store, "
                            f"{len(bm25.ids)} in BM25, {manifest.get('chunks')} in the manifest); run `tutor ingest --rebuild`")
    return bm25, chunks, _read_terms(lexical / TERMS, chunks)


def _cached_lexical(settings: Settings, manifest: dict, order: list[tuple[str, int]], collection):
    """(bm25, chunks, term stats) of a server index from index/cache/<corpus_version>/, which is
    built first from the server's chunks when absent (or damaged: it is only a cache). Builders
    write a temp dir and rename it, so processes sharing a home may build at once; readers hold
    cache/.lock shared, and caches of older versions are deleted when nobody holds it. Raises
    Index.Corrupt, Index.Unreachable, Index.DiskFull, Index.Busy."""
    cache = settings.index_dir / CACHE
    version = manifest["corpus_version"]
    dest = cache / version
    with _flock(cache / ".lock", exclusive=False, timeout_s=settings.lock_timeout_s, what="retry"):
        for attempt in (1, 2):
            if not (dest / "chunks.jsonl").is_file():
                chunks = _server_chunks(settings, collection, order)
                tmp = cache / f".{version}-{os.getpid()}-{secrets.token_hex(3)}.tmp"
                try:
                    with _disk_full(settings, "retry"):
                        _write_lexical(tmp, chunks)
                    with contextlib.suppress(OSError):  # another process of this home was quicker
                        tmp.rename(dest)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            try:
                loaded = _load_lexical(settings, dest, manifest)
                break
            except Index.Corrupt:
                if attempt == 2:
                    raise
                shutil.rmtree(dest, ignore_errors=True)
    _prune_cache(cache, version)
    return loaded


def _prune_cache(cache: Path, version: str) -> None:
    """Delete cached versions older than `version` (ids start with their build time) and stray
    temp dirs, unless a process of this home is reading or building one now."""
    try:
        with _flock(cache / ".lock", exclusive=True, timeout_s=0, what="retry"):
            for p in cache.iterdir():
                if (p.is_dir() and _VERSION.fullmatch(p.name) and p.name < version) or p.suffix == ".tmp":
                    shutil.rmtree(p, ignore_errors=True)
    except Index.Busy:
        pass


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
        self._published = None  # the server's manifest collection, once `latest_version` has looked it up
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
        # node id → its prerequisites' ids (an index built before format 5 has none)
        self.prerequisites: dict[str, list[str]] = manifest.get("prerequisites", {})

    def _vectorstore(self, embedder: Embedder, name: str):
        from langchain_chroma import Chroma

        return Chroma(
            collection_name=name,
            embedding_function=embedder.embeddings,
            client=self.client,
            collection_metadata=HNSW_METADATA,
        )

    @property
    def collection(self):
        return self.vectorstore._collection

    def count(self) -> int:
        """Number of vectors in the Chroma collection (at least len(chunks); more after an
        interrupted ingest, until the next one)."""
        return self.collection.count()

    @property
    def version(self) -> str | None:
        """The corpus version of this index (the manifest's "corpus_version"; None for an index
        built before versions were recorded)."""
        return self.manifest.get("corpus_version")

    def latest_version(self) -> str | None:
        """The corpus version the Chroma server publishes now: one small read (the manifest
        record's metadata, ~10 ms on a local network). None in local mode or when the server
        holds no manifest. Raises Index.Unreachable."""
        if not self.settings.chroma_url:
            return None
        for fresh in (False, True):
            try:
                if self._published is None or fresh:
                    self._published = self.client.get_collection(_manifest_collection(self.settings))
                got = self._published.get(ids=[MANIFEST_ID], include=["metadatas"])
                return str(got["metadatas"][0].get("corpus_version")) if got["ids"] else None
            except Exception as e:
                from chromadb.errors import NotFoundError

                self._published = None
                if not isinstance(e, NotFoundError):
                    raise _server_failed(self.settings, e) from None
        return None  # the manifest collection is gone (a reset server): keep what is open

    # -- reading ---------------------------------------------------------------------
    @classmethod
    def read_manifest(cls, settings: Settings) -> dict | None:
        """The manifest (with TUTOR_CHROMA_URL: the one published on the server), or None before
        the first build. Raises Index.Corrupt when unreadable, Index.Unreachable."""
        if settings.chroma_url:
            pub = _read_published(settings, _chroma_client(settings, None))
            return pub[0] if pub else None
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
    def _check_model(cls, manifest: dict, embedder: Embedder, multilingual: Embedder | None = None,
                     server: str | None = None) -> None:
        want = cls.models(embedder, multilingual)
        have = {k: manifest.get(k) for k in want}
        if have != want:
            def show(m: dict) -> str:
                ml = f" + {m['multilingual_model']} (dim {m['multilingual_dim']})" if m["multilingual_model"] else ""
                return f"{m['embedding_model']} (dim {m['dim']}){ml}"
            where = f"the index on the Chroma server at {server}" if server else "the index"
            fix = ("configure the models it was built with (TUTOR_EMBEDDING_MODEL, TUTOR_MULTILINGUAL) or run "
                   "`tutor ingest --rebuild` (which re-embeds it for every process using it)") if server else "run `tutor ingest --rebuild`"
            raise cls.Mismatch(f"{where} was built with embedding model {show(have)} but {show(want)} is configured; {fix}")

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder, multilingual: Embedder | None = None) -> "Index":
        """Open the built index for search. With TUTOR_CHROMA_URL: the index the server
        publishes, its lexical part from this home's cache (rebuilt from the server's chunks
        when missing: seconds for the full corpus). Raises Index.Missing, Index.Mismatch,
        Index.Busy (a writer kept the lock past lock_timeout_s), Index.Corrupt,
        Index.Unreachable, Index.DiskFull (no room for the cache)."""
        if settings.chroma_url:
            return cls._open_published(settings, embedder, multilingual)
        d = settings.index_dir
        with _flock(d / ".lock", exclusive=False, timeout_s=settings.lock_timeout_s, what="retry"):
            manifest = cls.read_manifest(settings)
            if manifest is None:
                raise cls.Missing(f"no index in {d}; run `tutor ingest` first")
            cls._check_model(manifest, embedder, multilingual)
            lay = _layout(settings, manifest)
            bm25, chunks, stats = _load_lexical(settings, d / lay["lexical"], manifest)
            client = _chroma_client(settings, lay["store"])
            _collections(settings, client, lay, len(chunks))
            index = cls(settings, embedder, client, manifest, bm25, chunks, multilingual, lay["collections"])
            index.term_stats = stats
            return index

    @classmethod
    def _open_published(cls, settings: Settings, embedder: Embedder, multilingual: Embedder | None) -> "Index":
        """`open` in server mode. An ingest that swaps while this reads may drop what it reads
        (a rebuild's old collections): then the new manifest is read and opened."""
        d, url = settings.index_dir, settings.chroma_url
        client = _chroma_client(settings, None)
        for attempt in range(3):
            pub = _read_published(settings, client)
            if pub is None:
                raise cls.Missing(f"no index on the Chroma server at {url}; run `tutor ingest` first")
            manifest, order = pub
            cls._check_model(manifest, embedder, multilingual, server=url)
            lay = _layout(settings, manifest)
            try:
                cols = _collections(settings, client, lay, len(order))
                own = d / lay["lexical"]  # written by an ingest from this home
                if _PART.fullmatch(lay["lexical"] or "") and (own / "chunks.jsonl").is_file():
                    with _flock(d / ".lock", exclusive=False, timeout_s=settings.lock_timeout_s, what="retry"):
                        bm25, chunks, stats = _load_lexical(settings, own, manifest)
                else:
                    bm25, chunks, stats = _cached_lexical(settings, manifest, order, cols["dense"])
                if list(chunks) != [cid for cid, _ in order]:
                    raise cls.Corrupt(f"the lexical index for {url} in {d} does not hold the chunks the server's manifest "
                                      "names; run `tutor ingest --rebuild`")
            except cls.Corrupt:
                rec = _published_record(settings, client, ["metadatas"])
                if attempt < 2 and rec and rec["metadatas"].get("corpus_version") != manifest["corpus_version"]:
                    continue  # re-ingested meanwhile
                raise
            index = cls(settings, embedder, client, manifest, bm25, chunks, multilingual, lay["collections"])
            index.term_stats = stats
            return index
        raise AssertionError("unreachable")

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
            if manifest is None and not rebuild and settings.chroma_url:
                manifest = _peek(d / "manifest.json")  # a server index built before manifests were published
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
        self.published = False  # whether current is the manifest the Chroma server publishes
        self.current = self._current()  # what readers use now (None: nothing, or unreadable)

    def _current(self) -> dict | None:
        if self.s.chroma_url:
            with contextlib.suppress(Index.Corrupt):  # a damaged record: a rebuild replaces it
                pub = _read_published(self.s, _chroma_client(self.s, None, then="run `tutor ingest`"))
                if pub:
                    self.published = True
                    return pub[0]
        return _peek(self.dir / "manifest.json")  # server mode: a home from before manifests were published

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
                        and (self.published if self.s.chroma_url
                             else (lexical / "bm25").is_dir() and (lexical / "chunks.jsonl").is_file())):
                    return IngestReport(0, 0, counts["dense"], True, time.monotonic() - t0)
                existing = {r: set(c.get(include=[])["ids"]) for r, c in cols.items()}
        self._need(MIN_FREE)
        chunks = self._chunks()
        wanted = {c.id for c in chunks}
        new = {r: self._by_length([c for c in chunks if c.id not in existing[r]]) for r in cols}
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
            cols = {r: client.get_or_create_collection(name, metadata=HNSW_METADATA)
                    for r, name in lay["collections"].items()}
            for col in cols.values():
                _widen_search(col)
            existing = {r: set(c.get(include=[])["ids"]) for r, c in cols.items()}
            chunks = self._chunks()
            wanted = {c.id for c in chunks}
            new = {r: self._by_length([c for c in chunks if c.id not in existing[r]]) for r in cols}
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
            self._drop_leftovers()
            total = cols["dense"].count()
        old = [n for n in replaced.values() if n not in lay["collections"].values()]
        if self.s.chroma_url and old:  # the old collections on the server (a local store goes with its directory)
            time.sleep(self.s.index_check_s + 1)  # replicas still searching them notice the new manifest first
            self._drop_collections(old)
        return IngestReport(len({c.id for v in new.values() for c in v}), 0, total, False, time.monotonic() - t0)

    # -- parts ---------------------------------------------------------------------------
    def _chunks(self) -> list[Chunk]:
        return chunk_corpus(self.corpus, self.embedders["dense"].count_tokens, self.max_tokens)

    def _by_length(self, chunks: list[Chunk]) -> list[Chunk]:
        """chunks shortest first (dense-model tokens): a batch pads every text to its longest,
        so batches of like lengths embed ~25% faster than corpus order (768 chunks with MiniLM on
        one thread: 76-79 s vs 56-61 s). Ties keep corpus order, so the order is deterministic."""
        count = self.embedders["dense"].count_tokens
        return sorted(chunks, key=lambda c: count(c.text))

    def _embed(self, role: str, chunks: list[Chunk]) -> Iterator[tuple[list[Chunk], list[list[float]]]]:
        emb = self.embedders[role].embeddings
        for i in range(0, len(chunks), BATCH):
            part = chunks[i:i + BATCH]
            vecs = emb.embed_documents([c.text for c in part])
            yield part, vecs
            if self.progress:
                self.progress(len(part))

    def _write_lexical(self, lay: dict, chunks: list[Chunk]) -> None:
        _write_lexical(self.dir / lay["lexical"], chunks)

    def _swap(self, lay: dict, fingerprint: str, chunks: list[Chunk]) -> None:
        """Write the manifest naming lay: the moment readers move to the new index. With a
        Chroma server it is published there (this home's manifest.json, if any, goes)."""
        corpus = self.corpus
        manifest = {
            "version": MANIFEST_VERSION, "index_format": INDEX_FORMAT, **self.models, "max_tokens": self.max_tokens,
            "corpus_hash": fingerprint, "chunks": len(chunks), "notes": len(corpus.notes), "nodes": len(corpus.outline),
            "aliases": {i: n.meta.aliases for i, n in corpus.notes.items() if n.meta.aliases},
            "prerequisites": {i: n.meta.prerequisites for i, n in corpus.notes.items() if n.meta.prerequisites},
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "corpus_version": f"{lay['lexical'].removeprefix('lexical-')}-{fingerprint[:12]}", **lay,
        }
        if self.s.chroma_url:
            _publish(self.s, manifest, chunks)
            (self.dir / "manifest.json").unlink(missing_ok=True)
        else:
            _write_json(self.dir / "manifest.json", manifest)
        self.current, self.published = manifest, bool(self.s.chroma_url)

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
    if st.n != len(ranked(chunks.values())):  # (one written before session 32 counted 'limits' chunks: recomputed)
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
