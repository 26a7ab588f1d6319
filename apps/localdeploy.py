"""The deployments of ``deployments/prefect.yaml`` registered on the local server by ``rotoflow up``
(see :mod:`apps.local`), as ``prefect deploy`` would create them from the repository root.

Only the deployments on this machine's process work pool are registered; ``{{ $VAR }}`` templates
are filled from the environment, and a deployment whose variable is unset (``watch-folder``
without ``ROTOFLOW_WATCH_FOLDER``) is skipped with the reason. Schedules become
:mod:`prefect.schedules` objects, and each deployment is applied with ``to_deployment(...).apply()``
through the Prefect API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apps.stack import PREFECT_FILE, REPO, WORK_POOL, LocalStackError, prefect_api

_TEMPLATE = re.compile(r"{{\s*\$(\w+)\s*}}")
_DEPLOYMENT_KEYS = {
    "name",
    "description",
    "entrypoint",
    "tags",
    "work_pool",
    "parameters",
    "schedules",
    "enforce_parameter_schema",
    "version",
    "paused",
    "concurrency_limit",
}


def _substitute(value: Any, env: dict[str, str], missing: set[str]) -> Any:
    """``{{ $VAR }}`` templates of prefect.yaml filled from ``env``; unset names go to
    ``missing``."""
    if isinstance(value, dict):
        return {k: _substitute(v, env, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, env, missing) for v in value]
    if not isinstance(value, str):
        return value
    for name in _TEMPLATE.findall(value):
        if not env.get(name):
            missing.add(name)
    return _TEMPLATE.sub(lambda m: env.get(m.group(1), ""), value)


def _schedule(spec: dict) -> Any:
    from prefect.schedules import Cron, Interval, RRule

    common = {k: spec[k] for k in ("timezone", "active", "parameters", "slug") if k in spec}
    if "cron" in spec:
        return Cron(spec["cron"], day_or=spec.get("day_or", True), **common)
    if "interval" in spec:
        return Interval(spec["interval"], anchor_date=spec.get("anchor_date"), **common)
    if "rrule" in spec:
        return RRule(spec["rrule"], **common)
    raise LocalStackError(f"{PREFECT_FILE}: schedule {spec} has no cron, interval or rrule")


def local_deployments(prefect_file: Path = PREFECT_FILE) -> tuple[list[dict], dict[str, str]]:
    """The deployments of a ``prefect.yaml`` (YAML anchors resolved) that run on this machine's
    process work pool :data:`WORK_POOL`, and the others with the reason they are left out (a
    Kubernetes pool, for example).

    Raises:
        LocalStackError: the file cannot be read, or a deployment on :data:`WORK_POOL` uses a key
            that :func:`register_deployments` does not apply (so the two cannot drift silently).
    """
    import yaml

    try:
        specs = yaml.safe_load(prefect_file.read_text(encoding="utf-8"))["deployments"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise LocalStackError(f"cannot read the deployments of {prefect_file}: {exc}") from exc
    ours, others = [], {}
    for spec in specs:
        pool = (spec.get("work_pool") or {}).get("name")
        if pool != WORK_POOL:
            others[spec["name"]] = f"it runs on work pool {pool}, not on this machine's"
            continue
        unknown = set(spec) - _DEPLOYMENT_KEYS
        if unknown:
            raise LocalStackError(
                f"{prefect_file}: deployment {spec['name']!r} has {', '.join(sorted(unknown))}, "
                f"which rotoflow up does not apply; it applies {', '.join(sorted(_DEPLOYMENT_KEYS))}"
            )
        ours.append(spec)
    return ours, others


def register_deployments(
    api_url: str,
    specs: list[dict],
    env: dict[str, str],
    step: Callable[[str], None] = lambda _: None,
    *,
    auth: str | None = None,
) -> tuple[list[str], dict[str, str]]:
    """Create or update deployments (from :func:`local_deployments`) on the server, run by process
    workers in :data:`REPO` (the ``working_dir`` job variable stands for the file's
    ``set_working_directory`` pull step). ``{{ $VAR }}`` templates are filled from ``env``;
    ``auth`` is the API's auth string.

    Returns:
        The registered deployments (``<flow>/<deployment>``), and the skipped ones with the reason
        (a template whose variable is unset, e.g. ``ROTOFLOW_WATCH_FOLDER``).

    Raises:
        LocalStackError: a flow does not load, or the server refuses a deployment.
    """
    from prefect.flows import load_flow_from_entrypoint

    registered, skipped = [], {}
    for spec in specs:
        missing: set[str] = set()
        spec = _substitute(spec, env, missing)
        name = spec["name"]
        if missing:
            skipped[name] = f"set {', '.join(sorted(missing))} to register it"
            continue
        step(f"registering deployment {name}")
        try:
            flow = load_flow_from_entrypoint(str(REPO / spec["entrypoint"]))
        except Exception as exc:
            raise LocalStackError(
                f"deployment {name}: cannot load {spec['entrypoint']}: {exc}"
            ) from exc
        pool = spec.get("work_pool", {})
        deployment = flow.to_deployment(
            name=name,
            description=spec.get("description"),
            tags=spec.get("tags"),
            version=spec.get("version"),
            paused=spec.get("paused"),
            concurrency_limit=spec.get("concurrency_limit"),
            parameters=spec.get("parameters"),
            schedules=[_schedule(s) for s in spec.get("schedules", [])],
            enforce_parameter_schema=spec.get("enforce_parameter_schema", True),
            work_pool_name=pool.get("name", WORK_POOL),
            work_queue_name=pool.get("work_queue_name"),
            job_variables={**pool.get("job_variables", {}), "working_dir": str(REPO)},
        )
        # as `prefect deploy` from the repository root records them; the workers run in REPO
        deployment.entrypoint = spec["entrypoint"]
        deployment._path = str(REPO)
        with prefect_api(api_url, auth):
            try:
                deployment.apply()
            except Exception as exc:
                raise LocalStackError(f"the server refused deployment {name}: {exc}") from exc
        registered.append(f"{flow.name}/{name}")
    return registered, skipped
