"""File helpers of the core: safe path components, containment checks, atomic writes that follow
the umask, file locks between processes, content digests.

Every name that becomes part of a path (project, shot, object) passes :func:`check_name` (a name
the user gave) or :func:`clean_name` (a name derived from a file name), so it is one safe path
component; every folder Rotoflow writes into is checked with :func:`inside` to lie under its root
once symlinks are resolved.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import socket
import tempfile
import threading
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rotoflow.errors import InvalidName, LockTimeout, UnsafePath

MAX_NAME = 100
"""Longest project, shot or object name, in characters. Output file names add a frame number and
a suffix (``<object>.<frame>.exr``), well within the 255 bytes most file systems allow."""

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"
"""A safe path component: ASCII letters, digits, ``_``, ``.`` and ``-``, not starting with ``.``
or ``-`` (so never ``.``, ``..``, a hidden file or an option)."""

_NAME = re.compile(NAME_PATTERN)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def check_name(name: str, what: str) -> str:
    """Check that a given name is one safe path component.

    Args:
        name: The name (a shot, project or object name the user gave).
        what: What it names, for the message (``"shot"``).

    Returns:
        ``name`` unchanged.

    Raises:
        InvalidName: ``name`` is empty, longer than :data:`MAX_NAME`, or has a character outside
            :data:`NAME_PATTERN` (a ``/``, a leading ``.``, a space ...).
    """
    if len(name) > MAX_NAME:
        raise InvalidName(
            f"{what} name {name[:40]!r}... is {len(name)} characters; at most {MAX_NAME}"
        )
    if not _NAME.match(name):
        raise InvalidName(
            f"{what} name {name!r} must be letters, digits, '_', '.' or '-', starting with a "
            "letter, digit or '_'"
        )
    return name


def clean_name(text: str, fallback: str) -> str:
    """A safe path component derived from free text (a plate's file name).

    Accents are folded to ASCII (NFKD: ``shöt`` -> ``shot``), every run of other characters
    becomes ``_``, leading dots and dashes go, and the result is cut to :data:`MAX_NAME`.

    Args:
        text: The text to derive from.
        fallback: The name when nothing usable is left (``"..."`` -> ``fallback``).

    Returns:
        A name that passes :func:`check_name`.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = _UNSAFE.sub("_", ascii_text).lstrip(".-")[:MAX_NAME].rstrip(".")
    return name if name and name.strip("_") and _NAME.match(name) else fallback


def inside(root: str | os.PathLike, path: str | os.PathLike) -> Path:
    """``path`` resolved (symlinks followed), checked to lie inside ``root`` resolved.

    Args:
        root: The folder that must contain ``path`` (need not exist yet).
        path: The path to check (need not exist yet).

    Returns:
        The resolved ``path``.

    Raises:
        UnsafePath: ``path`` resolves outside ``root`` (a ``..`` or a symlink that leads out).
    """
    root_r = Path(root).resolve()
    path_r = Path(path).resolve()
    if not path_r.is_relative_to(root_r):
        raise UnsafePath(f"{path} resolves to {path_r}, outside its root {root_r}")
    return path_r


HOST = socket.gethostname()
"""This machine's name, part of the names of temporary folders (a shared file system may hold
another host's, whose processes this host cannot see)."""


def owner_tag() -> str:
    """``<host>-<pid>`` of this process, for names of temporary files and folders."""
    return f"{HOST}-{os.getpid()}"


def owner_is_gone(tag: str) -> bool:
    """Whether a ``<host>-<pid>`` tag (:func:`owner_tag`) names a process of this host that no
    longer runs. Another host's tags are never gone (this host cannot tell)."""
    host, _, pid = tag.rpartition("-")
    if host != HOST or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask (read from ``/proc/self/status`` on Linux, else set and restored)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


@contextmanager
def atomic_target(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block ends
    without an error, removed otherwise, so ``path`` is never seen half-written. The temporary
    name keeps ``path``'s suffix (writers such as OpenCV choose the format by it); the folder is
    created if missing.

    The file gets the mode a plain ``open(path, "w")`` would give (``0o666`` less the umask), not
    ``tempfile``'s ``0o600``, so published files are readable as the studio's umask says.

    Raises:
        OSError: The folder cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        os.close(fd)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_target`)."""
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (:func:`atomic_target`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def locked(
    path: str | os.PathLike,
    *,
    timeout: float | None = None,
    shared: bool = False,
    poll: float = 0.1,
) -> Iterator[None]:
    """Hold an advisory lock (``flock(2)``) on the file ``path`` for the ``with`` block.

    The lock file is created if missing (mode ``0o666`` less the umask, as ``open(path, "a")``
    gives), its folder too (``mkdir(parents=True)``, as the umask says); it is never removed, and
    its contents are never touched. The kernel drops the lock when the block ends or the process
    holding it dies, so a crash never leaves a stale lock. ``flock`` locks are per open file:
    two ``with locked(path)`` blocks exclude each other even within one process.

    Args:
        path: The lock file.
        timeout: None to wait as long as it takes (a blocking ``flock``); else seconds to wait,
            trying again every ``poll`` seconds (0 tries once).
        shared: Take a shared lock, which other shared holders may hold at the same time and an
            exclusive one excludes; by default the lock is exclusive.
        poll: Seconds between tries while waiting with a ``timeout``.

    Raises:
        LockTimeout: Another process still holds the lock after ``timeout`` seconds.
        OSError: The lock file or its folder cannot be created or opened.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    with open(path, "a") as lock:
        if timeout is None:
            fcntl.flock(lock, mode)
        else:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(lock, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockTimeout(f"{path} still locked after {timeout:g} s") from None
                    time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks.

    Raises:
        OSError: The file cannot be read.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
