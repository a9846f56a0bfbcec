"""Parse `corpus/outline.md` into chapter / section / topic nodes with positional ids.

Ids (DESIGN.md §2): chapter "3", section "3.4", topic "3.4.2". Lines that are not
`## N.`, `### N.M` or `- item` under a section (title, closing remarks) are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_CHAPTER = re.compile(r"^## (\d+)\.\s*(.+?)\s*$")
_SECTION = re.compile(r"^### (\d+)\.(\d+)\s+(.+?)\s*$")
_TOPIC = re.compile(r"^- (.+?)\s*$")


@dataclass(frozen=True)
class Node:
    """One outline node. level: 1 chapter, 2 section, 3 topic. line: 1-based line in outline.md."""

    id: str
    title: str
    level: int
    line: int
    parent: str | None = None
    children: tuple[str, ...] = field(default=())

    @property
    def chapter(self) -> str:
        return self.id.split(".")[0]

    @property
    def section(self) -> str | None:
        parts = self.id.split(".")
        return ".".join(parts[:2]) if len(parts) >= 2 else None


class Outline:
    """All nodes of the outline, in outline order. `outline[id]` raises KeyError for unknown ids."""

    def __init__(self, nodes: list[Node]):
        self.nodes = nodes
        self._by_id = {n.id: n for n in nodes}

    def __getitem__(self, node_id: str) -> Node:
        return self._by_id[node_id]

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._by_id

    def __len__(self) -> int:
        return len(self.nodes)

    def get(self, node_id: str) -> Node | None:
        return self._by_id.get(node_id)

    def chapters(self) -> list[Node]:
        return [n for n in self.nodes if n.level == 1]

    def children(self, node_id: str) -> list[Node]:
        return [self._by_id[c] for c in self._by_id[node_id].children]

    def topics(self) -> list[Node]:
        return [n for n in self.nodes if n.level == 3]

    def path(self, node_id: str) -> list[Node]:
        """Chapter → section → node for `node_id` (root first)."""
        out, cur = [], self._by_id.get(node_id)
        while cur is not None:
            out.append(cur)
            cur = self._by_id.get(cur.parent) if cur.parent else None
        return out[::-1]

    @classmethod
    def parse(cls, path: Path) -> "Outline":
        raw: list[dict] = []
        chapter = section = None
        item = 0
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if m := _CHAPTER.match(line):
                chapter, section = m[1], None
                raw.append(dict(id=chapter, title=m[2], level=1, line=lineno, parent=None))
            elif m := _SECTION.match(line):
                section, item = f"{m[1]}.{m[2]}", 0
                raw.append(dict(id=section, title=m[3], level=2, line=lineno, parent=chapter))
            elif section and (m := _TOPIC.match(line)):
                item += 1
                raw.append(dict(id=f"{section}.{item}", title=m[1], level=3, line=lineno, parent=section))
        kids: dict[str, list[str]] = {}
        for r in raw:
            if r["parent"]:
                kids.setdefault(r["parent"], []).append(r["id"])
        return cls([Node(children=tuple(kids.get(r["id"], ())), **r) for r in raw])
