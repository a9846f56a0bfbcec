"""The 评测 Evals tab in a real browser (Debian chromium): with no eval run it shows the notice
in Chinese and English naming the command to run; after a run folder is written (a small
report from hand-made rows, through the same writer `tutor eval` uses) Refresh shows the run's
name, time and set kind, its four PNG figures and report.md rendered.

The app runs over a tutor with no index and no model (the tab reads run folders only), and
the runs folder is a tmp dir, so runs in the checkout's evals/reports/runs/ do not matter.
Screenshot: tests/artifacts/evals-tab.png."""

from __future__ import annotations

import contextlib
import json

import pytest

from tests.conftest import make_settings
from tests.unit.test_eval_runs import T0, _report, _row

from .conftest import serve_app, shot

pytestmark = [pytest.mark.browser]

TAB = "评测 Evals"


@pytest.fixture
def runs(tmp_path, monkeypatch):
    from tutor.evaluate import eval_runs

    root = tmp_path / "runs"
    monkeypatch.setattr(eval_runs, "run_roots", lambda settings: [root])
    return root


@pytest.fixture
def evals_url(tmp_path, runs):
    from tutor.tutor import build_tutor

    with serve_app(build_tutor(make_settings(tmp_path / "home"))) as url:
        yield url


def write_run(root) -> str:
    """A run folder as `tutor eval` writes it: report files, PNGs and manifest.json."""
    from tutor.evaluate import eval_runs
    from tutor.evaluate.eval_report import write

    rep = _report([_row("a", 0.9), _row("b", 0.8, ranked=("9.9", "1.1.2")), _row("c", 0.7, lang="en", expected=("3.4.2",),
                                                                                  ranked=("3.4.2",)), _row("z", 0.2, oos=True)])
    rep["set_info"] = {"name": "blind_tiny.jsonl", "sha256": "ab" * 32, "kind": "blind"}
    rep["diff"] = eval_runs.diff(rep, None)
    d = eval_runs.new_run_dir(root, T0, "blind_tiny")
    write(rep, d, "blind_tiny.jsonl", plots=True)
    manifest = {"started": "2026-12-01T14:05:12Z", "ended": "2026-12-01T14:06:00Z", "duration_s": 48.0,
                "sets": [{"name": "blind_tiny.jsonl", "sha256": "ab" * 32, "kind": "blind", "items": 4, "report": "report.json"}]}
    (d / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return d.name


@contextlib.contextmanager
def evals_page(browser, url):
    """The app at 1280 px with the Evals tab opened (its label checked visible first)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(url)
        page.wait_for_selector("#question textarea")
        tab = page.get_by_role("tab", name=TAB, exact=True)
        assert tab.count() == 1 and tab.is_visible()
        tab.click()
        yield page
    finally:
        ctx.close()


def test_evals_tab_shows_the_notice_then_the_latest_run(browser, evals_url, runs):
    with evals_page(browser, evals_url) as page:
        page.wait_for_function("() => document.querySelector('#evals-head')?.innerText.includes('No eval run yet')")
        head = page.inner_text("#evals-head")
        assert "还没有评测记录" in head and "tutor eval --set" in head and "Traceback" not in page.content()
        assert page.locator("#evals-figures img").count() == 0

        name = write_run(runs)
        page.click("#evals-refresh")
        page.wait_for_function("(n) => document.querySelector('#evals-head')?.innerText.includes(n)", arg=name)
        head = page.inner_text("#evals-head")
        assert "2026-12-01 14:05:12 UTC" in head and "took 48.0 s" in head
        assert "评测集 blind_tiny.jsonl：盲测集，4 题" in head and "set blind_tiny.jsonl: blind, 4 items" in head
        # the four figures, loaded (natural size > 0), not broken images
        page.wait_for_function("() => [...document.querySelectorAll('#evals-figures img')]"
                               ".filter(i => i.complete && i.naturalWidth > 0).length >= 4")
        report = page.locator("#evals-report")
        report.locator("table").first.wait_for()
        text = report.inner_text()
        assert "Eval report: blind_tiny.jsonl" in text and "Worst cases" in text and "No previous run of this set" in text
        assert "## Figures" not in text and "![" not in text  # shown as images above, not as broken links
        shot(page, "evals-tab")


def test_a_damaged_run_is_a_notice_not_a_traceback(browser, evals_url, runs):
    name = write_run(runs)
    (runs / name / "report.md").unlink()
    with evals_page(browser, evals_url) as page:
        page.wait_for_function("() => document.querySelector('#evals-head')?.innerText.includes('could not be read')")
        head = page.inner_text("#evals-head")
        assert name in head and "无法读取" in head and "FileNotFoundError" in head and "Traceback" not in head
