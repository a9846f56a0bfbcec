"""Retriever configurations side by side on one eval set, from one pass of raw rankings per
question (`tutor eval --compare`; the longer sweep of evals/retrieval/compare.py uses the same
functions).

Each question is searched once for the four rankings `Retriever.search` fuses (MiniLM, USE,
BM25 over jieba/Snowball tokens, outline names; `Retriever.candidates` each, no chapter filter);
each configuration then fuses them with `retrieve.fuse` (weighted reciprocal rank fusion:
Cormack, Clarke & Büttcher, SIGIR 2009) under its own weights (and, for the shipped one, the
term-coverage and section priors `retrieve.with_coverage_prior`, `with_section_prior`), so a
configuration's ranking is
what `Retriever.search(per_note=True)` would return with those weights. The shipped
configuration is checked against `Retriever.search` itself on the first questions
(`check`), so the comparison cannot drift from the product. Metrics: `node_metrics` (hit@1/3/5,
MRR@10, nDCG@10 with bootstrap 95% intervals), in-scope items, per language."""

from __future__ import annotations

from tutor.evaluate.evaluation import EvalItem, node_metrics
from tutor.rag.retrieve import (COVERAGE_PRIOR, NOTE_EVIDENCE, SECTION_PRIOR, WEIGHTS, bare_named, fuse, is_question,
                                with_neighbour_vote,
                                outline_matches, prior_sections, ranked_where, with_bare_lift, with_coverage_prior, with_section_prior,
                                weights_for, without_shadowed)
from tutor.rag.rerank import RERANK_LANGS, note_order, rerank
from tutor.rag.rerank import applies as rerank_applies
from tutor.text import detect_lang, is_joined_query


def _w(dense: float, multilingual: float, bm25: float, named: float) -> dict[str, float]:
    return {"dense": dense, "multilingual": multilingual, "bm25": bm25, "named": named}


OFF = {"zh": 0.0, "en": 0.0}
# name → (weights per language, note-evidence prior per language[, coverage prior per language[,
# section prior per language[, languages the note reranker re-orders[, the question bank votes]]]])
CONFIGS = {
    "dense only (MiniLM, no query adapter)": ({"zh": _w(1, 0, 0, 0), "en": _w(1, 0, 0, 0)}, OFF),
    "dense only (MiniLM)": ({"zh": _w(1, 0, 0, 0), "en": _w(1, 0, 0, 0)}, OFF),
    "dense only (USE multilingual, no query adapter)": ({"zh": _w(0, 1, 0, 0), "en": _w(0, 1, 0, 0)}, OFF),
    "dense only (USE multilingual)": ({"zh": _w(0, 1, 0, 0), "en": _w(0, 1, 0, 0)}, OFF),
    "BM25 only": ({"zh": _w(0, 0, 1, 0), "en": _w(0, 0, 1, 0)}, OFF),
    # weighted RRF of BM25, USE, MiniLM (English) and outline names, × the term-coverage and section priors
    "hybrid, no note reranker": (WEIGHTS, NOTE_EVIDENCE, COVERAGE_PRIOR, SECTION_PRIOR),
    # ... then the English questions' notes re-ordered by the note reranker (rag/rerank.py)
    "hybrid, no query adapter": (WEIGHTS, NOTE_EVIDENCE, COVERAGE_PRIOR, SECTION_PRIOR, RERANK_LANGS, True),
    # ... with the query vectors through the embedders' query adapters (rag/adapter.py)
    "hybrid, no question-bank vote": (WEIGHTS, NOTE_EVIDENCE, COVERAGE_PRIOR, SECTION_PRIOR, RERANK_LANGS),
    # ... then the question bank's nearest notes vote (retrieve.with_neighbour_vote)
    "hybrid (shipped)": (WEIGHTS, NOTE_EVIDENCE, COVERAGE_PRIOR, SECTION_PRIOR, RERANK_LANGS, True),
}
# configurations that rank with the plain query vectors (raw_rankings' "dense_plain", "multilingual_plain")
PLAIN_DENSE = {"dense only (MiniLM, no query adapter)", "dense only (USE multilingual, no query adapter)", "hybrid, no query adapter"}
SHIPPED = "hybrid (shipped)"


def plain(rankings: dict[str, list[str]]) -> dict[str, list[str]]:
    """`raw_rankings` with the dense rankings of the plain query vectors (no query adapters)."""
    return {**rankings, "dense": rankings["dense_plain"], "multilingual": rankings["multilingual_plain"]}


class Drift(AssertionError):
    """The re-fused shipped ranking differs from Retriever.search (the comparison is stale)."""


def raw_rankings(retriever, query: str) -> dict[str, list[str]]:
    """The four chunk-id rankings `Retriever.search` fuses, unfused (no chapter filter), under
    "sections" the sections its section prior favours (`retrieve.prior_sections`) and under
    "bare" the notes whose name is the whole question (`retrieve.bare_named`); under "dense_plain"
    and "multilingual_plain" MiniLM's and USE's rankings without the query adapters
    (`Retriever._dense(adapted=False)`); under "votes" the question bank's nearest notes
    (`Retriever._nearest_notes`)."""
    idx, n = retriever.index, retriever.candidates
    dense = retriever._dense("dense", query, n, ranked_where())[0]
    plain = {role: retriever._dense(role, query, n, ranked_where(), adapted=False)[0] for role in ("dense", "multilingual")}
    ml = retriever._dense("multilingual", query, n, ranked_where())[0]
    lex = [cid for cid, _ in idx.bm25.search(query, n) if cid in idx.chunks][:n]
    shadowed: set[str] = set()
    named = outline_matches(query, idx, shadowed)
    out = without_shadowed({"dense": dense, "multilingual": ml, "bm25": lex, "named": named}, idx.chunks, shadowed)
    bare = bare_named(query, idx, {idx.chunks[c].node_id for c in named}) if is_question(query, idx.by_node) else set()
    plain = {f"{role}_plain": v for role, v in without_shadowed(plain, idx.chunks, shadowed).items()}
    votes = retriever._nearest_notes(retriever._dense("multilingual", query, 1, ranked_where(), adapted=False)[3])
    return {**out, **plain, "sections": sorted(prior_sections(query, idx, named)), "bare": sorted(bare), "votes": votes}


def ranked_notes(rankings: dict[str, list[str]], chunks, query: str, weights, note_evidence,
                 coverage_prior: dict | None = None, stats=None, section_prior: dict | None = None,
                 rerank_langs: frozenset[str] = frozenset(), vote: bool = False) -> list[str]:
    """Distinct node ids, best first, as `Retriever.search(per_note=True)` orders them.
    coverage_prior (per language, default off) needs stats (the index's TermStats);
    section_prior (per language, default off) favours rankings["sections"]; rerank_langs: the
    languages whose questions the note reranker re-orders (`rerank.RERANK_LANGS` as shipped); vote:
    the question bank's nearest notes (rankings["votes"]) vote as in Retriever.search."""
    lang = detect_lang(query)
    known = {c.node_id for c in chunks.values()}  # Index.by_node's keys (ranked_notes gets the chunks only)
    weights = weights_for(weights, lang, query, known)  # as Retriever.search
    r = {k: (v if weights[lang][k] else []) for k, v in rankings.items() if k in ("dense", "multilingual", "bm25", "named")}
    question = is_question(query, known)
    fused = fuse(r, chunks, lang, question, weights, note_evidence)
    if coverage_prior and question:
        fused = with_coverage_prior(fused, chunks, query, stats, coverage_prior[lang])
    fused = with_bare_lift(fused, chunks, set(rankings.get("bare", ())))  # as Retriever.search
    if section_prior and question:
        fused = with_section_prior(fused, chunks, set(rankings.get("sections", ())), section_prior[lang])
    if question and lang in rerank_langs and rerank_applies(query, lang) and not rankings.get("bare"):
        fused = rerank(fused, r, chunks)
    if vote and question and not rankings.get("bare") and not is_joined_query(query):
        fused = with_neighbour_vote(fused, chunks, rankings.get("votes", []), {chunks[c].node_id for c in r.get("named", [])})
    return note_order(fused, chunks)


def compare(tutor, items: list[EvalItem], configs: dict | None = None, check: int = 20,
            progress=None, queries: dict[str, str] | None = None) -> dict:
    """{config name: {"zh": node_metrics, "en": node_metrics}} over the in-scope items, plus
    "_shipped" (the name of the shipped configuration). queries: item id → the text to search
    (a follow-up's conversation query, Retrieved.query); default the question. Raises Drift when
    the shipped weights, re-fused here, do not give Retriever.search's ranking for one of the
    first `check` items."""
    configs = configs or CONFIGS
    ret, chunks = tutor.retriever, tutor.index.chunks
    stats = ret.term_stats()
    items = [it for it in items if not it.out_of_scope]
    texts = [(queries or {}).get(it.id) or it.question for it in items]
    raws = []
    for i, (it, q) in enumerate(zip(items, texts, strict=True)):
        raws.append(raw_rankings(ret, q))
        if i < check:
            want = [h.chunk.node_id for h in ret.search(q, k=10, per_note=True)]
            got = ranked_notes(raws[-1], chunks, q, WEIGHTS, NOTE_EVIDENCE, COVERAGE_PRIOR, stats, SECTION_PRIOR, RERANK_LANGS, True)[:10]
            if want != got:
                raise Drift(f"{it.id}: Retriever.search gives {want}, the re-fused shipped weights {got}")
        if progress:
            progress(1)
    out: dict = {"_shipped": SHIPPED}
    for name, (weights, beta, *prior) in configs.items():
        cov, sec, rr, vote = [*prior, None, None, None, False][:4]
        use = [plain(r) if name in PLAIN_DENSE else r for r in raws]
        rows = [(it.lang, ranked_notes(r, chunks, q, weights, beta, cov, stats, sec, rr or frozenset(), vote)[:10], it.expected_ids)
                for it, r, q in zip(items, use, texts, strict=True)]
        out[name] = {lang: node_metrics([(rk, ex) for lg, rk, ex in rows if lg == lang]) for lang in ("zh", "en")}
    return out


def markdown_lines(comparison: dict, shipped: dict | None = None) -> list[str]:
    """'## Comparisons' for report.md: the retriever configurations and the plain-LangChain
    baseline (when run), hit@3 [95% interval] and MRR@10 per language; the baseline's answer
    metrics beside the tutor's are in its own table; other GGUF models' answers (--model) beside
    the configured model's (`shipped`: report["answers"])."""
    def cell(m: dict | None, k: str) -> str:
        v = (m or {}).get(k)
        return "—" if not v else f"{v['mean']:.3f} [{v['lo']:.2f}, {v['hi']:.2f}]"

    rows = {k: v for k, v in comparison.get("retrievers", {}).items() if not k.startswith("_")}
    if "baseline" in comparison:
        rows["plain LangChain (500-char chunks, MiniLM, Chroma)"] = comparison["baseline"]["retrieval"]
    lines = ["## Comparisons"]
    if rows:
        lines += ["", "Retrieval per note, in-scope items (hit@k and MRR@10 with bootstrap 95% intervals):", "",
                  "| retriever | zh n | zh hit@3 | zh hit@5 | zh MRR@10 | en n | en hit@3 | en hit@5 | en MRR@10 |",
                  "|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(x for lang in ("zh", "en") for x in (
            str(r[lang]["n"]), cell(r[lang], "hit@3"), cell(r[lang], "hit@5"), cell(r[lang], "mrr@10"))) + " |")
    b = comparison.get("baseline", {}).get("answers")
    if b:
        keys = ["answered_in_scope", "refused_out_of_scope", "key_point_recall", "answer_similarity", "citation_recall", "lang_match"]
        lines += ["", f"Plain-LangChain baseline's answers ({b['overall']['n']} questions; no citations, no check: "
                  f"faithfulness not measured; {b.get('errors', 0)} failed):", "",
                  "| group | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for g in ("overall", "zh", "en"):
            m = b[g]
            lines.append(f"| {g} | " + " | ".join("—" if m.get(k) is None else f"{m[k]:.3f}" for k in keys) + " |")
    if comparison.get("models"):
        from tutor.evaluate.models_cmp import markdown_lines as model_lines

        lines += model_lines(comparison["models"], shipped)
    return lines + [""]
