"""The ``.nk`` grammar that the Nuke writer and reader share: flag bits, blend modes, formats.

Evidence for each value is in :mod:`exporters.nuke.writer`'s notes (``docs/formats.md`` section 1).
"""

CC_FLAGS = 8192  # cc flag bits of a curve with relative tangents
#: Shape attribute ``bm`` (blend mode) of a subtracting shape (NukeFXSExporter's map).
BM_SUBTRACT = 12
#: Lifetime type ``ltt`` of a frame range (from ``ltn`` to ``ltm``), index 4 of Nuke's lifetime
#: menu (set with ``attrs.set('ltt', 4)`` in Nuke Python lifetime scripts [writer]; real Nuke 10
#: files carry ``ltn``/``ltm`` as float32 hex, ``ltn x41b80000``, in the ``{a ...}`` list [real]).
LTT_FRAME_RANGE = 4
#: Nuke's built-in format names for sizes we recognise; other sizes get an unnamed format.
FORMAT_NAMES = {
    (1920, 1080, 1.0): "HD_1080",
    (1280, 720, 1.0): "HD_720",
    (3840, 2160, 1.0): "UHD_4K",
}
