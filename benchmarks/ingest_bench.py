"""Ingest cost against its floor, the embedding of the same chunks.

- full: one ingest of the whole corpus into a fresh data dir with MiniLM and USE, each wrapped
  in RecordingEmbeddings, so the time inside `embed_documents` (pure embedding of exactly the
  chunks this ingest embeds, in its batches) is measured in the same run; ratio = wall ÷ that.
  The recorded vectors feed the growth section (no second embedding of the corpus).
- subset: the same ratio, median over RUNS fresh ingests of a smaller corpus (the outline +
  the notes of BENCH_INGEST_CHAPTERS, default chapter 1): a full ingest takes minutes on 2
  cores, so the repeated runs use a part of it.
- no-op: `ingest()` again with nothing changed, median over RUNS, ÷ the full ingest.

Not measured here: `--rebuild`, incremental updates of a changed note.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from common import QUICK, ROOT, RUNS, RecordingEmbeddings, TimedEmbeddings, log, median, ratio, with_embeddings


def load_embedders(threads: int | None = None):
    from tutor.rag.embed import load_embedder, load_multilingual_embedder

    return load_embedder(None), load_multilingual_embedder(threads)


def settings(home: Path, corpus: Path | None = None, **kw):
    from tutor.config import Settings

    return Settings(home=home, corpus_dir=corpus or ROOT / "corpus", prompts_dir=ROOT / "prompts", **kw)


def subset_corpus(chapters: list[str], into: Path) -> Path:
    """A corpus dir with the full outline and only the notes of `chapters`."""
    (into / "notes").mkdir(parents=True)
    shutil.copy(ROOT / "corpus" / "outline.md", into / "outline.md")
    for ch in chapters:
        shutil.copytree(ROOT / "corpus" / "notes" / f"ch{int(ch):02d}", into / "notes" / f"ch{int(ch):02d}")
    return into


def timed_ingest(home: Path, dense, ml, corpus: Path | None = None, recording: bool = False):
    """One ingest into `home` with timed embedders. Returns (tutor, report, wall_s, embed_s, wrappers)."""
    from tutor.tutor import build_tutor

    wrap = RecordingEmbeddings if recording else TimedEmbeddings
    wd, wm = wrap(dense.embeddings), wrap(ml.embeddings)
    t = build_tutor(settings(home, corpus), embedder=with_embeddings(dense, wd), multilingual=with_embeddings(ml, wm))
    t0 = time.perf_counter()
    rep = t.ingest()
    wall = time.perf_counter() - t0
    return t, rep, wall, wd.seconds + wm.seconds, (wd, wm)


def run(work: Path, dense, ml) -> tuple[dict, object, tuple]:
    """Returns (results, tutor on the full index, (dense recorder, USE recorder))."""
    chapters = os.environ.get("BENCH_INGEST_CHAPTERS", "1").split(",")
    # BENCH_QUICK: the "full" corpus is the subset (a smoke test of the bench, not a measurement)
    corpus = subset_corpus(chapters, work / "corpus") if QUICK else ROOT / "corpus"
    res: dict = {"corpus": str(corpus)}
    log(f"ingest: {'subset' if QUICK else 'full'} corpus (MiniLM + USE)")
    t, rep, wall, emb, rec = timed_ingest(work / "home", dense, ml, corpus, recording=True)
    res["full"] = {"chunks": rep.total, "embedded_texts": rec[0].texts + rec[1].texts, "wall_s": round(wall, 1),
                   "embed_s": round(emb, 1), "minilm_s": round(rec[0].seconds, 1), "use_s": round(rec[1].seconds, 1),
                   "ratio": ratio(wall, emb)}
    noop = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        r = t.ingest()
        noop.append(time.perf_counter() - t0)
        assert r.embedded == 0, f"no-op re-ingest embedded {r.embedded} chunks"
    res["noop"] = {"runs_s": [round(x, 2) for x in noop], "median_s": median(noop),
                   "ratio_to_full": ratio(median(noop), wall)}

    ratios, walls, embs, chunks = [], [], [], 0
    for i in range(0 if QUICK else RUNS):
        log(f"ingest: subset (chapters {','.join(chapters)}) run {i + 1}/{RUNS}")
        d = Path(tempfile.mkdtemp(dir=work))
        corpus = subset_corpus(chapters, d / "corpus")
        _, rep, w, e, _ = timed_ingest(d / "home", dense, ml, corpus)
        ratios.append(w / e)
        walls.append(w)
        embs.append(e)
        chunks = rep.total
        shutil.rmtree(d, ignore_errors=True)
    res["subset"] = {"chapters": chapters, "chunks": chunks, "runs": len(ratios),
                     "ratio_runs": [round(x, 3) for x in ratios], "ratio": median(ratios),
                     "wall_s": median(walls), "embed_s": median(embs)}
    # the target is checked on the median of the repeated runs when there are any
    res["ratio"] = res["subset"]["ratio"] if ratios else res["full"]["ratio"]
    return res, t, rec
