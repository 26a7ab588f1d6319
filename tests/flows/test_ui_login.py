"""The Prefect UI of ``rotoflow up`` behind its generated credentials, in a real browser: a Prefect
server with its UI and the environment ``up`` gives it (:func:`apps.local.server_env`, with the
auth string of :func:`apps.localauth.ensure_auth`), opened in headless Chromium (Debian's
``chromium``) driven over the Chrome DevTools Protocol.

The UI the server opens by default is the V2 (React) UI under ``/v2``. With the server's auth on,
``/ui-settings`` says ``auth: BASIC`` and the UI routes to ``/v2/login`` before any API call; its
form takes the whole auth string (``user:password``, placeholder ``admin:pass``), checks
``btoa(string)`` against ``GET /api/admin/version`` and, when that answers 200, keeps it in
``localStorage["prefect-password"]``; the API client then sends ``Authorization: Basic <it>``.

The screenshots of the login form refusing a wrong string and of the flow list after login are
saved as ``test-artifacts/screenshots/ui-login-refused.png`` and ``ui-login.png``."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from websockets.sync.client import connect

from apps.local import server_env
from apps.localauth import USER, ensure_auth
from tests.conftest import REPO
from tests.flows.conftest import prefect_server

pytestmark = pytest.mark.e2e

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
WINDOW = (1600, 1000)


class Page:
    """One Chromium page over the DevTools Protocol; keeps the events it receives."""

    def __init__(self, ws_url: str):
        self.ws = connect(ws_url, max_size=None, open_timeout=10)
        self.last_id = 0
        self.events: list[dict] = []

    def call(self, method: str, timeout: float = 20, **params) -> dict:
        self.last_id += 1
        self.ws.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = json.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            except TimeoutError as exc:
                raise AssertionError(f"chromium gave no answer to {method} in {timeout} s") from exc
            if msg.get("id") == self.last_id:
                if "error" in msg:
                    raise AssertionError(f"{method} failed: {msg['error']}")
                return msg["result"]
            if "method" in msg:
                self.events.append(msg)

    def eval(self, expression: str, timeout: float = 20):
        result = self.call(
            "Runtime.evaluate",
            timeout,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def text(self) -> str:
        with contextlib.suppress(AssertionError):
            return self.eval("document.body ? document.body.innerText : ''", timeout=5) or ""
        return ""

    def wait_for(self, expression: str, what: str, timeout: float = 30):
        """The value of ``expression`` once it is truthy (polled every 0.2 s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # between two pages the expression has no context to run in: try again
            with contextlib.suppress(AssertionError):
                value = self.eval(expression, timeout=max(1.0, deadline - time.monotonic()))
                if value:
                    return value
            time.sleep(0.2)
        raise AssertionError(
            f"{what} not within {timeout} s; the page shows: {self.text()[:800]!r}"
        )

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def responses(self, path: str) -> list[tuple[str, int]]:
        """``(url, status)`` of the responses received so far whose URL path starts with ``path``."""
        out = []
        for e in self.events:
            if e["method"] == "Network.responseReceived":
                r = e["params"]["response"]
                if httpx.URL(r["url"]).path.startswith(path):
                    out.append((r["url"], r["status"]))
        return out


@contextlib.contextmanager
def chromium_page(tmp: Path):
    """Headless Chromium on a blank page; yields its :class:`Page` (Page, Runtime and Network
    events on), and kills Chromium and every helper process it started after."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail(
            "Debian's chromium is not installed: `make browser` (or `apt-get install chromium`) "
            "installs it; the Prefect UI login test needs it"
        )
    profile = tmp / "profile"
    cmd = [
        chromium,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",  # chromium picks a free one and writes it to the profile
        "about:blank",
    ]
    log = open(tmp / "chromium.log", "wb")  # noqa: SIM115 (closed below, after chromium)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    page = None
    try:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (active.is_file() and active.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (tmp / "chromium.log").read_bytes()[-2000:].decode(errors="replace")
                raise AssertionError(f"chromium opened no DevTools port: {tail}")
            time.sleep(0.1)
        port = int(active.read_text().split()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        (target,) = [t for t in targets if t["type"] == "page"]
        page = Page(target["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Network"):
            page.call(f"{domain}.enable")
        yield page
    finally:
        if page is not None:
            page.ws.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # chromium and every helper process it started
        proc.wait(timeout=10)
        log.close()


ON_LOGIN_PAGE = (
    "location.pathname.endsWith('/login') && !!document.querySelector('form input[type=password]')"
)


def type_and_submit(page: Page, value: str) -> None:
    """Type ``value`` into the login form's password field and press its Login button (React
    reads the field through its ``input`` event, so the value is set with the native setter)."""
    page.eval(
        "(() => { const i = document.querySelector('form input[type=password]');"
        " Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set"
        f".call(i, {json.dumps(value)});"
        " i.dispatchEvent(new Event('input', {bubbles: true})); return true; })()"
    )
    page.wait_for(
        "(() => { const b = document.querySelector('form button[type=submit]');"
        " if (!b || b.disabled) return false; b.click(); return true; })()",
        "an enabled Login button",
        timeout=10,
    )


def test_ui_asks_for_the_generated_credentials_and_works_with_them(tmp_path):
    data = tmp_path / "prefect"
    data.mkdir()
    auth = ensure_auth(data)  # the string `rotoflow up` generates, in its real format
    stored = base64.b64encode(auth.encode()).decode()
    flow_name = f"ui-login-probe-{uuid.uuid4().hex[:8]}"
    wrong = f"{USER}:{secrets.token_urlsafe(32)}"
    with (
        prefect_server(data, ui=True, env=server_env(data, auth)) as base,
        chromium_page(tmp_path) as page,
    ):
        api = f"{base}/api"
        assert httpx.post(f"{api}/flows/filter", json={}, timeout=10).status_code == 401
        created = httpx.post(
            f"{api}/flows/", json={"name": flow_name}, auth=tuple(auth.split(":", 1)), timeout=10
        )
        assert created.status_code in (200, 201), created.text

        # the UI root: the login form, and no API call answered without the credentials
        page.navigate(base + "/")
        page.wait_for(ON_LOGIN_PAGE, "the login page")
        assert page.eval("localStorage.getItem('prefect-password')") is None
        assert not [
            r for r in page.responses("/api/") if r[1] < 400 and not r[0].endswith("/api/health")
        ], "the API answered the UI before any login"
        assert flow_name not in page.text()

        # a wrong auth string: the API answers 401 and the login page stays, with its error
        type_and_submit(page, wrong)
        page.wait_for(
            "document.body.innerText.includes('Invalid credentials')", "the login form's error"
        )
        assert page.eval(ON_LOGIN_PAGE)
        assert page.eval("localStorage.getItem('prefect-password')") is None
        checks = [s for _, s in page.responses("/api/admin/version")]
        assert checks and set(checks) == {401}, f"the wrong credentials' check answered {checks}"
        form_shot = page.call("Page.captureScreenshot", format="png")["data"]

        # the generated auth string: the UI leaves the login page for its dashboard
        type_and_submit(page, auth)
        page.wait_for(
            "location.pathname.endsWith('/dashboard')"
            " && !document.querySelector('input[type=password]')",
            "the dashboard after login",
        )
        assert page.eval("localStorage.getItem('prefect-password')") == stored
        # the check of the generated string answered 200 (its response event can reach us after
        # the dashboard shows, and the dashboard may check again: read until one has come)
        deadline = time.monotonic() + 10
        while 200 not in (
            after := [s for _, s in page.responses("/api/admin/version")][len(checks) :]
        ):
            if time.monotonic() > deadline:
                break
            page.eval("1")  # reads the events that came meanwhile
            time.sleep(0.2)
        assert 200 in after, f"the generated credentials' check answered {after}"

        # a fresh page load keeps the login and lists what only the API can tell: the flow made
        # above through the API
        n_before = len(page.events)
        page.navigate(f"{base}/v2/flows")
        page.wait_for(
            f"document.body.innerText.includes({json.dumps(flow_name)})", "the flow in the list"
        )
        assert not page.eval(ON_LOGIN_PAGE)
        later = page.events[n_before:]
        sent = [
            e["params"]["request"]["headers"].get("Authorization")
            for e in later
            if e["method"] == "Network.requestWillBeSent"
            and httpx.URL(e["params"]["request"]["url"]).path.startswith("/api/flows")
        ]
        assert sent and all(h == f"Basic {stored}" for h in sent), (
            f"{len(sent)} flow requests, not all with the stored credentials"
        )
        flows = [s for u, s in page.responses("/api/flows") if u.startswith(base)]
        assert flows and all(s == 200 for s in flows), flows

        shot = page.call("Page.captureScreenshot", format="png")["data"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, data_b64 in (("ui-login-refused", form_shot), ("ui-login", shot)):
        png = SCREENSHOTS / f"{name}.png"
        png.write_bytes(base64.b64decode(data_b64))
        image = cv2.imdecode(np.frombuffer(png.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[0] > 500 and image.shape[1] > 500
        assert float(image.std()) > 12.0, f"{png} looks blank (std {image.std():.1f})"
