"""OpenCV-only tracker of the lite model set: flow-warped local colour models refined by GrabCut.

Each new frame is segmented from the previous frame's mask in four steps:

1. **Flow.** Dense optical flow from the new frame back to the previous one (DIS: Kroeger et al.,
   "Fast Optical Flow using Dense Inverse Search", ECCV 2016) pulls the previous frame's pixels and
   mask onto the new frame's grid with ``cv2.remap``.
2. **Local colour model.** The pulled pixels, labelled by the pulled mask, are splatted into a
   bilateral grid (x, y, Y, Cr, Cb) and the new frame's pixels are sliced from it: each pixel takes
   the foreground fraction of the pulled pixels that are near it *and* of its colour. This is the
   bilateral-space label propagation of Maerki et al., "Bilateral Space Video Segmentation",
   CVPR 2016, from one previous frame; where the flow smears the object's motion onto the
   background, the background's own colour still wins.
3. **Motion.** Where the background's motion is a homography (the camera's, fitted with RANSAC on the
   flow away from the object) and the object moves against it, pixels moving like the background are
   pushed out of the mask and pixels moving like the object near its edge are pulled in. Off when the
   homography explains too little of the background (water, foliage).
4. **GrabCut** (Rother et al., "GrabCut", SIGGRAPH 2004) settles the pixels the two cues leave
   uncertain, with colour GMMs and its contrast-sensitive smoothness term.

Guards: a result whose area differs from the warped mask's by more than ``max_area_change`` is
replaced by the warped mask; only the connected parts that hold the mask's core are kept. The
refinement runs on a crop around the object scaled to at most ``max_side`` pixels; masks come back at
full resolution.

Measured with ``benchmarks/lite_tracker_davis.py`` (10 DAVIS-2016 sequences, forward from frame 0,
854x480): mean J&F 0.65 from the ground-truth mask and 0.56 from GrabCut on the ground-truth box, at
about 0.3 s a frame on one core. Weak spots: thin parts and occlusions (bmx-trees, lost at the tree),
shadows and reflections that move with the object, a background colour-matched to the object where
the camera's motion is not a homography (water).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import cv2
import numpy as np
from scipy.ndimage import correlate1d

from models.base import TrackHint
from models.lite_segmenter import fill_holes, grabcut, keep_components
from rotoflow.errors import PlateError, PromptError

log = logging.getLogger(__name__)

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class FlowTracker:
    """Propagate a mask with optical flow, local colour models, motion cues and GrabCut.

    Defaults were tuned on the 10 DAVIS-2016 sequences of ``benchmarks/lite_tracker_davis.py``.

    Args:
        flow_preset: DIS preset: ``"ultrafast"``, ``"fast"`` or ``"medium"``.
        max_side: The crop around the object is scaled so that its larger side is at most this many
            pixels for the refinement.
        band: Width of the uncertain edge band, as a fraction of the square root of the mask's area
            (clipped to ``[3, 24]`` plate pixels); the crop margin is three bands.
        cell: Spatial cell of the bilateral grid, in plate pixels.
        colour_bins: Bins of the bilateral grid along Y, Cr and Cb.
        motion: Weight of the motion cue against the colour log-odds (0 turns it off).
        min_inliers: Fraction of background flow samples the camera homography must explain for
            the motion cue to be used.
        sure: Log-odds beyond which a pixel is a hard GrabCut constraint.
        iterations: GrabCut iterations per frame.
        max_area_change: Largest relative growth over the warped mask that a refinement may
            make; a larger one is rejected in favour of the warped mask (guards against leaks).
        max_shrink: Largest relative shrinkage; larger than ``max_area_change`` so that background
            taken in by the keyframe mask (a loose GrabCut) can be shed.
        min_hole: Holes smaller than this fraction of the mask's area are filled (0: none).

    Attributes:
        mode: ``"frames"``: a :class:`models.base.FrameTracker`, one object and one direction
            per :meth:`track` call.
    """

    name = "flow-bilateral"
    version = "1"
    mode = "frames"

    def __init__(
        self,
        flow_preset: str = "medium",
        max_side: int = 400,
        band: float = 0.08,
        cell: float = 12.0,
        colour_bins: tuple[int, int, int] = (16, 12, 12),
        motion: float = 1.5,
        min_inliers: float = 0.75,
        sure: float = 1.0,
        iterations: int = 2,
        max_area_change: float = 0.15,
        max_shrink: float = 0.3,
        min_hole: float = 0.01,
    ) -> None:
        if flow_preset not in _PRESETS:
            raise PromptError(
                f"unknown flow preset {flow_preset!r}; choose one of {', '.join(_PRESETS)}"
            )
        self.flow_preset = flow_preset
        self.max_side = max_side
        self.band = band
        self.cell = cell
        self.colour_bins = tuple(colour_bins)
        self.motion = motion
        self.min_inliers = min_inliers
        self.sure = sure
        self.iterations = iterations
        self.max_area_change = max_area_change
        self.max_shrink = max_shrink
        self.min_hole = min_hole

    def track(
        self,
        frames: Iterable[tuple[int, np.ndarray]],
        init_mask: np.ndarray,
        hint: TrackHint | None = None,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Track one object through frames in propagation order (forward or backward).

        Args:
            frames: ``(frame_number, (H, W, 3) uint8 RGB)`` pairs; the first is the keyframe of
                ``init_mask``. Consumed lazily: the keyframe is read at once, then one frame per
                yielded mask; only the previous frame is held.
            init_mask: ``(H, W) bool`` mask on the keyframe.
            hint: Accepted for the protocol and not used: this tracker does not re-anchor on
                detector boxes.

        Returns:
            An iterator of ``(frame_number, (H, W) bool mask)`` for every frame after the keyframe,
            in order. Once the mask is empty (the object left or was lost) it stays empty.

        Raises:
            PlateError: there is no keyframe (raised at once), or a frame's size differs from
                ``init_mask``'s (raised when that frame is reached).
            PromptError: ``init_mask`` is not a 2-D array (raised at once).
        """
        init = np.asarray(init_mask)
        if init.ndim != 2:
            raise PromptError(f"init_mask must be (H, W), got shape {init.shape}")
        it = iter(frames)
        first = next(it, None)
        if first is None:
            raise PlateError("tracking needs at least the keyframe, got no frames")
        _check_frame(first, init.shape)
        return self._propagate(first[1], it, init.astype(bool))

    def _propagate(
        self, prev_rgb: np.ndarray, rest: Iterator[tuple[int, np.ndarray]], mask: np.ndarray
    ) -> Iterator[tuple[int, np.ndarray]]:
        dis = cv2.DISOpticalFlow.create(_PRESETS[self.flow_preset])
        prev_gray = cv2.cvtColor(prev_rgb, cv2.COLOR_RGB2GRAY)
        h, w = mask.shape
        grid = np.dstack(
            np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        )
        for n, rgb in rest:
            _check_frame((n, rgb), mask.shape)
            gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            if mask.any():
                flow = dis.calc(gray, prev_gray, None)
                mask = self._step(rgb, prev_rgb, mask, grid + flow, flow)
            yield n, mask.copy()
            prev_rgb, prev_gray = rgb, gray

    def _step(
        self,
        rgb: np.ndarray,
        prev_rgb: np.ndarray,
        prev_mask: np.ndarray,
        pull: np.ndarray,
        flow: np.ndarray,
    ) -> np.ndarray:
        """The mask on ``rgb`` from the previous frame's; ``pull`` maps each pixel of ``rgb`` to
        the previous frame (``(H, W, 2) float32`` pixel positions), ``flow`` is ``pull`` minus the
        pixel grid."""
        h, w = prev_mask.shape
        warped = cv2.remap(prev_mask.astype(np.float32), pull, None, cv2.INTER_LINEAR) > 0.5
        area = int(np.count_nonzero(warped))
        if area == 0:
            return warped
        band = float(np.clip(self.band * np.sqrt(area), 3.0, 24.0))

        # Crop around the warped mask, scaled for speed.
        ys, xs = np.nonzero(warped)
        m = 3 * band + 8
        x0, y0 = max(0, int(xs.min() - m)), max(0, int(ys.min() - m))
        x1, y1 = min(w, int(xs.max() + 1 + m)), min(h, int(ys.max() + 1 + m))
        scale = min(1.0, self.max_side / max(x1 - x0, y1 - y0))
        size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
        crop_pull = pull[y0:y1, x0:x1]
        src = cv2.remap(
            prev_rgb, crop_pull, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        labels = cv2.remap(prev_mask.astype(np.float32), crop_pull, None, cv2.INTER_LINEAR)
        cur = rgb[y0:y1, x0:x1]
        inside = warped[y0:y1, x0:x1].astype(np.uint8)
        if scale < 1.0:
            src = cv2.resize(src, size, interpolation=cv2.INTER_AREA)
            cur = cv2.resize(cur, size, interpolation=cv2.INTER_AREA)
            labels = cv2.resize(labels, size, interpolation=cv2.INTER_AREA)
            inside = cv2.resize(inside, size, interpolation=cv2.INTER_NEAREST)
        r = max(1, round(band * scale))

        p = local_colour_probability(
            cv2.cvtColor(cur, cv2.COLOR_RGB2YCrCb),
            cv2.cvtColor(src, cv2.COLOR_RGB2YCrCb),
            labels,
            self.cell * scale,
            self.colour_bins,
        )
        score = np.clip(np.log((p + 1e-3) / (1 - p + 1e-3)), -4, 4)
        if self.motion > 0:
            residual, inliers = background_residual(flow, warped, (x0, y0, x1, y1))
            if residual is not None and inliers >= self.min_inliers:
                if scale < 1.0:
                    residual = cv2.resize(residual, size, interpolation=cv2.INTER_AREA)
                score += self.motion * _motion_term(residual, inside, r)

        gc = np.full(score.shape, cv2.GC_BGD, np.uint8)
        gc[score > -self.sure] = cv2.GC_PR_BGD
        gc[score >= 0] = cv2.GC_PR_FGD
        gc[score >= self.sure] = cv2.GC_FGD
        if not np.any(gc & 1):
            return warped
        if not np.any(gc == cv2.GC_BGD):
            gc[0, :] = gc[-1, :] = gc[:, 0] = gc[:, -1] = cv2.GC_BGD
        gc = grabcut(cv2.cvtColor(cur, cv2.COLOR_RGB2BGR), gc, self.iterations, min_keep=0.5)
        fg = (gc & 1).astype(np.uint8)
        change = np.count_nonzero(fg) / scale**2 / area - 1
        if change > self.max_area_change or -change > self.max_shrink:
            return warped

        core = cv2.erode(fg, np.ones((3, 3), np.uint8))
        ys, xs = np.nonzero(core if core.any() else fg)
        step = max(1, len(xs) // 20)
        fg = keep_components(fg, list(zip(xs[::step].tolist(), ys[::step].tolist(), strict=True)))
        if self.min_hole > 0:
            fg = fill_holes(fg, self.min_hole)
        out = np.zeros((h, w), bool)
        if scale < 1.0:
            fg = cv2.resize(fg * 255, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) > 127
        out[y0:y1, x0:x1] = fg.astype(bool)
        return out


def local_colour_probability(
    cur: np.ndarray,
    src: np.ndarray,
    labels: np.ndarray,
    cell: float,
    bins: tuple[int, int, int],
    prior: float = 1.0,
) -> np.ndarray:
    """Foreground probability of each pixel from labelled samples, through a bilateral grid.

    The samples ``src``/``labels`` lie on the same pixel grid as ``cur`` (motion-compensated). Both
    are binned on ``(y / cell, x / cell, c0, c1, c2)``; the sample counts are blurred with a
    ``[1, 2, 1]`` kernel along every axis and read back at each pixel of ``cur``.

    Args:
        cur: ``(H, W, 3) uint8`` image whose pixels are classified (any 3-channel colour space).
        src: ``(H, W, 3) uint8`` sample colours, same colour space.
        labels: ``(H, W) float32`` sample foreground weights in ``[0, 1]``.
        cell: Spatial bin size in pixels.
        bins: Bins along each colour channel.
        prior: Pseudo-count pulling sparsely sampled cells towards 0.5.

    Returns:
        ``(H, W) float32`` foreground probability in ``(0, 1)``.
    """
    h, w = labels.shape
    gy, gx = int(np.ceil(h / cell)) + 1, int(np.ceil(w / cell)) + 1
    b0, b1, b2 = bins
    yy, xx = np.mgrid[0:h, 0:w]
    spatial = np.rint(yy / cell).astype(np.int64) * gx + np.rint(xx / cell).astype(np.int64)

    def index(img: np.ndarray) -> np.ndarray:
        c = img.astype(np.int64)
        colour = ((c[..., 0] * b0 >> 8) * b1 + (c[..., 1] * b1 >> 8)) * b2 + (c[..., 2] * b2 >> 8)
        return (spatial * (b0 * b1 * b2) + colour).ravel()

    n = gy * gx * b0 * b1 * b2
    i_src = index(src)
    grid = np.empty((2, n), np.float32)
    grid[0] = np.bincount(i_src, weights=labels.ravel(), minlength=n)
    grid[1] = np.bincount(i_src, minlength=n)
    grid = grid.reshape(2, gy, gx, b0, b1, b2)
    for axis in range(1, 6):
        grid = correlate1d(grid, [0.25, 0.5, 0.25], axis=axis, mode="constant")
    grid = grid.reshape(2, n)
    i_cur = index(cur)
    fg, total = grid[0, i_cur], grid[1, i_cur]
    return ((fg + 0.5 * prior) / (total + prior)).reshape(h, w)


def background_residual(
    flow: np.ndarray,
    mask: np.ndarray,
    crop: tuple[int, int, int, int],
) -> tuple[np.ndarray | None, float]:
    """Per-pixel distance between the flow and the camera's (background) motion, in a crop.

    The camera's motion is a homography fitted with RANSAC (1 px) to flow samples on an 8-pixel
    lattice at least 15 pixels away from ``mask``.

    Args:
        flow: ``(H, W, 2) float32`` flow in pixels.
        mask: ``(H, W) bool`` object mask on the flow's grid.
        crop: ``(x0, y0, x1, y1)`` integer pixel bounds of the returned window.

    Returns:
        ``(y1 - y0, x1 - x0) float32`` residual in pixels (None when there are fewer than 16
        samples or no homography fits) and the fraction of samples the homography explains.
    """
    h, w = mask.shape
    yy, xx = np.mgrid[4:h:8, 4:w:8]
    away = cv2.dilate(mask.astype(np.uint8), np.ones((31, 31), np.uint8)) == 0
    sel = away[yy, xx]
    if np.count_nonzero(sel) < 16:
        return None, 0.0
    src = np.stack([xx[sel], yy[sel]], 1).astype(np.float32)
    dst = src + flow[yy[sel], xx[sel]]
    hom, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 1.0)
    if hom is None:
        return None, 0.0
    x0, y0, x1, y1 = crop
    cy, cx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    pts = np.dstack([cx, cy])
    bg = cv2.perspectiveTransform(pts.reshape(-1, 1, 2), hom).reshape(pts.shape) - pts
    return np.linalg.norm(flow[y0:y1, x0:x1] - bg, axis=-1), float(inliers.mean())


def _motion_term(residual: np.ndarray, inside: np.ndarray, band: int) -> np.ndarray:
    """Motion evidence in ``[-1, 1]``: + moving like the object, - moving like the background.

    Used only when the object's median residual is clearly above the background's (both a
    threshold of 2 px and four times the background's 75th percentile); positive evidence only
    within one band outside the warped mask, since flow smears the object's motion outwards.
    """
    dist_in = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    dist_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3)
    core = dist_in > band if np.any(dist_in > band) else inside > 0
    far = dist_out > 2 * band
    obj = float(np.median(residual[core]))
    noise = float(np.percentile(residual[far], 75)) if far.any() else 0.0
    if obj <= max(2.0, 4 * noise):
        return np.zeros_like(residual)
    tau = max(0.5 * obj, 2 * noise)
    term = np.clip((residual - tau) / (0.5 * tau), -1, 1)
    term[(term > 0) & (dist_out > band)] = 0
    return term


def _check_frame(pair: tuple[int, np.ndarray], shape: tuple[int, ...]) -> None:
    n, rgb = pair
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[:2] != tuple(shape):
        raise PlateError(
            f"frame {n} is {rgb.shape[1]}x{rgb.shape[0]}, expected {shape[1]}x{shape[0]} RGB "
            "like the keyframe's mask"
        )
