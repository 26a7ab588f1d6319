"""Thin Prefect tasks around :mod:`rotoflow.objectstore`: fetch an ``s3://`` plate into the local
cache before ingest, publish a shot's outputs to object storage after export. They retry storage
that cannot be reached (:class:`~rotoflow.errors.StorageUnavailable`) and transient I/O, nothing
else: a missing bucket or key, or rejected credentials, fail at once."""

from __future__ import annotations

import dataclasses

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from rotoflow import objectstore, publication
from rotoflow.errors import StorageUnavailable
from rotoflow.pipeline import ResolvedJob
from rotoflow.s3url import parse_url
from rotoflow.settings import get_settings
from rotoflow.workspace import StageOutput
from tasks.roto import transient_only
from tasks.stages import export


def transient_storage(task, task_run, state) -> bool:
    """Retry storage that cannot be reached or fails on its side, and what ``transient_only``
    retries (an ``OSError`` other than a missing or forbidden file)."""
    try:
        state.result()
    except StorageUnavailable:
        return True
    except BaseException:
        return transient_only(task, task_run, state)
    return False


storage_task = task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=transient_storage,
)


@storage_task(name="fetch-plate", persist_result=False)  # a job, with its database URL
def fetch_plate(job: ResolvedJob) -> ResolvedJob:
    """Download the job's ``s3://`` plate into ``<home>/cache/s3`` (unchanged objects are not
    downloaded again); returns the job with the local plate path, which the stages read."""
    settings = get_settings()
    store = objectstore.store_from_settings(settings)
    local = store.fetch_plate(job.plate, objectstore.cache_root(settings))
    get_run_logger().info("plate %s cached at %s", job.plate, local)
    return job.model_copy(update={"plate": str(local)})


@storage_task(name="upload-outputs")
def upload_outputs(job: ResolvedJob, exp: StageOutput) -> StageOutput:
    """Publish the shot's outputs to ``<storage_url>/<project>/<shot>/`` (the local layout,
    marker last), from the shot's stage folders, before they are published locally;
    returns the export output whose rows carry each file's ``s3://`` URL, recorded as its path."""
    dest = parse_url(job.storage_url).join(job.project).join(job.shot)
    store = objectstore.store_from_settings(get_settings())
    sources = export.sources(exp)
    rows = publication.publish_shot(store, sources, exp.outputs(), dest)
    get_run_logger().info("published %d outputs of shot %s to %s", len(rows), job.shot, dest)
    outputs = [dataclasses.asdict(r) for r in rows]
    return exp.model_copy(update={"details": {**exp.details, "outputs": outputs}})
