"""Watched folders: shots dropped into a folder are taken in once each, and only once complete.

A *drop* is an entry directly inside a watched folder: a movie file (``.mov``, ``.mp4``, ...) or a
folder holding an image sequence. Names starting with ``.`` and sidecar files are not drops. A
symbolic link is followed only when it stays inside the watched folder (a link to ``/`` or to
``/etc/passwd`` is logged and skipped, as are links inside a drop that lead out of it), and an
entry that cannot be read is logged and skipped: neither stops the watcher.

A drop is complete when a ready marker is there (``clip.mov.ready`` beside ``clip.mov``,
``.ready`` inside a sequence folder), or when its files (names, sizes and modification times) have
stayed the same for ``settle`` seconds of polling. A movie without a marker must also open and
decode to its last frame (:func:`rotoflow.plate.open_plate`: a copy that stalled longer than the
settle time usually lacks its index, the ``moov`` atom); until then it waits, logged once. Ready
markers are the reliable signal: write the marker after the copy. The observations are kept in
memory only, so after a restart a drop without a marker settles again before it is taken in.

A complete drop is taken in once: its shot row is created in the project database
(:func:`rotoflow.db.get_or_create_shot`, shot named after the drop) with a pending *take-in* job
that records the plate's signature (:func:`rotoflow.plate.plate_signature`). With a
sidecar of prompts (``clip.prompts.json`` beside ``clip.mov``, ``prompts.json`` inside a folder;
:class:`rotoflow.prompts.ShotPrompts` as JSON) the shot's objects are recorded and ``start`` is
called with its :class:`rotoflow.pipeline.RotoJob`; without one, the shot stays ``pending``
until prompts are given (the nightly batch then takes it, :mod:`flows.batch`).

A drop whose shot exists (with that plate) is taken in again only as a new version, logged as
such: when its signature differs from the one the shot's newest job recorded (the plate was
delivered again under the same name), or when its sidecar's prompts differ from the shot's recorded
objects (prompts that arrived after take-in). The shot row is kept; a new take-in job is recorded,
the shot is pending again and, with prompts, ``start`` is called. This holds across restarts and
watchers.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from sqlmodel import select

from rotoflow import db
from rotoflow.errors import PlateError
from rotoflow.pipeline import MOVIE_SUFFIXES, RotoJob, default_shot_name
from rotoflow.plate import open_plate, plate_signature
from rotoflow.prompts import ShotPrompts, describe_validation_error
from rotoflow.workspace import fingerprint

log = logging.getLogger(__name__)

READY = ".ready"
TAKE_IN = "take_in"
"""Key of a take-in job's parameters: why it was taken in (``"new"``, or why a new version)."""
PROMPTS = "prompts.json"
SETTLE = 30.0
"""Default seconds a drop's files must stay unchanged before it counts as complete."""


@dataclass
class _Seen:
    """What a drop looked like when first seen in its current state (monotonic seconds)."""

    state: tuple
    since: float


@dataclass
class Watcher:
    """Polls watched folders and takes in each complete drop once (see the module docstring).

    Attributes:
        folders: The watched folders.
        database_url: The project database.
        project: Project the shots are filed under.
        settle: Seconds a drop without a ready marker must stay unchanged.
        start: Called with the job of each shot that came with prompts (for example a function
            that starts a ``roto-shot`` deployment run); None to only record the shots.
        clock: Monotonic seconds (for tests).
    """

    folders: list[Path]
    database_url: str
    project: str
    settle: float = SETTLE
    start: Callable[[RotoJob], object] | None = None
    clock: Callable[[], float] = time.monotonic
    _seen: dict[Path, _Seen] = field(default_factory=dict)
    _warned: dict[Path, object] = field(default_factory=dict)

    def poll(self) -> list[str]:
        """One pass over the folders; returns the names of the shots taken in by it (new shots
        and new versions).

        Raises:
            FileNotFoundError: a watched folder does not exist.
        """
        now = self.clock()
        taken = []
        for drop in self._drops():
            try:
                if self._complete(drop, now) and (shot := self._take(drop)) is not None:
                    taken.append(shot)
            except (OSError, RuntimeError) as exc:  # unreadable, removed meanwhile, link loop
                self._warn_once(drop, None, "drop %s cannot be read, skipped: %s", drop, exc)
        return taken

    def _drops(self) -> Iterable[Path]:
        for folder in self.folders:
            if not folder.is_dir():
                raise FileNotFoundError(f"watched folder {str(folder)!r} does not exist")
            root = folder.resolve()
            for entry in sorted(folder.iterdir()):
                if entry.name.startswith("."):
                    continue
                try:
                    if not _inside(entry, root):
                        self._warn_once(
                            entry,
                            None,
                            "drop %s links out of the watched folder (to %s), skipped",
                            entry,
                            os.path.realpath(entry),
                        )
                        continue
                    movie = entry.is_file() and entry.suffix.lower() in MOVIE_SUFFIXES
                    if entry.is_dir() or movie:
                        yield entry
                except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop
                    self._warn_once(entry, None, "drop %s cannot be read, skipped: %s", entry, exc)

    def _complete(self, drop: Path, now: float) -> bool:
        if _marker(drop).exists():
            return True
        state = _state(drop)
        seen = self._seen.get(drop)
        if seen is None or seen.state != state:
            self._seen[drop] = _Seen(state, now)
            return False
        return bool(state) and now - seen.since >= self.settle

    def _take(self, drop: Path) -> str | None:
        """Record the drop's shot (and prompts), or a new version of it; None if it was taken in
        before as it is now, or it is not ready to be."""
        plate = str(drop)
        name = default_shot_name(plate)
        prompts = self._prompts(drop)
        signature = plate_signature(drop)
        with db.session(self.database_url) as s:
            found = s.exec(
                select(db.Shot)
                .join(db.Project, db.Shot.project_id == db.Project.id)
                .where(db.Project.name == self.project, db.Shot.name == name)
            ).first()
            if found is not None and found.plate_path != plate:
                self._warn_once(
                    drop, None, "drop %s: shot %s exists for %s; left alone", plate, name, found
                )
                return None
            why = "new" if found is None else _new_version(s, found, signature, prompts)
        if why is None or not self._readable(drop):
            return None
        with db.session(self.database_url) as s:
            project = db.get_or_create_project(s, self.project)
            shot = db.lock_shot(s, db.get_or_create_shot(s, project, name, plate).id)
            if _jobs(s, shot) and _new_version(s, shot, signature, prompts) is None:
                return None  # another watcher took this version in meanwhile
            shot.status, shot.error, shot.updated_at = db.Status.pending, None, db.utcnow()
            if prompts is not None:
                for old in s.exec(select(db.RotoObject).where(db.RotoObject.shot_id == shot.id)):
                    s.delete(old)
                for o in prompts.objects:
                    s.add(
                        db.RotoObject(
                            shot_id=shot.id,
                            object_id=o.id,
                            name=o.name,
                            prompt=o.model_dump(mode="json", exclude_none=True),
                        )
                    )
            s.add(
                db.Job(
                    shot_id=shot.id,
                    plate_path=plate,
                    status=db.Status.pending,
                    parameters={TAKE_IN: why, "prompts": _prompts_key(prompts)},
                    plate_signature=signature,
                )
            )
        self._seen.pop(drop, None)
        if why == "new":
            log.info("took in %s as shot %s (%s)", plate, name, "prompts" if prompts else "pending")
        else:
            log.warning("drop %s: %s; taken in as a new version of shot %s", plate, why, name)
        if prompts is not None and self.start is not None:
            self.start(RotoJob(plate=plate, prompts=prompts, shot=name, project=self.project))
        return name

    def _readable(self, drop: Path) -> bool:
        """A movie without a ready marker must open and decode to its last frame (a copy that
        stalled past the settle time is half-written); other drops are taken as they are."""
        if drop.is_dir() or _marker(drop).exists():
            return True
        try:
            with open_plate(drop) as movie:
                movie.read(movie.info.last_frame)
        except PlateError as exc:
            self._warn_once(
                drop,
                _state(drop),
                "drop %s has settled but is not a complete movie yet, waiting (write %s when "
                "the copy is done): %s",
                drop,
                _marker(drop).name,
                exc,
            )
            return False
        return True

    def _prompts(self, drop: Path) -> ShotPrompts | None:
        """The drop's sidecar prompts; None without a sidecar or with an invalid one (logged
        once per version of the file)."""
        sidecar = drop / PROMPTS if drop.is_dir() else drop.with_name(drop.stem + ".prompts.json")
        if not sidecar.is_file():
            return None
        try:
            return ShotPrompts.model_validate_json(sidecar.read_text(encoding="utf-8"))
        except ValidationError as exc:
            reason = describe_validation_error(exc)
        except (OSError, UnicodeDecodeError) as exc:
            reason = str(exc)
        st = sidecar.stat()
        self._warn_once(
            sidecar,
            (st.st_size, st.st_mtime_ns),
            "drop %s: prompts %s are invalid, not used: %s",
            drop,
            sidecar,
            reason,
        )
        return None

    def _warn_once(self, key: Path, state: object, message: str, *args: object) -> None:
        """Log a warning about ``key`` once while ``state`` stays the same (not on every poll)."""
        if self._warned.get(key, _UNSET) != state:
            self._warned[key] = state
            log.warning(message, *args)


_UNSET = object()


def _marker(drop: Path) -> Path:
    return drop / READY if drop.is_dir() else drop.with_name(drop.name + READY)


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path``, its symbolic links followed, stays inside ``root`` (resolved)."""
    return Path(os.path.realpath(path)).is_relative_to(root)


def _jobs(s, shot: db.Shot) -> list[db.Job]:
    """The shot's jobs, newest first."""
    return list(s.exec(select(db.Job).where(db.Job.shot_id == shot.id).order_by(db.Job.id.desc())))


def _prompts_key(prompts: ShotPrompts | None) -> str | None:
    return None if prompts is None else fingerprint("prompts", prompts.model_dump(mode="json"))


def _new_version(s, shot: db.Shot, signature: str, prompts: ShotPrompts | None) -> str | None:
    """Why a drop whose shot exists is a new version of it, or None if it is not.

    The plate is compared with the signature the shot's newest job recorded (a take-in or a run);
    the sidecar's prompts with those of the newest take-in, so that a run with other prompts (a
    correction) does not bring the sidecar's back.
    """
    jobs = _jobs(s, shot)
    if jobs and jobs[0].plate_signature not in (None, signature):
        return "re-delivered (its files changed since it was taken in)"
    if prompts is None:
        return None
    taken = next((j for j in jobs if TAKE_IN in (j.parameters or {})), None)
    if taken is None:  # taken in before take-ins were recorded: prompts count if it has none
        has_objects = s.exec(select(db.RotoObject).where(db.RotoObject.shot_id == shot.id)).first()
        return None if has_objects else "prompts arrived after take-in"
    if taken.parameters.get("prompts") != _prompts_key(prompts):
        return "prompts arrived or changed after take-in"
    return None


def _state(drop: Path) -> tuple:
    """Names, sizes and modification times of a drop's files (empty while it has none). Links
    inside a folder drop that lead out of it are left out; sub-folder links are not followed."""
    if not drop.is_dir():
        files = [drop]
    else:
        root = drop.resolve()
        files = []
        for folder, _, names in os.walk(drop, onerror=_raise):
            files += [p for n in names if (p := Path(folder, n)).is_file() and _inside(p, root)]
        files.sort()
    out = []
    for f in files:
        try:
            st = f.stat()
        except FileNotFoundError:  # renamed or removed between listing and stat: not settled
            return ()
        out.append((str(f.relative_to(drop.parent)), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _raise(exc: OSError) -> None:
    raise exc
