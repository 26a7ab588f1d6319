"""A run on a PostgreSQL database whose URL carries a password writes that password nowhere: not in
the job's parameters or any other row, not in the Prefect server's database (flow-run parameters,
task runs, logs, events, artifacts) or its persisted results, not in the shot folder, not in the
run's output with Prefect's logs shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.flows.helpers import frame_folder, gt_box
from tests.reliability.runs import run_env, start_run

pytestmark = pytest.mark.e2e

SECRET = "s3cret"


def _files_holding(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_database_password_is_written_nowhere(database_url, tmp_path):
    url = database_url.replace("postgres@", f"postgres:{SECRET}@", 1)  # trust auth ignores it
    assert SECRET in url
    plate = frame_folder("dog", tmp_path / "dog", range(3))
    b = gt_box("dog")
    env = run_env(
        tmp_path,
        ROTOFLOW_DATABASE_URL=url,
        PREFECT_RESULTS_PERSIST_BY_DEFAULT="true",  # every task result stored too
    )
    log = tmp_path / "run.log"
    run = start_run(
        [str(plate), "--box", f"{b['x0']},{b['y0']},{b['x1']},{b['y1']}", "--verbose"], env, log
    )
    assert run.wait(timeout=400) == 0, log.read_text()[-3000:]

    output = log.read_text()
    assert "Finished in state Completed" in output  # Prefect's logs were shown
    assert SECRET not in output
    prefect = tmp_path / "prefect"
    assert _files_holding(prefect, b"roto-shot"), "the Prefect database holds no run"
    assert list((prefect / "storage").iterdir()), "no task result was persisted"
    assert _files_holding(prefect, SECRET.encode()) == []
    assert _files_holding(tmp_path / "out", SECRET.encode()) == []

    engine = create_engine(database_url)
    with engine.connect() as conn:
        tables = inspect(conn).get_table_names()
        rows = {
            t: [r[0] for r in conn.execute(text(f"SELECT row_to_json(x)::text FROM {t} x"))]
            for t in tables
        }
    engine.dispose()
    assert len(rows["job"]) == 1 and '"plate"' in rows["job"][0]  # the parameters are there
    assert [t for t, values in rows.items() if any(SECRET in v for v in values)] == []
