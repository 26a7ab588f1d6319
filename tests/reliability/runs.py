"""``rotoflow run`` as its own process, as a user starts it: a home, an output root and a Prefect
home of its own under a test folder, the repository on its path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

ROTOFLOW = Path(sys.executable).parent / "rotoflow"


def run_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``rotoflow run`` under ``root``: ``root/home``, ``root/out`` and
    ``root/prefect`` (a temporary Prefect server of its own), no ``ROTOFLOW_`` setting of the
    test process, and the settings in ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTOFLOW_")}
    env.update(
        ROTOFLOW_HOME=str(root / "home"),
        ROTOFLOW_OUTPUT_ROOT=str(root / "out"),
        PREFECT_HOME=str(root / "prefect"),
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    env.update(extra)
    return env


def start_run(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start ``rotoflow run ARGS`` in a session of its own (so that it and its temporary Prefect
    server can be killed together), its output to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [str(ROTOFLOW), "run", *args],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
