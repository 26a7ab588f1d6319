"""Roto shapes fitted from DAVIS-2016 ground truth: accuracy through every exporter, temporal
jitter, and vectorize + export speed at 1920x1080.

For each sequence the ground-truth masks are fitted into animated roto shapes, one per contour
(:func:`rotoflow.geometry.fit_shapes`), and written by every roto exporter. Each format is taken
back to mattes on every frame: parsed back by its reader and rasterised (interpolating between
keys); the After Effects script run by node against a stand-in After Effects
(:mod:`tests.exporters.ae_stub`) and its masks composited; each SVG frame rendered by resvg. The
mattes are scored against the ground truth with the DAVIS measures (J = region IoU, F = boundary
F-measure; Perazzi et al., CVPR 2016).
The fit has the pipeline's accuracy (the default ``shape_tolerance``) and leaves out specks as the pipeline does (the default ``shape_min_area``,
``shape_min_frames`` and ``shape_max_loss`` settings, :func:`rotoflow.geometry.specks.drop_specks`); "shapes" is the number of
roto shapes of the object, "specks" how many more contours a fit without those limits makes, and
"J all" the region accuracy of that fit (the shapes' own fill; its F is printed with the means).
The feather is measured against the matte: on every ``--every``-th frame the lite matter
(:class:`models.lite_matter.PymattingMatter`) makes an alpha from the ground-truth mask and the real
frame, and those alphas go into the fit with the masks (each contour's soft band). Each format
with a feather is then drawn with its host's feather model (:mod:`tests.exporters.host_alpha`) from
what it wrote: Nuke from the main and feather curves read back from the ``.nk``, After Effects
from the paths, feathers and expansions the script set in the stand-in. Printed per format: mean
``|alpha_host - alpha_matte|`` over those frames ("edge error") and ``sum(alpha_host) /
sum(alpha_matte)`` ("area"), with a hard edge (the shapes' fill) for comparison, and the "ramp
floor": the error of the best linear ramp on each 16 px of the true outline on each frame, below
which no linear feather can go on that matte (:func:`ramp_floor`).
Jitter is the mean frame-to-frame displacement of the control points after removing the contour's
rigid motion (Kabsch, 1976), for our shapes and for shapes fitted to each frame alone with the same
contours and point counts (``follow=False``: even spacing from the topmost point, no smoothing, a
key on every frame; each frame aligned to the previous one by the best cyclic shift, so that only
sliding points count).

Usage::

    .venv/bin/python benchmarks/shapes_davis.py [--seq dog ...] [--every 6] [--out results.json]
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
from scipy.ndimage import distance_transform_edt

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import exporters  # noqa: E402
from exporters import after_effects, svg  # noqa: E402
from models.lite_matter import PymattingMatter  # noqa: E402
from rotoflow.evaluation import boundary_measure, region_similarity  # noqa: E402
from rotoflow.geometry import fit_shapes, rasterize_shapes, shape_at, speck_area  # noqa: E402
from rotoflow.settings import Settings  # noqa: E402
from rotoflow.types import ShotFormat  # noqa: E402
from tests.exporters import ae_stub  # noqa: E402
from tests.exporters.host_alpha import after_effects_alpha, nuke_alpha  # noqa: E402

log = logging.getLogger("shapes_davis")
DAVIS = REPO.parent / "shared" / "data" / "davis2016" / "Annotations" / "480p"
JPEG = DAVIS.parent.parent / "JPEGImages" / "480p"
TUNE = ("dog", "blackswan", "camel", "bmx-trees", "car-roundabout")  # defaults tuned on these
#: Host drawing of the shapes a format's reader gives back, for the formats with a feather.
DRAWN = {"nuke": nuke_alpha}
#: The pipeline's fit accuracy (``shape_tolerance``, pixels), used by every fit here.
TOLERANCE = Settings.model_fields["shape_tolerance"].default


def gt_masks(seq: str, scale: float = 1.0):
    for p in sorted((DAVIS / seq).glob("*.png")):
        m = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) > 127
        if scale != 1.0:
            h, w = m.shape
            size = (round(w * scale), round(h * scale))
            m = cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_LINEAR) > 0
        yield int(p.stem), m


def matte_alphas(seq: str, masks: dict[int, np.ndarray], every: int) -> dict[int, np.ndarray]:
    """The lite matter's ``(H, W) float32`` alpha of the ground-truth mask on every ``every``-th
    frame, from the real frame."""
    matter = PymattingMatter()
    out = {}
    for f in sorted(masks)[::every]:
        rgb = cv2.imread(str(JPEG / seq / f"{f:05d}.jpg"))[..., ::-1]
        out[f] = matter.matte(rgb, masks[f])
    return out


def edge_scores(drawn: dict[int, np.ndarray], alphas: dict[int, np.ndarray]) -> dict:
    """Mean ``|drawn - alpha|`` and mean ``sum(drawn) / sum(alpha)`` over the frames of
    ``alphas``."""
    err = [float(np.abs(drawn[f] - a).mean()) for f, a in alphas.items()]
    area = [float(drawn[f].sum() / max(a.sum(), 1e-9)) for f, a in alphas.items()]
    return {"edge_error": float(np.mean(err)), "area_ratio": float(np.mean(area))}


def ramp_floor(
    masks: dict[int, np.ndarray], alphas: dict[int, np.ndarray], piece: int = 16, reach: float = 12
) -> float:
    """Mean ``|ramp - alpha|`` of the best linear ramps on the true outline: on every frame of
    ``alphas``, each ``piece`` x ``piece`` pixel cell of the ground-truth outline gets the ramp
    (width 1-14 px, centre within 3 px of the outline, by grid search) that fits the alpha of the
    pixels within ``reach`` px whose nearest outline pixel lies in that cell; farther pixels count
    as the mask. No roto shape can do better with a linear feather per control point, whose
    width and centre vary far more slowly along the outline (one per vertex) and over time."""
    widths = np.arange(1.0, 14.5, 0.5)[:, None, None]
    shifts = np.arange(-3.0, 3.25, 0.25)[None, :, None]
    total, count = 0.0, 0
    for f, alpha in alphas.items():
        mask = masks[f]
        count += mask.size
        d_in, near_in = distance_transform_edt(mask, return_indices=True)
        d_out, near_out = distance_transform_edt(~mask, return_indices=True)
        signed = np.where(mask, d_in - 0.5, 0.5 - d_out)  # pixels, + inside
        near = np.where(mask, near_out, near_in)  # the nearest pixel across the outline
        band = np.abs(signed) < reach
        total += float(np.abs(alpha[~band] - mask[~band]).sum())
        cell = (near[0][band] // piece) * (mask.shape[1] // piece + 1) + near[1][band] // piece
        order = np.argsort(cell, kind="stable")
        a, d = alpha[band][order], signed[band][order]
        cuts = np.flatnonzero(np.diff(cell[order])) + 1
        for a_cell, d_cell in zip(np.split(a, cuts), np.split(d, cuts), strict=True):
            ramp = np.clip(0.5 + (d_cell[None, None, :] - shifts) / widths, 0.0, 1.0)
            total += float(np.abs(ramp - a_cell).sum(axis=2).min())
    return total / max(count, 1)


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


def rendered_mattes(shapes, fmt: ShotFormat, alphas=None) -> dict[str, dict[int, np.ndarray]]:
    """Mattes per frame of the formats that have no reader: After Effects (the script run under
    the stub After Effects, each solid's masks composited as After Effects does, solids merged)
    and SVG (every frame file rendered by resvg, covered where alpha is over one half). With
    ``alphas`` (frame -> alpha), also ``"after_effects_soft"``: the solids' feathered alpha on
    those frames (:func:`tests.exporters.host_alpha.after_effects_alpha`, solids merged over)."""
    frames = range(fmt.first_frame, fmt.last_frame + 1)
    with tempfile.TemporaryDirectory() as tmp:
        run = ae_stub.run_stub(Path(tmp), after_effects.write_to_string(shapes, fmt))
        solids = ae_stub.rebuilt_objects(run, fmt)
        ae = {
            f: np.logical_or.reduce([ae_stub.ae_matte(m, f, fmt) for m in solids]) for f in frames
        }
        soft = {}
        for f in alphas or {}:
            drawn = [after_effects_alpha(m, f, fmt.width, fmt.height) for m in solids]
            soft[f] = 1.0 - np.prod([1.0 - d for d in drawn], axis=0)
        folder = svg.write_shot(shapes, fmt, Path(tmp), "shot")
        rendered = {}
        for f in frames:
            text = svg.frame_path(folder / "shot.####.svg", f).read_text(encoding="utf-8")
            png = bytes(resvg_py.svg_to_bytes(svg_string=text))
            rendered[f] = (
                cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)[..., 3] > 127
            )
    return {"after_effects": ae, "svg": rendered, "after_effects_soft": soft}


def score_sequence(seq: str, formats: list[str], every: int = 6) -> dict:
    masks = dict(gt_masks(seq))
    h, w = next(iter(masks.values())).shape
    frames = sorted(masks)
    fmt = ShotFormat(width=w, height=h, fps=24.0, first_frame=frames[0], last_frame=frames[-1])
    alphas = matte_alphas(seq, masks, every)
    t0 = time.perf_counter()
    items = [(f, masks[f], alphas.get(f)) for f in frames]
    defaults = Settings.model_fields
    min_area = speck_area(w, h, defaults["shape_min_area"].default)
    min_frames = defaults["shape_min_frames"].default
    max_loss = defaults["shape_max_loss"].default
    shapes = fit_shapes(
        items,
        1,
        seq,
        tolerance=TOLERANCE,
        min_area=min_area,
        min_frames=min_frames,
        max_loss=max_loss,
    )
    fit_s = time.perf_counter() - t0
    every_contour = fit_shapes(items, 1, seq, tolerance=TOLERANCE)
    every_fill = {f: rasterize_shapes(every_contour, f, w, h) for f in frames}
    j_all = [region_similarity(every_fill[f], masks[f]) for f in frames]
    f_all = [boundary_measure(every_fill[f], masks[f]) for f in frames]
    result = {
        "sequence": seq,
        "frames": len(frames),
        "contours": len(shapes),
        "contours_unfiltered": len(every_contour),
        "J_unfiltered": float(np.mean(j_all)),
        "F_unfiltered": float(np.mean(f_all)),
        "points": [s.n_points for s in shapes],
        "mean_points": float(np.mean([s.n_points for s in shapes])),
        "keys": [len(s.keys) for s in shapes],
        "fit_s": fit_s,
    }
    mattes, edges = {}, {}
    for name in formats:
        mod = exporters.from_name(name)
        _, back = mod.read_from_string(mod.write_to_string(shapes, fmt))
        mattes[name] = {f: rasterize_shapes(back, f, w, h) for f in frames}
        if name in DRAWN:
            drawn = {f: DRAWN[name](back, f, w, h) for f in alphas}
            edges[name] = edge_scores(drawn, alphas)
    rendered = rendered_mattes(shapes, fmt, alphas)
    edges["after_effects"] = edge_scores(rendered.pop("after_effects_soft"), alphas)
    mattes.update(rendered)
    hard = {f: rasterize_shapes(shapes, f, w, h).astype(np.float64) for f in alphas}
    edges["hard"] = edge_scores(hard, alphas)
    result["ramp_floor"] = ramp_floor(masks, alphas)
    result["edges"] = edges
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
    alone = fit_shapes(
        sorted(masks.items()),
        1,
        seq,
        tolerance=TOLERANCE,
        follow=False,
        smoothing=0,
        key_tolerance=0,
    )
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
    shapes = fit_shapes(masks, 1, "object", tolerance=TOLERANCE)
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
    ap.add_argument("--every", type=int, default=6, help="alpha on every n-th frame (default 6)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    readable = [
        n for n in exporters.available() if hasattr(exporters.from_name(n), "read_from_string")
    ]
    seqs = args.seq or sorted(p.name for p in DAVIS.iterdir())
    rows = []
    for seq in seqs:
        log.info("%s ...", seq)
        rows.append(score_sequence(seq, readable, args.every))
    timing = speed(
        [n for n in exporters.available() if hasattr(exporters.from_name(n), "write_to_string")]
    )
    checked = readable + ["after_effects", "svg"]
    w = sys.stdout.write
    w(
        f"{'sequence':16} {'pts':>4} "
        + " ".join(f"{n[:10]:>21}" for n in checked)
        + f" {'jitter ours':>12} {'independent':>12} {'shapes':>6} {'specks':>6} {'J all':>6} {'keys':>5}\n"
    )
    for r in rows:
        worst = min(r[n]["J_min"] for n in checked)
        r["J_min_any"] = worst
        cells = " ".join(
            f"{r[n]['J']:.3f}/{r[n]['F']:.3f} ({r[n]['J_min']:.2f})".rjust(21) for n in checked
        )
        w(
            f"{r['sequence']:16} {r['mean_points']:>4.0f} {cells} {r['jitter_ours']:12.3f} "
            f"{r['jitter_independent']:12.3f} {r['contours']:>6} "
            f"{r['contours_unfiltered'] - r['contours']:>6} {r['J_unfiltered']:6.3f} "
            f"{np.mean(r['keys']):5.0f}\n"
        )
    for n in checked:
        w(
            f"mean {n}: J {np.mean([r[n]['J'] for r in rows]):.4f}, "
            f"F {np.mean([r[n]['F'] for r in rows]):.4f}\n"
        )
    soft = list(rows[0]["edges"]) if rows else []
    w(
        f"\nfeather against the matte, every {args.every}th frame: edge error (x1e-3) / area ratio\n"
        f"{'sequence':16} " + " ".join(f"{n[:13]:>20}" for n in soft) + f" {'ramp floor':>11}\n"
    )
    for r in rows:
        tag = " (tune)" if r["sequence"] in TUNE else ""
        e = r["edges"]
        cells = " ".join(
            f"{e[n]['edge_error'] * 1e3:8.2f} / {e[n]['area_ratio']:.4f}".rjust(20) for n in soft
        )
        w(f"{r['sequence'] + tag:16} {cells} {r['ramp_floor'] * 1e3:11.2f}\n")
    for n in soft:
        e = [r["edges"][n]["edge_error"] for r in rows]
        a = [r["edges"][n]["area_ratio"] for r in rows]
        w(
            f"{n}: edge error mean {np.mean(e) * 1e3:.2f}e-3, max {np.max(e) * 1e3:.2f}e-3 "
            f"(target <= 4e-3); |area - 1| max {np.max(np.abs(np.subtract(a, 1))):.4f} "
            f"(target <= 0.02)\n"
        )
    floor = [r["ramp_floor"] for r in rows]
    w(
        f"ramp floor (best linear ramp per 16 px of the true outline, per frame): mean "
        f"{np.mean(floor) * 1e3:.2f}e-3, max {np.max(floor) * 1e3:.2f}e-3\n"
    )
    j_all = np.mean([r["J_unfiltered"] for r in rows])
    f_all = np.mean([r["F_unfiltered"] for r in rows])
    w(f"mean J / F of every contour, no speck limits: {j_all:.4f} / {f_all:.4f}\n")
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
