"""A real PostgreSQL server for the tests: a throwaway cluster made with ``initdb`` in a
temporary directory and run with ``pg_ctl`` on a free port of 127.0.0.1, as an unprivileged
user when the tests run as root (PostgreSQL refuses to run as root). One per test session;
each test gets a database of its own.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import free_port

INSTALL = (
    "these tests need PostgreSQL's server programs (initdb, pg_ctl): install them (Debian/"
    "Ubuntu: 'apt-get install postgresql'; macOS: 'brew install postgresql'); .ci/run does"
)


def _binary(name: str) -> str | None:
    """``name`` on PATH, or in Debian's versioned directory (not on PATH), newest first."""
    found = shutil.which(name)
    if found is not None:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


class PostgresServer:
    def __init__(self) -> None:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        if initdb is None or pg_ctl is None:
            pytest.fail(INSTALL)
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="gupshup-pg-"))
        self.data = self.directory / "data"
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.directory, nobody.pw_uid, nobody.pw_gid)
            self._as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        self.user = "gupshup"

    def _run(self, *command: str) -> None:
        subprocess.run(
            command,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.directory,
            env={**os.environ, "LC_ALL": "C"},
            **self._as,
        )

    def start(self) -> None:
        """Make the cluster (the first time), then start the server."""
        if not self.data.exists():
            self._make()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.directory} -c max_connections=200 "
            "-c shared_buffers=32MB"
        )
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-w", "-t", "60",
                  "-l", str(self.directory / "log"), "start")  # fmt: skip

    def halt(self) -> None:
        """Stop the server at once, as a crash would: the cluster stays, to start again."""
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def _make(self) -> None:
        self._run(
            self.initdb, "-D", str(self.data), "-U", self.user, "-A", "trust", "--no-sync", "-E",
            "UTF8",
        )  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A database of this test's own on the session's server."""
    return postgres_server.new_database()
