"""The files of a model-store folder: the manifest of their sha256 sums (``rotoflow-model.json``),
and the temporary sibling folders that pulls and adds are written in before being renamed into
place (so a failure leaves nothing finished-looking)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from models.hub import HF_METADATA_DIR
from models.spec import StagedModel
from rotoflow.errors import ModelNotAvailable
from rotoflow.files import sha256_file

MANIFEST = "rotoflow-model.json"


def one_line(exc: BaseException) -> str:
    """An exception's message on one line of at most 300 characters (its type when empty)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def files_digest(files: dict[str, str]) -> str:
    """Hex sha256 of a manifest's file map: the compact JSON of the map with its keys sorted."""
    blob = json.dumps(files, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def folder_names(folder: Path) -> list[str]:
    """Relative POSIX paths of the files :func:`hash_folder` hashes, without hashing them."""
    names = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        if here == folder and HF_METADATA_DIR in dirnames:
            dirnames.remove(HF_METADATA_DIR)
        names += [(here / f).relative_to(folder).as_posix() for f in filenames]
    return [n for n in names if n != MANIFEST and not n.startswith(f".{MANIFEST}.")]


def hash_folder(folder: Path) -> dict[str, str]:
    """Relative POSIX path -> hex sha256 of every file under ``folder``, except our manifest and
    the hub's download metadata (``.cache/``)."""
    return {rel: sha256_file(folder / rel) for rel in sorted(folder_names(folder))}


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of ``folder`` (``revision`` and ``sha256`` filled in when absent), or None
    when it has none.

    Raises:
        ModelNotAvailable: the manifest is unreadable or has no ``files`` map.
    """
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelNotAvailable(f"unreadable {path}: {one_line(exc)}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise ModelNotAvailable(f"unreadable {path}: no 'files' map")
    data.setdefault("revision", "local")
    data.setdefault("sha256", files_digest(data["files"]))
    return data


def write_manifest(folder: Path, staged: StagedModel) -> None:
    """Write the manifest of ``staged`` into ``folder`` (atomically: a temporary file renamed).

    Raises:
        OSError: the folder cannot be written.
    """
    body = {
        "name": staged.spec.name,
        "repo_id": staged.spec.repo_id,
        "revision": staged.revision,
        "files": dict(sorted(staged.files.items())),
        "sha256": staged.sha256,
    }
    tmp = folder / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(body, indent=1) + "\n")
    os.replace(tmp, folder / MANIFEST)


def partial(folder: Path) -> Path:
    """A fresh temporary sibling of ``folder`` to write it in (``.<name>.partial-<pid>-<hex>``)."""
    return folder.parent / f".{folder.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"


def publish(tmp: Path, folder: Path) -> None:
    """Rename the finished ``tmp`` folder to ``folder``, moving an existing one aside first.

    Raises:
        OSError: the rename failed (an existing ``folder`` is put back).
    """
    old = None
    if folder.exists():
        old = folder.parent / f".{folder.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
        os.rename(folder, old)
    try:
        os.rename(tmp, folder)
    except OSError:
        if old is not None and not folder.exists():
            os.rename(old, folder)
            old = None
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
