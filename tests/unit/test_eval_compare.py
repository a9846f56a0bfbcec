"""`tutor eval --compare` / `--baseline` pieces on fakes (hash embedder, scripted model): the
retriever comparison re-fuses exactly what Retriever.search returns, and the plain-LangChain
baseline splits, retrieves per note, answers, refuses and fails the way its docstring says.
The real figures come from `tutor eval` on the real index (README "Answer quality")."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import ROOT
from tutor.corpus import Corpus
from tutor.evaluate import baseline as bl
from tutor.evaluate.compare import CONFIGS, SHIPPED, Drift, compare
from tutor.evaluate.evaluation import EvalItem

ITEMS = [EvalItem(id="z1", lang="zh", question="缩放点积注意力为什么要除以根号d_k", expected_ids=["1.1.2"]),
         EvalItem(id="e1", lang="en", question="What is rotary position embedding (RoPE)?", expected_ids=["1.3.3"]),
         EvalItem(id="e2", lang="en", question="How does multi-head attention split the model dimension?", expected_ids=["1.2.1"]),
         EvalItem(id="o1", lang="zh", question="红烧肉怎么做？", expected_ids=[], out_of_scope=True),
         EvalItem(id="z2", lang="zh", question="什么是 SAC？", expected_ids=["5.3"])]  # a bare name: Retriever.search lifts 5.3


def test_compare_refuses_the_shipped_ranking_as_retriever_search_does(fake_tutor):
    got = compare(fake_tutor, ITEMS, check=10)
    assert got["_shipped"] == SHIPPED and set(got) - {"_shipped"} == set(CONFIGS)
    for name in CONFIGS:
        assert got[name]["zh"]["n"] == 2 and got[name]["en"]["n"] == 2  # in-scope items only
        for lang in ("zh", "en"):
            assert 0.0 <= got[name][lang]["hit@5"]["mean"] <= 1.0


def test_compare_names_the_item_when_the_fusion_drifts(fake_tutor, monkeypatch):
    import tutor.evaluate.compare as cmp

    monkeypatch.setattr(cmp, "WEIGHTS", {lang: {k: 0.0 for k in w} | {"bm25": 1.0} for lang, w in cmp.WEIGHTS.items()})
    with pytest.raises(Drift, match="z1|e1|e2"):
        compare(fake_tutor, ITEMS, check=3)


class _LLM:
    """A LangChain-like LLM: .stream(prompt) yields the scripted pieces or raises."""

    def __init__(self, replies):
        self.replies, self.prompts = list(replies), []

    def stream(self, prompt):
        self.prompts.append(prompt)
        r = self.replies.pop(0)
        if isinstance(r, Exception):
            raise r
        yield from r


@pytest.fixture
def small_corpus(tmp_path):
    root = tmp_path / "corpus"
    (root / "notes").mkdir(parents=True)
    shutil.copy(ROOT / "corpus" / "outline.md", root / "outline.md")
    for p in sorted((ROOT / "corpus" / "notes").rglob("*.md")):
        if p.name.startswith(("1.1.2", "1.3.3", "1.2.1")):
            dest = root / "notes" / p.relative_to(ROOT / "corpus" / "notes")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, dest)
    c = Corpus.load(root)
    assert set(c.notes) == {"1.1.2", "1.3.3", "1.2.1"}
    return c


def test_baseline_splits_every_note_and_keeps_its_id(small_corpus):
    docs = bl.split(small_corpus)
    assert {d.metadata["node_id"] for d in docs} == {"1.1.2", "1.3.3", "1.2.1"}
    assert max(len(d.page_content) for d in docs) <= bl.CHUNK_SIZE
    assert any(d.page_content.startswith("---") for d in docs)  # front matter included, as a tutorial would


def test_baseline_build_is_reused_and_scores_like_the_tutor(small_corpus, tmp_path):
    from tutor.rag.embed import hash_embedder

    emb = hash_embedder().embeddings
    rag = bl.PlainRAG.build(small_corpus, tmp_path / "work", emb)
    again = bl.PlainRAG.build(small_corpus, tmp_path / "work", emb)
    assert rag.chunks == again.chunks > 3
    ranked = rag.ranked_notes("RoPE rotary position embedding")
    assert set(ranked) <= {"1.1.2", "1.3.3", "1.2.1"} and len(ranked) == len(set(ranked))
    rag.llm = _LLM([["RoPE rotates ", "query and key vectors."], ["I don't know."], ["我", "不知道。"],
                    ValueError("Requested tokens (5000) exceed context window of 4096")])
    items = [ITEMS[1], ITEMS[2], ITEMS[3], EvalItem(id="z9", lang="zh", question="什么是 RoPE", expected_ids=["1.3.3"])]
    items[0] = items[0].model_copy(update={"reference": "RoPE rotates queries and keys.", "key_points": ["rotates query and key vectors"]})
    rep = bl.score(rag, items, embed=emb.embed_documents, answers=True)
    rows = {r["id"]: r for r in rep["answers"]["rows"]}
    assert rows["e1"]["covered"] and rows["e1"]["key_point_recall"] == 1.0 and rows["e1"]["answer_similarity"] is not None
    assert rows["e1"]["citations"] == [] and rows["e1"]["faithfulness"] is None and rows["e1"]["guard"] == "unchecked"
    assert not rows["e2"]["covered"] and not rows["o1"]["covered"]  # "don't know" / 不知道 = a refusal
    assert not rows["z9"]["covered"] and "exceed context window" in rows["z9"]["notices"][0]
    m = rep["answers"]["overall"]
    assert m["refused_out_of_scope"] == 1.0 and m["citation_recall"] == 0.0 and m["faithfulness"] is None
    assert rep["answers"]["errors"] == 1 and rep["retrieval"]["en"]["n"] == 2
    assert "Question: What is rotary position embedding (RoPE)?" in rag.llm.prompts[0]


def test_baseline_without_its_packages_says_how_to_add_them(monkeypatch, small_corpus):
    import builtins

    real = builtins.__import__

    def no_splitters(name, *a, **kw):
        if name.startswith("langchain_text_splitters"):
            raise ImportError("No module named 'langchain_text_splitters'", name="langchain_text_splitters")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_splitters)
    with pytest.raises(bl.BaselineUnavailable, match=r"pip install 'tutor\[baseline\]'"):
        bl.split(small_corpus)
