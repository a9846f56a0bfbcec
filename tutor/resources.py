"""Where the shipped data (corpus/, prompts/) lives.

In a wheel they sit inside the package as `tutor/_data/<name>`; in a source checkout
(editable install, tests) they are the repository's top-level folders.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Path of a shipped data folder ("corpus" or "prompts"); the first that exists."""
    for cand in (_PKG / "_data" / name, _PKG.parent / name):
        if cand.is_dir():
            return cand
    return _PKG.parent / name
