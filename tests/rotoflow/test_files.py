"""File locks between processes (:func:`rotoflow.files.locked`): exclusion, waiting, timeouts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rotoflow
from rotoflow.errors import LockTimeout, RotoflowError
from rotoflow.files import locked

ROOT = Path(rotoflow.__file__).resolve().parents[1]


def _python(code: str, *args: str) -> subprocess.Popen:
    """Another Python process running ``code`` against this checkout's ``rotoflow``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


TRY = """
import sys
from rotoflow.errors import LockTimeout
from rotoflow.files import locked
try:
    with locked(sys.argv[1], timeout=float(sys.argv[2]), shared=sys.argv[3] == "shared"):
        print("got it")
except LockTimeout as e:
    print("timeout:", e)
"""

HOLD = """
import pathlib, sys, time
from rotoflow.files import locked
with locked(sys.argv[1]):
    pathlib.Path(sys.argv[2]).write_text("held")
    time.sleep(float(sys.argv[3]))
"""


def _holder(path: Path, seconds: float) -> subprocess.Popen:
    """Another process that holds the lock on ``path`` for ``seconds``, returned once it does."""
    ready = path.with_name(f"{path.name}.ready")
    holder = _python(HOLD, str(path), str(ready), str(seconds))
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert holder.poll() is None and time.monotonic() < deadline, holder.stderr.read()
        time.sleep(0.02)
    return holder


def _try(path: Path, timeout: float, how: str = "exclusive") -> str:
    proc = _python(TRY, str(path), str(timeout), how)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out.strip()


def test_a_second_process_cannot_take_the_lock_while_the_first_holds_it(tmp_path):
    path = tmp_path / "a.lock"
    with locked(path):
        assert _try(path, 0.3).startswith(f"timeout: {path} still locked after 0.3 s")
        assert _try(path, 0, "shared").startswith("timeout:")  # an exclusive lock excludes all
    assert _try(path, 0) == "got it"  # released when the block ends


def test_shared_locks_coexist_and_exclude_an_exclusive_one(tmp_path):
    path = tmp_path / "s.lock"
    with locked(path, shared=True):
        assert _try(path, 0, "shared") == "got it"
        assert _try(path, 0.2).startswith("timeout:")
        with locked(path, shared=True):  # another open file of this process: shared too
            pass
    assert _try(path, 0) == "got it"


def test_timeout_raises_a_named_timeout_error_after_waiting(tmp_path):
    path = tmp_path / "t.lock"
    with locked(path):
        started = time.monotonic()
        # flock excludes another open file of the same process too
        with (
            pytest.raises(LockTimeout, match="still locked after 0.5 s") as caught,
            locked(path, timeout=0.5),
        ):
            pytest.fail("took a held lock")
        assert time.monotonic() - started >= 0.5
    assert isinstance(caught.value, TimeoutError) and isinstance(caught.value, RotoflowError)
    with locked(path, timeout=0):  # free again: taken at the first try
        pass


def test_without_timeout_it_waits_for_the_holder_to_let_go(tmp_path):
    path = tmp_path / "w.lock"
    holder = _holder(path, 1.0)
    started = time.monotonic()
    with locked(path):
        waited = time.monotonic() - started
    assert waited >= 0.5  # it blocked until the holder's block ended (1 s after it was ready)
    assert holder.wait(timeout=30) == 0


def test_a_lock_held_by_a_killed_process_is_free(tmp_path):
    path = tmp_path / "k.lock"
    holder = _holder(path, 60.0)
    with pytest.raises(LockTimeout), locked(path, timeout=0):
        pass
    holder.kill()
    holder.wait(timeout=10)
    with locked(path, timeout=5):
        pass


def test_lock_file_and_folder_are_created_and_kept(tmp_path):
    path = tmp_path / "new" / "deeper" / "c.lock"
    with locked(path):
        assert path.is_file()
    assert path.is_file() and path.read_bytes() == b""
    path.write_text("keep")
    with locked(path):
        pass
    assert path.read_text() == "keep"  # the contents are never touched


def test_the_lock_is_released_when_the_block_raises(tmp_path):
    path = tmp_path / "e.lock"
    with pytest.raises(KeyError), locked(path):
        raise KeyError("boom")
    assert _try(path, 0) == "got it"
