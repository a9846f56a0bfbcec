"""Answer-quality metrics of `tutor eval --answers`, per item and aggregated, from the standard
definitions (each a mean over items with a percentile-bootstrap 95% interval):

  key_point_recall     share of the item's reference key points found in the answer (a key
                       point counts when KEY_POINT_MATCH of its content tokens are in the
                       answer: lexical, like RAGAS "answer correctness"'s factual part without
                       an LLM; Es et al. 2023, arXiv:2309.15217);
  answer_similarity    cosine of the answer's and the reference answer's embeddings, in [-1, 1]
                       (semantic answer similarity, Risch et al. 2021, arXiv:2108.06130; RAGAS
                       "answer_similarity"), with the tutor's multilingual embedder (USE) when
                       it has one, so Chinese and English are scored alike;
  citation_precision   share of an answer's citations [n] whose note is relevant (in the item's
                       expected_ids); answers without citations are left out (ALCE, Gao et al.
                       2023, arXiv:2305.14627, judges support with NLI; here relevance labels);
  citation_recall      1 if some citation names a relevant note, else 0 (over answered items);
  faithfulness         share of the answer's sentences supported by the retrieved chunks
                       (RAGAS faithfulness with sentences as claims). Support is the tutor's
                       own answer check (`Answer.unsupported`), so this is the detector's view,
                       not an independent judgement (the reviewer's labels are);
  answered_in_scope / refused_out_of_scope   the coverage decision on answerable and
                       out-of-scope items;
  guard                the answer check's outcomes (direct / retried / fallback / quoted /
                       unchecked) as counts and shares of answered items;
  latency              time to first token, total time (ms) and tokens/s at p50 and p95.

An optional LLM judge (tutor/evaluate/judge.py) adds judge_correct; its failures (no valid
JSON, an exception) are counted in judge_failures and never averaged in."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from dataclasses import asdict, dataclass, field

from tutor.evaluate.evaluation import KEY_POINT_MATCH, EvalItem, bootstrap_ci
from tutor.text import citations, detect_lang  # noqa: F401 (citations: part of this module's API)

MEAN_METRICS = ("answered_in_scope", "refused_out_of_scope", "key_point_recall", "answer_similarity",
                "citation_precision", "citation_recall", "faithfulness", "lang_match", "judge_correct")
LATENCY = ("first_token_ms", "total_ms", "tokens_per_s")


def key_point_recall(key_points: Sequence[str], answer: str) -> float | None:
    """Share in [0, 1] of key points found in the answer; None without key points."""
    from tutor.rag.retrieve import term_coverage

    if not key_points:
        return None
    return sum(1.0 for kp in key_points if term_coverage(kp, answer) >= KEY_POINT_MATCH) / len(key_points)


def citation_precision(cited_ids: Sequence[str], expected_ids: Sequence[str]) -> float | None:
    """Share in [0, 1] of cited note ids (one per [n], an invalid [n] counts as not relevant)
    that are in expected_ids; None when nothing is cited."""
    if not cited_ids:
        return None
    return sum(1.0 for c in cited_ids if c in expected_ids) / len(cited_ids)


def faithfulness(sentences: int, unsupported: int) -> float | None:
    """1 - unsupported / sentences in [0, 1]; None for an answer with no sentences."""
    return None if not sentences else 1.0 - unsupported / sentences


def cosine_pairs(embed: Callable[[list[str]], list[list[float]]], a: list[str], b: list[str]) -> list[float]:
    """Cosine similarity of a[i] and b[i] for each i (one embed call for both lists)."""
    import numpy as np

    if not a:
        return []
    v = np.asarray(embed(list(a) + list(b)), dtype=float)
    x, y = v[: len(a)], v[len(a):]
    den = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    return [float(s) if d else 0.0 for s, d in zip((x * y).sum(axis=1), den, strict=True)]


def percentiles(values: Sequence[float]) -> dict | None:
    """{"p50", "p95", "n"} (linear interpolation between order statistics); None for no values."""
    import numpy as np

    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return None
    return {"p50": round(float(np.percentile(vals, 50)), 1), "p95": round(float(np.percentile(vals, 95)), 1), "n": len(vals)}


@dataclass
class Answered:
    """One answered item: what the learner got and its per-item scores (None where the
    metric does not apply: not answered, no key points, nothing cited); times in ms."""

    id: str
    lang: str
    out_of_scope: bool
    covered: bool
    answer: str
    sources: list[str]
    citations: list[int]
    citations_valid: bool
    cites_expected: bool
    sources_expected: bool
    lang_match: bool
    key_point_recall: float | None
    answer_similarity: float | None
    citation_precision: float | None
    faithfulness: float | None
    first_token_ms: float | None
    tokens_per_s: float
    total_ms: float
    notices: list[str] = field(default_factory=list)
    guard: str | None = None  # answer check outcome: direct / retried / fallback / unchecked / quoted
    unsupported: int | None = None  # answer sentences the check found unsupported by the retrieved chunks
    sentences: int = 0
    judge_correct: float | None = None  # 1 / 0.5 / 0 from the optional LLM judge
    judge_error: str | None = None  # why the judge gave no verdict (counted, never averaged in)


def answer_all(ask: Callable[[str], object], items: list[EvalItem], embed: Callable[[list[str]], list[list[float]]] | None = None,
               judge=None, progress: Callable[[int], None] | None = None) -> list[Answered]:
    """Ask every item through `ask` (Tutor.ask; a follow-up with history=its earlier questions) and score the answer. `embed` (texts → vectors)
    gives answer_similarity against the item's reference (skipped without one or without a
    reference); `judge` (tutor.evaluate.judge.Judge) adds judge_correct / judge_error."""
    out = []
    for it in items:
        # a follow-up is asked after its earlier questions, as in the chat (no earlier answers: none was scored)
        a = ask(it.question, history=[{"role": "user", "content": h} for h in it.history]) if it.history else ask(it.question)
        nums = citations(a.answer)
        by_n = {s.n: s.id for s in a.sources}
        cited = [by_n.get(n, "") for n in nums]
        unsupported = len(getattr(a, "unsupported", None) or [])
        sentences = len(getattr(a, "sentences", None) or [])
        row = Answered(
            it.id, it.lang, it.out_of_scope, a.covered, a.answer, [s.id for s in a.sources], nums,
            all(n in by_n for n in nums), any(c in it.expected_ids for c in cited),
            any(s.id in it.expected_ids for s in a.sources), detect_lang(a.answer) == it.lang,
            key_point_recall(it.key_points, a.answer) if a.covered else None, None,
            citation_precision(cited, it.expected_ids) if a.covered else None,
            faithfulness(sentences, unsupported) if a.covered else None,
            a.timings.get("first_token_ms"), a.timings.get("tokens_per_s") or 0.0, a.timings.get("total_ms") or 0.0,
            list(a.notices), (getattr(a, "guard", None) or {}).get("outcome"), unsupported, sentences)
        if judge is not None and a.covered and not it.out_of_scope and it.reference:
            row.judge_correct, row.judge_error = judge.grade(it.question, it.reference, a.answer)
        out.append(row)
        if progress:
            progress(1)
    pairs = [(r, it.reference) for r, it in zip(out, items, strict=True) if r.covered and it.reference and r.answer.strip()]
    if embed is not None and pairs:
        for (r, _), sim in zip(pairs, cosine_pairs(embed, [r.answer for r, _ in pairs], [ref for _, ref in pairs]), strict=True):
            r.answer_similarity = round(sim, 4)
    return out


def answer_report(rows: list[Answered]) -> dict:
    """{"overall", "zh", "en": aggregate(...), "rows": [...]} for `run()`'s report["answers"]."""
    d = [asdict(r) for r in rows]
    return {"overall": aggregate(d), **{lang: aggregate([r for r in d if r["lang"] == lang]) for lang in ("zh", "en")}, "rows": d}


def aggregate(rows: Sequence[dict]) -> dict:
    """Metrics over answer rows (dicts with the per-item fields of `Answered`): each mean
    metric as a value in its range plus "ci": {metric: [lo, hi]} (bootstrap 95%, items
    resampled) and "n_<metric>" items it was computed on; guard counts and shares; latency
    percentiles; judge failures. Metrics with no item are None."""
    ins = [r for r in rows if not r["out_of_scope"]]
    gen = [r for r in ins if r["covered"]]
    oos = [r for r in rows if r["out_of_scope"]]
    per = {
        "answered_in_scope": [1.0 if r["covered"] else 0.0 for r in ins],
        "refused_out_of_scope": [0.0 if r["covered"] else 1.0 for r in oos],
        "key_point_recall": [r["key_point_recall"] for r in gen],
        "answer_similarity": [r["answer_similarity"] for r in gen],
        "citation_precision": [r["citation_precision"] for r in gen],
        "citation_recall": [1.0 if r["cites_expected"] else 0.0 for r in gen],
        "faithfulness": [r["faithfulness"] for r in gen],
        "lang_match": [1.0 if r["lang_match"] else 0.0 for r in rows],
        "judge_correct": [r.get("judge_correct") for r in gen],
    }
    out: dict = {"n": len(rows), "in_scope": len(ins), "answered": len(gen), "out_of_scope": len(oos), "ci": {}}
    for name in MEAN_METRICS:
        vals = [v for v in per[name] if v is not None]
        out[name] = round(sum(vals) / len(vals), 4) if vals else None
        out[f"n_{name}"] = len(vals)
        if vals:
            out["ci"][name] = [round(x, 4) for x in bootstrap_ci(vals)]
    outcomes = sorted({r["guard"] for r in gen if r["guard"]})
    out["guard"] = {o: sum(1 for r in gen if r["guard"] == o) for o in outcomes}
    out["guard_share"] = {o: round(c / len(gen), 4) for o, c in out["guard"].items()} if gen else {}
    out["latency"] = {m: percentiles([r[m] for r in gen if r.get(m)]) for m in LATENCY}
    out["judge_failures"] = sum(1 for r in gen if r.get("judge_error"))
    return out
