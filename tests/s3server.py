"""A loopback S3 server for the storage tests: moto's server mode (``moto_server``, from
``moto[server]``) in a subprocess on 127.0.0.1, spoken to over real HTTP.

Use :func:`moto_server` in a module-scoped fixture; :func:`aws_env` gives the dummy credentials
and region that boto3 needs (moto accepts any, unless started with ``require_auth``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port

BIN = Path(sys.executable).parent

#: Environment for boto3 against the loopback server: dummy credentials, a region, no lookups of
#: shared config files or the EC2 instance metadata service.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_CONFIG_FILE": os.devnull,
}
_AWS_CLEARED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


@contextmanager
def moto_server(*, require_auth: bool = False, timeout: float = 60.0) -> Iterator[str]:
    """Start ``moto_server`` on a free loopback port; yields its endpoint URL; stops it after.

    Args:
        require_auth: Make the server check credentials (moto's ``INITIAL_NO_AUTH_ACTION_COUNT=0``),
            so that unknown access keys are refused with ``InvalidAccessKeyId``.
        timeout: Seconds to wait for the server to answer.

    Raises:
        RuntimeError: The server exited or did not answer in time.
    """
    port = free_port()
    env = {**os.environ, **AWS_ENV}
    if require_auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start on port {port}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def aws_env() -> Iterator[None]:
    """Set :data:`AWS_ENV` (and clear profile, token and endpoint variables) for the block."""
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        for name in _AWS_CLEARED:
            mp.delenv(name, raising=False)
        for name, value in AWS_ENV.items():
            mp.setenv(name, value)
        yield


def s3_client(endpoint: str):
    """A plain boto3 S3 client on ``endpoint`` for test set-up and checks."""
    import boto3

    return boto3.session.Session().client("s3", endpoint_url=endpoint)
