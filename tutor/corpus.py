"""Load the outline and the notes (`corpus/notes/**.md`) and validate them (DESIGN.md §3).

Every problem is a `Corpus.Invalid` naming the file and line: unknown or duplicate id,
bad YAML, non-UTF-8 bytes, a field of the wrong shape. This module checks the schema only;
style rules (body length, section headings, no sentence repeated across notes) are
corpus tests, so an incomplete draft note still loads.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from tutor.errors import TutorError
from tutor.outline import Outline


class ChoiceItem(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    type: Literal["choice"]
    question: str
    options: list[str] = Field(min_length=2, max_length=6)
    answer: int = Field(description="0-based index into options")
    explanation: str

    @model_validator(mode="after")
    def _check(self) -> "ChoiceItem":
        if len({o.strip() for o in self.options}) != len(self.options):
            raise ValueError("options must be distinct")
        if not 0 <= self.answer < len(self.options):
            raise ValueError(f"answer {self.answer} is not a 0-based index into {len(self.options)} options")
        return self


class ShortItem(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    type: Literal["short"]
    question: str
    reference: str
    key_points: list[str] = Field(min_length=1)
    # 1-3 common wrong answers in a learner's words (DESIGN §3); the grader must grade each wrong
    misconceptions: list[str] = Field(default_factory=list, max_length=3)


class CardItem(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    type: Literal["card"]
    front: str
    back: str


QuizItem = Annotated[Union[ChoiceItem, ShortItem, CardItem], Field(discriminator="type")]


class NoteMeta(BaseModel):
    """Front matter of one note (DESIGN.md §3)."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)
    id: str
    title: str
    title_en: str
    aliases: list[str] = []
    prerequisites: list[str] = []
    related: list[str] = []
    difficulty: int = Field(ge=1, le=3)
    references: list[str] = Field(min_length=1)
    key_points: list[str] = Field(min_length=1, max_length=6)
    quiz: list[QuizItem] = []

    @field_validator("id", mode="before")
    @classmethod
    def _id_str(cls, v: object) -> str:
        return str(v)

    @field_validator("prerequisites", "related", mode="before")
    @classmethod
    def _ids_str(cls, v: object) -> list[str]:
        return [str(x) for x in (v or [])]


@dataclass(frozen=True)
class Note:
    """A parsed note: front matter + Markdown body. path is the file it came from."""

    meta: NoteMeta
    body: str
    path: Path

    @property
    def id(self) -> str:
        return self.meta.id


class Corpus:
    """The outline plus every note, keyed by outline id. Build with `Corpus.load(dir)`."""

    class Invalid(TutorError):
        """A note or the outline is malformed; the message starts with `file:line:`."""

    def __init__(self, root: Path, outline: Outline, notes: dict[str, Note]):
        self.root = root
        self.outline = outline
        self.notes = notes

    @classmethod
    def load(cls, root: Path) -> "Corpus":
        """Load `root/outline.md` and `root/notes/**/*.md`. Raises Corpus.Invalid."""
        outline_path = root / "outline.md"
        if not outline_path.is_file():
            raise cls.Invalid(f"{outline_path}: outline not found; set TUTOR_CORPUS_DIR to a folder holding outline.md")
        outline = Outline.parse(outline_path)
        notes: dict[str, Note] = {}
        for path in sorted((root / "notes").rglob("*.md")):
            note = parse_note(path, outline)
            if note.id in notes:
                raise cls.Invalid(f"{path}:{_line_of(path.read_text('utf-8'), 'id')}: duplicate id {note.id!r}, already in {notes[note.id].path}")
            notes[note.id] = note
        return cls(root, outline, notes)

    def fingerprint(self) -> str:
        """sha256 over outline.md and every note file (path + bytes): changes iff the corpus does."""
        h = hashlib.sha256()
        for p in [self.root / "outline.md", *sorted(n.path for n in self.notes.values())]:
            h.update(str(p.relative_to(self.root)).encode())
            h.update(p.read_bytes())
        return h.hexdigest()


def _line_of(front: str, key: str) -> int:
    """1-based file line where `key:` first appears, else 1. front: the file text from the
    opening `---` on (the whole file, or the front matter as split off, which starts with
    the newline that ends the `---` line), so line 1 is the `---` line."""
    m = re.search(rf"^[ \t]*-?[ \t]*{re.escape(key)}[ \t]*:", front, re.M)  # [ \t]: never across lines
    return front[: m.start()].count("\n") + 1 if m else 1


def _load_yaml(front: str):
    """safe_load through libyaml when PyYAML has it (5-10x faster: 670 notes per Tutor);
    on an error the pure-Python parser parses again, so the error and its line are the same
    on every install. Raises yaml.YAMLError."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.load(front, Loader=fast)
        except yaml.YAMLError:
            pass
    return yaml.safe_load(front)


def _yaml_error(path: Path, front: str, e: yaml.YAMLError) -> str:
    """'path:line: bad YAML (problem); how to fix it' for a front matter PyYAML rejects. Line
    numbers count from the opening `---` (line 1), as in the file."""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None) or ""
    mark = getattr(e, "problem_mark", None)
    line = mark.line + 1 if mark else 1  # mark.line is 0-based in front, whose line 0 is the `---` line
    start = getattr(e, "context_mark", None)
    # an unclosed bracket or quote is noticed lines later, where the parser gave up; the line
    # to fix is where it opened: PyYAML's context mark, or (a double-quoted value that swallowed
    # the next lines) the first line with an odd number of double quotes
    odd = [i for i, text in enumerate(front.split("\n")[:line], 1) if len(re.findall(r'(?<!\\)"', text)) % 2]
    if start is not None and any(k in context for k in ("flow sequence", "flow mapping", "quoted scalar")):
        line = start.line + 1
    elif odd and "'\\t'" not in problem:
        line, context = odd[0], "quoted scalar"
    if "'\\t'" in problem:
        hint = "indent with spaces, not tabs"
    elif "flow sequence" in context:
        hint = "close the '[' opened on this line (or quote the value if the brackets are text)"
    elif "flow mapping" in context:
        hint = "close the '{' opened on this line (or quote the value if the braces are text)"
    elif "quoted scalar" in context:
        hint = "close the quote opened on this line"
    elif "mapping values are not allowed" in problem:
        hint = 'quote a value that contains ": ", e.g. title: "A: B"'
    elif "alias" in problem or "anchor" in problem:
        hint = "quote a value that starts with '*' or '&'"
    else:
        hint = "check the indentation there and quote values that contain ': ' or ' #'"
    return f"{path}:{line}: bad YAML ({problem}); {hint}"


def parse_note(path: Path, outline: Outline) -> Note:
    """Parse and validate one note file. Raises Corpus.Invalid('path:line: what, how to fix')."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise Corpus.Invalid(f"{path}:{line}: not UTF-8 (byte {e.start}); re-save the file as UTF-8") from None
    if text.startswith("\ufeff"):
        raise Corpus.Invalid(f"{path}:1: the file starts with a byte-order mark; re-save it as UTF-8 without BOM")
    if not text.startswith("---"):
        raise Corpus.Invalid(f"{path}:1: missing YAML front matter; the file must start with a '---' line")
    parts = re.split(r"^---\s*$", text, maxsplit=2, flags=re.M)
    if len(parts) < 3:
        raise Corpus.Invalid(f"{path}:1: front matter is not closed; add a '---' line after it")
    front, body = parts[1], parts[2]
    try:
        data = _load_yaml(front)
    except yaml.YAMLError as e:
        raise Corpus.Invalid(_yaml_error(path, front, e)) from None
    if not isinstance(data, dict):
        raise Corpus.Invalid(f"{path}:2: front matter must be a YAML mapping of the fields in DESIGN.md §3")
    try:
        meta = NoteMeta.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = err["loc"]
        key = str(loc[0]) if loc else "id"
        where = ".".join(str(x) for x in loc)
        raise Corpus.Invalid(f"{path}:{_line_of(front, key)}: {where}: {err['msg']}") from None
    if meta.id not in outline:
        raise Corpus.Invalid(f"{path}:{_line_of(front, 'id')}: unknown id {meta.id!r}; it must be an outline id such as '3.4.2'")
    for field_name in ("prerequisites", "related"):
        for ref in getattr(meta, field_name):
            if ref not in outline:
                raise Corpus.Invalid(f"{path}:{_line_of(front, field_name)}: {field_name} lists unknown id {ref!r}")
    return Note(meta=meta, body=body.strip("\n"), path=path)
