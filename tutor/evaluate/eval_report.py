"""Write an eval report (the dict from `evaluation.run`) as report.json, report.md and
report.html, with PNG figures: report.png (hit@k per language and the coverage threshold
trade-off) and, with `write(..., plots=True)`, chapters.png (hit@3 per chapter and
language), latency.png (retrieval ms; answer first-token / total ms when answers ran) and
reliability.png (the coverage decision's relevance score, binned, against the share of
in-scope items). report.html is self-contained (figures inline as data: URIs).

report.md adds the worst cases (retrieval misses with ranks; with answers, the worst
answers with question, answer excerpt and sources) and, when the report carries one
(eval_runs.diff), the changes since the previous run. Answer metrics are rendered
generically: every key of answers.overall, metric → value (with its interval when the value
carries one). Plain text summaries for the terminal come from `summary_lines`.

Deliberately not here: metrics (evaluation.py), run folders and the manifest (eval_runs.py).
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

METRICS = ["hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10", "topic_hit@3", "search_top3"]
CI_METRICS = ["hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10"]
# answer metrics shown first (in this order) in the terminal summary; every other key follows
ANSWER_METRICS = ["n", "answered_in_scope", "refused_out_of_scope", "key_point_recall", "answer_similarity",
                  "citation_precision", "citation_recall", "faithfulness", "lang_match", "judge_correct", "guard"]
CAPTIONS = {"report.png": "retrieval per language and the coverage trade-off", "chapters.png": "hit@3 per chapter and language",
            "latency.png": "latency", "reliability.png": "reliability of the coverage decision"}
FIGURES = ["chapters.png", "latency.png", "reliability.png"]  # written with plots=True, besides report.png
RELIABILITY_BINS = 10
WORST_ANSWERS = 5


def _fmt(v) -> str:
    """A value for a table cell: floats to 3 places (1 place from 10 up), None as '–', a metric dict with an
    interval as '0.952 [0.91, 0.98]', other dicts as 'key:value …' (nested in parentheses)."""
    if isinstance(v, dict):
        if "ci" in v or {"mean", "lo", "hi"} <= v.keys():
            return _metric(v)
        return " ".join(f"{k}:{_fmt(n)}" if not isinstance(n, dict) else f"{k} ({_fmt(n)})" for k, n in v.items()) or "–"
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3f}"  # ms and tokens/s need no thousandths
    return "–" if v is None else str(v)


def _cell(group: dict, name: str) -> str:
    """group[name] with its interval: from group["ci"][name] (how evaluation.py and
    answer_metrics.py give it) or from the value itself when it is a dict with "ci"; and the
    number of items it was computed on when the group has "n_<name>"."""
    v, cis = group.get(name), group.get("ci")
    ci = cis.get(name) if isinstance(cis, dict) else None
    n = group.get(f"n_{name}")
    out = _fmt(v)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(ci, (list, tuple)) and len(ci) == 2:
        out = f"{v:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"
    return out if n is None else f"{out} (n={n})"


def _metric(v: dict) -> str:
    """A metric given as a dict: {"mean"|"value", "ci": [lo, hi]} or {"mean", "lo", "hi"} →
    '0.952 [0.91, 0.98]'."""
    mean = v.get("mean", v.get("value"))
    ci = v.get("ci") if "ci" in v else [v.get("lo"), v.get("hi")]
    if isinstance(ci, dict):
        ci = [ci.get("lo"), ci.get("hi")]
    if not isinstance(mean, (int, float)) or not ci or len(ci) != 2 or not all(isinstance(x, (int, float)) for x in ci):
        return _fmt(mean) if not isinstance(mean, dict) else "–"
    return f"{mean:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _table(rows: list[list[str]]) -> list[str]:
    head, *body = rows

    def cell(s) -> str:  # a '|' or line break in a question must not split the table's cell
        return str(s).replace("|", "\\|").replace("\n", " ")

    return ["| " + " | ".join(map(cell, head)) + " |", "|" + "---|" * len(head), *("| " + " | ".join(map(cell, r)) + " |" for r in body)]


def _ci(m: dict, name: str) -> str:
    """'0.952 [0.91, 0.98]': a mean with its bootstrap 95% interval."""
    v, ci = m.get(name), m.get("ci", {}).get(name)
    return _fmt(v) if v is None or not ci else f"{v:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def set_label(rep: dict) -> str:
    """'blind_ch1-4.jsonl (blind, sha256 1a58691ce7e6…)' or '… (tuning set, in-sample, …)'."""
    info = rep.get("set_info")
    if not info:
        return rep.get("set", "")
    kind = "blind" if info["kind"] == "blind" else "tuning set, in-sample"
    return f"{info['name']} ({kind}, sha256 {info['sha256'][:12]}…)"


def _answer_groups(rep: dict) -> list[str]:
    return [g for g in ("overall", "zh", "en") if isinstance(rep["answers"].get(g), dict)]


def _answer_keys(rep: dict) -> list[str]:
    """Every metric key of the answer groups, answers.overall's order first."""
    keys: dict = {}
    for g in _answer_groups(rep):
        keys.update(dict.fromkeys(rep["answers"][g]))
    keys.pop("ci", None)  # intervals are shown next to their metric, and so are the n_<metric> counts
    return [k for k in keys if not (k.startswith("n_") and k[2:] in keys)]


def summary_lines(rep: dict) -> list[str]:
    """Short terminal summary: metrics per language, coverage, calibration, misses, answers,
    and the change since the previous run when the report has a diff."""
    r, cov, cal = rep["retrieval"], rep["coverage"]["overall"], rep["calibration"]
    out = [set_label(rep)] if rep.get("set_info") else []
    out.append(f"{'':8}" + "".join(f"{m:>12}" for m in ["n", *METRICS]))
    for g in ("overall", "zh", "en"):
        out.append(f"{g:8}" + "".join(f"{_fmt(r[g].get(m)):>12}" for m in ["n", *METRICS]))
    for g in ("zh", "en"):
        out.append(f"{g} 95% CI: " + ", ".join(f"{m} {_ci(r[g], m)}" for m in CI_METRICS))
    out.append(f"coverage at min_relevance={cov['threshold']}: in-scope covered {_fmt(cov['in_scope_covered'])}, "
               f"out-of-scope rejected {_fmt(cov['out_of_scope_rejected'])}, balanced accuracy {_fmt(cov['balanced_accuracy'])}")
    out.append(f"calibration: best threshold {cal['best_threshold']} (best range {cal['best_range'][0]}–{cal['best_range'][1]}), "
               f"balanced accuracy {_fmt(cal['best']['balanced_accuracy'])}; lowest in-scope relevance "
               f"{_fmt(cal['in_scope_min_relevance'])}, highest out-of-scope {_fmt(cal['out_of_scope_max_relevance'])}")
    out.append(f"misses (topic note not in top {rep['k']}): {len(rep['misses'])}")
    out += [f"  {m['id']}: {m['question']}  expected {m['expected']}, rank {m['rank']}, got {m['ranked']}" for m in rep["misses"]]
    if "answers" in rep:
        a = rep["answers"]
        n = a.get("overall", {}).get("n")
        out.append(f"answers ({a.get('model')}, mode {a.get('mode', 'stream')}, {n} questions):")
        keys = [k for k in ANSWER_METRICS if k in _answer_keys(rep)] + [k for k in _answer_keys(rep) if k not in ANSWER_METRICS]
        for g in _answer_groups(rep):
            out.append(f"  {g}: " + ", ".join(f"{m} {_cell(a[g], m)}" for m in keys if m in a[g]))
    if "diff" in rep:
        out.append(diff_line(rep["diff"]))
    out.append(f"{rep['items']} items in {rep['seconds']} s (median retrieval {rep['retrieval_ms_median']} ms)")
    return out


def diff_line(d: dict) -> str:
    """One line: hit@3 and MRR@10 changes per language and the items newly missed / found."""
    if not d.get("previous"):
        return "previous run: none (no previous run of this set)"
    parts = []
    for g in ("overall", "zh", "en"):
        ch = [f"{m} {x['delta']:+.3f}" for m in ("hit@3", "mrr@10") if (x := d["metrics"].get(g, {}).get(m)) and x["delta"] is not None]
        if ch:
            parts.append(f"{g} " + " ".join(ch))
    return (f"since {d['previous']}: " + ("; ".join(parts) or "no metric to compare") +
            f"; newly missed {', '.join(d['newly_missed']) or 'none'}; newly found {', '.join(d['newly_found']) or 'none'}"
            + (f" ({d['note']})" if d.get("note") else ""))


# -- worst cases ---------------------------------------------------------------------------------

def worst_answers(rep: dict, n: int = WORST_ANSWERS) -> list[dict]:
    """Up to n answers that went worst, worst first: an in-scope question refused, an
    out-of-scope one answered, missing key points (lowest key-point recall first), unsupported
    sentences, a fallback to the notes' quotes, invalid citations, the other language. Each: {"id", "question", "answer"
    (first 300 characters), "sources", "why": [reasons], "badness"}. [] without answers."""
    questions = {r["id"]: r.get("question", "") for r in rep.get("rows", [])}
    scored = []
    for a in rep.get("answers", {}).get("rows", []):
        why, bad = [], 0.0
        oos, covered = a.get("out_of_scope"), a.get("covered")
        if not oos and not covered:
            why, bad = ["refused an in-scope question"], 1.0
        if oos and covered:
            why, bad = ["answered an out-of-scope question"], 1.0
        kpc = a.get("key_point_recall", a.get("key_point_coverage"))  # renamed by answer_metrics.py
        if covered and not oos and isinstance(kpc, (int, float)) and kpc < 1:
            why.append(f"key points covered {kpc:.0%}")
            bad += 1 - kpc
        u, s = a.get("unsupported"), a.get("sentences")
        if covered and u and s:
            why.append(f"{u} of {s} sentences not found in the notes")
            bad += 0.5 * u / s
        if a.get("guard") == "fallback":
            why.append("fell back to quoting the notes")
            bad += 0.25
        if a.get("citations") and a.get("citations_valid") is False:
            why.append("cites a source number it was not given")
            bad += 0.25
        if a.get("lang_match") is False:
            why.append("answered in the other language")
            bad += 0.25
        if why:
            text = " ".join(str(a.get("answer", "")).split())
            scored.append({"id": a.get("id"), "question": questions.get(a.get("id"), ""),
                           "answer": text[:300] + ("…" if len(text) > 300 else ""), "sources": list(a.get("sources") or []),
                           "why": why, "badness": round(bad, 4)})
    return sorted(scored, key=lambda x: (-x["badness"], str(x["id"])))[:n]


# -- reliability of the coverage decision -------------------------------------------------------

def reliability(rows: list[dict], threshold: float, bins: int = RELIABILITY_BINS) -> dict:
    """Reliability of the coverage decision. rows: the report's rows, whose "relevance" is the
    score the decision compares with min_relevance (the best relevance in [0, 1] among the first
    top_k hits). Equal-width bins over [0, 1] (a score of 1.0 goes into the last bin).
    Returns {"threshold", "bins": [{"lo", "hi", "n", "in_scope", "mean_relevance",
    "in_scope_share"}] (shares None for an empty bin), "ece": Σ n_b/N·|share_b − mean_b| or
    None for no rows}. A well-calibrated score lies on the diagonal: of the questions scored
    about 0.7, about 70% are in scope."""
    acc = [[0, 0, 0.0] for _ in range(bins)]  # n, in-scope, sum of scores
    for r in rows:
        x = float(r["relevance"])
        x = 0.0 if x != x else min(max(x, 0.0), 1.0)  # NaN (no hits scored) counts as no relevance
        b = acc[min(int(x * bins), bins - 1)]
        b[0] += 1
        b[1] += 0 if r["out_of_scope"] else 1
        b[2] += x
    total = sum(b[0] for b in acc)
    out = []
    for i, (n, ins, s) in enumerate(acc):
        out.append({"lo": round(i / bins, 4), "hi": round((i + 1) / bins, 4), "n": n, "in_scope": ins,
                    "mean_relevance": round(s / n, 4) if n else None, "in_scope_share": round(ins / n, 4) if n else None})
    ece = sum(b["n"] / total * abs(b["in_scope_share"] - b["mean_relevance"]) for b in out if b["n"]) if total else None
    return {"threshold": threshold, "bins": out, "ece": None if ece is None else round(ece, 4)}


# -- markdown ----------------------------------------------------------------------------------

def markdown(rep: dict, title: str, figures: list[str] | None = None) -> str:
    """report.md. figures: PNG file names next to it, linked under "Figures"."""
    r, cal = rep["retrieval"], rep["calibration"]
    lines = [f"# Eval report: {title}", "", f"Set: {set_label(rep)}", ""]
    if rep.get("started"):
        lines += [f"Run started {rep['started']} (UTC), {rep['seconds']} s.", ""]
    lines += [f"{rep['items']} items · settings: " + ", ".join(f"{k}={v}" for k, v in rep["settings"].items()), "",
              "## Retrieval (in-scope items, per note)", ""]
    lines += _table([["group", "n", *METRICS], *[[g, str(r[g]["n"]), *(_fmt(r[g].get(m)) for m in METRICS)] for g in ("overall", "zh", "en")]])
    lines += ["", "With bootstrap 95% intervals (2,000 resamples of the items):", ""]
    lines += _table([["group", *CI_METRICS], *[[g, *(_ci(r[g], m) for m in CI_METRICS)] for g in ("overall", "zh", "en")]])
    if rep.get("by_chapter"):
        lines += ["", "Per chapter (chapter of the first expected id):", ""]
        lines += _table([["chapter", "zh n", "zh hit@3", "zh MRR@10", "en n", "en hit@3", "en MRR@10"],
                         *[[ch, *(x for lang in ("zh", "en") for x in (str(v.get(lang, {}).get("n", 0)), _fmt(v.get(lang, {}).get("hit@3")),
                                                                      _fmt(v.get(lang, {}).get("mrr@10"))))]
                           for ch, v in rep["by_chapter"].items()]])
    lines += ["", "## Out-of-scope handling", ""]
    lines += _table([["group", "threshold", "in-scope covered", "out-of-scope rejected", "balanced accuracy", "accuracy"],
                     *[[g, *(_fmt(c.get(m)) for m in ("threshold", "in_scope_covered", "out_of_scope_rejected", "balanced_accuracy", "accuracy"))]
                       for g, c in rep["coverage"].items()]])
    lines += ["", f"Calibration: best threshold **{cal['best_threshold']}** (every threshold in {cal['best_range'][0]}–"
              f"{cal['best_range'][1]} is equally good), balanced accuracy {_fmt(cal['best']['balanced_accuracy'])}; "
              f"lowest in-scope relevance {_fmt(cal['in_scope_min_relevance'])}, highest out-of-scope relevance "
              f"{_fmt(cal['out_of_scope_max_relevance'])}.", ""]
    if rep.get("reliability"):
        rel = rep["reliability"]
        lines += [f"Reliability of the coverage score (relevance of the best of the first top_k hits, {len(rel['bins'])} bins; "
                  f"expected calibration error {_fmt(rel['ece'])}):", ""]
        lines += _table([["relevance", "n", "in scope", "mean relevance", "share in scope"],
                         *[[f"{b['lo']:.1f}–{b['hi']:.1f}", str(b["n"]), str(b["in_scope"]), _fmt(b["mean_relevance"]),
                            _fmt(b["in_scope_share"])] for b in rel["bins"] if b["n"]]])
        lines.append("")
    if "answers" in rep:
        a = rep["answers"]
        groups = _answer_groups(rep)
        lines += [f"## Answers ({a.get('model')}, mode {a.get('mode', 'stream')})", ""]
        lines += _table([["metric", *groups], *[[m, *(_cell(a[g], m) for g in groups)] for m in _answer_keys(rep)]])
        lines.append("")
    lines += ["## Worst cases", "", f"### Retrieval misses (topic note not in the top {rep['k']} notes)", ""]
    lines += [f"- `{m['id']}` {m['question']} — expected {m['expected']}, rank {m['rank']}, got {', '.join(m['ranked'])}" for m in rep["misses"]] or ["none"]
    if "answers" in rep:
        worst = worst_answers(rep)
        lines += ["", f"### Worst answers (up to {WORST_ANSWERS})", ""]
        lines += [f"- `{x['id']}` {x['question']} — {'; '.join(x['why'])}; sources {', '.join(x['sources']) or 'none'}\n"
                  f"  > {x['answer'] or '(empty answer)'}" for x in worst] or ["none: every answer passed its checks"]
    if "comparison" in rep:
        from tutor.evaluate.compare import markdown_lines

        lines += ["", *markdown_lines(rep["comparison"], rep.get("answers"))]
    if "diff" in rep:
        lines += ["", *diff_markdown(rep["diff"], {r_["id"]: r_.get("question", "") for r_ in rep.get("rows", [])})]
    if figures:
        lines += ["", "## Figures", "", *(f"![{CAPTIONS.get(f, f)}]({f})\n" for f in figures)]
    return "\n".join(lines) + "\n"


def diff_markdown(d: dict, questions: dict | None = None) -> list[str]:
    """'## Changes since the previous run': per metric and group, before → after (Δ), and the
    items newly missed / newly found; says plainly when there is no previous run."""
    lines = ["## Changes since the previous run", ""]
    if not d.get("previous"):
        return lines + ["No previous run of this set: nothing to compare with."]
    lines += [f"Previous run: `{d['previous']}`" + (f", started {d['previous_started']}" if d.get("previous_started") else "") + "."
              + (f" Note: {d['note']}." if d.get("note") else ""), ""]
    groups = list(d["metrics"])
    metrics = list(dict.fromkeys(m for g in groups for m in d["metrics"][g]))
    for prefix in ("", "coverage.", "answers."):
        gs = [g for g in groups if (g.startswith(prefix) if prefix else "." not in g)]
        ms = [m for m in metrics if any(m in d["metrics"][g] for g in gs)]
        if not gs or not ms:
            continue
        lines += _table([["metric", *gs], *[[m, *(_change(d["metrics"][g].get(m)) for g in gs)] for m in ms]])
        lines.append("")
    q = questions or {}
    lines += [f"Newly missed (topic note left the top {d.get('k')}): " + (", ".join(f"`{i}` {q.get(i, '')}".strip() for i in d["newly_missed"]) or "none"), "",
              f"Newly found (topic note entered the top {d.get('k')}): " + (", ".join(f"`{i}` {q.get(i, '')}".strip() for i in d["newly_found"]) or "none")]
    return lines


def _change(x: dict | None) -> str:
    if not x:
        return "–"
    if x["delta"] is None:
        return f"{_fmt(x['before'])} → {_fmt(x['after'])}"
    sign = f"{x['delta']:+d}" if isinstance(x["delta"], int) else f"{x['delta']:+.3f}"  # counts (n) stay whole
    return f"{_fmt(x['before'])} → {_fmt(x['after'])} ({sign})"


# -- figures -----------------------------------------------------------------------------------

def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    _plt().close(fig)
    return buf.getvalue()


def figure_png(rep: dict) -> bytes:
    """PNG: left, hit@1/3/5, MRR@10 and nDCG@10 per language; right, in-scope covered and
    out-of-scope rejected against the relevance threshold."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    names = CI_METRICS
    for i, g in enumerate(("overall", "zh", "en")):
        vals = [rep["retrieval"][g].get(m) or 0 for m in names]
        ax1.bar([x + i * 0.27 for x in range(len(names))], vals, width=0.27, label=g)
    ax1.set_xticks([x + 0.27 for x in range(len(names))], names)
    ax1.set_ylim(0, 1.05)
    ax1.set_title("Retrieval (per note)")
    ax1.legend()
    curve = rep["calibration"]["curve"]
    ts = [c["threshold"] for c in curve]
    ax2.plot(ts, [c["in_scope_covered"] or 0 for c in curve], label="in-scope covered")
    ax2.plot(ts, [c["out_of_scope_rejected"] or 0 for c in curve], label="out-of-scope rejected")
    ax2.axvline(rep["settings"]["min_relevance"], color="grey", linestyle="--", label="configured min_relevance")
    ax2.axvline(rep["calibration"]["best_threshold"], color="green", linestyle=":", label="best balanced accuracy")
    ax2.set_xlabel("relevance threshold")
    ax2.set_ylim(0, 1.05)
    ax2.set_title("Coverage decision")
    ax2.legend(fontsize=8)
    return _png(fig)


def chapters_png(rep: dict) -> bytes:
    """PNG: hit@3 per chapter (of the first expected id), one bar per language, n under each."""
    plt = _plt()
    chapters = list(rep.get("by_chapter", {}))
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(chapters) + 2), 3.6))
    for i, lang in enumerate(("zh", "en")):
        xs = [c + (i - 0.5) * 0.4 for c in range(len(chapters))]
        vals = [rep["by_chapter"][ch].get(lang, {}).get("hit@3") for ch in chapters]
        ax.bar(xs, [v or 0 for v in vals], width=0.4, label=lang)
        for x, ch, v in zip(xs, chapters, vals):
            n = rep["by_chapter"][ch].get(lang, {}).get("n", 0)
            ax.text(x, (v or 0) + 0.02, f"n={n}" if n else "–", ha="center", fontsize=7)
    ax.set_xticks(range(len(chapters)), chapters)
    ax.set_xlim(-0.7, max(len(chapters), 1) - 0.3)  # one chapter alone keeps bar-sized bars
    ax.set_xlabel("chapter")
    ax.set_ylabel("hit@3")
    ax.set_ylim(0, 1.12)
    ax.set_title("hit@3 per chapter and language" if chapters else "no in-scope items")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def latency_png(rep: dict) -> bytes:
    """PNG: histogram of retrieval time per question (ms); with answers, also time to the
    first token and total answer time (ms). A dashed line marks each median."""
    import statistics

    plt = _plt()
    series = [("retrieval (top_k search)", [r["ms"] for r in rep.get("rows", []) if isinstance(r.get("ms"), (int, float))])]
    for key, name in (("first_token_ms", "answer: first token"), ("total_ms", "answer: total")):
        vals = [a[key] for a in rep.get("answers", {}).get("rows", []) if isinstance(a.get(key), (int, float))]
        if vals:
            series.append((name, vals))
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series) + 1, 3.4), squeeze=False)
    for ax, (name, vals) in zip(axes[0], series):
        bins: int | list = min(30, max(5, len(vals) // 3))
        # the first search of a run also loads the embedders (seconds, against ms for the rest):
        # log-spaced bins keep both visible
        log = bool(vals) and min(vals) > 0 and max(vals) / min(vals) > 50
        if log:
            import numpy as np

            bins = list(np.geomspace(min(vals), max(vals), bins + 1))
            ax.set_xscale("log")
        if vals:
            ax.hist(vals, bins=bins, color="#3b7dd8")
            med = statistics.median(vals)
            ax.axvline(med, color="black", linestyle="--", label=f"median {med:.0f} ms")
            ax.legend(fontsize=8)
        ax.set_title(name)
        ax.set_xlabel("ms (log scale)" if log else "ms")
        ax.set_ylabel("questions")
    return _png(fig)


def reliability_png(rel: dict) -> bytes:
    """PNG: left, share of in-scope items per relevance bin against the bin's mean relevance
    (the diagonal = perfectly calibrated; the dashed line = the configured threshold); right,
    items per bin, in scope and out of scope."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    full = [b for b in rel["bins"] if b["n"]]
    ax1.plot([0, 1], [0, 1], color="grey", linewidth=1, label="perfectly calibrated")
    ax1.plot([b["mean_relevance"] for b in full], [b["in_scope_share"] for b in full], marker="o", label="this run")
    for b in full:
        ax1.annotate(str(b["n"]), (b["mean_relevance"], b["in_scope_share"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax1.axvline(rel["threshold"], color="red", linestyle="--", label=f"min_relevance {rel['threshold']}")
    ax1.set_xlim(0, 1)
    ax1.set_ylim(-0.02, 1.05)
    ax1.set_xlabel("relevance (coverage score)")
    ax1.set_ylabel("share of items in scope")
    ax1.set_title(f"Reliability of the coverage decision (ECE {_fmt(rel['ece'])})")
    ax1.legend(fontsize=8, loc="upper left")
    mids = [(b["lo"] + b["hi"]) / 2 for b in rel["bins"]]
    width = rel["bins"][0]["hi"] - rel["bins"][0]["lo"] if rel["bins"] else 0.1
    ins = [b["in_scope"] for b in rel["bins"]]
    ax2.bar(mids, ins, width=width * 0.9, label="in scope")
    ax2.bar(mids, [b["n"] - b["in_scope"] for b in rel["bins"]], width=width * 0.9, bottom=ins, label="out of scope")
    ax2.axvline(rel["threshold"], color="red", linestyle="--")
    ax2.set_xlim(0, 1)
    ax2.set_xlabel("relevance (coverage score)")
    ax2.set_ylabel("items")
    ax2.set_title("Items per bin")
    ax2.legend(fontsize=8)
    return _png(fig)


# -- files -------------------------------------------------------------------------------------

def html_page(md: str, title: str, images: dict[str, bytes]) -> str:
    """A self-contained HTML page: md rendered (CommonMark + tables, raw HTML escaped) with
    every image named in `images` inlined as a data: URI; `<pre>` when markdown-it is missing."""
    try:
        from markdown_it import MarkdownIt

        body = MarkdownIt("commonmark", {"html": False}).enable("table").render(md)
    except ImportError:
        body = f"<pre>{html.escape(md)}</pre>"
    for name, data in images.items():
        body = body.replace(f'src="{name}"', f'src="data:image/png;base64,{base64.b64encode(data).decode()}"')
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:2px 6px;font-size:.9em}"
             "img{max-width:100%}blockquote{color:#555;margin-left:1em}")
    return f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style>\n{body}"


def write(rep: dict, out: Path, title: str, plots: bool = False) -> list[Path]:
    """Write report.json, report.md, report.png and report.html under out (created); with
    plots=True also chapters.png, latency.png and reliability.png (linked from report.md,
    inline in report.html; rep["reliability"] is filled in when missing). Returns the paths
    written, those four first."""
    out.mkdir(parents=True, exist_ok=True)
    images = {"report.png": figure_png(rep)}
    if plots:
        rep.setdefault("reliability", reliability(rep.get("rows", []), rep["settings"]["min_relevance"]))
        images.update({"chapters.png": chapters_png(rep), "latency.png": latency_png(rep),
                       "reliability.png": reliability_png(rep["reliability"])})
    figures = ["report.png", *[f for f in FIGURES if f in images]] if plots else None
    md = markdown(rep, title, figures)
    paths = [out / "report.json", out / "report.md", out / "report.png", out / "report.html"]
    paths[0].write_text(json.dumps(rep, ensure_ascii=False, indent=2), encoding="utf-8")
    paths[1].write_text(md, encoding="utf-8")
    paths[2].write_bytes(images["report.png"])
    if not plots:  # the report's one figure above the markdown, as before
        md = "![metrics](report.png)\n\n" + md
    paths[3].write_text(html_page(md, title, images), encoding="utf-8")
    for name in FIGURES:
        if name in images:
            (out / name).write_bytes(images[name])
            paths.append(out / name)
    return paths


def side_by_side(reports: list[dict]) -> list[str]:
    """Markdown table of several eval reports: per set and language, n, hit@1/3/5, MRR@10 and
    nDCG@10 with 95% intervals, answerable refused and out-of-scope accepted. Tuning sets
    are labelled in-sample."""
    rows = [["set", "kind", "lang", "n", *CI_METRICS, "answerable refused", "out-of-scope accepted"]]
    for rep in reports:
        info = rep.get("set_info", {})
        kind = "blind" if info.get("kind") == "blind" else "tuning (in-sample)"
        for lang in ("zh", "en"):
            m, c = rep["retrieval"][lang], rep["coverage"][lang]
            refused = None if c["in_scope_covered"] is None else round(1 - c["in_scope_covered"], 4)
            accepted = None if c["out_of_scope_rejected"] is None else round(1 - c["out_of_scope_rejected"], 4)
            rows.append([info.get("name", rep.get("set", "")), kind, lang, str(m["n"]), *(_ci(m, x) for x in CI_METRICS),
                         f"{_fmt(refused)} of {c['in_scope']}", f"{_fmt(accepted)} of {c['out_of_scope']}"])
    return _table(rows)
