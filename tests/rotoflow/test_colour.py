"""Scene-linear to display 8-bit: the sRGB transfer function and OpenColorIO display/views."""

from __future__ import annotations

import numpy as np
import pytest

from rotoflow.colour import srgb_oetf, to_display_uint8
from rotoflow.errors import ConfigError

# A two-view config: "Standard" is the sRGB curve (IEC 61966-2-1 as OCIO's exponent-with-linear
# transform), "Gamma 2.2" a pure power law.
TINY_CONFIG = """\
ocio_profile_version: 2
roles:
  default: linear
  scene_linear: linear
displays:
  sRGB:
    - !<View> {name: Standard, colorspace: srgb_display}
    - !<View> {name: Gamma 2.2, colorspace: gamma22_display}
active_displays: []
active_views: []
colorspaces:
  - !<ColorSpace>
    name: linear
  - !<ColorSpace>
    name: srgb_display
    from_scene_reference: !<ExponentWithLinearTransform>
      {gamma: 2.4, offset: 0.055, direction: inverse}
  - !<ColorSpace>
    name: gamma22_display
    from_scene_reference: !<ExponentTransform> {value: 2.2, direction: inverse}
"""


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.ocio"
    path.write_text(TINY_CONFIG)
    return path


def _grey_ramp(lo=0.0, hi=1.0, n=256) -> np.ndarray:
    values = np.linspace(lo, hi, n, dtype=np.float32)
    return np.repeat(values[None, :, None], 3, axis=2)  # (1, n, 3)


def _srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """The inverse of the sRGB transfer function, IEC 61966-2-1 section 5.2."""
    v = np.asarray(encoded, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def test_srgb_oetf_inverts_the_iec_decoding():
    linear = np.linspace(0.0, 1.0, 10001)
    np.testing.assert_allclose(_srgb_decode(srgb_oetf(linear)), linear, atol=2e-6)
    # The two pieces meet at the breakpoint.
    below, above = srgb_oetf(np.array([0.0031308 - 1e-7, 0.0031308 + 1e-7]))
    assert abs(above - below) < 1e-5
    assert srgb_oetf(np.array([0.0, 1.0])).tolist() == pytest.approx([0.0, 1.0], abs=1e-6)


def test_srgb_without_config():
    rgb = to_display_uint8(_grey_ramp(-1.0, 3.0, 401))
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 401, 3)
    values = np.linspace(-1.0, 3.0, 401)
    expected = np.rint(255 * srgb_oetf(np.clip(values, 0, 1)))
    np.testing.assert_array_equal(rgb[0, :, 0], expected)
    assert rgb[0, values <= 0].max() == 0 and rgb[0, values >= 1].min() == 255
    # Mid grey (18 %) and half intensity land on the familiar sRGB codes.
    assert to_display_uint8(np.full((1, 2, 3), [[0.18], [0.5]], np.float32))[0, :, 0].tolist() == [
        118,
        188,
    ]
    nan = to_display_uint8(np.full((1, 1, 3), np.nan, np.float32))
    assert nan.tolist() == [[[0, 0, 0]]]


def test_tiny_config_default_view_is_the_srgb_curve(tiny_config):
    ramp = _grey_ramp(0.0, 1.5, 601)
    via_ocio = to_display_uint8(ramp, ocio_config=tiny_config).astype(int)
    builtin = to_display_uint8(ramp).astype(int)
    assert np.abs(via_ocio - builtin).max() <= 1
    assert (via_ocio == builtin).mean() > 0.98


def test_tiny_config_named_view(tiny_config):
    ramp = _grey_ramp()
    rgb = to_display_uint8(ramp, ocio_config=str(tiny_config), display="sRGB", view="Gamma 2.2")
    expected = np.rint(255 * np.linspace(0.0, 1.0, 256) ** (1 / 2.2))
    assert np.abs(rgb[0, :, 0].astype(int) - expected).max() <= 1
    assert not np.array_equal(rgb, to_display_uint8(ramp))


def test_builtin_config_needs_no_files():
    ramp = _grey_ramp(0.0, 8.0, 801)
    untone = to_display_uint8(ramp, ocio_config="ocio://default", view="Un-tone-mapped")
    assert np.abs(untone.astype(int) - to_display_uint8(ramp)).max() <= 1
    # The default view (ACES 2.0 SDR) tone-maps: no clip at 1.0, highlights roll off.
    aces = to_display_uint8(ramp, ocio_config="ocio://default")[0, :, 0].astype(int)
    values = np.linspace(0.0, 8.0, 801)
    assert np.all(np.diff(aces) >= 0)
    assert aces[values == 1.0][0] < aces[values == 4.0][0] < aces[-1] < 255
    # A URI that went through pathlib.Path (ocio:/default) still works.
    again = to_display_uint8(ramp, ocio_config="ocio:/default")[0, :, 0]
    np.testing.assert_array_equal(again, aces)


def test_config_errors(tmp_path, tiny_config):
    ramp = _grey_ramp(n=4)
    with pytest.raises(ConfigError, match="missing.ocio"):
        to_display_uint8(ramp, ocio_config=tmp_path / "missing.ocio")
    with pytest.raises(ConfigError, match=r"no display 'P3' \(sRGB\)"):
        to_display_uint8(ramp, ocio_config=tiny_config, display="P3")
    with pytest.raises(ConfigError, match=r"no view 'Filmic' \(Standard, Gamma 2.2\)"):
        to_display_uint8(ramp, ocio_config=tiny_config, view="Filmic")
    with pytest.raises(ConfigError, match="no colourspace or role 'ACEScg'"):
        to_display_uint8(ramp, ocio_config=tiny_config, src="ACEScg")
    with pytest.raises(ConfigError, match="need an OCIO config"):
        to_display_uint8(ramp, view="Standard")
