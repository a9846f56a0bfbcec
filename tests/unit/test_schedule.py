"""tests/schedule.py: the order xdist hands test files out in."""

from tests import schedule


def test_index_builder_first_then_long_files_without_the_index_then_longest_first(monkeypatch):
    monkeypatch.setattr(schedule, "FILE_SECONDS", {"a": 300, "b": 200, "c": 150, "d": 100, "e": 10})
    monkeypatch.setattr(schedule, "INDEX_BUILD_SECONDS", 250)
    got = schedule.order(["e", "d", "c", "b", "a", "tests/unit/test_z.py"], needs_index={"a", "d"})
    # a builds the index; b and c (no index) fill its build time; then the rest longest first
    assert got == ["a", "b", "c", "d", "e", "tests/unit/test_z.py"]


def test_every_file_once_and_no_index_file_means_longest_first(monkeypatch):
    monkeypatch.setattr(schedule, "FILE_SECONDS", {"x": 5, "y": 50})
    files = ["x", "tests/browser/test_q.py", "y", "tests/unit/test_p.py"]
    got = schedule.order(files, needs_index=set())
    assert sorted(got) == sorted(files)
    assert got == ["y", "tests/browser/test_q.py", "x", "tests/unit/test_p.py"]
