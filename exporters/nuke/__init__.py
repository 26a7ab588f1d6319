"""Foundry Nuke ``.nk`` scripts, the adapter: one ``Roto`` node, one Bezier shape per contour.

:mod:`exporters.nuke.writer` writes (its notes describe the format and the host conventions),
:mod:`exporters.nuke.reader` reads, and :mod:`exporters.nuke.grammar` holds the names both share;
neither imports the other. The facade (:func:`exporters.from_name`) takes this package as the
adapter: ``NAME``, ``SUFFIXES``, ``write_to_string`` and ``read_from_string``.
"""

from exporters.features import Feature
from exporters.nuke.reader import read_from_string
from exporters.nuke.writer import NAME, SUFFIXES, feather_curves, write_to_string

FEATURES = frozenset(
    {Feature.WRITE_ROTO, Feature.READ_ROTO, Feature.NODE_NAME, Feature.NEGATIVE_FRAMES}
)

__all__ = ["FEATURES", "NAME", "SUFFIXES", "feather_curves", "read_from_string", "write_to_string"]
