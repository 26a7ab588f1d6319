"""The roto flow: one shot, from plate and prompts to masks, alpha mattes and a Nuke roto script.

[fetch-plate] -> ingest -> detect -> segment -> propagate -> matte -> [render] -> vectorize
-> export -> qc -> [upload-outputs] -> record (publish and record)

An ``s3://`` plate is fetched into the local cache first; with the ``storage_url`` setting the
outputs are uploaded after QC and recorded by their ``s3://`` URLs. Nothing is published into the
shot folder until the last step, which publishes and records under the shot's lock and withdraws
the publication if recording fails.
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger

from flows.gpu import gpu_slot
from rotoflow.pipeline import RotoJob, resolve
from rotoflow.records import describe_error
from rotoflow.s3url import is_s3_url
from rotoflow.settings import get_settings
from tasks import publish, roto
from tasks.qc import qc_task
from tasks.stages import render


@flow(name="roto-shot", flow_run_name="roto-{job.plate}")
def roto_shot(job: RotoJob) -> dict:
    """Roto one shot and record it; returns ``{"job_id", "shot_dir", "outputs"}``."""
    rj = resolve(job, get_settings())
    job_id = roto.open_job(rj)
    beat = roto.start_heartbeat(rj, job_id)
    timings: dict[str, float] = {}

    def timed(name, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        timings[name] = round(time.perf_counter() - t0, 3)
        return out

    try:
        if is_s3_url(rj.plate):
            rj = timed("fetch", publish.fetch_plate, rj)
        keys = timed("plan", roto.plan, rj, job_id)
        ing = timed("ingest", roto.ingest_task, rj, keys)
        with gpu_slot("detect"):
            det = timed("detect", roto.detect_task, rj, keys, ing)
        with gpu_slot("segment"):
            seg = timed("segment", roto.segment_task, rj, keys, ing, det)
        with gpu_slot("propagate"):
            prop = timed("propagate", roto.propagate_task, rj, keys, ing, det, seg)
        with gpu_slot("matte"):
            mat = timed("matte", roto.matte_task, rj, keys, ing, prop)
        ren = timed("render", roto.render_task, rj, keys, ing, prop, mat) if rj.renders else None
        vec = timed("vectorize", roto.vectorize_task, rj, keys, ing, det, prop, mat)
        exp = timed("export", roto.export_task, rj, keys, ing, prop, mat, vec)
        exp = render.with_renders(exp, ren)
        qc = timed("qc", qc_task, rj, ing, prop, mat)
        if rj.storage_url:
            exp = timed("upload", publish.upload_outputs, rj, exp)
        n = roto.record(rj, job_id, ing, det, exp, timings, qc["sources"])
    except BaseException as exc:
        try:
            roto.record_failure(rj, job_id, describe_error(exc), timings)
        except Exception:  # noqa: BLE001 (the run's own error goes up, not this one)
            get_run_logger().exception("job %d: failure not recorded", job_id)
        raise
    finally:
        beat.stop()
    return {"job_id": job_id, "shot_dir": rj.shot_dir, "outputs": n}


if __name__ == "__main__":
    import sys

    roto_shot(RotoJob.model_validate_json(sys.argv[1]))
