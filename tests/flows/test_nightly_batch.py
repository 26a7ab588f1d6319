"""The nightly batch: which shots it takes, and that triggering it twice on the same night starts
each shot's ``roto-shot`` run exactly once, on a real Prefect server."""

from __future__ import annotations

import os
from datetime import date

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.batch import shots_to_run
from flows.nightly_batch import nightly_batch
from flows.roto_shot import roto_shot
from rotoflow import db
from rotoflow.plate import plate_signature
from rotoflow.settings import get_settings
from tests.flows.helpers import api_json, frame_folder, use_home

PROMPT = {"id": 1, "name": "car", "text": "car"}


def _seed(url: str, plates: dict[str, str]) -> None:
    """Shots in every state the batch must tell apart (see the test below)."""
    with db.session(url) as s:
        project = db.get_or_create_project(s, "show")
        shots = {
            name: db.get_or_create_shot(s, project, name, plate) for name, plate in plates.items()
        }
        states = {
            "pending": db.Status.pending,
            "noprompt": db.Status.pending,
            "same": db.Status.done,
            "changed": db.Status.done,
            "failed": db.Status.failed,
            "running": db.Status.running,
        }
        for name, shot in shots.items():
            shot.status = states[name]
            if name != "noprompt":
                s.add(db.RotoObject(shot_id=shot.id, object_id=1, name="car", prompt=PROMPT))
            if name in ("same", "changed", "failed", "running"):
                signature = plate_signature(shot.plate_path) if name != "changed" else "old"
                params = {"models": "lite", "formats": ["nuke", "svg"], "overrides": {}}
                s.add(
                    db.Job(
                        shot_id=shot.id,
                        plate_path=shot.plate_path,
                        status=states[name],
                        parameters=params,
                        plate_signature=signature,
                    )
                )


@pytest.fixture
def seeded(tmp_path, monkeypatch):
    for name in ("ROTOFLOW_HOME", "ROTOFLOW_OUTPUT_ROOT", "ROTOFLOW_YOLOX_MODEL"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the test
    use_home(tmp_path / "home")
    plates = {
        name: str(frame_folder("car-shadow", tmp_path / name, range(2)))
        for name in ("pending", "noprompt", "same", "changed", "failed", "running")
    }
    url = get_settings().resolved_database_url()
    _seed(url, plates)
    yield url
    get_settings.cache_clear()


def test_pending_and_changed_shots_are_taken(seeded):
    entries = shots_to_run(seeded)
    assert [(e.shot, e.reason) for e in entries] == [
        ("pending", "pending"),
        ("changed", "plate changed"),
    ]
    changed = entries[1].job
    assert changed.formats == ["nuke", "svg"] and changed.models == "lite"
    assert changed.prompts.objects[0].text == "car" and changed.project == "show"
    night = date(2026, 11, 21)
    assert entries[0].idempotency_key(night) != entries[1].idempotency_key(night)
    assert entries[0].idempotency_key(night) != entries[0].idempotency_key(date(2026, 11, 22))


@pytest.mark.e2e
def test_second_trigger_on_the_same_night_starts_nothing_twice(seeded, server, monkeypatch):
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    with temporary_settings({PREFECT_API_URL: server}):
        with get_client(sync_client=True) as client:
            client.create_work_pool(WorkPoolCreate(name="nightly-test", type="process"))
        roto_shot.to_deployment(name="roto-shot", work_pool_name="nightly-test").apply()
        night = date(2026, 11, 21)
        first = nightly_batch(night=night)
        second = nightly_batch(night=night)
        next_night = nightly_batch(night=date(2026, 11, 22))
    assert len(first) == 2 and second == first
    assert len(set(next_night) | set(first)) == 4  # a new night is a new run per shot
    runs = api_json("POST", f"{server}/flow_runs/filter", json={})
    by_name = sorted(r["name"] for r in runs if r["deployment_id"])
    assert by_name == [
        "nightly-2026-11-21-changed",
        "nightly-2026-11-21-pending",
        "nightly-2026-11-22-changed",
        "nightly-2026-11-22-pending",
    ]
