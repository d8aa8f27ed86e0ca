# %% [markdown]
# # Auditing TFDS datasets and tf.data pipelines with leakcheck
#
# leakcheck reads TFDS datasets that are already prepared on disk and never downloads. To run offline,
# this script uses `tfds.testing.mock_data` with the real `mnist` builder: the builder's real metadata is
# written to a temporary data directory (as `tfds build` would), and mock_data serves the examples.
# With a real prepared dataset you would just call `leakcheck.scan_tfds("mnist", data_dir=...)`.
#
# Needs the `tf` extra: `pip install 'leakcheck-images[tf]'`.

# %%
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

import leakcheck

data_dir = Path(tempfile.mkdtemp(prefix="leakcheck-tfds-"))

# %% [markdown]
# ## Not prepared yet: leakcheck says how to prepare it

# %%
try:
    leakcheck.scan_tfds("mnist", data_dir=data_dir)
except leakcheck.DataNotFoundError as exc:
    print(exc)

# %% [markdown]
# ## A prepared dataset (mocked)
# Write mnist's metadata with two splits, then serve examples: 200 training digits, and a test split in
# which 20 of 60 images repeat training images.

# %%
builder = tfds.builder("mnist", data_dir=str(data_dir))
builder.info.set_splits(
    tfds.core.SplitDict(
        [
            tfds.core.SplitInfo(name="train", shard_lengths=[200], num_bytes=0),
            tfds.core.SplitInfo(name="test", shard_lengths=[60], num_bytes=0),
        ]
    )
)
Path(builder.data_path).mkdir(parents=True, exist_ok=True)
builder.info.write_to_directory(builder.data_path)

rng = np.random.default_rng(0)
coarse = rng.integers(0, 256, (260, 8, 8, 1)).astype(np.float32)
digits = tf.cast(tf.clip_by_value(tf.image.resize(coarse, (28, 28), method="bicubic"), 0, 255), tf.uint8).numpy()
labels = rng.permutation(np.arange(260) % 10)
test_images = np.concatenate([digits[:20], digits[200:240]])
test_labels = np.concatenate([labels[:20], labels[200:240]])
splits = {"train": (digits[:200], labels[:200]), "test": (test_images, test_labels)}


def as_dataset(self, split, **kwargs):
    images, ys = splits[str(split)]
    return tf.data.Dataset.from_tensor_slices({"image": images, "label": ys.astype(np.int64)})


with tfds.testing.mock_data(data_dir=str(data_dir), as_dataset_fn=as_dataset):
    report = leakcheck.scan_tfds("mnist", data_dir=data_dir)

print("\n".join(line.message for line in report.headline()))
print(report.to_frame()[["check", "severity", "message"]].to_string(index=False))
print(report.pairs().head(3).to_string(index=False))

# %% [markdown]
# ## tf.data pipelines
# Scan the pipelines the model will see. Here the test pipeline forgot to rescale: leakcheck reports a
# scale mismatch (an error), and the duplicated digits still match across the two scales.

# %%
train_ds = (
    tf.data.Dataset.from_tensor_slices((splits["train"][0], splits["train"][1]))
    .map(lambda image, label: (tf.cast(image, tf.float32) / 255.0, label))
    .batch(32)
)
test_ds = (
    tf.data.Dataset.from_tensor_slices((splits["test"][0], splits["test"][1]))
    .map(lambda image, label: (tf.cast(image, tf.float32), label))
    .batch(32)
)
pipelines = leakcheck.scan_dataset({"train": train_ds, "test": test_ds})
for finding in pipelines.findings:
    if finding.severity >= leakcheck.Severity.WARNING:
        print(f"{finding.severity}: {finding.message}\n    -> {finding.hint}")
