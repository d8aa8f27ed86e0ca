# %% [markdown]
# # Auditing numpy arrays with leakcheck
#
# Many data sets live in memory as arrays, e.g. `keras.datasets.cifar10.load_data()`. This script builds
# a small CIFAR-shaped data set offline, plants three classic bugs, and shows how leakcheck reports them:
#
# 1. test images that are copies of training images (stored at another scale);
# 2. a test split left in 0-255 while train was scaled to [0, 1];
# 3. patients (groups) on both sides of the split.
#
# Run it as a script (`python examples/arrays_example.py`) or cell by cell in a notebook.

# %%
import numpy as np
from PIL import Image

import leakcheck

rng = np.random.default_rng(0)


def make_images(n: int) -> np.ndarray:
    """n smooth random 32x32 RGB images (uint8), distinct enough for perceptual hashing."""
    coarse = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    return np.stack([np.asarray(Image.fromarray(c).resize((32, 32), Image.Resampling.BICUBIC)) for c in coarse])


x = make_images(600)
y = rng.permutation(np.arange(600) % 10)
x_train, y_train = x[:500], y[:500]
x_test, y_test = x[500:].copy(), y[500:].copy()

# %% [markdown]
# ## A clean split
# Train scaled to [0, 1], test scaled the same way: no errors, only summary notes per split.

# %%
names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
clean = leakcheck.scan_arrays(
    {"train": (x_train / 255.0, y_train), "test": (x_test / 255.0, y_test)}, label_names=names
)
print(clean.counts())
print(clean.to_frame()[["check", "severity", "message"]].to_string(index=False))

# %% [markdown]
# ## Three planted bugs
# - 25 test images are copies of training images; the training copy is float [0, 1], the test copy uint8.
#   leakcheck hashes a canonical 8-bit view, so they still match exactly.
# - The test split is never divided by 255.
# - Labels are one-hot, as many Keras pipelines hold them.

# %%
x_test[:25] = x_train[:25]
y_test[:25] = y_train[:25]
one_hot = np.eye(10)
report = leakcheck.scan(
    {"train": (x_train.astype(np.float32) / 255, one_hot[y_train]), "test": (x_test, one_hot[y_test])},
    label_names=names,
)
for finding in report.findings:
    if finding.severity >= leakcheck.Severity.WARNING:
        print(f"{finding.severity}: {finding.message}\n    -> {finding.hint}")
print("exit code:", report.exit_code())  # 1: the CI verdict for errors

# %% [markdown]
# Every duplicate pair is a row of `report.pairs()`; keys name the split and the index in it.

# %%
print(report.pairs().head().to_string(index=False))

# %% [markdown]
# ## Group leakage
# Several images per patient; a random image-level split puts the same patients in train and test.
# Give the group ids as a third element.

# %%
patients = np.array([f"patient{i // 6:03d}" for i in range(600)])
order = rng.permutation(600)
train_idx, test_idx = order[:500], order[500:]
grouped = leakcheck.scan_arrays(
    {"train": (x[train_idx], y[train_idx], patients[train_idx]), "test": (x[test_idx], y[test_idx], patients[test_idx])}
)
leak = next(f for f in grouped.findings if f.check == "group-leakage")
print(leak.message)
print(leak.hint)

# %% [markdown]
# On the command line, save the arrays with the `x_<split>`/`y_<split>` convention and scan the file:
#
#     np.savez("data.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
#     leakcheck scan data.npz
