"""The plain-LangChain baseline of `tutor eval --baseline`: RAG as a tutorial builds it, on the
same corpus, scored on the same eval items with the same metrics as the tutor.

RecursiveCharacterTextSplitter over every note file as it is (front matter included), 500
characters with 50 overlap (its default 4,000 would put ~20,000 SmolLM2 tokens of Chinese in a
3-chunk prompt, over any small model's window, and past MiniLM's 256-token limit) →
HuggingFaceEmbeddings on the same local all-MiniLM-L6-v2 → langchain-chroma on disk → top 3
chunks → LangChain's classic "stuff" prompt → langchain-community's LlamaCpp on the same GGUF
(the tutor's n_ctx, threads, seed, temperature 0 and answer tokens, n_batch 512; every other
LlamaCpp field at LangChain's default). No answer check, no citations, no coverage decision: it answers
every question. The same pipeline is benchmarks/baseline.py's (speed); this module scores it.

Retrieval is scored per note like the tutor's (a chunk's note = the note file it was cut
from). An answer counts as a refusal when it says it does not know ("don't know", "不知道"),
which is how the stuff prompt asks the model to refuse. Needs the extra `baseline`
(langchain-community, langchain-text-splitters): raises BaselineUnavailable otherwise."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tutor.errors import TutorError

CHUNK_SIZE, CHUNK_OVERLAP, TOP_K = 500, 50, 3
STUFF = ("Use the following pieces of context to answer the question at the end. If you don't know the answer, "
         "just say that you don't know, don't try to make up an answer.\n\n{context}\n\nQuestion: {question}\nHelpful Answer:")
_REFUSAL = re.compile(r"don'?t know|do not know|不知道", re.I)


class BaselineUnavailable(TutorError):
    """The baseline's LangChain packages are not installed (the message says how to add them)."""


def _imports():
    try:
        from langchain_chroma import Chroma
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter
    except ImportError as e:
        raise BaselineUnavailable(f"the plain-LangChain baseline needs {e.name}: pip install 'tutor[baseline]' "
                                  "(or drop --baseline)") from None
    return Chroma, Document, RecursiveCharacterTextSplitter


def split(corpus) -> list:
    """LangChain Documents: every note file cut by RecursiveCharacterTextSplitter, each with
    metadata {"source": file path, "node_id": the note's outline id}."""
    _, Document, Splitter = _imports()
    docs = [Document(page_content=n.path.read_text(encoding="utf-8"), metadata={"source": str(n.path), "node_id": n.id})
            for n in sorted(corpus.notes.values(), key=lambda n: str(n.path))]
    return Splitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP).split_documents(docs)


class PlainRAG:
    """The baseline over a built Chroma store `db` (langchain-chroma), answering with `llm`
    (a LangChain LLM; None: retrieval only)."""

    def __init__(self, db, llm=None, chunks: int = 0, build_s: float = 0.0):
        self.db, self.llm, self.chunks, self.build_s = db, llm, chunks, build_s

    @classmethod
    def build(cls, corpus, work: Path, embeddings, llm=None) -> PlainRAG:
        """Split and embed `corpus` into a Chroma store under work/<corpus fingerprint[:16]>/,
        reused when a complete one is there (a marker file is written last). embeddings: a
        LangChain Embeddings (the CLI passes HuggingFaceEmbeddings on MiniLM)."""
        Chroma, _, _ = _imports()
        where = Path(work) / corpus.fingerprint()[:16]
        done = where / "complete"
        t0 = time.perf_counter()
        if done.is_file():
            db = Chroma(persist_directory=str(where / "chroma"), embedding_function=embeddings)
            n = int(done.read_text() or 0)
        else:
            docs = split(corpus)
            db = Chroma.from_documents(docs, embeddings, persist_directory=str(where / "chroma"))
            n = len(docs)
            done.write_text(str(n))
        return cls(db, llm, n, round(time.perf_counter() - t0, 1))

    def ranked_notes(self, question: str, n: int = 10) -> list[str]:
        """Distinct note ids of the nearest chunks, best first (up to n; 3n chunks looked at)."""
        out: list[str] = []
        for d in self.db.similarity_search(question, k=3 * n):
            nid = d.metadata.get("node_id")
            if nid and nid not in out:
                out.append(nid)
        return out[:n]

    def answer(self, question: str) -> dict:
        """{"answer", "sources": note ids of the top 3 chunks, "refused", "first_token_ms",
        "total_ms", "tokens_per_s", "error"} — error (a prompt over the window) instead of an
        exception: the plain pipeline has no budget, and a failed answer is a result too."""
        t0 = time.perf_counter()
        hits = self.db.similarity_search(question, k=TOP_K)
        text = STUFF.format(context="\n\n".join(d.page_content for d in hits), question=question)
        sources = list(dict.fromkeys(d.metadata.get("node_id") for d in hits if d.metadata.get("node_id")))
        pieces, first, last = [], None, None
        try:
            for p in self.llm.stream(text):
                if p:
                    now = time.perf_counter()
                    first, last = first or now, now
                    pieces.append(p)
        except ValueError as e:  # llama.cpp: the stuffed prompt exceeds the context window
            return {"answer": "", "sources": sources, "refused": False, "first_token_ms": None,
                    "total_ms": round((time.perf_counter() - t0) * 1000, 1), "tokens_per_s": 0.0, "error": str(e)[:200]}
        ans = "".join(pieces).strip()
        tps = (len(pieces) - 1) / (last - first) if len(pieces) > 1 and last > first else 0.0
        return {"answer": ans, "sources": sources, "refused": bool(_REFUSAL.search(ans)),
                "first_token_ms": round((first - t0) * 1000, 1) if first else None,
                "total_ms": round((time.perf_counter() - t0) * 1000, 1), "tokens_per_s": round(tps, 1), "error": None}


def load_llm(settings):
    """langchain-community's LlamaCpp on the tutor's GGUF with its n_ctx, threads, seed and
    answer tokens at temperature 0, n_batch 512; other fields at LangChain's defaults."""
    try:
        from langchain_community.llms import LlamaCpp
    except ImportError as e:
        raise BaselineUnavailable(f"the plain-LangChain baseline needs {e.name}: pip install 'tutor[baseline]' "
                                  "(or drop --baseline)") from None
    from tutor.llm import default_model_path

    # n_batch 512 (llama.cpp's own default) instead of LangChain's 8, which makes prefill minutes long
    # (benchmarks/baseline.py keeps 8 to time the pipeline as shipped); the greedy answer is the same model's
    return LlamaCpp(model_path=str(settings.model_path or default_model_path()), n_ctx=settings.n_ctx,
                    n_threads=settings.threads, seed=settings.seed, temperature=0.0, max_tokens=settings.max_answer_tokens,
                    n_batch=512, verbose=False)


def score(rag: PlainRAG, items, embed=None, answers: bool = False, limit: int | None = None, progress=None) -> dict:
    """The baseline on eval items: {"chunks", "build_s", "retrieval": {"zh", "en": node_metrics
    over in-scope items}, "answers": aggregate() over `subset(items, limit)` (with answers=True)
    and their "rows"}. Its answers have no citations (citation_recall 0, citation_precision
    None) and no check (faithfulness None: not measured, not zero)."""
    from dataclasses import asdict

    from tutor.evaluate.answer_metrics import Answered, aggregate, cosine_pairs, key_point_recall
    from tutor.evaluate.evaluation import node_metrics, subset
    from tutor.text import detect_lang

    ins = [it for it in items if not it.out_of_scope]
    ranked = {it.id: rag.ranked_notes(it.question) for it in ins}
    out: dict = {"chunks": rag.chunks, "build_s": rag.build_s, "settings": {"chunk_size": CHUNK_SIZE, "chunk_overlap": CHUNK_OVERLAP, "top_k": TOP_K},
                 "retrieval": {lang: node_metrics([(ranked[it.id], it.expected_ids) for it in ins if it.lang == lang]) for lang in ("zh", "en")}}
    if not answers or rag.llm is None:
        return out
    rows = []
    for it in subset(items, limit):
        a = rag.answer(it.question)
        covered = not a["refused"] and not a["error"]
        rows.append(Answered(
            it.id, it.lang, it.out_of_scope, covered, a["answer"], a["sources"], [], True, False,
            any(s in it.expected_ids for s in a["sources"]), detect_lang(a["answer"] or it.question) == it.lang,
            key_point_recall(it.key_points, a["answer"]) if covered else None, None, None, None,
            a["first_token_ms"], a["tokens_per_s"], a["total_ms"], [a["error"]] if a["error"] else [], "unchecked"))
        if progress:
            progress(1)
    pairs = [(r, it.reference) for r, it in zip(rows, subset(items, limit), strict=True) if r.covered and it.reference and r.answer]
    if embed is not None and pairs:
        for (r, _), sim in zip(pairs, cosine_pairs(embed, [r.answer for r, _ in pairs], [x for _, x in pairs]), strict=True):
            r.answer_similarity = round(sim, 4)
    d = [asdict(r) for r in rows]
    out["answers"] = {"overall": aggregate(d), **{lang: aggregate([r for r in d if r["lang"] == lang]) for lang in ("zh", "en")},
                      "errors": sum(1 for r in rows if r.notices), "rows": d}
    return out
