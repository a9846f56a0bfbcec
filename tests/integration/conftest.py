"""Fixtures shared by integration tests."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_for_http
from tests.integration.test_server_mode import free_port


@pytest.fixture
def chroma_server(tmp_path):
    """A real Chroma server on 127.0.0.1 (`chroma run`), its data under tmp_path; yields its URL."""
    chroma = Path(shutil.which("chroma") or Path(sys.executable).parent / "chroma")
    port = free_port()
    proc = subprocess.Popen([str(chroma), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(tmp_path / "srv")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(url + "/api/v2/heartbeat", proc, 60)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
