"""Declared features (:mod:`exporters.features`): each adapter's ``FEATURES`` promises exactly the
functions it has, and the facade answers by format name."""

from __future__ import annotations

import inspect

import pytest

import exporters
from exporters import Feature
from rotoflow.errors import ExportError

#: The function (or keyword of ``write_to_string``) that each feature promises.
_PROMISES = {
    Feature.WRITE_ROTO: "write_to_string",
    Feature.READ_ROTO: "read_from_string",
    Feature.WRITE_SHOT: "write_shot",
    Feature.WRITE_MATTE_SHOT: "write_matte_shot",
}


@pytest.mark.parametrize("name", exporters.available())
def test_features_promise_exactly_the_functions_an_adapter_has(name):
    mod = exporters.from_name(name)
    declared = exporters.features(name)
    assert declared is mod.FEATURES
    assert isinstance(declared, frozenset) and all(isinstance(f, Feature) for f in declared)
    for feature, function in _PROMISES.items():
        assert (feature in declared) == callable(getattr(mod, function, None)), (name, feature)
    takes_node_name = Feature.WRITE_ROTO in declared and (
        "node_name" in inspect.signature(mod.write_to_string).parameters
    )
    assert (Feature.NODE_NAME in declared) == takes_node_name, name
    if Feature.WRITE_MATTES in declared:
        assert Feature.WRITE_ROTO not in declared and callable(mod.write_to_file), name


def test_the_facade_lists_formats_by_feature():
    assert exporters.roto_formats() == [
        "after_effects",
        "fusion",
        "lottie",
        "nuke",
        "shapes_json",
        "silhouette",
        "svg",
    ]
    assert list(exporters.ROTO_FORMAT_NAMES) == exporters.roto_formats()  # the help texts' list
    by = {f: [n for n in exporters.available() if f in exporters.features(n)] for f in Feature}
    assert by[Feature.READ_ROTO] == ["fusion", "lottie", "nuke", "shapes_json", "silhouette"]
    assert by[Feature.WRITE_SHOT] == ["svg"]
    assert by[Feature.NODE_NAME] == ["nuke"]
    assert by[Feature.WRITE_MATTES] == ["cryptomatte", "exr", "png"]
    assert by[Feature.WRITE_MATTE_SHOT] == ["cryptomatte"]
    assert list(exporters.MATTE_SHOT_FORMAT_NAMES) == exporters.matte_shot_formats()


def test_features_of_an_unknown_format_list_the_names():
    with pytest.raises(ExportError, match="no exporter named 'maya'; available: after_effects"):
        exporters.features("maya")
