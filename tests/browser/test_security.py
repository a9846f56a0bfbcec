"""The promises of SECURITY.md, each checked on the real app or the real CLI: loopback by
default, credentials for anything else (a network address or a share link), only the app's
own files served, one learner's progress out of another's reach, no secret in the output."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, run_cli, wait_for_http
from ui.serve import BadServe, serve

from .conftest import free_port

pytestmark = pytest.mark.integration


def _lan_address() -> str | None:
    """This machine's non-loopback address (no packet is sent), or None when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


# -- binding -------------------------------------------------------------------------------

def test_default_bind_is_loopback_only(ui_tutor, monkeypatch):
    """`tutor ui` with the default settings answers on 127.0.0.1 and not on the LAN address,
    and opens no share link even when Gradio's own GRADIO_SHARE asks for one."""
    from tutor.config import Settings

    monkeypatch.setenv("GRADIO_SHARE", "True")
    host = Settings.model_fields["host"].default
    assert host == "127.0.0.1"
    port = free_port()
    app, url = serve(ui_tutor, host, port, block=False)
    try:
        assert httpx.get(url + "config", timeout=10).status_code == 200
        assert app.share_url is None and url.startswith("http://127.0.0.1:")
        lan = _lan_address()
        if lan:
            with pytest.raises(OSError):
                socket.create_connection((lan, port), timeout=3).close()
    finally:
        app.close()


@pytest.mark.parametrize("args,env,needs", [
    (["ui", "--host", "0.0.0.0"], {}, "--auth"),
    (["ui"], {"TUTOR_HOST": "0.0.0.0"}, "--auth"),
    (["ui", "--share"], {}, "--auth"),
    (["serve", "--host", "0.0.0.0"], {}, "--token"),
    (["serve"], {"TUTOR_HOST": "192.168.1.10"}, "--token"),
], ids=["ui-host", "ui-env-host", "ui-share", "serve-host", "serve-env-host"])
def test_network_or_share_without_credentials_is_refused(tmp_path, args, env, needs):
    """Exit 2 with one line naming the option to add, before anything is served."""
    p = run_cli([*args, "--port", str(free_port())], tmp_path / "home", env=env, timeout=120)
    assert p.returncode == 2, p.stdout + p.stderr
    assert needs in p.stderr and "--insecure" in p.stderr and "Traceback" not in p.stderr


def test_share_link_needs_auth_before_anything_loads():
    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"serve touched tutor.{name} before checking --share")

    with pytest.raises(BadServe, match="--share"):
        serve(Untouchable(), "127.0.0.1", free_port(), share=True)


# -- files ---------------------------------------------------------------------------------

def _raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET `path` exactly as written (no client-side ../ normalisation)."""
    u = httpx.URL(url)
    c = http.client.HTTPConnection(u.host, u.port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def test_only_the_apps_own_files_are_served(ui_url, ui_tutor):
    """System files, the data dir, the repository and other temp files stay unreachable through
    every file route, with or without ../ and percent-encoding; a chart the app itself returned
    is reachable (so the routes are the right ones)."""
    from gradio_client import Client

    marker = f"tutor-secret-{os.getpid()}"
    stray = Path(tempfile.mkdtemp()) / "stray.txt"  # a temp file the app never returned
    stray.write_text(marker, encoding="utf-8")
    db = Path(ui_tutor.settings.database_url.removeprefix("sqlite:///"))
    targets = {"/etc/passwd": b"root:", "/proc/self/environ": b"PATH=", str(stray): marker.encode(),
               str(db): b"SQLite format", str(ROOT / "README.md"): b"offline AI/ML tutor",
               str(ui_tutor.settings.index_dir / "manifest.json"): b'"embedding_model"',
               "README.md": b"offline AI/ML tutor", "pyproject.toml": b"[project]"}
    served = []
    for target, snippet in targets.items():
        rel = "../" * 12 + target.lstrip("/")
        enc = rel.replace("/", "%2F").replace(".", "%2e")
        for p in [f"/gradio_api/file={target}", f"/file={target}", f"/gradio_api/file={rel}", f"/gradio_api/file={enc}",
                  f"/gradio_api/file=/tmp/gradio/{rel}", f"/gradio_api/file=/tmp/gradio/{enc}", f"/assets/{rel}",
                  f"/static/{rel}", f"/gradio_api/static/{rel}", f"/{rel}", f"/{enc}"]:
            status, body = _raw_get(ui_url, p)
            if snippet in body:
                served.append((p, status))
    assert served == [], f"served outside the app's files: {served[:5]}"

    # positive control: the progress chart the app returned is fetchable by its URL
    chart = Client(ui_url, verbose=False, download_files=False).predict("sec-chart", api_name="/progress")[1]
    if chart:
        ref = chart["url"] if isinstance(chart, dict) else chart
        got = httpx.get(ref if ref.startswith("http") else ui_url + "gradio_api/file=" + ref, timeout=10)
        assert got.status_code == 200 and got.content[:4] == b"\x89PNG"


# -- learners ------------------------------------------------------------------------------

def _label(tutor, question: str) -> str:
    """The first option of the choice item asking `question`, as the radio shows it."""
    item = next(i for i in tutor.quiz.bank.items if i.prompt == question)
    return f"A. {item.options[0]}"


def _seed(tutor, learner: str) -> str:
    """One graded choice answer for `learner`; returns its note id."""
    item = tutor.quiz.next_items(learner, mode="new", type="choice", n=1)[0]
    tutor.quiz.grade(learner, item.id, item.answer)
    return item.note_id


@pytest.fixture
def auth_app(ui_tutor, tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("sec-ann:pw-ann-1\nsec-bob:pw-bob-2\n", encoding="utf-8")
    app, url = serve(ui_tutor, "127.0.0.1", free_port(), auth=str(users), block=False)
    yield url
    app.close()


def test_logged_in_learner_cannot_read_or_rate_anothers_cards(ui_tutor, auth_app):
    """Ann, logged in, names Bob in every learner field of the API: she sees and changes only
    her own progress, and the learner list shows her alone."""
    from gradio_client import Client

    store = ui_tutor.quiz.store
    bob_note = _seed(ui_tutor, "sec-bob")
    bob_before = [(r.item_id, r.verdict) for r in store.reviews("sec-bob")]
    ann = Client(auth_app, auth=("sec-ann", "pw-ann-1"), verbose=False, download_files=False)

    history = ann.predict("sec-bob", api_name="/progress")[5]
    rows = [r for r in history["data"] if any(str(c).strip() for c in r)]
    assert rows == [], f"Ann saw Bob's review history: {rows}"
    out = ann.predict("sec-bob", bob_note, "weak", "choice", 1, api_name="/quiz_start")
    if out[2]:  # an item (Bob's weak one, if the learner field were obeyed)
        ann.predict(_label(ui_tutor, out[2]), "", api_name="/quiz_submit")
    assert [(r.item_id, r.verdict) for r in store.reviews("sec-bob")] == bob_before, "Ann changed Bob's progress"

    out = ann.predict("sec-bob", "", "new", "choice", 1, api_name="/quiz_start")
    assert out[0] == "" and out[2]
    ann.predict(_label(ui_tutor, out[2]), "", api_name="/quiz_submit")
    assert len(store.reviews("sec-ann")) == 1 and [(r.item_id, r.verdict) for r in store.reviews("sec-bob")] == bob_before

    from ui.app import build_app

    load = next(f.fn for f in build_app(ui_tutor).fns.values() if f.name == "on_load")
    picker = load(type("Req", (), {"username": "sec-ann"})())
    assert picker.choices == [("sec-ann", "sec-ann")] and picker.interactive is False


def test_one_session_cannot_answer_anothers_quiz(ui_url, ui_tutor):
    """Without a login the learner name is a label, but a round lives in its own session:
    a second client can neither see nor grade it."""
    from gradio_client import Client

    a = Client(ui_url, verbose=False, download_files=False)
    b = Client(ui_url, verbose=False, download_files=False)
    out = a.predict("sec-carol", "", "new", "choice", 1, api_name="/quiz_start")
    assert out[2]
    out_b = b.predict(None, "B", api_name="/quiz_submit")  # B has no round: nothing to grade
    assert out_b[2] == "" and ui_tutor.quiz.store.reviews("sec-carol") == []
    a.predict(_label(ui_tutor, out[2]), "", api_name="/quiz_submit")
    assert len(ui_tutor.quiz.store.reviews("sec-carol")) == 1


def test_http_api_exposes_no_learner_data(ui_tutor):
    from fastapi.testclient import TestClient

    from tutor.serve.api import build_api

    paths = set(TestClient(build_api(ui_tutor, token="t")).get("/openapi.json", headers={"Authorization": "Bearer t"})
                .json()["paths"])
    assert paths == {"/health", "/search", "/ask", "/ask/stream"}


# -- secrets -------------------------------------------------------------------------------

def test_passwords_and_tokens_never_printed(ui_tutor, tmp_path):
    """`tutor serve --token` and `tutor ui --auth FILE`, with right and wrong credentials and
    bad input: neither the token nor a password appears in stdout, stderr or the logs."""
    token, password, wrong = "tok-9f2c1e7a", "pw-7d41b0c3", "pw-wrong-5e9a"
    users = tmp_path / "users.txt"
    users.write_text(f"ann:{password}\n", encoding="utf-8")
    env = {**os.environ, "TUTOR_HOME": str(ui_tutor.settings.home), "TUTOR_CORPUS_DIR": str(ROOT / "corpus"),
           "TUTOR_PROMPTS_DIR": str(ROOT / "prompts"), "TUTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
           "PYTHONUNBUFFERED": "1"}
    api_port, ui_port = free_port(), free_port()
    logs = {n: (tmp_path / f"{n}.out").open("w+") for n in ("api", "ui")}
    procs = {
        "api": subprocess.Popen([sys.executable, "-m", "tutor.cli", "serve", "--port", str(api_port), "--token", token],
                                env=env, stdout=logs["api"], stderr=subprocess.STDOUT),
        "ui": subprocess.Popen([sys.executable, "-m", "tutor.cli", "ui", "--port", str(ui_port), "--auth", str(users)],
                               env=env, stdout=logs["ui"], stderr=subprocess.STDOUT),
    }
    try:
        api, ui = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}/"
        wait_for_http(api + "/health", procs["api"], 240)
        wait_for_http(ui, procs["ui"], 240)
        with httpx.Client(timeout=60) as c:
            assert c.get(api + "/search", params={"q": "LoRA"}).status_code == 401
            assert c.get(api + "/search", params={"q": "LoRA"}, headers={"Authorization": f"Bearer {wrong}"}).status_code == 401
            ok = {"Authorization": f"Bearer {token}"}
            assert c.get(api + "/search", params={"q": "LoRA"}, headers=ok).status_code == 200
            assert c.get(api + "/search", params={"q": "", "k": 999}, headers=ok).status_code == 400
            assert c.post(ui + "login", data={"username": "ann", "password": wrong}).status_code == 400
            assert c.post(ui + "login", data={"username": "ann", "password": password}).status_code == 200
            assert c.get(ui + "config").status_code == 200
        time.sleep(1)
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.wait(timeout=30)
    for name, f in logs.items():
        f.seek(0)
        out = f.read()
        for secret in (token, password, wrong):
            assert secret not in out, f"{name} printed a secret: {out[-500:]}"
