"""The real `tutor` CLI in subprocesses: user mistakes exit 2 with one clear line, no traceback."""

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.integration


def one_line_error(p, *words):
    err = p.stderr.strip().splitlines()
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert "Traceback" not in p.stderr
    assert any(all(w in line for w in words) for line in err), p.stderr


@pytest.mark.parametrize("q", ["", "   "])
def test_empty_question(real_home, q):
    one_line_error(run_cli(["ask", q], real_home), "empty")


def test_over_long_question(real_home):
    one_line_error(run_cli(["ask", "注意力" * 1400], real_home), "4,000", "shorten")


def test_missing_model_file_names_path_and_setting(real_home, tmp_path):
    missing = tmp_path / "nope.gguf"
    p = run_cli(["ask", "什么是 LoRA？"], real_home, env={"TUTOR_MODEL_PATH": str(missing)})
    one_line_error(p, str(missing), "TUTOR_MODEL_PATH")


def test_missing_index_says_run_ingest(tmp_path):
    one_line_error(run_cli(["search", "LoRA"], tmp_path / "fresh"), "tutor ingest")


def test_unknown_chapter(real_home):
    one_line_error(run_cli(["search", "LoRA", "--chapter", "42"], real_home), "1 to 16")


def test_search_json_contract(real_home):
    import json

    p = run_cli(["search", "Transformer 注意力", "-k", "3", "--json"], real_home)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["query"] == "Transformer 注意力" and len(out["hits"]) == 3
    assert set(out["hits"][0]) == {"id", "title", "title_en", "chapter", "section", "score", "text"}
    assert len({h["id"] for h in out["hits"]}) == 3  # one hit per note by default
    p = run_cli(["search", "RoPE", "-k", "8", "--json", "--all-chunks"], real_home)
    ids = [h["id"] for h in json.loads(p.stdout)["hits"]]
    assert p.returncode == 0 and len(ids) == 8 and len(set(ids)) < 8  # RoPE's note has several chunks
    # the human listing says what its two numbers mean (review 25: "relevance 1.00" on every hit)
    p = run_cli(["search", "RoPE", "-k", "2"], real_home)
    lines = p.stdout.strip().splitlines()
    assert p.returncode == 0 and len(lines) == 3 and "covered" in lines[0] and lines[-1].startswith("score: reciprocal rank fusion")


HOLD_LOCK = """
import sys, time
from pathlib import Path
from tutor.rag.index import _flock
with _flock(Path(sys.argv[1]) / 'index' / '.lock', exclusive=True, timeout_s=5, what='x'):
    print('locked', flush=True)
    time.sleep(120)
"""


def test_second_process_fails_fast_while_one_writes(real_home, tmp_path):
    import shutil

    # a private copy: the shared index is read by other xdist workers, which the held lock would block
    real_home = shutil.copytree(real_home, tmp_path / "home")
    writer = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(real_home)], stdout=subprocess.PIPE, text=True,
                              cwd=str(ROOT))
    try:
        assert writer.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        p = run_cli(["search", "LoRA"], real_home, env={"TUTOR_LOCK_TIMEOUT_S": "2"}, timeout=120)
        assert time.monotonic() - t0 < 60
        one_line_error(p, "being written by another process", f"pid {writer.pid}")
        p = run_cli(["ingest"], real_home, env={"TUTOR_LOCK_TIMEOUT_S": "1"}, timeout=120)
        one_line_error(p, "being written by another process")
    finally:
        writer.kill()
        writer.wait()


def test_real_ingest_and_reader_do_not_hang(tmp_path, real_embedder):
    """A real `tutor ingest --rebuild` writing while a second process searches: the reader
    either waits briefly and succeeds or fails fast with the lock message; the rebuild then
    completes. The writer is frozen (SIGSTOP) once it holds the index, so the two always meet
    however fast the machine is; MiniLM alone (the lock is what is tested, not the embedders)."""
    import signal

    from tests.conftest import make_settings
    from tests.integration.test_index_faults import FEW, write_corpus
    from tutor.corpus import Corpus
    from tutor.rag.index import Index

    home = tmp_path / "h"
    # chapter 1 of the outline and four of its notes (61 chunks): the writer is frozen once it
    # holds the index, so the size of the corpus only sets how long the rebuild runs afterwards
    corpus = write_corpus(tmp_path / "corpus", FEW)
    Index.ingest(make_settings(home, corpus_dir=corpus), real_embedder, Corpus.load(corpus))  # the index readers use
    cli_env = {"TUTOR_CORPUS_DIR": str(corpus), "TUTOR_MULTILINGUAL": "false"}
    env = {**os.environ, "TUTOR_HOME": str(home), "TUTOR_PROMPTS_DIR": str(ROOT / "prompts"), **cli_env}
    w = subprocess.Popen([sys.executable, "-m", "tutor.cli", "ingest", "--rebuild"], env=env, cwd=str(tmp_path),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not (home / "index" / ".writer").exists() or (home / "index" / ".writer").read_text() != str(w.pid):
            assert time.monotonic() < deadline and w.poll() is None
            time.sleep(0.05)
        os.kill(w.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        p = run_cli(["search", "LoRA"], home, env={"TUTOR_LOCK_TIMEOUT_S": "3", **cli_env}, timeout=120)
        assert time.monotonic() - t0 < 60
        assert p.returncode == 0 or ("being written" in p.stderr and p.returncode == 2), p.stderr
    finally:
        os.kill(w.pid, signal.SIGCONT)
        w.wait(timeout=600)
    assert w.returncode == 0


def test_doctor_reports_model_template_gpu_embedding_and_index(real_home):
    import json

    p = run_cli(["doctor", "--json"], real_home)
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["model"]["exists"] and rep["model"]["size_mb"] > 50 and "im_start" in rep["model"]["chat_template"]
    assert isinstance(rep["gpu"]["offload_supported"], bool) and rep["gpu"]["n_gpu_layers"] == 0
    assert rep["embedding"] == {"name": "all-MiniLM-L6-v2", "dim": 384, "max_seq_length": 256,
                                "multilingual": {"name": "use-multilingual-v3", "dim": 512}}
    assert (rep["index"]["multilingual_model"], rep["index"]["multilingual_dim"]) == ("use-multilingual-v3", 512)
    assert rep["index"]["built"] and rep["index"]["chunks"] > 1000
    assert any("SmolLM2-135M is tiny" in w for w in rep["warnings"])
    assert rep["paths"]["home"] == str(real_home)
