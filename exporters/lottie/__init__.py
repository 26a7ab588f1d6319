"""Lottie (Bodymovin) JSON, the adapter: one shape layer per object, its contours as paths.

:mod:`exporters.lottie.writer` writes (its notes describe the format) and
:mod:`exporters.lottie.reader` reads; they share no names, and neither imports the other. The
facade (:func:`exporters.from_name`) takes this package as the adapter: ``NAME``, ``SUFFIXES``,
``write_to_string`` and ``read_from_string``.
"""

from exporters.features import Feature
from exporters.lottie.reader import read_from_string
from exporters.lottie.writer import BODYMOVIN_VERSION, NAME, SUFFIXES, write_to_string

FEATURES = frozenset({Feature.WRITE_ROTO, Feature.READ_ROTO})

__all__ = [
    "BODYMOVIN_VERSION",
    "FEATURES",
    "NAME",
    "SUFFIXES",
    "read_from_string",
    "write_to_string",
]
