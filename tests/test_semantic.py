"""The optional semantic tier: a tiny Keras model built and saved here, never a download."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from leakcheck.cli import main
from leakcheck.errors import UsageError
from leakcheck.near.semantic import SemanticWeightsMissing, load_embedder
from leakcheck.render.terminal import render_terminal
from leakcheck.scanning import scan

# Keras 3 on TensorFlow converts variables with np.array(x, copy=False), which numpy 2 flags; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


COLOURS = ((220, 30, 30), (30, 200, 40), (40, 40, 230), (230, 220, 40), (120, 40, 160))


def _dataset(root: Path) -> None:
    """Five textured images of five different dominant colours (train 3, test 2)."""
    rng = np.random.default_rng(0)
    for k, colour in enumerate(COLOURS):
        split = "train" if k < 3 else "test"
        (root / split / "c").mkdir(parents=True, exist_ok=True)
        texture = rng.uniform(0.5, 1.0, (8, 8, 1)) * np.array(colour)
        img = Image.fromarray(texture.astype(np.uint8)).resize((48, 48), Image.Resampling.BICUBIC)
        img.save(root / split / "c" / f"{k}.png")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keras = pytest.importorskip("keras")
    inputs = keras.Input((32, 32, 3))
    # Non-negative weights on non-negative pixels: every embedding is non-negative, every cosine >= 0.
    kernel = keras.initializers.RandomUniform(0.0, 1.0, seed=1)
    x = keras.layers.Conv2D(8, 3, activation="relu", kernel_initializer=kernel, bias_initializer="zeros")(inputs)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def test_semantic_tier_lists_similar_pairs_from_a_local_model(tmp_path: Path, tiny_model: Path) -> None:
    _dataset(tmp_path / "data")
    report = scan(tmp_path / "data", jobs=1, semantic=tiny_model, semantic_min_similarity=0.0)
    similar = [r for r in report.relations if r.kind == "similar"]
    assert len(similar) == 10  # every pair of the 5 distinct images
    assert all(0.0 <= r.score <= 1.0 and "tiny.keras" in r.explanation for r in similar)
    assert report.parameters["semantic"] == str(tiny_model)
    # "similar" pairs are listed, never counted as copies.
    assert not report.leaking
    console = Console(record=True, width=200)
    console.print(render_terminal(report))
    text = console.export_text()
    assert "semantically similar pairs (not copies) (10)" in text
    assert "near-duplicate pairs" not in text
    assert text.rstrip().endswith("0 duplicate pairs, 10 similar pairs")
    strict = scan(tmp_path / "data", jobs=1, semantic=tiny_model, semantic_min_similarity=0.9999)
    assert len([r for r in strict.relations if r.kind == "similar"]) < len(similar)


def test_missing_application_weights_say_where_and_never_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(SemanticWeightsMissing, match="never downloads") as info:
        load_embedder("mobilenet_v2")
    assert str(tmp_path / "keras" / "models") in str(info.value)


def test_cli_reports_a_missing_model_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _dataset(tmp_path / "data")
    code = main(["scan", str(tmp_path / "data"), "-q", "--semantic", str(tmp_path / "nope.keras")])
    err = capsys.readouterr().err
    assert code == 2
    assert "nope.keras: no such model file" in err
    assert "Traceback" not in err


def test_models_that_cannot_embed_and_in_memory_data_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keras = pytest.importorskip("keras")
    _dataset(tmp_path / "data")

    def saved(name: str, inputs: object, outputs: object) -> Path:
        path = tmp_path / f"{name}.keras"
        keras.Model(inputs, outputs).save(path)
        return path

    gray = keras.Input((32, 32, 1))
    rgb = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(rgb)
    models = {
        "takes inputs of shape (None, 32, 32, 1)": saved("gray", gray, keras.layers.GlobalAveragePooling2D()(gray)),
        "gives 1 number per image": saved("score", rgb, keras.layers.Dense(1)(pooled)),
        "has 2 outputs": saved("two", rgb, [pooled, keras.layers.Dense(4)(pooled)]),
    }
    for message, model in models.items():
        assert main(["scan", str(tmp_path / "data"), "-q", "--no-cache", "--semantic", str(model)]) == 2
        err = capsys.readouterr().err
        assert message in err
        assert len(err.strip().splitlines()) == 1
    with pytest.raises(UsageError, match="semantic similarity needs image files"):
        scan({"train": np.zeros((2, 8, 8, 3), dtype=np.uint8)}, semantic=models["has 2 outputs"])


def test_plain_scan_never_imports_tensorflow(tmp_path: Path) -> None:
    _dataset(tmp_path / "data")
    code = (
        "import sys, leakcheck; leakcheck.scan(sys.argv[1], jobs=1);"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "data")], check=True, cwd=Path(__file__).parents[1])


def test_an_image_that_fails_to_decode_again_embeds_as_a_black_square(tmp_path: Path) -> None:
    """The scan decoded it, then it changed (or it is above Pillow's own limit): no traceback."""
    from leakcheck.near.semantic import _pixels

    broken = tmp_path / "x.jpg"
    broken.write_bytes(b"\xff\xd8\xff not a JPEG any more")
    assert _pixels(broken, 32).shape == (32, 32, 3)
    assert not _pixels(broken, 32).any()
    good = tmp_path / "y.png"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(good)
    assert _pixels(good, 32)[0, 0].tolist() == [200, 10, 10]
