"""DAVIS video-object-segmentation measures: region similarity J and boundary measure F.

From Perazzi et al., "A Benchmark Dataset and Evaluation Methodology for Video Object Segmentation",
CVPR 2016, following the official ``davis2017-evaluation`` implementation
(``davis2017/metrics.py``: ``db_eval_iou``, ``f_measure``, ``_seg2bmap``):

- **J** is the intersection over union of the predicted and ground-truth masks; 1 when both are empty.
- **F** is the F-measure of boundary precision and recall. Boundaries are the 1-pixel maps of
  ``seg2bmap``; a boundary pixel counts as matched when it lies within ``ceil(bound_th * diagonal)``
  pixels (a disk) of the other mask's boundary. 8 px at 854x480.

Like the official Python code, boundaries are not thinned (the original MATLAB code thinned the
dilated ground-truth boundary with ``bwmorph(..., 'thin')``); the official code dilates with
``skimage.morphology.disk``, rebuilt here exactly (``x^2 + y^2 <= r^2``) so scikit-image is not needed.

Masks are ``(H, W)`` arrays read as bool; files are matched by plate frame number.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from rotoflow.errors import PlateError

log = logging.getLogger(__name__)

#: Mask file suffixes that :func:`evaluate_masks` reads (lower case).
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".exr", ".bmp")

_FRAME_RE = re.compile(r"(\d+)(?!.*\d)")


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> float:
    """Region similarity J: intersection over union of two masks.

    Args:
        pred: ``(H, W)`` mask, any dtype (non-zero = inside).
        gt: ``(H, W)`` ground-truth mask of the same shape.

    Returns:
        J in ``[0, 1]``; 1.0 when both masks are empty.

    Raises:
        PlateError: the shapes differ.
    """
    p, g = _pair(pred, gt)
    union = np.count_nonzero(p | g)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(p & g) / union)


def boundary_measure(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    """Boundary measure F: F-measure of boundary precision and recall within a tolerance.

    Args:
        pred: ``(H, W)`` mask, any dtype (non-zero = inside).
        gt: ``(H, W)`` ground-truth mask of the same shape.
        bound_th: Match tolerance: a fraction of the image diagonal when below 1
            (``ceil(bound_th * sqrt(H^2 + W^2))`` pixels), else a distance in pixels.

    Returns:
        F in ``[0, 1]``: 1.0 when both masks are empty; 0.0 when exactly one is.

    Raises:
        PlateError: the shapes differ.
    """
    p, g = _pair(pred, gt)
    bound_pix = bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(*p.shape))
    pb = seg2bmap(p)
    gb = seg2bmap(g)
    n_p = int(np.count_nonzero(pb))
    n_g = int(np.count_nonzero(gb))
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    kernel = _disk(int(bound_pix))
    p_dil = cv2.dilate(pb.view(np.uint8), kernel).view(bool)
    g_dil = cv2.dilate(gb.view(np.uint8), kernel).view(bool)
    precision = np.count_nonzero(pb & g_dil) / n_p
    recall = np.count_nonzero(gb & p_dil) / n_g
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map of a mask (``_seg2bmap`` of the official DAVIS code).

    A pixel is on the boundary when it differs from its east, south or south-east neighbour.

    Args:
        seg: ``(H, W)`` mask, any dtype (non-zero = inside).

    Returns:
        ``(H, W) bool`` boundary map.
    """
    seg = np.asarray(seg).astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


@dataclass(frozen=True)
class FrameScore:
    """Scores of one frame.

    Attributes:
        frame: Plate frame number.
        j: Region similarity.
        f: Boundary measure.
        predicted: False when no predicted mask existed for the frame (scored as empty).
    """

    frame: int
    j: float
    f: float
    predicted: bool = True


@dataclass
class SequenceScore:
    """Scores of one sequence (one object).

    Attributes:
        frames: Per-frame rows in frame order (excluded frames left out).
        j: Mean J over the rows.
        f: Mean F over the rows.
        jf: ``(j + f) / 2``, the DAVIS J&F.
    """

    frames: list[FrameScore] = field(default_factory=list)
    j: float = 0.0
    f: float = 0.0
    jf: float = 0.0

    @classmethod
    def from_rows(cls, rows: list[FrameScore]) -> SequenceScore:
        """Build the means from per-frame rows (all means 0.0 when there are no rows)."""
        if not rows:
            return cls([], 0.0, 0.0, 0.0)
        j = float(np.mean([r.j for r in rows]))
        f = float(np.mean([r.f for r in rows]))
        return cls(list(rows), j, f, (j + f) / 2)


def frame_number(path: str | Path) -> int:
    """Plate frame number in a file name: the last run of digits before the suffix.

    ``dancer.00012.png`` and ``00012.png`` both give 12.

    Raises:
        PlateError: the name holds no digits.
    """
    m = _FRAME_RE.search(Path(path).stem)
    if m is None:
        raise PlateError(f"no frame number in mask file name {Path(path).name!r}")
    return int(m.group(1))


def read_mask(path: str | Path) -> np.ndarray:
    """Read a mask file as ``(H, W) bool``, thresholded at half of its dtype's maximum.

    8-bit (0/255) and 16-bit (0/65535) PNGs are both accepted; float files (EXR) are thresholded at
    0.5; a multi-channel file uses its first channel.

    Raises:
        PlateError: the file cannot be read.
    """
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise PlateError(f"cannot read mask file {str(path)!r}")
    if img.ndim == 3:
        img = img[..., 0]
    if np.issubdtype(img.dtype, np.integer):
        return img > np.iinfo(img.dtype).max / 2
    return img > 0.5


def list_masks(folder: str | Path) -> dict[int, Path]:
    """Mask files of a folder by frame number.

    Raises:
        PlateError: the folder is missing, holds no mask files, or two files share a frame number.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise PlateError(f"mask folder {str(folder)!r} does not exist")
    found: dict[int, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in MASK_SUFFIXES or not p.is_file():
            continue
        n = frame_number(p)
        if n in found:
            raise PlateError(
                f"frame {n} appears twice in {str(folder)!r}: {found[n].name!r} and {p.name!r}"
            )
        found[n] = p
    if not found:
        raise PlateError(
            f"mask folder {str(folder)!r} holds no mask files (suffixes {', '.join(MASK_SUFFIXES)})"
        )
    return found


def evaluate_masks(
    pred_dir: str | Path,
    gt_dir: str | Path,
    *,
    exclude_frames: Collection[int] | None = None,
    bound_th: float = 0.008,
) -> SequenceScore:
    """Score a folder of predicted masks against a folder of ground-truth masks (one object).

    Files are matched by the frame number in their names (:func:`frame_number`), so predictions
    named ``shot.1001.png`` meet ground truth named ``01001.png``. Every ground-truth frame not
    excluded is scored; **a ground-truth frame with no predicted mask counts as an empty prediction**
    (J = 0 and F = 0 unless the ground truth is empty too), so a tracker that stops early is
    penalised. Predictions for frames without ground truth are ignored.

    Args:
        pred_dir: Folder of predicted masks (8- or 16-bit PNG, TIFF or EXR).
        gt_dir: Folder of ground-truth masks.
        exclude_frames: Frame numbers left out of the means. None (the default) leaves out the first
            ground-truth frame, the prompted keyframe of the DAVIS semi-supervised protocol; pass
            ``()`` to score every frame. (The official ``davis2017-evaluation`` also leaves out the
            last frame; pass both to match it exactly.)
        bound_th: Boundary tolerance of :func:`boundary_measure`.

    Returns:
        Per-frame rows and mean J, F and J&F.

    Raises:
        PlateError: a folder is missing or empty, a file cannot be read, or a prediction's size
            differs from its ground truth.
    """
    gt_files = list_masks(gt_dir)
    pred_files = list_masks(pred_dir)
    excluded = {min(gt_files)} if exclude_frames is None else set(exclude_frames)
    rows = []
    missing = []
    for n in sorted(gt_files):
        if n in excluded:
            continue
        gt = read_mask(gt_files[n])
        if n in pred_files:
            pred = read_mask(pred_files[n])
            if pred.shape != gt.shape:
                raise PlateError(
                    f"predicted mask {pred_files[n].name!r} is {pred.shape[1]}x{pred.shape[0]}, "
                    f"ground truth {gt_files[n].name!r} is {gt.shape[1]}x{gt.shape[0]}"
                )
        else:
            missing.append(n)
            pred = np.zeros_like(gt)
        rows.append(
            FrameScore(
                n,
                region_similarity(pred, gt),
                boundary_measure(pred, gt, bound_th),
                n not in missing,
            )
        )
    if missing:
        log.warning(
            "%d ground-truth frames of %s have no prediction, scored as empty: %s",
            len(missing),
            gt_dir,
            missing[:10],
        )
    return SequenceScore.from_rows(rows)


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred).astype(bool)
    g = np.asarray(gt).astype(bool)
    if p.shape != g.shape or p.ndim != 2:
        raise PlateError(f"masks must be (H, W) of one shape: got {p.shape} and {g.shape}")
    return p, g


def _disk(radius: int) -> np.ndarray:
    """``skimage.morphology.disk(radius)`` as a ``uint8`` kernel."""
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2 <= radius**2).astype(np.uint8)
