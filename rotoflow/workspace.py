"""Per-shot folders, stage work folders with atomic publication, content hashes.

Layout of one shot under the output root::

    <output_root>/<project>/<shot>/
        masks/<object>/<object>.<frame>.png     16-bit binary masks      (published by export)
        alpha/<object>/<object>.<frame>.exr     half-float alpha (A)     (published by export)
        roto/<shot>.nk                          Nuke Roto script         (published by export)
        roto/<shot>.shapes.json                 roto shapes, pipeline JSON
        qc/contact_sheet.png                    matte overlays, flagged frames   (written by qc)
        qc/qc.json                              area per frame and flags
        .rotoflow/<stage>-<key>/                finished stage work, reused by re-runs
        .rotoflow/<stage>-<key>.partial-<host>-<pid>/  a stage being written (never looks finished)
        .rotoflow/<stage>-<key>.partial/        a resumable stage being written, kept after a crash

A stage writes into its ``.partial`` folder and renames it into place only after it has written its
``manifest.json``; a failed stage leaves no folder under the finished name, and a finished folder
is never replaced (a concurrent run of the same shot and key keeps the first). Outputs are
published last (:func:`publish_tree`), under the shot's lock (:func:`shot_lock`), and withdrawn if
the job then fails.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from rotoflow.errors import LockTimeout
from rotoflow.files import atomic_write_text, inside, locked, owner_tag
from rotoflow.files import owner_is_gone as process_is_gone
from rotoflow.files import sha256_file as sha256_file  # the core's, used by the stages
from rotoflow.types import ObjectRef, OutputRecord

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

    def objects(self) -> list[ObjectRef]:
        """The objects the stage covered, in prompt order (``details["objects"]``, written by the
        propagate and vectorize stages as :class:`~rotoflow.types.ObjectRef` fields).

        Raises:
            KeyError: The stage lists no objects.
        """
        return [ObjectRef(**o) for o in self.details["objects"]]

    def outputs(self) -> list[OutputRecord]:
        """The shot's output files the stage listed (``details["outputs"]``, written by the export
        stage as :class:`~rotoflow.types.OutputRecord` fields).

        Raises:
            KeyError: The stage lists no outputs.
        """
        return [OutputRecord(**r) for r in self.details["outputs"]]


def fingerprint(*parts: Any) -> str:
    """Hex sha256 of the JSON form of ``parts`` (keys sorted), for cache keys."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class ShotWorkspace:
    """The folder of one shot.

    Attributes:
        root: ``<output_root>/<project>/<shot>``.
    """

    root: Path

    @property
    def work(self) -> Path:
        return self.root / ".rotoflow"

    def stage_dir(self, stage: str, key: str) -> Path:
        """Finished folder of a stage run with cache key ``key``."""
        return self.work / f"{stage}-{key[:20]}"

    def finished(self, stage: str, key: str) -> StageOutput | None:
        """The stage's output if a finished folder with this exact key exists in this shot's
        workspace, else None. The path returned is always inside :attr:`work`."""
        manifest = self.stage_dir(stage, key) / MANIFEST
        if not manifest.is_file():
            return None
        out = StageOutput.model_validate_json(manifest.read_text())
        if out.key != key:
            return None
        return out.model_copy(update={"path": str(self.stage_dir(stage, key))})

    def begin(self, stage: str, key: str) -> StageRun:
        """Begin a run of ``stage`` with cache key ``key``: the one way a stage starts.

        The returned run's ``done`` is the finished output when a folder of this key is already
        finished in this shot's workspace (:meth:`finished`; the stage returns it and does
        nothing); otherwise the stage writes its files in ``run.staging()`` and returns
        ``run.commit(...)``, which records the seconds since this call.
        """
        return StageRun(self, stage, key, time.perf_counter(), self.finished(stage, key))

    def check(self) -> Path:
        """Create the work folder if missing and check that it lies inside the shot folder once
        symlinks are resolved.

        Raises:
            UnsafePath: ``.rotoflow`` (or the shot folder's parent chain below it) is a symlink
                that leads out of the shot folder.
        """
        self.work.mkdir(parents=True, exist_ok=True)
        return inside(self.root, self.work)

    def clean_stale(self, gone: Iterable[str] = ()) -> list[Path]:
        """Remove what processes of this host that no longer run left behind: ``.partial-``
        stage folders and ``.publish-`` folders; a publication they had swapped in but not
        committed (:class:`Publication`) is withdrawn, the earlier one put back. Resumable
        ``.partial`` folders (no owner) are kept for the next run to resume.

        Args:
            gone: More ``<host>-<pid>`` owners known to have stopped (a crashed job of another
                host, :func:`rotoflow.liveness.reap_crashed`).

        Returns:
            The paths removed or restored.
        """
        gone = set(gone)

        def owner_is_gone(tag: str) -> bool:
            return tag in gone or process_is_gone(tag)

        done: list[Path] = []
        if self.work.is_dir():
            for p in self.work.iterdir():
                stage, sep, tag = p.name.partition(".partial-")
                if sep and owner_is_gone(tag):
                    shutil.rmtree(p, ignore_errors=True)
                    done.append(p)
        if not self.root.is_dir():
            return done
        for p in self.root.iterdir():
            head, sep, tag = p.name.partition(".publish-")
            if sep and not head and owner_is_gone(tag):
                Publication(self.root, p).withdraw()
                done.append(p)
        return done

    @contextmanager
    def staging(self, stage: str, key: str, *, resumable: bool = False) -> Iterator[Path]:
        """A ``.partial`` folder for a stage; renamed to the finished name on success.

        The caller writes the stage's files and then :meth:`commit`s inside the ``with`` block.
        By default the folder is fresh (``.partial-<host>-<pid>``) and removed on an exception
        (one a killed process leaves is removed by :meth:`clean_stale`). With ``resumable`` it
        is ``.partial`` (one per stage key), kept on an exception so that the next run of the
        same stage can go on from what it holds, and held under an exclusive lock
        (:func:`rotoflow.files.locked` on ``<stage>-<key>.lock``, waiting as long as it takes) so
        two processes never write it at once.

        Raises:
            UnsafePath: As :meth:`check`.
        """
        self.check()
        final = self.stage_dir(stage, key)
        if not resumable:
            tmp = final.with_name(f"{final.name}.partial-{owner_tag()}")
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            try:
                yield tmp
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            return
        tmp = final.with_name(f"{final.name}.partial")
        with locked(final.with_name(f"{final.name}.lock")):
            tmp.mkdir(exist_ok=True)
            yield tmp

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

        A finished folder is never replaced while another run may read it: when a concurrent
        run of the same shot finished the same key first, its folder is kept, ``tmp`` is
        removed and the first one's output is returned. (A folder under the finished name with
        no valid manifest is not finished; it is moved aside and removed.)

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
        atomic_write_text(tmp / MANIFEST, out.model_dump_json(indent=1))
        while True:
            try:
                os.rename(tmp, final)  # fails on a non-empty folder under the finished name
                return out
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
            first = self.finished(stage, key)
            if first is not None:
                shutil.rmtree(tmp, ignore_errors=True)
                return first
            broken = final.with_name(f"{final.name}.partial-{owner_tag()}-broken")
            try:
                os.rename(final, broken)
            except FileNotFoundError:
                continue
            shutil.rmtree(broken, ignore_errors=True)


@dataclass
class StageRun:
    """A stage's run in a shot's workspace, from :meth:`ShotWorkspace.begin` to its commit.

    Attributes:
        workspace: The shot's workspace.
        stage: Stage name.
        key: The run's cache key.
        started: ``time.perf_counter()`` when the run began.
        done: The finished output of this key, if there already is one (nothing to run).
    """

    workspace: ShotWorkspace
    stage: str
    key: str
    started: float
    done: StageOutput | None = None

    @contextmanager
    def staging(self, *, resumable: bool = False) -> Iterator[Path]:
        """The run's ``.partial`` folder (:meth:`ShotWorkspace.staging`)."""
        with self.workspace.staging(self.stage, self.key, resumable=resumable) as tmp:
            yield tmp

    def commit(
        self, tmp: Path, *, n_frames: int, details: dict[str, Any] | None = None
    ) -> StageOutput:
        """Finish the run: :meth:`ShotWorkspace.commit` of ``tmp`` (the folder from
        :meth:`staging`), with the seconds since :meth:`ShotWorkspace.begin`."""
        return self.workspace.commit(
            tmp, self.stage, self.key, started=self.started, n_frames=n_frames, details=details
        )


_BACKUPS = ".backup"
_INCOMING = "incoming"
_TOPS = "tops.json"


@dataclass
class Publication:
    """Outputs swapped into a shot folder and not yet committed: the folders they replaced are
    kept, so that a job that fails after publishing puts the earlier publication back.

    Attributes:
        root: The shot folder.
        staging: ``<root>/.publish-<host>-<pid>``: ``incoming/`` holds the new top-level folders
            until each is swapped in, ``.backup/`` the folders they replaced, ``tops.json`` the
            names of the top-level folders (``masks``, ``alpha``, ``roto``, ``qc``).
        published: Every published file.
    """

    root: Path
    staging: Path
    published: list[Path] = field(default_factory=list)

    def commit(self) -> None:
        """Keep the new outputs; drop the replaced ones."""
        shutil.rmtree(self.staging, ignore_errors=True)

    def withdraw(self) -> None:
        """Undo the publication, however far it got: every top-level folder already swapped in
        is removed and the folder it replaced put back (a folder that did not exist before stays
        absent). Safe to call on what a killed process left (:meth:`ShotWorkspace.clean_stale`).
        """
        tops_file = self.staging / _TOPS
        tops = json.loads(tops_file.read_text()) if tops_file.is_file() else []
        for top in tops:
            final, old = self.root / top, self.staging / _BACKUPS / top
            if not (self.staging / _INCOMING / top).exists() and (
                final.exists() or final.is_symlink()
            ):
                os.replace(final, self.staging / f"withdrawn-{top}")  # ours: swapped in
            if old.exists() or old.is_symlink():
                os.replace(old, final)
        shutil.rmtree(self.staging, ignore_errors=True)


@contextmanager
def shot_lock(ws: ShotWorkspace, timeout: float | None = None) -> Iterator[None]:
    """Hold the shot's publication lock (:func:`rotoflow.files.locked` on
    ``.rotoflow/publish.lock``): runs of one shot publish and record one at a time. Waits for it
    as long as it takes (``timeout`` None) or raises ``TimeoutError`` (a
    :class:`~rotoflow.errors.LockTimeout`) after ``timeout`` seconds."""
    ws.check()
    with ExitStack() as held:
        try:
            held.enter_context(locked(ws.work / "publish.lock", timeout=timeout))
        except LockTimeout:
            raise LockTimeout(f"{ws.root}: another run holds the shot's lock") from None
        yield


def publish_tree(sources: dict[str, Path], dest_root: Path) -> Publication:
    """Publish files into ``dest_root`` so that each top-level folder appears complete or not at
    all; the folders they replace are kept until the returned publication is committed.

    Args:
        sources: Map of relative destination path (``"masks/dancer/dancer.0001.png"``) to source
            file, which must lie inside ``dest_root`` (its ``.rotoflow`` stage folders): a
            published file is never a link into another shot's folders.
        dest_root: The shot folder.

    Returns:
        The :class:`Publication`: ``commit()`` it once the job is recorded, ``withdraw()`` it if
        the job fails. Files are hard-linked from the shot's own stage folders where the file
        system allows (no copy), else copied. Each top-level folder (``masks``, ``alpha``,
        ``roto``) is assembled under a hidden temporary name and swapped into place with
        renames. Hold :func:`shot_lock` around publication and commit.

    Raises:
        UnsafePath: a destination resolves outside ``dest_root`` or a source outside it.
        OSError: a source cannot be read or the folder written (the shot folder is left as it
            was).
    """
    staging = dest_root / f".publish-{owner_tag()}"
    if staging.exists():
        shutil.rmtree(staging)
    incoming = staging / _INCOMING
    backups = staging / _BACKUPS
    incoming.mkdir(parents=True)
    backups.mkdir()
    pub = Publication(dest_root, staging)
    try:
        for rel, src in sources.items():
            dst = incoming / rel
            inside(incoming, dst)
            inside(dest_root, src)
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
            pub.published.append(dest_root / rel)
        tops = sorted(p.name for p in incoming.iterdir())
        atomic_write_text(staging / _TOPS, json.dumps(tops))
        for top in tops:
            final = dest_root / top
            if final.exists() or final.is_symlink():
                os.replace(final, backups / top)
            os.replace(incoming / top, final)
    except BaseException:
        pub.withdraw()
        raise
    return pub
