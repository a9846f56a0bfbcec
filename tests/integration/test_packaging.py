"""A non-editable install (a built wheel) finds its corpus and prompts inside the package, and
the progress store's migrations (a new database opened from it is at head)."""

import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_wheel_ships_corpus_prompts_and_ui(tmp_path):
    out = tmp_path / "dist"
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    wheel = next(out.glob("tutor-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "tutor/_data/corpus/outline.md" in names
    assert "tutor/_data/prompts/answer.zh.md" in names
    assert "ui/app.py" in names
    assert any(n.startswith("tutor/_data/corpus/notes/ch03/3.4.2-") for n in names)
    assert {"tutor/quiz/migrations/env.py", "tutor/quiz/migrations/versions/0001_baseline.py"} <= names

    target = tmp_path / "site"
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    code = ("from tutor.config import Settings; s = Settings(); "
            "print(s.corpus_dir); print(s.prompts_dir); print((s.corpus_dir / 'outline.md').is_file()); "
            "from tutor.quiz.progress import Progress, schema_revision; p = Progress(s.progress_url); "
            "c = p.engine.connect(); print(schema_revision(c)); c.close()")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path),
                       env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert p.returncode == 0, p.stderr[-2000:]
    corpus, prompts, ok, revision = p.stdout.split()
    assert corpus.startswith(str(target)) and prompts.startswith(str(target)) and ok == "True" and revision == "0002"
