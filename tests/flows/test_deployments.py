"""``deployments/prefect.yaml``: every deployment names a flow that loads, on a defined work pool,
with a form for its parameters; the nightly batch has a cron schedule with a timezone."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import yaml
from prefect.client.schemas.schedules import CronSchedule
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

from tests.conftest import REPO

SPEC = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text(encoding="utf-8"))
DEPLOYMENTS = {d["name"]: d for d in SPEC["deployments"]}


#: Deployment -> the flow it runs (roto-shot-gpu is roto-shot on the Kubernetes GPU pool).
FLOWS = {
    "roto-shot": "roto-shot",
    "roto-shot-gpu": "roto-shot",
    "nightly-batch": "nightly-batch",
    "watch-folder": "watch-folder",
}


def test_every_entrypoint_loads_the_flow_it_names():
    assert set(DEPLOYMENTS) == set(FLOWS)
    for name, spec in DEPLOYMENTS.items():
        path, _ = spec["entrypoint"].split(":")
        assert (REPO / path).is_file()
        assert load_flow_from_entrypoint(str(REPO / spec["entrypoint"])).name == FLOWS[name]
        assert spec["work_pool"]["name"] in {
            p["name"] for p in SPEC["definitions"]["work_pools"].values()
        }


def test_roto_shot_parameters_are_a_typed_form():
    flow = load_flow_from_entrypoint(str(REPO / DEPLOYMENTS["roto-shot"]["entrypoint"]))
    schema = parameter_schema(flow).model_dump()
    job = schema["definitions"]["RotoJob"]
    assert {"plate", "prompts", "models", "formats"} <= set(job["properties"])
    assert job["required"] == ["plate", "prompts"]
    assert (
        "ShotPrompts" in schema["definitions"]
        and DEPLOYMENTS["roto-shot"]["enforce_parameter_schema"]
    )


def test_nightly_batch_runs_every_night_in_the_studio_timezone():
    (schedule,) = DEPLOYMENTS["nightly-batch"]["schedules"]
    assert schedule["active"]
    cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])  # validates both
    ZoneInfo(cron.timezone)  # a real IANA zone
    minute, hour, *days = cron.cron.split()
    assert minute.isdigit() and hour.isdigit() and days == ["*", "*", "*"]  # once every night


def test_watch_folder_runs_follow_each_other_without_a_gap():
    spec = DEPLOYMENTS["watch-folder"]
    (schedule,) = spec["schedules"]
    params = spec["parameters"]
    flow = load_flow_from_entrypoint(str(REPO / spec["entrypoint"]))
    assert set(params) <= set(parameter_schema(flow).properties)
    # each run watches nearly until the next starts, and long enough for a drop to settle
    assert params["settle"] < params["duration"] <= schedule["interval"] < params["duration"] + 30
