"""Feather against the matte: each host's drawing of the exported soft edge, compared with the
alpha it was measured from, on DAVIS-2016 sequences.

For each sequence the lite matter (:class:`models.lite_matter.PymattingMatter`) makes the alpha
from the ground-truth mask and the real frame on every ``--every``-th frame; the masks (every frame)
and those alphas are fitted into roto shapes (:func:`rotoflow.geometry.fit_shapes`, which measures
each contour's soft band). On the frames with alpha, every contour is drawn with the feather model
of each host (:mod:`tests.exporters.host_alpha`): Nuke from its main and feather curves
(:func:`exporters.nuke.feather_curves`), After Effects from its path, feather and expansion
(:func:`exporters.after_effects.expansion`), and a hard edge for comparison. Printed per sequence
and host: mean ``|alpha_host - alpha_matte|`` over the frame and the area ratio
``sum(alpha_host) / sum(alpha_matte)``.

Usage::

    .venv/bin/python benchmarks/feather_davis.py [--seq dog ...] [--every 6]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from exporters import after_effects, nuke  # noqa: E402
from models.lite_matter import PymattingMatter  # noqa: E402
from rotoflow.geometry import fit_shapes, rasterize_shapes, shape_at  # noqa: E402
from tests.exporters.host_alpha import centred_ramp, combine, ramp_between  # noqa: E402

DAVIS = REPO.parent / "shared" / "data" / "davis2016"
TUNE = ("dog", "blackswan", "camel", "bmx-trees", "car-roundabout")
HELD_OUT = ("breakdance", "car-shadow", "cows", "dance-twirl", "drift-chicane")


def host_layers(shapes, frame: int, width: int, height: int):
    """Each contour alive on ``frame`` as ``(subtract, alpha)`` per host."""
    nk, ae = [], []
    for s in shapes:
        p = shape_at(s, frame)
        if p is None:
            continue
        one = dataclasses.replace(s, keys=[dataclasses.replace(s.keys[0], frame=frame, points=p)])
        main, feather = (c[0] for c in nuke.feather_curves(one))
        nk.append((s.hole, ramp_between(main, feather, width, height)))
        ae.append((s.hole, centred_ramp(p, s.feather, after_effects.expansion(s), width, height)))
    return {"nuke": nk, "after_effects": ae}


def score(seq: str, every: int) -> dict:
    files = sorted((DAVIS / "Annotations" / "480p" / seq).glob("*.png"))
    matter = PymattingMatter()
    items, alphas = [], {}
    for i, path in enumerate(files):
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) > 127
        alpha = None
        if i % every == 0:
            jpg = DAVIS / "JPEGImages" / "480p" / seq / f"{path.stem}.jpg"
            alpha = matter.matte(cv2.imread(str(jpg))[..., ::-1], mask)
            alphas[i] = alpha
        items.append((i, mask, alpha))
    shapes = fit_shapes(iter(items), 1, seq)
    h, w = items[0][1].shape
    err: dict[str, list[float]] = {"nuke": [], "after_effects": [], "hard": []}
    area: dict[str, list[float]] = {k: [] for k in err}
    for frame, alpha in alphas.items():
        drawn = {k: combine(v) for k, v in host_layers(shapes, frame, w, h).items()}
        drawn["hard"] = rasterize_shapes(shapes, frame, w, h).astype(np.float64)
        for name, img in drawn.items():
            err[name].append(float(np.abs(img - alpha).mean()))
            area[name].append(float(img.sum() / alpha.sum()))
    return {
        name: {"edge_error": float(np.mean(err[name])), "area_ratio": float(np.mean(area[name]))}
        for name in err
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq", nargs="*", default=[*TUNE, *HELD_OUT])
    parser.add_argument("--every", type=int, default=6)
    args = parser.parse_args()
    print(f"{'sequence':16} {'host':14} {'edge error':>11} {'area ratio':>11}")
    for seq in args.seq:
        for name, r in score(seq, args.every).items():
            print(f"{seq:16} {name:14} {r['edge_error'] * 1e3:9.2f}e-3 {r['area_ratio']:11.4f}")


if __name__ == "__main__":
    main()
