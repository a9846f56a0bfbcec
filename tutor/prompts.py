"""Prompt templates shipped as files: `prompts/<name>.<lang>.md`, lang 'zh' or 'en'.

Placeholders are `{name}` (literal braces doubled). Rendering is strict: a missing or an
unused variable raises `Prompts.Error`, so a template and its caller cannot drift apart.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

from tutor.errors import TutorError


class Prompts:
    """Loads and renders templates from one folder."""

    class Error(TutorError):
        """A template is missing or was rendered with the wrong variables."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path(self, name: str, lang: str) -> Path:
        return self.folder / f"{name}.{lang}.md"

    def source(self, name: str, lang: str) -> str:
        return _read(self.path(name, lang))

    def render(self, name: str, lang: str, **values: str) -> str:
        """Template `name` in `lang` with `values` substituted. Raises Prompts.Error."""
        src = self.source(name, lang)
        fields = {f for _, f, _, _ in string.Formatter().parse(src) if f}
        missing, extra = fields - values.keys(), values.keys() - fields
        if missing or extra:
            raise Prompts.Error(f"prompt {self.path(name, lang)}: missing {sorted(missing)}, unexpected {sorted(extra)}")
        return src.format(**values).strip()


@lru_cache(maxsize=64)
def _read(path: Path) -> str:
    if not path.is_file():
        raise Prompts.Error(f"prompt template {path} not found; set TUTOR_PROMPTS_DIR to the prompts/ folder")
    return path.read_text(encoding="utf-8")
