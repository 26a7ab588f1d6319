"""Cryptomatte exporter: files decoded by an independent reader (``cryptomatte-api``, a C++
Cryptomatte library) by object name and by hash, headers read by OpenImageIO and the ``openexr``
package, IDs checked against MurmurHash3 (``mmh3``) and the spec's float conversion rule."""

from __future__ import annotations

import json
import struct

import cryptomatte_api
import cv2
import mmh3
import numpy as np
import OpenEXR
import OpenImageIO as oiio
import pytest

from exporters import cryptomatte
from rotoflow.errors import ExportError
from rotoflow.types import ShotFormat
from tests.conftest import davis_masks

FMT = ShotFormat(854, 480, pixel_aspect=1.0, fps=24.0, first_frame=1001, last_frame=1050)
#: Coverage is FLOAT in the file; the brief asks at least half-float precision of the alpha.
ATOL = 1e-3


def _soft(seq: str, idx: int, sigma: float) -> np.ndarray:
    mask = cv2.imread(str(davis_masks(seq) / f"{idx:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


@pytest.fixture(scope="module")
def mattes(shared) -> dict[str, np.ndarray]:
    """Three overlapping soft objects on one 854x480 frame, real DAVIS outlines, odd names."""
    dog = _soft("dog", 10, 3.0)
    swan = _soft("blackswan", 0, 6.0)
    cows = np.roll(_soft("cows", 0, 2.0), (-40, 60), axis=(0, 1)) * np.float32(0.7)
    out = {"the dog": dog, "black-swan.v2": swan, "cows (herd) #3": cows}
    for a, b in [("the dog", "black-swan.v2"), ("the dog", "cows (herd) #3")]:
        assert np.count_nonzero((out[a] > 0.05) & (out[b] > 0.05)) > 500  # they overlap
    return out


def _reference_bits(name: str) -> int:
    """The spec's conversion, written here from the text: mmh3 uint32, bit 23 flipped when the
    exponent field is 0 or 255."""
    bits = mmh3.hash(name.encode("utf-8"), 0, signed=False)
    if (bits >> 23) & 0xFF in (0, 255):
        bits ^= 1 << 23
    return bits


def _as_float(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def _read(path):
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    try:
        spec = inp.spec()
        pixels = np.asarray(inp.read_image(0, 0, 0, spec.nchannels, "float"))
    finally:
        inp.close()
    return spec, pixels.reshape(spec.height, spec.width, spec.nchannels)


def test_the_decoder_extracts_each_object_by_name(mattes, tmp_path):
    path = cryptomatte.write_to_file(mattes, FMT, tmp_path / "sh010.1001.exr")
    [decoded] = cryptomatte_api.Cryptomatte.load(str(path))
    assert (decoded.width(), decoded.height()) == (FMT.width, FMT.height)
    assert decoded.num_levels() == 6
    meta = decoded.metadata()
    assert meta.name() == "CryptoObject"
    assert meta.hash_method() == "MurmurHash3_32"
    assert meta.conversion_method() == "uint32_to_float32"
    for name, alpha in mattes.items():
        by_name = decoded.mask(name)
        assert by_name.shape == alpha.shape
        np.testing.assert_allclose(by_name, alpha, atol=ATOL, err_msg=name)
        by_hash = decoded.mask(_reference_bits(name))  # not through our manifest
        np.testing.assert_allclose(by_hash, alpha, atol=ATOL, err_msg=name)
    assert sorted(decoded.masks()) == sorted(mattes)


def test_ranks_are_ordered_by_coverage_and_empty_ranks_are_zero(mattes, tmp_path):
    path = cryptomatte.write_to_file(mattes, FMT, tmp_path / "r.exr")
    spec, px = _read(path)
    assert list(spec.channelnames) == [f"CryptoObject{i:02d}.{c}" for i in range(3) for c in "RGBA"]
    assert all(spec.channelformat(i) == oiio.FLOAT for i in range(spec.nchannels))
    ids, cover = px[..., 0::2], px[..., 1::2]
    assert np.all(np.diff(cover, axis=2) <= 0)  # rank 0 has the most coverage
    assert np.all(cover[..., 3:] == 0) and np.all(ids[..., 3:] == 0)  # 3 objects, 6 ranks
    assert np.all(ids[cover == 0] == 0)  # nothing there: ID 0
    known = {_as_float(_reference_bits(n)) for n in mattes}
    assert set(np.unique(ids[cover > 0]).tolist()) == known
    stack = np.stack(list(mattes.values()), axis=2)
    np.testing.assert_allclose(cover[..., :3], -np.sort(-stack, axis=2), atol=1e-7)
    empty = stack.max(axis=2) == 0
    assert empty.any() and np.all(px[empty] == 0)  # background is no rank


def test_header_has_the_spec_metadata_and_manifest(mattes, tmp_path):
    path = cryptomatte.write_to_file(mattes, FMT, tmp_path / "m.exr")
    header = OpenEXR.File(str(path)).header()
    key = f"{_reference_bits('CryptoObject'):08x}"[:7]
    assert header[f"cryptomatte/{key}/name"] == "CryptoObject"
    assert header[f"cryptomatte/{key}/hash"] == "MurmurHash3_32"
    assert header[f"cryptomatte/{key}/conversion"] == "uint32_to_float32"
    manifest = json.loads(header[f"cryptomatte/{key}/manifest"])
    assert manifest == {n: f"{_reference_bits(n):08x}" for n in mattes}
    assert all(len(h) == 8 and int(h, 16) >= 0 for h in manifest.values())
    assert str(header["compression"]).endswith("ZIP_COMPRESSION")
    assert [c for c in header if c.startswith("cryptomatte/")] == sorted(
        f"cryptomatte/{key}/{k}" for k in ("conversion", "hash", "manifest", "name")
    )


def test_the_spec_examples_hash_to_the_spec_manifest():
    # Specification, "Metadata": {"bunny":"13851a76", "default":"42c9679f"}, "b24b26d4"
    assert cryptomatte.id_hex("bunny") == "13851a76"
    assert cryptomatte.id_hex("default") == "42c9679f"
    assert cryptomatte.id_hex("bunny_porcelain_mat") == "b24b26d4"
    # real Psyop sample headers (shared reference, section 5.3)
    assert cryptomatte.layer_key("special_chars") == "fbb35e3"
    assert cryptomatte.layer_key("crypto_asset") == "28322e9"


@pytest.mark.parametrize("name", ["obj45", "obj520", "obj522", "obj566", "a b", "x.y-z"])
def test_float_ids_never_have_exponent_0_or_255(name, tmp_path):
    raw = mmh3.hash(name, 0, signed=False)
    bits = cryptomatte.id_bits(name)
    assert bits == _reference_bits(name)
    exponent = (bits >> 23) & 0xFF
    assert 1 <= exponent <= 254
    if (raw >> 23) & 0xFF in (0, 255):  # the four obj names: only bit 23 changes
        assert bits ^ raw == 1 << 23
    else:
        assert bits == raw
    value = cryptomatte.name_to_id(name)
    assert np.isfinite(value) and value != 0 and abs(value) >= np.finfo(np.float32).tiny
    assert np.float32(value).view(np.uint32) == bits
    # and the decoder, keying by our manifest, finds such an object
    fmt = ShotFormat(16, 8)
    alpha = np.zeros((8, 16), np.float32)
    alpha[2:6, 3:9] = 0.25
    path = cryptomatte.write_to_file({name: alpha}, fmt, tmp_path / "e.exr")
    [decoded] = cryptomatte_api.Cryptomatte.load(str(path))
    np.testing.assert_allclose(decoded.mask(bits), alpha, atol=ATOL)


def test_levels_cover_every_object_and_stay_even(tmp_path):
    fmt = ShotFormat(8, 4)
    base = np.linspace(0.1, 0.8, 8 * 4, dtype=np.float32).reshape(4, 8)
    mattes = {f"o{i}": base * (1 - i / 10) for i in range(7)}
    path = cryptomatte.write_to_file(mattes, fmt, tmp_path / "seven.exr")
    spec, px = _read(path)
    assert spec.nchannels == 16  # 7 objects -> 8 ranks -> layers 00..03
    [decoded] = cryptomatte_api.Cryptomatte.load(str(path))
    for name, alpha in mattes.items():
        np.testing.assert_allclose(decoded.mask(name), alpha, atol=ATOL)
    assert cryptomatte.levels_for(1) == 6 and cryptomatte.levels_for(9) == 10


def test_same_mattes_give_the_same_bytes(mattes, tmp_path):
    a = cryptomatte.write_to_file(mattes, FMT, tmp_path / "a.exr").read_bytes()
    b = cryptomatte.write_to_file(mattes, FMT, tmp_path / "b.exr").read_bytes()
    assert a == b


def test_bad_input_is_refused_with_a_clear_message(tmp_path):
    fmt = ShotFormat(8, 4)
    ok = np.zeros((4, 8), np.float32)
    target = tmp_path / "x.exr"
    with pytest.raises(ExportError, match="two objects are named 'a'"):
        cryptomatte.write_to_file([("a", ok), ("a", ok)], fmt, target)
    with pytest.raises(ExportError, match="layer name must match"):
        cryptomatte.write_to_file({"a": ok}, fmt, target, layer="Crypto Object")
    with pytest.raises(ExportError, match="levels must be an even number"):
        cryptomatte.write_to_file({"a": ok, "b": ok, "c": ok}, fmt, target, levels=2)
    with pytest.raises(ExportError, match="levels must be an even number"):
        cryptomatte.write_to_file({"a": ok}, fmt, target, levels=3)
    with pytest.raises(ExportError, match=r"must lie in \[0, 1\]"):
        cryptomatte.write_to_file({"a": ok + 2}, fmt, target)
    assert not target.exists()
