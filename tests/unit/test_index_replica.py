"""Server-mode bookkeeping without a server: when a Tutor looks for a re-ingest (throttled,
then the index, retriever and chat are dropped) and which cached lexical versions a replica's
home deletes. The real-server behaviour is in tests/integration/test_server_mode.py."""

from __future__ import annotations

import pytest

from tests.conftest import make_settings
from tutor.rag.index import CACHE, _flock, _prune_cache
from tutor.tutor import build_tutor


class FakeIndex:
    def __init__(self, version: str):
        self.version, self.latest, self.reads = version, version, 0

    def latest_version(self) -> str | None:
        self.reads += 1
        return self.latest


def opened(tmp_path, **kw):
    """A Tutor whose index, retriever and chat are already 'open' (fakes)."""
    t = build_tutor(make_settings(tmp_path / "home", **kw))
    index = FakeIndex("20261201T100000-aaaaaa-0123456789ab")
    t.__dict__.update(index=index, retriever=object(), chat=object())
    return t, index


def test_a_replica_reads_the_server_version_at_most_once_per_interval(tmp_path):
    t, index = opened(tmp_path, chroma_url="http://127.0.0.1:9", index_check_s=3600)
    assert [t.follow_index() for _ in range(5)] == [False] * 5
    assert index.reads == 1  # one small read per interval, however many searches
    index.latest = "20261201T110000-bbbbbb-0123456789ab"
    assert not t.follow_index()  # still within the interval: the open index serves
    t._index_checked -= 3600
    assert t.follow_index() and index.reads == 2
    assert not {"index", "retriever", "chat"} & set(t.__dict__)  # reopened with the new manifest on next use


@pytest.mark.parametrize("latest", [None, "20261201T100000-aaaaaa-0123456789ab"])
def test_no_reload_when_the_version_is_unchanged_or_unpublished(tmp_path, latest):
    t, index = opened(tmp_path, chroma_url="http://127.0.0.1:9", index_check_s=0)
    index.latest = latest
    assert not t.follow_index() and index.reads == 1 and t.__dict__["index"] is index


def test_local_mode_never_checks(tmp_path):
    t, index = opened(tmp_path, index_check_s=0)
    assert not t.follow_index() and index.reads == 0
    t2 = build_tutor(make_settings(tmp_path / "h2", chroma_url="http://127.0.0.1:9", index_check_s=0))
    assert not t2.follow_index()  # nothing open yet: nothing to compare


VERSIONS = ["20261130T090000-aaaaaa-0123456789ab", "20261201T100000-bbbbbb-0123456789ab", "20261202T080000-cccccc-0123456789ab"]


def test_a_replica_home_keeps_its_current_and_newer_caches(tmp_path):
    settings = make_settings(tmp_path / "home")
    cache = settings.index_dir / CACHE
    for v in VERSIONS:
        (cache / v / "bm25").mkdir(parents=True)
    (cache / f".{VERSIONS[2]}-123-abcdef.tmp").mkdir()  # a build killed part-way
    with _flock(cache / ".lock", exclusive=False, timeout_s=0, what="retry"):  # another process is reading
        _prune_cache(cache, VERSIONS[1])
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == sorted([*VERSIONS, f".{VERSIONS[2]}-123-abcdef.tmp"])
    _prune_cache(cache, VERSIONS[1])
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == VERSIONS[1:]  # an older process never deletes a newer cache

