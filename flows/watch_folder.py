"""Watched-folder ingestion as a flow: poll folders for a while, taking in complete drops once
(:mod:`flows.watch`) and starting a ``roto-shot`` deployment run for each that came with
prompts."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.deployments import run_deployment

from flows.watch import SETTLE, Watcher
from rotoflow.pipeline import RotoJob
from rotoflow.plate import plate_signature
from rotoflow.settings import get_settings
from rotoflow.workspace import fingerprint

ROTO_SHOT = "roto-shot/roto-shot"


def deployment_starter(deployment: str = ROTO_SHOT) -> Callable[[RotoJob], str]:
    """A ``start`` for :class:`flows.watch.Watcher`: starts a run of ``deployment`` (without
    waiting for it) keyed by project, shot and version (plate signature and prompts), so that a
    version's run is started once however often it is asked for, and a new version (a plate
    delivered again, prompts given after take-in) gets its own; returns the flow run id."""

    def start(job: RotoJob) -> str:
        version = fingerprint(plate_signature(job.plate), job.prompts.model_dump(mode="json"))
        run = run_deployment(
            deployment,
            parameters={"job": job.model_dump(mode="json", exclude_none=True)},
            idempotency_key=f"watch-{job.project}-{job.shot}-{version[:16]}",
            flow_run_name=f"watch-{job.shot}",
            timeout=0,
            as_subflow=False,
        )
        return str(run.id)

    return start


@flow(name="watch-folder")
def watch_folder(
    folders: list[str],
    settle: float = SETTLE,
    interval: float = 5.0,
    duration: float = 600.0,
    deployment: str = ROTO_SHOT,
) -> list[str]:
    """Poll ``folders`` every ``interval`` seconds for ``duration`` seconds; returns the shots
    taken in. Scheduled back to back, runs of this flow watch the folders all the time.

    Args:
        folders: The watched folders.
        settle: Seconds a drop without a ready marker must stay unchanged (less than
            ``duration``, or such drops are never seen to settle).
        interval: Seconds between polls.
        duration: Seconds this run watches.
        deployment: The deployment started for shots that come with prompts.
    """
    settings = get_settings()
    watcher = Watcher(
        [Path(f) for f in folders],
        settings.resolved_database_url(),
        settings.project,
        settle=settle,
        start=deployment_starter(deployment),
    )
    logger = get_run_logger()
    taken: list[str] = []
    end = time.monotonic() + duration
    while True:
        new = watcher.poll()
        for shot in new:
            logger.info("took in shot %s", shot)
        taken += new
        if time.monotonic() + interval > end:
            return taken
        time.sleep(interval)
