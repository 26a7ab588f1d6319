"""The QC task: a finished shot's areas, flags and contact sheet, published as Prefect artifacts.

Artifacts of a shot ``sh010``: a markdown artifact ``qc-sh010`` that shows the contact sheet inline
(a ``data:`` URI, which the Prefect 3.8.8 UI renders) with a summary of the flags, and a table
artifact ``qc-sh010-areas`` with each object's area per frame and a ``flagged`` column. Artifacts
are advisory: a failure to publish one is logged and never fails the shot.
"""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import cv2
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from rotoflow.pipeline import ResolvedJob
from rotoflow.workspace import ShotWorkspace, StageOutput, fingerprint
from tasks.progress import prefect_progress
from tasks.stages import qc

#: Folder of the QC files inside the shot folder.
QC_DIR = "qc"
#: Width of the contact sheet embedded in the markdown artifact, pixels (the PNG on disk is full).
EMBED_WIDTH = 1000


def artifact_key(shot: str, suffix: str = "") -> str:
    """Prefect artifact key for a shot: lowercase letters, digits and dashes only
    (``SH010_comp.v2`` -> ``qc-sh010-comp-v2``)."""
    slug = re.sub(r"[^a-z0-9]+", "-", shot.lower()).strip("-") or "shot"
    return "-".join(p for p in ("qc", slug, suffix) if p)


def sheet_data_uri(path: str | Path, width: int = EMBED_WIDTH, quality: int = 85) -> str:
    """The contact sheet as a ``data:image/jpeg;base64,...`` URI, scaled down to ``width`` pixels
    (JPEG keeps the artifact small: about 100 KB for a sheet of nine tiles)."""
    sheet = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if sheet is None:
        raise FileNotFoundError(f"contact sheet {str(path)!r} is missing or unreadable")
    if sheet.shape[1] > width:
        height = round(sheet.shape[0] * width / sheet.shape[1])
        sheet = cv2.resize(sheet, (width, height), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", sheet, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode contact sheet {str(path)!r} as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def qc_markdown(report: qc.QCReport, image_uri: str) -> str:
    """Markdown of the QC artifact: the contact sheet, one summary row per object, the flags."""
    lines = [
        f"# QC of shot {report.shot}",
        "",
        f"![contact sheet of {report.shot}]({image_uri})",
        "",
        f"Contact sheet: `{report.contact_sheet}`. Area = pixels with "
        f"{'alpha' if report.source == 'alpha' else 'mask'} > 0.5. Flagged: change against the "
        f"previous frame above {report.threshold:.0%}, or the object vanishing or appearing "
        f"(floor {report.min_area:.2%} of the frame).",
        "",
        "| object | colour | frames | min area % | max area % | flagged frames |",
        "|---|---|---|---|---|---|",
    ]
    for name, fractions in report.fractions.items():
        flagged = ", ".join(str(f) for f in report.flagged_frames(name)) or "none"
        lines.append(
            f"| {name} | {report.colours[name]} | {len(fractions)} | "
            f"{100 * min(fractions):.2f} | {100 * max(fractions):.2f} | {flagged} |"
        )
    if report.flags:
        lines += ["", "| frame | object | flag | area px | previous px | change |"]
        lines.append("|---|---|---|---|---|---|")
        lines += [
            f"| {f.frame} | {f.object} | {f.kind} | {f.area} | {f.previous} | {f.change:.0%} |"
            for f in report.flags
        ]
    return "\n".join(lines) + "\n"


@task(name="qc", cache_policy=NO_CACHE)
def qc_task(job: ResolvedJob, ing: StageOutput, prop: StageOutput, mat: StageOutput) -> dict:
    """QC the shot into a stage folder of its own and publish its markdown and table artifacts;
    the files reach ``<shot_dir>/qc/`` with the other outputs when the job publishes.

    Returns:
        ``{"contact_sheet": path, "qc_json": path (both as published), "flagged": [plate frames],
        "artifacts": [keys published], "sources": {relative published path: stage file}}``.
    """
    logger = get_run_logger()
    ws = ShotWorkspace(Path(job.shot_dir))
    key = fingerprint("qc", ing.key, prop.key, mat.key, job.shot)
    done = ws.finished(QC_DIR, key)
    with prefect_progress("qc"):
        if done is None:
            t0 = time.perf_counter()
            with ws.staging(QC_DIR, key) as tmp:
                qc.run(job.shot, ing, prop, tmp, matte_out=mat, publish_dir=ws.root / QC_DIR)
                done = ws.commit(tmp, QC_DIR, key, started=t0, n_frames=ing.n_frames)
        report = qc.QCReport.model_validate_json((done.dir / qc.JSON_NAME).read_text())
    sheet = done.dir / qc.SHEET_NAME
    published = []
    try:
        key = artifact_key(job.shot)
        create_markdown_artifact(
            qc_markdown(report, sheet_data_uri(sheet)),
            key=key,
            description=f"QC of {job.shot}: contact sheet and area jumps",
        )
        published.append(key)
    except Exception as exc:  # artifacts are advisory
        logger.warning("QC markdown artifact not published: %s", exc)
    try:
        key = artifact_key(job.shot, "areas")
        create_table_artifact(
            report.table(), key=key, description=f"Area per frame of each object of {job.shot}"
        )
        published.append(key)
    except Exception as exc:  # artifacts are advisory
        logger.warning("QC table artifact not published: %s", exc)
    logger.info(
        "QC of %s: %d flagged frames, contact sheet %s",
        job.shot,
        len(report.flagged_frames()),
        report.contact_sheet,
    )
    return {
        "contact_sheet": report.contact_sheet,
        "qc_json": report.json_path,
        "flagged": report.flagged_frames(),
        "artifacts": published,
        "sources": {
            f"{QC_DIR}/{name}": str(done.dir / name) for name in (qc.SHEET_NAME, qc.JSON_NAME)
        },
    }
