"""The Hugging Face hub as the model store sees it: where it is, whether it answers, what a
revision holds, the download of a snapshot and which commit it came from. ``huggingface_hub`` is imported only inside
the functions that call it."""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
#: Folder that ``snapshot_download(local_dir=...)`` keeps its download metadata in.
HF_METADATA_DIR = ".cache"
#: Files of other frameworks that a PyTorch pipeline never reads: not pulled.
NOT_PYTORCH = [
    "*.h5",
    "*.msgpack",
    "*.onnx",
    "*.ot",
    "*.tflite",
    "tf_model*",
    "flax_model*",
    "rust_model*",
    "onnx/*",
    "coreml/*",
    "openvino/*",
]
_COMMIT = re.compile(r"[0-9a-f]{40}")


def is_commit(revision: str) -> bool:
    """Whether ``revision`` is a full 40-hex-digit commit hash."""
    return bool(_COMMIT.fullmatch(revision))


def hub_endpoint() -> str:
    """The hub URL: ``HF_ENDPOINT`` when set, else ``https://huggingface.co``."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def probe_hub(endpoint: str, timeout: float) -> bool:
    """Whether a TCP connection to the hub (or to the HTTP(S) proxy the environment names for it)
    opens within ``timeout`` seconds.

    Name resolution is bounded too: the attempt runs in a daemon thread that is abandoned after
    ``timeout``. Nothing is sent over the connection.
    """
    url = urlsplit(endpoint)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(url.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        purl = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = purl.hostname or host, purl.port or (443 if purl.scheme == "https" else 80)
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except (OSError, ValueError):
            result.append(False)

    thread = threading.Thread(target=attempt, name="rotoflow-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def remote_listing(
    repo_id: str, revision: str | None, timeout: float
) -> tuple[str | None, set[str] | None]:
    """Commit hash and file names of a hub revision, or ``(None, None)`` when the API call fails
    (the download then goes on unpinned and the commit is read from its metadata)."""
    from huggingface_hub import HfApi

    try:
        info = HfApi(endpoint=hub_endpoint()).model_info(
            repo_id, revision=revision, timeout=max(timeout, 10.0)
        )
    except Exception as exc:
        log.info("model_info(%s) failed (%s); downloading without a file listing", repo_id, exc)
        return None, None
    sha = info.sha if isinstance(info.sha, str) and _COMMIT.fullmatch(info.sha) else None
    files = {sib.rfilename for sib in (info.siblings or [])} or None
    return sha, files


def local_dir_commit(local_dir: Path) -> str | None:
    """The commit hash ``snapshot_download(local_dir=...)`` recorded in its download metadata
    (first line of each ``.cache/huggingface/download/**/*.metadata``), when all files agree."""
    commits = set()
    for meta in (local_dir / HF_METADATA_DIR / "huggingface" / "download").rglob("*.metadata"):
        try:
            first = meta.read_text().splitlines()[0].strip()
        except (OSError, IndexError):
            continue
        if _COMMIT.fullmatch(first):
            commits.add(first)
    return commits.pop() if len(commits) == 1 else None


def snapshot(
    repo_id: str, kind: str, weights: str, dest: Path, revision: str | None, timeout: float
) -> str:
    """Download a hub repository's files into the folder ``dest`` with
    ``huggingface_hub.snapshot_download(local_dir=dest)``; returns the commit they came from.

    Files of other frameworks are skipped, and so are weights the kind does not load (a SAM 2
    checkpoint needs no safetensors; a transformers model with ``weights`` needs no
    ``pytorch_model.bin``). The download metadata (``.cache/``) is removed afterwards.

    Args:
        repo_id: The hub repository.
        kind: ``"sam2"`` or ``"transformers"``.
        weights: The main weights file name.
        dest: Folder to download into.
        revision: Branch, tag or commit (None: the default branch).
        timeout: Seconds for the listing call (at least 10).

    Returns:
        The commit hash (pinned from the listing when it answered, else read from the download
        metadata), else ``revision`` or ``"unknown"``.

    Raises:
        Exception: whatever ``huggingface_hub`` raises for a failed download.
    """
    import huggingface_hub

    commit, remote_files = remote_listing(repo_id, revision, timeout)
    ignore = list(NOT_PYTORCH)
    if kind == "sam2":
        ignore += ["*.safetensors", "*.bin", "*.pth", "*.ckpt"]
    elif remote_files is not None and weights in remote_files:
        ignore += ["pytorch_model*.bin", "pytorch_model.bin.index.json"]
    huggingface_hub.snapshot_download(
        repo_id, revision=commit or revision, local_dir=dest, ignore_patterns=ignore
    )
    commit = commit or local_dir_commit(dest) or revision or "unknown"
    shutil.rmtree(dest / HF_METADATA_DIR, ignore_errors=True)
    return commit
