"""What an export adapter can do, as the adapter declares it (OpenTimelineIO adapters answer
``has_feature()`` the same way): callers ask the declaration, never ``hasattr`` or the name.

Every adapter module defines ``FEATURES``, a frozenset of :class:`Feature`;
:func:`exporters.features` and :func:`exporters.roto_formats` read it by format name.
"""

from __future__ import annotations

from enum import StrEnum


class Feature(StrEnum):
    """One capability of an export adapter, and the function that it promises."""

    #: Roto shapes to one text file: ``write_to_string(shapes, fmt, **options) -> str``.
    WRITE_ROTO = "write_roto"
    #: Roto shapes back from that text: ``read_from_string(text) -> (ShotFormat, shapes)``.
    READ_ROTO = "read_roto"
    #: A shot of several files in a folder (SVG: one per frame):
    #: ``write_shot(shapes, fmt, dest, stem) -> folder``, used instead of ``write_to_string``.
    WRITE_SHOT = "write_shot"
    #: ``write_to_string`` takes ``node_name=`` (the name of the node the shapes live in).
    NODE_NAME = "node_name"
    #: One frame's mattes to an image file: ``write_to_file(mattes, fmt, path) -> Path``.
    WRITE_MATTES = "write_mattes"
    #: A shot's mattes to a file per frame, chosen by ``--format`` like a roto format
    #: (Cryptomatte): ``write_matte_shot(frames, fmt, folder, stem, padding=) -> folder``.
    WRITE_MATTE_SHOT = "write_matte_shot"
    #: The host keys frames below 0 (Nuke, Fusion): a negative ``--start-frame`` is written
    #: (:func:`exporters.frames.to_host`); others refuse it.
    NEGATIVE_FRAMES = "negative_frames"
    #: ``write_to_string`` takes ``frame_offset=`` (host frame = plate frame + offset) and records
    #: it in the file, so that ``read_from_string`` gives back plate frames (Fusion).
    FRAME_OFFSET = "frame_offset"
