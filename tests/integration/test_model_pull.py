"""`tutor model pull/use/list` end to end against a Hugging Face-compatible HTTP server on
127.0.0.1 (HF_ENDPOINT) serving the real SmolLM2 GGUF under a registry entry injected through
TUTOR_MODEL_REGISTRY. Never touches the internet."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.integration

REPO, FILE, COMMIT = "tutor-tests/tiny-gguf", "tiny-model.gguf", "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def gguf():
    from tutor.llm import default_model_path

    path = default_model_path()
    data = path.read_bytes()
    return {"path": path, "data": data, "sha": hashlib.sha256(data).hexdigest()}


class Hub:
    """A minimal hub: HEAD/GET /{repo}/resolve/{rev}/{file} with X-Repo-Commit, X-Linked-Etag
    (the SHA-256, as the real hub sends for LFS files, or an opaque tag) and Range support."""

    def __init__(self, data: bytes, etag: str):
        self.data, self.etag, self.requests = data, etag, []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep pytest output clean
                pass

            def _head(self) -> tuple[int, int, int] | None:
                hub.requests.append((self.command, self.path, self.headers.get("Range")))
                if self.path != f"/{REPO}/resolve/main/{FILE}":
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                size = len(hub.data)
                start, end, status = 0, size - 1, 200
                rng = self.headers.get("Range")
                if rng and self.command == "GET":
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    status = 206
                self.send_response(status)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hub.etag}"')
                self.send_header("X-Linked-Etag", f'"{hub.etag}"')
                self.send_header("X-Linked-Size", str(size))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(end - start + 1))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                self.end_headers()
                return start, end, status

            def do_HEAD(self):
                self._head()

            def do_GET(self):
                r = self._head()
                if r:
                    self.wfile.write(hub.data[r[0]:r[1] + 1])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub_factory():
    hubs = []

    def make(data: bytes, etag: str) -> Hub:
        hubs.append(Hub(data, etag))
        return hubs[-1]

    yield make
    for h in hubs:
        h.close()


def registry_file(tmp_path: Path, sha: str | None, size: int) -> Path:
    p = tmp_path / "registry.toml"
    sha_line = f'sha256 = "{sha}"\n' if sha else ""
    p.write_text(f'[[models]]\nname = "tiny-test"\nrepo = "{REPO}"\nfilename = "{FILE}"\nrevision = "main"\n'
                 f'{sha_line}size_gb = {size / 1e9}\nnotes = "test entry"\n', encoding="utf-8")
    return p


def env(hub: Hub | None, reg: Path, **kw) -> dict:
    e = {"HF_HUB_OFFLINE": "0", "TUTOR_MODEL_REGISTRY": str(reg), "HF_HUB_DISABLE_TELEMETRY": "1"}
    if hub:
        e["HF_ENDPOINT"] = hub.url
    e.update(kw)
    return e


def test_pull_verifies_uses_and_lists(tmp_path, gguf, hub_factory):
    hub = hub_factory(gguf["data"], gguf["sha"])
    home = tmp_path / "home"
    r = run_cli(["model", "pull", "tiny-test", "--use"], home, env(hub, registry_file(tmp_path, gguf["sha"], len(gguf["data"]))))
    assert r.returncode == 0, r.stderr
    dest = home / "models" / FILE
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == gguf["sha"]
    assert not (home / "models" / (FILE + ".part")).exists()
    assert [m for m, _, _ in hub.requests] == ["HEAD", "GET"]
    assert f'model_path = "{dest.resolve()}"' in (home / "tutor.toml").read_text()

    lst = run_cli(["model", "list", "--json"], home, env(hub, registry_file(tmp_path, gguf["sha"], len(gguf["data"]))))
    assert lst.returncode == 0, lst.stderr
    got = json.loads(lst.stdout)
    mine = [m for m in got["installed"] if m["registry"] == "tiny-test"]
    assert len(mine) == 1 and mine[0]["active"] is True
    assert (mine[0]["quantization"], mine[0]["context_length"], mine[0]["chat_template"]) == ("Q4_1", 8192, True)
    assert not any(m["default"] and m["active"] for m in got["installed"])
    assert "tiny-test" not in [a["name"] for a in got["available"]]

    # a second pull finds the verified file and downloads nothing
    again = run_cli(["model", "pull", "tiny-test"], home, env(hub, registry_file(tmp_path, gguf["sha"], len(gguf["data"]))))
    assert again.returncode == 0 and "already" in again.stderr
    assert len(hub.requests) == 2


def test_pull_resumes_a_partial_download(tmp_path, gguf, hub_factory):
    hub = hub_factory(gguf["data"], gguf["sha"])
    home = tmp_path / "home"
    part = home / "models" / (FILE + ".part")
    part.parent.mkdir(parents=True)
    cut = 10 * 2**20
    part.write_bytes(gguf["data"][:cut])
    r = run_cli(["model", "pull", "tiny-test"], home, env(hub, registry_file(tmp_path, gguf["sha"], len(gguf["data"]))))
    assert r.returncode == 0, r.stderr
    assert ("GET", f"/{REPO}/resolve/main/{FILE}", f"bytes={cut}-") in hub.requests
    assert hashlib.sha256((home / "models" / FILE).read_bytes()).hexdigest() == gguf["sha"]
    assert "resuming" in r.stderr


def test_pull_refuses_a_file_whose_hub_hash_differs(tmp_path, gguf, hub_factory):
    hub = hub_factory(gguf["data"], gguf["sha"])
    home = tmp_path / "home"
    r = run_cli(["model", "pull", "tiny-test"], home, env(hub, registry_file(tmp_path, "0" * 64, len(gguf["data"]))))
    assert r.returncode == 2
    assert "not downloading" in r.stderr and "Traceback" not in r.stderr
    assert [m for m, _, _ in hub.requests] == ["HEAD"]
    assert not (home / "models" / FILE).exists()


def test_pull_deletes_bytes_that_fail_the_checksum(tmp_path, gguf, hub_factory):
    corrupt = bytearray(gguf["data"])
    corrupt[5_000_000] ^= 0xFF
    hub = hub_factory(bytes(corrupt), "opaque-etag-1")  # no SHA-256 in the ETag: only the download check can tell
    home = tmp_path / "home"
    r = run_cli(["model", "pull", "tiny-test"], home, env(hub, registry_file(tmp_path, gguf["sha"], len(gguf["data"]))))
    assert r.returncode == 2
    assert "SHA-256" in r.stderr and "deleted" in r.stderr
    assert not (home / "models" / FILE).exists() and not (home / "models" / (FILE + ".part")).exists()


@pytest.mark.parametrize("how", ["HF_HUB_OFFLINE", "unreachable"])
def test_pull_offline_fails_fast_and_names_the_file(tmp_path, gguf, how):
    import socket

    home = tmp_path / "home"
    reg = registry_file(tmp_path, gguf["sha"], len(gguf["data"]))
    if how == "HF_HUB_OFFLINE":
        e = env(None, reg, HF_HUB_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9")
    else:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        e = env(None, reg, HF_ENDPOINT=f"http://127.0.0.1:{port}")
    t0 = time.monotonic()
    r = run_cli(["model", "pull", "tiny-test"], home, e, timeout=60)
    assert r.returncode == 2
    assert time.monotonic() - t0 < 30
    line = r.stderr.strip().splitlines()[-1]
    assert FILE in line and str(home / "models") in line and gguf["sha"] in line
    assert not (home / "models" / FILE).exists()
