"""Answer trust on the real stack: the flagger with the real MiniLM on the labelled set
(regression guard for the numbers in evals/trust/REPORT.md), and the guard on real SmolLM2
answers through the Tutor and the CLI."""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import ROOT, run_cli
from tutor.trust.check import FALLBACK_HEADER, garbage_reasons

pytestmark = pytest.mark.integration

sys.path.insert(0, str(ROOT / "evals" / "trust"))


def test_flagger_precision_and_recall_on_the_labelled_set(real_embedder):
    import calibrate
    from tutor.trust.check import Flagger, cosine_embed

    items = calibrate.featurize(calibrate.load_items(), Flagger(cosine_embed(real_embedder)),
                                calibrate.note_contexts(real_embedder))
    assert len(items) >= 100 and {it["lang"] for it in items} == {"zh", "en"}
    m = calibrate.prf(items, calibrate.shipped_predictions(items))
    # REPORT.md: the shipped thresholds give precision 0.83, recall 0.93 on this set (cross-validated: 0.79, 0.87)
    assert m["precision"] >= 0.75 and m["recall"] >= 0.8, m
    for lang in ("zh", "en"):
        sub = [it for it in items if it["lang"] == lang]
        ml = calibrate.prf(sub, calibrate.shipped_predictions(sub))
        assert ml["precision"] >= 0.7 and ml["recall"] >= 0.75, (lang, ml)


def shown_is_safe(tutor, a) -> bool:
    """What the learner sees is either the extractive fallback quoting cited chunks verbatim,
    or passes every garbage check when re-checked against the retrieved chunks."""
    from tutor.text import split_sentences
    from tutor.trust.check import strip_citations

    ctx = [tutor.index.chunks[c].text for s in a.sources for c in s.chunk_ids]
    if a.guard["outcome"] == "fallback":
        notes = " ".join(" ".join(t.split()) for t in ctx + [kp for s in a.sources for kp in tutor.chat.key_points[s.id]])
        lines = a.answer.splitlines()
        return (lines[0] == FALLBACK_HEADER[a.lang] and "extractive_fallback" in a.notices and len(lines) > 1
                and all(strip_citations(line[2:]).rstrip("。.!！") in notes for line in lines[1:]))
    checks = tutor.chat.flagger.check(split_sentences(a.answer), ctx, a.lang)
    return (garbage_reasons(a.answer, a.lang, checks, tutor.chat.instructions(a.lang), tutor.chat.source_headers(a), a.question) == [] and a.sentences == split_sentences(a.answer)
            and a.unsupported == [c.index for c in checks if not c.supported])


@pytest.mark.parametrize("q", ["用中文说一句话介绍注意力机制", "What does LoRA freeze during fine-tuning?"])
def test_real_answers_are_never_shown_as_garbage(real_tutor, q):
    events = list(real_tutor.ask_stream(q))
    a = events[-1][1]
    kinds = [k for k, _ in events]
    assert a.guard["outcome"] in ("direct", "retried", "fallback")
    shown = ""
    for k, v in events:
        shown = v if k == "replace" else shown + v if k == "token" else shown
    assert shown.strip() == a.answer
    if a.guard["outcome"] != "direct":  # SmolLM2's retries measurably never stand: straight to the quotes
        from tutor.trust import policy

        retried = policy.retry_worthwhile(real_tutor.llm.name, real_tutor.settings.strict_retry)
        assert ("retry" in kinds) == retried and kinds.count("replace") == 1 and a.guard["reasons"][0]
        assert len(a.guard["reasons"]) == (2 if retried else 1)
    assert shown_is_safe(real_tutor, a), a.answer
    assert all(0 <= i < len(a.sentences) for i in a.unsupported)
    assert a.key_points and all(k["n"] in {s.n for s in a.sources} for k in a.key_points)


def test_cli_ask_json_has_the_trust_fields(real_home):
    # --mode checked: the model answers (the default model's default is quotes first, outcome "quoted");
    # 3 notes and 96 tokens: the JSON fields are what is checked here, not the answer's length
    r = run_cli(["ask", "--json", "--mode", "checked", "为什么注意力要除以根号d_k？"], real_home, timeout=600,
                env={"TUTOR_TOP_K": "3", "TUTOR_MAX_ANSWER_TOKENS": "96"})
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert isinstance(j["unsupported"], list) and all(isinstance(i, int) for i in j["unsupported"])
    assert all(0 <= i < len(j["sentences"]) for i in j["unsupported"])
    assert j["key_points"] and {"n", "id", "text"} <= set(j["key_points"][0])
    assert j["guard"]["outcome"] in ("direct", "retried", "fallback")
    if j["guard"]["outcome"] == "fallback":
        assert "extractive_fallback" in j["notices"] and j["unsupported"] == []


def test_answer_check_against_the_blind_labels(real_embedder):
    """Regression guard for REPORT.md §3: the detectors recomputed (real MiniLM) on the blind
    sample's first drafts and on the written short correct answers, each against the chunks it
    was checked with; the labels come from reviewers who never saw the detectors' output."""
    from types import SimpleNamespace

    from tutor.prompts import Prompts
    from tutor.rag.chat import Chat
    from tutor.text import split_sentences
    from tutor.trust.check import Flagger, cosine_embed

    rows = [json.loads(x) for x in (ROOT / "evals" / "trust" / "blind" / "checked.jsonl").read_text(encoding="utf-8").splitlines()]
    flagger = Flagger(cosine_embed(real_embedder))
    chat = SimpleNamespace(prompts=Prompts(ROOT / "prompts"))
    alarms, tp, fp, fn = [], 0, 0, 0
    for r in rows:
        checks = flagger.check(split_sentences(r["text"]), r["context"], r["lang"])
        reasons = garbage_reasons(r["text"], r["lang"], checks, Chat.instructions(chat, r["lang"]), r["headers"], r["question"])
        assert reasons == r["reasons"], r["id"]  # the recorded verdict is what the code gives
        if r["kind"] == "short" and r["answer_ok"] and reasons:
            alarms.append(r["id"])
        if r["kind"] == "draft":
            assert reasons and not r["answer_ok"]  # every draft was unfit to show, and rejected
            label = {x["i"]: x["label"] for x in r["labels"]}
            for c in checks:
                if c.checkable and label.get(c.index) in ("supported", "unsupported"):
                    bad = label[c.index] == "unsupported"
                    tp, fp, fn = tp + (bad and not c.supported), fp + (not bad and not c.supported), fn + (bad and c.supported)
    assert sum(r["kind"] == "short" and r["answer_ok"] for r in rows) >= 50
    assert len(alarms) <= 6, alarms  # REPORT.md §3: 6 of 60 correct short answers rejected ("unsupported")
    assert fp == 0 and tp >= 10, (tp, fp, fn)  # precision 1.0 (10/10), recall 10/34 on the drafts
