"""Is this question covered by the notes? A relevance in [0, 1] per retrieved hit; the
question is covered when its best hit reaches `Settings.min_relevance` (0.5 by construction).
Signals (retrieve.TermStats for the term ones):

  known_coverage  IDF-weighted share of the question's terms the corpus knows that the hit's
                  note contains (one typo or slang word does not outweigh the real terms);
  oov             IDF-weighted share of the question's terms no chunk contains: what an
                  unrelated question ("红烧肉") is about, or typos;
  multilingual    cosine similarity of question and chunk under USE multilingual v3: a
                  paraphrase in the learner's own words, in either language, still scores;
  dense           cosine similarity under MiniLM, English questions only (MiniLM gives
                  unrelated Chinese texts 0.5-0.7, which carries no signal);
  concentration   English only: the share of the fused ranking's first 5 chunks that belong to
                  the first chunk's note (retrieve.note_concentration): a covered question tends
                  to draw several chunks of one note, an unrelated one scatters (session 42);
  domain          a linear classifier on the question's USE vector: does it read like a
                  question about this outline at all (positives: the notes' quiz questions,
                  key points and titles, and the tuning sets' in-scope questions; negatives:
                  the tuning sets' out-of-scope questions).

With the multilingual embedder configured, relevance is a logistic model of those signals,
per language, fitted on the tuning sets by evals/coverage/calibrate.py (never on the blind
sets) and stored in tutor/trust/coverage_params.json; its bias is shifted so that 0.5 is the
decision threshold. Without it (TUTOR_MULTILINGUAL=false, or the hash embedder in unit
tests) the term-only rule of v1 applies: English max(coverage, (dense - 0.25) / 0.5),
Chinese coverage (all terms), rescaled so that v1's calibrated threshold 0.30 lands on 0.5.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from tutor.trust import neighbours

PARAMS_FILE = Path(__file__).with_name("coverage_params.json")


LEGACY_THRESHOLD = 0.30  # v1's calibrated min_relevance (evals/sets/RETRIEVAL_NOTES.md)


def legacy_relevance(lang: str, coverage: float, dense: float | None) -> float:
    """v1 rule, in [0, 1] (MiniLM's unrelated-text floor of ~0.25 maps to 0), rescaled
    piecewise-linearly so that LEGACY_THRESHOLD maps to 0.5."""
    d = 0.0 if dense is None or lang != "en" else max(0.0, min(1.0, (dense - 0.25) / 0.5))
    r = max(d, coverage)
    t = LEGACY_THRESHOLD
    return 0.5 * r / t if r < t else 0.5 + 0.5 * (r - t) / (1 - t)


@dataclass
class CoverageModel:
    """Logistic relevance per language: σ(bias + Σ w_f · f) over the features coverage,
    multilingual, dense (English), domain. params: {"zh": {"bias", "coverage",
    "multilingual", "domain"}, "en": {..., "dense"}}; domain: {"bias", "weights": 512
    floats} over the question's USE vector. Empty params = the legacy rule."""

    params: dict[str, dict[str, float]] = field(default_factory=dict)
    domain: dict | None = None
    source: str = ""
    bank: neighbours.QuestionBank | None = None  # the nearest-neighbour rule (neighbours.py), applied by Retriever.search

    @classmethod
    def load(cls, path: Path = PARAMS_FILE) -> CoverageModel:
        """The shipped parameters (and question bank, neighbours.py); the legacy rule when the file does not exist."""
        if not path.is_file():
            return cls({}, None, "legacy")
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["params"], data.get("domain"), str(path.name), neighbours.load())

    def domain_score(self, qvec: list[float] | None) -> float | None:
        """The domain classifier's decision value (unbounded; > 0 reads as in the outline's
        domain) for a question's USE vector, or None without a classifier or vector."""
        if not self.domain or qvec is None or len(qvec) != len(self.domain["weights"]):
            return None
        return self.domain["bias"] + sum(w * x for w, x in zip(self.domain["weights"], qvec))

    def relevance(self, lang: str, coverage: float, multilingual: float | None, dense: float | None,
                  domain: float | None = None, **extra: float) -> float:
        """Relevance in [0, 1]. coverage: term coverage of the hit's note; multilingual / dense:
        cosine similarities; domain: `domain_score`; extra: further named features the params
        may weigh (known_coverage, oov: retrieve.TermStats; concentration: retrieve.note_concentration). A feature that is None or not
        in the params adds nothing; without multilingual the legacy rule applies."""
        p = self.params.get(lang)
        if multilingual is None or not p:
            return legacy_relevance(lang, coverage, dense)
        feats = {"coverage": coverage, "multilingual": multilingual, "dense": dense, "domain": domain, **extra}
        z = p["bias"] + sum(p.get(name, 0.0) * v for name, v in feats.items() if v is not None)
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))
