"""A Prefect progress artifact for long stages, updated at most every 5 percent."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from rotoflow import progress

log = logging.getLogger(__name__)


@contextmanager
def prefect_progress(stage: str, step: float = 5.0) -> Iterator[None]:
    """Mirror :func:`rotoflow.progress.report` calls into a progress artifact of the task run.

    Artifact failures (no API, a server blip) are logged and never fail the stage.
    """
    state: dict = {"id": None, "last": -step}

    def reporter(label: str, done: int, total: int) -> None:
        pct = 100.0 * done / max(total, 1)
        if pct - state["last"] < step and done < total:
            return
        state["last"] = pct
        try:
            if state["id"] is None:
                state["id"] = create_progress_artifact(pct, description=f"{stage}: {label}")
            else:
                update_progress_artifact(state["id"], pct, description=f"{stage}: {label}")
        except Exception as exc:  # progress is advisory
            log.debug("progress artifact not updated: %s", exc)

    with progress.reporting(reporter):
        yield
