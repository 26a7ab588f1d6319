"""ViTMatte edge matter: trimap-guided alpha matting with a plain vision transformer.

Model: Yao et al., "ViTMatte: Boosting Image Matting with Pretrained Plain Vision Transformers",
Information Fusion 103, 2024 (arXiv:2305.15272), through transformers' ``VitMatteForImageMatting``
and ``VitMatteImageProcessor`` (weights ``hustvl/vitmatte-small-composition-1k`` or any snapshot
of the same format, loaded from a local folder only).

The trimap is built from the mask (:func:`make_trimap`): definite foreground is the mask eroded by
``erode`` pixels, definite background is the outside of the mask dilated by ``dilate`` pixels, the
band between is unknown. The network runs only on the crop around the unknown band, and the final
alpha keeps the trimap wherever it is definite:

    ``alpha = model alpha on unknown pixels, 1 on definite foreground, 0 on definite background``

(inside the crop as well as outside it). The processor pads the crop's bottom and right to a
multiple of 32 pixels; the padding is cut off the network's output, so the alpha lines up with the
plate pixel for pixel.

Crops larger than ``max_tile`` (4K plates) run as overlapping tiles, blended with linear ramps
(:func:`tile_spans`, :func:`tile_weights`). Tiles start on a grid aligned to the crop's origin in
steps of :attr:`VitMatteMatter.align` (a multiple of 32 and of the backbone's attention window in
pixels), so each tile sees the same patches and attention windows as the whole crop would.
What holds (tested in ``tests/models/test_vitmatte.py``):

- A crop that covers the frame gives exactly the whole-frame run; a smaller crop gives exactly the
  run on that crop, pasted back.
- Tiled equals untiled (to float rounding) only when the backbone has no global-attention block and
  no position-dependent absolute embedding, and ``tile_overlap // 4`` (the border each tile drops,
  see :func:`tile_weights`) covers the distance over which a cut at a window boundary changes the
  output: the reach of the residual convs and of ViTMatte's convolutional decoder, 47 pixels for
  the tiny test model (one residual block). Every output pixel then depends on a bounded,
  window-aligned neighbourhood that each tile weighting it contains in full.
- The released ViTMatte checkpoints have global-attention blocks (4 of 12) and absolute position
  embeddings interpolated to the input size, so every pixel depends on the whole input: a tile,
  like any crop, sees less context than the whole crop and the tiled alpha differs from an untiled
  run (measured on the tiny random model of the same structure, see the tests). Tiling is an
  approximation that bounds memory on large plates; crops up to ``max_tile`` never tile.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np
import torch

from models.base import checked_mask
from rotoflow.errors import ConfigError, ModelNotAvailable

logger = logging.getLogger(__name__)

#: Trimap values, as in the Composition-1k trimaps ViTMatte was trained on (the processor divides
#: by 255, so unknown reaches the network as 128 / 255).
BACKGROUND, UNKNOWN, FOREGROUND = 0, 128, 255

#: Autocast dtypes by ``precision`` name (CUDA only; the CPU always runs float32).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def make_trimap(mask: np.ndarray, erode: int, dilate: int) -> np.ndarray:
    """Trimap of a mask for ViTMatte.

    Definite foreground is the mask eroded by a disc of radius ``erode`` pixels, definite background
    is the outside of the mask dilated by a disc of radius ``dilate`` pixels (equivalently, the
    outside of the mask dilated by ``dilate``), the rest is unknown. The frame border is not an
    edge: a mask touching it is not eroded from there. Parts of the object thinner than ``2 *
    erode`` become entirely unknown, which is what the matting network resolves.

    Args:
        mask: ``(H, W) bool`` mask.
        erode: Width in pixels of the unknown band inside the mask edge (>= 0).
        dilate: Width in pixels of the unknown band outside the mask edge (>= 0).

    Returns:
        ``(H, W) uint8`` trimap: :data:`FOREGROUND` (255), :data:`UNKNOWN` (128) or
        :data:`BACKGROUND` (0).
    """
    m = mask.astype(np.uint8)
    fg = cv2.erode(m, _disc(erode)) > 0
    bg = cv2.dilate(m, _disc(dilate)) == 0
    trimap = np.full(mask.shape, UNKNOWN, np.uint8)
    trimap[fg] = FOREGROUND
    trimap[bg] = BACKGROUND
    return trimap


def tile_spans(length: int, tile: int, stride: int) -> list[tuple[int, int]]:
    """Tiles ``[start, stop)`` covering ``[0, length)`` along one axis.

    Tiles start at ``0, stride, 2 * stride, ...`` and are ``tile`` long; the last one stops at
    ``length`` (so it may be shorter). One tile when ``length <= tile``.

    Args:
        length: Pixels to cover (> 0).
        tile: Tile length in pixels.
        stride: Step between tile starts in pixels, ``0 < stride <= tile``.

    Returns:
        ``(start, stop)`` pairs in increasing order.
    """
    if length <= tile:
        return [(0, length)]
    n = 1 + math.ceil((length - tile) / stride)
    return [(k * stride, min(k * stride + tile, length)) for k in range(n)]


def tile_weights(start: int, stop: int, length: int, overlap: int) -> np.ndarray:
    """Blending weights ``(stop - start,) float32`` of a tile along one axis.

    Near an edge shared with a neighbouring tile (not at ``0`` or ``length``), the weight is 0 on
    the ``overlap // 4`` pixels nearest the edge, where the tile's own border disturbs the network,
    then rises linearly to 1 over the next ``overlap - 2 * (overlap // 4)`` pixels. Two tiles that
    overlap by exactly ``overlap`` pixels thus cross-fade linearly across the middle half of the
    overlap and sum to 1; where they overlap more, the caller divides by the summed weights.

    Args:
        start: First pixel of the tile.
        stop: One past its last pixel.
        length: Length of the tiled axis.
        overlap: Nominal overlap between neighbouring tiles in pixels.

    Returns:
        Weights in ``[0, 1]``.
    """
    trim = overlap // 4
    ramp = overlap - 2 * trim
    centre = np.arange(stop - start, dtype=np.float32) + 0.5
    weights = np.ones(stop - start, np.float32)
    for interior, dist in ((start > 0, centre), (stop < length, (stop - start) - centre)):
        if interior:
            weights *= np.clip((dist - trim) / ramp, 0, 1) if ramp else (dist > trim)
    return weights


class VitMatteMatter:
    """Soft alpha on the mask edge with ViTMatte over an automatic trimap.

    Implements :class:`models.base.Matter`.

    Attributes:
        name: Model name, for provenance.
        version: Model version (for example the snapshot's revision), for provenance.
        device: Torch device the model runs on.
        erode: Unknown band inside the mask edge, pixels.
        dilate: Unknown band outside the mask edge, pixels.
        margin: Context around the unknown band's bounding box given to the network, pixels.
        max_tile: Crops up to this size (both sides) run whole; larger ones are tiled.
        tile_overlap: Nominal overlap between tiles, pixels.
        align: Tile starts and tile lengths are multiples of this (pixels): the least common
            multiple of the processor's padding multiple (32) and the attention window in pixels
            (``window_size * patch_size``, 224 for ViTMatte-S).
        tile: Tile side, ``max_tile`` rounded down to a multiple of ``align``.
        stride: Step between tile starts, ``tile - tile_overlap`` rounded down to a multiple of
            ``align``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        name: str = "vitmatte-small",
        version: str = "local",
        device: str = "cpu",
        erode: int = 12,
        dilate: int = 12,
        margin: int = 32,
        max_tile: int = 1024,
        tile_overlap: int = 128,
        precision: str = "fp32",
    ) -> None:
        """Load a ViTMatte snapshot from a local folder.

        Args:
            path: Folder holding ``config.json``, the weights and ``preprocessor_config.json`` (a
                hub snapshot of ``hustvl/vitmatte-small-composition-1k`` or a ``save_pretrained``
                output). Nothing is downloaded.
            name: Model name, for provenance.
            version: Model version, for provenance.
            device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
            erode: Unknown band inside the mask edge, pixels (>= 0).
            dilate: Unknown band outside the mask edge, pixels (>= 0).
            margin: Context around the unknown band, pixels (>= 0).
            max_tile: Largest crop side run whole, pixels.
            tile_overlap: Overlap between tiles, pixels (>= 0).
            precision: ``"fp32"``, or on CUDA ``"bf16"`` / ``"fp16"`` autocast.

        Raises:
            ModelNotAvailable: the folder is missing or holds no loadable ViTMatte snapshot.
            ConfigError: a negative width, an unknown precision or device, a half precision on the
                CPU, or a ``max_tile`` / ``tile_overlap`` pair that leaves no room for a stride.
        """
        for key, value in (("erode", erode), ("dilate", dilate), ("margin", margin)):
            if value < 0:
                raise ConfigError(f"vitmatte {key}={value} is negative; use a width >= 0 pixels")
        if tile_overlap < 0:
            raise ConfigError(f"vitmatte tile_overlap={tile_overlap} is negative; use >= 0")
        if precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {precision!r}; choose one of {list(PRECISIONS)}")
        try:
            self.device = torch.device(device)
        except RuntimeError as exc:
            raise ConfigError(f"unknown torch device {device!r}; use 'cpu' or 'cuda'") from exc
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} requested but CUDA is not available; use 'cpu'")
        if self.device.type != "cuda" and precision != "fp32":
            raise ConfigError(f"precision {precision!r} is for CUDA; use 'fp32' on {device!r}")
        path = Path(path)
        if not path.is_dir():
            raise ModelNotAvailable(
                f"ViTMatte snapshot not found at {path}; download hustvl/vitmatte-small-"
                "composition-1k into that folder (or point the model path at one)"
            )
        from transformers import VitMatteForImageMatting, VitMatteImageProcessor

        try:
            model = VitMatteForImageMatting.from_pretrained(path, local_files_only=True)
            self._processor = VitMatteImageProcessor.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelNotAvailable(
                f"cannot load a ViTMatte snapshot from {path}: {exc}; the folder needs config.json, "
                "the weights and preprocessor_config.json"
            ) from exc
        self._model = model.to(self.device).eval()
        self._autocast = PRECISIONS[precision]
        self.name, self.version = name, version
        self.erode, self.dilate, self.margin = erode, dilate, margin
        self.max_tile, self.tile_overlap = max_tile, tile_overlap

        backbone = model.config.backbone_config
        window = backbone.window_size if backbone.window_block_indices else 0
        patch = (
            backbone.patch_size if isinstance(backbone.patch_size, int) else backbone.patch_size[0]
        )
        self.align = math.lcm(self._processor.size_divisor, window * patch or 1)
        self.tile = max_tile // self.align * self.align
        self.stride = (self.tile - tile_overlap) // self.align * self.align
        if self.stride < max(self.align, tile_overlap // 4):
            raise ConfigError(
                f"vitmatte max_tile={max_tile} with tile_overlap={tile_overlap} leaves no stride: "
                f"tiles are {self.tile} px (multiples of {self.align}); use max_tile >= "
                f"tile_overlap + {self.align} rounded up to a multiple of {self.align}"
            )

    def matte(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Pull a soft alpha around the mask edge.

        Args:
            image: ``(H, W, 3) uint8`` RGB frame (display-referred).
            mask: ``(H, W) bool`` mask, same frame.

        Returns:
            ``(H, W) float32`` alpha in ``[0, 1]`` at plate resolution: the network's alpha on the
            trimap's unknown pixels, exactly 1 on definite foreground and exactly 0 on definite
            background. An empty mask gives zeros and a full one ones, without running the network.

        Raises:
            ValueError: ``image`` is not ``(H, W, 3) uint8`` or ``mask`` is not ``(H, W)``.
        """
        mask = checked_mask(image, mask)
        if not mask.any():
            return np.zeros(mask.shape, np.float32)
        trimap = make_trimap(mask, self.erode, self.dilate)
        alpha = (trimap == FOREGROUND).astype(np.float32)
        unknown = trimap == UNKNOWN
        if not unknown.any():
            return alpha
        y0, y1, x0, x1 = self.crop_box(unknown)
        crop = (slice(y0, y1), slice(x0, x1))
        solved = self._solve(image[crop], trimap[crop])
        alpha[crop] = np.where(unknown[crop], solved, alpha[crop])
        return np.clip(alpha, 0.0, 1.0, out=alpha)

    def crop_box(self, unknown: np.ndarray) -> tuple[int, int, int, int]:
        """Bounding box of the unknown pixels grown by :attr:`margin`, clipped to the frame.

        Args:
            unknown: ``(H, W) bool`` unknown pixels of the trimap, at least one True.

        Returns:
            ``(y0, y1, x0, x1)`` pixel rows ``y0:y1`` and columns ``x0:x1`` (stops exclusive).
        """
        h, w = unknown.shape
        ys = np.flatnonzero(unknown.any(axis=1))
        xs = np.flatnonzero(unknown.any(axis=0))
        return (
            max(0, int(ys[0]) - self.margin),
            min(h, int(ys[-1]) + 1 + self.margin),
            max(0, int(xs[0]) - self.margin),
            min(w, int(xs[-1]) + 1 + self.margin),
        )

    def _solve(self, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        """Network alpha ``(h, w) float32`` of a crop, tiled when a side exceeds max_tile."""
        h, w = trimap.shape
        if h <= self.max_tile and w <= self.max_tile:
            return self._run(image, trimap)
        acc = np.zeros((h, w), np.float32)
        total = np.zeros((h, w), np.float32)
        runs = 0
        for ty0, ty1 in tile_spans(h, self.tile, self.stride):
            wy = tile_weights(ty0, ty1, h, self.tile_overlap)
            for tx0, tx1 in tile_spans(w, self.tile, self.stride):
                tile = (slice(ty0, ty1), slice(tx0, tx1))
                if not (trimap[tile] == UNKNOWN).any():
                    continue
                weights = wy[:, None] * tile_weights(tx0, tx1, w, self.tile_overlap)[None, :]
                acc[tile] += weights * self._run(image[tile], trimap[tile])
                total[tile] += weights
                runs += 1
        logger.debug("matted a %dx%d crop in %d tiles of %d px", w, h, runs, self.tile)
        # Pixels of skipped tiles only have weight 0 and are all definite: the caller ignores them.
        return np.divide(acc, total, out=np.zeros_like(acc), where=total > 0)

    def _run(self, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        """One network pass: ``(h, w) float32`` alpha of an ``(h, w, 3)`` image and trimap."""
        h, w = trimap.shape
        inputs = self._processor(
            images=image, trimaps=trimap, input_data_format="channels_last", return_tensors="pt"
        )
        pixels = inputs["pixel_values"].to(self.device)
        with (
            torch.inference_mode(),
            torch.autocast(
                self.device.type, dtype=self._autocast, enabled=self._autocast is not None
            ),
        ):
            alphas = self._model(pixel_values=pixels).alphas
        # The processor padded bottom and right to a multiple of 32: cut it off.
        return alphas[0, 0, :h, :w].float().cpu().numpy()
