"""Processes that ``rotoflow up`` starts and stops: spawned in their own session, recognised by
process id without ever signalling a recycled one, stopped by process group; a file lock for one
starter at a time; ports and logs; the GPUs the workers are given."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from rotoflow.errors import LockTimeout as LockTimeout  # raised by exclusive(), caught by callers
from rotoflow.files import locked

logger = logging.getLogger(__name__)


def command_line(pid: int) -> str | None:
    """The command line of a live (not zombie) process, or None."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():  # Linux
        try:
            state = proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0]
            args = proc.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            return None
        return None if state == "Z" else args.strip()
    out = subprocess.run(  # macOS
        ["ps", "-o", "stat=,args=", "-p", str(pid)], capture_output=True, text=True, check=False
    ).stdout.strip()
    return None if not out or out.startswith("Z") else out.split(None, 1)[-1]


def is_ours(pid: int) -> bool:
    """Whether ``pid`` is alive and still a Prefect process that leads its own process group (as
    ``up`` starts them), so that a recycled process id is never signalled."""
    args = command_line(pid)
    if args is None or "prefect" not in args:
        return False
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def stop_processes(pids: list[int], timeout: float = 30.0) -> None:
    """SIGTERM the process groups of ``pids`` (those still ours), wait up to ``timeout`` seconds
    for them to exit, then SIGKILL what is left."""
    ours = [p for p in pids if is_ours(p)]
    live = ours
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in live:
            with suppress(ProcessLookupError):
                os.killpg(pid, sig)
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 10.0)
        while live and time.monotonic() < deadline:
            time.sleep(0.2)
            live = [p for p in live if command_line(p) is not None]
        if not live:
            break
        logger.warning("processes %s did not stop after SIGTERM; killing them", live)
    for pid in ours:  # children left in a group whose leader exited
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def port_is_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound (nothing listens there)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is free
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file ('' when it cannot be read)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def spawn(argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> int:
    """Start ``argv`` in its own session (process group), so that it outlives this shell, with
    stdout and stderr appended to ``log`` after a dated header line; returns its process id."""
    with open(log, "ab") as fh:
        fh.write(f"--- rotoflow up, {datetime.now(UTC).isoformat()} ---\n".encode())
        fh.flush()
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc.pid


@contextmanager
def exclusive(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing), waiting up to ``timeout``
    seconds for another process that holds it (the kernel drops it when that process dies);
    :func:`rotoflow.files.locked`, trying every 0.2 s.

    Raises:
        LockTimeout: The lock is still held after ``timeout`` seconds.
    """
    with locked(path, timeout=timeout, poll=0.2):
        yield


def probe_gpus() -> subprocess.Popen:
    """Count CUDA GPUs in a child process (importing torch takes seconds; this runs meanwhile)."""
    code = "import torch; print(torch.cuda.device_count())"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def gpu_count(probe: subprocess.Popen | None = None) -> int:
    """The number of CUDA GPUs torch sees (``CUDA_VISIBLE_DEVICES`` applies); 0 when torch is
    not installed or sees none.

    Args:
        probe: A probe started earlier by ``probe_gpus`` (default: start one and wait).
    """
    probe = probe or probe_gpus()
    try:
        output, _ = probe.communicate(timeout=300)
        return max(0, int(output.strip().splitlines()[-1]))
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        probe.kill()
        return 0


def worker_gpus(workers: int, gpus: int, device: str, visible: str | None) -> list[str | None]:
    """The ``CUDA_VISIBLE_DEVICES`` of each worker.

    A flow run runs one stage at a time, so it uses one GPU; on a host with several, worker ``n``
    (from 0) is given GPU ``n mod gpus`` and its runs load their models there. Without several
    GPUs, or with a ``device`` setting other than ``auto``/``cuda`` (``cpu``, or a GPU chosen with
    ``cuda:N``), every worker keeps this environment's (None).

    Args:
        workers: Number of workers.
        gpus: CUDA GPUs visible here (:func:`gpu_count`).
        device: The ``device`` setting.
        visible: This environment's ``CUDA_VISIBLE_DEVICES`` (None: unset), whose entries (indices
            or UUIDs) are handed out in its order.

    Returns:
        One value per worker.
    """
    if gpus < 2 or device not in ("auto", "cuda"):
        return [None] * workers
    ids = [v.strip() for v in visible.split(",") if v.strip()] if visible else []
    ids = ids[:gpus] if len(ids) >= gpus else [str(i) for i in range(gpus)]
    return [ids[n % gpus] for n in range(workers)]
