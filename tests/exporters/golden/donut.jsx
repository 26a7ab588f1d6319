//@target aftereffects
// Rotoflow roto shapes for Adobe After Effects (ExtendScript, ES3).
// Run with File > Scripts > Run Script File. Creates a comp with one solid per object
// and one keyed mask per contour (holes subtract); coordinates are layer pixels, y down.
// Shot 1920x1080, pixel aspect 1, 24 fps, frames 1001-1010; 1 object(s), 3 contour(s).
(function () {
  var W = 1920, H = 1080, PA = 1, FPS = 24;
  var FIRST = 1001, LAST = 1010;
  var INTERPOLATION = KeyframeInterpolationType.LINEAR;
  function shp(v, tin, tout) {
    var s = new Shape();
    s.vertices = v;
    s.inTangents = tin;
    s.outTangents = tout;
    s.closed = true;
    return s;
  }
  function keyTimes(frames) {
    var t = [];
    for (var i = 0; i < frames.length; i++) {
      t.push((frames[i] - FIRST) / FPS);
    }
    return t;
  }
  function addMask(layer, name, mode, feather, offset, opacityKeys, frames, shapes) {
    var mask = layer.property("ADBE Mask Parade").addProperty("ADBE Mask Atom");
    mask.name = name;
    mask.maskMode = mode;
    mask.inverted = false;
    mask.rotoBezier = false;
    var path = mask.property("ADBE Mask Shape");
    path.setValuesAtTimes(keyTimes(frames), shapes);
    for (var k = 1; k <= path.numKeys; k++) {
      path.setInterpolationTypeAtKey(k, INTERPOLATION);
    }
    mask.property("ADBE Mask Feather").setValue([feather, feather]);
    var opacity = mask.property("ADBE Mask Opacity");
    if (opacityKeys === null) {
      opacity.setValue(100);
    } else {
      var times = [], values = [];
      for (var i = 0; i < opacityKeys.length; i++) {
        times.push((opacityKeys[i][0] - FIRST) / FPS);
        values.push(opacityKeys[i][1]);
      }
      opacity.setValuesAtTimes(times, values);
      for (var o = 1; o <= opacity.numKeys; o++) {
        opacity.setInterpolationTypeAtKey(o, KeyframeInterpolationType.HOLD);
      }
    }
    mask.property("ADBE Mask Offset").setValue(offset);
    mask.maskFeatherFalloff = MaskFeatherFalloff.FFO_LINEAR;
    return mask;
  }
  app.beginUndoGroup("Rotoflow roto import");
  try {
    var comp = app.project.items.addComp("roto", W, H, PA, (LAST - FIRST + 1) / FPS, FPS);
    comp.displayStartTime = FIRST / FPS;
    var layer;
    layer = comp.layers.addSolid([1, 1, 1], "donut", W, H, PA);
    addMask(layer, "donut", MaskMode.ADD, 4, 0, null, [1001, 1010], [
      shp([[960, 240], [1260, 540], [960, 840], [660, 540]],
          [[-165.685425, 0], [0, -165.685425], [165.685425, 0], [0, 165.685425]],
          [[165.685425, 0], [0, 165.685425], [-165.685425, 0], [0, -165.685425]]),
      shp([[1000, 220], [1320, 540], [1000, 860], [680, 540]],
          [[-176.73112, 0], [0, -176.73112], [176.73112, 0], [0, 176.73112]],
          [[176.73112, 0], [0, 176.73112], [-176.73112, 0], [0, -176.73112]])
    ]);
    addMask(layer, "donut_hole1", MaskMode.SUBTRACT, 0, 0, null, [1001, 1010], [
      shp([[840, 540], [960, 660], [1080, 540], [960, 420]],
          [[0, -66.27417], [-66.27417, 0], [0, 66.27417], [66.27417, 0]],
          [[0, 66.27417], [66.27417, 0], [0, -66.27417], [-66.27417, 0]]),
      shp([[860, 540], [1000, 680], [1140, 540], [1000, 400]],
          [[0, -77.319865], [-77.319865, 0], [0, 77.319865], [77.319865, 0]],
          [[0, 77.319865], [77.319865, 0], [0, -77.319865], [-77.319865, 0]])
    ]);
    addMask(layer, "donut_part2", MaskMode.ADD, 0, 0, [[1001, 0], [1004, 100]], [1004, 1010], [
      shp([[973.3333, 500], [1013.3333, 540], [973.3333, 580], [933.3333, 540]],
          [[-22.09139, 0], [0, -22.09139], [22.09139, 0], [0, 22.09139]],
          [[22.09139, 0], [0, 22.09139], [-22.09139, 0], [0, -22.09139]]),
      shp([[1000, 490], [1050, 540], [1000, 590], [950, 540]],
          [[-27.614237, 0], [0, -27.614237], [27.614237, 0], [0, 27.614237]],
          [[27.614237, 0], [0, 27.614237], [-27.614237, 0], [0, -27.614237]])
    ]);
    comp.openInViewer();
  } finally {
    app.endUndoGroup();
  }
})();
