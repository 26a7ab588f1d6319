"""The nightly batch: one ``roto-shot`` deployment run per shot that needs roto.

Scheduled by ``deployments/prefect.yaml`` (cron with a timezone). Which shots, and why a second
trigger on the same night starts nothing twice: :mod:`flows.batch`.
"""

from __future__ import annotations

from datetime import date

from prefect import flow, get_run_logger
from prefect.deployments import run_deployment
from prefect.runtime import flow_run

from flows.batch import shots_to_run
from rotoflow.settings import get_settings

ROTO_SHOT = "roto-shot/roto-shot"
"""The deployment each shot's run is started from (``<flow name>/<deployment name>``)."""


@flow(name="nightly-batch")
def nightly_batch(night: date | None = None, deployment: str = ROTO_SHOT) -> list[str]:
    """Start a ``deployment`` run for every shot that needs roto; returns the flow run ids.

    Args:
        night: The night the runs belong to (default: the date of this run's scheduled start, or
            today). Runs are keyed by night, shot and plate state (see
            :meth:`flows.batch.BatchShot.idempotency_key`).
        deployment: The deployment to start, ``<flow name>/<deployment name>``.
    """
    logger = get_run_logger()
    scheduled = flow_run.get_scheduled_start_time()
    night = night or (scheduled.date() if scheduled else date.today())
    ids = []
    for entry in shots_to_run(get_settings().resolved_database_url()):
        run = run_deployment(
            deployment,
            parameters={"job": entry.job.model_dump(mode="json", exclude_none=True)},
            idempotency_key=entry.idempotency_key(night),
            flow_run_name=f"nightly-{night.isoformat()}-{entry.shot}",
            timeout=0,
            as_subflow=False,
        )
        logger.info("shot %s (%s): run %s", entry.shot, entry.reason, run.id)
        ids.append(str(run.id))
    return ids
