"""What the local stack's modules share: the checkout the workers run, its deployments file, the
work pool, the stack's error and a Prefect client on the local server (see :mod:`apps.local`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rotoflow.errors import RotoflowError

WORK_POOL = "rotoflow"
"""The process work pool of ``deployments/prefect.yaml``."""
REPO = Path(__file__).resolve().parents[1]
"""The checkout the workers run flows from (their working directory)."""
PREFECT_FILE = REPO / "deployments" / "prefect.yaml"
"""The deployments ``up`` registers (see :mod:`apps.localdeploy`)."""


class LocalStackError(RotoflowError):
    """The local server or its workers cannot be started, configured or reached."""


@contextmanager
def prefect_api(api_url: str, auth: str | None = None) -> Iterator[Any]:
    """A synchronous Prefect client on ``api_url`` (and the Prefect settings pointing there while
    the block runs, for ``RunnerDeployment.apply`` and ``run_deployment``), sending the auth
    string ``auth`` (None: ``PREFECT_API_AUTH_STRING``'s, if any)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    updates: dict[Any, Any] = {PREFECT_API_URL: api_url}
    if auth is not None:
        updates[PREFECT_API_AUTH_STRING] = auth
    with temporary_settings(updates), get_client(sync_client=True) as client:
        yield client
