"""Watched folders: shots dropped into a folder are taken in once each, and only once complete.

A *drop* is an entry directly inside a watched folder: a movie file (``.mov``, ``.mp4``, ...) or a
folder holding an image sequence. Names starting with ``.`` and sidecar files are not drops.

A drop is complete when a ready marker is there (``clip.mov.ready`` beside ``clip.mov``,
``.ready`` inside a sequence folder), or when its files (names, sizes and modification times) have stayed the
same for ``settle`` seconds of polling. The observations are kept in memory only, so after a restart
a drop without a marker settles again before it is taken in.

A complete drop is taken in once: its shot row is created in the project database
(:func:`rotoflow.db.get_or_create_shot`, shot named after the drop); a drop whose shot row already
exists (with that plate) is never taken in again, across restarts and watchers. With a sidecar of
prompts (``clip.prompts.json`` beside ``clip.mov``, ``prompts.json`` inside a folder;
:class:`rotoflow.prompts.ShotPrompts` as JSON) the shot's objects are recorded and ``start`` is
called with its :class:`rotoflow.pipeline.RotoJob`; without one, the shot stays ``pending``
until prompts are given (the nightly batch then takes it, :mod:`rotoflow.batch`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from sqlmodel import select

from rotoflow import db
from rotoflow.pipeline import MOVIE_SUFFIXES, RotoJob, default_shot_name
from rotoflow.prompts import ShotPrompts

log = logging.getLogger(__name__)

READY = ".ready"
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

    def poll(self) -> list[str]:
        """One pass over the folders; returns the names of the shots taken in by it.

        Raises:
            FileNotFoundError: a watched folder does not exist.
        """
        now = self.clock()
        taken = []
        for drop in self._drops():
            if self._complete(drop, now) and (shot := self._take(drop)) is not None:
                taken.append(shot)
        return taken

    def _drops(self) -> Iterable[Path]:
        for folder in self.folders:
            if not folder.is_dir():
                raise FileNotFoundError(f"watched folder {str(folder)!r} does not exist")
            for entry in sorted(folder.iterdir()):
                if entry.name.startswith("."):
                    continue
                if entry.is_dir() or (entry.is_file() and entry.suffix.lower() in MOVIE_SUFFIXES):
                    yield entry

    def _complete(self, drop: Path, now: float) -> bool:
        marker = drop / READY if drop.is_dir() else drop.with_name(drop.name + READY)
        if marker.exists():
            return True
        state = _state(drop)
        seen = self._seen.get(drop)
        if seen is None or seen.state != state:
            self._seen[drop] = _Seen(state, now)
            return False
        return bool(state) and now - seen.since >= self.settle

    def _take(self, drop: Path) -> str | None:
        """Record the drop's shot (and prompts); None if it was taken in before."""
        plate = str(drop)
        name = default_shot_name(plate)
        prompts = _prompts(drop)
        with db.session(self.database_url) as s:
            project = db.get_or_create_project(s, self.project)
            found = s.exec(
                select(db.Shot).where(db.Shot.project_id == project.id, db.Shot.name == name)
            ).first()
            if found is not None:
                if found.plate_path != plate:
                    log.warning("drop %s: shot %s exists for %s; left alone", plate, name, found)
                return None
            shot = db.get_or_create_shot(s, project, name, plate)
            shot.status = db.Status.pending
            for o in prompts.objects if prompts else []:
                s.add(
                    db.RotoObject(
                        shot_id=shot.id,
                        object_id=o.id,
                        name=o.name,
                        prompt=o.model_dump(mode="json", exclude_none=True),
                    )
                )
        self._seen.pop(drop, None)
        log.info("took in %s as shot %s (%s)", plate, name, "prompts" if prompts else "pending")
        if prompts is not None and self.start is not None:
            self.start(RotoJob(plate=plate, prompts=prompts, shot=name, project=self.project))
        return name


def _state(drop: Path) -> tuple:
    """Names, sizes and modification times of a drop's files (empty while it has none)."""
    files = sorted(p for p in drop.rglob("*") if p.is_file()) if drop.is_dir() else [drop]
    out = []
    for f in files:
        try:
            st = f.stat()
        except FileNotFoundError:  # renamed or removed between listing and stat: not settled
            return ()
        out.append((str(f.relative_to(drop.parent)), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _prompts(drop: Path) -> ShotPrompts | None:
    sidecar = drop / PROMPTS if drop.is_dir() else drop.with_name(drop.stem + ".prompts.json")
    if not sidecar.is_file():
        return None
    try:
        return ShotPrompts.model_validate_json(sidecar.read_text(encoding="utf-8"))
    except ValidationError as exc:
        log.warning("drop %s: prompts %s are invalid, shot left pending: %s", drop, sidecar, exc)
        return None
