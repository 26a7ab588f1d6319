"""Fault injection for the reliability tests, loaded by a ``rotoflow`` subprocess whose
``PYTHONPATH`` starts with this folder (Python imports ``sitecustomize`` at start-up).

``ROTOFLOW_TEST_FAULT`` says what goes wrong, and where:

* ``kill:<stage>``: the process kills itself with SIGKILL as stage ``<stage>`` (``ingest`` ...
  ``export``, ``qc``) is about to commit its finished folder: the stage's files are written, the
  folder is still ``.partial``.
* ``kill:record``: SIGKILL after the outputs were swapped into the shot folder, before the job is
  recorded.
* ``lock:record``: another connection takes SQLite's write lock (``BEGIN EXCLUSIVE``) as the job is
  about to be recorded and holds it until the process ends.
* ``full:<stage>``: as stage ``<stage>`` commits, the file system of ``ROTOFLOW_TEST_FILL`` (a
  small tmpfs the test mounted) is filled to the last byte; with ``ROTOFLOW_TEST_FILL`` unset
  (no tmpfs: not root) the commit's write fails with ``ENOSPC`` itself.
* ``s3:upload``: object storage fails (a server error, after the first file) during the upload.
"""

from __future__ import annotations

import os

_FAULT = os.environ.get("ROTOFLOW_TEST_FAULT", "")


def _fill(folder: str) -> None:
    """Write zeros into ``folder/filler`` until its file system is full."""
    block = b"\0" * (1 << 16)
    with open(os.path.join(folder, "filler"), "ab", buffering=0) as fh:
        try:
            while True:
                fh.write(block)
        except OSError:
            pass
        block = b"\0"
        try:
            while True:
                fh.write(block)
        except OSError:
            pass


def _install() -> None:
    kind, _, where = _FAULT.partition(":")
    if not kind:
        return
    import errno
    import signal

    from rotoflow import records, workspace

    if kind in ("kill", "full") and where != "record":
        commit = workspace.ShotWorkspace.commit

        def faulty_commit(self, tmp, stage, key, **kw):
            if stage == where:
                if kind == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                fill = os.environ.get("ROTOFLOW_TEST_FILL")
                if not fill:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
                _fill(fill)
            return commit(self, tmp, stage, key, **kw)

        workspace.ShotWorkspace.commit = faulty_commit
    elif kind in ("kill", "lock") and where == "record":
        record_outputs = records.record_outputs

        def faulty_record(url, *args, **kw):
            if kind == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            import sqlite3
            import threading

            held = threading.Event()

            def hold() -> None:
                conn = sqlite3.connect(url.removeprefix("sqlite:///").split("?")[0], timeout=60)
                conn.isolation_level = None
                conn.execute("BEGIN EXCLUSIVE")
                held.set()
                threading.Event().wait()  # until the process ends

            threading.Thread(target=hold, daemon=True).start()
            held.wait(60)
            return record_outputs(url, *args, **kw)

        records.record_outputs = faulty_record
    elif kind == "s3":
        from rotoflow import objectstore
        from rotoflow.errors import StorageUnavailable

        upload_file = objectstore.S3Store.upload_file
        calls = []

        def faulty_upload(self, path, url, **kw):
            calls.append(path)
            if len(calls) > 1:
                raise StorageUnavailable(f"{url}: the server answered 503 Slow Down")
            return upload_file(self, path, url, **kw)

        objectstore.S3Store.upload_file = faulty_upload


_install()
