"""Run the roto flow on the DAVIS-2016 sequences in ../shared and score it (J, F, J&F, s/frame).

Prompt per sequence: the object's COCO class where it has one, otherwise the box of the first
frame's ground-truth mask. Scores exclude the prompted first frame (DAVIS protocol).

    .venv/bin/python benchmarks/davis.py [--sequences blackswan cows] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DAVIS = SHARED / "data" / "davis2016"

#: COCO class of each sequence's object (None: not a COCO class, prompt with the box).
PROMPTS = {
    "blackswan": "bird",
    "bmx-trees": "person",
    "breakdance": "person",
    "camel": None,
    "car-roundabout": "car",
    "car-shadow": "car",
    "cows": "cow",
    "dance-twirl": "person",
    "dog": "dog",
    "drift-chicane": "car",
}


def gt_box(seq: str) -> list[float]:
    """Box of the first frame's ground-truth mask, ``[x0, y0, x1, y1]`` in pixels."""
    gt = cv2.imread(str(DAVIS / "Annotations" / "480p" / seq / "00000.png"), cv2.IMREAD_GRAYSCALE)
    ys, xs = np.nonzero(gt > 127)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def job_for(seq: str, out: Path):
    from rotoflow.pipeline import RotoJob

    text = PROMPTS[seq]
    obj = {"id": 1, "name": "object"}
    if text:
        obj["text"] = text
    else:
        x0, y0, x1, y1 = gt_box(seq)
        obj["boxes"] = [{"x0": x0, "y0": y0, "x1": x1, "y1": y1}]
    return RotoJob(
        plate=str(DAVIS / "JPEGImages" / "480p" / seq),
        prompts={"objects": [obj]},
        shot=seq,
        project="davis2016",
        output_root=str(out),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", nargs="*", default=list(PROMPTS))
    ap.add_argument("--out", type=Path, default=None, help="output root (default: a temp folder)")
    args = ap.parse_args()
    os.environ.setdefault("ROTOFLOW_YOLOX_MODEL", str(SHARED / "models/yolox-nano/yolox_nano.onnx"))
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    out = args.out or Path(tempfile.mkdtemp(prefix="rotoflow-davis-"))
    os.environ.setdefault("ROTOFLOW_HOME", str(out / ".rotoflow-home"))

    from flows.roto_shot import roto_shot
    from rotoflow.evaluation import evaluate_masks

    rows = []
    print(f"{'sequence':<16}{'prompt':<22}{'frames':>7}{'J':>8}{'F':>8}{'J&F':>8}{'s/frame':>9}")
    for seq in args.sequences:
        job = job_for(seq, out)
        t0 = time.perf_counter()
        roto_shot(job)
        seconds = time.perf_counter() - t0
        score = evaluate_masks(out / seq / "masks" / "object", DAVIS / "Annotations" / "480p" / seq)
        n = len(list((DAVIS / "JPEGImages" / "480p" / seq).glob("*.jpg")))
        prompt = PROMPTS[seq] or "box " + ",".join(f"{v:.0f}" for v in gt_box(seq))
        rows.append((score.j, score.f, score.jf, seconds / n))
        print(
            f"{seq:<16}{prompt:<22}{n:>7}{score.j:>8.3f}{score.f:>8.3f}{score.jf:>8.3f}"
            f"{seconds / n:>9.2f}",
            flush=True,
        )
    mean = np.mean(np.array(rows), axis=0)
    print(
        f"{'mean':<16}{'':<22}{'':>7}{mean[0]:>8.3f}{mean[1]:>8.3f}{mean[2]:>8.3f}{mean[3]:>9.2f}"
    )
    print(f"outputs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
