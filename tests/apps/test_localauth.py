"""The auth string of ``rotoflow up`` (:mod:`apps.localauth`) and how the stack hands it out
(:mod:`apps.local`): a private file, the server's and the workers' environment, and only the
stack's own API is sent it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from apps import local, localauth, procs
from rotoflow.settings import Settings


def test_the_auth_string_is_made_once_in_a_file_only_its_owner_reads(tmp_path):
    old = os.umask(0o022)  # a usual umask would leave a plain file readable by all
    try:
        first = localauth.ensure_auth(tmp_path)
    finally:
        os.umask(old)
    path = tmp_path / "api-auth"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    user, _, password = first.partition(":")
    assert user == "rotoflow" and len(password) >= 43
    assert localauth.ensure_auth(tmp_path) == first == localauth.read_auth(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    assert localauth.ensure_auth(other) != first  # random, not derived from anything


def test_a_readable_or_linked_auth_file_is_replaced(tmp_path):
    first = localauth.ensure_auth(tmp_path)
    path = localauth.auth_path(tmp_path)
    path.chmod(0o644)  # others may have read it
    second = localauth.ensure_auth(tmp_path)
    assert second != first and stat.S_IMODE(path.stat().st_mode) == 0o600
    target = tmp_path / "elsewhere"
    target.write_text(second + "\n")
    target.chmod(0o600)
    path.unlink()
    path.symlink_to(target)  # never written or trusted through a link
    third = localauth.ensure_auth(tmp_path)
    assert not path.is_symlink() and third not in (first, second)
    assert target.read_text() == second + "\n"
    path.write_text("not an auth string\n")
    path.chmod(0o600)
    assert localauth.read_auth(tmp_path) is None
    assert localauth.ensure_auth(tmp_path) != third
    assert localauth.read_auth(tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("render01.studio", False),
    ],
)
def test_loopback_addresses(host, loopback):
    assert localauth.is_loopback(host) is loopback


def test_server_and_workers_get_the_auth_string_in_their_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere/api")
    server = local.server_env(tmp_path, "rotoflow:secret")
    assert server["PREFECT_SERVER_API_AUTH_STRING"] == "rotoflow:secret"
    assert "PREFECT_API_URL" not in server
    settings = Settings(
        home=tmp_path,
        output_root=tmp_path / "out",
        output_roots=[tmp_path / "a", tmp_path / "b:c"],
        plate_roots=["s3://plates/in", str(tmp_path)],
        _env_file=None,
    )
    worker = local.worker_env(tmp_path, "http://127.0.0.1:4200/api", settings, "rotoflow:secret")
    assert worker["PREFECT_API_AUTH_STRING"] == "rotoflow:secret"
    assert worker["PREFECT_API_URL"] == "http://127.0.0.1:4200/api"
    # list settings reach the worker as JSON lists, which the worker's settings read back
    assert json.loads(worker["ROTOFLOW_OUTPUT_ROOTS"]) == [
        str(tmp_path / "a"),
        str(tmp_path / "b:c"),
    ]
    code = "from rotoflow.settings import Settings; s = Settings(); print(s.output_roots, s.plate_roots)"
    env = {k: v for k, v in worker.items() if k.startswith("ROTOFLOW_") or k in ("PATH", "HOME")}
    env["PYTHONPATH"] = str(local.REPO)
    shown = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert repr([tmp_path / "a", tmp_path / "b:c"]) in shown
    assert repr(["s3://plates/in", str(tmp_path)]) in shown


def _fake_stack(home, api_url):
    data = local.data_dir(home)
    data.mkdir(parents=True)
    server = subprocess.Popen(  # a live process that `is_ours` takes for a Prefect server
        [sys.executable, "-c", "import time; time.sleep(60)", "prefect"], start_new_session=True
    )
    deadline = time.monotonic() + 10.0  # until the child has exec'd (its command line says so)
    while not procs.is_ours(server.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    local._write_state(
        data,
        local.UpState(
            api_url=api_url,
            ui_url=api_url.removesuffix("/api"),
            server_pid=server.pid,
            worker_pids=[],
            host="127.0.0.1",
            port=4200,
            data=str(data),
            started="2026-01-01T00:00:00+00:00",
        ),
    )
    return server, localauth.ensure_auth(data)


def test_only_the_stacks_own_api_is_sent_its_auth_string(tmp_path):
    api = "http://127.0.0.1:4200/api"
    server, auth = _fake_stack(tmp_path / "home", api)
    try:
        assert local.api_auth(tmp_path / "home", api) == auth
        assert local.api_auth(tmp_path / "home", api + "/") == auth
        assert local.api_auth(tmp_path / "home", "http://render01:4200/api") is None
        assert local.api_auth(tmp_path / "nothing-up", api) is None
    finally:
        server.kill()
        server.wait()
    assert local.api_auth(tmp_path / "home", api) is None  # its server is gone
