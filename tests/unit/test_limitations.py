"""A note's English "Limitations: …" sentence (the last of its English summary; README "Which model answers"):
its own chunk, quoted for drawback questions in English, never ranked by retrieval nor used as
the grader's English reference (session 25: reviews 8-10 saw English learners get the Chinese
「缺点：」 line)."""

from __future__ import annotations

from tutor.quiz.grading import english_summary
from tutor.rag.chat import Source
from tutor.text import split_limitations


def test_split_limitations_takes_only_a_closing_limitations_sentence():
    assert split_limitations("LoRA freezes W0. Limitations: rank caps it; hyperparameters need tuning.") == (
        "LoRA freezes W0.", "Limitations: rank caps it; hyperparameters need tuning.")
    assert split_limitations("No drawbacks stated here.") == ("No drawbacks stated here.", "")
    # only at the end: a sentence mentioning limitations elsewhere stays in the description
    text = "Limitations: early. LoRA freezes W0."
    assert split_limitations(text) == (text, "")


def test_the_limitations_sentence_is_its_own_chunk_and_not_the_graders_reference(fake_tutor):
    note = fake_tutor.corpus.notes["3.4.2"]
    assert "Limitations: " in note.body and "Limitations" not in english_summary(note.body)
    idx = fake_tutor.retriever.index
    limits = [idx.chunks[c] for c in idx.by_node["3.4.2"] if idx.chunks[c].kind == "limits"]
    assert limits and limits[0].text.split("\n", 1)[1].startswith("Limitations: ")
    summary = next(idx.chunks[c] for c in idx.by_node["3.4.2"] if idx.chunks[c].heading == "English summary")
    assert "Limitations" not in summary.text
    assert all("Limitations" not in s for s in fake_tutor.chat.key_points_en["3.4.2"])


def test_a_limitations_chunk_is_never_ranked(fake_tutor):
    idx = fake_tutor.retriever.index
    lim = next(idx.chunks[c] for c in idx.by_node["3.4.2"] if idx.chunks[c].kind == "limits")
    # its own words as the query: the chunk itself would rank first if it were searchable
    for chapter in (None, "3"):
        hits = fake_tutor.retriever.search(lim.text.split("\n", 1)[1], k=10, chapter=chapter)
        assert hits and all(h.chunk.kind != "limits" for h in hits)


def test_an_english_drawback_question_quotes_the_english_limitations(fake_tutor):
    chat = fake_tutor.chat
    idx = chat.retriever.index
    srcs = [Source(n=1, id="3.4.2", title="LoRA", title_en="LoRA", score=0.03, relevance=0.9, snippet="",
                   chunk_ids=list(idx.by_node["3.4.2"][:2]))]
    en = chat._extractive("What are the drawbacks of LoRA?", srcs, "en")
    assert any(q.startswith("- Limitations: ") for q in en.split("\n")[1:]) and "缺点" not in en, en
    zh = chat._extractive("LoRA 有什么缺点？", srcs, "zh")
    assert any(q.startswith("- 缺点") for q in zh.split("\n")[1:]) and "Limitations" not in zh, zh


def test_a_question_asking_how_a_named_part_of_the_best_note_works_quotes_that_part(fake_tutor):
    """Review 11: 「混合专家模型（MoE）是怎么工作的？」 names 3.3.2 by an alias for a part of it (its
    sparse mixture of experts); with the name's words left out, 工作 alone chose Mistral 7B's
    release sentences. A question whose other words only ask how it works keeps the name's words."""
    chat = fake_tutor.chat
    idx = chat.retriever.index
    srcs = [Source(n=1, id="3.3.2", title="Mistral", title_en="Mistral", score=0.03, relevance=0.9, snippet="",
                   chunk_ids=[c for c in idx.by_node["3.3.2"] if idx.chunks[c].kind == "section"])]
    quotes = chat._extractive("混合专家模型（MoE）是怎么工作的？", srcs, "zh").split("\n")[1:]
    assert sum("专家" in q for q in quotes) >= 2, quotes
