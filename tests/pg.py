"""A throwaway PostgreSQL server for the progress-store tests: Debian's server binaries
(`make sysdeps` installs them), a cluster in a temp dir on 127.0.0.1 and a free port, started
once per test session (per pytest-xdist worker) and removed at its end; every test gets a
database of its own. Durability is off (fsync, full-page writes, synchronous commit): a test
server need not survive a power cut. Collation: ICU en-US, as a production server usually
has, so a query that relied on SQLite's code-point order would show it; session time zone
Asia/Shanghai, so a time read back without its conversion to UTC would show too.

`store_url` is the fixture the store tests take: a fresh database URL on SQLite, then on
PostgreSQL, so the same test runs on both (`new_store_url()` for more databases of the same
backend). A test module gets these fixtures with `pytest_plugins = ["tests.pg"]`."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

SYSDEPS = "run `make sysdeps` (installs Debian's postgresql)"


def _bindir() -> Path | None:
    """The newest installed PostgreSQL server's bin folder (Debian layout, else PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One running cluster; `database()` makes a new empty database and returns its URL."""

    def __init__(self):
        bindir = _bindir()
        if bindir is None:
            pytest.fail(f"PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): {SYSDEPS}", pytrace=False)
        self.bin = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="tutor-pg-"))  # not under pytest's root-only temp: the server reads it
        try:
            self._start()
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def _start(self) -> None:
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # the server refuses to run as root
            try:
                shutil.chown(self.dir, "postgres", "postgres")
            except LookupError:
                pytest.fail(f"no 'postgres' system user to run the PostgreSQL server as: {SYSDEPS}", pytrace=False)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.dir / "data"
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "tutor", "--no-sync", "-E", "UTF8",
                  "--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US")
        for attempt in range(5):  # another worker may take the free port first
            self.port = _free_port()
            opts = (f"-h 127.0.0.1 -p {self.port} -k {self.dir} -F -c full_page_writes=off -c synchronous_commit=off "
                    "-c max_connections=300 -c timezone=Asia/Shanghai")
            try:
                self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-l", str(self.dir / "log"), "-o", opts, "start")
                break
            except RuntimeError:
                if attempt == 4:
                    raise
        self._ids = itertools.count(1)
        import psycopg

        self._admin = psycopg.connect(f"host=127.0.0.1 port={self.port} user=tutor dbname=postgres", autocommit=True)

    def _run(self, tool: str, *args: str) -> None:
        r = subprocess.run([*self.as_user, str(self.bin / tool), *args], capture_output=True, text=True)
        if r.returncode:
            log = self.dir / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed ({r.returncode}): {r.stderr.strip()[-2000:]}\n{tail}")

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://tutor@127.0.0.1:{self.port}/{db}"

    def database(self) -> str:
        """A new empty database's SQLAlchemy URL."""
        name = f"t{next(self._ids)}"
        self._admin.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._admin.close()
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    server = PgServer()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request) -> str:
    """The store tests' parameter: each runs on SQLite, then on PostgreSQL."""
    return request.param


@pytest.fixture
def new_store_url(request, store_backend, tmp_path):
    """A callable returning another new, empty database of this test's backend on each call."""
    if store_backend == "sqlite":
        n = itertools.count(1)
        return lambda: f"sqlite:///{tmp_path / f'p{next(n)}.db'}"
    return request.getfixturevalue("pg_server").database


@pytest.fixture
def store_url(new_store_url) -> str:
    """A new, empty progress database: a SQLite file, then a PostgreSQL database."""
    return new_store_url()
