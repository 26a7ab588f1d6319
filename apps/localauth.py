"""The API credentials of ``rotoflow up``: Prefect's basic authentication for the local server.

``up`` turns on the server's authentication (``PREFECT_SERVER_API_AUTH_STRING``) with an auth
string ``rotoflow:<random>`` kept in ``<ROTOFLOW_HOME>/prefect/api-auth``, a file only its owner can
read (mode 0600). The workers, ``rotoflow submit``, ``rotoflow run`` and ``rotoflow down`` read it
and send it (``PREFECT_API_AUTH_STRING``); the UI asks for it in its login form. It is handed to
the server and the workers in their environment, never on a command line (``ps`` shows those), in
``up.json`` or in a log. The string stays the same from one ``up`` to the next; delete the file
(while down) for a new one.

Every request to the API without it is answered 401, except ``GET /api/health`` and
``GET /api/ready`` (Prefect exempts those probes).

Only the standard library is imported here.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

AUTH_FILE = "api-auth"
"""The auth string's file in the stack's data folder."""
USER = "rotoflow"
"""The user name part of the auth string (Prefect compares the whole ``user:password`` string)."""


def auth_path(data: Path) -> Path:
    """The auth string's file in a data folder (``<home>/prefect/api-auth``)."""
    return data / AUTH_FILE


def read_auth(data: Path) -> str | None:
    """The auth string of the stack in ``data``, or None when it has none (or it is unreadable,
    or not an auth string)."""
    try:
        text = auth_path(data).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if _valid(text) else None


def _valid(text: str) -> bool:
    user, sep, password = text.partition(":")
    return bool(user and sep and len(password) >= 32 and text.isprintable() and " " not in text)


def _private(path: Path) -> bool:
    """A regular file of this user that nobody else can read or write (not a link)."""
    st = path.lstat()
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def ensure_auth(data: Path) -> str:
    """The auth string of the stack in ``data``, created when missing.

    A new one is ``rotoflow:`` and 43 URL-safe characters from :func:`secrets.token_urlsafe`
    (256 bits), written to :func:`auth_path` created exclusively with mode 0600 (never through
    a file or link already there). A file that is not a private regular file of this user (its
    mode lets others read it, say) or holds no auth string is replaced by a new one.

    Args:
        data: The stack's data folder (it exists).

    Returns:
        The auth string, ``user:password``.

    Raises:
        OSError: The file cannot be created or read.
    """
    path = auth_path(data)
    if path.exists() or path.is_symlink():
        if _private(path):
            text = read_auth(data)
            if text is not None:
                return text
        logger.warning("%s is not a private auth string file; making a new one", path)
        path.unlink()
    text = f"{USER}:{secrets.token_urlsafe(32)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)  # whatever the umask
        f.write(text + "\n")
    return text


def is_loopback(host: str) -> bool:
    """Whether a listening address is reachable from this machine only (``127.0.0.1`` and the
    rest of ``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
