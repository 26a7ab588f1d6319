"""Render speed: frames per second of each render kind at 1280x720, next to a plain decode +
encode of the same plate with the same codec, measured side by side in one run.

For each 1280x720 clip in ``../shared/data/sam2`` (its first ``--frames`` frames), one object's
alpha per frame is written as the matte stage writes it (half-float EXR, channel ``A``): a DAVIS
ground-truth mask (``dog``, looped) scaled to the plate and softened by a Gaussian of sigma 2 px,
so the outline the overlay draws is a real object's. Then, each timed on its own:

- ``plain <codec>``: decode the plate (:func:`rotoflow.plate.open_plate`) and encode every frame
  unchanged with the codec (:class:`rotoflow.movie.MovieWriter`);
- ``<kind>``: decode the plate, read the frame's alpha EXR, draw the kind
  (:data:`renders.KINDS`) and encode with the kind's codec, as the render stage does it
  (:func:`tasks.stages.render.write_movies`, the next frames read in a background thread; the
  stage reads the ingest proxies instead of the movie).

Printed per clip and kind: frames per second of both and the ratio ``kind time / plain time``
(target <= 1.5 for greenscreen and overlay). Timings mean something only on an otherwise idle
machine.

Usage::

    .venv/bin/python benchmarks/renders.py [--frames 120] [--clips 01_dog 02_cups]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from renders import KINDS, RenderOptions  # noqa: E402
from renders.composite import PlateFrame  # noqa: E402
from rotoflow.mattes import read_alpha_exr, write_alpha_exr  # noqa: E402
from rotoflow.movie import MovieWriter  # noqa: E402
from rotoflow.plate import open_plate  # noqa: E402
from tasks.stages.render import ahead, write_movies  # noqa: E402

SAM2 = REPO.parent / "shared" / "data" / "sam2"
DAVIS = REPO.parent / "shared" / "data" / "davis2016" / "Annotations" / "480p" / "dog"


def write_alphas(folder: Path, n: int, width: int, height: int) -> list[Path]:
    """``n`` alpha EXRs at the plate's size from the DAVIS ``dog`` masks (module docstring)."""
    masks = sorted(DAVIS.glob("*.png"))
    paths = []
    for i in range(n):
        m = cv2.imread(str(masks[i % len(masks)]), cv2.IMREAD_GRAYSCALE)
        m = cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        alpha = np.clip(cv2.GaussianBlur(m / 255.0, (0, 0), 2.0), 0.0, 1.0)
        paths.append(folder / f"dog.{i + 1:04d}.exr")
        write_alpha_exr(paths[-1], alpha)
    return paths


def timed(clip: Path, n: int, codec: str, out: Path, kind: str | None, alphas) -> float:
    """Seconds to render ``n`` frames of ``clip``: plain when ``kind`` is None, else as the
    render stage does (:func:`tasks.stages.render.write_movies` over frames read ahead)."""
    t0 = time.perf_counter()
    with open_plate(clip) as plate:
        info = plate.info
        frames = range(info.first_frame, info.first_frame + n)
        if kind is None:
            with MovieWriter(out, codec, info.width, info.height, info.fps, info.first_frame) as m:
                for _, rgb in plate.iter_frames(frames):
                    m.write(rgb)
        else:
            items = (
                PlateFrame(number, rgb, {(1, "dog"): read_alpha_exr(alphas[i])})
                for i, (number, rgb) in enumerate(plate.iter_frames(frames))
            )
            part = dataclasses.replace(info, last_frame=info.first_frame + n - 1)
            write_movies(out.parent, {kind: out.name}, part, ahead(items), RenderOptions(clip.stem))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--clips", nargs="*", default=None, help="clip names without .mp4")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    clips = [SAM2 / f"{c}.mp4" for c in args.clips] if args.clips else sorted(SAM2.glob("0*.mp4"))
    w = sys.stdout.write
    w(f"{'clip':22} {'kind':12} {'codec':11} {'fps':>7} {'plain fps':>10} {'ratio':>6}\n")
    ratios: dict[str, list[float]] = {k: [] for k in KINDS}
    with tempfile.TemporaryDirectory(prefix="rotoflow-renders-") as tmp:
        folder = Path(tmp)
        for clip in clips:
            with open_plate(clip) as plate:
                info = plate.info
            n = min(args.frames, info.n_frames)
            alphas = write_alphas(folder, n, info.width, info.height)
            plain = {}
            for kind, spec in KINDS.items():
                suffix = ".mov" if spec.codec == "prores4444" else ".mp4"
                if spec.codec not in plain:
                    plain[spec.codec] = timed(clip, n, spec.codec, folder / f"p{suffix}", None, [])
                seconds = timed(clip, n, spec.codec, folder / f"k{suffix}", kind, alphas)
                ratio = seconds / plain[spec.codec]
                ratios[kind].append(ratio)
                w(
                    f"{clip.stem:22} {kind:12} {spec.codec:11} {n / seconds:7.1f} "
                    f"{n / plain[spec.codec]:10.1f} {ratio:6.2f}\n"
                )
                sys.stdout.flush()
    for kind, rs in ratios.items():
        target = " (target <= 1.5)" if kind in ("greenscreen", "overlay") else ""
        w(f"{kind}: ratio mean {np.mean(rs):.2f}, max {np.max(rs):.2f}{target}\n")


if __name__ == "__main__":
    main()
