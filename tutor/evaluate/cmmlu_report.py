"""Write a CMMLU report (the dict from `cmmlu.run`) as report.json, report.md and report.png
(accuracy per group and condition with 95% intervals, the 25% random line and the majority
letter line), and a short terminal summary (`summary_lines`)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from tutor.evaluate.cmmlu import CONDITIONS, LETTERS, RANDOM_BASELINE

LABELS = {"closed_book": "closed-book", "retrieval": "with retrieval", "overall": "overall",
          "covered": "covered", "not_covered": "not covered"}


def _acc(a: dict | None) -> str:
    """'0.291 [0.24, 0.34] (n=326)'; '–' for an empty group."""
    return "–" if not a else f"{a['mean']:.3f} [{a['lo']:.2f}, {a['hi']:.2f}] (n={a['n']})"


def _diff(d: dict | None) -> str:
    return "–" if not d else f"{d['mean']:+.3f} [{d['lo']:+.2f}, {d['hi']:+.2f}]"


def _letters(c: dict) -> str:
    total = sum(c.values())
    return " ".join(f"{x}:{c[x]}" + (f" ({c[x] / total:.0%})" if total else "") for x in LETTERS)


def _groups(rep: dict) -> list[str]:
    return list(rep["baselines"])


def _table(rows: list[list[str]]) -> list[str]:
    head, *body = rows
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in body)]


def summary_lines(rep: dict) -> list[str]:
    """Terminal summary: data, coverage, baselines, per model and condition the accuracy per
    group with intervals and the relation to chance, letter distributions, retrieval effect."""
    subj = ", ".join(f"{s} {n}" for s, n in rep["subjects"].items())
    cov = rep["coverage"]
    base = rep["baselines"]["overall"]
    out = [f"CMMLU ({rep['citation']}): {rep['n']} questions ({subj}){' — --limit ' + str(rep['limit']) if rep['limit'] else ''}",
           f"covered by the outline (tutor's decision): {cov['covered']}, not covered: {cov['not_covered']}",
           f"baselines: random {RANDOM_BASELINE:.3f}; always '{base['majority']['letter']}' (most common gold letter) "
           f"{base['majority']['accuracy']:.3f}; gold letters {_letters(base['gold_letters'])}"]
    for m in rep["models"]:
        out.append(f"{m['model']} ({m['seconds_per_question']} s/question):")
        for c in CONDITIONS:
            g = m["conditions"][c]
            out.append(f"  {LABELS[c]:<15}" + " | ".join(f"{LABELS.get(k, k)} {_acc(v['accuracy'])} {v['vs_random']}"
                                                      for k, v in g.items()))
            out.append(f"  {'':<15}answered letters {_letters(g['overall']['letters'])}")
        eff = m["retrieval_effect"]
        out.append("  retrieval − closed-book: " + ", ".join(f"{LABELS.get(k, k)} {_diff(v['difference'])}" for k, v in eff.items()))
    out.append(f"{rep['seconds']} s in all")
    return out


def markdown(rep: dict) -> str:
    """The report as Markdown."""
    base = rep["baselines"]
    lines = ["# CMMLU external check", "",
             f"Data: {rep['citation']}; subsets {', '.join(f'`{s}` ({n})' for s, n in rep['subjects'].items())} "
             f"from `{rep['data']}` ({rep['licence']}). Question texts are not copied into this report.", "",
             f"{rep['n']} questions{' (--limit ' + str(rep['limit']) + ', spread evenly)' if rep['limit'] else ''}. "
             f"Answers: one letter by constrained decoding (`{rep['decoding']['grammar']}`, temperature 0, one token) "
             f"with {rep['decoding']['prompt']}. With retrieval: the first {rep['context']['chunks']} chunks of "
             f"`Tutor.search` for {rep['query']}, trimmed to {rep['context']['max_tokens']} model tokens in all.", "",
             f"Covered = the tutor's own decision (relevance ≥ min_relevance {rep['settings']['min_relevance']} among the "
             f"first top_k={rep['settings']['top_k']} chunks): **{rep['coverage']['covered']} covered, "
             f"{rep['coverage']['not_covered']} not covered**. Settings: " +
             ", ".join(f"{k}={v}" for k, v in rep["settings"].items()) + ".", "",
             "Accuracy with percentile-bootstrap 95% intervals (2,000 resamples of the questions); "
             "`above`/`below` = the interval excludes the 25% random baseline, `chance` = it does not.", "",
             "## Baselines", ""]
    lines += _table([["group", "n", "gold letters", "always the most common letter", "random"],
                     *[[LABELS.get(g, g), str(b["n"]), _letters(b["gold_letters"]),
                        f"{b['majority']['letter']}: {b['majority']['accuracy']:.3f}" if b["majority"] else "–", f"{b['random']:.2f}"]
                       for g, b in base.items()]])
    for m in rep["models"]:
        lines += ["", f"## {m['model']}", "", f"File: `{m['path']}`; {m['seconds_per_question']} s per question "
                  f"(both conditions); mean prompt tokens " + ", ".join(f"{LABELS[c]} {v}" for c, v in m["prompt_tokens_mean"].items()) + ".", ""]
        lines += _table([["group", *(LABELS[c] for c in CONDITIONS), "retrieval − closed-book", "answers changed"],
                         *[[LABELS.get(g, g), *(f"{_acc(m['conditions'][c][g]['accuracy'])} {m['conditions'][c][g]['vs_random'] or ''}"
                                                 for c in CONDITIONS),
                            _diff(m["retrieval_effect"][g]["difference"]), str(m["retrieval_effect"][g]["changed"])]
                           for g in _groups(rep)]])
        lines += ["", "Letters the model answered (a model that always says one letter shows here):", ""]
        lines += _table([["condition", *_groups(rep)],
                         *[[LABELS[c], *(_letters(m["conditions"][c][g]["letters"]) for g in _groups(rep))] for c in CONDITIONS]])
    return "\n".join(lines) + "\n"


def figure_png(rep: dict) -> bytes:
    """PNG: one panel per model, accuracy per group (bars per condition, 95% interval as error
    bars), the 25% random baseline and the overall majority-letter baseline as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = _groups(rep)
    n = max(1, len(rep["models"]))
    fig, axes = plt.subplots(1, n, figsize=(max(7, 1.3 * len(names)) * n, 4), squeeze=False)
    width = 0.38
    for ax, m in zip(axes[0], rep["models"]):
        for j, c in enumerate(CONDITIONS):
            accs = [m["conditions"][c][g]["accuracy"] for g in names]
            xs = [i + (j - 0.5) * width for i in range(len(names))]
            vals = [a["mean"] if a else 0 for a in accs]
            err = [[(a["mean"] - a["lo"]) if a else 0 for a in accs], [(a["hi"] - a["mean"]) if a else 0 for a in accs]]
            ax.bar(xs, vals, width=width, yerr=err, capsize=3, label=LABELS[c])
        ax.axhline(RANDOM_BASELINE, color="red", linestyle="--", linewidth=1, label="random 25%")
        maj = rep["baselines"]["overall"]["majority"]
        if maj:
            ax.axhline(maj["accuracy"], color="grey", linestyle=":", linewidth=1, label=f"always '{maj['letter']}'")
        ax.set_xticks(range(len(names)), [f"{LABELS.get(g, g)}\n(n={rep['baselines'][g]['n']})" for g in names], fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy")
        ax.set_title(f"CMMLU, {m['model']}", fontsize=10)
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def write(rep: dict, out: Path) -> list[Path]:
    """Write report.json, report.md and report.png under out (created); returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "report.json", out / "report.md", out / "report.png"]
    paths[0].write_text(json.dumps(rep, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    paths[1].write_text(markdown(rep), encoding="utf-8")
    paths[2].write_bytes(figure_png(rep))
    return paths
