"""The Prefect UI as an artist sees it: a real Prefect server with its UI, the ``roto-shot``
deployment registered, one short real shot run with its QC artifacts, and headless Chromium
(Debian's ``chromium``) screenshots of the deployment's run form and of the run's QC artifact.

The PNGs are saved under ``test-artifacts/screenshots/`` in the repository root. The pages are those
of the UI the server opens by default (the V2 UI, under ``/v2``)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.settings import PREFECT_API_URL, temporary_settings

import tasks.qc
from flows.roto_shot import roto_shot
from rotoflow.pipeline import RotoJob, resolve
from rotoflow.settings import get_settings
from rotoflow.workspace import ShotWorkspace, StageOutput
from tasks.qc import artifact_key, qc_task
from tests.conftest import REPO
from tests.flows.conftest import prefect_server
from tests.flows.helpers import api_json, frame_folder, gt_box, use_home

pytestmark = pytest.mark.e2e

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
SEQ = "dog"


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory):
    """A Prefect server with its UI on loopback; yields its base URL (``http://127.0.0.1:<port>``)."""
    _chromium()  # fail before the minute spent starting the server and running the shot
    with prefect_server(tmp_path_factory.mktemp("prefect-ui-server"), ui=True) as base:
        settings = httpx.get(f"{base}/ui-settings", timeout=10).json()
        assert settings["default_ui"] == "v2" and settings["api_url"] == f"{base}/api"
        yield base


def _finished(ws: ShotWorkspace, stage: str) -> StageOutput:
    (manifest,) = ws.work.glob(f"{stage}-*/manifest.json")
    out = StageOutput.model_validate_json(manifest.read_text())
    return ws.finished(stage, out.key)


def _qc_of(job: RotoJob, shot_dir: str) -> dict:
    ws = ShotWorkspace(Path(shot_dir))
    stages = [_finished(ws, s) for s in ("ingest", "propagate", "matte")]
    return qc_task(resolve(job, get_settings()), *stages)


@flow(name="roto-shot-qc")
def roto_shot_with_qc(job: RotoJob) -> dict:
    """The real roto flow, then the QC task over its finished stage folders (test-only)."""
    result = roto_shot(job)
    return {**result, "qc": _qc_of(job, result["shot_dir"])}


@flow(name="shot-qc")
def shot_qc(job: RotoJob, shot_dir: str) -> dict:
    """The QC task alone over a finished shot (test-only)."""
    return _qc_of(job, shot_dir)


@pytest.fixture(scope="module")
def finished_run(ui_server, tmp_path_factory):
    """The roto-shot deployment registered and one 4-frame DAVIS shot run with QC."""
    tmp = tmp_path_factory.mktemp("ui-shot")
    use_home(tmp / "home")
    api = f"{ui_server}/api"
    pool = f"shots-{uuid.uuid4().hex[:6]}"
    plate = frame_folder(SEQ, tmp / "plates" / SEQ, range(4))
    job = RotoJob(
        plate=str(plate),
        prompts={"objects": [{"id": 1, "name": "dog", "boxes": [gt_box(SEQ)]}]},
        shot=SEQ,
        models="lite",
    )
    with temporary_settings({PREFECT_API_URL: api}):
        with get_client(sync_client=True) as client:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        deployment_id = roto_shot.to_deployment(
            name="roto-shot", work_pool_name=pool, job_variables={"working_dir": str(REPO)}
        ).apply()
        state = roto_shot_with_qc(job, return_state=True)
    assert state.is_completed(), state.message
    assert state.result()["qc"]["artifacts"] == [artifact_key(SEQ), artifact_key(SEQ, "areas")]
    flow_run_id = str(state.state_details.flow_run_id)
    artifacts = api_json(
        "POST", f"{api}/artifacts/filter", json={"flow_runs": {"id": {"any_": [flow_run_id]}}}
    )
    kinds = {a["key"]: (a["type"], a["id"]) for a in artifacts if a["key"]}
    assert kinds[artifact_key(SEQ)][0] == "markdown"
    assert kinds[artifact_key(SEQ, "areas")][0] == "table"
    return {
        "deployment_id": str(deployment_id),
        "flow_run_id": flow_run_id,
        "markdown_id": kinds[artifact_key(SEQ)][1],
        "table_id": kinds[artifact_key(SEQ, "areas")][1],
        "result": state.result(),
        "job": job,
        "api": api,
    }


#: Pages shot, by name: (route under the server, window size).
PAGES = {
    "roto-shot-run-form": ("/v2/deployments/deployment/{deployment_id}/run", (1600, 2200)),
    "flow-run-artifacts": ("/v2/runs/flow-run/{flow_run_id}?tab=Artifacts", (1600, 1000)),
    "qc-artifact": ("/v2/artifacts/artifact/{markdown_id}", (1600, 1200)),
    "qc-area-table": ("/v2/artifacts/artifact/{table_id}", (1600, 1000)),
}


def _chromium() -> str:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail(
            "Debian's chromium is not installed: `make browser` (or `apt-get install chromium`) "
            "installs it; the Prefect UI screenshot tests need it"
        )
    return chromium


@pytest.fixture(scope="module")
def pages(ui_server, finished_run, tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """Every page of :data:`PAGES` shot by headless Chromium at once: name -> (PNG, DOM)."""
    chromium = _chromium()
    tmp = tmp_path_factory.mktemp("chromium")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (route, (width, height)) in PAGES.items():  # one at a time: each is heavy on 2 cores
        png = SCREENSHOTS / f"{name}.png"
        png.unlink(missing_ok=True)
        cmd = [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp / name}",
            f"--window-size={width},{height}",
            "--virtual-time-budget=15000",
            f"--screenshot={png}",
            "--dump-dom",
            ui_server + route.format(**finished_run),
        ]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            dom, log = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired as exc:
            os.killpg(proc.pid, signal.SIGKILL)  # chromium and every helper process it started
            dom, log = proc.communicate()
            tail = log.decode(errors="replace")[-2000:]
            raise AssertionError(f"chromium hung on {name}: {tail}") from exc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        text = dom.decode(errors="replace")
        assert proc.returncode == 0 and png.is_file(), (
            f"chromium failed on {name}: {log.decode(errors='replace')[-2000:]}"
        )
        out[name] = (png, text)
    return out


def assert_not_blank(png: Path) -> np.ndarray:
    """The screenshot as ``(H, W, 3) uint8`` BGR, after checking it is not one flat colour."""
    image = cv2.imread(str(png), cv2.IMREAD_COLOR)
    assert image is not None and image.shape[0] > 500 and image.shape[1] > 500
    assert float(image.std()) > 12.0, f"{png} looks blank (std {image.std():.1f})"
    return image


def find_image(screen: np.ndarray, image: np.ndarray) -> tuple[float, int]:
    """Best normalised correlation of ``image`` drawn anywhere in ``screen`` at any width from
    200 pixels to its own, and that width: searched at quarter resolution, then refined at full
    resolution around the best place."""

    def match(scr: np.ndarray, width: int, f: float) -> tuple[float, tuple[int, int]]:
        w, h = round(width * f), round(image.shape[0] * width / image.shape[1] * f)
        if h < 8 or w > scr.shape[1] or h > scr.shape[0]:
            return -1.0, (0, 0)
        t = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        _, best, _, at = cv2.minMaxLoc(cv2.matchTemplate(scr, t, cv2.TM_CCOEFF_NORMED))
        return float(best), at

    quarter = cv2.resize(screen, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    widths = range(200, min(image.shape[1], screen.shape[1]) + 1, 8)
    width = max(widths, key=lambda w: match(quarter, w, 0.25)[0])
    x, y = (4 * c for c in match(quarter, width, 0.25)[1])
    height = round(image.shape[0] * width / image.shape[1])
    crop = screen[max(0, y - 16) : y + height + 24, max(0, x - 16) : x + width + 24]
    return max((match(crop, w, 1.0)[0], w) for w in range(width - 10, width + 11))


def visible_text(dom: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def test_artifact_keys_are_lowercase_letters_digits_and_dashes():
    assert artifact_key("dog") == "qc-dog"
    assert artifact_key("SH010_comp.v2", "areas") == "qc-sh010-comp-v2-areas"
    assert re.fullmatch(r"[a-z0-9-]+", artifact_key("__Ünïcode__ shot"))


def test_run_form_of_the_roto_shot_deployment_shows_every_job_field(pages):
    png, dom = pages["roto-shot-run-form"]
    assert_not_blank(png)
    labels = {
        re.sub(r"\s*\(Optional\)$", "", m.strip())
        for m in re.findall(r"<label[^>]*>([^<]*)</label>", dom)
    }
    # the UI labels each field with its title; ``prompts`` is the nested form with its ``Objects``
    # list
    expected = {f.title for f in RotoJob.model_fields.values()} | {"Objects"}
    assert expected <= labels, f"run form lacks the RotoJob fields {expected - labels}"
    assert "roto-shot" in visible_text(dom) and "Submit" in visible_text(dom)


def test_flow_run_artifacts_tab_lists_the_qc_artifacts(pages):
    png, dom = pages["flow-run-artifacts"]
    assert_not_blank(png)
    text = visible_text(dom)
    assert artifact_key(SEQ) in text and artifact_key(SEQ, "areas") in text
    assert "contact sheet and area jumps" in text


def test_qc_artifact_shows_the_contact_sheet(pages, finished_run):
    png, dom = pages["qc-artifact"]
    screen = assert_not_blank(png)
    assert f"QC of shot {SEQ}" in visible_text(dom)
    img = re.search(r'<img[^>]*src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', dom)
    assert img, "the artifact page shows no contact sheet image"
    embedded = cv2.imdecode(np.frombuffer(base64.b64decode(img.group(1)), np.uint8), 1)
    sheet = cv2.imread(finished_run["result"]["qc"]["contact_sheet"], cv2.IMREAD_COLOR)
    assert embedded.shape[1] == min(1000, sheet.shape[1])
    # the picture is drawn on screen (not a broken-image icon): find it in the screenshot
    match, width = find_image(screen, embedded)
    assert match > 0.9, f"contact sheet not visible in the screenshot (match {match:.2f})"
    assert width >= 400, f"contact sheet drawn only {width} pixels wide"


def test_qc_table_artifact_lists_area_per_frame_with_flagged_column(pages, finished_run):
    png, dom = pages["qc-area-table"]
    assert_not_blank(png)
    text = visible_text(dom)
    assert f"{SEQ} px" in text and f"{SEQ} %" in text and "flagged" in text
    qc_json = Path(finished_run["result"]["qc"]["qc_json"]).read_text()
    for frame, area in enumerate(json.loads(qc_json)["areas"][SEQ]):
        assert re.search(rf"\b{frame}\s+{area}\b", text), (frame, area)


def test_artifact_failures_never_fail_the_qc_task(finished_run, monkeypatch):
    def refuse(*args, **kwargs):
        raise httpx.ConnectError("the Prefect server went away")

    monkeypatch.setattr(tasks.qc, "create_markdown_artifact", refuse)
    monkeypatch.setattr(tasks.qc, "create_table_artifact", refuse)
    shot_dir = finished_run["result"]["shot_dir"]
    with temporary_settings({PREFECT_API_URL: finished_run["api"]}):
        state = shot_qc(finished_run["job"], shot_dir, return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert result["artifacts"] == [] and Path(result["contact_sheet"]).is_file()
    assert result["qc_json"] == str(Path(shot_dir) / "qc" / "qc.json")
