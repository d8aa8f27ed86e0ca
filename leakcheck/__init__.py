"""leakcheck: audit image-classification data sets for train/test leakage before training.

>>> import leakcheck
>>> report = leakcheck.scan("data")          # data/<split>/<class>/<image>
>>> report.exit_code()                        # 1 when val/test leak into train
>>> report.pairs()                            # every duplicate pair, as a DataFrame
>>> leakcheck.scan({"train": (x_train, y_train), "test": (x_test, y_test)})   # arrays; see docs/sources.md
>>> leakcheck.scan_with_settings("data", leakcheck.load_settings("data"))     # as configured in pyproject.toml
"""

from leakcheck._version import __version__
from leakcheck.config import Settings, load_settings, scan_with_settings
from leakcheck.errors import (
    BaselineError,
    ConfigError,
    DataNotFoundError,
    InputError,
    LayoutError,
    LeakcheckError,
    ManifestError,
    UsageError,
)
from leakcheck.fingerprint import fingerprint_array
from leakcheck.index import Relation
from leakcheck.model import Finding, Fingerprint, Record, Severity
from leakcheck.report import Report, exit_code
from leakcheck.scanning import ScanOptions, scan, scan_arrays, scan_dataset, scan_fingerprints, scan_tfds

__all__ = [
    "BaselineError",
    "ConfigError",
    "DataNotFoundError",
    "Finding",
    "Fingerprint",
    "InputError",
    "LayoutError",
    "LeakcheckError",
    "ManifestError",
    "Record",
    "Relation",
    "Report",
    "ScanOptions",
    "Settings",
    "Severity",
    "UsageError",
    "__version__",
    "exit_code",
    "fingerprint_array",
    "load_settings",
    "scan",
    "scan_arrays",
    "scan_dataset",
    "scan_fingerprints",
    "scan_tfds",
    "scan_with_settings",
]
