"""Movies written from rendered frames through PyAV/FFmpeg, one frame at a time.

Two codecs, the ones the renders need (:data:`CODECS`):

- ``"h264"``: H.264 (libx264) in MP4, for review: 8-bit Y'CbCr 4:2:0 (4:4:4 when a side is
  odd, so that the plate's resolution is kept), BT.709 matrix, limited range, tagged BT.709.
- ``"prores4444"``: Apple ProRes 4444 (FFmpeg's ``prores_ks``, profile ``4444``, vendor
  ``apl0``) in QuickTime, 10-bit Y'CbCr 4:4:4 with a 16-bit coded alpha channel
  (``yuva444p10le``), BT.709, limited range. The alpha is straight (not premultiplied): the
  colour channels are the plate's own, unchanged where the alpha is 0.

Frames are ``(H, W, 3)`` display-referred RGB, ``uint8`` (0-255), ``uint16`` (0-65535) or float
(0-1), and for ProRes an ``(H, W)`` float alpha in ``[0, 1]``, rounded to the nearest 10-bit
code (the pixel format's own depth) so that it decodes to the code that was meant.

The movie carries the plate's frame rate (as a rational, 29.97 as 30000/1001), pixel aspect
(sample aspect ratio) and a start timecode: the plate's first frame number counted at the
nominal integer rate, non-drop (frame 1001 at 24 fps is ``00:00:41:17``), in the container's
``timecode`` tag as FFmpeg writes it. It is written to a hidden partial file beside its path and
renamed onto the path only when every frame is in (:meth:`MovieWriter.close`): a failed or
interrupted render leaves no finished-looking movie.
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation

from rotoflow.errors import PlateError

CODECS = {
    "h264": {"codec": "libx264", "container": "mp4", "suffix": ".mp4"},
    "prores4444": {"codec": "prores_ks", "container": "mov", "suffix": ".mov"},
}
"""The codecs a movie can be written with: FFmpeg encoder, container format, file suffix."""

_EXACT = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.BITEXACT
"""Conversion flags of every frame into the codec's pixel format. FFmpeg's faster default path
(libswscale 9, as PyAV 18 ships it) leaves 8 to 16 samples of garbage on some frame widths when
it converts 16-bit RGB(A) to 10-bit Y'CbCr (a 53 x 37 frame of alpha 0 comes out with eight
samples at 512): the exact path does not."""
_H264_OPTIONS = {"crf": "16", "preset": "veryfast"}
_PRORES_OPTIONS = {"profile": "4444", "vendor": "apl0", "alpha_bits": "16"}


def frame_rate(fps: float) -> Fraction:
    """A plate's frame rate as the rational a movie stores: the NTSC rates (within 0.005 of
    ``n * 1000 / 1001`` for n = 24, 30, 48, 60, 120; 23.976 as a plate's metadata rounds it) as
    ``n * 1000 / 1001``, others as the nearest fraction with a denominator up to 1001 (25.0 ->
    25).

    Raises:
        PlateError: ``fps`` is not positive.
    """
    if not fps > 0:
        raise PlateError(f"frame rate must be positive, got {fps}")
    for n in (24, 30, 48, 60, 120):
        if abs(fps - n * 1000 / 1001) < 0.005:
            return Fraction(n * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def timecode(frame: int, fps: float) -> str:
    """``HH:MM:SS:FF`` of a frame number at the nominal integer rate (non-drop).

    Args:
        frame: Frame number, from 0 (negative numbers count from 0).
        fps: Frames per second; 23.976 counts at 24, 29.97 at 30.
    """
    base = max(1, round(fps))
    n = max(0, int(frame))
    ff, seconds = n % base, n // base
    return f"{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{ff:02d}"


def _rgb16(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB to ``uint16`` full scale."""
    if rgb.dtype == np.uint8:
        return rgb.astype(np.uint16) * 257
    if rgb.dtype == np.uint16:
        return rgb
    return np.round(np.clip(rgb, 0.0, 1.0) * 65535.0).astype(np.uint16)


def _rgb8(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype == np.uint8:
        return rgb
    if rgb.dtype == np.uint16:
        return ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


def alpha_code(alpha: np.ndarray) -> np.ndarray:
    """``(H, W)`` float alpha in ``[0, 1]`` to the 16-bit samples that encode it as its nearest
    10-bit code ``k``: ``k << 6``, which FFmpeg's conversion to the 10-bit pixel format (it rounds,
    ``(v + 32) >> 6``) takes back to ``k`` exactly. A 16-bit reader of the decoded movie gets
    ``k << 6`` again (1023 -> 65472): ``v >> 6`` is the code, ``(v >> 6) / 1023`` the alpha."""
    k = np.round(np.clip(np.asarray(alpha, dtype=np.float64), 0.0, 1.0) * 1023.0).astype(np.uint16)
    return k << 6


class MovieWriter:
    """One movie being written; use as a context manager (an error inside deletes the partial
    file, a clean exit closes and renames it onto ``path``).

    Args:
        path: The movie to write; its folder must exist. Its suffix should be the codec's.
        codec: A key of :data:`CODECS`.
        width, height: Frame size in pixels (the plate's).
        fps: Frames per second (:func:`frame_rate`).
        start_frame: The plate's first frame number, for the start timecode (:func:`timecode`).
        pixel_aspect: The plate's pixel aspect ratio, stored as the sample aspect ratio.

    Raises:
        PlateError: Unknown codec, or a size that is not positive.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        codec: str,
        width: int,
        height: int,
        fps: float,
        start_frame: int = 0,
        pixel_aspect: float = 1.0,
    ) -> None:
        if codec not in CODECS:
            raise PlateError(f"unknown movie codec {codec!r}; choose from {', '.join(CODECS)}")
        if width <= 0 or height <= 0:
            raise PlateError(f"movie size must be positive, got {width} x {height}")
        spec = CODECS[codec]
        self.path = Path(path)
        self.codec = codec
        self.width, self.height = int(width), int(height)
        self.frames = 0
        self._partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        self._container = av.open(str(self._partial), "w", format=spec["container"])
        try:
            stream = self._container.add_stream(spec["codec"], rate=frame_rate(fps))
            stream.width, stream.height = self.width, self.height
            if codec == "prores4444":
                stream.pix_fmt = "yuva444p10le"
                stream.options = dict(_PRORES_OPTIONS)
            else:
                even = self.width % 2 == 0 and self.height % 2 == 0
                stream.pix_fmt = "yuv420p" if even else "yuv444p"
                stream.options = dict(_H264_OPTIONS)
            ctx = stream.codec_context
            ctx.colorspace = ctx.color_primaries = ctx.color_trc = 1  # BT.709 (H.273 code 1)
            ctx.color_range = 1  # limited ("MPEG") range
            aspect = Fraction(pixel_aspect).limit_denominator(10000)
            if aspect != 1:
                ctx.sample_aspect_ratio = aspect
            stream.metadata["timecode"] = timecode(start_frame, fps)
            self._stream = stream
        except BaseException:
            self.abort()
            raise

    def write(self, rgb: np.ndarray, alpha: np.ndarray | None = None) -> None:
        """Add one frame: ``(H, W, 3)`` RGB (module docstring) and, for ProRes 4444, its
        ``(H, W)`` alpha (None: opaque).

        Raises:
            PlateError: The frame or alpha has another size than the movie's.
        """
        rgb = np.asarray(rgb)
        if rgb.shape != (self.height, self.width, 3):
            raise PlateError(
                f"frame {self.frames} is {rgb.shape}, the movie is {self.height} x {self.width} RGB"
            )
        if self.codec == "prores4444":
            rgba = np.empty((self.height, self.width, 4), np.uint16)
            rgba[..., :3] = _rgb16(rgb)
            if alpha is None:
                rgba[..., 3] = 65535
            else:
                alpha = np.asarray(alpha)
                if alpha.shape != (self.height, self.width):
                    raise PlateError(f"alpha of frame {self.frames} is {alpha.shape}")
                rgba[..., 3] = alpha_code(alpha)
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba64le")
        else:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(_rgb8(rgb)), format="rgb24")
        frame = frame.reformat(
            format=self._stream.pix_fmt,
            dst_colorspace="ITU709",
            dst_color_range="MPEG",
            interpolation=_EXACT,
        )
        frame.pts = self.frames
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> Path:
        """Flush the encoder, close the file and rename it onto ``path``; returns ``path``."""
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
        except BaseException:
            self.abort()
            raise
        os.replace(self._partial, self.path)
        return self.path

    def abort(self) -> None:
        """Stop and delete the partial file; ``path`` is left as it was."""
        with contextlib.suppress(Exception):  # the partial file goes either way
            self._container.close()
        self._partial.unlink(missing_ok=True)

    def __enter__(self) -> MovieWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
