"""The GPU limit: model stages of all flow runs share the machine's (or the pool's) GPUs.

``rotoflow up`` creates the global concurrency limit :data:`GPU_LIMIT` with one slot per GPU; the
roto flow holds one slot around each model stage (detect, segment, propagate, matte), so no more of
them run at once than there are GPUs, while the CPU stages of other shots (ingest, vectorize,
export, record) go on alongside. Prefect is imported inside the functions: the local stack reads
:data:`GPU_LIMIT` from here without importing Prefect.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

GPU_LIMIT = "rotoflow-gpu"
"""Global concurrency limit held (one slot) by GPU stages while they run; slots = GPUs."""


def gpu_limit_exists() -> bool:
    """Whether the server has the :data:`GPU_LIMIT` limit (Prefect's ``concurrency`` waits about
    2 s before it gives up on a limit that does not exist, on every stage)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            client.read_global_concurrency_limit_by_name(GPU_LIMIT)
    except ObjectNotFound:
        return False
    return True


@contextmanager
def gpu_slot(stage: str) -> Iterator[None]:
    """Hold one slot of :data:`GPU_LIMIT` while the model stage ``stage`` runs (inside a flow run).

    Without the limit on the server (a plain ``rotoflow run``) the stage runs at once. The run's log
    says when the slot was taken and given back (``gpu slot taken by <stage> after <s> s``,
    ``gpu slot given back by <stage>``).
    """
    from prefect import get_run_logger
    from prefect.concurrency.sync import concurrency

    if not gpu_limit_exists():
        yield
        return
    log = get_run_logger()
    t0 = time.perf_counter()
    with concurrency(GPU_LIMIT, occupy=1, strict=False):
        log.info("gpu slot taken by %s after %.2f s", stage, time.perf_counter() - t0)
        try:
            yield
        finally:
            log.info("gpu slot given back by %s", stage)
