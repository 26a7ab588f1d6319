"""DAVIS-2016 benchmark of the lite segmenter and tracker.

For each sequence: the keyframe mask is the ground truth of frame 0 (``--init gt``), the GrabCut
segmentation of the ground truth's bounding box (``--init box``), or the GrabCut segmentation of the
YOLOX-Nano box of the object's COCO class (``--init det``, as ``benchmarks/davis.py`` prompts the
pipeline; the ground-truth box where the object has no COCO class); the tracker propagates it
forward through every frame; J, F and J&F are the DAVIS measures averaged over
the frames after frame 0. Prints one row per sequence and the mean: the keyframe mask's IoU, J, F,
J&F, the tracker's seconds per frame (JPEG decoding included, scoring not; one core per sequence)
and the segmenter's seconds. Figures are printed, not asserted.

    .venv/bin/python benchmarks/lite_tracker_davis.py --init box
    .venv/bin/python benchmarks/lite_tracker_davis.py --sequences blackswan dog --set band=0.1
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import davis as _davis_bench  # noqa: E402  (the sequence -> prompt table lives there)

REPO = Path(__file__).resolve().parents[1]
DAVIS = REPO.parent / "shared" / "data" / "davis2016"
SEQUENCES = [
    "blackswan",
    "bmx-trees",
    "breakdance",
    "camel",
    "car-roundabout",
    "car-shadow",
    "cows",
    "dance-twirl",
    "dog",
    "drift-chicane",
]


#: COCO class of each sequence's object (None: prompt with the ground-truth box), as in davis.py.
CLASSES = _davis_bench.PROMPTS
YOLOX = REPO.parent / "shared" / "models" / "yolox-nano" / "yolox_nano.onnx"


def _frames(seq: str, limit: int | None):
    paths = sorted((DAVIS / "JPEGImages" / "480p" / seq).glob("*.jpg"))[:limit]
    for i, p in enumerate(paths):
        yield i, cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)


def _gt(seq: str, i: int) -> np.ndarray:
    return cv2.imread(str(DAVIS / "Annotations" / "480p" / seq / f"{i:05d}.png"), 0) > 127


def run_sequence(seq: str, init: str, params: dict, limit: int | None, out: str | None) -> dict:
    """Track one sequence; returns its row of the table."""
    cv2.setNumThreads(1)
    from models.lite_segmenter import GrabCutSegmenter
    from models.lite_tracker import FlowTracker
    from rotoflow.evaluation import FrameScore, SequenceScore, boundary_measure, region_similarity

    seg_params = {k[4:]: v for k, v in params.items() if k.startswith("seg.")}
    trk_params = {k: v for k, v in params.items() if not k.startswith("seg.")}
    gt0 = _gt(seq, 0)
    rgb0 = next(_frames(seq, 1))[1]
    t0 = time.perf_counter()
    hint = None
    if init == "gt":
        mask0 = gt0
    else:
        ys, xs = np.nonzero(gt0)
        box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        if init == "det" and CLASSES[seq]:
            from models.base import TrackHint
            from models.yolox import YoloxDetector

            detector = YoloxDetector(YOLOX, threads=1)
            found = detector.detect_object(rgb0, [CLASSES[seq]])
            if len(found):
                box = tuple(float(v) for v in found.boxes[0])
            hint = TrackHint(detector, (CLASSES[seq],))
        mask0 = GrabCutSegmenter(**seg_params).segment(rgb0, box)
    t_seg = time.perf_counter() - t0
    rows = []
    t0 = time.perf_counter()
    t_score = 0.0  # scoring and writing are not the tracker's time
    for n, mask in FlowTracker(**trk_params).track(_frames(seq, limit), mask0, hint):
        t1 = time.perf_counter()
        gt = _gt(seq, n)
        rows.append(FrameScore(n, region_similarity(mask, gt), boundary_measure(mask, gt)))
        if out:
            d = Path(out) / seq
            d.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(d / f"{n:05d}.png"), mask.astype(np.uint8) * 255)
        t_score += time.perf_counter() - t1
    t_track = time.perf_counter() - t0 - t_score
    score = SequenceScore.from_rows(rows)
    return {
        "seq": seq,
        "init": region_similarity(mask0, gt0),
        "j": score.j,
        "f": score.f,
        "jf": score.jf,
        "s_frame": t_track / max(1, len(rows)),
        "s_seg": t_seg,
        "n": len(rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", nargs="+", default=SEQUENCES, choices=SEQUENCES)
    ap.add_argument("--init", choices=("gt", "box", "det"), default="box")
    ap.add_argument("--frames", type=int, default=None, help="only the first N frames")
    ap.add_argument("--jobs", type=int, default=1, help="sequences run in parallel")
    ap.add_argument("--out", default=None, help="write predicted masks under this folder")
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="FlowTracker parameters (seg.KEY for GrabCutSegmenter ones)",
    )
    args = ap.parse_args()
    params = {}
    for kv in args.set:
        k, v = kv.split("=", 1)
        try:
            params[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            params[k] = v
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    jobs = [(s, args.init, params, args.frames, args.out) for s in args.sequences]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as ex:
            rows = list(ex.map(run_sequence, *zip(*jobs, strict=True)))
    else:
        rows = [run_sequence(*j) for j in jobs]
    print(f"init={args.init} params={params}")
    print(
        f"{'sequence':<16}{'init IoU':>9}{'J':>7}{'F':>7}{'J&F':>7}{'s/frame':>9}{'seg s':>7}"
        f"{'frames':>7}"
    )
    for r in rows:
        print(
            f"{r['seq']:<16}{r['init']:>9.3f}{r['j']:>7.3f}{r['f']:>7.3f}{r['jf']:>7.3f}"
            f"{r['s_frame']:>9.3f}{r['s_seg']:>7.2f}{r['n']:>7d}"
        )
    keys = ("init", "j", "f", "jf", "s_frame", "s_seg")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    print(
        f"{'mean':<16}{mean['init']:>9.3f}{mean['j']:>7.3f}{mean['f']:>7.3f}{mean['jf']:>7.3f}"
        f"{mean['s_frame']:>9.3f}{mean['s_seg']:>7.2f}"
    )


if __name__ == "__main__":
    main()
