"""Blackmagic Fusion / DaVinci Resolve ``.setting`` files, the adapter: one ``PolylineMask`` per
contour.

:mod:`exporters.fusion.writer` writes (its notes describe the format and the host conventions),
:mod:`exporters.fusion.reader` reads, and :mod:`exporters.fusion.grammar` holds the names both
share; neither imports the other. The facade (:func:`exporters.from_name`) takes this package as
the adapter: ``NAME``, ``SUFFIXES``, ``write_to_string`` and ``read_from_string``.
"""

from exporters.features import Feature
from exporters.fusion.reader import read_from_string
from exporters.fusion.writer import NAME, SUFFIXES, write_to_string

FEATURES = frozenset(
    {Feature.WRITE_ROTO, Feature.READ_ROTO, Feature.NEGATIVE_FRAMES, Feature.FRAME_OFFSET}
)

__all__ = ["FEATURES", "NAME", "SUFFIXES", "read_from_string", "write_to_string"]
