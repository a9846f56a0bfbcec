"""The order in which pytest-xdist hands test files to its two workers (`make test` runs
`--dist loadfile --no-loadscope-reorder`: whole files, in collection order).

xdist's default order (files with the most tests first) left the run's longest files to the
end: on an idle fresh clone (2026-12-02) one worker ran the 128 s `tutor eval` file alone for
the last ~105 s while the other had finished. Now the longest files go first and the many
short unit files last, where they even out the two workers' finish (longest processing time
first). One exception: the real index (`real_home`, ~215 s to build) is built by the first
file that needs it, so that file goes first and the next files are long ones that do not need
it: the second worker works instead of waiting on the index's lock.

FILE_SECONDS: measured seconds per file (setup included) in that run, files over ~8 s (the six
files moved to a 1,024-token window the same day: as measured after the move, in a partial run);
others count by folder. Figures only order the files: a stale one costs time, never a failure."""

from __future__ import annotations

FILE_SECONDS = {
    "tests/integration/test_retrieval_eval.py": 62,  # + the real index build, 215 s, done by whichever file needs it first
    "tests/integration/test_bad_input_real.py": 170,
    "tests/integration/test_index_faults.py": 211,
    "tests/integration/test_trust.py": 166,
    "tests/integration/test_eval_cli_real.py": 92,
    "tests/integration/test_chat_real.py": 80,
    "tests/browser/test_chat_ux.py": 75,
    "tests/integration/test_cli_errors.py": 92,
    "tests/integration/test_remote_llm_real.py": 72,
    "tests/browser/test_chat_page.py": 30,
    "tests/browser/test_load.py": 55,
    "tests/integration/test_replicas.py": 48,
    "tests/unit/test_bad_input.py": 38,
    "tests/unit/test_quiz_store_faults.py": 33,
    "tests/browser/test_client.py": 8,
    "tests/integration/test_quiz_cli.py": 29,
    "tests/browser/test_phone_width.py": 28,
    "tests/browser/test_security.py": 26,
    "tests/integration/test_server_mode.py": 22,
    "tests/browser/test_quiz_page.py": 17,
    "tests/unit/test_remote_llm.py": 17,
    "tests/integration/test_quiz_real_models.py": 16,
    "tests/integration/test_ingest.py": 15,
    "tests/unit/test_quiz_migrations.py": 13,
    "tests/unit/test_quiz_contest.py": 13,
    "tests/unit/test_trust.py": 13,
    "tests/browser/test_render_page.py": 11,
    "tests/integration/test_api_server.py": 9,
    "tests/unit/test_eval_runs.py": 8,
    "tests/integration/test_model_pull.py": 8,
}
# fixtures that need the real index: real_home, and the browser tests' app (which asks for
# real_home at run time, request.getfixturevalue, so it is not in their fixture closure)
INDEX_FIXTURES = frozenset({"real_home", "ui_tutor"})
BY_FOLDER = {"unit": 2, "integration": 6, "browser": 6}  # median-ish seconds of the files not listed
INDEX_BUILD_SECONDS = 215


def seconds(path: str) -> float:
    """Expected seconds of one test file (path relative to the repo, e.g. tests/unit/test_x.py)."""
    if path in FILE_SECONDS:
        return FILE_SECONDS[path]
    parts = path.split("/")
    return BY_FOLDER.get(parts[1] if len(parts) > 2 else "", 2)


def order(files: list[str], needs_index: set[str]) -> list[str]:
    """files (each once) in the order to run them: the longest file that needs the real index
    first, then — while it builds — the longest files that do not need it, up to the build's
    length, then every other file longest first. needs_index: the files using `real_home`."""
    by_time = sorted(files, key=lambda f: -seconds(f))  # stable: equal times keep collection order
    first = [f for f in by_time if f in needs_index][:1]
    meanwhile, total = [], 0.0
    for f in by_time:
        if total >= INDEX_BUILD_SECONDS:
            break
        if f not in needs_index:
            meanwhile.append(f)
            total += seconds(f)
    head = first + meanwhile
    return head + [f for f in by_time if f not in head]
