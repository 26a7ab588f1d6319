"""A stand-in After Effects for node: runs a roto ``.jsx`` and rebuilds what it made.

The stub DOM (``app``, ``CompItem``, ``Shape``, ``MaskMode``, ``KeyframeInterpolationType``, ...)
refuses unknown properties and malformed calls, records every comp, solid, mask and key, and prints
them as JSON. Used by the exporter tests and by ``benchmarks/shapes_davis.py``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

from exporters.lifetime import lifetime_from_opacity
from rotoflow.geometry import rasterize_shapes
from rotoflow.types import RotoShape, ShapeKey, ShotFormat

NODE = shutil.which("node") or "/usr/bin/node"

#: Stub After Effects DOM for node: records the script's calls and prints them as JSON.
HARNESS_JS = r"""// Stub After Effects DOM: records what a roto .jsx does, then prints it as JSON.
"use strict";
var fs = require("fs");
var vm = require("vm");

function fail(msg) { throw new Error("stub AE: " + msg); }
function strict(obj, label) {
  return new Proxy(obj, {
    get: function (t, k) {
      if (typeof k === "symbol" || k in t) return t[k];
      fail("read of unknown " + label + "." + String(k));
    },
    set: function (t, k, v) {
      if (!(k in t)) fail("write of unknown " + label + "." + String(k));
      t[k] = v;
      return true;
    },
  });
}
function num(v, what) { if (typeof v !== "number" || !isFinite(v)) fail(what + " is not a number: " + v); }
function pairs(a, what) {
  if (!Array.isArray(a)) fail(what + " is not an array");
  a.forEach(function (p) {
    if (!Array.isArray(p) || p.length !== 2) fail(what + " item is not [x, y]");
    num(p[0], what); num(p[1], what);
  });
  return a.length;
}
var ENUMS = {
  MaskMode: ["ADD", "SUBTRACT", "INTERSECT", "LIGHTEN", "DARKEN", "DIFFERENCE", "NONE"],
  KeyframeInterpolationType: ["LINEAR", "BEZIER", "HOLD"],
  MaskFeatherFalloff: ["FFO_LINEAR", "FFO_SMOOTH"],
};
Object.keys(ENUMS).forEach(function (e) {
  var o = {};
  ENUMS[e].forEach(function (n) { o[n] = e + "." + n; });
  globalThis[e] = strict(o, e);
});
globalThis.Shape = function Shape() {
  this.vertices = []; this.inTangents = []; this.outTangents = []; this.closed = true;
  return strict(this, "Shape");
};
function Prop(kind) {
  this.kind = kind; this.value = null; this.times = []; this.values = []; this.interp = {};
}
Prop.prototype.setValue = function (v) {
  if (arguments.length !== 1 || this.kind === "shape") fail("setValue");
  if (this.kind === "pair" && pairs([v], "feather") !== 1) fail("feather");
  if (this.kind === "number") num(v, "mask value");
  if (this.times.length) fail("setValue on a property with keys");
  this.value = v;
};
Prop.prototype.setValuesAtTimes = function (times, values) {
  if (this.kind === "pair" || arguments.length !== 2) fail("setValuesAtTimes");
  if (this.value !== null) fail("setValuesAtTimes after setValue");
  if (!Array.isArray(times) || !Array.isArray(values) || times.length !== values.length) fail("times/values");
  var self = this;
  times.forEach(function (t, i) {
    num(t, "key time");
    if (self.times.length && t <= self.times[self.times.length - 1]) fail("key times not increasing");
    var s = values[i];
    if (self.kind === "number") {
      num(s, "key value");
      self.times.push(t);
      self.values.push(s);
      return;
    }
    if (!(s instanceof globalThis.Shape)) fail("value is not a Shape");
    var n = pairs(s.vertices, "vertices");
    if (pairs(s.inTangents, "inTangents") !== n || pairs(s.outTangents, "outTangents") !== n) fail("tangent counts");
    if (self.values.length && self.values[0].vertices.length !== n) fail("vertex count changes");
    self.times.push(t);
    self.values.push({ vertices: s.vertices, inTangents: s.inTangents, outTangents: s.outTangents, closed: s.closed });
  });
};
Object.defineProperty(Prop.prototype, "numKeys", { get: function () { return this.times.length; } });
Prop.prototype.setInterpolationTypeAtKey = function (k, inType, outType) {
  if (k !== Math.floor(k) || k < 1 || k > this.times.length) fail("key index " + k);
  if (ENUMS.KeyframeInterpolationType.map(function (n) { return "KeyframeInterpolationType." + n; }).indexOf(inType) < 0) fail("interpolation " + inType);
  this.interp[k] = outType === undefined ? inType : inType + "/" + outType;
};
function Mask() {
  var props = {
    "ADBE Mask Shape": new Prop("shape"), "ADBE Mask Feather": new Prop("pair"),
    "ADBE Mask Opacity": new Prop("number"), "ADBE Mask Offset": new Prop("number"),
  };
  this.name = ""; this.maskMode = "MaskMode.ADD"; this.inverted = false; this.rotoBezier = true;
  this.maskFeatherFalloff = "MaskFeatherFalloff.FFO_SMOOTH";  // After Effects' default
  this.property = function (n) { if (!(n in props)) fail("mask property " + n); return props[n]; };
  this.record = function () {
    var modes = ENUMS.MaskMode.map(function (n) { return "MaskMode." + n; });
    if (modes.indexOf(this.maskMode) < 0) fail("mask mode " + this.maskMode);
    var falloffs = ENUMS.MaskFeatherFalloff.map(function (n) { return "MaskFeatherFalloff." + n; });
    if (falloffs.indexOf(this.maskFeatherFalloff) < 0) fail("feather falloff " + this.maskFeatherFalloff);
    var shape = props["ADBE Mask Shape"];
    var keys = [];
    for (var k = 1; k <= shape.numKeys; k++) keys.push(shape.interp[k] || null);
    var opacity = props["ADBE Mask Opacity"];
    var opacityKeys = [];
    for (var o = 1; o <= opacity.numKeys; o++) {
      opacityKeys.push([opacity.times[o - 1], opacity.values[o - 1], opacity.interp[o] || null]);
    }
    return {
      name: this.name, mode: this.maskMode, inverted: this.inverted, rotoBezier: this.rotoBezier,
      times: shape.times, shapes: shape.values, interpolation: keys,
      feather: props["ADBE Mask Feather"].value, opacity: opacity.value, opacityKeys: opacityKeys,
      offset: props["ADBE Mask Offset"].value, falloff: this.maskFeatherFalloff,
    };
  };
}
var comps = [];
var undo = { open: 0, begun: 0, ended: 0 };
function Comp(args) {
  var layers = [];
  this.name = args[0]; this.width = args[1]; this.height = args[2]; this.pixelAspect = args[3];
  this.duration = args[4]; this.frameRate = args[5]; this.displayStartTime = 0; this.opened = false;
  this.openInViewer = function () { this.opened = true; };
  this.layers = strict({
    addSolid: function (color, name, w, h, pa) {
      if (arguments.length < 5 || arguments.length > 6) fail("addSolid arguments");
      if (!Array.isArray(color) || color.length !== 3) fail("solid colour");
      var masks = [];
      var layer = {
        name: name, color: color, width: w, height: h, pixelAspect: pa, masks: masks,
        property: function (n) {
          if (n !== "ADBE Mask Parade") fail("layer property " + n);
          return strict({ addProperty: function (m) {
            if (m !== "ADBE Mask Atom") fail("addProperty " + m);
            var mask = strict(new Mask(), "MaskPropertyGroup");
            masks.push(mask);
            return mask;
          } }, "MaskParade");
        },
      };
      layers.push(layer);
      return strict(layer, "AVLayer");
    },
  }, "LayerCollection");
  this.record = function () {
    return {
      name: this.name, width: this.width, height: this.height, pixelAspect: this.pixelAspect,
      duration: this.duration, frameRate: this.frameRate, displayStartTime: this.displayStartTime,
      opened: this.opened,
      layers: layers.map(function (l) {
        return { name: l.name, color: l.color, width: l.width, height: l.height,
                 pixelAspect: l.pixelAspect, masks: l.masks.map(function (m) { return m.record(); }) };
      }),
    };
  };
}
globalThis.app = strict({
  beginUndoGroup: function (name) { if (typeof name !== "string") fail("undo name"); undo.open++; undo.begun++; },
  endUndoGroup: function () { if (undo.open < 1) fail("endUndoGroup without begin"); undo.open--; undo.ended++; },
  project: strict({ items: strict({ addComp: function () {
    if (arguments.length !== 6) fail("addComp takes 6 arguments");
    var c = strict(new Comp(Array.prototype.slice.call(arguments)), "CompItem");
    comps.push(c);
    return c;
  } }, "ItemCollection") }, "Project"),
}, "Application");

vm.runInThisContext(fs.readFileSync(process.argv[2], "utf8"), { filename: process.argv[2] });
process.stdout.write(JSON.stringify({ undo: undo, comps: comps.map(function (c) { return c.record(); }) }));
"""


def run_node(tmp_path: Path, script: str) -> subprocess.CompletedProcess:
    """Run ``script`` under node against the stub DOM in folder ``tmp_path``: the finished
    process, its output (the recorded calls as JSON) and errors as text."""
    (tmp_path / "harness.js").write_text(HARNESS_JS, encoding="utf-8")
    (tmp_path / "roto.jsx").write_text(script, encoding="utf-8")
    return subprocess.run(
        [NODE, str(tmp_path / "harness.js"), str(tmp_path / "roto.jsx")],
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_stub(tmp_path: Path, script: str) -> dict:
    """The calls ``script`` makes on the stub DOM (:func:`run_node`). Raises AssertionError with
    node's errors when the script fails."""
    result = run_node(tmp_path, script)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def rebuilt_objects(run: dict, fmt: ShotFormat) -> list[list[tuple[str, RotoShape]]]:
    """Per solid, its masks in order as ``(mask mode, contour)``, rebuilt from what the stub
    recorded: key frames from key times, ``hole`` from ``MaskMode.SUBTRACT``, ``feather`` from
    ``ADBE Mask Feather`` and the band from it and ``ADBE Mask Offset`` (a linear ramp, the
    falloff the script must set, centred on the expanded path), and the lifetime from the hold
    keys of ``ADBE Mask Opacity`` (the whole shot for a constant opacity of 100, the path held
    outside its keys). Each solid is one object: contours take its name and id (its index)."""
    objects = []
    for n, layer in enumerate(run["comps"][0]["layers"], 1):
        masks = []
        for c, mask in enumerate(layer["masks"]):
            keys = [
                ShapeKey(
                    round(fmt.first_frame + t * fmt.fps),
                    np.stack(
                        [
                            np.array(s["vertices"]),
                            np.array(s["inTangents"]),
                            np.array(s["outTangents"]),
                        ],
                        axis=1,
                    ).astype(np.float64),
                )
                for t, s in zip(mask["times"], mask["shapes"], strict=True)
            ]
            feather_x, feather_y = mask["feather"]
            assert feather_x == feather_y
            hole = mask["mode"] == "MaskMode.SUBTRACT"
            # a linear ramp feather_x wide, centred on the path moved `offset` out of the loop
            shift = -mask["offset"] if hole else mask["offset"]  # away from the filled side
            band = None
            if feather_x > 0:
                assert mask["falloff"] == "MaskFeatherFalloff.FFO_LINEAR"
                half = feather_x / 2
                band = np.tile([half - shift, half + shift], (len(keys[0].points), 1))
            opacity = []
            for t, value, interp in mask["opacityKeys"]:
                assert interp == "KeyframeInterpolationType.HOLD", interp
                opacity.append((round(fmt.first_frame + t * fmt.fps), value))
            if not opacity:
                assert mask["opacity"] == 100
            life = lifetime_from_opacity(opacity, fmt)
            shape = RotoShape(
                n,
                layer["name"],
                keys,
                contour=c,
                hole=hole,
                feather=feather_x,
                band=band,
                lifetime=life,
            )
            masks.append((mask["mode"], shape))
        objects.append(masks)
    return objects


def ae_matte(masks: list[tuple[str, RotoShape]], frame: int, fmt: ShotFormat) -> np.ndarray:
    """A solid's alpha as After Effects composites its masks (hard edges): top to bottom, each
    mask's fill added or subtracted where its opacity is 100 (its rebuilt lifetime); a path
    holds its first and last keys outside its keyed range."""
    matte = np.zeros((fmt.height, fmt.width), dtype=bool)
    for mode, shape in masks:
        first, last = shape.lifetime or (fmt.first_frame, fmt.last_frame)
        if not first <= frame <= last:
            continue
        held = RotoShape(0, "", shape.keys, lifetime=(fmt.first_frame, fmt.last_frame))
        fill = rasterize_shapes([held], frame, fmt.width, fmt.height)
        assert mode in ("MaskMode.ADD", "MaskMode.SUBTRACT")
        matte = matte & ~fill if mode == "MaskMode.SUBTRACT" else matte | fill
    return matte
