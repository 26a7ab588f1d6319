"""Shared fixtures: paths to the real footage and weights in ``../shared``."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

# Prefect reads its settings when first imported: keep test runs out of the user's ~/.prefect and
# off any configured server (tests that need a server start their own).
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="rotoflow-test-prefect-")
os.environ.pop("PREFECT_API_URL", None)
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "180"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def at_once(worker: Callable[[int], object], n: int) -> list[Exception]:
    """Call ``worker(0)`` .. ``worker(n - 1)`` on ``n`` threads released together (a barrier);
    returns the exceptions they raised."""
    barrier = threading.Barrier(n)
    errors: list[Exception] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            worker(i)
        except Exception as exc:  # noqa: BLE001 (returned to the test, which asserts on them)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DAVIS = SHARED / "data" / "davis2016"
YOLOX = SHARED / "models" / "yolox-nano" / "yolox_nano.onnx"


def davis_frames(seq: str) -> Path:
    """Folder of a DAVIS-2016 sequence's JPEG frames (``00000.jpg`` ...)."""
    return DAVIS / "JPEGImages" / "480p" / seq


def davis_masks(seq: str) -> Path:
    """Folder of a DAVIS-2016 sequence's ground-truth masks (``00000.png`` ...)."""
    return DAVIS / "Annotations" / "480p" / seq


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        raise FileNotFoundError(f"real test data expected at {SHARED} (see DEVELOPERS.md)")
    return SHARED


@pytest.fixture(scope="session")
def yolox_path(shared) -> Path:
    return YOLOX


POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
"""The PostgreSQL server on this machine (trust authentication)."""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A project database URL that no engine has seen: a new SQLite file, or a fresh schema on the
    PostgreSQL server (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'project.db'}"
        return
    from sqlalchemy import create_engine, text

    schema = f"t_{os.urandom(6).hex()}"
    admin = create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()
