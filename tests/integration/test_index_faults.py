"""Faults around the index on the real stack (Chroma on disk, the real MiniLM, the real CLI in
subprocesses): an ingest killed part-way, two processes at once, a full disk, damaged index
files, broken note front matter, a truncated GGUF. Each ends in one clear line (CLI exit 2)
and leaves the last good index working; `tutor ingest [--rebuild]` then repairs.

Corpora here are chapter 1 of the outline with a few of its notes (FEW) or nine of them (MID:
two embedding batches, enough for a kill to land mid-way, at half the embedding of all 21
notes; each `tutor ingest` subprocess embeds them anew), so a build takes seconds. Multilingual embedding is off (MiniLM + BM25), in-process and in the CLI.
"""

from __future__ import annotations

import errno
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, make_settings, run_cli
from tutor.corpus import Corpus
from tutor.errors import TutorError
from tutor.rag.chunking import chunk_corpus
from tutor.rag.index import Index
from tutor.rag.retrieve import Retriever

pytestmark = pytest.mark.integration

NOTES = ROOT / "corpus" / "notes" / "ch01"
CH01 = tuple(sorted(p.name.split("-")[0] for p in NOTES.glob("*.md")))
FEW = ("1.1.1", "1.1.2", "1.2.1", "1.3.3")
MID = tuple(n for n in CH01 if n.startswith(("1.1.", "1.2."))) + ("1.3.3",)  # ⊇ FEW
QUERIES = ("RoPE 旋转位置编码", "why scale the dot product by sqrt(d_k)", "多头注意力的投影矩阵")
UUID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")


# -- helpers ---------------------------------------------------------------------------
def write_corpus(root: Path, notes=FEW, edit: dict[str, str] | None = None) -> Path:
    """Chapter 1 of the outline and the given ch01 notes (prerequisites/related outside
    chapter 1 dropped, so they validate); edit: note id → sentence appended to its body."""
    (root / "notes" / "ch01").mkdir(parents=True, exist_ok=True)
    for old in (root / "notes" / "ch01").glob("*.md"):
        old.unlink()
    outline = (ROOT / "corpus" / "outline.md").read_text(encoding="utf-8")
    (root / "outline.md").write_text(outline.split("\n## 2.")[0] + "\n", encoding="utf-8")
    for nid in notes:
        src = next(NOTES.glob(f"{nid}-*.md"))
        text = re.sub(r"^(prerequisites|related): \[.*\]$",
                      lambda m: m.group(1) + ": [" + ", ".join(i for i in re.findall(r'"[\d.]+"', m.group(0)) if i.startswith('"1.')) + "]",
                      src.read_text(encoding="utf-8"), flags=re.M)
        if edit and nid in edit:
            text = text.replace("## 常见误区", f"## 常见误区\n\n{edit[nid]}", 1)
        (root / "notes" / "ch01" / src.name).write_text(text, encoding="utf-8")
    return root


def build(home: Path, corpus: Path, embedder, notes=FEW, **kw):
    """Settings for home over a fresh corpus of `notes`, ingested in-process."""
    s = make_settings(home, corpus_dir=write_corpus(corpus, notes, **kw))
    Index.ingest(s, embedder, Corpus.load(s.corpus_dir))
    return s


def forget_cached_clients(root: Path) -> None:
    """Drop this process's cached Chroma systems for stores under root: chromadb shares one
    per path and process, so without this a test would read its own cached view of files
    another process (the CLI) has since changed."""
    from chromadb.api.shared_system_client import SharedSystemClient

    for key in [k for k in SharedSystemClient._identifier_to_system if k.startswith(str(root))]:
        SharedSystemClient._identifier_to_system.pop(key, None)


def snapshot(s, embedder) -> dict:
    """What a reader sees: vector count, chunk ids, chunks lacking a vector, top-5 hits."""
    forget_cached_clients(s.home)
    idx = Index.open(s, embedder)
    have = set(idx.collection.get(ids=sorted(idx.chunks), include=[])["ids"])
    r = Retriever(idx)
    return {"count": idx.count(), "chunks": sorted(idx.chunks), "no_vector": sorted(set(idx.chunks) - have),
            "hits": [[(h.chunk.id, round(h.score, 4)) for h in r.search(q, k=5)] for q in QUERIES]}


def on_disk(s) -> tuple[int, int, list[str]]:
    """(Chroma databases, vector segment directories, leftover temp files) under the index dir:
    (1, 1, []) for a healthy single-collection index, whatever the layout."""
    files = list(s.index_dir.rglob("*"))
    return (sum(p.name == "chroma.sqlite3" for p in files),
            sum(p.is_dir() and UUID.fullmatch(p.name) is not None for p in files),
            [str(p.relative_to(s.index_dir)) for p in files if p.suffix == ".tmp"])


def cli_env(s) -> dict:
    env = {"TUTOR_CORPUS_DIR": str(s.corpus_dir), "TUTOR_MULTILINGUAL": "false"}
    return {**env, "TUTOR_CHROMA_URL": s.chroma_url} if s.chroma_url else env


def cli(s, *args, timeout=180, **env):
    return run_cli(list(args), s.home, env={**cli_env(s), **env}, timeout=timeout)


def start_cli(s, *args) -> subprocess.Popen:
    env = {**os.environ, "TUTOR_HOME": str(s.home), "TUTOR_PROMPTS_DIR": str(ROOT / "prompts"), **cli_env(s)}
    return subprocess.Popen([sys.executable, "-m", "tutor.cli", *args], env=env, cwd=str(s.home.parent),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_embedding(p: subprocess.Popen, done: int = 64, timeout: float = 180) -> None:
    """Read the ingest's progress bar until `done` chunks are embedded (a batch is written)."""
    buf, fd, deadline = b"", p.stderr.fileno(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.5)[0]:
            data = os.read(fd, 65536)
            if not data:
                break
            buf += data
            counts = re.findall(rb"embedding[^:\r\n]*:[^\r\n]*?\|\s*(\d+)/\d+", buf)
            if counts and int(counts[-1]) >= done:
                return
        elif p.poll() is not None:
            break
    p.kill()
    pytest.fail(f"ingest never got to {done} embedded chunks: {buf[-1500:]!r}")


def one_line_error(p, *words) -> str:
    """Exit 2, no traceback, and stderr's last line is the error naming every word."""
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert "Traceback" not in p.stderr, p.stderr[-2000:]
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and all(w in last for w in words), p.stderr[-2000:]
    return last


def fill(path: Path) -> None:
    """Write zeros to path until the file system has not one byte left."""
    with open(path, "ab", buffering=0) as f:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e


# -- an ingest killed part-way ------------------------------------------------------------
def test_interrupted_rebuild_keeps_the_old_index_and_leaves_nothing_behind(tmp_path, real_embedder):
    """Before: the old index was dropped first, so a killed rebuild left Index.Missing and an
    orphaned segment directory."""
    s = build(tmp_path / "home", tmp_path / "corpus", real_embedder, MID)
    before = snapshot(s, real_embedder)
    p = start_cli(s, "ingest", "--rebuild")
    wait_embedding(p)
    p.kill()
    p.wait()
    assert snapshot(s, real_embedder) == before
    # the next ingest removes the killed rebuild's parts (a completed rebuild after a frozen
    # one is the SIGSTOP test below)
    r = cli(s, "ingest")
    assert r.returncode == 0, r.stderr
    assert snapshot(s, real_embedder) == before and on_disk(s) == (1, 1, [])


@pytest.mark.parametrize("start", ["no index", "older corpus"])
def test_ingest_killed_while_embedding_then_run_again_equals_a_clean_build(tmp_path, real_embedder, start):
    """kill -9 of `tutor ingest` mid-way: readers keep the last good index (every chunk with
    its vector), and the next ingest ends where a clean build does."""
    clean = build(tmp_path / "clean", tmp_path / "clean-corpus", real_embedder, MID)
    want = snapshot(clean, real_embedder)
    s = make_settings(tmp_path / "home", corpus_dir=tmp_path / "corpus")
    old = None
    if start == "older corpus":  # one note, whose chunks the update replaces: > 1 batch to embed
        build(s.home, s.corpus_dir, real_embedder, ("1.3.3",), edit={"1.3.3": "RoPE 在旧版本里多一句话。"})
        old = snapshot(s, real_embedder)
    write_corpus(s.corpus_dir, MID)
    p = start_cli(s, "ingest")
    wait_embedding(p)
    p.kill()
    p.wait()
    if old is None:
        with pytest.raises(Index.Missing, match="tutor ingest"):
            snapshot(s, real_embedder)
    else:
        seen = snapshot(s, real_embedder)
        assert seen["no_vector"] == [] and seen["hits"] == old["hits"] and seen["chunks"] == old["chunks"]
    r = cli(s, "ingest")
    assert r.returncode == 0, r.stderr
    assert snapshot(s, real_embedder) == want and on_disk(s) == (1, 1, [])


# -- two processes ----------------------------------------------------------------------------
def test_during_a_rebuild_a_second_ingest_fails_fast_and_readers_keep_the_old_index(tmp_path, real_embedder):
    """A real `tutor ingest --rebuild`, frozen (SIGSTOP) while it holds the index: a second
    ingest fails within 5 s naming the writer's pid; a reader opens the old index at once
    (before: it waited lock_timeout_s, 10 s, then failed)."""
    s = build(tmp_path / "home", tmp_path / "corpus", real_embedder, MID)
    before = snapshot(s, real_embedder)
    p = start_cli(s, "ingest", "--rebuild")
    wait_embedding(p)
    os.kill(p.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        with pytest.raises(Index.Busy, match=rf"being written by another process \(pid {p.pid}\)"):
            Index.ingest(s, real_embedder, Corpus.load(s.corpus_dir))
        assert time.monotonic() - t0 < 5
        t0 = time.monotonic()
        Index.open(s, real_embedder)
        assert time.monotonic() - t0 < 5
        assert snapshot(s, real_embedder) == before
        one_line_error(cli(s, "ingest"), "being written by another process", f"pid {p.pid}")
    finally:
        os.kill(p.pid, signal.SIGCONT)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-2000:]
    assert snapshot(s, real_embedder) == before and on_disk(s) == (1, 1, [])


# -- a full disk ----------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A real 8 MiB file system (tmpfs) that the test can fill; needs root (mount)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if m.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({m.stderr.strip()}); this test needs root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_is_one_clear_line_and_the_old_index_still_works(tmp_path, real_embedder, small_disk):
    s = build(small_disk / "home", tmp_path / "corpus", real_embedder, FEW)
    before = snapshot(s, real_embedder)
    want = f"the disk holding {s.index_dir} is full; free space and run `tutor ingest` again"
    filler = small_disk / "filler"
    # full before it starts: a rebuild and an update both refuse without touching the index
    fill(filler)
    one_line_error(cli(s, "ingest", "--rebuild", timeout=120), want)
    write_corpus(s.corpus_dir, MID)
    one_line_error(cli(s, "ingest", timeout=120), want)
    # with not one byte free Chroma cannot open its SQLite file: a reader is told so, not
    # told to rebuild; a few KiB are enough for it to read the untouched index
    with pytest.raises(Index.DiskFull, match=re.escape(f"the disk holding {s.index_dir} is full; free space and retry")):
        snapshot(s, real_embedder)
    os.truncate(filler, filler.stat().st_size - 64 * 1024)
    assert snapshot(s, real_embedder) == before
    # fills up while the rebuild embeds
    filler.unlink()
    p = start_cli(s, "ingest", "--rebuild")
    wait_embedding(p)
    fill(filler)
    out, err = p.communicate(timeout=120)
    one_line_error(subprocess.CompletedProcess(p.args, p.returncode, out.decode(), err.decode()), want)
    assert snapshot(s, real_embedder) == before and on_disk(s) == (1, 1, [])
    # space freed: the update goes through
    filler.unlink()
    r = cli(s, "ingest")
    assert r.returncode == 0, r.stderr
    after = snapshot(s, real_embedder)
    want_chunks = len(chunk_corpus(Corpus.load(s.corpus_dir), real_embedder.count_tokens, real_embedder.max_tokens))
    assert after["count"] == len(after["chunks"]) == want_chunks > len(before["chunks"])
    assert after["no_vector"] == [] and on_disk(s) == (1, 1, [])


# -- damaged index files ----------------------------------------------------------------------
def _one(ix: Path, name: str) -> Path:
    (found,) = [p for p in ix.rglob(name)]
    return found


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {
    "chroma database": lambda ix: _one(ix, "chroma.sqlite3").write_bytes(b"not a database " * 100),
    "chroma directory gone": lambda ix: shutil.rmtree(_one(ix, "chroma.sqlite3").parent),
    "BM25 parameters": lambda ix: _one(ix, "params.index.json").write_text("{garbage", encoding="utf-8"),
    "BM25 matrix": lambda ix: _cut(_one(ix, "data.csc.index.npy")),
    "chunk store": lambda ix: _cut(_one(ix, "chunks.jsonl")),
    "manifest": lambda ix: _cut(ix / "manifest.json"),
}


@pytest.mark.parametrize("what", DAMAGE)
def test_damaged_index_says_rebuild_and_rebuild_recovers(tmp_path, real_embedder, what):
    """Before: tracebacks (sqlite, JSON, numpy) or, with the Chroma directory gone, a silently
    empty dense index."""
    s = build(tmp_path / "home", tmp_path / "corpus", real_embedder, FEW)
    before = snapshot(s, real_embedder)
    DAMAGE[what](s.index_dir)
    with pytest.raises(TutorError) as e:
        snapshot(s, real_embedder)
    assert "tutor ingest --rebuild" in str(e.value) and "\n" not in str(e.value), str(e.value)
    if what in ("chroma database", "BM25 matrix"):  # the CLI: exit 2, one line; then rebuild
        one_line_error(cli(s, "search", "RoPE"), "tutor ingest --rebuild")
        r = cli(s, "ingest", "--rebuild")
        assert r.returncode == 0, r.stderr
    else:
        try:  # a plain ingest repairs it or says the same
            Index.ingest(s, real_embedder, Corpus.load(s.corpus_dir))
        except TutorError as e2:
            assert "tutor ingest --rebuild" in str(e2)
        Index.ingest(s, real_embedder, Corpus.load(s.corpus_dir), rebuild=True)
    assert snapshot(s, real_embedder) == before and on_disk(s) == (1, 1, [])


# -- broken note front matter ---------------------------------------------------------------
BROKEN = {  # name: (edit of the RoPE note, line reported, words of the hint)
    "tab indent": (lambda t: t.replace('\n  - "Su et al.', '\n\t- "Su et al.', 1), 10, ("tab",)),
    "unclosed list": (lambda t: re.sub(r"^related: \[(.*)\]$", r"related: [\1", t, count=1, flags=re.M), 7, ("[",)),
    "unclosed quote": (lambda t: t.replace("title: RoPE", 'title: "RoPE', 1), 3, ("quote",)),
    "colon in a value": (lambda t: t.replace("title: RoPE", "title: RoPE: rotary", 1), 3, ("quote", ": ")),
    "byte-order mark": (lambda t: "\ufeff" + t, 1, ("byte-order mark", "UTF-8")),
}


@pytest.mark.parametrize("name", BROKEN)
def test_broken_front_matter_names_file_line_and_fix(tmp_path, name):
    edit, line, words = BROKEN[name]
    root = write_corpus(tmp_path / "corpus")
    note = next((root / "notes" / "ch01").glob("1.3.3-*.md"))
    note.write_text(edit(note.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(Corpus.Invalid) as e:
        Corpus.load(root)
    msg = str(e.value)
    assert msg.startswith(f"{note}:{line}: ") and "\n" not in msg and all(w in msg for w in words), msg


def test_ingest_of_a_broken_note_is_one_line_and_keeps_the_index(tmp_path, real_embedder):
    s = build(tmp_path / "home", tmp_path / "corpus", real_embedder, FEW)
    before = snapshot(s, real_embedder)
    note = next((s.corpus_dir / "notes" / "ch01").glob("1.3.3-*.md"))
    note.write_text(note.read_text(encoding="utf-8").replace("title: RoPE", "title: RoPE: rotary", 1), encoding="utf-8")
    one_line_error(cli(s, "ingest"), f"{note}:3:", "bad YAML")
    assert snapshot(s, real_embedder) == before


# -- a truncated model file --------------------------------------------------------------------
@pytest.fixture(scope="module")
def bad_models(tmp_path_factory) -> dict[str, Path]:
    from tutor.llm import default_model_path

    data = default_model_path().read_bytes()
    d = tmp_path_factory.mktemp("gguf")
    cuts = {"half": data[: len(data) // 2], "header only": data[:4096], "empty": b"",
            "Git LFS pointer": b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 98362432\n"}
    for name, content in cuts.items():
        (d / f"{name.replace(' ', '-')}.gguf").write_bytes(content)
    return {name: d / f"{name.replace(' ', '-')}.gguf" for name in cuts}


@pytest.mark.parametrize("cut", ["half", "header only", "empty", "Git LFS pointer"])
def test_truncated_model_file_is_named_with_the_fix(bad_models, cut):
    from tutor.llm import load_llm

    path = bad_models[cut]
    with pytest.raises(TutorError) as e:
        load_llm(make_settings(Path("/nonexistent"), model_path=path))
    msg = str(e.value)
    assert str(path) in msg and "TUTOR_MODEL_PATH" in msg and "\n" not in msg, msg
    assert ("not a GGUF file" if cut in ("empty", "Git LFS pointer") else "truncated") in msg, msg


def test_truncated_model_file_in_the_cli(tmp_path, real_embedder, bad_models):
    s = build(tmp_path / "home", tmp_path / "corpus", real_embedder, FEW)
    p = cli(s, "ask", "--no-stream", "什么是 RoPE？", TUTOR_MODEL_PATH=str(bad_models["half"]))
    one_line_error(p, str(bad_models["half"]), "truncated", "TUTOR_MODEL_PATH")


# -- the layout before generations ----------------------------------------------------------
def flatten(s) -> None:
    """Turn a built index into the layout MANIFEST_VERSION 1 wrote: chroma/, bm25/ and
    chunks.jsonl directly in index/, fixed collection names, no names in the manifest."""
    import json

    m = json.loads((s.index_dir / "manifest.json").read_text(encoding="utf-8"))
    (s.index_dir / m.pop("store")).rename(s.index_dir / "chroma")
    lexical = s.index_dir / m.pop("lexical")
    (lexical / "bm25").rename(s.index_dir / "bm25")
    (lexical / "chunks.jsonl").rename(s.index_dir / "chunks.jsonl")
    (lexical / "terms.json").unlink()  # version 1 had no saved token statistics
    lexical.rmdir()
    assert m.pop("collections") == {"dense": "tutor"}
    (s.index_dir / "manifest.json").write_text(json.dumps({**m, "version": 1}), encoding="utf-8")


def test_an_index_in_the_flat_layout_is_read_updated_and_rebuilt(tmp_path, real_embedder):
    """Data dirs ingested before generations need no rebuild: they open as they are, an update
    moves the lexical part into lexical-<id>/, and a rebuild replaces chroma/."""
    s = build(tmp_path / "home", tmp_path / "corpus", real_embedder, FEW)
    before = snapshot(s, real_embedder)
    flatten(s)
    assert snapshot(s, real_embedder) == before
    write_corpus(s.corpus_dir, FEW + ("1.1.3",))
    r = Index.ingest(s, real_embedder, Corpus.load(s.corpus_dir))
    assert r.embedded > 0 and not r.skipped
    m = Index.read_manifest(s)
    assert m["store"] == "chroma" and m["lexical"].startswith("lexical-")
    assert not (s.index_dir / "bm25").exists() and not (s.index_dir / "chunks.jsonl").exists()
    updated = snapshot(s, real_embedder)
    assert updated["count"] == len(updated["chunks"]) > before["count"] and updated["no_vector"] == []
    Index.ingest(s, real_embedder, Corpus.load(s.corpus_dir), rebuild=True)
    assert not (s.index_dir / "chroma").exists() and on_disk(s) == (1, 1, [])
    assert snapshot(s, real_embedder) == updated


# -- a Chroma server (TUTOR_CHROMA_URL): collections, not directories ----------------------------
@pytest.fixture
def chroma_url(chroma_server):
    """A real Chroma server on 127.0.0.1 (tests/integration/conftest.py)."""
    return chroma_server


def _server_collections(url: str) -> set[str]:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    port = int(url.rsplit(":", 1)[1])
    client = chromadb.HttpClient(host="127.0.0.1", port=port, settings=ChromaSettings(anonymized_telemetry=False))
    return {getattr(c, "name", c) for c in client.list_collections()}


def test_rebuild_on_a_chroma_server_swaps_collection_names(tmp_path, chroma_url, real_embedder):
    """On a server a rebuild writes new collections and the manifest swaps their names; the
    old ones go, and so do those of a rebuild killed part-way (at the next ingest)."""
    s = make_settings(tmp_path / "home", corpus_dir=write_corpus(tmp_path / "corpus", CH01), chroma_url=chroma_url)
    Index.ingest(s, real_embedder, Corpus.load(s.corpus_dir))
    before = snapshot(s, real_embedder)
    first = Index.read_manifest(s)["collections"]["dense"]
    published = f"{s.collection}-manifest"  # the manifest record the server publishes to replicas
    assert _server_collections(chroma_url) == {first, published}
    p = start_cli(s, "ingest", "--rebuild")
    wait_embedding(p)
    p.kill()
    p.wait()
    assert len(_server_collections(chroma_url)) == 3  # the old one, the killed rebuild's, the manifest
    assert snapshot(s, real_embedder) == before
    assert Index.ingest(s, real_embedder, Corpus.load(s.corpus_dir)).skipped
    assert _server_collections(chroma_url) == {first, published}
    Index.ingest(s, real_embedder, Corpus.load(s.corpus_dir), rebuild=True)
    second = Index.read_manifest(s)["collections"]["dense"]
    assert second != first and _server_collections(chroma_url) == {second, published}
    assert snapshot(s, real_embedder) == before
