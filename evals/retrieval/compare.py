"""Compare retrieval configurations (dense-only, BM25-only, each hybrid) on the tuning and
blind sets, from one pass of raw rankings per question.

    .venv/bin/python evals/retrieval/compare.py --tuning            # choose on tuning sets only
    .venv/bin/python evals/retrieval/compare.py --tuning --blind    # the final table (both)

Needs an index built with both embedders (`tutor ingest`, TUTOR_MULTILINGUAL=true) under
TUTOR_HOME. Each question is searched once for its four raw rankings (MiniLM, USE, BM25,
outline names, 30 candidates each, as `Retriever.search` does); every configuration then fuses
them with `retrieve.fuse`, so the numbers are what `Retriever.search` would return with those
weights (checked for the shipped weights against `Retriever.search` itself, see --check).
Metrics per language with percentile-bootstrap 95% intervals (evaluation.bootstrap_ci).
Output: evals/retrieval/compare.json and compare.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tutor.config import Settings  # noqa: E402
from tutor.evaluate.evaluation import EvalSet, node_metrics  # noqa: E402
from tutor.evaluate.compare import OFF, _w, plain  # noqa: E402  (the same re-fusion as `tutor eval --compare`)
from tutor.evaluate.compare import ranked_notes as ranked  # noqa: E402
from tutor.evaluate.compare import raw_rankings as raw  # noqa: E402
from tutor.rag.retrieve import COVERAGE_PRIOR, NOTE_EVIDENCE, SECTION_PRIOR, WEIGHTS  # noqa: E402
from tutor.rag.rerank import RERANK_LANGS  # noqa: E402
from tutor.tutor import build_tutor  # noqa: E402

SETS = ROOT / "evals" / "sets"
TUNING = {"dev ch1-4 (tuning, in-sample)": "retrieval_ch1-4.jsonl", "held-out ch1-4 (tuning)": "retrieval_ch1-4_heldout.jsonl",
          "tuning_coverage ch1-16 (tuning)": "tuning_coverage.jsonl", "tuning_colloquial ch1-16 (tuning)": "tuning_colloquial.jsonl"}
BLIND = {"blind3 ch1-8 (fresh)": "blind3_ch1-8.jsonl", "blind3 ch9-16 (fresh)": "blind3_ch9-16.jsonl",
         "blind2 ch1-8 (seen once)": "blind2_ch1-8.jsonl", "blind2 ch9-16 (seen once)": "blind2_ch9-16.jsonl",
         "blind ch1-4 (seen twice)": "blind_ch1-4.jsonl", "blind ch5-8 (seen twice)": "blind_ch5-8.jsonl",
         "blind ch9-12 (seen twice)": "blind_ch9-12.jsonl", "blind ch13-16 (seen twice)": "blind_ch13-16.jsonl"}


CONFIGS = {
    "BM25 only": ({"zh": _w(0, 0, 1, 0), "en": _w(0, 0, 1, 0)}, OFF),
    "MiniLM only, no query adapter": ({"zh": _w(1, 0, 0, 0), "en": _w(1, 0, 0, 0)}, OFF),
    "MiniLM only": ({"zh": _w(1, 0, 0, 0), "en": _w(1, 0, 0, 0)}, OFF),
    "USE only, no query adapter": ({"zh": _w(0, 1, 0, 0), "en": _w(0, 1, 0, 0)}, OFF),
    "USE only": ({"zh": _w(0, 1, 0, 0), "en": _w(0, 1, 0, 0)}, OFF),
    "v1: BM25 + MiniLM (zh without MiniLM) + names": ({"zh": _w(0, 0, 1, .5), "en": _w(1, 0, 1, 1)}, NOTE_EVIDENCE),
    "BM25 + USE + names": ({"zh": _w(0, 1, 1, .5), "en": _w(0, 1, 1, 1)}, NOTE_EVIDENCE),
    "BM25 + MiniLM + USE + names, equal": ({"zh": _w(1, 1, 1, 1), "en": _w(1, 1, 1, 1)}, NOTE_EVIDENCE),
    "zh USE 0.25": ({"zh": _w(0, .25, 1, .5), "en": _w(1, .15, .75, 1)}, NOTE_EVIDENCE),
    "zh USE 0.75": ({"zh": _w(0, .75, 1, .5), "en": _w(1, .15, .75, 1)}, NOTE_EVIDENCE),
    "zh USE 0.5 + MiniLM 0.25": ({"zh": _w(.25, .5, 1, .5), "en": _w(1, .15, .75, 1)}, NOTE_EVIDENCE),
    "zh note evidence 0": ({"zh": _w(0, .5, 1, .5), "en": _w(1, .15, .75, 1)}, OFF),
    "en without USE": ({"zh": _w(0, .5, 1, .5), "en": _w(1, 0, 1, 1)}, NOTE_EVIDENCE),
    "en USE 0.25": ({"zh": _w(0, .5, 1, .5), "en": _w(1, .25, 1, 1)}, NOTE_EVIDENCE),
    "shipped without the coverage prior": (WEIGHTS, NOTE_EVIDENCE, None, SECTION_PRIOR),
    "shipped without the section prior": (WEIGHTS, NOTE_EVIDENCE, COVERAGE_PRIOR),
    "shipped without the note reranker": (WEIGHTS, NOTE_EVIDENCE, COVERAGE_PRIOR, SECTION_PRIOR),
    "shipped without the query adapters": (WEIGHTS, NOTE_EVIDENCE, COVERAGE_PRIOR, SECTION_PRIOR, RERANK_LANGS),
    "shipped (WEIGHTS, NOTE_EVIDENCE, COVERAGE_PRIOR, SECTION_PRIOR, RERANK_LANGS)": (WEIGHTS, NOTE_EVIDENCE, COVERAGE_PRIOR, SECTION_PRIOR, RERANK_LANGS),
}
# ranked with the plain query vectors (no query adapters)
PLAIN_DENSE = {"MiniLM only, no query adapter", "USE only, no query adapter", "shipped without the query adapters"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tuning", action="store_true")
    ap.add_argument("--blind", action="store_true")
    ap.add_argument("--check", type=int, default=40, help="questions whose shipped ranking is checked against Retriever.search")
    a = ap.parse_args()
    t = build_tutor(Settings())
    ret, chunks = t.retriever, t.index.chunks
    stats = ret.term_stats()
    known = {n.id for n in t.corpus.outline.nodes}
    groups = {**(TUNING if a.tuning else {}), **(BLIND if a.blind else {})}
    out: dict = {"configs": list(CONFIGS), "sets": {}}
    t0 = time.perf_counter()
    for gname, fname in groups.items():
        if not (SETS / fname).is_file():
            print(f"skip {fname}: not found", file=sys.stderr)
            continue
        items = [it for it in EvalSet.load(SETS / fname, known) if not it.out_of_scope]
        raws = [raw(ret, it.question) for it in items]
        for i, it in enumerate(items[:a.check]):  # the fusion here is the production one
            want = [h.chunk.node_id for h in ret.search(it.question, k=10, per_note=True)]
            got = ranked(raws[i], chunks, it.question, WEIGHTS, NOTE_EVIDENCE, COVERAGE_PRIOR, stats, SECTION_PRIOR, RERANK_LANGS)[:10]
            assert want == got, (it.id, want, got)
        res = {}
        for cname, (w, beta, *prior) in CONFIGS.items():
            cov, sec, rr = [*prior, None, None, None][:3]
            use = [plain(r) if cname in PLAIN_DENSE else r for r in raws]
            rows = [(it.lang, ranked(r, chunks, it.question, w, beta, cov, stats, sec, rr or frozenset())[:10], it.expected_ids)
                    for it, r in zip(items, use)]
            res[cname] = {lang: node_metrics([(rk, ex) for lg, rk, ex in rows if lg == lang]) for lang in ("zh", "en")}
        out["sets"][gname] = {"file": fname, "n": len(items), "results": res}
        print(f"{gname}: {len(items)} questions, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    here = Path(__file__).resolve().parent
    tag = "_".join(x for x, on in (("tuning", a.tuning), ("blind", a.blind)) if on)
    (here / f"compare_{tag}.json").write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    lines = [f"# Retrieval configurations ({tag})", "",
             "hit@3 / MRR@10 per language (95% bootstrap interval of hit@3 in brackets); in-scope questions only.", ""]
    for gname, g in out["sets"].items():
        lines += [f"## {gname} — {g['file']}, {g['n']} questions", "", "| configuration | zh hit@1 | zh hit@3 | zh MRR@10 | en hit@1 | en hit@3 | en MRR@10 |", "|---|---|---|---|---|---|---|"]
        for cname, r in g["results"].items():
            z, e = r["zh"], r["en"]
            f = lambda m, k: "—" if m.get(k) is None else f"{m[k]['mean']:.3f}"  # noqa: E731
            ci = lambda m: "" if m.get("hit@3") is None else f" [{m['hit@3']['lo']:.2f}, {m['hit@3']['hi']:.2f}]"  # noqa: E731
            lines.append(f"| {cname} | {f(z, 'hit@1')} | {f(z, 'hit@3')}{ci(z)} | {f(z, 'mrr@10')} | {f(e, 'hit@1')} | {f(e, 'hit@3')}{ci(e)} | {f(e, 'mrr@10')} |")
        lines.append("")
    (here / f"compare_{tag}.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
