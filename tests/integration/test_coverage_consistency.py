"""The coverage decision at run time is the one calibrated: `Retriever.search`'s relevance equals
evals/coverage/calibrate.py's decision on the same question (real index, MiniLM + USE).

Session 40 shipped the query adapters with the domain classifier reading the ADAPTED USE vector
at run time while calibration scored the plain one; the blind round refused 5-6% of answerable
questions against 1.5-1.9% in cross-validation. This test pins the two paths together."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _calibrate():
    spec = importlib.util.spec_from_file_location("coverage_calibrate", ROOT / "evals" / "coverage" / "calibrate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_search_relevance_is_the_calibrated_decision(real_tutor, tmp_path, monkeypatch):
    from tutor.rag.retrieve import NAMED_COVERED_RELEVANCE
    from tutor.trust import neighbours

    cal = _calibrate()
    lines = []
    for name in ("tuning_coverage.jsonl", "tuning_oos_extra.jsonl"):  # in-scope and out-of-scope, both languages
        rows = [json.loads(x) for x in (ROOT / "evals" / "sets" / name).read_text(encoding="utf-8").splitlines() if x.strip()]
        lines += rows[:: max(1, len(rows) // 12)][:12]
    sample = tmp_path / "sample.jsonl"
    sample.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    monkeypatch.setattr(cal, "SETS", [str(sample)])  # ROOT / "evals/sets" / an absolute path = that path
    rows = cal.collect(real_tutor)
    model = real_tutor.retriever.coverage
    assert len(rows) == len(lines) >= 20 and {r["lang"] for r in rows} == {"zh", "en"} and {r["y"] for r in rows} == {0, 1}
    for r in rows:
        for h in r["hits"]:
            h["domain"] = model.domain_score(r["vec"])
        want = cal.decision(model.params[r["lang"]], r, cal.FEATURES[r["lang"]])
        # then the nearest-neighbour rule (trust/neighbours.py) on the same plain USE vector; no veto
        # when one note holds every term of the question (Retriever._with_neighbours)
        margin = model.bank.margin(r["vec"], real_tutor.index.multilingual.name)
        if margin is not None and margin > neighbours.VETO_MARGIN and max(h["coverage"] for h in r["hits"]) >= 1.0:
            margin = None
        want = neighbours.decide(want, margin)
        q = next(x["question"] for x in lines if x["id"] == r["id"])
        got = max(h.relevance for h in real_tutor.search(q, k=real_tutor.settings.top_k))
        # a named, fully covered note is lifted to NAMED_COVERED_RELEVANCE (retrieve.search), never lowered
        assert got == pytest.approx(want, abs=2e-3) or (got == NAMED_COVERED_RELEVANCE and want < got), (r["id"], q, got, want)
