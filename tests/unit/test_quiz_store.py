"""Progress store edge cases and the mastery chart (with and without a CJK font). Store tests
run on SQLite and on PostgreSQL (`store_url`, tests/pg.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tutor.quiz.progress import Mastery, Progress
from tutor.quiz.schedule import Schedule

pytest_plugins = ["tests.pg"]
T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)


def test_unopenable_database_is_a_clear_error(tmp_path):
    with pytest.raises(Progress.Unavailable, match="TUTOR_DATABASE_URL"):
        Progress("nosuchdialect://x")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")  # (root ignores permissions, so block with a file)
    with pytest.raises(Progress.Unavailable, match="cannot open the progress store"):
        Progress(f"sqlite:///{blocker / 'sub' / 'p.db'}")


def test_an_unreachable_postgresql_server_is_a_one_line_error_within_seconds(monkeypatch):
    import socket
    import time

    from tutor.quiz import progress

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Progress.Unavailable, match="TUTOR_DATABASE_URL") as e:  # nothing listens there
        Progress(f"postgresql+psycopg://amy:secret@127.0.0.1:{port}/tutor")
    assert "\n" not in str(e.value) and "secret" not in str(e.value) and "refused" in str(e.value)
    monkeypatch.setattr(progress, "CONNECT_TIMEOUT_S", 2)
    with socket.socket() as s:  # a server that accepts the connection and never answers
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        t = time.monotonic()
        with pytest.raises(Progress.Unavailable, match="timeout.*TUTOR_DATABASE_URL") as e:
            Progress(f"postgresql+psycopg://amy@127.0.0.1:{s.getsockname()[1]}/tutor")
        assert time.monotonic() - t < 10 and "\n" not in str(e.value)


def test_record_is_visible_to_a_second_connection_at_once(store_url):
    url = store_url
    a, b = Progress(url), Progress(url)
    st = Schedule().review(None, "good", T0)
    a.record("u", "1.1.1/short-x", "1.1.1", "short", "答", 0.8, "correct", "good", 1200, T0, st)
    assert [r.answer for r in b.reviews("u")] == ["答"]  # committed, not pending
    assert b.cards("u")["1.1.1/short-x"].state.due == st.due
    assert b.users() == ["u"] and b.cards("nobody") == {} and b.reviews("nobody") == []


def _rows():
    return [Mastery("1", "注意力机制详解", 1, 0.62, 5, 21, 53, 12, 2, 20), Mastery("2", "Transformer架构", 1, 0.0, 0, 19, 47, 0, 0, 0),
            Mastery("5", "强化学习", 1, None, 0, 0, 0, 0, 0, 0)]


def test_chart_uses_a_cjk_font_when_installed(tmp_path):
    from tutor.quiz import progress_chart

    out = tmp_path / "m.png"
    notices = progress_chart.write_chart(_rows(), out, "小明")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (progress_chart.cjk_font() is None) == bool(notices)
    # fonts the system has are found even when matplotlib's cache predates them (`make test`
    # installs fonts-noto-cjk after the venv's first matplotlib import): failed before
    import shutil
    import subprocess

    if shutil.which("fc-list") and "CJK" in subprocess.run(["fc-list"], capture_output=True, text=True).stdout:
        assert progress_chart.cjk_font() is not None and notices == []


def test_chart_falls_back_without_a_cjk_font(tmp_path, monkeypatch):
    from tutor.quiz import progress_chart

    monkeypatch.setattr(progress_chart, "cjk_font", lambda: None)
    out = tmp_path / "m.png"
    notices = progress_chart.write_chart(_rows(), out, "u")
    assert out.stat().st_size > 5000 and notices and "fonts-noto-cjk" in notices[0]
