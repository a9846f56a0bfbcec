"""Progress store edge cases and the mastery chart (with and without a CJK font)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tutor.quiz.progress import Mastery, Progress
from tutor.quiz.schedule import Schedule

T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)


def test_unopenable_database_is_a_clear_error(tmp_path):
    with pytest.raises(Progress.Unavailable, match="TUTOR_DATABASE_URL"):
        Progress("nosuchdialect://x")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")  # (root ignores permissions, so block with a file)
    with pytest.raises(Progress.Unavailable, match="cannot open the progress store"):
        Progress(f"sqlite:///{blocker / 'sub' / 'p.db'}")


def test_record_is_visible_to_a_second_connection_at_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
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
