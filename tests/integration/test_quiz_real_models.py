"""The shipped grader with the real multilingual embedder on every item of the notes, and item
generation with the real SmolLM2 under a llama.cpp JSON-schema grammar."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from tutor.corpus import Corpus
from tutor.quiz.grading import Grader, english_summary
from tutor.quiz.items import ItemBank
from tutor.quiz.service import other_references

pytestmark = pytest.mark.integration


def test_every_short_items_reference_is_correct_and_every_misconception_wrong(real_multilingual):
    """All 254 short items of the notes with the shipped grader (USE + fitted verdict model):
    the note's own reference answer is graded correct (a worked calculation such as 5.2.1's
    reuses the question's words and numbers, and was once mistaken for a copied question), and
    every listed misconception is graded wrong (DESIGN §3; 340 of 515 before issue 13)."""
    corpus = Corpus.load(ROOT / "corpus")
    bank = ItemBank.build(corpus)
    grader = Grader.for_corpus(corpus, real_multilingual)
    not_correct, not_wrong, n = [], [], 0
    for it in (i for i in bank.items if i.type == "short" and not i.generated):
        args = (it.prompt, it.reference, list(it.key_points))
        extra = dict(english_reference=english_summary(bank.note(it).body), misconceptions=list(it.misconceptions),
                     others=other_references(bank, it))
        if grader.grade(*args, it.reference, **extra).verdict != "correct":
            not_correct.append(it.id)
        for m in it.misconceptions:
            n += 1
            if (v := grader.grade(*args, m, **extra).verdict) != "wrong":
                not_wrong.append((it.id, v, m[:30]))
    assert not_correct == [] and not_wrong == [] and n >= 500


def test_real_model_output_is_forced_into_the_schema(real_llm):
    """One grammar-constrained call. Grammar sampling over SmolLM2's 49k-token vocabulary is
    slow on CPU (about 1-2 tokens/s on 2 busy cores, ten times slower than free text), so the
    string limits are small and max_tokens covers them (1 token per character at worst). The
    validate / retry / drop logic around it is covered with scripted replies in
    tests/unit/test_quiz_parts.py."""
    from tutor.structured import complete_json

    note = Corpus.load(ROOT / "corpus").notes["3.4.2"]
    schema = {"type": "object", "required": ["front", "back"], "properties": {
        "front": {"type": "string", "minLength": 4, "maxLength": 24}, "back": {"type": "string", "minLength": 2, "maxLength": 32}}}
    msgs = [{"role": "user", "content": f"Write a flashcard about {note.meta.title_en}. Reply with JSON."}]
    obj = complete_json(real_llm, msgs, schema, max_tokens=90)
    assert set(obj) == {"front", "back"}
    assert 4 <= len(obj["front"]) <= 24 and 2 <= len(obj["back"]) <= 32
