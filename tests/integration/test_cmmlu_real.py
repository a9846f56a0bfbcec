"""The CMMLU check on the real stack: SmolLM2-135M (temperature 0) answers a few CMMLU
questions under the llama.cpp grammar `root ::= [ABCD]`, closed-book and with retrieval from
a real index (MiniLM + USE, Chroma on disk in a tmp dir) over the outline and four notes of
chapter 7: small enough to build in a minute when this file runs alone, and with the session's
memoised embedders mostly vectors the full index already computed. Six closed-book questions
(~2 s each on 1 thread) and two questions in both conditions (~10 s each: ~850-token
retrieval prompts) keep the model time near 30 s; the full run's figures are in
evals/reports/cmmlu/."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import ROOT, make_settings
from tutor.evaluate import cmmlu

pytestmark = pytest.mark.skipif(not (cmmlu.DEFAULT_DATA_DIR / "machine_learning.csv").is_file(),
                                reason=f"CMMLU data not at {cmmlu.DEFAULT_DATA_DIR} (external, see SOURCE.md)")

N = 6
N_RUN = 2  # questions through the whole run (both conditions)


@pytest.fixture(scope="module")
def questions():
    return cmmlu.spread(cmmlu.load(cmmlu.DEFAULT_DATA_DIR, list(cmmlu.SUBJECTS)), N)


def test_closed_book_answers_are_single_letters_and_repeatable(real_llm, questions):
    from tutor.prompts import Prompts
    from tutor.resources import resource_dir

    choose = cmmlu.GrammarChooser(real_llm)
    prompts = Prompts(resource_dir("prompts"))
    first = [choose(cmmlu.messages_for(prompts, q, None)) for q in questions]
    assert all(a in ("A", "B", "C", "D") for a in first), first
    assert choose(cmmlu.messages_for(prompts, questions[0], None)) == first[0]  # greedy: the same again


@pytest.fixture(scope="module")
def small_tutor(tmp_path_factory, real_embedder, real_multilingual, real_llm):
    from tutor.tutor import build_tutor

    root = tmp_path_factory.mktemp("cmmlu")
    corpus = root / "corpus"
    (corpus / "notes" / "ch07").mkdir(parents=True)
    shutil.copy(ROOT / "corpus" / "outline.md", corpus / "outline.md")
    for note in sorted((ROOT / "corpus" / "notes" / "ch07").glob("*.md"))[:4]:
        shutil.copy(note, corpus / "notes" / "ch07" / note.name)
    t = build_tutor(make_settings(root / "home", corpus_dir=corpus, multilingual=True), llm=real_llm,
                    embedder=real_embedder, multilingual=real_multilingual)
    t.ingest()
    return t


def test_both_conditions_run_with_real_retrieval(small_tutor, real_llm, questions):
    chooser = cmmlu.GrammarChooser(real_llm)
    # the session's model, not a second copy; it is not closed after the run (no close())
    model = cmmlu.Model(real_llm.name, chooser, chooser.count_tokens, str(real_llm.path))
    qs = cmmlu.spread(questions, N_RUN)
    rep = cmmlu.run(small_tutor, qs, [real_llm.path], cmmlu.DEFAULT_DATA_DIR, limit=N_RUN, load=lambda p, s: model)
    assert rep["n"] == N_RUN and rep["coverage"]["covered"] + rep["coverage"]["not_covered"] == N_RUN
    m = rep["models"][0]
    for cond in cmmlu.CONDITIONS:
        g = m["conditions"][cond]["overall"]
        assert g["accuracy"]["n"] == N_RUN and sum(g["letters"].values()) == N_RUN
    for row in rep["rows"]:
        assert set(row["answers"][real_llm.name].values()) <= set("ABCD")
        assert len(row["context_ids"]) == cmmlu.CONTEXT_CHUNKS  # a real index always returns chunks
    # the retrieval prompt stays short: the notes are trimmed to the budget
    assert m["prompt_tokens_mean"]["retrieval"] < m["prompt_tokens_mean"]["closed_book"] + cmmlu.CONTEXT_TOKENS + 100
