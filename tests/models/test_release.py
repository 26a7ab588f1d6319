"""Release assets in the model store: YOLOX-Nano's ONNX file added as one file, pulled from a
loopback server laid out as GitHub's release downloads, or replaced by an explicit file
(``ROTOFLOW_YOLOX_MODEL``). Nothing here reaches the network."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from functools import partial

import pytest

from models import store as modelstore
from models.store import MANIFEST, ModelStore, spec
from rotoflow.errors import ModelNotAvailable
from tests.models.test_store import sha

YOLOX_NAME = "yolox-nano"
YOLOX_FOLDER = "Megvii-BaseDetection/YOLOX/yolox-nano"


def test_yolox_is_a_release_asset_entry(tmp_path):
    s = spec(YOLOX_NAME)
    assert (s.kind, s.source, s.repo_id, s.release, s.weights) == (
        "onnx",
        "release",
        "Megvii-BaseDetection/YOLOX",
        "0.1.1rc0",
        "yolox_nano.onnx",
    )
    assert s.folder == YOLOX_FOLDER and s.stages == ("detector",)
    assert ModelStore(tmp_path).path(YOLOX_NAME) == tmp_path / YOLOX_FOLDER


def test_add_a_single_weights_file(tmp_path, yolox_path):
    store = ModelStore(tmp_path / "models", offline=True)
    staged = store.add(YOLOX_NAME, yolox_path)
    assert staged.path == tmp_path / "models" / YOLOX_FOLDER
    assert staged.weights == staged.path / "yolox_nano.onnx"
    assert staged.files == {"yolox_nano.onnx": sha(yolox_path)}
    assert staged.version == "local" and store.is_staged(YOLOX_NAME)
    assert store.verify(YOLOX_NAME) == []
    assert store.resolve(YOLOX_NAME) == staged
    # The store's own file adds its folder in place.
    assert store.add(YOLOX_NAME, staged.weights).sha256 == staged.sha256
    with pytest.raises(ModelNotAvailable, match="is not a folder or a yolox_nano.onnx file"):
        store.add(YOLOX_NAME, tmp_path / "nowhere.onnx")


def test_missing_release_asset_offline_names_every_way_to_stage_it(tmp_path, monkeypatch):
    monkeypatch.setattr(modelstore.release, "GITHUB", "http://127.0.0.1:9")
    for store, why in (
        (ModelStore(tmp_path, offline=True), "offline mode is on"),
        (ModelStore(tmp_path), "GitHub is unreachable (http://127.0.0.1:9)"),
    ):
        with pytest.raises(ModelNotAvailable) as info:
            store.resolve(YOLOX_NAME)
        msg = str(info.value)
        assert "\n" not in msg
        for part in (
            "'yolox-nano' (Megvii-BaseDetection/YOLOX release 0.1.1rc0)",
            f"no folder {tmp_path / YOLOX_FOLDER}",
            why,
            "rotoflow models pull yolox-nano --dir DIR",
            f"DIR/{YOLOX_FOLDER}",
            "rotoflow models add yolox-nano FILE",
            "ROTOFLOW_MODEL_DIR",
            "ROTOFLOW_YOLOX_MODEL to the file",
        ):
            assert part in msg, msg


@pytest.fixture
def github(tmp_path, monkeypatch, yolox_path):
    """A loopback server laid out as GitHub's release downloads, holding YOLOX-Nano's asset."""
    root = tmp_path / "github"
    asset = root / "Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx"
    asset.parent.mkdir(parents=True)
    shutil.copy(yolox_path, asset)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(modelstore.release, "GITHUB", f"http://127.0.0.1:{server.server_port}")
    yield
    server.shutdown()
    server.server_close()


def test_pull_a_release_asset_from_github(tmp_path, github, yolox_path):
    store = ModelStore(tmp_path / "models")
    staged = store.resolve(YOLOX_NAME)  # missing: pulled from the release
    assert staged.path == tmp_path / "models" / YOLOX_FOLDER
    assert staged.revision == "0.1.1rc0" and staged.version == "0.1.1rc0"
    assert sha(staged.weights) == sha(yolox_path)
    assert json.loads((staged.path / MANIFEST).read_text())["revision"] == "0.1.1rc0"
    assert store.verify(YOLOX_NAME) == []

    # A tag the release does not have fails in one line and leaves the staged model as it was.
    with pytest.raises(ModelNotAvailable) as info:
        store.pull(YOLOX_NAME, revision="9.9.9")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(
        "cannot pull 'yolox-nano' (Megvii-BaseDetection/YOLOX release 0.1.1rc0): HTTP Error 404"
    )
    assert store.verify(YOLOX_NAME) == []
    assert [p.name for p in store.path(YOLOX_NAME).parent.iterdir()] == ["yolox-nano"]


def test_an_explicit_file_replaces_the_store_entry(tmp_path, yolox_path):
    store = ModelStore(tmp_path, offline=True)
    assert store.resolve_all([YOLOX_NAME], files={YOLOX_NAME: yolox_path}) == {}
    with pytest.raises(ModelNotAvailable) as info:
        store.resolve_all([YOLOX_NAME], files={YOLOX_NAME: tmp_path / "gone.onnx"})
    assert str(info.value) == (
        f"model 'yolox-nano': ROTOFLOW_YOLOX_MODEL names no file at {tmp_path / 'gone.onnx'}; "
        "point it at the yolox_nano.onnx file, or unset it to use the model store"
    )
