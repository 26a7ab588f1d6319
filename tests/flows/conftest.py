"""Fixtures of the flow tests: a real Prefect server on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker

from rotoflow.local import wait_healthy

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    log = open(home / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(BIN / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-ui",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(api, proc.pid, home / "server.log", timeout=180)
        yield api
    finally:
        # runs of the tests' own process send their last logs and events before the server goes
        # (left for a stopped server, Prefect would retry them at exit and pytest never ends)
        APILogWorker.drain_all(timeout=10)
        EventsWorker.drain_all(timeout=10)
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
