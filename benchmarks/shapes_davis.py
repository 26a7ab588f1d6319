"""Roto shapes fitted from DAVIS-2016 ground truth: accuracy through every exporter, temporal
jitter, and vectorize + export speed at 1920x1080.

For each sequence the ground-truth masks are fitted into animated roto shapes, one per contour
(:func:`rotoflow.geometry.fit_shapes`), and written by every roto exporter. Each format is taken
back to mattes on every frame: parsed back by its reader and rasterised (interpolating between
keys); the After Effects script run by node against a stand-in After Effects
(:mod:`tests.exporters.ae_stub`) and its masks composited; each SVG frame rendered by resvg. The
mattes are scored against the ground truth with the DAVIS measures (J = region IoU, F = boundary
F-measure; Perazzi et al., CVPR 2016).
Jitter is the mean frame-to-frame displacement of the control points after removing the contour's
rigid motion (Kabsch, 1976), for our shapes and for shapes fitted to each frame alone with the same
contours and point counts (``follow=False``: even spacing from the topmost point, no smoothing, a
key on every frame; each frame aligned to the previous one by the best cyclic shift, so that only
sliding points count).

Usage::

    .venv/bin/python benchmarks/shapes_davis.py [--seq dog ...] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import resvg_py

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import exporters  # noqa: E402
from exporters import after_effects, svg  # noqa: E402
from rotoflow.evaluation import boundary_measure, region_similarity  # noqa: E402
from rotoflow.geometry import fit_shapes, rasterize_shapes, shape_at  # noqa: E402
from rotoflow.types import ShotFormat  # noqa: E402
from tests.exporters import ae_stub  # noqa: E402

log = logging.getLogger("shapes_davis")
DAVIS = REPO.parent / "shared" / "data" / "davis2016" / "Annotations" / "480p"


def gt_masks(seq: str, scale: float = 1.0):
    for p in sorted((DAVIS / seq).glob("*.png")):
        m = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) > 127
        if scale != 1.0:
            h, w = m.shape
            size = (round(w * scale), round(h * scale))
            m = cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_LINEAR) > 0
        yield int(p.stem), m


def rigid_residual(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance between ``b`` and ``a`` moved onto it by the best rotation and translation
    (Kabsch)."""
    ca, cb = a.mean(0), b.mean(0)
    u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1.0, d]) @ vt
    moved = (a - ca) @ r + cb
    return float(np.linalg.norm(moved - b, axis=1).mean())


def jitter(vertex_sequence: list[np.ndarray], align: bool) -> float:
    """Mean rigid-motion-free frame-to-frame displacement of ``(N, 2)`` vertices."""
    out = []
    prev = None
    for v in vertex_sequence:
        if prev is not None and len(v) == len(prev):
            if align:
                shifts = [np.roll(v, s, axis=0) for s in range(len(v))]
                v = min(shifts, key=lambda c: np.linalg.norm(c - prev, axis=1).sum())
            out.append(rigid_residual(prev, v))
        prev = v
    return float(np.mean(out)) if out else 0.0


def contour_jitter(shapes, align: bool) -> tuple[float, int]:
    """Sum of per-pair jitter over every contour's lifetime, and the number of frame pairs."""
    total, pairs = 0.0, 0
    for shape in shapes:
        first, last = shape.frame_span
        vertices = [shape_at(shape, f)[:, 0] for f in range(first, last + 1)]
        if len(vertices) > 1:
            total += jitter(vertices, align) * (len(vertices) - 1)
            pairs += len(vertices) - 1
    return total, pairs


def rendered_mattes(shapes, fmt: ShotFormat) -> dict[str, dict[int, np.ndarray]]:
    """Mattes per frame of the formats that have no reader: After Effects (the script run under
    the stub After Effects, each solid's masks composited as After Effects does, solids merged)
    and SVG (every frame file rendered by resvg, covered where alpha is over one half)."""
    frames = range(fmt.first_frame, fmt.last_frame + 1)
    with tempfile.TemporaryDirectory() as tmp:
        run = ae_stub.run_stub(Path(tmp), after_effects.write_to_string(shapes, fmt))
        solids = ae_stub.rebuilt_objects(run, fmt)
        ae = {
            f: np.logical_or.reduce([ae_stub.ae_matte(m, f, fmt) for m in solids]) for f in frames
        }
        folder = svg.write_shot(shapes, fmt, Path(tmp), "shot")
        rendered = {}
        for f in frames:
            text = svg.frame_path(folder / "shot.####.svg", f).read_text(encoding="utf-8")
            png = bytes(resvg_py.svg_to_bytes(svg_string=text))
            rendered[f] = (
                cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)[..., 3] > 127
            )
    return {"after_effects": ae, "svg": rendered}


def score_sequence(seq: str, formats: list[str]) -> dict:
    masks = dict(gt_masks(seq))
    h, w = next(iter(masks.values())).shape
    frames = sorted(masks)
    fmt = ShotFormat(width=w, height=h, fps=24.0, first_frame=frames[0], last_frame=frames[-1])
    t0 = time.perf_counter()
    shapes = fit_shapes(sorted(masks.items()), 1, seq)
    fit_s = time.perf_counter() - t0
    result = {
        "sequence": seq,
        "frames": len(frames),
        "contours": len(shapes),
        "points": [s.n_points for s in shapes],
        "mean_points": float(np.mean([s.n_points for s in shapes])),
        "keys": [len(s.keys) for s in shapes],
        "fit_s": fit_s,
    }
    mattes = {}
    for name in formats:
        mod = exporters.from_name(name)
        _, back = mod.read_from_string(mod.write_to_string(shapes, fmt))
        mattes[name] = {f: rasterize_shapes(back, f, w, h) for f in frames}
    mattes.update(rendered_mattes(shapes, fmt))
    for name, by_frame in mattes.items():
        js = [region_similarity(by_frame[f], masks[f]) for f in frames]
        fs = [boundary_measure(by_frame[f], masks[f]) for f in frames]
        result[name] = {
            "J": float(np.mean(js)),
            "F": float(np.mean(fs)),
            "J_min": float(np.min(js)),
            "J_min_frame": frames[int(np.argmin(js))],
            "F_min": float(np.min(fs)),
            "F_min_frame": frames[int(np.argmin(fs))],
        }
    alone = fit_shapes(sorted(masks.items()), 1, seq, follow=False, smoothing=0, key_tolerance=0)
    alone_by_contour = {s.contour: s for s in alone}
    same = [s for s in shapes if s.contour in alone_by_contour]
    ours_sum, ours_pairs = contour_jitter(same, align=False)
    ind_sum, ind_pairs = contour_jitter([alone_by_contour[s.contour] for s in same], align=True)
    result["jitter_ours"] = ours_sum / max(ours_pairs, 1)
    result["jitter_independent"] = ind_sum / max(ind_pairs, 1)
    return result


def speed(formats: list[str], frames: int = 100) -> dict:
    """Vectorize ``frames`` 1920x1080 masks (DAVIS ground truth upscaled 2.25x) and write every
    roto format (SVG: one file per frame), on one core."""
    cv2.setNumThreads(1)
    masks = []
    for seq in ("dog", "camel", "cows"):
        masks += [m for _, m in gt_masks(seq, 2.25)]
    masks = [
        (i + 1, cv2.resize(m.astype(np.uint8), (1920, 1080)) > 0)
        for i, m in enumerate(masks[:frames])
    ]
    fmt = ShotFormat(width=1920, height=1080, first_frame=1, last_frame=frames)
    t0 = time.perf_counter()
    shapes = fit_shapes(masks, 1, "object")
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in formats:
            mod = exporters.from_name(name)
            if hasattr(mod, "write_shot"):
                mod.write_shot(shapes, fmt, Path(tmp), "object")
            else:
                mod.write_to_string(shapes, fmt)
    t2 = time.perf_counter()
    return {
        "frames": frames,
        "vectorize_s": t1 - t0,
        "export_s": t2 - t1,
        "total_s": t2 - t0,
        "contours": len(shapes),
        "points": [s.n_points for s in shapes],
        "keys": [len(s.keys) for s in shapes],
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq", nargs="*", default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    readable = [
        n for n in exporters.available() if hasattr(exporters.from_name(n), "read_from_string")
    ]
    seqs = args.seq or sorted(p.name for p in DAVIS.iterdir())
    rows = []
    for seq in seqs:
        log.info("%s ...", seq)
        rows.append(score_sequence(seq, readable))
    timing = speed(
        [n for n in exporters.available() if hasattr(exporters.from_name(n), "write_to_string")]
    )
    checked = readable + ["after_effects", "svg"]
    w = sys.stdout.write
    w(
        f"{'sequence':16} {'pts':>4} "
        + " ".join(f"{n[:10]:>21}" for n in checked)
        + f" {'jitter ours':>12} {'independent':>12} {'contours':>8} {'keys':>5}\n"
    )
    for r in rows:
        worst = min(r[n]["J_min"] for n in checked)
        r["J_min_any"] = worst
        cells = " ".join(
            f"{r[n]['J']:.3f}/{r[n]['F']:.3f} ({r[n]['J_min']:.2f})".rjust(21) for n in checked
        )
        w(
            f"{r['sequence']:16} {r['mean_points']:>4.0f} {cells} {r['jitter_ours']:12.3f} "
            f"{r['jitter_independent']:12.3f} {r['contours']:>8} {np.mean(r['keys']):5.0f}\n"
        )
    for n in checked:
        w(
            f"mean {n}: J {np.mean([r[n]['J'] for r in rows]):.4f}, "
            f"F {np.mean([r[n]['F'] for r in rows]):.4f}\n"
        )
    jo = np.mean([r["jitter_ours"] for r in rows])
    ji = np.mean([r["jitter_independent"] for r in rows])
    w(
        f"mean jitter: ours {jo:.3f} px, independent {ji:.3f} px, ratio {jo / ji:.3f} (target <= 0.5)\n"
    )
    w(
        f"1920x1080, {timing['frames']} frames, one core: vectorize {timing['vectorize_s']:.2f} s, "
        f"export {timing['export_s']:.2f} s, total {timing['total_s']:.2f} s (target <= 2 s)\n"
    )
    if args.out:
        args.out.write_text(json.dumps({"sequences": rows, "speed": timing}, indent=1))


if __name__ == "__main__":
    main()
