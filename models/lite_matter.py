"""Lite matter: closed-form alpha matting (pymatting) on an automatic trimap around the mask edge.

Algorithm: Levin, Lischinski and Weiss, "A Closed-Form Solution to Natural Image Matting", IEEE
TPAMI 30(2), 2008, as implemented by pymatting's ``estimate_alpha_cf`` (matting Laplacian, conjugate
gradients with an incomplete-Cholesky preconditioner). The trimap is built from the mask: an unknown
band centred on the mask edge, definite foreground inside it, definite background outside. The solve
runs only on the band's bounding box (plus a small margin), which is what keeps it well under a
second per frame on a CPU; everywhere else the alpha is the mask.

pymatting compiles its kernels with numba; compiled code is cached beside the package
(``__pycache__``), so only the first import on a machine pays for the compilation (about a minute on
two cores), later processes load the cache in about two seconds. pymatting is imported on the
first :meth:`PymattingMatter.matte` call, not at import time.
"""

from __future__ import annotations

import importlib.metadata
import logging

import cv2
import numpy as np

from models.base import checked_mask
from rotoflow.errors import ConfigError

logger = logging.getLogger(__name__)

#: pymatting estimators by name: ``cf`` closed-form (Levin 2008), ``knn`` KNN matting (Chen et
#: al., TPAMI 2013), ``lkm`` large-kernel matting (He et al., CVPR 2010).
METHODS = {"cf": "estimate_alpha_cf", "knn": "estimate_alpha_knn", "lkm": "estimate_alpha_lkm"}


def _ellipse(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _ridge(m: np.ndarray) -> np.ndarray:
    """Medial axis of a ``uint8`` 0/1 region: its pixels farthest from the region's edge locally."""
    dist = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    return (m > 0) & (dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8)))


def make_trimap(mask: np.ndarray, band: int) -> np.ndarray:
    """Automatic trimap of a mask.

    The unknown band is ``band`` pixels wide in total, centred on the mask edge: ``band // 2``
    pixels inside the mask (erosion) and ``band - band // 2`` outside (dilation), both with an
    elliptical (disc) kernel. The frame border does not count as an edge. Parts of the object
    thinner than the band (a bicycle's rims, a cable) would vanish under the erosion, so the
    medial axis of the mask stays definite foreground, and likewise the medial axis of the
    background (a gap between an arm and the body) stays definite background.

    Args:
        mask: ``(H, W) bool`` mask with at least one True and one False pixel.
        band: Total width of the unknown band in pixels (>= 2).

    Returns:
        ``(H, W) float64`` trimap: 1.0 foreground, 0.0 background, 0.5 unknown.
    """
    m = mask.astype(np.uint8)
    r_in, r_out = band // 2, band - band // 2
    fg = (cv2.erode(m, _ellipse(r_in)) > 0) | _ridge(m)
    bg = (cv2.dilate(m, _ellipse(r_out)) == 0) | _ridge(1 - m)
    trimap = np.full(mask.shape, 0.5)
    trimap[fg] = 1.0
    trimap[bg] = 0.0
    return trimap


class PymattingMatter:
    """Soft alpha on the mask edge by closed-form matting over an automatic trimap.

    Attributes:
        name: ``"pymatting"``.
        version: pymatting's version and this matter's settings, for example ``"1.1.16-cf-b12"``.
        band: Total width in pixels of the unknown band centred on the mask edge.
        method: pymatting estimator, a key of :data:`METHODS`.
        max_side: When the band's bounding box is longer than this (pixels), the solve runs on a
            copy scaled down to this size and the alpha is scaled back up (bilinear) onto the
            unknown pixels only; None always solves at full resolution.
    """

    name = "pymatting"

    def __init__(self, band: int = 12, *, method: str = "cf", max_side: int | None = None) -> None:
        """Configure the matter.

        Args:
            band: Total unknown band width in pixels, at least 2 (``ROTOFLOW_TRIMAP_BAND``).
            method: ``"cf"`` (default, the fastest and most accurate of the three on DAVIS),
                ``"knn"`` or ``"lkm"``.
            max_side: Longest side in pixels of the region solved, or None for full resolution.

        Raises:
            ConfigError: an unknown method, a band below 2 or a max_side below 32.
        """
        if method not in METHODS:
            raise ConfigError(f"unknown matting method {method!r}; choose one of {list(METHODS)}")
        if band < 2:
            raise ConfigError(f"trimap band {band} is too narrow; it must be at least 2 pixels")
        if max_side is not None and max_side < 32:
            raise ConfigError(f"matting max_side {max_side} is too small; use >= 32 or None")
        self.band = band
        self.method = method
        self.max_side = max_side
        self.version = f"{importlib.metadata.version('pymatting')}-{method}-b{band}" + (
            f"-s{max_side}" if max_side else ""
        )
        self._estimate = None

    def matte(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Pull a soft alpha around the mask edge.

        Args:
            image: ``(H, W, 3) uint8`` RGB frame (display-referred).
            mask: ``(H, W) bool`` mask, same frame.

        Returns:
            ``(H, W) float32`` alpha in ``[0, 1]``: solved inside the unknown band, exactly 1 on
            the rest of the mask and exactly 0 elsewhere. An empty mask gives zeros, a full one
            ones.

        Raises:
            ValueError: ``image`` is not ``(H, W, 3) uint8`` or ``mask`` is not ``(H, W)``.
        """
        mask = checked_mask(image, mask)
        alpha = mask.astype(np.float32)
        if not mask.any() or mask.all():
            return alpha
        trimap = make_trimap(mask, self.band)
        unknown = trimap == 0.5
        ys, xs = np.nonzero(unknown)
        margin = max(2, self.band // 2)
        h, w = mask.shape
        y0, y1 = max(0, ys.min() - margin), min(h, ys.max() + 1 + margin)
        x0, x1 = max(0, xs.min() - margin), min(w, xs.max() + 1 + margin)
        crop = (slice(y0, y1), slice(x0, x1))
        solved = self._solve(image[crop], trimap[crop])
        alpha[crop] = np.where(unknown[crop], solved, alpha[crop])
        return np.clip(alpha, 0.0, 1.0, out=alpha)

    def _solve(self, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        """Alpha ``(h, w) float32`` of a crop, at reduced resolution when it exceeds max_side."""
        if self._estimate is None:
            import pymatting

            self._estimate = getattr(pymatting, METHODS[self.method])
        h, w = trimap.shape
        scale = 1.0 if self.max_side is None else min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small_image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            small_trimap = cv2.resize(trimap, size, interpolation=cv2.INTER_NEAREST)
            if not ((small_trimap == 1.0).any() and (small_trimap == 0.0).any()):
                scale = 1.0  # the reduced trimap lost a side: solve at full resolution
        if scale < 1.0:
            small = self._estimate(small_image.astype(np.float64) / 255.0, small_trimap)
            out = cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            out = self._estimate(image.astype(np.float64) / 255.0, trimap).astype(np.float32)
        logger.debug("matted a %dx%d crop at scale %.2f", w, h, scale)
        return out
