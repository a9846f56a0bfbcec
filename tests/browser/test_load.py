"""Short load test (`make soak` is the 2-minute one): 16 gradio_client sessions on the real app
(real index, MiniLM + USE, SmolLM2 at temperature 0) on 127.0.0.1, mixing chat (2 learners),
Browse look-ups and quiz rounds (14). No errors, never two model generations at once, look-ups and
quizzes not queued behind the model, memory flat. TUTOR_LOAD_S sets the duration (s)."""

from __future__ import annotations

import os
from dataclasses import asdict

import pytest

from benchmarks.soak import Bounds, launch, run_load
from tests.conftest import make_settings

pytestmark = pytest.mark.integration

LOAD_S = float(os.environ.get("TUTOR_LOAD_S", 30))
ANSWER_TOKENS = 64  # short answers: chat learners share one model on 2 cores


@pytest.fixture(scope="module")
def load_tutor(ui_tutor, real_llm, real_embedder, real_multilingual, tmp_path_factory):
    """The browser tests' index and models, with its own progress database (16 learners' rounds
    must not show up in the other tests' learner lists)."""
    from tutor.tutor import build_tutor

    db = tmp_path_factory.mktemp("load-progress") / "progress.db"
    s = make_settings(ui_tutor.settings.home, max_answer_tokens=ANSWER_TOKENS, database_url=f"sqlite:///{db}",
                      multilingual=True, temperature=0.0)
    return build_tutor(s, llm=real_llm, embedder=real_embedder, multilingual=real_multilingual)


def test_sixteen_clients_mixed_load(load_tutor, record_property):
    app, url = launch(load_tutor)
    try:
        rep = run_load(url, load_tutor, duration_s=LOAD_S, clients=16, chat_every=8)
    finally:
        app.close()
    print("\n" + rep.table())
    for k, v in asdict(rep).items():
        record_property(k, v)
    # chat requests queue behind each other by design (one model); search and quiz must not
    # one answer can outlast the run on 2 busy cores: answers need not complete, but the
    # model must have been contended for (2 chats in flight) and generating (2+ generations)
    assert rep.broken(Bounds(min_completed_chats=0)) == [], rep.table()
    assert rep.generations >= 2, rep.table()
