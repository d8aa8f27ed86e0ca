"""tf.data pipelines and TFDS builders (mocked with tfds.testing.mock_data; nothing is downloaded).

TensorFlow takes seconds to import, so it is imported once, by the module-scoped fixture.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from PIL import Image

import leakcheck
from leakcheck.cli import main
from leakcheck.errors import DataNotFoundError, UsageError
from tests.synthetic import smooth_images


@pytest.fixture(scope="module")
def tf() -> ModuleType:
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def tfds(tf: ModuleType) -> ModuleType:
    return pytest.importorskip("tensorflow_datasets")


def _data() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    x = smooth_images(30, seed=51)
    test = x[24:].copy()
    test[:2] = x[:2]
    return {"train": (x[:24], np.arange(24) % 3), "test": (test, np.arange(6) % 3)}


def _messages(report: leakcheck.Report) -> set[tuple[str, str]]:
    return {(f.check, f.message) for f in report.findings}


def test_tf_data_tuples_and_dicts_batched_or_not_match_arrays(tf: Any) -> None:
    data = _data()
    expected = _messages(leakcheck.scan_arrays(data))
    unbatched = {s: tf.data.Dataset.from_tensor_slices((x, y)) for s, (x, y) in data.items()}
    assert _messages(leakcheck.scan_dataset(unbatched)) == expected
    batched = {s: tf.data.Dataset.from_tensor_slices((x, y)).batch(4) for s, (x, y) in data.items()}
    assert _messages(leakcheck.scan(batched)) == expected
    as_dicts = {
        s: tf.data.Dataset.from_tensor_slices({"image": x, "label": tf.one_hot(y, 3)}).batch(5)
        for s, (x, y) in data.items()
    }
    report = leakcheck.scan_dataset(as_dicts)
    assert _messages(report) == expected
    assert report.parameters["source"] == "tf.data"


def test_channels_first_tf_data_reads_as_the_arrays_do(tf: Any) -> None:
    """C x H x W elements (PyTorch's layout), one by one or batched, are the same images."""
    data = _data()
    expected = _messages(leakcheck.scan_arrays(data))
    chw = {s: (x.transpose(0, 3, 1, 2), y) for s, (x, y) in data.items()}
    for batch in (None, 4):
        splits = {}
        for s, (x, y) in chw.items():
            ds = tf.data.Dataset.from_tensor_slices((x, y))
            splits[s] = ds if batch is None else ds.batch(batch)
        report = leakcheck.scan_dataset(splits)
        assert [(s.split, s.images) for s in report.splits] == [("train", 24), ("test", 6)]
        assert _messages(report) == expected
    # Three 28 x 28 grayscale images batched with drop_remainder look like one C x H x W image;
    # batched=True says which.
    gray = tf.data.Dataset.from_tensor_slices(data["train"][0][..., 0]).batch(3, drop_remainder=True)
    assert leakcheck.scan_dataset({"train": gray}, batched=True).splits[0].images == 24


def test_fixed_size_batches_of_grayscale_images_are_told_by_their_labels(tf: Any) -> None:
    """batch(3, drop_remainder=True) of H x W images gives 3 x H x W elements, the shape of one C x H x W
    image: a label with the images' first axis says it is a batch; a scalar or a one-hot vector of
    another length says it is one image."""
    x = smooth_images(6, seed=55)[..., 0]
    slices = tf.data.Dataset.from_tensor_slices

    def classes(ds: Any, **kwargs: Any) -> list[tuple[str, int, dict[str, int]]]:
        report = leakcheck.scan_dataset({"train": ds}, **kwargs)
        return [(s.split, s.images, dict(s.classes)) for s in report.splits]

    ints = np.array([5, 7, 5, 7, 5, 7])
    assert classes(slices((x, ints)).batch(3, drop_remainder=True)) == [("train", 6, {"5": 3, "7": 3})]
    names = np.array(list("ababab"))
    assert classes(slices({"image": x, "label": names}).batch(3, drop_remainder=True)) == [
        ("train", 6, {"a": 3, "b": 3})
    ]
    one_hot = tf.one_hot(ints - 5, 3)
    assert classes(slices((x, one_hot)).batch(3, drop_remainder=True)) == [("train", 6, {"0": 3, "2": 3})]
    # One 3 x H x W image: with a scalar label, or a one-hot vector of 10 classes (or of 3: floats).
    chw = smooth_images(4, seed=56).transpose(0, 3, 1, 2)
    assert classes(slices((chw, np.arange(4) % 2))) == [("train", 4, {"0": 2, "1": 2})]
    assert classes(slices((chw, tf.one_hot(np.arange(4) % 2, 10)))) == [("train", 4, {"0": 2, "1": 2})]
    assert classes(slices((chw, tf.one_hot(np.arange(4) % 2, 3)))) == [("train", 4, {"0": 2, "1": 2})]
    # Told otherwise, a batch's labels are one line naming batched=.
    with pytest.raises(UsageError, match="pass batched=True"):
        leakcheck.scan_dataset({"train": slices((x, names)).batch(3, drop_remainder=True)}, batched=False)
    with pytest.raises(UsageError, match="holds 3 images and 10 labels"):
        leakcheck.scan_dataset({"train": slices((chw, tf.one_hot(np.arange(4), 10)))}, batched=True)


def test_tf_data_float_pipeline_against_uint8_train(tf: Any) -> None:
    """A test pipeline that forgot to rescale: the scale mismatch is an error and copies still match."""
    x_train, y_train = _data()["train"]
    x_test = x_train[:6]
    train = tf.data.Dataset.from_tensor_slices((x_train, y_train)).map(lambda im, y: (tf.cast(im, tf.float32) / 255, y))
    test = tf.data.Dataset.from_tensor_slices((x_test, y_train[:6])).map(lambda im, y: (tf.cast(im, tf.float32), y))
    report = leakcheck.scan_dataset({"train": train.batch(8), "test": test.batch(8)})
    problems = {f.metrics.get("problem"): f for f in report.findings if f.check == "pixel-normalization"}
    assert problems["scale-mismatch"].severity == leakcheck.Severity.ERROR
    leak = next(f for f in report.findings if f.check == "cross-split-duplicates")
    assert leak.metrics["leaked"] == 6


def test_bfloat16_pipeline_reads_as_its_float32_values(tf: Any) -> None:
    """bfloat16 (a mixed-precision pipeline's dtype) is not a numpy dtype: its values are read as float32."""
    x, y = _data()["train"]
    half = tf.cast(tf.constant(x, tf.float32) / 255, tf.bfloat16)
    as_float = tf.cast(half, tf.float32)
    for batch in (None, 5):
        splits = {}
        for name, images in (("bf16", half), ("f32", as_float)):
            ds = tf.data.Dataset.from_tensor_slices((images, y))
            splits[name] = ds if batch is None else ds.batch(batch)
        bf16 = leakcheck.scan_dataset({"train": splits["bf16"]})
        assert bf16.splits[0].images == 24
        assert _messages(bf16) == _messages(leakcheck.scan_dataset({"train": splits["f32"]}))


def test_generator_pipeline_of_unknown_length_streams(tf: Any) -> None:
    """A pipeline fed by a Python generator (unknown cardinality, variable image sizes) is read as it
    streams; a progress callback is only started when the total is known."""
    rng = np.random.default_rng(53)
    shapes = [(int(rng.integers(20, 40)), int(rng.integers(20, 40))) for _ in range(25)]

    def gen() -> Any:
        for i, (h, w) in enumerate(shapes):
            yield {"pixels": rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "target": np.int64(i % 2)}

    signature = {"pixels": tf.TensorSpec((None, None, 3), tf.uint8), "target": tf.TensorSpec((), tf.int64)}
    ds = tf.data.Dataset.from_generator(gen, output_signature=signature)
    started: list[int] = []
    report = leakcheck.scan_dataset(
        {"train": ds}, image_key="pixels", label_key="target", progress=lambda n: started.append(n) or (lambda k: None)
    )
    assert started == []
    assert report.splits[0].images == 25
    assert dict(report.splits[0].classes) == {"0": 13, "1": 12}
    sizes = next(f for f in report.findings if f.metrics.get("problem") == "sizes")
    assert sizes.metrics["width"]["min"] >= 20


def test_bad_tf_data_input(tf: Any) -> None:
    with pytest.raises(UsageError, match="needs a split name"):
        leakcheck.scan(tf.data.Dataset.range(3))  # type: ignore[arg-type]
    slices = tf.data.Dataset.from_tensor_slices
    x, y = np.zeros((4, 8, 8), np.uint8), np.arange(4)
    pairs = slices({"a": x, "b": x})
    with pytest.raises(UsageError, match="cannot tell which of"):
        leakcheck.scan_dataset({"train": pairs})
    # Nested dicts: one line naming the keys and the options, not an AttributeError.
    nested = {
        r"cannot tell which of \['features', 'label'\] holds the image \('features' holds nested entries\)"
        r".*image_key= and label_key=": slices({"features": {"image": x}, "label": y}),
        r"cannot tell which of \['pixels', 'meta'\].*image_key=": slices({"pixels": x, "meta": {"mask": x}}),
        r"the label part of each element is a dict, not a tensor.*label_key=": slices({"image": x, "label": {"id": y}}),
        "the label part of each element is a tuple, not a tensor": slices((x, (y, y))),
    }
    for message, ds in nested.items():
        with pytest.raises(UsageError, match=message):
            leakcheck.scan_dataset({"train": ds})
    # A nested entry that holds no image does not hide one: the only image-like entry is the image.
    report = leakcheck.scan_dataset({"train": slices({"pixels": x, "meta": {"id": y}})})
    assert report.splits[0].images == 4
    # An entry of unknown rank may be the image: it is the one, and its shape is then what is unknown.
    opaque = slices({"pixels": x, "id": y}).map(
        lambda e: {"pixels": tf.numpy_function(lambda v: v, [e["pixels"]], tf.uint8), "id": e["id"]}
    )
    with pytest.raises(UsageError, match="shape is unknown"):
        leakcheck.scan_dataset({"train": opaque})


def test_decoded_jpegs_are_images_whatever_the_channels_say(tf: Any) -> None:
    """tf.io.decode_jpeg without channels= leaves the shape (None, None, None): one image, not a batch."""
    import io

    x = smooth_images(10, seed=54)

    def jpegs(images: np.ndarray) -> list[bytes]:
        out = []
        for im in images:
            buf = io.BytesIO()
            Image.fromarray(im).save(buf, "JPEG", quality=95)
            out.append(buf.getvalue())
        return out

    train, test = jpegs(x[:8]), jpegs(np.concatenate([x[:2], x[8:]]))

    def decoded(data: list[bytes]) -> Any:
        ds = tf.data.Dataset.from_tensor_slices((data, np.arange(len(data)) % 2))
        return ds.map(lambda s, y: (tf.io.decode_jpeg(s), y))

    report = leakcheck.scan_dataset({"train": decoded(train), "test": decoded(test)})
    assert [(s.split, s.images) for s in report.splits] == [("train", 8), ("test", 4)]
    leak = next(f for f in report.findings if f.check == "cross-split-duplicates")
    assert leak.metrics["leaked"] == 2


def test_pipelines_a_scan_cannot_read_are_usage_errors(tf: Any) -> None:
    x, y = _data()["train"]
    slices = tf.data.Dataset.from_tensor_slices
    cases = {
        "repeats forever": slices((x, y)).repeat().batch(8),
        "batches of vectors of length 3072": slices((x.reshape(len(x), -1), y)).batch(8),
        # Flattened images one by one, or in batches of a fixed size (the labels say they are batches).
        r"images are vectors of length 3072, not H x W.*tf.reshape\(v, \(32, 32, 3\)\)": slices(x.reshape(len(x), -1)),
        "images are vectors of length 3072": slices((x.reshape(len(x), -1), y)),
        "images are numbers": slices(y),
        r"batches of vectors of length 3072, not images.*\(32, 32, 3\)": slices((x.reshape(len(x), -1), y)).batch(
            8, drop_remainder=True
        ),
        "not a tensor": slices(((x, y), y)),
        r"images are strings \(file paths or encoded image bytes\?\).*decode_image": slices(
            (["a.png", "b.png"], [0, 1])
        ),
        "images are strings": slices({"image": [b"\x89PNG", b"\xff\xd8"], "label": [0, 1]}).batch(2),
        "shape is unknown": slices((x, y)).map(
            lambda a, b: (tf.numpy_function(lambda v: v, [a], tf.uint8), b)  # type: ignore[no-any-return]
        ),
    }
    for message, ds in cases.items():
        with pytest.raises(UsageError, match=message):
            leakcheck.scan_dataset({"train": ds})
    with pytest.raises(UsageError, match="batched=True, but its elements are single images"):
        leakcheck.scan_dataset({"train": slices((x, y))}, batched=True)
    # An empty split is reported as one, as an empty folder is.
    report = leakcheck.scan_dataset({"train": slices((x, y)), "test": slices((x, y)).take(0).batch(4)})
    assert [(s.split, s.images) for s in report.splits] == [("train", 24), ("test", 0)]
    # So is one whose emptiness TF cannot know before it is read (unknown cardinality).
    for empty in (slices((x, y)).filter(lambda a, b: False), slices((x, y)).batch(4).filter(lambda a, b: False)):
        report = leakcheck.scan_dataset({"train": slices((x, y)), "test": empty})
        assert [(s.split, s.images) for s in report.splits] == [("train", 24), ("test", 0)]
        assert "test: no images" in {f.message for f in report.findings}


def test_only_a_known_infinite_pipeline_is_refused_and_take_bounds_the_others(tf: Any) -> None:
    """As docs/sources.md says: TF knows .repeat() (then .map, .batch) is endless; .repeat().filter(...) has
    unknown cardinality, like any filtered pipeline, and .take(N) is what bounds it."""
    x, y = _data()["train"]
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    with pytest.raises(UsageError, match=r"repeats forever.*\.take\(N\)"):
        leakcheck.scan_dataset({"train": ds.repeat().map(lambda a, b: (a, b)).batch(4)})
    endless = ds.repeat().filter(lambda a, b: True)
    assert int(endless.cardinality()) == int(tf.data.UNKNOWN_CARDINALITY)
    report = leakcheck.scan_dataset({"train": endless.take(30)})
    assert report.splits[0].images == 30


def _prepare_metadata(tfds: Any, data_dir: Path, name: str, sizes: dict[str, int]) -> None:
    """Write a builder's real metadata (dataset_info.json, features.json) as `tfds build` would, with no
    examples: mock_data then serves the examples, and the builder counts as prepared."""
    builder = tfds.builder(name, data_dir=str(data_dir))
    splits = [tfds.core.SplitInfo(name=s, shard_lengths=[n], num_bytes=0) for s, n in sizes.items()]
    builder.info.set_splits(tfds.core.SplitDict(splits))
    Path(builder.data_path).mkdir(parents=True)
    builder.info.write_to_directory(builder.data_path)


def test_tfds_mnist_through_mock_data_matches_npz(tfds: Any, tf: Any, tmp_path: Path) -> None:
    x = np.stack([np.asarray(Image.fromarray(im[..., 0]).resize((28, 28))) for im in smooth_images(40, seed=52)])
    x = x[..., None]
    y = np.arange(40) % 10
    splits = {"train": (x[:30], y[:30]), "test": (np.concatenate([x[:3], x[30:37]]), y[30:40])}

    def as_dataset(self: Any, split: Any, **kwargs: Any) -> Any:
        images, labels = splits[str(split)]
        return tf.data.Dataset.from_tensor_slices({"image": images, "label": labels.astype(np.int64)})

    _prepare_metadata(tfds, tmp_path, "mnist", {"train": 30, "test": 10})
    with tfds.testing.mock_data(data_dir=str(tmp_path), as_dataset_fn=as_dataset):
        report = leakcheck.scan_tfds("mnist", data_dir=tmp_path)
        assert main(["scan", "tfds:mnist", "--data-dir", str(tmp_path), "-q"]) == 1
    assert report.root == "tfds:mnist"
    assert dict(report.splits[0].classes) == {str(d): 3 for d in range(10)}  # mnist's ClassLabel names
    npz = tmp_path / "same.npz"
    np.savez(npz, x_train=splits["train"][0], y_train=splits["train"][1], x_test=splits["test"][0],
             y_test=splits["test"][1])  # fmt: skip
    assert _messages(report) == _messages(leakcheck.scan(npz))
    leak = next(f for f in report.findings if f.check == "cross-split-duplicates")
    assert leak.samples == ("test[0]", "test[1]", "test[2]")


def test_tfds_random_mock_examples_repeat_across_splits(tfds: Any, tmp_path: Path) -> None:
    """mock_data's own generator yields the same examples for every split: a 100% leak."""
    _prepare_metadata(tfds, tmp_path, "mnist", {"train": 8, "test": 8})
    with tfds.testing.mock_data(num_examples=8, data_dir=str(tmp_path)):
        report = leakcheck.scan("tfds:mnist", data_dir=tmp_path)
    leak = next(f for f in report.findings if f.check == "cross-split-duplicates")
    assert leak.message == "test: 8 of 8 images (100.0%) also appear in train"


def test_unprepared_tfds_names_the_command(tfds: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DataNotFoundError) as caught:
        leakcheck.scan_tfds("tfds:cifar10", data_dir=tmp_path)
    assert f"tfds build cifar10 --data_dir {tmp_path}" in str(caught.value)
    assert "download_and_prepare()" in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # nothing was downloaded or created
    assert main(["scan", "tfds:no_such_dataset_xyz", "--data-dir", str(tmp_path), "-q"]) == 2
    assert "no such TFDS dataset" in capsys.readouterr().err
    # A version TFDS does not have: one line (TFDS asserts), naming the versions it has.
    assert main(["scan", "tfds:mnist:9.9.9", "--data-dir", str(tmp_path), "-q", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "cannot be loaded at version 9.9.9" in err
    assert "Traceback" not in err


def test_tfds_data_dir_expands_the_home_folder(tfds: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(DataNotFoundError, match=f"not prepared in {tmp_path}/tensorflow_datasets"):
        leakcheck.scan_tfds("cifar10", data_dir="~/tensorflow_datasets")


def test_tfds_builder_with_an_image_and_a_mask_scans_the_image(tfds: Any, tf: Any, tmp_path: Path) -> None:
    """Two Image features (a segmentation set's image and mask): the one named `image` is the image."""

    class ImageAndMask(tfds.core.GeneratorBasedBuilder):  # type: ignore[misc]
        VERSION = tfds.core.Version("1.0.0")

        def _info(self) -> Any:
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(8, 8, 3)), "mask": tfds.features.Image(shape=(8, 8, 1)),
                "label": tfds.features.ClassLabel(names=["a", "b"])}))  # fmt: skip

        def _split_generators(self, dl_manager: Any) -> Any:
            raise AssertionError("never prepared here: mock_data serves the examples")

        def _generate_examples(self) -> Any:
            raise AssertionError("never prepared here")

    def as_dataset(self: Any, split: Any, **kwargs: Any) -> Any:
        shade = {"train": np.arange(4) * 30, "test": np.array([0, 30, 200, 230])}[str(split)]
        images = np.broadcast_to(shade[:, None, None, None], (4, 8, 8, 3)).astype(np.uint8)
        return tf.data.Dataset.from_tensor_slices(
            {"image": images, "mask": np.zeros((4, 8, 8, 1), np.uint8), "label": np.arange(4) % 2}
        )

    _prepare_metadata(tfds, tmp_path, "image_and_mask", {"train": 4, "test": 4})
    with tfds.testing.mock_data(data_dir=str(tmp_path), as_dataset_fn=as_dataset):
        report = leakcheck.scan_tfds("image_and_mask", data_dir=tmp_path, cache=False)
    assert [(s.split, s.images) for s in report.splits] == [("train", 4), ("test", 4)]
    leak = next(f for f in report.findings if f.check == "cross-split-duplicates")
    assert leak.samples == ("test[0]", "test[1]")
