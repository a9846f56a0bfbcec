"""Write an eval report (the dict from `evaluation.run`) as report.json, report.md and
report.html with one matplotlib figure (hit@k per language, and the coverage threshold
trade-off). Plain text summaries for the terminal come from `summary_lines`.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

METRICS = ["hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10", "topic_hit@3", "search_top3"]
CI_METRICS = ["hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10"]
ANSWER_METRICS = ["answered_in_scope", "refused_out_of_scope", "with_citation", "citations_valid", "cites_expected",
                  "sources_expected", "lang_match", "key_point_coverage", "unsupported_sentences", "guard",
                  "first_token_ms_median", "tokens_per_s_mean"]


def _fmt(v) -> str:
    if isinstance(v, dict):
        return " ".join(f"{k}:{n}" for k, n in v.items()) or "–"
    return "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def _table(rows: list[list[str]]) -> list[str]:
    head, *body = rows
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in body)]


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


def summary_lines(rep: dict) -> list[str]:
    """Short terminal summary: metrics per language, coverage, calibration, misses."""
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
        out.append(f"answers ({a['model']}, mode {a.get('mode', 'stream')}, {a['overall']['n']} questions):")
        for g in ("overall", "zh", "en"):
            out.append(f"  {g}: " + ", ".join(f"{m} {_fmt(a[g].get(m))}" for m in ANSWER_METRICS))
    out.append(f"{rep['items']} items in {rep['seconds']} s (median retrieval {rep['retrieval_ms_median']} ms)")
    return out


def markdown(rep: dict, title: str) -> str:
    r, cal = rep["retrieval"], rep["calibration"]
    lines = [f"# Eval report: {title}", "", f"Set: {set_label(rep)}", "", f"{rep['items']} items · settings: " +
             ", ".join(f"{k}={v}" for k, v in rep["settings"].items()), "", "## Retrieval (in-scope items, per note)", ""]
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
    lines += [f"## Misses (topic note not in the top {rep['k']} notes)", ""]
    lines += [f"- `{m['id']}` {m['question']} — expected {m['expected']}, rank {m['rank']}, got {', '.join(m['ranked'])}" for m in rep["misses"]] or ["none"]
    if "answers" in rep:
        a = rep["answers"]
        lines += ["", f"## Answers ({a['model']})", ""]
        lines += _table([["group", *ANSWER_METRICS], *[[g, *(_fmt(a[g].get(m)) for m in ANSWER_METRICS)] for g in ("overall", "zh", "en")]])
    return "\n".join(lines) + "\n"


def figure_png(rep: dict) -> bytes:
    """PNG: left, hit@1/3/5, MRR@10 and nDCG@10 per language; right, in-scope covered and
    out-of-scope rejected against the relevance threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def write(rep: dict, out: Path, title: str) -> list[Path]:
    """Write report.json, report.md, report.png and report.html under out; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    md = markdown(rep, title)
    png = figure_png(rep)
    paths = [out / "report.json", out / "report.md", out / "report.png", out / "report.html"]
    paths[0].write_text(json.dumps(rep, ensure_ascii=False, indent=2), encoding="utf-8")
    paths[1].write_text(md, encoding="utf-8")
    paths[2].write_bytes(png)
    img = base64.b64encode(png).decode()
    paths[3].write_text(f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
                        f"<img alt='metrics' src='data:image/png;base64,{img}'><pre>{html.escape(md)}</pre>", encoding="utf-8")
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
