"""The real `tutor quiz / progress / path` CLI in subprocesses: bad input exits 2 with one
line, a killed quiz keeps every submitted answer, and a 10-question Chinese round runs end
to end on the real embedding model (grading needs no LLM)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tutor.corpus import Corpus
from tutor.quiz.items import ItemBank
from tutor.quiz.service import tour

pytestmark = pytest.mark.integration


def _reviews(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    con = sqlite3.connect(db)
    try:
        return con.execute("select item_id, answer, verdict from reviews order by id").fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        con.close()


def test_unknown_chapter_and_bad_files_exit_2_with_one_line(tmp_path):
    home = tmp_path / "home"
    r = run_cli(["quiz", "--chapter", "99"], home)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == ["error: 未知的章节 '99'；请用 1 到 16 的章节号 / unknown chapter '99'; use a chapter number from 1 to 16"]
    # review 17: a section given as a chapter says which flag to use; a blank --user is refused
    r = run_cli(["quiz", "--chapter", "7.1"], home)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: '7.1' 是小节编号，不是章节号；小节请用 --section 7.1 / '7.1' is a section id, not a chapter; for a section use --section 7.1"]
    r = run_cli(["progress", "--user", " "], home)
    assert r.returncode == 2 and "--user is blank" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(["quiz", "--section", "3.9"], home)
    assert r.returncode == 2 and "unknown section '3.9'" in r.stderr
    r = run_cli(["quiz", "--topic", "3.9.9"], home)
    assert r.returncode == 2 and "3.9.9" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    r = run_cli(["progress", "--import", str(bad)], home)
    assert r.returncode == 2 and "tutor progress --export" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(["quiz", "--mode", "sometimes"], home)
    assert r.returncode == 2 and "use one of due, weak, new, mixed" in r.stderr


def test_killed_mid_quiz_loses_no_submitted_answer(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "TUTOR_HOME": str(home), "TUTOR_CORPUS_DIR": str(ROOT / "corpus"), "TUTOR_PROMPTS_DIR": str(ROOT / "prompts")}
    p = subprocess.Popen([sys.executable, "-m", "tutor.cli", "quiz", "--chapter", "1", "--type", "choice", "-n", "5", "--user", "k"],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for k, ans in enumerate(["A", "B", "C"], 1):
            p.stdin.write(ans + "\n")
            p.stdin.flush()
            deadline = time.time() + 60
            while len(_reviews(home / "progress.db")) < k and time.time() < deadline:
                time.sleep(0.1)
        assert len(_reviews(home / "progress.db")) == 3
        os.kill(p.pid, signal.SIGKILL)  # mid-quiz: question 4 is waiting for input
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == -signal.SIGKILL
    rows = _reviews(home / "progress.db")
    assert [r[1] for r in rows] == ["A", "B", "C"]
    con = sqlite3.connect(home / "progress.db")
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert con.execute("select count(*) from cards").fetchone()[0] == 3
    con.close()


def test_chinese_round_of_ten_end_to_end_then_progress_and_path(tmp_path):
    home = tmp_path / "home"
    bank = ItemBank.build(Corpus.load(ROOT / "corpus"))
    # a fresh user in mixed mode gets new items in outline order, one per note before a second of any
    items = tour(bank.select("2.1"))[:10]
    lines, expect, empty_short = [], [], False
    for k, it in enumerate(items):
        if it.type == "choice":
            lines.append("?")  # one hint first
            lines.append("ABCD"[it.answer] if k % 2 == 0 else "ABCD"[(it.answer + 1) % 4])
            expect.append("correct" if k % 2 == 0 else "wrong")
        elif it.type == "short":
            lines.append(it.reference if empty_short else "")  # the first short answer empty, then full ones
            expect.append("correct" if empty_short else "wrong")
            empty_short = True
        else:
            lines += ["", "3"]  # reveal the back, rate Good
            expect.append("correct")
    r = run_cli(["quiz", "--section", "2.1", "-n", "10", "--user", "小明"], home, input="\n".join(lines) + "\n", timeout=600)
    assert r.returncode == 0, r.stderr
    assert "round summary — 10 answered" in r.stdout and "hint 1/3" in r.stdout
    assert ("没有作答" in r.stdout) == empty_short
    summary = r.stdout.split("round summary")[-1]  # review 11: rows named items by their ids
    assert not any(i.id in summary for i in items) and items[0].note_id in summary
    con = sqlite3.connect(home / "progress.db")
    got = con.execute("select item_id, verdict from reviews order by id").fetchall()
    con.close()
    assert [g[0] for g in got] == [i.id for i in items]
    assert [g[1] for g in got] == expect
    r = run_cli(["progress", "--user", "小明", "--json", "--png", str(tmp_path / "p.png")], home)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    ch2 = next(c for c in data["chapters"] if c["id"] == "2")
    assert ch2["reviews"] == 10 and 0 < ch2["mastery"] < 1
    assert (tmp_path / "p.png").stat().st_size > 10_000
    r = run_cli(["path", "--user", "小明", "--json"], home)
    steps = json.loads(r.stdout)["steps"]
    assert steps and all(s["reason"] for s in steps)


def _env(home: Path) -> dict:
    return {**os.environ, "TUTOR_HOME": str(home), "TUTOR_CORPUS_DIR": str(ROOT / "corpus"),
            "TUTOR_PROMPTS_DIR": str(ROOT / "prompts"), "PYTHONUNBUFFERED": "1"}


@pytest.mark.parametrize("raw", [b"abc \xff\xfe \xe6\xba\xa2\xe5\x87\xba\n", b"\xff\n"])
def test_answer_with_invalid_utf8_is_graded_and_stored(tmp_path, raw):
    """`printf 'abc \\xff\\xfe 溢出\\n' | tutor quiz ...` raised TypeError in the grader's
    embedding, `printf '\\xff\\n'` UnicodeEncodeError in the store (issue 13)."""
    home = tmp_path / "home"
    p = subprocess.run([sys.executable, "-m", "tutor.cli", "quiz", "--topic", "1.1.2", "--type", "short", "-n", "1", "--user", "u"],
                       input=raw + b"/quit\n", capture_output=True, env=_env(home), timeout=600, cwd=str(tmp_path))
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 0 and "Traceback" not in err, err[-2000:]
    out = p.stdout.decode("utf-8")  # valid UTF-8 all the way
    assert "not valid UTF-8" in out and "round summary — 1 answered" in out
    rows = _reviews(home / "progress.db")
    assert len(rows) == 1 and "\ufffd" in rows[0][1]


def test_ctrl_c_while_grading_keeps_the_answer_and_says_so(tmp_path):
    """Ctrl-C while an answer is being graded dropped it without a word (issue 13): now the
    answer is graded and stored first, then the round stops with a notice."""
    import threading

    home = tmp_path / "home"
    p = subprocess.Popen([sys.executable, "-m", "tutor.cli", "quiz", "--topic", "1.1.2", "--type", "short", "-n", "2", "--user", "c"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(home), cwd=str(tmp_path))
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.extend(iter(lambda: p.stdout.read1(4096), b"")), daemon=True)
    reader.start()
    try:
        # typed before the question appears, so grading starts the moment input() returns
        # while the grader (embedding model, IDF over the notes) is still loading
        p.stdin.write("点积的方差是 d_k，所以除以 √d_k 让方差回到 1。\n".encode())
        p.stdin.flush()
        deadline = time.time() + 300
        while b"your answer>" not in b"".join(out) and time.time() < deadline and p.poll() is None:
            time.sleep(0.05)
        time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        p.wait(300)
    finally:
        if p.poll() is None:
            p.kill()
    reader.join(5)
    text = b"".join(out).decode("utf-8")
    err = p.stderr.read().decode("utf-8", "replace")
    assert "Traceback" not in err, err[-2000:]
    assert len(_reviews(home / "progress.db")) == 1, text[-2000:]
    assert "your last answer was saved" in text
