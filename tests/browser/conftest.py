"""The Gradio app served on a loopback port (in this process, on the real index, MiniLM
and SmolLM2 at temperature 0) and Debian's chromium driven by Playwright.

The browser is /usr/bin/chromium from apt (`apt-get install -y chromium fonts-noto-cjk`,
done by .ci/run); Playwright never downloads one. A missing chromium is a failure, not a
skip: these tests must run in CI. Screenshots go to tests/artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import contextlib
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, make_settings

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "tests" / "artifacts"
ANSWER_TOKENS = 160  # shorter answers keep the suite fast; long enough to press Stop mid-answer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(tutor):
    """The real Gradio app over `tutor` on a free loopback port; yields its URL, closes it after."""
    from ui.app import build_app
    from ui.style import launch_options

    app = build_app(tutor)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options())
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture(scope="session")
def ui_tutor(request, real_embedder, real_multilingual, real_llm_small, tmp_path_factory):
    """Tutor on the shared real index with its own progress database (the index stays read-only),
    the real GGUF at a 1,024-token window (tests/conftest.py SMALL_N_CTX: the pages behave the
    same; each answer's prompt takes ~6 s to read instead of ~25 s).
    TUTOR_UI_TEST_HOME=<a data dir already ingested> skips the session's ingest while
    iterating on UI tests; CI leaves it unset and builds the index from the corpus."""
    from tests.conftest import SMALL_N_CTX
    from tutor.tutor import build_tutor

    home = os.environ.get("TUTOR_UI_TEST_HOME") or request.getfixturevalue("real_home")
    db = tmp_path_factory.mktemp("ui-progress") / "progress.db"
    s = make_settings(Path(home), max_answer_tokens=ANSWER_TOKENS, database_url=f"sqlite:///{db}", multilingual=True,
                      n_ctx=SMALL_N_CTX)
    return build_tutor(s, llm=real_llm_small, embedder=real_embedder, multilingual=real_multilingual)


@pytest.fixture(scope="session")
def ui_url(ui_tutor):
    """URL of the app launched like `tutor ui` does (same builder, same launch options)."""
    from ui.app import build_app
    from ui.style import launch_options

    app = build_app(ui_tutor)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, share=False,
               show_error=True, **launch_options())
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium with `apt-get install -y chromium fonts-noto-cjk`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, ui_url):
    """A fresh browser context (its own Gradio session) on the app, laptop-sized."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(ui_url)
    pg.wait_for_selector("#question textarea")
    yield pg
    ctx.close()


def shot(page, name: str, full_page: bool = True) -> Path:
    """Save a screenshot under tests/artifacts/ and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def wait_until(cond, timeout: float, every: float = 0.05):
    """Poll cond() until it returns a truthy value (returned) or timeout seconds pass (None)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(every)
    return None
