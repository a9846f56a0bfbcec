"""Eval runs (tutor/evaluate/eval_runs.py, eval_report.py, `tutor eval`): run folder names,
the manifest's content hashes and their cache, the diff against the previous run of the same
set, the reliability bins of the coverage decision, the report's worst cases and generic
answer metrics, and one `tutor eval` over the fake tutor (hash embedder) writing two runs,
the second compared with the first."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tutor.evaluate import eval_runs
from tutor.evaluate.eval_report import markdown, reliability, summary_lines, worst_answers, write
from tutor.evaluate.evaluation import Retrieved, by_chapter, calibrate, coverage_metrics, misses, retrieval_metrics

T0 = datetime(2026, 12, 1, 14, 5, 12, tzinfo=timezone.utc)


def _row(id_, relevance, ranked=("1.1.2",), expected=("1.1.2",), oos=False, lang="zh", ms=10.0):
    return Retrieved(id_, lang, f"question {id_}", [] if oos else list(expected), oos, list(ranked), list(ranked)[:3],
                     relevance, relevance >= 0.5, ms)


def _report(rows: list[Retrieved], k: int = 3) -> dict:
    """A report shaped like evaluation.run's, from hand-made rows."""
    return {"items": len(rows), "k": k, "seconds": 1.0, "retrieval_ms_median": 10.0,
            "settings": {"top_k": 5, "min_relevance": 0.5, "embedding_model": "fake", "multilingual_model": None, "chunks": 1},
            "retrieval": {"overall": retrieval_metrics(rows), **{g: retrieval_metrics([r for r in rows if r.lang == g]) for g in ("zh", "en")}},
            "by_chapter": by_chapter(rows),
            "coverage": {"overall": coverage_metrics(rows, 0.5), **{g: coverage_metrics([r for r in rows if r.lang == g], 0.5) for g in ("zh", "en")}},
            "calibration": calibrate(rows), "misses": misses(rows, k), "rows": [asdict(r) for r in rows]}


# -- run folders ----------------------------------------------------------------------------------

@pytest.mark.parametrize("paths, label", [
    (["evals/sets/blind_ch1-4.jsonl"], "blind_ch1-4"),
    (["a/blind_ch1-4.jsonl", "b/tuning_coverage.jsonl"], "blind_ch1-4+tuning_coverage"),
    (["x/my set (v2).jsonl"], "my_set_v2"),
    ([f"s/very_long_set_name_{i}.jsonl" for i in range(3)], "very_long_set_name_0+2more"),
])
def test_short_label(paths, label):
    got = eval_runs.short_label([Path(p) for p in paths])
    assert got == label and len(got) <= 40


def test_run_dir_is_utc_stamp_and_label_and_never_reused(tmp_path):
    first = eval_runs.new_run_dir(tmp_path / "runs", T0, "blind_ch1-4")
    second = eval_runs.new_run_dir(tmp_path / "runs", T0, "blind_ch1-4")  # same second: a new folder
    local = eval_runs.new_run_dir(tmp_path / "runs", T0.astimezone(timezone.utc).astimezone(), "x/../y")
    assert first.name == "20261201T140512Z-blind_ch1-4" and second.name == "20261201T140512Z-blind_ch1-4-2"
    assert first.is_dir() and second.is_dir() and local.parent == tmp_path / "runs"
    assert local.name == "20261201T140512Z-x_.._y"  # UTC whatever the clock's zone; no '/' from the label


def test_runs_root_is_the_checkout_or_the_data_dir(monkeypatch, tmp_path):
    s = make_settings(tmp_path / "home")
    assert eval_runs.checkout_root() is not None  # the tests run from the checkout
    assert eval_runs.runs_root(s) == eval_runs.checkout_root() / "evals" / "reports" / "runs"
    monkeypatch.setattr(eval_runs, "checkout_root", lambda: None)  # an installed wheel
    assert eval_runs.runs_root(s) == tmp_path / "home" / "evals" / "runs"
    assert eval_runs.run_roots(s) == [tmp_path / "home" / "evals" / "runs"]


# -- content hashes and the manifest --------------------------------------------------------------

def test_hash_cache_reads_a_file_once_until_it_changes(tmp_path):
    import hashlib

    f, cache_file = tmp_path / "model.gguf", tmp_path / "cache" / "sha256.json"
    f.write_bytes(b"GGUF" + b"\0" * 1000)
    c = eval_runs.HashCache(cache_file)
    assert c.file(f) == hashlib.sha256(f.read_bytes()).hexdigest() and c.reads == 1
    assert c.file(f) == hashlib.sha256(f.read_bytes()).hexdigest() and c.reads == 1  # cached
    c.save()
    again = eval_runs.HashCache(cache_file)  # a later run: the cache on disk
    assert again.file(f) == c.file(f) and again.reads == 0
    f.write_bytes(b"GGUF" + b"\1" * 2000)  # a new file at the same path: size and mtime differ
    assert again.file(f) == hashlib.sha256(f.read_bytes()).hexdigest() and again.reads == 1
    cache_file.write_text("{not json", encoding="utf-8")
    assert eval_runs.HashCache(cache_file).entries == {}  # a corrupt cache is ignored, not an error


def test_tree_hash_depends_on_contents_not_location(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d / "sub").mkdir(parents=True)
        (tmp_path / d / "config.json").write_text("{}", encoding="utf-8")
        (tmp_path / d / "sub" / "w.bin").write_bytes(b"weights")
    (tmp_path / "b" / "__pycache__").mkdir()
    (tmp_path / "b" / "__pycache__" / "x.pyc").write_bytes(b"cache")  # ignored
    c = eval_runs.HashCache(None)
    assert c.tree(tmp_path / "a") == c.tree(tmp_path / "b")
    (tmp_path / "b" / "sub" / "w.bin").write_bytes(b"other weights")
    assert c.tree(tmp_path / "a") != c.tree(tmp_path / "b")


def test_manifest_records_models_settings_sets_and_times(tmp_path):
    gguf, emb = tmp_path / "m.gguf", tmp_path / "emb"
    gguf.write_bytes(b"GGUF1")
    emb.mkdir()
    (emb / "modules.json").write_text("[]", encoding="utf-8")
    c = eval_runs.HashCache(tmp_path / "cache.json")
    models = eval_runs.hash_models({"llm": gguf, "llm_server": None, "embedding_model": emb, "multilingual_model": None,
                                    }, c)
    missing = eval_runs.hash_models({"llm": tmp_path / "gone.gguf"}, c)
    assert models["llm"] == {"path": str(gguf), "sha256": c.file(gguf)} and len(models["embedding_model"]["sha256"]) == 64
    assert missing["llm"]["sha256"] is None and "FileNotFoundError" in missing["llm"]["error"]
    assert eval_runs.hash_models({"llm": None, "llm_server": "http://h/v1 model m"}, c)["llm"]["server"] == "http://h/v1 model m"
    s = make_settings(tmp_path / "home", top_k=4, temperature=0.0, seed=7)
    rep = {"set": "evals/sets/x.jsonl", "set_info": {"name": "x.jsonl", "sha256": "ab" * 32, "kind": "blind"}, "items": 3,
           "report": "report.json", "answers": {}}
    m = eval_runs.manifest(s, [rep], T0, T0.replace(minute=7), "quotes_first", {"embedding_model": "fake"}, models,
                           argv=["tutor", "eval", "--set", "my set.jsonl"], commit={"commit": "c0ffee", "dirty": False})
    assert m["started"] == "2026-12-01T14:05:12Z" and m["ended"] == "2026-12-01T14:07:12Z" and m["duration_s"] == 120.0
    assert m["command"] == "tutor eval --set 'my set.jsonl'" and m["git"]["commit"] == "c0ffee"
    assert m["sets"] == [{"name": "x.jsonl", "path": "evals/sets/x.jsonl", "sha256": "ab" * 32, "kind": "blind", "items": 3,
                          "report": "report.json"}]
    assert {"top_k": 4, "seed": 7, "temperature": 0.0, "n_ctx": s.n_ctx, "min_relevance": s.min_relevance,
            "answer_mode_resolved": "quotes_first", "answers": True, "embedding_model": "fake"}.items() <= m["settings"].items()
    json.dumps(m)


def test_git_commit_of_the_checkout():
    g = eval_runs.git_commit()
    assert g is None or (len(g["commit"]) == 40 and g["dirty"] in (True, False, None))
    assert eval_runs.git_commit(Path("/nonexistent-repo")) is None


# -- reliability of the coverage decision ----------------------------------------------------------

def test_reliability_bins_hand_computed():
    rows = [asdict(r) for r in [_row("a", 0.95), _row("b", 1.0), _row("c", 0.92, oos=True), _row("d", 0.05, oos=True),
                                _row("e", 0.55), _row("f", 0.5, oos=True), _row("g", -0.2, oos=True)]]
    rel = reliability(rows, threshold=0.5, bins=10)
    bins = {b["lo"]: b for b in rel["bins"]}
    assert len(rel["bins"]) == 10 and sum(b["n"] for b in rel["bins"]) == 7
    assert bins[0.9] == {"lo": 0.9, "hi": 1.0, "n": 3, "in_scope": 2, "mean_relevance": round((0.95 + 1.0 + 0.92) / 3, 4),
                         "in_scope_share": round(2 / 3, 4)}  # 1.0 goes into the last bin
    assert bins[0.5]["n"] == 2 and bins[0.5]["in_scope_share"] == 0.5  # 0.5 is the bin's lower edge
    assert bins[0.0]["n"] == 2 and bins[0.0]["mean_relevance"] == 0.025  # -0.2 clamped to 0
    assert bins[0.3] == {"lo": 0.3, "hi": 0.4, "n": 0, "in_scope": 0, "mean_relevance": None, "in_scope_share": None}
    ece = (3 * abs(2 / 3 - 2.87 / 3) + 2 * abs(0.5 - 0.525) + 2 * abs(0 - 0.025)) / 7
    assert rel["ece"] == pytest.approx(ece, abs=1e-4) and rel["threshold"] == 0.5
    assert reliability([], 0.5)["ece"] is None


# -- diff ------------------------------------------------------------------------------------------

def test_diff_deltas_and_newly_missed_and_found():
    before = _report([_row("a", 0.9, ranked=("1.1.2",)), _row("b", 0.9, ranked=("9.9", "8.8", "7.7", "1.1.2")),
                      _row("c", 0.9, ranked=("1.1.2",), lang="en"), _row("z", 0.2, oos=True)])
    after = _report([_row("a", 0.9, ranked=("9.9", "8.8", "7.7", "6.6")), _row("b", 0.9, ranked=("1.1.2",)),
                     _row("c", 0.9, ranked=("1.1.2",), lang="en"), _row("z", 0.7, oos=True)])
    d = eval_runs.diff(after, before, "20261130T000000Z-x", "2026-11-30T00:00:00Z")
    assert d["previous"] == "20261130T000000Z-x" and d["previous_started"] == "2026-11-30T00:00:00Z" and d["note"] is None
    assert d["newly_missed"] == ["a"] and d["newly_found"] == ["b"]
    assert d["metrics"]["zh"]["hit@3"] == {"before": 0.5, "after": 0.5, "delta": 0.0}
    assert d["metrics"]["en"]["hit@1"] == {"before": 1.0, "after": 1.0, "delta": 0.0}
    assert d["metrics"]["overall"]["mrr@10"]["delta"] == pytest.approx((1 + 1 + 0) / 3 - (1 + 0.25 + 1) / 3, abs=1e-4)
    assert d["metrics"]["coverage.overall"]["out_of_scope_rejected"] == {"before": 1.0, "after": 0.0, "delta": -1.0}
    md = "\n".join(markdown({**after, "diff": d}, "t").splitlines())
    assert "## Changes since the previous run" in md and "`20261130T000000Z-x`" in md
    assert "Newly missed (topic note left the top 3): `a` question a" in md and "Newly found (topic note entered the top 3): `b`" in md
    assert "| hit@5 | 1.000 → 0.667 (-0.333) | 1.000 → 0.500 (-0.500) | 1.000 → 1.000 (+0.000) |" in md
    assert "| n | 3 → 3 (+0) | 2 → 2 (+0) | 1 → 1 (+0) |" in md
    assert any(line.startswith("since 20261130T000000Z-x: ") and "newly missed a" in line for line in summary_lines({**after, "diff": d}))


def test_diff_without_previous_run_says_so_and_answers_are_compared_generically():
    rep = _report([_row("a", 0.9)])
    d = eval_runs.diff(rep, None)
    assert d == {"previous": None, "note": "no previous run of this set"}
    assert "No previous run of this set" in markdown({**rep, "diff": d}, "t")
    old = {**rep, "answers": {"overall": {"n": 1, "new_metric": 0.25, "n_new_metric": 1, "ci": {"new_metric": [0.1, 0.4]}}}}
    new = {**rep, "k": 5, "answers": {"overall": {"n": 1, "new_metric": 0.75, "n_new_metric": 1, "ci": {"new_metric": [0.5, 0.9]}}}}
    d = eval_runs.diff(new, old, "r")
    assert d["metrics"]["answers.overall"] == {"n": {"before": 1, "after": 1, "delta": 0},
                                               "new_metric": {"before": 0.25, "after": 0.75, "delta": 0.5}}
    assert d["note"] == "k differs: 3 then, 5 now"


def test_previous_report_is_the_newest_earlier_run_of_the_same_set(tmp_path):
    def run(name, started, sha, value):
        d = tmp_path / name
        d.mkdir()
        (d / "manifest.json").write_text(json.dumps({"started": started, "sets": [{"sha256": sha, "report": "r/report.json"}]}))
        (d / "r").mkdir()
        (d / "r" / "report.json").write_text(json.dumps({"v": value}))
        return d

    run("1-old", "2026-11-01T00:00:00Z", "s1", 1)
    run("2-newer", "2026-11-02T00:00:00Z", "s1", 2)
    run("3-other-set", "2026-11-03T00:00:00Z", "s2", 3)
    own = run("4-this-run", "2026-11-04T00:00:00Z", "s1", 4)
    (tmp_path / "5-no-manifest").mkdir()
    d, m, rep = eval_runs.previous_report([tmp_path, tmp_path / "missing"], "s1", "2026-11-04T00:00:00Z", exclude=own)
    assert d.name == "2-newer" and rep == {"v": 2} and m["started"] == "2026-11-02T00:00:00Z"
    assert eval_runs.previous_report([tmp_path], "s1", "2026-10-31T23:59:59Z") is None  # none earlier
    # two quick runs share a start second (whole seconds): the first is the second's previous run
    d, _, _ = eval_runs.previous_report([tmp_path], "s1", "2026-11-04T00:00:00Z", exclude=run("6-same-second", "2026-11-04T00:00:00Z", "s1", 6))
    assert d.name == "4-this-run"
    assert eval_runs.previous_report([tmp_path], "s9", "2027-01-01T00:00:00Z") is None
    assert [p.name for p, _ in eval_runs.list_runs([tmp_path])] == ["6-same-second", "4-this-run", "3-other-set", "2-newer", "1-old"]


# -- worst cases and generic answer metrics -----------------------------------------------------------

def _answer(id_, covered=True, oos=False, kpr=1.0, unsupported=0, sentences=2, answer="an answer", **kw):
    return {"id": id_, "lang": "zh", "out_of_scope": oos, "covered": covered, "answer": answer, "sources": ["1.1.2"],
            "citations": [1], "citations_valid": True, "lang_match": True, "key_point_recall": kpr, "unsupported": unsupported,
            "sentences": sentences, "guard": "direct", "first_token_ms": 100.0, "total_ms": 900.0, **kw}


def test_worst_answers_and_generic_answer_metrics_in_the_report(tmp_path):
    rep = _report([_row("a", 0.9), _row("b", 0.9), _row("c", 0.9), _row("d", 0.9), _row("z", 0.9, oos=True)])
    rep["answers"] = {"model": "scripted", "mode": "checked",
                      "overall": {"n": 5, "key_point_recall": 0.5, "n_key_point_recall": 4, "brand_new_metric": 0.125, "guard": {"direct": 4},
                                  "latency": {"first_token_ms": {"p50": 100.0, "p95": 120.0, "n": 4}},
                                  "ci": {"key_point_recall": [0.25, 0.75]}},
                      "zh": {"n": 5, "key_point_recall": 0.5}, "en": {"n": 0, "key_point_recall": None},
                      "rows": [_answer("a"), _answer("b", kpr=0.0, answer="x " * 400), _answer("c", covered=False, kpr=None),
                               _answer("d", kpr=0.5, unsupported=1, sentences=2), _answer("z", oos=True, kpr=None)]}
    worst = worst_answers(rep)
    assert [x["id"] for x in worst] == ["b", "c", "z", "d"]  # "a" passed every check; ties (badness 1) by id
    assert worst[1]["why"] == ["refused an in-scope question"] and worst[2]["why"] == ["answered an out-of-scope question"]
    assert worst[0]["why"] == ["key points covered 0%"] and worst[0]["question"] == "question b"
    assert len(worst[0]["answer"]) <= 301 and worst[0]["answer"].endswith("…") and worst[0]["sources"] == ["1.1.2"]
    assert worst[3]["why"] == ["key points covered 50%", "1 of 2 sentences not found in the notes"]
    md = markdown(rep, "t")
    assert "| key_point_recall | 0.500 [0.25, 0.75] (n=4) | 0.500 | – |" in md and "n_key_point_recall" not in md
    assert "| brand_new_metric | 0.125 |" in md and "latency | first_token_ms (p50:100.0 p95:120.0 n:4)" in md
    assert "### Worst answers" in md and "`c` question c — refused an in-scope question" in md
    paths = write(rep, tmp_path / "out", "t", plots=True)
    assert [p.name for p in paths] == ["report.json", "report.md", "report.png", "report.html", "chapters.png", "latency.png",
                                       "reliability.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths if p.suffix == ".png")
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 4 and 'src="chapters.png"' not in page and "<table>" in page
    assert "![latency](latency.png)" in paths[1].read_text(encoding="utf-8")
    assert json.loads(paths[0].read_text(encoding="utf-8"))["reliability"]["bins"][9]["n"] == 5


def test_html_escapes_raw_html_in_questions(tmp_path):
    rep = _report([_row("a", 0.9, ranked=("9.9",))])
    rep["rows"][0]["question"] = rep["misses"][0]["question"] = "<script>alert(1)</script> | pipe"
    write(rep, tmp_path, "t", plots=True)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;" in page


# -- `tutor eval` end to end on the fake tutor ---------------------------------------------------------

SET_LINES = [
    {"id": "q1", "lang": "zh", "question": "缩放点积注意力为什么要除以根号d_k", "expected_ids": ["1.1.2"]},
    {"id": "q2", "lang": "en", "question": "What is RoPE rotary position embedding?", "expected_ids": ["1.3.3"]},
    {"id": "q3", "lang": "zh", "question": "红烧肉怎么做才好吃？", "expected_ids": [], "out_of_scope": True},
]


@pytest.fixture
def cli_env(fake_tutor, tmp_path, monkeypatch):
    """`tutor eval` over the fake tutor, writing runs under tmp_path/runs, hashing a small fake model file."""
    import tutor.tutor as tutor_mod

    monkeypatch.setattr(tutor_mod, "build_tutor", lambda settings=None, **kw: fake_tutor)
    monkeypatch.setattr(eval_runs, "runs_root", lambda s: tmp_path / "runs")
    monkeypatch.setattr(eval_runs, "run_roots", lambda s: [tmp_path / "runs"])
    (tmp_path / "m.gguf").write_bytes(b"GGUF fake")
    monkeypatch.setattr(eval_runs, "model_files", lambda s: {"llm": tmp_path / "m.gguf", "llm_server": None,
                                                            "embedding_model": None, "multilingual_model": None})
    sets = tmp_path / "sets"
    sets.mkdir()
    path = sets / "tiny_set.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in SET_LINES) + "\n", encoding="utf-8")
    return path


def _eval(args):
    from typer.testing import CliRunner

    from tutor.cli import app

    return CliRunner().invoke(app, ["eval", *args])


def test_cli_writes_a_run_folder_and_compares_with_the_previous_run(cli_env, tmp_path):
    first = _eval(["--set", str(cli_env)])
    assert first.exit_code == 0, first.output
    (run1,) = (tmp_path / "runs").iterdir()
    assert run1.name.endswith("Z-tiny_set") and len(run1.name) == len("20261201T140512Z-tiny_set")
    assert {p.name for p in run1.iterdir()} == {"manifest.json", "report.json", "report.md", "report.html", "report.png",
                                               "chapters.png", "latency.png", "reliability.png"}
    man = json.loads((run1 / "manifest.json").read_text(encoding="utf-8"))
    assert man["sets"][0]["name"] == "tiny_set.jsonl" and man["sets"][0]["kind"] == "tuning" and man["sets"][0]["items"] == 3
    assert man["models"]["llm"]["sha256"] == hashlib.sha256(b"GGUF fake").hexdigest()
    # the process's own argv after "tutor" (under CliRunner that is pytest's, empty under xdist)
    assert man["command"].split()[0] == "tutor" and man["settings"]["top_k"] == 5 and man["duration_s"] >= 0
    assert "No previous run of this set" in (run1 / "report.md").read_text(encoding="utf-8")
    assert "previous run: none" in first.output and f"run written to {run1}/" in first.output
    os.utime(cli_env)  # same contents: still the same set
    second = _eval(["--set", str(cli_env), "--json", "--label", "again"])
    assert second.exit_code == 0
    rep = json.loads(second.stdout)  # --json: nothing but the report on stdout
    assert rep["diff"]["previous"] == run1.name and rep["run_dir"].endswith("-again")
    assert rep["diff"]["newly_missed"] == [] and rep["diff"]["metrics"]["overall"]["hit@3"]["delta"] == 0.0
    assert "retrieving" not in second.output  # no progress bar with --json


def test_cli_out_overrides_the_runs_folder_and_bad_out_is_a_one_line_error(cli_env, tmp_path):
    r = _eval(["--set", str(cli_env), "--out", str(tmp_path / "mine")])
    assert r.exit_code == 0 and (tmp_path / "mine" / "manifest.json").is_file() and not (tmp_path / "runs").exists()
    (tmp_path / "file").write_text("x")
    from tutor.errors import TutorError

    bad = _eval(["--set", str(cli_env), "--out", str(tmp_path / "file")])
    assert isinstance(bad.exception, TutorError) and "is a file" in str(bad.exception)


def test_cli_several_sets_one_run_folder_and_the_evals_tab_view(cli_env, tmp_path, fake_tutor):
    from ui.evals_tab import latest_view

    other = cli_env.with_name("tiny_two.jsonl")
    other.write_text(cli_env.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    r = _eval(["--set", str(cli_env), "--set", str(other)])
    assert r.exit_code == 0, r.output
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.endswith("Z-tiny_set+tiny_two") and (run / "summary.md").is_file()
    man = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert [(s["name"], s["report"], s["items"]) for s in man["sets"]] == [("tiny_set.jsonl", "tiny_set/report.json", 3),
                                                                        ("tiny_two.jsonl", "tiny_two/report.json", 1)]
    v = latest_view(fake_tutor.settings)
    assert run.name in v.head and "tiny_two.jsonl" in v.head and "tuning (in-sample)" in v.head
    assert v.report.startswith("# Eval summary") and v.report.count("# Eval report: ") == 2 and "## Figures" not in v.report
    assert [p.name for p, _ in v.figures] == ["report.png", "chapters.png", "latency.png", "reliability.png"] * 2
    (run / "tiny_two" / "report.md").unlink()  # damaged: a notice naming the run, not an exception
    v = latest_view(fake_tutor.settings)
    assert "could not be read" in v.head and run.name in v.head and v.figures == []
    (tmp_path / "runs" / run.name / "manifest.json").unlink()  # no run left
    assert "No eval run yet" in latest_view(fake_tutor.settings).head
