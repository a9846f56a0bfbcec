"""`ui.serve.serve` as `tutor ui` calls it: with --auth, nothing but the login page answers
until the learner logs in."""

from __future__ import annotations

import httpx
import pytest

from ui.serve import serve

from .conftest import free_port

pytestmark = pytest.mark.integration


def test_auth_guards_the_app(ui_tutor, tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("ann:secret\n", encoding="utf-8")
    app, url = serve(ui_tutor, "127.0.0.1", free_port(), auth=str(users), block=False)
    try:
        with httpx.Client(base_url=url, timeout=10) as c:
            assert c.get("config").status_code == 401
            assert c.post("login", data={"username": "ann", "password": "wrong"}).status_code == 400
            assert c.post("login", data={"username": "ann", "password": "secret"}).status_code == 200
            r = c.get("config")
            assert r.status_code == 200 and r.json()["title"] == "tutor · AI 知识导师"
    finally:
        app.close()
