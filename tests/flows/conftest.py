"""Fixtures of the flow tests: a real Prefect server on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker

from apps.local import wait_healthy
from tests.conftest import free_port

BIN = Path(sys.executable).parent


@contextmanager
def prefect_server(
    home: Path, *, ui: bool = False, env: dict[str, str] | None = None
) -> Iterator[str]:
    """A ``prefect server start`` on a free loopback port with its data in ``home``; yields its base
    URL (``http://127.0.0.1:<port>``) once it answers, and stops it after.

    Args:
        home: ``PREFECT_HOME`` of the server (its database; ``server.log`` is written there).
        ui: Serve the UI too (pointed at this server's API).
        env: Extra environment of the server (e.g. ``PREFECT_SERVER_API_AUTH_STRING``).
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **(env or {}),
    }
    argv = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    if ui:
        env["PREFECT_UI_API_URL"] = f"{base}/api"
    else:
        argv.append("--no-ui")
    with open(home / "server.log", "wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(f"{base}/api", proc.pid, home / "server.log", timeout=180)
            yield base
        finally:
            # runs of the tests' own process send their last logs and events before the server
            # goes (left for a stopped server, Prefect would retry them at exit and pytest never
            # ends)
            APILogWorker.drain_all(timeout=10)
            EventsWorker.drain_all(timeout=10)
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A Prefect server without UI for the module; yields its API URL."""
    with prefect_server(tmp_path_factory.mktemp("prefect-server")) as base:
        yield f"{base}/api"
