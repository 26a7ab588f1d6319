"""Per-shot folders, stage work folders with atomic publication, content hashes.

Layout of one shot under the output root::

    <output_root>/<shot>/
        masks/<object>/<object>.<frame>.png     16-bit binary masks      (published by export)
        alpha/<object>/<object>.<frame>.exr     half-float alpha (A)     (published by export)
        roto/<shot>.nk                          Nuke Roto script         (published by export)
        roto/<shot>.shapes.json                 roto shapes, pipeline JSON
        qc/contact_sheet.png                    matte overlays, flagged frames   (written by qc)
        qc/qc.json                              area per frame and flags
        .rotoflow/<stage>-<key>/                finished stage work, reused by re-runs
        .rotoflow/<stage>-<key>.partial-<pid>/  a stage being written (never looks finished)
        .rotoflow/<stage>-<key>.partial/        a resumable stage being written, kept after a crash

A stage writes into its ``.partial`` folder and renames it into place only after it has written its
``manifest.json``; a failed stage leaves no folder under the finished name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

MANIFEST = "manifest.json"


class StageOutput(BaseModel):
    """What a stage hands to the next one: a folder reference, never frames.

    Attributes:
        stage: Stage name (``"ingest"``, ``"detect"``, ...).
        key: Cache key of the stage (hex sha256 of everything its result depends on).
        path: Finished stage folder.
        n_frames: Frames the stage covered.
        seconds: Wall time of the run that produced the folder.
        details: Small stage-specific facts (plate metadata, file lists, model versions).
    """

    stage: str
    key: str
    path: str
    n_frames: int = 0
    seconds: float = 0.0
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return Path(self.path)


def fingerprint(*parts: Any) -> str:
    """Hex sha256 of the JSON form of ``parts`` (keys sorted), for cache keys."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ShotWorkspace:
    """The folder of one shot.

    Attributes:
        root: ``<output_root>/<shot>``.
    """

    root: Path

    @property
    def work(self) -> Path:
        return self.root / ".rotoflow"

    def stage_dir(self, stage: str, key: str) -> Path:
        """Finished folder of a stage run with cache key ``key``."""
        return self.work / f"{stage}-{key[:20]}"

    def finished(self, stage: str, key: str) -> StageOutput | None:
        """The stage's output if a finished folder with this exact key exists, else None."""
        manifest = self.stage_dir(stage, key) / MANIFEST
        if not manifest.is_file():
            return None
        out = StageOutput.model_validate_json(manifest.read_text())
        if out.key != key:
            return None
        return out.model_copy(update={"path": str(self.stage_dir(stage, key))})

    @contextmanager
    def staging(self, stage: str, key: str, *, resumable: bool = False) -> Iterator[Path]:
        """A ``.partial`` folder for a stage; renamed to the finished name on success.

        The caller writes the stage's files and then :meth:`commit`s inside the ``with`` block.
        By default the folder is fresh (``.partial-<pid>``) and removed on an exception. With
        ``resumable`` it is ``.partial`` (one per stage key), kept on an exception so that the next
        run of the same stage can go on from what it holds, and held under an exclusive lock
        (``fcntl.flock``) so two processes never write it at once.
        """
        final = self.stage_dir(stage, key)
        if not resumable:
            tmp = final.with_name(f"{final.name}.partial-{os.getpid()}")
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            try:
                yield tmp
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            return
        import fcntl

        tmp = final.with_name(f"{final.name}.partial")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        with open(final.with_name(f"{final.name}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                tmp.mkdir(exist_ok=True)
                yield tmp
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def commit(
        self,
        tmp: Path,
        stage: str,
        key: str,
        *,
        started: float,
        n_frames: int,
        details: dict[str, Any] | None = None,
    ) -> StageOutput:
        """Write the manifest into ``tmp`` and move it to the finished name.

        Args:
            tmp: The folder from :meth:`staging`.
            stage: Stage name.
            key: The stage run's cache key.
            started: ``time.perf_counter()`` when the stage started (the manifest records the
                seconds since).
            n_frames: Frames the stage covered.
            details: Small stage-specific facts.
        """
        final = self.stage_dir(stage, key)
        out = StageOutput(
            stage=stage,
            key=key,
            path=str(final),
            n_frames=n_frames,
            seconds=time.perf_counter() - started,
            details=details or {},
        )
        (tmp / MANIFEST).write_text(out.model_dump_json(indent=1))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return out


def publish_tree(sources: dict[str, Path], dest_root: Path) -> list[Path]:
    """Publish files into ``dest_root`` so that each top-level folder appears complete or not at all.

    Args:
        sources: Map of relative destination path (``"masks/dancer/dancer.0001.png"``) to source file.
        dest_root: The shot folder.

    Returns:
        Published paths. Files are hard-linked where the file system allows (no copy), else copied.
        Each top-level folder (``masks``, ``alpha``, ``roto``) is assembled under a hidden temporary
        name and swapped into place with renames.
    """
    staging = dest_root / f".publish-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    published: list[Path] = []
    try:
        for rel, src in sources.items():
            dst = staging / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
            published.append(dest_root / rel)
        for top in sorted(p.name for p in staging.iterdir()):
            final = dest_root / top
            old = dest_root / f".old-{top}-{os.getpid()}"
            if final.exists():
                os.replace(final, old)
            os.replace(staging / top, final)
            if old.exists():
                shutil.rmtree(old)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return published
