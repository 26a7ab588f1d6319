"""GitHub release assets as the model store sees them: where one is, and a download that streams
it to a file (YOLOX-Nano's ``yolox_nano.onnx`` is an asset of Megvii-BaseDetection/YOLOX's
``0.1.1rc0`` release). Standard library only."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

#: Where releases are downloaded from (tests point it at a loopback server).
GITHUB = "https://github.com"


def asset_url(repo_id: str, tag: str, asset: str) -> str:
    """``<GITHUB>/<repo_id>/releases/download/<tag>/<asset>``."""
    return f"{GITHUB.rstrip('/')}/{repo_id}/releases/download/{tag}/{asset}"


def download(url: str, dest: Path, timeout: float) -> None:
    """Stream ``url`` into the file ``dest`` (following GitHub's redirect to its asset storage).

    Args:
        url: The asset's URL (:func:`asset_url`).
        dest: File to write; its folder must exist.
        timeout: Seconds allowed for the connection and for each read.

    Raises:
        urllib.error.URLError: the server cannot be reached or answers with an error status
            (``HTTPError``: a missing tag or asset is 404).
        OSError: the file cannot be written, or the connection drops.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "rotoflow"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)
