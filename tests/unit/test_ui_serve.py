"""Serving rules (ui/serve.py) and the app's wiring (ui/app.py) without launching a server."""

from __future__ import annotations

import pytest

from tests.conftest import make_settings, run_cli
from ui.serve import BadServe, check_bind, parse_auth, serve


@pytest.mark.parametrize("auth,pairs", [
    ("ann:pw", [("ann", "pw")]),
    ("ann:p:w", [("ann", "p:w")]),  # a password may hold ':'
    (None, None), ("", None),
])
def test_parse_auth(auth, pairs):
    assert parse_auth(auth) == pairs


def test_parse_auth_file(tmp_path):
    f = tmp_path / "users.txt"
    f.write_text("# learners\nann:pw1\n\nbob:pw2\n", encoding="utf-8")
    assert parse_auth(str(f)) == [("ann", "pw1"), ("bob", "pw2")]


@pytest.mark.parametrize("auth", ["ann", ":pw", "ann:", "   "])
def test_parse_auth_rejects_malformed(auth):
    with pytest.raises(BadServe, match="user:password"):
        parse_auth(auth)


@pytest.mark.parametrize("host,creds,insecure,ok", [
    ("127.0.0.1", None, False, True), ("localhost", None, False, True), ("::1", None, False, True),
    ("0.0.0.0", None, False, False), ("192.168.1.5", None, False, False),
    ("0.0.0.0", [("a", "b")], False, True), ("0.0.0.0", None, True, True),
])
def test_public_bind_needs_auth_or_insecure(host, creds, insecure, ok):
    if ok:
        check_bind(host, creds, insecure)
    else:
        with pytest.raises(BadServe, match="--auth"):
            check_bind(host, creds, insecure)


def test_serve_refuses_before_loading_anything():
    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"serve touched tutor.{name} before checking the bind")

    with pytest.raises(BadServe):
        serve(Untouchable(), "0.0.0.0", 7999)


def test_cli_public_host_without_auth_exits_2(tmp_path):
    r = run_cli(["ui", "--host", "0.0.0.0", "--port", "7999"], tmp_path / "home", timeout=120)
    assert r.returncode == 2 and "--auth" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


def test_cli_ui_with_an_unreachable_progress_server_exits_2_before_serving(tmp_path):
    """A wrong TUTOR_DATABASE_URL stops the start in one line (it used to start, then fail in
    the Progress tab with a traceback in the log)."""
    url = f"postgresql+psycopg://tutor:pw@127.0.0.1:{_closed_port()}/tutor"
    r = run_cli(["ui", "--port", str(_closed_port())], tmp_path / "home", env={"TUTOR_DATABASE_URL": url}, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1 and "cannot open the progress store" in r.stderr
    assert "start the database server" in r.stderr and "TUTOR_HOME" not in r.stderr  # a server URL: the home is not the cause
    assert "Running on" not in r.stdout


def test_progress_tab_shows_a_notice_when_the_store_cannot_be_opened(fake_tutor):
    from ui import progress

    fake_tutor.settings.database_url = f"postgresql+psycopg://tutor:pw@127.0.0.1:{_closed_port()}/tutor"
    fake_tutor.__dict__.pop("quiz", None)
    v = progress.overview(fake_tutor, "alice")
    assert v.chart is None and v.history == [] and len(v.notices) == 1
    assert "cannot open the progress store" in v.notices[0] and "\n" not in v.notices[0]


def test_builder_returns_unlaunched_blocks_with_serialized_model_calls(tmp_path):
    import gradio as gr

    from tutor.tutor import build_tutor
    from ui.app import build_app

    app = build_app(build_tutor(make_settings(tmp_path / "home")))  # no index, no model: nothing loads
    assert isinstance(app, gr.Blocks) and not app.is_running
    fns = {f.api_name: f for f in app.fns.values() if f.api_name}
    assert {"chat", "stop", "clear", "guide_answer", "browse", "quiz_start", "quiz_submit", "quiz_hint", "progress"} <= set(fns)
    llm_fns = {f.api_name for f in app.fns.values() if f.concurrency_id == "llm"}
    assert llm_fns >= {"chat", "guide_answer"} and all(fns[n].concurrency_limit == 1 for n in llm_fns if n in fns)
    for name in ("browse", "stop", "quiz_start", "quiz_submit", "progress"):  # never wait behind the model
        assert fns[name].concurrency_limit is None and fns[name].concurrency_id != "llm", name
