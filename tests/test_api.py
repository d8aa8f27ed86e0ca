"""The public API is declared and pinned."""

import leakcheck

EXPECTED = [
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


def test_public_api_is_pinned() -> None:
    assert sorted(leakcheck.__all__) == sorted(EXPECTED)
    for name in leakcheck.__all__:
        assert hasattr(leakcheck, name), name


def test_error_tree_carries_exit_codes() -> None:
    assert leakcheck.LeakcheckError("x").exit_code == 3
    for cls in (leakcheck.UsageError, leakcheck.InputError, leakcheck.DataNotFoundError, leakcheck.LayoutError,
                leakcheck.ManifestError, leakcheck.ConfigError, leakcheck.BaselineError):  # fmt: skip
        assert cls("x").exit_code == 2
    assert issubclass(leakcheck.LayoutError, leakcheck.InputError)
