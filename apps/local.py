"""One machine as a studio: a local Prefect server, the ``rotoflow`` work pool, its concurrency
limits, the deployments of ``deployments/prefect.yaml`` (registered by :mod:`apps.localdeploy`)
and process workers, started and stopped together (``rotoflow up`` / ``rotoflow down``).

Everything lives in ``<ROTOFLOW_HOME>/prefect``: the server's SQLite database (``prefect.db``), its
log (``server.log``), the workers' logs (``worker-<n>.log``), ``up.json``, which records the
process ids so that ``down`` (from any shell) can stop them, and ``api-auth``, the API's auth
string (mode 0600; see :mod:`apps.localauth`): the server answers 401 to any request without
it. The server and each worker run in
their own session (process group), so they outlive the shell that started them.

Prefect is imported inside the functions that talk to the server, so ``rotoflow`` starts fast.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apps.localauth import ensure_auth, read_auth
from apps.localdeploy import local_deployments, register_deployments
from apps.procs import (
    LockTimeout,
    command_line,
    exclusive,
    gpu_count,
    is_ours,
    log_tail,
    port_is_free,
    probe_gpus,
    spawn,
    stop_processes,
    worker_gpus,
)
from apps.stack import PREFECT_FILE, REPO, WORK_POOL, LocalStackError, prefect_api
from flows.gpu import GPU_LIMIT

logger = logging.getLogger(__name__)


@dataclass
class UpState:
    """What ``rotoflow up`` started, as written to ``up.json``.

    Attributes:
        api_url: The server's API, ``http://127.0.0.1:4200/api``.
        ui_url: The Prefect UI, ``http://127.0.0.1:4200``.
        server_pid: Process id (and process group id) of ``prefect server start``.
        worker_pids: Process ids (and process group ids) of the ``prefect worker start`` processes.
        host: Address the server listens on.
        port: Its port.
        data: The data folder (``<ROTOFLOW_HOME>/prefect``).
        started: ISO 8601 time (UTC) of the start.
        deployments: The deployments registered, ``<flow>/<deployment>``.
        worker_gpus: Each worker's ``CUDA_VISIBLE_DEVICES`` (None: the environment's), see
            :func:`apps.procs.worker_gpus`.
    """

    api_url: str
    ui_url: str
    server_pid: int
    worker_pids: list[int]
    host: str
    port: int
    data: str
    started: str
    deployments: list[str] = field(default_factory=list)
    worker_gpus: list[str | None] = field(default_factory=list)


def data_dir(home: Path) -> Path:
    """The local server's data folder under a Rotoflow home (``<home>/prefect``)."""
    return home.expanduser().absolute() / "prefect"


def state_path(data: Path) -> Path:
    """``up.json`` in the data folder."""
    return data / "up.json"


def read_state(data: Path) -> UpState | None:
    """The recorded state, or None when nothing was started (or the file is unreadable)."""
    try:
        return UpState(**json.loads(state_path(data).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write_state(data: Path, state: UpState) -> None:
    tmp = state_path(data).with_suffix(".json.partial")
    tmp.write_text(json.dumps(asdict(state), indent=1) + "\n")
    tmp.replace(state_path(data))


def running_state(data: Path) -> UpState | None:
    """The recorded state if its server process is still running, else None."""
    state = read_state(data)
    return state if state is not None and is_ours(state.server_pid) else None


def _prefect() -> list[str]:
    return [str(Path(sys.executable).parent / "prefect")]


def server_env(data: Path, auth: str) -> dict[str, str]:
    """The server's environment: its home, SQLite database and settings in ``data``, its API's
    auth string ``auth`` (``PREFECT_SERVER_API_AUTH_STRING``; also the one its own clients send),
    and no ``PREFECT_API_URL`` (the UI would call that API instead of its own). The rest of this
    process's environment passes through, so server settings set there apply, e.g.
    ``PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS`` (how often the scheduler creates the runs
    of scheduled deployments; 60 s by default)."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return {
        **env,
        "PREFECT_HOME": str(data),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{data / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_AUTH_STRING": auth,
        "PREFECT_API_AUTH_STRING": auth,
    }


def _setting_value(value: Any) -> str:
    """A Rotoflow setting as its environment variable: paths absolute, booleans lower case,
    lists as JSON lists."""
    if isinstance(value, Path):
        return str(value.expanduser().absolute())
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return json.dumps([_setting_value(v) for v in value])
    return str(value)


def worker_env(data: Path, api_url: str, settings: Any, auth: str) -> dict[str, str]:
    """A worker's environment: the server's API and its auth string ``auth``
    (``PREFECT_API_AUTH_STRING``), and the Rotoflow settings of this process (``.env`` included)
    with relative paths made absolute, since workers run in :data:`REPO`."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(data),
        "PREFECT_API_URL": api_url,
        "PREFECT_API_AUTH_STRING": auth,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "ROTOFLOW_REPO": str(REPO),
    }
    env.setdefault("PREFECT_WORKER_QUERY_SECONDS", "5")
    for name in settings.model_fields_set | {"home", "output_root"}:
        value = getattr(settings, name)
        if value is not None:
            env[f"ROTOFLOW_{name.upper()}"] = _setting_value(value)
    return env


def wait_healthy(api_url: str, pid: int, log: Path, timeout: float) -> None:
    """Wait until ``<api_url>/health`` answers.

    Raises:
        LocalStackError: the process exited, or ``timeout`` seconds passed (the log's tail is in
            the message).
    """
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if command_line(pid) is None:
            raise LocalStackError(
                f"the Prefect server exited during start-up; end of {log}:\n{log_tail(log)}"
            )
        if time.monotonic() > deadline:
            raise LocalStackError(
                f"the Prefect server did not answer at {api_url}/health within {timeout:.0f} s "
                f"(raise --timeout); end of {log}:\n{log_tail(log)}"
            )
        time.sleep(0.5)


def configure(api_url: str, workers: int, gpu_slots: int, auth: str | None = None) -> None:
    """Create (or update) the process work pool :data:`WORK_POOL` with a concurrency limit of
    ``workers`` runs, and the global concurrency limit :data:`GPU_LIMIT` with ``gpu_slots``
    (``auth``: the API's auth string)."""
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    # The pool gets the process worker's own base job template, as `prefect work-pool create
    # --type process` does. A pool without one is filled in by the first worker that connects,
    # in a read-then-write transaction that SQLite can refuse ("database is locked") while the
    # server's services write.
    template = ProcessWorker.get_default_base_job_template()
    with prefect_api(api_url, auth) as client:
        try:
            pool = client.read_work_pool(WORK_POOL)
        except ObjectNotFound:
            client.create_work_pool(
                WorkPoolCreate(
                    name=WORK_POOL,
                    type="process",
                    concurrency_limit=workers,
                    base_job_template=template,
                )
            )
        else:
            missing = {} if pool.base_job_template else {"base_job_template": template}
            client.update_work_pool(WORK_POOL, WorkPoolUpdate(concurrency_limit=workers, **missing))
        client.upsert_global_concurrency_limit_by_name(GPU_LIMIT, gpu_slots)


def wait_workers(
    api_url: str,
    names: list[str],
    pids: list[int],
    logs: list[Path],
    since: datetime,
    timeout: float,
    auth: str | None = None,
) -> None:
    """Wait until every named worker has sent the work pool a heartbeat after ``since``
    (``auth``: the API's auth string).

    Raises:
        LocalStackError: a worker process exited, or ``timeout`` seconds passed (the worker's log
            tail is in the message).
    """
    deadline = time.monotonic() + timeout
    with prefect_api(api_url, auth) as client:
        while True:
            seen = {
                w.name
                for w in client.read_workers_for_work_pool(WORK_POOL, offset=0, limit=200)
                if w.last_heartbeat_time and w.last_heartbeat_time >= since
            }
            late = [i for i, n in enumerate(names) if n not in seen]
            if not late:
                return
            dead = [i for i in late if command_line(pids[i]) is None]
            if dead or time.monotonic() > deadline:
                i = (dead or late)[0]
                why = "exited" if dead else f"did not reach the server within {timeout:.0f} s"
                raise LocalStackError(
                    f"worker {names[i]} {why}; end of {logs[i]}:\n{log_tail(logs[i])}"
                )
            time.sleep(0.5)


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


@dataclass
class UpResult:
    """What :func:`up` did.

    Attributes:
        state: The running stack.
        already: It was already up; nothing was started.
        skipped: Deployments not registered, with the reason.
        gpu_slots: Slots of :data:`GPU_LIMIT`.
        stale: A stale ``up.json`` (its server gone) was cleaned up first.
    """

    state: UpState
    already: bool = False
    skipped: dict[str, str] = field(default_factory=dict)
    gpu_slots: int = 0
    stale: bool = False


def up(
    settings: Any,
    host: str = "127.0.0.1",
    port: int = 4200,
    workers: int = 1,
    gpu_slots: int | None = None,
    watch: Path | None = None,
    timeout: float = 180.0,
    step: Callable[[str], None] = lambda _: None,
) -> UpResult:
    """Start the local server, configure it, register the deployments and start the workers;
    return at once when already up. The server's API asks for the auth string of
    :func:`apps.localauth.ensure_auth` (made on the first ``up`` under a home), which the
    workers are given, whatever ``host`` it listens on. A failed start stops whatever it had started. Two ``up``
    under one home never start two stacks: the second waits (``<data>/up.lock``) and then finds
    the first one up.

    Args:
        settings: :class:`rotoflow.settings.Settings` (its ``home`` holds the data folder; the
            workers get its values).
        host: Address the server listens on (loopback by default; any other is reachable from
            other machines, over plain HTTP).
        port: Its port.
        workers: Process workers to start, each running one flow run at a time; also the work
            pool's concurrency limit.
        gpu_slots: Slots of :data:`GPU_LIMIT` (default: :func:`gpu_count`).
        watch: Folder of the ``watch-folder`` deployment (default: ``ROTOFLOW_WATCH_FOLDER``;
            without either the deployment is not registered).
        timeout: Seconds to wait for the server, and then for the workers.
        step: Called with a short description of each step (for a spinner).

    Raises:
        LocalStackError: no checkout (``deployments/prefect.yaml``), the port is taken, the
            server or a worker did not start, or another ``up`` was still starting after
            ``timeout`` seconds.
    """
    data = data_dir(settings.home)
    data.mkdir(parents=True, exist_ok=True)
    try:
        with exclusive(data / "up.lock", timeout):
            return _up(settings, data, host, port, workers, gpu_slots, watch, timeout, step)
    except LockTimeout:
        raise LocalStackError(
            f"another rotoflow up under {data} is still starting after {timeout:.0f} s; wait "
            "for it, or see its server.log"
        ) from None


def _up(
    settings: Any,
    data: Path,
    host: str,
    port: int,
    workers: int,
    gpu_slots: int | None,
    watch: Path | None,
    timeout: float,
    step: Callable[[str], None],
) -> UpResult:
    """:func:`up` with the start lock held."""
    running = running_state(data)
    if running is not None:
        return UpResult(running, already=True)
    stale = read_state(data)
    if stale is not None:
        stop_processes(stale.worker_pids)
        state_path(data).unlink(missing_ok=True)
    if not PREFECT_FILE.is_file():
        raise LocalStackError(f"{PREFECT_FILE} not found: rotoflow up runs from a repository clone")
    specs, elsewhere = local_deployments()
    if watch is None and os.environ.get("ROTOFLOW_WATCH_FOLDER"):
        watch = Path(os.environ["ROTOFLOW_WATCH_FOLDER"])
    if watch is not None:
        watch = watch.expanduser().absolute()
        if not watch.is_dir():
            raise LocalStackError(f"the watch folder {watch} is not a folder")
    if not port_is_free(host, port):
        raise LocalStackError(f"port {port} on {host} is in use; stop what uses it or give --port")
    base = f"http://{_url_host(host)}:{port}"
    state = UpState(
        api_url=f"{base}/api",
        ui_url=base,
        server_pid=0,
        worker_pids=[],
        host=host,
        port=port,
        data=str(data),
        started=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    auth = ensure_auth(data)
    probe = probe_gpus()
    try:
        step("starting the Prefect server")
        argv = [*_prefect(), "server", "start", "--host", host, "--port", str(port)]
        state.server_pid = spawn(argv, server_env(data, auth), data / "server.log", data)
        _write_state(data, state)  # from here on `rotoflow down` can stop it
        wait_healthy(state.api_url, state.server_pid, data / "server.log", timeout)
        step("creating the work pool and the concurrency limits")
        gpus = gpu_count(probe)
        slots = gpu_slots or max(1, gpus)
        configure(state.api_url, workers, slots, auth)
        env = {**os.environ, "ROTOFLOW_REPO": str(REPO)}
        if watch is not None:
            env["ROTOFLOW_WATCH_FOLDER"] = str(watch)
        state.deployments, skipped = register_deployments(
            state.api_url, specs, env, step, auth=auth
        )
        step(f"starting {workers} worker{'s' * (workers != 1)}")
        since = datetime.now(UTC).replace(microsecond=0)
        names = [f"rotoflow-{socket.gethostname()}-{n}" for n in range(1, workers + 1)]
        logs = [data / f"worker-{n}.log" for n in range(1, workers + 1)]
        wenv = worker_env(data, state.api_url, settings, auth)
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        state.worker_gpus = worker_gpus(workers, gpus, settings.device, visible)
        for name, log, gpu in zip(names, logs, state.worker_gpus, strict=True):
            argv = [*_prefect(), "worker", "start", "--pool", WORK_POOL, "--limit", "1"]
            env = wenv if gpu is None else {**wenv, "CUDA_VISIBLE_DEVICES": gpu}
            state.worker_pids.append(spawn([*argv, "--name", name], env, log, REPO))
            _write_state(data, state)
        step("waiting for the workers to reach the server")
        wait_workers(state.api_url, names, state.worker_pids, logs, since, timeout, auth)
    except BaseException as exc:
        stop_processes([*state.worker_pids, state.server_pid] if state.server_pid else [])
        state_path(data).unlink(missing_ok=True)
        if isinstance(exc, Exception) and not isinstance(exc, LocalStackError):
            raise LocalStackError(f"rotoflow up failed: {type(exc).__name__}: {exc}") from exc
        raise
    skipped |= elsewhere
    return UpResult(state, skipped=skipped, gpu_slots=slots, stale=stale is not None)


_ACTIVE = ("PENDING", "RUNNING", "CANCELLING")


def cancel_active_runs(api_url: str, timeout: float = 30.0, auth: str | None = None) -> list[str]:
    """Cancel the flow runs that are pending or running (the workers stop their processes) and
    wait up to ``timeout`` seconds for them to end; returns their names (``auth``: the API's
    auth string)."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.states import Cancelling

    types = FlowRunFilterStateType(any_=[StateType(t) for t in _ACTIVE])
    active = FlowRunFilter(state=FlowRunFilterState(type=types))
    query = {"flow_run_filter": active, "sort": FlowRunSort.ID_DESC, "limit": 200}
    with prefect_api(api_url, auth) as client:
        runs = client.read_flow_runs(**query)
        for run in runs:
            client.set_flow_run_state(run.id, Cancelling(), force=True)
        deadline = time.monotonic() + timeout
        while runs and time.monotonic() < deadline and client.read_flow_runs(**query):
            time.sleep(0.5)
    return [r.name for r in runs]


@dataclass
class DownResult:
    """What :func:`down` did.

    Attributes:
        state: The stack that was stopped (None: nothing was up).
        cancelled: Flow runs that were in progress and were cancelled.
        was_running: The server was still running (else ``up.json`` was stale).
    """

    state: UpState | None
    cancelled: list[str] = field(default_factory=list)
    was_running: bool = False


def down(home: Path, timeout: float = 30.0) -> DownResult:
    """Cancel the runs in progress, then stop the workers and the server that :func:`up` started
    (SIGTERM to their process groups, SIGKILL after ``timeout`` seconds) and remove ``up.json``.
    Nothing up, or a stale ``up.json``, is not an error."""
    data = data_dir(home)
    state = read_state(data)
    if state is None:
        return DownResult(None)
    result = DownResult(state, was_running=is_ours(state.server_pid))
    if result.was_running:
        try:
            result.cancelled = cancel_active_runs(state.api_url, timeout, read_auth(data))
        except Exception as exc:  # a server that does not answer is stopped all the same
            logger.warning("could not cancel the runs in progress: %s", exc)
    stop_processes(state.worker_pids, timeout)
    stop_processes([state.server_pid], timeout)
    state_path(data).unlink(missing_ok=True)
    return result


def api_url(home: Path) -> str | None:
    """The Prefect API a client should use: ``PREFECT_API_URL`` when set, else the server that
    ``rotoflow up`` started under ``home`` when it is running, else None."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    state = running_state(data_dir(home))
    return state.api_url if state is not None else None


def api_auth(home: Path, url: str) -> str | None:
    """The auth string a client of the API at ``url`` sends: that of the server ``rotoflow up``
    started under ``home`` when ``url`` is its API and it is running (never sent to another
    server), else None (``PREFECT_API_AUTH_STRING``, if set, applies)."""
    data = data_dir(home)
    state = running_state(data)
    if state is None or url.rstrip("/") != state.api_url:
        return None
    return read_auth(data)
