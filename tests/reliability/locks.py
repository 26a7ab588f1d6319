"""A write lock on the project database held by another connection for a while, as a second
writer (a long transaction of another process) would hold it."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

LOCK_WAIT_S = 0.5
"""How long a writer of :func:`short_lock_waits` waits for a held lock before its try fails."""


def short_lock_waits(url: str) -> str:
    """``url`` (of the ``database_url`` fixture) with lock waits of :data:`LOCK_WAIT_S`: SQLite's
    busy timeout, PostgreSQL's ``lock_timeout``."""
    if url.startswith("sqlite"):
        return f"{url}?timeout={LOCK_WAIT_S}"
    return f"{url}%20-clock_timeout%3D{int(LOCK_WAIT_S * 1000)}"


@contextmanager
def write_lock_held(url: str, seconds: float) -> Iterator[None]:
    """Hold the database's write lock for ``seconds`` from entering the block, released by a
    background thread (the block may run longer or shorter than that; leaving it waits for the
    release).

    SQLite: another connection in ``BEGIN EXCLUSIVE`` (no other connection reads or writes).
    PostgreSQL: another transaction holding every shot row ``FOR UPDATE`` (what a concurrent
    :func:`rotoflow.db.lock_shot` takes).
    """
    parsed = make_url(url)
    locked, released = threading.Event(), threading.Event()
    if parsed.get_backend_name() == "sqlite":

        def hold() -> None:
            conn = sqlite3.connect(parsed.database, isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")
            locked.set()
            time.sleep(seconds)
            conn.execute("ROLLBACK")
            conn.close()
            released.set()

    else:
        engine = create_engine(url)

        def hold() -> None:
            with engine.connect() as conn, conn.begin() as tx:
                conn.execute(text("SELECT id FROM shot FOR UPDATE")).all()
                locked.set()
                time.sleep(seconds)
                tx.rollback()
            engine.dispose()
            released.set()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    if not locked.wait(30):
        raise TimeoutError(f"could not take the write lock of {url}")
    try:
        yield
    finally:
        thread.join(seconds + 30)
        if not released.is_set():
            raise TimeoutError(f"the write lock of {url} was not released")
