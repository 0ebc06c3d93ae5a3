"""Fixtures for interoperability tests: a real ``filehub serve`` process over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import FilehubServer


@pytest.fixture
def live_server(tmp_path: Path, database_url: str, server_env: dict[str, str]) -> Iterator[FilehubServer]:
    """A running filehub server on a free 127.0.0.1 port; its data lives in tmp_path/server.

    On a failing test the server log is attached to the report (captured stdout).
    """
    server = FilehubServer(tmp_path / "server", database_url, **server_env)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        print(f"--- filehub server log ({server.log_path}) ---\n{server.log_tail()}")


@pytest.fixture
def token(live_server: FilehubServer) -> str:
    """A bearer token of a fresh user on ``live_server``, made through ``filehub admin``."""
    return live_server.create_user()
