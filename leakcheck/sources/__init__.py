"""Sources turn what the user holds into Records. They never decode pixels and never judge.

Files: `list_folder` (`<split>/<class>/<image>`), `read_manifest` (CSV or Parquet). In memory:
`read_npz`, `read_cifar`, `array_listing` (numpy arrays), and in `leakcheck.sources.datasets` (which
imports TensorFlow only when called) `read_tfds` and `read_datasets` (tf.data).
"""

from leakcheck.sources.arrays import ArrayListing, SplitArrays, array_listing, read_npz
from leakcheck.sources.cifar import is_cifar_dir, read_cifar
from leakcheck.sources.folder import IMAGE_EXTENSIONS, FolderListing, list_folder
from leakcheck.sources.manifest import ManifestListing, read_manifest

__all__ = [
    "IMAGE_EXTENSIONS",
    "ArrayListing",
    "FolderListing",
    "ManifestListing",
    "SplitArrays",
    "array_listing",
    "is_cifar_dir",
    "list_folder",
    "read_cifar",
    "read_manifest",
    "read_npz",
]
