"""The nightly batch: which shots need roto, and the run each of them gets.

A shot needs roto when its status is ``pending``, when its last run ``crashed`` (its worker
stopped without recording an end: jobs whose worker is gone are marked so first, see
:func:`rotoflow.liveness.reap_crashed`), or when its last job finished (``done`` or ``failed``) on a
plate whose files have changed since (:func:`rotoflow.objectstore.plate_signature`, files or
``s3://`` objects, differs from the one the job recorded). Running shots are left alone, and so are
shots without prompted objects (nothing to roto yet: they stay pending until prompts arrive). Each selected shot
gets one :class:`rotoflow.pipeline.RotoJob` (its objects' prompts, and the model set, overrides and
formats of its last job), and an idempotency key made of the night, the shot and the plate's
signature: the orchestrator starts one run per key, so a second trigger on the same night starts
nothing twice, while a plate changed again the same night still gets its run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from sqlmodel import select

from rotoflow import db
from rotoflow.errors import StorageError
from rotoflow.liveness import reap_crashed
from rotoflow.objectstore import plate_signature
from rotoflow.pipeline import RotoJob
from rotoflow.settings import get_settings

log = logging.getLogger(__name__)

_CARRIED = ("models", "formats")  # settings of a shot's last job that its next run keeps


@dataclass(frozen=True)
class BatchShot:
    """A shot the batch runs: why, on which plate signature, with which job."""

    shot_id: int
    shot: str
    reason: str  # "pending", "crashed" or "plate changed"
    signature: str
    job: RotoJob

    def idempotency_key(self, night: date) -> str:
        """The key of this shot's run on ``night``: one run per night, shot and plate state."""
        return f"nightly-{night.isoformat()}-shot{self.shot_id}-{self.signature[:16]}"


def shots_to_run(url: str) -> list[BatchShot]:
    """The shots of the project database at ``url`` that need roto, by shot id (after marking the
    jobs whose worker stopped as crashed).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database cannot be read.
    """
    reap_crashed(url)
    out = []
    with db.session(url) as s:
        projects = {p.id: p.name for p in s.exec(select(db.Project))}
        for shot in s.exec(select(db.Shot).order_by(db.Shot.id)):
            if shot.status == db.Status.running:
                continue
            last = s.exec(
                select(db.Job).where(db.Job.shot_id == shot.id).order_by(db.Job.id.desc())
            ).first()
            try:
                signature = plate_signature(shot.plate_path, get_settings())
            except StorageError as exc:
                log.warning("shot %s: plate not readable, left for later: %s", shot.name, exc)
                continue
            if shot.status in (db.Status.pending, db.Status.crashed):
                reason = shot.status.value
            elif last is not None and last.plate_signature not in (None, signature):
                reason = "plate changed"
            else:
                continue
            objects = s.exec(
                select(db.RotoObject)
                .where(db.RotoObject.shot_id == shot.id)
                .order_by(db.RotoObject.object_id)
            ).all()
            if not objects:
                log.info("shot %s is %s but has no prompts: left for later", shot.name, reason)
                continue
            params = last.parameters if last is not None else {}
            job = RotoJob(
                plate=shot.plate_path,
                prompts={"objects": [o.prompt for o in objects]},
                shot=shot.name,
                project=projects[shot.project_id],
                **{k: params[k] for k in _CARRIED if params.get(k)},
                **(params.get("overrides") or {}),
            )
            out.append(BatchShot(int(shot.id), shot.name, reason, signature, job))
    return out
