"""Heading- and CJK-aware chunking with stable ids.

Each note is cut at its `## ` headings, each section into sentences (text.split_sentences),
and sentences are packed into chunks that stay under the embedding model's max_seq_length
measured in that model's own tokens. Every outline node also gets one short "outline"
chunk (its title and place in the outline), so the tutor answers 「第5章讲什么？」 before any
note exists. Chunk id = "<node id>:<sha1 of the text, 12 hex>": stable while the text is.

Not done here: overlap between chunks (sections are short and self-contained), tables.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Callable, Iterable

from tutor.corpus import Corpus, Note
from tutor.outline import Node, Outline
from tutor.text import split_limitations, split_sentences

TokenCounter = Callable[[str], int]


LIMITS_HEADING = "Limitations"
LIMITS_KIND = "limits"  # Chunk.kind of a note's English "Limitations: …" sentence: stored, quoted, never ranked


@dataclass(frozen=True)
class Chunk:
    """One retrievable piece. kind: 'outline' | 'key_points' | 'section' | 'limits' (the English
    summary's "Limitations: …" sentence: stored and quoted, never ranked). text includes a
    one-line header (title, English title, heading) so a chunk stands on its own."""

    id: str
    node_id: str
    kind: str
    title: str
    title_en: str
    heading: str
    text: str
    ord: int

    @property
    def chapter(self) -> str:
        return self.node_id.split(".")[0]

    @property
    def section(self) -> str:
        parts = self.node_id.split(".")
        return ".".join(parts[:2]) if len(parts) >= 2 else ""

    def metadata(self) -> dict:
        return {
            "node_id": self.node_id, "kind": self.kind, "title": self.title, "title_en": self.title_en,
            "heading": self.heading, "chapter": self.chapter, "section": self.section, "ord": self.ord,
        }


def chunk_id(node_id: str, text: str) -> str:
    return f"{node_id}:{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}"


def outline_text(outline: Outline, node: Node, note: Note | None) -> str:
    """Plain description of a node's place in the outline (Chinese, with English title when known)."""
    en = f"（{note.meta.title_en}）" if note else ""
    aliases = f"\n别名 aliases：{'、'.join(note.meta.aliases)}" if note and note.meta.aliases else ""
    if node.level == 1:
        secs = []
        for s in outline.children(node.id):
            topics = "、".join(t.title for t in outline.children(s.id))
            secs.append(f"{s.id} {s.title}（{topics}）")
        return f"第{node.id}章 {node.title}{en}\n第{node.id}章讲什么：本章包括 " + "；".join(secs) + "。" + aliases
    chapter = outline[node.chapter]
    if node.level == 2:
        topics = "、".join(f"{t.id} {t.title}" for t in outline.children(node.id))
        return f"{node.id} {node.title}{en}\n属于第{chapter.id}章 {chapter.title}。本节主题：{topics}。{aliases}"
    section = outline[node.parent]
    sibs = "、".join(t.title for t in outline.children(section.id) if t.id != node.id)
    return (f"{node.id} {node.title}{en}\n位于第{chapter.id}章 {chapter.title} › {section.id} {section.title}。"
            f"同节主题：{sibs}。{aliases}")


def _sections(body: str) -> Iterable[tuple[str, str]]:
    heading, buf = "", []
    for line in body.splitlines():
        if re.match(r"^##\s+", line):
            if "".join(buf).strip():
                yield heading, "\n".join(buf)
            heading, buf = line.lstrip("#").strip(), []
        else:
            buf.append(line)
    if "".join(buf).strip():
        yield heading, "\n".join(buf)


_PUNCT = set("，。！？、；：,.!?;:）)]】」』”’")


def _hard_split(sentence: str, fits: Callable[[str], bool]) -> list[str]:
    """Split one over-long sentence at clause marks or spaces, else between characters,
    never so that a piece starts with punctuation."""
    parts = [p for p in re.split(r"(?<=[，,、：:;；\s])", sentence) if p]
    out, buf = [], ""
    for p in parts:
        if fits(buf + p):
            buf += p
            continue
        if buf:
            out.append(buf)
        buf = ""
        i = 0
        while i < len(p):  # a clause longer than a whole chunk: cut between characters
            j = i + 1
            while j < len(p) and fits(buf + p[i:j + 1]):
                j += 1
            while j < len(p) and p[j] in _PUNCT and j > i + 1:  # don't start the next piece with punctuation
                j -= 1
            if j < len(p):
                out.append(buf + p[i:j])
                buf = ""
            else:
                buf += p[i:j]
            i = j
    if buf:
        out.append(buf)
    return [x for x in (o.strip() for o in out) if x]


def _pack(header: str, lines: list[str], fits: Callable[[str], bool], sep: str = "\n") -> list[str]:
    """header + consecutive lines joined by sep, each piece as long as fits() allows."""
    out, buf = [], ""
    for line in lines:
        joined = f"{buf}{sep}{line}" if buf else line
        if buf and not fits(header + joined):
            out.append(header + buf)
            buf = line
        else:
            buf = joined
    if buf:
        out.append(header + buf)
    return out


def chunk_note(note: Note, count_tokens: TokenCounter, max_tokens: int) -> list[Chunk]:
    """Chunks of one note: the key points (one chunk, or several when they exceed max_tokens),
    then each `## ` section packed under max_tokens. Every chunk fits max_tokens."""
    m = note.meta
    kp_heading = "要点 Key points"
    kp_header = f"{m.title}（{m.title_en}）· {kp_heading}\n"
    fits_kp = lambda s: count_tokens(s) <= max_tokens  # noqa: E731
    bullets: list[str] = []
    for k in m.key_points:  # a single key point longer than a chunk is cut like a sentence
        b = f"- {k}"
        bullets.extend([b] if fits_kp(kp_header + b) else _hard_split(b, lambda s: fits_kp(kp_header + s)))
    pieces: list[tuple[str, str, str]] = [("key_points", kp_heading, t) for t in _pack(kp_header, bullets, fits_kp)]
    limits = ""
    for heading, text in _sections(note.body):
        if heading == "English summary":
            text, limits = split_limitations(text)
        header = f"{m.title}（{m.title_en}）· {heading}\n" if heading else f"{m.title}（{m.title_en}）\n"
        fits = lambda s, h=header: count_tokens(h + s) <= max_tokens  # noqa: E731
        buf = ""
        sentences: list[str] = []
        for s in split_sentences(text):
            sentences.extend([s] if fits(s) else _hard_split(s, fits))
        for s in sentences:
            joined = f"{buf} {s}" if buf and s[:1].isascii() and buf[-1:].isascii() else buf + s
            if buf and not fits(joined):
                pieces.append(("section", heading, header + buf))
                buf = s
            else:
                buf = joined
        if buf:
            pieces.append(("section", heading, header + buf))
    if limits:  # its own chunk, kept out of the rankings (retrieve.without_shadowed), quoted for drawbacks
        lim_header = f"{m.title}（{m.title_en}）· {LIMITS_HEADING}\n"
        pieces += [(LIMITS_KIND, LIMITS_HEADING, lim_header + t) for t in
                   ([limits] if count_tokens(lim_header + limits) <= max_tokens
                    else _hard_split(limits, lambda s: count_tokens(lim_header + s) <= max_tokens))]
    out, seen = [], set()
    for i, (kind, heading, text) in enumerate(pieces):
        cid = chunk_id(note.id, text)
        if cid in seen:
            continue
        seen.add(cid)
        out.append(Chunk(cid, note.id, kind, m.title, m.title_en, heading, text, i + 1))
    return out


def chunk_corpus(corpus: Corpus, count_tokens: TokenCounter, max_tokens: int) -> list[Chunk]:
    """All chunks: one outline chunk per node, then note chunks. Ids are unique."""
    out: list[Chunk] = []
    for node in corpus.outline.nodes:
        note = corpus.notes.get(node.id)
        text = outline_text(corpus.outline, node, note)
        if count_tokens(text) > max_tokens:  # long chapter listings: keep the head
            text = _hard_split(text, lambda s: count_tokens(s) <= max_tokens)[0]
        en = note.meta.title_en if note else ""
        out.append(Chunk(chunk_id(node.id, text), node.id, "outline", node.title, en, "", text, 0))
        if note:
            out.extend(chunk_note(note, count_tokens, max_tokens))
    return out
