"""tutor/evaluate/cmmlu.py and `tutor eval-cmmlu` with fakes: CSV loading and its one-line
errors, the metric maths against hand-computed values, the bootstrap, the covered / not
covered split, the grammar call (a recording stand-in for llama.cpp), a whole run with a
scripted model and stub search, the written report, and bad CLI input → exit 2. The real
model: tests/integration/test_cmmlu_real.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tutor.evaluate import cmmlu
from tutor.evaluate.cmmlu import (GRAMMAR, CmmluError, GrammarChooser, McQuestion, Model, Retrieved, accuracy, baselines,
                                  condition_metrics, context_text, groups, letter_counts, load, load_subject,
                                  majority_baseline, messages_for, parse_subjects, retrieval_effect, retrieve, spread,
                                  versus_chance)
from tutor.evaluate.cmmlu_report import markdown, summary_lines, write
from tutor.evaluate.evaluation import bootstrap_ci
from tutor.prompts import Prompts
from tutor.rag.chunking import Chunk
from tutor.rag.retrieve import Hit

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = Prompts(ROOT / "prompts")
HEAD = ",Question,A,B,C,D,Answer\n"


def _csv(tmp_path: Path, body: str, subject: str = "machine_learning") -> Path:
    (tmp_path / f"{subject}.csv").write_text(HEAD + body, encoding="utf-8")
    return tmp_path


def _q(i: int, answer: str = "A", subject: str = "machine_learning") -> McQuestion:
    return McQuestion(subject, str(i), f"问题{i}", ("甲", "乙", "丙", "丁"), answer, i + 2)


# -- loading ----------------------------------------------------------------------------------

def test_loads_rows_with_quoted_fields_and_line_numbers(tmp_path):
    d = _csv(tmp_path, '0,"多行\n题目, 含逗号",a,b,c,d,C\n1,题,a,b,c,d, B \n')
    qs = load_subject(d, "machine_learning")
    assert [(q.index, q.answer, q.line) for q in qs] == [("0", "C", 2), ("1", "B", 4)]
    assert qs[0].question == "多行\n题目, 含逗号" and qs[0].options == ("a", "b", "c", "d")
    assert qs[0].pasted() == "多行\n题目, 含逗号\nA. a\nB. b\nC. c\nD. d"


@pytest.mark.parametrize("body, line, says", [
    ("0,q,a,b,c,d,E\n", 2, "answer 'E' is not one of A, B, C, D"),
    ("0,q,a,b,c,d,A\n1,q,a,b,c,A\n", 3, "6 fields, expected 7"),
    ("0,,a,b,c,d,A\n", 2, "the question is empty"),
    ("0,q,a,,c,d,A\n", 2, "option B is empty"),
    ("0,q,a,b,c,d,A\n0,q,a,b,c,d,B\n", 3, "index '0' appears twice"),
    ('0,"q\nx",a,b,c,d,A\n1,q,a,b,c,d,\n', 4, "answer '' is not one of"),
])
def test_malformed_rows_name_file_and_line(tmp_path, body, line, says):
    d = _csv(tmp_path, body)
    with pytest.raises(CmmluError) as e:
        load_subject(d, "machine_learning")
    msg = str(e.value)
    assert msg.startswith(f"{d / 'machine_learning.csv'}:{line}: ") and says in msg and "\n" not in msg


def test_wrong_header_and_empty_file_are_refused(tmp_path):
    (tmp_path / "machine_learning.csv").write_text("Question,A,B,C,D,Answer\n", encoding="utf-8")
    with pytest.raises(CmmluError, match=r"machine_learning.csv:1: header is"):
        load_subject(tmp_path, "machine_learning")
    _csv(tmp_path, "")
    with pytest.raises(CmmluError, match="no questions"):
        load_subject(tmp_path, "machine_learning")


def test_missing_data_says_where_it_is_expected(tmp_path):
    with pytest.raises(CmmluError) as e:
        load(tmp_path / "nowhere", ["machine_learning", "computer_science"])
    msg = str(e.value)
    assert str(tmp_path / "nowhere") in msg and "machine_learning.csv, computer_science.csv" in msg
    assert "SOURCE.md" in msg and "--data" in msg and "\n" not in msg


def test_default_data_dir_is_beside_the_repository():
    assert cmmlu.DEFAULT_DATA_DIR == ROOT.parent / "shared" / "external" / "cmmlu"


@pytest.mark.skipif(not (cmmlu.DEFAULT_DATA_DIR / "machine_learning.csv").is_file(), reason="CMMLU data not in ../shared")
def test_the_shipped_subsets_load():
    qs = load(cmmlu.DEFAULT_DATA_DIR, list(cmmlu.SUBJECTS))
    assert len(qs) == 122 + 204 and {q.answer for q in qs} <= set("ABCD")
    assert [q.subject for q in qs[:1] + qs[-1:]] == ["machine_learning", "computer_science"]


@pytest.mark.parametrize("text, out", [(None, ["machine_learning", "computer_science"]),
                                       ("computer_science", ["computer_science"]),
                                       (" computer_science , machine_learning,", ["machine_learning", "computer_science"])])
def test_parse_subjects(text, out):
    assert parse_subjects(text) == out


def test_unknown_subject_lists_the_valid_ones():
    with pytest.raises(CmmluError, match="unknown CMMLU subject physics; use --subjects with any of machine_learning,computer_science"):
        parse_subjects("machine_learning,physics")


def test_spread_is_even_deterministic_and_checks_limit():
    items = list(range(10))
    assert spread(items, 4) == [0, 2, 5, 7] == spread(items, 4)
    assert spread(items, None) == items and spread(items, 50) == items
    for bad in (0, -3):
        with pytest.raises(CmmluError, match="--limit must be at least 1"):
            spread(items, bad)


# -- metrics ----------------------------------------------------------------------------------

def test_accuracy_and_interval():
    a = accuracy(list("ABCD"), list("ABAA"))
    assert a["n"] == 4 and a["mean"] == 0.5 and 0.0 <= a["lo"] <= 0.5 <= a["hi"] <= 1.0
    assert accuracy(["A"] * 5, ["A"] * 5) == {"n": 5, "mean": 1.0, "lo": 1.0, "hi": 1.0}
    assert accuracy([], []) is None


def test_bootstrap_is_seeded_and_brackets_the_mean():
    xs = [1.0] * 30 + [0.0] * 70
    lo, hi = bootstrap_ci(xs)
    assert (lo, hi) == bootstrap_ci(xs)  # fixed seed: the same report twice
    assert lo < 0.3 < hi and hi - lo < 0.25  # ≈ ±1.96·sqrt(.3·.7/100) = ±0.09


def test_an_always_a_model_is_visible():
    qs = [_q(i, a) for i, a in enumerate("ABCDBBCA")]
    r = [Retrieved(True, 0.9, [], 1.0)] * len(qs)
    m = condition_metrics(qs, r, ["A"] * len(qs))
    assert m["overall"]["letters"] == {"A": 8, "B": 0, "C": 0, "D": 0}
    assert m["overall"]["accuracy"]["mean"] == 0.25


@pytest.mark.parametrize("golds, letter, acc", [(list("ABBC"), "B", 0.5), (list("DCBA"), "A", 0.25), (list("DDCC"), "C", 0.5)])
def test_majority_baseline(golds, letter, acc):
    assert majority_baseline(golds) == {"letter": letter, "accuracy": acc}
    assert majority_baseline([]) is None


def test_letter_counts_include_zeros():
    assert letter_counts(["C", "C", "A"]) == {"A": 1, "B": 0, "C": 2, "D": 0}


@pytest.mark.parametrize("lo, hi, says", [(0.26, 0.4, "above"), (0.1, 0.24, "below"), (0.2, 0.3, "chance")])
def test_versus_chance(lo, hi, says):
    assert versus_chance({"n": 9, "mean": (lo + hi) / 2, "lo": lo, "hi": hi}) == says


def test_split_by_coverage_and_subject():
    qs = [_q(0, "A"), _q(1, "B"), _q(2, "C", "computer_science"), _q(3, "D", "computer_science")]
    r = [Retrieved(c, 0.0, [], 1.0) for c in (True, False, True, False)]
    g = groups(qs, r)
    assert g == {"overall": [0, 1, 2, 3], "covered": [0, 2], "not_covered": [1, 3],
                 "machine_learning": [0, 1], "computer_science": [2, 3]}
    m = condition_metrics(qs, r, ["A", "A", "C", "A"])
    assert m["covered"]["accuracy"]["mean"] == 1.0 and m["not_covered"]["accuracy"]["mean"] == 0.0
    assert m["machine_learning"]["accuracy"]["mean"] == 0.5
    eff = retrieval_effect(qs, r, ["A", "A", "C", "A"], ["B", "B", "C", "D"])
    # covered: q0 right→wrong, q2 unchanged; not covered: q1 and q3 wrong→right
    assert eff["covered"]["difference"]["mean"] == -0.5 and eff["not_covered"]["difference"]["mean"] == 1.0
    assert eff["overall"]["changed"] == 3
    b = baselines(qs, r)
    assert b["overall"]["n"] == 4 and b["covered"]["gold_letters"] == {"A": 1, "B": 0, "C": 1, "D": 0}


# -- retrieval, prompts, the grammar call -----------------------------------------------------

def _hit(node: str, relevance: float, text: str = "笔记") -> Hit:
    return Hit(Chunk(f"{node}#0", node, "section", "t", "t", "h", text, 0), 0.01, None, 1.0, relevance)


def test_retrieve_uses_the_tutor_coverage_decision():
    asked = []

    def search(text, k):
        asked.append((text, k))
        return [_hit("1.1.1", 0.7, "甲"), _hit("1.1.2", 0.2), _hit("2.1.1", 0.1), _hit("3.1.1", 0.1)] if "问题0" in text else [_hit("9.9.9", 0.3)]

    r = retrieve(search, [_q(0), _q(1)], top_k=5, threshold=0.5)
    assert asked == [(_q(0).pasted(), 5), (_q(1).pasted(), 5)]  # the question with its options, top_k chunks
    assert [x.covered for x in r] == [True, False] and r[0].relevance == 0.7
    assert [nid for nid, _ in r[0].chunks] == ["1.1.1", "1.1.2", "2.1.1"]  # CONTEXT_CHUNKS of them


def test_context_is_trimmed_per_chunk():
    text = context_text([("a", "x" * 100), ("b", "y" * 5), ("c", "z" * 100)], 30, len)
    assert text == "[1] " + "x" * 10 + "\n\n[2] yyyyy\n\n[3] " + "z" * 10
    assert "没有" in context_text([], 30, len)


def test_prompts_render_both_conditions():
    q = McQuestion("machine_learning", "0", "哪个是降维方法", ("LASSO", "Bagging", "PCA", "聚类"), "C", 2)
    closed = messages_for(PROMPTS, q, None)
    rag = messages_for(PROMPTS, q, "[1] 主成分分析")
    assert len(closed) == 1 and closed[0]["role"] == "user"
    for m in (closed[0]["content"], rag[0]["content"]):
        assert "哪个是降维方法" in m and "A. LASSO" in m and "D. 聚类" in m
    assert "[1] 主成分分析" in rag[0]["content"] and "主成分分析" not in closed[0]["content"]


class RecordingLlama:
    """Stands in for llama_cpp.Llama: records create_chat_completion's arguments."""

    def __init__(self, reply="C"):
        self.reply, self.calls = reply, []

    def create_chat_completion(self, **kw):
        self.calls.append(kw)
        return {"choices": [{"message": {"role": "assistant", "content": self.reply}}]}


def test_grammar_chooser_asks_for_one_greedy_letter():
    from tutor.llm import ScriptedLLM

    llm = ScriptedLLM()
    llm.llama = RecordingLlama("C")
    choose = GrammarChooser(llm)
    assert choose([{"role": "user", "content": "题 <|im_end|>"}]) == "C"
    kw = llm.llama.calls[0]
    assert kw["grammar"]._grammar == GRAMMAR == "root ::= [ABCD]"
    assert kw["temperature"] == 0.0 and kw["max_tokens"] == 1 and kw["top_k"] == 1
    assert "<|im_end|>" not in kw["messages"][0]["content"]  # LLM.prepare ran: control tokens made inert
    llm.llama.reply = "E"
    with pytest.raises(RuntimeError, match="not one of A-D"):
        choose([{"role": "user", "content": "题"}])


def test_a_server_model_is_refused():
    from tutor.llm import ScriptedLLM

    with pytest.raises(CmmluError, match="in-process GGUF"):
        GrammarChooser(ScriptedLLM())


# -- a whole run ------------------------------------------------------------------------------

def _stub_tutor(tmp_path):
    def search(text, k):
        return [_hit("1.1.1", 0.9 if "问题0" in text or "问题2" in text else 0.1, "笔记正文")]

    settings = SimpleNamespace(top_k=5, min_relevance=0.5, threads=1)
    return SimpleNamespace(settings=settings, search=search, prompts=PROMPTS, embedder=SimpleNamespace(name="hash"),
                           multilingual=None, index=SimpleNamespace(count=lambda: 1))


def _scripted(name: str, answer):
    seen = []

    def choose(messages):
        seen.append(messages[0]["content"])
        return answer(messages[0]["content"])

    return Model(name, choose, len, None), seen


def test_run_report_and_files(tmp_path):
    qs = [_q(0, "A"), _q(1, "B"), _q(2, "C", "computer_science"), _q(3, "D", "computer_science")]
    always_a, seen_a = _scripted("always-a", lambda m: "A")
    reader, _ = _scripted("reader", lambda m: "C" if "笔记正文" in m else "B")  # answers C only when given notes
    models = iter([always_a, reader])
    rep = cmmlu.run(_stub_tutor(tmp_path), qs, [Path("a.gguf"), Path("b.gguf")], tmp_path, load=lambda p, s: next(models))
    assert len(seen_a) == 8 and sum("笔记正文" in m for m in seen_a) == 4  # two conditions per question
    assert rep["coverage"] == {"covered": 2, "not_covered": 2, "retrieval_ms_median": rep["coverage"]["retrieval_ms_median"]}
    a, r = rep["models"]
    assert a["conditions"]["closed_book"]["overall"]["letters"] == {"A": 4, "B": 0, "C": 0, "D": 0}
    assert a["conditions"]["closed_book"]["overall"]["accuracy"]["mean"] == 0.25
    assert r["conditions"]["closed_book"]["overall"]["accuracy"]["mean"] == 0.25  # always B
    assert r["conditions"]["retrieval"]["covered"]["accuracy"]["mean"] == 0.5  # q2 (gold C) right, q0 wrong
    assert r["retrieval_effect"]["overall"]["changed"] == 4
    assert rep["rows"][0]["answers"] == {"always-a": {"closed_book": "A", "retrieval": "A"},
                                         "reader": {"closed_book": "B", "retrieval": "C"}}
    assert "question" not in rep["rows"][0]  # the licence keeps the texts in the data folder
    assert rep["baselines"]["overall"]["random"] == 0.25
    json.dumps(rep)  # JSON-able
    paths = write(rep, tmp_path / "out")
    assert [p.name for p in paths] == ["report.json", "report.md", "report.png"]
    assert json.loads(paths[0].read_text(encoding="utf-8"))["n"] == 4 and paths[2].read_bytes()[:4] == b"\x89PNG"
    md = markdown(rep)
    assert "## always-a" in md and "A:4 (100%)" in md and "random" in md and "not covered" in md
    assert any("retrieval − closed-book" in line for line in summary_lines(rep))


# -- the CLI ----------------------------------------------------------------------------------

def _main(monkeypatch, capsys, *args) -> tuple[int, str]:
    from tutor import cli

    monkeypatch.setattr(sys, "argv", ["tutor", "eval-cmmlu", *args])
    with pytest.raises(SystemExit) as e:
        cli.main()
    return e.value.code, capsys.readouterr().err


@pytest.mark.parametrize("args, says", [
    (["--limit", "0"], "--limit must be at least 1"),
    (["--limit", "-2"], "--limit must be at least 1"),
    (["--subjects", "physics"], "unknown CMMLU subject physics"),
    (["--data", "/nonexistent/cmmlu"], "CMMLU data not found"),
])
def test_cli_bad_input_is_one_line_and_exit_2(monkeypatch, capsys, args, says):
    code, err = _main(monkeypatch, capsys, *args)
    assert code == 2 and err.startswith("error: ") and says in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_bad_model_paths_exit_2(monkeypatch, capsys, tmp_path):
    d = _csv(tmp_path, "0,q,a,b,c,d,A\n")
    _csv(tmp_path, "0,q,a,b,c,d,B\n", "computer_science")
    code, err = _main(monkeypatch, capsys, "--data", str(d), "--model", str(tmp_path / "missing.gguf"))
    assert code == 2 and "missing.gguf not found" in err and err.count("\n") == 1
    fake = tmp_path / "notes.gguf"
    fake.write_text("<html>not a model</html>", encoding="utf-8")
    code, err = _main(monkeypatch, capsys, "--data", str(d), "--model", str(fake))
    assert code == 2 and "is not a GGUF file" in err and err.count("\n") == 1


def test_cli_runs_and_writes_the_report(monkeypatch, capsys, tmp_path):
    d = _csv(tmp_path, "0,问题0,a,b,c,d,A\n1,问题1,a,b,c,d,B\n")
    _csv(tmp_path, "0,问题2,a,b,c,d,C\n", "computer_science")
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 60)
    monkeypatch.setattr("tutor.tutor.build_tutor", lambda settings=None: _stub_tutor(tmp_path))
    monkeypatch.setattr(cmmlu, "load_model", lambda p, s: _scripted("tiny", lambda m: "A")[0])
    from typer.testing import CliRunner

    from tutor.cli import app

    res = CliRunner().invoke(app, ["eval-cmmlu", "--data", str(d), "--model", str(gguf), "--limit", "2",
                                   "--out", str(tmp_path / "out"), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["n"] == 2 and rep["limit"] == 2 and rep["models"][0]["model"] == "tiny"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.json", "report.md", "report.png"]
